//! CRC-32C (Castagnoli), the checksum of v2 batches: `crc-fast` on the read
//! path, the `crc32c` crate for what is written and to confirm a mismatch.
//!
//! Checking a batch's CRC is most of what a point read costs: the whole
//! batch is summed to serve one record of it. `crc-fast` folds 64 bytes a
//! step with carry-less multiplies (VPCLMULQDQ on AVX-512 machines, PCLMULQDQ
//! on older x86-64, PMULL on ARM), where the `crc32c` crate's hardware path
//! runs three streams of the 8-byte `crc32` instruction. On the machine that
//! made `BENCHMARKS.md` (AMD EPYC, thread CPU time): 0.22 µs against 0.53 µs
//! for one 11.7 KB batch in cache, 1.6 µs against 2.3 µs for one not in
//! cache. Both compute the same function; tests check them against each other.

/// CRC-32C of `bytes` with the `crc32c` crate: what writers store (batches
/// strata builds), and what confirms a mismatch [`crc32c`] reports before a
/// batch is called corrupt. Reads and writes so never rest on one
/// implementation: were one of `crc-fast`'s CPU-specific paths wrong, strata
/// would neither write CRCs other readers reject nor accept its own.
#[inline]
#[must_use]
pub fn crc32c_reference(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// CRC-32C of `bytes`, as Kafka's `Crc32C.compute`: the read path's check.
#[inline]
#[must_use]
pub fn crc32c(bytes: &[u8]) -> u32 {
    // CRC-32/ISCSI is CRC-32C; the result fits the low 32 bits.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

#[cfg(test)]
mod tests {
    use super::crc32c;

    #[test]
    fn crc32c_matches_the_check_value_and_the_crc32c_crate_at_every_length() {
        // The catalogue check value of CRC-32C over "123456789".
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in (0..600).chain([4095, 4096, 4097, 11_700, 65_536, 70_000]) {
            for start in [0, 1, 7] {
                let s = data.get(start..start + len.min(data.len() - start)).unwrap_or_default();
                assert_eq!(crc32c(s), crc32c::crc32c(s), "len {len} at {start}");
            }
        }
    }
}
