//! Encoding v2 records (Kafka's `DefaultRecord.writeTo`) into a batch
//! buffer: the hot loop of every append the log builds itself.
//!
//! [`RecordsBuf`] holds the batch being built. Its bytes past the records
//! written so far are initialized and owned (zeroed a block ahead as records need
//! them, within the capacity reserved up front), so a record is written into
//! a plain slice at a cursor, not pushed into a `Vec` field by field: pushing cost a capacity check and a length
//! update per field and per varint byte, more than copying the 100-byte value.
//!
//! Three paths write the same bytes:
//! - [`RecordsBuf::encode_plain_run`], for runs of header-less records (what
//!   the log's own appends hold): a record of the last one's shape (its
//!   timestamp delta, key and value lengths) is written from a [`Template`]
//!   of every byte but its offset delta, key and value, a few word stores
//!   and the two copies; a record whose value's length alone differs, its
//!   varints no wider or narrower, rewrites the template's four value fields
//!   without laying the template out anew ([`Template::resize`]);
//! - [`encode_plain`], for records without headers whose key and value are
//!   under 1 MiB (what nearly every append holds): each varint is composed in
//!   a register ([`Packed`]: its bytes in a `u64` and their count), which also
//!   measures it, so the record's size is known before a byte is written; each
//!   varint lands as one 8-byte store whose spill past its bytes the next field
//!   overwrites ([`SLACK`] spare bytes take the last spill). The key and the
//!   value are copied once, straight from the caller's slices.
//! - [`encode_general`] for the rest (headers, huge fields, errors): sized
//!   with [`varint_len`], then pushed field by field.

use bytes::BufMut;

use super::varint::{put_varint, put_varlong, varint_len, varlong_len};
use super::{FormatError, FormatResult};

/// Spare zeroed bytes kept past a plain record, for the spill of an 8-byte store.
const SLACK: usize = 8;

/// How far past the batch's end [`RecordsBuf::room`] zeroes when it must:
/// just below glibc's `rep stosb` threshold (2 KiB), so the `memset` runs
/// vector stores, in as few calls as that allows (1,024 bytes counted 2.6
/// instructions a record more on 108-byte records under callgrind).
const ZERO_AHEAD: usize = 2000;

/// Keys and values below this size take the plain path: their length
/// varints fit three bytes, and the record's size cannot overflow an i32.
const PLAIN_MAX: usize = 1 << 20;

/// A batch being built: `bytes[..end]` is the batch so far; the bytes past
/// `end` are spare, initialized room (zeroed, or left over from a spill or
/// from the spent batch the buffer held before: never read).
#[derive(Debug, Clone)]
pub(crate) struct RecordsBuf {
    bytes: Vec<u8>,
    end: usize,
}

impl RecordsBuf {
    /// `head` zero bytes (the batch header, filled in at build), with room
    /// for `records` bytes of records after them, in the allocation of
    /// `bytes` (a spent buffer or a new one): a batch built again and again
    /// reuses one allocation instead of asking for one a batch. A spent
    /// buffer's bytes are kept as initialized room (every byte of a record
    /// is written, none is read), so the next batch of its size zeroes
    /// nothing ([`room`](Self::room)).
    pub(crate) fn reuse(mut bytes: Vec<u8>, head: usize, records: usize) -> RecordsBuf {
        bytes.reserve(head.saturating_add(records).saturating_sub(bytes.len()));
        if bytes.len() < head {
            bytes.resize(head, 0);
        }
        if let Some(header) = bytes.get_mut(..head) {
            header.fill(0);
        }
        RecordsBuf { bytes, end: head }
    }

