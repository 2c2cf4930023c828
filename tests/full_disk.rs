//! A full disk is survived: `ENOSPC` at a `.log` write or at an index allocation fails that one
//! append (or roll) with the retriable `Error::NoSpace`, cuts a partial write back, and leaves the
//! partition usable once space is free; the free-space watermark refuses appends early while
//! DeleteRecords and retention keep running; on a real 2 MiB tmpfs nothing ever dies of SIGBUS.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata::Error;
use strata::Log;
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::internals::io::fault::{self, FaultPlan, Op};

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn record(i: i64, size: usize) -> Record {
    Record::new(format!("k{i}").into_bytes(), format!("v{i}-{}", "x".repeat(size)).into_bytes())
}

fn open(root: &Path, topic_config: &[(&str, &str)]) -> (Store, Log) {
    let store = Store::open(StoreConfig::new([root]).background_threads(false)).unwrap();
    store.create_topic("full", 1, &overrides(topic_config)).unwrap();
    let log = store.partition("full", 0).unwrap();
    (store, log)
}

/// Every record from the log start is `record(offset)`.
fn assert_records(log: &Log, size: usize) -> i64 {
    let mut at = log.log_start_offset();
    let mut n = 0;
    while at < log.log_end_offset() {
        for r in log.read(at, 1 << 20).unwrap().records() {
            let r = r.unwrap();
            assert_eq!(r.value(), record(r.offset(), size).value.as_ref(), "offset {}", r.offset());
            at = r.offset() + 1;
            n += 1;
        }
    }
    n
}

fn active_log_file(log: &Log) -> PathBuf {
    let base = *log.segment_base_offsets().last().unwrap();
    log.dir().join(format!("{base:020}.log"))
}

#[test]
fn enospc_at_a_log_write_fails_the_append_retriably_and_the_partition_stays_usable() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[]);
    for i in 0..5 {
        log.append(&[record(i, 50)]).unwrap();
    }
    let len = std::fs::metadata(active_log_file(&log)).unwrap().len();
    {
        let _full =
            fault::arm(FaultPlan::new().fail_nth(Op::Write, 1).os_error(Op::Write, libc::ENOSPC));
        let err = log.append(&[record(5, 50)]).unwrap_err();
        assert!(matches!(err, Error::NoSpace { .. }), "{err:?}");
        assert!(err.is_retriable());
    }
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(std::fs::metadata(active_log_file(&log)).unwrap().len(), len);
    // Space is back: the same append succeeds at the next offset.
    assert_eq!(log.append(&[record(5, 50)]).unwrap().base_offset, 5);
    log.flush().unwrap();
    assert_eq!(assert_records(&log, 50), 6);
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 4096);
}

#[test]
fn enospc_at_an_index_allocation_fails_the_roll_retriably() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[("segment.bytes", "1024")]);
    let mut i = 0;
    while log.segment_count() < 2 {
        log.append(&[record(i, 100)]).unwrap();
        i += 1;
    }
    let segments = log.segment_count();
    let mut failed = None;
    {
        let _full = fault::arm(
            FaultPlan::new().fail_every(Op::Allocate).os_error(Op::Allocate, libc::ENOSPC),
        );
        for _ in 0..20 {
            match log.append(&[record(i, 100)]) {
                Ok(_) => i += 1,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    let err = failed.expect("a roll needs an index allocation");
    assert!(matches!(err, Error::NoSpace { .. }), "{err:?}");
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.segment_count(), segments, "the failed roll added no segment");
    let stray = log.dir().join(format!("{:020}.index", log.log_end_offset()));
    assert!(!stray.exists(), "the half-made segment's files are removed");
    // Space is back: the roll and the append go through.
    log.append(&[record(i, 100)]).unwrap();
    assert_eq!(log.segment_count(), segments + 1);
    assert_eq!(assert_records(&log, 100), i + 1);
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 4096);
}

