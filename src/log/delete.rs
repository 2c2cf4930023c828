//! Executing retention and DeleteRecords on a log.
//!
//! Deleting segments, in order (Kafka's `deleteSegments`):
//! 1. if every segment goes, roll so an empty active segment remains;
//! 2. publish the new segment list and log start offset to readers;
//! 3. retire each doomed segment (`Segment::retire`): it leaves the
//!    open-segment budget and maps its `.log` completely (so readers that
//!    snapshotted it before step 2 keep reading without reopening the file,
//!    even after step 4), then its files are renamed with `.deleted`;
//! 4. remove the files after `file.delete.delay.ms` ([`Log::delete_expired_files`]);
//!    leftovers of a crash are removed on the next open.
//!
//! Everything step 3 opens is opened before step 2, as the cleaner's swap
//! does (`swap.rs`): the directory (held for its one fsync) and each doomed
//! segment's `.log` (mapped whole). A process out of descriptors or memory
//! there, the budget having nothing left to evict, fails the removal with
//! the log as it was, and the next pass (or retention's log-start rule,
//! after a `delete_records`) removes the segments whole; step 3 renames
//! no segment half-way for want of a descriptor (one whose map the budget
//! evicted since and cannot make again is renamed unmapped, its readers
//! reopening it by its new name). A crash between 2 and 3 leaves complete
//! segment files below the checkpointed log start offset: the next pass
//! deletes them again.

use std::sync::Arc;

use crate::io::file;
use crate::segment::{Segment, budget};
use crate::{Error, Result};

use super::Log;
use super::retention::{self, RetentionInputs, RetentionPlan, SegmentFacts};

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Segments removed from the log.
    pub segments_deleted: usize,
    /// Their bytes.
    pub bytes_deleted: u64,
}

impl DeleteOutcome {
    /// Adds another outcome.
    pub fn add(&mut self, other: DeleteOutcome) {
        self.segments_deleted += other.segments_deleted;
        self.bytes_deleted += other.bytes_deleted;
    }
}

/// Whether `e` is a full disk (`ENOSPC`, `EDQUOT`).
fn no_space(e: &Error) -> bool {
    match e {
        Error::NoSpace { .. } => true,
        Error::Io { source, .. } => crate::io::file::is_no_space(source),
        _ => false,
    }
}

impl Log {
    /// One retention pass: segments below the log start offset, then (under
    /// `cleanup.policy=delete`) `retention.bytes`, then `retention.ms`.
    /// Two passes in a row delete nothing the second time.
    ///
    /// When every segment goes, the active one too, the log rolls first; a
    /// full disk that fails that roll still lets the segments before the
    /// active one go (the next pass, with their space back, takes it).
    ///
    /// # Errors
    /// I/O failures (which poison the log); the retriable
    /// [`Error::NoSpace`] when the roll fails for lack of space and only
    /// the active segment was to go.
    pub fn delete_old_segments(&self) -> Result<DeleteOutcome> {
        let cleaning = self.inner.cleaning.lock();
        self.delete_old_segments_holding(cleaning)
    }

    /// [`Log::delete_old_segments`] unless a cleaning holds the log now
    /// (`None`): the store's retention passes go on to the other partitions
    /// instead of waiting out a cleaning, which may run for hours (throttled),
    /// as Kafka's retention task leaves a log being cleaned to its cleaner
    /// (`LogManager.cleanupLogs`, `LogCleanerManager.deletableLogs`).
    pub(crate) fn try_delete_old_segments(&self) -> Result<Option<DeleteOutcome>> {
        match self.inner.cleaning.try_lock() {
            Some(cleaning) => self.delete_old_segments_holding(cleaning).map(Some),
            None => Ok(None),
        }
    }

    /// One retention pass, the cleaning excluded by `_cleaning`.
    fn delete_old_segments_holding(
        &self,
        _cleaning: parking_lot::MutexGuard<'_, ()>,
    ) -> Result<DeleteOutcome> {
        let mut w = self.writer()?;
        let cfg = self.config();
        let now = self.clock.now_ms();
        let v = self.view();
        let mut segments = Vec::with_capacity(v.segments.len());
        for seg in v.segments.iter() {
            let largest_timestamp = seg.largest_timestamp()?;
            // The file's age is read only for a segment judged by it, one whose largest
            // timestamp lies ahead of the clock (`retention::retention_timestamp`; without
            // timestamps, `largest_timestamp` is already that age), and a failed look fails
            // the pass: taken for 0, it judged the segment written in 1970 and deleted it.
            let last_modified_ms =
                if largest_timestamp > now { seg.modified_ms()? } else { largest_timestamp };
            segments.push(SegmentFacts {
                base_offset: seg.base_offset(),
                size: seg.len(),
                largest_timestamp,
                last_modified_ms,
            });
        }
        let inputs = RetentionInputs {
            segments,
            log_end_offset: v.log_end_offset,
            log_start_offset: v.log_start_offset,
            retention_ms: cfg.retention_ms_limit(),
            retention_bytes: cfg.retention_bytes_limit(),
            delete_policy: cfg.cleanup_policy.delete,
            now_ms: now,
        };
        let plan: RetentionPlan = retention::plan(&inputs);
        if plan.deleted() == 0 {
            return Ok(DeleteOutcome::default());
        }
        if plan.roll_first
            && let Err(e) = self.roll_locked(&mut w, &cfg, now)
        {
            // Out of disk (or of descriptors or memory even after eviction), the roll
            // fails without poisoning, the segments as they were or the sealed one left
            // active (`roll_locked`). The segments before the active one need no roll to
            // go, and their space is what a full disk needs for it: they go now, and the
            // active one at the next pass. With none before it, nothing can go.
            let retriable = matches!(e, Error::NoSpace { .. }) || budget::is_exhaustion(&e);
            if !retriable || v.segments.len() < 2 {
                return Err(e);
            }
        }
        // Never the last segment: without the roll, the active one stays.
        let outcome = self.remove_prefix(plan.deleted(), now, cfg.file_delete_delay_ms)?;
        self.trim_epochs_to_start(&mut w)?;
        Ok(outcome)
    }

