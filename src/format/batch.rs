//! [`BatchView`]: a zero-copy view of one RecordBatch v2 over [`Bytes`].
//!
//! Construction frames and reads the 61-byte header (see the table in
//! [`crate::format`]); [`BatchView::validate`] checks what Kafka's
//! `DefaultRecordBatch.ensureValid` checks plus the header invariants, and
//! [`BatchView::records`] decodes records lazily. For uncompressed batches,
//! keys, values and headers are slices of the same `Bytes`, so reading a
//! record from a memory-mapped segment copies nothing.
//!
//! A view read from a segment ([`BatchView::parse_stored_prefix`]) may also be
//! a legacy entry (magic 0/1, see [`super::legacy`]): like Kafka's
//! `AbstractLegacyRecordBatch`, one message or compressed wrapper acts as a
//! batch with no producer, sequence, leader epoch or transaction fields.

use std::sync::OnceLock;

use bytes::Bytes;

use super::compression::decompress;
use super::layout::{self, attr};
use super::legacy::{self, Message};
use super::record::RecordContext;
pub use super::record_walk::{DecodedBatch, RecordViews, Records};
use super::{
    Compression, FormatError, FormatResult, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, RecordRef, TimestampType,
};

/// Default ceiling on the decompressed size of one batch's records (128 MiB).
///
/// Kafka has no such bound; we keep one so a hostile few-kilobyte batch cannot
/// make a reader allocate gigabytes. Raise it with [`BatchView::records_with_limit`].
pub const DEFAULT_MAX_DECOMPRESSED: usize = 128 << 20;

/// The fixed-size v2 header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    base_offset: i64,
    batch_length: i32,
    partition_leader_epoch: i32,
    magic: i8,
    crc: u32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    records_count: i32,
}

/// The `N` bytes of the big-endian field `field` at `at`, or how short `b` is:
/// the format module's one field reader (batch headers, snapshots, indexes).
pub(crate) fn array<const N: usize>(
    b: &[u8],
    at: usize,
    field: &'static str,
) -> FormatResult<[u8; N]> {
    // (`ok_or_else`: an error built and dropped per field read costs the
    // header's parse a call to its destructor each.)
    b.get(at..at + N).and_then(|s| s.try_into().ok()).ok_or_else(|| FormatError::Truncated {
        field,
        needed: at + N,
        available: b.len(),
    })
}

/// Reads a big-endian field of Kafka's header.
macro_rules! be {
    ($ty:ty, $b:expr, $at:expr, $field:literal) => {
        <$ty>::from_be_bytes(array($b, $at, $field)?)
    };
}

/// Reads `(baseOffset, batchLength, magic)` — what framing needs — from the
/// first 17 bytes of `b`.
pub(crate) fn frame_header(b: &[u8]) -> FormatResult<(i64, i32, i8)> {
    Ok((
        be!(i64, b, layout::BASE_OFFSET, "batch.baseOffset"),
        be!(i32, b, layout::LENGTH, "batch.batchLength"),
        be!(i8, b, layout::MAGIC, "batch.magic"),
    ))
}

/// `(size, base offset, last offset)` of a well-framed v2 batch at the
/// start of `b`, read in place: what [`super::BatchIter`] would frame and
/// [`BatchView::parse_prefix`] accept (magic 2, a length covering the
/// 61-byte header, every byte present), without making a view. `None` for
/// anything else (a legacy entry, damage, a short buffer): callers then take
/// the general path, which also says what is wrong.
#[inline]
pub(crate) fn peek_v2(b: &[u8]) -> Option<(usize, i64, i64)> {
    let (base, length, magic) = frame_header(b).ok()?;
    if magic != layout::MAGIC_V2 {
        return None;
    }
    let size = usize::try_from(length).ok()?.checked_add(layout::LOG_OVERHEAD)?;
    if size < layout::BATCH_OVERHEAD || size > b.len() {
        return None;
    }
    let delta = i32::from_be_bytes(array(b, layout::LAST_OFFSET_DELTA, "").ok()?);
    Some((size, base, base.wrapping_add(i64::from(delta))))
}

/// The big-endian field of `N` bytes at `at` in a whole v2 header: `at` is
/// one of the layout's constants, all of whose fields lie in the header, so
/// once inlined the read checks no bounds (the `unwrap_or` is never taken).
#[inline(always)]
fn field<const N: usize>(h: &[u8; layout::BATCH_OVERHEAD], at: usize) -> [u8; N] {
    h.get(at..).and_then(<[u8]>::first_chunk::<N>).copied().unwrap_or([0; N])
}

