//! One pass of the store's background work, callable by hand.
//!
//! Per partition: retention (log start offset, size, time — for compacted
//! topics too, unlike Kafka whose compacted logs get no retention when the
//! cleaner is off, its gotcha G12), the `flush.ms` flush, and removal of
//! `.deleted` files whose delay has passed. Then the expiry of committed
//! offsets past `offsets.retention.minutes`, and the checkpoints.

use crate::log::DeleteOutcome;
use crate::{Error, Result};

use super::Store;

/// What [`Store::maintain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// Segments removed by retention.
    pub segments_deleted: usize,
    /// Bytes removed by retention.
    pub bytes_deleted: u64,
    /// Partitions the cleaner compacted.
    pub partitions_cleaned: usize,
    /// Bytes the cleaner read.
    pub bytes_read: u64,
    /// Bytes the cleaner wrote.
    pub bytes_written: u64,
    /// Partitions flushed because `flush.ms` passed.
    pub partitions_flushed: usize,
    /// Records the cleaner removed.
    pub records_removed: u64,
    /// Cleanings that failed (see [`Store::cleaner_stats`]; they are retried).
    pub cleaner_failures: usize,
    /// Partitions skipped because an earlier I/O failure poisoned them.
    pub partitions_skipped: usize,
    /// Committed offsets expired ([`Store::expire_committed_offsets`]).
    pub offsets_expired: usize,
}

