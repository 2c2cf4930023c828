//! Segment rolling (spec §3): on `segment.bytes`, on `segment.ms` by record
//! time (with jitter), on a full offset or time index and on relative-offset
//! overflow; what a sealed segment's files hold; and that every directory is
//! what Kafka itself would have written and rebuilt.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use strata::internals::format::{BatchBuilder, BatchIter, BatchView, NO_TIMESTAMP, Record};
use strata::{CleanupPolicy, LogConfig};
use strata::{Clock, ManualClock};
use strata::{LoadOptions, Log};

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn open_with(dir: &Path, cfg: LogConfig, clock: Arc<dyn Clock>, options: LoadOptions) -> Log {
    Log::open(dir, "t", 0, cfg, clock, options).unwrap().0
}

fn open(dir: &Path, cfg: LogConfig) -> (Log, Arc<ManualClock>) {
    let clock = ManualClock::new(NOW);
    (open_with(dir, cfg, clock.clone(), LoadOptions::default()), clock)
}

/// A client batch of `n` records with `value_len`-byte values, all at timestamp `ts`.
fn batch_at(n: usize, value_len: usize, ts: i64) -> Bytes {
    batch_with(&vec![ts; n], value_len)
}

/// A client batch with one record per timestamp.
fn batch_with(timestamps: &[i64], value_len: usize) -> Bytes {
    let mut b = BatchBuilder::new(0);
    for (i, &ts) in timestamps.iter().enumerate() {
        b.append(&Record::new(format!("k{i}"), vec![b'v'; value_len]).timestamp(ts)).unwrap();
    }
    b.build().unwrap()
}

/// One segment as found on disk.
#[derive(Debug)]
struct DiskSegment {
    base: i64,
    log: PathBuf,
    /// (position, batch) of every batch.
    batches: Vec<(u64, BatchView)>,
    log_len: u64,
    /// Raw `.index` / `.timeindex` file sizes.
    index_len: u64,
    time_index_len: u64,
    /// Entries up to the first all-zero slot: (absolute offset, position).
    index: Vec<(i64, u32)>,
    /// Entries up to the first all-zero slot: (timestamp, absolute offset).
    time_index: Vec<(i64, i64)>,
}

fn disk_segments(dir: &Path) -> Vec<DiskSegment> {
    let mut out = Vec::new();
    for (log, bytes) in common::segment_logs(dir) {
        let stem = log.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(stem.len(), 20, "{}", log.display());
        let base: i64 = stem.parse().unwrap();
        assert_eq!(format!("{base:020}"), stem);
        let log_len = bytes.len() as u64;
        let mut it = BatchIter::validating(Bytes::from(bytes));
        let batches: Vec<(u64, BatchView)> = it.by_ref().map(|(p, b)| (p as u64, b)).collect();
        assert_eq!(it.valid_len() as u64, log_len, "{} has a bad tail", log.display());
        let index_raw = std::fs::read(dir.join(format!("{stem}.index"))).unwrap();
        let time_raw = std::fs::read(dir.join(format!("{stem}.timeindex"))).unwrap();
        let index = index_raw
            .chunks_exact(8)
            .take_while(|c| c.iter().any(|&b| b != 0))
            .map(|c| {
                let rel = i32::from_be_bytes(c[0..4].try_into().unwrap());
                (base + i64::from(rel), u32::from_be_bytes(c[4..8].try_into().unwrap()))
            })
            .collect();
        let time_index = time_raw
            .chunks_exact(12)
            .take_while(|c| c.iter().any(|&b| b != 0))
            .map(|c| {
                let ts = i64::from_be_bytes(c[0..8].try_into().unwrap());
                (ts, base + i64::from(i32::from_be_bytes(c[8..12].try_into().unwrap())))
            })
            .collect();
        out.push(DiskSegment {
            base,
            log,
            batches,
            log_len,
            index_len: index_raw.len() as u64,
            time_index_len: time_raw.len() as u64,
            index,
            time_index,
        });
    }
    out
}

