//! What the `index_files` fuzz target claims about [`OffsetIndex`] and
//! [`TimeIndex`] over a `.index` or `.timeindex` file of any bytes, as a
//! plain function so `tests/fuzz_corpus.rs` replays the corpus without
//! cargo-fuzz.
//!
//! An index file has no header, count or checksum: whatever bytes a damaged
//! disk or another writer left are mapped and searched. The input's first
//! byte picks the kind (even: offset index, odd: time index), the next 8 are
//! the segment's base offset (big-endian; fewer bytes read as 0), the rest is
//! the file, opened read-only as a log opens a sealed segment's index.
//!
//! For any bytes:
//!
//! 1. `sanity_check`, `entries`, `entry`, `last_entry` and lookups at any
//!    target never panic; a failure is an error.
//! 2. An index that passes `sanity_check` answers each lookup as a scan of
//!    its entries does: the largest key (offset, or timestamp) at or below
//!    the target, else the empty index's entry (`(base, 0)` for offsets,
//!    `(-1, base)` for timestamps).
//! 3. The file is never changed by a read-only index.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use strata::internals::index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};

/// How far an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// `sanity_check` refused the file (lookups still ran, without claim 2).
    Refused,
    /// `sanity_check` passed and every lookup matched the scan.
    Checked,
}

/// Entries read back at most (a fuzzer's file is small; this bounds the scan).
const MAX_ENTRIES: usize = 4096;

/// A file name no other input, thread or process uses at the same time.
fn scratch_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("strata-fuzz-index-{}-{n}", std::process::id()))
}

/// Runs the claims of the module docs on `data`; panics if one fails.
pub(crate) fn check(data: &[u8]) -> Outcome {
    let (&kind, rest) = data.split_first().unwrap_or((&0, &[]));
    let (base, file) = match rest.split_first_chunk::<8>() {
        Some((base, file)) => (i64::from_be_bytes(*base), file),
        None => (0, rest),
    };
    let path = scratch_path();
    std::fs::write(&path, file).expect("write the scratch index file");
    let outcome = if kind % 2 == 0 { offsets(&path, base) } else { times(&path, base) };
    let after = std::fs::read(&path).expect("read the scratch index file back");
    let _ = std::fs::remove_file(&path);
    assert!(after == file, "a read-only index changed its file");
    outcome
}

/// Targets around every key the index holds, its base and the extremes.
fn targets(base: i64, keys: &[i64]) -> Vec<i64> {
    let mut t =
        vec![i64::MIN, -1, 0, i64::MAX, base.saturating_sub(1), base, base.saturating_add(1)];
    for &k in keys {
        t.extend([k.saturating_sub(1), k, k.saturating_add(1)]);
    }
    t
}

fn offsets(path: &std::path::Path, base: i64) -> Outcome {
    let index = OffsetIndex::open(path, base, 1 << 20, false);
    let checked = index.sanity_check().is_ok();
    let n = index.entries().unwrap_or(0).min(MAX_ENTRIES);
    let entries: Vec<OffsetPosition> = (0..n).filter_map(|i| index.entry(i).ok()).collect();
    let _ = index.last_entry();
    let keys: Vec<i64> = entries.iter().map(|e| e.offset).collect();
    for target in targets(base, &keys) {
        let found = index.lookup(target);
        let _ = index.lookup_with_next(target);
        if !checked {
            continue;
        }
        let Ok(found) = found else { panic!("lookup({target}) failed on a checked index") };
        let expected = entries
            .iter()
            .rev()
            .find(|e| e.offset <= target)
            .copied()
            .unwrap_or(OffsetPosition { offset: base, position: 0 });
        assert_eq!(found, expected, "offset lookup({target}) over {entries:?}");
    }
    if checked { Outcome::Checked } else { Outcome::Refused }
}

fn times(path: &std::path::Path, base: i64) -> Outcome {
    let index = TimeIndex::open(path, base, 1 << 20, false);
    let checked = index.sanity_check().is_ok();
    let n = index.entries().unwrap_or(0).min(MAX_ENTRIES);
    let entries: Vec<TimestampOffset> = (0..n).filter_map(|i| index.entry(i).ok()).collect();
    let _ = index.last_entry();
    let keys: Vec<i64> = entries.iter().map(|e| e.timestamp).collect();
    for target in targets(base, &keys) {
        let found = index.lookup(target);
        if !checked {
            continue;
        }
        let Ok(found) = found else { panic!("lookup({target}) failed on a checked index") };
        // Timestamps may repeat: the claim is on the timestamp found, not which slot.
        let expected = entries
            .iter()
            .rev()
            .find(|e| e.timestamp <= target)
            .copied()
            .unwrap_or(TimestampOffset { timestamp: -1, offset: base });
        assert_eq!(found.timestamp, expected.timestamp, "time lookup({target}) over {entries:?}");
    }
    if checked { Outcome::Checked } else { Outcome::Refused }
}
