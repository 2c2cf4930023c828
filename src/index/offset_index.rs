//! The offset index (`.index`): maps offsets to byte positions in the `.log`.
//!
//! An entry `(O, P)` says a batch starts at byte `P` and `O` is its last
//! offset; every batch before `P` ends below `O`. So the batch holding any
//! target `>= O` starts at or after `P`, which is all [`OffsetIndex::lookup`]
//! promises.

use super::common::{Entry, Loaded};
use super::handle::Index;
use super::search;
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
    const TYPE_NAME: &'static str = "OffsetIndex";

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

    fn empty(base: i64) -> Self {
        OffsetPosition { offset: base, position: 0 }
    }

    fn pair_problem(slot: usize, prev: &Self, e: &Self) -> Option<String> {
        if e.offset <= prev.offset {
            Some(format!("slot {slot}: offset {} is not above {}", e.offset, prev.offset))
        } else if e.position < prev.position || e.position > MAX_POSITION {
            Some(format!("slot {slot}: position {} follows {}", e.position, prev.position))
        } else {
            None
        }
    }

    fn whole_problem(first: &Self, last: &Self, base: i64) -> Option<String> {
        if last.offset < base {
            Some(format!("last offset {} is below base offset {base}", last.offset))
        } else if first.position > MAX_POSITION {
            Some(format!("slot 0: position {} exceeds i32::MAX", first.position))
        } else {
            None
        }
    }
}

/// Largest position an entry can hold (an int32 on disk).
const MAX_POSITION: u32 = i32::MAX.cast_unsigned();

/// [`OffsetIndex::append`]'s checks and write, on the loaded index.
fn append_to(l: &mut Loaded<OffsetPosition>, entry: OffsetPosition) -> Result<()> {
    admit(l, l.last, entry)?;
    l.push(entry, false)
}

/// [`OffsetIndex::append`]'s checks of `entry` after `last` (the index's
/// last entry, or the last a rebuild kept before it), but the room and
/// offset range that the write checks.
fn admit(
    l: &Loaded<OffsetPosition>,
    last: Option<OffsetPosition>,
    entry: OffsetPosition,
) -> Result<()> {
    let OffsetPosition { offset, position } = entry;
    let refuse = |why: String| {
        Err(Error::InvalidRequest(format!("offset index {}: {why}", l.map.path().display())))
    };
    if let Some(last) = last.filter(|last| offset <= last.offset) {
        return refuse(format!("offset {offset} is not above the last entry {}", last.offset));
    }
    if position > MAX_POSITION {
        return refuse(format!("position {position} exceeds i32::MAX"));
    }
    Ok(())
}

/// A segment's `.index`: one entry per indexed batch, strictly increasing in
/// offset and position. `Send + Sync`; see the [module docs](super).
pub type OffsetIndex = Index<OffsetPosition>;

impl Index<OffsetPosition> {
    /// Appends `(offset, position)`. Fails if the index is full, if `offset`
    /// is not above the last entry's or not within `[base, base + i32::MAX]`,
    /// or if `position` exceeds `i32::MAX`.
    pub fn append(&self, offset: i64, position: u32) -> Result<()> {
        self.core.write_entry(|l| append_to(l, OffsetPosition { offset, position }))
    }

    /// A rebuild's entries in order (recovery): each appended as by
    /// [`Self::append`] after room is made for it (the file doubled when
    /// full: a rebuild's entries always fit), under one lock. Stops at the
    /// first entry that fails.
    pub(crate) fn append_rebuilt(&self, entries: &[OffsetPosition]) -> Result<()> {
        self.core.write_rebuilt(entries, |l, last, e| admit(l, last, *e).map(|()| Some(*e)))
    }

    /// The entry with the largest offset `<= target`, or `(base_offset, 0)`
    /// if there is none.
    pub fn lookup(&self, target: i64) -> Result<OffsetPosition> {
        let found = self.core.read(|l| l.largest_le(target, |e| e.offset))?;
        Ok(found.unwrap_or_else(|| OffsetPosition::empty(self.base_offset())))
    }

    /// [`Self::lookup`], and the position of the entry after it (`None`
    /// when there is none): where the batch holding `target` most likely
    /// starts, so a read can ask for its bytes before it walks there. A
    /// guess only: the index may skip batches, or lie.
    pub fn lookup_with_next(&self, target: i64) -> Result<(OffsetPosition, Option<u32>)> {
        let found = self.core.read(|l| l.largest_le_and_next(target, |e| e.offset))?;
        Ok(match found {
            Some((entry, next)) => (entry, next.map(|n| n.position)),
            None => (OffsetPosition::empty(self.base_offset()), None),
        })
    }