/// What Kafka's `LogSegment.recover` rebuilds for these batches with this interval, plus the
/// final time-index entry a roll or clean close appends: (offset index, time index).
#[allow(clippy::type_complexity)]
fn kafka_rebuild(
    batches: &[(u64, BatchView)],
    interval: u64,
) -> (Vec<(i64, u32)>, Vec<(i64, i64)>) {
    let mut index = Vec::new();
    let mut time_index: Vec<(i64, i64)> = Vec::new();
    let mut max = (NO_TIMESTAMP, 0i64);
    let mut last_entry_pos = 0u64;
    let offer = |time_index: &mut Vec<(i64, i64)>, entry: (i64, i64)| {
        if time_index.last().is_none_or(|&(ts, _)| entry.0 > ts) {
            time_index.push(entry);
        }
    };
    for (pos, b) in batches {
        if b.max_timestamp() > max.0 {
            max = (b.max_timestamp(), b.last_offset());
        }
        if pos - last_entry_pos > interval {
            index.push((b.last_offset(), *pos as u32));
            offer(&mut time_index, max);
            last_entry_pos = *pos;
        }
    }
    if !batches.is_empty() {
        offer(&mut time_index, max);
    }
    (index, time_index)
}

/// Every file in `dir` is a segment file with a 20-digit name; `.log` files are never empty
/// (except possibly the active segment's, when `allow_empty_last`).
fn assert_file_names_and_no_empty_segments(dir: &Path, log: &Log, allow_empty_last: bool) {
    let segs = disk_segments(dir);
    assert_eq!(segs.iter().map(|s| s.base).collect::<Vec<_>>(), log.segment_base_offsets());
    for (i, s) in segs.iter().enumerate() {
        if !(allow_empty_last && i + 1 == segs.len()) {
            assert!(s.log_len > 0, "empty segment {}", s.log.display());
        }
        if let Some((_, first)) = s.batches.first() {
            assert_eq!(first.base_offset(), s.base, "a new segment starts at the log end offset");
        }
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if matches!(name.as_str(), "leader-epoch-checkpoint" | "partition.metadata") {
            continue; // the partition's metadata files, beside its segments (Kafka's names)
        }
        let (stem, ext) = name.split_once('.').unwrap();
        assert!(
            matches!(ext, "log" | "index" | "timeindex" | "snapshot"),
            "unexpected file {name}"
        );
        assert!(stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()), "bad name {name}");
        // Producer snapshots are taken at rolls (named after the new segment's base) and at
        // close (named after the log end offset), as Kafka takes them.
        if ext == "snapshot" {
            let offset: i64 = stem.parse().unwrap();
            let known =
                log.segment_base_offsets().contains(&offset) || offset == log.log_end_offset();
            assert!(known, "snapshot {name} matches no segment base nor the log end");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// segment.bytes
// ---------------------------------------------------------------------------------------------

#[test]
fn rolls_on_segment_bytes_without_empty_segments_and_the_new_base_is_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().segment_bytes(1_000).index_interval_bytes(200);
    let (log, _) = open(dir.path(), cfg);
    let mut rolls = 0;
    for i in 0..80 {
        let before = log.segment_count();
        let leo = log.log_end_offset();
        let info =
            log.append_batch(batch_at(1 + i % 4, 40 + 13 * (i % 5), NOW + i as i64)).unwrap();
        assert_eq!(info.base_offset, leo);
        if log.segment_count() > before {
            rolls += 1;
            assert_eq!(log.segment_base_offsets().last(), Some(&leo), "new base = LEO");
        }
    }
    assert!(rolls > 10, "only {rolls} rolls");
    assert_file_names_and_no_empty_segments(dir.path(), &log, false);
    let segs = disk_segments(dir.path());
    for pair in segs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(a.log_len <= 1_000, "{} is {} bytes", a.log.display(), a.log_len);
        let next = b.batches[0].1.size() as u64;
        assert!(a.log_len + next > 1_000, "rolled although {} + {next} fit", a.log_len);
        assert_eq!(a.batches.last().unwrap().1.next_offset(), b.base);
    }
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 200);
}

#[test]
fn a_batch_that_exactly_fills_the_segment_does_not_roll() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch_at(2, 100, NOW).len() as u64;
    let (log, _) = open(dir.path(), LogConfig::default().segment_bytes(3 * one));
    for _ in 0..3 {
        log.append_batch(batch_at(2, 100, NOW)).unwrap();
    }
    assert_eq!(log.segment_count(), 1);
    log.append_batch(batch_at(2, 100, NOW)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 6]);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