impl Header {
    /// The header of the v2 batch whose first [`layout::BATCH_OVERHEAD`]
    /// bytes are `h`: every field is there, so none is read with its own
    /// bounds check and none can be missing.
    #[inline]
    fn parse(h: &[u8; layout::BATCH_OVERHEAD]) -> Self {
        Header {
            base_offset: i64::from_be_bytes(field(h, layout::BASE_OFFSET)),
            batch_length: i32::from_be_bytes(field(h, layout::LENGTH)),
            partition_leader_epoch: i32::from_be_bytes(field(h, layout::PARTITION_LEADER_EPOCH)),
            magic: i8::from_be_bytes(field(h, layout::MAGIC)),
            crc: u32::from_be_bytes(field(h, layout::CRC)),
            attributes: i16::from_be_bytes(field(h, layout::ATTRIBUTES)),
            last_offset_delta: i32::from_be_bytes(field(h, layout::LAST_OFFSET_DELTA)),
            base_timestamp: i64::from_be_bytes(field(h, layout::BASE_TIMESTAMP)),
            max_timestamp: i64::from_be_bytes(field(h, layout::MAX_TIMESTAMP)),
            producer_id: i64::from_be_bytes(field(h, layout::PRODUCER_ID)),
            producer_epoch: i16::from_be_bytes(field(h, layout::PRODUCER_EPOCH)),
            base_sequence: i32::from_be_bytes(field(h, layout::BASE_SEQUENCE)),
            records_count: i32::from_be_bytes(field(h, layout::RECORDS_COUNT)),
        }
    }
}

/// One v2 batch (or, read from a segment, one legacy entry): its bytes and
/// its decoded header.
#[derive(Debug, Clone)]
pub struct BatchView {
    buf: Bytes,
    header: Header,
    legacy: Option<Box<LegacyEntry>>,
}

/// What a legacy entry adds to the synthesized header.
#[derive(Debug, Clone)]
struct LegacyEntry {
    message: Message,
    /// `(first offset, count)`; a compressed wrapper must be decompressed to
    /// know them, so only when asked (Kafka's `baseOffset()` does the same).
    first: OnceLock<(i64, i32)>,
}

/// Views are equal when their bytes are: everything else derives from them.
impl PartialEq for BatchView {
    fn eq(&self, other: &Self) -> bool {
        self.buf == other.buf
    }
}

impl Eq for BatchView {}

impl BatchView {
    /// Views the first batch in `buf` as a segment may hold it: RecordBatch v2,
    /// or a legacy magic 0/1 message (Kafka's `FileLogInputStream.nextBatch`
    /// reads both). Appends take [`parse_prefix`](Self::parse_prefix), which
    /// refuses legacy bytes: strata never writes them.
    ///
    /// # Errors
    /// As [`parse_prefix`](Self::parse_prefix); for a legacy message, sizes or
    /// key/value lengths that do not fit it.
    pub fn parse_stored_prefix(buf: &Bytes) -> FormatResult<Self> {
        let (_, _, magic) = frame_header(buf)?;
        if magic != 0 && magic != 1 {
            return Self::parse_prefix(buf);
        }
        let message = Message::parse(buf)?;
        let header = Header {
            base_offset: message.offset,
            batch_length: i32::try_from(message.size - layout::LOG_OVERHEAD).unwrap_or(i32::MAX),
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            magic,
            crc: message.crc,
            attributes: message.batch_attributes(),
            last_offset_delta: 0,
            base_timestamp: message.timestamp,
            max_timestamp: message.timestamp,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records_count: 1,
        };
        let buf = buf.slice(..message.size);
        let legacy = Some(Box::new(LegacyEntry { message, first: OnceLock::new() }));
        Ok(BatchView { buf, header, legacy })
    }

    /// Views `buf`, which must hold exactly one batch or legacy entry, as
    /// [`parse_stored_prefix`](Self::parse_stored_prefix) reads it.
    ///
    /// # Errors
    /// As [`parse_stored_prefix`](Self::parse_stored_prefix), plus
    /// [`FormatError::InvalidValue`] when bytes follow the batch.
    pub fn new_stored(buf: Bytes) -> FormatResult<Self> {
        let view = Self::parse_stored_prefix(&buf)?;
        view.ensure_whole(&buf)?;
        Ok(view)
    }