    /// Reserves room for `n` more bytes, so that the batch grows once.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.bytes.reserve((self.end + n).saturating_sub(self.bytes.len()));
    }

    pub(crate) fn len(&self) -> usize {
        self.end
    }

    /// The batch so far.
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.end).unwrap_or_default()
    }

    /// Cuts the batch back to `len` bytes (the rest becomes spare room).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.end = self.end.min(len);
    }

    /// The batch as a vector of exactly its bytes.
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        self.bytes.truncate(self.end);
        self.bytes
    }

    /// At least `n` initialized bytes from `end` on: the spare room, zeroed
    /// when short up to [`ZERO_AHEAD`] bytes past `end` (within the reserved
    /// capacity, so this reallocates only when the caller's estimate fell
    /// short): one `memset` call serves several small records. Zeroing the
    /// whole reservation at once was no cheaper in cycles, and callgrind
    /// counts each byte of that `rep stosb` as an instruction.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        let want = self.end + n;
        if self.bytes.len() < want {
            let ahead = (self.end + ZERO_AHEAD).min(self.bytes.capacity()).max(want);
            self.bytes.resize(ahead, 0);
        }
        self.bytes.get_mut(self.end..).unwrap_or_default()
    }

    /// How far [`encode_plain_run`](Self::encode_plain_run) may take the
    /// batch before it asks [`room`](Self::room) for more: the initialized
    /// bytes less the [`SLACK`] a record's last store spills into, and never
    /// past `i32::MAX` bytes.
    #[inline(always)]
    fn room_limit(&self) -> usize {
        self.bytes.len().saturating_sub(SLACK).min(i32::MAX as usize)
    }

    /// Encodes one record (length prefix included) at the end of the batch,
    /// copying each key, value and header byte once, straight from the
    /// caller's slices. On an error the batch is as it was.
    ///
    /// # Errors
    /// [`FormatError::TooLarge`] when a key, value, header or the record
    /// outgrows int32 lengths.
    #[inline]
    pub(crate) fn encode_record<'h>(
        &mut self,
        ts_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
    ) -> FormatResult<()> {
        let plain = headers.len() == 0
            && key.is_none_or(|k| k.len() < PLAIN_MAX)
            && value.is_none_or(|v| v.len() < PLAIN_MAX)
            && ts_delta.unsigned_abs() < 1 << 54;
        if plain {
            self.end += encode_plain(self, ts_delta, offset_delta, key, value);
            Ok(())
        } else {
            // Field by field onto a vector that ends where the batch does.
            self.bytes.truncate(self.end);
            let pushed =
                encode_general(&mut self.bytes, ts_delta, offset_delta, key, value, headers);
            self.end = self.bytes.len();
            pushed
        }
    }
}

/// What [`RecordsBuf::encode_plain_run`] encoded: how many records, and
/// the largest timestamp among them (`i64::MIN` when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub count: usize,
    pub max_timestamp: i64,
}

/// One record for [`RecordsBuf::encode_plain_run`]: its timestamp (already
/// stamped), key, value and number of headers.
pub(crate) type PlainParts<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>, usize);

