//! Recovery of one segment after an unclean shutdown (Kafka's
//! `LogSegment.recover`): re-validate every batch, rebuild both indexes from
//! scratch with the append rule, and cut the file after the last valid batch.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use crate::format::{BatchIter, BatchView, NO_TIMESTAMP, StopReason};
use crate::index::OffsetPosition;
use crate::index::TimestampOffset;
use crate::index::cadence::EntryCadence;
use crate::io::file;
use crate::io::mmap::ReadMap;
use crate::io::populate;
use crate::{Error, Result};

use super::valid_prefix::ValidPrefix;
use super::{AppendState, Segment};

/// What the placement rules and a recovery's bookkeeping read of a batch
/// ([`BatchFacts::of`]), kept while [`Placer`] holds the batch instead of
/// the view itself (a view is a buffer and a parsed header, moved in and
/// out of the placer at every batch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchFacts {
    pub(crate) base_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) producer_id: i64,
    pub(crate) size: usize,
    pub(crate) partition_leader_epoch: i32,
    pub(crate) legacy: bool,
}

impl BatchFacts {
    pub(crate) fn of(batch: &crate::format::BatchView) -> BatchFacts {
        BatchFacts {
            base_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
            max_timestamp: batch.max_timestamp(),
            producer_id: batch.producer_id(),
            size: batch.size(),
            partition_leader_epoch: batch.partition_leader_epoch(),
            legacy: batch.is_legacy(),
        }
    }

    /// The offset after the batch ([`crate::format::BatchView::next_offset`]).
    pub(crate) fn next_offset(&self) -> i64 {
        self.last_offset.wrapping_add(1)
    }
}

/// The placement rules recovery (and its read-only dry run) check beyond
/// each batch's own framing and CRC: offsets rise, stay in reach of the
/// segment's base and below the next segment's base, and end below
/// `i64::MAX` (the offset after the last batch is the log end).
///
/// The base offset is outside the CRC, so a flipped bit there leaves a batch
/// that hashes right at offsets it never had. A batch raised that way is
/// seen at the batch after it, which then goes back: when that batch fits
/// after the one before the raised batch (for a segment's first batch, after
/// the segment's base offset) and lies below the raised batch's base, or
/// exactly on it where the raised batch left a gap, the raised one is the
/// batch out of place and the cut comes before it (else recovery would keep it and hand
/// the log end offset those false offsets). So each batch is held until the
/// next one (or the end of the data) confirms it.
///
/// A raised batch always leaves a gap after the batch before it, and the
/// last batch of the active segment has no batch after it to expose it. A
/// gap alone proves nothing: a follower's copy of a compacted log holds
/// gaps, in its active segment too, whatever the topic's policy is now (it
/// may have changed, and a broker's directory carries no config). So a batch
/// after a gap is cut only where a record written apart from it puts it
/// exactly where it would lie had it followed the batch before it (its own
/// span, `lastOffsetDelta`, is under the CRC):
/// - after a clean shutdown, the recovery point the close checkpointed is
///   the log end it recorded ([`Rules::ceiling`]), and the batch, moved down
///   to follow the batch before it, would end exactly there;
/// - the offset index found on disk before the rebuild has an entry `(O, P)`
///   at the batch's position with `O` below the batch's base offset (no
///   entry Kafka or strata writes names an offset below the base of the
///   batch at its position: appends and recovery name the last offset of the
///   append, the cleaner the largest offset it kept, which may lie below the
///   batch's last offset but never below its base), and the batch, moved
///   down, would end exactly at `O`.
///
/// Either coincidence by chance needs a stale file whose numbers match the
/// batch's span to the offset; a stale checkpoint or an index slot Kafka's
/// truncation left behind otherwise cuts nothing.
///
/// What stays: a raised batch after a gap with neither record (after a
/// crash with no index entry at its position: README, known gaps).
pub(crate) struct Placer {
    /// The segment's base offset.
    base: i64,
    /// The next segment's base offset; `None` for the active segment.
    next_base: Option<i64>,
    /// The segment is a legacy one that a writer's open splits (see
    /// [`super::overflow`]): its offsets may run past `base + i32::MAX`.
    splits: bool,
    /// The offset after the last accepted batch (the base at first).
    accepted_next: i64,
    /// The batch waiting for the next one, with its position.
    held: Option<(usize, BatchFacts)>,
    /// The rules beyond placement.
    rules: Rules,
    /// Entries of the offset index as found before the rebuild, by position.
    claims: Vec<OffsetPosition>,
}

