//! Retention on real files, one rule per test: time (`retention.ms`), size (`retention.bytes`),
//! the log start offset and DeleteRecords, the `.deleted` rename protocol and
//! `file.delete.delay.ms`, runtime topic configs, compacted topics, and readers racing deletion.
//!
//! Every test drives a [`Store`] with background threads off and a [`ManualClock`] set to the
//! real wall clock at the start of the test (file modification times are real, and strata's
//! future-timestamp rule compares them with the clock), and calls [`Store::maintain`] itself.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;
mod delete_records;
mod interrupted_removal;
mod readers;
mod runtime_config;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use strata::Error;
use strata::Store;
use strata::internals::format::{BatchIter, Record, StopReason};
use strata::{Clock, ManualClock, SystemClock};
use strata::{ConfigSource, LogConfig, StoreConfig};
use strata::{Log, OffsetSpec};
use tempfile::TempDir;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// Bytes of each record's value: with its key and framing one single-record batch is ~180 bytes.
const VALUE_LEN: usize = 100;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A temporary store directory, a manual clock at the real wall clock, and an open store.
struct Env {
    tmp: TempDir,
    clock: Arc<ManualClock>,
    now: i64,
    store: Store,
}

impl Env {
    fn new() -> Env {
        Env::with_config(|c| c)
    }

    fn with_config(tweak: impl FnOnce(StoreConfig) -> StoreConfig) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let now = SystemClock.now_ms();
        let clock = ManualClock::new(now);
        let config = tweak(StoreConfig::new([tmp.path()]).background_threads(false));
        let store = Store::open_with_clock(config, clock.clone()).unwrap();
        Env { tmp, clock, now, store }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Closes the store and opens it again on the same directory and clock.
    fn reopen(self) -> Env {
        let Env { tmp, clock, now, store } = self;
        store.close().unwrap();
        let config = store.config().clone();
        let store = Store::open_with_clock(config, clock.clone()).unwrap();
        Env { tmp, clock, now, store }
    }

    fn topic(&self, name: &str, pairs: &[(&str, &str)]) -> Log {
        self.store.create_topic(name, 1, &overrides(pairs)).unwrap();
        self.store.partition(name, 0).unwrap()
    }
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn key_of(offset: i64) -> String {
    format!("k{offset}")
}

/// The value of the record at `offset`: recognisable and `VALUE_LEN` bytes long.
fn value_of(offset: i64) -> Vec<u8> {
    let mut v = format!("value-of-{offset:08}-").into_bytes();
    let fill = b'a' + u8::try_from(offset.rem_euclid(26)).unwrap();
    v.resize(VALUE_LEN, fill);
    v
}

/// Appends one batch of `n` records stamped `ts`, whose keys and values name their offsets.
fn append_batch(log: &Log, n: i64, ts: i64) {
    let base = log.log_end_offset();
    let records: Vec<Record> =
        (base..base + n).map(|o| Record::new(key_of(o), value_of(o)).timestamp(ts)).collect();
    let info = log.append(&records).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (base, base + n - 1));
}

/// Appends `count` single-record batches stamped `ts`.
fn append_records(log: &Log, count: i64, ts: i64) {
    for _ in 0..count {
        append_batch(log, 1, ts);
    }
}

/// Every record from the log start offset to the log end, checked to be the contiguous run of
/// records this file writes (keys and values name their offsets). Returns their offsets.
fn read_all(log: &Log) -> Vec<i64> {
    let mut offsets = Vec::new();
    let mut pos = log.log_start_offset();
    let end = log.log_end_offset();
    while pos < end {
        let fetched = log.read(pos, 4096).unwrap();
        assert!(!fetched.is_empty(), "empty read at {pos} below the log end {end}");
        for r in fetched.records() {
            let r = r.unwrap();
            assert_eq!(r.offset(), offsets.last().map_or(pos, |o| o + 1), "gap or repeat");
            assert_eq!(r.key().unwrap().as_ref(), key_of(r.offset()).as_bytes());
            assert_eq!(r.value().unwrap().as_ref(), value_of(r.offset()).as_slice());
            offsets.push(r.offset());
        }
        pos = fetched.next_offset();
    }
    offsets
}

