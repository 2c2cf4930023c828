//! The append side of a segment: writing a validated batch (and, for a
//! client batch, the bytes ahead of it) at the end of the `.log`, the index
//! entries `index.interval.bytes` calls for, and the roll check's question
//! whether either index is full.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::format::{BatchView, NO_TIMESTAMP};
use crate::index::cadence::EntryCadence;
use crate::io::file;
use crate::{Error, Result};

use super::Segment;

/// A `.log` shorter than this is not given blocks ahead of its writes: the
/// many small logs (a store's quiet partitions, tests) keep the file system's
/// own allocation and no block past their end.
const PREALLOCATE_FROM: u64 = 256 << 10;

/// The most a `.log` is given ahead of its end at once.
const PREALLOCATE_STEP: u64 = 1 << 20;

impl Segment {
    /// Appends one validated batch whose offsets are final. Called only by the
    /// appender, under the log's append lock.
    pub(crate) fn append(&self, batch: &BatchView) -> Result<()> {
        self.append_with_head(batch, None)
    }

    /// [`append`](Self::append), writing `head` in place of the batch's first
    /// `head.len()` bytes (an append's assigned base offset and epoch, ahead
    /// of a client's bytes left as they came), in the same single write.
    pub(crate) fn append_with_head(&self, batch: &BatchView, head: Option<&[u8]>) -> Result<()> {
        let position = self.len();
        let bytes = batch.as_bytes();
        let end = position + bytes.len() as u64;
        let write = |f: &std::fs::File, path: &Path| {
            self.allocate_ahead(f, path, position, end);
            match head {
                Some(head) => file::write_all_at_split(
                    f,
                    path,
                    head,
                    bytes.get(head.len()..).unwrap_or_default(),
                    position,
                ),
                None => file::write_all_at(f, path, bytes, position),
            }
        };
        // The write happens before the state lock: time queries never wait on it.
        self.with_file(|f, path| match write(f, path) {
            // A full disk may have taken part of the batch: cut back to the last
            // whole one, so the partition stays usable once space is freed.
            Err(Error::Io { source, .. }) if file::is_no_space(&source) => {
                // (which also frees any blocks given ahead of it)
                self.allocated.store(position, Ordering::Relaxed);
                file::set_len(f, path, position)?;
                Err(Error::io("write", path, source).into_no_space())
            }
            other => other,
        })?;
        let mut st = self.state.lock();
        if st.max_timestamp.is_none() {
            st.max_timestamp = Some(self.initial_max_timestamp()?);
        }
        if position == 0 {
            st.rolling_base_timestamp = Some(batch.max_timestamp());
        }
        let (max_ts, _) = st.max_timestamp.unwrap_or((NO_TIMESTAMP, self.base_offset));
        if batch.max_timestamp() > max_ts {
            st.max_timestamp = Some((batch.max_timestamp(), batch.last_offset()));
        }
        let mut cadence = match st.index_cadence {
            Some(c) => c,
            None => self.cadence_from_index()?,
        };
        if cadence.due_at(position, self.limits.index_interval_bytes) {
            let pos = u32::try_from(position)
                .map_err(|_| Error::InvalidRequest("segment position exceeds i32".into()))?;
            self.offset_index.append(batch.last_offset(), pos)?;
            let (ts, off) = st.max_timestamp.unwrap_or((NO_TIMESTAMP, self.base_offset));
            self.time_index.maybe_append(ts, off, false)?;
            cadence.batch_at(position, self.limits.index_interval_bytes);
        }
        st.index_cadence = Some(cadence);
        drop(st);
        // Readers map what they need on their first read past the map.
        self.len.store(end, Ordering::Release);
        Ok(())
    }

