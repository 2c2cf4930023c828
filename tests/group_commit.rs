//! Durability classes and group commit: `strata.durability=sync` appends return once fsynced,
//! concurrent ones share sync passes (counted through the io gate's [`fault::watch`]), and their
//! records are in the image a power cut would leave (each `.log` cut to its synced length).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::Record;
use strata::Store;
use strata::SystemClock;
use strata::internals::io::fault::{self, Op, Watch};
use strata::{LoadOptions, Log};
use strata::{LogConfig, StoreConfig};

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn value(thread: usize, i: usize) -> Vec<u8> {
    format!("t{thread}-{i}-{}", "v".repeat(40)).into_bytes()
}

/// `threads` threads each append `per_thread` single-record batches to partition
/// `thread % partitions`; returns `(partition, offset, value)` of every acknowledged append.
fn append_from_threads(
    store: &Store,
    topic: &str,
    partitions: i32,
    threads: usize,
    per_thread: usize,
) -> Vec<(i32, i64, Vec<u8>)> {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = store.partition(topic, i32::try_from(t).unwrap() % partitions).unwrap();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| {
                        let v = value(t, i);
                        let at = log.append(&[Record::new(b"k".to_vec(), v.clone())]).unwrap();
                        (log.partition(), at.base_offset, v)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

/// Copies the partition directory `dir` into `image` as a power cut would leave it: every `.log`
/// cut to the length it had when its last sync began; indexes, snapshots and checkpoints
/// dropped (recovery rebuilds them).
fn power_cut_image(dir: &Path, image: &Path, watch: &Watch) {
    std::fs::create_dir_all(image).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if common::is_segment_log_name(path.file_name().unwrap()) {
            let bytes = std::fs::read(&path).unwrap();
            let synced = usize::try_from(watch.synced_len(&path)).unwrap().min(bytes.len());
            std::fs::write(image.join(path.file_name().unwrap()), &bytes[..synced]).unwrap();
        }
    }
}

/// Opens a power-cut image and returns how many of `acked` (for partition 0) it lacks or holds
/// with another value.
fn lost_in_image(image: &Path, topic: &str, acked: &[(i32, i64, Vec<u8>)]) -> usize {
    let (log, _) = Log::open(
        image,
        topic,
        0,
        LogConfig::default(),
        Arc::new(SystemClock),
        LoadOptions::default(),
    )
    .unwrap();
    let mut found = BTreeMap::new();
    let mut at = 0;
    while at < log.log_end_offset() {
        for r in log.read(at, 1 << 20).unwrap().records() {
            let r = r.unwrap();
            found.insert(r.offset(), r.value().unwrap().to_vec());
            at = r.offset() + 1;
        }
    }
    // A clean close trims the active segment's indexes to their entries, so the checkers that
    // follow read the directory as Kafka would after a clean shutdown (a live directory's
    // untrimmed active index reads as zero entries past the real ones, in Kafka too).
    log.close().unwrap();
    acked.iter().filter(|(_, offset, v)| found.get(offset) != Some(v)).count()
}

#[test]
fn concurrent_sync_appends_share_sync_passes() {
    let root = tempfile::tempdir().unwrap();
    let watch = fault::watch(root.path());
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic("gc", 4, &overrides(&[("strata.durability", "sync")])).unwrap();
    let before = watch.calls(Op::Sync);
    let acked = append_from_threads(&store, "gc", 4, 32, 20);
    let syncs = watch.calls(Op::Sync) - before;
    let appends = acked.len() as u64;
    eprintln!("{appends} sync appends from 32 threads on 4 partitions: {syncs} syncs");
    assert_eq!(appends, 640);
    for p in 0..4 {
        let log = store.partition("gc", p).unwrap();
        assert_eq!(log.recovery_point(), log.log_end_offset(), "partition {p}");
    }
    // One pass (one fdatasync) per append would be 640. How many appends share a pass depends
    // on scheduling (a loaded machine overlaps fewer), so only sharing itself is asserted.
    assert!(syncs < appends, "{syncs} syncs for {appends} appends: no group commit");
    store.close().unwrap();
}

#[test]
fn sync_appends_without_a_flusher_thread_still_share_passes() {
    let root = tempfile::tempdir().unwrap();
    let watch = fault::watch(root.path());
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    store.create_topic("gc", 1, &overrides(&[("strata.durability", "sync")])).unwrap();
    let before = watch.calls(Op::Sync);
    let acked = append_from_threads(&store, "gc", 1, 16, 20);
    let syncs = watch.calls(Op::Sync) - before;
    eprintln!("{} sync appends from 16 threads, no flusher: {syncs} syncs", acked.len());
    let log = store.partition("gc", 0).unwrap();
    assert_eq!(log.recovery_point(), log.log_end_offset());
    // As above: that passes are shared, not how many appends share one.
    assert!(syncs < acked.len() as u64, "{syncs} syncs for {} appends", acked.len());
    store.close().unwrap();
}

#[test]
fn a_sync_append_survives_a_power_cut_image_cut_to_synced_lengths() {
    let root = tempfile::tempdir().unwrap();
    let watch = fault::watch(root.path());
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    // Small segments: the image also spans rolls.
    let config = overrides(&[("strata.durability", "sync"), ("segment.bytes", "4096")]);
    store.create_topic("cut", 1, &config).unwrap();
    let acked = append_from_threads(&store, "cut", 1, 8, 25);
    let dir = store.partition_dir("cut", 0).unwrap();
    assert!(store.partition("cut", 0).unwrap().segment_count() > 3);
    let image = root.path().join("image").join("cut-0");
    power_cut_image(&dir, &image, &watch);
    assert_eq!(lost_in_image(&image, "cut", &acked), 0, "acknowledged sync appends lost");
    common::assert_kafka_valid(&image, 4096);
    drop(store);
}

#[test]
fn a_page_cache_append_may_be_missing_from_a_power_cut_image() {
    // The counterpart of the test above: the image really drops what was not synced.
    let root = tempfile::tempdir().unwrap();
    let watch = fault::watch(root.path());
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic("cut", 1, &BTreeMap::new()).unwrap();
    let acked = append_from_threads(&store, "cut", 1, 4, 25);
    let image = root.path().join("image").join("cut-0");
    power_cut_image(&store.partition_dir("cut", 0).unwrap(), &image, &watch);
    assert_eq!(lost_in_image(&image, "cut", &acked), acked.len());
    drop(store);
}

#[test]
fn the_interval_class_syncs_without_a_flush_call() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic("iv", 1, &overrides(&[("strata.durability", "interval")])).unwrap();
    let log = store.partition("iv", 0).unwrap();
    log.append(&[Record::new(b"k".to_vec(), b"v".to_vec())]).unwrap();
    assert_eq!(log.recovery_point(), 0, "acknowledged from the page cache");
    // Nothing else would sync it (page-cache topics never are); the deadline allows for a
    // maintenance thread left unscheduled for seconds on a loaded machine.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while log.recovery_point() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(log.recovery_point(), 1, "not synced by the store's own threads");
    store.close().unwrap();
}

