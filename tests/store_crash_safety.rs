//! Store-level changes are crash-safe and race-free: topic create and delete
//! reopen to the old or the new state at every failing step, checkpoint
//! writers do not trip over each other, and every new file is durable in its
//! directory before a checkpoint depends on it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use strata::Record;
use strata::Store;
use strata::SystemClock;
use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::{LoadOptions, Log};
use strata::{LogConfig, StoreConfig};

const RECORDS: usize = 20;

fn open(dir: &Path) -> Store {
    Store::open(StoreConfig::new([dir]).background_threads(false)).unwrap()
}

fn compacted() -> BTreeMap<String, String> {
    [("cleanup.policy", "compact"), ("min.compaction.lag.ms", "5")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Partition directories of `topic` in `dir`.
fn topic_dirs(dir: &Path, topic: &str) -> Vec<PathBuf> {
    let prefix = format!("{topic}-");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.strip_prefix(&prefix).is_some_and(|r| r.bytes().all(|b| b.is_ascii_digit()))
                })
        })
        .collect();
    dirs.sort();
    dirs
}

fn records_of(store: &Store, topic: &str, partition: i32) -> usize {
    store.partition(topic, partition).unwrap().read(0, 1 << 20).unwrap().records().count()
}

/// Runs `change` once per (operation kind of `ops`, n) with the nth call of that kind failing, once as a
/// single failure and once as a disk that stays broken from there (a crash), drops the store
/// without closing it and hands it, then the reopened store, to `check` (a single failure that
/// returned an error must have changed nothing; after a crash either state may come back, but
/// whole). Returns the number of runs; the partition directories left pass the checkers.
fn at_every_step(
    ops: &[Op],
    prepare: impl Fn(&Store),
    change: impl Fn(&Store) -> strata::Result<()>,
    check: impl Fn(&Store, &Path, bool, &str),
) -> usize {
    let (mut kept, mut checked) = (Vec::new(), Vec::new());
    for &op in ops {
        for crash in [false, true] {
            for n in 1.. {
                let tmp = tempfile::tempdir().unwrap();
                let store = open(tmp.path());
                prepare(&store);
                let plan = if crash {
                    FaultPlan::new().fail_from_nth(op, n)
                } else {
                    FaultPlan::new().fail_nth(op, n)
                };
                let (result, injected) = {
                    let guard = fault::arm(plan);
                    let r = change(&store);
                    (r, guard.injected())
                };
                if injected == 0 {
                    assert!(result.is_ok(), "{op:?} #{n}: {result:?}");
                    break;
                }
                let step = format!("{op:?} #{n} (crash: {crash}): {result:?}");
                check(&store, tmp.path(), result.is_ok(), &format!("{step} [in process]"));
                drop(store);
                let reopened = open(tmp.path());
                check(&reopened, tmp.path(), result.is_ok(), &format!("{step} [reopened]"));
                reopened.close().unwrap();
                checked.extend(topic_dirs(tmp.path(), "c"));
                kept.push(tmp);
            }
        }
    }
    eprintln!("{} runs, {} partition directories checked", kept.len(), checked.len());
    common::assert_kafka_valid_many(&checked, 4096);
    kept.len()
}

#[test]
fn topic_create_is_crash_safe_at_every_step() {
    // The kinds a create goes through: the metadata write (open, write, sync,
    // rename, directory fsync) and each partition's directory and files.
    let runs = at_every_step(
        &[Op::Open, Op::Write, Op::Rename, Op::SyncDir, Op::CreateDir],
        |_| {},
        |store| store.create_topic("c", 2, &compacted()),
        |store, dir, ok, step| {
            let exists = store.topics().iter().any(|(t, _)| t == "c");
            if ok {
                assert!(exists, "{step}: created but missing");
            }
            if exists {
                // Never back with default configs, never with fewer partitions.
                assert_eq!(store.topic_overrides("c").unwrap(), compacted(), "{step}");
                assert_eq!(store.partition_count("c").unwrap(), 2, "{step}");
                if !step.ends_with("[in process]") {
                    for p in 0..2 {
                        store.partition("c", p).unwrap();
                    }
                }
            } else if !step.ends_with("[in process]") {
                assert!(
                    topic_dirs(dir, "c").is_empty(),
                    "{step}: directories of a topic that is not there"
                );
            }
            if step.contains("crash: false") && step.contains("Err") {
                assert!(!exists, "{step}: a failed create left the topic");
            }
        },
    );
    assert!(runs > 10, "only {runs} steps");
}

