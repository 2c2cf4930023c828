//! The common-shape decoder ([`decode_common`]) against the general one
//! ([`decode_view`]): on any bytes it either declines or returns exactly
//! what the general decoder returns, and it takes the records it is for.

use proptest::prelude::*;

use super::{
    HeaderView, RecordContext, RecordMeta, RecordView, decode_common, decode_view, skip_spans,
};
use crate::format::varint::{put_varint, put_varlong, read_varint};
use crate::format::{DecodedBatch, FormatError, FormatResult};

/// A record's fields as they go on the wire; lengths are written as given
/// (so a test can write a wrong one).
#[derive(Debug, Clone)]
struct Wire {
    attributes: u8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn nullable(out: &mut Vec<u8>, b: Option<&Vec<u8>>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, i32::try_from(b.len()).unwrap_or(i32::MAX));
            out.extend_from_slice(b);
        }
    }
}

impl Wire {
    fn encode(&self) -> Vec<u8> {
        let mut body = vec![self.attributes];
        put_varlong(&mut body, self.timestamp_delta);
        put_varint(&mut body, self.offset_delta);
        nullable(&mut body, self.key.as_ref());
        nullable(&mut body, self.value.as_ref());
        put_varint(&mut body, i32::try_from(self.headers.len()).unwrap_or(i32::MAX));
        for (k, v) in &self.headers {
            nullable(&mut body, Some(k));
            nullable(&mut body, v.as_ref());
        }
        let mut out = Vec::new();
        put_varint(&mut out, i32::try_from(body.len()).unwrap_or(i32::MAX));
        out.extend_from_slice(&body);
        out
    }
}

fn ctx(base_sequence: i32, log_append_time: Option<i64>) -> RecordContext {
    RecordContext {
        base_offset: 1_000,
        base_timestamp: 1_700_000_000_000,
        log_append_time,
        base_sequence,
    }
}

/// Whatever `decode_common` returns, `decode_view` returns too.
fn agree(src: &[u8], pos: usize, ctx: &RecordContext) -> Result<bool, TestCaseError> {
    let Some((fast, next)) = decode_common(src.get(pos..).unwrap_or_default(), ctx) else {
        return Ok(false);
    };
    let end = src.len() - next.len();
    let mut at = pos;
    let general = decode_view(src, &mut at, ctx);
    prop_assert!(general.is_ok(), "general decoder refused what the fast one took: {general:?}");
    prop_assert_eq!(general.ok(), Some(fast));
    prop_assert_eq!(at, end);
    Ok(true)
}

fn bytes(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max))
}

fn wire() -> impl Strategy<Value = Wire> {
    let header = (proptest::collection::vec(any::<u8>(), 0..8), bytes(8));
    (
        any::<u8>(),
        prop_oneof![-70i64..70, -(1i64 << 20)..(1 << 20), any::<i64>()],
        prop_oneof![0i32..200, any::<i32>()],
        bytes(300),
        prop_oneof![bytes(300), bytes(20_000)],
        proptest::collection::vec(header, 0..3),
    )
        .prop_map(|(attributes, timestamp_delta, offset_delta, key, value, headers)| Wire {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        })
}

#[test]
fn the_common_shape_decoder_takes_a_scan_records_and_matches_the_general_one() {
    // 8-byte key, 100-byte value, deltas past 63 (two-byte varints), no headers:
    // `benches/compare`'s records, and most records of most topics.
    // Keys of 64 bytes and more have two-byte lengths, read past the
    // one-length-test shape of the front fields.
    for (delta, key_len) in [0, 63, 64, 99].into_iter().flat_map(|d| [(d, 8), (d, 64), (d, 300)]) {
        let w = Wire {
            attributes: 0,
            timestamp_delta: i64::from(delta) * 3,
            offset_delta: delta,
            key: Some(vec![7; key_len]),
            value: Some(vec![9; 100]),
            headers: Vec::new(),
        };
        let src = w.encode();
        for c in [ctx(-1, None), ctx(i32::MAX - 10, None), ctx(5, Some(42))] {
            let taken = agree(&src, 0, &c).map_err(|e| format!("{e}"));
            assert_eq!(taken, Ok(true), "delta {delta}, key of {key_len} bytes");
        }
    }
}

