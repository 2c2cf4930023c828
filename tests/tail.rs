//! Tailing readers end: a wait on a partition, blocking or async, returns an error when the
//! store closes or the topic is deleted, instead of staying pending forever; an async wait
//! holds one waker slot however often it is polled, and none once resolved or dropped; a tail
//! at a gap before the log end waits for the next append without spinning. An iteration ends
//! quietly only when its log is closed: `Error::Closed` from a segment's file on a live log (a
//! stale handle) is yielded, never taken for the end of the records.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use strata::Error;
use strata::Log;
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::internals::io::fault::{self, FaultPlan, Op};
use tempfile::TempDir;

/// Long enough that only a hang reaches it, even on a loaded machine that leaves a thread
/// unscheduled for seconds.
const PATIENCE: Duration = Duration::from_secs(60);

/// Counts wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits until `n` waiters are counted on `log` (the polled future and the thread blocked in
/// `wait_for`): what happens next happens while the thread is blocked, whatever the schedule.
fn until_waiters(log: &Log, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    while log.waiters() < n {
        assert!(Instant::now() < deadline, "{} waiters after {PATIENCE:?}", log.waiters());
        thread::sleep(Duration::from_millis(1));
    }
}

fn store_with_topic() -> (TempDir, Store, Log) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([tmp.path()]).background_threads(false)).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    (tmp, store, log)
}

/// Polls `fut` once with a counting waker.
fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Arc<CountingWaker>) -> Poll<F::Output> {
    let w = Waker::from(Arc::clone(waker));
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(&w))
}

/// Checks that `end` (close or delete) makes a pending async tail resolve with
/// `Error::Closed`, wakes it, and makes a blocked `wait_for` in another thread return it too.
fn pending_tails_end_on(end: impl FnOnce(&Store)) {
    let (_tmp, store, log) = store_with_topic();
    let waker = Arc::new(CountingWaker::default());
    let mut fut = log.wait_for_async(0);
    assert!(poll_once(&mut fut, &waker).is_pending());
    let blocked = thread::spawn({
        let log = log.clone();
        move || {
            let started = Instant::now();
            (log.wait_for(0, PATIENCE), started.elapsed())
        }
    });
    until_waiters(&log, 2);
    end(&store);
    assert!(waker.0.load(Ordering::SeqCst) >= 1, "the pending tail was woken");
    match poll_once(&mut fut, &waker) {
        Poll::Ready(Err(Error::Closed { .. })) => {}
        other => panic!("expected Err(Closed), got {other:?}"),
    }
    let (result, waited) = blocked.join().unwrap();
    assert!(matches!(result, Err(Error::Closed { .. })), "{result:?}");
    assert!(waited < PATIENCE, "wait_for returned at the end, not at its timeout");
    assert_eq!(log.registered_wakers(), 0);
    // A wait that starts afterwards ends at once.
    let mut late = log.wait_for_async(0);
    assert!(matches!(poll_once(&mut late, &waker), Poll::Ready(Err(Error::Closed { .. }))));
    assert!(matches!(log.wait_for(0, PATIENCE), Err(Error::Closed { .. })));
}

#[test]
fn a_pending_tail_resolves_with_closed_when_the_store_closes() {
    pending_tails_end_on(|store| store.close().unwrap());
}

#[test]
fn a_pending_tail_resolves_with_closed_when_its_topic_is_deleted() {
    pending_tails_end_on(|store| store.delete_topic("t").unwrap());
}

