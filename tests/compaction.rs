//! Log compaction through the store, one claim per test: the cleaner keeps exactly the latest
//! record of every key (a model test), tombstones get a delete horizon and go only after it, the
//! dirty-ratio and compaction-lag rules decide what is cleaned, a small key map cleans in several
//! passes, the cleaner checkpoint survives a reopen, compacted topics refuse keyless records,
//! idempotent producers keep their last batch, readers stream safely through swaps,
//! `compact,delete` keeps time retention, and a failed cleaning is counted and retried.
//!
//! Every test drives a [`Store`] with background threads off and a [`ManualClock`] set to the
//! real wall clock at the start (file modification times are real), and calls
//! [`Store::maintain`] itself. Crashes during a cleaning are in `compaction_crash.rs`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use strata::Error;
use strata::Log;
use strata::Store;
use strata::StoreConfig;
use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::{BatchBuilder, BatchView, Header, Record, TimestampType};
use strata::{Clock, ManualClock, SystemClock};
use tempfile::TempDir;

/// `index.interval.bytes` of every topic here: small, so cleaned segments get index entries.
const INDEX_INTERVAL: u64 = 128;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A temporary store directory, a manual clock, and an open store.
struct Env {
    tmp: TempDir,
    config: StoreConfig,
    clock: Arc<ManualClock>,
    store: Store,
}

impl Env {
    fn new() -> Env {
        Env::with_config(|c| c)
    }

