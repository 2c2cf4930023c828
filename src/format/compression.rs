//! Compression codecs of the records section, in the stream formats Kafka writes.
//!
//! When a batch's codec bits are non-zero, everything after the 61-byte header
//! is one compressed stream (`DefaultRecordBatch`). Compressors cannot be
//! reproduced byte for byte across implementations, so the contract here is
//! interoperability: what [`compress`] writes, Kafka's Java readers accept, and
//! what Kafka's writers (and kafka-python's) emit, [`decompress`] reads.
//!
//! | codec      | stream                                                | Kafka class         |
//! |------------|-------------------------------------------------------|---------------------|
//! | gzip (1)   | RFC 1952 member(s)                                    | `GzipCompression`   |
//! | snappy (2) | xerial framing: 16-byte header, then chunks           | `SnappyCompression` |
//! |            | `[i32 BE len][raw block]` of at most 32 KiB input     |                     |
//! | lz4 (3)    | LZ4 frame, FLG `0x60`, BD `0x40`: independent 64 KiB  | `Lz4BlockOutputStream` |
//! |            | blocks, no checksums                                  |                     |
//! | zstd (4)   | standard zstd frame(s)                                | `ZstdCompression`   |
//!
//! Decompression is bounded: no codec yields more than the caller's
//! `max_output`, and no buffer here is sized from a length field the input
//! cannot justify (the codecs' own working buffers are capped by their
//! formats: 4 MiB per lz4 block, zstd's default 128 MiB window limit).
//! Every malformed stream is a [`FormatError::Compression`].
//!
//! Each codec sits behind its cargo feature of the same name; with the feature
//! off, both directions return [`FormatError::CodecNotEnabled`].

// Maintainer notes: one private module per codec, each exposing
// `compress(input, level, out)` and `decompress(input, max_output, out)` that
// append to `out`. `read_bounded` is the shared guard for the codecs that
// decode through `std::io::Read`; snappy checks its budget block by block.

use super::{Compression, FormatError, FormatResult};

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

/// Compresses `input` with `codec` at `level` (the codec's Kafka default when `None`).
///
/// Levels follow Kafka's `CompressionType` ranges: gzip 1-9 (or -1 for the
/// default, 6), lz4 1-17, zstd -131072..=22 (default 3). Snappy has no level
/// and ignores it; lz4 accepts a level for Kafka compatibility but always uses
/// the fast compressor, which is what Kafka uses at its default level 9.
///
/// # Errors
/// [`FormatError::CodecNotEnabled`] when the codec is compiled out;
/// [`FormatError::Compression`] for a level outside the codec's range.
pub fn compress(codec: Compression, input: &[u8], level: Option<i32>) -> FormatResult<Vec<u8>> {
    let mut out = Vec::new();
    compress_into(codec, input, level, &mut out)?;
    Ok(out)
}

/// Like [`compress`], but appends the stream to `out` (for a batch builder that
/// has already written the header into the same buffer).
///
/// # Errors
/// As [`compress`]. On error `out` is restored to its original length.
pub fn compress_into(
    codec: Compression,
    input: &[u8],
    #[cfg_attr(
        not(any(feature = "gzip", feature = "lz4", feature = "zstd")),
        expect(unused_variables, reason = "only leveled codecs read it")
    )]
    level: Option<i32>,
    out: &mut Vec<u8>,
) -> FormatResult<()> {
    let start = out.len();
    let result = match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(input, level, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(input, level, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(input, level, out),
        #[cfg(not(all(feature = "gzip", feature = "snappy", feature = "lz4", feature = "zstd")))]
        other => Err(FormatError::CodecNotEnabled { codec: other.name() }),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decompresses `input`, refusing to produce more than `max_output` bytes.
///
/// [`Compression::None`] returns the input as it is (still subject to
/// `max_output`). Concatenated gzip members, lz4 frames and zstd frames are
/// read one after the other, as Kafka's Java readers do; a snappy input
/// without the xerial header is read as one raw snappy block, as snappy-java's
/// `SnappyInputStream` does.
///
/// # Errors
/// [`FormatError::Compression`] for a damaged or truncated stream or one that
/// inflates past `max_output`; [`FormatError::CodecNotEnabled`] when the codec
/// is compiled out.
pub fn decompress(codec: Compression, input: &[u8], max_output: usize) -> FormatResult<Vec<u8>> {
    let mut out = Vec::new();
    decompress_into(codec, input, max_output, &mut out)?;
    Ok(out)
}

/// Like [`decompress`], but appends to `out` so a caller can reuse one buffer
/// across batches. `max_output` bounds the bytes appended, not `out`'s length.
///
/// # Errors
/// As [`decompress`]. On error `out` is restored to its original length.
pub fn decompress_into(
    codec: Compression,
    input: &[u8],
    max_output: usize,
    out: &mut Vec<u8>,
) -> FormatResult<()> {
    let start = out.len();
    let result = match codec {
        Compression::None if input.len() > max_output => Err(too_large(codec, max_output)),
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(input, max_output, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, max_output, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(input, max_output, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, max_output, out),
        #[cfg(not(all(feature = "gzip", feature = "snappy", feature = "lz4", feature = "zstd")))]
        other => Err(FormatError::CodecNotEnabled { codec: other.name() }),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// A [`FormatError::Compression`] for `codec` carrying `message`.
fn codec_error(codec: Compression, message: impl std::fmt::Display) -> FormatError {
    FormatError::Compression { codec: codec.name(), message: message.to_string() }
}

/// The error for output that would pass the caller's bound.
fn too_large(codec: Compression, max_output: usize) -> FormatError {
    codec_error(codec, format_args!("decompressed size exceeds {max_output} bytes"))
}

/// Refuses a level outside Kafka's accepted range for `codec`
/// (`CompressionType` validates the same ranges on the producer).
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn check_level(
    codec: Compression,
    level: i32,
    range: std::ops::RangeInclusive<i32>,
) -> FormatResult<()> {
    if range.contains(&level) {
        Ok(())
    } else {
        Err(codec_error(
            codec,
            format_args!("level {level} outside {}..={}", range.start(), range.end()),
        ))
    }
}

/// Drains `reader` into `out`, failing once it yields more than `max_output` bytes.
///
/// Reading one byte past the bound is how an over-long stream is told apart
/// from one that ends exactly at it, without ever holding more than
/// `max_output + 1` bytes.
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn read_bounded(
    codec: Compression,
    reader: impl std::io::Read,
    max_output: usize,
    out: &mut Vec<u8>,
) -> FormatResult<()> {
    use std::io::Read as _;

    let limit = u64::try_from(max_output).unwrap_or(u64::MAX).saturating_add(1);
    let read = reader.take(limit).read_to_end(out).map_err(|e| codec_error(codec, e))?;
    if read > max_output {
        return Err(too_large(codec, max_output));
    }
    Ok(())
}