// ---------------------------------------------------------------------------------------------
// segment.ms and segment.jitter.ms
// ---------------------------------------------------------------------------------------------

#[test]
fn rolls_on_segment_ms_measured_from_the_first_batch_timestamp_not_the_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock) = open(dir.path(), LogConfig::default().segment_ms(60_000));
    let t0 = NOW - 10 * DAY; // an old segment: its first batch is ten days old
    // The rolling base is the max timestamp of the first batch, not its first record.
    log.append_batch(batch_with(&[t0 - 5_000, t0], 10)).unwrap();
    clock.advance(DAY); // a day of wall time alone does not roll
    log.append_batch(batch_at(1, 10, t0 + 30_000)).unwrap();
    log.append_batch(batch_at(1, 10, t0 + 60_000)).unwrap(); // waited == segment.ms: not more
    log.append_batch(batch_at(1, 10, t0 - DAY)).unwrap(); // an older record changes nothing
    assert_eq!(log.segment_count(), 1);
    let leo = log.log_end_offset();
    log.append_batch(batch_at(1, 10, t0 + 60_001)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, leo]);
    // The new segment counts from its own first batch.
    let t1 = t0 + 60_001;
    log.append_batch(batch_with(&[t1 + 60_000, t1 + 59_000], 10)).unwrap();
    assert_eq!(log.segment_count(), 2, "waited exactly segment.ms");
    let leo2 = log.log_end_offset();
    log.append_batch(batch_at(1, 10, t1 + 60_001)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, leo, leo2]);
    assert_file_names_and_no_empty_segments(dir.path(), &log, false);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

#[test]
fn after_reopen_segment_ms_counts_from_the_first_batch_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().segment_ms(60_000);
    let t0 = NOW - DAY;
    let (log, _) = open(dir.path(), cfg.clone());
    log.append_batch(batch_at(1, 10, t0)).unwrap();
    log.append_batch(batch_at(1, 10, t0 + 50_000)).unwrap();
    log.close().unwrap();
    drop(log);
    let options = LoadOptions::clean();
    let log = open_with(dir.path(), cfg, ManualClock::new(NOW), options);
    log.append_batch(batch_at(1, 10, t0 + 60_000)).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append_batch(batch_at(1, 10, t0 + 60_001)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    log.close().unwrap();
    common::assert_kafka_valid(dir.path(), 4096);
}

