//! Lookups on a multi-segment log: offset -> batch through the sparse offset
//! index, and Kafka's ListOffsets (`offset_for_time`: earliest, latest,
//! max-timestamp and by timestamp) against brute force over what was
//! appended, including after reopening (lazy and rebuilt indexes) and with a
//! log start offset inside the log.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use strata::LogConfig;
use strata::{BatchBuilder, Compression, Record};
use strata::{Clock, ManualClock};
use strata::{LoadOptions, Log, OffsetSpec, TimestampedOffset};

const NOW: i64 = 1_700_000_000_000;

fn open_with(dir: &Path, cfg: LogConfig, options: LoadOptions) -> Log {
    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
    Log::open(dir, "t", 0, cfg, clock, options).unwrap().0
}

fn batch(timestamps: &[i64], codec: Compression, value_len: usize) -> Bytes {
    // Without the codec's feature (`--no-default-features`) the lookups run uncompressed.
    let codec = if codec.is_available() { codec } else { Compression::None };
    let mut b = BatchBuilder::new(0).compression(codec, None);
    for (i, &ts) in timestamps.iter().enumerate() {
        b.append(&Record::new(format!("key-{i}"), vec![b'x'; value_len]).timestamp(ts)).unwrap();
    }
    b.build().unwrap()
}

/// Appends one batch per entry of `batches` and returns every record as (offset, timestamp).
fn append_all(log: &Log, batches: &[Vec<i64>], compress_every: usize) -> Vec<(i64, i64)> {
    let mut records = Vec::new();
    for (i, ts) in batches.iter().enumerate() {
        let codec = if compress_every > 0 && i % compress_every == compress_every - 1 {
            Compression::Lz4
        } else {
            Compression::None
        };
        let info = log.append_batch(batch(ts, codec, 20)).unwrap();
        records.extend(ts.iter().enumerate().map(|(k, &t)| (info.base_offset + k as i64, t)));
    }
    records
}

/// Kafka's answer by brute force over the records of `log`'s segments: the first segment (in
/// offset order) holding a record whose timestamp is `>= target` answers with its first record
/// at or above `log_start` whose timestamp is `>= target`, or with none (records below the log
/// start are still in their segment and count for its largest timestamp, as in Kafka).
fn brute_force(
    log: &Log,
    records: &[(i64, i64)],
    log_start: i64,
    target: i64,
) -> Option<TimestampedOffset> {
    let bases = log.segment_base_offsets();
    let segment_of = |o: i64| bases.iter().rposition(|&b| b <= o);
    let first = records.iter().find(|&&(_, t)| t >= target)?;
    let seg = segment_of(first.0);
    records
        .iter()
        .filter(|&&(o, _)| segment_of(o) == seg)
        .find(|&&(o, t)| o >= log_start && t >= target)
        .map(|&(offset, timestamp)| TimestampedOffset { offset, timestamp: Some(timestamp) })
}

/// The first record carrying the largest timestamp.
fn brute_force_max(records: &[(i64, i64)]) -> Option<TimestampedOffset> {
    let max = records.iter().map(|&(_, t)| t).max()?;
    records
        .iter()
        .find(|&&(_, t)| t == max)
        .map(|&(offset, timestamp)| TimestampedOffset { offset, timestamp: Some(timestamp) })
}

/// Every interesting target: each timestamp, its neighbours, and values below and above all.
fn targets(records: &[(i64, i64)]) -> Vec<i64> {
    let mut t: Vec<i64> = records.iter().flat_map(|&(_, t)| [t - 1, t, t + 1]).collect();
    t.extend([0, 1, i64::MAX]);
    if let (Some(min), Some(max)) =
        (records.iter().map(|r| r.1).min(), records.iter().map(|r| r.1).max())
    {
        t.extend([min - 1_000, max + 1_000]);
    }
    t.sort_unstable();
    t.dedup();
    t
}

fn check_time_lookups(log: &Log, records: &[(i64, i64)], log_start: i64) {
    for target in targets(records) {
        let got = log.offset_for_time(OffsetSpec::Timestamp(target)).unwrap();
        assert_eq!(got, brute_force(log, records, log_start, target), "target {target}");
    }
}

/// 150 batches of 1-6 records with non-monotonic timestamps over a 10 s window.
fn random_batches(seed: u64) -> Vec<Vec<i64>> {
    let mut rng = common::Rng(seed | 1);
    (0..150)
        .map(|_| {
            let n = 1 + rng.below(6);
            (0..n).map(|_| NOW + rng.below(10_000) as i64).collect()
        })
        .collect()
}

