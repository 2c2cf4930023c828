//! One record: [`Record`] to write, [`RecordRef`] read back from a batch.
//!
//! Layout of a v2 record (Kafka's `DefaultRecord`):
//!
//! | field          | encoding | notes                                  |
//! |----------------|----------|----------------------------------------|
//! | length         | varint   | bytes after this field (the body)      |
//! | attributes     | int8     | unused, 0                              |
//! | timestampDelta | varlong  | timestamp - batch baseTimestamp        |
//! | offsetDelta    | varint   | offset - batch baseOffset              |
//! | keyLength      | varint   | < 0 = null key, written -1             |
//! | key            | bytes    |                                        |
//! | valueLength    | varint   | < 0 = null (a tombstone), written -1   |
//! | value          | bytes    |                                        |
//! | headerCount    | varint   | >= 0                                   |
//! | headers        | repeated | keyLength (>= 0), key, valueLength (< 0 = null), value |
//!
//! Any negative key, value or header value length reads as null and covers
//! no bytes, as Kafka's `DefaultRecord.readFrom` reads it (`Utils.readBytes`
//! returns null for a negative size): a broker stores a client's -2 as it
//! came, so strata must read it. A negative header key length or header
//! count is refused, as there.

use bytes::Bytes;

use super::varint::{read_varint, read_varlong, short_unsigned_at};
use super::{FormatError, FormatResult, NO_TIMESTAMP};

/// A record header. Keys are UTF-8 by Kafka's contract; values may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header key bytes (Kafka requires UTF-8; readers get them as written).
    pub key: Bytes,
    /// Header value; `None` is null, distinct from empty.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a key and a (possibly null) value.
    pub fn new(key: impl Into<Bytes>, value: Option<impl Into<Bytes>>) -> Self {
        Header { key: key.into(), value: value.map(Into::into) }
    }
}

/// A record to be written. Timestamp [`NO_TIMESTAMP`] (-1) means "stamp it at append".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Milliseconds since the epoch, or -1.
    pub timestamp: i64,
    /// Key; `None` is null, distinct from empty.
    pub key: Option<Bytes>,
    /// Value; `None` is null (a tombstone), distinct from empty.
    pub value: Option<Bytes>,
    /// Headers in order; duplicate keys are allowed.
    pub headers: Vec<Header>,
}

impl Record {
    /// A record with a key and a value, no headers, timestamp -1.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Record {
            timestamp: NO_TIMESTAMP,
            key: Some(key.into()),
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// A record with no key.
    pub fn unkeyed(value: impl Into<Bytes>) -> Self {
        Record {
            timestamp: NO_TIMESTAMP,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// A tombstone: key with a null value.
    pub fn tombstone(key: impl Into<Bytes>) -> Self {
        Record { timestamp: NO_TIMESTAMP, key: Some(key.into()), value: None, headers: Vec::new() }
    }

    /// Sets the timestamp (ms since the epoch).
    #[must_use]
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = ts;
        self
    }

    /// Adds a header with a non-null value.
    #[must_use]
    pub fn header(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header { key: key.into(), value: Some(value.into()) });
        self
    }
}

/// What a record is besides its bytes: its place and time, decoded once
/// (by [`decode_view`], or a legacy entry's reader) and shared by both
/// faces of a read record, [`RecordView`] and [`RecordRef`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    /// The stored `int8`, held as four bytes: as one byte, copying a
    /// view out of its iterator's `Option` took two overlapping 4-byte
    /// moves through the stack, and the second load stalled on the first
    /// store (a failed store-to-load forward) once a record: 29% of a
    /// scan's decoding samples under `perf` (`examples/read_loop views`,
    /// Intel Xeon). Four bytes fill the struct's gap and the copy is whole
    /// words: 13.8-15.3 ns a record before, 12.2-13.2 after.
    pub(crate) attributes: i32,
    pub(crate) sequence: i32,
}