#[test]
fn segment_ms_falls_back_to_the_wall_clock_for_batches_without_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock) = open(dir.path(), LogConfig::default().segment_ms(60_000));
    log.append_batch(batch_at(1, 10, NO_TIMESTAMP)).unwrap();
    clock.advance(60_000);
    log.append_batch(batch_at(1, 10, NO_TIMESTAMP)).unwrap();
    assert_eq!(log.segment_count(), 1);
    clock.advance(1);
    log.append_batch(batch_at(1, 10, NO_TIMESTAMP)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    // The new segment was created at the roll: its wall-clock age starts then.
    clock.advance(60_000);
    log.append_batch(batch_at(1, 10, NO_TIMESTAMP)).unwrap();
    assert_eq!(log.segment_count(), 2);
    clock.advance(1);
    log.append_batch(batch_at(1, 10, NO_TIMESTAMP)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

#[test]
fn a_compacted_topic_rolls_at_max_compaction_lag_ms_when_it_is_below_segment_ms() {
    for (policy, expected_roll_after) in
        [(CleanupPolicy::COMPACT, 60_000), (CleanupPolicy::DELETE, DAY)]
    {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig::default()
            .cleanup_policy(policy)
            .segment_ms(DAY)
            .max_compaction_lag_ms(60_000);
        let (log, _) = open(dir.path(), cfg);
        log.append_batch(batch_at(1, 10, NOW)).unwrap();
        log.append_batch(batch_at(1, 10, NOW + expected_roll_after)).unwrap();
        assert_eq!(log.segment_count(), 1, "{policy}");
        log.append_batch(batch_at(1, 10, NOW + expected_roll_after + 1)).unwrap();
        assert_eq!(log.segment_base_offsets(), vec![0, 2], "{policy}");
        log.close().unwrap();
        common::assert_kafka_accepts(dir.path(), 4096);
    }
}

/// Appends batches 500 ms of record time apart and returns, for each of `segments` rolls, how
/// much record time the rolled segment had waited when the roll happened.
fn waits_before_roll(log: &Log, segments: usize) -> Vec<i64> {
    let mut waits = Vec::new();
    let mut first_ts = NOW;
    let mut ts = NOW;
    log.append_batch(batch_at(1, 10, ts)).unwrap();
    while waits.len() < segments {
        ts += 500;
        let before = log.segment_count();
        log.append_batch(batch_at(1, 10, ts)).unwrap();
        if log.segment_count() > before {
            waits.push(ts - first_ts);
            first_ts = ts;
        }
        assert!(ts - first_ts <= 1_000_000, "no roll after {} ms", ts - first_ts);
    }
    waits
}

#[test]
fn segment_jitter_shortens_the_time_limit_and_never_lengthens_it() {
    // Without jitter every segment rolls at the first batch past segment.ms.
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default().segment_ms(10_000));
    let waits = waits_before_roll(&log, 10);
    assert!(waits.iter().all(|&w| w == 10_500), "{waits:?}");
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);

    // With jitter up to segment.ms (and with jitter above it, which is capped at segment.ms),
    // each segment draws its own jitter: rolls come earlier, never later, never at 0.
    for jitter in [10_000, 1_000_000] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig::default().segment_ms(10_000).segment_jitter_ms(jitter);
        let (log, _) = open(dir.path(), cfg);
        // The first segment is skipped: see the_first_segment_gets_jitter_too.
        let waits = waits_before_roll(&log, 31)[1..].to_vec();
        assert!(waits.iter().all(|&w| (500..=10_500).contains(&w)), "{waits:?}");
        let early = waits.iter().filter(|&&w| w <= 9_500).count();
        // P(jitter <= 500) = 5% per segment: 30 segments with < 10 early ones is ~1e-20.
        assert!(
            early >= 10,
            "jitter {jitter}: only {early} of 30 segments rolled early: {waits:?}"
        );
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 5, "jitter is drawn per segment: {waits:?}");
        log.close().unwrap();
        common::assert_kafka_accepts(dir.path(), 4096);
    }
}

#[test]
fn the_first_segment_gets_jitter_too() {
    let mut early = 0;
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig::default().segment_ms(10_000).segment_jitter_ms(10_000);
        let (log, _) = open(dir.path(), cfg);
        if waits_before_roll(&log, 1)[0] <= 9_500 {
            early += 1;
        }
    }
    // 20 new partitions of one topic must not all roll their first segment together.
    assert!(early >= 5, "only {early} of 20 first segments rolled early");
}

// ---------------------------------------------------------------------------------------------
// Full indexes
// ---------------------------------------------------------------------------------------------

#[test]
fn rolls_when_the_offset_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    // 48 bytes: 6 offset-index entries, 4 time-index slots. One timestamp for all records keeps
    // the time index at one entry, so the offset index fills first.
    let cfg = LogConfig::default().segment_index_bytes(48).index_interval_bytes(0);
    let (log, _) = open(dir.path(), cfg);
    for _ in 0..30 {
        log.append_batch(batch_at(1, 20, NOW)).unwrap();
    }
    // First batch: no entry; batches 2..=7: one entry each; the 8th rolls.
    assert_eq!(log.segment_base_offsets(), vec![0, 7, 14, 21, 28]);
    log.roll().unwrap();
    for s in &disk_segments(dir.path())[..5] {
        assert_eq!(s.batches.len(), if s.base == 28 { 2 } else { 7 });
        if s.base != 28 {
            assert_eq!(s.index.len(), 6);
            assert_eq!(s.index_len, 48, "trimmed to its 6 entries");
        }
        assert_eq!(s.time_index, vec![(NOW, s.base)]);
        assert_eq!(s.time_index_len, 12);
    }
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 0);
}