    /// Gives the `.log` blocks for a write of `[position, end)` and past it,
    /// when the blocks given before end short of `end`: as many bytes again
    /// as the segment holds, at most [`PREALLOCATE_STEP`], never past
    /// `segment.bytes` (`fallocate` with `FALLOC_FL_KEEP_SIZE`). A buffered
    /// `pwrite` into blocks the file already has skips the file system's
    /// per-write block reservation (ext4's delayed allocation): about 15%
    /// of the kernel's CPU for an 11.7 KB write here. The file's length,
    /// and so every read, recovery and checker, sees only what was written;
    /// [`Segment::seal`] gives back what the segment did not use.
    ///
    /// Advice only: where it fails (a full disk, a file system without
    /// `fallocate`), the write allocates its own blocks as it always did,
    /// and the next step tries again.
    fn allocate_ahead(&self, f: &std::fs::File, path: &Path, position: u64, end: u64) {
        let ahead = self.allocated.load(Ordering::Relaxed);
        if end <= ahead || end < PREALLOCATE_FROM {
            return;
        }
        let to = end.saturating_add(end.min(PREALLOCATE_STEP)).min(self.limits.segment_bytes);
        if to > end {
            // Ignored on failure (see above); a full disk fails the write itself.
            let _advice = file::preallocate(f, path, position.max(ahead), to);
        }
        self.allocated.store(to.max(end), Ordering::Relaxed);
    }

    /// Gives back the blocks [`Segment::allocate_ahead`] gave past the
    /// `.log`'s length (the segment is sealed: nothing is appended to it
    /// again): truncating a file to its own length frees the blocks past it.
    /// A `.log` long enough to have been given blocks by a process that
    /// crashed before its seal is asked the file system (its allocated size
    /// past its length rounded up to a block, one more block of slack for
    /// the extent tree). The truncation keeps the file's modification time,
    /// which a segment without timestamps is retained by. Advice too: a
    /// failure leaves them allocated, past the end, where no read sees them.
    pub(super) fn release_allocated_ahead(&self) {
        let len = self.len();
        let given = self.allocated.swap(0, Ordering::Relaxed) > len;
        if !given && len < PREALLOCATE_FROM {
            return;
        }
        let _advice = self.with_file(|f, path| {
            let (allocated, modified) = file::allocated_and_modified(f, path)?;
            if given || allocated > len.next_multiple_of(4096) + 4096 {
                file::set_len(f, path, len)?;
                file::set_modified(f, path, modified)?;
            }
            Ok(())
        });
    }

    /// Opens what an append needs — the `.log`, and the indexes when the
    /// append writes an entry — before anything is written, so that running
    /// out of descriptors or memory (after eviction and retries) fails the
    /// append with nothing changed instead of in the middle of it.
    /// The index slots the append will write get their disk blocks here
    /// too, so a full disk fails it before anything is written. (The roll
    /// check before it, [`Segment::indexes_full`], loaded indexes never
    /// mapped; an index the budget unmapped is mapped again only to take an
    /// entry, by the reserve below.)
    ///
    /// For the first append to a segment this process did not create (the
    /// roll check's [`Segment::roll_facts`] could not answer), what the
    /// append's bookkeeping reads of the segment is loaded here too: its
    /// largest timestamp (the time index's last entry, which the budget may
    /// have unmapped since the open) and where its last offset-index entry
    /// points. Read after the write, a failure to map them failed the
    /// append with its batch in the `.log` (and poisoned the partition).
    pub(crate) fn prepare_append(&self) -> Result<()> {
        self.ensure_open()?;
        let due = self.load_append_state()?;
        self.reserve_index_slots(due)
    }

    /// [`prepare_append`](Self::prepare_append), told whether the append
    /// adds index entries ([`Segment::roll_facts`] answered it, from the
    /// state an earlier append loaded).
    pub(crate) fn prepare_append_due(&self, index_entry_due: bool) -> Result<()> {
        self.ensure_open()?;
        self.reserve_index_slots(index_entry_due)
    }

    fn reserve_index_slots(&self, index_entry_due: bool) -> Result<()> {
        if index_entry_due {
            self.offset_index.reserve(1)?;
            // One more for the time index: its final entry at roll.
            self.time_index.reserve(1)?;
        }
        Ok(())
    }

