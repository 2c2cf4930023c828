//! Appending client batches to a [`Log`] (offset assignment, timestamps,
//! recompression, every refusal) and reading them back (whole batches,
//! KIP-74's one-batch minimum, segment boundaries, zero-copy file slices).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use strata::Error;
use strata::internals::format::builder::set_max_timestamp;
use strata::internals::format::{
    BatchBuilder, BatchIter, BatchView, Compression, ControlRecord, FormatError, Header,
    NO_TIMESTAMP, Record, TimestampType,
};
use strata::{CleanupPolicy, LogConfig, TopicCompression};
use strata::{Clock, ManualClock};
use strata::{LoadOptions, Log};

const NOW: i64 = 1_700_000_000_000;

fn open_with(dir: &Path, cfg: LogConfig, clock: Arc<dyn Clock>, options: LoadOptions) -> Log {
    Log::open(dir, "t", 0, cfg, clock, options).unwrap().0
}

fn open(dir: &Path, cfg: LogConfig) -> (Log, Arc<ManualClock>) {
    let clock = ManualClock::new(NOW);
    (open_with(dir, cfg, clock.clone(), LoadOptions::default()), clock)
}

/// A client batch (base offset 0) of `(timestamp, key, value)` records.
fn client_batch(codec: Compression, records: &[(i64, Option<&str>, &str)]) -> Bytes {
    let mut b = BatchBuilder::new(0).compression(codec, None);
    for &(ts, key, value) in records {
        let r = match key {
            Some(k) => Record::new(k.to_owned(), value.to_owned()),
            None => Record::unkeyed(value.to_owned()),
        };
        b.append(&r.timestamp(ts)).unwrap();
    }
    b.build().unwrap()
}

/// A batch of `n` keyed records with `value_len`-byte values, timestamps `ts0 + i`.
fn sized_batch(n: usize, value_len: usize, ts0: i64) -> Bytes {
    let mut b = BatchBuilder::new(0);
    for i in 0..n {
        let value = vec![b'a' + (i % 26) as u8; value_len];
        b.append(&Record::new(format!("k{i}"), value).timestamp(ts0 + i as i64)).unwrap();
    }
    b.build().unwrap()
}

/// Every batch on disk, read with `std::fs`: (file, position, batch).
fn disk_batches(dir: &Path) -> Vec<(std::path::PathBuf, usize, BatchView)> {
    let mut out = Vec::new();
    for (path, bytes) in common::segment_logs(dir) {
        let mut it = BatchIter::validating(Bytes::from(bytes));
        for (pos, b) in it.by_ref() {
            out.push((path.clone(), pos, b));
        }
        assert_eq!(
            it.stop_reason(),
            Some(&strata::internals::format::StopReason::End),
            "{}",
            path.display()
        );
    }
    out
}

/// Replaces the CRC-covered maxTimestamp (and timestamp type) of a batch, recomputing the CRC.
fn with_max_timestamp(batch: &Bytes, ts_type: TimestampType, max_ts: i64) -> Bytes {
    let mut buf = BytesMut::from(batch.as_ref());
    set_max_timestamp(&mut buf, ts_type, max_ts);
    buf.freeze()
}

// ---------------------------------------------------------------------------------------------
// Offset assignment and verbatim storage
// ---------------------------------------------------------------------------------------------

#[test]
fn offsets_come_from_the_log_end_and_the_client_batch_is_stored_verbatim_but_for_base_offset_and_leader_epoch()
 {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    let batches = vec![
        client_batch(Compression::None, &[(NOW, Some("a"), "1")]),
        // Non-monotonic timestamps and a null key: still verbatim.
        client_batch(
            Compression::None,
            &[(NOW + 50, Some("b"), "2"), (NOW - 20, None, "3"), (NOW + 7, Some("c"), "")],
        ),
        client_batch(Compression::Lz4, &[(NOW, Some("d"), "4"), (NOW + 1, Some("e"), "5")]),
        client_batch(Compression::Zstd, &[(NOW + 3, Some("f"), "6")]),
        {
            let mut b = BatchBuilder::new(0).producer(4242, 3, 17).transactional(false);
            b.append(&Record::new("g", "7").timestamp(NOW).header("h", "v")).unwrap();
            b.append(&Record::tombstone("h").timestamp(NOW + 1)).unwrap();
            b.build().unwrap()
        },
    ];
    let mut expected_base = 0;
    for client in &batches {
        let view = BatchView::new(client.clone()).unwrap();
        assert_eq!(log.log_end_offset(), expected_base);
        let info = log.append_batch(client.clone()).unwrap();
        assert_eq!(info.base_offset, expected_base);
        assert_eq!(info.last_offset, expected_base + i64::from(view.last_offset_delta()));
        assert_eq!(info.records, i64::from(view.records_count()));
        assert_eq!(info.size, client.len());
        assert_eq!(info.max_timestamp, view.max_timestamp());
        expected_base = info.last_offset + 1;
        assert_eq!(log.log_end_offset(), expected_base);
    }
    log.close().unwrap();
    let stored = disk_batches(dir.path());
    assert_eq!(stored.len(), batches.len());
    let mut next = 0i64;
    for ((_, _, s), client) in stored.iter().zip(&batches) {
        let s = s.as_bytes();
        assert_eq!(s.len(), client.len());
        assert_eq!(&s[0..8], &next.to_be_bytes(), "base offset is the log end offset");
        assert_eq!(&s[8..12], &client[8..12], "batchLength unchanged");
        assert_eq!(&s[12..16], &0i32.to_be_bytes(), "the log's leader epoch (0) is stamped");
        assert_eq!(&s[16..], &client[16..], "magic, CRC and everything after it are verbatim");
        next += i64::from(BatchView::new(client.clone()).unwrap().last_offset_delta()) + 1;
    }
    common::assert_kafka_accepts(dir.path(), 4096);
}

