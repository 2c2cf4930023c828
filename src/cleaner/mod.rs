//! Log compaction: keep the latest record of every key, forever, in bounded
//! memory, safely under readers and crashes (Kafka's log cleaner).
//!
//! - [`select`]: which part of a log is dirty and which log is dirtiest —
//!   pure functions (`min.cleanable.dirty.ratio`, `min/max.compaction.lag.ms`);
//! - [`offset_map`]: key -> latest offset in `log.cleaner.dedupe.buffer.size`;
//! - `compact`: one cleaning — map, recopy, swap (see its steps);
//! - [`throttle`]: `log.cleaner.io.max.bytes.per.second` (shared by all threads).
//!
//! [`Cleaner`] runs passes over a set of logs, keeps per-partition
//! [`CleanerStats`], and never gives up on a partition: a failed cleaning is
//! recorded (`failures`, `last_error`) and retried — by `maintain` on its next
//! call, by the cleaner threads after an exponential backoff so that it does
//! not starve the other partitions — unlike
//! Kafka, which marks the partition uncleanable until restart (its gotcha G4).
//!
//! Legacy (magic 0/1) messages, which segments of upgraded brokers hold, are
//! compacted by key as Kafka compacts them (each shallow entry is a batch):
//! an entry none of whose records is kept goes, one that keeps all is copied
//! byte for byte, and a compressed wrapper that keeps some is rewritten with
//! only those, as one wrapper of the same magic and codec, as Kafka rewrites
//! it (uncompressed messages only when the codec is compiled out).
//! Legacy tombstones, which carry no delete horizon, go as Kafka's go: from a
//! segment last modified more than `delete.retention.ms` before the last
//! segment of the clean section.

mod compact;
pub mod offset_map;
pub mod select;
pub mod throttle;
mod txn;

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::config::StoreConfig;
use crate::log::Log;

pub use compact::CleanOutcome;
use offset_map::OffsetMap;
use throttle::Throttle;

/// What the cleaner knows about one partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerStats {
    /// Dirty ratio at the last look: the cleanable bytes (up to the active
    /// segment, `min.compaction.lag.ms` and the last stable offset) over all.
    pub dirty_ratio: f64,
    /// When it was last cleaned (ms since the epoch).
    pub last_clean_ms: Option<i64>,
    /// Cleanings done.
    pub cleanings: u64,
    /// Bytes read by all cleanings.
    pub bytes_read: u64,
    /// Bytes written by all cleanings.
    pub bytes_written: u64,
    /// Records removed by all cleanings.
    pub records_removed: u64,
    /// Cleanings that failed (each is retried; see the module doc).
    pub failures: u64,
    /// Why the last failure happened.
    pub last_error: Option<String>,
    /// When the last failure happened (ms since the epoch).
    pub last_failure_ms: Option<i64>,
    /// Failures since the last success: the cleaner threads wait
    /// `log.cleaner.backoff.ms × 2^n` (at most 64×) before trying it again.
    pub consecutive_failures: u32,
}

impl CleanerStats {
    fn record_failure(&mut self, e: &crate::Error, now: i64) {
        self.failures += 1;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failure_ms = Some(now);
        self.last_error = Some(e.to_string());
    }
}

/// Totals of one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Partitions cleaned.
    pub partitions_cleaned: usize,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Records removed.
    pub records_removed: u64,
    /// Cleanings that failed.
    pub failures: usize,
}

/// The store's cleaner: memory budget, throttle and statistics.
#[derive(Debug)]
pub struct Cleaner {
    memory_per_thread: u64,
    load_factor: f64,
    throttle: Throttle,
    backoff_ms: i64,
    stats: Mutex<HashMap<(String, i32), CleanerStats>>,
}

impl Cleaner {
    /// A cleaner configured by the store's `log.cleaner.*` settings.
    #[must_use]
    pub fn new(cfg: &StoreConfig) -> Self {
        let threads = u64::from(cfg.log_cleaner_threads.max(1));
        Cleaner {
            memory_per_thread: (cfg.log_cleaner_dedupe_buffer_size / threads).min(i32::MAX as u64),
            load_factor: cfg.log_cleaner_io_buffer_load_factor,
            throttle: Throttle::new(cfg.log_cleaner_io_max_bytes_per_second),
            backoff_ms: cfg.log_cleaner_backoff_ms,
            stats: Mutex::new(HashMap::new()),
        }
    }

