//! The store's background work and its hand-driven twin: with background threads on, retention
//! and checkpoints happen on their own and `close` stops the threads promptly; with them off,
//! nothing happens until [`Store::maintain`]; the checkpoints it writes are Kafka's text format.
//!
//! The tests here count the store's threads (by name, in `/proc/self/task`), so they run one at
//! a time under [`serial`].

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strata::Log;
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::{Clock, ManualClock, SystemClock};
use tempfile::TempDir;

const DAY: i64 = 86_400_000;
/// How long a poll waits for background work before failing: generous, since a loaded machine
/// can leave a thread unscheduled for seconds; each test's intervals are far shorter or far
/// longer than this, so a wait within it still tells whether the setting was obeyed.
const PATIENCE: Duration = Duration::from_secs(60);
/// `log.cleaner.backoff.ms` here: an idle cleaner thread sleeps an hour, so a close that did
/// not wake it would take an hour, and the bound on close can be generous too.
const HOUR_MS: i64 = 3_600_000;

/// One test at a time: thread counts are per process.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Threads of this process whose name starts `strata-` (the store's maintenance and cleaner
/// threads; Linux truncates names to 15 bytes), leaving out `strata-ahead`: the process-wide
/// page-table worker a large read by any test in this binary may have started (`io::ahead`),
/// which no store owns. `None` where `/proc/self/task` is absent.
fn strata_threads() -> Option<usize> {
    let tasks = fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter(|t| {
                fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.starts_with("strata-") && !c.starts_with("strata-ahead"))
            })
            .count(),
    )
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn open(
    dir: &Path,
    clock: &Arc<ManualClock>,
    tweak: impl FnOnce(StoreConfig) -> StoreConfig,
) -> Store {
    Store::open_with_clock(tweak(StoreConfig::new([dir])), clock.clone()).unwrap()
}

/// Appends `count` single-record batches stamped `ts`.
fn append_records(log: &Log, count: usize, ts: i64) {
    for _ in 0..count {
        let o = log.log_end_offset();
        log.append(&[Record::new(format!("k{o}"), vec![b'v'; 100]).timestamp(ts)]).unwrap();
    }
}

/// A topic `t` of ~1 KiB segments, 1-day retention and no delete delay, holding 20 records ten
/// days old then 5 fresh ones (which start a segment at offset 20: a time roll).
fn expired_topic(store: &Store, now: i64) -> Log {
    let day = DAY.to_string();
    store
        .create_topic(
            "t",
            1,
            &overrides(&[
                ("segment.bytes", "1024"),
                ("retention.ms", &day),
                ("file.delete.delay.ms", "0"),
            ]),
        )
        .unwrap();
    let log = store.partition("t", 0).unwrap();
    append_records(&log, 20, now - 10 * DAY);
    append_records(&log, 5, now);
    log
}

fn poll_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done().then(|| start.elapsed())
}

fn setup() -> (TempDir, Arc<ManualClock>, i64) {
    let tmp = tempfile::tempdir().unwrap();
    let now = SystemClock.now_ms();
    (tmp, ManualClock::new(now), now)
}

// ---------------------------------------------------------------------------------------------
// Background threads on
// ---------------------------------------------------------------------------------------------

#[test]
fn the_background_thread_runs_retention_without_maintain_and_close_stops_it_promptly() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    let threads_before = strata_threads();
    let store = open(tmp.path(), &clock, |c| {
        c.log_retention_check_interval_ms(50)
            .log_initial_task_delay_ms(0)
            .log_cleaner_backoff_ms(HOUR_MS)
    });
    if let Some(before) = threads_before {
        // A new thread names itself once it runs.
        let running = poll_until(PATIENCE, || strata_threads() > Some(before));
        assert!(running.is_some(), "background threads should be running");
    }
    let log = expired_topic(&store, now);
    let dir = store.partition_dir("t", 0).unwrap();

    // Every 50 ms as configured (the default, 5 minutes, would not run within the patience).
    let took = poll_until(PATIENCE, || log.log_start_offset() == 20);
    assert!(took.is_some(), "retention did not run: log start {}", log.log_start_offset());
    eprintln!("background retention ran within {took:?}");
    assert_eq!(log.segment_base_offsets(), vec![20]);
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        poll_until(PATIENCE, || !dir.join(format!("{:020}.log", 0)).exists()).is_some(),
        "{names:?}"
    );
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());

    let started = Instant::now();
    store.close().unwrap();
    let took = started.elapsed();
    eprintln!("close took {took:?}");
    // Without a wake the idle cleaner thread would sleep out its hour's backoff.
    assert!(took < PATIENCE, "close took {took:?}");
    if let (Some(before), Some(after)) = (threads_before, strata_threads()) {
        assert_eq!(after, before, "close should stop and join every background thread");
    }
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
}

