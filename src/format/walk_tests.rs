//! Tests of [`super`]: the walker's verdicts and the template run's summaries.

use bytes::Bytes;

use super::*;
use crate::format::{BatchBuilder, Record};

/// Whatever the decoder says about a batch's records, the walker says too,
/// and the summary vouches only for batches both accept, with their facts.
/// Returns whether the batch framed (and so was compared) and was refused.
fn same_verdict(bytes: Bytes) -> Option<bool> {
    let batch = BatchView::new(bytes).ok()?;
    let decoded = batch.check_records(|e| e, |_| Ok(()));
    let mut facts = Vec::new();
    let walked = walk_records(
        &batch,
        |e| e,
        |f| {
            facts.push(f);
            Ok(())
        },
    );
    assert_eq!(decoded, walked);
    if let Some(s) = summarize(&batch) {
        assert_eq!(walked, Ok(()), "the summary vouched for a refused batch");
        assert_eq!(s, summary_of(&batch, &facts));
    }
    Some(walked.is_err())
}

/// The walker's facts of every record of a batch it accepts.
fn facts_of(batch: &BatchView) -> Vec<RecordFacts> {
    let mut facts = Vec::new();
    walk_records(
        batch,
        |e| e,
        |f| {
            facts.push(f);
            Ok::<(), FormatError>(())
        },
    )
    .unwrap();
    facts
}

/// The summary of `facts`, computed the plain way.
fn summary_of(batch: &BatchView, facts: &[RecordFacts]) -> Summary {
    let ts = facts.iter().map(|f| batch.base_timestamp().wrapping_add(f.timestamp_delta));
    Summary {
        min_timestamp: ts.clone().min().unwrap_or(i64::MAX),
        max_timestamp: ts.max().unwrap_or(i64::MIN),
        any_null_key: facts.iter().any(|f| f.key_is_null),
    }
}

#[test]
fn the_summary_vouches_for_plain_batches_with_the_walkers_facts() {
    // Timestamp deltas of one, two, three and nine bytes, either sign;
    // null and empty keys; a value long enough for a three-byte length.
    let mut b = BatchBuilder::new(0);
    let long_value = vec![7u8; 70_000];
    for (i, ts) in [1_000i64, 999, 1_100, 1_000_000, -5_000_000_000_000, 1_000].iter().enumerate() {
        let r = match i {
            1 => Record::unkeyed("v"),
            2 => Record::new("", ""),
            3 => Record::new("k", Bytes::from(long_value.clone())),
            _ => Record::new("key", "value"),
        };
        b.append(&r.timestamp(*ts)).unwrap();
    }
    let batch = BatchView::new(b.build().unwrap()).unwrap();
    let facts = facts_of(&batch);
    let s = summarize(&batch).expect("a plain batch is summarized");
    assert_eq!(s, summary_of(&batch, &facts));
    assert_eq!(
        (s.min_timestamp, s.max_timestamp, s.any_null_key),
        (-5_000_000_000_000, 1_000_000, true)
    );
    // Headers are left to the walker.
    let mut h = BatchBuilder::new(0);
    h.append(&Record::new("k", "v").header("h", "x")).unwrap();
    assert_eq!(summarize(&BatchView::new(h.build().unwrap()).unwrap()), None);
}

#[test]
fn walker_agrees_with_the_decoder_on_every_truncation_and_bit_flip() {
    let mut b = BatchBuilder::new(0);
    b.append(&Record::new("key", "value").header("h", "x")).unwrap();
    b.append(&Record::tombstone("k2")).unwrap();
    b.append(&Record::unkeyed("v3")).unwrap();
    every_truncation_and_bit_flip(&b.build().unwrap());
    // Without headers, the summary's fast pass measures every record.
    let mut plain = BatchBuilder::new(0);
    plain.append(&Record::new("key", "value").timestamp(5)).unwrap();
    plain.append(&Record::tombstone("k2").timestamp(900)).unwrap();
    plain.append(&Record::unkeyed(vec![3u8; 80]).timestamp(1)).unwrap();
    let plain = plain.build().unwrap();
    assert!(summarize(&BatchView::new(plain.clone()).unwrap()).is_some());
    every_truncation_and_bit_flip(&plain);
}