impl RecordsBuf {
    /// Encodes the leading records of `records` that take the plain path
    /// (no headers, key and value under [`PLAIN_MAX`], a timestamp delta
    /// from `base` under 2^54 in magnitude) and that `admit` accepts (it is
    /// given each record's timestamp and whether its key is null), at offset
    /// deltas `first_delta`, `first_delta + 1`, ..., stopping before the
    /// first that does not, at offset delta `i32::MAX`, or before a record
    /// that would take the batch past `i32::MAX` bytes. The same bytes as
    /// [`encode_record`](Self::encode_record) record by record.
    ///
    /// The records of a batch mostly share one shape (timestamp delta, key
    /// and value lengths): a [`Template`] lays out every byte of a record of
    /// that shape but its offset delta, its key and its value, so a record
    /// that matches the last one's shape costs three compares, a few word
    /// stores and the copies of its key and value; one whose value's length
    /// alone differs first rewrites the template's value fields
    /// ([`Template::resize`]). `admit` is asked only when the timestamp
    /// delta or the key's length changes: a record with the same ones has
    /// the same timestamp and key nullity as one it already accepted.
    #[inline]
    pub(crate) fn encode_plain_run<'a, R>(
        &mut self,
        base: i64,
        first_delta: i32,
        records: &'a [R],
        parts: impl Fn(&'a R) -> PlainParts<'a>,
        mut admit: impl FnMut(i64, bool) -> bool,
    ) -> Run {
        // Offset deltas first_delta..=i32::MAX are left.
        let room_for = (i32::MAX - first_delta.max(0)) as usize + 1;
        let mut run = Run { count: 0, max_timestamp: i64::MIN };
        // No record matches the initial template (its key length is neither
        // NULL nor under PLAIN_MAX).
        let mut t = Template::NONE;
        if first_delta < 0 {
            // Never so (deltas start at 0 and increase); one by one if it were.
            return run;
        }
        let z0 = zigzag32(first_delta);
        // The batch's end, kept in a register; the stores below reach up to
        // `limit` without growing the room or passing i32::MAX bytes.
        let mut end = self.end;
        let mut limit = self.room_limit();
        // The records the deltas left hold, cut once (no count kept beside
        // the slice's own end).
        let records = records.get(..room_for).unwrap_or(records);
        for r in records {
            let (ts, key, value, headers) = parts(r);
            if headers != 0 {
                break;
            }
            let ts_delta = ts.wrapping_sub(base);
            let key_len = key.map_or(NULL, <[u8]>::len);
            let value_len = value.map_or(NULL, <[u8]>::len);
            // The zigzag of offset delta first_delta + count: twice it, as
            // the deltas are >= 0 (at most i32::MAX: under 2^32).
            let z = z0.wrapping_add((run.count as u32).wrapping_mul(2));
            if !(t.ts_delta == ts_delta && t.key == key_len && t.value == value_len && z < t.z_end)
            {
                match t.renew(ts_delta, key_len, value_len, z) {
                    // The same timestamp and key nullity as a record `admit`
                    // accepted: only the value's length changed.
                    Renewed::Resized => {}
                    Renewed::Made => {
                        if !admit(ts, key.is_none()) {
                            break;
                        }
                        run.max_timestamp = run.max_timestamp.max(ts);
                    }
                    Renewed::Refused => break,
                }
            }
            // Under PLAIN_MAX twice plus a few bytes: no overflow.
            let next = end + t.size;
            if next > limit {
                if next > i32::MAX as usize {
                    // Not written: the record-by-record path refuses it.
                    break;
                }
                self.end = end;
                self.room(t.size + SLACK);
                limit = self.room_limit();
            }
            let Some(out) = self.bytes.get_mut(end..next + SLACK) else { break };
            // A null key or value has no bytes to copy.
            t.write(out, z, key.unwrap_or_default(), value.unwrap_or_default());
            end = next;
            run.count += 1;
        }
        self.end = end;
        run
    }
}

/// How [`Template::renew`] changed the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewed {
    /// Only its value fields: the record has the last one's timestamp
    /// delta and key length.
    Resized,
    /// Anew, for a record of another timestamp delta or key length (or
    /// offset width, or value length past the varints' widths).
    Made,
    /// Not at all: no template takes the record.
    Refused,
}

/// The length of a null key or value in [`Template`].
const NULL: usize = usize::MAX;

/// Zigzag of an i32 as Kafka's varint writes it.
#[inline(always)]
fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)).cast_unsigned()
}

/// Stores `word`'s 8 bytes at `at` (the slice has [`SLACK`] bytes past the
/// record for the spill, which the fields after `at` overwrite).
#[inline(always)]
fn store(out: &mut [u8], at: usize, word: u64) {
    if let Some(s) = out.get_mut(at..at + 8) {
        s.copy_from_slice(&word.to_le_bytes());
    }
}

/// Every byte of a plain record of one shape (timestamp delta, key and
/// value lengths) whose offset delta's varint has one width, but the offset
/// delta, key and value bytes:
///
/// ```text
/// [length, attributes 0, timestampDelta] (head_len bytes: head, head_tail)
/// [offsetDelta, keyLength]               (at head_len: the offset's varint, then key_len_word)
/// [key]                                  (at key_at)
/// [valueLength]                          (after the key: value_len_word, value_width bytes)
/// [value] [headerCount 0]                (the last byte at size - 1)
/// ```
#[derive(Clone, Copy)]
struct Template {
    ts_delta: i64,
    /// The key's and the value's lengths, [`NULL`] for null.
    key: usize,
    value: usize,
    /// Zigzagged offset deltas below this have the template's width (the
    /// deltas of a run increase, so none falls below it).
    z_end: u32,
    /// The value lengths `value_from..value_from + value_span` (non-null)
    /// encode with the template's widths of the value's length varint and
    /// of the record's length varint: [`resize`](Self::resize) takes them.
    /// The span is 0 for a null value.
    value_from: usize,
    value_span: usize,
    /// The continuation bits of the record's length varint and of the
    /// value's length varint (0 for a null value).
    length_continuation: u64,
    value_continuation: u64,
    /// The first 8 bytes of `[length, attributes, timestampDelta]` and
    /// (when `head_len > 8`) the bytes after them; when `key_at <= 8`,
    /// the key length too, at its place after the offset delta.
    head: u64,
    head_tail: u64,
    head_len: usize,
    /// `8 * head_len`, where the offset delta's varint starts in `head`
    /// when the key length joined it (`key_at <= 8`).
    offset_shift: u32,
    /// The width of the value length's varint.
    value_width: usize,
    /// The key length varint, shifted past the offset delta's varint.
    key_len_word: u64,
    key_at: usize,
    value_len_word: u64,
    /// The whole record, length prefix included.
    size: usize,
    /// The width of the record's length varint (at most 4: a plain record
    /// is under 2^21 + 32 bytes), the first of `head`'s bytes.
    length_len: usize,
}