fn multi_segment_config() -> LogConfig {
    LogConfig::default().segment_bytes(2_000).index_interval_bytes(64)
}

// ---------------------------------------------------------------------------------------------
// Offsets
// ---------------------------------------------------------------------------------------------

fn check_offset_lookups(log: &Log, records: &[(i64, i64)]) {
    for &(offset, ts) in records {
        let f = log.read(offset, 1).unwrap();
        let batches: Vec<_> = f.batches().collect();
        assert_eq!(batches.len(), 1, "offset {offset}");
        assert!(batches[0].base_offset() <= offset && offset <= batches[0].last_offset());
        let first = f.records().next().unwrap().unwrap();
        assert_eq!((first.offset(), first.timestamp()), (offset, ts));
    }
}

#[test]
fn offset_lookups_find_the_batch_holding_every_offset_of_a_multi_segment_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with(dir.path(), multi_segment_config(), LoadOptions::default());
    let records = append_all(&log, &random_batches(7), 4);
    assert!(log.segment_count() > 5);
    check_offset_lookups(&log, &records);
    log.close().unwrap();
    drop(log);
    common::assert_kafka_accepts(dir.path(), 64);

    // Lazily loaded indexes after a clean shutdown.
    let clean = LoadOptions::clean();
    let log = open_with(dir.path(), multi_segment_config(), clean);
    check_offset_lookups(&log, &records);
    drop(log);

    // Indexes rebuilt by recovery, and missing index files.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "index")
            && path.to_str().unwrap().contains("000000")
        {
            std::fs::remove_file(path).unwrap();
            break;
        }
    }
    let log = open_with(dir.path(), multi_segment_config(), LoadOptions::default());
    check_offset_lookups(&log, &records);
    log.close().unwrap();
    common::assert_kafka_valid(dir.path(), 64);
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

#[test]
fn offset_for_time_agrees_with_brute_force_over_non_monotonic_timestamps() {
    for seed in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let log = open_with(dir.path(), multi_segment_config(), LoadOptions::default());
        let records = append_all(&log, &random_batches(seed), 3);
        assert!(log.segment_count() > 5);
        check_time_lookups(&log, &records, 0);
        let leo = log.log_end_offset();
        log.close().unwrap();
        drop(log);
        common::assert_kafka_accepts(dir.path(), 64);

        // Reopened (time index from disk), with the log start offset inside a batch in the
        // middle of the log: records below it never count.
        for log_start in [1, leo / 3, leo / 2 + 1, leo - 1, leo] {
            let options =
                LoadOptions::clean().with_recovery_point(leo).with_log_start_offset(log_start);
            let log = open_with(dir.path(), multi_segment_config(), options);
            assert_eq!(log.log_start_offset(), log_start);
            check_time_lookups(&log, &records, log_start);
        }
    }
}

/// Kafka's ListOffsets by timestamp answers from the first segment whose largest timestamp
/// reaches the target (`UnifiedLog.fetchOffsetByTimestamp`, spec §7.2): when that segment holds
/// no qualifying record, the answer is none, even where a later segment holds one. Here the
/// first segment's only record at or past the target lies below the log start. (A broker
/// answered none on strata's files the same way: `broker_to_strata`'s `strata_to_broker`, a
/// cleaned segment whose largest timestamp is an emptied batch's.)
#[test]
fn a_time_lookup_answers_from_the_first_segment_whose_largest_timestamp_reaches_it_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with(dir.path(), LogConfig::default(), LoadOptions::default());
    log.append_batch(batch(&[NOW, NOW + 5_000, NOW + 1, NOW + 2], Compression::None, 10)).unwrap();
    log.roll().unwrap();
    log.append_batch(batch(&[NOW + 6_000], Compression::None, 10)).unwrap();
    log.delete_records(2).unwrap();
    let at = |log: &Log, ts| log.offset_for_time(OffsetSpec::Timestamp(ts)).unwrap();
    let found = |offset, ts| Some(TimestampedOffset { offset, timestamp: Some(ts) });
    for reopened in [false, true] {
        let log = if reopened {
            log.close().unwrap();
            open_with(
                dir.path(),
                LogConfig::default(),
                LoadOptions::default().with_log_start_offset(2),
            )
        } else {
            log.clone()
        };
        assert_eq!(log.log_start_offset(), 2);
        // Segment 0's largest timestamp (NOW + 5 s, offset 1, below the log start) reaches it.
        assert_eq!(at(&log, NOW + 4_000), None, "reopened: {reopened}");
        // Below every timestamp of segment 0 at or above the log start: offset 2.
        assert_eq!(at(&log, NOW + 1), found(2, NOW + 1));
        // Past segment 0's largest: segment 1 answers.
        assert_eq!(at(&log, NOW + 5_001), found(4, NOW + 6_000));
    }
}

