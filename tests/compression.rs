#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
//! The records-section codecs: stream formats Kafka reads, bounded and
//! panic-free decoding, and interoperability with kafka-python's codecs.

use proptest::prelude::*;
use strata::internals::format::compression::{
    compress, compress_into, decompress, decompress_into,
};
use strata::{Compression, FormatError};

/// Whether this build has `codec`'s cargo feature.
fn enabled(codec: Compression) -> bool {
    match codec {
        Compression::None => true,
        Compression::Gzip => cfg!(feature = "gzip"),
        Compression::Snappy => cfg!(feature = "snappy"),
        Compression::Lz4 => cfg!(feature = "lz4"),
        Compression::Zstd => cfg!(feature = "zstd"),
    }
}

/// The compressing codecs compiled into this build.
fn codecs() -> Vec<Compression> {
    Compression::ALL.into_iter().filter(|&c| c != Compression::None && enabled(c)).collect()
}

/// Compressible text-like bytes, so streams contain real back-references.
fn sample(len: usize) -> Vec<u8> {
    let words: &[&[u8]] = &[b"kafka ", b"segment ", b"offset ", b"batch ", b"record\n", b"log "];
    let mut out = Vec::with_capacity(len);
    let mut i = 0usize;
    while out.len() < len {
        out.extend_from_slice(words[(i * 7 + i / 5) % words.len()]);
        i += 1;
    }
    out.truncate(len);
    out
}

/// Bytes that do not compress (a xorshift sequence).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

fn is_compression_error(err: &FormatError) -> bool {
    matches!(err, FormatError::Compression { .. })
}

#[test]
fn none_passes_through_and_respects_the_limit() {
    let data = sample(1000);
    assert_eq!(compress(Compression::None, &data, None).unwrap(), data);
    assert_eq!(decompress(Compression::None, &data, 1000).unwrap(), data);
    assert!(is_compression_error(&decompress(Compression::None, &data, 999).unwrap_err()));
}

#[test]
fn compiled_out_codecs_report_codec_not_enabled() {
    for codec in Compression::ALL {
        let compressed = compress(codec, b"abc", None);
        let decompressed = decompress(codec, b"abc", 100);
        if enabled(codec) {
            assert!(compressed.is_ok(), "{codec}");
        } else {
            let expected = FormatError::CodecNotEnabled { codec: codec.name() };
            assert_eq!(compressed.unwrap_err(), expected);
            assert_eq!(decompressed.unwrap_err(), expected);
        }
    }
}