    /// Loads the segment's largest timestamp and its `index.interval.bytes`
    /// count into the append state, where they are not yet, and answers
    /// whether the next append adds index entries: more than
    /// `index.interval.bytes` were appended since the last one (the rule
    /// [`Segment::append`] applies).
    fn load_append_state(&self) -> Result<bool> {
        let mut st = self.state.lock();
        if st.max_timestamp.is_none() {
            st.max_timestamp = Some(self.initial_max_timestamp()?);
        }
        let cadence = match st.index_cadence {
            Some(c) => c,
            None => {
                let c = self.cadence_from_index()?;
                st.index_cadence = Some(c);
                c
            }
        };
        Ok(cadence.due_at(self.len(), self.limits.index_interval_bytes))
    }

    /// The rolling-base timestamp ([`Segment::rolling_base_timestamp`])
    /// and, when the segment's state knows it, whether the next append
    /// adds index entries ([`Segment::prepare_append_due`]): under one lock
    /// of that state once the segment took an append (`None` for the
    /// second before, which [`Segment::prepare_append`] then answers,
    /// reading the index when it must). Asked by the roll check before
    /// every append.
    pub(crate) fn roll_facts(&self) -> Result<(Option<i64>, Option<bool>)> {
        {
            let st = self.state.lock();
            if let (Some(base), Some(cadence)) = (st.rolling_base_timestamp, st.index_cadence) {
                let due = cadence.due_at(self.len(), self.limits.index_interval_bytes);
                return Ok((Some(base), Some(due)));
            }
        }
        Ok((self.rolling_base_timestamp()?, None))
    }

    /// The `index.interval.bytes` count of an existing segment, resumed from
    /// where its last offset-index entry points.
    fn cadence_from_index(&self) -> Result<EntryCadence> {
        Ok(EntryCadence::from_last_entry(u64::from(self.offset_index.last_entry()?.position)))
    }

    /// Gives the final time-index entry that [`Segment::seal`] writes its
    /// disk block, so that a roll on a full disk fails before it changes
    /// anything.
    pub(crate) fn prepare_seal(&self) -> Result<()> {
        self.time_index.reserve(0)
    }

    /// Whether either index has no free slot (asked before every append).
    pub(crate) fn indexes_full(&self) -> Result<(bool, bool)> {
        if self.indexes_have_room() {
            return Ok((false, false));
        }
        Ok((self.offset_index.is_full()?, self.time_index.is_full()?))
    }

    /// Whether neither index can be full yet, told from the segment's length
    /// alone, without touching the indexes (two locks and their maps' cache
    /// lines an append would otherwise read, per partition). An entry goes
    /// to a batch that starts more than `index.interval.bytes` after the
    /// one holding the last entry, and the first at more than that from the
    /// segment start ([`EntryCadence`], live and rebuilt alike), so a
    /// segment of `len` bytes holds at most `len / (interval + 1)` offset
    /// entries, and no more time entries (one more, the final one, only at
    /// seal). Only for segments this process created: an existing index
    /// may have been written under another interval. With the defaults (1
    /// GiB segments, 4 KiB interval, 10 MiB indexes) an index never fills.
    /// Never for a sealed segment: its indexes were trimmed to their entries
    /// (full), which is what makes the append after a roll that failed past
    /// the seal (no space for the new segment) roll again instead of writing
    /// an entry into an index with no slot, which poisoned the partition.
    fn indexes_have_room(&self) -> bool {
        if !self.created_here.load(Ordering::Relaxed) || self.sealed.load(Ordering::Acquire) {
            return false;
        }
        let most = self.len() / self.limits.index_interval_bytes.saturating_add(1);
        let slots = |size: usize| self.limits.max_index_size / size as u64;
        let offset_slots = slots(<crate::index::OffsetPosition as crate::index::Entry>::SIZE);
        let time_slots = slots(<crate::index::TimestampOffset as crate::index::Entry>::SIZE);
        // One slot of margin each (the time index keeps one for its final entry).
        most.saturating_add(2) < offset_slots.min(time_slots)
    }
}