    fn with_config(tweak: impl FnOnce(StoreConfig) -> StoreConfig) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(SystemClock.now_ms());
        let config = tweak(StoreConfig::new([tmp.path()]).background_threads(false));
        let store = Store::open_with_clock(config.clone(), clock.clone()).unwrap();
        Env { tmp, config, clock, store }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A compacted topic with one partition: small segments, a dirty ratio that any dirty
    /// segment passes, then `extra` on top.
    fn topic(&self, name: &str, extra: &[(&str, &str)]) -> Log {
        let mut o = BTreeMap::new();
        for (k, v) in [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("segment.index.bytes", "4096"),
            ("index.interval.bytes", "128"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            o.insert(k.to_owned(), v.to_owned());
        }
        self.store.create_topic(name, 1, &o).unwrap();
        self.store.partition(name, 0).unwrap()
    }

    /// Drops the store after a clean close and opens it again on the same clock.
    fn reopen(&mut self) {
        self.store.close().unwrap();
        self.store = Store::open_with_clock(self.config.clone(), self.clock.clone()).unwrap();
    }
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    timestamp: i64,
    headers: Vec<Header>,
}

/// Every record of the log, from its start to its end.
fn read_all(log: &Log) -> Vec<Rec> {
    let fetched = log.read(log.log_start_offset(), usize::MAX).unwrap();
    fetched
        .records()
        .map(|r| {
            let r = r.unwrap();
            Rec {
                offset: r.offset(),
                key: r.key().cloned(),
                value: r.value().cloned(),
                timestamp: r.timestamp(),
                headers: r.headers().to_vec(),
            }
        })
        .collect()
}

/// Every batch of the log.
fn batches(log: &Log) -> Vec<BatchView> {
    log.read(log.log_start_offset(), usize::MAX).unwrap().batches().collect()
}

/// Appends `(key, value)` records (value `None`: a tombstone) stamped `ts` as one batch;
/// returns the offset of the first.
fn put(log: &Log, ts: i64, records: &[(&str, Option<&str>)]) -> i64 {
    let batch: Vec<Record> = records
        .iter()
        .map(|(k, v)| match v {
            Some(v) => Record::new(k.to_string(), v.to_string()),
            None => Record::tombstone(k.to_string()),
        })
        .map(|r| r.timestamp(ts))
        .collect();
    log.append(&batch).unwrap().base_offset
}

/// Key -> (offset, value) of the last occurrence of each key in `recs`.
fn last_by_key(recs: &[Rec]) -> BTreeMap<Bytes, (i64, Option<Bytes>)> {
    recs.iter().map(|r| (r.key.clone().unwrap(), (r.offset, r.value.clone()))).collect()
}

/// Asserts that no key occurs twice among the records below `below`.
fn assert_unique_below(recs: &[Rec], below: i64) {
    let mut seen = HashMap::new();
    for r in recs.iter().filter(|r| r.offset < below) {
        if let Some(prev) = seen.insert(r.key.clone(), r.offset) {
            panic!("key {:?} at {prev} and {} below the cleaned point {below}", r.key, r.offset);
        }
    }
}

fn cleaner_offset_checkpoint(root: &Path) -> String {
    std::fs::read_to_string(root.join("cleaner-offset-checkpoint")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The model test
// ---------------------------------------------------------------------------------------------

/// One step of a model workload.
#[derive(Debug, Clone)]
enum Step {
    /// One batch: (key index, value length or `None` for a tombstone).
    Append(Vec<(u8, Option<u8>)>),
    Roll,
    Maintain,
    /// Moves the clock (sometimes past the delete retention).
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => prop::collection::vec((0u8..10, prop::option::weighted(0.8, 0u8..60)), 1..6)
            .prop_map(Step::Append),
        1 => Just(Step::Roll),
        3 => Just(Step::Maintain),
        2 => (0i64..2_500).prop_map(Step::Advance),
    ]
}

/// What the model knows: every record written, by offset, and each key's latest offset.
#[derive(Default)]
struct Model {
    written: BTreeMap<i64, Rec>,
    latest: BTreeMap<Bytes, i64>,
}

impl Model {
    /// Appends `records` as one batch and remembers where they landed.
    fn append(&mut self, log: &Log, records: &[Record]) {
        let info = log.append(records).unwrap();
        let log_append_time = log.config().message_timestamp_type == TimestampType::LogAppendTime;
        for (i, r) in records.iter().enumerate() {
            let offset = info.base_offset + i as i64;
            let key = r.key.clone().unwrap();
            let rec = Rec {
                offset,
                key: Some(key.clone()),
                value: r.value.clone(),
                timestamp: if log_append_time { info.max_timestamp } else { r.timestamp },
                headers: r.headers.clone(),
            };
            self.written.insert(offset, rec);
            self.latest.insert(key, offset);
        }
    }

    /// Checks the log against the model after a maintain (see the test's doc); returns how many
    /// keys whose latest record is a tombstone have no record left.
    fn check(&self, log: &Log, context: &str) -> usize {
        let recs = read_all(log);
        let mut prev = -1;
        for r in &recs {
            assert!(r.offset > prev, "{context}: offsets not increasing at {}", r.offset);
            prev = r.offset;
            let written = self.written.get(&r.offset).unwrap_or_else(|| {
                panic!("{context}: offset {} was never written", r.offset);
            });
            assert_eq!(r, written, "{context}: the record read back differs from the one written");
        }
        let last = last_by_key(&recs);
        let mut tombstones_gone = 0;
        for (key, &offset) in &self.latest {
            let value = &self.written[&offset].value;
            match (last.get(key), value) {
                (Some((o, v)), _) => assert_eq!(
                    (*o, v),
                    (offset, value),
                    "{context}: key {key:?} reads back an older record"
                ),
                // A tombstone may be gone once its delete horizon passed; a value never.
                (None, None) => tombstones_gone += 1,
                (None, Some(_)) => panic!("{context}: latest value of {key:?} at {offset} lost"),
            }
        }
        assert_unique_below(&recs, log.cleaner_checkpoint().unwrap_or(0));
        tombstones_gone
    }
}

/// What one model case did.
#[derive(Debug, Default)]
struct CaseSummary {
    snapshots: Vec<PathBuf>,
    cleanings: usize,
    records_removed: u64,
    tombstones_gone: usize,
}

/// Topic settings of one model case: `compression.type`, `delete.retention.ms`,
/// `message.timestamp.type`.
type Knobs = (&'static str, &'static str, &'static str);

/// Runs one workload, with snapshots of the partition directory taken after each maintain.
fn run_model_case(steps: &[Step], knobs: Knobs, snapshots: &Path, case: usize) -> CaseSummary {
    let (codec, delete_retention_ms, timestamp_type) = knobs;
    let env = Env::new();
    let log = env.topic(
        "m",
        &[
            ("delete.retention.ms", delete_retention_ms),
            ("compression.type", codec),
            ("message.timestamp.type", timestamp_type),
            ("file.delete.delay.ms", "0"),
        ],
    );
    let dir = env.store.partition_dir("m", 0).unwrap();
    let mut model = Model::default();
    let mut summary = CaseSummary::default();
    let mut counter = 0u32;
    let mut maintain = |model: &Model, i: usize| {
        let end = log.log_end_offset();
        let report = env.store.maintain(None).unwrap();
        assert_eq!(report.cleaner_failures, 0, "{:?}", env.store.cleaner_stats());
        assert_eq!(log.log_end_offset(), end, "maintain moved the log end");
        summary.tombstones_gone = model.check(&log, &format!("case {case} step {i} {knobs:?}"));
        summary.cleanings += report.partitions_cleaned;
        summary.records_removed += report.records_removed;
        let snap = snapshots.join(format!("case{case}-step{i}")).join("m-0");
        common::copy_dir(&dir, &snap).unwrap();
        summary.snapshots.push(snap);
    };
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Append(rs) => {
                let now = env.now();
                let records: Vec<Record> = rs
                    .iter()
                    .map(|&(k, v)| {
                        counter += 1;
                        let key = format!("key-{k}");
                        match v {
                            Some(len) => {
                                let pad = "x".repeat(usize::from(len));
                                let r = Record::new(key, format!("v{counter}-{pad}"));
                                if len % 3 == 0 { r.header("h", format!("{counter}")) } else { r }
                            }
                            None => Record::tombstone(key),
                        }
                        .timestamp(now)
                    })
                    .collect();
                model.append(&log, &records);
            }
            Step::Roll => log.roll().unwrap(),
            Step::Maintain => maintain(&model, i),
            Step::Advance(ms) => env.clock.advance(*ms),
        }
    }
    // Drain: two cleanings, each past the delete retention, after which every key whose
    // latest record is a tombstone must be gone entirely.
    for round in 0..2 {
        env.clock.advance(2_500);
        let r = Record::new(format!("drain-{round}"), "d").timestamp(env.now());
        model.append(&log, &[r]);
        log.roll().unwrap();
        maintain(&model, steps.len() + round);
    }
    let deleted_keys = model.latest.values().filter(|o| model.written[o].value.is_none()).count();
    assert_eq!(
        summary.tombstones_gone, deleted_keys,
        "case {case}: tombstones outlived 2 cleanings"
    );
    env.store.close().unwrap();
    summary
}

/// Random overwrite and tombstone workloads over 10 keys on a compacted topic with ~1 KiB
/// segments, a 0.01 dirty ratio, a delete retention of 0 or 1 s, every codec and both timestamp
/// types, with rolls, clock moves and maintain passes interleaved (32 cases), then two "drain"
/// cleanings each past the
/// delete retention. After each maintain: the log end is unchanged; every record read is the one
/// written at its offset; each key's last record read is its latest one (a latest tombstone may be
/// gone, a latest value never); no key appears twice below the cleaner checkpoint. After the
/// drain every key whose latest record is a tombstone is gone. Each snapshot of the directory
/// (checked at the end, one checker process for all) passes kafka_verify.py and Kafka's reader.
#[test]
fn compaction_keeps_the_latest_record_of_every_key_of_random_workloads() {
    let snapshots = tempfile::tempdir().unwrap();
    let config = Config {
        cases: 32,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let case = std::cell::Cell::new(0usize);
    let all = std::cell::RefCell::new(Vec::new());
    let totals = std::cell::Cell::new((0usize, 0u64, 0usize));
    let strategy = (
        prop::collection::vec(step(), 10..60),
        prop::sample::select(vec!["producer", "gzip", "snappy", "lz4", "zstd"]),
        prop::sample::select(vec!["0", "1000"]),
        prop::sample::select(vec!["CreateTime", "LogAppendTime"]),
    );
    runner
        .run(&strategy, |(steps, codec, retention, timestamps)| {
            case.set(case.get() + 1);
            let knobs = (codec, retention, timestamps);
            let s = run_model_case(&steps, knobs, snapshots.path(), case.get());
            let (c, r, t) = totals.get();
            totals.set((c + s.cleanings, r + s.records_removed, t + s.tombstones_gone));
            all.borrow_mut().extend(s.snapshots);
            Ok(())
        })
        .unwrap();
    let all = all.into_inner();
    let (cleanings, removed, tombstones_gone) = totals.get();
    eprintln!(
        "model: {} cases, {cleanings} cleanings removed {removed} records, {tombstones_gone} \
         deleted keys gone after the drain, {} snapshots, in {:?}",
        case.get(),
        all.len(),
        started.elapsed()
    );
    assert!(cleanings > 64 && removed > 0 && tombstones_gone > 0, "the workloads are too tame");
    let started = std::time::Instant::now();
    common::assert_kafka_valid_many(&all, INDEX_INTERVAL);
    eprintln!("model: snapshots verified in {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Tombstones
// ---------------------------------------------------------------------------------------------

/// The batch holding the record at `offset`, if any.
fn batch_at(log: &Log, offset: i64) -> Option<BatchView> {
    batches(log).into_iter().find(|b| b.base_offset() <= offset && offset <= b.last_offset())
}

/// Whether a record at `offset` is still in the log.
fn has_offset(log: &Log, offset: i64) -> bool {
    read_all(log).iter().any(|r| r.offset == offset)
}

/// Adds a dirty segment (so the next maintain has something to clean) and rolls.
fn dirty_segment(log: &Log, ts: i64, tag: &str) {
    put(log, ts, &[("filler", Some(tag)), ("filler", Some(tag))]);
    log.roll().unwrap();
}

/// KIP-534 (gotcha G5): the first cleaning that sees a tombstone keeps it and stamps its batch
/// with a delete horizon of exactly clean time + `delete.retention.ms`; cleanings before the
/// horizon keep it (and the horizon); the first cleaning at or after the horizon removes it.
#[test]
fn a_tombstone_survives_cleanings_until_its_delete_horizon_and_vanishes_after() {
    let env = Env::new();
    let log = env.topic("t", &[("delete.retention.ms", "10000")]);
    let t0 = env.now();
    put(&log, t0, &[("a", Some("a1")), ("b", Some("b1"))]);
    log.roll().unwrap();
    let tomb = put(&log, t0, &[("a", None), ("c", Some("c1"))]);
    log.roll().unwrap();
    put(&log, t0, &[("d", Some("active"))]);

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    assert!(!has_offset(&log, 0), "the value the tombstone deletes is gone");
    let batch = batch_at(&log, tomb).expect("the tombstone survives its first cleaning");
    let horizon = t0 + 10_000;
    assert_eq!(batch.delete_horizon_ms(), Some(horizon));
    assert_eq!(batch.base_timestamp(), horizon, "the horizon lives in baseTimestamp");
    // The record timestamps are unchanged by the new base.
    let r = batch.records().unwrap().map(Result::unwrap).find(|r| r.offset() == tomb).unwrap();
    assert_eq!(r.value(), None);
    assert_eq!(r.timestamp(), t0);

    // Cleanings before the horizon keep it, and keep the horizon.
    for (advance, tag) in [(5_000, "x"), (4_999, "y")] {
        env.clock.advance(advance);
        dirty_segment(&log, env.now(), tag);
        let report = env.store.maintain(None).unwrap();
        assert_eq!(report.partitions_cleaned, 1, "{report:?}");
        let b = batch_at(&log, tomb).unwrap_or_else(|| {
            panic!("tombstone gone at {} < horizon {horizon}", env.now());
        });
        assert!(has_offset(&log, tomb), "tombstone gone before its horizon");
        assert_eq!(b.delete_horizon_ms(), Some(horizon), "the horizon is carried over");
    }
    assert_eq!(env.now(), horizon - 1);

    // At the horizon the next cleaning removes it.
    env.clock.advance(1);
    dirty_segment(&log, env.now(), "z");
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    assert!(!has_offset(&log, tomb), "tombstone survived its horizon");
    let keys: Vec<_> = read_all(&log).into_iter().map(|r| r.key.unwrap()).collect();
    assert!(!keys.contains(&Bytes::from("a")), "no record of the deleted key remains");
    assert!(keys.contains(&Bytes::from("c")), "the tombstone's batch-mate stays");
    env.store.close().unwrap();
    common::assert_kafka_valid(&env.store.partition_dir("t", 0).unwrap(), INDEX_INTERVAL);
}

/// A batch that already carries a delete horizon and is rebuilt by a later cleaning (one of its
/// records was superseded) keeps that horizon: the tombstone's clock does not restart.
#[test]
fn a_rebuilt_batch_keeps_its_delete_horizon() {
    let env = Env::new();
    let log = env.topic("t", &[("delete.retention.ms", "10000")]);
    let t0 = env.now();
    let tomb = put(&log, t0, &[("a", None), ("b", Some("b1")), ("c", Some("c1"))]);
    log.roll().unwrap();
    put(&log, t0, &[("x", Some("active"))]);
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    assert_eq!(batch_at(&log, tomb).unwrap().delete_horizon_ms(), Some(t0 + 10_000));

    env.clock.advance(3_000);
    put(&log, env.now(), &[("b", Some("b2"))]);
    log.roll().unwrap();
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    assert!(!has_offset(&log, tomb + 1), "b1 is superseded");
    let b = batch_at(&log, tomb).unwrap();
    assert_eq!(b.records_count(), 2, "the tombstone and c1 remain");
    assert_eq!(b.delete_horizon_ms(), Some(t0 + 10_000), "horizon restarted on rebuild");

    env.clock.set(t0 + 10_000);
    dirty_segment(&log, env.now(), "z");
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    assert!(!has_offset(&log, tomb));
    assert!(has_offset(&log, tomb + 2), "c1 stays");
}

// ---------------------------------------------------------------------------------------------
// Selection: dirty ratio and compaction lags
// ---------------------------------------------------------------------------------------------

/// Writes `n` single-batch segments of overwrites of keys `k0..k4`, stamped `ts`.
fn overwrite_segments(log: &Log, ts: i64, n: usize, tag: &str) {
    for i in 0..n {
        let v: Vec<String> = (0..5).map(|k| format!("{tag}-{i}-{k}-{}", "p".repeat(40))).collect();
        let recs: Vec<(String, Option<&str>)> =
            (0..5).map(|k| (format!("k{k}"), Some(v[k].as_str()))).collect();
        let recs: Vec<(&str, Option<&str>)> = recs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        put(log, ts, &recs);
        log.roll().unwrap();
    }
}

fn stats_of(store: &Store, topic: &str) -> strata::internals::cleaner::CleanerStats {
    store
        .cleaner_stats()
        .into_iter()
        .find(|(tp, _)| tp.topic == topic && tp.partition == 0)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no cleaner stats for {topic}-0"))
}

/// After a full cleaning, one small dirty segment beside a larger clean section gives a dirty
/// ratio below `min.cleanable.dirty.ratio` = 0.5: maintain leaves the partition alone (the ratio
/// is reported, the checkpoint and the files do not move).
#[test]
fn a_partition_below_min_cleanable_dirty_ratio_is_not_cleaned() {
    let env = Env::new();
    let log = env.topic("t", &[("min.cleanable.dirty.ratio", "0.5")]);
    let ts = env.now();
    // Distinct keys, so the clean section stays big after cleaning.
    for i in 0..6 {
        let v = "q".repeat(60);
        let keys: Vec<String> = (0..5).map(|k| format!("u{i}-{k}")).collect();
        let recs: Vec<(&str, Option<&str>)> =
            keys.iter().map(|k| (k.as_str(), Some(v.as_str()))).collect();
        put(&log, ts, &recs);
        log.roll().unwrap();
    }
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    let checkpoint = log.cleaner_checkpoint().unwrap();
    overwrite_segments(&log, ts, 1, "late");
    let before = read_all(&log);
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 0, "{report:?}");
    assert_eq!(log.cleaner_checkpoint(), Some(checkpoint));
    assert_eq!(read_all(&log), before);
    let ratio = stats_of(&env.store, "t").dirty_ratio;
    assert!(ratio > 0.0 && ratio <= 0.5, "dirty ratio {ratio}");
}

/// `max.compaction.lag.ms`: a partition whose dirty ratio (0.0 < ratio < 0.9) never qualifies is
/// cleaned anyway once its oldest dirty batch is older than the lag — not before.
#[test]
fn a_partition_past_max_compaction_lag_is_cleaned_below_the_dirty_ratio() {
    let env = Env::new();
    let log =
        env.topic("t", &[("min.cleanable.dirty.ratio", "0.9"), ("max.compaction.lag.ms", "60000")]);
    let ts = env.now();
    for i in 0..6 {
        let keys: Vec<String> = (0..5).map(|k| format!("u{i}-{k}")).collect();
        let recs: Vec<(&str, Option<&str>)> =
            keys.iter().map(|k| (k.as_str(), Some("v"))).collect();
        put(&log, ts, &recs);
        log.roll().unwrap();
    }
    // Everything is dirty (ratio 1.0 > 0.9): the first pass cleans it all.
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    overwrite_segments(&log, ts, 2, "late");
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 0, "ratio rules");
    env.clock.advance(59_000);
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 0, "lag not yet passed");
    env.clock.advance(2_000);
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?} {:?}", stats_of(&env.store, "t"));
    assert!(report.records_removed > 0);
    assert_eq!(log.cleaner_checkpoint(), log.segment_base_offsets().last().copied());
}