#[test]
fn log_append_builds_batches_of_the_records_and_stamps_missing_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock) = open(dir.path(), LogConfig::default());
    let info =
        log.append(&[Record::new("a", "1"), Record::new("b", "2").timestamp(NOW - 5)]).unwrap();
    assert_eq!((info.base_offset, info.last_offset, info.records), (0, 1, 2));
    clock.advance(10);
    let info = log.append(&[Record::unkeyed("3")]).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (2, 2));
    let f = log.read(0, usize::MAX).unwrap();
    let got: Vec<(i64, i64)> =
        f.records().map(|r| r.unwrap()).map(|r| (r.offset(), r.timestamp())).collect();
    assert_eq!(got, vec![(0, NOW), (1, NOW - 5), (2, NOW + 10)]);
    assert!(matches!(log.append::<Record>(&[]), Err(Error::InvalidRecord { .. })));
    assert_eq!(log.log_end_offset(), 3);
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

#[test]
fn create_time_max_timestamp_is_recomputed_to_the_largest_record_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    let records = [(NOW + 10, Some("a"), "1"), (NOW + 90, Some("b"), "2"), (NOW, Some("c"), "3")];
    let honest = client_batch(Compression::None, &records);
    // A producer that lies low, one that lies high, and one that flags LogAppendTime.
    let lies = [
        with_max_timestamp(&honest, TimestampType::CreateTime, 5),
        with_max_timestamp(&honest, TimestampType::CreateTime, NOW + 1_000_000),
        with_max_timestamp(&honest, TimestampType::LogAppendTime, NOW + 555),
        with_max_timestamp(
            &client_batch(Compression::Gzip, &records),
            TimestampType::CreateTime,
            -1,
        ),
    ];
    for lie in &lies {
        let info = log.append_batch(lie.clone()).unwrap();
        assert_eq!(info.max_timestamp, NOW + 90);
    }
    log.close().unwrap();
    let stored = disk_batches(dir.path());
    assert_eq!(stored.len(), lies.len());
    for (_, _, b) in &stored {
        b.validate_records().unwrap(); // the CRC was recomputed
        assert_eq!(b.timestamp_type(), TimestampType::CreateTime);
        assert_eq!(b.max_timestamp(), NOW + 90);
        let ts: Vec<i64> = b.records().unwrap().map(|r| r.unwrap().timestamp()).collect();
        assert_eq!(ts, vec![NOW + 10, NOW + 90, NOW]);
    }
    // The honest batch's CRC does not change at all.
    assert_eq!(stored[0].2.as_bytes()[16..], honest[16..]);
    common::assert_kafka_accepts(dir.path(), 4096);
}

#[test]
fn log_append_time_topic_stamps_now_recomputes_the_crc_and_every_record_reads_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime);
    let (log, clock) = open(dir.path(), cfg);
    let a = client_batch(
        Compression::None,
        &[(NOW - 5_000, Some("a"), "1"), (NOW - 9_000, Some("b"), "2")],
    );
    let b = client_batch(Compression::Lz4, &[(NOW - 1, Some("c"), "3")]);
    let info = log.append_batch(a.clone()).unwrap();
    assert_eq!(info.max_timestamp, NOW);
    clock.advance(1_234);
    let info = log.append_batch(b.clone()).unwrap();
    assert_eq!(info.max_timestamp, NOW + 1_234);
    // Timestamps far outside the bounds are fine: bounds apply to CreateTime only.
    log.set_config(log.config().as_ref().clone().message_timestamp_before_max_ms(10)).unwrap();
    log.append_batch(client_batch(Compression::None, &[(1, Some("d"), "4")])).unwrap();

    let f = log.read(0, usize::MAX).unwrap();
    let batches: Vec<BatchView> = f.batches().collect();
    assert_eq!(batches.len(), 3);
    for (b, now) in batches.iter().zip([NOW, NOW + 1_234, NOW + 1_234]) {
        b.validate_records().unwrap();
        assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(b.max_timestamp(), now);
        for r in b.records().unwrap() {
            assert_eq!(r.unwrap().timestamp(), now);
        }
    }
    // The producer's timestamps stay in the record deltas, untouched.
    let deltas: Vec<i64> =
        batches[0].records().unwrap().map(|r| r.unwrap().timestamp_delta()).collect();
    assert_eq!(deltas, vec![0, -4_000]);
    assert_eq!(batches[0].base_timestamp(), NOW - 5_000);
    let times: Vec<i64> = f.records().map(|r| r.unwrap().timestamp()).collect();
    assert_eq!(times, vec![NOW, NOW, NOW + 1_234, NOW + 1_234]);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

