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
//! | keyLength      | varint   | -1 = null key                          |
//! | key            | bytes    |                                        |
//! | valueLength    | varint   | -1 = null value (a tombstone)          |
//! | value          | bytes    |                                        |
//! | headerCount    | varint   | >= 0                                   |
//! | headers        | repeated | keyLength (>= 0), key, valueLength (-1 = null), value |

use bytes::{BufMut, Bytes};

use super::varint::{put_varint, put_varlong, read_varint, read_varlong, varint_len, varlong_len};
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

/// A record decoded from a batch. Key, value and header bytes are zero-copy
/// slices of the batch (or of its decompressed records section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) attributes: i8,
    pub(crate) sequence: i32,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
}

impl RecordRef {
    /// Absolute offset (batch base offset + offset delta).
    #[must_use]
    pub fn offset(&self) -> i64 {
        self.offset
    }
    /// Effective timestamp: the batch's maxTimestamp for LogAppendTime batches,
    /// else baseTimestamp + delta.
    #[must_use]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
    /// The stored timestamp delta.
    #[must_use]
    pub fn timestamp_delta(&self) -> i64 {
        self.timestamp_delta
    }
    /// The stored offset delta.
    #[must_use]
    pub fn offset_delta(&self) -> i32 {
        self.offset_delta
    }
    /// Record attributes byte (unused by Kafka, 0).
    #[must_use]
    pub fn attributes(&self) -> i8 {
        self.attributes
    }
    /// Producer sequence of this record, or -1 for non-idempotent batches.
    #[must_use]
    pub fn sequence(&self) -> i32 {
        self.sequence
    }
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
            timestamp: self.timestamp,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
        }
    }
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    b.map_or(1, |b| varint_len(len_i32(b.len())) + b.len())
}

/// Clamps a length to i32 for sizing; encoding refuses lengths over i32 earlier.
fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Size of a record body (everything after the length varint).
fn body_len<'h>(
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)>,
) -> usize {
    let count = headers.len();
    let headers_len: usize =
        headers.map(|(k, v)| varint_len(len_i32(k.len())) + k.len() + bytes_len(v)).sum();
    1 + varlong_len(ts_delta)
        + varint_len(offset_delta)
        + bytes_len(key)
        + bytes_len(value)
        + varint_len(len_i32(count))
        + headers_len
}

fn check_len(field: &'static str, n: usize) -> FormatResult<i32> {
    i32::try_from(n).map_err(|_| FormatError::TooLarge { field, size: n })
}

fn put_bytes(buf: &mut impl BufMut, field: &'static str, b: Option<&[u8]>) -> FormatResult<()> {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, check_len(field, b.len())?);
            buf.put_slice(b);
        }
    }
    Ok(())
}

/// Encodes one record (length prefix included) at the end of `buf`, copying
/// each key, value and header byte once, straight from the caller's slices.
pub(crate) fn encode_record<'h>(
    buf: &mut Vec<u8>,
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
) -> FormatResult<()> {
    let count = check_len("record.headerCount", headers.len())?;
    let body = body_len(ts_delta, offset_delta, key, value, headers.clone());
    let length = check_len("record.length", body)?;
    // One reservation per record: the puts below never reallocate.
    buf.reserve(body + varint_len(length));
    put_varint(buf, length);
    buf.put_i8(0);
    put_varlong(buf, ts_delta);
    put_varint(buf, offset_delta);
    put_bytes(buf, "record.key", key)?;
    put_bytes(buf, "record.value", value)?;
    put_varint(buf, count);
    for (k, v) in headers {
        put_bytes(buf, "record.header.key", Some(k))?;
        put_bytes(buf, "record.header.value", v)?;
    }
    Ok(())
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

/// A cursor over encoded records in `src` (a batch, or a decompressed records section).
pub(crate) struct Cursor<'a> {
    pub src: &'a Bytes,
    pub pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &[u8] {
        self.src.get(self.pos..).unwrap_or_default()
    }

    fn varint(&mut self, field: &'static str) -> FormatResult<i32> {
        let (v, n) = read_varint(self.rest(), field)?;
        self.pos += n;
        Ok(v)
    }

    fn varlong(&mut self, field: &'static str) -> FormatResult<i64> {
        let (v, n) = read_varlong(self.rest(), field)?;
        self.pos += n;
        Ok(v)
    }

    fn take(&mut self, field: &'static str, n: usize, limit: usize) -> FormatResult<Bytes> {
        let available = limit.saturating_sub(self.pos);
        if n > available {
            return Err(FormatError::Truncated { field, needed: n, available });
        }
        let b = self.src.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// Reads a nullable length-prefixed byte string that must end by `limit`.
    fn nullable(
        &mut self,
        len_field: &'static str,
        field: &'static str,
        limit: usize,
    ) -> FormatResult<Option<Bytes>> {
        let len = self.varint(len_field)?;
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(FormatError::InvalidValue {
                field: len_field,
                value: i64::from(n),
                reason: "lengths are -1 (null) or >= 0",
            }),
            n => self.take(field, n.unsigned_abs() as usize, limit).map(Some),
        }
    }

    /// Decodes the record at the cursor.
    pub(crate) fn record(&mut self, ctx: &RecordContext) -> FormatResult<RecordRef> {
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
        let attributes =
            self.take("record.attributes", 1, end)?.first().copied().unwrap_or(0) as i8;
        let timestamp_delta = self.varlong("record.timestampDelta")?;
        let offset_delta = self.varint("record.offsetDelta")?;
        let key = self.nullable("record.keyLength", "record.key", end)?;
        let value = self.nullable("record.valueLength", "record.value", end)?;
        let count = self.varint("record.headerCount")?;
        let count = usize::try_from(count).map_err(|_| FormatError::InvalidValue {
            field: "record.headerCount",
            value: i64::from(count),
            reason: "a header count cannot be negative",
        })?;
        // Each header takes at least two bytes: never reserve more than the body could hold.
        let mut headers = Vec::with_capacity(count.min(end.saturating_sub(self.pos) / 2));
        for _ in 0..count {
            let key_len = self.varint("record.header.keyLength")?;
            if key_len < 0 {
                return Err(FormatError::InvalidValue {
                    field: "record.header.keyLength",
                    value: i64::from(key_len),
                    reason: "header keys cannot be null",
                });
            }
            let key = self.take("record.header.key", key_len.unsigned_abs() as usize, end)?;
            let value = self.nullable("record.header.valueLength", "record.header.value", end)?;
            headers.push(Header { key, value });
        }
        if self.pos != end {
            return Err(FormatError::InvalidValue {
                field: "record.length",
                value: len as i64,
                reason: "fields do not add up to the declared record length",
            });
        }
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
        Ok(RecordRef {
            offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            timestamp_delta,
            offset_delta,
            attributes,
            sequence,
            key,
            value,
            headers,
        })
    }
}