#[test]
fn rolls_when_the_time_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    // 48 bytes: 4 time-index slots, full at 3 (one is kept for the roll entry); 6 offset slots.
    let cfg = LogConfig::default().segment_index_bytes(48).index_interval_bytes(0);
    let (log, _) = open(dir.path(), cfg);
    for i in 0..17 {
        log.append_batch(batch_at(1, 20, NOW + i)).unwrap();
    }
    // First batch: no entry; batches 2..=4: one entry each in both indexes; the 5th rolls.
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8, 12, 16]);
    log.close().unwrap();
    for s in &disk_segments(dir.path())[..4] {
        assert_eq!(s.batches.len(), 4);
        assert_eq!(s.index.len(), 3);
        assert_eq!(s.index_len, 24);
        let expected: Vec<(i64, i64)> = (1..4).map(|k| (NOW + s.base + k, s.base + k)).collect();
        assert_eq!(s.time_index, expected);
        assert_eq!(s.time_index_len, 36);
    }
    common::assert_kafka_accepts(dir.path(), 0);
}

/// A fresh segment skips the index-full check while its length proves the indexes have room
/// (at most `len / (index.interval.bytes + 1)` entries): at intervals around the batch size and
/// index sizes of a few entries, every segment still rolls exactly when an index fills, never
/// appending past it, and the indexes equal what Kafka would write.
#[test]
fn every_index_interval_rolls_when_an_index_fills_and_never_writes_past_it() {
    // Batches of one record with a 20-byte value are about 90 bytes.
    for interval in [0, 45, 89, 90, 91, 180, 400] {
        for index_bytes in [48, 96, 120] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = LogConfig::default()
                .segment_index_bytes(index_bytes)
                .index_interval_bytes(interval);
            let (log, _) = open(dir.path(), cfg);
            for i in 0..200 {
                log.append_batch(batch_at(1, 20, NOW + i)).unwrap();
            }
            let rolls = log.segment_base_offsets().len();
            log.close().unwrap();
            let offset_slots = (index_bytes / 8) as usize;
            let time_slots = (index_bytes / 12) as usize;
            let segments = disk_segments(dir.path());
            assert!(rolls > 1, "interval {interval}, {index_bytes} B: no roll");
            for s in &segments[..segments.len() - 1] {
                // Rolled by a full index: the offset index at its slots, or the time index at
                // its slots less the one kept for the roll entry (which may then take it).
                assert!(
                    s.index.len() == offset_slots || s.time_index.len() + 1 >= time_slots,
                    "interval {interval}, {index_bytes} B, segment {}: {} offset entries of \
                     {offset_slots}, {} time entries of {time_slots}",
                    s.base,
                    s.index.len(),
                    s.time_index.len()
                );
            }
            common::assert_kafka_accepts(dir.path(), interval);
        }
    }
}

#[test]
fn a_16_byte_index_puts_every_batch_in_its_own_segment_as_kafka_does() {
    // 16 bytes hold one 12-byte time-index entry, which is the reserved one: the time index is
    // always full, so every append rolls (Kafka: TimeIndex.isFull is entries >= maxEntries - 1).
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().segment_index_bytes(16).index_interval_bytes(0);
    let (log, _) = open(dir.path(), cfg);
    for i in 0..6 {
        log.append_batch(batch_at(2, 20, NOW + i)).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4, 6, 8, 10]);
    log.close().unwrap();
    for (i, s) in disk_segments(dir.path()).iter().enumerate() {
        assert_eq!(s.batches.len(), 1);
        assert_eq!((s.index_len, s.index.len()), (0, 0));
        assert_eq!(s.time_index, vec![(NOW + i as i64, s.base + 1)]);
    }
    common::assert_kafka_accepts(dir.path(), 0);
}

// ---------------------------------------------------------------------------------------------
// Relative-offset overflow
// ---------------------------------------------------------------------------------------------