#[test]
fn topic_delete_is_crash_safe_at_every_step() {
    // The kinds a delete goes through: the metadata writes, closing (sync),
    // the checkpoints, and the directories' renames and removal.
    let runs = at_every_step(
        &[Op::Sync, Op::Rename, Op::SyncDir, Op::Remove],
        |store| {
            store.create_topic("c", 2, &compacted()).unwrap();
            for p in 0..2 {
                let log = store.partition("c", p).unwrap();
                for i in 0..RECORDS {
                    log.append(&[Record::new(format!("k{i}"), "v")]).unwrap();
                }
            }
            store.flush(None).unwrap();
        },
        |store| store.delete_topic("c"),
        |store, dir, ok, step| {
            let exists = store.topics().iter().any(|(t, _)| t == "c");
            if ok {
                assert!(!exists, "{step}: deleted but still listed");
            }
            if step.ends_with("[in process]") {
                return;
            }
            if exists {
                // Back whole, never empty.
                assert_eq!(store.topic_overrides("c").unwrap(), compacted(), "{step}");
                for p in 0..2 {
                    assert_eq!(records_of(store, "c", p), RECORDS, "{step}");
                }
            } else {
                assert!(
                    topic_dirs(dir, "c").is_empty(),
                    "{step}: a deleted topic's directories remain"
                );
            }
        },
    );
    assert!(runs > 5, "only {runs} steps");
}

#[test]
fn topic_growth_is_crash_safe_at_every_step() {
    // Kafka's rule: a partition-count increase is one metadata change. The
    // kinds a growth goes through: the metadata writes, each new partition's
    // directory and files, and the undo's renames and removal.
    let runs = at_every_step(
        &[Op::Open, Op::Write, Op::Rename, Op::SyncDir, Op::CreateDir, Op::Remove],
        |store| {
            store.create_topic("c", 1, &compacted()).unwrap();
            let log = store.partition("c", 0).unwrap();
            for i in 0..RECORDS {
                log.append(&[Record::new(format!("k{i}"), "v")]).unwrap();
            }
            store.flush(None).unwrap();
        },
        |store| store.add_partitions("c", 4),
        |store, dir, ok, step| {
            let count = store.partition_count("c").unwrap();
            assert!(count == 1 || count == 4, "{step}: {count} partitions, neither 1 nor 4");
            if ok {
                assert_eq!(count, 4, "{step}: grown but not counted");
            }
            if step.contains("crash: false") && step.contains("Err") {
                assert_eq!(count, 1, "{step}: a failed growth changed the count");
            }
            if step.ends_with("[in process]") {
                return;
            }
            // Whole at either count: every partition there, the old one's records kept.
            assert_eq!(store.topic_overrides("c").unwrap(), compacted(), "{step}");
            assert_eq!(records_of(store, "c", 0), RECORDS, "{step}");
            for p in 0..count {
                store.partition("c", p).unwrap();
            }
            let left = topic_dirs(dir, "c").len();
            assert_eq!(left, usize::try_from(count).unwrap(), "{step}: {left} directories");
        },
    );
    assert!(runs > 10, "only {runs} steps");
}

#[test]
fn a_deleted_topic_created_again_starts_empty_with_its_new_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("c", 1, &compacted()).unwrap();
    store.partition("c", 0).unwrap().append(&[Record::new("k", "old")]).unwrap();
    // The directory rename fails: the deletion is committed, its directory stays for now.
    {
        // The first rename commits `strata-topics`; the directory's rename fails.
        let _g = fault::arm(FaultPlan::new().fail_from_nth(Op::Rename, 2));
        store.delete_topic("c").unwrap();
    }
    assert!(!store.background_errors().is_empty());
    store.create_topic("c", 1, &BTreeMap::new()).unwrap();
    assert_eq!(records_of(&store, "c", 0), 0);
    drop(store);
    let store = open(tmp.path());
    assert_eq!(records_of(&store, "c", 0), 0);
    assert!(store.topic_overrides("c").unwrap().is_empty());
    store.close().unwrap();
}

