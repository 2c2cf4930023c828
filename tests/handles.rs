//! Handles and files: a handle never reads or writes a file it did not open.
//!
//! A `Log` kept past its topic's deletion or its store's close gets
//! `Error::Closed` — never the records of the topic re-created under the same
//! name, never a `SIGBUS` from a file a new store compacted; a store dropped
//! without `close` fences its logs before another store may write the
//! directory; one partition directory is open at most once in a process; and
//! the same partition in two log directories is refused at open.
//!
//! The cases that could die of `SIGBUS` before the fix run in a child process
//! (the test binary itself, started with [`CHILD_ENV`] naming the test), so a
//! signal fails the test instead of killing the suite.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::Error;
use strata::Record;
use strata::Store;
use strata::SystemClock;
use strata::internals::io::IndexMap;
use strata::{LoadOptions, Log, OffsetSpec};
use strata::{LogConfig, StoreConfig};

/// Set to a test's name in the child process that runs its body.
const CHILD_ENV: &str = "STRATA_HANDLES_CHILD";

/// `index.interval.bytes` of the topics here.
const INTERVAL: u64 = 128;

/// Whether this process should run the body of test `name`: true in the child; in the parent,
/// runs the child, asserts that it passed (a signal is a failure), and returns false.
fn in_child(name: &str) -> bool {
    common::in_child(CHILD_ENV, name, None)
}

fn config(dirs: &[&Path]) -> StoreConfig {
    StoreConfig::new(dirs.iter().copied()).background_threads(false)
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Small segments, so a few hundred records make many of them.
fn small_segments(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut o = overrides(&[
        ("segment.bytes", "2048"),
        ("segment.index.bytes", "4096"),
        ("index.interval.bytes", "128"),
    ]);
    o.extend(overrides(extra));
    o
}

/// Appends `n` records `key{i % keys}` = `{tag}{i}` one batch each.
fn fill(log: &Log, n: usize, keys: usize, tag: &str) {
    for i in 0..n {
        log.append(&[Record::new(format!("key{}", i % keys), format!("{tag}{i:06}"))]).unwrap();
    }
}

/// Every value of the log, in offset order.
fn values(log: &Log) -> Vec<(i64, String)> {
    let fetched = log.read(log.log_start_offset(), usize::MAX).unwrap();
    fetched
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), String::from_utf8(r.value().unwrap().to_vec()).unwrap())
        })
        .collect()
}

/// Everything a stale handle may be asked: each must be `Error::Closed`.
fn assert_stale(log: &Log) {
    let read = log.read(0, 1 << 20).map(|f| f.size_bytes());
    assert!(matches!(read, Err(Error::Closed { .. })), "read through a stale handle: {read:?}");
    for spec in [OffsetSpec::Timestamp(0), OffsetSpec::MaxTimestamp] {
        let found = log.offset_for_time(spec);
        assert!(
            matches!(found, Err(Error::Closed { .. })),
            "{spec:?} through a stale handle: {found:?}"
        );
    }
    let appended = log.append(&[Record::new("k", "stale")]);
    assert!(
        matches!(appended, Err(Error::Closed { .. })),
        "append through a stale handle: {appended:?}"
    );
    assert!(matches!(log.flush(), Err(Error::Closed { .. })));
    assert!(matches!(log.roll(), Err(Error::Closed { .. })));
    assert!(log.is_closed());
}

/// `(device, inode)` of every `.log` file of `dir`.
fn log_inodes(dir: &Path) -> BTreeMap<PathBuf, (u64, u64)> {
    common::segment_logs(dir)
        .into_iter()
        .map(|(p, _)| {
            let m = std::fs::metadata(&p).unwrap();
            (p, (m.dev(), m.ino()))
        })
        .collect()
}