#[test]
fn an_append_after_a_roll_that_failed_for_lack_of_space_rolls_and_does_not_poison() {
    let root = tempfile::tempdir().unwrap();
    // An index entry every batch or two: the sealed segment's trimmed indexes have no slot.
    let (store, log) = open(root.path(), &[("index.interval.bytes", "100")]);
    for i in 0..5 {
        log.append(&[record(i, 100)]).unwrap();
    }
    {
        // The new segment's index cannot get its first block: the roll fails after the
        // seal, and the sealed segment stays active.
        let _full = fault::arm(
            FaultPlan::new().fail_every(Op::Allocate).os_error(Op::Allocate, libc::ENOSPC),
        );
        let err = log.roll().unwrap_err();
        assert!(no_space(&err), "{err:?}");
    }
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.segment_count(), 1);
    // Space is back: the next append rolls (the sealed segment's indexes are full), and
    // neither it nor the ones after it poison the partition.
    for i in 5..10 {
        let appended = log.append(&[record(i, 100)]);
        assert!(appended.is_ok(), "append {i}: {appended:?}, poisoned: {:?}", log.poisoned());
    }
    assert_eq!(log.segment_count(), 2, "the append after the failed roll rolled");
    assert_eq!(assert_records(&log, 100), 10);
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 100);
}

#[test]
fn retention_whose_roll_finds_the_disk_full_still_deletes_the_sealed_segments_it_expired() {
    let root = tempfile::tempdir().unwrap();
    // retention.bytes 0: every segment goes, the active one too, so the pass rolls first.
    let config =
        [("segment.bytes", "1024"), ("retention.bytes", "0"), ("file.delete.delay.ms", "0")];
    let (store, log) = open(root.path(), &config);
    let mut i = 0;
    while log.segment_count() < 3 {
        log.append(&[record(i, 100)]).unwrap();
        i += 1;
    }
    let bases = log.segment_base_offsets();
    let active = *bases.last().unwrap();
    let pass = {
        // No block for the new segment's index: the roll fails (the sealed segment stays).
        let _full = fault::arm(
            FaultPlan::new().fail_every(Op::Allocate).os_error(Op::Allocate, libc::ENOSPC),
        );
        log.delete_old_segments()
    };
    // The sealed segments need no roll to go, and their space is what the roll needs.
    let outcome = pass.unwrap();
    assert_eq!(outcome.segments_deleted, bases.len() - 1);
    assert_eq!(log.segment_base_offsets(), vec![active]);
    assert_eq!(log.log_start_offset(), active);
    for base in &bases[..bases.len() - 1] {
        assert!(!log.dir().join(format!("{base:020}.log")).exists(), "segment {base} removed");
    }
    assert_eq!(log.poisoned(), None);
    assert_eq!(assert_records(&log, 100), i - active);
    // Space is back: the next pass rolls and deletes the active segment too.
    assert_eq!(log.delete_old_segments().unwrap().segments_deleted, 1);
    assert_eq!(log.segment_base_offsets(), vec![i]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (i, i));
    assert_eq!(log.append(&[record(i, 100)]).unwrap().base_offset, i);
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 4096);
}

#[test]
fn retention_of_a_lone_active_segment_on_a_full_disk_fails_retriably_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let config = [("retention.bytes", "0"), ("file.delete.delay.ms", "0")];
    let (store, log) = open(root.path(), &config);
    for i in 0..5 {
        log.append(&[record(i, 100)]).unwrap();
    }
    let pass = {
        let _full = fault::arm(
            FaultPlan::new().fail_every(Op::Allocate).os_error(Op::Allocate, libc::ENOSPC),
        );
        log.delete_old_segments()
    };
    // Nothing can go without the roll: its error is the pass's (as before the fix above).
    let err = pass.unwrap_err();
    assert!(no_space(&err), "{err:?}");
    assert_eq!(log.poisoned(), None);
    assert_eq!((log.log_start_offset(), log.segment_base_offsets()), (0, vec![0]));
    assert_eq!(assert_records(&log, 100), 5);
    assert_eq!(log.delete_old_segments().unwrap().segments_deleted, 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 5));
    store.close().unwrap();
}