#[test]
fn log_append_time_topic_refuses_a_batch_already_flagged_log_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime);
    let (log, _) = open(dir.path(), cfg);
    log.append_batch(client_batch(Compression::None, &[(NOW, Some("a"), "1")])).unwrap();
    let flagged = with_max_timestamp(
        &client_batch(Compression::None, &[(NOW, Some("b"), "2")]),
        TimestampType::LogAppendTime,
        NOW,
    );
    let err = assert_refused(&log, flagged);
    assert!(matches!(err, Error::InvalidRecord { .. } | Error::InvalidTimestamp { .. }), "{err}");
}

#[test]
fn log_append_time_flag_from_a_producer_is_an_invalid_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime);
    let (log, _) = open(dir.path(), cfg);
    let flagged = with_max_timestamp(
        &client_batch(Compression::None, &[(NOW, Some("b"), "2")]),
        TimestampType::LogAppendTime,
        NOW,
    );
    let err = assert_refused(&log, flagged);
    assert!(matches!(err, Error::InvalidTimestamp { .. }), "{err}");
}

#[test]
fn create_time_bounds_refuse_old_and_future_timestamps_but_accept_the_edges_and_minus_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default()
        .message_timestamp_before_max_ms(1_000)
        .message_timestamp_after_max_ms(2_000);
    let (log, _) = open(dir.path(), cfg);
    for ts in [NOW - 1_000, NOW + 2_000, NO_TIMESTAMP, NOW] {
        log.append_batch(client_batch(Compression::None, &[(ts, Some("k"), "v")])).unwrap();
    }
    let old =
        client_batch(Compression::None, &[(NOW, Some("k"), "v"), (NOW - 1_001, Some("k"), "v")]);
    match assert_refused(&log, old) {
        Error::InvalidTimestamp { timestamp, now, .. } => {
            assert_eq!((timestamp, now), (NOW - 1_001, NOW))
        }
        other => panic!("expected InvalidTimestamp, got {other}"),
    }
    let new = client_batch(Compression::Snappy, &[(NOW + 2_001, Some("k"), "v")]);
    match assert_refused(&log, new) {
        Error::InvalidTimestamp { timestamp, .. } => assert_eq!(timestamp, NOW + 2_001),
        other => panic!("expected InvalidTimestamp, got {other}"),
    }
}

#[test]
fn deprecated_timestamp_difference_bounds_both_directions_when_before_and_after_are_default() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().message_timestamp_difference_max_ms(1_000);
    assert_eq!(cfg.effective_timestamp_before_max_ms(), 1_000);
    assert_eq!(cfg.effective_timestamp_after_max_ms(), 1_000);
    let (log, _) = open(dir.path(), cfg);
    let old = client_batch(Compression::None, &[(NOW - 1_001, Some("k"), "v")]);
    assert!(matches!(assert_refused(&log, old), Error::InvalidTimestamp { .. }));
    let new = client_batch(Compression::None, &[(NOW + 1_001, Some("k"), "v")]);
    assert!(matches!(assert_refused(&log, new), Error::InvalidTimestamp { .. }));
}

// ---------------------------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------------------------