    /// [`Self::lookup_with_next`], first handing `ahead` the positions the
    /// floor entry and the entry after it would have if the index's entries
    /// were evenly spaced between its first and last (one entry per batch
    /// of a steady producer, the common case: then they are the answer).
    /// Those come from the first entry and the cached last one, so a point
    /// read can ask for its batch's bytes while this lookup still waits for
    /// the entry's cache line (an index larger than the CPU caches misses
    /// there: 0.13 µs at p50 and 0.3 at p99 on `examples/point_read`). A
    /// guess only: `ahead` is not called when there is none, and the entries
    /// returned are the index's.
    pub(crate) fn lookup_with_next_ahead(
        &self,
        target: i64,
        ahead: impl FnOnce(u32, u32),
    ) -> Result<(OffsetPosition, Option<u32>)> {
        let found = self.core.read(|l| {
            if let Some(last) = l.last
                && let Some(last_slot) = l.entries.checked_sub(1)
                && let Some(first) = l.get(0)
                && let Some(g) = search::interpolate(last_slot, first.offset, last.offset, target)
                && let Some(span) = last.position.checked_sub(first.position)
            {
                // The entry's line first, then the batches: the lookup's
                // wait on it starts before theirs.
                if let Some(byte) = l.slot(g).and_then(<[u8]>::first) {
                    crate::io::hint::prefetch(byte);
                }
                // `g < last_slot`, so both fit below the last position.
                let step = u64::from(span) / last_slot as u64;
                let floor = u64::from(first.position) + g as u64 * step;
                if let (Ok(floor), Ok(next)) = (u32::try_from(floor), u32::try_from(floor + step)) {
                    ahead(floor, next);
                }
                // The guessed slot is the answer when the target falls
                // between its key and the next (`largest_le_guessed`'s
                // test): no second guess, no search.
                if let (Some(entry), Some(after)) = (l.get(g), l.get(g + 1))
                    && entry.offset <= target
                    && target < after.offset
                {
                    return Ok(Some((entry, Some(after))));
                }
            }
            l.largest_le_and_next(target, |e| e.offset)
        })?;
        Ok(match found {
            Some((entry, next)) => (entry, next.map(|n| n.position)),
            None => (OffsetPosition::empty(self.base_offset()), None),
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(dir: &std::path::Path, entries: &[(i64, u32)]) -> OffsetIndex {
        let idx = OffsetIndex::create(dir.join("00000000000000001000.index"), 1000, 1 << 16)
            .expect("create");
        for &(offset, position) in entries {
            idx.append(offset, position).expect("append");
        }
        idx
    }

    #[test]
    fn a_rebuilds_entries_grow_the_index_as_one_at_a_time_and_stop_at_the_first_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000000000001000.index");
        // Room for 8 entries; 1,300 written in one go cross the map writes'
        // 512-entry steps and double the file 8 times (8 slots to 2,048),
        // as making room for one more at a time would.
        let idx = OffsetIndex::create(path.clone(), 1000, 64).expect("create");
        let entries: Vec<OffsetPosition> = (0..1300)
            .map(|i| OffsetPosition { offset: 1000 + i * 10, position: i as u32 * 4097 })
            .collect();
        idx.append_rebuilt(&entries).expect("rebuilt");
        assert_eq!(idx.check().expect("check").entries().expect("entries"), entries);
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 2048 * 8);
        // An entry not above the one before it stops the rebuild there, the
        // entries before it written.
        let more = [
            OffsetPosition { offset: 20_000, position: 6_000_000 },
            OffsetPosition { offset: 19_000, position: 6_100_000 },
            OffsetPosition { offset: 21_000, position: 6_200_000 },
        ];
        let err = idx.append_rebuilt(&more).expect_err("out of order");
        assert!(
            err.to_string().contains("offset 19000 is not above the last entry 20000"),
            "{err}"
        );
        assert_eq!(idx.entries().expect("entries"), 1301);
        assert_eq!(idx.lookup(i64::MAX).expect("lookup"), more[0]);
    }

    #[test]
    fn an_evenly_spaced_index_is_guessed_exactly_and_the_answer_is_the_lookups() {
        let dir = tempfile::tempdir().expect("tempdir");
        // One entry per batch of 100 records, 11,736 bytes each.
        let entries: Vec<(i64, u32)> =
            (0..200).map(|i| (1099 + i * 100, i as u32 * 11_736)).collect();
        let idx = index(dir.path(), &entries);
        for target in [1099, 1100, 1234, 5_000, 20_998, 20_999] {
            let mut guessed = None;
            let got =
                idx.lookup_with_next_ahead(target, |f, n| guessed = Some((f, n))).expect("lookup");
            assert_eq!(got, idx.lookup_with_next(target).expect("lookup"), "{target}");
            let (floor, next) = got;
            assert_eq!(guessed, next.map(|n| (floor.position, n)), "{target}");
        }
        // Below the first entry and at the last: no guess.
        for target in [1000, 1098, 20_999 + 1, i64::MAX] {
            let mut called = false;
            let got = idx.lookup_with_next_ahead(target, |_, _| called = true).expect("lookup");
            assert_eq!(got, idx.lookup_with_next(target).expect("lookup"), "{target}");
            assert!(!called, "{target}");
        }
    }

    #[test]
    fn an_unevenly_spaced_index_answers_as_the_lookup_whatever_the_guess() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entries =
            [(1001, 0), (1002, 10), (1500, 20), (1501, 9_000), (3000, 9_010), (9000, 60_000)];
        let idx = index(dir.path(), &entries);
        for target in (990..9_100).step_by(7) {
            let got = idx.lookup_with_next_ahead(target, |_, _| ()).expect("lookup");
            assert_eq!(got, idx.lookup_with_next(target).expect("lookup"), "{target}");
        }
    }
}