#[test]
fn other_write_errors_still_poison_the_partition() {
    let root = tempfile::tempdir().unwrap();
    let (_store, log) = open(root.path(), &[]);
    log.append(&[record(0, 10)]).unwrap();
    {
        let _broken = fault::arm(FaultPlan::new().fail_nth(Op::Write, 1));
        let err = log.append(&[record(1, 10)]).unwrap_err();
        assert!(matches!(err, Error::Io { .. }) && !err.is_retriable(), "{err:?}");
    }
    assert!(log.poisoned().is_some());
    assert!(matches!(log.append(&[record(1, 10)]), Err(Error::Poisoned { .. })));
}

#[test]
fn the_free_space_watermark_refuses_appends_while_delete_records_and_retention_run() {
    let root = tempfile::tempdir().unwrap();
    {
        let (store, log) = open(root.path(), &[("segment.bytes", "1024")]);
        for i in 0..40 {
            log.append(&[record(i, 100)]).unwrap();
        }
        store.close().unwrap();
    }
    let config = StoreConfig::new([root.path()])
        .background_threads(false)
        .strata_log_dir_min_free_bytes(u64::MAX / 2);
    let store = Store::open(config).unwrap();
    let log = store.partition("full", 0).unwrap();
    let err = log.append(&[record(40, 100)]).unwrap_err();
    assert!(matches!(err, Error::NoSpace { .. }) && err.is_retriable(), "{err:?}");
    assert!(err.to_string().contains("strata.log.dir.min.free.bytes"), "{err}");
    assert_eq!(log.poisoned(), None);
    // What frees space still runs.
    let segments = log.segment_count();
    store.delete_records("full", 0, 30).unwrap();
    store.maintain(None).unwrap();
    assert_eq!(log.log_start_offset(), 30);
    assert!(log.segment_count() < segments);
    // Below the watermark no longer: appends go on where they stopped.
    log.set_min_free_bytes(0);
    assert_eq!(log.append(&[record(40, 100)]).unwrap().base_offset, 40);
    store.close().unwrap();
}