/// `min.compaction.lag.ms`: a segment whose newest record is younger than the lag, and every
/// segment after it, stays dirty (duplicates kept, checkpoint at its base) until the clock passes
/// the lag.
#[test]
fn min_compaction_lag_holds_back_young_segments() {
    let env = Env::new();
    let log = env.topic("t", &[("min.compaction.lag.ms", "10000")]);
    let now = env.now();
    overwrite_segments(&log, now - 20_000, 2, "old");
    let young_base = log.log_end_offset();
    overwrite_segments(&log, now - 5_000, 2, "young");
    overwrite_segments(&log, now - 30_000, 1, "old-again"); // old, but after a young one
    put(&log, now, &[("k0", Some("active"))]);

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    assert_eq!(log.cleaner_checkpoint(), Some(young_base));
    let recs = read_all(&log);
    assert_unique_below(&recs, young_base);
    let young: Vec<_> = recs.iter().filter(|r| r.offset >= young_base).collect();
    assert_eq!(young.len() as i64, log.log_end_offset() - young_base, "young data untouched");

    env.clock.advance(5_001);
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    let active = *log.segment_base_offsets().last().unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(active));
    assert_unique_below(&read_all(&log), active);
}

// ---------------------------------------------------------------------------------------------
// Memory bound
// ---------------------------------------------------------------------------------------------

