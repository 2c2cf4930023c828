//! CRC-32C (Castagnoli), the checksum of v2 batches: one implementation,
//! chosen once per process by a self-test, for what strata reads and writes;
//! the `crc32c` crate to confirm a mismatch.
//!
//! Summing a batch is most of what a point read costs (the whole batch is
//! summed to serve one record of it) and the largest single cost of building
//! one. `crc-fast` folds 64 bytes a step with carry-less multiplies
//! (VPCLMULQDQ on AVX-512 machines, PCLMULQDQ on older x86-64, PMULL on ARM),
//! where the `crc32c` crate's hardware path runs three streams of the 8-byte
//! `crc32` instruction. On the machine that made `BENCHMARKS.md` (AMD EPYC,
//! thread CPU time): 0.22 µs against 0.53 µs for one 11.7 KB batch in cache,
//! 1.6 µs against 2.3 µs for one not in cache.
//!
//! # Which implementation, and why that is sound
//!
//! [`crc32c`] is what every read checks and every batch strata builds is
//! stamped with. The first call runs [`self_test`]: `crc-fast` against the
//! `crc32c` crate over a spread of lengths and start addresses. If they
//! agree everywhere, `crc-fast` serves the process; if they disagree once,
//! the `crc32c` crate serves reads and writes alike for the rest of the
//! process (and, with the `tracing` feature, strata says so once at WARN,
//! target `strata::internals::format::crc`). A CRC that [`crc32c`] finds
//! wrong is recomputed with the `crc32c` crate ([`crc32c_reference`]) before
//! a batch is called corrupt, so a fault in the chosen implementation can
//! never turn good data into errors.
//!
//! The danger of one implementation on both sides is a wrong one: strata
//! would write CRCs that Kafka rejects and accept its own. For inputs that
//! take a code path the self-test exercised, two facts all but rule it out:
//! - `crc-fast`'s control flow depends only on the length and the start
//!   address (which branch, how many fold steps, how many bytes are summed
//!   one at a time to reach 8- and 64-byte alignment), never on the bytes.
//!   A path is a fixed chain of XORs, carry-less multiplies, shifts and
//!   `crc32` instructions, so for one length it is an affine map over GF(2)
//!   from the input bits to the 32 result bits, as CRC-32C itself is.
//! - Two affine maps that differ, differ on at least half of all inputs
//!   (where they agree is a coset of a proper subspace, or empty); a wrong
//!   fold constant or a dropped tail byte corrupts most output bits, so a
//!   random input misses it with odds nearer 2^-32 than 1/2.
//!
//! The spread covers every length from 0 to 520 at eight start addresses
//! each (every residue mod 8, spread over the 64-byte line), every length
//! from 521 to 1,600 (up to four of the 384-byte fold blocks the AVX-512
//! path takes, every tail after them), and six lengths from 2 KiB to 1 MiB
//! (Kafka's largest batch by default) at eight start addresses (many fold
//! steps), with pseudo-random bytes: it
//! reaches every threshold `crc-fast` 1.10 has on x86-64 and ARM (8, 16,
//! 32, 64, 128, 144, 192, 256, 384 bytes, 1 KiB, the alignment prefixes) and
//! the fold loops past them. Where `crc-fast` falls back to its
//! table-driven software path, the lookups depend on the bytes, but a wrong
//! table entry is still a wrong affine piece, and the self-test's megabytes
//! of random bytes index every entry many times. It costs a few ms of CPU
//! on the EPYC that made `BENCHMARKS.md` (`examples/append_profile` prints
//! it), once a process.
//!
//! What it cannot rule out: a core that computes wrongly now and then
//! (the `crc32c` crate, on the same core, would not escape that either),
//! and a bug that shows only at a length or start the spread does not take
//! (a batch past 1 MiB, say, which a topic's `max.message.bytes` can
//! allow), which the old split (writes summed by the
//! `crc32c` crate) kept out of written CRCs. Outside the process, the tests'
//! checkers (`kafka_verify.py` and Kafka's own Java reader, `kverify`)
//! recompute the CRCs of what strata writes in them.

use std::sync::OnceLock;

/// The CRC-32C implementation a process uses for reads and writes, as
/// [`implementation`] chose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// `crc-fast`: it agreed with the `crc32c` crate over the whole self-test.
    Fast,
    /// The `crc32c` crate: `crc-fast` disagreed with it somewhere.
    Reference,
}