    /// Removes the first `count` segments (never the last one). Called under
    /// the append lock and the cleaning lock.
    ///
    /// # Errors
    /// A failure to open what the removal needs (the directory, the doomed
    /// segments' maps: out of descriptors, say), with the log as it was; an
    /// I/O failure once the segments left the log, which poisons it.
    fn remove_prefix(&self, count: usize, now: i64, delay_ms: i64) -> Result<DeleteOutcome> {
        let doomed: Vec<Arc<Segment>> = {
            let v = self.inner.view.read();
            let count = count.min(v.segments.len().saturating_sub(1));
            v.segments.iter().take(count).cloned().collect()
        };
        if doomed.is_empty() {
            return Ok(DeleteOutcome::default());
        }
        // Nothing changes until everything the retirements open is open (the module doc):
        // out of descriptors here the segments stay in the log, named as they are.
        // A test's hook may act here (the append and cleaning locks are held).
        crate::io::fault::point("log::remove_prefix::prepare")?;
        let dir = file::DirHandle::open(&self.inner.dir)?;
        for seg in &doomed {
            seg.map_fully()?;
        }
        {
            // The view changes only under the append lock, which the caller holds.
            let mut v = self.inner.view.write();
            let rest: Vec<Arc<Segment>> = v.segments.iter().skip(doomed.len()).cloned().collect();
            if let Some(first) = rest.first() {
                v.log_start_offset = v.log_start_offset.max(first.base_offset());
            }
            v.segments = Arc::new(rest);
        }
        let mut outcome = DeleteOutcome::default();
        for seg in doomed {
            outcome.segments_deleted += 1;
            outcome.bytes_deleted += seg.len();
            crate::events::retention_deleted(&self.name(), seg.base_offset(), seg.len());
            // Opens nothing: a rename fails only as the disk fails, and poisons.
            seg.retire().map_err(|e| self.poison(e))?;
            self.inner.pending_deletes.lock().push((now.saturating_add(delay_ms), seg));
        }
        // The renames made durable at once; a crash before leaves segments below the
        // checkpointed log start, which the next pass deletes again.
        dir.sync().map_err(|e| self.poison(e))?;
        // Cleanup: the segments have left the log whatever happens to their files now, so
        // a failure here must not lose the outcome (nor the epoch trim the caller does
        // next). What is not removed is retried: files by the next pass over the pending
        // deletes (`Store::maintain` reports its error), snapshots by the next removal.
        let _retried = self.delete_expired_files(now);
        let first_base = self.view().segments.first().map_or(0, |s| s.base_offset());
        let _retried = super::producer_state::remove_snapshots_below(&self.inner.dir, first_base);
        Ok(outcome)
    }