#[test]
fn a_log_kept_after_its_topic_is_deleted_and_recreated_never_reads_the_new_topic() {
    if !in_child("a_log_kept_after_its_topic_is_deleted_and_recreated_never_reads_the_new_topic") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(&[tmp.path()])).unwrap();
    store.create_topic("t", 1, &small_segments(&[])).unwrap();
    let old = store.partition("t", 0).unwrap();
    // Never read: no segment of the old topic is mapped when it goes.
    fill(&old, 300, 300, "old");
    assert!(old.segment_count() > 5, "{}", old.segment_count());
    store.delete_topic("t").unwrap();
    store.create_topic("t", 1, &small_segments(&[])).unwrap();
    let new = store.partition("t", 0).unwrap();
    // Shorter files under the same names: mapped at the old lengths they would fault.
    fill(&new, 40, 40, "n");
    assert_stale(&old);
    let got = values(&new);
    assert_eq!(got.len(), 40);
    assert!(got.iter().all(|(_, v)| v.starts_with('n')), "{got:?}");
    let dir = store.partition_dir("t", 0).unwrap();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn a_log_kept_after_its_store_closed_never_reads_what_a_new_store_compacted() {
    if !in_child("a_log_kept_after_its_store_closed_never_reads_what_a_new_store_compacted") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let compact =
        small_segments(&[("cleanup.policy", "compact"), ("min.cleanable.dirty.ratio", "0.01")]);
    let first = Store::open(config(&[tmp.path()])).unwrap();
    first.create_topic("c", 1, &compact).unwrap();
    let old = first.partition("c", 0).unwrap();
    fill(&old, 400, 5, "v");
    let dir = first.partition_dir("c", 0).unwrap();
    first.close().unwrap();
    drop(first);
    let before = log_inodes(&dir);

    let second = Store::open(config(&[tmp.path()])).unwrap();
    let report = second.maintain(None).unwrap();
    assert!(report.partitions_cleaned > 0, "{report:?}");
    let after = log_inodes(&dir);
    let replaced = before.iter().filter(|(p, id)| after.get(*p).is_some_and(|a| a != *id)).count();
    assert!(replaced > 0, "the cleaner replaced no file: {before:?} / {after:?}");

    assert_stale(&old);
    let log = second.partition("c", 0).unwrap();
    let latest: BTreeMap<String, String> =
        values(&log).into_iter().map(|(o, v)| (format!("key{}", o % 5), v)).collect();
    assert_eq!(latest.len(), 5, "{latest:?}");
    second.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn a_dropped_store_fences_its_logs_before_another_store_writes_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Store::open(config(&[tmp.path()])).unwrap();
    first.create_topic("t", 1, &small_segments(&[])).unwrap();
    let old = first.partition("t", 0).unwrap();
    fill(&old, 50, 50, "a");
    let dir = first.partition_dir("t", 0).unwrap();
    drop(first); // no close

    // The old handle can no longer write (or read) ...
    assert_stale(&old);
    // ... so the next store's offsets follow the old ones and nothing is overwritten.
    let second = Store::open(config(&[tmp.path()])).unwrap();
    let log = second.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), 50);
    fill(&log, 20, 20, "b");
    assert_stale(&old);
    let got = values(&log);
    let want: Vec<(i64, String)> = (0..50)
        .map(|i| (i, format!("a{i:06}")))
        .chain((0..20).map(|i| (50 + i, format!("b{i:06}"))))
        .collect();
    assert_eq!(got, want);
    second.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn a_writer_racing_a_store_drop_never_writes_beside_the_next_store() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Store::open(config(&[tmp.path()])).unwrap();
    first.create_topic("t", 1, &small_segments(&[])).unwrap();
    let old = first.partition("t", 0).unwrap();
    let dir = first.partition_dir("t", 0).unwrap();
    let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = std::thread::spawn({
        let acks = Arc::clone(&acks);
        move || {
            let mut acked = Vec::new();
            loop {
                match old.append(&[Record::new("k", format!("old{}", acked.len()))]) {
                    Ok(info) => {
                        acked.push(info.base_offset);
                        acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(Error::Closed { .. }) => return acked,
                    Err(e) => panic!("unexpected error from the old handle: {e}"),
                }
            }
        }
    });
    // The drop races a writer that is appending (after a fixed sleep, a writer not yet scheduled
    // found the store dropped and had acknowledged nothing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acks.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        assert!(std::time::Instant::now() < deadline, "the writer acknowledged nothing in 60 s");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(first);
    let second = Store::open(config(&[tmp.path()])).unwrap();
    let log = second.partition("t", 0).unwrap();
    let end_at_open = log.log_end_offset();
    fill(&log, 10, 10, "new");
    let acked = writer.join().unwrap();
    assert!(!acked.is_empty());
    // Every append the old handle acknowledged happened before the fence: the new store saw it.
    assert!(acked.iter().all(|&o| o < end_at_open), "{} acked, end {end_at_open}", acked.len());
    let got = values(&log);
    for (i, &o) in acked.iter().enumerate() {
        assert_eq!(got[usize::try_from(o).unwrap()].1, format!("old{i}"));
    }
    assert_eq!(got.len(), usize::try_from(end_at_open).unwrap() + 10);
    second.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

fn log_config() -> LogConfig {
    LogConfig::default()
}

fn open_log(dir: &Path) -> strata::Result<Log> {
    Log::open(dir, "t", 0, log_config(), Arc::new(SystemClock), LoadOptions::default())
        .map(|(log, _)| log)
}

#[test]
fn two_log_opens_of_one_partition_directory_do_not_both_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let first = open_log(&dir).unwrap();
    first.append(&[Record::new("k", "v")]).unwrap();
    let err = open_log(&dir).unwrap_err();
    assert!(matches!(err, Error::DirectoryLocked { .. }), "{err}");
    // Another spelling of the same directory is the same directory.
    let link = tmp.path().join("link-0");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let err = open_log(&link).unwrap_err();
    assert!(matches!(err, Error::DirectoryLocked { .. }), "{err}");
    let spelled = tmp.path().join(".").join("t-0");
    assert!(matches!(open_log(&spelled), Err(Error::DirectoryLocked { .. })));
    // Closed, or dropped, the directory is free again.
    first.close().unwrap();
    let second = open_log(&dir).unwrap();
    assert_eq!(second.log_end_offset(), 1);
    drop(second);
    let third = open_log(&dir).unwrap();
    third.close().unwrap();
    drop(first);
}