/// `.log` sizes by base offset, read with `std::fs`.
fn segment_sizes(dir: &Path) -> BTreeMap<i64, u64> {
    common::segment_logs(dir)
        .into_iter()
        .map(|(path, bytes)| {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            (stem.parse::<i64>().unwrap(), bytes.len() as u64)
        })
        .collect()
}

/// File names in a directory.
fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

/// The names of a segment's three files, with an optional suffix.
fn segment_files(base: i64, suffix: &str) -> [String; 3] {
    ["log", "index", "timeindex"].map(|ext| format!("{base:020}.{ext}{suffix}"))
}

/// Asserts no file of segment `base` is left in `dir`, under any name.
fn assert_segment_gone(dir: &Path, base: i64) {
    let prefix = format!("{base:020}.");
    let left: Vec<String> =
        file_names(dir).into_iter().filter(|n| n.starts_with(&prefix)).collect();
    assert!(left.is_empty(), "segment {base} should be gone from {}: {left:?}", dir.display());
}

/// Asserts segment `base` is renamed `.deleted` (all three files) and its live names are gone.
fn assert_segment_renamed_deleted(dir: &Path, base: i64) {
    let names = file_names(dir);
    for live in segment_files(base, "") {
        assert!(!names.contains(&live), "{live} still present: {names:?}");
    }
    for dead in segment_files(base, ".deleted") {
        assert!(names.contains(&dead), "{dead} missing: {names:?}");
    }
}

/// Runs `kafka_verify.py DIR --index-interval 4096` (the default `index.interval.bytes`), or skips.
fn assert_kafka_verify(dir: &Path) {
    if let Err(reason) = common::kafka_verify_available() {
        common::skip(&reason);
        return;
    }
    let out = common::kafka_verify(dir, &["--index-interval", "4096"]);
    assert!(out.ok(), "kafka_verify.py {}: {out}", dir.display());
}

/// Base of the segment holding `offset`.
fn segment_holding(bases: &[i64], offset: i64) -> i64 {
    *bases.iter().filter(|&&b| b <= offset).max().unwrap()
}

fn assert_out_of_range(r: Result<impl std::fmt::Debug, Error>, offset: i64) {
    match r {
        Err(Error::OffsetOutOfRange { offset: o, .. }) => assert_eq!(o, offset),
        other => panic!("expected OffsetOutOfRange for {offset}, got {other:?}"),
    }
}

fn set_mtime(path: &Path, ms: i64) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap());
    f.set_modified(t).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Time retention
// ---------------------------------------------------------------------------------------------

/// 30 records 10 days old then 10 fresh ones in ~1 KiB segments, `retention.ms` = 1 day; one
/// `maintain`. Returns the env, the partition dir, the segments before, and the first kept base.
fn time_retention_scenario(delete_delay_ms: i64) -> (Env, PathBuf, BTreeMap<i64, u64>, i64) {
    let env = Env::new();
    let delay = delete_delay_ms.to_string();
    let day = DAY.to_string();
    let log = env.topic(
        "t",
        &[("segment.bytes", "1024"), ("retention.ms", &day), ("file.delete.delay.ms", &delay)],
    );
    let dir = env.store.partition_dir("t", 0).unwrap();
    append_records(&log, 30, env.now - 10 * DAY);
    append_records(&log, 10, env.now);
    let before = segment_sizes(&dir);
    assert!(before.len() >= 5, "want several segments, got {before:?}");
    let bases: Vec<i64> = before.keys().copied().collect();
    // The segment holding the first fresh record has a fresh largest timestamp: it and every
    // later segment stay; everything before it is older than a day.
    let keep_from = segment_holding(&bases, 30);
    assert!(keep_from > 0);

    let report = env.store.maintain(None).unwrap();

    let deleted: Vec<i64> = bases.iter().copied().filter(|&b| b < keep_from).collect();
    assert_eq!(report.segments_deleted, deleted.len());
    assert_eq!(report.bytes_deleted, deleted.iter().map(|b| before[b]).sum::<u64>());
    assert_eq!(log.log_start_offset(), keep_from, "earliest offset is a segment boundary");
    assert_eq!(
        log.offset_for_time(OffsetSpec::Earliest).unwrap().unwrap().offset,
        keep_from,
        "ListOffsets EARLIEST"
    );
    assert_eq!(
        log.segment_base_offsets(),
        bases.iter().copied().filter(|&b| b >= keep_from).collect::<Vec<_>>()
    );
    assert_eq!(read_all(&log), (keep_from..40).collect::<Vec<_>>(), "exactly the suffix");
    assert_out_of_range(log.read(keep_from - 1, 4096), keep_from - 1);
    (env, dir, before, keep_from)
}