/// What a segment's recovery knows beyond its own bytes (see [`Placer`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rules {
    /// After a clean shutdown, the checkpointed recovery point (the log end
    /// the close recorded), when it lies inside the active segment.
    pub ceiling: Option<i64>,
}

/// The offset index's entries found in `index`, if it passes its own checks
/// (order, range, zero tail) and holds no more entries than its configured
/// size (`segment.index.bytes`) makes room for; none otherwise, which only
/// means no entry is evidence (a hostile file of gigabytes is not copied).
/// Read before a rebuild resets it.
/// The entries are read from the file the check read (not through the
/// index's map); a failed read leaves no evidence either.
pub(crate) fn index_claims(index: &crate::index::OffsetIndex) -> Vec<OffsetPosition> {
    let Ok(checked) = index.check() else {
        return Vec::new();
    };
    let room = index.max_index_size() / crate::index::offset_index::ENTRY_SIZE as u64;
    if checked.problem.is_some() || checked.count() as u64 > room {
        return Vec::new();
    }
    checked.entries().unwrap_or_default()
}

/// What feeding a batch to a [`Placer`] decided.
pub(crate) struct Placed {
    /// A batch now accepted, with its position.
    pub accept: Option<(usize, BatchFacts)>,
    /// Where and why the valid data ends, when it ends here.
    pub stop: Option<StopReason>,
}

fn misplaced_at(position: usize, batch: &BatchFacts, reason: &'static str) -> StopReason {
    StopReason::Corrupt {
        position,
        error: crate::format::FormatError::InvalidValue {
            field: "batch.baseOffset",
            value: batch.base_offset,
            reason,
        },
    }
}

impl Placer {
    pub(crate) fn new(
        base: i64,
        next_base: Option<i64>,
        splits: bool,
        rules: Rules,
        claims: Vec<OffsetPosition>,
    ) -> Self {
        Placer { base, next_base, splits, accepted_next: base, held: None, rules, claims }
    }

    /// The offset-index entries it was given, for a second scan.
    pub(crate) fn take_claims(&mut self) -> Vec<OffsetPosition> {
        std::mem::take(&mut self.claims)
    }