#[test]
fn earliest_latest_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with(dir.path(), multi_segment_config(), LoadOptions::default());
    let none = |log: &Log, spec| log.offset_for_time(spec).unwrap();
    // An empty log.
    assert_eq!(
        none(&log, OffsetSpec::Earliest),
        Some(TimestampedOffset { offset: 0, timestamp: None })
    );
    assert_eq!(
        none(&log, OffsetSpec::Latest),
        Some(TimestampedOffset { offset: 0, timestamp: None })
    );
    assert_eq!(none(&log, OffsetSpec::MaxTimestamp), None);
    assert_eq!(none(&log, OffsetSpec::Timestamp(0)), None);

    // The maximum first appears as the second record of a batch in the middle of the log, and
    // again later in the same batch, in a later batch and in a later segment.
    let max = NOW + 50_000;
    let mut batches = random_batches(11);
    batches[40] = vec![NOW, max, NOW + 1, max];
    batches[41] = vec![max];
    batches[120] = vec![max, NOW];
    let records = append_all(&log, &batches, 5);
    let expected = brute_force_max(&records).unwrap();
    assert_eq!(expected.timestamp, Some(max));
    let first_max = records.iter().position(|r| r.1 == max).unwrap();
    assert_eq!(records[first_max - 1].1, NOW, "second record of batch 40");

    let check = |log: &Log, log_start: i64| {
        let leo = log.log_end_offset();
        assert_eq!(
            log.offset_for_time(OffsetSpec::Earliest).unwrap(),
            Some(TimestampedOffset { offset: log_start, timestamp: None })
        );
        assert_eq!(
            log.offset_for_time(OffsetSpec::Latest).unwrap(),
            Some(TimestampedOffset { offset: leo, timestamp: None })
        );
        assert_eq!(log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap(), Some(expected));
        assert_eq!(log.offset_for_time(OffsetSpec::Timestamp(max)).unwrap(), Some(expected));
        assert_eq!(log.offset_for_time(OffsetSpec::Timestamp(max + 1)).unwrap(), None);
    };
    check(&log, 0);
    let leo = log.log_end_offset();
    // A later, equal maximum in the active segment does not change the answer.
    log.append_batch(batch(&[max], Compression::None, 5)).unwrap();
    check(&log, 0);
    log.close().unwrap();
    drop(log);
    let options = LoadOptions::clean().with_recovery_point(leo + 1).with_log_start_offset(3);
    check(&open_with(dir.path(), multi_segment_config(), options), 3);
    // Rebuilt by recovery.
    let options = LoadOptions::default().with_log_start_offset(3);
    check(&open_with(dir.path(), multi_segment_config(), options), 3);
}

#[test]
fn max_timestamp_of_a_log_append_time_topic_is_the_first_record_of_the_latest_batch() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let cfg = multi_segment_config().message_timestamp_type(strata::TimestampType::LogAppendTime);
    let log = Log::open(dir.path(), "t", 0, cfg, clock.clone(), LoadOptions::default()).unwrap().0;
    let mut last_base = 0;
    for i in 0..60 {
        clock.advance(10);
        let info = log.append_batch(batch(&[1, 2, 3][..1 + i % 3], Compression::None, 20)).unwrap();
        last_base = info.base_offset;
    }
    let now = clock.now_ms();
    assert_eq!(
        log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap(),
        Some(TimestampedOffset { offset: last_base, timestamp: Some(now) })
    );
    // Every record of a batch reads as its append time.
    let t = NOW + 10 * 30;
    let hit = log.offset_for_time(OffsetSpec::Timestamp(t)).unwrap().unwrap();
    assert_eq!(hit.timestamp, Some(t));
    let f = log.read(hit.offset, 1).unwrap();
    assert_eq!(f.batches().next().unwrap().base_offset(), hit.offset);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 64);
}

// ---------------------------------------------------------------------------------------------
// Property: offset_for_time == brute force
// ---------------------------------------------------------------------------------------------