#[test]
fn a_topic_created_again_over_stale_checkpoint_entries_keeps_its_flushed_records() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..RECORDS {
        log.append(&[Record::new(format!("k{i}"), "old")]).unwrap();
    }
    store.delete_records("t", 0, 15).unwrap();
    store.flush(None).unwrap();
    drop(log);
    // The deletion commits, but its checkpoint write fails: the old partition's
    // entries (log start 15, recovery point 20) stay in the files.
    {
        let _g = fault::arm(FaultPlan::new().fail_from_nth(Op::Rename, 2));
        store.delete_topic("t").unwrap();
    }
    let text = std::fs::read_to_string(tmp.path().join("log-start-offset-checkpoint")).unwrap();
    assert!(text.contains("t 0 15"), "{text}");
    // A topic of the same name, whose records are flushed (the log's own flush,
    // as a `sync` append's), then a crash.
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..5 {
        log.append(&[Record::new(format!("k{i}"), "new")]).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    drop(store);
    let store = open(tmp.path());
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), 0, "the old topic's log start is not the new one's");
    assert_eq!(records_of(&store, "t", 0), 5, "every flushed record of the new topic is kept");
    store.close().unwrap();
}

#[test]
fn concurrent_checkpoint_writers_never_fail_and_never_go_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..200 {
        log.append(&[Record::new(format!("k{i}"), "v")]).unwrap();
    }
    let rounds = 50;
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..rounds {
                    store.flush(None).unwrap();
                }
            });
        }
        s.spawn(|| {
            for i in 1..=rounds {
                store.delete_records("t", 0, i).unwrap();
                store.write_checkpoints().unwrap();
            }
        });
    });
    let text = std::fs::read_to_string(tmp.path().join("log-start-offset-checkpoint")).unwrap();
    assert!(text.contains(&format!("t 0 {rounds}\n")), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    store.close().unwrap();
}

/// Position of the first traced `(op, path)` matching, after `from`.
fn position(trace: &[(Op, PathBuf)], from: usize, op: Op, path: &Path) -> Option<usize> {
    trace.iter().skip(from).position(|(o, p)| *o == op && p == path).map(|i| i + from)
}

#[test]
fn a_new_partitions_files_are_durable_in_their_directories_before_a_checkpoint_counts_them() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    let guard = fault::arm(FaultPlan::new().trace());
    let store = open(&logs);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.partition("t", 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
    store.flush(None).unwrap();
    let trace = guard.trace();
    drop(guard);
    let tmp = &root.path().join("logs");
    let made = position(&trace, 0, Op::CreateDir, tmp).expect("log dir created");
    position(&trace, made, Op::SyncDir, root.path())
        .expect("the log dir's parent is fsynced after the log dir is created");
    let part = tmp.join("t-0");
    let made = position(&trace, 0, Op::CreateDir, &part).expect("partition dir created");
    let parent_synced = position(&trace, made, Op::SyncDir, tmp)
        .expect("the log dir is fsynced after the partition dir is created");
    let mut last_create = 0;
    for name in
        ["00000000000000000000.log", "00000000000000000000.index", "00000000000000000000.timeindex"]
    {
        last_create = last_create.max(
            position(&trace, 0, Op::Open, &part.join(name))
                .unwrap_or_else(|| panic!("{name} never created: {trace:?}")),
        );
    }
    let dir_synced = position(&trace, last_create, Op::SyncDir, &part)
        .expect("the partition dir is fsynced after its first segment's files are created");
    let checkpoint = tmp.join("recovery-point-offset-checkpoint");
    let committed = trace
        .iter()
        .rposition(|(o, p)| *o == Op::Rename && p == &common_tmp(&checkpoint))
        .expect("the recovery point checkpoint is written");
    assert!(parent_synced < committed && dir_synced < committed, "{trace:#?}");
    store.close().unwrap();
    common::assert_kafka_accepts(&part, 4096);
}

