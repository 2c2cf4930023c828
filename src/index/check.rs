//! The sanity check of an index file (Kafka's `AbstractIndex.sanityCheck`,
//! with the order and zero-tail rules of [`Entry::pair_problem`] and
//! [`Entry::whole_problem`]), in bounded memory: the entries are counted by
//! a binary search of positional reads, and the entries and the zero tail
//! are read in chunks of [`CHUNK`] bytes that are not kept. An index file
//! costs the check the same few chunks whatever its length, so a planted
//! sparse file of gigabytes (no disk blocks) does not cost an open its
//! length in memory. The entries stay on disk: [`Checked`] reads them again
//! when asked (one binary search for a lookup, or all of them for a caller
//! that bounds their count first).

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::common::{Entry, count_entries_by};
use super::search;
use crate::Result;
use crate::io::file;
use crate::io::identity::{self, FileId};

/// The bytes a check reads at once (rounded down to whole entries).
const CHUNK: usize = 64 << 10;

/// A chunk of zeros, to compare the tail with.
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// An index file read by positional reads (`pread`: a hole reads as zeros
/// and allocates nothing, where a fault on a mapped hole of a full tmpfs is
/// a `SIGBUS`).
#[derive(Debug)]
pub(crate) struct IndexFile {
    file: File,
    path: PathBuf,
}

impl IndexFile {
    pub(crate) fn new(file: File, path: PathBuf) -> Self {
        IndexFile { file, path }
    }

    /// The file `id` names at `path` (see [`identity`]).
    pub(crate) fn reopen(path: &Path, id: FileId) -> Result<Self> {
        Ok(IndexFile { file: identity::reopen_read(path, id)?, path: path.to_owned() })
    }

    fn read(&self, buf: &mut [u8], at: usize) -> Result<()> {
        file::read_exact_at(&self.file, &self.path, buf, at as u64)
    }

    /// Entry `i` of an index based at `base`.
    fn entry<E: Entry>(&self, i: usize, base: i64) -> Result<E> {
        let mut raw = [0u8; 16];
        let slot = raw.get_mut(..E::SIZE).unwrap_or_default();
        self.read(slot, i.saturating_mul(E::SIZE))?;
        Ok(E::decode(slot, base))
    }

    /// The entries of the file's first `slots` slots ([`count_entries_by`]),
    /// reading only the slots its binary search asks about.
    pub(crate) fn count_entries<E: Entry>(&self, slots: usize) -> Result<usize> {
        let mut failed = None;
        let mut raw = [0u8; 16];
        let count = count_entries_by(slots, |i| {
            let slot = raw.get_mut(..E::SIZE).unwrap_or_default();
            match self.read(slot, i.saturating_mul(E::SIZE)) {
                Ok(()) => slot.iter().all(|&b| b == 0),
                Err(e) => {
                    failed.get_or_insert(e);
                    true
                }
            }
        });
        failed.map_or(Ok(count), Err)
    }

    /// Calls `f(at, bytes)` on the bytes `[from, to)` in chunks of whole
    /// entries, until it answers something.
    fn scan<E: Entry, R>(
        &self,
        from: usize,
        to: usize,
        mut f: impl FnMut(usize, &[u8]) -> Option<R>,
    ) -> Result<Option<R>> {
        let mut buf = vec![0u8; (CHUNK / E::SIZE).max(1) * E::SIZE];
        let mut at = from;
        while at < to {
            let n = buf.len().min(to - at);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.read(chunk, at)?;
            if let Some(found) = f(at, chunk) {
                return Ok(Some(found));
            }
            at += n;
        }
        Ok(None)
    }
}

/// What checking an index file found: its entries (counted as
/// [`count_entries_by`] does), the last one, and what is wrong with it, if
/// anything. Its lookups read the file again, without the index's lock:
/// the callers check at open or before a rebuild, when nothing writes it.
#[derive(Debug)]
pub(crate) struct Checked<E> {
    /// The last entry.
    pub last: Option<E>,
    /// The first broken rule, if any.
    pub problem: Option<String>,
    count: usize,
    base: i64,
    /// The file checked, to read the entries again; `None` when none was read.
    file: Option<IndexFile>,
}

impl<E: Entry> Checked<E> {
    /// What a check that read no entries found: `problem`.
    pub(crate) fn refused(base: i64, problem: String) -> Self {
        Checked { last: None, problem: Some(problem), count: 0, base, file: None }
    }