#[test]
fn a_direct_log_open_of_a_partition_its_store_has_open_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(&[tmp.path()])).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let dir = store.partition_dir("t", 0).unwrap();
    let err = open_log(&dir).unwrap_err();
    assert!(matches!(err, Error::DirectoryLocked { .. }), "{err}");
    store.close().unwrap();
}

#[test]
fn the_same_partition_in_two_log_directories_is_refused_at_open_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let store = Store::open(config(&[&a, &b])).unwrap();
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    for p in 0..2 {
        store.partition("t", p).unwrap().append(&[Record::new("k", format!("v{p}"))]).unwrap();
    }
    let home = store.describe_topic("t").unwrap()[0].log_dir.clone();
    store.close().unwrap();
    drop(store);
    let other = if home == a { &b } else { &a };
    common::copy_dir(&home.join("t-0"), &other.join("t-0")).unwrap();

    let err = Store::open(config(&[&a, &b])).unwrap_err();
    let Error::DuplicatePartition { partition, first, second } = &err else {
        panic!("expected DuplicatePartition, got {err}");
    };
    assert_eq!(partition, "t-0");
    let mut both = [first.clone(), second.clone()];
    both.sort();
    let mut want = [a.join("t-0"), b.join("t-0")];
    want.sort();
    assert_eq!(both, want);
    let text = err.to_string();
    assert!(text.contains(&*a.join("t-0").to_string_lossy()), "{text}");
    assert!(text.contains(&*b.join("t-0").to_string_lossy()), "{text}");
    // Refused before anything changed: the clean-shutdown markers are still there.
    assert!(a.join(".kafka_cleanshutdown").exists() && b.join(".kafka_cleanshutdown").exists());
    // Removing the stale copy lets the store open.
    std::fs::remove_dir_all(other.join("t-0")).unwrap();
    let store = Store::open(config(&[&a, &b])).unwrap();
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 1);
    store.close().unwrap();
}

#[test]
fn an_index_map_never_resizes_a_file_that_replaced_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("00000000000000000000.index");
    std::fs::write(&path, [0u8; 64]).unwrap();
    let mut map = IndexMap::open(&path, true).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, [7u8; 16]).unwrap();
    let err = map.resize(128).unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), [7u8; 16], "the other file is untouched");
}

/// A pass removing due `.deleted` files that a close overtakes (the close runs after the pass
/// took its due segments, before it removed their files) removes nothing after the close
/// returned: the directory may belong to another store by then, with files of the same names.
/// Here a file planted under a retired segment's `.txnindex.deleted` name once the close
/// returned stands for one such store made.
#[test]
fn a_removal_of_deleted_files_overtaken_by_a_close_leaves_the_directory_alone() {
    use strata::ManualClock;
    use strata::internals::io::fault;
    const NOW: i64 = 1_700_000_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let config = LogConfig::default().segment_bytes(1024).file_delete_delay_ms(1_000);
    let (log, _) =
        Log::open(tmp.path(), "t", 0, config, clock.clone(), LoadOptions::default()).unwrap();
    for o in 0..100 {
        log.append(&[Record::new("k", format!("value-{o:04}"))]).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 3);
    log.delete_records(bases[2]).unwrap();
    let retired = tmp.path().join("00000000000000000000.log.deleted");
    assert!(retired.exists(), "retired, its files waiting for file.delete.delay.ms");
    clock.advance(2_000);
    let planted = tmp.path().join("00000000000000000000.txnindex.deleted");
    let (closer, at) = (log.clone(), planted.clone());
    let hook = fault::on_point("log::delete_expired::due", move || {
        closer.close().unwrap();
        std::fs::write(&at, b"another store's file").unwrap();
    });
    let _ = log.delete_expired_files(NOW + 2_000);
    assert!(hook.ran(), "the close ran inside the removal");
    assert!(log.is_closed());
    assert!(planted.exists(), "a file named like the closed log's was removed after its close");
}