impl Implementation {
    /// CRC-32C of `bytes` with this implementation.
    #[inline]
    #[must_use]
    pub fn sum(self, bytes: &[u8]) -> u32 {
        match self {
            Implementation::Fast => fast(bytes),
            Implementation::Reference => crc32c_reference(bytes),
        }
    }
}

/// Where a candidate implementation disagreed with the reference: the first
/// length and start address (modulo 64) of [`self_test`]'s spread it got wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// Bytes summed.
    pub len: usize,
    /// The start's address modulo 64.
    pub align: usize,
}

/// The implementation of this process, chosen on first use (see the module docs).
#[inline]
#[must_use]
pub fn implementation() -> Implementation {
    static CHOSEN: OnceLock<Implementation> = OnceLock::new();
    *CHOSEN.get_or_init(|| choose(fast, crc32c_reference))
}

/// [`Implementation::Fast`] if `candidate` (`crc-fast`, outside tests)
/// passes [`self_test`] against `reference`, else
/// [`Implementation::Reference`], said through `tracing` (what
/// [`implementation`] runs once a process; public so tests can hand it a
/// disagreeing candidate).
#[must_use]
pub fn choose(
    candidate: impl Fn(&[u8]) -> u32,
    reference: impl Fn(&[u8]) -> u32,
) -> Implementation {
    match self_test(candidate, reference) {
        Ok(()) => Implementation::Fast,
        Err(d) => {
            crate::events::crc_fallback(d.len, d.align);
            Implementation::Reference
        }
    }
}

/// CRC-32C of `bytes`, as Kafka's `Crc32C.compute`: what reads check and
/// what batches strata builds are stamped with.
#[inline]
#[must_use]
pub fn crc32c(bytes: &[u8]) -> u32 {
    implementation().sum(bytes)
}