#[test]
fn records_with_headers_null_fields_or_long_varints_take_the_general_decoder() {
    let base = Wire {
        attributes: 0,
        timestamp_delta: 0,
        offset_delta: 0,
        key: None,
        value: None,
        headers: Vec::new(),
    };
    let null_fields = base.encode();
    assert!(decode_common(&null_fields, &ctx(-1, None)).is_some(), "null key and value");
    let headers = Wire { headers: vec![(b"h".to_vec(), None)], ..base.clone() }.encode();
    assert!(decode_common(&headers, &ctx(-1, None)).is_none(), "headers");
    let long = Wire { timestamp_delta: 1 << 40, ..base }.encode();
    assert!(decode_common(&long, &ctx(-1, None)).is_none(), "a four-byte-plus varint");
    for src in [headers, long] {
        let mut pos = 0;
        assert!(decode_view(&src, &mut pos, &ctx(-1, None)).is_ok());
    }
}

#[test]
fn sequences_wrap_from_i32_max_to_zero_and_stay_put_below_it() {
    let at = |base: i32, delta: i32| RecordMeta::in_batch(&ctx(base, None), 0, 0, delta).sequence;
    assert_eq!(at(5, 3), 8);
    assert_eq!(at(i32::MAX, 0), i32::MAX);
    assert_eq!(at(i32::MAX, 1), 0);
    assert_eq!(at(i32::MAX - 1, 3), 1);
    assert_eq!(at(-1, 3), -1, "no producer: no sequence");
    // A negative delta (a damaged record) still lands in [0, i32::MAX].
    assert_eq!(at(0, -1), i32::MAX);
}

/// Where the record `count` records after the one at `pos` starts, each
/// framed by its length read with the general varint reader: what
/// [`skip_spans`] must land on.
fn spans_by_the_general_reader(src: &[u8], mut pos: usize, count: i32) -> Option<usize> {
    for _ in 0..count {
        let (len, n) = read_varint(src.get(pos..)?, "").ok()?;
        let end = (pos + n).checked_add(usize::try_from(len).ok()?)?;
        pos = (end <= src.len()).then_some(end)?;
    }
    Some(pos)
}

#[test]
fn skipping_spans_passes_a_scan_records_by_their_lengths() {
    let w = Wire {
        attributes: 0,
        timestamp_delta: 0,
        offset_delta: 0,
        key: Some(vec![7; 8]),
        value: Some(vec![9; 100]),
        headers: Vec::new(),
    };
    let one = w.encode();
    let src = one.repeat(100);
    for count in [0, 1, 63, 99, 100] {
        assert_eq!(skip_spans(&src, 0, count), Some(one.len() * count as usize), "{count}");
    }
    assert_eq!(skip_spans(&src, 0, 101), None, "past the last record");
}

/// A records section of `count` records read by the general decoder alone,
/// one record after another: what the walk must yield, error included.
/// A record whose offset delta is not above the last one's, or is past
/// `last` (the batch's `lastOffsetDelta`), ends it with that error; in a
/// dense batch (`count == last + 1`), one whose delta is not its index.
fn walked_carefully<'a>(
    src: &'a [u8],
    count: i32,
    last: i32,
    ctx: &RecordContext,
) -> Vec<FormatResult<RecordView<'a>>> {
    let (mut out, mut pos) = (Vec::new(), 0);
    let mut prev: Option<i32> = None;
    let dense = last.checked_add(1) == Some(count);
    for index in 0..count.max(0) {
        match decode_view(src, &mut pos, ctx) {
            Ok(r) => {
                let d = r.offset_delta();
                let misplaced = if dense {
                    d != index
                } else {
                    d < 0 || d > last || prev.is_some_and(|p| d <= p)
                };
                if misplaced {
                    out.push(Err(FormatError::misplaced_offset_delta(d)));
                    return out;
                }
                prev = Some(d);
                out.push(Ok(r));
            }
            Err(e) => {
                out.push(Err(e));
                return out;
            }
        }
    }
    if pos < src.len() {
        out.push(Err(FormatError::TrailingBytes { count, extra: src.len() - pos }));
    }
    out
}

/// The walk over `src` (borrowed views, then owned records) against
/// [`walked_carefully`].
fn walk_agrees(
    src: &[u8],
    count: i32,
    last: i32,
    ctx: &RecordContext,
) -> Result<(), TestCaseError> {
    let expected = walked_carefully(src, count, last, ctx);
    let decoded = DecodedBatch::v2(bytes::Bytes::copy_from_slice(src), count, last, *ctx);
    let views: Vec<_> = decoded.views().collect();
    prop_assert_eq!(&views, &expected);
    let owned: Vec<_> = decoded.into_records().map(|r| r.map(|r| r.to_record())).collect();
    let expected: Vec<_> = expected.into_iter().map(|r| r.map(RecordView::to_record)).collect();
    prop_assert_eq!(owned, expected);
    Ok(())
}