#[test]
fn round_trips_at_block_boundaries() {
    // 32 KiB is a snappy chunk, 64 KiB an lz4 block.
    let sizes = [0, 1, 32_767, 32_768, 32_769, 65_535, 65_536, 65_537, 200_000];
    for codec in codecs() {
        for len in sizes {
            for data in [sample(len), noise(len)] {
                let packed = compress(codec, &data, None).unwrap();
                assert_eq!(decompress(codec, &packed, len).unwrap(), data, "{codec} {len}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_codec_round_trips(
        data in prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 0..300_000),
            (proptest::collection::vec(any::<u8>(), 1..40), 0..8_000usize)
                .prop_map(|(unit, n)| unit.repeat(n)),
        ]
    ) {
        for codec in Compression::ALL.into_iter().filter(|&c| enabled(c)) {
            let packed = compress(codec, &data, None).unwrap();
            prop_assert_eq!(&decompress(codec, &packed, data.len()).unwrap(), &data, "{}", codec);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        for codec in codecs() {
            let _ = decompress(codec, &data, 1 << 20);
        }
    }
}

#[test]
fn compress_into_and_decompress_into_append() {
    for codec in codecs() {
        let mut packed = b"header".to_vec();
        compress_into(codec, b"payload", None, &mut packed).unwrap();
        assert_eq!(&packed[..6], b"header");
        let mut out = b"prefix".to_vec();
        decompress_into(codec, &packed[6..], 7, &mut out).unwrap();
        assert_eq!(out, b"prefixpayload", "{codec}");
    }
}

#[test]
fn failed_decompress_into_leaves_the_buffer_as_it_was() {
    for codec in codecs() {
        let packed = compress(codec, &sample(10_000), None).unwrap();
        let mut out = b"kept".to_vec();
        assert!(decompress_into(codec, &packed, 9_999, &mut out).is_err(), "{codec}");
        assert!(decompress_into(codec, &packed[..packed.len() - 1], 10_000, &mut out).is_err());
        assert_eq!(out, b"kept", "{codec}");
    }
}

#[test]
fn decompression_past_the_limit_is_refused() {
    // 16 MiB of zeros packs to a few KiB: a decompression bomb in miniature.
    let zeros = vec![0u8; 16 << 20];
    for codec in codecs() {
        let bomb = compress(codec, &zeros, None).unwrap();
        assert!(bomb.len() < zeros.len() / 16, "{codec} packed to {}", bomb.len());
        let err = decompress(codec, &bomb, 1 << 20).unwrap_err();
        let FormatError::Compression { codec: name, message } = err else {
            panic!("{codec}: unexpected {err:?}");
        };
        assert_eq!(name, codec.name());
        assert_eq!(message, "decompressed size exceeds 1048576 bytes");
        // Exactly at the limit is fine, one byte under is not.
        assert_eq!(decompress(codec, &bomb, zeros.len()).unwrap().len(), zeros.len());
        assert!(decompress(codec, &bomb, zeros.len() - 1).is_err(), "{codec}");
    }
}

#[test]
fn truncated_stream_is_an_error_not_a_panic() {
    let data = sample(3_000);
    for codec in codecs() {
        let packed = compress(codec, &data, None).unwrap();
        for cut in 0..packed.len() {
            match decompress(codec, &packed[..cut], 1 << 20) {
                Err(err) => assert!(is_compression_error(&err), "{codec} cut {cut}: {err:?}"),
                // xerial framing has no end marker: cutting at a chunk boundary
                // (nothing, or the bare 16-byte header here) leaves a valid stream.
                Ok(out) => assert!(
                    codec == Compression::Snappy && (cut == 0 || cut == 16) && out.is_empty(),
                    "{codec} cut at {cut} of {} decoded to {} bytes",
                    packed.len(),
                    out.len()
                ),
            }
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let data = sample(2_000);
    for codec in codecs() {
        let packed = compress(codec, &data, None).unwrap();
        for i in 0..packed.len() {
            for mask in [0x01, 0x80, 0xFF] {
                let mut bad = packed.clone();
                bad[i] ^= mask;
                let _ = decompress(codec, &bad, 1 << 20);
            }
        }
    }
}

#[test]
fn concatenated_streams_are_read_in_order() {
    for codec in codecs() {
        let mut packed = compress(codec, b"first ", None).unwrap();
        packed.extend(compress(codec, b"second", None).unwrap());
        assert_eq!(decompress(codec, &packed, 100).unwrap(), b"first second", "{codec}");
    }
}

#[test]
fn levels_outside_kafkas_ranges_are_refused() {
    let data = sample(5_000);
    let cases: &[(Compression, &[i32], &[i32])] = &[
        (Compression::Gzip, &[-1, 1, 6, 9], &[-2, 0, 10]),
        (Compression::Lz4, &[1, 9, 17], &[0, 18]),
        (Compression::Zstd, &[-131_072, -5, 0, 1, 3, 19], &[-131_073, 23]),
    ];
    for &(codec, good, bad) in cases.iter().filter(|(c, ..)| enabled(*c)) {
        for &level in good {
            let packed = compress(codec, &data, Some(level)).unwrap();
            assert_eq!(decompress(codec, &packed, data.len()).unwrap(), data, "{codec} {level}");
        }
        for &level in bad {
            let err = compress(codec, &data, Some(level)).unwrap_err();
            assert!(is_compression_error(&err), "{codec} {level}: {err:?}");
        }
    }
}

#[test]
#[cfg(feature = "gzip")]
fn gzip_output_is_one_rfc1952_member() {
    let packed = compress(Compression::Gzip, &sample(1_000), None).unwrap();
    // ID1 ID2, CM = 8 (deflate).
    assert_eq!(&packed[..3], &[0x1F, 0x8B, 0x08]);
    let isize = u32::from_le_bytes(packed[packed.len() - 4..].try_into().unwrap());
    assert_eq!(isize, 1_000);
    assert!(is_compression_error(&decompress(Compression::Gzip, &[], 100).unwrap_err()));
}

#[test]
#[cfg(feature = "snappy")]
fn snappy_output_starts_with_xerial_header() {
    let packed = compress(Compression::Snappy, &sample(100), None).unwrap();
    assert_eq!(&packed[..16], b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01");
    let empty = compress(Compression::Snappy, &[], None).unwrap();
    assert_eq!(empty, &packed[..16]);
    assert_eq!(decompress(Compression::Snappy, &empty, 0).unwrap(), b"");
}

#[test]
#[cfg(feature = "snappy")]
fn snappy_chunks_hold_at_most_32_kib_of_input() {
    let data = noise(100_000);
    let packed = compress(Compression::Snappy, &data, None).unwrap();
    let mut rest = &packed[16..];
    let mut sizes = Vec::new();
    while !rest.is_empty() {
        let len = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        sizes.push(snap::raw::decompress_len(&rest[4..4 + len]).unwrap());
        rest = &rest[4 + len..];
    }
    assert_eq!(sizes, [32_768, 32_768, 32_768, 1_696]);
}

#[test]
#[cfg(feature = "snappy")]
fn raw_snappy_without_xerial_header_is_accepted() {
    let data = sample(50_000);
    let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
    assert_eq!(decompress(Compression::Snappy, &raw, data.len()).unwrap(), data);
    assert!(decompress(Compression::Snappy, &raw, data.len() - 1).is_err());
}

#[test]
#[cfg(feature = "snappy")]
fn snappy_lengths_are_checked_before_allocating() {
    let header = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
    // A chunk that claims more bytes than remain.
    let mut long_chunk = header.to_vec();
    long_chunk.extend_from_slice(&1_000i32.to_be_bytes());
    long_chunk.extend_from_slice(b"\x05\x10hello");
    // A negative chunk length.
    let mut negative = header.to_vec();
    negative.extend_from_slice(&(-5i32).to_be_bytes());
    // A 5-byte raw block whose varint claims 2^32 - 1 bytes.
    let greedy = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
    // Version 0 predates snappy-java's minimum.
    let mut old = header.to_vec();
    old[11] = 0;
    for bad in [&long_chunk[..], &negative, &greedy, &old] {
        let err = decompress(Compression::Snappy, bad, usize::MAX).unwrap_err();
        assert!(is_compression_error(&err), "{err:?}");
    }
}

#[test]
#[cfg(feature = "lz4")]
fn lz4_frame_header_is_kafkas() {
    // Magic (LE), FLG 0x60, BD 0x40, header checksum 0x82: `Lz4BlockOutputStream`.
    let kafka_header = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];
    let empty = compress(Compression::Lz4, &[], None).unwrap();
    assert_eq!(empty[..7], kafka_header);
    assert_eq!(empty[7..], [0, 0, 0, 0], "an empty frame is the header and the end mark");

    // Incompressible input is stored in blocks of at most 64 KiB, bit 31 set.
    let data = noise(150_000);
    let packed = compress(Compression::Lz4, &data, None).unwrap();
    assert_eq!(packed[..7], kafka_header);
    let mut rest = &packed[7..];
    let mut blocks = Vec::new();
    loop {
        let size = u32::from_le_bytes(rest[..4].try_into().unwrap());
        rest = &rest[4..];
        if size == 0 {
            break;
        }
        let len = (size & 0x7FFF_FFFF) as usize;
        blocks.push((size >> 31, len));
        rest = &rest[len..];
    }
    assert!(rest.is_empty(), "no content checksum after the end mark");
    assert_eq!(blocks, [(1, 65_536), (1, 65_536), (1, 18_928)]);
}

#[test]
#[cfg(feature = "lz4")]
fn lz4_frames_from_other_writers_are_accepted() {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;

    let data = sample(300_000);
    let infos = [
        FrameInfo::new().block_checksums(true).content_checksum(true),
        FrameInfo::new().content_size(Some(data.len() as u64)),
        FrameInfo::new().block_mode(BlockMode::Linked).block_size(BlockSize::Max256KB),
    ];
    for info in infos {
        let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(&data).unwrap();
        let packed = encoder.finish().unwrap();
        assert_eq!(decompress(Compression::Lz4, &packed, data.len()).unwrap(), data);
        for cut in [packed.len() - 1, packed.len() - 4, 11] {
            assert!(decompress(Compression::Lz4, &packed[..cut], data.len()).is_err(), "{cut}");
        }
    }
}

#[test]
#[cfg(feature = "lz4")]
fn lz4_frame_cut_at_a_block_boundary_is_an_error() {
    let packed = compress(Compression::Lz4, &noise(100_000), None).unwrap();
    // Header, then the first stored block: 7 + 4 + 65536 bytes, no end mark.
    let cut = 7 + 4 + 65_536;
    assert_eq!(packed[7..11], (0x8000_0000u32 | 65_536).to_le_bytes());
    let err = decompress(Compression::Lz4, &packed[..cut], 1 << 20).unwrap_err();
    assert!(is_compression_error(&err), "{err:?}");
    // Nor is anything after the end mark other than another frame accepted.
    let mut trailing = packed.clone();
    trailing.extend_from_slice(b"junk");
    assert!(decompress(Compression::Lz4, &trailing, 1 << 20).is_err());
}

#[test]
#[cfg(feature = "zstd")]
fn zstd_output_is_a_standard_frame() {
    let packed = compress(Compression::Zstd, &sample(1_000), None).unwrap();
    assert_eq!(packed[..4], 0xFD2F_B528u32.to_le_bytes());
    assert!(is_compression_error(&decompress(Compression::Zstd, &[], 100).unwrap_err()));
}

/// kafka-python's codecs decode what we write, and we decode what they write.
#[test]
fn kafka_python_codecs_interoperate() {
    let probe = std::process::Command::new("python3")
        .args([
            "-c",
            "import kafka.codec as c; assert c.has_snappy() and c.has_lz4() and c.has_zstd()",
        ])
        .output();
    match probe {
        Err(err) => return println!("skipped: python3 not runnable ({err})"),
        Ok(out) if !out.status.success() => {
            let why = String::from_utf8_lossy(&out.stderr);
            return println!("skipped: kafka.codec with snappy/lz4/zstd unavailable: {why}");
        }
        Ok(_) => {}
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut data = sample(90_000);
    data.extend(noise(40_000));
    std::fs::write(path("input"), &data).unwrap();
    let codecs = codecs();
    for &codec in &codecs {
        let packed = compress(codec, &data, None).unwrap();
        std::fs::write(path(&format!("{codec}.ours")), packed).unwrap();
    }
    let script = r#"
import sys
from kafka import codec as c
d, names = sys.argv[1], sys.argv[2:]
coders = {
    "gzip": (c.gzip_decode, c.gzip_encode),
    "snappy": (c.snappy_decode, lambda b: c.snappy_encode(b, xerial_compatible=True)),
    "lz4": (c.lz4_decode, c.lz4_encode),
    "zstd": (c.zstd_decode, c.zstd_encode),
}
data = open(f"{d}/input", "rb").read()
for name in names:
    decode, encode = coders[name]
    open(f"{d}/{name}.decoded", "wb").write(decode(open(f"{d}/{name}.ours", "rb").read()))
    open(f"{d}/{name}.theirs", "wb").write(encode(data))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path())
        .args(codecs.iter().map(|c| c.name()))
        .output()
        .unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    for codec in codecs {
        let decoded = std::fs::read(path(&format!("{codec}.decoded"))).unwrap();
        assert!(decoded == data, "kafka-python misread our {codec} stream");
        let theirs = std::fs::read(path(&format!("{codec}.theirs"))).unwrap();
        assert_eq!(decompress(codec, &theirs, data.len()).unwrap(), data, "their {codec}");
    }
}
