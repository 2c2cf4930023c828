//! Idempotent producers (part of the `compaction` tests).

use super::*;

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
    assert_eq!(log.expire_producers(0).unwrap(), 1);
    pass(&env);
    assert!(at_marker(&log).is_none(), "an expired producer keeps nothing");
    env.store.close().unwrap();
    common::assert_kafka_valid(&env.store.partition_dir("t", 0).unwrap(), INDEX_INTERVAL);
}