/// With a key map of 64 slots (`log.cleaner.dedupe.buffer.size` = 24 × 64, about 57 keys at the
/// 0.9 load factor) and 500 distinct keys in the dirty section, one pass cleans only a prefix:
/// the checkpoint advances but stays below the active segment. Repeated passes finish the job,
/// and the result is the model's: each key once, with its latest value.
#[test]
fn a_key_map_too_small_for_the_dirty_keys_cleans_in_several_passes() {
    let env = Env::with_config(|mut c| {
        c.log_cleaner_dedupe_buffer_size = 24 * 64;
        c
    });
    let log = env.topic("t", &[("segment.bytes", "16384")]);
    let ts = env.now();
    let mut latest: BTreeMap<Bytes, (i64, Option<Bytes>)> = BTreeMap::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..3 {
        let mut keys: Vec<u32> = (0..500).collect();
        for i in (1..keys.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            keys.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for chunk in keys.chunks(5) {
            let vals: Vec<(String, String)> =
                chunk.iter().map(|k| (format!("key-{k:03}"), format!("r{round}-{k}"))).collect();
            let recs: Vec<(&str, Option<&str>)> =
                vals.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
            let base = put(&log, ts, &recs);
            for (i, (k, v)) in vals.iter().enumerate() {
                latest.insert(
                    Bytes::from(k.clone()),
                    (base + i as i64, Some(Bytes::from(v.clone()))),
                );
            }
        }
    }
    log.roll().unwrap();
    put(&log, ts, &[("key-000", Some("active"))]);
    latest.insert(Bytes::from("key-000"), (log.log_end_offset() - 1, Some(Bytes::from("active"))));
    let active = *log.segment_base_offsets().last().unwrap();

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    let first = log.cleaner_checkpoint().unwrap();
    assert!(first > 0 && first < active, "one pass cleans a prefix: {first} of {active}");
    assert_unique_below(&read_all(&log), first);

    let mut passes = 1;
    let mut last = first;
    while log.cleaner_checkpoint() != Some(active) {
        let report = env.store.maintain(None).unwrap();
        assert_eq!(report.cleaner_failures, 0);
        let now = log.cleaner_checkpoint().unwrap();
        assert!(now > last, "pass {passes} made no progress ({last} -> {now}): {report:?}");
        last = now;
        passes += 1;
        assert!(passes < 200, "no end in sight");
    }
    eprintln!("memory bound: {passes} passes over 1500 records of 500 keys");
    assert!(passes > 3);
    let recs = read_all(&log);
    assert_unique_below(&recs, active);
    assert_eq!(last_by_key(&recs), latest);
    assert_eq!(recs.len(), 500 + 1, "each key once, plus the active segment's record");
    env.store.close().unwrap();
    common::assert_kafka_valid(&env.store.partition_dir("t", 0).unwrap(), INDEX_INTERVAL);
}

// ---------------------------------------------------------------------------------------------
// Cleaner checkpoint
// ---------------------------------------------------------------------------------------------

/// After a cleaning the first dirty offset is in `cleaner-offset-checkpoint` in Kafka's format
/// (`0`, the count, `topic partition offset`); after a reopen it is loaded again, so a maintain
/// finds nothing new to clean and leaves the files alone.
#[test]
fn the_cleaner_checkpoint_is_written_in_kafka_format_and_reloaded_after_reopen() {
    let mut env = Env::new();
    let log = env.topic("t", &[]);
    overwrite_segments(&log, env.now(), 4, "a");
    put(&log, env.now(), &[("k1", Some("active"))]);
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    let checkpoint = log.cleaner_checkpoint().unwrap();
    assert_eq!(Some(checkpoint), log.segment_base_offsets().last().copied());
    let root = env.tmp.path().to_path_buf();
    assert_eq!(cleaner_offset_checkpoint(&root), format!("0\n1\nt 0 {checkpoint}\n"));

    drop(log);
    env.reopen();
    let log = env.store.partition("t", 0).unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(checkpoint));
    let dir = env.store.partition_dir("t", 0).unwrap();
    let files_before = common::segment_logs(&dir);
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 0, "{report:?}");
    assert_eq!(common::segment_logs(&dir), files_before);
    assert_eq!(cleaner_offset_checkpoint(&root), format!("0\n1\nt 0 {checkpoint}\n"));
}

// ---------------------------------------------------------------------------------------------
// Keyless records
// ---------------------------------------------------------------------------------------------

