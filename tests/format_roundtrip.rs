//! Records survive records -> batch -> records under every codec, and the
//! builder writes Kafka's bytes for the spec's worked examples.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use proptest::prelude::*;
use strata::format::{
    BatchBuilder, BatchView, Compression, ControlRecord, ControlType, Header, Record, TimestampType,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn single_record_batch_matches_kafkas_worked_example() {
    // kafka-storage.md §1.9 example A.
    let mut b = BatchBuilder::new(0).partition_leader_epoch(0);
    b.append(&Record::new("k", "v").timestamp(1_700_000_000_000)).unwrap();
    let expected =
        hex("0000000000000000 0000003a 00000000 02 e99b8dd8 0000 00000000 0000018bcfe56800 \
         0000018bcfe56800 ffffffffffffffff ffff ffffffff 00000001 10000000026b027600");
    assert_eq!(b.build().unwrap().as_ref(), expected.as_slice());
}

#[test]
fn commit_marker_matches_kafkas_worked_example() {
    // kafka-storage.md §1.9 example B.
    let bytes =
        BatchBuilder::control_batch(10, 1_700_000_000_000, 1000, 2, 3, &ControlRecord::commit(5))
            .unwrap();
    let expected = hex(
        "000000000000000a 00000042 00000003 02 a7d9b82a 0030 00000000 0000018bcfe56800 \
         0000018bcfe56800 00000000000003e8 0002 ffffffff 00000001 20 00 00 00 08 00000001 0c 000000000005 00",
    );
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let batch = BatchView::new(bytes).unwrap();
    batch.validate_records().unwrap();
    assert!(batch.is_control() && batch.is_transactional());
    let r = batch.records().unwrap().next().unwrap().unwrap();
    let marker = ControlRecord::decode(r.key().unwrap(), r.value().map(|v| v.as_ref())).unwrap();
    assert_eq!(marker.kind, ControlType::Commit);
    assert_eq!(marker.coordinator_epoch, 5);
}

fn opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Bytes::new())),
        4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| Some(Bytes::from(v))),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (proptest::collection::vec(any::<u8>(), 0..20), opt_bytes())
        .prop_map(|(k, v)| Header { key: Bytes::from(k), value: v })
}

fn record() -> impl Strategy<Value = Record> {
    // Timestamps jump around so deltas go negative.
    (-1i64..3_000_000_000_000, opt_bytes(), opt_bytes(), proptest::collection::vec(header(), 0..4))
        .prop_map(|(timestamp, key, value, headers)| Record { timestamp, key, value, headers })
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn records_round_trip_through_a_batch(
        records in proptest::collection::vec(record(), 1..30),
        codec in codec(),
        base_offset in 0i64..1 << 40,
        producer in proptest::option::of((0i64..1 << 40, 0i16..100, 0i32..i32::MAX)),
        log_append_time in proptest::option::of(0i64..3_000_000_000_000),
    ) {
        let mut b = BatchBuilder::new(base_offset).compression(codec, None).partition_leader_epoch(7);
        if let Some((id, epoch, seq)) = producer {
            b = b.producer(id, epoch, seq);
        }
        if let Some(t) = log_append_time {
            b = b.log_append_time(t);
        }
        for r in &records {
            b.append(r).unwrap();
        }
        let batch = BatchView::new(b.build().unwrap()).unwrap();
        batch.validate_records().unwrap();
        prop_assert_eq!(batch.compression().unwrap(), codec);
        prop_assert_eq!(batch.base_offset(), base_offset);
        prop_assert_eq!(batch.last_offset(), base_offset + records.len() as i64 - 1);
        prop_assert_eq!(batch.records_count() as usize, records.len());
        let expected_type = if log_append_time.is_some() { TimestampType::LogAppendTime } else { TimestampType::CreateTime };
        prop_assert_eq!(batch.timestamp_type(), expected_type);
        let max_ts = records.iter().map(|r| r.timestamp).max().unwrap();
        prop_assert_eq!(batch.max_timestamp(), log_append_time.unwrap_or(max_ts));
        for (i, (got, want)) in batch.records().unwrap().zip(&records).enumerate() {
            let got = got.unwrap();
            prop_assert_eq!(got.offset(), base_offset + i as i64);
            prop_assert_eq!(got.timestamp(), log_append_time.unwrap_or(want.timestamp));
            prop_assert_eq!(got.key(), want.key.as_ref());
            prop_assert_eq!(got.value(), want.value.as_ref());
            prop_assert_eq!(got.headers(), want.headers.as_slice());
            let seq = producer.map_or(-1, |(_, _, s)| ((i64::from(s) + i as i64) % (i64::from(i32::MAX) + 1)) as i32);
            prop_assert_eq!(got.sequence(), seq);
        }
    }
}

#[test]
fn null_and_empty_keys_values_and_header_values_stay_distinct() {
    let mut b = BatchBuilder::new(0);
    let records = [
        Record {
            timestamp: 5,
            key: None,
            value: Some(Bytes::new()),
            headers: vec![Header::new("h", None::<Bytes>)],
        },
        Record {
            timestamp: 5,
            key: Some(Bytes::new()),
            value: None,
            headers: vec![Header::new("h", Some(""))],
        },
    ];
    for r in &records {
        b.append(r).unwrap();
    }
    let batch = BatchView::new(b.build().unwrap()).unwrap();
    let got: Vec<Record> = batch.records().unwrap().map(|r| r.unwrap().to_record()).collect();
    assert_eq!(got, records);
}

#[test]
fn uncompressed_record_bytes_are_slices_of_the_batch() {
    let mut b = BatchBuilder::new(0);
    b.append(&Record::new("key", "value")).unwrap();
    let bytes = b.build().unwrap();
    let batch = BatchView::new(bytes.clone()).unwrap();
    let r = batch.records().unwrap().next().unwrap().unwrap();
    let range = bytes.as_ptr_range();
    assert!(range.contains(&r.value().unwrap().as_ptr()), "value was copied");
}
