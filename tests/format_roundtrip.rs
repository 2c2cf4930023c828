//! Records survive records -> batch -> records under every codec, and the
//! builder writes Kafka's bytes for the spec's worked examples.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use proptest::prelude::*;
use strata::{
    BatchBuilder, BatchView, Compression, ControlRecord, ControlType, FormatError, Header,
    HeaderView, Record, RecordRef, RecordView, TimestampType,
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

/// A batch at base offset 100 whose records carry offset deltas 0, 2, 5 and 9
/// (the gaps compaction leaves).
fn gapped_batch() -> BatchView {
    let mut b = BatchBuilder::new(100);
    for (i, delta) in [0, 2, 5, 9].into_iter().enumerate() {
        let key = Bytes::from(format!("k{i}"));
        let value = Bytes::from(vec![b'v'; 200 * (i + 1)]); // two-byte length varints
        b.append_raw(delta, 1_700_000_000_000, Some(&key), Some(&value), &[]).unwrap();
    }
    BatchView::new(b.build().unwrap()).unwrap()
}

#[test]
fn seek_lands_on_the_first_record_at_or_after_the_offset_across_offset_gaps() {
    let batch = gapped_batch();
    batch.validate_records().unwrap();
    let decoded = batch.decode().unwrap();
    for (target, first) in [
        (0, Some(100)),
        (100, Some(100)),
        (101, Some(102)),
        (103, Some(105)),
        (109, Some(109)),
        (110, None),
    ] {
        let mut views = decoded.views();
        views.seek(target);
        let got = views.next().map(|r| r.unwrap().offset());
        assert_eq!(got, first, "view seek to {target}");
        let mut owned = batch.records().unwrap();
        owned.seek(target);
        assert_eq!(owned.next().map(|r| r.unwrap().offset()), first, "owned seek to {target}");
    }
}

#[test]
fn a_record_that_does_not_frame_stops_the_seek_and_its_decode_names_the_length() {
    let batch = gapped_batch();
    let mut bytes = batch.as_bytes().to_vec();
    // Record 1 starts after record 0's length varint and body.
    let records = strata::internals::format::layout::RECORDS;
    let (len0, n) =
        strata::internals::format::varint::read_varint(&bytes[records..], "len").unwrap();
    let second = records + n + len0 as usize;
    bytes[second] = 0x01; // zig-zag -1: a negative record length
    let damaged = BatchView::new(Bytes::from(bytes)).unwrap();
    let decoded = damaged.decode().unwrap();
    let mut views = decoded.views();
    views.seek(109);
    match views.next() {
        Some(Err(FormatError::InvalidValue { field: "record.length", .. })) => {}
        other => panic!("expected the negative length to be reported, got {other:?}"),
    }
    assert!(views.next().is_none(), "nothing is decoded after the error");
}

#[test]
fn views_decode_the_same_fields_as_owned_records_under_every_codec() {
    let records = vec![
        Record::new("k", "v").timestamp(1_700_000_000_000).header("a", "1").header("b", ""),
        Record::tombstone("gone").timestamp(1_700_000_000_005),
        Record {
            timestamp: 1_700_000_000_009,
            key: None,
            value: Some(Bytes::from(vec![7u8; 300])),
            headers: vec![Header::new("n", None::<Bytes>)],
        },
    ];
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut b = BatchBuilder::new(40).compression(codec, None).producer(7, 1, 10);
        for r in &records {
            b.append(r).unwrap();
        }
        let batch = BatchView::new(b.build().unwrap()).unwrap();
        let owned: Vec<RecordRef> = batch.records().unwrap().map(Result::unwrap).collect();
        let decoded = batch.decode().unwrap();
        let views: Vec<RecordView<'_>> = decoded.views().map(Result::unwrap).collect();
        assert_eq!(views.len(), owned.len(), "{codec:?}");
        for (v, o) in views.iter().zip(&owned) {
            assert_eq!(*v, o.view(), "{codec:?}");
            assert_eq!(v.to_record(), o.to_record(), "{codec:?}");
            assert_eq!((v.offset(), v.sequence()), (o.offset(), o.sequence()), "{codec:?}");
            let headers: Vec<HeaderView<'_>> = v.headers().collect();
            assert_eq!(headers.len(), o.headers().len());
            assert_eq!(v.headers().len(), o.headers().len());
            for (h, oh) in headers.iter().zip(o.headers()) {
                assert_eq!((h.key, h.value), (&oh.key[..], oh.value.as_deref()));
            }
        }
        assert_eq!(owned.iter().map(RecordRef::to_record).collect::<Vec<_>>(), records);
    }
}