/// A cleaning holds its partition for as long as it runs (a throttled one for hours), and the
/// retention thread, which goes over every partition in turn, waited for it there: no other
/// partition had retention, `.deleted` files removed or `flush.ms` flushes until it ended.
/// Kafka's retention task leaves a log being cleaned to its cleaner, which runs that log's
/// retention once it is done (`LogManager.cleanupLogs`, `LogCleaner.cleanFilthiestLog`).
#[test]
fn a_long_cleaning_of_one_partition_does_not_hold_up_retention_of_the_others() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    {
        let store = open(tmp.path(), &clock, |c| c.background_threads(false));
        // "a" comes first in the retention thread's round: a compacted topic worth cleaning.
        let compacted = overrides(&[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ]);
        store.create_topic("a", 1, &compacted).unwrap();
        let a = store.partition("a", 0).unwrap();
        for i in 0..40 {
            a.append(&[Record::new(format!("k{}", i % 4), vec![b'v'; 100])]).unwrap();
        }
        a.roll().unwrap();
        // "b": fresh records, an hour's retention.
        let expiring = overrides(&[
            ("segment.bytes", "1024"),
            ("retention.ms", &HOUR_MS.to_string()),
            ("file.delete.delay.ms", "0"),
        ]);
        store.create_topic("b", 1, &expiring).unwrap();
        append_records(&store.partition("b", 0).unwrap(), 20, now);
        store.close().unwrap();
    }
    // A cleaner throttled to a byte a second: once it takes "a", it holds it until the close.
    let store = open(tmp.path(), &clock, |c| {
        c.log_retention_check_interval_ms(50)
            .log_initial_task_delay_ms(0)
            .log_cleaner_io_max_bytes_per_second(1.0)
    });
    let b = store.partition("b", 0).unwrap();
    let picked = poll_until(PATIENCE, || {
        store.cleaner_stats().iter().any(|(tp, s)| tp.topic == "a" && s.dirty_ratio > 0.0)
    });
    assert!(picked.is_some(), "the cleaner never looked at a: {:?}", store.cleaner_stats());
    // Past the pick into the cleaning's first throttled sleep, and a few retention rounds.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.log_start_offset(), 0);
    clock.advance(2 * HOUR_MS);
    let took = poll_until(Duration::from_secs(10), || b.log_start_offset() > 0);
    assert!(took.is_some(), "b's expired segments were not deleted while a was being cleaned");
    eprintln!("b's retention ran within {took:?} of its records expiring");
    store.close().unwrap();
}

#[test]
fn close_wakes_a_background_thread_in_the_middle_of_a_long_wait() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    let threads_before = strata_threads();
    // Nothing would run for an hour.
    let store = open(tmp.path(), &clock, |c| {
        c.log_retention_check_interval_ms(HOUR_MS)
            .log_initial_task_delay_ms(HOUR_MS)
            .log_cleaner_backoff_ms(HOUR_MS)
    });
    let log = expired_topic(&store, now);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(log.log_start_offset(), 0, "the initial delay has not passed");

    let started = Instant::now();
    store.close().unwrap();
    let took = started.elapsed();
    eprintln!("close took {took:?}");
    // Without a wake the idle cleaner thread would sleep out its hour's backoff.
    assert!(took < PATIENCE, "close took {took:?}");
    if let (Some(before), Some(after)) = (threads_before, strata_threads()) {
        assert_eq!(after, before, "close should stop and join every background thread");
    }
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
}

/// Idle producers are forgotten every `producer.id.expiration.check.interval.ms`, as Kafka's
/// periodic producer-expiration task runs on its own interval: strata expired them only in a
/// retention pass, so with retention checked hourly (or a topic whose retention was never due)
/// a producer past `producer.id.expiration.ms` stayed until the next pass, and the interval
/// key, accepted and documented, did nothing.
#[test]
fn idle_producers_expire_on_their_own_check_interval() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    let store = open(tmp.path(), &clock, |c| {
        c.log_retention_check_interval_ms(HOUR_MS)
            .log_initial_task_delay_ms(HOUR_MS)
            .log_cleaner_backoff_ms(HOUR_MS)
            .producer_id_expiration_ms(60_000)
            .producer_id_expiration_check_interval_ms(50)
    });
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut b = strata::BatchBuilder::new(0).producer(7, 0, 0);
    b.append(&Record::new("k", "v").timestamp(now)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    assert_eq!(log.producer_count(), 1);
    // Not yet idle for producer.id.expiration.ms: checked, and kept.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(log.producer_count(), 1, "expired before producer.id.expiration.ms passed");
    clock.advance(60_001);
    let took = poll_until(PATIENCE, || log.producer_count() == 0);
    assert!(took.is_some(), "producer 7 still remembered after {PATIENCE:?}");
    store.close().unwrap();
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
}