/// A log closed cleanly with two segments: records a0..a4 at offsets 0..=4 stamped
/// `a_timestamp(i)`, rolled, then b0..b4 at 5..=9 stamped `NOW - 500`; returns the log end.
fn two_closed_segments(dir: &Path, cfg: &LogConfig, a_timestamp: impl Fn(i64) -> i64) -> i64 {
    let log = open_with(dir, cfg.clone(), LoadOptions::default());
    for i in 0..5 {
        log.append(&[Record::new(format!("a{i}"), "x").timestamp(a_timestamp(i))]).unwrap();
    }
    log.roll().unwrap();
    for i in 0..5 {
        log.append(&[Record::new(format!("b{i}"), "x").timestamp(NOW - 500)]).unwrap();
    }
    let leo = log.log_end_offset();
    log.close().unwrap();
    leo
}

/// A `.timeindex` whose last entry names a timestamp the batch at its offset does not
/// carry (a stale or foreign file: here ten days old for records a second old) is rebuilt
/// at a clean open, not trusted as the segment's largest timestamp: taken as it was, time
/// retention deleted the segment and its records, and a time lookup skipped them.
#[test]
fn a_timeindex_whose_last_timestamp_its_batch_does_not_carry_is_rebuilt_at_a_clean_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let leo = two_closed_segments(dir.path(), &cfg, |_| NOW - 1_000);
    // Segment 0's time index: its one entry (the roll's) with a timestamp ten days old.
    let path = dir.path().join("00000000000000000000.timeindex");
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 12, "one entry");
    bytes[..8].copy_from_slice(&(NOW - 10 * 86_400_000).to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let log = open_with(dir.path(), cfg, LoadOptions::clean().with_recovery_point(leo));
    let want = TimestampedOffset { offset: 0, timestamp: Some(NOW - 1_000) };
    assert_eq!(log.offset_for_time(OffsetSpec::Timestamp(NOW - 1_000)).unwrap(), Some(want));
    let deleted = log.delete_old_segments().unwrap();
    assert_eq!(deleted.segments_deleted, 0, "retention.ms is 7 days, the records a second old");
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.read_record(0, |r| r.timestamp()).unwrap(), Some(NOW - 1_000));
    let rebuilt = std::fs::read(&path).unwrap();
    assert_eq!(
        rebuilt.get(..8),
        Some(&(NOW - 1_000).to_be_bytes()[..]),
        "rebuilt from the batches"
    );
}

/// A sealed segment's `.timeindex` whose last entry names an offset past the batches of its
/// `.log` (a stale file, of a `.log` since cut short) is rebuilt at a clean open: its timestamp
/// is no record's, and taken as the segment's largest it sent a time lookup into a segment
/// with no qualifying record, which answered none where the next segment holds one.
#[test]
fn a_timeindex_naming_an_offset_past_its_logs_batches_is_rebuilt_at_a_clean_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let leo = two_closed_segments(dir.path(), &cfg, |i| NOW - 5_000 + i * 1_000);
    // Segment 0's .log cut to its first three batches (offsets 0..=2); its time index keeps
    // the roll's entry (NOW - 1000 at offset 4).
    let path = dir.path().join("00000000000000000000.log");
    let bytes = std::fs::read(&path).unwrap();
    let mut at = 0;
    for _ in 0..3 {
        let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        at += 12 + usize::try_from(len).unwrap();
    }
    std::fs::write(&path, &bytes[..at]).unwrap();

    let log = open_with(dir.path(), cfg, LoadOptions::clean().with_recovery_point(leo));
    let want = TimestampedOffset { offset: 5, timestamp: Some(NOW - 500) };
    assert_eq!(log.offset_for_time(OffsetSpec::Timestamp(NOW - 2_000)).unwrap(), Some(want));
    let want = TimestampedOffset { offset: 2, timestamp: Some(NOW - 3_000) };
    assert_eq!(log.offset_for_time(OffsetSpec::Timestamp(NOW - 3_000)).unwrap(), Some(want));
}

