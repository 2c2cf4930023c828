//! `produce`'s stdin, read by a thread of its own so the producer can wait for the next line
//! and for a batch's linger at once (a channel's `recv_timeout`; no async runtime).
//!
//! The thread sends the complete lines it has at hand as one chunk: the lines it read until its
//! buffer holds no whole line (or [`CHUNK_LINES`] of them), so a file piped in costs one channel message
//! per buffer, and a line typed or fed slowly is sent as soon as its newline is read. The
//! channel holds [`CHUNKS_AHEAD`] chunks: the reader waits while the producer is behind.

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Instant;

/// At most this many lines go in one chunk.
const CHUNK_LINES: usize = 1024;
/// Chunks read ahead of the producer.
const CHUNKS_AHEAD: usize = 4;

/// What the reader thread sends.
enum Input {
    /// Lines, newline (and a `\r` before it) stripped as Java's `readLine` does.
    Lines(Vec<Vec<u8>>),
    /// Reading failed; the thread ends.
    Failed(std::io::Error),
}

/// What [`Feed::next`] found.
pub enum Next {
    Lines(Vec<Vec<u8>>),
    Failed(std::io::Error),
    /// The deadline passed with no line.
    Timeout,
    /// stdin ended (every line before it was sent).
    End,
}

/// stdin, read by a thread.
pub struct Feed {
    rx: Receiver<Input>,
}

impl Feed {
    /// Starts the thread reading stdin.
    pub fn spawn() -> std::io::Result<Feed> {
        let (tx, rx) = sync_channel(CHUNKS_AHEAD);
        std::thread::Builder::new().name("stdin".to_owned()).spawn(move || read(&tx))?;
        Ok(Feed { rx })
    }

    /// The next lines, waiting until `deadline` (forever when `None`).
    pub fn next(&self, deadline: Option<Instant>) -> Next {
        let got = match deadline {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => self.rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match got {
            Ok(Input::Lines(lines)) => Next::Lines(lines),
            Ok(Input::Failed(e)) => Next::Failed(e),
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
            Err(RecvTimeoutError::Disconnected) => Next::End,
        }
    }
}

/// The reader thread: stdin's lines in chunks until it ends, fails, or the producer is gone.
fn read(tx: &SyncSender<Input>) {
    let mut stdin = BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let mut chunk = Vec::new();
    loop {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                }
                chunk.push(line);
                // With no whole line left in the buffer the next read may block: send what
                // is here first.
                if (!stdin.buffer().contains(&b'\n') || chunk.len() >= CHUNK_LINES)
                    && tx.send(Input::Lines(std::mem::take(&mut chunk))).is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                if !chunk.is_empty() && tx.send(Input::Lines(std::mem::take(&mut chunk))).is_err() {
                    return;
                }
                let _ = tx.send(Input::Failed(e));
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Input::Lines(chunk));
    }
    // `tx` dropped: the producer sees stdin's end.
}