/// A poisoned log takes no append any more: a pending tail, blocking or async, ends with
/// `Error::Poisoned` when the write that poisons it fails.
#[test]
fn a_pending_tail_resolves_with_poisoned_when_the_log_is_poisoned() {
    let (_tmp, _store, log) = store_with_topic();
    let waker = Arc::new(CountingWaker::default());
    let mut fut = log.wait_for_async(0);
    assert!(poll_once(&mut fut, &waker).is_pending());
    let blocked = thread::spawn({
        let log = log.clone();
        move || log.wait_for(0, PATIENCE)
    });
    until_waiters(&log, 2);
    {
        let _faults = fault::arm(FaultPlan::new().fail_every(Op::Write));
        assert!(log.append(&[Record::new("k", "v")]).is_err());
    }
    assert!(log.poisoned().is_some());
    assert!(waker.0.load(Ordering::SeqCst) >= 1, "the pending tail was woken");
    assert!(matches!(poll_once(&mut fut, &waker), Poll::Ready(Err(Error::Poisoned { .. }))));
    let result = blocked.join().unwrap();
    assert!(matches!(result, Err(Error::Poisoned { .. })), "{result:?}");
}

/// A closed log's handles refuse all work: a tail ends with `Error::Closed` even for an offset
/// the log holds.
#[test]
fn a_closed_log_ends_every_tail_even_for_an_offset_it_holds() {
    let (_tmp, store, log) = store_with_topic();
    log.append(&[Record::new("k", "v")]).unwrap();
    assert!(log.wait_for(0, Duration::ZERO).unwrap());
    store.close().unwrap();
    assert!(matches!(log.wait_for(0, Duration::ZERO), Err(Error::Closed { .. })));
    let waker = Arc::new(CountingWaker::default());
    assert!(matches!(
        poll_once(&mut log.wait_for_async(0), &waker),
        Poll::Ready(Err(Error::Closed { .. }))
    ));
}

/// Polling an idle partition many times keeps one waker slot per future (before, every poll
/// pushed a waker: 2 M polls grew memory by 31 MB).
#[test]
fn polling_an_idle_partition_registers_one_waker_per_future() {
    let (_tmp, _store, log) = store_with_topic();
    let waker = Arc::new(CountingWaker::default());
    let mut a = log.wait_for_async(0);
    let mut b = log.wait_for_async(5);
    for _ in 0..10_000 {
        assert!(poll_once(&mut a, &waker).is_pending());
        assert!(poll_once(&mut b, &waker).is_pending());
    }
    assert_eq!(log.registered_wakers(), 2);
    // Each append wakes every pending future; re-polling after it still holds one slot each.
    log.append(&[Record::new("k", "v")]).unwrap();
    assert_eq!(waker.0.load(Ordering::SeqCst), 2);
    assert!(matches!(poll_once(&mut a, &waker), Poll::Ready(Ok(1))));
    assert!(poll_once(&mut b, &waker).is_pending());
    assert_eq!(log.registered_wakers(), 1, "a resolved future gives its slot back");
}

