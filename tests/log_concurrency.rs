//! One appender, many readers: readers never wait for an append in progress,
//! always see a contiguous prefix, keep valid bytes across rolls, close and
//! file deletion, and tailing readers (blocking and async) wake when data
//! arrives.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata::LogConfig;
use strata::{BatchBuilder, Compression, Record};
use strata::{Clock, ManualClock};
use strata::{LoadOptions, Log, OffsetSpec};

const NOW: i64 = 1_700_000_000_000;
const INTERVAL: u64 = 256;
/// Long enough that only a hang reaches it, even on a loaded machine that leaves a thread
/// unscheduled for seconds.
const PATIENCE: Duration = Duration::from_secs(60);

fn config() -> LogConfig {
    LogConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(INTERVAL)
        .segment_index_bytes(1024)
}

fn open(dir: &Path, clock: Arc<dyn Clock>) -> Log {
    Log::open(dir, "t", 0, config(), clock, LoadOptions::default()).unwrap().0
}

/// The value stored at `offset`: readers check what they see against it.
fn value_of(offset: i64) -> Bytes {
    Bytes::from(format!("value-{offset}-{}", "v".repeat((offset % 23) as usize)))
}

/// One batch holding `count` records for offsets `first..first + count`.
fn batch(first: i64, count: i64) -> Bytes {
    // Every seventh batch lz4, when this build has it (not under `--no-default-features`).
    let lz4 = Compression::Lz4.is_available();
    let codec = if first % 7 == 0 && lz4 { Compression::Lz4 } else { Compression::None };
    let mut b = BatchBuilder::new(0).compression(codec, None);
    for o in first..first + count {
        b.append(&Record::new(format!("key-{o}"), value_of(o)).timestamp(NOW - 1000 + o)).unwrap();
    }
    b.build().unwrap()
}

/// Appends batches until the log end offset reaches `end`.
fn append_until(log: &Log, end: i64) {
    let mut next = log.log_end_offset();
    while next < end {
        let count = (1 + next % 3).min(end - next);
        let info = log.append_batch(batch(next, count)).unwrap();
        assert_eq!(info.base_offset, next);
        next = info.last_offset + 1;
    }
}

/// Reads from `from` to the end in steps of `max_bytes`, checking every record;
/// returns the offset it stopped at.
fn read_and_check(log: &Log, from: i64, max_bytes: usize) -> i64 {
    let mut next = from;
    loop {
        let fetched = log.read(next, max_bytes).unwrap();
        if fetched.is_empty() {
            return next;
        }
        assert!(fetched.next_offset() <= fetched.log_end_offset());
        for r in fetched.records() {
            let r = r.unwrap();
            assert_eq!(r.offset(), next, "offsets must be contiguous (max_bytes {max_bytes})");
            assert_eq!(r.value(), Some(&value_of(next)), "value at {next}");
            next += 1;
        }
        assert_eq!(fetched.next_offset(), next);
    }
}