#[test]
fn a_watermark_below_the_free_space_lets_appends_through() {
    let root = tempfile::tempdir().unwrap();
    let config =
        StoreConfig::new([root.path()]).background_threads(false).strata_log_dir_min_free_bytes(1);
    let store = Store::open(config).unwrap();
    store.create_topic("full", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("full", 0).unwrap();
    for i in 0..100 {
        log.append(&[record(i, 100)]).unwrap();
    }
    store.close().unwrap();
}

/// The environment variable that turns [`tmpfs_child_fills_the_disk_when_spawned`] on.
const CHILD_ENV: &str = "STRATA_FULL_DISK_CHILD";

/// Body of the child process of the tmpfs test; returns at once unless spawned by it. Appends
/// until the 2 MiB file system is full, checks every failure is a retriable `NoSpace`, frees
/// space with DeleteRecords and retention, and appends again.
#[test]
fn tmpfs_child_fills_the_disk_when_spawned() {
    let Some(root) = std::env::var_os(CHILD_ENV) else { return };
    let root = PathBuf::from(root);
    // Indexes keep the default segment.index.bytes (10 MiB, five times the file system): they
    // are sparse and take blocks as their entries need them.
    let config =
        [("segment.bytes", "131072"), ("index.interval.bytes", "1"), ("file.delete.delay.ms", "0")];
    let (store, log) = open(&root, &config);
    let mut i = 0;
    let mut no_space = 0;
    while no_space < 20 {
        match log.append(&[record(i, 2000)]) {
            Ok(at) => {
                assert_eq!(at.base_offset, i);
                i += 1;
            }
            Err(e) => {
                assert!(matches!(e, Error::NoSpace { .. }), "{e:?}");
                no_space += 1;
            }
        }
        assert_eq!(log.poisoned(), None);
    }
    eprintln!("full after {i} records, {} segments", log.segment_count());
    assert!(i > 100, "only {i} records fit");
    assert_eq!(assert_records(&log, 2000), i);
    store.delete_records("full", 0, i - 10).unwrap();
    store.maintain(None).unwrap();
    for _ in 0..50 {
        assert_eq!(log.append(&[record(i, 2000)]).unwrap().base_offset, i);
        i += 1;
    }
    assert_eq!(assert_records(&log, 2000), 60);
    store.close().unwrap();
}

/// Mounts a tmpfs of `size` (mount's `size=` option) on `dir`; `Err` says why it could not
/// (the tests skip: mounting needs root).
fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Result<(), String> {
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "cannot mount a tmpfs (needs root): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

#[test]
fn a_full_tmpfs_fails_appends_with_no_space_and_never_sigbus() {
    let mount = tempfile::tempdir().unwrap();
    if let Err(why) = mount_tmpfs(mount.path(), "2m") {
        return common::skip(&why);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tmpfs_child_fills_the_disk_when_spawned", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, mount.path())
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(mount.path()).status();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{}", stderr.lines().filter(|l| l.starts_with("full after")).collect::<String>());
    // A SIGBUS ends the child by signal: `success()` is false and there is no exit code.
    assert!(out.status.success(), "child failed ({}): {stderr}", out.status);
}

/// The environment variable that turns [`tmpfs_child_reopens_after_a_crash_when_spawned`] on.
const REOPEN_CHILD_ENV: &str = "STRATA_FULL_DISK_REOPEN_CHILD";

/// Body of the child process of the reopen test; returns at once unless spawned by it. A store
/// dropped without a close (a crash's files: the active segment's indexes untrimmed, sparse up
/// to `segment.index.bytes`) is opened again on a file system with no space left.
#[test]
fn tmpfs_child_reopens_after_a_crash_when_spawned() {
    let Some(root) = std::env::var_os(REOPEN_CHILD_ENV) else { return };
    let root = PathBuf::from(root);
    let (store, log) = open(&root, &[("index.interval.bytes", "1")]);
    for i in 0..50 {
        log.append(&[record(i, 100)]).unwrap();
    }
    drop(log);
    drop(store);
    // Fill the file system: what is left of it goes to a file of its own.
    let filler = root.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[7; 4096]).is_ok() {}
    }
    // The open may fail for lack of space (recovery rebuilds the indexes); a fault that ends
    // the process (a read of a hole in a map on a full tmpfs is a SIGBUS) may not.
    let reopened = Store::open(StoreConfig::new([&root]).background_threads(false));
    eprintln!("reopened on a full disk: {:?}", reopened.as_ref().map(drop));
    if let Ok(store) = &reopened {
        let log = store.partition("full", 0).unwrap();
        assert_eq!(assert_records(&log, 100), 50);
        let appended = log.append(&[record(50, 100)]);
        assert!(appended.as_ref().map_or_else(no_space, |_| true), "{appended:?}");
    }
    drop(reopened);
    std::fs::remove_file(&filler).unwrap();
    let store = Store::open(StoreConfig::new([&root]).background_threads(false)).unwrap();
    let records = assert_records(&store.partition("full", 0).unwrap(), 100);
    assert!(records == 50 || records == 51, "{records} records");
    store.close().unwrap();
}

#[test]
fn a_store_reopened_after_a_crash_on_a_full_tmpfs_reads_no_index_hole_through_a_map() {
    let mount = tempfile::tempdir().unwrap();
    if let Err(why) = mount_tmpfs(mount.path(), "4m") {
        return common::skip(&why);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tmpfs_child_reopens_after_a_crash_when_spawned", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(REOPEN_CHILD_ENV, mount.path())
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(mount.path()).status();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A SIGBUS ends the child by signal: `success()` is false and there is no exit code.
    assert!(out.status.success(), "child failed ({}): {stderr}", out.status);
}

fn no_space(e: &Error) -> bool {
    matches!(e, Error::NoSpace { .. }) && e.is_retriable()
}

#[test]
fn enospc_at_an_fsync_fails_the_flush_retriably_and_the_next_sync_rewrites_the_unsynced_bytes() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[]);
    for i in 0..10 {
        log.append(&[record(i, 50)]).unwrap();
    }
    log.flush().unwrap();
    for i in 10..20 {
        log.append(&[record(i, 50)]).unwrap();
    }
    {
        let _full =
            fault::arm(FaultPlan::new().fail_nth(Op::Sync, 1).os_error(Op::Sync, libc::ENOSPC));
        let err = log.flush().unwrap_err();
        assert!(no_space(&err), "{err:?}");
    }
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.recovery_point(), 10, "nothing past the last good sync counts as durable");
    // Readers still see every record, and appends go on.
    assert_eq!(assert_records(&log, 50), 20);
    log.append(&[record(20, 50)]).unwrap();
    // Space is back: the next sync reads the unsynced bytes back, checks and rewrites them (so
    // their pages are dirty again) before it fsyncs.
    let log_file = active_log_file(&log);
    let trace = {
        let guard = fault::arm(FaultPlan::new().trace());
        log.flush().unwrap();
        guard.trace()
    };
    let on_log = |op: Op| trace.iter().position(|(o, p)| *o == op && *p == log_file);
    let (read, write, sync) = (on_log(Op::Read), on_log(Op::Write), on_log(Op::Sync));
    assert!(read.is_some() && write.is_some() && sync.is_some(), "{trace:?}");
    assert!(read < write && write < sync, "read back, rewritten, then synced: {trace:?}");
    assert_eq!(log.recovery_point(), 21);
    // A second sync has nothing to rewrite.
    log.append(&[record(21, 50)]).unwrap();
    let trace = {
        let guard = fault::arm(FaultPlan::new().trace());
        log.flush().unwrap();
        guard.trace()
    };
    assert!(!trace.iter().any(|(o, p)| *o == Op::Read && *p == log_file), "{trace:?}");
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 4096);
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    assert_eq!(assert_records(&store.partition("full", 0).unwrap(), 50), 22);
}