/// A batch of `n` records with deltas `0..n` (dense: `recordsCount ==
/// lastOffsetDelta + 1`), values of two-byte length varints.
fn dense_batch(n: i32) -> BatchView {
    let mut b = BatchBuilder::new(500);
    for delta in 0..n {
        let key = Bytes::from(format!("k{delta}"));
        let value = Bytes::from(vec![b'v'; 100 + delta as usize]);
        b.append_raw(delta, 1_700_000_000_000, Some(&key), Some(&value), &[]).unwrap();
    }
    BatchView::new(b.build().unwrap()).unwrap()
}

#[test]
fn seek_in_a_dense_batch_lands_on_every_offset_as_a_record_by_record_walk_does() {
    let batch = dense_batch(100);
    batch.validate_records().unwrap();
    let decoded = batch.decode().unwrap();
    let all: Vec<i64> = decoded.views().map(|r| r.unwrap().offset()).collect();
    for target in 450..=610 {
        let expected = all.iter().copied().find(|&o| o >= target);
        let mut views = decoded.views();
        views.seek(target);
        let got = views.next().map(|r| r.unwrap());
        assert_eq!(got.map(|r| r.offset()), expected, "view seek to {target}");
        if let Some(r) = got {
            let delta = r.offset() - 500;
            assert_eq!(r.key(), Some(format!("k{delta}").as_bytes()), "seek to {target}");
        }
        let mut owned = batch.records().unwrap();
        owned.seek(target);
        assert_eq!(owned.next().map(|r| r.unwrap().offset()), expected, "owned seek to {target}");
    }
}

#[test]
fn seek_never_lands_below_the_offset_in_a_dense_looking_batch_whose_deltas_break_kafkas_rule() {
    // Deltas 0, 1, 2 rewritten to 0, 0, 2: the header still says dense
    // (three records, lastOffsetDelta 2), so a skip by count alone would
    // land on record 1 and serve offset 500 for a read of 501.
    let batch = dense_batch(3);
    let mut bytes = batch.as_bytes().to_vec();
    let records = strata::internals::format::layout::RECORDS;
    let (len0, n0) =
        strata::internals::format::varint::read_varint(&bytes[records..], "len").unwrap();
    let second = records + n0 + len0 as usize;
    let (_, n1) = strata::internals::format::varint::read_varint(&bytes[second..], "len").unwrap();
    // Length varint, attributes, a one-byte timestamp delta (0), then the offset delta.
    let delta_at = second + n1 + 2;
    assert_eq!(bytes[delta_at], 2, "record 1's offset delta is zig-zag 1");
    bytes[delta_at] = 0;
    let lying = BatchView::new(Bytes::from(bytes)).unwrap();
    let decoded = lying.decode().unwrap();
    // The seek stops at the record that breaks the rule, and the read
    // refuses it (it served record 2 past it before the walk checked deltas).
    let misplaced = |r: Option<Result<i64, strata::FormatError>>| {
        matches!(
            r,
            Some(Err(strata::FormatError::InvalidValue { field: "record.offsetDelta", .. }))
        )
    };
    let mut views = decoded.views();
    views.seek(501);
    assert!(misplaced(views.next().map(|r| r.map(|r| r.offset()))));
    let mut owned = lying.records().unwrap();
    owned.seek(501);
    assert!(misplaced(owned.next().map(|r| r.map(|r| r.offset()))));
}