/// A compacted topic refuses a record without a key (`Error::InvalidRecord`), alone or among
/// keyed ones in a client batch, and appends nothing.
#[test]
fn a_compacted_topic_refuses_a_record_without_a_key() {
    let env = Env::new();
    let log = env.topic("t", &[]);
    put(&log, env.now(), &[("k", Some("v"))]);
    let err = log.append(&[Record::unkeyed("v")]).unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err:?}");
    let mut b = BatchBuilder::new(0);
    b.append(&Record::new("k", "v").timestamp(env.now())).unwrap();
    b.append(&Record::unkeyed("no key").timestamp(env.now())).unwrap();
    let err = log.append_batch(b.build().unwrap()).unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err:?}");
    assert_eq!(log.log_end_offset(), 1);
}

// ---------------------------------------------------------------------------------------------
// Idempotent producers
// ---------------------------------------------------------------------------------------------

fn producer_batch(pid: i64, epoch: i16, seq: i32, ts: i64, records: &[(&str, &str)]) -> Bytes {
    let mut b = BatchBuilder::new(0).producer(pid, epoch, seq);
    for (k, v) in records {
        b.append(&Record::new(k.to_string(), v.to_string()).timestamp(ts)).unwrap();
    }
    b.build().unwrap()
}

/// Kafka's `RETAIN_EMPTY`: when every record of a producer's batches is superseded, its earlier
/// batches go but its last batch stays as a 61-byte header (same base offset, lastOffsetDelta,
/// producer id/epoch/base sequence and maxTimestamp; count 0, baseTimestamp -1, no horizon), so
/// the producer's sequence state survives; the directory stays valid for Kafka.
#[test]
fn the_last_batch_of_an_idempotent_producer_stays_as_an_empty_61_byte_batch() {
    let env = Env::new();
    let log = env.topic("t", &[]);
    let ts = env.now();
    let first = log.append_batch(producer_batch(7, 3, 0, ts, &[("a", "1"), ("b", "1")])).unwrap();
    let last =
        log.append_batch(producer_batch(7, 3, 2, ts + 1, &[("c", "1"), ("d", "1")])).unwrap();
    put(&log, ts + 2, &[("a", "2"), ("b", "2"), ("c", "2"), ("d", "2")].map(|(k, v)| (k, Some(v))));
    log.roll().unwrap();
    put(&log, ts + 3, &[("e", Some("active"))]);

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    let all = batches(&log);
    assert!(
        all.iter().all(|b| b.base_offset() != first.base_offset),
        "the producer's earlier, fully superseded batch is dropped"
    );
    let kept = all.iter().find(|b| b.base_offset() == last.base_offset).expect("last batch kept");
    assert_eq!(kept.size(), 61);
    assert_eq!(kept.records_count(), 0);
    assert_eq!(kept.last_offset(), last.last_offset);
    assert_eq!((kept.producer_id(), kept.producer_epoch(), kept.base_sequence()), (7, 3, 2));
    assert_eq!(kept.last_sequence(), 3);
    assert_eq!(kept.max_timestamp(), ts + 1);
    assert_eq!(kept.base_timestamp(), -1);
    assert_eq!(kept.delete_horizon_ms(), None);
    assert_eq!(kept.timestamp_type(), TimestampType::CreateTime);
    kept.validate().unwrap();
    assert_eq!(read_all(&log).len(), 5, "a..d latest and the active record");
    env.store.close().unwrap();
    common::assert_kafka_valid(&env.store.partition_dir("t", 0).unwrap(), INDEX_INTERVAL);
}

/// Kafka keeps a producer's last batch only while the producer is in the producer-state map:
/// once `producer.id.expiration.ms` has passed, a cleaning drops its empty batch too, so a
/// compacted topic written by many short-lived producers stays bounded instead of keeping one
/// 61-byte header per producer id ever seen. Live producers keep theirs.
#[test]
fn expired_producers_leave_no_empty_batches_behind() {
    const PRODUCERS: i64 = 20;
    const EXPIRATION_MS: i64 = 60_000;
    let env = Env::with_config(|c| c.producer_id_expiration_ms(EXPIRATION_MS));
    // One segment per cleaning group: a group's last batch stays for the swap's sake.
    let log = env.topic("t", &[("segment.bytes", "65536")]);
    let ts = env.now();
    for pid in 0..PRODUCERS {
        log.append_batch(producer_batch(100 + pid, 0, 0, ts, &[("k", "from a producer")])).unwrap();
    }
    let overwrite = |ts: i64| {
        put(&log, ts, &[("k", Some("plain"))]);
        log.roll().unwrap();
        put(&log, ts, &[("tail", Some("active"))]);
    };
    let empties = |log: &Log| batches(log).iter().filter(|b| b.records_count() == 0).count();
    overwrite(ts);
    env.store.maintain(None).unwrap();
    assert_eq!(empties(&log), PRODUCERS as usize, "live producers keep their last batch");
    assert_eq!(log.producer_count(), PRODUCERS as usize);

    env.clock.advance(EXPIRATION_MS + 1);
    overwrite(env.now());
    let report = env.store.maintain(None).unwrap();
    assert_eq!(log.producer_count(), 0, "every producer expired");
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    let left: Vec<_> =
        batches(&log).iter().filter(|b| b.producer_id() >= 0).map(|b| b.base_offset()).collect();
    assert!(left.is_empty(), "batches of expired producers kept: {left:?}");
    let recs = read_all(&log);
    assert_eq!(last_by_key(&recs).len(), 2, "{recs:?}");
    env.store.close().unwrap();
    common::assert_kafka_valid(&env.store.partition_dir("t", 0).unwrap(), INDEX_INTERVAL);
}

/// Kafka's third case of `isBatchLastRecordOfProducer`: a live producer whose current epoch has
/// no data batch (an abort with a bumped epoch) keeps its marker of that epoch — as an empty
/// 61-byte control batch once the marker's delete horizon has passed — because the marker carries
/// the epoch that fences older producers; once the producer expires, the batch goes.
#[test]
fn a_live_producers_last_marker_stays_until_the_producer_expires() {
    let env = Env::new();
    let log = env.topic("t", &[("segment.bytes", "65536"), ("delete.retention.ms", "0")]);
    let ts = env.now();
    let mut txn = BatchBuilder::new(0).producer(9, 0, 0).transactional(true);
    txn.append(&Record::new("k", "aborted").timestamp(ts)).unwrap();
    log.append_batch(txn.build().unwrap()).unwrap();
    let marker = log.append_txn_marker(9, 1, 0, false).unwrap();
    let pass = |env: &Env| {
        env.clock.advance(1);
        put(&log, env.now(), &[("k", Some("plain"))]);
        log.roll().unwrap();
        put(&log, env.now(), &[("tail", Some("active"))]);
        let report = env.store.maintain(None).unwrap();
        assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    };
    let at_marker = |log: &Log| batches(log).into_iter().find(|b| b.base_offset() == marker);
    pass(&env); // the aborted data goes; the marker stays (its data was seen)
    pass(&env); // the marker is discardable: it gets its delete horizon
    pass(&env); // past the horizon: the live producer's last state stays, emptied
    let kept = at_marker(&log).expect("the live producer's marker is kept");
    assert!(kept.is_control());
    assert_eq!((kept.records_count(), kept.size(), kept.producer_epoch()), (0, 61, 1));
    assert_eq!(log.expire_producers(0), 1);
    pass(&env);
    assert!(at_marker(&log).is_none(), "an expired producer keeps nothing");
    env.store.close().unwrap();
    common::assert_kafka_valid(&env.store.partition_dir("t", 0).unwrap(), INDEX_INTERVAL);
}