impl Template {
    /// Matches no record.
    const NONE: Template = Template {
        ts_delta: 0,
        key: PLAIN_MAX,
        value: 0,
        z_end: 0,
        value_from: 0,
        value_span: 0,
        length_continuation: 0,
        value_continuation: 0,
        head: 0,
        head_tail: 0,
        head_len: 0,
        offset_shift: 0,
        value_width: 0,
        key_len_word: 0,
        key_at: 0,
        value_len_word: 0,
        size: 0,
        length_len: 0,
    };

    /// Makes `self` the template of a record of its shape but for a value
    /// of `value` bytes, a length in `value_from..value_from + value_span`:
    /// the four fields that depend on it (the length varint in the head,
    /// the value-length word, the value length and the size); every other
    /// byte and position stays, the widths of both varints being unchanged.
    #[inline(always)]
    fn resize(&mut self, value: usize) {
        debug_assert!(value.wrapping_sub(self.value_from) < self.value_span);
        // Both under PLAIN_MAX (the span lies below it): the casts cannot
        // wrap, the sizes not overflow.
        let size = self.size - self.value + value;
        // Both varints as wide as the template's: their seven-bit groups
        // spread a byte apart, under the template's continuation bits.
        let length = spread(2 * (size - self.length_len) as u64) | self.length_continuation;
        // The length varint is the head's first 1 to 4 bytes.
        self.head = (self.head & u64::MAX << (8 * self.length_len)) | length;
        self.value_len_word = spread(2 * value as u64) | self.value_continuation;
        self.value = value;
        self.size = size;
    }

    /// Writes a record of the template's shape whose zigzagged offset
    /// delta is `z` (below `z_end`) into `out`, the template's `size`
    /// bytes and [`SLACK`] more: the head (with the offset delta and the
    /// key length, in one store where they end within its word), the key,
    /// the value length, the value and headerCount. A null key or value
    /// comes as an empty slice (the template gives it no bytes). The
    /// record is carved front to back, each part's length one compare.
    #[inline(always)]
    fn write(&self, out: &mut [u8], z: u32, key: &[u8], value: &[u8]) {
        let offset = Packed::unsigned(u64::from(z)).word;
        if self.key_at <= 8 {
            // head_len is at most 6 here: the shift is under 64.
            store(out, 0, self.head | offset << self.offset_shift);
        } else {
            store(out, 0, self.head);
            if self.head_len > 8 {
                store(out, 8, self.head_tail);
            }
            store(out, self.head_len, offset | self.key_len_word);
        }
        let Some((_, rest)) = out.split_at_mut_checked(self.key_at) else { return };
        let Some((d, rest)) = rest.split_at_mut_checked(key.len()) else { return };
        copy(d, key);
        store(rest, 0, self.value_len_word);
        let Some((_, rest)) = rest.split_at_mut_checked(self.value_width) else { return };
        let Some((d, rest)) = rest.split_at_mut_checked(value.len()) else { return };
        copy_value(d, value);
        if let Some(b) = rest.first_mut() {
            *b = 0; // headerCount
        }
    }

    /// Makes `self` (the last record's template) the template of a record
    /// of the given shape whose zigzagged offset delta is `z`: where only
    /// the value's length changed, within the widths of its varint and of
    /// the record's length, by [`resize`](Self::resize); otherwise anew
    /// ([`plain`](Self::plain)), `self` unchanged when no template takes the
    /// record. Out of line, and the making anew out of line again: the
    /// run's loop keeps its registers for the records of one shape, and
    /// the resize saves few.
    #[inline(never)]
    fn renew(&mut self, ts_delta: i64, key: usize, value: usize, z: u32) -> Renewed {
        if self.ts_delta == ts_delta
            && self.key == key
            && z < self.z_end
            && value.wrapping_sub(self.value_from) < self.value_span
        {
            self.resize(value);
            return Renewed::Resized;
        }
        self.remake(ts_delta, key, value, z)
    }