#[test]
fn time_retention_deletes_the_expired_prefix_up_to_a_segment_boundary_and_renames_it_deleted() {
    let (env, dir, before, keep_from) = time_retention_scenario(HOUR);
    for &base in before.keys().filter(|&&b| b < keep_from) {
        assert_segment_renamed_deleted(&dir, base);
    }
    for &base in before.keys().filter(|&&b| b >= keep_from) {
        assert!(file_names(&dir).contains(&segment_files(base, "")[0]));
    }
    env.store.close().unwrap();
    assert_kafka_verify(&dir);
}

#[test]
fn time_retention_with_zero_delete_delay_removes_the_files_at_once() {
    let (env, dir, before, keep_from) = time_retention_scenario(0);
    for &base in before.keys().filter(|&&b| b < keep_from) {
        assert_segment_gone(&dir, base);
    }
    assert!(!file_names(&dir).iter().any(|n| n.ends_with(".deleted")), "{:?}", file_names(&dir));
    env.store.close().unwrap();
    assert_kafka_verify(&dir);
}

#[test]
fn deleted_files_go_once_file_delete_delay_passes_and_leftovers_go_on_reopen() {
    let env = Env::new();
    let day = DAY.to_string();
    let log = env.topic(
        "t",
        &[("segment.bytes", "1024"), ("retention.ms", &day), ("file.delete.delay.ms", "60000")],
    );
    let dir = env.store.partition_dir("t", 0).unwrap();
    append_records(&log, 20, env.now - 10 * DAY);
    append_records(&log, 10, env.now);
    let bases = log.segment_base_offsets();
    let keep_from = segment_holding(&bases, 20);
    let doomed: Vec<i64> = bases.iter().copied().filter(|&b| b < keep_from).collect();
    assert!(!doomed.is_empty());

    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, doomed.len());
    for &b in &doomed {
        assert_segment_renamed_deleted(&dir, b);
    }
    env.clock.advance(59_999);
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0);
    for &b in &doomed {
        assert_segment_renamed_deleted(&dir, b);
    }
    env.clock.advance(1);
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0);
    for &b in &doomed {
        assert_segment_gone(&dir, b);
    }

    // Two days later every remaining segment (the active one included) has expired: the log
    // rolls, deletes them all, and the files wait out the delay; closing before it passes
    // leaves them for the next open to remove.
    env.clock.advance(2 * DAY);
    let survivors = log.segment_base_offsets();
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, survivors.len());
    assert_eq!(log.log_start_offset(), 30);
    assert_eq!(log.segment_base_offsets(), vec![30]);
    for &b in &survivors {
        assert_segment_renamed_deleted(&dir, b);
    }
    let env = env.reopen();
    assert!(
        !file_names(&dir).iter().any(|n| n.ends_with(".deleted")),
        "leftovers after reopen: {:?}",
        file_names(&dir)
    );
    let log = env.store.partition("t", 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (30, 30));
    assert_eq!(log.segment_base_offsets(), vec![30]);
    append_records(&log, 1, env.now + 2 * DAY);
    assert_eq!(read_all(&log), vec![30]);
    env.store.close().unwrap();
    assert_kafka_verify(&dir);
}

