//! Crashes during a cleaning (style habits 10 and 14). The swap protocol of `src/log/swap.rs`:
//! 1. rename each `.cleaned` segment `.swap`; 2. publish; 3. rename the old segments `.deleted`;
//! 4. rename each `.swap` to its final name; 5. fsync the directory.
//!
//! - one test per step: a named fault point stops the swap right after it (or the first rename
//!   fails, leaving the `.cleaned` files), the store is dropped without closing (a crash), and the
//!   reopened log must read back the old content or the new one — never a mix, never a loss of any
//!   key's latest value — with no `.swap`/`.cleaned` leftovers, and Kafka must accept the directory;
//! - injected I/O faults at every count of every operation kind during a maintain, each followed
//!   by a crash and the same checks;
//! - a real process compacting in a loop, SIGKILLed at random moments five times.
//!
//! Directories are verified by kafka_verify.py and Kafka's own reader in one process each at the
//! end of a test ([`common::assert_kafka_valid_many`]).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use strata::Log;
use strata::Record;
use strata::StoreConfig;
use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::{Clock, ManualClock, SystemClock};
use strata::{MaintainReport, Store};
use tempfile::TempDir;

const TOPIC: &str = "t";
/// `index.interval.bytes` of the topic: small, so cleaned segments get index entries.
const INDEX_INTERVAL: u64 = 128;
/// The clock of every store here: a fixed time (2026-01-01), so every copy of a template cleans
/// alike (delete horizons included).
const T0: i64 = 1_767_225_600_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn config(root: &Path) -> StoreConfig {
    StoreConfig::new([root]).background_threads(false)
}

fn open(root: &Path) -> Store {
    let clock: Arc<dyn Clock> = ManualClock::new(T0);
    Store::open_with_clock(config(root), clock)
        .unwrap_or_else(|e| panic!("open {}: {e}", root.display()))
}

fn partition_dir(root: &Path) -> PathBuf {
    root.join(format!("{TOPIC}-0"))
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    key: Bytes,
    value: Option<Bytes>,
}

fn read_all(log: &Log) -> Vec<Rec> {
    let fetched = log.read(log.log_start_offset(), usize::MAX).unwrap();
    fetched
        .records()
        .map(|r| {
            let r = r.unwrap();
            Rec { offset: r.offset(), key: r.key().cloned().unwrap(), value: r.value().cloned() }
        })
        .collect()
}

/// Key -> its last record in `recs`.
fn last_by_key(recs: &[Rec]) -> BTreeMap<Bytes, Rec> {
    recs.iter().map(|r| (r.key.clone(), r.clone())).collect()
}

/// The log of a crashed-and-reopened store must hold every key's latest value as `old` had it:
/// a key whose last record in `old` is a value reads back exactly that record last; a key whose
/// last record is a tombstone reads back that tombstone last or nothing at all. Every record read
/// must be one of `old`'s.
fn assert_nothing_lost(recs: &[Rec], old: &[Rec], context: &str) {
    let old_by_offset: BTreeMap<i64, &Rec> = old.iter().map(|r| (r.offset, r)).collect();
    for r in recs {
        assert_eq!(old_by_offset.get(&r.offset), Some(&r), "{context}: record not in the old log");
    }
    let now = last_by_key(recs);
    for (key, latest) in last_by_key(old) {
        match (now.get(&key), &latest.value) {
            (Some(r), _) => assert_eq!(r, &latest, "{context}: {key:?} reads back an older record"),
            (None, None) => {}
            (None, Some(_)) => panic!("{context}: the latest value of {key:?} is lost"),
        }
    }
}

/// The shape of a template log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Segments rolled by hand under a large `segment.bytes`: one cleaning is one swap.
    OneGroup,
    /// ~600-byte segments that each form their own group: one cleaning is several swaps.
    ManyGroups,
}