fn common_tmp(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

#[test]
fn recovery_unlinks_are_durable_before_the_log_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.partition("t", 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
    store.close().unwrap();
    drop(store);
    let part = tmp.path().join("t-0");
    let stray = part.join("00000000000000000000.log.deleted");
    std::fs::write(&stray, b"old").unwrap();
    // Loading runs on the calling thread here (the store loads on worker threads).
    let guard = fault::arm(FaultPlan::new().trace());
    let (log, report) = Log::open(
        &part,
        "t",
        0,
        LogConfig::default(),
        Arc::new(SystemClock),
        LoadOptions::default(),
    )
    .unwrap();
    let trace = guard.trace();
    drop(guard);
    assert_eq!(report.removed_temp_files, 1);
    let removed = position(&trace, 0, Op::Remove, &stray).expect("stray removed");
    assert!(position(&trace, removed, Op::SyncDir, &part).is_some(), "{trace:#?}");
    log.close().unwrap();
}

/// The log-start entry of `t-0` in `dir`'s `log-start-offset-checkpoint`, if any.
fn checkpointed_start(dir: &Path) -> Option<i64> {
    let path = dir.join(strata::internals::store::checkpoint::LOG_START_OFFSET_CHECKPOINT);
    let offsets = strata::internals::store::checkpoint::read_offsets(&path).unwrap();
    offsets.get(&("t".to_owned(), 0)).copied()
}

/// DeleteRecords is all or nothing: when writing the log-start checkpoint fails at any step
/// (creating, writing or syncing the temporary file, renaming it, syncing the directory after
/// the rename), `delete_records` returns the error and the log start offset is unchanged in
/// memory (reads from 0 still work, no segment went) and on disk (the checkpoint names no new
/// start). Before, it returned the error after it had moved the start. A retry then succeeds
/// and the new start survives a reopen.
#[test]
fn delete_records_that_cannot_write_its_checkpoint_changes_nothing() {
    for op in [Op::Open, Op::Write, Op::Sync, Op::Rename, Op::SyncDir] {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        let o = [("segment.bytes", "1024")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        store.create_topic("t", 1, &o.into_iter().collect()).unwrap();
        let log = store.partition("t", 0).unwrap();
        for i in 0..100 {
            log.append(&[Record::new(format!("k{i}"), format!("v{i}"))]).unwrap();
        }
        store.flush(None).unwrap();
        let segments = log.segment_base_offsets();
        assert!(segments.len() > 3, "{segments:?}");
        let result = {
            let _fault = fault::arm(FaultPlan::new().fail_nth(op, 1));
            store.delete_records("t", 0, 50)
        };
        assert!(result.is_err(), "{op:?}: {result:?}");
        assert_eq!(log.log_start_offset(), 0, "{op:?}: the start moved in memory");
        assert_eq!(log.segment_base_offsets(), segments, "{op:?}: segments went");
        let first = log.read(0, 1 << 20).unwrap().records().next().unwrap().unwrap();
        assert_eq!(first.offset(), 0, "{op:?}");
        assert_eq!(checkpointed_start(tmp.path()), None, "{op:?}: the start moved on disk");

        assert_eq!(store.delete_records("t", 0, 50).unwrap(), 50, "{op:?}: the retry");
        assert_eq!(checkpointed_start(tmp.path()), Some(50), "{op:?}");
        store.close().unwrap();
        let again = open(tmp.path());
        assert_eq!(again.partition("t", 0).unwrap().log_start_offset(), 50, "{op:?}");
        again.close().unwrap();
    }
}

/// The one exception, on a full disk: the checkpoint cannot be written until the segments below
/// the new start are gone, so DeleteRecords moves the start and frees them first, then writes
/// the checkpoint (here the disk stays full: the next checkpoint write makes it durable, as
/// Kafka always does). It returns the new start: a full disk is what DeleteRecords is for.
#[test]
fn delete_records_on_a_full_disk_frees_the_segments_before_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let o = [("segment.bytes", "1024"), ("file.delete.delay.ms", "0")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    store.create_topic("t", 1, &o.into_iter().collect()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..100 {
        log.append(&[Record::new(format!("k{i}"), format!("v{i}"))]).unwrap();
    }
    store.flush(None).unwrap();
    let before = log.segment_base_offsets();
    let result = {
        let _full =
            fault::arm(FaultPlan::new().fail_every(Op::Write).os_error(Op::Write, libc::ENOSPC));
        store.delete_records("t", 0, 50)
    };
    assert_eq!(result.unwrap(), 50);
    assert_eq!(log.log_start_offset(), 50);
    assert!(log.segment_base_offsets().len() < before.len(), "no segment was freed");
    assert_eq!(checkpointed_start(tmp.path()), None, "the disk was full");
    store.write_checkpoints().unwrap();
    assert_eq!(checkpointed_start(tmp.path()), Some(50));
    store.close().unwrap();
}

/// The create's last step (rewriting `strata-topics` without the `creating` mark) failing
/// leaves the mark on disk, and the store keeps it in memory too: a later write of the file
/// (another topic's creation) keeps it, so the next open finishes the creation and drops the
/// mark as it would had the process stopped right after the failure. With two log directories
/// the failure hits the second copy, after the first (the commit point) was written without
/// the mark: the mark is written back. Before, the mark was dropped from memory only, and that
/// later write dropped it from disk.
#[test]
fn a_failed_final_rewrite_of_a_create_keeps_the_creating_mark_in_memory_as_on_disk() {
    for dirs in [1, 2] {
        let root = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..dirs).map(|i| root.path().join(format!("d{i}"))).collect();
        let open = || {
            let config = StoreConfig::new(paths.iter()).background_threads(false);
            Store::open(config).unwrap()
        };
        let copies = || -> Vec<String> {
            paths
                .iter()
                .map(|d| std::fs::read_to_string(d.join("strata-topics")).unwrap())
                .collect()
        };
        // The create's last rename is step 4's rewrite (of the last copy).
        let renames = {
            let scratch = tempfile::tempdir().unwrap();
            let config = StoreConfig::new((0..dirs).map(|i| scratch.path().join(format!("d{i}"))))
                .background_threads(false);
            let store = Store::open(config).unwrap();
            let guard = fault::arm(FaultPlan::new());
            store.create_topic("c", 2, &compacted()).unwrap();
            guard.calls(Op::Rename)
        };
        let store = open();
        {
            let guard = fault::arm(FaultPlan::new().fail_nth(Op::Rename, renames));
            store.create_topic("c", 2, &compacted()).unwrap();
            assert_eq!(guard.injected(), 1);
        }
        for copy in copies() {
            assert!(
                copy.contains("creating c\n") && copy.contains("topic c 2\n"),
                "{dirs}: {copy}"
            );
        }

        store.create_topic("d", 1, &BTreeMap::new()).unwrap();
        for copy in copies() {
            assert!(
                copy.contains("creating c\n") && copy.contains("topic d 1\n"),
                "{dirs}: a later write dropped the mark the failed one left: {copy}"
            );
        }
        store.close().unwrap();

        let store = open();
        assert!(store.offline_partitions().is_empty(), "{:?}", store.offline_partitions());
        for p in 0..2 {
            store.partition("c", p).unwrap();
        }
        assert_eq!(store.topic_overrides("c").unwrap(), compacted());
        store.close().unwrap();
        for copy in copies() {
            assert!(!copy.contains("creating"), "{dirs}: {copy}");
        }
    }
}

/// A topic whose name ends in `-` has directories such as `plain--0`, which
/// the load reads as ambiguous (`plain-` partition 0, or partition -0 of
/// `plain`) and leaves alone unless `strata-topics` names the topic. A
/// deletion the crash left unfinished names it only as deleted: its
/// directories were left with their data while the deletion was taken for
/// finished, and the topic created again under the name served them.
#[test]
fn a_deleted_topic_whose_name_ends_in_a_dash_is_not_served_again_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("plain-", 2, &BTreeMap::new()).unwrap();
    for p in 0..2 {
        store.partition("plain-", p).unwrap().append(&[Record::new("k", "old")]).unwrap();
    }
    {
        // The first rename commits the deletion; the directories' renames fail.
        let _g = fault::arm(FaultPlan::new().fail_from_nth(Op::Rename, 2));
        store.delete_topic("plain-").unwrap();
    }
    assert!(tmp.path().join("plain--0").exists());
    drop(store);
    let store = open(tmp.path());
    assert!(!tmp.path().join("plain--0").exists(), "the deleted topic's directory stayed");
    assert!(!tmp.path().join("plain--1").exists(), "the deleted topic's directory stayed");
    store.create_topic("plain-", 2, &BTreeMap::new()).unwrap();
    for p in 0..2 {
        assert_eq!(records_of(&store, "plain-", p), 0, "plain--{p} created again empty");
    }
    store.close().unwrap();
}
