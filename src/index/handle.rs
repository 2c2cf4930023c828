//! The handle both index files are used through: [`Index<E>`] is an
//! [`OffsetIndex`](super::OffsetIndex) or a [`TimeIndex`](super::TimeIndex)
//! by its entry type. Everything here is the same for both (Kafka's
//! `AbstractIndex`); what differs (appending, looking up, what makes an entry
//! wrong) lives with each entry type.

use std::path::PathBuf;

use super::check::Checked;
use super::common::Entry;
use super::lazy::Core;
use crate::{Error, Result};

/// A segment's index file of entries `E`. `Send + Sync`; see the
/// [module docs](super).
pub struct Index<E: Entry> {
    pub(super) core: Core<E>,
}

impl<E: Entry> Index<E> {
    /// Creates `path` (it must not exist), preallocated to `max_index_size`
    /// rounded down to whole entries, and maps it.
    pub fn create(path: impl Into<PathBuf>, base_offset: i64, max_index_size: u64) -> Result<Self> {
        Ok(Index { core: Core::create(path.into(), base_offset, max_index_size)? })
    }

    /// An index over an existing file, opened lazily: nothing is read or
    /// mapped until first use. If the file is missing then, a writable index
    /// creates it preallocated (as Kafka does) and a read-only one fails.
    pub fn open(
        path: impl Into<PathBuf>,
        base_offset: i64,
        max_index_size: u64,
        writable: bool,
    ) -> Self {
        Index { core: Core::open(path.into(), base_offset, max_index_size, writable) }
    }

    /// Entry `i` (`i < entries()`).
    pub fn entry(&self, i: usize) -> Result<E> {
        self.core.read(|l| l.entry(i))
    }

    /// Number of entries.
    pub fn entries(&self) -> Result<usize> {
        self.core.read(|l| Ok(l.entries))
    }

    /// Slots the current mapping has room for.
    pub fn max_entries(&self) -> Result<usize> {
        self.core.read(|l| Ok(l.max_entries()))
    }

    /// Whether an append would fail for lack of room (the segment rolls).
    /// The time index keeps one slot free for the entry written at a roll,
    /// so it is full at `max_entries - 1` entries.
    pub fn is_full(&self) -> Result<bool> {
        self.core.is_full()
    }

    /// The last entry (cached), or the empty index's entry: `(base_offset, 0)`
    /// for the offset index (Kafka's `lastEntry`), `(-1, base_offset)` for the
    /// time index. For a closed segment the time index's last timestamp is
    /// the segment's max timestamp.
    pub fn last_entry(&self) -> Result<E> {
        let last = self.core.read(|l| Ok(l.last))?;
        Ok(last.unwrap_or_else(|| E::empty(self.base_offset())))
    }

    /// Drops the entries with offset `>= offset`.
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        self.core.truncate_to(offset)
    }

    /// Sets the file length to `new_size` rounded down to whole entries and
    /// remaps, keeping the entries that fit. Returns whether it changed.
    pub fn resize(&self, new_size: u64) -> Result<bool> {
        self.core.resize(new_size)
    }

    /// Like [`Self::resize`], but never below the entries plus the reserved
    /// slot(s): an existing segment reopened for appends keeps its entries.
    pub(crate) fn resize_keeping_entries(&self, new_size: u64) -> Result<bool> {
        self.core.resize_keeping_entries(new_size)
    }

    /// Gives disk blocks to the slots of the next `extra` entries (and the
    /// reserved ones), so writing them cannot meet a full disk.
    pub(crate) fn reserve(&self, extra: usize) -> Result<()> {
        self.core.reserve(extra)
    }

    /// Cuts the file to exactly its entries (on roll and close).
    pub fn trim_to_valid_size(&self) -> Result<()> {
        self.core.trim_to_valid_size()
    }

    /// Drops every entry and preallocates the file again (recovery).
    pub fn reset(&self) -> Result<()> {
        self.core.reset()
    }

    /// Makes written entries durable (`msync`).
    pub fn flush(&self) -> Result<()> {
        self.core.flush()
    }

    /// Trims the file, then unmaps it.
    pub fn close_and_trim(&self) -> Result<()> {
        self.trim_to_valid_size()?;
        self.release();
        Ok(())
    }

    /// [`Error::CorruptFile`] if the length is not whole entries, an entry
    /// breaks its type's order (the offset index: offsets strictly rising,
    /// positions not falling and within `i32::MAX`; the time index:
    /// timestamps and offsets not falling), the last offset is below the
    /// base offset, or bytes after the entries are not zero.
    pub fn sanity_check(&self) -> Result<()> {
        match self.check()?.problem {
            None => Ok(()),
            Some(reason) => Err(Error::CorruptFile { path: self.path(), reason }),
        }
    }

    /// What [`Self::sanity_check`] checks, with the entry count and last
    /// entry it found (read from the file without mapping it when the
    /// index is not loaded).
    pub(crate) fn check(&self) -> Result<Checked<E>> {
        let base = self.base_offset();
        self.core.check(E::pair_problem, |first, last| E::whole_problem(first, last, base))
    }

    /// Unmaps the file until next use (bounded maps for sealed segments).
    pub fn release(&self) {
        self.core.release();
    }

    /// Unmaps the file for good: later uses fail with [`crate::Error::Closed`]
    /// and the file is never opened, renamed or removed through this index again.
    pub fn close(&self) {
        self.core.close();
    }

    /// Counts this index's maps in its segment's share of the budget.
    pub(crate) fn set_account(&self, account: std::sync::Arc<crate::segment::budget::Account>) {
        self.core.set_account(account);
    }

    /// Unmaps unless in use right now (eviction never waits).
    pub(crate) fn try_release(&self) -> bool {
        self.core.try_release()
    }

    /// Whether the file is currently mapped.
    pub fn is_loaded(&self) -> bool {
        self.core.is_loaded()
    }

    /// Renames the file (`.deleted`, `.swap`, ...). The rename is durable once
    /// the caller fsyncs the directory (a segment does so once for all its files).
    pub fn rename_to(&self, new_path: impl Into<PathBuf>) -> Result<()> {
        self.core.rename_to(new_path.into())
    }

    /// Unmaps and removes the file; returns whether it existed.
    pub fn delete(&self) -> Result<bool> {
        self.core.delete()
    }

    /// The file's current path.
    pub fn path(&self) -> PathBuf {
        self.core.path()
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.core.base_offset()
    }

    /// The size a new or reset file is preallocated to (before rounding).
    pub fn max_index_size(&self) -> u64 {
        self.core.max_index_size()
    }
}

impl<E: Entry> std::fmt::Debug for Index<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(E::TYPE_NAME)
            .field("path", &self.path())
            .field("base_offset", &self.base_offset())
            .finish_non_exhaustive()
    }
}