    /// How many entries were checked.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The entries checked, in file order, read again from the file (the
    /// caller bounds [`Self::count`] first: they are all kept in memory).
    pub(crate) fn entries(&self) -> Result<Vec<E>> {
        let Some(f) = &self.file else { return Ok(Vec::new()) };
        let mut out = Vec::with_capacity(self.count);
        f.scan::<E, ()>(0, self.count * E::SIZE, |_, bytes| {
            out.extend(bytes.chunks_exact(E::SIZE).map(|raw| E::decode(raw, self.base)));
            None
        })?;
        Ok(out)
    }

    /// The entry with the largest `key <= target` among those checked (keys
    /// in order when there is no `problem`; otherwise some entry at most),
    /// by a binary search reading the slots it asks about.
    pub(crate) fn largest_le(&self, target: i64, key: impl Fn(&E) -> i64) -> Result<Option<E>> {
        let Some(f) = &self.file else { return Ok(None) };
        let failed = RefCell::new(None);
        let key_of = |i: usize| match f.entry::<E>(i, self.base) {
            Ok(e) => key(&e),
            Err(e) => {
                failed.borrow_mut().get_or_insert(e);
                i64::MAX
            }
        };
        let found = search::largest_le(self.count, search::warm_entries(E::SIZE), target, key_of);
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        found.map(|i| f.entry(i, self.base)).transpose()
    }
}

/// Checks the index file `f` of `len` bytes (of an index whose base offset
/// is `base`): the length is whole entries, `whole(first, last)` and
/// `pair(slot, previous, entry)` find nothing wrong, and the bytes after the
/// entries are zero. The first broken rule, in that order, is the problem.
pub(crate) fn check_file<E: Entry>(
    f: IndexFile,
    len: usize,
    base: i64,
    pair: impl Fn(usize, &E, &E) -> Option<String>,
    whole: impl Fn(&E, &E) -> Option<String>,
) -> Result<Checked<E>> {
    let count = f.count_entries::<E>(len / E::SIZE)?;
    let last = count.checked_sub(1).map(|i| f.entry::<E>(i, base)).transpose()?;
    let problem = find_problem(&f, len, count, last.as_ref(), base, pair, whole)?;
    Ok(Checked { last, problem, count, base, file: Some(f) })
}