impl RecordMeta {
    /// A v2 record's facts from its stored deltas and its batch's context.
    #[inline]
    fn in_batch(
        ctx: &RecordContext,
        attributes: i8,
        timestamp_delta: i64,
        offset_delta: i32,
    ) -> Self {
        let timestamp = match ctx.log_append_time {
            Some(t) => t,
            None => ctx.base_timestamp.wrapping_add(timestamp_delta),
        };
        let sequence = if ctx.base_sequence < 0 {
            -1
        } else {
            // Sequences wrap from i32::MAX to 0 (Kafka's `DefaultRecordBatch.incrementSequence`).
            let s = i64::from(ctx.base_sequence) + i64::from(offset_delta);
            (s.rem_euclid(i64::from(i32::MAX) + 1)) as i32
        };
        RecordMeta {
            offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            timestamp_delta,
            offset_delta,
            attributes: i32::from(attributes),
            sequence,
        }
    }
}

/// The accessors of [`RecordMeta`], written once for both record faces.
macro_rules! meta_accessors {
    () => {
        /// Absolute offset (batch base offset + offset delta).
        #[must_use]
        pub fn offset(&self) -> i64 {
            self.meta.offset
        }
        /// Effective timestamp: the batch's maxTimestamp for LogAppendTime
        /// batches, else baseTimestamp + delta.
        #[must_use]
        pub fn timestamp(&self) -> i64 {
            self.meta.timestamp
        }
        /// The stored timestamp delta.
        #[must_use]
        pub fn timestamp_delta(&self) -> i64 {
            self.meta.timestamp_delta
        }
        /// The stored offset delta.
        #[must_use]
        pub fn offset_delta(&self) -> i32 {
            self.meta.offset_delta
        }
        /// Record attributes byte (unused by Kafka, 0).
        #[must_use]
        pub fn attributes(&self) -> i8 {
            self.meta.attributes as i8
        }
        /// Producer sequence of this record, or -1 for non-idempotent batches.
        #[must_use]
        pub fn sequence(&self) -> i32 {
            self.meta.sequence
        }
    };
}

/// A record decoded from a batch, owning its bytes: key, value and header
/// bytes are zero-copy slices of the batch (or of its decompressed records
/// section). The owned face of [`RecordView`]: both come from one decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub(crate) meta: RecordMeta,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
}

impl RecordRef {
    meta_accessors!();
    /// Key, `None` when null.
    #[must_use]
    pub fn key(&self) -> Option<&Bytes> {
        self.key.as_ref()
    }
    /// Value, `None` when null (a tombstone).
    #[must_use]
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }
    /// Headers in stored order.
    #[must_use]
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }
    /// An owned [`Record`] with the same timestamp, key, value and headers.
    #[must_use]
    pub fn to_record(&self) -> Record {
        Record {
            timestamp: self.meta.timestamp,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
        }
    }
    /// This record as a [`RecordView`] borrowing its bytes.
    #[must_use]
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            meta: self.meta,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: HeaderViews { inner: HeadersInner::Owned(&self.headers) },
        }
    }
}

/// Batch-level facts a record needs to compute its absolute offset and timestamp.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecordContext {
    pub base_offset: i64,
    pub base_timestamp: i64,
    /// `Some(maxTimestamp)` for LogAppendTime batches.
    pub log_append_time: Option<i64>,
    pub base_sequence: i32,
}

/// An unsigned LEB128 value of one to three bytes at the front of `b`,
/// and the bytes after it; `None` for a longer encoding or bytes that end
/// inside it. The slice patterns make each byte's bounds check part of the
/// match, so the common one-byte case is a length test, a load and a sign
/// test, and the bytes after it need no check of their own.
#[inline(always)]
fn short_front(b: &[u8]) -> Option<(usize, &[u8])> {
    match *b {
        [b0, ref rest @ ..] if b0 < 0x80 => Some((usize::from(b0), rest)),
        [b0, b1, ref rest @ ..] if b1 < 0x80 => {
            Some((usize::from(b0 & 0x7f) | (usize::from(b1) << 7), rest))
        }
        [b0, b1, b2, ref rest @ ..] if b2 < 0x80 => Some((
            usize::from(b0 & 0x7f) | (usize::from(b1 & 0x7f) << 7) | (usize::from(b2) << 14),
            rest,
        )),
        _ => None,
    }
}