#[test]
fn a_durable_append_whose_sync_hits_enospc_fails_retriably_and_a_later_one_covers_it() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[("strata.durability", "sync")]);
    log.append(&[record(0, 50)]).unwrap();
    assert_eq!(log.recovery_point(), 1);
    {
        let _full =
            fault::arm(FaultPlan::new().fail_nth(Op::Sync, 1).os_error(Op::Sync, libc::ENOSPC));
        let err = log.append(&[record(1, 50)]).unwrap_err();
        assert!(no_space(&err), "{err:?}");
    }
    assert_eq!(log.poisoned(), None);
    // Written but not acknowledged as durable: it stays in the log (a producer that retries
    // without idempotence writes it twice), and the next durable append's sync covers it.
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.recovery_point(), 1);
    assert_eq!(log.append(&[record(2, 50)]).unwrap().base_offset, 2);
    assert_eq!(log.recovery_point(), 3);
    assert_eq!(assert_records(&log, 50), 3);
    store.close().unwrap();
}

#[test]
fn unsynced_bytes_lost_after_a_failed_fsync_poison_the_partition_and_reopen_keeps_the_synced() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[]);
    for i in 0..10 {
        log.append(&[record(i, 50)]).unwrap();
    }
    log.flush().unwrap();
    let log_file = active_log_file(&log);
    let synced_len = std::fs::metadata(&log_file).unwrap().len();
    for i in 10..20 {
        log.append(&[record(i, 50)]).unwrap();
    }
    {
        let _full =
            fault::arm(FaultPlan::new().fail_nth(Op::Sync, 1).os_error(Op::Sync, libc::ENOSPC));
        assert!(no_space(&log.flush().unwrap_err()));
    }
    // What Linux may do after a failed writeback: drop the pages, which then read as zeros.
    {
        use std::os::unix::fs::FileExt as _;
        let len = std::fs::metadata(&log_file).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&log_file).unwrap();
        f.write_all_at(&vec![0; usize::try_from(len - synced_len).unwrap()], synced_len).unwrap();
    }
    let err = log.flush().unwrap_err();
    assert!(!err.is_retriable(), "{err:?}");
    assert!(err.to_string().contains("no longer hold valid batches"), "{err}");
    assert!(log.poisoned().is_some());
    assert!(matches!(log.append(&[record(20, 50)]), Err(Error::Poisoned { .. })));
    drop(log);
    let _ = store.close();
    // Reopened: recovery cuts the lost bytes; everything synced is there.
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    let log = store.partition("full", 0).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(assert_records(&log, 50), 10);
    assert_eq!(log.append(&[record(10, 50)]).unwrap().base_offset, 10);
    store.close().unwrap();
}