    fn ensure_whole(&self, buf: &Bytes) -> FormatResult<()> {
        if self.buf.len() != buf.len() {
            return Err(self.bytes_after());
        }
        Ok(())
    }

    /// The error for a buffer that holds bytes after this batch.
    fn bytes_after(&self) -> FormatError {
        FormatError::InvalidValue {
            field: "batch.batchLength",
            value: i64::from(self.header.batch_length),
            reason: "the buffer holds bytes after the batch",
        }
    }

    /// Whether this is a legacy (magic 0 or 1) entry rather than a v2 batch.
    #[must_use]
    pub fn is_legacy(&self) -> bool {
        self.legacy.is_some()
    }

    /// A legacy entry's first offset and record count, decoded once.
    fn legacy_first(&self) -> Option<(i64, i32)> {
        let l = self.legacy.as_ref()?;
        Some(*l.first.get_or_init(|| {
            legacy::first_offset_and_count(&l.message, &self.buf, DEFAULT_MAX_DECOMPRESSED)
                .unwrap_or((l.message.offset, 0))
        }))
    }

    /// Views the first batch in `buf`, which may hold more bytes after it.
    ///
    /// Checks framing only (length and magic), not the CRC: call
    /// [`validate`](Self::validate) before trusting the contents.
    ///
    /// # Errors
    /// [`FormatError::Truncated`] when `buf` ends before the batch does,
    /// [`FormatError::InvalidValue`] for a length below the v2 header size,
    /// [`FormatError::UnsupportedMagic`] for anything but magic 2.
    pub fn parse_prefix(buf: &Bytes) -> FormatResult<Self> {
        let (size, header) = Self::v2_prefix(buf)?;
        Ok(BatchView { buf: buf.slice(..size), header, legacy: None })
    }

    /// The size and header of the v2 batch at the front of `buf`, checked
    /// as [`parse_prefix`](Self::parse_prefix) checks them.
    fn v2_prefix(buf: &[u8]) -> FormatResult<(usize, Header)> {
        let (_, length, magic) = frame_header(buf)?;
        if magic != layout::MAGIC_V2 {
            return Err(FormatError::UnsupportedMagic { magic });
        }
        let size = usize::try_from(length)
            .ok()
            .map(|l| l + layout::LOG_OVERHEAD)
            .filter(|&s| s >= layout::BATCH_OVERHEAD)
            .ok_or_else(|| FormatError::InvalidValue {
                field: "batch.batchLength",
                value: i64::from(length),
                reason: "shorter than the 61-byte v2 batch header",
            })?;
        if size > buf.len() {
            return Err(FormatError::Truncated {
                field: "batch",
                needed: size,
                available: buf.len(),
            });
        }
        // `buf` holds the batch, at least the whole header (`size >= 61`).
        let Some(head) = buf.first_chunk::<{ layout::BATCH_OVERHEAD }>() else {
            return Err(FormatError::Truncated {
                field: "batch",
                needed: size,
                available: buf.len(),
            });
        };
        Ok((size, Header::parse(head)))
    }

    /// Views `buf`, which must hold exactly one batch. The view keeps `buf`
    /// itself (no slice of it: no reference count taken and dropped, an
    /// append's two atomic operations on a line its caller's clone may have
    /// left cold).
    ///
    /// # Errors
    /// As [`parse_prefix`](Self::parse_prefix), plus
    /// [`FormatError::InvalidValue`] when bytes follow the batch.
    pub fn new(buf: Bytes) -> FormatResult<Self> {
        let (size, header) = Self::v2_prefix(&buf)?;
        let view = BatchView { buf, header, legacy: None };
        if size != view.buf.len() {
            return Err(view.bytes_after());
        }
        Ok(view)
    }

    /// This v2 view with `base_offset` and `partition_leader_epoch` in its
    /// header fields while its bytes keep the old ones: for the append path
    /// alone, which writes those two fields (both outside the CRC) itself,
    /// ahead of the rest of the bytes, instead of copying a batch its caller
    /// may still share. [`as_bytes`](Self::as_bytes) then disagrees with the
    /// header in exactly those fields. A legacy entry is returned unchanged.
    #[must_use]
    pub(crate) fn with_assigned_offsets(
        mut self,
        base_offset: i64,
        partition_leader_epoch: i32,
    ) -> Self {
        if self.legacy.is_none() {
            self.header.base_offset = base_offset;
            self.header.partition_leader_epoch = partition_leader_epoch;
        }
        self
    }