/// Reads a varint at `*pos` of `src`, advancing `pos`.
#[inline]
fn varint_at(src: &[u8], pos: &mut usize, field: &'static str) -> FormatResult<i32> {
    // Lengths and deltas of up to three bytes are decoded inline.
    if let Some((raw, n)) = short_unsigned_at(src, *pos) {
        *pos += n;
        let raw = raw as u32;
        return Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32));
    }
    let (v, n) = read_varint(src.get(*pos..).unwrap_or_default(), field)?;
    *pos += n;
    Ok(v)
}

/// Reads a varlong at `*pos` of `src`, advancing `pos`.
#[inline]
fn varlong_at(src: &[u8], pos: &mut usize, field: &'static str) -> FormatResult<i64> {
    if let Some((raw, n)) = short_unsigned_at(src, *pos) {
        *pos += n;
        return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
    }
    let (v, n) = read_varlong(src.get(*pos..).unwrap_or_default(), field)?;
    *pos += n;
    Ok(v)
}

/// Takes `n` bytes at `*pos` that must end by `limit`.
#[inline]
fn take<'a>(
    src: &'a [u8],
    pos: &mut usize,
    field: &'static str,
    n: usize,
    limit: usize,
) -> FormatResult<&'a [u8]> {
    let available = limit.saturating_sub(*pos);
    if n > available {
        return Err(FormatError::Truncated { field, needed: n, available });
    }
    let b =
        src.get(*pos..*pos + n).ok_or(FormatError::Truncated { field, needed: n, available })?;
    *pos += n;
    Ok(b)
}

/// Reads a nullable length-prefixed byte string that must end by `limit`:
/// any negative length is null (Kafka's `DefaultRecord.readFrom`).
#[inline]
fn nullable<'a>(
    src: &'a [u8],
    pos: &mut usize,
    len_field: &'static str,
    field: &'static str,
    limit: usize,
) -> FormatResult<Option<&'a [u8]>> {
    match varint_at(src, pos, len_field)? {
        n if n < 0 => Ok(None),
        n => take(src, pos, field, n.unsigned_abs() as usize, limit).map(Some),
    }
}

/// Reads a record's length varint at `*pos`; returns where its body ends.
#[inline]
fn record_end(src: &[u8], pos: &mut usize) -> FormatResult<usize> {
    let len = varint_at(src, pos, "record.length")?;
    let len = usize::try_from(len).map_err(|_| FormatError::InvalidValue {
        field: "record.length",
        value: i64::from(len),
        reason: "a record length cannot be negative",
    })?;
    let available = src.len().saturating_sub(*pos);
    if len > available {
        return Err(FormatError::Truncated { field: "record.body", needed: len, available });
    }
    Ok(*pos + len)
}

/// A field read past the end its record's length declares.
fn overrun(len: usize) -> FormatError {
    FormatError::InvalidValue {
        field: "record.length",
        value: len as i64,
        reason: "fields do not add up to the declared record length",
    }
}

/// An unsigned LEB128 value of at most `max` bytes at `pos`: inline for
/// the short encodings, else the general decoder.
#[inline(always)]
fn unsigned_at(src: &[u8], pos: usize, long: bool) -> Option<(u64, usize)> {
    short_unsigned_at(src, pos).or_else(|| {
        let rest = src.get(pos..)?;
        if long {
            read_varlong(rest, "").ok().map(|(v, n)| (((v << 1) ^ (v >> 63)).cast_unsigned(), n))
        } else {
            read_varint(rest, "")
                .ok()
                .map(|(v, n)| (u64::from(((v << 1) ^ (v >> 31)).cast_unsigned()), n))
        }
    })
}

