//! What the `batch_region` fuzz target claims about [`BatchIter`], as a plain
//! function so `tests/fuzz_corpus.rs` replays the corpus without cargo-fuzz.
//!
//! Each input is checked as given and, when some framed batch has a wrong CRC,
//! again with every framed batch's CRC recomputed, so mutations also reach the
//! header checks behind the CRC. Regions may hold legacy (magic 0/1) entries,
//! which the iterator yields as views too.
//!
//! For any bytes, with both `BatchIter::validating` and `BatchIter::new`:
//!
//! 1. iterating never panics, and once it stops it stays stopped with a stop
//!    reason set;
//! 2. the yielded batches tile the region from 0 without gaps, each view is
//!    exactly the bytes at its position, and `valid_len()` is the sum of their
//!    sizes, at most the input length;
//! 3. the stop reason accounts for the rest: `End` iff nothing is left;
//!    `ZeroTail` covers exactly the remaining bytes, all zero; `TornTail`
//!    starts at `valid_len()` with a non-zero rest shorter than the batch
//!    needs; `Corrupt` starts at `valid_len()`;
//! 4. every batch `validating` yields passes `validate()`, and what it yields
//!    is a prefix of what `new` yields (validation only ever stops earlier).

use bytes::Bytes;
use strata::internals::format::{BatchIter, StopReason, layout};

/// Batches each mode yielded, for the corpus replay to check depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Batches yielded by `BatchIter::validating`.
    pub(crate) validated: usize,
    /// Batches yielded by `BatchIter::new`.
    pub(crate) framed: usize,
    /// Whether validation consumed the whole input.
    pub(crate) validated_to_end: bool,
}

/// Runs every claim of the module docs on `data`, then on `data` with its
/// CRCs fixed; panics if one fails. Returns the summary of `data` as given.
pub(crate) fn check(data: &[u8]) -> Summary {
    let summary = check_as_given(data);
    let mut fixed = data.to_vec();
    for (position, view) in BatchIter::new(Bytes::copy_from_slice(data)) {
        // A legacy (magic 0/1) message keeps its CRC-32 right after the size field.
        let at = position + if view.is_legacy() { layout::LOG_OVERHEAD } else { layout::CRC };
        if let Some(slot) = fixed.get_mut(at..at + 4) {
            slot.copy_from_slice(&view.compute_crc().to_be_bytes());
        }
    }
    if fixed != data {
        check_as_given(&fixed);
    }
    summary
}

fn check_as_given(data: &[u8]) -> Summary {
    let buf = Bytes::copy_from_slice(data);
    let validated = walk(BatchIter::validating(buf.clone()), data, true);
    let framed = walk(BatchIter::new(buf), data, false);
    assert!(
        framed.starts_with(&validated),
        "validating yielded {validated:?}, not a prefix of framing's {framed:?}"
    );
    let consumed: usize = validated.iter().map(|&(_, size)| size).sum();
    Summary {
        validated: validated.len(),
        framed: framed.len(),
        validated_to_end: consumed == data.len(),
    }
}

/// Drains `it`, checks claims 1-3 (and 4's first half), returns `(position, size)` per batch.
fn walk(mut it: BatchIter, data: &[u8], validating: bool) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut next_position = 0;
    for (position, view) in it.by_ref() {
        assert_eq!(position, next_position, "batches must tile the region");
        let size = view.size();
        assert_eq!(size, usize::try_from(view.batch_length()).unwrap_or(0) + 12);
        assert!(
            data.get(position..position + size) == Some(view.as_bytes().as_ref()),
            "the view at {position} is not the region's bytes"
        );
        if validating && let Err(e) = view.validate() {
            panic!("validating yielded an invalid batch at {position}: {e}");
        }
        spans.push((position, size));
        next_position = position + size;
    }
    assert!(it.next().is_none(), "a stopped iterator must stay stopped");
    let valid_len = it.valid_len();
    assert_eq!(valid_len, next_position, "valid_len must sum the yielded batches");
    assert!(valid_len <= data.len());
    let rest = data.get(valid_len..).unwrap_or_default();
    match it.stop_reason() {
        None => panic!("an exhausted iterator must say why it stopped"),
        Some(StopReason::End) => assert!(rest.is_empty(), "End with {} bytes left", rest.len()),
        Some(StopReason::ZeroTail { position, len }) => {
            assert_eq!((*position, *len), (valid_len, rest.len()));
            assert!(!rest.is_empty() && rest.iter().all(|&b| b == 0), "ZeroTail over non-zeros");
        }
        Some(StopReason::TornTail { position, needed, available }) => {
            assert_eq!((*position, *available), (valid_len, rest.len()));
            assert!(needed > available, "TornTail needs {needed} of {available} bytes");
            assert!(rest.iter().any(|&b| b != 0), "an all-zero tail is a ZeroTail");
        }
        Some(StopReason::Corrupt { position, .. }) => {
            assert_eq!(*position, valid_len);
            assert!(!rest.is_empty(), "Corrupt with nothing left");
        }
    }
    spans
}
