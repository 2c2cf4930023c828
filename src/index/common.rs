//! What both indexes share (Kafka's `AbstractIndex`): the entry codec trait
//! and a mapped index with its entry count, searches, append and truncation.
//! The lazy, locked wrapper around it is [`super::lazy::Core`].

use super::search;
use crate::io::IndexMap;
use crate::{Error, Result};

/// One fixed-size index entry.
pub trait Entry: Copy + std::fmt::Debug + Send + Sync + 'static {
    /// Encoded bytes of one entry (`[u8; SIZE]`).
    type Raw: AsRef<[u8]>;
    /// Bytes per entry.
    const SIZE: usize;
    /// Slots kept free for a final entry: `is_full` at `max_entries - RESERVED`.
    const RESERVED: usize;
    /// `"offset index"` or `"time index"`, for messages.
    const KIND: &'static str;
    /// The index type's name, for `Debug`.
    const TYPE_NAME: &'static str;
    /// Decodes `raw` (`SIZE` bytes) of an index whose base offset is `base`.
    fn decode(raw: &[u8], base: i64) -> Self;
    /// Encodes the entry with its offset already made relative.
    fn encode(&self, relative_offset: i32) -> Self::Raw;
    /// The absolute offset of the entry.
    fn offset(&self) -> i64;
    /// What an empty index of a segment based at `base` reports as its last entry.
    fn empty(base: i64) -> Self;
    /// What is wrong with `entry` in slot `slot` after `prev`, if anything.
    fn pair_problem(slot: usize, prev: &Self, entry: &Self) -> Option<String>;
    /// What is wrong with an index running from `first` to `last` in a
    /// segment based at `base`, if anything.
    fn whole_problem(first: &Self, last: &Self, base: i64) -> Option<String>;
}

/// `offset - base` if it fits an entry's int32 `[0, i32::MAX]`.
pub fn relative_offset(base_offset: i64, offset: i64) -> Option<i32> {
    offset.checked_sub(base_offset).and_then(|rel| i32::try_from(rel).ok()).filter(|&r| r >= 0)
}

/// `n` rounded down to a multiple of `size` (Kafka's `roundDownToExactMultiple`).
pub(crate) fn round_down(n: u64, size: usize) -> u64 {
    let size = size as u64;
    n - n % size
}

/// A mapped index: the map, how many slots hold entries, and the last one.
pub(crate) struct Loaded<E> {
    pub(crate) map: IndexMap,
    pub(crate) entries: usize,
    pub(crate) last: Option<E>,
    pub(crate) base: i64,
}

impl<E: Entry> Loaded<E> {
    pub(crate) fn slot(&self, i: usize) -> Option<&[u8]> {
        let start = i.checked_mul(E::SIZE)?;
        self.map.as_slice().get(start..start.checked_add(E::SIZE)?)
    }

    /// Slots the mapping has room for.
    pub(crate) fn max_entries(&self) -> usize {
        self.map.len() / E::SIZE
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries >= self.max_entries().saturating_sub(E::RESERVED)
    }

    /// Entry `i`, which the caller keeps below `entries`.
    pub(crate) fn entry(&self, i: usize) -> Result<E> {
        match self.slot(i).filter(|_| i < self.entries) {
            Some(raw) => Ok(E::decode(raw, self.base)),
            None => Err(Error::InvalidRequest(format!(
                "{} {}: entry {i} requested of {}",
                E::KIND,
                self.map.path().display(),
                self.entries
            ))),
        }
    }