fn find_problem<E: Entry>(
    f: &IndexFile,
    len: usize,
    count: usize,
    last: Option<&E>,
    base: i64,
    pair: impl Fn(usize, &E, &E) -> Option<String>,
    whole: impl Fn(&E, &E) -> Option<String>,
) -> Result<Option<String>> {
    if !len.is_multiple_of(E::SIZE) {
        return Ok(Some(format!("length {len} is not a multiple of {}", E::SIZE)));
    }
    if let Some(last) = last {
        let first = f.entry::<E>(0, base)?;
        if let Some(reason) = whole(&first, last) {
            return Ok(Some(reason));
        }
    }
    let end = count * E::SIZE;
    let mut prev = None;
    let broken = f.scan::<E, String>(0, end, |at, bytes| {
        for (k, raw) in bytes.chunks_exact(E::SIZE).enumerate() {
            let (slot, e) = (at / E::SIZE + k, E::decode(raw, base));
            if let Some(reason) = prev.as_ref().and_then(|p| pair(slot, p, &e)) {
                return Some(reason);
            }
            prev = Some(e);
        }
        None
    })?;
    if broken.is_some() {
        return Ok(broken);
    }
    f.scan::<E, String>(end, len, |at, bytes| {
        // A `memcmp` first: a tail is zeros but for damage.
        if ZEROS.get(..bytes.len()) == Some(bytes) {
            return None;
        }
        let nonzero = bytes.iter().position(|&b| b != 0)?;
        Some(format!("non-zero byte at {}, after {count} entries", at + nonzero))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{CHUNK, IndexFile, check_file};
    use crate::index::common::{Entry, count_entries_by};
    use crate::index::{OffsetPosition, TimestampOffset};

    /// The check as it was before it streamed: the whole file in memory.
    fn whole_read<E: Entry>(bytes: &[u8], base: i64) -> (usize, Option<E>, Option<String>) {
        let slot = |i: usize| bytes.get(i * E::SIZE..(i + 1) * E::SIZE);
        let zero = |i: usize| slot(i).is_none_or(|raw| raw.iter().all(|&b| b == 0));
        let entries = count_entries_by(bytes.len() / E::SIZE, zero);
        let entry = |i: usize| slot(i).map(|raw| E::decode(raw, base));
        let last = entries.checked_sub(1).and_then(entry);
        let problem = (|| {
            if !bytes.len().is_multiple_of(E::SIZE) {
                return Some(format!("length {} is not a multiple of {}", bytes.len(), E::SIZE));
            }
            if let (Some(first), Some(last)) = (entry(0), last)
                && entries > 0
                && let Some(reason) = E::whole_problem(&first, &last, base)
            {
                return Some(reason);
            }
            let mut prev = entry(0)?;
            for i in 1..entries {
                let e = entry(i)?;
                if let Some(reason) = E::pair_problem(i, &prev, &e) {
                    return Some(reason);
                }
                prev = e;
            }
            let from = entries * E::SIZE;
            let at = bytes.get(from..)?.iter().position(|&b| b != 0)?;
            Some(format!("non-zero byte at {}, after {entries} entries", from + at))
        })();
        (entries, last, problem)
    }

    /// An index of `n` entries made by `make(i)`, then `zeros` zero slots,
    /// then `extra` stray bytes, with byte `flip.0` (modulo the length)
    /// xored with `flip.1` when given.
    fn file_bytes<E: Entry>(
        n: usize,
        make: impl Fn(usize) -> E,
        base: i64,
        (zeros, extra): (usize, usize),
        flip: Option<(usize, u8)>,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        for i in 0..n {
            let e = make(i);
            let rel = i32::try_from(e.offset() - base).unwrap_or(i32::MAX);
            bytes.extend_from_slice(e.encode(rel).as_ref());
        }
        bytes.resize(bytes.len() + zeros * E::SIZE + extra, 0);
        if let Some((at, x)) = flip
            && !bytes.is_empty()
        {
            let len = bytes.len();
            bytes[at % len] ^= x;
        }
        bytes
    }

    /// The streamed check of `bytes` agrees with [`whole_read`], and its
    /// lookups with the entries' bytes.
    fn agrees<E: Entry + PartialEq>(bytes: &[u8], base: i64, targets: &[i64], key: fn(&E) -> i64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        std::fs::write(&path, bytes).unwrap();
        let f = IndexFile::new(std::fs::File::open(&path).unwrap(), path.clone());
        let checked = check_file::<E>(f, bytes.len(), base, E::pair_problem, |first, last| {
            E::whole_problem(first, last, base)
        })
        .unwrap();
        let (count, last, problem) = whole_read::<E>(bytes, base);
        assert_eq!(checked.count(), count);
        assert_eq!(checked.last, last);
        assert_eq!(checked.problem, problem);
        let entries = checked.entries().unwrap();
        let want: Vec<E> =
            bytes.chunks_exact(E::SIZE).take(count).map(|raw| E::decode(raw, base)).collect();
        assert!(entries == want, "entries differ");
        if problem.is_none() {
            for &t in targets {
                let linear = want.iter().rev().find(|e| key(e) <= t).copied();
                assert!(checked.largest_le(t, key).unwrap() == linear, "largest_le({t})");
            }
        }
    }

    /// Entries across several chunks, so that pairs and the tail's first
    /// non-zero byte straddle chunk boundaries.
    const MANY: usize = 3 * CHUNK / 8;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn the_streamed_offset_index_check_finds_what_a_whole_read_found(
            n in prop_oneof![0..4usize, MANY - 8..MANY + 8],
            zeros in prop_oneof![0..4usize, 0..MANY],
            extra in prop_oneof![Just(0usize), 1..8usize],
            flip in proptest::option::of((any::<usize>(), 1..=255u8)),
            targets in proptest::collection::vec(990i64..1000 + 3 * MANY as i64, 4),
        ) {
            let base = 1000;
            let make = |i: usize| OffsetPosition {
                offset: base + 3 * i as i64,
                position: u32::try_from(i * 70).unwrap(),
            };
            let bytes = file_bytes(n, make, base, (zeros, extra), flip);
            agrees::<OffsetPosition>(&bytes, base, &targets, |e| e.offset);
        }

        #[test]
        fn the_streamed_time_index_check_finds_what_a_whole_read_found(
            n in prop_oneof![0..4usize, MANY - 8..MANY + 8],
            zeros in prop_oneof![0..4usize, 0..MANY],
            extra in prop_oneof![Just(0usize), 1..12usize],
            flip in proptest::option::of((any::<usize>(), 1..=255u8)),
            targets in proptest::collection::vec(0i64..20 * MANY as i64, 4),
        ) {
            let base = 50;
            let make = |i: usize| TimestampOffset {
                timestamp: 7 * i as i64 + (i % 3) as i64,
                offset: base + 2 * i as i64,
            };
            let bytes = file_bytes(n, make, base, (zeros, extra), flip);
            agrees::<TimestampOffset>(&bytes, base, &targets, |e| e.timestamp);
        }
    }
}
