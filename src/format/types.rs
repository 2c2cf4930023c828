//! Small enums of the v2 batch attributes.

use super::FormatError;

/// The codec of a batch's records section (attribute bits 0-2).
///
/// Kafka's ids: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; 5-7 are invalid
/// (`CompressionType.forId` in Kafka's clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records stored as they are.
    #[default]
    None,
    /// RFC 1952 gzip member.
    Gzip,
    /// Snappy in the xerial snappy-java stream framing Kafka uses.
    Snappy,
    /// LZ4 frame format (Kafka's block-independent, 64 KiB-block writer).
    Lz4,
    /// A standard zstd frame.
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Whether this build can compress and decompress with the codec: `None`
    /// always; the others with their cargo feature (`gzip`, `snappy`, `lz4`,
    /// `zstd`, all on by default). A batch in a codec not compiled in is
    /// [`FormatError::CodecNotEnabled`](super::FormatError::CodecNotEnabled).
    #[must_use]
    pub fn is_available(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// Kafka's numeric id (the attribute bits).
    #[must_use]
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec with Kafka id `id`.
    ///
    /// # Errors
    /// [`FormatError::InvalidValue`] for ids 5-7.
    pub fn from_id(id: u8) -> Result<Self, FormatError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => {
                return Err(FormatError::InvalidValue {
                    field: "batch.attributes.compression",
                    value: i64::from(other),
                    reason: "codec ids are 0-4",
                });
            }
        })
    }

    /// Kafka's lower-case name (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses Kafka's name of a codec (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Compression::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a batch's timestamps mean (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer; `maxTimestamp` is the largest record timestamp.
    #[default]
    CreateTime,
    /// Set by the log on append; every record's timestamp reads as the batch's `maxTimestamp`.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name (`CreateTime` / `LogAppendTime`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

impl std::fmt::Display for TimestampType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
