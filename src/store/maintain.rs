//! One pass of the store's background work, callable by hand.
//!
//! Per partition: retention (log start offset, size, time — for compacted
//! topics too, unlike Kafka whose compacted logs get no retention when the
//! cleaner is off, its gotcha G12), the `flush.ms` flush, and removal of
//! `.deleted` files whose delay has passed. Then the checkpoints.

use crate::Result;
use crate::log::DeleteOutcome;

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
}

impl Store {
    /// Runs one pass of what the background threads do — retention, the
    /// flush policy, delayed file deletion and checkpoints — on every
    /// partition (or those of `topic`). Embedders that turned the threads off
    /// call this on their own schedule.
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
            match self.retention_pass(&log).and_then(|d| log.flush_if_due().map(|f| (d, f))) {
                Ok((d, flushed)) => {
                    deleted.add(d);
                    report.partitions_flushed += usize::from(flushed);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        report.segments_deleted = deleted.segments_deleted;
        report.bytes_deleted = deleted.bytes_deleted;
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

    fn retention_pass(&self, log: &crate::log::Log) -> Result<DeleteOutcome> {
        // What rolls asked for, when no flusher thread ran it.
        log.flush_pending()?;
        let outcome = log.delete_old_segments()?;
        log.expire_producers(self.inner.config.producer_id_expiration_ms);
        log.delete_expired_files(self.inner.clock.now_ms())?;
        Ok(outcome)
    }

    /// One cleaner pass over every compacted partition: what a cleaner thread
    /// runs. Returns whether a partition was cleaned.
    pub(crate) fn clean_filthiest(&self, map: &mut crate::cleaner::offset_map::OffsetMap) -> bool {
        let logs: Vec<_> = self.logs(None).into_iter().map(|(_, l)| l).collect();
        let cleaned = self.inner.cleaner.clean_filthiest(&logs, &[], true, map);
        match cleaned {
            Some((_, Ok(o))) => o.segments_replaced > 0,
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
            match self.retention_pass(&log) {
                Ok(d) => total.add(d),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(total), Err)
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