/// CRC-32C of `bytes` with the `crc32c` crate: what confirms a mismatch
/// [`crc32c`] reports before a batch is called corrupt, and what
/// [`self_test`] holds `crc-fast` to.
#[inline]
#[must_use]
pub fn crc32c_reference(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// `crc-fast`'s CRC-32C (CRC-32/ISCSI; the result fits the low 32 bits).
#[inline]
fn fast(bytes: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// Lengths summed at eight start addresses each (`0..=DENSE`), at one
/// (`DENSE + 1..=SPARSE`), and the long ones, at eight.
const DENSE: usize = 520;
const SPARSE: usize = 1_600;
/// The last is Kafka's largest batch by default (`message.max.bytes`,
/// 1,048,588) and one: `crc-fast`'s shift constants depend on the length,
/// so a batch longer than every length tested would run untested steps.
const LONG: [usize; 6] = [2_047, 4_099, 11_797, 16_411, 65_549, 1_048_589];

/// Sums `candidate` against `reference` over the module docs' spread of
/// lengths and start addresses, with pseudo-random bytes (the same every
/// run); the first pair they disagree on, if any.
///
/// # Errors
/// The first length and start address (modulo 64) where they disagree.
pub fn self_test(
    candidate: impl Fn(&[u8]) -> u32,
    reference: impl Fn(&[u8]) -> u32,
) -> Result<(), Disagreement> {
    let longest = LONG.iter().copied().fold(SPARSE, usize::max);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..longest + 128)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    // Start addresses are counted from the buffer's first 64-byte boundary.
    let base = match data.as_ptr().align_offset(64) {
        b if b < 64 => b,
        _ => 0,
    };
    let eight = |len: usize| (0..8).map(move |k| (len, (len + 9 * k) % 64));
    let dense = (0..=DENSE).flat_map(eight);
    let sparse = (DENSE + 1..=SPARSE).map(|len| (len, (len * 5) % 64));
    let long = LONG.into_iter().flat_map(eight);
    for (len, align) in dense.chain(sparse).chain(long) {
        let at = base + align;
        let Some(s) = data.get(at..at + len) else { continue };
        if candidate(s) != reference(s) {
            let align = s.as_ptr() as usize % 64;
            return Err(Disagreement { len, align });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn crc32c_matches_the_check_value_and_the_crc32c_crate_at_every_length() {
        // The catalogue check value of CRC-32C over "123456789".
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(fast(b"123456789"), 0xE306_9283);
        let data = data(70_000);
        for len in (0..600).chain([4095, 4096, 4097, 11_700, 65_536, 70_000]) {
            for start in [0, 1, 7] {
                let s = data.get(start..start + len.min(data.len() - start)).unwrap_or_default();
                assert_eq!(crc32c(s), crc32c::crc32c(s), "len {len} at {start}");
                assert_eq!(fast(s), crc32c::crc32c(s), "crc-fast: len {len} at {start}");
            }
        }
    }

    #[test]
    fn crc_fast_passes_the_self_test_and_serves_the_process_on_this_machine() {
        assert_eq!(self_test(fast, crc32c_reference), Ok(()));
        assert_eq!(choose(fast, crc32c_reference), Implementation::Fast);
        assert_eq!(implementation(), Implementation::Fast);
    }

    /// A candidate that is right except where `wrong(len, address mod 64)` holds.
    fn faulty(wrong: impl Fn(usize, usize) -> bool) -> impl Fn(&[u8]) -> u32 {
        move |s: &[u8]| {
            let good = crc32c_reference(s);
            if wrong(s.len(), s.as_ptr() as usize % 64) { good ^ 1 } else { good }
        }
    }

    #[test]
    fn a_candidate_wrong_on_any_one_code_path_is_refused_and_the_reference_serves() {
        // Each class of input a CRC implementation may treat apart: length
        // ranges around every threshold `crc-fast` has, each tail length
        // after 8-byte words and 64-byte blocks, each start address.
        type Class = (String, Box<dyn Fn(usize, usize) -> bool>);
        let mut classes: Vec<Class> = Vec::new();
        let bounds = [0, 1, 8, 16, 32, 64, 128, 144, 192, 256, 257, 384, 768, 1024, 1152, 1600];
        for w in bounds.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            classes.push((format!("length {lo}..{hi}"), Box::new(move |l, _| lo <= l && l < hi)));
        }
        classes.push(("length 1600".into(), Box::new(|l, _| l == 1600)));
        classes.push(("past 64 KiB".into(), Box::new(|l, _| l > 65_536)));
        classes.push(("past 1 MiB".into(), Box::new(|l, _| l > 1 << 20)));
        classes.push(("past 16 KiB, below 64".into(), Box::new(|l, _| l > 16_384 && l < 65_536)));
        for r in 0..8 {
            classes.push((format!("tail {r} past 8"), Box::new(move |l, _| l > 8 && l % 8 == r)));
            let long = move |l: usize, a: usize| l > 2_000 && a % 8 == r;
            classes.push((format!("long, start {r} mod 8"), Box::new(long)));
        }
        for r in 0..64 {
            let tail = move |l: usize, _| l > 384 && l % 64 == r;
            classes.push((format!("tail {r} past 64, folded"), Box::new(tail)));
            let start = move |l: usize, a| l > 0 && a == r;
            classes.push((format!("start {r} mod 64"), Box::new(start)));
            let folded = move |l: usize, a| (384..2_000).contains(&l) && a == r;
            classes.push((format!("folded, start {r} mod 64"), Box::new(folded)));
        }
        let sample = data(5_000);
        for (name, wrong) in classes {
            let candidate = faulty(&wrong);
            let Err(d) = self_test(&candidate, crc32c_reference) else {
                panic!("a candidate wrong on {name} passed the self-test")
            };
            assert!(wrong(d.len, d.align), "{name}: reported {d:?}, where it is right");
            let chosen = choose(&candidate, crc32c_reference);
            assert_eq!(chosen, Implementation::Reference, "{name}");
            for len in [0, 13, 300, 4_998] {
                let s = &sample[1..=len];
                assert_eq!(chosen.sum(s), crc32c_reference(s), "{name}: len {len}");
            }
        }
    }

    #[test]
    fn a_candidate_that_agrees_everywhere_passes_and_one_wrong_at_one_length_does_not() {
        assert_eq!(self_test(crc32c_reference, fast), Ok(()));
        let once = faulty(|l, _| l == 1_234);
        assert_eq!(self_test(&once, crc32c_reference).map_err(|d| d.len), Err(1_234));
    }
}