    /// Why `batch` at `position`, the first after the accepted ones, is cut
    /// for the gap it leaves, or `None` (see [`Placer`]). Legacy entries are
    /// left alone: a compressed wrapper's offset is its last inner one.
    fn gap_evidence(&self, position: usize, batch: &BatchFacts) -> Option<&'static str> {
        if batch.legacy || batch.base_offset <= self.accepted_next {
            return None;
        }
        // Where the batch would end had it followed the batch before it.
        let span = batch.last_offset.saturating_sub(batch.base_offset);
        let dense_last = self.accepted_next.saturating_add(span);
        if self.rules.ceiling.is_some_and(|r| dense_last.saturating_add(1) == r) {
            return Some(
                "leaves a gap, and would end at the log end a clean shutdown checkpointed \
                 had it followed the batch before it",
            );
        }
        let claim = self
            .claims
            .binary_search_by_key(&(position as u64), |c| u64::from(c.position))
            .ok()
            .and_then(|i| self.claims.get(i));
        if claim.is_some_and(|c| batch.base_offset > c.offset && dense_last == c.offset) {
            return Some(
                "starts above the offset its index entry names, and would end there \
                 had it followed the batch before it",
            );
        }
        None
    }

    /// Why `batch` cannot lie in this segment at all, or `None`.
    fn out_of_range(&self, batch: &BatchFacts) -> Option<&'static str> {
        if batch.last_offset == i64::MAX {
            // No offset follows it: the log end after it would wrap below zero.
            Some("ends at the largest offset there is, with no offset after it")
        } else if !self.splits && super::overflow::overflows(batch.last_offset, self.base) {
            Some("too far above the segment's base offset")
        } else if self.next_base.is_some_and(|n| batch.last_offset >= n) {
            Some("reaches the next segment's base offset")
        } else {
            None
        }
    }

    /// Feeds the batch at `position`, after every batch fed before.
    pub(crate) fn feed(&mut self, position: usize, batch: BatchFacts) -> Placed {
        let mut out = Placed { accept: None, stop: None };
        if let Some((held_at, held)) = self.held.take() {
            if batch.base_offset < held.next_offset() {
                // The held batch was raised when this one fits after the
                // batch before it and goes below the held one's base, or
                // lands on that base where the held one left a gap (a
                // segment's first batch raised onto exactly its successor's
                // offsets).
                let raised = batch.base_offset < held.base_offset
                    || (batch.base_offset == held.base_offset
                        && held.base_offset > self.accepted_next);
                let stop = if batch.base_offset >= self.accepted_next && raised {
                    misplaced_at(held_at, &held, "above the offsets of the batch after it")
                } else {
                    misplaced_at(position, &batch, "not above the previous batch's offsets")
                };
                if matches!(&stop, StopReason::Corrupt { position: p, .. } if *p == position) {
                    self.accept(&held);
                    out.accept = Some((held_at, held));
                }
                out.stop = Some(stop);
                return out;
            }
            self.accept(&held);
            out.accept = Some((held_at, held));
        } else if batch.base_offset < self.accepted_next {
            out.stop =
                Some(misplaced_at(position, &batch, "not above the previous batch's offsets"));
            return out;
        }
        if let Some(reason) =
            self.out_of_range(&batch).or_else(|| self.gap_evidence(position, &batch))
        {
            out.stop = Some(misplaced_at(position, &batch, reason));
            return out;
        }
        self.held = Some((position, batch));
        out
    }

    /// Moves the accepted end past `batch`.
    fn accept(&mut self, batch: &BatchFacts) {
        self.accepted_next = batch.next_offset();
    }

    /// The end of the valid data: the batch still held is accepted.
    pub(crate) fn finish(&mut self) -> Placed {
        let mut out = Placed { accept: None, stop: None };
        if let Some((at, held)) = self.held.take() {
            self.accept(&held);
            out.accept = Some((at, held));
        }
        out
    }
}

/// How [`Segment::recover`] ended.
#[derive(Debug)]
pub(crate) enum Recovery {
    /// The segment was recovered.
    Done(RecoveryOutcome),
    /// The scan met a batch past the reach of the segment's base and stopped
    /// with the `.log` untouched: check for a legacy split, else
    /// [`Segment::recover_unsplit`] with these offset-index entries (read
    /// before the rebuild reset the index).
    Overflows(Vec<OffsetPosition>),
}

/// What recovering a segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecoveryOutcome {
    /// Valid batches kept.
    pub batches: usize,
    /// Bytes cut from the end of the `.log`.
    pub truncated_bytes: u64,
    /// Why the scan stopped, when it stopped before the end.
    pub stop: Option<StopReason>,
    /// The offset after the last valid batch (the base offset if none).
    pub next_offset: i64,
    /// Valid batches written by an idempotent or transactional producer: when
    /// none, producer-state rebuilding has nothing to replay from this
    /// segment and skips a second pass over it.
    pub producer_batches: usize,
    /// `(leader epoch, base offset)` of the first valid v2 batch and of
    /// every later one whose epoch differs from the batch before it: all the
    /// leader-epoch cache needs from this segment, so that it need not be
    /// read again for them.
    pub epoch_changes: Vec<(i32, i64)>,
}

/// Index entries a rebuild gathers before it writes them
/// ([`Segment::write_rebuilt`]).
const ENTRIES_AT_ONCE: usize = 1024;

