//! A batch whose CRC holds but whose records' offset deltas break Kafka's
//! rule (strictly increasing within `[0, lastOffsetDelta]`, which
//! `append_batch` enforces) planted in a segment: recovery's CRC check keeps
//! it, so every read path must refuse it record by record rather than serve
//! records at offsets the batch does not cover (past the log end, twice, or
//! going back). Found by an audit of hostile files (2026-12-03).
#![allow(clippy::indexing_slicing, reason = "fixed offsets into a batch this file builds")]

use std::sync::Arc;

use bytes::Bytes;
use strata::internals::format::layout;
use strata::{BatchView, Clock, Error, LoadOptions, Log, LogConfig, ManualClock};

const NOW: i64 = 1_700_000_000_000;

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)).cast_unsigned();
    while z >= 0x80 {
        out.push((z & 0x7f) as u8 | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A record at `offset_delta` with a short key and value, no headers.
fn record(offset_delta: i64) -> Vec<u8> {
    let key = format!("k{offset_delta}");
    let mut body = vec![0u8, 0]; // attributes, timestamp delta 0
    varint(&mut body, offset_delta);
    varint(&mut body, key.len() as i64);
    body.extend_from_slice(key.as_bytes());
    varint(&mut body, 1);
    body.push(b'v');
    varint(&mut body, 0);
    let mut out = Vec::new();
    varint(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}

/// A v2 batch at base offset 0 whose header says `lastOffsetDelta` is
/// `last` and whose records carry `deltas`, with a valid CRC.
fn batch(deltas: &[i64], last: i32) -> Vec<u8> {
    let count = i32::try_from(deltas.len()).expect("few records");
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    b.extend_from_slice(&0i32.to_be_bytes()); // length, set below
    b.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, set below
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&last.to_be_bytes()); // lastOffsetDelta
    b.extend_from_slice(&NOW.to_be_bytes()); // baseTimestamp
    b.extend_from_slice(&NOW.to_be_bytes()); // maxTimestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    b.extend_from_slice(&count.to_be_bytes()); // recordsCount
    for &d in deltas {
        b.extend_from_slice(&record(d));
    }
    let length = i32::try_from(b.len() - layout::LOG_OVERHEAD).expect("small batch");
    b[layout::LENGTH..layout::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&b[layout::ATTRIBUTES..]);
    b[layout::CRC..layout::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// The batch written as a segment's only content, opened uncleanly (every
/// batch re-validated).
fn planted(deltas: &[i64], last: i32) -> (tempfile::TempDir, Log) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("t-0");
    std::fs::create_dir_all(&dir).expect("partition dir");
    let b = batch(deltas, last);
    let view = BatchView::new(Bytes::from(b.clone())).expect("a batch");
    assert!(view.validate().is_ok(), "the CRC and header hold");
    let lying = view.validate_records().is_err();
    assert_eq!(
        lying,
        deltas.windows(2).any(|w| w[1] <= w[0])
            || deltas.iter().any(|&d| d > i64::from(last))
            || (i64::from(last) + 1 == deltas.len() as i64
                && deltas.iter().zip(0..).any(|(&d, i)| d != i)),
        "append's check agrees with the rule"
    );
    std::fs::write(dir.join("00000000000000000000.log"), &b).expect("write segment");
    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
    let (log, _) = Log::open(&dir, "t", 0, LogConfig::default(), clock, LoadOptions::default())
        .expect("the open keeps the batch (its CRC holds)");
    (tmp, log)
}

/// What a read path yields: the offsets of its records, then whether it
/// ended with `Error::Corrupt` naming the segment and the delta.
fn served(items: impl Iterator<Item = strata::Result<i64>>) -> (Vec<i64>, bool) {
    let mut offsets = Vec::new();
    for item in items {
        match item {
            Ok(o) => offsets.push(o),
            Err(Error::Corrupt { path, source, .. }) => {
                let named = path.ends_with("00000000000000000000.log")
                    && source.to_string().contains("record.offsetDelta");
                return (offsets, named);
            }
            Err(e) => panic!("not a corruption error: {e}"),
        }
    }
    (offsets, false)
}

/// Every read path, from the log start: records served before the bad one
/// and whether each path refused the bad one by name.
fn every_path(log: &Log) -> Vec<(&'static str, (Vec<i64>, bool))> {
    let fetched = log.read(0, usize::MAX).expect("read");
    let batches = fetched
        .record_batches()
        .flat_map(|b| match b {
            Ok(b) => b.records().map(|r| r.map(|r| r.offset())).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
        .collect::<Vec<_>>();
    vec![
        ("Fetched::records", served(fetched.records().map(|r| r.map(|r| r.offset())))),
        ("Fetched::record_batches", served(batches.into_iter())),
        ("Log::records_from", served(log.records_from(0).map(|r| r.map(|r| r.offset())))),
    ]
}

#[test]
fn a_record_delta_past_the_last_offset_delta_is_refused_not_served_past_the_log_end() {
    let (_tmp, log) = planted(&[0, 1, 9], 2);
    assert_eq!(log.log_end_offset(), 3);
    for (path, got) in every_path(&log) {
        assert_eq!(got, (vec![0, 1], true), "{path}");
    }
    // A point read serves only the record at the offset it asks for.
    assert_eq!(log.read_record(1, |r| r.offset()).expect("read_record"), Some(1));
    assert!(!matches!(log.read_record(2, |r| r.offset()), Ok(Some(o)) if o != 2));
}

#[test]
fn a_repeated_record_delta_is_refused_not_served_twice() {
    let (_tmp, log) = planted(&[0, 0, 0], 2);
    for (path, got) in every_path(&log) {
        assert_eq!(got, (vec![0], true), "{path}");
    }
}

#[test]
fn a_record_off_its_place_in_a_dense_batch_is_refused_not_served_out_of_order() {
    // A delta for each offset of the batch: record 1 must hold delta 1.
    let (_tmp, log) = planted(&[0, 2, 1], 2);
    for (path, got) in every_path(&log) {
        assert_eq!(got, (vec![0], true), "{path}");
    }
    for o in 0..3 {
        assert!(!matches!(log.read_record(o, |r| r.offset()), Ok(Some(got)) if got != o), "{o}");
    }
}

#[test]
fn a_record_delta_going_back_in_a_batch_with_gaps_is_refused_not_served_out_of_order() {
    // lastOffsetDelta 9 for three records (a compacted batch keeps its
    // gaps): deltas must still rise, and 4 after 6 goes back.
    let (_tmp, log) = planted(&[0, 6, 4], 9);
    assert_eq!(log.log_end_offset(), 10);
    for (path, got) in every_path(&log) {
        assert_eq!(got, (vec![0, 6], true), "{path}");
    }
    // A batch with the same gaps in order is served as it is.
    let (_tmp, log) = planted(&[0, 4, 6], 9);
    for (path, got) in every_path(&log) {
        assert_eq!(got, (vec![0, 4, 6], false), "{path}");
    }
}