fn batches_strategy() -> impl Strategy<Value = Vec<Vec<i64>>> {
    // A narrow timestamp range makes ties and out-of-order records common.
    prop::collection::vec(prop::collection::vec(1_000i64..1_100, 1..5), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn offset_for_time_matches_brute_force(
        batches in batches_strategy(),
        segment_bytes in 250u64..1_500,
        interval in 0u64..400,
        compress_every in 0usize..4,
        start_permille in 0i64..1_000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig::default().segment_bytes(segment_bytes).index_interval_bytes(interval);
        let log = open_with(dir.path(), cfg.clone(), LoadOptions::default());
        let records = append_all(&log, &batches, compress_every);
        for target in targets(&records) {
            let got = log.offset_for_time(OffsetSpec::Timestamp(target)).unwrap();
            prop_assert_eq!(got, brute_force(&log, &records, 0, target), "target {}", target);
        }
        prop_assert_eq!(
            log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap(),
            brute_force_max(&records)
        );
        let leo = log.log_end_offset();
        log.close().unwrap();
        drop(log);
        let log_start = leo * start_permille / 1_000;
        let options = LoadOptions::clean().with_recovery_point(leo).with_log_start_offset(log_start);
        let log = open_with(dir.path(), cfg, options);
        for target in targets(&records) {
            let got = log.offset_for_time(OffsetSpec::Timestamp(target)).unwrap();
            prop_assert_eq!(got, brute_force(&log, &records, log_start, target), "target {} start {}", target, log_start);
        }
    }
}

/// Kafka answers MAX_TIMESTAMP from the FIRST batch whose maxTimestamp is the segment's
/// largest (`UnifiedLog.fetchOffsetByTimestamp`: `findFirst(batchesFrom(..), maxTimestamp ==
/// ..)`, then that batch's `offsetOfMaxTimestamp()`), and that batch names no offset when none
/// of its records carries the timestamp: here a batch Kafka's cleaner kept empty for a live
/// producer, with its original maxTimestamp. The answer is none, even though a later batch
/// holds a record with that timestamp; strata used to move on to that later batch.
#[test]
fn max_timestamp_whose_first_batch_holds_no_record_of_it_is_none_as_in_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let max = NOW + 1_000;
    let emptied = BatchBuilder::new(0)
        .producer(7, 0, 0)
        .empty_batch_timestamps(-1, max)
        .last_offset_delta(1)
        .build()
        .unwrap();
    let record = |base: i64, ts: i64| {
        let mut b = BatchBuilder::new(base);
        b.append(&Record::new("k", "v").timestamp(ts)).unwrap();
        b.build().unwrap()
    };
    let bytes = [emptied, record(2, max), record(3, NOW)].concat();
    std::fs::write(dir.path().join(format!("{:020}.log", 0)), bytes).unwrap();
    let log = open_with(dir.path(), LogConfig::default(), LoadOptions::default());
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.read_record(2, |r| r.timestamp()).unwrap(), Some(max));
    let found = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
    assert_eq!(found, None, "the first batch carrying the largest timestamp holds no record");
    // A larger timestamp, carried by a record, is found.
    log.append_batch(record(0, max + 1)).unwrap();
    let found = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
    assert_eq!(found, Some(TimestampedOffset { offset: 4, timestamp: Some(max + 1) }));
    log.close().unwrap();
}

/// Kafka ranks every segment by its `maxTimestampSoFar` for MAX_TIMESTAMP, an empty one too: its
/// time index has no entry, so it ranks at -1 (`NO_TIMESTAMP`), as does a segment whose records
/// carry no timestamp; the first of the segments ranked highest answers
/// (`UnifiedLog.fetchOffsetByTimestamp` replaces its pick only on a larger timestamp). In a log
/// without timestamps whose first segment the cleaner emptied, the empty segment answers, and it
/// holds no batch: none. Strata used to pass over empty segments and answer the record of the
/// next one.
#[test]
fn max_timestamp_of_a_log_without_timestamps_ranks_an_empty_first_segment_as_kafka_does() {
    let untimed = |base: i64| {
        let mut b = BatchBuilder::new(base);
        b.append(&Record::new("k", "v").timestamp(-1)).unwrap();
        b.append(&Record::new("k", "w").timestamp(-1)).unwrap();
        b.build().unwrap()
    };
    let found = |offset| Some(TimestampedOffset { offset, timestamp: None });
    for empty_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let first = if empty_first { Bytes::new() } else { untimed(0) };
        std::fs::write(dir.path().join(format!("{:020}.log", 0)), first).unwrap();
        std::fs::write(dir.path().join(format!("{:020}.log", 2)), untimed(2)).unwrap();
        // Opened as after a clean shutdown, the files trusted as the cleaner left them.
        let options = LoadOptions::clean().with_recovery_point(4);
        let log = open_with(dir.path(), LogConfig::default(), options);
        assert_eq!(log.segment_base_offsets(), [0, 2]);
        assert_eq!(log.log_end_offset(), 4);
        let got = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
        // With records in the first segment, its first record answers (its batch's
        // `offsetOfMaxTimestamp`: the first record carrying -1).
        let want = if empty_first { None } else { found(0) };
        assert_eq!(got, want, "empty first segment: {empty_first}");
        log.close().unwrap();
    }
}
