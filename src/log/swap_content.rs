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
//!
//! Memory: the check streams. Files are mapped (page cache, read ahead
//! sequentially), not read into memory, and both sides are walked together
//! in offset order, one batch of each at a time (a compressed batch is
//! decompressed alone). What it keeps is, for each distinct key of a dropped
//! record, a 128-bit hash of the key and an offset; a second walk over the
//! old and later segments then looks for each key's later occurrence. (A
//! hash collision could only pass a drop as superseded: with per-process
//! random hash keys a crafted file cannot aim for one.)

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::format::BatchIter;
use crate::format::batch::Records;
use crate::format::file_name::{FileKind, SWAP_SUFFIX, segment_file_name};
use crate::io::file;
use crate::io::mmap::ReadMap;
use crate::{Error, Result};

/// A `.log` file's bytes, mapped and advised for one sequential pass: the
/// kernel reads ahead and drops pages behind, so memory stays bounded
/// however large the file.
pub(super) fn mapped(path: &Path) -> Result<Bytes> {
    let f = file::open_read(path)?;
    let len = file::len(&f, path)?;
    let map = ReadMap::map(&f, path, len)?;
    map.advise_sequential();
    let n = usize::try_from(len).unwrap_or(usize::MAX);
    Ok(map.bytes(0, n, n))
}

/// One record as a swap check compares it.
struct Rec {
    offset: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    /// In a transactional or control batch: a cleaner may drop it.
    txn: bool,
}

/// The records of `.log` files in order: their valid batches (a file that
/// stops framing was judged elsewhere), decoded one batch at a time.
struct RecordStream {
    files: std::vec::IntoIter<PathBuf>,
    batches: Option<(PathBuf, BatchIter)>,
    records: Option<(PathBuf, Records, bool)>,
}

impl RecordStream {
    fn new(files: Vec<PathBuf>) -> Self {
        RecordStream { files: files.into_iter(), batches: None, records: None }
    }

    /// The next record, or `None` after the last file.
    fn next_rec(&mut self) -> Result<Option<Rec>> {
        let corrupt =
            |path: &Path, e| Error::CorruptFile { path: path.to_owned(), reason: format!("{e}") };
        loop {
            if let Some((path, records, txn)) = &mut self.records {
                match records.next() {
                    Some(Ok(r)) => {
                        return Ok(Some(Rec {
                            offset: r.offset(),
                            key: r.key().cloned(),
                            value: r.value().cloned(),
                            txn: *txn,
                        }));
                    }
                    Some(Err(e)) => return Err(corrupt(path, e)),
                    None => self.records = None,
                }
            }
            if let Some((path, batches)) = &mut self.batches {
                match batches.next() {
                    Some((_, batch)) => {
                        let txn = batch.is_transactional() || batch.is_control();
                        let records = batch.records().map_err(|e| corrupt(path, e))?;
                        self.records = Some((path.clone(), records, txn));
                    }
                    None => self.batches = None,
                }
                continue;
            }
            let Some(path) = self.files.next() else { return Ok(None) };
            let data = mapped(&path)?;
            self.batches = Some((path, BatchIter::validating(data)));
        }
    }
}

/// A key as the check remembers it: 128 bits of two independently keyed
/// hashes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct KeyHash(u64, u64);

struct Hasher(RandomState, RandomState);

impl Hasher {
    fn new() -> Self {
        Hasher(RandomState::new(), RandomState::new())
    }

    fn of(&self, key: &[u8]) -> KeyHash {
        KeyHash(self.0.hash_one(key), self.1.hash_one(key))
    }
}

/// What is wrong with the swaps `swaps` (bases) covering `[lo, hi)` of `dir`
/// whose ordinary segments are `plain` (bases, the active one last), or
/// `None`. `compact`: the log is compacted. Call only while every old
/// segment in the range is still there.
pub(super) fn check(
    dir: &Path,
    swaps: &BTreeSet<i64>,
    plain: &BTreeSet<i64>,
    (lo, hi): (i64, i64),
    compact: bool,
) -> Result<Option<String>> {
    let log = |base| dir.join(segment_file_name(base, FileKind::Log));
    // The old segments: those in the range, which finishing the swap
    // deletes, and those at a swap's base, which its rename replaces (an
    // empty swap covers no offsets but still takes its base's place).
    let old_bases: BTreeSet<i64> =
        plain.range(lo..hi).chain(swaps.iter().filter(|b| plain.contains(b))).copied().collect();
    let old_files = || old_bases.iter().map(|&b| log(b)).collect::<Vec<_>>();
    let swap_files =
        swaps.iter().map(|&b| dir.join(format!("{}{SWAP_SUFFIX}", log(b).display()))).collect();
    let hasher = Hasher::new();
    // First walk, both sides in step: every swap record is the old record at
    // its offset; every old record the swap lacks is droppable, or
    // superseded if its key comes again later (collected for the second walk:
    // key -> its highest such offset).
    let mut dropped: HashMap<KeyHash, i64> = HashMap::new();
    let mut old = RecordStream::new(old_files());
    let mut new = RecordStream::new(swap_files);
    let mut next_new = new.next_rec()?;
    let (mut prev_old, mut prev_new) = (None, None);
    while let Some(o) = old.next_rec()? {
        if let Some(p) = prev_old
            && o.offset <= p
        {
            let at = o.offset;
            return Ok(Some(format!(
                "cannot be checked: the segments it replaces hold offset {at} after {p}"
            )));
        }
        prev_old = Some(o.offset);
        if let Some(n) = next_new.as_ref().filter(|n| n.offset <= o.offset) {
            if prev_new.is_some_and(|p| n.offset <= p) || n.offset < o.offset {
                return Ok(Some(not_in_old(n.offset)));
            }
            if n.key != o.key || n.value != o.value {
                return Ok(Some(not_in_old(n.offset)));
            }
            prev_new = Some(n.offset);
            next_new = new.next_rec()?;
            continue;
        }
        // The swap lacks this record: droppable, superseded (if its key
        // comes again later), or wrong.
        if !compact {
            return Ok(Some(lacks(o.offset)));
        }
        if let (Some(key), false, false) = (&o.key, o.txn, o.value.is_none()) {
            let highest = dropped.entry(hasher.of(key)).or_insert(o.offset);
            *highest = (*highest).max(o.offset);
        }
    }
    if let Some(n) = next_new {
        return Ok(Some(not_in_old(n.offset)));
    }
    if dropped.is_empty() {
        return Ok(None);
    }
    // Second walk: the old segments again, then the later ones below the
    // active segment; a key seen above its highest dropped offset was
    // superseded.
    let active = plain.last().copied();
    let mut files = old_files();
    let later = plain.range(hi..).filter(|&&b| Some(b) != active && !old_bases.contains(&b));
    files.extend(later.map(|&b| log(b)));
    let mut all = RecordStream::new(files);
    while let Some(r) = all.next_rec()? {
        let Some(key) = &r.key else { continue };
        let h = hasher.of(key);
        if dropped.get(&h).is_some_and(|&highest| r.offset > highest) {
            dropped.remove(&h);
            if dropped.is_empty() {
                return Ok(None);
            }
        }
    }
    // A key's highest dropped record has no later occurrence: no cleaner drops it.
    let first = dropped.values().min().copied().unwrap_or(lo);
    Ok(Some(lacks(first)))
}

fn not_in_old(offset: i64) -> String {
    format!("holds a record at offset {offset} that the segments it replaces do not")
}

fn lacks(offset: i64) -> String {
    format!(
        "lacks the record at offset {offset} of the segments it replaces, which no cleaner drops"
    )
}