/// A closed store at `root` whose partition is ready for a cleaning: an earlier cleaning already
/// stamped delete horizons on tombstones (with `delete.retention.ms` = 0, so the next cleaning
/// drops them), then more overwrites and tombstones made it dirty again.
fn build_template(root: &Path, shape: Shape) {
    let store = open(root);
    let segment_bytes = match shape {
        Shape::OneGroup => "1048576",
        Shape::ManyGroups => "600",
    };
    let mut o = BTreeMap::new();
    for (k, v) in [
        ("cleanup.policy", "compact"),
        ("segment.bytes", segment_bytes),
        ("segment.index.bytes", "4096"),
        ("index.interval.bytes", "128"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("delete.retention.ms", "0"),
        ("file.delete.delay.ms", "0"),
    ] {
        o.insert(k.to_owned(), v.to_owned());
    }
    store.create_topic(TOPIC, 1, &o).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    let mut n = 0;
    let batches = match shape {
        Shape::OneGroup => 12,
        Shape::ManyGroups => 7,
    };
    for phase in 0..2 {
        for batch in 0..batches {
            let recs: Vec<Record> = (0..4)
                .map(|i| {
                    n += 1;
                    let key = format!("k{:02}", (n * 7) % 19);
                    if n % 9 == 0 {
                        Record::tombstone(key)
                    } else {
                        Record::new(key, format!("p{phase}-n{n}-{}", "v".repeat(n % 13)))
                    }
                    .timestamp(T0 - 1_000 + i)
                })
                .collect();
            log.append(&recs).unwrap();
            if shape == Shape::OneGroup && batch % 3 == 2 {
                log.roll().unwrap();
            }
        }
        log.roll().unwrap();
        if phase == 0 {
            assert_eq!(store.maintain(None).unwrap().partitions_cleaned, 1);
        }
    }
    log.append(&[Record::new("k00", "active").timestamp(T0)]).unwrap();
    store.close().unwrap();
}

/// Template directories, built once per shape, with the log before a cleaning (`old`) and after
/// an undisturbed one (`new`).
struct Template {
    dir: TempDir,
    old: Vec<Rec>,
    new: Vec<Rec>,
    /// Renames (etc.) a clean maintain makes, by operation kind.
    calls: BTreeMap<String, u64>,
}

const ALL_OPS: [Op; 13] = [
    Op::Open,
    Op::Write,
    Op::Read,
    Op::Sync,
    Op::SyncDir,
    Op::SetLen,
    Op::Rename,
    Op::Remove,
    Op::CreateDir,
    Op::ReadDir,
    Op::Metadata,
    Op::Map,
    Op::Lock,
];

impl Template {
    fn new(shape: Shape) -> Template {
        let dir = tempfile::tempdir().unwrap();
        build_template(dir.path(), shape);
        let store = open(dir.path());
        let old = read_all(&store.partition(TOPIC, 0).unwrap());
        drop(store);
        // The reference cleaning, counting every file operation it makes.
        let copy = tempfile::tempdir().unwrap();
        common::copy_dir(dir.path(), copy.path()).unwrap();
        let store = open(copy.path());
        let report;
        let mut calls = BTreeMap::new();
        {
            let guard = fault::arm(FaultPlan::new());
            report = store.maintain(None).unwrap();
            for op in ALL_OPS {
                calls.insert(format!("{op:?}"), guard.calls(op));
            }
        }
        assert_eq!((report.partitions_cleaned, report.cleaner_failures), (1, 0), "{report:?}");
        let new = read_all(&store.partition(TOPIC, 0).unwrap());
        assert_ne!(old, new, "the template's cleaning must change something");
        Template { dir, old, new, calls }
    }

    /// A fresh copy of the template, opened.
    fn copy(&self) -> (TempDir, Store) {
        let root = tempfile::tempdir().unwrap();
        common::copy_dir(self.dir.path(), root.path()).unwrap();
        let store = open(root.path());
        (root, store)
    }
}

/// What a crashed maintain left, after a reopen.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Old,
    New,
    /// Neither: each key's latest value is there, but segments of both generations are mixed.
    Mixed,
}

/// Reopens `root` after a crash and checks it (see [`assert_nothing_lost`]); then cleans it again
/// and checks that this gives the undisturbed result. Returns what the crash left and a copy of
/// the partition directory as reopened (under `copies`), for the Kafka checkers.
fn reopen_and_check(root: &Path, t: &Template, context: &str, copies: &Path) -> (Outcome, PathBuf) {
    let looked = read_only_view(root, context);
    let store = open(root);
    let dir = partition_dir(root);
    let leftovers = common::swap_leftovers(&dir);
    assert!(leftovers.is_empty(), "{context}: leftovers after reopen: {leftovers:?}");
    let log = store.partition(TOPIC, 0).unwrap();
    let recs = read_all(&log);
    assert_eq!(looked, recs, "{context}: a read-only open showed other records than recovery kept");
    assert_nothing_lost(&recs, &t.old, context);
    let outcome = if recs == t.old {
        Outcome::Old
    } else if recs == t.new {
        Outcome::New
    } else {
        Outcome::Mixed
    };
    let copy =
        copies.join(context.replace([' ', ':', '(', ')', ','], "_")).join(format!("{TOPIC}-0"));
    common::copy_dir(&dir, &copy).unwrap();
    // Cleaning again finishes the job.
    let report = store.maintain(None).unwrap();
    assert_eq!(report.cleaner_failures, 0, "{context}: {:?}", store.cleaner_stats());
    assert_cleaned_again(&read_all(&log), &t.new, context);
    store.close().unwrap();
    (outcome, copy)
}