#[test]
fn an_expired_non_empty_active_segment_is_rolled_and_deleted() {
    let env = Env::new();
    let day = DAY.to_string();
    let log = env.topic("t", &[("retention.ms", &day), ("file.delete.delay.ms", "0")]);
    let dir = env.store.partition_dir("t", 0).unwrap();
    append_records(&log, 5, env.now - 2 * DAY);
    assert_eq!(log.segment_base_offsets(), vec![0], "everything is in the active segment");

    let size = log.size_bytes();
    assert!(size > 0);
    let report = env.store.maintain(None).unwrap();
    assert_eq!((report.segments_deleted, report.bytes_deleted), (1, size));
    assert_eq!(log.segment_base_offsets(), vec![5], "a fresh empty active segment at the end");
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 5));
    assert_segment_gone(&dir, 0);
    assert!(log.read(5, 4096).unwrap().is_empty());
    assert_out_of_range(log.read(4, 4096), 4);
    // The empty active segment is never deleted, and appends continue at the same offset.
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0);
    append_records(&log, 1, env.now);
    assert_eq!(read_all(&log), vec![5]);
    env.store.close().unwrap();
    assert_kafka_verify(&dir);
}

#[test]
fn an_idle_partition_loses_expired_data_without_any_append_after_expiry() {
    let env = Env::new();
    let day = DAY.to_string();
    let log = env.topic(
        "t",
        &[("segment.bytes", "1024"), ("retention.ms", &day), ("file.delete.delay.ms", "0")],
    );
    let dir = env.store.partition_dir("t", 0).unwrap();
    append_records(&log, 12, env.now);
    let before = log.segment_base_offsets();
    assert!(before.len() > 1);
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0, "nothing expired yet");

    // Only the clock moves: no append rolls the active segment.
    env.clock.advance(DAY);
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0, "exactly a day is kept");
    env.clock.advance(1);
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, before.len());
    assert_eq!(log.segment_base_offsets(), vec![12]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (12, 12));
    for b in before {
        assert_segment_gone(&dir, b);
    }
}

/// Kafka judges a segment by its largest record timestamp alone: a segment holding one record
/// stamped ten years ahead is "newest" for ten years, and since deletion is a prefix it keeps
/// every later segment too (gotcha G1; before KAFKA-20609 nothing but a restamped log helped).
/// Kafka would delete only segment A below, forever. strata judges a segment whose largest
/// timestamp is after `now` by its file's last-modified time, so the pin lasts at most
/// `retention.ms` after the segment was last written.
#[test]
fn a_future_timestamped_segment_pins_the_log_only_until_its_file_is_older_than_retention() {
    let env = Env::new();
    let day = DAY.to_string();
    let log = env.topic(
        "t",
        &[("retention.ms", &day), ("file.delete.delay.ms", "0"), ("segment.bytes", "1048576")],
    );
    let dir = env.store.partition_dir("t", 0).unwrap();
    let old = env.now - 10 * DAY;
    let future = env.now + 3650 * DAY;
    // A: old records.
    append_records(&log, 3, old);
    log.roll().unwrap();
    // B: one future record first (so the time-based roll, measured from a segment's first
    // batch, does not split it off), then old ones.
    append_records(&log, 1, future);
    append_records(&log, 2, old);
    log.roll().unwrap();
    // C: old records. D (active): fresh ones.
    append_records(&log, 3, old);
    log.roll().unwrap();
    append_records(&log, 2, env.now);
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6, 9]);

    // B was just written: its mtime is "now", so it and everything after it stay.
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, 1, "only A goes while B's file is fresh");
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(log.segment_base_offsets(), vec![3, 6, 9]);

    // B's file last written two days ago (more than retention.ms): B and C go, D stays.
    set_mtime(&dir.join(format!("{:020}.log", 3)), env.now - 2 * DAY);
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, 2, "B judged by its mtime, then C by its timestamps");
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(log.segment_base_offsets(), vec![9]);
    assert_eq!(read_all(&log), vec![9, 10]);
}

