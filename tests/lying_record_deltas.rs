//! A batch whose CRC holds but whose records' offset deltas break Kafka's
//! rule (strictly increasing within `[0, lastOffsetDelta]`, which
//! `append_batch` enforces) planted in a segment: recovery's CRC check keeps
//! it, so every read path must refuse it record by record rather than serve
//! records at offsets the batch does not cover (past the log end, twice, or
//! going back). Found by an audit of hostile files (2026-12-03).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::hand_batch::{self, F, record};
use strata::{BatchView, Clock, Error, LoadOptions, Log, LogConfig, ManualClock};

const NOW: i64 = 1_700_000_000_000;

/// A v2 batch at base offset 0 whose header says `lastOffsetDelta` is
/// `last` and whose records (a short key and value each) carry `deltas`.
fn batch(deltas: &[i64], last: i32) -> Vec<u8> {
    let records: Vec<Vec<u8>> = deltas
        .iter()
        .map(|&d| record(d, &[F::Bytes(format!("k{d}").as_bytes()), F::Bytes(b"v"), F::Int(0)]))
        .collect();
    hand_batch::v2_batch(0, last, NOW, &records)
}

/// The batch written as a segment's only content, opened uncleanly (every
/// batch re-validated); `lying`: whether its deltas break the rule, as
/// append's check must say too.
fn planted(deltas: &[i64], last: i32, lying: bool) -> (tempfile::TempDir, Log) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("t-0");
    std::fs::create_dir_all(&dir).expect("partition dir");
    let b = batch(deltas, last);
    let view = BatchView::new(Bytes::from(b.clone())).expect("a batch");
    assert!(view.validate().is_ok(), "the CRC and header hold");
    assert_eq!(view.validate_records().is_err(), lying, "append's check agrees with the rule");
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

/// Every read path from the log start served `offsets` and then (when
/// `refused`) refused the next record by name.
fn every_path_serves(log: &Log, offsets: &[i64], refused: bool) {
    for (path, got) in every_path(log) {
        assert_eq!(got, (offsets.to_vec(), refused), "{path}");
    }
}

#[test]
fn a_record_delta_past_the_last_offset_delta_is_refused_not_served_past_the_log_end() {
    let (_tmp, log) = planted(&[0, 1, 9], 2, true);
    assert_eq!(log.log_end_offset(), 3);
    every_path_serves(&log, &[0, 1], true);
    // A point read serves only the record at the offset it asks for.
    assert_eq!(log.read_record(1, |r| r.offset()).expect("read_record"), Some(1));
    assert!(!matches!(log.read_record(2, |r| r.offset()), Ok(Some(o)) if o != 2));
}

#[test]
fn a_repeated_record_delta_is_refused_not_served_twice() {
    let (_tmp, log) = planted(&[0, 0, 0], 2, true);
    every_path_serves(&log, &[0], true);
}

#[test]
fn a_record_off_its_place_in_a_dense_batch_is_refused_not_served_out_of_order() {
    // A delta for each offset of the batch: record 1 must hold delta 1.
    let (_tmp, log) = planted(&[0, 2, 1], 2, true);
    every_path_serves(&log, &[0], true);
    for o in 0..3 {
        assert!(!matches!(log.read_record(o, |r| r.offset()), Ok(Some(got)) if got != o), "{o}");
    }
}

#[test]
fn a_record_delta_going_back_in_a_batch_with_gaps_is_refused_not_served_out_of_order() {
    // lastOffsetDelta 9 for three records (a compacted batch keeps its
    // gaps): deltas must still rise, and 4 after 6 goes back.
    let (_tmp, log) = planted(&[0, 6, 4], 9, true);
    assert_eq!(log.log_end_offset(), 10);
    every_path_serves(&log, &[0, 6], true);
    // A batch with the same gaps in order is served as it is.
    let (_tmp, log) = planted(&[0, 4, 6], 9, false);
    every_path_serves(&log, &[0, 4, 6], false);
}
