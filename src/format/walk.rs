//! Checking a v2 batch's records without building them: what the log needs
//! to validate a client batch (Kafka's `LogValidator` decodes every record
//! of a producer batch) in one pass that allocates nothing per record.
//!
//! [`walk_records`] applies exactly the rules of
//! [`BatchView::check_records`](super::BatchView::check_records) — each
//! record frames within its declared length, header key lengths and counts
//! are not negative (any other negative length is null), offset deltas
//! increase within `[0, lastOffsetDelta]`, the count matches and no bytes
//! are left over — with the same errors, but hands the caller only the few
//! facts the log's rules look at.

use super::batch::DEFAULT_MAX_DECOMPRESSED;
use super::compression::decompress;
use super::layout;
use super::record_walk::DeltaRule;
use super::varint::{read_varint, read_varlong, short_unsigned_at};
use super::{BatchView, Compression, FormatError, FormatResult};

/// What the log's rules need from one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordFacts {
    /// The stored offset delta.
    pub offset_delta: i32,
    /// The stored timestamp delta (from the batch's baseTimestamp).
    pub timestamp_delta: i64,
    /// Whether the key is null.
    pub key_is_null: bool,
}

/// Walks every record of the v2 `batch` (decompressing its records section
/// once if it is compressed), checks its framing, and calls `each` with its
/// facts. The CRC is not checked here: call [`BatchView::validate`] first.
///
/// # Errors
/// A format violation wrapped by `wrap`, or the first error of `each`.
pub(crate) fn walk_records<E>(
    batch: &BatchView,
    wrap: impl Fn(FormatError) -> E,
    mut each: impl FnMut(RecordFacts) -> Result<(), E>,
) -> Result<(), E> {
    let bytes = batch.as_bytes();
    let stored = bytes.get(layout::RECORDS..).unwrap_or_default();
    let decompressed;
    let section = match batch.compression().map_err(&wrap)? {
        Compression::None => stored,
        codec => {
            decompressed = decompress(codec, stored, DEFAULT_MAX_DECOMPRESSED).map_err(&wrap)?;
            &decompressed[..]
        }
    };
    let count = batch.records_count();
    let last = batch.last_offset_delta();
    let mut walker = Walker { src: section, pos: 0 };
    // The read walk's rule: both refuse the same record.
    let mut rule = DeltaRule::new(count, last);
    for index in 0..count.max(0) {
        // The common record in one go; anything else (or anything wrong) is
        // measured again by the careful path, which names the fault.
        let facts = match plain_record(walker.rest()) {
            Some((facts, size)) => {
                walker.pos += size;
                facts
            }
            None => walker.record().map_err(&wrap)?,
        };
        each(facts)?;
        if !rule.admits(index, facts.offset_delta) {
            return Err(wrap(FormatError::misplaced_offset_delta(facts.offset_delta)));
        }
    }
    if walker.pos < section.len() {
        // Kafka's `ensureNoneRemaining`: leftover bytes mean the count lied.
        return Err(wrap(FormatError::TrailingBytes { count, extra: section.len() - walker.pos }));
    }
    Ok(())
}

/// Measures a well-formed record without headers at the front of `src`:
/// its facts and size, or `None` for anything else (headers, a long
/// varint, any fault).
///
/// It succeeds only where [`Walker::record`] succeeds with the same facts
/// and size: every field lies inside the declared length (a field read past
/// it gives `None`, and the careful path then reports it as it always did),
/// the offset delta is not negative, the header count is 0 and the fields
/// add up to the length exactly. Its varints are at most three bytes (nine
/// for the timestamp delta), so none of Kafka's truncating decode applies.
/// Lengths are judged on the raw zig-zag value: even is `n >= 0` (`2n`),
/// odd is negative, a null key or value (Kafka's `DefaultRecord.readFrom`
/// reads any negative length as null, -2 as -1).
#[inline(always)]
fn plain_record(src: &[u8]) -> Option<(RecordFacts, usize)> {
    plain_record_framed(src).map(|(facts, size, _)| (facts, size))
}