impl Segment {
    /// Writes the index entries a rebuild gathered, in order, and empties
    /// the lists: each offset-index entry as `OffsetIndex::append` writes
    /// it and each time-index candidate as `TimeIndex::maybe_append` offers
    /// it, both after growing the file for one more entry if it is full (a
    /// sealed segment written under a larger `segment.index.bytes`, or by
    /// another writer, needs every entry: grow, never fail). One lock per
    /// index for the lot instead of four locked calls a batch (about 1,000
    /// instructions a batch of a 1 GiB recovery's 91,000).
    fn write_rebuilt(
        &self,
        entries: &mut Vec<OffsetPosition>,
        times: &mut Vec<TimestampOffset>,
    ) -> Result<()> {
        self.offset_index.append_rebuilt(entries)?;
        self.time_index.maybe_append_rebuilt(times)?;
        entries.clear();
        times.clear();
        Ok(())
    }

    /// Keeps recovery's map of the whole (uncut) `.log` as the segment's read
    /// map. Its page-table entries are set up already, so reads of the
    /// segment after the open do not fault the pages in again, and the
    /// unmapping of the whole file (a quarter of a 1 GiB segment's recovery,
    /// one page-table entry per 4 KiB of page cache) is left to whoever
    /// drops the map last: a seal's trim, an eviction, the close, or a read
    /// past its end that maps further (as for any map of the active
    /// segment). The map is counted in the open-segment budget like one a
    /// read makes.
    fn keep_map(&self, map: ReadMap) {
        // Reads come at any offset from now on: the scan's sequential
        // advice would make the kernel reclaim these pages first.
        map.advise_normal();
        // The scan viewed bytes a cut may have removed since.
        map.forget_views();
        let handle = self.file.lock();
        let mut slot = self.map.write();
        if slot.len() < map.len() {
            let grown = map.len() as i64 - slot.len() as i64;
            let opened = super::descriptors(&handle, &map) - super::descriptors(&handle, &slot);
            *slot = map;
            // Counted under the lock, as `Segment::bytes` does (an eviction
            // between the install and the count would leave a phantom).
            self.account.adjust(opened, grown);
        }
    }

    /// Validates every batch, rebuilds the indexes and truncates the `.log`
    /// after the last valid batch; `next_base` is the following segment's
    /// base offset (`None` for the active one), which no batch may reach;
    /// `rules` what the log knows beyond the segment's bytes ([`Placer`]).
    /// Must run before the segment is shared.
    ///
    /// A batch whose offsets run past the reach of the segment's base ends
    /// the scan before it cuts or publishes anything (only the indexes are
    /// rebuilt, and are again by the next call): the result is then
    /// [`Recovery::Overflows`], the caller checks for a legacy segment to
    /// split (`log/split.rs`, which walks the whole segment) and, if it is
    /// not one, calls [`Segment::recover_unsplit`]. A segment that splits
    /// frames whole with rising offsets and has such a batch, so the scan
    /// always gets there unless a batch before it is invalid, where the cut
    /// would fall in the split's first part anyway, every later part
    /// dropped. So a segment is read once, not walked for a split first.
    pub(crate) fn recover(&self, next_base: Option<i64>, rules: Rules) -> Result<Recovery> {
        self.recover_with(next_base, rules, None)
    }

    /// [`Segment::recover`] of a segment found not to split after
    /// [`Recovery::Overflows`] (with the index entries that carried): a
    /// batch past the reach of the base is damage, cut like any other.
    pub(crate) fn recover_unsplit(
        &self,
        next_base: Option<i64>,
        rules: Rules,
        claims: Vec<OffsetPosition>,
    ) -> Result<RecoveryOutcome> {
        match self.recover_with(next_base, rules, Some(claims))? {
            Recovery::Done(outcome) => Ok(outcome),
            // Not returned when claims are given: the scan runs to the end.
            Recovery::Overflows(_) => Err(Error::InvalidRequest(
                "recovery stopped at an overflow after the split check".into(),
            )),
        }
    }