/// What a read-only open of a crashed directory serves; it must change nothing on disk.
fn read_only_view(root: &Path, context: &str) -> Vec<Rec> {
    let before = common::dir_snapshot(root);
    let store = Store::open_read_only(config(root)).unwrap();
    let recs = read_all(&store.partition(TOPIC, 0).unwrap());
    store.close().unwrap();
    assert_eq!(common::dir_snapshot(root), before, "{context}: a read-only open changed files");
    recs
}

/// After a crash and one more cleaning the log is the undisturbed cleaning's result, except
/// that tombstones this cleaning stamped may be gone too (`delete.retention.ms` = 0: a cleaning
/// after the one that stamped them drops them).
fn assert_cleaned_again(recs: &[Rec], new: &[Rec], context: &str) {
    let recs_by_offset: BTreeMap<i64, &Rec> = recs.iter().map(|r| (r.offset, r)).collect();
    for r in new {
        if r.value.is_some() {
            assert_eq!(
                recs_by_offset.get(&r.offset),
                Some(&r),
                "{context}: cleaning again lost it"
            );
        }
    }
    let new_offsets: std::collections::BTreeSet<i64> = new.iter().map(|r| r.offset).collect();
    for r in recs {
        assert!(new_offsets.contains(&r.offset), "{context}: cleaning again kept {r:?}");
    }
}

/// Copies the template, arms `plan` on this thread, runs one maintain, and drops the store
/// without closing it.
fn crash_during_maintain(
    t: &Template,
    plan: FaultPlan,
) -> (TempDir, Result<MaintainReport, String>) {
    let (root, store) = t.copy();
    let result = {
        let _guard = fault::arm(plan);
        store.maintain(None).map_err(|e| e.to_string())
    };
    drop(store);
    (root, result)
}

// ---------------------------------------------------------------------------------------------
// One test per swap step
// ---------------------------------------------------------------------------------------------

/// Stops a one-group cleaning with `plan`, crashes, reopens, and expects `expected`.
fn crash_at_step(plan: FaultPlan, expected: Outcome, step: &str) {
    let t = Template::new(Shape::OneGroup);
    let copies = tempfile::tempdir().unwrap();
    let (root, result) = crash_during_maintain(&t, plan);
    let report = result.unwrap_or_else(|e| panic!("{step}: maintain failed outright: {e}"));
    assert_eq!((report.partitions_cleaned, report.cleaner_failures), (0, 1), "{step}: {report:?}");
    let (outcome, copy) = reopen_and_check(root.path(), &t, step, copies.path());
    assert_eq!(outcome, expected, "{step}");
    common::assert_kafka_valid_many(&[copy], INDEX_INTERVAL);
}

/// The first rename of step 1 fails: the `.cleaned` files stay, and a reopen deletes them and
/// keeps the old segments.
#[test]
fn a_crash_before_the_swap_leaves_cleaned_files_and_reopens_to_the_old_log() {
    crash_at_step(FaultPlan::new().fail_nth(Op::Rename, 1), Outcome::Old, "before swap");
}

/// Every `.cleaned` file became `.swap` (step 1 done): a reopen completes the swap.
#[test]
fn a_crash_after_the_swap_rename_reopens_to_the_new_log() {
    crash_at_step(
        FaultPlan::new().fail_point("swap::after_swap_rename"),
        Outcome::New,
        "swap::after_swap_rename",
    );
}

/// The old segments are `.deleted` (step 3 done), the new ones still `.swap`: a reopen deletes the
/// former and renames the latter.
#[test]
fn a_crash_after_the_old_segments_are_deleted_reopens_to_the_new_log() {
    crash_at_step(
        FaultPlan::new().fail_point("swap::after_old_deleted"),
        Outcome::New,
        "swap::after_old_deleted",
    );
}