#[test]
fn unsynced_bytes_lost_after_a_failed_fsync_are_refused_at_the_first_read_back() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[]);
    log.append(&[record(0, 50)]).unwrap();
    log.flush().unwrap();
    let log_file = active_log_file(&log);
    let synced_len = std::fs::metadata(&log_file).unwrap().len();
    // 24 MiB unsynced: three times the 8 MiB the rewrite reads back at a time.
    for i in 1..=96 {
        log.append(&[record(i, 256 << 10)]).unwrap();
    }
    {
        let _full =
            fault::arm(FaultPlan::new().fail_nth(Op::Sync, 1).os_error(Op::Sync, libc::ENOSPC));
        assert!(no_space(&log.flush().unwrap_err()));
    }
    // The kernel dropped the unsynced pages: they read as zeros.
    {
        use std::os::unix::fs::FileExt as _;
        let len = std::fs::metadata(&log_file).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&log_file).unwrap();
        f.write_all_at(&vec![0; usize::try_from(len - synced_len).unwrap()], synced_len).unwrap();
    }
    let guard = fault::arm(FaultPlan::new().trace());
    let err = log.flush().unwrap_err();
    let reads = guard.trace().iter().filter(|(o, p)| *o == Op::Read && *p == log_file).count();
    drop(guard);
    assert!(err.to_string().contains("no longer hold valid batches"), "{err}");
    // Zeros where a batch must start are not a batch longer than the step: the rewrite does
    // not read on (doubling its buffer up to the whole unsynced range, a segment) to see so.
    assert_eq!(reads, 1, "the unsynced bytes were read back {reads} times");
    drop(log);
    let _ = store.close();
}

#[test]
fn a_batch_longer_than_the_read_back_step_is_rewritten_whole_after_a_failed_fsync() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[("max.message.bytes", "33554432")]);
    log.append(&[record(0, 50)]).unwrap();
    log.flush().unwrap();
    // One batch of 20 MiB: longer than the 8 MiB read back at a time.
    log.append(&[record(1, 20 << 20)]).unwrap();
    log.append(&[record(2, 50)]).unwrap();
    {
        let _full =
            fault::arm(FaultPlan::new().fail_nth(Op::Sync, 1).os_error(Op::Sync, libc::ENOSPC));
        assert!(no_space(&log.flush().unwrap_err()));
    }
    log.flush().unwrap();
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.recovery_point(), 3);
    assert_eq!(log.read(1, 64 << 20).unwrap().records().count(), 2);
    store.close().unwrap();
}

#[test]
fn other_fsync_errors_still_poison_the_partition() {
    let root = tempfile::tempdir().unwrap();
    let (_store, log) = open(root.path(), &[]);
    log.append(&[record(0, 10)]).unwrap();
    {
        let _broken =
            fault::arm(FaultPlan::new().fail_nth(Op::Sync, 1).os_error(Op::Sync, libc::EIO));
        let err = log.flush().unwrap_err();
        assert!(!err.is_retriable(), "{err:?}");
    }
    assert!(log.poisoned().is_some());
    assert!(matches!(log.append(&[record(1, 10)]), Err(Error::Poisoned { .. })));
}

