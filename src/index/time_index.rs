//! The time index (`.timeindex`): maps timestamps to offsets.
//!
//! An entry `(T, O)` says: the largest timestamp seen in the segment up to and
//! including the batch whose last offset is `O` is `T`, so any record with a
//! timestamp above `T` lies after `O`. Timestamps and offsets never decrease,
//! and an entry is written only when its timestamp is strictly greater than
//! the last one (an all-v0 segment, timestamps -1, has no entries).

use std::path::PathBuf;

use super::common::{Checked, Entry};
use super::lazy::Core;
use crate::format::index_entry;
use crate::{Error, Result};

/// Bytes per entry (see [`crate::format::index_entry`] for the layout).
pub const ENTRY_SIZE: usize = index_entry::TIME_ENTRY_SIZE;

/// A timestamp and an offset (Kafka's `TimestampOffset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimestampOffset {
    /// Timestamp in ms.
    pub timestamp: i64,
    /// Absolute offset.
    pub offset: i64,
}

impl Entry for TimestampOffset {
    type Raw = [u8; ENTRY_SIZE];
    const SIZE: usize = ENTRY_SIZE;
    const RESERVED: usize = 1;
    const KIND: &'static str = "time index";

    fn decode(raw: &[u8], base: i64) -> Self {
        // The fixed layouts make a short slice impossible; it would read as zeros.
        let (timestamp, relative) = raw.try_into().map_or((0, 0), index_entry::decode_time_entry);
        TimestampOffset { timestamp, offset: base.saturating_add(i64::from(relative)) }
    }

    fn encode(&self, relative_offset: i32) -> Self::Raw {
        index_entry::encode_time_entry(self.timestamp, relative_offset)
    }

    fn offset(&self) -> i64 {
        self.offset
    }
}

/// A segment's `.timeindex`. One slot is kept free so that the final entry
/// written when the segment rolls or closes always fits: the index is full at
/// `max_entries - 1` entries. `Send + Sync`; see the [module docs](super).
pub struct TimeIndex {
    core: Core<TimestampOffset>,
}

impl TimeIndex {
    /// Creates `path` (it must not exist), preallocated to `max_index_size`
    /// rounded down to whole entries, and maps it.
    pub fn create(path: impl Into<PathBuf>, base_offset: i64, max_index_size: u64) -> Result<Self> {
        Ok(TimeIndex { core: Core::create(path.into(), base_offset, max_index_size)? })
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
        TimeIndex { core: Core::open(path.into(), base_offset, max_index_size, writable) }
    }

    /// Appends `(timestamp, offset)` if `timestamp` is strictly greater than
    /// the last entry's (-1 when empty) and returns whether it did; an equal
    /// or smaller timestamp is skipped. Fails if the index is full (unless
    /// `skip_full_check`, used for the final entry at roll, which the reserved
    /// slot makes room for), if `offset` or `timestamp` is below the last
    /// entry's, or if `offset` is not within `[base, base + i32::MAX]`.
    pub fn maybe_append(&self, timestamp: i64, offset: i64, skip_full_check: bool) -> Result<bool> {
        self.core.write(|l| {
            let refuse = |why: String| {
                Err(Error::InvalidRequest(format!("time index {}: {why}", l.map.path().display())))
            };
            if !skip_full_check && l.is_full() {
                return refuse(format!("full at {} entries", l.entries));
            }
            if let Some(last) = l.last {
                if offset < last.offset {
                    return refuse(format!(
                        "offset {offset} is below the last entry {}",
                        last.offset
                    ));
                }
                if timestamp < last.timestamp {
                    let last = last.timestamp;
                    return refuse(format!("timestamp {timestamp} is below the last entry {last}"));
                }
            }
            let last_timestamp = l.last.map_or(-1, |last| last.timestamp);
            if timestamp <= last_timestamp {
                return Ok(false);
            }
            l.push(TimestampOffset { timestamp, offset }, skip_full_check)?;
            Ok(true)
        })
    }

    /// The entry with the largest timestamp `<= timestamp`, or
    /// `(-1, base_offset)` if there is none.
    pub fn lookup(&self, timestamp: i64) -> Result<TimestampOffset> {
        let found = self.core.read(|l| l.largest_le(timestamp, |e| e.timestamp))?;
        Ok(found.unwrap_or(self.empty_entry()))
    }

    fn empty_entry(&self) -> TimestampOffset {
        TimestampOffset { timestamp: -1, offset: self.base_offset() }
    }

    /// Entry `i` (`i < entries()`).
    pub fn entry(&self, i: usize) -> Result<TimestampOffset> {
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

    /// Whether `maybe_append` without `skip_full_check` would fail: at
    /// `max_entries - 1` entries, one slot being reserved for the roll entry.
    pub fn is_full(&self) -> Result<bool> {
        self.core.is_full()
    }

    /// The last entry (cached), or `(-1, base_offset)` when empty. For a
    /// closed segment its timestamp is the segment's max timestamp.
    pub fn last_entry(&self) -> Result<TimestampOffset> {
        let last = self.core.read(|l| Ok(l.last))?;
        Ok(last.unwrap_or(self.empty_entry()))
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

    /// [`Error::CorruptFile`] if the length is not a multiple of 12, the last
    /// timestamp is below the first, the last offset is below the base
    /// offset, a timestamp or offset decreases, or bytes after the entries
    /// are not zero.
    pub fn sanity_check(&self) -> Result<()> {
        match self.check()?.problem {
            None => Ok(()),
            Some(reason) => Err(Error::CorruptFile { path: self.path(), reason }),
        }
    }

    /// What [`Self::sanity_check`] checks, with the entry count and last
    /// entry it found (read from the file without mapping it when the
    /// index is not loaded).
    pub(crate) fn check(&self) -> Result<Checked<TimestampOffset>> {
        let base = self.base_offset();
        self.core.check(
            |i, prev, e| {
                if e.timestamp < prev.timestamp {
                    Some(format!("slot {i}: timestamp {} is below {}", e.timestamp, prev.timestamp))
                } else if e.offset < prev.offset {
                    Some(format!("slot {i}: offset {} is below {}", e.offset, prev.offset))
                } else {
                    None
                }
            },
            |first, last| {
                if last.timestamp < first.timestamp {
                    let (l, f) = (last.timestamp, first.timestamp);
                    Some(format!("last timestamp {l} is below the first {f}"))
                } else if last.offset < base {
                    Some(format!("last offset {} is below base offset {base}", last.offset))
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

impl std::fmt::Debug for TimeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeIndex")
            .field("path", &self.path())
            .field("base_offset", &self.base_offset())
            .finish_non_exhaustive()
    }
}
