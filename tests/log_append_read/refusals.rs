//! Refusals (part of the `log_append_read` tests).

use super::*;

/// Appends `batch`, expects a refusal and checks the log did not change; returns the error.
pub(crate) fn assert_refused(log: &Log, batch: Bytes) -> Error {
    let leo = log.log_end_offset();
    let size = log.size_bytes();
    let segments = log.segment_base_offsets();
    let before: Vec<Bytes> = if leo > log.log_start_offset() {
        log.read(log.log_start_offset(), usize::MAX)
            .unwrap()
            .slices()
            .iter()
            .map(|s| s.bytes.clone())
            .collect()
    } else {
        Vec::new()
    };
    let err = log.append_batch(batch).expect_err("append should be refused");
    assert_eq!(log.log_end_offset(), leo, "LEO changed after refused append: {err}");
    assert_eq!(log.size_bytes(), size, "size changed after refused append: {err}");
    assert_eq!(log.segment_base_offsets(), segments, "segments changed: {err}");
    assert!(log.poisoned().is_none(), "a refused append must not poison the log: {err}");
    if leo > log.log_start_offset() {
        let after: Vec<Bytes> = log
            .read(log.log_start_offset(), usize::MAX)
            .unwrap()
            .slices()
            .iter()
            .map(|s| s.bytes.clone())
            .collect();
        assert_eq!(before, after);
    }
    err
}

