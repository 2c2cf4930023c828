//! Appending client batches to a [`Log`] (offset assignment, timestamps,
//! recompression, every refusal) and reading them back (whole batches,
//! KIP-74's one-batch minimum, segment boundaries, zero-copy file slices).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod allocation;
#[path = "../common/mod.rs"]
mod common;
mod reads;
mod refusals;
use refusals::assert_refused;

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
        // The log wrote its offsets ahead of the shared bytes, not into them.
        assert_eq!(&client[0..8], &0i64.to_be_bytes(), "the caller's base offset is untouched");
        assert_eq!(&client[12..16], &(-1i32).to_be_bytes(), "and its leader epoch");
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

/// `Log::append` encodes each batch in the buffer of the thread's last one
/// (emptied): a small batch after a large one, a large after a small, and a
/// compressed one among them are each stored as a fresh builder writes them,
/// nothing of an earlier batch's bytes left in or after them.
#[test]
fn log_append_batches_built_in_a_reused_buffer_are_exactly_what_a_fresh_builder_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    let shapes: [(usize, usize, u8); 5] =
        [(5, 3000, b'x'), (1, 3, b'y'), (2, 40_000, b'z'), (3, 1, b'w'), (1, 0, b'v')];
    let mut expected = Vec::new();
    for (n, len, fill) in shapes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record::new(format!("k{i}"), vec![fill; len]).timestamp(NOW + i as i64))
            .collect();
        let info = log.append(&records).unwrap();
        let mut b = BatchBuilder::new(info.base_offset);
        for r in &records {
            b.append(r).unwrap();
        }
        expected.push(b.build().unwrap());
    }
    let gzip = LogConfig::default().compression_type(TopicCompression::Codec(Compression::Gzip));
    log.set_config(gzip).unwrap();
    log.append(&[Record::new("g", vec![b'g'; 500]).timestamp(NOW)]).unwrap();
    log.append(&[Record::new("after", "gzip").timestamp(NOW)]).unwrap();
    let mut b = BatchBuilder::new(log.log_end_offset() - 1).compression(Compression::Gzip, None);
    b.append(&Record::new("after", "gzip").timestamp(NOW)).unwrap();
    let last = b.build().unwrap();
    let stored = disk_batches(dir.path());
    assert_eq!(stored.len(), shapes.len() + 2);
    let plain = stored.iter().take(shapes.len()).map(|(_, _, s)| s);
    let pairs = plain.chain(stored.last().map(|(_, _, s)| s)).zip(expected.iter().chain([&last]));
    for (i, (s, want)) in pairs.enumerate() {
        let s = s.as_bytes();
        assert_eq!(s.len(), want.len(), "batch {i}: its own size");
        // Base offset and length as built; the epoch is the log's; the rest as built.
        assert_eq!(&s[..12], &want[..12], "batch {i}: base offset and length");
        assert_eq!(&s[16..], &want[16..], "batch {i}: magic, CRC and records as a fresh builder's");
    }
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