#[test]
fn a_future_timestamped_segment_whose_file_age_cannot_be_read_is_kept_and_the_pass_fails() {
    use strata::internals::io::fault::{self, FaultPlan, Op};
    let env = Env::new();
    let log = env.topic("t", &[("retention.ms", &HOUR.to_string()), ("file.delete.delay.ms", "0")]);
    let dir = env.store.partition_dir("t", 0).unwrap();
    // A: records 10 hours ahead of the clock, judged by its file's age (fresh: kept). B: now.
    append_records(&log, 2, env.now + 10 * HOUR);
    log.roll().unwrap();
    append_records(&log, 2, env.now);
    assert_eq!(log.delete_old_segments().unwrap().segments_deleted, 0);

    // Looking at A's file fails: the pass cannot tell A's age and must not guess it.
    let pass = {
        let _stat_fails = fault::arm(FaultPlan::new().fail_every(Op::Metadata));
        log.delete_old_segments()
    };
    assert!(
        matches!(&pass, Err(Error::Io { op: "metadata", .. })),
        "the failed look is the pass's error: {pass:?}"
    );
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    assert!(dir.join(format!("{:020}.log", 0)).is_file());
    assert_eq!(read_all(&log), vec![0, 1, 2, 3]);

    // Once the file can be looked at again, A is judged by its age as before: kept while fresh.
    assert_eq!(log.delete_old_segments().unwrap().segments_deleted, 0);
    assert_eq!(read_all(&log), vec![0, 1, 2, 3]);
}

// ---------------------------------------------------------------------------------------------
// Size retention
// ---------------------------------------------------------------------------------------------

/// Kafka's size rule on the sizes before the pass: how many oldest segments go.
fn kafka_size_plan(sizes: &[u64], limit: u64) -> usize {
    let total: u64 = sizes.iter().sum();
    if total < limit {
        return 0;
    }
    let mut diff = total - limit;
    let mut n = 0;
    for &s in sizes {
        if s > diff {
            break;
        }
        diff -= s;
        n += 1;
    }
    n
}

#[test]
fn size_retention_keeps_the_newest_segments_within_retention_bytes_plus_one_segment() {
    let env = Env::new();
    let log = env.topic(
        "t",
        &[("segment.bytes", "1024"), ("retention.bytes", "3000"), ("file.delete.delay.ms", "0")],
    );
    let dir = env.store.partition_dir("t", 0).unwrap();
    append_records(&log, 50, env.now);
    let before = segment_sizes(&dir);
    let bases: Vec<i64> = before.keys().copied().collect();
    let sizes: Vec<u64> = before.values().copied().collect();
    let largest = *sizes.iter().max().unwrap();
    let expected = kafka_size_plan(&sizes, 3000);
    assert!(expected > 0 && expected < bases.len());

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, expected);
    assert_eq!(report.bytes_deleted, sizes[..expected].iter().sum::<u64>());
    let after = log.size_bytes();
    assert!(after <= 3000 + largest, "{after} > retention.bytes + one segment ({largest})");
    assert!(after >= 3000, "Kafka never goes below retention.bytes: {after}");
    // The survivors are exactly the newest segments.
    assert_eq!(log.segment_base_offsets(), bases[expected..].to_vec());
    assert_eq!(log.log_start_offset(), bases[expected]);
    assert_eq!(read_all(&log), (bases[expected]..50).collect::<Vec<_>>());
    for &b in &bases[..expected] {
        assert_segment_gone(&dir, b);
    }
    env.store.close().unwrap();
    assert_kafka_verify(&dir);
}

#[test]
fn size_retention_of_zero_bytes_deletes_the_active_segment_too_and_leaves_an_empty_one() {
    let env = Env::new();
    let log = env.topic(
        "t",
        &[("segment.bytes", "1024"), ("retention.bytes", "0"), ("file.delete.delay.ms", "0")],
    );
    append_records(&log, 12, env.now);
    let n = log.segment_count();
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, n);
    assert_eq!(log.segment_base_offsets(), vec![12]);
    assert_eq!((log.log_start_offset(), log.size_bytes()), (12, 0));
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0);
}

