//! `produce`'s stdin, read by a thread of its own so the producer can wait for the next line
//! and for a batch's linger at once (a channel's `recv_timeout`; no async runtime).
//!
//! The thread sends the whole lines of each buffer fill (64 KiB at most) as one chunk, so a file
//! piped in costs one channel message per buffer, and a line typed or fed slowly is sent as
//! soon as its newline is read. The channel holds [`CHUNKS_AHEAD`] chunks: the reader waits
//! while the producer is behind.
//!
//! SIGINT, SIGTERM and SIGHUP are waited for by a thread too (signal-hook's self-pipe: the
//! handler only writes to it). The first one sets a flag the reader looks at after each chunk,
//! and sends [`Next::Signal`] on the same channel, which wakes the producer even while the
//! reader waits for stdin; [`Feed::read_by_now`] then takes the lines the reader still had in
//! hand. Kafka's console producer closes its producer in a shutdown hook, which sends what was
//! lingering (`ConsoleProducer.start`: `Exit.addShutdownHook("producer-shutdown-hook",
//! producer::close)`); `produce` appends what it read and exits 128 + the signal's number. A
//! second signal ends the process at once, as the signal's default action would have.

use std::io::{BufRead as _, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Chunks read ahead of the producer.
const CHUNKS_AHEAD: usize = 4;

/// After a signal, how long [`Feed::read_by_now`] waits for the reader while nothing comes: a
/// reader that was handing over lines sends them and its end at once, one that waits for stdin
/// sends nothing.
const HAND_OVER: Duration = Duration::from_millis(200);

/// What the reader thread sends.
enum Input {
    /// Lines, newline (and a `\r` before it) stripped as Java's `readLine` does.
    Lines(Vec<Vec<u8>>),
    /// Reading failed; the thread ends.
    Failed(std::io::Error),
    /// stdin ended, or the reader stopped after a signal; the thread ends (the signal thread
    /// holds a sender too, so the channel does not disconnect).
    End,
    /// The first of SIGINT, SIGTERM or SIGHUP arrived (which one is in [`Feed`]'s `signal`):
    /// wakes the producer.
    Signal,
}

/// What [`Feed::next`] found.
pub enum Next {
    Lines(Vec<Vec<u8>>),
    Failed(std::io::Error),
    /// The deadline passed with no line.
    Timeout,
    /// stdin ended (every line before it was sent).
    End,
    /// A signal asked the producer to stop: append what was read, then exit.
    Signal(Signal),
}

/// A signal that stopped the producer.
#[derive(Clone, Copy, Debug)]
pub struct Signal(i32);

impl Signal {
    /// `SIGINT`, `SIGTERM` or `SIGHUP`.
    pub fn name(self) -> &'static str {
        signal_hook::low_level::signal_name(self.0).unwrap_or("a signal")
    }

    /// The status a shell gives a process this signal ended: 128 + its number.
    pub fn exit_status(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(u8::MAX)
    }
}

/// stdin, read by a thread.
pub struct Feed {
    rx: Receiver<Input>,
    /// The first signal's number; 0 before any.
    signal: Arc<AtomicI32>,
    /// The reader sent [`Input::End`] (or failed): nothing more comes.
    reader_done: std::cell::Cell<bool>,
}

impl Feed {
    /// Starts the threads reading stdin and waiting for SIGINT, SIGTERM and SIGHUP. From here
    /// on, the first of those signals no longer ends the process: it is [`Next::Signal`].
    pub fn spawn() -> std::io::Result<Feed> {
        let (tx, rx) = sync_channel(CHUNKS_AHEAD);
        let signal = Arc::new(AtomicI32::new(0));
        watch_signals(tx.clone(), Arc::clone(&signal))?;
        let stop = Arc::clone(&signal);
        std::thread::Builder::new().name("stdin".to_owned()).spawn(move || read(&tx, &stop))?;
        Ok(Feed { rx, signal, reader_done: std::cell::Cell::new(false) })
    }