#[test]
fn the_background_thread_writes_the_checkpoints_on_its_interval() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    let store = open(tmp.path(), &clock, |c| {
        c.log_retention_check_interval_ms(HOUR_MS)
            .log_initial_task_delay_ms(HOUR_MS)
            .log_flush_offset_checkpoint_interval_ms(50)
            .log_flush_start_offset_checkpoint_interval_ms(50)
    });
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    append_records(&log, 7, now);
    // Flush the log alone (the store's flush would write the checkpoints itself).
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 7);
    let path = tmp.path().join("recovery-point-offset-checkpoint");
    // Every 50 ms as configured; the default interval, a minute, is longer than the patience.
    let took = poll_until(Duration::from_secs(30), || {
        fs::read_to_string(&path).is_ok_and(|t| t == "0\n1\nt 0 7\n")
    });
    assert!(took.is_some(), "checkpoint not written: {:?}", fs::read_to_string(&path));
    store.close().unwrap();
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
}

#[test]
fn checkpoint_intervals_of_zero_write_the_checkpoints_once_not_every_millisecond() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    let store = open(tmp.path(), &clock, |c| {
        c.log_retention_check_interval_ms(HOUR_MS)
            .log_initial_task_delay_ms(0)
            .log_flush_offset_checkpoint_interval_ms(0)
            .log_flush_start_offset_checkpoint_interval_ms(0)
    });
    let path = tmp.path().join("recovery-point-offset-checkpoint");
    // The one run, right after the open (initial delay 0).
    let first = poll_until(Duration::from_secs(30), || path.exists());
    assert!(first.is_some(), "the checkpoints were never written");
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    append_records(&log, 7, now);
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 7);
    // Kafka's scheduler repeats a task only for a period above 0: the new recovery point waits
    // for close. A loop every millisecond wrote it within a few.
    std::thread::sleep(Duration::from_millis(500));
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("t 0 7"), "checkpoints rewritten after their one run: {text:?}");
    store.close().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "0\n1\nt 0 7\n", "close writes them");
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
}

// ---------------------------------------------------------------------------------------------
// Background threads off
// ---------------------------------------------------------------------------------------------