    /// Removes `.deleted` files whose `file.delete.delay.ms` has passed.
    ///
    /// A due segment stays on the pending list until its files are gone, so
    /// a close that overtakes the removal closes it too (the close closes
    /// every pending segment), and a closed segment removes nothing: once
    /// the close returned, no file of the directory, which may belong to
    /// another store by then, is removed through this log. A removal that
    /// fails stays due for the next pass, and does not hold up the other
    /// due segments' removals.
    ///
    /// # Errors
    /// The first I/O failure removing files, once every due segment was tried.
    pub fn delete_expired_files(&self, now: i64) -> Result<usize> {
        let due: Vec<Arc<Segment>> = {
            let pending = self.inner.pending_deletes.lock();
            pending.iter().filter(|(at, _)| *at <= now).map(|(_, s)| Arc::clone(s)).collect()
        };
        if due.is_empty() {
            return Ok(0);
        }
        // Tests stop a removal here, between taking the due segments and their files.
        crate::io::fault::point("log::delete_expired::due")?;
        let mut first_error = None;
        let mut removed = 0;
        for seg in &due {
            match seg.delete_files() {
                Ok(()) => {
                    removed += 1;
                    // Done: off the list (a pass beside this one may have taken it off already).
                    self.inner.pending_deletes.lock().retain(|(_, s)| !Arc::ptr_eq(s, seg));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(removed), Err)
    }

    /// Kafka's DeleteRecords: moves the log start offset up to `offset` and
    /// removes segments wholly below it. An offset at or below the current
    /// start is a no-op. Returns the new log start offset.
    ///
    /// `-1` means the log end offset, as Kafka's -1 means its high watermark.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] for an offset past the log end (or
    /// below -1); [`Error::InvalidRequest`] on a topic whose
    /// `cleanup.policy` lacks `delete` (Kafka's POLICY_VIOLATION).
    pub fn delete_records(&self, offset: i64) -> Result<i64> {
        self.delete_records_durably(offset, |_| Ok(()))
    }

    /// [`Log::delete_records`] that first makes the new start durable with
    /// `persist(new start)`, under the log's locks, before anything changes:
    /// when validation or `persist` fails, the log is as it was — unless
    /// `persist` failed for a full disk, where the start moves and the
    /// segments below it go first (freeing the space) and `persist` is tried
    /// again, its failure left to the next checkpoint write. Once the new
    /// start is moved, removing the segments below it is cleanup: a failure
    /// to open what it needs (out of descriptors) leaves them in the log, a
    /// failure past that poisons the log (its next operation reports it);
    /// either way the next retention pass or open removes them, and the
    /// request has succeeded.
    pub(crate) fn delete_records_durably(
        &self,
        offset: i64,
        mut persist: impl FnMut(i64) -> Result<()>,
    ) -> Result<i64> {
        if !self.config().cleanup_policy.delete {
            return Err(Error::InvalidRequest(format!(
                "{}: delete-records needs cleanup.policy to include delete",
                self.name()
            )));
        }
        // Decide and delete under the same locks: a retention pass or a swap in
        // between would change which segments lie below the new start.
        let _cleaning = self.inner.cleaning.lock();
        let mut w = self.writer()?;
        let target = {
            let v = self.inner.view.read();
            // Kafka's -1 means "up to the high watermark", which is the log end here.
            let offset = if offset == -1 { v.log_end_offset } else { offset };
            if offset < 0 || offset > v.log_end_offset {
                return Err(Error::OffsetOutOfRange {
                    offset,
                    log_start_offset: v.log_start_offset,
                    log_end_offset: v.log_end_offset,
                });
            }
            if offset <= v.log_start_offset {
                return Ok(v.log_start_offset);
            }
            offset
        };
        // A full disk is the exception: the checkpoint cannot be written
        // until the segments below the new start are gone, so the start moves
        // first and is made durable after, or by the next checkpoint write
        // (as Kafka always does) — the request has succeeded either way.
        let full = match persist(target) {
            Ok(()) => false,
            Err(e) if no_space(&e) => true,
            Err(e) => return Err(e),
        };
        let below = {
            let mut v = self.inner.view.write();
            v.log_start_offset = v.log_start_offset.max(target);
            // Whole segments below the new start go now rather than at the next pass.
            v.segments
                .windows(2)
                .take_while(|w| w.get(1).is_some_and(|n| n.base_offset() <= v.log_start_offset))
                .count()
        };
        if below > 0 {
            let now = self.clock.now_ms();
            // The new start stands whatever happens here: a failed rename poisons the log
            // (see above); out of descriptors the segments stay below it, as Kafka's
            // DeleteRecords leaves them, for the next retention pass (its log-start rule);
            // a failed unlink of a renamed file is retried by the next pass over the pending
            // deletes (`Store::maintain`).
            let _ = self.remove_prefix(below, now, self.config().file_delete_delay_ms);
        }
        if full {
            let _ = persist(target);
        }
        // Cleanup too: a failed checkpoint write poisons the log (Kafka flushes it later).
        let _ = self.trim_epochs_to_start(&mut w);
        Ok(self.log_start_offset())
    }

    /// Removes the producer snapshots a crash recovery no longer reads, once
    /// `checkpointed` is the durable recovery point (Kafka's
    /// `deleteSnapshotsAfterRecoveryPointCheckpoint`, run after every
    /// recovery-point checkpoint): those below both the base of the segment
    /// before the active one and the base of the segment below
    /// `checkpointed`, where a recovery starts. The newest snapshot always
    /// stays. A closed log is left alone.
    ///
    /// # Errors
    /// I/O failures listing or removing the files (what stays is removed by a
    /// later call).
    pub(crate) fn delete_snapshots_after_recovery_checkpoint(
        &self,
        checkpointed: i64,
    ) -> Result<()> {
        if self.check_open().is_err() {
            return Ok(());
        }
        let keep_from = {
            let v = self.view();
            let segs = &v.segments;
            // The base of the segment below `o` (Kafka's `lowerSegment`).
            let lower = |o: i64| {
                let i = segs.partition_point(|s| s.base_offset() < o);
                i.checked_sub(1).and_then(|j| segs.get(j)).map(|s| s.base_offset())
            };
            let Some(active) = segs.last().map(|s| s.base_offset()) else { return Ok(()) };
            let two_segments = lower(active).unwrap_or(active);
            lower(checkpointed).unwrap_or(checkpointed).min(two_segments)
        };
        super::producer_state::remove_snapshots_below(&self.inner.dir, keep_from)
    }
}