    /// The next lines, waiting until `deadline` (forever when `None`).
    pub fn next(&self, deadline: Option<Instant>) -> Next {
        let got = match deadline {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => self.rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        if matches!(got, Ok(Input::End | Input::Failed(_)) | Err(RecvTimeoutError::Disconnected)) {
            self.reader_done.set(true);
        }
        match got {
            Ok(Input::Lines(lines)) => Next::Lines(lines),
            Ok(Input::Failed(e)) => Next::Failed(e),
            // The reader stops after a signal, and its end may come before the signal's
            // message: either says the signal came.
            Ok(Input::Signal | Input::End) | Err(RecvTimeoutError::Disconnected) => {
                match self.signal.load(Ordering::Acquire) {
                    0 => Next::End,
                    n => Next::Signal(Signal(n)),
                }
            }
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
        }
    }

    /// After [`Next::Signal`]: the lines the reader had read by then and not sent yet (it
    /// sends what it has in hand, then stops). Waits until the reader says it stopped, or
    /// for [`HAND_OVER`] with nothing coming (the reader waits for stdin, with nothing in hand).
    pub fn read_by_now(&self) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        while !self.reader_done.get() {
            match self.rx.recv_timeout(HAND_OVER) {
                Ok(Input::Lines(more)) => lines.extend(more),
                Ok(Input::Signal) => {}
                Ok(Input::Failed(_) | Input::End) | Err(_) => self.reader_done.set(true),
            }
        }
        lines
    }
}

/// The thread waiting for SIGINT, SIGTERM and SIGHUP. The first one is recorded in `signal`
/// (the reader stops after its chunk in hand) and sent to the producer by a thread of its own
/// (the send waits while the channel is full, and a second signal must still be heard); a
/// second one, or a first one the thread cannot pass on, ends the process
/// as the signal's default action does (`emulate_default_handler` restores it and raises the
/// signal again; a plain exit with 128 + the signal's number if that fails). A signal after the
/// producer is done (the store closing) is a first one nobody reads: the close goes on.
fn watch_signals(tx: SyncSender<Input>, signal: Arc<AtomicI32>) -> std::io::Result<()> {
    // A signal the caller set to be ignored (`nohup`, `trap '' HUP`) stays ignored, as HotSpot
    // registers no shutdown hook signal whose disposition was SIG_IGN at start (so the console
    // producer reads on through a hangup under `nohup`).
    let ignored = ignored_signals();
    let watched = [SIGINT, SIGTERM, SIGHUP].into_iter().filter(|&n| !ignored(n));
    let mut signals = Signals::new(watched)?;
    std::thread::Builder::new().name("signals".to_owned()).spawn(move || {
        for n in signals.forever() {
            if signal.compare_exchange(0, n, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                let tx = tx.clone();
                let passed = std::thread::Builder::new()
                    .name("stop".to_owned())
                    .spawn(move || tx.send(Input::Signal));
                if passed.is_ok() {
                    continue;
                }
            }
            let _ = signal_hook::low_level::emulate_default_handler(n);
            std::process::exit(128 + n);
        }
    })?;
    Ok(())
}

/// Whether a signal was ignored (SIG_IGN) when the tool started: the `SigIgn:` mask of
/// `/proc/self/status`, bit n - 1 for signal n (proc(5)). When the file cannot be read or
/// parsed, no signal counts as ignored (each is watched, as before).
#[cfg(target_os = "linux")]
fn ignored_signals() -> impl Fn(i32) -> bool {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(0);
    move |n| (1..=64).contains(&n) && mask & (1 << (n - 1)) != 0
}

/// Elsewhere every signal is watched.
#[cfg(not(target_os = "linux"))]
fn ignored_signals() -> impl Fn(i32) -> bool {
    |_| false
}

/// The reader thread: stdin's lines in chunks until it ends, fails, the producer is gone, or
/// a signal was recorded in `stop`. Each chunk is the whole lines of one buffer fill (a line
/// cut by the buffer's end goes with the next fill), so the only read that may block comes
/// after the lines at hand were sent. After a signal, a line without its newline yet is not sent: the
/// rest of it was never read.
fn read(tx: &SyncSender<Input>, stop: &AtomicI32) {
    let mut stdin = BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let mut partial = Vec::new();
    loop {
        if stop.load(Ordering::Acquire) != 0 {
            let _ = tx.send(Input::End);
            return;
        }
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
            // stdin ended: a last line without a newline is a line too.
            if !partial.is_empty() {
                let _ = tx.send(Input::Lines(vec![partial]));
            }
            let _ = tx.send(Input::End);
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