    /// [`renew`](Self::renew) by [`plain`](Self::plain).
    #[inline(never)]
    fn remake(&mut self, ts_delta: i64, key: usize, value: usize, z: u32) -> Renewed {
        match Template::plain(ts_delta, key, value, z) {
            Some(t) => {
                *self = t;
                Renewed::Made
            }
            None => Renewed::Refused,
        }
    }

    /// The template of a plain record (key and value null or under
    /// [`PLAIN_MAX`], timestamp delta under 2^54 in magnitude) whose
    /// zigzagged offset delta is `z`; `None` for any other record.
    fn plain(ts_delta: i64, key: usize, value: usize, z: u32) -> Option<Template> {
        let fits = |n: usize| n == NULL || n < PLAIN_MAX;
        if !(fits(key) && fits(value) && ts_delta.unsigned_abs() < 1 << 54) {
            return None;
        }
        // Under PLAIN_MAX: the casts cannot wrap.
        let field = |n: usize| if n == NULL { -1 } else { n as i32 };
        let bytes = |n: usize| if n == NULL { 0 } else { n };
        let ts = Packed::unsigned(((ts_delta << 1) ^ (ts_delta >> 63)).cast_unsigned());
        let offset = Packed::unsigned(u64::from(z));
        let key_len = Packed::varint(field(key));
        let value_len = Packed::varint(field(value));
        // attributes (one byte), timestampDelta, offsetDelta, keyLength,
        // key, valueLength, value, headerCount (one byte, 0).
        let body =
            2 + ts.len + offset.len + key_len.len + value_len.len + bytes(key) + bytes(value);
        let length = Packed::varint(body as i32);
        // The length (at most four bytes) and the attributes byte (0).
        let lead = Packed { word: length.word, len: length.len + 1 };
        let head_len = lead.len + ts.len;
        let (head, head_tail) = if head_len <= 8 {
            (lead.then(ts).word, 0)
        } else {
            // lead.len is 2 to 5: both shifts are under 64.
            (lead.word | ts.word << (8 * lead.len), ts.word >> (8 * (8 - lead.len)))
        };
        let z_end = match offset.len {
            1 => 1 << 7,
            2 => 1 << 14,
            3 => 1 << 21,
            4 => 1 << 28,
            _ => u32::MAX,
        };
        let key_at = head_len + offset.len + key_len.len;
        let key_len_word = key_len.word << (8 * offset.len);
        // Where the head, the offset delta and the key length end within
        // one word (most records: the three are 5 to 8 bytes), the key
        // length joins the head, and a record's offset delta is or-ed in
        // at `head_len` ([`Template::write`]).
        let head = if key_at <= 8 { head | key_len_word << (8 * head_len) } else { head };
        let (value_from, value_span) = if value == NULL {
            (0, 0)
        } else {
            // The lengths whose varints are as wide as these: the value's
            // zigzag (twice it) and the body's (the body less the value,
            // plus the value) stay within their widths' ranges.
            let (from, to) = width_range(value_len.len);
            let rest = body - value;
            let (body_from, body_to) = width_range(length.len);
            let from = from.max(body_from.saturating_sub(rest));
            let to = to.min(body_to.saturating_sub(rest)).min(PLAIN_MAX);
            (from, to.saturating_sub(from))
        };
        Some(Template {
            ts_delta,
            key,
            value,
            z_end,
            value_from,
            value_span,
            length_continuation: continuation(length.len),
            value_continuation: if value == NULL { 0 } else { continuation(value_len.len) },
            head,
            head_tail,
            head_len,
            offset_shift: 8 * head_len as u32,
            value_width: value_len.len,
            key_len_word,
            key_at,
            value_len_word: value_len.word,
            size: length.len + body,
            length_len: length.len,
        })
    }
}