// ---------------------------------------------------------------------------------------------
// Readers through swaps
// ---------------------------------------------------------------------------------------------

/// Keys of the reader test: offset `o` holds key `(13 o) mod 37`, so any 37 consecutive offsets
/// hold every key once and the last 37 offsets below the end are the latest of every key.
const READER_KEYS: i64 = 37;

fn reader_key(o: i64) -> String {
    format!("k{}", (o * 13) % READER_KEYS)
}

fn reader_value(o: i64) -> String {
    format!("v{o}-{}", "z".repeat((o % 23) as usize))
}

/// Bytes a reader got, and the copy it made at read time.
type Held = VecDeque<(Bytes, Vec<u8>)>;

fn check_held(held: &Held) {
    for (bytes, copy) in held {
        assert_eq!(bytes.as_ref(), copy.as_slice(), "held bytes changed under a reader");
    }
}

/// One pass of a reader: the whole log; returns its bytes.
fn reader_pass(log: &Log) -> Result<Vec<Bytes>, Error> {
    let fetched = log.read(log.log_start_offset(), usize::MAX)?;
    let end = fetched.log_end_offset();
    let mut prev = -1;
    let mut seen = std::collections::BTreeSet::new();
    for r in fetched.records() {
        let r = r?;
        let o = r.offset();
        assert!(o > prev && o < end, "offset {o} after {prev}, end {end}");
        prev = o;
        assert_eq!(r.key().unwrap().as_ref(), reader_key(o).as_bytes(), "key at {o}");
        assert_eq!(r.value().unwrap().as_ref(), reader_value(o).as_bytes(), "value at {o}");
        seen.insert(o);
    }
    for o in (end - READER_KEYS).max(0)..end {
        assert!(seen.contains(&o), "latest record of {} at {o} missing (end {end})", reader_key(o));
    }
    Ok(fetched.slices().iter().map(|s| s.bytes.clone()).collect())
}

/// Reader threads loop reading the whole log while maintain cleans it again and again with
/// `file.delete.delay.ms` = 0: every record they see is the (key, value) written at its offset,
/// each key's latest record is in every pass, reads never fail, and the bytes they hold stay
/// unchanged after the swap and after the old files are deleted.
#[test]
fn readers_streaming_through_swaps_see_only_written_records_and_keep_their_bytes() {
    let env = Env::new();
    let log = env.topic("t", &[("segment.bytes", "4096"), ("file.delete.delay.ms", "0")]);
    let dir = env.store.partition_dir("t", 0).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let log = log.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut held: Held = VecDeque::new();
                let (mut passes, mut errors) = (0u64, Vec::new());
                while !done.load(Ordering::SeqCst) {
                    match reader_pass(&log) {
                        Ok(slices) => {
                            passes += 1;
                            if passes % 3 == 0 {
                                for b in slices {
                                    let copy = b.to_vec();
                                    held.push_back((b, copy));
                                }
                                while held.len() > 64 {
                                    held.pop_front();
                                }
                            }
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                    check_held(&held);
                }
                (passes, errors, held)
            })
        })
        .collect();

    let ts = env.now();
    let mut cleaned = 0;
    for _round in 0..40 {
        for _ in 0..20 {
            let base = log.log_end_offset();
            let recs: Vec<Record> = (base..base + 8)
                .map(|o| Record::new(reader_key(o), reader_value(o)).timestamp(ts))
                .collect();
            log.append(&recs).unwrap();
        }
        let report = env.store.maintain(None).unwrap();
        assert_eq!(report.cleaner_failures, 0, "{:?}", env.store.cleaner_stats());
        cleaned += report.partitions_cleaned;
    }
    // One more pass removes the last cleaning's `.deleted` files.
    env.store.maintain(None).unwrap();
    done.store(true, Ordering::SeqCst);
    let results: Vec<_> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    for (passes, errors, held) in &results {
        eprintln!("reader: {passes} passes, {} errors, {} held", errors.len(), held.len());
        check_held(held);
        assert!(*passes > 0);
        assert!(
            errors.is_empty(),
            "reads failed during swaps: {:?}",
            &errors[..errors.len().min(5)]
        );
    }
    assert!(cleaned >= 30, "cleaned only {cleaned} times");
    assert!(common::swap_leftovers(&dir).is_empty(), "{:?}", common::swap_leftovers(&dir));
    reader_pass(&log).unwrap();
    env.store.close().unwrap();
    common::assert_kafka_valid(&dir, INDEX_INTERVAL);
}

/// Four overwritten segments and an active one, read whole while a hook runs a cleaning (and
/// removes its `.deleted` files at once, as `file.delete.delay.ms` = 0 does) when the reading
/// thread reaches fault point `point`; asserts the read returned exactly the records it would
/// have returned before the swap.
fn read_through_a_swap_at(env: &Env, point: &str) {
    let log = env.topic("t", &[("file.delete.delay.ms", "0")]);
    let dir = env.store.partition_dir("t", 0).unwrap();
    overwrite_segments(&log, env.now(), 4, "a");
    put(&log, env.now(), &[("tail", Some("active"))]);
    let before = read_all(&log);
    assert_eq!(before.len(), 21);
    let old_bases = log.segment_base_offsets();

    let (store, inner, clock) = (env.store.clone(), log.clone(), env.clock.clone());
    let hook = fault::on_point(point, move || {
        let report = store.maintain(None).unwrap();
        assert_eq!(report.partitions_cleaned, 1, "{report:?}");
        assert!(inner.delete_expired_files(clock.now_ms()).unwrap() > 0);
        // Reading the new list maps its segments (with a budget of one open segment, every
        // segment the budget counts is evicted in turn).
        assert_eq!(last_by_key(&read_all(&inner)).len(), 6);
    });
    let fetched = log.read(log.log_start_offset(), usize::MAX).unwrap();
    assert!(hook.ran(), "the swap ran inside the read");
    drop(hook);
    assert_ne!(log.segment_base_offsets(), old_bases, "the segments were replaced");
    assert!(common::swap_leftovers(&dir).is_empty(), "{:?}", common::swap_leftovers(&dir));

    let got: Vec<(i64, Option<Bytes>)> =
        fetched.records().map(|r| r.unwrap()).map(|r| (r.offset(), r.value().cloned())).collect();
    let want: Vec<(i64, Option<Bytes>)> =
        before.iter().map(|r| (r.offset, r.value.clone())).collect();
    assert_eq!(got, want, "the reader's snapshot reads the replaced segments whole");
}

