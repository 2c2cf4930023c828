//! lz4 (codec 3): the LZ4 frame format as Kafka's `Lz4BlockOutputStream` writes it.
//!
//! | field          | width | Kafka's value                                        |
//! |----------------|------:|------------------------------------------------------|
//! | magic          |     4 | `0x184D2204` little-endian: `04 22 4D 18`            |
//! | FLG            |     1 | `0x60`: version 01, independent blocks, no checksums |
//! | BD             |     1 | `0x40`: 64 KiB maximum block                         |
//! | header check   |     1 | `(xxhash32(FLG, BD) >> 8) & 0xFF` = `0x82`           |
//! | block size     |     4 | u32 LE; bit 31 set = stored uncompressed, 0 = end    |
//! | block data     |     n | repeated with the size field until the end mark      |
//!
//! Other writers (kafka-python, lz4 CLI) add a content size, block or content
//! checksums, or linked blocks; the reader accepts all of those.

use std::io::{Read, Write as _};

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::{Compression, FormatResult, check_level, codec_error, read_bounded};

const CODEC: Compression = Compression::Lz4;

/// `LZ4_MAGIC` of a standard frame, as stored (little-endian).
const MAGIC: [u8; 4] = 0x184D_2204_u32.to_le_bytes();

// FLG bits the framing walk reads (LZ4 frame format spec, "FLG byte").
const FLG_VERSION_MASK: u8 = 0b1100_0000;
const FLG_VERSION_01: u8 = 0b0100_0000;
const FLG_BLOCK_CHECKSUM: u8 = 0b0001_0000;
const FLG_CONTENT_SIZE: u8 = 0b0000_1000;
const FLG_CONTENT_CHECKSUM: u8 = 0b0000_0100;
const FLG_DICT_ID: u8 = 0b0000_0001;

/// A block size field with this bit set holds the data uncompressed.
const UNCOMPRESSED_BIT: u32 = 1 << 31;

/// Writes one frame with Kafka's header (FLG `0x60`, BD `0x40`) to `out`.
///
/// `level` is only range-checked (1-17, `CompressionType.LZ4`): lz4_flex has
/// just the fast compressor, which Kafka also uses at its default level 9.
pub(super) fn compress(input: &[u8], level: Option<i32>, out: &mut Vec<u8>) -> FormatResult<()> {
    if let Some(level) = level {
        check_level(CODEC, level, 1..=17)?;
    }
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .block_checksums(false)
        .content_checksum(false)
        .content_size(None);
    let mut encoder = FrameEncoder::with_frame_info(info, out);
    encoder.write_all(input).map_err(|e| codec_error(CODEC, e))?;
    encoder.finish().map_err(|e| codec_error(CODEC, e))?;
    Ok(())
}

/// Decodes every frame of `input`.
pub(super) fn decompress(input: &[u8], max_output: usize, out: &mut Vec<u8>) -> FormatResult<()> {
    check_framing(input)?;
    read_bounded(CODEC, AllFrames(FrameDecoder::new(input)), max_output, out)
}

/// Reads on through every frame of an input already checked by [`check_framing`].
///
/// `FrameDecoder::read` returns 0 at each end mark (and for an empty block),
/// not only at the end of the input, so a plain `read_to_end` would stop after
/// the first frame. Each such 0 consumed at least a 4-byte size field, so the
/// loop always makes progress.
struct AllFrames<'a>(FrameDecoder<&'a [u8]>);

impl Read for AllFrames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.0.read(buf)?;
            if n > 0 || self.0.get_ref().is_empty() {
                return Ok(n);
            }
        }
    }
}

/// Walks the frame structure (headers, block sizes, end marks) without decoding.
///
/// lz4_flex's `FrameDecoder` treats an input that ends where a block size or
/// a frame header should start as a clean end, so a truncated frame would
/// decode to a silent prefix. Kafka's `Lz4BlockInputStream` fails instead;
/// this walk gives the same answer. Contents (header checksum, block sizes
/// against BD, the LZ4 sequences) are left to the decoder.
fn check_framing(input: &[u8]) -> FormatResult<()> {
    if input.is_empty() {
        return Err(codec_error(CODEC, "empty stream has no frame header"));
    }
    let mut cursor = Cursor { bytes: input, pos: 0 };
    while !cursor.bytes.is_empty() {
        let at = cursor.pos;
        // Legacy and skippable frames are refused too: Kafka never writes them
        // and `Lz4BlockInputStream` accepts only this magic.
        let magic = cursor.take(4, "frame magic")?;
        if magic != MAGIC {
            return Err(codec_error(
                CODEC,
                format_args!("frame magic {magic:02x?} at byte {at} is not 04 22 4d 18"),
            ));
        }
        let flg = cursor.take(2, "frame FLG/BD")?.first().copied().unwrap_or_default();
        if flg & FLG_VERSION_MASK != FLG_VERSION_01 {
            return Err(codec_error(CODEC, format_args!("FLG {flg:#04x}: version is not 01")));
        }
        let optional = if flg & FLG_CONTENT_SIZE != 0 { 8 } else { 0 }
            + if flg & FLG_DICT_ID != 0 { 4 } else { 0 };
        cursor.take(optional + 1, "frame descriptor")?;
        let block_checksum = if flg & FLG_BLOCK_CHECKSUM != 0 { 4 } else { 0 };
        loop {
            let size = cursor.take(4, "block size")?;
            let size = size.first_chunk::<4>().map_or(0, |s| u32::from_le_bytes(*s));
            if size == 0 {
                break;
            }
            let len = usize::try_from(size & !UNCOMPRESSED_BIT).unwrap_or(usize::MAX);
            cursor.take(len.saturating_add(block_checksum), "block data")?;
        }
        if flg & FLG_CONTENT_CHECKSUM != 0 {
            cursor.take(4, "content checksum")?;
        }
    }
    Ok(())
}

/// The unread tail of the input and its offset, for error messages.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &str) -> FormatResult<&'a [u8]> {
        let (head, tail) = self.bytes.split_at_checked(n).ok_or_else(|| {
            let (at, remain) = (self.pos, self.bytes.len());
            codec_error(
                CODEC,
                format_args!("{field} at byte {at}: needs {n} bytes, {remain} remain"),
            )
        })?;
        self.bytes = tail;
        self.pos += n;
        Ok(head)
    }
}