#[test]
fn with_background_threads_off_nothing_is_deleted_until_maintain() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    let threads_before = strata_threads();
    // Tiny intervals that a running thread would obey at once.
    let store = open(tmp.path(), &clock, |c| {
        c.background_threads(false).log_retention_check_interval_ms(1).log_initial_task_delay_ms(0)
    });
    if let (Some(before), Some(during)) = (threads_before, strata_threads()) {
        assert_eq!(during, before, "no background thread should start");
    }
    let log = expired_topic(&store, now);
    let bases = log.segment_base_offsets();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.segment_base_offsets(), bases);

    let report = store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, bases.iter().filter(|&&b| b < 20).count());
    assert_eq!(log.log_start_offset(), 20);
    // Time passing deletes nothing either until the next maintain.
    clock.advance(DAY + 1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(log.segment_base_offsets(), vec![20]);
    assert_eq!(store.maintain(None).unwrap().segments_deleted, 1);
    assert_eq!(log.log_start_offset(), 25, "the expired active segment rolled and went");
    store.close().unwrap();
    assert!(store.background_errors().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------------

/// Reads an offset checkpoint the way Kafka's `CheckpointReadBuffer` does: version line `0`,
/// a count line, then exactly that many `topic partition offset` lines.
fn parse_checkpoint(text: &str) -> Vec<(String, i32, i64)> {
    assert!(text.ends_with('\n'), "{text:?}");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "version");
    let count: usize = lines.next().unwrap().parse().unwrap();
    let entries: Vec<(String, i32, i64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "{l:?}");
            (f[0].to_owned(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(entries.len(), count, "{text:?}");
    entries
}

#[test]
fn maintain_writes_the_checkpoints_in_kafkas_text_format() {
    let _serial = serial();
    let (tmp, clock, now) = setup();
    let store = open(tmp.path(), &clock, |c| c.background_threads(false));
    let log_t = expired_topic(&store, now);
    store.create_topic("a", 2, &overrides(&[("segment.bytes", "1024")])).unwrap();
    let a0 = store.partition("a", 0).unwrap();
    let a1 = store.partition("a", 1).unwrap();
    append_records(&a0, 3, now);
    append_records(&a1, 12, now);
    a1.flush().unwrap();
    // a-1 starts mid-segment; t will start at a segment boundary after retention.
    let a1_holder = *a1.segment_base_offsets().iter().filter(|&&b| b <= 9).max().unwrap();
    assert!(a1_holder < 9);
    store.delete_records("a", 1, 9).unwrap();

    let report = store.maintain(None).unwrap();
    assert!(report.segments_deleted > 0);
    assert_eq!(log_t.log_start_offset(), 20);

    let root = tmp.path();
    let recovery = fs::read_to_string(root.join("recovery-point-offset-checkpoint")).unwrap();
    let expected = format!(
        "0\n3\na 0 {}\na 1 {}\nt 0 {}\n",
        a0.recovery_point(),
        a1.recovery_point(),
        log_t.recovery_point()
    );
    assert_eq!(recovery, expected);
    assert_eq!(a1.recovery_point(), 12);
    assert_eq!(parse_checkpoint(&recovery).len(), 3);
    // Every start offset above 0 is checkpointed, t's too, though it is its first segment's
    // base (Kafka leaves that one out, trusting the segment's file to survive a crash); a-0
    // never moved.
    let starts = fs::read_to_string(root.join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(starts, "0\n2\na 1 9\nt 0 20\n");
    assert_eq!(parse_checkpoint(&starts), vec![("a".to_owned(), 1, 9), ("t".to_owned(), 0, 20)]);
    let leftovers: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // With no start offset to record, the file is Kafka's empty checkpoint.
    let store2_dir = tempfile::tempdir().unwrap();
    let store2 = open(store2_dir.path(), &clock, |c| c.background_threads(false));
    store2.create_topic("x", 1, &BTreeMap::new()).unwrap();
    store2.maintain(None).unwrap();
    let starts = fs::read_to_string(store2_dir.path().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(starts, "0\n0\n");
    store2.close().unwrap();
    store.close().unwrap();
}

/// A clock that panics once when the store's maintenance thread reads it
/// after `arm`: a stand-in for a bug met by a background task.
#[derive(Debug, Default)]
struct PanickingClock {
    armed: std::sync::atomic::AtomicBool,
}

impl strata::Clock for PanickingClock {
    fn now_ms(&self) -> i64 {
        let maintenance = std::thread::current().name() == Some("strata-maintenance");
        if maintenance && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("clock broke");
        }
        strata::SystemClock.now_ms()
    }
}

/// A background task that panics is recorded in `background_errors` and its
/// thread goes on, as Kafka's scheduler logs an uncaught exception of a task
/// and runs it again at its next period (`KafkaScheduler`); the flusher's
/// workers already did. The maintenance thread died silently: retention,
/// the `flush.ms` checks and the periodic checkpoints stopped for good.
#[test]
fn a_panicking_background_task_is_recorded_and_its_thread_goes_on() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(PanickingClock::default());
    let text = format!(
        "log.dirs={}\nlog.retention.check.interval.ms=20\nlog.initial.task.delay.ms=0\n",
        dir.path().display()
    );
    let (config, _) = StoreConfig::from_properties_str(&text).unwrap();
    let store =
        Store::open_with_clock(config, Arc::clone(&clock) as Arc<dyn strata::Clock>).unwrap();
    let mut o = BTreeMap::new();
    o.insert("retention.ms".to_owned(), "1000".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    clock.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(60), "never happened: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait("the panic", &|| !clock.armed.load(std::sync::atomic::Ordering::SeqCst));
    wait("its record", &|| !store.background_errors().is_empty());
    let errors = store.background_errors();
    assert!(
        errors.iter().any(|e| e.to_string().contains("clock broke")),
        "the panic is recorded with its message: {errors:?}"
    );
    // Retention still runs: an old segment goes.
    let old = strata::SystemClock.now_ms() - 60_000;
    log.append(&[Record::new("k", "old").timestamp(old)]).unwrap();
    log.roll().unwrap();
    log.append(&[Record::new("k", "new")]).unwrap();
    wait("retention after the panic", &|| log.log_start_offset() == 1);
    store.close().unwrap();
}