#[test]
fn gzip_topic_recompresses_an_lz4_batch_keeping_producer_id_epoch_and_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().compression_type(TopicCompression::Codec(Compression::Gzip));
    let (log, _) = open(dir.path(), cfg);
    log.append_batch(client_batch(Compression::None, &[(NOW, Some("x"), "0")])).unwrap();
    let mut b = BatchBuilder::new(0).compression(Compression::Lz4, None).producer(9_001, 4, 77);
    let originals = vec![
        Record::new("a", "alpha".repeat(20)).timestamp(NOW + 30).header("h1", "v1"),
        Record::tombstone("b").timestamp(NOW - 10),
        Record::unkeyed("gamma").timestamp(NOW + 5),
    ];
    for r in &originals {
        b.append(r).unwrap();
    }
    let lz4 = b.build().unwrap();
    let info = log.append_batch(lz4).unwrap();
    assert_eq!((info.base_offset, info.last_offset, info.max_timestamp), (1, 3, NOW + 30));

    let f = log.read(1, usize::MAX).unwrap();
    let stored: Vec<BatchView> = f.batches().collect();
    assert_eq!(stored.len(), 1);
    let s = &stored[0];
    s.validate_records().unwrap();
    assert_eq!(s.compression().unwrap(), Compression::Gzip);
    assert_eq!((s.producer_id(), s.producer_epoch(), s.base_sequence()), (9_001, 4, 77));
    assert!(!s.is_transactional());
    assert_eq!((s.base_offset(), s.last_offset_delta(), s.records_count()), (1, 2, 3));
    assert_eq!(s.partition_leader_epoch(), 0);
    assert_eq!(s.max_timestamp(), NOW + 30);
    let got: Vec<_> = s.records().unwrap().map(|r| r.unwrap()).collect();
    for (i, (r, o)) in got.iter().zip(&originals).enumerate() {
        assert_eq!(r.to_record(), *o);
        assert_eq!(r.offset(), 1 + i as i64);
        assert_eq!(r.sequence(), 77 + i as i32);
    }
    // The first (uncompressed) batch was recompressed too.
    let first: Vec<BatchView> = log.read(0, 1).unwrap().batches().collect();
    assert_eq!(first[0].compression().unwrap(), Compression::Gzip);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

#[test]
fn a_transactional_batch_keeps_its_flag_when_recompressed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default().compression_type(TopicCompression::Uncompressed);
    let (log, _) = open(dir.path(), cfg);
    let mut b = BatchBuilder::new(0)
        .compression(Compression::Zstd, None)
        .producer(5, 0, 0)
        .transactional(true);
    b.append(&Record::new("k", "v").timestamp(NOW)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    let s = log.read(0, 1).unwrap().batches().next().unwrap();
    assert_eq!(s.compression().unwrap(), Compression::None);
    assert!(s.is_transactional());
    assert_eq!((s.producer_id(), s.producer_epoch(), s.base_sequence()), (5, 0, 0));
}

#[test]
fn producer_compression_type_keeps_the_codec() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    assert_eq!(log.config().compression_type, TopicCompression::Producer);
    let mut clients = Vec::new();
    for codec in Compression::ALL {
        let records: Vec<(i64, Option<&str>, &str)> =
            vec![(NOW, Some("k1"), "some value some value"), (NOW + 1, Some("k2"), "other")];
        let client = client_batch(codec, &records);
        log.append_batch(client.clone()).unwrap();
        clients.push((codec, client));
    }
    let f = log.read(0, usize::MAX).unwrap();
    let stored: Vec<BatchView> = f.batches().collect();
    assert_eq!(stored.len(), clients.len());
    for (s, (codec, client)) in stored.iter().zip(&clients) {
        assert_eq!(s.compression().unwrap(), *codec);
        assert_eq!(s.as_bytes()[16..], client[16..], "{codec} batch stored verbatim");
    }
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), 4096);
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

/// Appends `batch`, expects a refusal and checks the log did not change; returns the error.
fn assert_refused(log: &Log, batch: Bytes) -> Error {
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

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// A log of `batches` batches; batch `i` holds `1 + i % 4` records with 60-byte values.
fn filled_log(dir: &Path, cfg: LogConfig, batches: usize) -> Log {
    let (log, _) = open(dir, cfg);
    for i in 0..batches {
        log.append_batch(sized_batch(1 + i % 4, 60, NOW + i as i64)).unwrap();
    }
    log
}

#[test]
fn read_returns_whole_batches_starting_at_the_batch_holding_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(
        dir.path(),
        LogConfig::default().segment_bytes(2_000).index_interval_bytes(300),
        60,
    );
    assert!(log.segment_count() > 3);
    let leo = log.log_end_offset();
    let all: Vec<BatchView> = log.read(0, usize::MAX).unwrap().batches().collect();
    assert_eq!(all.last().unwrap().next_offset(), leo);
    for offset in 0..leo {
        let holder = all
            .iter()
            .position(|b| b.base_offset() <= offset && offset <= b.last_offset())
            .unwrap();
        // max_bytes 1: exactly the batch holding the offset.
        let f = log.read(offset, 1).unwrap();
        let got: Vec<BatchView> = f.batches().collect();
        assert_eq!(got, vec![all[holder].clone()], "offset {offset}");
        assert_eq!(f.next_offset(), all[holder].next_offset());
        assert_eq!(f.size_bytes(), all[holder].size());
        // Unbounded: every batch from there to the end, across segments.
        let f = log.read(offset, usize::MAX).unwrap();
        let got: Vec<BatchView> = f.batches().collect();
        assert_eq!(got, all[holder..].to_vec(), "offset {offset}");
        assert_eq!(f.next_offset(), leo);
        assert_eq!(f.log_end_offset(), leo);
    }
}