/// The new segments have their final names (step 4 done), the directory is not yet fsynced.
#[test]
fn a_crash_after_the_final_rename_reopens_to_the_new_log() {
    crash_at_step(
        FaultPlan::new().fail_point("swap::after_final_rename"),
        Outcome::New,
        "swap::after_final_rename",
    );
}

/// A copy of the directory taken while a cleaning's `.cleaned` files exist (here: taken at the
/// `swap::after_swap_rename` point, with the `.swap` files renamed back to `.cleaned`, which is
/// what a crash between creating and renaming them leaves) reopens to the old log.
#[test]
fn a_crash_image_with_cleaned_files_reopens_to_the_old_log() {
    let t = Template::new(Shape::OneGroup);
    let (root, result) =
        crash_during_maintain(&t, FaultPlan::new().fail_point("swap::after_swap_rename"));
    assert_eq!(result.unwrap().cleaner_failures, 1);
    let dir = partition_dir(root.path());
    let mut renamed = 0;
    for name in common::swap_leftovers(&dir) {
        if let Some(stem) = name.strip_suffix(".swap") {
            std::fs::rename(dir.join(&name), dir.join(format!("{stem}.cleaned"))).unwrap();
            renamed += 1;
        }
    }
    assert!(renamed >= 2, "expected .swap files for .log and indexes, found {renamed}");
    let copies = tempfile::tempdir().unwrap();
    let (outcome, copy) = reopen_and_check(root.path(), &t, "cleaned image", copies.path());
    assert_eq!(outcome, Outcome::Old);
    common::assert_kafka_valid_many(&[copy], INDEX_INTERVAL);
}

// ---------------------------------------------------------------------------------------------
// Every fault at every count
// ---------------------------------------------------------------------------------------------

/// For each operation kind and each `n` up to the number of such calls an undisturbed maintain
/// makes: fail the `n`th call, crash, reopen and check (old or new log, nothing lost, no
/// leftovers, cleaning again gives the undisturbed result, Kafka accepts the directory).
fn every_fault_at_every_count(shape: Shape) {
    let t = Template::new(shape);
    let copies = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut tally: BTreeMap<String, (u64, usize, usize, usize)> = BTreeMap::new();
    let mut dirs = Vec::new();
    for op in ALL_OPS {
        let name = format!("{op:?}");
        let count = t.calls[&name];
        for n in 1..=count {
            let context = format!("{shape:?} {name} {n} of {count}");
            let (root, _result) = crash_during_maintain(&t, FaultPlan::new().fail_nth(op, n));
            let (outcome, copy) = reopen_and_check(root.path(), &t, &context, copies.path());
            if shape == Shape::OneGroup {
                assert_ne!(outcome, Outcome::Mixed, "{context}: one swap must be all or nothing");
            }
            let e = tally.entry(name.clone()).or_default();
            e.0 = count;
            match outcome {
                Outcome::Old => e.1 += 1,
                Outcome::New => e.2 += 1,
                Outcome::Mixed => e.3 += 1,
            }
            dirs.push(copy);
        }
    }
    eprintln!(
        "{shape:?}: {} crashes in {:?}; per op (calls, old, new, mixed): {tally:?}",
        dirs.len(),
        started.elapsed()
    );
    assert!(dirs.len() > 20, "too few injection points: {:?}", t.calls);
    common::assert_kafka_valid_many(&dirs, INDEX_INTERVAL);
}

#[test]
fn a_fault_at_any_file_operation_of_a_one_swap_cleaning_reopens_to_the_old_or_new_log() {
    every_fault_at_every_count(Shape::OneGroup);
}

#[test]
fn a_fault_at_any_file_operation_of_a_many_swap_cleaning_loses_no_latest_value() {
    every_fault_at_every_count(Shape::ManyGroups);
}

// ---------------------------------------------------------------------------------------------
// A group whose output ends before its last source segment
// ---------------------------------------------------------------------------------------------

