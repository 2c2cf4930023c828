//! Kafka's legacy message sets (magic 0 and 1): read, and rewritten only by
//! the cleaner (`encode_message`).
//!
//! Brokers upgraded from Kafka < 0.11 keep segments written in the old
//! formats; they are data, served and dumped as Kafka serves them, never
//! appended by strata. One message (Kafka's `LegacyRecord`), big-endian:
//!
//! | field      | width | v0 | v1 | notes                                      |
//! |------------|------:|----|----|--------------------------------------------|
//! | offset     |     8 | ✓  | ✓  | outside the CRC                            |
//! | size       |     4 | ✓  | ✓  | bytes after this field                     |
//! | crc        |     4 | ✓  | ✓  | CRC-32 (IEEE) of magic..end                |
//! | magic      |     1 | 0  | 1  |                                            |
//! | attributes |     1 | ✓  | ✓  | bits 0-2 codec (0-3), bit 3 LogAppendTime (v1) |
//! | timestamp  |     8 | —  | ✓  |                                            |
//! | keyLength  |     4 | ✓  | ✓  | -1 = null (any negative reads as null)     |
//! | key        |     n | ✓  | ✓  |                                            |
//! | valueLength|     4 | ✓  | ✓  | -1 = null (any negative reads as null)     |
//! | value      |     n | ✓  | ✓  |                                            |
//!
//! An uncompressed message is a "batch" of one record at its own offset. A
//! compressed one is a *wrapper* whose value is a compressed message set of
//! uncompressed inner messages; the wrapper's offset is the last inner
//! offset. v0 inner offsets are absolute, v1 inner offsets are relative and
//! made absolute from the wrapper's (Kafka's `AbstractLegacyRecordBatch`
//! `DeepRecordsIterator`). Every length is checked against the bytes present.

use std::ops::Range;

use bytes::Bytes;

use super::compression::decompress;
use super::record::{RecordMeta, RecordRef};
use super::{Compression, FormatError, FormatResult, NO_SEQUENCE, NO_TIMESTAMP};

/// Byte position of the magic, the start of the CRC-covered bytes.
const MAGIC_AT: usize = 16;
/// Bytes before the CRC-covered part: offset, size, crc.
const CRC_AT: usize = 12;
/// Offset + size fields (Kafka's `LOG_OVERHEAD`).
const LOG_OVERHEAD: usize = 12;
/// Smallest `size` of a v0 message (`LegacyRecord.RECORD_OVERHEAD_V0`).
const OVERHEAD_V0: usize = 14;
/// Smallest `size` of a v1 message (`LegacyRecord.RECORD_OVERHEAD_V1`).
const OVERHEAD_V1: usize = 22;
/// Codec bits of the attributes.
const CODEC_MASK: i8 = 0x07;
/// Timestamp-type bit (v1 only): set means LogAppendTime.
const LOG_APPEND_TIME: i8 = 0x08;

/// One legacy message, framed and bounds-checked (not CRC-checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// The offset field: the record's offset, or a wrapper's last inner offset
    /// (relative inside a v1 wrapper).
    pub offset: i64,
    /// Total bytes, offset and size fields included.
    pub size: usize,
    /// The stored CRC-32.
    pub crc: u32,
    /// 0 or 1.
    pub magic: i8,
    /// Raw attributes byte.
    pub attributes: i8,
    /// The stored timestamp (v1), or -1 (v0).
    pub timestamp: i64,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
}