#[test]
fn enospc_at_an_index_sync_fails_retriably_and_the_entries_are_rewritten() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) =
        open(root.path(), &[("segment.bytes", "4096"), ("index.interval.bytes", "1")]);
    let mut i = 0;
    while log.segment_count() < 3 {
        log.append(&[record(i, 100)]).unwrap();
        i += 1;
    }
    // Find the sync of a sealed segment's offset index in a pass, then fail just that one.
    let index = log.dir().join(format!("{:020}.index", 0));
    let trace = {
        let guard = fault::arm(FaultPlan::new().trace());
        log.flush_pending().unwrap();
        guard.trace()
    };
    assert!(trace.iter().any(|(o, p)| *o == Op::Sync && *p == index), "{trace:?}");
    // Same state again: a new root, the same appends, and the index sync failing.
    drop(log);
    store.close().unwrap();
    let root = tempfile::tempdir().unwrap();
    let (store, log) =
        open(root.path(), &[("segment.bytes", "4096"), ("index.interval.bytes", "1")]);
    for j in 0..i {
        log.append(&[record(j, 100)]).unwrap();
    }
    let nth = trace.iter().filter(|(o, _)| *o == Op::Sync).position(|(_, p)| *p == index).unwrap();
    let index = log.dir().join(format!("{:020}.index", 0));
    {
        let full = fault::arm(
            FaultPlan::new()
                .fail_nth(Op::Sync, nth as u64 + 1)
                .os_error(Op::Sync, libc::ENOSPC)
                .trace(),
        );
        let err = log.flush_pending().unwrap_err();
        assert!(no_space(&err), "{err:?}");
        assert!(err.to_string().contains(".index"), "{err}");
        // The entries were written again through the map, so the next sync writes them.
        let trace = full.trace();
        assert!(trace.iter().any(|(o, p)| *o == Op::Write && *p == index), "{trace:?}");
    }
    assert_eq!(log.poisoned(), None);
    let trace = {
        let guard = fault::arm(FaultPlan::new().trace());
        log.flush_pending().unwrap();
        guard.trace()
    };
    assert!(trace.iter().any(|(o, p)| *o == Op::Sync && *p == index), "{trace:?}");
    assert!(log.recovery_point() >= log.segment_base_offsets()[2]);
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 1);
}

/// Reads every record from the log start to the log end, failing on any error.
fn read_everything(log: &Log) -> Result<i64, Error> {
    let mut at = log.log_start_offset();
    while at < log.log_end_offset() {
        let fetched = log.read(at, 1 << 20)?;
        if fetched.is_empty() {
            break;
        }
        for r in fetched.records() {
            at = r?.offset() + 1;
        }
    }
    Ok(at)
}

#[test]
fn a_close_retried_after_a_full_disk_leaves_the_unsynced_directory_unclean() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[("segment.bytes", "2048")]);
    for i in 0..3 {
        log.append(&[record(i, 100)]).unwrap();
    }
    store.flush(None).unwrap();
    // Synced, but not yet checkpointed: the close has a checkpoint to write.
    log.append(&[record(3, 100)]).unwrap();
    log.flush().unwrap();
    let synced = log.recovery_point();
    let mut i = 4;
    while log.segment_count() < 3 {
        log.append(&[record(i, 100)]).unwrap();
        i += 1;
    }
    // The disk fills at close: no fsync, no checkpoint, so no marker and an error.
    {
        let _full = fault::arm(
            FaultPlan::new()
                .fail_every(Op::Sync)
                .os_error(Op::Sync, libc::ENOSPC)
                .fail_every(Op::SyncDir)
                .os_error(Op::SyncDir, libc::ENOSPC),
        );
        assert!(store.close().is_err());
    }
    assert!(!root.path().join(".kafka_cleanshutdown").exists());
    assert_eq!(log.recovery_point(), synced, "nothing past the flush was synced");
    // Space is back and the close is retried. The logs were shut unsynced: their
    // directory must still recover at the next open, never be trusted as clean.
    let again = store.close().unwrap_err().to_string();
    assert!(again.contains("never synced"), "{again}");
    assert!(
        !root.path().join(".kafka_cleanshutdown").exists(),
        "a clean-shutdown marker over records never synced"
    );
    // What a write-back lost at the failed fsync leaves: zeroes in the middle
    // of the first segment past the synced records.
    let dir = log.dir().to_path_buf();
    drop(log);
    let first = dir.join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&first).unwrap();
    let len = bytes.len();
    bytes[len / 2..len - 200].fill(0);
    std::fs::write(&first, bytes).unwrap();
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    let log = store.partition("full", 0).unwrap();
    assert!(log.log_end_offset() >= synced, "the flushed records are kept");
    let end = read_everything(&log).expect("recovery cut the damage, so every offset reads");
    assert_eq!(end, log.log_end_offset());
    store.close().unwrap();
}