/// Polls `f` every millisecond until it is true; panics after [`PATIENCE`].
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {PATIENCE:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn readers_see_a_contiguous_prefix_while_one_appender_appends_and_rolls() {
    const END: i64 = 6000; // about 3000 batches
    /// Where the appender pauses until every reader has read up to it, so that each reader
    /// meets the appender mid-log however the threads are scheduled (a reader that first ran
    /// after the last append would read everything in one pass and race nothing).
    const HALF: i64 = END / 2;
    const READERS: usize = 4;
    let tmp = tempfile::tempdir().unwrap();
    let log = open(&tmp.path().join("t-0"), ManualClock::new(NOW));
    let done = AtomicUsize::new(0);
    let at_half = AtomicUsize::new(0);
    let (log, done, at_half) = (&log, &done, &at_half);
    thread::scope(|s| {
        s.spawn(|| {
            append_until(log, HALF);
            wait_until("every reader reached the paused log end", || {
                at_half.load(Ordering::SeqCst) == READERS
            });
            append_until(log, END);
        });
        // Reads of one batch at a time and of everything there is.
        for max_bytes in [1, 1 << 20, 1, 1 << 20] {
            s.spawn(move || {
                let mut next = 0;
                let mut passes = 0;
                let mut reached_half = false;
                while next < END {
                    next = read_and_check(log, next, max_bytes);
                    passes += 1;
                    if next >= HALF && !reached_half {
                        reached_half = true;
                        at_half.fetch_add(1, Ordering::SeqCst);
                    }
                    if next < END {
                        log.wait_for(next, Duration::from_millis(50)).unwrap();
                    }
                }
                assert_eq!(next, END);
                assert!(
                    passes > 1,
                    "the reader met the log mid-append at least once (it waited at HALF)"
                );
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), READERS);
    assert!(log.segment_count() > 10, "{} segments", log.segment_count());
    assert_eq!(read_and_check(log, 0, 1 << 20), END);
    log.close().unwrap();
    common::assert_kafka_accepts(&tmp.path().join("t-0"), INTERVAL);
}

/// A clock that, once armed, blocks the next caller until released: an
/// appender reading it holds the append lock for as long as the test wants.
#[derive(Debug, Default)]
struct GateClock {
    state: Mutex<Gate>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct Gate {
    armed: bool,
    inside: bool,
    released: bool,
}

impl GateClock {
    fn arm(&self) {
        self.state.lock().unwrap().armed = true;
    }

    fn wait_until_inside(&self) {
        let g = self.state.lock().unwrap();
        let (g, t) = self.cond.wait_timeout_while(g, PATIENCE, |g| !g.inside).unwrap();
        assert!(!t.timed_out() && g.inside, "the appender never read the clock");
    }

    fn release(&self) {
        self.state.lock().unwrap().released = true;
        self.cond.notify_all();
    }
}

impl Clock for GateClock {
    fn now_ms(&self) -> i64 {
        let mut g = self.state.lock().unwrap();
        if g.armed {
            g.armed = false;
            g.inside = true;
            self.cond.notify_all();
            while !g.released {
                g = self.cond.wait(g).unwrap();
            }
            g.inside = false;
            g.released = false;
        }
        NOW
    }
}

#[test]
fn readers_do_not_wait_for_an_append_in_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(GateClock::default());
    let log = open(&tmp.path().join("t-0"), clock.clone());
    append_until(&log, 200);
    let segments = log.segment_base_offsets();
    assert!(segments.len() > 1);

    // An append stalls inside the append lock (reading the clock).
    clock.arm();
    let slow = thread::spawn({
        let log = log.clone();
        move || log.append_batch(batch(200, 2)).unwrap()
    });
    clock.wait_until_inside();

    // A second append queues behind it: appends are serialized.
    let queued = thread::spawn({
        let log = log.clone();
        move || log.append_batch(batch(202, 1))
    });

    // Readers go ahead, from another thread so that a hang fails the test.
    let (tx, rx) = mpsc::channel();
    thread::spawn({
        let log = log.clone();
        move || {
            let end = read_and_check(&log, 0, 1 << 20);
            let one_by_one = read_and_check(&log, 150, 1);
            let at_end = log.read(200, 1 << 20).unwrap().is_empty();
            let by_time = log.offset_for_time(OffsetSpec::Timestamp(NOW - 1000 + 123)).unwrap();
            let max = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
            let waited = log.wait_for(200, Duration::from_millis(10)).unwrap();
            let shape = (log.log_end_offset(), log.segment_base_offsets(), log.size_bytes() > 0);
            tx.send((end, one_by_one, at_end, by_time, max, waited, shape)).unwrap();
        }
    });
    let (end, one_by_one, at_end, by_time, max, waited, shape) =
        rx.recv_timeout(PATIENCE).expect("a reader waited for the append in progress");
    assert_eq!((end, one_by_one, at_end, waited), (200, 200, true, false));
    assert_eq!(by_time.map(|t| t.offset), Some(123));
    assert_eq!(max.map(|t| t.offset), Some(199));
    assert_eq!(shape, (200, segments, true));
    thread::sleep(Duration::from_millis(100));
    assert!(!queued.is_finished(), "a second append overtook the one in progress");

    clock.release();
    let first = slow.join().unwrap();
    let second = queued.join().unwrap().unwrap();
    assert_eq!((first.base_offset, second.base_offset), (200, 202));
    assert_eq!(read_and_check(&log, 0, 1 << 20), 203);
}

#[test]
fn bytes_held_by_a_reader_stay_valid_after_rolls_close_and_file_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let log = open(&dir, ManualClock::new(NOW));
    append_until(&log, 40);
    // Views of the active segment, taken before it is sealed.
    let held = log.read(0, 1 << 20).unwrap();
    let copies: Vec<Vec<u8>> = held.slices().iter().map(|s| s.bytes.to_vec()).collect();
    let values: Vec<Option<Bytes>> = held.records().map(|r| r.unwrap().value().cloned()).collect();
    assert_eq!(values.len(), 40);

    append_until(&log, 3000);
    assert!(log.segment_count() > 5);
    // A view of a sealed segment too.
    let sealed = log.read(1000, 1 << 20).unwrap();
    let sealed_copy: Vec<Vec<u8>> = sealed.slices().iter().map(|s| s.bytes.to_vec()).collect();
    assert_eq!(read_and_check(&log, 0, 1 << 20), 3000);
    log.close().unwrap();
    // A closed log opens no file again (the directory may be another store's by now) ...
    assert!(matches!(log.read(0, 1 << 20), Err(strata::Error::Closed { .. })));
    // ... but every view it handed out stays valid, below.

    let mut removed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
        removed += 1;
    }
    assert!(removed > 15);
    drop(log);

    let now: Vec<Vec<u8>> = held.slices().iter().map(|s| s.bytes.to_vec()).collect();
    assert_eq!(now, copies);
    let again: Vec<Option<Bytes>> = held.records().map(|r| r.unwrap().value().cloned()).collect();
    assert_eq!(again, values);
    for (i, v) in again.iter().enumerate() {
        assert_eq!(v.as_ref(), Some(&value_of(i as i64)));
    }
    let now: Vec<Vec<u8>> = sealed.slices().iter().map(|s| s.bytes.to_vec()).collect();
    assert_eq!(now, sealed_copy);
    let first = sealed.records().next().unwrap().unwrap();
    assert_eq!((first.offset(), first.value()), (1000, Some(&value_of(1000))));
}

/// Waits until the count of waiters on `log` satisfies `ok`.
fn until_waiters(log: &Log, ok: impl Fn(usize) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ok(log.waiters()) {
        assert!(Instant::now() < deadline, "{} waiters after {PATIENCE:?}", log.waiters());
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn wait_for_returns_true_once_an_offset_arrives_from_another_thread_and_false_on_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(&tmp.path().join("t-0"), ManualClock::new(NOW));

    let started = Instant::now();
    assert!(!log.wait_for(0, Duration::from_millis(100)).unwrap(), "nothing was appended");
    assert!(started.elapsed() >= Duration::from_millis(100));

    // Each append comes while the test thread is blocked in its wait_for: counted as a waiter
    // once the first wait returned (`first_done`), the waiter is the second wait.
    let first_done = Arc::new(AtomicBool::new(false));
    let appender = thread::spawn({
        let (log, first_done) = (log.clone(), Arc::clone(&first_done));
        move || {
            until_waiters(&log, |n| n == 1);
            append_until(&log, 1);
            while !first_done.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            until_waiters(&log, |n| n == 1);
            append_until(&log, 10);
        }
    });
    let started = Instant::now();
    assert!(log.wait_for(0, PATIENCE).unwrap());
    first_done.store(true, Ordering::SeqCst);
    assert!(log.wait_for(9, PATIENCE).unwrap());
    assert!(started.elapsed() < PATIENCE);
    assert!(log.log_end_offset() >= 10);
    appender.join().unwrap();
    assert!(log.wait_for(3, Duration::ZERO).unwrap(), "an offset that exists needs no wait");
    assert!(!log.wait_for(10, Duration::from_millis(20)).unwrap());
}

/// Wakes the thread that polls, and counts the wakes.
struct ThreadWaker {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A minimal executor: polls `fut` on this thread, parking between polls
/// until woken. Returns the output and how many polls it took.
fn block_on<F: Future>(fut: F, waker: &Arc<ThreadWaker>) -> (F::Output, usize) {
    let w = Waker::from(Arc::clone(waker));
    let mut cx = Context::from_waker(&w);
    let mut fut = pin!(fut);
    let deadline = Instant::now() + PATIENCE;
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return (out, polls);
        }
        let left = deadline.checked_duration_since(Instant::now()).expect("never woken");
        thread::park_timeout(left);
    }
}

#[test]
fn wait_for_async_resolves_when_another_thread_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(&tmp.path().join("t-0"), ManualClock::new(NOW));
    let waker = Arc::new(ThreadWaker { thread: thread::current(), wakes: AtomicUsize::new(0) });

    // Pending until the appender wakes it.
    {
        let w = Waker::from(Arc::clone(&waker));
        let mut cx = Context::from_waker(&w);
        let mut fut = pin!(log.wait_for_async(0));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    // The appender appends once the future waiting for it is pending (registered), so the
    // wake it must send happens however the threads are scheduled (with a fixed sleep, a
    // main thread descheduled that long found the records there at its first poll).
    assert_eq!(log.registered_wakers(), 0, "the dropped future left its slot");
    let first_resolved = Arc::new(AtomicBool::new(false));
    let appender = thread::spawn({
        let log = log.clone();
        let first_resolved = Arc::clone(&first_resolved);
        move || {
            wait_until("the first future pending", || log.registered_wakers() == 1);
            append_until(&log, 1);
            // The first future gives its slot back when it resolves: the slot then counted
            // is the second one's.
            wait_until("the second future pending", || {
                first_resolved.load(Ordering::SeqCst) && log.registered_wakers() == 1
            });
            append_until(&log, 6);
        }
    });
    let (leo, polls) = block_on(log.wait_for_async(0), &waker);
    // The appender stops at offset 1 until this future resolved.
    assert_eq!(leo.unwrap(), 1);
    assert!(polls > 1, "ready at the first poll: nothing was waited for");
    assert!(waker.wakes.load(Ordering::SeqCst) >= 1, "resolved without a wake ({polls} polls)");
    first_resolved.store(true, Ordering::SeqCst);
    // A later offset: earlier appends wake it, it registers again and waits on.
    let before = waker.wakes.load(Ordering::SeqCst);
    let (leo, polls) = block_on(log.wait_for_async(5), &waker);
    assert!(leo.unwrap() >= 6);
    assert!(polls > 1, "ready at the first poll: nothing was waited for");
    appender.join().unwrap();
    assert!(waker.wakes.load(Ordering::SeqCst) > before, "resolved without a wake ({polls} polls)");

    // Already there: ready at the first poll, no wake needed.
    let before = waker.wakes.load(Ordering::SeqCst);
    let (leo, polls) = block_on(log.wait_for_async(2), &waker);
    assert_eq!((leo.unwrap(), polls), (6, 1));
    assert_eq!(waker.wakes.load(Ordering::SeqCst), before);
}

/// A wait with a timeout too long to add to the clock (`Duration::MAX`, "wait for ever") waits
/// until the offset arrives instead of panicking on the deadline's overflow, and ends with
/// `Error::Closed` when the log closes under it.
#[test]
fn wait_for_with_an_unbounded_timeout_waits_until_the_offset_arrives_or_the_log_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(&tmp.path().join("t-0"), ManualClock::new(NOW));
    // As above: the second waiter counted is the second wait, once the first returned.
    let first_done = Arc::new(AtomicBool::new(false));
    let appender = thread::spawn({
        let (log, first_done) = (log.clone(), Arc::clone(&first_done));
        move || {
            until_waiters(&log, |n| n == 1);
            append_until(&log, 1);
            while !first_done.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            until_waiters(&log, |n| n == 1);
            log.close().unwrap();
        }
    });
    assert!(log.wait_for(0, Duration::MAX).unwrap());
    first_done.store(true, Ordering::SeqCst);
    assert!(matches!(log.wait_for(1, Duration::MAX), Err(strata::Error::Closed { .. })));
    appender.join().unwrap();
}