/// The non-negative lengths `from..to` whose zigzagged varint (twice the
/// length) takes `width` bytes: `2n` below `2^(7 width)`, and at least
/// `2^(7 (width - 1))` past one byte.
fn width_range(width: usize) -> (usize, usize) {
    let bits = 7 * width as u32;
    let from = if width > 1 { 1usize << (bits - 8) } else { 0 };
    (from, 1usize << (bits - 1))
}

/// The seven-bit groups of `v < 2^28` each in its own byte, low group
/// first, without continuation bits: a varint of `v` less those bits.
#[inline(always)]
fn spread(v: u64) -> u64 {
    (v & 0x7f) | (v << 1) & 0x7f00 | (v << 2) & 0x7f_0000 | (v << 3) & 0x7f00_0000
}

/// The continuation bits of a varint of `width` bytes (1 to 8): on every
/// byte but the last.
fn continuation(width: usize) -> u64 {
    0x8080_8080_8080_8080u64 & ((1u64 << (8 * (width - 1))) - 1)
}

/// One varint in a register: `len` bytes of `word`, least significant first.
#[derive(Clone, Copy)]
struct Packed {
    word: u64,
    len: usize,
}

impl Packed {
    /// Unsigned LEB128 of `v < 2^56` (seven bits a byte, low group first).
    #[inline(always)]
    fn unsigned(v: u64) -> Packed {
        if v < 1 << 7 {
            return Packed { word: v, len: 1 };
        }
        if v < 1 << 14 {
            return Packed { word: (v & 0x7f) | 0x80 | ((v >> 7) << 8), len: 2 };
        }
        // Each 7-bit group moved to its own byte, then the continuation bits
        // on every byte but the last.
        let mut word = 0u64;
        for i in 0..8 {
            word |= ((v >> (7 * i)) & 0x7f) << (8 * i);
        }
        let bits = 64 - (v | 1).leading_zeros() as usize;
        let len = bits.div_ceil(7);
        let continuation = 0x8080_8080_8080_8080u64 & ((1u64 << (8 * (len - 1))) - 1);
        Packed { word: word | continuation, len }
    }

    /// `self`'s bytes followed by `next`'s, for a total of at most 8.
    #[inline(always)]
    fn then(self, next: Packed) -> Packed {
        Packed { word: self.word | next.word << (8 * self.len), len: self.len + next.len }
    }

    #[inline(always)]
    fn varint(value: i32) -> Packed {
        Packed::unsigned(u64::from(((value << 1) ^ (value >> 31)).cast_unsigned()))
    }
}

/// Writes fields into a record's slice.
struct Cursor<'b> {
    out: &'b mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// Stores the whole word (the slice has [`SLACK`] bytes past the record
    /// for its spill, which the next field overwrites) and moves past its bytes.
    #[inline(always)]
    fn packed(&mut self, p: Packed) {
        if let Some(s) = self.out.get_mut(self.pos..self.pos + 8) {
            s.copy_from_slice(&p.word.to_le_bytes());
        }
        self.pos += p.len;
    }

    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        if let Some(s) = self.out.get_mut(self.pos..self.pos + b.len()) {
            copy(s, b);
        }
        self.pos += b.len();
    }
}

/// Copies `src` into `dst` (of the same length): 8 to 16 bytes (a typical
/// key) as two overlapping 8-byte moves in place, anything else with
/// `memcpy`, whose call and size dispatch cost more than such a copy.
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if (8..=16).contains(&n) {
        overlapping::<8>(dst, src);
        return;
    }
    dst.copy_from_slice(src);
}

/// Copies `src` into `dst` (of the same length): 17 to 128 bytes (a
/// typical value) as two overlapping moves of a power of two in place,
/// anything else as [`copy`] does. No call: the loop around it keeps its
/// registers (a `memcpy` call spills them).
#[inline(always)]
fn copy_value(dst: &mut [u8], src: &[u8]) {
    match src.len() {
        17..=32 => overlapping::<16>(dst, src),
        33..=64 => overlapping::<32>(dst, src),
        65..=128 => overlapping::<64>(dst, src),
        _ => copy(dst, src),
    }
}

