//! `produce`'s stdin, read by a thread of its own so the producer can wait for the next line
//! and for a batch's linger at once (a channel's `recv_timeout`; no async runtime).
//!
//! The thread sends the whole lines of each buffer fill (64 KiB at most) as one chunk, so a file
//! piped in costs one channel message per buffer, and a line typed or fed slowly is sent as
//! soon as its newline is read. The channel holds [`CHUNKS_AHEAD`] chunks: the reader waits
//! while the producer is behind.

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Instant;

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
/// Each chunk is the whole lines of one buffer fill (a line cut by the buffer's end goes with
/// the next fill), so the only read that may block comes after the lines at hand were sent.
fn read(tx: &SyncSender<Input>) {
    let mut stdin = BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let mut partial = Vec::new();
    loop {
        let mut rest = match stdin.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Input::Failed(e));
                return;
            }
        };
        let filled = rest.len();
        if filled == 0 {
            // stdin ended: a last line without a newline is a line too. `tx` is dropped
            // after it, and the producer sees the end.
            if !partial.is_empty() {
                let _ = tx.send(Input::Lines(vec![partial]));
            }
            return;
        }
        let mut chunk = Vec::new();
        loop {
            let mut line = std::mem::take(&mut partial);
            // `&[u8]`'s read_until finds the newline with memchr and cannot fail.
            let _ = rest.read_until(b'\n', &mut line);
            if line.last() != Some(&b'\n') {
                partial = line;
                break;
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            chunk.push(line);
        }
        stdin.consume(filled);
        if !chunk.is_empty() && tx.send(Input::Lines(chunk)).is_err() {
            return;
        }
    }
}