/// Recovery finds the old segments a `.swap` replaces by the offsets the `.swap` holds:
/// `[its base, its next offset)`. When every record of a group's LAST source segment is removed,
/// the cleaned segment ends before that source segment's base, so a crash right after step 1
/// leaves the old segment in place next to the new one: a mix of generations (superseded
/// records come back; nothing is lost).
#[test]
fn a_crash_after_the_swap_rename_of_a_group_whose_last_segment_emptied_reopens_to_the_new_log() {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path());
    let mut o = BTreeMap::new();
    for (k, v) in [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "2048"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ] {
        o.insert(k.to_owned(), v.to_owned());
    }
    store.create_topic(TOPIC, 1, &o).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    let put = |recs: &[(&str, &str)]| {
        let recs: Vec<Record> = recs
            .iter()
            .map(|(k, v)| Record::new(k.to_string(), v.to_string()).timestamp(T0))
            .collect();
        log.append(&recs).unwrap();
    };
    // Segment A keeps its records; segment B's are all superseded by C; A and B form one group,
    // C (too big to join them) another.
    put(&[("a0", "1"), ("a1", "1")]);
    log.roll().unwrap();
    let b_base = log.log_end_offset();
    put(&[("b0", "old"), ("b1", "old")]);
    log.roll().unwrap();
    let pad = "c".repeat(1900);
    put(&[("b0", "new"), ("b1", "new"), ("pad", pad.as_str())]);
    log.roll().unwrap();
    put(&[("a0", "active")]);
    let old = read_all(&log);
    drop(log);
    let result = {
        let _guard = fault::arm(FaultPlan::new().fail_point("swap::after_swap_rename"));
        store.maintain(None).unwrap()
    };
    assert_eq!(result.cleaner_failures, 1, "{result:?}");
    drop(store);

    let store = open(root.path());
    let log = store.partition(TOPIC, 0).unwrap();
    let recs = read_all(&log);
    assert_nothing_lost(&recs, &old, "early-ending group");
    let stale: Vec<_> =
        recs.iter().filter(|r| r.offset >= b_base && r.offset < b_base + 2).collect();
    assert!(
        stale.is_empty(),
        "segment {b_base} was replaced by the .swap of the group starting at 0, but a reopen \
         keeps it: {stale:?}; segments {:?}",
        log.segment_base_offsets()
    );
}

// ---------------------------------------------------------------------------------------------
// A real process, killed
// ---------------------------------------------------------------------------------------------

/// The environment variable that turns [`kill_child_compacts_in_a_loop_when_spawned`] on.
const CHILD_ENV: &str = "STRATA_COMPACTION_KILL_CHILD_DIR";
/// Rounds (25 records, a compaction) each child finishes before its random
/// kill moment starts counting: five children append at least 625 records.
const MIN_ROUNDS: usize = 5;
/// How long a child may take to finish [`MIN_ROUNDS`] rounds on a loaded machine.
const STARTUP_DEADLINE: Duration = Duration::from_secs(300);
/// Distinct keys of the killed process's records.
const CHILD_KEYS: i64 = 150;

/// The record the killed process writes at offset `o`: key `(7919 o) mod 150`, a tombstone when
/// `o` is a multiple of 11.
fn child_record(o: i64) -> (String, Option<String>) {
    let key = format!("k{:03}", (o * 7919) % CHILD_KEYS);
    if o % 11 == 0 {
        (key, None)
    } else {
        (key, Some(format!("v{o}-{}", "w".repeat((o % 29) as usize))))
    }
}

fn child_topic(store: &Store) {
    if store.topics().iter().any(|(t, _)| t == TOPIC) {
        return;
    }
    let mut o = BTreeMap::new();
    for (k, v) in [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "8192"),
        ("index.interval.bytes", "128"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("delete.retention.ms", "0"),
        ("file.delete.delay.ms", "0"),
    ] {
        o.insert(k.to_owned(), v.to_owned());
    }
    store.create_topic(TOPIC, 1, &o).unwrap();
}

/// Body of the child process of the kill test; returns at once unless that test spawned it.
/// Appends deterministic records ([`child_record`]) and compacts, forever.
#[test]
fn kill_child_compacts_in_a_loop_when_spawned() {
    let Some(root) = std::env::var_os(CHILD_ENV) else { return };
    let store = Store::open(config(Path::new(&root))).unwrap();
    child_topic(&store);
    let log = store.partition(TOPIC, 0).unwrap();
    let now = SystemClock.now_ms();
    for round in 0u64.. {
        let leo = log.log_end_offset();
        let recs: Vec<Record> = (leo..leo + 25)
            .map(|o| match child_record(o) {
                (k, Some(v)) => Record::new(k, v),
                (k, None) => Record::tombstone(k),
            })
            .map(|r| r.timestamp(now))
            .collect();
        log.append(&recs).unwrap();
        if round % 4 == 3 {
            log.roll().unwrap();
        }
        store.maintain(None).unwrap();
        // Progress for the parent, which kills only a child that is working.
        eprintln!("round {round}");
    }
}