#[test]
fn read_stops_before_max_bytes_but_always_returns_at_least_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(10_000), 80);
    let all: Vec<BatchView> = log.read(0, usize::MAX).unwrap().batches().collect();
    for max_bytes in [0, 1, 100, 250, 500, 1_000, 2_999, 3_000, 5_000, 100_000] {
        let mut offset = 0;
        while offset < log.log_end_offset() {
            let f = log.read(offset, max_bytes).unwrap();
            let got: Vec<BatchView> = f.batches().collect();
            assert!(!got.is_empty());
            assert!(
                f.size_bytes() <= max_bytes || got.len() == 1,
                "{max_bytes}: {}",
                f.size_bytes()
            );
            // Greedy: the next batch would not have fit.
            let next = all.iter().find(|b| b.base_offset() == f.next_offset());
            if let Some(next) = next {
                assert!(
                    f.size_bytes() + next.size() > max_bytes,
                    "read stopped early at {max_bytes}"
                );
            }
            offset = f.next_offset();
        }
        assert_eq!(offset, log.log_end_offset());
    }
    // One batch larger than max_bytes on its own.
    log.append_batch(sized_batch(10, 500, NOW)).unwrap();
    let f = log.read(log.log_end_offset() - 1, 10).unwrap();
    assert_eq!(f.batches().count(), 1);
    assert!(f.size_bytes() > 5_000);
    assert_eq!(f.next_offset(), log.log_end_offset());
}

#[test]
fn read_is_out_of_range_below_the_log_start_and_above_the_log_end_and_empty_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(1_000), 30);
    let leo = log.log_end_offset();
    let f = log.read(leo, 1_000).unwrap();
    assert!(f.is_empty());
    assert_eq!((f.size_bytes(), f.next_offset(), f.batches().count()), (0, leo, 0));
    assert_eq!(f.records().count(), 0);
    for bad in [leo + 1, leo + 1_000, -1] {
        match log.read(bad, 1_000) {
            Err(Error::OffsetOutOfRange { offset, log_start_offset: 0, log_end_offset }) => {
                assert_eq!((offset, log_end_offset), (bad, leo));
            }
            other => panic!("read({bad}): expected OffsetOutOfRange, got {other:?}"),
        }
    }
    log.close().unwrap();
    drop(log);
    // Reopen with a log start offset in the middle of a batch.
    let start = 17;
    let options =
        LoadOptions { clean_shutdown: true, recovery_point: leo, log_start_offset: start };
    let log = open_with(
        dir.path(),
        LogConfig::default().segment_bytes(1_000),
        ManualClock::new(NOW),
        options,
    );
    assert_eq!(log.log_start_offset(), start);
    assert!(matches!(log.read(start - 1, 1_000), Err(Error::OffsetOutOfRange { .. })));
    assert!(matches!(log.read(0, 1_000), Err(Error::OffsetOutOfRange { .. })));
    let f = log.read(start, 1).unwrap();
    let first = f.batches().next().unwrap();
    assert!(first.base_offset() <= start && start <= first.last_offset());
    assert_eq!(f.records().next().unwrap().unwrap().offset(), start);
    assert!(log.read(log.log_end_offset(), 10).unwrap().is_empty());
    // An empty log: offset 0 is the end.
    let empty = tempfile::tempdir().unwrap();
    let (log, _) = open(empty.path(), LogConfig::default());
    assert!(log.read(0, 100).unwrap().is_empty());
    assert!(matches!(log.read(1, 100), Err(Error::OffsetOutOfRange { .. })));
}

#[test]
fn fetched_slices_name_the_file_position_and_bytes_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(
        dir.path(),
        LogConfig::default().segment_bytes(1_500).index_interval_bytes(100),
        50,
    );
    let check = |log: &Log| {
        for (offset, max_bytes) in [(0, usize::MAX), (7, 2_000), (33, 1), (40, 900), (0, 4_000)] {
            let f = log.read(offset, max_bytes).unwrap();
            let mut next = None;
            for s in f.slices() {
                let mut file = std::fs::File::open(&s.path).unwrap();
                file.seek(SeekFrom::Start(s.position)).unwrap();
                let mut on_disk = vec![0; s.bytes.len()];
                file.read_exact(&mut on_disk).unwrap();
                assert_eq!(on_disk, s.bytes.as_ref(), "{} @ {}", s.path.display(), s.position);
                assert!(common::is_segment_log_name(s.path.file_name().unwrap()));
                // Whole batches, in offset order.
                let mut it = BatchIter::validating(s.bytes.clone());
                for (_, b) in it.by_ref() {
                    assert!(next.is_none_or(|n| b.base_offset() >= n));
                    next = Some(b.next_offset());
                }
                assert_eq!(it.valid_len(), s.bytes.len());
            }
            assert_eq!(next, Some(f.next_offset()));
        }
    };
    check(&log);
    assert!(
        log.read(0, usize::MAX).unwrap().slices().len() > 3,
        "several segments, several slices"
    );
    log.close().unwrap();
    drop(log);
    // And through the lazy maps of a reopened log.
    let options = LoadOptions { clean_shutdown: true, ..LoadOptions::default() };
    let log = open_with(
        dir.path(),
        LogConfig::default().segment_bytes(1_500),
        ManualClock::new(NOW),
        options,
    );
    check(&log);
}

