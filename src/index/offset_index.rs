//! The offset index (`.index`): maps offsets to byte positions in the `.log`.
//!
//! An entry `(O, P)` says a batch starts at byte `P` and `O` is its last
//! offset; every batch before `P` ends below `O`. So the batch holding any
//! target `>= O` starts at or after `P`, which is all [`OffsetIndex::lookup`]
//! promises.

use std::path::PathBuf;

use super::common::{Checked, Entry};
use super::lazy::Core;
use crate::format::index_entry;
use crate::{Error, Result};

/// Bytes per entry (see [`crate::format::index_entry`] for the layout).
pub const ENTRY_SIZE: usize = index_entry::OFFSET_ENTRY_SIZE;

/// An offset and the byte position of the batch it ends (Kafka's
/// `OffsetPosition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OffsetPosition {
    /// Absolute offset.
    pub offset: i64,
    /// Byte position in the `.log` file (an int32 on disk, never negative in
    /// a valid index; see [`OffsetIndex::sanity_check`]).
    pub position: u32,
}

impl Entry for OffsetPosition {
    type Raw = [u8; ENTRY_SIZE];
    const SIZE: usize = ENTRY_SIZE;
    const RESERVED: usize = 0;
    const KIND: &'static str = "offset index";

    fn decode(raw: &[u8], base: i64) -> Self {
        // The fixed layouts make a short slice impossible; it would read as zeros.
        let (relative, position) = raw.try_into().map_or((0, 0), index_entry::decode_offset_entry);
        // Read as int32 BE, then kept as the same 32 bits.
        OffsetPosition {
            offset: base.saturating_add(i64::from(relative)),
            position: position.cast_unsigned(),
        }
    }

    fn encode(&self, relative_offset: i32) -> Self::Raw {
        index_entry::encode_offset_entry(relative_offset, self.position.cast_signed())
    }

    fn offset(&self) -> i64 {
        self.offset
    }
}

/// Largest position an entry can hold (an int32 on disk).
const MAX_POSITION: u32 = i32::MAX.cast_unsigned();

/// A segment's `.index`: one entry per indexed batch, strictly increasing in
/// offset and position. `Send + Sync`; see the [module docs](super).
pub struct OffsetIndex {
    core: Core<OffsetPosition>,
}

impl OffsetIndex {
    /// Creates `path` (it must not exist), preallocated to `max_index_size`
    /// rounded down to whole entries, and maps it.
    pub fn create(path: impl Into<PathBuf>, base_offset: i64, max_index_size: u64) -> Result<Self> {
        Ok(OffsetIndex { core: Core::create(path.into(), base_offset, max_index_size)? })
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
        OffsetIndex { core: Core::open(path.into(), base_offset, max_index_size, writable) }
    }

    /// Appends `(offset, position)`. Fails if the index is full, if `offset`
    /// is not above the last entry's or not within `[base, base + i32::MAX]`,
    /// or if `position` exceeds `i32::MAX`.
    pub fn append(&self, offset: i64, position: u32) -> Result<()> {
        self.core.write(|l| {
            let refuse = |why: String| {
                Err(Error::InvalidRequest(format!(
                    "offset index {}: {why}",
                    l.map.path().display()
                )))
            };
            if let Some(last) = l.last.filter(|last| offset <= last.offset) {
                return refuse(format!(
                    "offset {offset} is not above the last entry {}",
                    last.offset
                ));
            }
            if position > MAX_POSITION {
                return refuse(format!("position {position} exceeds i32::MAX"));
            }
            l.push(OffsetPosition { offset, position }, false)
        })
    }

    /// The entry with the largest offset `<= target`, or `(base_offset, 0)`
    /// if there is none.
    pub fn lookup(&self, target: i64) -> Result<OffsetPosition> {
        let found = self.core.read(|l| l.largest_le(target, |e| e.offset))?;
        Ok(found.unwrap_or(OffsetPosition { offset: self.base_offset(), position: 0 }))
    }

    /// The first entry whose position is `>= start_position + fetch_size`, to
    /// bound a fetch (Kafka's `fetchUpperBoundOffset`).
    pub fn fetch_upper_bound_offset(
        &self,
        start_position: u32,
        fetch_size: u32,
    ) -> Result<Option<OffsetPosition>> {
        let target = i64::from(start_position) + i64::from(fetch_size);
        self.core.read(|l| l.smallest_ge(target, |e| i64::from(e.position)))
    }

    /// Entry `i` (`i < entries()`).
    pub fn entry(&self, i: usize) -> Result<OffsetPosition> {
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

    /// Whether `append` would fail for lack of room (the segment rolls).
    pub fn is_full(&self) -> Result<bool> {
        self.core.is_full()
    }

    /// The last entry, or `(base_offset, 0)` when empty (Kafka's `lastEntry`).
    pub fn last_entry(&self) -> Result<OffsetPosition> {
        let last = self.core.read(|l| Ok(l.last))?;
        Ok(last.unwrap_or(OffsetPosition { offset: self.base_offset(), position: 0 }))
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

    /// Grows the file if the next entry would not fit (index rebuilds).
    pub(crate) fn grow_for_one_more(&self) -> Result<()> {
        self.core.grow_for_one_more()
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

    /// [`Error::CorruptFile`] if the length is not a multiple of 8, the last
    /// offset is below the base offset, an entry's offset is not above the
    /// previous one's, a position decreases or exceeds `i32::MAX`, or bytes
    /// after the entries are not zero.
    pub fn sanity_check(&self) -> Result<()> {
        match self.check()?.problem {
            None => Ok(()),
            Some(reason) => Err(Error::CorruptFile { path: self.path(), reason }),
        }
    }

    /// What [`Self::sanity_check`] checks, with the entry count and last
    /// entry it found (read from the file without mapping it when the
    /// index is not loaded).
    pub(crate) fn check(&self) -> Result<Checked<OffsetPosition>> {
        let base = self.base_offset();
        self.core.check(
            |i, prev, e| {
                if e.offset <= prev.offset {
                    Some(format!("slot {i}: offset {} is not above {}", e.offset, prev.offset))
                } else if e.position < prev.position || e.position > MAX_POSITION {
                    Some(format!("slot {i}: position {} follows {}", e.position, prev.position))
                } else {
                    None
                }
            },
            |first, last| {
                if last.offset < base {
                    Some(format!("last offset {} is below base offset {base}", last.offset))
                } else if first.position > MAX_POSITION {
                    Some(format!("slot 0: position {} exceeds i32::MAX", first.position))
                } else {
                    None
                }
            },
        )
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

impl std::fmt::Debug for OffsetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetIndex")
            .field("path", &self.path())
            .field("base_offset", &self.base_offset())
            .finish_non_exhaustive()
    }
}
