//! Time lookups on a compacted log (part of the `compaction` tests): the cleaned segments'
//! largest timestamps, and so `MaxTimestamp` and `Timestamp(t)`, come from the records the
//! cleaner kept, as Kafka's do, never from a batch it emptied.

use super::*;
use strata::{OffsetSpec, TimestampedOffset};

/// A compacted topic whose timestamps may lie anywhere (records here carry old ones).
fn timestamp_topic(env: &Env, extra: &[(&str, &str)]) -> Log {
    let mut o = vec![
        ("message.timestamp.before.max.ms", "9223372036854775807"),
        ("message.timestamp.after.max.ms", "9223372036854775807"),
    ];
    o.extend_from_slice(extra);
    env.topic("c", &o)
}

#[test]
fn max_timestamp_of_a_compacted_log_names_a_record_it_holds() {
    let env = Env::new();
    let now = env.now();
    let log = timestamp_topic(&env, &[("segment.bytes", "100")]);
    for (k, ts) in [("k1", now - 100), ("k0", now - 300), ("k1", now - 200)] {
        log.append(&[Record::new(k, "v").timestamp(ts)]).unwrap();
        log.roll().unwrap(); // one segment each: each its own cleaning group
    }
    let r = env.store.maintain(None).unwrap();
    assert_eq!(r.partitions_cleaned, 1);
    let left: Vec<(i64, i64)> = read_all(&log).iter().map(|r| (r.offset, r.timestamp)).collect();
    assert_eq!(left, [(1, now - 300), (2, now - 200)]);
    // Kafka's cleaned segments take their largest timestamp from the records they keep: the
    // largest left is offset 2's, where the emptied batch of offset 0 said now - 100.
    let max = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
    assert_eq!(max, Some(TimestampedOffset { offset: 2, timestamp: Some(now - 200) }));
    let dir = env.store.partition_dir("c", 0).unwrap();
    env.store.close().unwrap();
    common::assert_kafka_valid(&dir, INDEX_INTERVAL);
}

/// Kafka's answer (`UnifiedLog.fetchOffsetByTimestamp`): the first segment whose largest
/// timestamp reaches `t`, and in it the first record at or after `t`. A cleaned segment's
/// largest timestamp is its records' largest, or for one left without records its file's
/// modification time: here a wall-clock time below every `t` (the records are stamped ahead of
/// it), so such a segment is passed over.
fn kafka_time_lookup(log: &Log, t: i64) -> Option<(i64, i64)> {
    let bases = log.segment_base_offsets();
    let mut segments: Vec<Vec<(i64, i64)>> = vec![Vec::new(); bases.len()];
    for r in read_all(log) {
        let i = bases.partition_point(|&s| s <= r.offset) - 1;
        segments[i].push((r.offset, r.timestamp));
    }
    let seg = segments.iter().find(|s| s.iter().any(|&(_, ts)| ts >= t))?;
    seg.iter().copied().find(|&(_, ts)| ts >= t)
}

#[test]
fn time_lookups_on_a_compacted_log_find_records_that_qualify() {
    let env = Env::new();
    let log = timestamp_topic(&env, &[("segment.bytes", "600"), ("index.interval.bytes", "50")]);
    // Ahead of the files' modification times (see `kafka_time_lookup`).
    let base = env.now() + 1_000_000_000;
    let mut seed = 12345u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..6 {
        for _ in 0..60 {
            let k = rnd() % 12;
            let ts = base + (rnd() % 1000) as i64;
            let n = 1 + rnd() % 3;
            let recs: Vec<Record> = (0..n)
                .map(|j| {
                    Record::new(format!("k{}", (k + j) % 12), "v").timestamp(ts - j as i64 * 7)
                })
                .collect();
            log.append(&recs).unwrap();
        }
        log.roll().unwrap();
        env.clock.advance(1000);
        env.store.maintain(None).unwrap();
        for t in (base - 5..base + 1005).step_by(3) {
            let got = log
                .offset_for_time(OffsetSpec::Timestamp(t))
                .unwrap()
                .map(|x| (x.offset, x.timestamp.unwrap()));
            assert_eq!(got, kafka_time_lookup(&log, t), "round {round}, Timestamp({t})");
        }
        let records = read_all(&log);
        let largest = records.iter().map(|r| r.timestamp).max().unwrap();
        let first = records.iter().find(|r| r.timestamp == largest).unwrap().offset;
        let max = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
        assert_eq!(
            max,
            Some(TimestampedOffset { offset: first, timestamp: Some(largest) }),
            "round {round}: MaxTimestamp"
        );
    }
    let dir = env.store.partition_dir("c", 0).unwrap();
    env.store.close().unwrap();
    common::assert_kafka_valid(&dir, 50);
}