#[test]
fn the_interval_class_syncs_once_its_default_second_has_passed_and_not_before() {
    // The store's periodic work driven by hand on a clock that moves only when told.
    let root = tempfile::tempdir().unwrap();
    let clock = strata::ManualClock::new(1_700_000_000_000);
    let config = StoreConfig::new([root.path()]).background_threads(false);
    let store = Store::open_with_clock(config, clock.clone()).unwrap();
    store.create_topic("iv", 1, &overrides(&[("strata.durability", "interval")])).unwrap();
    let log = store.partition("iv", 0).unwrap();
    log.append(&[Record::new(b"k".to_vec(), b"v".to_vec())]).unwrap();
    clock.advance(999);
    store.maintain(None).unwrap();
    assert_eq!(log.recovery_point(), 0, "synced before flush.ms' 1000 ms default had passed");
    clock.advance(1);
    store.maintain(None).unwrap();
    assert_eq!(log.recovery_point(), 1, "not synced once flush.ms' 1000 ms default had passed");
    store.close().unwrap();
}

#[test]
fn an_unknown_durability_class_is_refused_with_the_values_it_takes() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    let err = store.create_topic("bad", 1, &overrides(&[("strata.durability", "fsync")]));
    let text = err.unwrap_err().to_string();
    assert!(text.contains("strata.durability") && text.contains("page_cache"), "{text}");
}

#[test]
fn a_sync_append_runs_its_fsync_on_the_appending_thread_not_a_flusher_handoff() {
    // Across partitions no two waiting appends share a file, so a handoff to the flusher saves
    // no fsync and costs two thread switches: the appender that takes its turn syncs itself.
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic("own", 2, &overrides(&[("strata.durability", "sync")])).unwrap();
    let log = store.partition("own", 1).unwrap();
    let syncs_here = std::rc::Rc::new(std::cell::Cell::new(0_u32));
    let seen = std::rc::Rc::clone(&syncs_here);
    let observer = fault::observe(move |done| {
        let is_log = done.path.extension().is_some_and(|e| e == "log");
        if done.op == Op::Sync && is_log {
            seen.set(seen.get() + 1);
        }
    });
    for i in 0..3 {
        log.append(&[Record::new(b"k".to_vec(), value(0, i))]).unwrap();
        assert_eq!(log.recovery_point(), log.log_end_offset(), "append {i} acknowledged unsynced");
    }
    drop(observer);
    assert_eq!(syncs_here.get(), 3, "each lone sync append fsyncs its .log on its own thread");
    store.close().unwrap();
}