/// Where the record `count` records after the one at `pos` starts, each
/// passed by its length varint alone. `None` where a record does not frame
/// so: a negative length, one that runs past `src`, or one of four or more
/// varint bytes (a megabyte and up); callers then take [`skip_record`],
/// which reads any length. The loop of a point read's skip: it holds the
/// unread bytes as one slice, so each record costs one bounds check
/// besides its varint's bytes.
#[inline]
pub(crate) fn skip_spans(src: &[u8], pos: usize, count: i32) -> Option<usize> {
    let mut rest = src.get(pos..)?;
    for _ in 0..count {
        let (raw, after) = short_front(rest)?;
        if raw & 1 != 0 {
            return None; // a negative length
        }
        rest = after.get(raw >> 1..)?;
    }
    Some(src.len() - rest.len())
}

/// The record at `pos` framed by its length varint, reading only the few
/// bytes up to its offset delta: `(offset delta, where the next record
/// starts)`. Key, value and headers are not looked at, so a point read
/// skips the records before its target this way instead of decoding them.
/// `None` for a record that does not frame; [`decode_view`] then says why.
#[inline]
pub(crate) fn skip_record(src: &[u8], pos: usize) -> Option<(i32, usize)> {
    let (len, n) = unsigned_at(src, pos, false)?;
    let len = (len as u32 >> 1) as i32 ^ -((len & 1) as i32);
    let body = pos + n;
    let end = body.checked_add(usize::try_from(len).ok()?)?;
    if end > src.len() {
        return None;
    }
    // The attributes byte, then the timestamp delta (skipped), then the offset delta.
    let (_, t) = unsigned_at(src, body + 1, true)?;
    let (delta, d) = unsigned_at(src, body + 1 + t, false)?;
    if body + 1 + t + d > end {
        return None;
    }
    Some(((delta as u32 >> 1) as i32 ^ -((delta & 1) as i32), end))
}

/// A zig-zag decoded value from its raw LEB128 bits (at most three bytes'
/// worth here, so it fits any width).
#[inline(always)]
fn zigzag(raw: usize) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

/// A nullable length-prefixed field at the front of `b` (inside one
/// record's body) and the bytes after it: `Some(None)` for null (any
/// negative length), the bytes for a length `>= 0` that fits `b`, and
/// `None` for anything else (a long length varint, bytes past the record):
/// the general decoder then reads it and says what is wrong, if anything.
#[inline(always)]
fn common_field(b: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let (raw, rest) = short_front(b)?;
    field_of_length(raw, rest)
}

/// [`common_field`] whose length varint, `raw` (before zig-zag), is read:
/// the field's bytes at the front of `rest`, and the bytes after them.
#[inline(always)]
fn field_of_length(raw: usize, rest: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    if raw & 1 != 0 {
        // Odd zig-zag values are negative: null, whatever the value.
        return Some((None, rest));
    }
    let (bytes, rest) = rest.split_at_checked(raw >> 1)?;
    Some((Some(bytes), rest))
}