#[test]
fn a_walk_stops_at_the_first_bad_record_and_reports_bytes_after_the_last() {
    let w = |offset_delta, key: &[u8], headers| Wire {
        attributes: 0,
        timestamp_delta: 0,
        offset_delta,
        key: Some(key.to_vec()),
        value: Some(vec![1; 100]),
        headers,
    };
    let good = w(0, b"k", Vec::new()).encode();
    let with_header = w(1, b"h", vec![(b"x".to_vec(), None)]).encode();
    let mut src = [good.clone(), with_header, w(2, b"k", Vec::new()).encode()].concat();
    let c = ctx(-1, None);
    walk_agrees(&src, 3, 2, &c).map_err(|e| format!("{e}")).unwrap_or_else(|e| panic!("{e}"));
    let short = DecodedBatch::v2(src.clone().into(), 2, i32::MAX, c);
    let views: Vec<_> = short.views().collect();
    assert!(matches!(views.last(), Some(Err(FormatError::TrailingBytes { count: 2, .. }))));
    assert_eq!(views.len(), 3, "two records, then the leftover bytes, then nothing");
    // A negative length in the second record: one record, one error, the end.
    let second = good.len();
    src[second] = 0x01;
    let damaged = DecodedBatch::v2(src.into(), 3, i32::MAX, c);
    let views: Vec<_> = damaged.views().collect();
    assert!(matches!(
        views.get(1),
        Some(Err(FormatError::InvalidValue { field: "record.length", .. }))
    ));
    assert_eq!(views.len(), 2);
}

/// `records` encoded, each `(at, x)` of `flips` xored into the byte at `at`,
/// then cut at `cut` if given: a damaged records section for the proptests.
fn damaged(
    records: &[Wire],
    flips: &[(prop::sample::Index, u8)],
    cut: Option<prop::sample::Index>,
) -> Vec<u8> {
    let mut src: Vec<u8> = records.iter().flat_map(Wire::encode).collect();
    for (at, x) in flips {
        let i = at.index(src.len().max(1));
        if let Some(b) = src.get_mut(i) {
            *b ^= x;
        }
    }
    if let Some(cut) = cut {
        src.truncate(cut.index(src.len() + 1));
    }
    src
}