#[test]
fn refused_appends_have_distinct_errors_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default()
        .max_message_bytes(300)
        .message_timestamp_before_max_ms(60_000)
        .message_timestamp_after_max_ms(60_000);
    let (log, _) = open(dir.path(), cfg);
    log.append_batch(client_batch(Compression::None, &[(NOW, Some("a"), "1")])).unwrap();
    log.append_batch(client_batch(Compression::None, &[(NOW, Some("b"), "2")])).unwrap();
    let mut messages = Vec::new();

    // 1. Larger than max.message.bytes.
    let big = sized_batch(3, 100, NOW);
    assert!(big.len() > 300);
    match assert_refused(&log, big.clone()) {
        e @ Error::RecordTooLarge { size, limit_name: "max.message.bytes", limit: 300 } => {
            assert_eq!(size, big.len());
            messages.push(e.to_string());
        }
        other => panic!("expected RecordTooLarge, got {other}"),
    }

    // 2. A corrupt CRC.
    let mut bad =
        BytesMut::from(client_batch(Compression::None, &[(NOW, Some("c"), "xyz")]).as_ref());
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    match assert_refused(&log, bad.freeze()) {
        e @ Error::InvalidBatch { source: FormatError::CrcMismatch { .. } } => {
            messages.push(e.to_string())
        }
        other => panic!("expected InvalidBatch(CrcMismatch), got {other}"),
    }

    // 3. recordsCount != lastOffsetDelta + 1 (offset deltas 0 and 2).
    let mut b = BatchBuilder::new(0);
    b.append_raw(0, NOW, Some(&Bytes::from("k")), Some(&Bytes::from("v")), &[]).unwrap();
    b.append_raw(2, NOW, Some(&Bytes::from("k")), Some(&Bytes::from("v")), &[]).unwrap();
    let gapped = b.build().unwrap();
    let v = BatchView::new(gapped.clone()).unwrap();
    assert_eq!((v.records_count(), v.last_offset_delta()), (2, 2));
    match assert_refused(&log, gapped) {
        e @ Error::InvalidRecord { .. } => messages.push(e.to_string()),
        other => panic!("expected InvalidRecord for a gapped batch, got {other}"),
    }

    // 4. A control batch.
    let control =
        BatchBuilder::control_batch(0, NOW, 77, 1, -1, &ControlRecord::commit(3)).unwrap();
    match assert_refused(&log, control) {
        e @ Error::InvalidRecord { .. } => {
            assert!(e.to_string().contains("control"), "{e}");
            messages.push(e.to_string());
        }
        other => panic!("expected InvalidRecord for a control batch, got {other}"),
    }

    // 5. Older than message.timestamp.before.max.ms.
    let old = client_batch(Compression::None, &[(NOW - 60_001, Some("d"), "4")]);
    match assert_refused(&log, old) {
        e @ Error::InvalidTimestamp { .. } => messages.push(e.to_string()),
        other => panic!("expected InvalidTimestamp, got {other}"),
    }

    // 6. Newer than message.timestamp.after.max.ms.
    let future = client_batch(Compression::Lz4, &[(NOW + 60_001, Some("e"), "5")]);
    match assert_refused(&log, future) {
        e @ Error::InvalidTimestamp { .. } => messages.push(e.to_string()),
        other => panic!("expected InvalidTimestamp, got {other}"),
    }

    // 7. A producer id without a base sequence.
    let mut b = BatchBuilder::new(0).producer(12, 0, -1);
    b.append(&Record::new("f", "6").timestamp(NOW)).unwrap();
    match assert_refused(&log, b.build().unwrap()) {
        e @ Error::InvalidRecord { .. } => messages.push(e.to_string()),
        other => panic!("expected InvalidRecord, got {other}"),
    }

    // 8. Not a batch at all: truncated.
    let whole = client_batch(Compression::None, &[(NOW, Some("g"), "7")]);
    match assert_refused(&log, whole.slice(..whole.len() - 3)) {
        e @ Error::InvalidBatch { .. } => messages.push(e.to_string()),
        other => panic!("expected InvalidBatch, got {other}"),
    }

    // 9. Compacted topic, null key.
    log.set_config(log.config().as_ref().clone().cleanup_policy(CleanupPolicy::COMPACT)).unwrap();
    let unkeyed = client_batch(Compression::None, &[(NOW, Some("h"), "8"), (NOW, None, "9")]);
    match assert_refused(&log, unkeyed) {
        e @ Error::InvalidRecord { .. } => messages.push(e.to_string()),
        other => panic!("expected InvalidRecord for a null key, got {other}"),
    }
    // ...while keyed records and tombstones are fine.
    let mut b = BatchBuilder::new(0);
    b.append(&Record::tombstone("h").timestamp(NOW)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();

    // 10. Larger than segment.bytes (and within max.message.bytes).
    log.set_config(log.config().as_ref().clone().max_message_bytes(1 << 20).segment_bytes(200))
        .unwrap();
    let over = sized_batch(2, 100, NOW);
    match assert_refused(&log, over) {
        e @ Error::RecordTooLarge { limit_name: "segment.bytes", .. } => {
            messages.push(e.to_string())
        }
        other => panic!("expected RecordTooLarge(segment.bytes), got {other}"),
    }

    let distinct: HashSet<&String> = messages.iter().collect();
    assert_eq!(distinct.len(), messages.len(), "error messages repeat: {messages:#?}");
    assert_eq!(log.log_end_offset(), 3);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

#[test]
fn a_recompressed_batch_over_max_message_bytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 50 identical values: tiny in zstd, large uncompressed.
    let mut b = BatchBuilder::new(0).compression(Compression::Zstd, None);
    for i in 0..50 {
        b.append(&Record::new(format!("k{i}"), vec![b'z'; 100]).timestamp(NOW)).unwrap();
    }
    let zstd = b.build().unwrap();
    assert!(zstd.len() < 500);
    let cfg = LogConfig::default()
        .max_message_bytes(1_000)
        .compression_type(TopicCompression::Uncompressed);
    let (log, _) = open(dir.path(), cfg);
    match assert_refused(&log, zstd) {
        Error::RecordTooLarge { size, limit_name: "max.message.bytes", limit: 1_000 } => {
            assert!(size > 5_000, "the rebuilt size is checked: {size}");
        }
        other => panic!("expected RecordTooLarge, got {other}"),
    }
}

#[test]
fn a_client_batch_must_have_base_offset_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    let mut b = BatchBuilder::new(5);
    b.append(&Record::new("k", "v").timestamp(NOW)).unwrap();
    let err = assert_refused(&log, b.build().unwrap());
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err}");
}