#[test]
fn the_stores_sync_pass_count_is_one_per_fdatasync_and_a_flush_with_nothing_new_adds_none() {
    let root = tempfile::tempdir().unwrap();
    let watch = fault::watch(root.path());
    // The watch counts every fsync under the root: the periodic checkpoints (every minute by
    // default, which a slow enough run reaches) would fsync files no pass syncs.
    let day = 86_400_000;
    let config = StoreConfig::new([root.path()])
        .log_flush_offset_checkpoint_interval_ms(day)
        .log_flush_start_offset_checkpoint_interval_ms(day);
    let store = Store::open(config).unwrap();
    store.create_topic("gc", 2, &overrides(&[("strata.durability", "sync")])).unwrap();
    let (passes, syncs) = (store.sync_passes(), watch.calls(Op::Sync));
    let acked = append_from_threads(&store, "gc", 2, 16, 20);
    let (passes, syncs) = (store.sync_passes() - passes, watch.calls(Op::Sync) - syncs);
    eprintln!("{} sync appends from 16 threads on 2 partitions: {passes} passes", acked.len());
    // No roll: every pass fdatasyncs the active segment's .log and nothing else.
    assert_eq!(passes, syncs);
    assert!(passes > 0 && passes <= acked.len() as u64, "{passes} passes");
    let per_log: u64 = (0..2).map(|p| store.partition("gc", p).unwrap().sync_passes()).sum();
    assert_eq!(per_log, store.sync_passes());
    let log = store.partition("gc", 0).unwrap();
    let before = log.sync_passes();
    log.flush().unwrap();
    assert_eq!(log.sync_passes(), before, "everything was synced: the flush ran no pass");
    log.append(&[Record::new(b"k".to_vec(), b"v".to_vec())]).unwrap();
    assert_eq!(log.sync_passes(), before + 1);
    store.close().unwrap();
}

/// A pass's fsync syncs every byte written by then, including records appended after the pass
/// took its view; the next pass then finds nothing to sync and is not counted (CI once saw 78
/// passes for 77 fdatasyncs when two concurrent passes met this way).
#[test]
fn a_pass_whose_bytes_an_earlier_fsync_covered_runs_no_fsync_and_is_not_counted() {
    let root = tempfile::tempdir().unwrap();
    let watch = fault::watch(root.path());
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    store.create_topic("late", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("late", 0).unwrap();
    log.append(&[Record::new(b"k".to_vec(), value(0, 0))]).unwrap();
    let l = log.clone();
    let hook = fault::on_point("log::flush::pass_after_view", move || {
        // After the pass fixed its target (offset 1): this record's bytes reach its fsync.
        l.append(&[Record::new(b"k".to_vec(), value(0, 1))]).unwrap();
    });
    let (passes, syncs) = (log.sync_passes(), watch.calls(Op::Sync));
    log.flush().unwrap();
    assert!(hook.ran());
    assert_eq!(log.recovery_point(), 1, "the pass's target was the log end when it looked");
    assert_eq!((log.sync_passes() - passes, watch.calls(Op::Sync) - syncs), (1, 1));
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 2);
    assert_eq!(
        (log.sync_passes() - passes, watch.calls(Op::Sync) - syncs),
        (1, 1),
        "the second flush moved the recovery point without an fsync and counts no pass"
    );
    drop(hook);
    store.close().unwrap();
}

/// The environment variable that turns [`slow_disk_sharing_child_when_spawned`] on: the file
/// the child writes `appends passes` to.
const SHARING_CHILD_ENV: &str = "STRATA_GROUP_COMMIT_SHARING_CHILD";
const SHARING_THREADS: usize = 16;
const SHARING_PER_THREAD: usize = 20;

/// Body of the child process of the sharing test; returns at once unless that test spawned it.
/// Every fsync of the process takes 20 ms (`slow_syncs` is process-wide, hence a child), so
/// each pass lasts long enough for every appender it did not cover to append and wait.
#[test]
fn slow_disk_sharing_child_when_spawned() {
    let Some(out) = std::env::var_os(SHARING_CHILD_ENV) else { return };
    let _slow_disk = fault::slow_syncs(std::time::Duration::from_millis(20));
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic("gc", 1, &overrides(&[("strata.durability", "sync")])).unwrap();
    let before = store.sync_passes();
    let acked = append_from_threads(&store, "gc", 1, SHARING_THREADS, SHARING_PER_THREAD);
    let passes = store.sync_passes() - before;
    std::fs::write(out, format!("{} {passes}", acked.len())).unwrap();
    store.close().unwrap();
}