    /// Entry `i` when `i < entries`: [`Self::entry`] without building an
    /// error (a point read's guessed slots, checked as they are used).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<E> {
        self.slot(i).filter(|_| i < self.entries).map(|raw| E::decode(raw, self.base))
    }

    /// Key of entry `i` for the searches (`i < entries`, so always present).
    pub(crate) fn key(&self, i: usize, key: &impl Fn(&E) -> i64) -> i64 {
        self.slot(i).map_or(i64::MAX, |raw| key(&E::decode(raw, self.base)))
    }

    /// The entry with the largest `key <= target`.
    pub(crate) fn largest_le(&self, target: i64, key: impl Fn(&E) -> i64) -> Result<Option<E>> {
        let warm = search::warm_entries(E::SIZE);
        let slot = search::largest_le(self.entries, warm, target, |i| self.key(i, &key));
        slot.map(|i| self.entry(i)).transpose()
    }

    /// [`Self::largest_le`] (by [`search::largest_le_guessed`]: a point
    /// read's lookup), and the entry after it if there is one.
    pub(crate) fn largest_le_and_next(
        &self,
        target: i64,
        key: impl Fn(&E) -> i64,
    ) -> Result<Option<(E, Option<E>)>> {
        let warm = search::warm_entries(E::SIZE);
        let found = search::largest_le_guessed(self.entries, warm, target, |i| self.key(i, &key));
        let Some(i) = found else {
            return Ok(None);
        };
        let next = (i + 1 < self.entries).then(|| self.entry(i + 1)).transpose()?;
        Ok(Some((self.entry(i)?, next)))
    }

    /// The entry with the smallest `key >= target`.
    pub(crate) fn smallest_ge(&self, target: i64, key: impl Fn(&E) -> i64) -> Result<Option<E>> {
        let warm = search::warm_entries(E::SIZE);
        let slot = search::smallest_ge(self.entries, warm, target, |i| self.key(i, &key));
        slot.map(|i| self.entry(i)).transpose()
    }

    /// Writes `entry` into the next slot. The caller checked ordering.
    pub(crate) fn push(&mut self, entry: E, skip_full_check: bool) -> Result<()> {
        let path = self.map.path();
        let refuse =
            |why: String| Err(Error::InvalidRequest(format!("{why} ({})", path.display())));
        if (!skip_full_check && self.is_full()) || self.entries >= self.max_entries() {
            return refuse(format!("{} is full at {} entries", E::KIND, self.entries));
        }
        let Some(rel) = relative_offset(self.base, entry.offset()) else {
            let offset = entry.offset();
            return refuse(format!("offset {offset} is not within i32 of base {}", self.base));
        };
        self.map.write_at(self.entries * E::SIZE, entry.encode(rel).as_ref())?;
        self.entries += 1;
        self.last = Some(entry);
        Ok(())
    }

    /// Writes `entries` into the next slots as [`Self::push`] writes each
    /// (the caller checked their order), encoded into a buffer and copied
    /// into the map a few thousand bytes at a time instead of one map write
    /// per entry. Stops at the first entry `push` would refuse (no slot left
    /// but the reserved ones, an offset out of the base's reach) after
    /// writing the ones before it.
    pub(crate) fn push_all(&mut self, entries: &[E]) -> Result<()> {
        const STAGE: usize = 4096;
        let per_stage = (STAGE / E::SIZE).max(1);
        let mut buf = [0u8; STAGE];
        for chunk in entries.chunks(per_stage) {
            let room = self.max_entries().saturating_sub(E::RESERVED).saturating_sub(self.entries);
            let mut n = 0;
            let mut refused = None;
            for entry in chunk {
                if n >= room {
                    refused = Some(format!("{} is full at {} entries", E::KIND, self.entries + n));
                    break;
                }
                let Some(rel) = relative_offset(self.base, entry.offset()) else {
                    let offset = entry.offset();
                    refused =
                        Some(format!("offset {offset} is not within i32 of base {}", self.base));
                    break;
                };
                let raw = entry.encode(rel);
                if let Some(dst) = buf.get_mut(n * E::SIZE..(n + 1) * E::SIZE) {
                    dst.copy_from_slice(raw.as_ref());
                }
                n += 1;
            }
            if n > 0 {
                let bytes = buf.get(..n * E::SIZE).unwrap_or_default();
                self.map.write_at(self.entries * E::SIZE, bytes)?;
                self.entries += n;
                self.last = chunk.get(n - 1).copied();
            }
            if let Some(why) = refused {
                let path = self.map.path().display();
                return Err(Error::InvalidRequest(format!("{why} ({path})")));
            }
        }
        Ok(())
    }

    /// Keeps the first `n` entries and zeroes the slots of the dropped ones,
    /// so that an untrimmed file never shows them again on reopen.
    pub(crate) fn truncate_to_entries(&mut self, n: usize) -> Result<()> {
        if n >= self.entries {
            return Ok(());
        }
        let zeros = vec![0; (self.entries - n) * E::SIZE];
        self.map.write_at(n * E::SIZE, &zeros)?;
        self.entries = n;
        self.last = n.checked_sub(1).map(|i| self.entry(i)).transpose()?;
        Ok(())
    }
}

/// Counts the entries of an index of `n` slots as found on disk, `zero(i)`
/// telling whether slot `i` is all zeros: slots up to the first all-zero one
/// (the preallocated tail of an index that was never trimmed), where slot 0
/// may be all-zero only if slot 1 is not (the rule of
/// `tools/kafka_verify.py`). Entries precede zeros in a well-formed file, so
/// a binary search finds the boundary, and the slots it asks about are the
/// only ones read; a zero slot among entries is left for the check
/// ([`super::check::check_file`]) to report.
pub(crate) fn count_entries_by(n: usize, mut zero: impl FnMut(usize) -> bool) -> usize {
    if n == 0 || !zero(n - 1) {
        return n;
    }
    let mut lo = 0;
    if zero(0) {
        if n == 1 || zero(1) {
            return 0;
        }
        lo = 1;
    }
    // First zero slot in (lo, n - 1]: slot lo is an entry, slot n - 1 zero.
    let mut hi = n - 1;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if zero(mid) { hi = mid } else { lo = mid }
    }
    hi
}