#[test]
fn read_returns_contiguous_batches_and_never_skips_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(
        dir.path(),
        LogConfig::default().segment_bytes(1_500).index_interval_bytes(100),
        50,
    );
    // e.g. read(3, 500) returned 3..=5 from the first segment, found the next batch too big for
    // the rest of the budget, went on to the next segments and returned offsets from 41 on.
    let leo = log.log_end_offset();
    for max_bytes in [1, 200, 500, 900, 1_200, 2_000, 3_000] {
        for start in 0..leo {
            let f = log.read(start, max_bytes).unwrap();
            let mut next: Option<i64> = None;
            for b in f.batches() {
                if let Some(n) = next {
                    assert_eq!(
                        b.base_offset(),
                        n,
                        "read({start}, {max_bytes}) skipped offsets {n}..{}",
                        b.base_offset()
                    );
                }
                next = Some(b.next_offset());
            }
            assert_eq!(next, Some(f.next_offset()));
        }
    }
}

#[test]
fn keys_and_values_of_uncompressed_batches_point_into_the_mapped_slice() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(1_500), 20);
    let f = log.read(0, usize::MAX).unwrap();
    let ranges: Vec<std::ops::Range<usize>> = f
        .slices()
        .iter()
        .map(|s| s.bytes.as_ptr() as usize..s.bytes.as_ptr() as usize + s.bytes.len())
        .collect();
    let inside = |b: &Bytes| {
        let (start, end) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
        ranges.iter().any(|r| r.start <= start && end <= r.end)
    };
    let mut n = 0;
    for r in f.records() {
        let r = r.unwrap();
        assert!(inside(r.key().unwrap()), "key of {} is a copy", r.offset());
        assert!(inside(r.value().unwrap()), "value of {} is a copy", r.offset());
        n += 1;
    }
    assert_eq!(n, log.log_end_offset());
}

#[test]
fn records_skip_offsets_below_the_requested_one_inside_the_first_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    log.append_batch(sized_batch(5, 10, NOW)).unwrap(); // 0..=4
    log.append_batch(client_batch(
        Compression::Gzip,
        &[(NOW, Some("a"), "1"), (NOW, Some("b"), "2"), (NOW, Some("c"), "3")],
    ))
    .unwrap(); // 5..=7
    for start in 0..8 {
        let f = log.read(start, usize::MAX).unwrap();
        let offsets: Vec<i64> = f.records().map(|r| r.unwrap().offset()).collect();
        assert_eq!(offsets, (start..8).collect::<Vec<_>>(), "start {start}");
        // The first batch is returned whole.
        assert!(f.batches().next().unwrap().base_offset() <= start);
    }
    let f = log.read(6, 1).unwrap();
    let values: Vec<Bytes> = f.records().map(|r| r.unwrap().value().unwrap().clone()).collect();
    assert_eq!(values, vec![Bytes::from("2"), Bytes::from("3")]);
    assert_eq!(f.batches().next().unwrap().base_offset(), 5);
}

#[test]
fn concurrent_reads_never_see_past_the_log_end_or_a_torn_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) =
        open(dir.path(), LogConfig::default().segment_bytes(20_000).index_interval_bytes(500));
    const BATCHES: usize = 1_500;
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..BATCHES {
                // Equal-sized batches: see read_returns_contiguous_batches_and_never_skips_offsets.
                log.append_batch(sized_batch(2, 40, NOW + i as i64)).unwrap();
            }
        })
    };
    let mut offset = 0;
    let mut batches = 0;
    let mut empty_reads = 0u64;
    while batches < BATCHES {
        let f = log.read(offset, 4_096).unwrap();
        assert!(f.next_offset() <= f.log_end_offset());
        let mut next = offset;
        for s in f.slices() {
            let mut it = BatchIter::validating(s.bytes.clone());
            for (_, b) in it.by_ref() {
                assert!(b.last_offset() < f.log_end_offset(), "batch past the snapshotted LEO");
                assert!(b.base_offset() == next || (next == offset && b.base_offset() <= offset));
                next = b.next_offset();
                batches += 1;
            }
            assert_eq!(it.valid_len(), s.bytes.len(), "torn or corrupt batch in a read");
        }
        if f.is_empty() {
            empty_reads += 1;
            std::thread::yield_now();
        }
        offset = f.next_offset();
    }
    writer.join().unwrap();
    assert_eq!(offset, log.log_end_offset());
    assert!(log.segment_count() > 2);
    eprintln!("{empty_reads} empty reads while racing the appender");
}