#[test]
fn rolls_when_relative_offsets_would_overflow_int32() {
    // A segment based at 0 whose only batch sits just below 2^31 (as compaction or a follower
    // fetch can leave one), written by hand and recovered at open.
    let dir = tempfile::tempdir().unwrap();
    let max = i64::from(i32::MAX);
    let mut b = BatchBuilder::new(max - 9);
    for i in 0..5 {
        b.append(&Record::new(format!("k{i}"), "v").timestamp(NOW)).unwrap();
    }
    std::fs::write(dir.path().join(format!("{:020}.log", 0)), b.build().unwrap()).unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    assert_eq!(log.log_end_offset(), max - 4);
    // max-4 ..= max: relative offsets up to i32::MAX still fit.
    log.append_batch(batch_at(5, 10, NOW)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0]);
    // max+1 ..= max+2 do not: roll at the log end offset.
    log.append_batch(batch_at(2, 10, NOW)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, max + 1]);
    assert!(dir.path().join("00000000002147483648.log").is_file());
    log.append_batch(batch_at(3, 10, NOW)).unwrap();
    assert_eq!(log.log_end_offset(), max + 6);
    let f = log.read(max - 9, usize::MAX).unwrap();
    let offsets: Vec<i64> = f.records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(offsets, (max - 9..max + 6).collect::<Vec<_>>());
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

// ---------------------------------------------------------------------------------------------
// What a sealed segment holds
// ---------------------------------------------------------------------------------------------

/// Pseudo-random, non-monotonic timestamps.
fn jumpy_ts(i: u64) -> i64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF;
    x ^= x >> 29;
    NOW + (x % 100_000) as i64
}

#[test]
fn sealed_segments_have_trimmed_indexes_ending_with_the_max_timestamp_entry() {
    for interval in [0u64, 150, 700, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig::default().segment_bytes(2_500).index_interval_bytes(interval);
        let (log, _) = open(dir.path(), cfg);
        for i in 0..120u64 {
            let ts: Vec<i64> = (0..1 + i % 3).map(|k| jumpy_ts(i * 7 + k)).collect();
            log.append_batch(batch_with(&ts, 30)).unwrap();
        }
        let segs = disk_segments(dir.path());
        assert!(segs.len() > 5);
        let (sealed, active) = segs.split_at(segs.len() - 1);
        for s in sealed {
            let (index, time_index) = kafka_rebuild(&s.batches, interval);
            assert_eq!(s.index, index, "{} interval {interval}", s.log.display());
            assert_eq!(s.time_index, time_index, "{} interval {interval}", s.log.display());
            assert_eq!(s.index_len, 8 * index.len() as u64, "offset index trimmed");
            assert_eq!(s.time_index_len, 12 * time_index.len() as u64, "time index trimmed");
            // The last time-index entry is the segment's max timestamp and the first batch
            // holding it.
            let max = s.batches.iter().map(|(_, b)| b.max_timestamp()).max().unwrap();
            let holder = s.batches.iter().find(|(_, b)| b.max_timestamp() == max).unwrap();
            assert_eq!(s.time_index.last(), Some(&(max, holder.1.last_offset())));
        }
        // The active segment's indexes are still preallocated to segment.index.bytes.
        let a = &active[0];
        assert_eq!(a.index_len, 10 << 20);
        assert_eq!(a.time_index_len, (10 << 20) / 12 * 12);
        log.close().unwrap();
        // Closing seals it like a roll.
        let segs = disk_segments(dir.path());
        let a = segs.last().unwrap();
        let (index, time_index) = kafka_rebuild(&a.batches, interval);
        assert_eq!((&a.index, &a.time_index), (&index, &time_index));
        assert_eq!(
            (a.index_len, a.time_index_len),
            (8 * index.len() as u64, 12 * time_index.len() as u64)
        );
        common::assert_kafka_accepts(dir.path(), interval);
    }
}

#[test]
fn explicit_roll_seals_the_active_segment_and_skips_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    log.roll().unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0], "an empty active segment does not roll");
    log.append_batch(batch_with(&[NOW + 5, NOW + 1], 10)).unwrap();
    log.append_batch(batch_at(1, 10, NOW + 3)).unwrap();
    log.roll().unwrap();
    log.roll().unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    let segs = disk_segments(dir.path());
    assert_eq!(segs[0].index, vec![]);
    assert_eq!(segs[0].time_index, vec![(NOW + 5, 1)]);
    assert_eq!((segs[0].index_len, segs[0].time_index_len), (0, 12));
    log.append_batch(batch_at(1, 10, NOW)).unwrap();
    log.close().unwrap();
    assert_file_names_and_no_empty_segments(dir.path(), &log, false);
    common::assert_kafka_accepts(dir.path(), 4096);
}