    /// The scan of [`Segment::recover`]; `claims` given (by
    /// [`Segment::recover_unsplit`]) when the split check was made.
    fn recover_with(
        &self,
        next_base: Option<i64>,
        rules: Rules,
        claims: Option<Vec<OffsetPosition>>,
    ) -> Result<Recovery> {
        let physical = self.with_file(file::len)?;
        // Read the whole file, valid or not, through a map that reads keep
        // (see `keep_map`): the active segment's is as long as the one a
        // read would make, so that the first read does not replace it.
        let capacity =
            if next_base.is_none() { self.active_map_capacity(physical) } else { physical };
        let map = self.with_shared_file(|f, p| ReadMap::map_keeping(f, p, capacity))?;
        map.advise_sequential();
        let data = map.bytes(0, physical as usize, physical as usize);
        let check_split = claims.is_none();
        // Read before the rebuild resets the index (once: a second call after
        // the split check gets them from the first).
        let claims = claims.unwrap_or_else(|| index_claims(&self.offset_index));
        self.offset_index.reset()?;
        self.time_index.reset()?;
        // The `index.interval.bytes` rule live appends apply (one place).
        let mut cadence = EntryCadence::default();
        let mut producer_batches = 0;
        let mut epoch_changes: Vec<(i32, i64)> = Vec::new();
        let placer = Placer::new(self.base_offset, next_base, false, rules, claims);
        // Accepted batches only: a batch that frames and hashes right but
        // whose offsets do not follow is cut too.
        let mut prefix = ValidPrefix::new(self.base_offset, placer);
        let mut iter = BatchIter::validating(data);
        // Index entries found and not yet written (see `write_rebuilt`).
        let mut entries = Vec::with_capacity(ENTRIES_AT_ONCE);
        let mut times = Vec::with_capacity(ENTRIES_AT_ONCE);
        // The timestamp of the last time-index candidate kept (-1 before the
        // first): the candidates' timestamps are the running largest, which
        // only grows, so one no larger than this is one the time index skips
        // (`TimeIndex::maybe_append`: an entry only for a larger timestamp)
        // and is not gathered.
        let mut last_time = NO_TIMESTAMP;
        // Page-table entries are set up ahead of the scan, on a second
        // thread where a core is free (`io::populate`): advice only, the
        // scan's results are the same whichever thread sets them up.
        let overflows = populate::read_ahead(&map, physical as usize, |ahead| {
            ahead.reached(0);
            let look = |pos: usize, batch: &BatchView| {
                if check_split && super::overflow::overflows(batch.last_offset(), self.base_offset)
                {
                    return ControlFlow::Break(());
                }
                ahead.reached(pos + batch.size());
                ControlFlow::Continue(())
            };
            let accept = |pos: usize, batch: &BatchFacts, st: &AppendState| -> Result<()> {
                let pos = pos as u64;
                if cadence.batch_at(pos, self.limits.index_interval_bytes) {
                    let position = u32::try_from(pos).map_err(|_| {
                        Error::InvalidRequest("segment position exceeds i32".into())
                    })?;
                    let (timestamp, offset) =
                        st.max_timestamp.unwrap_or((NO_TIMESTAMP, self.base_offset));
                    entries.push(OffsetPosition { offset: batch.last_offset, position });
                    if timestamp > last_time {
                        times.push(TimestampOffset { timestamp, offset });
                        last_time = timestamp;
                    }
                    if entries.len() == ENTRIES_AT_ONCE {
                        self.write_rebuilt(&mut entries, &mut times)?;
                    }
                }
                producer_batches += usize::from(batch.producer_id >= 0);
                let epoch = batch.partition_leader_epoch;
                if !batch.legacy && epoch_changes.last().is_none_or(|&(e, _)| e != epoch) {
                    epoch_changes.push((epoch, batch.base_offset));
                }
                Ok(())
            };
            prefix.scan(&mut iter, look, accept)
        })?;
        if overflows.is_some() {
            return Ok(Recovery::Overflows(prefix.take_claims()));
        }
        self.write_rebuilt(&mut entries, &mut times)?;
        let ValidPrefix { batches, valid, next_offset, stop, state: mut st, .. } = prefix;
        st.index_cadence = Some(cadence);
        drop(iter);
        if valid < physical {
            // No view of the old tail may outlive the cut.
            drop(map);
            self.with_file(|f, p| file::set_len(f, p, valid))?;
        } else {
            self.keep_map(map);
        }
        self.len.store(valid, Ordering::Release);
        *self.state.lock() = st;
        Ok(Recovery::Done(RecoveryOutcome {
            batches,
            truncated_bytes: physical - valid,
            stop,
            next_offset,
            producer_batches,
            epoch_changes,
        }))
    }
}