/// Copies `src` (`N` to `2N` bytes) into `dst` (of the same length) as its
/// first and last `N` bytes.
#[inline(always)]
fn overlapping<const N: usize>(dst: &mut [u8], src: &[u8]) {
    debug_assert!(src.len() >= N && src.len() <= 2 * N && dst.len() == src.len());
    if let (Some(head), Some(tail)) = (src.first_chunk::<N>(), src.last_chunk::<N>()) {
        if let Some(d) = dst.first_chunk_mut::<N>() {
            *d = *head;
        }
        if let Some(d) = dst.last_chunk_mut::<N>() {
            *d = *tail;
        }
    }
}

/// Writes a record without headers, key and value under [`PLAIN_MAX`], and
/// a timestamp delta under 2^54 in magnitude (so every varint fits a word)
/// into the spare room of `buf`; returns its size.
#[inline(always)]
fn encode_plain(
    buf: &mut RecordsBuf,
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> usize {
    // Lengths below PLAIN_MAX fit an i32 (the casts cannot wrap).
    let nullable = |b: Option<&[u8]>| Packed::varint(b.map_or(-1, |b| b.len() as i32));
    let ts = Packed::unsigned(((ts_delta << 1) ^ (ts_delta >> 63)).cast_unsigned());
    let offset = Packed::varint(offset_delta);
    let key_len = nullable(key);
    let value_len = nullable(value);
    // attributes (one byte), timestampDelta, offsetDelta, keyLength, key,
    // valueLength, value, headerCount (one byte, 0): under 2^21 + 32 bytes.
    let body = 2
        + ts.len
        + offset.len
        + key_len.len
        + value_len.len
        + key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len);
    let length = Packed::varint(body as i32);
    let size = length.len + body;
    let mut c = Cursor { out: buf.room(size + SLACK), pos: 0 };
    // The length and the attributes byte (0) in one store.
    c.packed(Packed { word: length.word, len: length.len + 1 });
    c.packed(ts);
    c.packed(offset);
    c.packed(key_len);
    if let Some(k) = key {
        c.bytes(k);
    }
    c.packed(value_len);
    if let Some(v) = value {
        c.bytes(v);
    }
    c.packed(Packed { word: 0, len: 1 }); // headerCount
    size
}

/// Any record: sized with [`varint_len`], then pushed field by field.
fn encode_general<'h>(
    buf: &mut Vec<u8>,
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
) -> FormatResult<()> {
    let count = check_len("record.headerCount", headers.len())?;
    let key_len = nullable_len("record.key", key)?;
    let value_len = nullable_len("record.value", value)?;
    let mut headers_size = 0usize;
    for (k, v) in headers.clone() {
        let k_len = check_len("record.header.key", k.len())?;
        let v_len = nullable_len("record.header.value", v)?;
        headers_size = headers_size
            .saturating_add(varint_len(k_len) + k.len())
            .saturating_add(varint_len(v_len) + v.map_or(0, <[u8]>::len));
    }
    let body = (1 + varlong_len(ts_delta) + varint_len(offset_delta) + varint_len(count))
        .saturating_add(varint_len(key_len) + key.map_or(0, <[u8]>::len))
        .saturating_add(varint_len(value_len) + value.map_or(0, <[u8]>::len))
        .saturating_add(headers_size);
    let length = check_len("record.length", body)?;
    // One reservation per record: the puts below never reallocate.
    buf.reserve(body + varint_len(length));
    put_varint(buf, length);
    buf.put_i8(0);
    put_varlong(buf, ts_delta);
    put_varint(buf, offset_delta);
    put_nullable(buf, key_len, key);
    put_nullable(buf, value_len, value);
    put_varint(buf, count);
    // Every length was checked against i32 above.
    for (k, v) in headers {
        put_nullable(buf, k.len() as i32, Some(k));
        put_nullable(buf, v.map_or(-1, |v| v.len() as i32), v);
    }
    Ok(())
}

fn put_nullable(buf: &mut Vec<u8>, len: i32, b: Option<&[u8]>) {
    put_varint(buf, len);
    if let Some(b) = b {
        buf.extend_from_slice(b);
    }
}

fn check_len(field: &'static str, n: usize) -> FormatResult<i32> {
    i32::try_from(n).map_err(|_| FormatError::TooLarge { field, size: n })
}

/// The length field of a nullable byte string: -1 for null.
fn nullable_len(field: &'static str, b: Option<&[u8]>) -> FormatResult<i32> {
    b.map_or(Ok(-1), |b| check_len(field, b.len()))
}

#[cfg(test)]
pub(crate) use tests::reference_record;

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