/// A reader that took the segment list before a swap reads the replaced segments' bytes after
/// the swap, after the budget (`log.open.segments.max` = 1) evicted every other segment, and after
/// their `.deleted` files are gone (`file.delete.delay.ms` = 0): every record it would have read
/// before, and no error. The swap runs between the reader's snapshot and its first segment read.
#[test]
fn a_reader_listing_segments_before_a_swap_reads_them_after_eviction_and_deletion() {
    let env = Env::with_config(|c| c.log_open_segments_max(1));
    read_through_a_swap_at(&env, "log::read::segment");
    assert!(env.store.resource_stats().evictions > 0, "{:?}", env.store.resource_stats());
}

/// A reader whose open of an unmapped segment races the swap that retires it (the name it read
/// is renamed `.deleted` and removed before its open) reads the map the retired segment keeps,
/// instead of failing on the vanished file.
#[test]
fn a_reader_whose_reopen_loses_the_file_to_a_swap_reads_the_retired_segments_map() {
    let env = Env::with_config(|c| c.log_open_segments_max(1));
    read_through_a_swap_at(&env, "segment::reopen");
}

// ---------------------------------------------------------------------------------------------
// compact,delete
// ---------------------------------------------------------------------------------------------

/// Under `cleanup.policy=compact,delete`, segments whose newest record is older than
/// `retention.ms` are deleted by maintain (log start offset moves past them) and the rest is
/// compacted.
#[test]
fn compact_delete_topics_still_apply_time_retention() {
    let env = Env::new();
    let log = env.topic("t", &[("cleanup.policy", "compact,delete"), ("retention.ms", "60000")]);
    let now = env.now();
    overwrite_segments(&log, now - 120_000, 3, "old");
    let fresh = log.log_end_offset();
    overwrite_segments(&log, now, 3, "fresh");
    put(&log, now, &[("k9", Some("active"))]);

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, 3, "{report:?}");
    assert_eq!(log.log_start_offset(), fresh);
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    let recs = read_all(&log);
    assert!(recs.iter().all(|r| r.offset >= fresh));
    let active = *log.segment_base_offsets().last().unwrap();
    assert_unique_below(&recs, active);
    assert_eq!(recs.len(), 6, "k0..k4 once and the active record");

    // Time keeps running: the compacted, now old, data goes too.
    env.clock.advance(120_000);
    let report = env.store.maintain(None).unwrap();
    assert!(report.segments_deleted >= 1, "{report:?}");
    assert!(read_all(&log).iter().all(|r| r.offset >= active));
}

// ---------------------------------------------------------------------------------------------
// Statistics and failures
// ---------------------------------------------------------------------------------------------

/// `cleaner_stats()` reports the dirty ratio seen before the cleaning (segment sizes: dirty /
/// (clean + dirty)), the clean time, bytes read and written, and the records removed, which match
/// the maintain report and what reading the log shows.
#[test]
fn cleaner_stats_report_ratio_time_bytes_and_records_removed() {
    let env = Env::new();
    let log = env.topic("t", &[]);
    overwrite_segments(&log, env.now(), 3, "a");
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    let first = stats_of(&env.store, "t");
    assert_eq!(first.dirty_ratio, 1.0, "nothing was clean yet");
    assert_eq!(first.cleanings, 1);

    env.clock.advance(1_000);
    overwrite_segments(&log, env.now(), 2, "b");
    put(&log, env.now(), &[("k0", Some("active"))]);
    let checkpoint = log.cleaner_checkpoint().unwrap();
    let dir = env.store.partition_dir("t", 0).unwrap();
    let sizes: Vec<(i64, u64)> = common::segment_logs(&dir)
        .into_iter()
        .map(|(p, b)| {
            let stem = p.file_stem().unwrap().to_str().unwrap().to_owned();
            (stem.parse().unwrap(), b.len() as u64)
        })
        .collect();
    let active = sizes.last().unwrap().0;
    let clean: u64 = sizes.iter().filter(|(b, _)| *b < checkpoint).map(|s| s.1).sum();
    let dirty: u64 =
        sizes.iter().filter(|(b, _)| *b >= checkpoint && *b < active).map(|s| s.1).sum();
    let before = read_all(&log).len() as u64;

    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1);
    let after = read_all(&log).len() as u64;
    let s = stats_of(&env.store, "t");
    let expected = dirty as f64 / (clean + dirty) as f64;
    assert!((s.dirty_ratio - expected).abs() < 1e-9, "{} vs {expected}", s.dirty_ratio);
    assert_eq!(s.last_clean_ms, Some(env.now()));
    assert_eq!(s.cleanings, 2);
    assert_eq!(s.records_removed - first.records_removed, before - after);
    assert_eq!(report.records_removed, before - after);
    assert_eq!(s.bytes_read - first.bytes_read, report.bytes_read);
    assert_eq!(s.bytes_written - first.bytes_written, report.bytes_written);
    assert!(report.bytes_read > report.bytes_written && report.bytes_written > 0, "{report:?}");
    assert_eq!((s.failures, s.last_error.clone()), (0, None));
}

/// A cleaning that fails before the swap (the first write to the `.cleaned` segment fails) is
/// counted in `failures` / `last_error`, leaves no `.cleaned` files and does not poison the log;
/// the next maintain on the same store cleans the partition (gotcha G4: retried, not abandoned).
#[test]
fn a_failed_cleaning_is_counted_and_retried_on_the_next_maintain() {
    let env = Env::new();
    let log = env.topic("t", &[]);
    overwrite_segments(&log, env.now(), 3, "a");
    put(&log, env.now(), &[("k0", Some("active"))]);
    let before = read_all(&log);
    let dir = env.store.partition_dir("t", 0).unwrap();
    let report = {
        let _fault = fault::arm(FaultPlan::new().fail_nth(Op::Write, 1));
        env.store.maintain(None).unwrap()
    };
    assert_eq!((report.partitions_cleaned, report.cleaner_failures), (0, 1), "{report:?}");
    let s = stats_of(&env.store, "t");
    assert_eq!(s.failures, 1);
    assert!(s.last_error.as_deref().unwrap_or("").contains("injected fault"), "{s:?}");
    assert_eq!(log.poisoned(), None);
    assert!(common::swap_leftovers(&dir).is_empty(), "{:?}", common::swap_leftovers(&dir));
    assert_eq!(read_all(&log), before);

    let report = env.store.maintain(None).unwrap();
    assert_eq!((report.partitions_cleaned, report.cleaner_failures), (1, 0), "{report:?}");
    assert_eq!(stats_of(&env.store, "t").cleanings, 1);
    assert_unique_below(&read_all(&log), *log.segment_base_offsets().last().unwrap());
}