/// Decodes the record at the front of `src` (the unread part of a records
/// section) when it has the shape nearly every record has: every varint of
/// at most three bytes (lengths below 1 MiB, deltas below 2^20) and no
/// headers. Returns the view and the bytes after the record. It accepts
/// exactly what [`decode_view`] accepts of such a record, with the same
/// result, and reads nothing past the body its length declares; `None` for
/// any other record (headers, long varints, damage) sends the caller to
/// [`decode_view`], which reads every shape and names what is wrong.
///
/// A scan's per-record cost is mostly this function, so it is written as a
/// storage engine's inner loop: the length varint frames the body with one
/// bounds check, and every field after it is read from the front of a
/// slice that shrinks, so each varint byte is one length test folded into
/// a pattern match, with no position to add and no error to build.
#[inline(always)]
pub(crate) fn decode_common<'a>(
    src: &'a [u8],
    ctx: &RecordContext,
) -> Option<(RecordView<'a>, &'a [u8])> {
    let (raw, after) = short_front(src)?;
    if raw & 1 != 0 {
        return None; // a negative length: the general decoder reports it
    }
    let (body, next) = after.split_at_checked(raw >> 1)?;
    // The attributes byte, both deltas and the key's length varint: one
    // length test for the usual shape (one-byte timestamp delta and key
    // length, a one- or two-byte offset delta), byte by byte otherwise.
    let (attributes, ts, od, key_len, rest) = match *body {
        [a, ts, od, k, ref rest @ ..] if ts < 0x80 && od < 0x80 && k < 0x80 => {
            (a, usize::from(ts), usize::from(od), usize::from(k), rest)
        }
        [a, ts, o0, o1, k, ref rest @ ..] if ts < 0x80 && o0 >= 0x80 && o1 < 0x80 && k < 0x80 => {
            let od = usize::from(o0 & 0x7f) | (usize::from(o1) << 7);
            (a, usize::from(ts), od, usize::from(k), rest)
        }
        [a, ref rest @ ..] => {
            let (ts, rest) = short_front(rest)?;
            let (od, rest) = short_front(rest)?;
            let (k, rest) = short_front(rest)?;
            (a, ts, od, k, rest)
        }
        [] => return None,
    };
    let (key, rest) = field_of_length(key_len, rest)?;
    let (value, rest) = common_field(rest)?;
    // A header count of zero, ending the body exactly.
    let [0] = *rest else { return None };
    let meta = RecordMeta::in_batch(ctx, attributes as i8, zigzag(ts), zigzag(od) as i32);
    let headers = HeaderViews { inner: HeadersInner::Raw { raw: &[], remaining: 0 } };
    Some((RecordView { meta, key, value, headers }, next))
}

/// Decodes the record at `*pos` of `src` as a borrowed view, checking its
/// structure; `pos` moves to the next record.
pub(crate) fn decode_view<'a>(
    src: &'a [u8],
    pos: &mut usize,
    ctx: &RecordContext,
) -> FormatResult<RecordView<'a>> {
    let end = record_end(src, pos)?;
    let len = end - *pos;
    let attributes = take(src, pos, "record.attributes", 1, end)?.first().copied().unwrap_or(0);
    let timestamp_delta = varlong_at(src, pos, "record.timestampDelta")?;
    let offset_delta = varint_at(src, pos, "record.offsetDelta")?;
    let key = nullable(src, pos, "record.keyLength", "record.key", end)?;
    let value = nullable(src, pos, "record.valueLength", "record.value", end)?;
    let count = varint_at(src, pos, "record.headerCount")?;
    let count = usize::try_from(count).map_err(|_| FormatError::InvalidValue {
        field: "record.headerCount",
        value: i64::from(count),
        reason: "a header count cannot be negative",
    })?;
    // The headers are checked here and kept as their raw bytes: iterating
    // them later parses again and cannot fail.
    let headers_start = *pos;
    for _ in 0..count {
        let key_len = varint_at(src, pos, "record.header.keyLength")?;
        if key_len < 0 {
            return Err(FormatError::InvalidValue {
                field: "record.header.keyLength",
                value: i64::from(key_len),
                reason: "header keys cannot be null",
            });
        }
        take(src, pos, "record.header.key", key_len.unsigned_abs() as usize, end)?;
        nullable(src, pos, "record.header.valueLength", "record.header.value", end)?;
    }
    if *pos != end {
        return Err(overrun(len));
    }
    Ok(RecordView {
        meta: RecordMeta::in_batch(ctx, attributes as i8, timestamp_delta, offset_delta),
        key,
        value,
        headers: HeaderViews {
            inner: HeadersInner::Raw {
                raw: src.get(headers_start..end).unwrap_or_default(),
                remaining: count,
            },
        },
    })
}

