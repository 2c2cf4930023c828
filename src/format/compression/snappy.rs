//! snappy (codec 2) in the xerial snappy-java stream framing Kafka uses.
//!
//! Kafka's `SnappyCompression` wraps `org.xerial.snappy.SnappyOutputStream`,
//! whose framing is its own (not Google's snappy framing format):
//!
//! | field              | width | meaning                                   |
//! |--------------------|------:|-------------------------------------------|
//! | magic              |     8 | `0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00`       |
//! | version            |     4 | int32 BE, 1                               |
//! | min compat version |     4 | int32 BE, 1                               |
//! | chunk length       |     4 | int32 BE, repeated with the next field... |
//! | chunk              |     n | ...one raw snappy block                   |
//!
//! There is no end marker: a stream cut at a chunk boundary still parses, and
//! only the batch CRC catches it.

use snap::raw::{Decoder, Encoder, decompress_len, max_compress_len};

use super::{Compression, FormatResult, codec_error, too_large};

const CODEC: Compression = Compression::Snappy;

/// `SnappyCodec.MAGIC_HEADER`.
const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// The version pair snappy-java writes (`SnappyCodec.DEFAULT_VERSION`,
/// `MINIMUM_COMPATIBLE_VERSION`).
const VERSION: i32 = 1;

/// Magic plus the two version fields.
const HEADER_LEN: usize = MAGIC.len() + 4 + 4;

/// Input bytes per chunk: `SnappyOutputStream`'s default block size.
const BLOCK_SIZE: usize = 32 * 1024;

/// The most a raw snappy block can expand per input byte: a 3-byte copy
/// element emits at most 64 bytes (64/3 < 22). A block claiming more is
/// corrupt, and refusing it early keeps a tiny input from sizing a big buffer.
const MAX_EXPANSION: usize = 22;

/// Appends the xerial header and one chunk per 32 KiB of `input` to `out`.
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> FormatResult<()> {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&VERSION.to_be_bytes());
    let mut encoder = Encoder::new();
    let mut block = vec![0; max_compress_len(BLOCK_SIZE)];
    for chunk in input.chunks(BLOCK_SIZE) {
        let n = encoder.compress(chunk, &mut block).map_err(|e| codec_error(CODEC, e))?;
        let data =
            block.get(..n).ok_or_else(|| codec_error(CODEC, "encoder overran its buffer"))?;
        let len = i32::try_from(n).map_err(|e| codec_error(CODEC, e))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(data);
    }
    Ok(())
}

/// Decodes a xerial stream, or a single raw block when the header is absent.
pub(super) fn decompress(input: &[u8], max_output: usize, out: &mut Vec<u8>) -> FormatResult<()> {
    let mut budget = max_output;
    // `SnappyInputStream` reads an empty stream as empty, and anything too
    // short for a header or not starting with the magic as one raw block.
    if input.is_empty() {
        return Ok(());
    }
    let Some(mut rest) = strip_header(input)? else {
        return decode_block(input, &mut budget, max_output, out);
    };
    while !rest.is_empty() {
        // snappy-java (1.1.x) reads a second header here as the start of a
        // concatenated stream; its int32 reading is negative, never a length.
        if let Some(after) = strip_header(rest)? {
            rest = after;
            continue;
        }
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(|| {
            codec_error(CODEC, format_args!("chunk length: needs 4 bytes, {} remain", rest.len()))
        })?;
        let len = i32::from_be_bytes(*len);
        let block_len = usize::try_from(len).ok().filter(|&n| n > 0).ok_or_else(|| {
            codec_error(CODEC, format_args!("chunk length {len} is not positive"))
        })?;
        let (block, tail) = tail.split_at_checked(block_len).ok_or_else(|| {
            let remain = tail.len();
            codec_error(CODEC, format_args!("chunk of {block_len} bytes but {remain} remain"))
        })?;
        decode_block(block, &mut budget, max_output, out)?;
        rest = tail;
    }
    Ok(())
}

/// The bytes after a xerial header, or `None` when `input` does not start with one.
fn strip_header(input: &[u8]) -> FormatResult<Option<&[u8]>> {
    let Some((header, rest)) = input.split_first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let Some((magic, versions)) = header.split_first_chunk::<8>() else {
        return Ok(None);
    };
    if *magic != MAGIC {
        return Ok(None);
    }
    let version = versions.first_chunk::<4>().map_or(0, |v| i32::from_be_bytes(*v));
    // Like `SnappyInputStream`, only the writer's version is checked.
    if version < VERSION {
        return Err(codec_error(CODEC, format_args!("xerial version {version} is older than 1")));
    }
    Ok(Some(rest))
}

/// Appends one raw snappy block, charging its length against `budget`.
fn decode_block(
    block: &[u8],
    budget: &mut usize,
    max_output: usize,
    out: &mut Vec<u8>,
) -> FormatResult<()> {
    let n = decompress_len(block).map_err(|e| codec_error(CODEC, e))?;
    if n > *budget {
        return Err(too_large(CODEC, max_output));
    }
    if n > block.len().saturating_mul(MAX_EXPANSION) {
        let len = block.len();
        return Err(codec_error(CODEC, format_args!("block of {len} bytes claims {n} bytes")));
    }
    let start = out.len();
    out.resize(start.saturating_add(n), 0);
    let dst = out.get_mut(start..).unwrap_or_default();
    let written = Decoder::new().decompress(block, dst).map_err(|e| codec_error(CODEC, e))?;
    if written != n {
        return Err(codec_error(CODEC, format_args!("block gave {written} of {n} bytes")));
    }
    *budget = budget.saturating_sub(n);
    Ok(())
}