// ---------------------------------------------------------------------------------------------
// Idempotence (G16)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_second_maintain_pass_in_a_row_deletes_nothing() {
    let env = Env::new();
    let day = DAY.to_string();
    let log = env.topic(
        "t",
        &[
            ("segment.bytes", "1024"),
            ("retention.ms", &day),
            ("retention.bytes", "4000"),
            ("file.delete.delay.ms", "0"),
        ],
    );
    append_records(&log, 15, env.now - 10 * DAY);
    append_records(&log, 40, env.now);
    let first = env.store.maintain(None).unwrap();
    assert!(first.segments_deleted > 0);
    let bases = log.segment_base_offsets();
    let start = log.log_start_offset();
    let second = env.store.maintain(None).unwrap();
    assert_eq!((second.segments_deleted, second.bytes_deleted), (0, 0));
    assert_eq!(log.segment_base_offsets(), bases);
    assert_eq!(log.log_start_offset(), start);

    // Raise the start offset into the middle of a later segment; after the implied deletion and
    // a reopen, passes still converge after one.
    let mid = bases[1] + 2;
    env.store.delete_records("t", 0, mid).unwrap();
    let env = env.reopen();
    let log = env.store.partition("t", 0).unwrap();
    let _ = env.store.maintain(None).unwrap();
    let bases = log.segment_base_offsets();
    let again = env.store.maintain(None).unwrap();
    assert_eq!(again.segments_deleted, 0);
    assert_eq!(log.segment_base_offsets(), bases);
    assert_eq!(log.log_start_offset(), mid);
}

// ---------------------------------------------------------------------------------------------
// Compacted topics
// ---------------------------------------------------------------------------------------------

/// A compact-only topic gets no time retention, but segments below its log start offset still
/// go (Kafka's G12: before KAFKA-7400 they did not, and with its cleaner off Kafka runs no
/// retention at all on compacted logs; strata's `maintain` does).
#[test]
fn a_compacted_topic_gets_log_start_offset_retention_but_no_time_retention() {
    // The cleaner off, so that segments change only by retention.
    let env = Env::with_config(|c| c.log_cleaner_enable(false));
    let day = DAY.to_string();
    let log = env.topic(
        "c",
        &[
            ("cleanup.policy", "compact"),
            ("retention.ms", &day),
            ("segment.bytes", "1024"),
            ("file.delete.delay.ms", "0"),
        ],
    );
    append_records(&log, 30, env.now - 10 * DAY);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4);
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0, "no time retention");
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(read_all(&log), (0..30).collect::<Vec<_>>());

    // As a Kafka broker would leave it after a DeleteRecords (allowed while the topic had
    // `delete`) and a restart before any retention pass: a checkpointed start offset in the
    // middle of the third segment, with the segments below it still on disk.
    let target = bases[2] + 1;
    env.store.close().unwrap();
    fs::write(env.root().join("log-start-offset-checkpoint"), format!("0\n1\nc 0 {target}\n"))
        .unwrap();
    let env = env.reopen();
    let log = env.store.partition("c", 0).unwrap();
    assert_eq!(log.log_start_offset(), target);
    assert_eq!(log.segment_base_offsets(), bases, "loading deletes nothing");

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, 2);
    assert_eq!(log.segment_base_offsets(), bases[2..].to_vec());
    assert_eq!(log.log_start_offset(), target);
    assert_eq!(read_all(&log), (target..30).collect::<Vec<_>>());
    let dir = env.store.partition_dir("c", 0).unwrap();
    assert_segment_gone(&dir, bases[0]);
    assert_segment_gone(&dir, bases[1]);
}

#[test]
fn a_compact_delete_topic_gets_time_retention() {
    let env = Env::new();
    let day = DAY.to_string();
    let log = env.topic(
        "c",
        &[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", &day),
            ("segment.bytes", "1024"),
            ("file.delete.delay.ms", "0"),
        ],
    );
    append_records(&log, 20, env.now - 10 * DAY);
    append_records(&log, 5, env.now);
    assert!(env.store.maintain(None).unwrap().segments_deleted > 0);
    assert_eq!(log.log_start_offset(), 20);
    assert_eq!(read_all(&log), (20..25).collect::<Vec<_>>());
}