/// Where [`plain_record`]'s record keeps its fields, as it measured them.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The widths of the length, timestamp delta and offset delta varints.
    length_width: usize,
    ts_width: usize,
    offset_width: usize,
    /// Where the key length, the key and the value length start (from the
    /// record's first byte), the raw key and value lengths, and the width
    /// of the value length's varint.
    key_len_at: usize,
    key_at: usize,
    value_len_at: usize,
    value: u64,
    value_width: usize,
}

/// [`plain_record`], with the record's [`Frame`].
#[inline(always)]
fn plain_record_framed(src: &[u8]) -> Option<(RecordFacts, usize, Frame)> {
    let (len, n) = short_unsigned_at(src, 0)?;
    if len & 1 != 0 {
        return None;
    }
    let size = n + (len >> 1) as usize;
    let body = src.get(n..size)?;
    // attributes (one byte, any value), then the varints up to the key's
    // length: at most 1 + 9 + 3 + 3 = 16 bytes. A body that long has them in
    // a fixed 16-byte window, read without a bounds check per byte (every
    // index stays below 16, so the mask changes nothing).
    let front = match body.first_chunk::<FRONT>() {
        Some(window) => front(|i| window.get(i % FRONT).copied())?,
        None => front(|i| body.get(i).copied())?,
    };
    let (ts, offset, key, key_end, (a, b, key_at)) = front;
    let value_at = skip_nullable(key_end, key);
    let (value, e) = short_unsigned_at(body, value_at)?;
    let at = skip_nullable(value_at + e, value);
    // headerCount 0, and nothing after it.
    if at + 1 != body.len() || body.last() != Some(&0) {
        return None;
    }
    let facts = RecordFacts {
        offset_delta: (offset >> 1) as i32,
        timestamp_delta: ((ts >> 1) as i64) ^ -((ts & 1) as i64),
        key_is_null: key & 1 != 0,
    };
    let frame = Frame {
        length_width: n,
        ts_width: a,
        offset_width: b,
        key_len_at: n + key_at,
        key_at: n + key_end,
        value_len_at: n + value_at,
        value,
        value_width: e,
    };
    Some((facts, size, frame))
}

/// The most bytes a record's fields before its key take.
const FRONT: usize = 16;

/// A record body's timestamp delta, offset delta (not negative) and key
/// length, all raw, where the key starts, and the widths of the deltas'
/// varints and where the key length starts; `byte(i)` is the body's byte `i`.
#[inline(always)]
#[allow(clippy::type_complexity, reason = "one use, its parts named there")]
fn front(
    byte: impl Fn(usize) -> Option<u8>,
) -> Option<(u64, u64, u64, usize, (usize, usize, usize))> {
    let (ts, a) = varint_at(&byte, 1, 9)?;
    let (offset, b) = varint_at(&byte, 1 + a, 3)?;
    if offset & 1 != 0 {
        return None;
    }
    let at = 1 + a + b;
    let (key, c) = varint_at(&byte, at, 3)?;
    Some((ts, offset, key, at + c, (a, b, at)))
}

/// Unsigned LEB128 of one to `max` bytes (`max` 3 or 9) at `byte(at..)`:
/// its raw value and length, `None` when longer or cut short.
#[inline(always)]
fn varint_at(byte: &impl Fn(usize) -> Option<u8>, at: usize, max: usize) -> Option<(u64, usize)> {
    let b0 = u64::from(byte(at)?);
    if b0 < 0x80 {
        return Some((b0, 1));
    }
    let b1 = u64::from(byte(at + 1)?);
    if b1 < 0x80 {
        return Some(((b0 & 0x7f) | b1 << 7, 2));
    }
    varint_tail(byte, at, max, (b0 & 0x7f) | (b1 & 0x7f) << 7)
}

