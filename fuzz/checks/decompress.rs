//! What the `decompress` fuzz target claims about
//! [`strata::internals::format::compression`], as a plain function so
//! `tests/fuzz_corpus.rs` replays the corpus without cargo-fuzz.
//!
//! The first input byte picks the codec (`(b - 1) mod 4 + 1`, so bytes 1-4
//! are Kafka's ids gzip, snappy, lz4, zstd); the rest is the payload. Then:
//!
//! 1. decompressing the payload with a 1 MiB ceiling never panics, and when it
//!    succeeds it returns at most 1 MiB;
//! 2. compressing the payload and decompressing that with a ceiling of exactly
//!    the payload's length gives the payload back;
//! 3. the same stream with a ceiling one byte short is refused.

use strata::Compression;
use strata::internals::format::compression::{compress, decompress};

/// Decompression ceiling for arbitrary payloads.
const MAX_OUTPUT: usize = 1 << 20;

/// What the payload was, read as a compressed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No payload byte to pick a codec with.
    Empty,
    /// The codec refused the payload.
    Refused,
    /// The payload decompressed (within the ceiling).
    Decompressed,
}

/// The codec the first byte picks.
pub(crate) fn codec_for(selector: u8) -> Compression {
    match selector.wrapping_sub(1) % 4 {
        0 => Compression::Gzip,
        1 => Compression::Snappy,
        2 => Compression::Lz4,
        _ => Compression::Zstd,
    }
}

/// Runs every claim of the module docs on `data`; panics if one fails.
pub(crate) fn check(data: &[u8]) -> Outcome {
    let Some((&selector, payload)) = data.split_first() else { return Outcome::Empty };
    let codec = codec_for(selector);
    let outcome = match decompress(codec, payload, MAX_OUTPUT) {
        Ok(out) => {
            assert!(
                out.len() <= MAX_OUTPUT,
                "{} output {} > {MAX_OUTPUT}",
                codec.name(),
                out.len()
            );
            Outcome::Decompressed
        }
        Err(_) => Outcome::Refused,
    };
    let packed = match compress(codec, payload, None) {
        Ok(p) => p,
        Err(e) => panic!("{} cannot compress {} bytes: {e}", codec.name(), payload.len()),
    };
    match decompress(codec, &packed, payload.len()) {
        Ok(back) => assert!(back == payload, "{} round trip changed the bytes", codec.name()),
        Err(e) => panic!("{} cannot read back its own {} bytes: {e}", codec.name(), payload.len()),
    }
    if let Some(short) = payload.len().checked_sub(1) {
        assert!(
            decompress(codec, &packed, short).is_err(),
            "{} produced {} bytes under a ceiling of {short}",
            codec.name(),
            payload.len()
        );
    }
    outcome
}