/// A producer batch flagged LogAppendTime (bit 3) whose maxTimestamp is
/// `max` and whose records carry create times `created`.
fn producer_log_append_time_batch(max: i64, created: &[i64]) -> Bytes {
    let mut b = BatchBuilder::new(0).log_append_time(max);
    for &ts in created {
        b.append(&Record::new("k", "v").timestamp(ts)).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn a_producer_log_append_time_batch_without_a_max_timestamp_is_refused_on_a_create_time_topic() {
    // Kafka's `validateTimestamp`: such a batch's records read as its
    // maxTimestamp, -1 here, so the CreateTime check is skipped and the
    // LogAppendTime flag is refused (INVALID_TIMESTAMP).
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    match assert_refused(&log, producer_log_append_time_batch(-1, &[NOW, NOW + 1])) {
        Error::InvalidTimestamp { .. } => {}
        other => panic!("expected InvalidTimestamp, got {other}"),
    }
}

#[test]
fn a_producer_log_append_time_batch_whose_max_timestamp_is_out_of_bounds_is_refused_on_a_create_time_topic()
 {
    // Kafka judges the timestamp the records read as, the batch's
    // maxTimestamp, against the bounds; the create times here are fine.
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default()
        .message_timestamp_before_max_ms(60_000)
        .message_timestamp_after_max_ms(60_000);
    let (log, _) = open(dir.path(), cfg);
    let far = NOW + 86_400_000;
    match assert_refused(&log, producer_log_append_time_batch(far, &[NOW, NOW + 1])) {
        Error::InvalidTimestamp { timestamp, .. } => assert_eq!(timestamp, far),
        other => panic!("expected InvalidTimestamp, got {other}"),
    }
}

#[test]
fn restamping_a_producer_batch_clears_attribute_bits_kafka_does_not_define() {
    // Kafka's `DefaultRecordBatch.setMaxTimestamp` writes the attributes
    // anew (`computeAttributes`: codec, timestamp type, transactional,
    // control, delete horizon), so bits 7-15 a producer set do not survive.
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    let honest = client_batch(Compression::None, &[(NOW, Some("a"), "1")]);
    let mut b = BytesMut::from(&honest[..]);
    let at = strata::internals::format::layout::ATTRIBUTES;
    b[at] = 0x81; // bits 15 and 8
    b[strata::internals::format::layout::MAX_TIMESTAMP..][..8].copy_from_slice(&5i64.to_be_bytes());
    let crc = strata::internals::format::crc::crc32c(&b[at..]);
    b[strata::internals::format::layout::CRC..][..4].copy_from_slice(&crc.to_be_bytes());
    log.append_batch(b.freeze()).unwrap();
    log.close().unwrap();
    let stored = disk_batches(dir.path());
    let (_, _, batch) = stored.first().unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.max_timestamp(), NOW);
    assert_eq!(batch.attributes(), 0);
}

#[test]
fn log_append_refuses_a_negative_record_timestamp_other_than_minus_one() {
    // Kafka's producer never sends one (ProducerRecord refuses a negative
    // timestamp, MemoryRecordsBuilder.appendWithOffset any below -1): stored,
    // such a batch's maxTimestamp stays -1 below its records' largest, which
    // kafka_verify.py and DumpLogSegments report. -1 is the time of the append.
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        LogConfig::default(),
        LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime),
        LogConfig::default().compression_type(TopicCompression::Codec(Compression::Zstd)),
    ];
    for (i, cfg) in configs.into_iter().enumerate() {
        let (log, _) = open(&dir.path().join(i.to_string()), cfg);
        log.append(&[Record::new("k", "v").timestamp(NOW)]).unwrap();
        for bad in [-2, -5, i64::MIN] {
            for records in [
                vec![Record::new("k", "v").timestamp(bad)],
                vec![Record::new("a", "1").timestamp(NOW), Record::new("b", "2").timestamp(bad)],
                vec![Record::new("a", "1"), Record::new("b", "2").timestamp(bad)],
            ] {
                match log.append(&records) {
                    Err(e @ Error::InvalidTimestamp { timestamp, .. }) => {
                        assert_eq!(timestamp, bad, "{e}");
                        assert!(e.to_string().contains("negative"), "{e}");
                    }
                    other => panic!("timestamp {bad}: expected InvalidTimestamp, got {other:?}"),
                }
                assert_eq!(log.log_end_offset(), 1, "nothing of a refused append is kept");
                assert!(log.poisoned().is_none());
            }
        }
        // -1 is the time of the append, and 0 is a timestamp like any other.
        log.append(&[Record::new("k", "v"), Record::new("k", "w").timestamp(0)]).unwrap();
        assert_eq!(log.log_end_offset(), 3);
        let fetched = log.read(1, usize::MAX).unwrap();
        let batch = fetched.batches().next().unwrap();
        if batch.timestamp_type() == TimestampType::CreateTime {
            assert_eq!(batch.max_timestamp(), NOW);
        }
    }
}