/// With 16 appenders on one partition and a slow disk, a pass serves about every appender:
/// while it runs, the others append and wait, and the next pass covers them all. Passes per
/// append near 1/16 (measured 0.08 on the shared machine by `benches/compare -- --durable`);
/// the bound is 1/4. Before appenders whose records a pass covered were woken all at once,
/// they left one at a time through a lock that a returning appender's next pass could take
/// first, so they waited out whole passes: about one pass for every two appends.
#[test]
fn with_16_appenders_on_a_slow_disk_a_group_commit_pass_serves_four_appends_or_more_on_average() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sharing");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "slow_disk_sharing_child_when_spawned", "--nocapture"])
        .env(SHARING_CHILD_ENV, &out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    let text = std::fs::read_to_string(&out).unwrap();
    let (appends, passes) = text.split_once(' ').unwrap();
    let (appends, passes): (u64, u64) = (appends.parse().unwrap(), passes.parse().unwrap());
    eprintln!("{appends} sync appends from {SHARING_THREADS} threads: {passes} passes");
    assert_eq!(appends, (SHARING_THREADS * SHARING_PER_THREAD) as u64);
    assert!(passes * 4 <= appends, "{passes} passes for {appends} appends");
}

#[test]
fn without_a_flusher_concurrent_wait_synced_callers_each_return_once_their_records_are_synced() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(
        dir.path(),
        "ws",
        0,
        LogConfig::default(),
        Arc::new(SystemClock),
        LoadOptions::default(),
    )
    .unwrap();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                for i in 0..20 {
                    let at = log.append(&[Record::new(b"k".to_vec(), value(t, i))]).unwrap();
                    last = at.base_offset + 1;
                    log.wait_synced(last).unwrap();
                    assert!(log.recovery_point() >= last, "wait_synced({last}) returned unsynced");
                }
                last
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap() > 0);
    }
    assert_eq!(log.recovery_point(), 160);
    eprintln!("160 waits from 8 threads: {} passes", log.sync_passes());
    assert!(log.sync_passes() <= 160);
    // Nothing new: a wait for what is synced runs no pass.
    let passes = log.sync_passes();
    log.wait_synced(160).unwrap();
    assert_eq!(log.sync_passes(), passes);
    log.close().unwrap();
}

/// `wait_synced` above the log end is refused at once, with and without the
/// store's flusher (it used to fail as `Closed` without one and block until
/// close with one: review 3, finding F1).
#[test]
fn wait_synced_past_the_log_end_is_out_of_range_with_and_without_a_flusher() {
    for background in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(StoreConfig::new([dir.path()]).background_threads(background)).unwrap();
        store.create_topic("w", 1, &BTreeMap::new()).unwrap();
        let log = store.partition("w", 0).unwrap();
        log.append(&[Record::new(b"k".to_vec(), value(0, 0))]).unwrap();
        let started = std::time::Instant::now();
        let err = log.wait_synced(5).unwrap_err();
        assert!(
            matches!(err, strata::Error::OffsetOutOfRange { offset: 5, log_end_offset: 1, .. }),
            "background threads {background}: {err:?}"
        );
        // At once; the old behaviour blocked until close (the bound allows for a loaded machine).
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "it waited");
        log.wait_synced(1).unwrap();
        assert_eq!(log.recovery_point(), 1);
        store.close().unwrap();
    }
}

/// A read-only store never writes, so it never syncs: `wait_synced` for records
/// an unclean shutdown left unsynced is refused as `flush` is, and opens no
/// file for writing (review 3, finding F3).
#[test]
fn wait_synced_on_a_read_only_store_is_refused_and_syncs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false)).unwrap();
        store.create_topic("r", 1, &BTreeMap::new()).unwrap();
        let log = store.partition("r", 0).unwrap();
        for i in 0..10 {
            log.append(&[Record::new(b"k".to_vec(), value(0, i))]).unwrap();
        }
        std::mem::forget(store); // an unclean shutdown: nothing synced, no marker
    }
    let ro = Store::open_read_only(StoreConfig::new([dir.path()])).unwrap();
    let log = ro.partition("r", 0).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert!(log.recovery_point() < 10);
    let watch = fault::watch(dir.path());
    assert!(matches!(log.wait_synced(10), Err(strata::Error::ReadOnly)));
    assert!(matches!(log.flush(), Err(strata::Error::ReadOnly)));
    assert_eq!(watch.calls(Op::Sync), 0);
    assert_eq!(watch.calls(Op::Open), 0);
    // What it holds as synced needs no pass.
    log.wait_synced(log.recovery_point()).unwrap();
}
