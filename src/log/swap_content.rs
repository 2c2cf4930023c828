//! Whether a set of `.swap` segments holds what the old segments it replaces
//! held, less only what a cleaner may drop.
//!
//! The offsets alone cannot tell a cleaner's output from a stray file: a
//! copy of a later segment of the same partition, renamed to an earlier
//! segment's `.swap`, covers `[its name, the copied segment's end)` just as a
//! cleaning of every segment in that range that dropped all the earlier
//! records would. So while the old segments are still all there (the swap's
//! step 3 had not begun), their records decide:
//!
//! - every record of the swap is a record of the old segments, at the same
//!   offset with the same key and value (a swap never invents or alters one);
//! - every record of the old segments that the swap lacks is one a cleaner
//!   could have dropped: in a compacted log, a record whose key comes again
//!   at a higher offset below the active segment (Kafka's offset map covers
//!   the dirty section up to the first uncleanable offset, never the active
//!   segment), a tombstone, a record without a key, or a record of a
//!   transactional or control batch (aborted data and markers). A log
//!   without compaction is never cleaned: its swaps come from splitting an
//!   overflowed legacy segment (Kafka's `splitOverflowedSegment`), which
//!   keeps every record.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bytes::Bytes;

use crate::format::BatchIter;
use crate::format::file_name::{FileKind, SWAP_SUFFIX, segment_file_name};
use crate::io::file;
use crate::{Error, Result};

/// One record as a swap check compares it.
struct Rec {
    key: Option<Bytes>,
    value: Option<Bytes>,
    /// In a transactional or control batch: a cleaner may drop it.
    txn: bool,
}

/// The records of a `.log` file by offset (its valid batches; a file that
/// stops framing was judged elsewhere).
fn records(path: &Path, out: &mut BTreeMap<i64, Rec>) -> Result<()> {
    let data = Bytes::from(file::read(path)?);
    for (_, batch) in BatchIter::validating(data) {
        let txn = batch.is_transactional() || batch.is_control();
        let corrupt = |e| Error::CorruptFile { path: path.to_owned(), reason: format!("{e}") };
        for r in batch.records().map_err(corrupt)? {
            let r = r.map_err(corrupt)?;
            out.insert(r.offset(), Rec { key: r.key().cloned(), value: r.value().cloned(), txn });
        }
    }
    Ok(())
}

/// What is wrong with the swaps `swaps` (bases) covering `[lo, hi)` of `dir`
/// whose ordinary segments are `plain` (bases, the active one last), or
/// `None`. `compact`: the log is compacted. Call only while every old
/// segment in the range is still there.
pub(super) fn check(
    dir: &Path,
    swaps: &std::collections::BTreeSet<i64>,
    plain: &std::collections::BTreeSet<i64>,
    (lo, hi): (i64, i64),
    compact: bool,
) -> Result<Option<String>> {
    let log = |base| dir.join(segment_file_name(base, FileKind::Log));
    let mut old = BTreeMap::new();
    for &base in plain.range(lo..hi) {
        records(&log(base), &mut old)?;
    }
    let mut new = BTreeMap::new();
    for &base in swaps {
        records(&dir.join(format!("{}{SWAP_SUFFIX}", log(base).display())), &mut new)?;
    }
    for (offset, rec) in &new {
        let same = old.get(offset).is_some_and(|o| o.key == rec.key && o.value == rec.value);
        if !same {
            return Ok(Some(format!(
                "holds a record at offset {offset} that the segments it replaces do not"
            )));
        }
    }
    // The newest offset of each key below the active segment, for the
    // records a cleaner may have dropped as superseded.
    let mut latest: HashMap<Bytes, i64> = HashMap::new();
    if compact {
        let active = plain.last().copied();
        let mut later = BTreeMap::new();
        for &base in plain.range(hi..).filter(|&&b| Some(b) != active) {
            records(&log(base), &mut later)?;
        }
        for (offset, rec) in old.iter().chain(later.iter()) {
            if let Some(k) = &rec.key {
                latest.insert(k.clone(), *offset);
            }
        }
    }
    for (offset, rec) in old.iter().filter(|(o, _)| !new.contains_key(o)) {
        let droppable = compact
            && (rec.txn
                || rec.value.is_none()
                || rec.key.as_ref().is_none_or(|k| latest.get(k).is_some_and(|l| l > offset)));
        if !droppable {
            return Ok(Some(format!(
                "lacks the record at offset {offset} of the segments it replaces, which no \
                 cleaner drops"
            )));
        }
    }
    Ok(None)
}
