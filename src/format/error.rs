//! What can be wrong with bytes that claim to be in Kafka's record format.

use thiserror::Error;

/// A decoding or encoding failure in the pure format layer.
///
/// Every variant names the field it failed on, so an operator reading
/// "batch.records_count: negative value -3" knows which byte to look at.
/// The format layer knows nothing about files; callers wrap this in
/// [`crate::Error::Corrupt`] together with a path and a position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input ended before a field was complete.
    #[error("{field}: needs {needed} bytes but only {available} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A varint or varlong ran past its maximum length (5 or 10 bytes).
    #[error("{field}: varint longer than {max_bytes} bytes")]
    VarintTooLong {
        /// The field being read.
        field: &'static str,
        /// The maximum encoded length of this kind of varint.
        max_bytes: usize,
    },
    /// A field holds a value the format forbids.
    #[error("{field}: invalid value {value} ({reason})")]
    InvalidValue {
        /// The field being read.
        field: &'static str,
        /// The value found.
        value: i64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The batch's stored CRC-32C does not match its contents.
    #[error("batch.crc: stored {stored:#010x} but attributes..end hash to {computed:#010x}")]
    CrcMismatch {
        /// CRC stored in the batch header.
        stored: u32,
        /// CRC computed over the batch.
        computed: u32,
    },
    /// A producer-state snapshot's stored CRC-32C does not match its entries.
    #[error("snapshot.crc: stored {stored:#010x} but count..end hash to {computed:#010x}")]
    SnapshotCrcMismatch {
        /// CRC stored in the snapshot header.
        stored: u32,
        /// CRC computed over the count and entries.
        computed: u32,
    },
    /// A legacy (magic 0/1) message's stored CRC-32 does not match its contents.
    #[error("message.crc: stored {stored:#010x} but magic..end hash (CRC-32) to {computed:#010x}")]
    LegacyCrcMismatch {
        /// CRC stored in the message.
        stored: u32,
        /// CRC-32 computed over the message.
        computed: u32,
    },
    /// A magic byte not accepted here: anything but 2 where a RecordBatch v2
    /// is required (appends), or outside 0-2 in a segment (legacy 0/1 entries
    /// are read there, see [`crate::format::legacy`]).
    #[error("batch.magic: {magic} is not a RecordBatch v2 (magic 2)")]
    UnsupportedMagic {
        /// The magic byte found.
        magic: i8,
    },
    /// The records section has bytes left after the declared record count.
    #[error("batch.records: {extra} bytes left after {count} records")]
    TrailingBytes {
        /// Declared record count.
        count: i32,
        /// Bytes left over.
        extra: usize,
    },
    /// A compressed records section could not be (de)compressed.
    #[error("batch.records ({codec}): {message}")]
    Compression {
        /// Codec name.
        codec: &'static str,
        /// What the codec reported.
        message: String,
    },
    /// The codec's cargo feature is disabled in this build.
    #[error("compression codec {codec} is not compiled in (enable the `{codec}` feature)")]
    CodecNotEnabled {
        /// Codec name.
        codec: &'static str,
    },
    /// A line of a text file (`partition.metadata`, `leader-epoch-checkpoint`)
    /// that does not read as its format says: which line, what it holds, why.
    #[error("{file} line {line}: {reason}, found {found:?}")]
    BadLine {
        /// The file's name.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What the line holds (cut to 64 characters; empty for a missing line).
        found: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The batch would not fit Kafka's int32 length fields.
    #[error("{field}: {size} bytes exceeds the int32 limit of the format")]
    TooLarge {
        /// What overflowed.
        field: &'static str,
        /// Its size.
        size: usize,
    },
}

/// Result alias of the format layer.
pub type FormatResult<T> = std::result::Result<T, FormatError>;

impl FormatError {
    /// [`FormatError::BadLine`] for `found` (at most 64 characters of it kept).
    pub(crate) fn bad_line(
        file: &'static str,
        line: usize,
        found: &str,
        reason: &'static str,
    ) -> FormatError {
        FormatError::BadLine { file, line, found: found.chars().take(64).collect(), reason }
    }

    /// A v2 record whose offset delta breaks Kafka's rule for a batch's
    /// records: deltas strictly increase within `[0, lastOffsetDelta]`.
    pub(crate) fn misplaced_offset_delta(delta: i32) -> FormatError {
        FormatError::InvalidValue {
            field: "record.offsetDelta",
            value: delta.into(),
            reason: "deltas must increase within [0, lastOffsetDelta]",
        }
    }
}