/// A dropped future, pending or never polled, leaves nothing registered.
#[test]
fn dropped_tail_futures_leave_no_registered_wakers() {
    let (_tmp, _store, log) = store_with_topic();
    let waker = Arc::new(CountingWaker::default());
    let futures: Vec<_> = (0..100)
        .map(|i| {
            let mut f = log.wait_for_async(i);
            assert!(poll_once(&mut f, &waker).is_pending());
            f
        })
        .collect();
    let unpolled = log.wait_for_async(0);
    assert_eq!(log.registered_wakers(), 100);
    drop(futures);
    drop(unpolled);
    assert_eq!(log.registered_wakers(), 0);
    // A future dropped mid-executor (pinned, polled, dropped) too.
    {
        let mut fut = pin!(log.wait_for_async(0));
        let w = Waker::from(Arc::clone(&waker));
        assert!(fut.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        assert_eq!(log.registered_wakers(), 1);
    }
    assert_eq!(log.registered_wakers(), 0);
}

/// A partition whose sealed segment ends at offset 7 while the log end is 10: offsets 8 and 9
/// are gone (Kafka's cleaner drops a segment's last batches when no record of them is kept),
/// and the active segment, at 10, is empty. Built by cutting the sealed segment's last two
/// batches off on disk (its indexes are rebuilt at open).
fn store_with_a_gap_before_the_log_end(tmp: &TempDir) -> (Store, Log) {
    let config = || StoreConfig::new([tmp.path()]).background_threads(false);
    let store = Store::open(config()).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut cut_at = 0;
    for i in 0..10 {
        if i == 8 {
            cut_at = log.size_bytes();
        }
        log.append(&[Record::new("k", format!("v{i}"))]).unwrap();
    }
    log.roll().unwrap();
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    let sealed = dir.join("00000000000000000000.log");
    std::fs::OpenOptions::new().write(true).open(&sealed).unwrap().set_len(cut_at).unwrap();
    for ext in ["index", "timeindex"] {
        std::fs::remove_file(dir.join(format!("00000000000000000000.{ext}"))).unwrap();
    }
    let store = Store::open(config()).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!((log.log_end_offset(), log.segment_base_offsets()), (10, vec![0, 10]));
    let read = log.read(8, 1 << 20).unwrap();
    assert!(read.is_empty(), "nothing is stored at 8 or 9");
    (store, log)
}

/// CPU time (user + system, in clock ticks) the thread `tid` of this process has used.
#[cfg(target_os = "linux")]
fn thread_cpu_ticks(tid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A following iterator that reaches a gap before the log end (no record between its
/// position and the log end) waits for the next append, as at the log end: before, its wait
/// returned at once (the log end was past its position) and it read the same empty range again
/// and again, a core busy until the next append.
#[cfg(target_os = "linux")]
#[test]
fn a_following_reader_at_a_gap_before_the_log_end_waits_without_spinning() {
    let tmp = tempfile::tempdir().unwrap();
    let (_store, log) = store_with_a_gap_before_the_log_end(&tmp);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = thread::spawn({
        let log = log.clone();
        move || {
            let me = std::fs::read_link("/proc/thread-self").unwrap();
            tid_tx.send(me.file_name().unwrap().to_str().unwrap().to_owned()).unwrap();
            log.records_from(8).follow().next().map(|r| r.map(|r| r.offset()))
        }
    });
    let tid = tid_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(200));
    let before = thread_cpu_ticks(&tid);
    thread::sleep(Duration::from_secs(1));
    let used = thread_cpu_ticks(&tid) - before;
    log.append(&[Record::new("k", "v10")]).unwrap();
    let next = reader.join().unwrap();
    assert!(matches!(next, Some(Ok(10))), "{next:?}");
    assert!(used < 5, "the waiting reader used {used} ticks of CPU in one second");
}

/// The async tail at such a gap returns `Pending` and yields the next appended record: before,
/// `poll_next` never returned (its wait resolved at once, its read found nothing, round again).
#[cfg(feature = "stream")]
#[test]
fn the_async_tail_at_a_gap_before_the_log_end_is_pending_until_the_next_append() {
    use futures_core::Stream;
    let tmp = tempfile::tempdir().unwrap();
    let (_store, log) = store_with_a_gap_before_the_log_end(&tmp);
    let (tx, rx) = std::sync::mpsc::channel();
    let poller = thread::spawn({
        let log = log.clone();
        move || {
            let mut tail = Box::pin(log.tail(8));
            let waker = Arc::new(CountingWaker::default());
            let w = Waker::from(Arc::clone(&waker));
            let first = tail.as_mut().poll_next(&mut Context::from_waker(&w)).is_pending();
            tx.send(first).unwrap();
            (tail, waker)
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10));
    // Ends a spinning poll (the append puts a record past the gap), so the thread can be joined.
    log.append(&[Record::new("k", "v10")]).unwrap();
    let (mut tail, waker) = poller.join().unwrap();
    assert_eq!(first, Ok(true), "poll_next returned Pending at the gap");
    assert!(waker.0.load(Ordering::SeqCst) >= 1, "the append woke the tail");
    let w = Waker::from(waker);
    match tail.as_mut().poll_next(&mut Context::from_waker(&w)) {
        Poll::Ready(Some(Ok(r))) => assert_eq!(r.offset(), 10),
        other => panic!("expected the record at 10, got {other:?}"),
    }
}

/// A store whose budget keeps one segment open, holding records 0..40 in segments of four:
/// every read of a sealed segment reopens its `.log` by name.
fn store_of_evicted_segments(tmp: &TempDir) -> (Store, Log) {
    let config = StoreConfig::new([tmp.path()]).background_threads(false).log_open_segments_max(1);
    let store = Store::open(config).unwrap();
    let overrides: BTreeMap<String, String> =
        [("segment.bytes", "4096"), ("file.delete.delay.ms", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    store.create_topic("t", 1, &overrides).unwrap();
    let log = store.partition("t", 0).unwrap();
    for o in 0..40 {
        log.append(&[Record::new("k", format!("v{o}"))]).unwrap();
        if o % 4 == 3 {
            log.roll().unwrap();
        }
    }
    (store, log)
}

/// Retention deleting the segments under and ahead of an iteration (their files removed at
/// once, `file.delete.delay.ms` = 0) never ends it quietly either: a read that listed the
/// segments before returns their records, and the next read, below the new log start offset,
/// fails with `OffsetOutOfRange` (Kafka's answer to a fetch below the log start), after which
/// the iterator ends.
#[test]
fn an_iteration_overtaken_by_retention_yields_offset_out_of_range() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, log) = store_of_evicted_segments(&tmp);
    let mut records = log.records_from(0).fetch_bytes(1);
    let first: Vec<i64> = records.by_ref().take(10).map(|r| r.unwrap().offset()).collect();
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    // The next read stops between listing the segments and reading them.
    let deleted = fault::on_point("log::read::segment", {
        let (log, store) = (log.clone(), store.clone());
        move || {
            log.delete_records(30).unwrap();
            let report = store.maintain(Some("t"));
            log.delete_expired_files(i64::MAX).unwrap();
            let gone = !log.dir().join(format!("{:020}.log", 8)).exists();
            assert!(gone, "segment 8 kept: {report:?}");
        }
    });
    let rest: Vec<Result<i64, Error>> = records.map(|r| r.map(|r| r.offset())).collect();
    assert!(deleted.ran());
    assert_eq!(log.log_start_offset(), 30);
    match rest.as_slice() {
        [Ok(10), Err(Error::OffsetOutOfRange { offset: 11, log_start_offset: 30, .. })] => {}
        other => panic!("{other:?}"),
    }
    store.close().unwrap();
}

/// Puts a copy of each sealed segment's `.log` under its name: the same bytes in another file,
/// which a segment's reopen (checking the file's identity) refuses with `Error::Closed`, the
/// log itself open.
fn replace_sealed_files(log: &Log) {
    let dir = log.dir().to_path_buf();
    let active = *log.segment_base_offsets().last().unwrap();
    for base in log.segment_base_offsets().into_iter().filter(|&b| b != active) {
        let name = dir.join(format!("{base:020}.log"));
        let copy = dir.join("copy.tmp");
        std::fs::copy(&name, &copy).unwrap();
        std::fs::rename(&copy, &name).unwrap();
    }
}

/// An iteration over a live log whose segment reopen fails with `Error::Closed` (a stale file
/// under the segment's name) yields that error: the records past it exist, and ending quietly
/// there would hand the caller a silent early end. It used to end as at a close, with `None`,
/// after the records read before.
#[test]
fn an_iteration_meeting_a_stale_segment_file_on_a_live_log_yields_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, log) = store_of_evicted_segments(&tmp);
    let mut records = log.records_from(0).fetch_bytes(1);
    let first: Vec<i64> = records.by_ref().take(10).map(|r| r.unwrap().offset()).collect();
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    let replaced = fault::on_point("segment::reopen", {
        let log = log.clone();
        move || replace_sealed_files(&log)
    });
    let rest: Vec<Result<i64, Error>> = records.map(|r| r.map(|r| r.offset())).collect();
    assert!(replaced.ran(), "no segment was reopened");
    assert!(!log.is_closed());
    let read = rest.iter().filter(|r| r.is_ok()).count();
    match rest.last() {
        Some(Err(Error::Closed { what })) => assert!(what.ends_with(".log"), "{what}"),
        other => panic!("ended after {read} more records without an error: last {other:?}"),
    }
    // Not closed: its close would flush the sealed segments to files no longer theirs.
    drop(store);
}

/// The async tail follows the same rule: on the live log, the `Closed` of a stale segment file
/// is yielded; it used to end the stream (`Ready(None)`).
#[cfg(feature = "stream")]
#[test]
fn the_async_tail_meeting_a_stale_segment_file_on_a_live_log_yields_the_error() {
    use futures_core::Stream;
    let tmp = tempfile::tempdir().unwrap();
    let (store, log) = store_of_evicted_segments(&tmp);
    let replaced = fault::on_point("segment::reopen", {
        let log = log.clone();
        move || replace_sealed_files(&log)
    });
    let mut tail = Box::pin(log.tail(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut read = 0;
    let end = loop {
        match tail.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(_))) => read += 1,
            other => break other,
        }
    };
    assert!(replaced.ran(), "no segment was reopened");
    match end {
        Poll::Ready(Some(Err(Error::Closed { .. }))) => {}
        other => panic!("ended after {read} records without an error: {other:?}"),
    }
    // Not closed: its close would flush the sealed segments to files no longer theirs.
    drop(store);
}