fn every_truncation_and_bit_flip(good: &Bytes) {
    assert_eq!(same_verdict(good.clone()), Some(false));
    let mut vouched = 0;
    for cut in layout::RECORDS..good.len() {
        // The batch length follows the cut, so the header still frames.
        let mut v = good.slice(..cut).to_vec();
        let length = i32::try_from(cut - layout::LOG_OVERHEAD).unwrap();
        v[layout::LENGTH..layout::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        assert_eq!(same_verdict(Bytes::from(v)), Some(true), "cut at {cut}");
    }
    let mut refused = 0;
    for at in layout::RECORDS..good.len() {
        for bit in 0..8 {
            let mut v = good.to_vec();
            v[at] ^= 1 << bit;
            let v = Bytes::from(v);
            vouched +=
                usize::from(BatchView::new(v.clone()).ok().and_then(|b| summarize(&b)).is_some());
            refused += usize::from(same_verdict(v) == Some(true));
        }
    }
    assert!(refused > 0, "some bit flips must break the records' framing");
    if summarize(&BatchView::new(good.clone()).unwrap()).is_some() {
        assert!(vouched > 0, "flips inside keys and values leave the batch summarized");
    }
}

#[test]
fn the_summary_reads_the_longest_fields_before_a_key_like_the_walker() {
    // The record at offset delta 8,192 has a nine-byte timestamp delta, a
    // three-byte offset delta and a three-byte key length: the 16 bytes
    // before its key, all inside the window the summary reads them from;
    // a record with a body shorter than the window follows it.
    let k = Bytes::from_static(b"k");
    // A delete horizon of 0 is the base timestamp, so deltas are the timestamps.
    let mut b = BatchBuilder::new(0).delete_horizon(0);
    for delta in 0..8_192 {
        b.append_raw(delta, 7, Some(&k), None, &[]).unwrap();
    }
    let long = b.uncompressed_size();
    let key = Bytes::from(vec![1u8; 9_000]);
    b.append_raw(8_192, 1 << 60, Some(&key), Some(&Bytes::new()), &[]).unwrap();
    b.append_raw(8_193, 8, Some(&k), None, &[]).unwrap();
    let good = b.build().unwrap();
    let batch = BatchView::new(good.clone()).unwrap();
    let facts = facts_of(&batch);
    assert_eq!(
        facts.get(8_192).map(|f| (f.offset_delta, f.timestamp_delta)),
        Some((8_192, 1 << 60))
    );
    let s = summarize(&batch).expect("plain records are summarized");
    assert_eq!(s, summary_of(&batch, &facts));
    // Every cut and bit flip of that record's length and front: the
    // summary vouches only where the walker accepts, with its facts.
    for at in long..long + 20 {
        for bit in 0..8 {
            let mut v = good.to_vec();
            v[at] ^= 1 << bit;
            same_verdict(Bytes::from(v));
        }
        let mut v = good.slice(..at).to_vec();
        let length = i32::try_from(at - layout::LOG_OVERHEAD).unwrap();
        v[layout::LENGTH..layout::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        assert_eq!(same_verdict(Bytes::from(v)), Some(true), "cut at {at}");
    }
}

#[test]
fn the_summary_leaves_offset_gaps_and_wrapping_timestamps_to_the_walker() {
    let k = Bytes::from_static(b"k");
    // Offset deltas 0 and 2 (a cleaned batch's): the walker accepts them.
    let mut gap = BatchBuilder::new(0);
    gap.append_raw(0, 5, Some(&k), None, &[]).unwrap();
    gap.append_raw(2, 6, Some(&k), None, &[]).unwrap();
    let gap = BatchView::new(gap.build().unwrap()).unwrap();
    assert_eq!(walk_records(&gap, |e| e, |_| Ok(())), Ok(()));
    assert_eq!(summarize(&gap), None);
    // baseTimestamp plus a delta past i64::MAX wraps, as Kafka's long
    // arithmetic does: the walker accepts it, the summary does not judge it.
    let mut wrap = BatchBuilder::new(0).delete_horizon(i64::MAX - 1);
    wrap.append_raw(0, i64::MIN, Some(&k), None, &[]).unwrap(); // a delta of 2
    let wrap = BatchView::new(wrap.build().unwrap()).unwrap();
    let facts = facts_of(&wrap);
    assert!(wrap.base_timestamp().checked_add(facts[0].timestamp_delta).is_none());
    assert_eq!(summarize(&wrap), None);
    // The same records at offsets 0 and 1 and without the wrap are summarized.
    let mut plain = BatchBuilder::new(0);
    plain.append_raw(0, 5, Some(&k), None, &[]).unwrap();
    plain.append_raw(1, 6, Some(&k), None, &[]).unwrap();
    assert!(summarize(&BatchView::new(plain.build().unwrap()).unwrap()).is_some());
}

impl Run {
    /// The template of the record at the front of `rest` ([`Run::of`]),
    /// and its size.
    fn at(rest: &[u8]) -> Option<(Run, usize)> {
        let (_, size, frame) = plain_record_framed(rest)?;
        Some((Run::of(rest, size, frame)?, size))
    }

    /// The timestamp delta and size of the record at the front of `rest`
    /// when the run takes it as the record at `offset_delta`. The cursor
    /// starts at the template's delta, as [`Run::take`] asks, so the one
    /// record's delta is whichever extreme moved, or the template's.
    fn next(&self, rest: &[u8], offset_delta: i32) -> Option<(i64, usize)> {
        let t = short_varint(self.word >> self.ts_shift, u32::from(self.ts_width));
        let t = ((t >> 1) as i64) ^ -((t & 1) as i64);
        let from = Cursor { pos: 0, offset_delta, min_delta: t, max_delta: t };
        let at = self.take(rest, from, offset_delta + 1);
        let delta = if at.min_delta < t { at.min_delta } else { at.max_delta };
        (at.offset_delta > offset_delta).then_some((delta, at.pos))
    }
}

/// A batch of `count` records with keys of `key` bytes (null for
/// `None`), values of `value` bytes and timestamp deltas `ts(i)`, at a
/// base timestamp of 0.
fn equal_records(count: i32, key: Option<usize>, value: usize, ts: impl Fn(i32) -> i64) -> Bytes {
    let mut b = BatchBuilder::new(0).delete_horizon(0);
    let k = key.map(|n| vec![b'k'; n]);
    let v = vec![b'v'; value];
    for i in 0..count {
        b.append_slices(i, ts(i), k.as_deref(), Some(&v), &[]).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn a_run_of_equal_records_is_summarized_as_the_walker_walks_it() {
    // Offset deltas across the one-to-two-byte width at 64, timestamp
    // deltas of one and two bytes either sign, null and empty keys,
    // value lengths of one and two bytes.
    let shapes = [
        (200, Some(8), 100, 0),
        (130, None, 40, 1),
        (70, Some(0), 5, 2_000),
        (90, Some(3), 3, -50),
    ];
    for (count, key, value, step) in shapes {
        let batch = equal_records(count, key, value, |i| step * i64::from(i % 5));
        let view = BatchView::new(batch.clone()).unwrap();
        let facts = facts_of(&view);
        assert_eq!(summarize(&view), Some(summary_of(&view, &facts)));
        // Each record is the template of the next where both are laid
        // out alike, and the run reads the next one's facts.
        let section = batch.get(layout::RECORDS..).unwrap();
        let (mut pos, mut taken) = (0, 0);
        for (i, next_facts) in facts.iter().enumerate().skip(1) {
            let rest = section.get(pos..).unwrap();
            let (_, size) = plain_record(rest).unwrap();
            let offset_delta = i32::try_from(i).unwrap();
            let next = Run::at(rest).and_then(|(run, _)| {
                assert_eq!(run.size, size);
                run.next(rest.get(size..).unwrap(), offset_delta)
            });
            if let Some((delta, taken_size)) = next {
                assert_eq!(taken_size, size, "record {i}");
                assert_eq!(delta, next_facts.timestamp_delta, "record {i}");
                taken += 1;
            }
            pos += size;
        }
        assert!(taken >= facts.len() / 3, "{taken} of {} records taken by a run", facts.len());
    }
}

#[test]
fn a_run_accepts_only_records_the_walker_accepts_with_the_same_facts() {
    // Every bit flip in the first three records (the template, the first
    // record checked against it, and the next), and every truncation:
    // the run takes a record only where `plain_record` takes it at the
    // same size with the same facts, and the summary vouches only for
    // batches the walker accepts.
    let good = equal_records(6, Some(8), 100, i64::from);
    let section_at = layout::RECORDS;
    let (_, size) = plain_record(good.get(section_at..).unwrap()).unwrap();
    let mut declined = 0;
    for at in section_at..section_at + 3 * size {
        for bit in 0..8 {
            let mut v = good.to_vec();
            v[at] ^= 1 << bit;
            same_verdict(Bytes::from(v.clone()));
            let section = v.get(section_at..).unwrap();
            // A template is a record `plain_record` accepted.
            let Some((run, size)) = Run::at(section) else { continue };
            for i in 1..3 {
                let rest = section.get(i * size..).unwrap();
                let offset_delta = i32::try_from(i).unwrap();
                match run.next(rest, offset_delta) {
                    Some((delta, taken_size)) => {
                        let (facts, measured) = plain_record(rest).expect("plain");
                        assert_eq!(measured, taken_size, "flip at {at} bit {bit}");
                        assert_eq!(facts.offset_delta, offset_delta);
                        assert_eq!(facts.timestamp_delta, delta);
                    }
                    None => declined += 1,
                }
            }
        }
    }
    assert!(declined > 0, "flips of a record's framing leave the run");
    every_truncation_and_bit_flip(&equal_records(3, None, 4, |i| i64::from(i) * 9));
}

/// A batch of records with keys of `key` bytes (null for `None`), values
/// of the lengths `values` gives (null for `None`) and timestamp deltas
/// `ts(i)`, at a base timestamp of 0.
fn varied_records(key: Option<usize>, values: &[Option<usize>], ts: impl Fn(i32) -> i64) -> Bytes {
    let mut b = BatchBuilder::new(0).delete_horizon(0);
    let k = key.map(|n| vec![b'k'; n]);
    let v = vec![b'v'; values.iter().flatten().max().copied().unwrap_or(0)];
    for (i, n) in values.iter().enumerate() {
        let i = i32::try_from(i).unwrap();
        b.append_slices(i, ts(i), k.as_deref(), n.map(|n| &v[..n]), &[]).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn a_run_takes_records_whose_values_differ_in_length_as_the_walker_walks_them() {
    // Values of 80 to 100 bytes, no two neighbours alike (a producer's
    // batch): the first record's template takes every record after it
    // up to the offset delta's width step at 64.
    let values: Vec<_> = (0..150).map(|i| Some(80 + (i * 13) % 21)).collect();
    let batch = varied_records(Some(8), &values, |i| i64::from(i % 3) - 1);
    let view = BatchView::new(batch.clone()).unwrap();
    let facts = facts_of(&view);
    assert_eq!(summarize(&view), Some(summary_of(&view, &facts)));
    let section = batch.get(layout::RECORDS..).unwrap();
    let (run, size) = Run::at(section).expect("a template");
    let from = Cursor { pos: size, offset_delta: 1, min_delta: i64::MAX, max_delta: i64::MIN };
    let at = run.take(section, from, 150);
    assert_eq!(at.offset_delta, 64, "the run stops where the offset delta widens");
    let (min, max) = facts[1..64].iter().fold((i64::MAX, i64::MIN), |(lo, hi), f| {
        (lo.min(f.timestamp_delta), hi.max(f.timestamp_delta))
    });
    assert_eq!((at.min_delta, at.max_delta), (min, max));
    let walked: usize =
        (0..64).map(|i| plain_record(&section[pos_of(section, i)..]).unwrap().1).sum();
    assert_eq!(at.pos, walked);
    // Every cut and bit flip of records whose values differ in length
    // within one width of their varints and across it (64 bytes), null
    // and empty among them: the summary vouches only for batches the
    // walker accepts, with its facts.
    let values = [5, 9, 0, 30, 70, 66, 90, 100, 65, 120, usize::MAX, 80, 81];
    let values: Vec<_> = values.iter().map(|&n| (n != usize::MAX).then_some(n)).collect();
    every_truncation_and_bit_flip(&varied_records(Some(3), &values, |i| i64::from(i % 4) * 7));
}

/// Where the `i`th record of `section` starts.
fn pos_of(section: &[u8], i: usize) -> usize {
    (0..i).fold(0, |pos, _| pos + plain_record(&section[pos..]).unwrap().1)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Batches of equal-sized records (which the summary checks as
    /// runs), with one byte of the records section changed or not: the
    /// summary vouches only for batches the walker accepts, with its facts.
    #[test]
    fn the_summary_of_equal_records_agrees_with_the_walker_on_any_changed_byte(
        count in 1i32..150,
        key in proptest::option::of(0usize..20),
        value in 0usize..300,
        step in -3_000i64..3_000,
        change in proptest::option::of((0usize..150, 0u8..3, 0usize..400, 1u8..=255)),
    ) {
        let good = equal_records(count, key, value, |i| step * i64::from(i % 7));
        let mut v = good.to_vec();
        if let Some((record, place, offset, xor)) = change {
            // A byte of one record: among its first ten (the fields
            // before the key), its last (headerCount), or any.
            let mut start = layout::RECORDS;
            for _ in 0..record % usize::try_from(count).unwrap() {
                start += plain_record(&good[start..]).unwrap().1;
            }
            let size = plain_record(&good[start..]).unwrap().1;
            let at = match place {
                0 => offset % 10,
                1 => size - 1,
                _ => offset % size,
            };
            if let Some(byte) = v.get_mut(start + at) {
                *byte ^= xor;
            }
        }
        let refused = same_verdict(Bytes::from(v));
        if change.is_none() {
            proptest::prop_assert_eq!(refused, Some(false));
        }
    }

    /// The same for records whose values differ in length (which the
    /// summary checks as runs too, where the varints keep their widths),
    /// null values among them.
    #[test]
    fn the_summary_of_records_of_varied_values_agrees_with_the_walker_on_any_changed_byte(
        values in proptest::collection::vec(
            proptest::prop_oneof![
                8 => proptest::strategy::Strategy::prop_map(70usize..130, Some),
                2 => proptest::strategy::Strategy::prop_map(0usize..64, Some),
                1 => proptest::strategy::Just(None),
            ],
            1..150,
        ),
        key in proptest::option::of(0usize..20),
        step in -3_000i64..3_000,
        change in proptest::option::of((0usize..150, 0u8..3, 0usize..400, 1u8..=255)),
    ) {
        let good = varied_records(key, &values, |i| step * i64::from(i % 7));
        let mut v = good.to_vec();
        if let Some((record, place, offset, xor)) = change {
            let section = &good[layout::RECORDS..];
            let start = pos_of(section, record % values.len());
            let size = plain_record(&section[start..]).unwrap().1;
            let at = match place {
                0 => offset % 10,
                1 => size - 1,
                _ => offset % size,
            };
            if let Some(byte) = v.get_mut(layout::RECORDS + start + at) {
                *byte ^= xor;
            }
        }
        let refused = same_verdict(Bytes::from(v));
        if change.is_none() {
            proptest::prop_assert_eq!(refused, Some(false));
        }
    }
}

#[test]
fn walker_reports_each_records_facts() {
    let mut b = BatchBuilder::new(0);
    b.append(&Record::new("k", "v").timestamp(10)).unwrap();
    b.append(&Record::unkeyed("v").timestamp(25)).unwrap();
    let batch = BatchView::new(b.build().unwrap()).unwrap();
    let seen = facts_of(&batch);
    assert_eq!(
        seen,
        vec![
            RecordFacts { offset_delta: 0, timestamp_delta: 0, key_is_null: false },
            RecordFacts { offset_delta: 1, timestamp_delta: 15, key_is_null: true },
        ]
    );
}

/// A varint of `raw` (already zigzagged) padded to at least `width` bytes
/// with continuation bits: legal on the wire (Kafka's reader accepts it),
/// never written by strata's encoder.
fn padded_varint(raw: u64, width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut v = raw;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    while out.len() < width {
        if let Some(last) = out.last_mut() {
            *last |= 0x80;
        }
        out.push(0);
    }
    out
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

/// One record's shape as hand-encoded by [`hand_record`]: field values and
/// each varint's width (padded past its natural width when wider). A null
/// key or value is written with the negative length `key_null` or
/// `value_null` (Kafka reads any negative length as null).
#[derive(Debug, Clone)]
struct Shape {
    ts: i64,
    ts_width: usize,
    offset_width: usize,
    key: Option<usize>,
    key_null: i64,
    key_width: usize,
    value: Option<usize>,
    value_null: i64,
    value_width: usize,
    length_width: usize,
    header_count: u8,
    attributes: u8,
}

fn hand_record(s: &Shape, offset_delta: i64) -> Vec<u8> {
    let len = |n: Option<usize>, null: i64| n.map_or(null, |n| i64::try_from(n).unwrap());
    let mut body = vec![s.attributes];
    body.extend(padded_varint(zigzag(s.ts), s.ts_width));
    body.extend(padded_varint(zigzag(offset_delta), s.offset_width));
    body.extend(padded_varint(zigzag(len(s.key, s.key_null)), s.key_width));
    body.extend(std::iter::repeat_n(b'k', s.key.unwrap_or(0)));
    body.extend(padded_varint(zigzag(len(s.value, s.value_null)), s.value_width));
    body.extend(std::iter::repeat_n(b'v', s.value.unwrap_or(0)));
    body.push(s.header_count);
    let mut record = padded_varint(zigzag(i64::try_from(body.len()).unwrap()), s.length_width);
    record.extend(body);
    record
}

/// A negative length, as a null key or value may be written: -1 (as Kafka
/// writes it), or any other (as a client may send it).
fn null_length() -> impl proptest::strategy::Strategy<Value = i64> {
    use proptest::prelude::*;
    prop_oneof![3 => Just(-1i64), 1 => Just(-2i64), 1 => -64i64..-2, 1 => Just(-65i64)]
}

fn shape() -> impl proptest::strategy::Strategy<Value = Shape> {
    use proptest::prelude::*;
    (
        prop_oneof![-70i64..70, -9000i64..9000, Just(i64::MAX / 2)],
        (1usize..4, 1usize..4),
        (
            prop_oneof![1 => Just(None), 1 => Just(Some(0)), 2 => (1usize..12).prop_map(Some)],
            null_length(),
            1usize..3,
        ),
        (proptest::option::of(0usize..80), null_length(), 1usize..3),
        1usize..3,
        prop_oneof![9 => Just(0u8), 1 => Just(2u8)],
        0u8..2,
    )
        .prop_map(
            |(
                ts,
                (ts_width, offset_width),
                (key, key_null, key_width),
                (value, value_null, value_width),
                length_width,
                header_count,
                attributes,
            )| Shape {
                ts,
                ts_width,
                offset_width,
                key,
                key_null,
                key_width,
                value,
                value_null,
                value_width,
                length_width,
                header_count,
                attributes,
            },
        )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

    /// Records hand-encoded with padded varints (which the template run
    /// masks only partly), timestamp deltas of any width, null and empty
    /// keys and values, values of lengths changing from record to record
    /// (within their varints' widths or across them), headers, and, inside
    /// a run, a record of another
    /// shape, a null key for an empty one or back, or one whose offset
    /// delta repeats, skips or goes back: the
    /// summary vouches only for batches the walker and the decoder accept,
    /// with the walker's facts (`same_verdict` asserts both), near either
    /// end of the timestamp range too.
    #[test]
    fn the_summary_agrees_with_the_walker_on_padded_varints_and_mixed_shapes(
        base in proptest::prop_oneof![
            proptest::strategy::Just(0i64),
            proptest::strategy::Just(1_700_000_000_000i64),
            proptest::strategy::Just(i64::MAX - 5000),
            proptest::strategy::Just(i64::MIN + 5000),
        ],
        count in 1i32..140,
        first in shape(),
        others in proptest::collection::vec((0i32..140, shape(), -2i64..4), 0..4),
        values in proptest::option::of(
            proptest::collection::vec(proptest::option::of(0usize..140), 1..6),
        ),
        extra in 0usize..2,
        cut in 0usize..3,
    ) {
        let mut section = Vec::new();
        for i in 0..count {
            let mut s = first.clone();
            // Values whose lengths change from record to record, or not.
            if let Some(values) = &values {
                s.value = values[usize::try_from(i).unwrap() % values.len()];
            }
            let mut offset = i64::from(i);
            for (at, other, how) in &others {
                if *at == i {
                    if *how == 0 {
                        s = other.clone();
                    } else if *how == 3 {
                        // A null key for an empty one or back (the same size
                        // when the null length takes one byte).
                        s.key = match s.key {
                            None => Some(0),
                            Some(0) => None,
                            key => key,
                        };
                    } else {
                        // Other deltas, their widths split otherwise (the same
                        // size when the widths sum alike): the offset skips,
                        // repeats or goes back.
                        s.ts = other.ts;
                        s.ts_width = other.ts_width;
                        s.offset_width = other.offset_width;
                        offset += if *how == 2 { 0 } else { *how };
                    }
                }
            }
            section.extend(hand_record(&s, offset));
        }
        section.extend(std::iter::repeat_n(0u8, extra));
        section.truncate(section.len().saturating_sub(cut));
        same_verdict(batch_of_section(section, count, base));
    }
}

/// A batch (its CRC not set) of the records `section`, said to hold
/// `count` records at offset deltas `0..count`, at base timestamp `base`.
fn batch_of_section(section: Vec<u8>, count: i32, base: i64) -> Bytes {
    let template = equal_records(1, Some(1), 1, |_| 0);
    let mut v = template[..layout::RECORDS].to_vec();
    v.extend(section);
    let length = i32::try_from(v.len() - layout::LOG_OVERHEAD).unwrap();
    v[layout::LENGTH..layout::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    v[layout::RECORDS_COUNT..layout::RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    v[layout::LAST_OFFSET_DELTA..layout::LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&(count - 1).to_be_bytes());
    v[layout::BASE_TIMESTAMP..layout::BASE_TIMESTAMP + 8].copy_from_slice(&base.to_be_bytes());
    Bytes::from(v)
}

/// Kafka's `DefaultRecord.readFrom` reads any negative key or value length
/// as null, covering no bytes: the decoder, the walker and the summary
/// (its template runs too) take runs of such records alike, a negative key
/// length counting as a null key (a compacted topic refuses the batch).
#[test]
fn negative_key_and_value_lengths_are_null_for_the_walker_and_the_summary() {
    let min = i64::from(i32::MIN);
    for (key, value) in [(-2, -5), (-2, 3), (2, -5), (-65, -1), (-3, -65), (min, 1), (1, min)] {
        let field = |n: i64| usize::try_from(n).ok();
        let s = Shape {
            ts: 0,
            ts_width: 1,
            offset_width: 1,
            key: field(key),
            key_null: key,
            key_width: 1,
            value: field(value),
            value_null: value,
            value_width: 1,
            length_width: 1,
            header_count: 0,
            attributes: 0,
        };
        let section: Vec<u8> = (0..100).flat_map(|i| hand_record(&s, i)).collect();
        let bytes = batch_of_section(section, 100, 0);
        assert_eq!(same_verdict(bytes.clone()), Some(false), "key {key}, value {value}");
        let batch = BatchView::new(bytes).unwrap();
        assert!(facts_of(&batch).iter().all(|f| f.key_is_null == (key < 0)), "key {key}");
        // Lengths of up to three varint bytes are the summary's.
        if key > min && value > min {
            let summary = summarize(&batch).map(|s| s.any_null_key);
            assert_eq!(summary, Some(key < 0), "key {key}, value {value}");
        }
        for r in batch.records().unwrap() {
            let r = r.unwrap();
            assert_eq!(r.key().map(|k| k.len()), field(key), "key {key}");
            assert_eq!(r.value().map(|v| v.len()), field(value), "value {value}");
        }
    }
    // A negative header count (raw byte 1: -1) is refused, naming it, as Kafka does.
    let s = Shape {
        ts: 0,
        ts_width: 1,
        offset_width: 1,
        key: Some(1),
        key_null: -1,
        key_width: 1,
        value: Some(1),
        value_null: -1,
        value_width: 1,
        length_width: 1,
        header_count: 1,
        attributes: 0,
    };
    let batch = BatchView::new(batch_of_section(hand_record(&s, 0), 1, 0)).unwrap();
    assert_eq!(same_verdict(batch.as_bytes().clone()), Some(true));
    let e = walk_records(&batch, |e| e, |_| Ok(())).unwrap_err();
    assert!(
        matches!(e, FormatError::InvalidValue { field: "record.headerCount", value: -1, .. }),
        "{e:?}"
    );
}
