//! Rolling the active segment: the append's check of Kafka's roll rules
//! ([`super::roll`]), sealing the old segment, creating the new one and the
//! producer snapshot a roll takes.

use std::sync::Arc;

use super::producer_state::SnapshotWrite;
use super::roll;
use super::{Log, Writer, append};
use crate::config::LogConfig;
use crate::segment::Segment;
use crate::segment::budget;
use crate::{Error, Result};

impl Log {
    pub(super) fn next_jitter(w: &mut Writer, cfg: &LogConfig) -> i64 {
        roll::draw_jitter(&mut w.jitter_seed, cfg.segment_jitter_ms, cfg.segment_ms)
    }

    /// Rolls if the batch calls for it; returns the segment to write it to
    /// and, when known without a roll, whether the append adds index
    /// entries to it ([`Segment::roll_facts`]).
    pub(super) fn maybe_roll(
        &self,
        w: &mut Writer,
        cfg: &append::AppendSettings,
        size: u64,
        max_ts: i64,
        last_offset: i64,
        now: i64,
    ) -> Result<(Arc<Segment>, Option<bool>)> {
        let active = self.active_for_append(w)?;
        let (offset_index_full, time_index_full) = active.indexes_full()?;
        let (rolling_base_timestamp, index_entry_due) = active.roll_facts()?;
        let inputs = roll::RollInputs {
            segment_size: active.len(),
            append_size: size,
            segment_bytes: cfg.segment_bytes,
            incoming_max_timestamp: max_ts,
            rolling_base_timestamp,
            now_ms: now,
            created_ms: active.created_ms(),
            max_segment_ms: cfg.max_segment_ms,
            roll_jitter_ms: active.roll_jitter_ms(),
            offset_index_full,
            time_index_full,
            segment_base: active.base_offset(),
            incoming_last_offset: last_offset,
        };
        if roll::should_roll(&inputs).is_some() {
            // A roll (rare) reads the whole config: the new segment's limits and jitter.
            self.roll_locked(w, &self.config(), now)?;
            return Ok((self.active_for_append(w)?, None));
        }
        Ok((active, index_entry_due))
    }

    /// Seals the active segment and starts a new one at the log end offset.
    pub(super) fn roll_locked(&self, w: &mut Writer, cfg: &LogConfig, now: i64) -> Result<()> {
        let active = self.active()?;
        let leo = self.log_end_offset();
        if active.base_offset() == leo {
            return Ok(()); // already empty at the end: nothing to roll (Kafka's KAFKA-6388 case)
        }
        // A full disk (or no descriptor) fails the roll here, before anything changed.
        active.prepare_seal().map_err(Error::into_no_space)?;
        active.seal().map_err(|e| self.poison(e))?;
        // Read after the seal, under the flush state's lock: a pass that
        // sets the recovery point later sees the segment sealed and syncs
        // its indexes first (`sync_to`), so one of the two always does.
        if self.recovery_point() >= leo {
            // A pass already took the recovery point to the end of this
            // segment (a durable append, a flush before the roll), and a
            // checkpoint may hold it: from now on the segment is trusted at
            // an open, so what the seal wrote, and the `.txnindex` that
            // passes leave to recovery while a segment is active, must be on
            // disk before the roll goes on (Kafka's flush syncs every index
            // with its `.log`).
            active.flush_indexes().map_err(|e| self.fail_pass(e))?;
        }
        let jitter = Self::next_jitter(w, cfg);
        // A test's hook may run sync passes here (they take no writer lock).
        let created = crate::io::fault::point("log::roll::before_create")
            .and_then(|()| Segment::create(&self.inner.dir, leo, self.limits(cfg), now, jitter))
            .and_then(|segment| self.roll_snapshot(w, leo).map(|()| segment));
        let segment = match created {
            Ok(segment) => segment,
            Err(e) => {
                // The sealed segment stays active; its full indexes make the
                // next append roll again. Out of disk, or out of descriptors
                // or memory even after eviction, does not poison.
                let e = if budget::is_exhaustion(&e) { e } else { self.fail_write(e) };
                if matches!(e, Error::NoSpace { .. }) || budget::is_exhaustion(&e) {
                    Segment::remove_files(&self.inner.dir, leo);
                }
                return Err(e);
            }
        };
        // Counted once its files exist and before the view lists it: a pass
        // that counts it syncs a directory that already holds them, and a
        // pass whose view lists it reads the count after (`flush.rs`).
        self.inner.flush.segment_created();
        {
            let mut v = self.inner.view.write();
            let mut list = Vec::clone(&v.segments);
            list.push(segment);
            v.segments = Arc::new(list);
        }
        // The sealed segment is synced off the append path (Kafka's flush at roll).
        self.request_flush(leo, true);
        Ok(())
    }

    /// Writes the producer snapshot at `offset`; `false` when it was too long
    /// to write (reported as an event): the next open starts from an older
    /// snapshot or replays the log.
    pub(super) fn write_snapshot(&self, w: &Writer, offset: i64, durable: bool) -> Result<bool> {
        match w.producers.write_snapshot(&self.inner.dir, offset, durable)? {
            SnapshotWrite::Written => Ok(true),
            SnapshotWrite::TooLong { len, limit } => {
                crate::events::snapshot_too_long(&self.name(), offset, len, limit);
                Ok(false)
            }
        }
    }

    /// The snapshot a roll at `leo` takes, unsynced (Kafka's roll flushes it
    /// asynchronously). A durable one already there holding this state (a
    /// clean open's, no append since) is kept, as Kafka's `takeSnapshot`
    /// takes none at an offset it has one for: replaced by an unsynced copy
    /// that the close then found unchanged, a power cut after the shutdown
    /// could leave it empty. Replaced, it is no longer the durable one.
    pub(super) fn roll_snapshot(&self, w: &mut Writer, leo: i64) -> Result<()> {
        let durable_here = w.durable_snapshot == Some(leo);
        if durable_here && w.producers.snapshot_matches(&self.inner.dir, leo) {
            return Ok(());
        }
        if durable_here {
            w.durable_snapshot = None;
        }
        self.write_snapshot(w, leo, false).map(drop)
    }

    /// Rolls the active segment now if it holds any data.
    ///
    /// # Errors
    /// I/O failures (which poison the log).
    pub fn roll(&self) -> Result<()> {
        let mut w = self.writer()?;
        let cfg = self.config();
        let now = self.clock.now_ms();
        self.roll_locked(&mut w, &cfg, now)
    }
}
