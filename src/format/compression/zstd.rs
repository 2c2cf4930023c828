//! zstd (codec 4): standard zstd frames, as Kafka's `ZstdCompression` writes them.

use std::io::Write as _;

use super::{Compression, FormatResult, check_level, codec_error, read_bounded};

const CODEC: Compression = Compression::Zstd;

/// Kafka's `compression.zstd.level` default (`CompressionType.ZSTD`).
const DEFAULT_LEVEL: i32 = 3;

/// The levels `CompressionType.ZSTD` accepts: zstd's minimum (-2^17) to 22.
const LEVELS: std::ops::RangeInclusive<i32> = -131_072..=22;

/// Compresses `input` into one zstd frame appended to `out`.
pub(super) fn compress(input: &[u8], level: Option<i32>, out: &mut Vec<u8>) -> FormatResult<()> {
    let level = level.unwrap_or(DEFAULT_LEVEL);
    check_level(CODEC, level, LEVELS)?;
    let err = |e: std::io::Error| codec_error(CODEC, e);
    let mut encoder = ::zstd::stream::write::Encoder::new(out, level).map_err(err)?;
    // Declaring the size puts it in the frame header and lets zstd shrink the
    // window to the input, so readers allocate no more than the batch needs.
    let size = u64::try_from(input.len()).map_err(|e| codec_error(CODEC, e))?;
    encoder.set_pledged_src_size(Some(size)).map_err(err)?;
    encoder.write_all(input).map_err(err)?;
    encoder.finish().map_err(err)?;
    Ok(())
}

/// Decodes every frame of `input` in turn, like zstd-jni's `ZstdInputStream`.
///
/// An empty or truncated input fails with "incomplete frame". The decoder's
/// window is capped by zstd's default limit (128 MiB), which covers every
/// level Kafka can be configured with.
pub(super) fn decompress(input: &[u8], max_output: usize, out: &mut Vec<u8>) -> FormatResult<()> {
    let decoder =
        ::zstd::stream::read::Decoder::with_buffer(input).map_err(|e| codec_error(CODEC, e))?;
    read_bounded(CODEC, decoder, max_output, out)
}