/// [`varint_at`] past its first two bytes, whose seven-bit groups are `value`.
#[cold]
fn varint_tail(
    byte: &impl Fn(usize) -> Option<u8>,
    at: usize,
    max: usize,
    mut value: u64,
) -> Option<(u64, usize)> {
    for i in 2..max {
        let b = u64::from(byte(at + i)?);
        value |= (b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Past a nullable field whose raw zig-zag length is `raw`, at `at`: a
/// negative length (odd) is null and covers nothing. Whether the field
/// fits is left to the next read.
#[inline(always)]
fn skip_nullable(at: usize, raw: u64) -> usize {
    if raw & 1 != 0 { at } else { at + (raw >> 1) as usize }
}

/// What the log's rules on a client batch need from all of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The smallest and largest record timestamp (baseTimestamp plus each
    /// delta, wrapping as Kafka's long arithmetic does).
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    /// Whether some record has a null key.
    pub any_null_key: bool,
}

/// The records of an uncompressed v2 `batch` in one pass that checks what
/// [`walk_records`] checks and builds nothing: their [`Summary`], or `None`
/// when this pass cannot vouch for the batch (a compressed section, headers,
/// any fault). `Some` means [`walk_records`] accepts the batch and reports
/// facts that sum to this summary; on `None` the caller walks it with
/// [`walk_records`], which names any fault.
pub(crate) fn summarize(batch: &BatchView) -> Option<Summary> {
    if batch.compression().ok()? != Compression::None {
        return None;
    }
    let section = batch.as_bytes().get(layout::RECORDS..)?;
    let count = batch.records_count();
    // A producer batch's offset deltas are 0, 1, ..., lastOffsetDelta (the
    // log refuses any other before it asks for the summary): this pass
    // vouches only for those, which increase within [0, lastOffsetDelta] as
    // the walker requires, and leaves any other batch to the walker.
    if count <= 0 || i64::from(count) != i64::from(batch.last_offset_delta()) + 1 {
        return None;
    }
    // The next record's position and offset delta, the extremes so far.
    let mut at = Cursor { pos: 0, offset_delta: 0, min_delta: i64::MAX, max_delta: i64::MIN };
    let mut any_null_key = false;
    while at.offset_delta < count {
        let rest = section.get(at.pos..)?;
        let (facts, size, frame) = plain_record_framed(rest)?;
        if facts.offset_delta != at.offset_delta {
            return None;
        }
        at.pos += size;
        at.offset_delta += 1;
        at.min_delta = at.min_delta.min(facts.timestamp_delta);
        at.max_delta = at.max_delta.max(facts.timestamp_delta);
        any_null_key |= facts.key_is_null;
        // The records after it laid out as it is (a client's batch of
        // equal-sized records, or of values of several lengths) are
        // checked against it as a template.
        if let Some(run) = Run::of(rest, size, frame) {
            at = run.take(section, at, count);
        }
    }
    // Without overflow at either end, baseTimestamp plus any delta between
    // them does not wrap either, and the extremes are those of the sums.
    let base = batch.base_timestamp();
    let (Some(min_timestamp), Some(max_timestamp)) =
        (base.checked_add(at.min_delta), base.checked_add(at.max_delta))
    else {
        return None;
    };
    (at.pos == section.len()).then_some(Summary { min_timestamp, max_timestamp, any_null_key })
}

/// A record [`plain_record`] accepted, as the template of the records after
/// it laid out as it is: a batch of equal-sized records, as clients
/// commonly send, is checked a record at a time in a few word compares, and
/// so is a batch whose values differ in length only.
///
/// A record the run takes is one [`plain_record`] accepts with the size the
/// run gives it: its timestamp and offset deltas have the template's
/// widths (the same continuation bits), its key length is the template's
/// bytes, and its last byte (headerCount) is 0; and either
/// - its length and value length are the template's bytes ([`take_equal`]:
///   the same size), or
/// - (the template's value not null) its length and value length varints
///   have the template's widths, the value length is not negative, and the
///   length exceeds it by the template's excess ([`take_varied`]: the record
///   is as long as its fields, the value's bytes aside, are in the
///   template, plus its value).
///
/// Every field then lies where it lies in the template up to the value,
/// and the value, as long as its length says, ends where headerCount
/// does, the last byte of the declared length: the record frames exactly,
/// as the template did. The run stops at anything else (the caller
/// measures that record with [`plain_record`], which also takes it as the
/// next template).
///
/// [`take_equal`]: Run::take_equal
/// [`take_varied`]: Run::take_varied
#[derive(Debug, Clone, Copy)]
struct Run {
    /// The record's size, its length varint included.
    size: usize,
    /// Of the record's first eight bytes (little-endian), the bits that
    /// must be the template's (the template's bits are in `word`): every
    /// bit of the length and key length, the continuation bits of the
    /// deltas.
    mask: u64,
    /// The same for a record whose lengths may differ: the length's
    /// continuation bits in place of its bits.
    loose_mask: u64,
    loose_bits: u64,
    /// The length varint's bytes in that word, and its width.
    length_bytes: u64,
    length_width: usize,
    /// The bit where the timestamp delta starts in that word (the offset
    /// delta follows it).
    ts_shift: u32,
    /// The template's first eight bytes.
    word: u64,
    /// The widths of the timestamp and offset deltas' varints (1 or 2).
    ts_width: u8,
    offset_width: u8,
    /// Where the value length starts, and of the four bytes there
    /// (little-endian) its bytes and the template's bits there; and the
    /// bits that must be the template's where the value length may differ
    /// (its continuation bits and sign bit, that of an even raw value),
    /// with the template's bits there.
    value_at: usize,
    value_mask: u32,
    value_bits: u32,
    value_loose_mask: u32,
    value_loose_bits: u32,
    /// The raw (zigzag) length less the raw value length, both even: twice
    /// what the record holds besides its value's bytes. `None` for a null
    /// value, whose records are taken only at the template's size.
    excess: Option<u64>,
}

/// Where [`Run::take`] stands: the next record's position and offset
/// delta, and the timestamp deltas' extremes so far.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    pos: usize,
    offset_delta: i32,
    min_delta: i64,
    max_delta: i64,
}

impl Run {
    /// The template of the record of `size` bytes at the front of `rest`,
    /// which [`plain_record`] accepted and measured as `frame`; `None` when
    /// its deltas take more than two bytes each, its fields before the key
    /// more than eight, its value length's four-byte window passes its end,
    /// or the eight bytes after it do not start a record laid out as it is
    /// (no run follows).
    fn of(rest: &[u8], size: usize, frame: Frame) -> Option<Run> {
        let Frame { length_width: n, ts_width: a, offset_width: b, .. } = frame;
        if a > 2 || b > 2 || frame.key_at > 8 || size < 8 {
            return None;
        }
        let word = u64::from_le_bytes(*rest.first_chunk::<8>()?);
        let next = u64::from_le_bytes(*rest.get(size..)?.first_chunk::<8>()?);
        // `byte` in each of the bytes `from..to` (at most 8) of a word.
        let below = |k: usize| u64::MAX.checked_shr(64 - 8 * k as u32).unwrap_or(0);
        let bytes_mask = |from: usize, to: usize, byte: u64| {
            (below(to) & !below(from)) & (byte * 0x0101_0101_0101_0101)
        };
        let fixed = bytes_mask(n + 1, frame.key_len_at, 0x80)
            | bytes_mask(frame.key_len_at, frame.key_at, 0xff);
        let loose_mask = fixed | bytes_mask(0, n, 0x80);
        if next & loose_mask != word & loose_mask {
            return None;
        }
        let length_bytes = bytes_mask(0, n, 0xff);
        let mask = fixed | length_bytes;
        let window = rest.get(frame.value_len_at..size)?.first_chunk::<4>()?;
        let value_mask = u32::MAX >> (8 * (4 - frame.value_width));
        let value_bits = u32::from_le_bytes(*window) & value_mask;
        let value_loose_mask = 0x8080_8081 & value_mask;
        let raw_length = 2 * (size - n) as u64;
        Some(Run {
            size,
            mask,
            loose_mask,
            loose_bits: word & loose_mask,
            length_bytes,
            length_width: n,
            ts_shift: 8 * (n as u32 + 1),
            word,
            ts_width: a as u8,
            offset_width: b as u8,
            value_at: frame.value_len_at,
            value_mask,
            value_bits,
            value_loose_mask,
            value_loose_bits: value_bits & value_loose_mask,
            excess: (frame.value & 1 == 0).then(|| raw_length - frame.value),
        })
    }

    /// Takes the records at `at` laid out as the template whose offset
    /// deltas continue the count, up to the `count`th; where it stops.
    /// `at`'s extremes already hold the template's timestamp delta (the
    /// template is counted before its run is taken).
    fn take(&self, section: &[u8], at: Cursor, count: i32) -> Cursor {
        let at = match (self.ts_width, self.offset_width) {
            (1, 1) => self.take_equal::<1, 1>(section, at, count),
            (1, _) => self.take_equal::<1, 2>(section, at, count),
            (_, 1) => self.take_equal::<2, 1>(section, at, count),
            _ => self.take_equal::<2, 2>(section, at, count),
        };
        // A next record laid out as the template, lengths aside.
        let next = section.get(at.pos..).and_then(<[u8]>::first_chunk::<8>);
        let Some(excess) = self.excess.filter(|_| {
            next.is_some_and(|w| u64::from_le_bytes(*w) & self.loose_mask == self.loose_bits)
        }) else {
            return at;
        };
        match (self.ts_width, self.offset_width) {
            (1, 1) => self.take_varied::<1, 1>(section, at, count, excess),
            (1, _) => self.take_varied::<1, 2>(section, at, count, excess),
            (_, 1) => self.take_varied::<2, 1>(section, at, count, excess),
            _ => self.take_varied::<2, 2>(section, at, count, excess),
        }
    }

    /// The timestamp delta of the record whose first eight bytes are `word`
    /// (laid out as the template, the deltas' widths `TS` and `OFFSET`
    /// bytes), when its raw offset delta is `want`; `None` otherwise.
    #[inline(always)]
    fn timestamp_delta<const TS: u32, const OFFSET: u32>(
        &self,
        word: u64,
        want: u64,
    ) -> Option<i64> {
        let deltas = word >> self.ts_shift;
        if short_varint(deltas >> (8 * TS), OFFSET) != want {
            return None;
        }
        let ts = short_varint(deltas, TS);
        Some(((ts >> 1) as i64) ^ -((ts & 1) as i64))
    }

    /// The records of the template's size ([`take`](Self::take)), with the
    /// deltas' widths known. A record's first eight bytes are compared
    /// whole with what the template's would be at the record's offset
    /// delta: the template's bytes with the delta written in the template's
    /// width in place of its own (a width holds a value one way only, so
    /// bytes equal mean deltas equal), which goes up by two a record. Where
    /// only the timestamp delta's bits differ, it is decoded; a record with
    /// the template's bytes there has the template's delta, which the
    /// cursor's extremes already hold ([`take`](Self::take)).
    #[inline(never)]
    fn take_equal<const TS: u32, const OFFSET: u32>(
        &self,
        section: &[u8],
        mut at: Cursor,
        count: i32,
    ) -> Cursor {
        // The window past the value length's varint lies in the record
        // (`Run::of`): said here so the loop checks no bounds for it.
        if self.value_at + 4 > self.size {
            return at;
        }
        // The next record's value length and last byte first: a run of
        // records whose values differ in length stops there, before the
        // loop's setup.
        let next = section.get(at.pos..).and_then(|rest| rest.get(..self.size));
        if !next.is_some_and(|r| {
            r.get(self.value_at..)
                .and_then(<[u8]>::first_chunk::<4>)
                .is_some_and(|v| u32::from_le_bytes(*v) & self.value_mask == self.value_bits)
                && r.last() == Some(&0)
        }) {
            return at;
        }
        // The offset deltas the template's width holds: raw (zigzag)
        // values below 2^7 in one byte, 2^14 in two.
        let end = count.min(if OFFSET == 1 { 64 } else { 8192 });
        let field = |width: u32| if width == 1 { 0xff_u64 } else { 0xffff };
        let ts_bytes = field(TS) << self.ts_shift;
        let offset_shift = self.ts_shift + 8 * TS;
        let offset_bytes = field(OFFSET) << offset_shift;
        let strict = self.mask | ts_bytes | offset_bytes;
        let template = self.word & strict & !offset_bytes;
        // The timestamp delta's bits, its continuation bits aside (those
        // are the template's: `mask` holds them).
        let ts_bits = (if TS == 1 { 0x7f_u64 } else { 0x7f7f }) << self.ts_shift;
        let step = 2_u64 << offset_shift;
        let (mut min, mut max) = (at.min_delta, at.max_delta);
        let (mut pos, mut delta) = (at.pos, at.offset_delta);
        while (0..end).contains(&delta) {
            // From a multiple of 64 on, the next 64 raw deltas (even) add
            // up in the low seven bits without a carry.
            let stop = end.min((delta | 63) + 1);
            let left = usize::try_from(stop - delta).unwrap_or(0);
            let rest = section.get(pos..).unwrap_or_default();
            let rest = rest.get(..left * self.size).unwrap_or(rest);
            let first = template | (Self::raw_bytes::<OFFSET>(delta) << offset_shift);
            let mut expected = first;
            for record in rest.chunks_exact(self.size) {
                let Some(word) = record.first_chunk::<8>().map(|w| u64::from_le_bytes(*w)) else {
                    break;
                };
                let Some(value) = record.get(self.value_at..).and_then(<[u8]>::first_chunk::<4>)
                else {
                    break;
                };
                if u32::from_le_bytes(*value) & self.value_mask != self.value_bits
                    || record.last() != Some(&0)
                {
                    break;
                }
                let differ = (word & strict) ^ expected;
                if differ != 0 {
                    if differ & !ts_bits != 0 {
                        break;
                    }
                    let ts = short_varint(word >> self.ts_shift, TS);
                    let ts = ((ts >> 1) as i64) ^ -((ts & 1) as i64);
                    min = min.min(ts);
                    max = max.max(ts);
                }
                expected += step;
            }
            // Records taken, a step each: at most 64.
            let taken = ((expected - first) / step) as i32;
            delta += taken;
            pos += taken as usize * self.size;
            if delta < stop {
                break;
            }
        }
        at.pos = pos;
        at.offset_delta = delta;
        (at.min_delta, at.max_delta) = (min, max);
        at
    }

    /// The bytes of offset delta `delta` (`0 <= delta < 2^13`) in a varint
    /// `OFFSET` bytes wide (its raw value below `2^(7 * OFFSET)`): seven
    /// bits a byte, low first, the first byte's continuation bit set when
    /// there are two.
    #[inline(always)]
    fn raw_bytes<const OFFSET: u32>(delta: i32) -> u64 {
        let raw = 2 * u64::from(delta.unsigned_abs());
        if OFFSET == 1 { raw } else { (raw & 0x7f) | 0x80 | (raw >> 7) << 8 }
    }

    /// The records whose lengths may differ from the template's by their
    /// value's ([`take`](Self::take)), `excess` the template's raw length
    /// less its raw value length.
    #[inline(never)]
    fn take_varied<const TS: u32, const OFFSET: u32>(
        &self,
        section: &[u8],
        mut at: Cursor,
        count: i32,
        excess: u64,
    ) -> Cursor {
        let (mut min, mut max) = (at.min_delta, at.max_delta);
        let mut pos = at.pos;
        // The next record's offset delta, as its raw zig-zag value, and
        // the raw value of the `count`th (the loop ends there).
        let first = 2 * u64::from(at.offset_delta.unsigned_abs());
        let end = 2 * u64::from(count.unsigned_abs());
        let mut want = first;
        // The record's first bytes up to its value length's four (at least
        // nine: the value length starts past the length, the attributes,
        // both deltas and the key length).
        let front = self.value_at + 4;
        while want < end {
            let Some(bytes) = section.get(pos..pos + front) else { break };
            let (Some(word), Some(value)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<4>())
            else {
                break;
            };
            let word = u64::from_le_bytes(*word);
            let value = u32::from_le_bytes(*value);
            if word & self.loose_mask != self.loose_bits
                || value & self.value_loose_mask != self.value_loose_bits
            {
                break;
            }
            // Both varints of the template's widths (at most three bytes):
            // their groups gathered. The raw value length is even (the
            // template's sign bit), `2n` with `n >= 0`; the length then is
            // too, and exceeds it as the template's does.
            let length = gather(word & self.length_bytes);
            let value_length = gather(u64::from(value & self.value_mask));
            if length != value_length + excess {
                break;
            }
            let size = self.length_width + (length >> 1) as usize;
            // headerCount 0, the record's last byte, inside the section.
            if section.get(pos + size - 1) != Some(&0) {
                break;
            }
            let Some(delta) = self.timestamp_delta::<TS, OFFSET>(word, want) else { break };
            min = min.min(delta);
            max = max.max(delta);
            pos += size;
            want += 2;
        }
        // Records taken, each two more in `want`: fewer than `count`, an i32.
        at.offset_delta += ((want - first) / 2) as i32;
        at.pos = pos;
        (at.min_delta, at.max_delta) = (min, max);
        at
    }
}

/// A varint of one or two bytes at the bottom of `word`, whose width a
/// mask vouched for: the first byte's seven bits, and the second's above
/// them.
#[inline(always)]
fn short_varint(word: u64, width: u32) -> u64 {
    let low = word & 0x7f;
    if width == 2 { low | (word >> 1) & 0x3f80 } else { low }
}

/// The value of a varint of at most three bytes, alone in `word` (its
/// other bytes zero): the seven-bit groups of its bytes, low first.
#[inline(always)]
fn gather(word: u64) -> u64 {
    (word & 0x7f) | (word >> 1) & 0x3f80 | (word >> 2) & 0x1f_c000
}

/// A cursor over encoded records that only measures them.
struct Walker<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Walker<'_> {
    fn rest(&self) -> &[u8] {
        self.src.get(self.pos..).unwrap_or_default()
    }

    /// A one-byte varint (most lengths, deltas and counts), decoded in place.
    fn one_byte(&mut self) -> Option<i64> {
        let b = *self.src.get(self.pos).filter(|b| **b < 0x80)?;
        self.pos += 1;
        Some(i64::from(b >> 1) ^ -i64::from(b & 1))
    }

    fn varint(&mut self, field: &'static str) -> FormatResult<i32> {
        if let Some(v) = self.one_byte() {
            return Ok(v as i32);
        }
        let (v, n) = read_varint(self.rest(), field)?;
        self.pos += n;
        Ok(v)
    }

    fn varlong(&mut self, field: &'static str) -> FormatResult<i64> {
        if let Some(v) = self.one_byte() {
            return Ok(v);
        }
        let (v, n) = read_varlong(self.rest(), field)?;
        self.pos += n;
        Ok(v)
    }

    fn skip(&mut self, field: &'static str, n: usize, limit: usize) -> FormatResult<()> {
        let available = limit.saturating_sub(self.pos);
        if n > available {
            return Err(FormatError::Truncated { field, needed: n, available });
        }
        self.pos += n;
        Ok(())
    }

    /// Skips a nullable length-prefixed byte string that must end by `limit`;
    /// whether it was null (any negative length: Kafka's `DefaultRecord.readFrom`).
    fn nullable(
        &mut self,
        len_field: &'static str,
        field: &'static str,
        limit: usize,
    ) -> FormatResult<bool> {
        match self.varint(len_field)? {
            n if n < 0 => Ok(true),
            n => self.skip(field, n.unsigned_abs() as usize, limit).map(|()| false),
        }
    }

    /// Measures the record at the cursor, as the decoder would read it.
    fn record(&mut self) -> FormatResult<RecordFacts> {
        let len = self.varint("record.length")?;
        let len = usize::try_from(len).map_err(|_| FormatError::InvalidValue {
            field: "record.length",
            value: i64::from(len),
            reason: "a record length cannot be negative",
        })?;
        let start = self.pos;
        let available = self.src.len().saturating_sub(start);
        if len > available {
            return Err(FormatError::Truncated { field: "record.body", needed: len, available });
        }
        let end = start + len;
        self.skip("record.attributes", 1, end)?;
        let timestamp_delta = self.varlong("record.timestampDelta")?;
        let offset_delta = self.varint("record.offsetDelta")?;
        let key_is_null = self.nullable("record.keyLength", "record.key", end)?;
        self.nullable("record.valueLength", "record.value", end)?;
        let count = self.varint("record.headerCount")?;
        if count < 0 {
            return Err(FormatError::InvalidValue {
                field: "record.headerCount",
                value: i64::from(count),
                reason: "a header count cannot be negative",
            });
        }
        for _ in 0..count {
            let key_len = self.varint("record.header.keyLength")?;
            if key_len < 0 {
                return Err(FormatError::InvalidValue {
                    field: "record.header.keyLength",
                    value: i64::from(key_len),
                    reason: "header keys cannot be null",
                });
            }
            self.skip("record.header.key", key_len.unsigned_abs() as usize, end)?;
            self.nullable("record.header.valueLength", "record.header.value", end)?;
        }
        if self.pos != end {
            return Err(FormatError::InvalidValue {
                field: "record.length",
                value: len as i64,
                reason: "fields do not add up to the declared record length",
            });
        }
        Ok(RecordFacts { offset_delta, timestamp_delta, key_is_null })
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