impl Message {
    /// Frames the message at the start of `b` (which may hold more after it):
    /// sizes, magic, and key and value lengths that exactly fill the message.
    ///
    /// # Errors
    /// [`FormatError::Truncated`] when `b` ends inside the message;
    /// [`FormatError::UnsupportedMagic`] for a magic other than 0 or 1;
    /// [`FormatError::InvalidValue`] for a size or length that does not fit.
    pub(crate) fn parse(b: &[u8]) -> FormatResult<Message> {
        let offset = i64::from_be_bytes(field(b, 0, "message.offset")?);
        let size_field = i32::from_be_bytes(field(b, 8, "message.size")?);
        let crc = u32::from_be_bytes(field(b, CRC_AT, "message.crc")?);
        let magic = i8::from_be_bytes(field(b, MAGIC_AT, "message.magic")?);
        let overhead = match magic {
            0 => OVERHEAD_V0,
            1 => OVERHEAD_V1,
            _ => return Err(FormatError::UnsupportedMagic { magic }),
        };
        let size = usize::try_from(size_field).ok().filter(|&s| s >= overhead).ok_or(invalid(
            "message.size",
            size_field.into(),
            "below the message overhead",
        ))? + LOG_OVERHEAD;
        let b = b.get(..size).ok_or(FormatError::Truncated {
            field: "message",
            needed: size,
            available: b.len(),
        })?;
        let attributes = i8::from_be_bytes(field(b, MAGIC_AT + 1, "message.attributes")?);
        let mut pos = MAGIC_AT + 2;
        let timestamp = if magic == 1 {
            pos += 8;
            i64::from_be_bytes(field(b, MAGIC_AT + 2, "message.timestamp")?)
        } else {
            NO_TIMESTAMP
        };
        let key = nullable(b, &mut pos, "message.keyLength")?;
        let value = nullable(b, &mut pos, "message.valueLength")?;
        if pos != size {
            return Err(FormatError::TrailingBytes { count: 1, extra: size - pos });
        }
        Ok(Message { offset, size, crc, magic, attributes, timestamp, key, value })
    }

    /// The codec id (attribute bits 0-2).
    pub(crate) fn codec_id(&self) -> u8 {
        (self.attributes & CODEC_MASK) as u8
    }

    /// Attributes as a v2 batch would carry them: codec and, for v1, the
    /// timestamp type. Legacy messages have no transactional or control bits.
    pub(crate) fn batch_attributes(&self) -> i16 {
        let mask = if self.magic == 1 { CODEC_MASK | LOG_APPEND_TIME } else { CODEC_MASK };
        i16::from(self.attributes & mask)
    }

    fn log_append_time(&self) -> bool {
        self.magic == 1 && self.attributes & LOG_APPEND_TIME != 0
    }

    /// The CRC-32 of magic..end of this message in `b` (which starts at it).
    pub(crate) fn compute_crc(&self, b: &[u8]) -> u32 {
        crc32(b.get(MAGIC_AT..self.size).unwrap_or_default())
    }

    /// Checks the stored CRC, as Kafka's `LegacyRecord.ensureValid` does.
    pub(crate) fn check_crc(&self, b: &[u8]) -> FormatResult<()> {
        let computed = self.compute_crc(b);
        if computed == self.crc {
            Ok(())
        } else {
            Err(FormatError::LegacyCrcMismatch { stored: self.crc, computed })
        }
    }

    /// This message as the one record of an uncompressed entry: slices of `buf`.
    fn record(&self, buf: &Bytes, offset: i64, timestamp: i64, base: i64) -> RecordRef {
        let slice = |r: &Option<Range<usize>>| r.as_ref().map(|r| buf.slice(r.clone()));
        RecordRef {
            meta: RecordMeta {
                offset,
                timestamp,
                timestamp_delta: 0,
                offset_delta: i32::try_from(offset.wrapping_sub(base)).unwrap_or(i32::MAX),
                attributes: 0,
                sequence: NO_SEQUENCE,
            },
            key: slice(&self.key),
            value: slice(&self.value),
            headers: Vec::new(),
        }
    }
}