#[test]
fn headers_and_null_values_survive_append_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    let records = vec![
        Record::new("k", "v").timestamp(NOW).header("a", "1").header("a", "2"),
        Record::tombstone("gone").timestamp(NOW + 1),
        Record {
            timestamp: NOW + 2,
            key: None,
            value: None,
            headers: vec![Header::new("n", None::<Bytes>)],
        },
    ];
    let mut b = BatchBuilder::new(0);
    for r in &records {
        b.append(r).unwrap();
    }
    log.append_batch(b.build().unwrap()).unwrap();
    let got: Vec<Record> =
        log.read(0, 1).unwrap().records().map(|r| r.unwrap().to_record()).collect();
    assert_eq!(got, records);
}

/// The stored bytes of every batch in the log, in order.
fn stored_batches(log: &Log) -> Vec<Vec<u8>> {
    let f = log.read(0, usize::MAX).unwrap();
    f.batches().map(|b| b.as_bytes().to_vec()).collect()
}

#[test]
fn borrowed_owned_and_client_built_records_store_the_same_bytes() {
    use strata::{BorrowedHeader, BorrowedRecord};
    let key_buf = String::from("order-1order-2");
    let value_buf = vec![7u8; 300];
    for cfg in [
        LogConfig::default(),
        LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime),
        LogConfig::default().compression_type(TopicCompression::Codec(Compression::Gzip)),
    ] {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let (borrowed_log, _) = open(a.path(), cfg.clone());
        let (owned_log, _) = open(b.path(), cfg.clone());
        let (client_log, _) = open(c.path(), cfg.clone());
        let borrowed = [
            BorrowedRecord::new(&key_buf[..7], &value_buf[..100]).timestamp(NOW - 3),
            BorrowedRecord {
                headers: vec![
                    BorrowedHeader::new("h", Some("x")),
                    BorrowedHeader::new("n", None::<&str>),
                ],
                ..BorrowedRecord::tombstone(&key_buf[7..])
            },
            BorrowedRecord::unkeyed(&value_buf[100..]),
        ];
        let owned: Vec<Record> = borrowed.iter().map(BorrowedRecord::to_record).collect();
        let at = borrowed_log.append(&borrowed).unwrap();
        assert_eq!(owned_log.append(&owned).unwrap(), at);
        // The same records as a client batch, timestamps already stamped.
        let codec = cfg.compression_type.target(Compression::None);
        let mut batch = BatchBuilder::new(0).compression(codec, None);
        for r in &owned {
            let ts = if r.timestamp == NO_TIMESTAMP { NOW } else { r.timestamp };
            batch.append(&r.clone().timestamp(ts)).unwrap();
        }
        assert_eq!(client_log.append_batch(batch.build().unwrap()).unwrap(), at);
        let stored = stored_batches(&borrowed_log);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored, stored_batches(&owned_log));
        assert_eq!(stored, stored_batches(&client_log));
        let view = BatchView::new(Bytes::from(stored[0].clone())).unwrap();
        view.validate_records().unwrap();
        let back: Vec<Record> = view.records().unwrap().map(|r| r.unwrap().to_record()).collect();
        assert_eq!(
            back.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
            owned.iter().map(|r| r.key.clone()).collect::<Vec<_>>()
        );
        assert_eq!(back[1].headers, owned[1].headers);
        assert_eq!(back[2].value.as_deref(), Some(&value_buf[100..]));
    }
}

#[test]
fn records_the_log_builds_are_held_to_the_topic_rules_without_revalidation() {
    use strata::BorrowedRecord;
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default()
        .cleanup_policy(CleanupPolicy::COMPACT)
        .message_timestamp_difference_max_ms(1_000)
        .max_message_bytes(500);
    let (log, _) = open(dir.path(), cfg);
    let keyless = log.append(&[BorrowedRecord::new("k", "v"), BorrowedRecord::unkeyed("v")]);
    assert!(
        matches!(&keyless, Err(Error::InvalidRecord { reason }) if reason.contains("offset delta 1 without a key")),
        "{keyless:?}"
    );
    let stale = log.append(&[BorrowedRecord::new("k", "v").timestamp(NOW - 5_000)]);
    assert!(
        matches!(stale, Err(Error::InvalidTimestamp { timestamp, .. }) if timestamp == NOW - 5_000)
    );
    let big = vec![0u8; 600];
    let too_large = log.append(&[BorrowedRecord::new("k", &big)]);
    assert!(matches!(
        too_large,
        Err(Error::RecordTooLarge { limit_name: "max.message.bytes", .. })
    ));
    assert_eq!(log.log_end_offset(), 0, "nothing refused was written");
    let at = log.append(&[BorrowedRecord::new("k", "v")]).unwrap();
    assert_eq!((at.base_offset, at.max_timestamp), (0, NOW));
}