/// A store with partition `t-0` holding records 0..3, closed and opened again read-only.
fn read_only_store_of_three_records(tmp: &TempDir) -> (Store, Log) {
    let (store, log) = {
        let store = Store::open(StoreConfig::new([tmp.path()]).background_threads(false)).unwrap();
        store.create_topic("t", 1, &BTreeMap::new()).unwrap();
        let log = store.partition("t", 0).unwrap();
        (store, log)
    };
    for v in ["a", "b", "c"] {
        log.append(&[Record::new("k", v)]).unwrap();
    }
    drop(log);
    store.close().unwrap();
    let store = Store::open_read_only(StoreConfig::new([tmp.path()])).unwrap();
    let log = store.partition("t", 0).unwrap();
    (store, log)
}

/// A read-only log's waits end at once (nothing appends to it): a following iteration over
/// one reads every record and ends there quietly, as `records_from` without `follow` does,
/// not with a `Closed` error about a log that is open and readable.
#[test]
fn a_following_iteration_over_a_read_only_log_ends_quietly_at_its_log_end() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, log) = read_only_store_of_three_records(&tmp);
    let items: Vec<_> = log.records_from(0).follow().collect();
    let offsets: Vec<i64> =
        items.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.offset()).collect();
    assert_eq!(offsets, [0, 1, 2]);
    let errors: Vec<String> =
        items.iter().filter_map(|r| r.as_ref().err()).map(ToString::to_string).collect();
    assert!(errors.is_empty(), "ended with {errors:?}");
    store.close().unwrap();
}

/// The async tail over a read-only log ends (`None`) after its last record too.
#[cfg(feature = "stream")]
#[test]
fn the_async_tail_over_a_read_only_log_ends_quietly_at_its_log_end() {
    use futures_core::Stream;

    let tmp = tempfile::tempdir().unwrap();
    let (store, log) = read_only_store_of_three_records(&tmp);
    let mut tail = Box::pin(log.tail(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut offsets = Vec::new();
    loop {
        match tail.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(r))) => offsets.push(r.offset()),
            Poll::Ready(Some(Err(e))) => panic!("after {offsets:?}: {e}"),
            Poll::Ready(None) => break,
            Poll::Pending => panic!("pending after {offsets:?} on a log nothing appends to"),
        }
    }
    assert_eq!(offsets, [0, 1, 2]);
    store.close().unwrap();
}