/// One uncompressed message of `magic` (0 or 1) at `offset`: what the
/// cleaner writes for each record it keeps from a compressed wrapper (Kafka's
/// `MemoryRecords.filterTo` rewrites the wrapper with the kept records in its
/// original magic; an uncompressed message per record is the same data in
/// the simplest valid form). `log_append_time` sets attribute bit 3 (v1 only);
/// `timestamp` is written for v1 only.
///
/// # Errors
/// [`FormatError::InvalidValue`] for a magic other than 0 or 1, or a key or
/// value too long for a message.
pub(crate) fn encode_message(
    offset: i64,
    magic: i8,
    log_append_time: bool,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> FormatResult<Vec<u8>> {
    let (overhead, attributes) = match magic {
        0 => (OVERHEAD_V0, 0i8),
        1 => (OVERHEAD_V1, if log_append_time { LOG_APPEND_TIME } else { 0 }),
        _ => return Err(invalid("message.magic", magic.into(), "legacy magic is 0 or 1")),
    };
    let len = |f: Option<&[u8]>, name| {
        f.map_or(Ok(-1), |b| i32::try_from(b.len()))
            .map_err(|_| invalid(name, i64::MAX, "too long for a message"))
    };
    let (key_len, value_len) = (len(key, "message.keyLength")?, len(value, "message.valueLength")?);
    let body = overhead + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    let size = i32::try_from(body).map_err(|_| invalid("message.size", i64::MAX, "too long"))?;
    let mut m = Vec::with_capacity(LOG_OVERHEAD + body);
    m.extend_from_slice(&offset.to_be_bytes());
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(&[0; 4]); // the CRC, below
    m.push(magic as u8);
    m.push(attributes as u8);
    if magic == 1 {
        m.extend_from_slice(&timestamp.to_be_bytes());
    }
    m.extend_from_slice(&key_len.to_be_bytes());
    m.extend_from_slice(key.unwrap_or_default());
    m.extend_from_slice(&value_len.to_be_bytes());
    m.extend_from_slice(value.unwrap_or_default());
    let crc = crc32(m.get(MAGIC_AT..).unwrap_or_default());
    if let Some(at) = m.get_mut(CRC_AT..CRC_AT + 4) {
        at.copy_from_slice(&crc.to_be_bytes());
    }
    Ok(m)
}

/// One record the cleaner keeps from a compressed wrapper: its absolute
/// offset, the timestamp it was served with, key and value.
pub(crate) type KeptRecord<'a> = (i64, i64, Option<&'a [u8]>, Option<&'a [u8]>);

/// The kept records of a compressed wrapper as one wrapper message of the
/// same `magic` and `codec`, laid out as Kafka's `MemoryRecordsBuilder`
/// writes a legacy compressed entry (what `MemoryRecords.filterTo` uses to
/// rewrite it): uncompressed inner messages — v1 offsets relative to the
/// first kept record (`toInnerOffset`: offset - baseOffset, gaps kept), v0
/// offsets absolute — compressed into the value of a message at the last
/// record's absolute offset, null key. A v1 wrapper's timestamp is the
/// LogAppendTime when `log_append_time` (the inner messages then carry it
/// and the bit too, as `LegacyRecord.write` does) and otherwise the largest
/// inner timestamp (`writeLegacyCompressedWrapperHeader`). An lz4 v0 wrapper
/// gets the header checksum Kafka writes for magic 0 (KAFKA-3160: the hash
/// covers the frame magic too, `Lz4BlockOutputStream` with
/// `useBrokenFlagDescriptorChecksum`); see `fix_lz4_header_checksum`.
///
/// # Errors
/// [`FormatError::CodecNotEnabled`] when `codec` is compiled out (the caller
/// may fall back to [`encode_message`]); [`FormatError::InvalidValue`] for no
/// records, a codec other than gzip, snappy or lz4, a magic other than 0 or
/// 1, or a message too long.
pub(crate) fn encode_wrapper(
    magic: i8,
    codec: Compression,
    log_append_time: bool,
    kept: &[KeptRecord<'_>],
) -> FormatResult<Vec<u8>> {
    if !matches!(codec, Compression::Gzip | Compression::Snappy | Compression::Lz4) {
        return Err(invalid(
            "message.attributes.compression",
            i64::from(codec.id()),
            "magic 0/1 codecs are 1-3",
        ));
    }
    let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
        return Err(invalid("message.value", 0, "a compressed wrapper holds no messages"));
    };
    let base = if magic == 1 { first.0 } else { 0 };
    let mut inner = Vec::new();
    let mut max_timestamp = NO_TIMESTAMP;
    for &(offset, timestamp, key, value) in kept {
        let inner_offset = offset.checked_sub(base).ok_or(invalid(
            "message.offset",
            offset,
            "below the wrapper's first kept offset",
        ))?;
        inner.extend(encode_message(inner_offset, magic, log_append_time, timestamp, key, value)?);
        max_timestamp = max_timestamp.max(timestamp);
    }
    let mut packed = super::compression::compress(codec, &inner, None)?;
    if codec == Compression::Lz4 && magic == 0 {
        break_lz4_header_checksum(&mut packed)?;
    }
    // Under LogAppendTime every kept record was served with the wrapper's
    // timestamp, so the largest is that timestamp.
    let mut wrapper =
        encode_message(last.0, magic, log_append_time, max_timestamp, None, Some(&packed))?;
    if let Some(attributes) = wrapper.get_mut(MAGIC_AT + 1) {
        *attributes |= codec.id() & CODEC_MASK as u8;
    }
    let crc = crc32(wrapper.get(MAGIC_AT..).unwrap_or_default());
    if let Some(at) = wrapper.get_mut(CRC_AT..CRC_AT + 4) {
        at.copy_from_slice(&crc.to_be_bytes());
    }
    Ok(wrapper)
}

/// Rewrites the header checksum of an lz4 frame written by this crate (FLG
/// and BD only, no content size or dictionary id) as Kafka writes it for
/// magic 0: `(xxhash32(magic, FLG, BD) >> 8) & 0xFF`.
fn break_lz4_header_checksum(frame: &mut [u8]) -> FormatResult<()> {
    const FLG_CONTENT_SIZE_OR_DICT_ID: u8 = 0x09;
    match frame.get(4) {
        Some(flg) if flg & FLG_CONTENT_SIZE_OR_DICT_ID == 0 => {}
        _ => return Err(invalid("lz4.flg", -1, "not the frame header Kafka writes")),
    }
    let hc = (xxh32(frame.get(..6).unwrap_or_default()) >> 8) as u8;
    let at = frame.get_mut(6).ok_or(invalid("lz4.header", -1, "truncated"))?;
    *at = hc;
    Ok(())
}

fn field<const N: usize>(b: &[u8], at: usize, field: &'static str) -> FormatResult<[u8; N]> {
    b.get(at..at + N).and_then(|s| s.try_into().ok()).ok_or(FormatError::Truncated {
        field,
        needed: at + N,
        available: b.len(),
    })
}

/// Reads an int32 length and the bytes it covers, advancing `pos`. Any
/// negative length is null and covers no bytes, as Kafka reads it
/// (`LegacyRecord.key`/`value` through `Utils.sizeDelimited`; the value's
/// length follows `max(0, keySize)` key bytes); strata writes -1.
fn nullable(b: &[u8], pos: &mut usize, name: &'static str) -> FormatResult<Option<Range<usize>>> {
    let len = i32::from_be_bytes(field(b, *pos, name)?);
    *pos += 4;
    let Ok(len) = usize::try_from(len) else { return Ok(None) };
    let len = Some(len).filter(|&l| l <= b.len() - *pos).ok_or(invalid(
        name,
        i64::try_from(len).unwrap_or(i64::MAX),
        "past the message end",
    ))?;
    let range = *pos..*pos + len;
    *pos += len;
    Ok(Some(range))
}

fn invalid(field: &'static str, value: i64, reason: &'static str) -> FormatError {
    FormatError::InvalidValue { field, value, reason }
}

/// The records of the legacy entry `wrapper` (framed from the start of `buf`),
/// as Kafka's consumer reads them: one record for an uncompressed message,
/// the inner messages with absolute offsets for a compressed one. Inner
/// messages are CRC-checked (the consumer's `check.crcs`); the wrapper's own
/// CRC is the caller's [`Message::check_crc`].
///
/// # Errors
/// A codec that does not decompress or is not allowed in magic 0/1 (zstd),
/// a malformed, compressed or CRC-failing inner message, an empty message set,
/// or a v1 wrapper offset below its last relative inner offset.
pub(crate) fn records(
    wrapper: &Message,
    buf: &Bytes,
    max_decompressed: usize,
) -> FormatResult<Vec<RecordRef>> {
    if wrapper.codec_id() == 0 {
        let ts = wrapper.timestamp;
        return Ok(vec![wrapper.record(buf, wrapper.offset, ts, wrapper.offset)]);
    }
    let inner = decompressed_value(wrapper, buf, max_decompressed)?;
    let mut messages = Vec::new();
    walk_inner(&inner, |pos, m| {
        messages.push((pos, m));
        Ok(())
    })?;
    let last_offset = messages.last().map(|(_, m)| m.offset);
    let base = inner_base(wrapper, last_offset)?;
    let first_abs = messages.first().map_or(0, |(_, m)| m.offset.saturating_add(base));
    // Inner offsets increase up to the wrapper's (its offset is its last
    // record's, and the entry's last offset to the log), as
    // `BatchView::check_records` requires of an appended entry: a hostile
    // or damaged file whose CRCs hold is refused here rather than served
    // past its entry's offsets, twice, or going back. (A v1 wrapper at
    // offset 0, base 0 in `inner_base`, so holds one record at most: a
    // broker sets a stored wrapper's offset to its last record's.)
    let bound = wrapper.offset;
    let mut prev = None;
    let mut out = Vec::with_capacity(messages.len());
    for (at, m) in &messages {
        let offset =
            m.offset.checked_add(base).ok_or(invalid("message.offset", m.offset, "overflows"))?;
        if offset > bound || prev.is_some_and(|p| offset <= p) {
            return Err(invalid(
                "message.offset",
                offset,
                "inner offsets must increase up to the wrapper's offset",
            ));
        }
        prev = Some(offset);
        // Kafka's `LegacyRecord.timestamp` inside a wrapper: v0 has none, a
        // LogAppendTime wrapper's timestamp replaces the inner ones.
        let timestamp = match m.magic {
            0 => NO_TIMESTAMP,
            _ if wrapper.log_append_time() => wrapper.timestamp,
            _ => m.timestamp,
        };
        out.push(m.record(&inner.slice(*at..*at + m.size), offset, timestamp, first_abs));
    }
    Ok(out)
}

/// The stored CRC-32 of each record of the legacy entry `wrapper`, in order:
/// an uncompressed message's own, each inner message's of a compressed
/// wrapper (what Kafka's `DumpLogSegments` prints as a legacy record's `crc:`).
///
/// # Errors
/// As [`records`].
pub(crate) fn record_crcs(
    wrapper: &Message,
    buf: &Bytes,
    max_decompressed: usize,
) -> FormatResult<Vec<u32>> {
    if wrapper.codec_id() == 0 {
        return Ok(vec![wrapper.crc]);
    }
    let inner = decompressed_value(wrapper, buf, max_decompressed)?;
    let mut crcs = Vec::new();
    walk_inner(&inner, |_, m| {
        crcs.push(m.crc);
        Ok(())
    })?;
    Ok(crcs)
}

/// The decompressed message set of the compressed wrapper `wrapper`.
fn decompressed_value(
    wrapper: &Message,
    buf: &Bytes,
    max_decompressed: usize,
) -> FormatResult<Bytes> {
    let codec = match wrapper.codec_id() {
        id @ 1..=3 => Compression::from_id(id)?,
        id => {
            return Err(invalid(
                "message.attributes.compression",
                id.into(),
                "magic 0/1 codecs are 0-3",
            ));
        }
    };
    let value = wrapper.value.as_ref().and_then(|r| buf.get(r.clone())).ok_or(invalid(
        "message.value",
        -1,
        "a compressed wrapper needs a value",
    ))?;
    let fixed;
    let value = if codec == Compression::Lz4 && wrapper.magic == 0 {
        fixed = fix_lz4_header_checksum(value);
        fixed.as_slice()
    } else {
        value
    };
    Ok(Bytes::from(decompress(codec, value, max_decompressed)?))
}

/// Calls `f` with the position and header of each inner message of `inner`
/// (uncompressed, CRC-checked), in order.
fn walk_inner(
    inner: &Bytes,
    mut f: impl FnMut(usize, Message) -> FormatResult<()>,
) -> FormatResult<()> {
    let mut pos = 0;
    while let Some(rest) = inner.get(pos..).filter(|r| !r.is_empty()) {
        let m = Message::parse(rest)?;
        if m.codec_id() != 0 {
            return Err(invalid(
                "message.attributes.compression",
                m.codec_id().into(),
                "inner messages must not be compressed",
            ));
        }
        m.check_crc(rest)?;
        let size = m.size;
        f(pos, m)?;
        pos += size;
    }
    Ok(())
}

/// What the inner offsets of `wrapper` are relative to, given the last inner
/// message's offset (`None`: there is none, an error).
fn inner_base(wrapper: &Message, last_offset: Option<i64>) -> FormatResult<i64> {
    let Some(last) = last_offset else {
        return Err(invalid("message.value", 0, "a compressed wrapper holds no messages"));
    };
    // v1 inner offsets are relative: 0 for the first, the wrapper carries the
    // last one's absolute offset. A wrapper offset of 0 (some old librdkafka
    // producers) is taken as base 0, as Kafka does.
    match wrapper.magic {
        1 if wrapper.offset != 0 => {
            if wrapper.offset < last {
                return Err(invalid(
                    "message.offset",
                    wrapper.offset,
                    "below the last relative inner offset",
                ));
            }
            wrapper.offset.checked_sub(last).ok_or(invalid(
                "message.offset",
                last,
                "a relative inner offset this far below 0 overflows the wrapper's offset",
            ))
        }
        _ => Ok(0),
    }
}

/// `(first offset, count)` of the legacy entry: the message's own offset and 1
/// when uncompressed, else from its inner messages' headers (walked, not
/// collected: a view asks this of every entry it frames).
///
/// # Errors
/// As [`records`], and more than `i32::MAX` inner messages.
pub(crate) fn first_offset_and_count(
    wrapper: &Message,
    buf: &Bytes,
    max_decompressed: usize,
) -> FormatResult<(i64, i32)> {
    if wrapper.codec_id() == 0 {
        return Ok((wrapper.offset, 1));
    }
    let inner = decompressed_value(wrapper, buf, max_decompressed)?;
    let mut first = None;
    let mut last = None;
    let mut count = 0i32;
    walk_inner(&inner, |_, m| {
        count = count.checked_add(1).ok_or(invalid(
            "message.value",
            i64::from(i32::MAX),
            "holds more inner messages than a record count can say",
        ))?;
        first.get_or_insert(m.offset);
        last = Some(m.offset);
        Ok(())
    })?;
    let base = inner_base(wrapper, last)?;
    let first = match first {
        Some(f) => f.checked_add(base).ok_or(invalid("message.offset", f, "overflows"))?,
        None => wrapper.offset,
    };
    Ok((first, count))
}

/// Kafka before 0.10 hashed the LZ4 frame descriptor *including* the 4 magic
/// bytes when writing magic-0 wrappers, so their header-checksum byte is wrong
/// for every standard decoder; Kafka skips that check for magic 0
/// (KAFKA-3160, `Lz4BlockInputStream` with `ignoreFlagDescriptorChecksum`).
/// Returns the stream with the correct checksum byte, so the standard
/// decoder can read it; a stream too short to hold a descriptor is returned
/// as is and fails in the decoder.
fn fix_lz4_header_checksum(stream: &[u8]) -> Vec<u8> {
    const FLG_CONTENT_SIZE: u8 = 0x08;
    const FLG_DICT_ID: u8 = 0x01;
    let mut out = stream.to_vec();
    let Some(&flg) = stream.get(4) else { return out };
    let descriptor_len = 2
        + if flg & FLG_CONTENT_SIZE != 0 { 8 } else { 0 }
        + if flg & FLG_DICT_ID != 0 { 4 } else { 0 };
    if let Some(descriptor) = stream.get(4..4 + descriptor_len) {
        let hc = (xxh32(descriptor) >> 8) as u8;
        if let Some(b) = out.get_mut(4 + descriptor_len) {
            *b = hc;
        }
    }
    out
}

/// xxHash32 with seed 0, for inputs shorter than 16 bytes (the LZ4 frame
/// descriptor is at most 14).
fn xxh32(input: &[u8]) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    let mut h = P5.wrapping_add(input.len() as u32);
    let mut words = input.chunks_exact(4);
    for w in words.by_ref() {
        let v = w.first_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w));
        h = h.wrapping_add(v.wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
    }
    for &b in words.remainder() {
        h = h.wrapping_add(u32::from(b).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as
/// `java.util.zip.CRC32` computes it.
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    #[expect(clippy::indexing_slicing, reason = "const evaluation: i < 256 by the loop bound")]
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut c = !0u32;
    for &b in data {
        let i = usize::from((c as u8) ^ b);
        c = TABLE.get(i).copied().unwrap_or_default() ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
#[path = "legacy_tests.rs"]
mod tests;