/// A record read from a batch, borrowing its key, value and header bytes
/// from the batch (for an uncompressed batch fetched from a log, from the
/// memory map itself): decoding one makes no allocation and touches no
/// reference count. [`RecordRef`] is the owned form.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    meta: RecordMeta,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: HeaderViews<'a>,
}

impl PartialEq for RecordView<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.meta == other.meta
            && self.key == other.key
            && self.value == other.value
            && self.headers.eq(other.headers)
    }
}

impl Eq for RecordView<'_> {}

impl<'a> RecordView<'a> {
    meta_accessors!();
    /// Key, `None` when null.
    #[must_use]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }
    /// Value, `None` when null (a tombstone).
    #[must_use]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }
    /// Headers in stored order (checked when the record was decoded).
    #[must_use]
    pub fn headers(&self) -> HeaderViews<'a> {
        self.headers
    }
    /// An owned [`Record`] with the same timestamp, key, value and headers
    /// (copies the bytes).
    #[must_use]
    pub fn to_record(self) -> Record {
        Record {
            timestamp: self.meta.timestamp,
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self
                .headers
                .map(|h| Header {
                    key: Bytes::copy_from_slice(h.key),
                    value: h.value.map(Bytes::copy_from_slice),
                })
                .collect(),
        }
    }

    /// The owned form, sharing `src` (the buffer this view was decoded from)
    /// instead of copying.
    pub(crate) fn to_ref(self, src: &Bytes) -> RecordRef {
        let share = |b: &[u8]| if b.is_empty() { Bytes::new() } else { src.slice_ref(b) };
        // Most records have no headers: they take no call into `collect`,
        // which the compiler inlines here or not depending on how it splits
        // the crate (a scan of such records cost 25 instructions more a
        // record when it did not).
        let headers = if self.headers.len() == 0 {
            Vec::new()
        } else {
            self.headers.map(|h| Header { key: share(h.key), value: h.value.map(share) }).collect()
        };
        RecordRef {
            meta: self.meta,
            key: self.key.map(share),
            value: self.value.map(share),
            headers,
        }
    }
}

/// One header of a [`RecordView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderView<'a> {
    /// Header key bytes (Kafka requires UTF-8; readers get them as written).
    pub key: &'a [u8],
    /// Header value; `None` is null, distinct from empty.
    pub value: Option<&'a [u8]>,
}

/// The headers of a [`RecordView`], in stored order.
#[derive(Debug, Clone, Copy)]
pub struct HeaderViews<'a> {
    inner: HeadersInner<'a>,
}

#[derive(Debug, Clone, Copy)]
enum HeadersInner<'a> {
    /// Encoded headers, already checked by [`decode_view`].
    Raw { raw: &'a [u8], remaining: usize },
    /// Headers of an owned record (a legacy entry's records have none).
    Owned(&'a [Header]),
}

impl ExactSizeIterator for HeaderViews<'_> {}

impl<'a> Iterator for HeaderViews<'a> {
    type Item = HeaderView<'a>;

    fn next(&mut self) -> Option<HeaderView<'a>> {
        match &mut self.inner {
            HeadersInner::Owned(h) => {
                let (first, rest) = h.split_first()?;
                *h = rest;
                Some(HeaderView { key: &first.key, value: first.value.as_deref() })
            }
            HeadersInner::Raw { raw, remaining } => {
                if *remaining == 0 {
                    return None;
                }
                // Checked at decode; a failure here cannot happen and ends the headers.
                let mut pos = 0;
                let limit = raw.len();
                let key_len = varint_at(raw, &mut pos, "").ok()?;
                let key = take(raw, &mut pos, "", usize::try_from(key_len).ok()?, limit).ok()?;
                let value = nullable(raw, &mut pos, "", "", limit).ok()?;
                *raw = raw.get(pos..).unwrap_or_default();
                *remaining -= 1;
                Some(HeaderView { key, value })
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self.inner {
            HeadersInner::Raw { remaining, .. } => remaining,
            HeadersInner::Owned(h) => h.len(),
        };
        (n, Some(n))
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