/// `(offset, record)` of every record a fetch yields through the borrowed views.
fn viewed(f: &strata::Fetched) -> Vec<(i64, Record)> {
    let mut out = Vec::new();
    for batch in f.record_batches() {
        let batch = batch.unwrap();
        for r in batch.records() {
            let r = r.unwrap();
            out.push((r.offset(), r.to_record()));
        }
    }
    out
}

#[test]
fn record_views_yield_the_same_records_as_owned_records_from_every_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) =
        open(dir.path(), LogConfig::default().segment_bytes(1_200).index_interval_bytes(200));
    for i in 0..30i64 {
        if i % 3 == 0 {
            let v = format!("z{i}");
            log.append_batch(client_batch(
                Compression::Gzip,
                &[(NOW + i, Some("a"), v.as_str()), (NOW + i, None, "b"), (NOW + i, Some("c"), "")],
            ))
            .unwrap();
        } else {
            log.append_batch(sized_batch(1 + (i as usize) % 5, 30, NOW + i)).unwrap();
        }
    }
    assert!(log.segment_count() > 3);
    let leo = log.log_end_offset();
    for start in 0..leo {
        for max_bytes in [1, 700, usize::MAX] {
            let f = log.read(start, max_bytes).unwrap();
            let owned: Vec<(i64, Record)> =
                f.records().map(|r| r.unwrap()).map(|r| (r.offset(), r.to_record())).collect();
            assert_eq!(owned.first().map(|r| r.0), Some(start), "start {start}");
            assert_eq!(viewed(&f), owned, "start {start}, max_bytes {max_bytes}");
        }
    }
}

#[test]
fn record_views_of_uncompressed_batches_point_into_the_mapped_slice() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(1_500), 20);
    let f = log.read(0, usize::MAX).unwrap();
    let ranges: Vec<std::ops::Range<usize>> = f
        .slices()
        .iter()
        .map(|s| s.bytes.as_ptr() as usize..s.bytes.as_ptr() as usize + s.bytes.len())
        .collect();
    let inside = |b: &[u8]| {
        let (start, end) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
        ranges.iter().any(|r| r.start <= start && end <= r.end)
    };
    let mut n = 0;
    for batch in f.record_batches() {
        let batch = batch.unwrap();
        for r in batch.records() {
            let r = r.unwrap();
            assert!(inside(r.key().unwrap()), "key of {} is a copy", r.offset());
            assert!(inside(r.value().unwrap()), "value of {} is a copy", r.offset());
            n += 1;
        }
    }
    assert_eq!(n, log.log_end_offset());
}

#[test]
fn a_byte_flipped_after_the_append_fails_views_and_records_at_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    for i in 0..4 {
        log.append_batch(sized_batch(10, 50, NOW + i)).unwrap();
    }
    // Both paths read the batch whole once, before anything is changed.
    assert_eq!(viewed(&log.read(0, usize::MAX).unwrap()).len(), 40);
    let (path, position, batch) = disk_batches(dir.path()).swap_remove(2);
    // A value byte of the third batch changes on disk (the map sees the same page).
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let at = (position + batch.size() - 10) as u64;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(at)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    std::io::Write::write_all(&mut file, &[byte[0] ^ 0x20]).unwrap();
    drop(file);
    // A point read inside the damaged batch and a scan across it both stop
    // there: a batch verified by an earlier read is verified again.
    for start in [25, 0] {
        let f = log.read(start, usize::MAX).unwrap();
        let err = f.records().find_map(Result::err).expect("records() reports the damage");
        assert!(
            matches!(&err, Error::Corrupt { position: p, source: FormatError::CrcMismatch { .. }, .. } if *p == position as u64),
            "{err}"
        );
        let mut seen = Vec::new();
        let mut failed = None;
        for b in f.record_batches() {
            match b {
                Ok(b) => seen.extend(b.records().map(|r| r.unwrap().offset())),
                Err(e) => failed = Some(e),
            }
        }
        assert!(
            matches!(failed, Some(Error::Corrupt { position: p, .. }) if p == position as u64),
            "record_batches() reports the damage"
        );
        assert!(seen.iter().all(|&o| o < 20), "nothing of or after the damaged batch: {seen:?}");
    }
}