proptest! {
    #[test]
    fn the_walk_yields_what_the_general_decoder_yields_record_by_record(
        records in proptest::collection::vec(wire(), 0..6),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
        cut_it in any::<bool>(),
        count_off in -2i32..3,
        log_append_time in any::<bool>(),
        in_order in any::<bool>(),
        last in prop_oneof![Just(i32::MAX), 0i32..8],
    ) {
        let mut records = records;
        if in_order {
            // Kafka's deltas (0, 1, ...), so that most walks go past the first record.
            for (d, r) in (0..).zip(records.iter_mut()) {
                r.offset_delta = d;
            }
        }
        let src = damaged(&records, &flips, cut_it.then_some(cut));
        let count = i32::try_from(records.len()).unwrap_or(0) + count_off;
        walk_agrees(&src, count, last, &ctx(7, log_append_time.then_some(99)))?;
    }

    #[test]
    fn skipping_spans_lands_where_the_general_varint_reader_lands(
        records in proptest::collection::vec(wire(), 0..6),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
        cut_it in any::<bool>(),
        count in 0i32..8,
    ) {
        let src = damaged(&records, &flips, cut_it.then_some(cut));
        // It may decline (a length of four or more varint bytes), never disagree.
        if let Some(end) = skip_spans(&src, 0, count) {
            prop_assert_eq!(Some(end), spans_by_the_general_reader(&src, 0, count));
        }
        // Undamaged records with lengths below 1 MiB are always passed.
        if !cut_it && src == records.iter().flat_map(Wire::encode).collect::<Vec<_>>() {
            let n = count.min(i32::try_from(records.len()).unwrap_or(0));
            prop_assert_eq!(skip_spans(&src, 0, n), spans_by_the_general_reader(&src, 0, n));
            prop_assert!(skip_spans(&src, 0, n).is_some());
        }
    }

    #[test]
    fn the_common_shape_decoder_agrees_with_the_general_one_on_damaged_records(
        w in wire(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
        cut_it in any::<bool>(),
        lead in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        let mut src = lead.clone();
        src.extend_from_slice(&w.encode());
        src.extend_from_slice(&[0x55; 4]); // bytes of a next record
        for (at, x) in flips {
            let i = at.index(src.len());
            if let Some(b) = src.get_mut(i) {
                *b ^= x;
            }
        }
        if cut_it {
            src.truncate(cut.index(src.len() + 1));
        }
        agree(&src, lead.len(), &ctx(3, None))?;
    }

    #[test]
    fn the_common_shape_decoder_agrees_with_the_general_one_on_any_bytes(
        src in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        agree(&src, 0, &ctx(-1, None))?;
    }
}

/// A record at `offset_delta` (attributes 0, timestamp delta 0) whose
/// fields after the offset delta are written as given: `Ok` bytes after
/// their length, `Err` a bare varint (a negative length, or a count).
fn hand_record(offset_delta: i32, fields: &[Result<&[u8], i32>]) -> Vec<u8> {
    let mut body = vec![0, 0];
    put_varint(&mut body, offset_delta);
    for f in fields {
        match f {
            Ok(b) => {
                put_varint(&mut body, i32::try_from(b.len()).unwrap_or(i32::MAX));
                body.extend_from_slice(b);
            }
            Err(v) => put_varint(&mut body, *v),
        }
    }
    let mut out = Vec::new();
    put_varint(&mut out, i32::try_from(body.len()).unwrap_or(i32::MAX));
    out.extend_from_slice(&body);
    out
}

/// Kafka's `DefaultRecord.readFrom` reads a negative key, value or header
/// value length as null and reads no bytes for it (not only -1): both
/// decoders and the walk do the same, and the fields must still add up to
/// the record's declared length.
#[test]
fn negative_key_value_and_header_value_lengths_are_null_as_kafka_reads_them() {
    let c = ctx(-1, None);
    let plain = hand_record(0, &[Err(-2), Err(-5), Err(0)]);
    let (fast, rest) = decode_common(&plain, &c).expect("the common shape takes it");
    assert_eq!((fast.key(), fast.value(), rest.len()), (None, None, 0));
    assert_eq!(agree(&plain, 0, &c).map_err(|e| e.to_string()), Ok(true));
    let headers = hand_record(1, &[Ok(b"kk"), Err(-3), Err(1), Ok(b"h"), Err(-3)]);
    let long = hand_record(2, &[Err(i32::MIN), Ok(b"v"), Err(0)]);
    assert!(decode_common(&long, &c).is_none(), "a five-byte length is the general decoder's");
    let src = [plain, headers, long].concat();
    let expected = [
        (None, None, vec![]),
        (Some(&b"kk"[..]), None, vec![HeaderView { key: b"h", value: None }]),
        (None, Some(&b"v"[..]), vec![]),
    ];
    let mut pos = 0;
    for want in &expected {
        let r = decode_view(&src, &mut pos, &c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&(r.key(), r.value(), r.headers().collect::<Vec<_>>()), want);
    }
    assert_eq!(pos, src.len());
    let decoded = DecodedBatch::v2(bytes::Bytes::copy_from_slice(&src), 3, 2, c);
    let walked: Vec<_> = decoded
        .views()
        .map(|r| r.map(|r| (r.key(), r.value(), r.headers().collect::<Vec<_>>())))
        .collect();
    assert_eq!(walked, expected.map(Ok));
    walk_agrees(&src, 3, 2, &c).map_err(|e| format!("{e}")).unwrap_or_else(|e| panic!("{e}"));
    // A null field covers no bytes: one byte more than the fields is refused.
    let over = hand_record(0, &[Err(-2), Err(-5), Err(0), Err(0)]);
    assert!(decode_common(&over, &c).is_none());
    let e = decode_view(&over, &mut 0, &c).unwrap_err();
    assert!(matches!(e, FormatError::InvalidValue { field: "record.length", .. }), "{e:?}");
}

/// Kafka refuses a negative header key length and a negative header count
/// (`DefaultRecord.readFrom`): so does the decoder, naming the field.
#[test]
fn a_negative_header_key_length_or_header_count_is_refused_naming_it() {
    let c = ctx(-1, None);
    let cases = [
        (
            hand_record(0, &[Ok(b"k"), Ok(b"v"), Err(1), Err(-1), Ok(b"x")]),
            "record.header.keyLength",
        ),
        (
            hand_record(0, &[Ok(b"k"), Ok(b"v"), Err(1), Err(-2), Ok(b"x")]),
            "record.header.keyLength",
        ),
        (hand_record(0, &[Ok(b"k"), Ok(b"v"), Err(-1)]), "record.headerCount"),
    ];
    for (src, field) in cases {
        assert!(decode_common(&src, &c).is_none());
        let e = decode_view(&src, &mut 0, &c).unwrap_err();
        assert!(matches!(e, FormatError::InvalidValue { field: f, .. } if f == field), "{e:?}");
    }
}

/// A records section of plain records at the given offset deltas.
fn at_deltas(deltas: &[i32]) -> Vec<u8> {
    deltas
        .iter()
        .flat_map(|&offset_delta| {
            Wire {
                attributes: 0,
                timestamp_delta: 0,
                offset_delta,
                key: Some(b"k".to_vec()),
                value: Some(vec![1; 10]),
                headers: Vec::new(),
            }
            .encode()
        })
        .collect()
}

/// The offsets a walk over records at `deltas` (base offset 100) yields,
/// and the field of the error that ends it, if any: by borrowed views, by
/// owned records, and after a seek to `seek_to`.
fn walked_offsets(deltas: &[i32], last: i32) -> (Vec<i64>, Option<&'static str>) {
    let c = RecordContext { base_offset: 100, ..ctx(-1, None) };
    let count = i32::try_from(deltas.len()).unwrap_or(0);
    let batch = DecodedBatch::v2(at_deltas(deltas).into(), count, last, c);
    let split = |items: Vec<FormatResult<i64>>| {
        let offsets = items.iter().filter_map(|r| r.as_ref().ok().copied()).collect::<Vec<_>>();
        let error = items.iter().find_map(|r| match r {
            Err(FormatError::InvalidValue { field, .. }) => Some(*field),
            _ => None,
        });
        (offsets, error)
    };
    let views = split(batch.views().map(|r| r.map(|r| r.offset())).collect());
    let owned = split(batch.into_records().map(|r| r.map(|r| r.offset())).collect());
    assert_eq!(views, owned, "views and owned records agree");
    views
}

#[test]
fn a_walk_refuses_records_whose_offset_deltas_break_kafkas_rule() {
    let misplaced = Some("record.offsetDelta");
    // Kafka's rule: deltas strictly increase within [0, lastOffsetDelta].
    assert_eq!(walked_offsets(&[0, 1, 2], 2), (vec![100, 101, 102], None));
    // Gaps are fine (a compacted batch keeps its lastOffsetDelta).
    assert_eq!(walked_offsets(&[0, 2, 5], 5), (vec![100, 102, 105], None));
    // Past lastOffsetDelta: no record at an offset the batch does not cover.
    assert_eq!(walked_offsets(&[0, 1, 9], 2), (vec![100, 101], misplaced));
    // The same offset twice, or going back.
    assert_eq!(walked_offsets(&[0, 0, 0], 2), (vec![100], misplaced));
    assert_eq!(walked_offsets(&[0, 3, 1], 4), (vec![100, 103], misplaced));
    // A dense batch (a delta for each of its offsets) leaves record `i`
    // the delta `i`: the first record off that is refused.
    assert_eq!(walked_offsets(&[0, 2, 1], 2), (vec![100], misplaced));
    assert_eq!(walked_offsets(&[-1, 0], 1), (vec![], misplaced));
    // The largest delta there is, then nothing after it.
    assert_eq!(
        walked_offsets(&[i32::MAX, i32::MAX], i32::MAX),
        (vec![100 + i64::from(i32::MAX)], misplaced)
    );
}

#[test]
fn a_seek_stops_at_a_misplaced_delta_and_the_next_step_reports_it() {
    let c = RecordContext { base_offset: 100, ..ctx(-1, None) };
    // Not dense (4 records, lastOffsetDelta 9): the general skip reads every delta.
    let batch = DecodedBatch::v2(at_deltas(&[0, 5, 2, 9]).into(), 4, 9, c);
    let mut views = batch.views();
    views.seek(109);
    let e = views.next().and_then(Result::err);
    assert!(
        matches!(e, Some(FormatError::InvalidValue { field: "record.offsetDelta", value: 2, .. })),
        "{e:?}"
    );
    assert!(views.next().is_none(), "the walk ends after its error");
    // Dense (lastOffsetDelta 3): the seek passes records by their lengths
    // and lands on the one holding delta 3, the offset asked for; a walk
    // from there goes on by the rule.
    let batch = DecodedBatch::v2(at_deltas(&[0, 5, 2, 3]).into(), 4, 3, c);
    let mut owned = batch.clone().into_records();
    owned.seek(103);
    assert_eq!(owned.next().map(|r| r.map(|r| r.offset())), Some(Ok(103)));
    assert!(owned.next().is_none());
    // The passed records' deltas are not read (the lying 5 among them is
    // not served): every record yielded is at its place in a dense batch.
    let mut views = batch.views();
    views.seek(102);
    let rest: Vec<_> = views.map(|r| r.map(|r| r.offset())).collect();
    assert_eq!(rest, [Ok(102), Ok(103)]);
    // From the start, the walk meets the 5 and then the 2 below it.
    assert_eq!(walked_offsets(&[0, 5, 2, 3], 3), (vec![100], Some("record.offsetDelta")));
}