    /// The batch's bytes, giving up the view.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// The batch's bytes, header included.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }
    /// Total size in bytes (`batchLength + 12`).
    #[must_use]
    pub fn size(&self) -> usize {
        self.buf.len()
    }
    /// Offset of the first record of the original batch. For a compressed
    /// legacy wrapper this decompresses it (once); if that fails, the
    /// wrapper's offset, and reading its records reports why.
    #[must_use]
    pub fn base_offset(&self) -> i64 {
        self.legacy_first().map_or(self.header.base_offset, |(first, _)| first)
    }
    /// `batchLength`: bytes after the length field.
    #[must_use]
    pub fn batch_length(&self) -> i32 {
        self.header.batch_length
    }
    /// Leader epoch stamped on append (-1 unknown).
    #[must_use]
    pub fn partition_leader_epoch(&self) -> i32 {
        self.header.partition_leader_epoch
    }
    /// The magic byte: 2, or 0/1 for a legacy entry.
    #[must_use]
    pub fn magic(&self) -> i8 {
        self.header.magic
    }
    /// The stored CRC-32C (CRC-32 for a legacy entry).
    #[must_use]
    pub fn crc(&self) -> u32 {
        self.header.crc
    }
    /// Raw attributes.
    #[must_use]
    pub fn attributes(&self) -> i16 {
        self.header.attributes
    }
    /// Codec of the records section.
    ///
    /// # Errors
    /// [`FormatError::InvalidValue`] for codec ids 5-7.
    pub fn compression(&self) -> FormatResult<Compression> {
        Compression::from_id((self.header.attributes & attr::COMPRESSION_MASK) as u8)
    }
    /// Raw codec id (0-7).
    #[must_use]
    pub fn compression_id(&self) -> u8 {
        (self.header.attributes & attr::COMPRESSION_MASK) as u8
    }
    /// CreateTime or LogAppendTime.
    #[must_use]
    pub fn timestamp_type(&self) -> TimestampType {
        if self.header.attributes & attr::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    /// Part of a transaction.
    #[must_use]
    pub fn is_transactional(&self) -> bool {
        self.header.attributes & attr::TRANSACTIONAL != 0
    }
    /// Holds control records (transaction markers) only.
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.header.attributes & attr::CONTROL != 0
    }
    /// The compaction delete horizon, when attribute bit 6 is set.
    #[must_use]
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.header.attributes & attr::DELETE_HORIZON != 0).then_some(self.header.base_timestamp)
    }
    /// `lastOffset - baseOffset` of the original batch.
    #[must_use]
    pub fn last_offset_delta(&self) -> i32 {
        match self.legacy_first() {
            None => self.header.last_offset_delta,
            Some((first, _)) => {
                i32::try_from(self.header.base_offset.saturating_sub(first)).unwrap_or(i32::MAX)
            }
        }
    }
    /// Last offset of the original batch (a legacy entry's offset field).
    #[must_use]
    pub fn last_offset(&self) -> i64 {
        if self.legacy.is_some() {
            return self.header.base_offset;
        }
        self.header.base_offset.wrapping_add(i64::from(self.header.last_offset_delta))
    }
    /// The offset after this batch.
    #[must_use]
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
    /// First record's timestamp, or the delete horizon (see [`delete_horizon_ms`](Self::delete_horizon_ms)).
    #[must_use]
    pub fn base_timestamp(&self) -> i64 {
        self.header.base_timestamp
    }
    /// Largest record timestamp (CreateTime) or the append time (LogAppendTime).
    #[must_use]
    pub fn max_timestamp(&self) -> i64 {
        self.header.max_timestamp
    }
    /// Producer id, -1 for none.
    #[must_use]
    pub fn producer_id(&self) -> i64 {
        self.header.producer_id
    }
    /// Producer epoch, -1 for none.
    #[must_use]
    pub fn producer_epoch(&self) -> i16 {
        self.header.producer_epoch
    }
    /// Sequence of the first record, -1 for none.
    #[must_use]
    pub fn base_sequence(&self) -> i32 {
        self.header.base_sequence
    }
    /// Sequence of the last record (wrapping at `i32::MAX`), -1 for none.
    #[must_use]
    pub fn last_sequence(&self) -> i32 {
        if self.header.base_sequence < 0 {
            return -1;
        }
        let s = i64::from(self.header.base_sequence) + i64::from(self.header.last_offset_delta);
        (s.rem_euclid(i64::from(i32::MAX) + 1)) as i32
    }
    /// Number of records physically present. A legacy entry has no count
    /// field (Kafka's `countOrNull` is null): this is 1, or a compressed
    /// wrapper's inner messages (0 if they do not decode).
    #[must_use]
    pub fn records_count(&self) -> i32 {
        self.legacy_first().map_or(self.header.records_count, |(_, count)| count)
    }

    /// CRC-32C of attributes..end, as it should be stored (for a legacy
    /// entry, CRC-32 of magic..end).
    #[must_use]
    pub fn compute_crc(&self) -> u32 {
        if let Some(l) = &self.legacy {
            return l.message.compute_crc(&self.buf);
        }
        super::crc::crc32c(self.buf.get(layout::ATTRIBUTES..).unwrap_or_default())
    }

    /// Checks the batch the way Kafka's `ensureValid` does, plus header sanity:
    /// CRC-32C, a known codec, non-negative `lastOffsetDelta` and record count,
    /// and offsets that do not overflow.
    ///
    /// Does not decode records; [`validate_records`](Self::validate_records) does.
    ///
    /// # Errors
    /// The first violated rule, naming its field.
    pub fn validate(&self) -> FormatResult<()> {
        if let Some(l) = &self.legacy {
            // Kafka's `LegacyRecord.ensureValid`: the CRC (framing already
            // checked the sizes); offsets are the segment's to check.
            l.message.check_crc(&self.buf)?;
            if l.message.offset < 0 {
                return Err(invalid("message.offset", l.message.offset, "cannot be negative"));
            }
            return Ok(());
        }
        let computed = self.compute_crc();
        if computed != self.header.crc {
            // Confirmed by the `crc32c` crate before the batch is called
            // corrupt: a fault in one of `crc-fast`'s CPU-specific paths
            // must not turn good data into errors.
            let reference = super::crc::crc32c_reference(
                self.buf.get(layout::ATTRIBUTES..).unwrap_or_default(),
            );
            if reference != self.header.crc {
                return Err(FormatError::CrcMismatch {
                    stored: self.header.crc,
                    computed: reference,
                });
            }
        }
        self.compression()?;
        let h = &self.header;
        if h.last_offset_delta < 0 {
            return Err(invalid(
                "batch.lastOffsetDelta",
                h.last_offset_delta.into(),
                "cannot be negative",
            ));
        }
        if h.records_count < 0 {
            return Err(invalid(
                "batch.recordsCount",
                h.records_count.into(),
                "cannot be negative",
            ));
        }
        if h.base_offset < 0 || h.base_offset.checked_add(i64::from(h.last_offset_delta)).is_none()
        {
            return Err(invalid(
                "batch.baseOffset",
                h.base_offset,
                "offsets must be in [0, i64::MAX]",
            ));
        }
        Ok(())
    }

    /// [`validate`](Self::validate), then decodes every record and checks that
    /// their count matches the header, their offset deltas strictly increase
    /// within `[0, lastOffsetDelta]`, and no bytes are left over.
    ///
    /// # Errors
    /// The first violated rule, naming its field.
    pub fn validate_records(&self) -> FormatResult<()> {
        self.validate()?;
        self.check_records(|e| e, |_| Ok(()))
    }

    /// Decodes every record once, checking what
    /// [`validate_records`](Self::validate_records) checks beyond the CRC, and
    /// hands each record to `each` — so a caller with rules of its own (the
    /// log's key and timestamp rules) needs no second decoding pass. Call
    /// [`validate`](Self::validate) first: this does not check the CRC.
    ///
    /// # Errors
    /// A format violation wrapped by `wrap`, or the first error of `each`.
    pub fn check_records<E>(
        &self,
        wrap: impl Fn(FormatError) -> E,
        mut each: impl FnMut(&RecordRef) -> Result<(), E>,
    ) -> Result<(), E> {
        // The walk refuses what breaks the format, offsets included (a v2
        // record's delta off Kafka's rule, a legacy inner offset that does
        // not increase up to its wrapper's): each record it yields is whole.
        let mut seen = 0i64;
        for r in self.records().map_err(&wrap)? {
            each(&r.map_err(&wrap)?)?;
            seen += 1;
        }
        if self.legacy.is_none() && seen != i64::from(self.header.records_count) {
            return Err(wrap(invalid(
                "batch.recordsCount",
                self.header.records_count.into(),
                "does not match the records present",
            )));
        }
        Ok(())
    }

    /// Lazily decodes the records, decompressing at most
    /// [`DEFAULT_MAX_DECOMPRESSED`] bytes.
    ///
    /// # Errors
    /// A codec that is not compiled in, or a records section that does not decompress.
    pub fn records(&self) -> FormatResult<Records> {
        self.records_with_limit(DEFAULT_MAX_DECOMPRESSED)
    }

    /// [`records`](Self::records) with an explicit decompressed-size ceiling.
    ///
    /// # Errors
    /// As [`records`](Self::records).
    pub fn records_with_limit(&self, max_decompressed: usize) -> FormatResult<Records> {
        self.decode_with_limit(max_decompressed).map(DecodedBatch::into_records)
    }

    /// The records section ready to decode: the batch's own bytes when it is
    /// uncompressed (no copy), else the decompressed records, at most
    /// [`DEFAULT_MAX_DECOMPRESSED`] bytes. [`DecodedBatch::views`] then
    /// walks them as borrowed [`RecordView`](super::RecordView)s. Does not check the CRC: call
    /// [`validate`](Self::validate) first.
    ///
    /// ```
    /// use strata::{BatchBuilder, BatchView, Record};
    /// let mut b = BatchBuilder::new(7);
    /// b.append(&Record::new("k", "v1"))?;
    /// b.append(&Record::new("k", "v2"))?;
    /// let batch = BatchView::new(b.build()?)?;
    /// batch.validate()?;
    /// let decoded = batch.decode()?;
    /// let values: Vec<&[u8]> =
    ///     decoded.views().map(|r| r.map(|r| r.value().unwrap_or_default())).collect::<Result<_, _>>()?;
    /// assert_eq!(values, [&b"v1"[..], &b"v2"[..]]);
    /// # Ok::<(), strata::FormatError>(())
    /// ```
    ///
    /// # Errors
    /// As [`records`](Self::records).
    pub fn decode(&self) -> FormatResult<DecodedBatch> {
        self.decode_with_limit(DEFAULT_MAX_DECOMPRESSED)
    }

    /// [`decode`](Self::decode) with an explicit decompressed-size ceiling.
    ///
    /// # Errors
    /// As [`records`](Self::records).
    pub fn decode_with_limit(&self, max_decompressed: usize) -> FormatResult<DecodedBatch> {
        let h = &self.header;
        if let Some(l) = &self.legacy {
            let records = legacy::records(&l.message, &self.buf, max_decompressed)?;
            return Ok(DecodedBatch::legacy(records));
        }
        let codec = self.compression()?;
        let src = match codec {
            // The records section of the batch's own bytes: no copy.
            Compression::None => self.buf.slice(layout::RECORDS.min(self.buf.len())..),
            codec => {
                let body = self.buf.get(layout::RECORDS..).unwrap_or_default();
                Bytes::from(decompress(codec, body, max_decompressed)?)
            }
        };
        let log_append_time =
            (self.timestamp_type() == TimestampType::LogAppendTime).then_some(h.max_timestamp);
        let ctx = RecordContext {
            base_offset: h.base_offset,
            base_timestamp: h.base_timestamp,
            log_append_time,
            base_sequence: h.base_sequence,
        };
        Ok(DecodedBatch::v2(src, h.records_count, h.last_offset_delta, ctx))
    }

    /// For a legacy entry, the stored CRC-32 of each of its records in order
    /// (an uncompressed message's own, each inner message's of a compressed
    /// wrapper); `None` for a v2 batch, whose records carry no CRC.
    ///
    /// # Errors
    /// As [`records`](Self::records).
    #[must_use]
    pub fn legacy_record_crcs(&self) -> Option<FormatResult<Vec<u32>>> {
        let l = self.legacy.as_ref()?;
        Some(legacy::record_crcs(&l.message, &self.buf, DEFAULT_MAX_DECOMPRESSED))
    }

    /// The records section exactly as stored (compressed when the batch is);
    /// for a legacy entry, the message after its offset and size fields.
    #[must_use]
    pub fn records_section(&self) -> Bytes {
        let start = if self.legacy.is_some() { layout::LOG_OVERHEAD } else { layout::RECORDS };
        self.buf.slice(start.min(self.buf.len())..)
    }
}

fn invalid(field: &'static str, value: i64, reason: &'static str) -> FormatError {
    FormatError::InvalidValue { field, value, reason }
}
