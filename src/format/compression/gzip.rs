//! gzip (codec 1): RFC 1952 members, as Kafka's `GzipCompression` writes them.

use std::io::Write as _;

use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{Compression, FormatResult, check_level, codec_error, read_bounded};

const CODEC: Compression = Compression::Gzip;

/// zlib's default, which Kafka's `compression.gzip.level` = -1 selects.
const DEFAULT_LEVEL: u32 = 6;

/// Compresses `input` into one gzip member appended to `out`.
pub(super) fn compress(input: &[u8], level: Option<i32>, out: &mut Vec<u8>) -> FormatResult<()> {
    let level = match level {
        // Kafka's `GzipCompression` passes -1 through to zlib, meaning "default".
        None | Some(-1) => DEFAULT_LEVEL,
        Some(level) => {
            check_level(CODEC, level, 1..=9)?;
            u32::try_from(level).map_err(|e| codec_error(CODEC, e))?
        }
    };
    let mut encoder = GzEncoder::new(out, flate2::Compression::new(level));
    encoder.write_all(input).map_err(|e| codec_error(CODEC, e))?;
    encoder.finish().map_err(|e| codec_error(CODEC, e))?;
    Ok(())
}

/// Inflates every member of `input`, like Java's `GZIPInputStream`.
pub(super) fn decompress(input: &[u8], max_output: usize, out: &mut Vec<u8>) -> FormatResult<()> {
    // `GZIPInputStream` fails on an empty stream (there is no header to read);
    // flate2 would return nothing, which would hide a lost records section.
    if input.is_empty() {
        return Err(codec_error(CODEC, "empty stream has no gzip header"));
    }
    read_bounded(CODEC, MultiGzDecoder::new(input), max_output, out)
}
