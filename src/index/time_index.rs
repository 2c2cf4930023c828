//! The time index (`.timeindex`): maps timestamps to offsets.
//!
//! An entry `(T, O)` says: the largest timestamp seen in the segment up to and
//! including the batch whose last offset is `O` is `T`, so any record with a
//! timestamp above `T` lies after `O`. Timestamps and offsets never decrease,
//! and an entry is written only when its timestamp is strictly greater than
//! the last one (an all-v0 segment, timestamps -1, has no entries).

use super::common::{Entry, Loaded};
use super::handle::Index;
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
    const TYPE_NAME: &'static str = "TimeIndex";

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

    fn empty(base: i64) -> Self {
        TimestampOffset { timestamp: -1, offset: base }
    }

    fn pair_problem(slot: usize, prev: &Self, e: &Self) -> Option<String> {
        if e.timestamp < prev.timestamp {
            Some(format!("slot {slot}: timestamp {} is below {}", e.timestamp, prev.timestamp))
        } else if e.offset < prev.offset {
            Some(format!("slot {slot}: offset {} is below {}", e.offset, prev.offset))
        } else {
            None
        }
    }

    fn whole_problem(first: &Self, last: &Self, base: i64) -> Option<String> {
        if last.timestamp < first.timestamp {
            let (l, f) = (last.timestamp, first.timestamp);
            Some(format!("last timestamp {l} is below the first {f}"))
        } else if last.offset < base {
            Some(format!("last offset {} is below base offset {base}", last.offset))
        } else {
            None
        }
    }
}

/// A segment's `.timeindex`. One slot is kept free so that the final entry
/// written when the segment rolls or closes always fits: the index is full at
/// `max_entries - 1` entries. `Send + Sync`; see the [module docs](super).
pub type TimeIndex = Index<TimestampOffset>;

impl Index<TimestampOffset> {
    /// Appends `(timestamp, offset)` if `timestamp` is strictly greater than
    /// the last entry's (-1 when empty) and returns whether it did; an equal
    /// or smaller timestamp is skipped. Fails if the index is full (unless
    /// `skip_full_check`, used for the final entry at roll, which the reserved
    /// slot makes room for), if `offset` or `timestamp` is below the last
    /// entry's, or if `offset` is not within `[base, base + i32::MAX]`.
    pub fn maybe_append(&self, timestamp: i64, offset: i64, skip_full_check: bool) -> Result<bool> {
        let entry = TimestampOffset { timestamp, offset };
        self.core.write_entry(|l| maybe_append_to(l, entry, skip_full_check))
    }

    /// A rebuild's candidate entries in order (recovery): each offered as
    /// to [`Self::maybe_append`] (full check included) after room for one
    /// more is made (the file doubled when full), under one lock. Stops at the
    /// first that fails.
    pub(crate) fn maybe_append_rebuilt(&self, entries: &[TimestampOffset]) -> Result<()> {
        self.core.write_rebuilt(entries, |l, last, e| Ok(admit(l, last, *e)?.then_some(*e)))
    }

    /// The entry with the largest timestamp `<= timestamp`, or
    /// `(-1, base_offset)` if there is none.
    pub fn lookup(&self, timestamp: i64) -> Result<TimestampOffset> {
        let found = self.core.read(|l| l.largest_le(timestamp, |e| e.timestamp))?;
        Ok(found.unwrap_or_else(|| TimestampOffset::empty(self.base_offset())))
    }
}

/// [`TimeIndex::maybe_append`]'s checks and write, on the loaded index.
fn maybe_append_to(
    l: &mut Loaded<TimestampOffset>,
    entry: TimestampOffset,
    skip_full_check: bool,
) -> Result<bool> {
    if !skip_full_check && l.is_full() {
        let path = l.map.path().display();
        return Err(Error::InvalidRequest(format!(
            "time index {path}: full at {} entries",
            l.entries
        )));
    }
    if !admit(l, l.last, entry)? {
        return Ok(false);
    }
    l.push(entry, skip_full_check)?;
    Ok(true)
}

/// [`TimeIndex::maybe_append`]'s order checks of `entry` after `last` (the
/// index's last entry, or the last a rebuild kept before it): whether it is
/// written (its timestamp above the last one's, -1 when none), or the
/// refusal. The room and offset range are the write's to check.
fn admit(
    l: &Loaded<TimestampOffset>,
    last: Option<TimestampOffset>,
    entry: TimestampOffset,
) -> Result<bool> {
    let TimestampOffset { timestamp, offset } = entry;
    let refuse = |why: String| {
        Err(Error::InvalidRequest(format!("time index {}: {why}", l.map.path().display())))
    };
    if let Some(last) = last {
        if offset < last.offset {
            return refuse(format!("offset {offset} is below the last entry {}", last.offset));
        }
        if timestamp < last.timestamp {
            let last = last.timestamp;
            return refuse(format!("timestamp {timestamp} is below the last entry {last}"));
        }
    }
    Ok(timestamp > last.map_or(-1, |last| last.timestamp))
}