#[test]
fn enospc_at_the_leader_epoch_checkpoint_of_an_append_fails_it_retriably() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("e-0");
    let open = || {
        let clock = std::sync::Arc::new(strata::SystemClock);
        Log::open(&dir, "e", 0, strata::LogConfig::default(), clock, strata::LoadOptions::default())
            .unwrap()
            .0
    };
    let log = open();
    for i in 0..5 {
        log.append(&[record(i, 20)]).unwrap();
    }
    log.flush().unwrap();
    let synced = std::fs::metadata(active_log_file(&log)).unwrap().len();
    log.set_leader_epoch(3).unwrap();
    for i in 5..8 {
        log.append(&[record(i, 20)]).unwrap();
    }
    // A crash loses the epoch-3 records: the reopened log drops the epoch's
    // entry (it starts at the log end) and appends go on in epoch 3, whose
    // entry the next append writes back.
    drop(log);
    let f = std::fs::OpenOptions::new().write(true).open(dir.join(format!("{:020}.log", 0)));
    f.unwrap().set_len(synced).unwrap();
    let log = open();
    assert_eq!((log.log_end_offset(), log.leader_epoch()), (5, 3));
    {
        // The append's only fsync is the checkpoint's.
        let _full =
            fault::arm(FaultPlan::new().fail_every(Op::Sync).os_error(Op::Sync, libc::ENOSPC));
        let err = log.append(&[record(5, 20)]).unwrap_err();
        assert!(matches!(err, Error::NoSpace { .. }), "{err:?}");
    }
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.log_end_offset(), 5);
    // Space is back: the same append goes through, with its epoch's entry.
    assert_eq!(log.append(&[record(5, 20)]).unwrap().base_offset, 5);
    let epochs: Vec<(i32, i64)> =
        log.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(epochs.last(), Some(&(3, 5)));
    log.close().unwrap();
    let log = open();
    assert_eq!(assert_records(&log, 20), 6, "the failed append left nothing behind");
    let reopened: Vec<(i32, i64)> =
        log.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(reopened, epochs);
    log.close().unwrap();
}

/// The free-space watermark holds for a log directory, not for each partition alone: every
/// partition of a store kept its own idea of the bytes appended since it last asked the file
/// system (for up to a second), so each took the whole margin above the watermark for itself,
/// and partitions appending together filled the disk past it (to a full disk's `ENOSPC`), which
/// the watermark is there to keep free for compaction and the retention that frees space.
/// On an 8 MiB tmpfs with a 4 MiB watermark, eight partitions appending in turn must be
/// refused by the watermark with the disk still about half free.
#[test]
fn the_free_space_watermark_holds_for_the_partitions_of_a_log_directory_together() {
    const WATERMARK: u64 = 4 << 20;
    let mount = tempfile::tempdir().unwrap();
    if let Err(why) = mount_tmpfs(mount.path(), "8m") {
        return common::skip(&why);
    }
    let config = StoreConfig::new([mount.path()])
        .background_threads(false)
        .strata_log_dir_min_free_bytes(WATERMARK);
    let store = Store::open(config).unwrap();
    store.create_topic("full", 8, &overrides(&[("segment.bytes", "1048576")])).unwrap();
    let logs: Vec<Log> = (0..8).map(|p| store.partition("full", p).unwrap()).collect();
    let mut refused: Vec<Option<Error>> = (0..8).map(|_| None).collect();
    let mut i = 0;
    while refused.iter().any(Option::is_none) {
        for (log, refusal) in logs.iter().zip(refused.iter_mut()) {
            if refusal.is_none()
                && let Err(e) = log.append(&[record(i, 16_000)])
            {
                *refusal = Some(e);
            }
            i += 1;
        }
    }
    let free = strata::internals::io::file::free_space(mount.path()).unwrap();
    let reasons: Vec<String> = refused.iter().flatten().map(ToString::to_string).collect();
    eprintln!("{free} bytes free; refused: {reasons:#?}");
    store.close().unwrap();
    let _ = Command::new("umount").arg(mount.path()).status();
    for r in &reasons {
        assert!(r.contains("strata.log.dir.min.free.bytes"), "refused by a full disk: {r}");
    }
    // Segment and index blocks the appends' checks do not count may take a little more.
    assert!(
        free >= WATERMARK - (512 << 10),
        "{free} bytes free under a {WATERMARK}-byte watermark"
    );
}