/// Checks a log the killed process wrote: every record is [`child_record`] of its offset, and
/// each key's last record is its latest below the log end (or nothing, for a tombstone).
fn check_child_log(log: &Log, context: &str) -> usize {
    let recs = read_all(log);
    let end = log.log_end_offset();
    for r in &recs {
        let (k, v) = child_record(r.offset);
        assert_eq!(r.key.as_ref(), k.as_bytes(), "{context}: key at {}", r.offset);
        assert_eq!(
            r.value.as_deref(),
            v.as_ref().map(String::as_bytes),
            "{context}: value at {}",
            r.offset
        );
    }
    let mut latest: BTreeMap<String, i64> = BTreeMap::new();
    for o in 0..end {
        latest.insert(child_record(o).0, o);
    }
    let now = last_by_key(&recs);
    let mut gone = 0;
    for (key, o) in latest {
        match now.get(key.as_bytes()) {
            Some(r) => assert_eq!(r.offset, o, "{context}: {key} reads back an older record"),
            None if child_record(o).1.is_none() => gone += 1,
            None => panic!("{context}: the latest value of {key} (offset {o}) is lost"),
        }
    }
    gone
}

/// A process compacting in a loop (appends, rolls, maintain with `delete.retention.ms` = 0) is
/// SIGKILLed at a random moment five times; after each kill the reopened log holds every key's
/// latest value (or nothing for a deleted key), only records written at their offsets, no
/// `.swap`/`.cleaned` leftovers, and Kafka accepts the directory.
#[test]
fn a_compacting_process_killed_at_random_moments_loses_no_latest_value() {
    let root = tempfile::tempdir().unwrap();
    let copies = tempfile::tempdir().unwrap();
    let mut seed =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill test seed {seed}");
    let mut dirs = Vec::new();
    let mut last_end = 0;
    for kill in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(300 + seed % 1200);
        let stderr = root.path().join(format!("child-{kill}.stderr"));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "kill_child_compacts_in_a_loop_when_spawned", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, root.path().join("store"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        // The random moment is counted from when the child has done
        // MIN_ROUNDS rounds (a loaded machine can take seconds to start it),
        // so every child appends and compacts before its kill.
        let rounds = || {
            let text = std::fs::read_to_string(&stderr).unwrap_or_default();
            text.lines().filter(|l| l.starts_with("round ")).count()
        };
        let mut deadline = Instant::now() + STARTUP_DEADLINE;
        let mut started = false;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "child {kill} exited by itself ({status}): {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            if !started && rounds() >= MIN_ROUNDS {
                started = true;
                deadline = Instant::now() + wait;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        assert!(started, "child {kill} did not finish {MIN_ROUNDS} rounds in {STARTUP_DEADLINE:?}");
        child.wait().unwrap();

        let store_root = root.path().join("store");
        let before = common::swap_leftovers(&partition_dir(&store_root));
        let store = Store::open(config(&store_root)).unwrap();
        let log = store.partition(TOPIC, 0).unwrap();
        let dir = store.partition_dir(TOPIC, 0).unwrap();
        let leftovers = common::swap_leftovers(&dir);
        assert!(leftovers.is_empty(), "kill {kill}: leftovers after reopen: {leftovers:?}");
        let context = format!("kill {kill} after {wait:?}");
        let gone = check_child_log(&log, &context);
        let end = log.log_end_offset();
        eprintln!(
            "{context}: end {end}, {} segments, cleaner checkpoint {:?}, {gone} deleted keys gone; \
             left by the kill: {before:?}",
            log.segment_count(),
            log.cleaner_checkpoint()
        );
        assert!(end >= last_end, "kill {kill}: the log end went back from {last_end} to {end}");
        last_end = end;
        let copy = copies.path().join(format!("kill{kill}")).join(format!("{TOPIC}-0"));
        common::copy_dir(&dir, &copy).unwrap();
        dirs.push(copy);
        drop(log);
        drop(store); // no close: the next child recovers, too
    }
    assert!(last_end > 500, "the children made too little progress: {last_end} records");
    common::assert_kafka_valid_many(&dirs, INDEX_INTERVAL);
}
