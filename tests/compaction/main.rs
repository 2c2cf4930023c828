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

#[path = "../common/mod.rs"]
mod common;
mod model;
mod producers;
mod readers;
mod time_lookups;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// A `cleaner-offset-checkpoint` entry past the log end (a checkpoint file newer than the
/// partition's data) is reset to the log start at open, as Kafka's `cleanableOffsets` resets it
/// (`forceUpdateCheckpoint`): it must not come back into range once the log grows past it, where
/// the records written below it since would be taken for cleaned ones. There a key's value and
/// its tombstone both stayed (the map held only keys from the stale offset on), and once the
/// tombstone's horizon passed it went and the deleted value was served again.
#[test]
fn a_cleaner_checkpoint_past_the_log_end_is_reset_and_a_deleted_key_stays_deleted() {
    let mut env = Env::new();
    let log = env.topic("t", &[("delete.retention.ms", "1000")]);
    drop(log);
    env.store.close().unwrap();
    let root = env.tmp.path().to_path_buf();
    std::fs::write(root.join("cleaner-offset-checkpoint"), "0\n1\nt 0 50\n").unwrap();
    env.store = Store::open_with_clock(env.config.clone(), env.clock.clone()).unwrap();
    let log = env.store.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    assert!(
        log.cleaner_checkpoint().is_none_or(|c| c == 0),
        "checkpoint past the log end kept: {:?}",
        log.cleaner_checkpoint()
    );

    let t0 = env.now();
    put(&log, t0, &[("a", Some("deleted-value"))]);
    log.roll().unwrap();
    put(&log, t0, &[("a", None)]);
    log.roll().unwrap();
    for i in 0..60 {
        put(&log, t0, &[(&format!("f{i}"), Some("filler-value-filler-value"))]);
    }
    log.roll().unwrap();
    put(&log, t0, &[("z", Some("active"))]);
    assert!(log.log_end_offset() > 50);

    let a_values = |log: &Log| -> Vec<(i64, Option<Bytes>)> {
        read_all(log)
            .into_iter()
            .filter(|r| r.key.as_deref() == Some(&b"a"[..]))
            .map(|r| (r.offset, r.value))
            .collect()
    };
    assert!(env.store.maintain(None).unwrap().partitions_cleaned >= 1);
    assert_eq!(a_values(&log), vec![(1, None)], "the deleted value outlived its tombstone");

    env.clock.advance(1_000);
    dirty_segment(&log, env.now(), "later");
    env.store.maintain(None).unwrap();
    assert_eq!(a_values(&log), vec![], "the deleted key came back once its tombstone went");
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
    // Starved, `b` is never cleaned; the deadline only bounds a failing run, and is generous
    // because a loaded machine can leave the cleaner thread unscheduled for seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while b.cleaner_checkpoint() != Some(b_active) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = env.store.cleaner_stats();
    env.store.close().unwrap();
    assert_eq!(b.cleaner_checkpoint(), Some(b_active), "b never cleaned; stats: {stats:?}");
}

/// A batch whose header claims `i32::MAX` records (CRC recomputed: a crafted
/// file) in a segment the cleaner recopies fails that cleaning (counted,
/// retried later) and the store serves on; the cleaner never sizes an allocation from the header, which aborted the
/// whole process (and again at every restart, the cleaner picking the same
/// segment).
#[test]
fn a_crafted_record_count_fails_the_cleaning_not_the_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let open = || Store::open(StoreConfig::new([dir]).background_threads(false)).unwrap();
    {
        let store = open();
        let mut o = BTreeMap::new();
        for (k, v) in [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("segment.index.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ] {
            o.insert(k.to_owned(), v.to_owned());
        }
        store.create_topic("t", 1, &o).unwrap();
        let log = store.partition("t", 0).unwrap();
        for i in 0..60 {
            log.append(&[Record::new(format!("k{}", i % 5), format!("v{i}"))]).unwrap();
        }
        log.roll().unwrap();
        store.maintain(None).unwrap();
        store.close().unwrap();
    }
    let seg = dir.join("t-0").join("00000000000000000000.log");
    let mut b = std::fs::read(&seg).unwrap();
    b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let len = 12 + i32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
    let crc = crc32c::crc32c(&b[21..len]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&seg, &b).unwrap();
    let store = open();
    let log = store.partition("t", 0).unwrap();
    for i in 0..60 {
        log.append(&[Record::new(format!("k{}", i % 5), format!("w{i}"))]).unwrap();
    }
    log.roll().unwrap();
    let report = store.maintain(None).unwrap();
    assert_eq!((report.cleaner_failures, report.partitions_cleaned), (1, 0), "{report:?}");
    // The store serves on: the records appended after the damage read back.
    assert_eq!(log.read(log.log_end_offset() - 1, 1 << 16).unwrap().records().count(), 1);
}