impl Store {
    /// Runs one pass of what the background threads do — retention, the
    /// flush policy, delayed file deletion, the expiry of committed offsets
    /// and checkpoints — on every partition (or those of `topic`; offsets
    /// expire when `topic` is `None` or `__consumer_offsets`). Embedders that
    /// turned the threads off call this on their own schedule.
    ///
    /// A partition a cleaner thread is cleaning right now is passed over by
    /// retention (the cleaner runs its retention when it is done), so one
    /// long cleaning holds up no other partition's.
    ///
    /// Retention deletes the sealed segments past a topic's `retention.ms`
    /// (by their newest record's timestamp) or `retention.bytes`:
    /// ```
    /// # use std::time::Duration;
    /// # use strata::{Record, Store, StoreConfig, TopicConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false))?;
    /// let hourly = TopicConfig::new().retention(Duration::from_secs(3600));
    /// store.create_topic_if_absent("events", 1, &hourly)?;
    /// let log = store.partition("events", 0)?;
    /// let two_hours_ago = store.clock().now_ms() - 2 * 3600 * 1000;
    /// log.append(&[Record::new("k", "old").timestamp(two_hours_ago)])?;
    /// log.roll()?;                                    // only sealed segments are deleted
    /// log.append(&[Record::new("k", "new")])?;
    /// let report = store.maintain(None)?;
    /// assert_eq!(report.segments_deleted, 1);
    /// assert_eq!(log.log_start_offset(), 1);
    /// store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Compaction keeps the latest record of each key in the sealed segments
    /// of a topic with `cleanup.policy=compact`, once its dirty ratio passes
    /// `min.cleanable.dirty.ratio`:
    /// ```
    /// # use strata::{CleanupPolicy, Record, Store, StoreConfig, TopicConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false))?;
    /// let table = TopicConfig::new().cleanup_policy(CleanupPolicy::COMPACT).min_cleanable_dirty_ratio(0.01);
    /// store.create_topic_if_absent("users", 1, &table)?;
    /// let log = store.partition("users", 0)?;
    /// log.append(&[Record::new("u1", "alice"), Record::new("u2", "bob"), Record::new("u1", "alicia")])?;
    /// log.roll()?;                                    // the active segment is never cleaned
    /// let report = store.maintain(None)?;
    /// assert_eq!((report.partitions_cleaned, report.records_removed), (1, 1));
    /// let values: Vec<_> = log.records_from(0).map(|r| r.map(|r| r.value().cloned())).collect::<Result<_, _>>()?;
    /// assert_eq!(values, [Some("bob".into()), Some("alicia".into())]);
    /// store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first I/O failure; [`crate::Error::UnknownPartition`] for an unknown topic.
    pub fn maintain(&self, topic: Option<&str>) -> Result<MaintainReport> {
        self.ensure_open()?;
        if let Some(t) = topic {
            self.partition_count(t)?;
        }
        let mut report = MaintainReport::default();
        let mut deleted = DeleteOutcome::default();
        // One broken partition must not stop the work on the others: its first
        // error is returned after everything else (checkpoints included) is done.
        let mut first_error = None;
        for (_, log) in self.logs(topic) {
            if log.poisoned().is_some() {
                report.partitions_skipped += 1;
                continue;
            }
            // The flush runs whatever retention returned: files whose removal keeps
            // failing must not stop the `flush.ms` flush for good.
            deleted.add(self.retention_pass(&log, &mut first_error));
            match log.flush_if_due() {
                Ok(flushed) => report.partitions_flushed += usize::from(flushed),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        report.segments_deleted = deleted.segments_deleted;
        report.bytes_deleted = deleted.bytes_deleted;
        // Before the cleaner: the tombstones are the offsets' last records.
        if topic.is_none_or(|t| t == super::OFFSETS_TOPIC) {
            match self.expire_committed_offsets() {
                Ok(n) => report.offsets_expired = n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if self.inner.config.log_cleaner_enable {
            let logs: Vec<_> = self.logs(topic).into_iter().map(|(_, l)| l).collect();
            let pass = self.inner.cleaner.clean_all(&logs);
            report.partitions_cleaned = pass.partitions_cleaned;
            report.bytes_read = pass.bytes_read;
            report.bytes_written = pass.bytes_written;
            report.records_removed = pass.records_removed;
            report.cleaner_failures = pass.failures;
        }
        self.write_checkpoints()?;
        first_error.map_or(Ok(report), Err)
    }

    /// Retention on one partition, then the removal of its due `.deleted`
    /// files, which runs whatever retention returned (and tries every due
    /// segment): the first error of either lands in `first_error`. A
    /// partition a cleaning holds is passed over: its cleaner runs its
    /// retention once it is done ([`Store::clean_filthiest`]), and so does
    /// the next pass.
    fn retention_pass(
        &self,
        log: &crate::log::Log,
        first_error: &mut Option<Error>,
    ) -> DeleteOutcome {
        let retention = (|| -> Result<DeleteOutcome> {
            // What rolls asked for, when no flusher thread ran it.
            log.flush_pending()?;
            let outcome = log.try_delete_old_segments()?.unwrap_or_default();
            log.expire_producers(self.inner.config.producer_id_expiration_ms)?;
            Ok(outcome)
        })();
        let removal = log.delete_expired_files(self.inner.clock.now_ms());
        let outcome = retention.unwrap_or_else(|e| {
            first_error.get_or_insert(e);
            DeleteOutcome::default()
        });
        if let Err(e) = removal {
            first_error.get_or_insert(e);
        }
        outcome
    }

    /// One cleaner pass over every compacted partition: what a cleaner thread
    /// runs. Returns whether a partition was cleaned.
    pub(crate) fn clean_filthiest(&self, map: &mut crate::cleaner::offset_map::OffsetMap) -> bool {
        let logs: Vec<_> = self.logs(None).into_iter().map(|(_, l)| l).collect();
        let cleaned = self.inner.cleaner.clean_filthiest(&logs, &[], true, map);
        if let Some((i, _)) = &cleaned
            && let Some(log) = logs.get(*i)
            && !self.inner.cleaner.stopped()
            && !log.is_closing()
        {
            // The retention a pass over every partition may have passed over while the
            // cleaning held this one (Kafka's cleaner runs it after each cleaning).
            let mut failed = None;
            self.retention_pass(log, &mut failed);
            if let Some(e) = failed {
                self.record(super::BackgroundTask::Retention, Err(e));
            }
        }
        match cleaned {
            Some((_, Ok(o))) => o.segments_replaced > 0,
            // A cleaning the store's close stopped failed for no fault of its log.
            Some((_, Err(_))) if self.inner.cleaner.stopped() => false,
            Some((_, Err(e))) => {
                self.record(super::BackgroundTask::Cleaner, Err(e));
                false
            }
            None => false,
        }
    }

    /// Retention only, on every partition: what the retention thread runs
    /// every `log.retention.check.interval.ms`.
    pub(crate) fn retention_all(&self) -> Result<DeleteOutcome> {
        let mut total = DeleteOutcome::default();
        let mut first_error = None;
        for (_, log) in self.logs(None).into_iter().filter(|(_, l)| l.poisoned().is_none()) {
            total.add(self.retention_pass(&log, &mut first_error));
        }
        first_error.map_or(Ok(total), Err)
    }

    /// Forgets the producers idle for `producer.id.expiration.ms` on every
    /// partition: what the maintenance thread runs every
    /// `producer.id.expiration.check.interval.ms` (Kafka's periodic
    /// producer-expiration check), besides each retention pass.
    pub(crate) fn expire_producers_all(&self) {
        let expiration_ms = self.inner.config.producer_id_expiration_ms;
        for (_, log) in self.logs(None).into_iter().filter(|(_, l)| l.poisoned().is_none()) {
            // The store's value was validated (1 to i32::MAX): never refused here.
            let _ = log.expire_producers(expiration_ms);
        }
    }

    /// The `flush.ms` check on every partition.
    pub(crate) fn flush_due_all(&self) -> Result<()> {
        let mut first_error = None;
        for (_, log) in self.logs(None).into_iter().filter(|(_, l)| l.poisoned().is_none()) {
            if let Err(e) = log.flush_if_due() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