    /// Stops the cleaner for good: cleanings in progress stop at their next
    /// batch (or throttle slice) with [`crate::Error::Closed`], and none
    /// starts. The store's close calls it before it joins the cleaner
    /// threads, so a throttled cleaning is not waited out.
    pub fn stop(&self) {
        self.throttle.stop();
    }

    /// Whether [`stop`](Self::stop) was called.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.throttle.stopped()
    }

    /// A key map of one thread's share of the memory budget.
    #[must_use]
    pub fn new_map(&self) -> OffsetMap {
        OffsetMap::new(self.memory_per_thread, self.load_factor)
    }

    /// Statistics of every partition the cleaner has looked at.
    #[must_use]
    pub fn stats(&self) -> HashMap<(String, i32), CleanerStats> {
        self.stats.lock().clone()
    }

    fn note(&self, log: &Log, f: impl FnOnce(&mut CleanerStats)) {
        f(self.stats.lock().entry((log.topic().to_owned(), log.partition())).or_default());
    }

    /// Whether `log` failed recently enough to wait: a partition that keeps
    /// failing must not starve the others, yet is retried, never abandoned.
    fn backing_off(&self, log: &Log) -> bool {
        let stats = self.stats.lock();
        let Some(s) = stats.get(&(log.topic().to_owned(), log.partition())) else { return false };
        let wait = self.backoff_ms.saturating_mul(1 << s.consecutive_failures.min(6));
        s.last_failure_ms.is_some_and(|at| log.now_ms().saturating_sub(at) < wait)
    }

    /// Cleans the dirtiest eligible compacted log among `logs`, skipping those
    /// in `skip` and, with `respect_backoff`, those that failed recently.
    /// Returns the log's index and outcome, or `None` when no log qualifies.
    pub fn clean_filthiest(
        &self,
        logs: &[Log],
        skip: &[usize],
        respect_backoff: bool,
        map: &mut OffsetMap,
    ) -> Option<(usize, crate::Result<CleanOutcome>)> {
        let mut candidates = Vec::new();
        let mut index = Vec::new();
        for (i, log) in logs.iter().enumerate() {
            if skip.contains(&i) || !log.config().cleanup_policy.compact || log.poisoned().is_some()
            {
                continue;
            }
            if respect_backoff && self.backing_off(log) {
                continue;
            }
            // Being cleaned by another thread (Kafka's `grabFilthiestCompactedLog`
            // skips logs in progress): picked, it would only come back busy,
            // and this thread would sleep instead of cleaning another log.
            if log.cleaning_busy() {
                continue;
            }
            match compact::sections(log) {
                Ok(c) => {
                    self.note(log, |s| s.dirty_ratio = c.dirty_ratio);
                    candidates.push(c);
                    index.push(i);
                }
                Err(e) => self.note(log, |s| s.record_failure(&e, log.now_ms())),
            }
        }
        let pick = *index.get(select::filthiest(&candidates)?)?;
        let log = logs.get(pick)?;
        let result = compact::clean(log, map, &self.throttle);
        match &result {
            Ok(Some(o)) => {
                let name = log.name();
                crate::events::cleaned(&name, o.bytes_read, o.bytes_written, o.records_removed);
            }
            Ok(None) => {}
            Err(_) if self.stopped() => {}
            Err(e) => crate::events::cleaning_failed(&log.name(), e),
        }
        match &result {
            Ok(Some(o)) => self.note(log, |s| {
                s.consecutive_failures = 0;
                s.cleanings += 1;
                s.last_clean_ms = Some(log.now_ms());
                s.bytes_read += o.bytes_read;
                s.bytes_written += o.bytes_written;
                s.records_removed += o.records_removed;
            }),
            Ok(None) => {}
            // Stopped by the cleaner's shutdown: no failure of the log's.
            Err(_) if self.stopped() => {}
            Err(e) => self.note(log, |s| s.record_failure(e, log.now_ms())),
        }
        Some((pick, result.map(Option::unwrap_or_default)))
    }

    /// Cleans every eligible compacted log once, dirtiest first.
    pub fn clean_all(&self, logs: &[Log]) -> PassReport {
        let mut map = self.new_map();
        let mut done = Vec::new();
        let mut report = PassReport::default();
        while let Some((i, result)) = self.clean_filthiest(logs, &done, false, &mut map) {
            done.push(i);
            match result {
                Ok(o) if o.segments_replaced > 0 => {
                    report.partitions_cleaned += 1;
                    report.bytes_read += o.bytes_read;
                    report.bytes_written += o.bytes_written;
                    report.records_removed += o.records_removed;
                }
                Ok(_) => {}
                Err(_) => report.failures += 1,
            }
        }
        report
    }
}