/// A failure inside the swap (injected at `swap::after_swap_rename`) is counted too. It poisons
/// the log by design (the swap protocol stopped midway on "disk" state it cannot trust), so no
/// later maintain of that store can clean it; after a reopen — which finishes the interrupted
/// swap — the next maintain cleans whatever is left and the log holds each key's latest value.
#[test]
fn a_cleaning_failed_inside_the_swap_is_counted_and_cleaned_after_reopen() {
    let env = Env::new();
    let log = env.topic("t", &[]);
    overwrite_segments(&log, env.now(), 3, "a");
    env.clock.advance(1);
    overwrite_segments(&log, env.now(), 3, "b");
    put(&log, env.now(), &[("k0", Some("active"))]);
    let latest = last_by_key(&read_all(&log));
    let report = {
        let _fault = fault::arm(FaultPlan::new().fail_point("swap::after_swap_rename"));
        env.store.maintain(None).unwrap()
    };
    assert_eq!(report.cleaner_failures, 1, "{report:?}");
    let s = stats_of(&env.store, "t");
    assert_eq!(s.failures, 1);
    assert!(s.last_error.as_deref().unwrap_or("").contains("swap::after_swap_rename"), "{s:?}");
    let poisoned = log.poisoned();
    eprintln!("after a failure inside the swap: poisoned = {poisoned:?}");
    assert!(poisoned.is_some());
    match env.store.maintain(None) {
        Ok(r) => eprintln!("maintain on the poisoned store: {r:?}"),
        Err(e) => eprintln!("maintain on the poisoned store fails: {e}"),
    }
    assert_eq!(last_by_key(&read_all(&log)), latest, "readers still see every latest value");

    // Drop the store like a crash (a clean close is refused on a poisoned log) and reopen.
    drop(log);
    let Env { tmp: _tmp, config, clock, store } = env;
    drop(store);
    let store = Store::open_with_clock(config, clock).unwrap();
    let log = store.partition("t", 0).unwrap();
    let dir = store.partition_dir("t", 0).unwrap();
    assert!(common::swap_leftovers(&dir).is_empty(), "{:?}", common::swap_leftovers(&dir));
    assert_eq!(last_by_key(&read_all(&log)), latest);
    let report = store.maintain(None).unwrap();
    eprintln!("first maintain after reopen: {report:?}");
    assert_eq!(report.cleaner_failures, 0);
    let active = *log.segment_base_offsets().last().unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(active));
    let recs = read_all(&log);
    assert_unique_below(&recs, active);
    assert_eq!(last_by_key(&recs), latest);
    store.close().unwrap();
    common::assert_kafka_valid(&dir, INDEX_INTERVAL);
}

/// A partition poisoned by a failed swap must not stop maintain from doing its work on the
/// others: retention, cleaning and the checkpoints of every other partition go on.
#[test]
fn a_poisoned_partition_does_not_stop_maintain_for_the_others() {
    let env = Env::new();
    let a = env.topic("a", &[]);
    let b = env.topic("b", &[]);
    overwrite_segments(&a, env.now(), 3, "a");
    put(&a, env.now(), &[("k0", Some("active"))]);
    let report = {
        let _fault = fault::arm(FaultPlan::new().fail_point("swap::after_swap_rename"));
        env.store.maintain(None).unwrap()
    };
    assert_eq!(report.cleaner_failures, 1, "{report:?}");
    assert!(a.poisoned().is_some());

    overwrite_segments(&b, env.now(), 3, "b");
    put(&b, env.now(), &[("k0", Some("active"))]);
    let result = env.store.maintain(None);
    let report = result.unwrap_or_else(|e| panic!("maintain fails for every partition: {e}"));
    assert_eq!(report.partitions_cleaned, 1, "b is cleaned: {report:?}");
    assert_eq!(b.cleaner_checkpoint(), b.segment_base_offsets().last().copied());
}

/// Two compacted topics: `a` (dirty ratio 1.0) whose first batch is corrupt — its records count
/// says one more record than it holds, so every cleaning of `a` fails — and `b` (cleaned once,
/// then dirty again, ratio < 1.0). Closed cleanly, so the corruption is not noticed at open.
/// Returns the base of `b`'s active segment: where its cleaner checkpoint ends up once cleaned.
fn one_partition_fails_every_cleaning(env: &Env) -> i64 {
    let a = env.topic("a", &[]);
    let b = env.topic("b", &[]);
    overwrite_segments(&b, env.now(), 3, "b");
    put(&b, env.now(), &[("k0", Some("active"))]);
    assert_eq!(env.store.maintain(None).unwrap().partitions_cleaned, 1);
    overwrite_segments(&b, env.now(), 2, "b2");
    put(&b, env.now(), &[("k0", Some("active2"))]);
    overwrite_segments(&a, env.now(), 3, "a");
    put(&a, env.now(), &[("k0", Some("active"))]);
    let b_active = *b.segment_base_offsets().last().unwrap();
    let a_dir = env.store.partition_dir("a", 0).unwrap();
    drop((a, b));
    env.store.close().unwrap();
    let first = a_dir.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&first).unwrap();
    let count = i32::from_be_bytes(bytes[57..61].try_into().unwrap());
    bytes[57..61].copy_from_slice(&(count + 1).to_be_bytes());
    std::fs::write(&first, bytes).unwrap();
    b_active
}

/// With one partition failing every cleaning (corrupt data), `maintain` still cleans the others
/// in the same pass and counts the failure (G4: the failure is isolated to its partition).
#[test]
fn maintain_cleans_the_other_partitions_when_one_fails_every_time() {
    let mut env = Env::new();
    let b_active = one_partition_fails_every_cleaning(&env);
    env.store = Store::open_with_clock(env.config.clone(), env.clock.clone()).unwrap();
    let b = env.store.partition("b", 0).unwrap();
    let report = env.store.maintain(None).unwrap();
    assert_eq!((report.partitions_cleaned, report.cleaner_failures), (1, 1), "{report:?}");
    assert_eq!(b.cleaner_checkpoint(), Some(b_active));
    let a = stats_of(&env.store, "a");
    assert_eq!(a.failures, 1);
    eprintln!("a's cleaning fails with: {:?}", a.last_error);
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.cleaner_failures, 1, "retried on the next pass: {report:?}");
}

/// The same with the store's own cleaner thread (`background_threads(true)`, 20 ms backoff):
/// the partition that always fails stays the dirtiest, and the thread must still get to `b`.
#[test]
fn a_partition_failing_every_cleaning_does_not_starve_the_others_in_the_cleaner_thread() {
    let mut env = Env::new();
    let b_active = one_partition_fails_every_cleaning(&env);
    let mut config = env.config.clone().background_threads(true);
    config.log_cleaner_backoff_ms = 20;
    env.store = Store::open_with_clock(config, env.clock.clone()).unwrap();
    let b = env.store.partition("b", 0).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while b.cleaner_checkpoint() != Some(b_active) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = env.store.cleaner_stats();
    env.store.close().unwrap();
    assert_eq!(b.cleaner_checkpoint(), Some(b_active), "b never cleaned; stats: {stats:?}");
}
