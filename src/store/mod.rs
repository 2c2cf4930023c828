//! The store: topics of partitions spread over one or more log directories.
//!
//! A log directory holds `topic-N` partition directories and Kafka's
//! per-directory files: `recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, the `.kafka_cleanshutdown` marker and a
//! `.lock`. strata adds `strata-topics` (a copy in every directory, the
//! newest winning at open: see `meta_copies.rs`) to remember partition
//! counts and topic-level overrides.
//!
//! # Open and close protocol
//! Open: lock every directory; note and **delete** `.kafka_cleanshutdown`
//! (so a crash during load counts as unclean, Kafka's KAFKA-10471); read the
//! checkpoints; load every partition (recovering those of unclean
//! directories). A checkpoint that does not parse is reported in
//! [`Store::ignored_entries`] and read as empty; a damaged
//! `recovery-point-offset-checkpoint` also makes its directory unclean, so
//! every partition there is re-validated from its first segment whatever the
//! marker says (stricter than Kafka, which trusts the marker). Close: stop the background threads, flush and close every
//! partition, write the recovery-point, log-start-offset and cleaner
//! checkpoints, then write `.kafka_cleanshutdown` last, then unlock.

pub mod checkpoint;
mod checkpoints;
mod close;
mod display;
mod duplicates;
mod flusher;
mod groups;
mod lifecycle;
mod load;
mod maintain;
mod meta;
mod meta_copies;
mod meta_write;
mod new_partitions;
mod open;
mod parallel;
pub mod partitioner;
mod produce;
mod recovery;
mod scheduler;
mod topic_config;
mod topic_ensure;
mod topic_ids;
pub mod topic_name;
mod topic_partition;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::config::StoreConfig;
use crate::format::file_name::partition_dir_name;
use crate::io::file;
use crate::io::lock::DirLock;
use crate::log::{LoadReport, Log};
use crate::segment::budget::Budget;
use crate::{Error, Result};

use crate::cleaner::{Cleaner, CleanerStats};
pub use crate::segment::budget::ResourceStats;
use checkpoint::{
    CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};
pub use groups::{CommittedOffset, Groups, INTERNAL_TOPICS, OFFSETS_TOPIC, PartitionLag, ResetTo};
pub use maintain::MaintainReport;
pub use produce::RecordMetadata;
pub use recovery::RecoveryReport;
use scheduler::Scheduler;
pub use scheduler::{BackgroundError, BackgroundTask};
pub use topic_partition::TopicPartition;

/// One partition's place in the store.
#[derive(Debug, Clone)]
struct Partition {
    log: Log,
    dir_index: usize,
}

#[derive(Debug, Clone)]
struct Topic {
    overrides: BTreeMap<String, String>,
    partitions: Vec<Option<Partition>>,
}

/// A partition that failed to open, or that `strata-topics` counts but no
/// log directory holds: where it is and why.
#[derive(Debug, Clone)]
struct OfflinePartition {
    /// Its log directory; `None` when its directory was not found.
    dir_index: Option<usize>,
    /// Its directory; only its name (`topic-N`) when it was not found.
    path: PathBuf,
    cause: String,
    /// Checkpointed recovery point, log start offset and cleaner offset, kept
    /// so checkpoint rewrites do not forget them.
    checkpoints: [Option<i64>; 3],
    /// The log directory whose checkpoint files carry `checkpoints`: its
    /// own, or, for a partition whose directory was not found, the one whose
    /// files held its entries at open (so a directory restored there starts
    /// where it had: a log start never moves backwards).
    checkpoint_dir: Option<usize>,
}

#[derive(Debug)]
struct LogDir {
    path: PathBuf,
    /// Held from open to close (never by a read-only store).
    lock: Mutex<Option<DirLock>>,
    /// The free-space watermark's bookkeeping, shared by the directory's logs.
    free_space: Arc<crate::log::FreeSpace>,
}

#[derive(Debug)]
struct StoreInner {
    config: StoreConfig,
    dirs: Vec<LogDir>,
    topics: RwLock<BTreeMap<String, Topic>>,
    clock: Arc<dyn Clock>,
    /// Serializes topic creation, deletion and config changes.
    admin: Mutex<()>,
    load_reports: Vec<(String, LoadReport)>,
    /// Directories that failed at open, with the cause; their partitions are offline.
    offline_dirs: Vec<(PathBuf, String)>,
    /// Partitions that failed to open, by (topic, partition); the rest serve.
    offline_partitions: RwLock<BTreeMap<(String, i32), OfflinePartition>>,
    /// Entries on disk left alone at open, with why.
    ignored: Vec<(PathBuf, String)>,
    /// Topics whose deletion is committed in `strata-topics` but whose
    /// directories may remain (a failed or crashed delete).
    deleted: Mutex<std::collections::BTreeSet<String>>,
    /// Topics whose creation is committed in `strata-topics` but whose
    /// directories may not all exist yet (a failed or crashed create).
    creating: Mutex<std::collections::BTreeSet<String>>,
    /// The stamp of the store's `strata-topics` copies: its identity and the
    /// generation last written (or read at open).
    meta_stamp: Mutex<meta::Stamp>,
    /// One checkpoint writer at a time: each computes and writes a snapshot,
    /// and an older snapshot must not land after a newer one.
    checkpoints: Mutex<()>,
    closed: Mutex<bool>,
    scheduler: Mutex<Option<Scheduler>>,
    background_errors: Mutex<Vec<BackgroundError>>,
    cleaner: Cleaner,
    /// The budget of open segments and mapped bytes all partitions share.
    budget: Arc<Budget>,
    /// Consumer-group offsets, read from `__consumer_offsets` on first use.
    groups: Mutex<Option<groups::GroupState>>,
    /// Opened by [`Store::open_read_only`]: nothing is ever written.
    read_only: bool,
    /// Logs waiting for a sync pass by a worker of the flusher pool.
    flush_queue: Arc<flusher::FlushQueue>,
    /// The sticky partition of each topic's unkeyed [`Store::produce`] calls.
    sticky: produce::StickyState,
}

/// Dropping the last handle of a store that was not closed fences it: every
/// [`Log`] it handed out is closed without writing anything (as a crash
/// leaves the files; the next open recovers), and only then are the
/// directories unlocked, so a handle kept past the store can never write
/// beside the next store that opens them.
impl Drop for StoreInner {
    fn drop(&mut self) {
        if *self.closed.get_mut() {
            return;
        }
        // The threads hold weak references only: stopped here, they cannot run again.
        drop(self.scheduler.get_mut().take());
        for topic in self.topics.get_mut().values() {
            for p in topic.partitions.iter().flatten() {
                p.log.fence();
            }
        }
    }
}

/// A strata store. Cheap to clone; clones share it.
///
/// Close it with [`Store::close`] (a clean shutdown). Dropping the last clone
/// without closing is a crash as far as the files go, but not for the
/// handles: every [`Log`] from this store then fails with
/// [`Error::Closed`] before another store may open the directories.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

/// What a partition looks like from outside (`topic-describe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Topic.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// The log directory holding it.
    pub log_dir: PathBuf,
    /// First readable offset.
    pub log_start_offset: i64,
    /// Next offset to be written.
    pub log_end_offset: i64,
    /// Number of segments.
    pub segments: usize,
    /// Bytes on disk (`.log` files).
    pub size_bytes: u64,
    /// `None` when the partition serves; why it is offline otherwise (the
    /// cause [`Store::offline_partitions`] gives). An offline partition's
    /// offsets are -1 (unknown), its segments and size 0, and its `log_dir`
    /// empty when its directory was not found.
    pub offline: Option<String>,
}

impl Store {
    /// Opens (creating if needed) the store described by `config`, recovering
    /// partitions of directories that were not shut down cleanly.
    ///
    /// # Errors
    /// [`Error::DirectoryLocked`] for a log directory another store holds;
    /// [`Error::InvalidConfig`] for an invalid config (one directory listed
    /// twice included); [`Error::Io`] naming a log directory that is not a
    /// directory, and for I/O failures; [`Error::DuplicatePartition`] and
    /// [`Error::StoreMetadataConflict`] (see the crate's handle contract). A
    /// partition that cannot be opened is offline, not an error.
    pub fn open(config: StoreConfig) -> Result<Store> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// [`open`](Self::open) with a custom clock (tests of time-based behaviour).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_clock(config: StoreConfig, clock: Arc<dyn Clock>) -> Result<Store> {
        let store = Self::open_inner(config, clock, false)?;
        recovery::log_cuts(&store.recovery_report());
        Ok(store)
    }

    /// Opens the store to look, never to change: no file is created,
    /// renamed, truncated, removed or synced, no lock is taken and no thread
    /// started, so it works beside a running writer (this process or another)
    /// and on a directory that needs recovery. Partitions serve the data a
    /// writer's recovery would keep; [`recovery_report`](Self::recovery_report)
    /// lists what that recovery would cut. Every change is refused with
    /// [`Error::ReadOnly`]; tailing waits end at once.
    ///
    /// What a read-only store shows is a snapshot taken at open: appends a
    /// live writer makes later are not seen. A file the writer's own recovery
    /// truncates while this store reads it is outside the mmap contract.
    ///
    /// # Errors
    /// [`Error::Io`] naming a log directory that is missing or not a
    /// directory; otherwise as [`open`](Self::open), no lock being taken.
    pub fn open_read_only(config: StoreConfig) -> Result<Store> {
        Self::open_inner(config, Arc::new(SystemClock), true)
    }

    /// Gives `log` the store's free-space watermark and hands its sync passes
    /// (after rolls, `flush.ms`) to the flusher pool, when the store runs one.
    fn attach(&self, log: &Log) {
        let min_free = self.inner.config.strata_log_dir_min_free_bytes;
        // The watermark is the directory's: its logs take the margin above it together.
        match self.inner.dirs.iter().find(|d| log.dir().parent() == Some(d.path.as_path())) {
            Some(d) => log.share_free_space(&d.free_space, min_free),
            None => log.set_min_free_bytes(min_free),
        }
        if self.inner.config.background_threads {
            log.set_flush_hook(Some(self.inner.flush_queue.hook()));
        }
    }

    /// Refuses changes to a closed store (its directories may belong to
    /// another store now) and to a read-only one.
    pub(crate) fn ensure_open(&self) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        if *self.inner.closed.lock() { Err(self.closed_error()) } else { Ok(()) }
    }

    /// [`Error::Closed`] naming the store by its log directories.
    pub(crate) fn closed_error(&self) -> Error {
        Error::closed(format!("the store ({})", self.dirs_text()))
    }

    /// The log directories, for a message: `/a, /b`.
    fn dirs_text(&self) -> String {
        let dirs: Vec<String> =
            self.inner.dirs.iter().map(|d| d.path.display().to_string()).collect();
        dirs.join(", ")
    }

    /// Takes the `admin` lock that serializes metadata changes, then checks
    /// the store is still open: [`close`](Self::close) takes the same lock
    /// first, so a change either finishes before close looks at the logs or
    /// sees [`Error::Closed`] — never writes after close released the
    /// directories.
    pub(crate) fn admin(&self) -> Result<parking_lot::MutexGuard<'_, ()>> {
        self.ensure_open()?;
        let guard = self.inner.admin.lock();
        self.ensure_open()?;
        Ok(guard)
    }

    /// Whether the store was opened with [`open_read_only`](Self::open_read_only).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// What recovery at open cut from torn or corrupt tails — or, for a
    /// read-only store, what a writer's open would cut and clean up. Empty
    /// after a clean shutdown of intact files.
    #[must_use]
    pub fn recovery_report(&self) -> RecoveryReport {
        RecoveryReport::from_loads(self.inner.read_only, &self.inner.load_reports)
    }

    /// The store's config.
    #[must_use]
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// What loading each partition found (recovered segments, truncations).
    #[must_use]
    pub fn load_reports(&self) -> &[(String, LoadReport)] {
        &self.inner.load_reports
    }

    /// Partitions that could not be opened: `(topic, partition, path, cause)`.
    /// The rest of the store serves; [`partition`](Self::partition) on one of
    /// these returns [`Error::PartitionOffline`].
    #[must_use]
    pub fn offline_partitions(&self) -> Vec<(String, i32, PathBuf, String)> {
        self.inner
            .offline_partitions
            .read()
            .iter()
            .map(|((t, p), o)| (t.clone(), *p, o.path.clone(), o.cause.clone()))
            .collect()
    }

    /// Entries found on disk at open and left alone, with why: stray
    /// directories that are not partitions (`plain--1`, `t-01`), checkpoints
    /// too damaged to read (read as empty).
    #[must_use]
    pub fn ignored_entries(&self) -> &[(PathBuf, String)] {
        &self.inner.ignored
    }

    /// The log of one partition.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::PartitionOffline`] for a
    /// partition that could not be opened or whose directory was not found;
    /// [`Error::Closed`] once the store is closed (its handles are dead).
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Log> {
        if *self.inner.closed.lock() {
            let dirs = self.dirs_text();
            return Err(Error::closed(format!(
                "partition {topic}-{partition} of the store ({dirs})"
            )));
        }
        self.held(topic, partition)
    }

    /// The log of `topic`-`partition` as the store holds it, closed or
    /// not ([`partition`](Self::partition) refuses a closed store's).
    fn held(&self, topic: &str, partition: i32) -> Result<Log> {
        let topics = self.inner.topics.read();
        let t = topics
            .get(topic)
            .ok_or_else(|| Error::UnknownPartition { topic: topic.to_owned(), partition: -1 })?;
        if partition < 0 {
            return Err(Error::InvalidRequest(format!(
                "partition {partition} of topic {topic} is negative"
            )));
        }
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i).cloned().flatten())
            .map(|p| p.log)
            .ok_or_else(|| {
                let offline = self.inner.offline_partitions.read();
                let found = offline.get(&(topic.to_owned(), partition));
                let not_found = found.is_none_or(|o| o.dir_index.is_none());
                match (found, self.inner.offline_dirs.first()) {
                    // A partition no online directory holds may live on a failed disk.
                    (_, Some((path, cause))) if not_found => {
                        Error::LogDirOffline { path: path.clone(), cause: cause.clone() }
                    }
                    (Some(o), _) => Error::PartitionOffline {
                        partition: partition_dir_name(topic, partition),
                        path: o.path.clone(),
                        cause: o.cause.clone(),
                    },
                    (None, _) => Error::UnknownPartition { topic: topic.to_owned(), partition },
                }
            })
    }

    /// Topic names with their partition counts, sorted.
    #[must_use]
    pub fn topics(&self) -> Vec<(String, i32)> {
        self.metas().into_iter().map(|(n, m)| (n, m.partitions)).collect()
    }

    /// Number of partitions of `topic`.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic.
    pub fn partition_count(&self, topic: &str) -> Result<i32> {
        let topics = self.inner.topics.read();
        let t = topics
            .get(topic)
            .ok_or_else(|| Error::UnknownPartition { topic: topic.to_owned(), partition: -1 })?;
        Ok(i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
    }

    /// Topic-level overrides of `topic`.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic.
    pub fn topic_overrides(&self, topic: &str) -> Result<BTreeMap<String, String>> {
        let topics = self.inner.topics.read();
        let t = topics
            .get(topic)
            .ok_or_else(|| Error::UnknownPartition { topic: topic.to_owned(), partition: -1 })?;
        Ok(t.overrides.clone())
    }

    /// State of each partition of `topic`, in partition order. A partition
    /// that is offline (it failed to open, or `strata-topics` counts it but
    /// no log directory holds it) is listed too, with
    /// [`offline`](PartitionInfo::offline) saying why and its offsets -1 (unknown).
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic.
    pub fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
        let topics = self.inner.topics.read();
        let t = topics
            .get(topic)
            .ok_or_else(|| Error::UnknownPartition { topic: topic.to_owned(), partition: -1 })?;
        let offline = self.inner.offline_partitions.read();
        let dir_path =
            |i: usize| self.inner.dirs.get(i).map(|d| d.path.clone()).unwrap_or_default();
        Ok(t.partitions
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let partition = i32::try_from(i).ok()?;
                if let Some(p) = slot {
                    return Some(PartitionInfo {
                        topic: topic.to_owned(),
                        partition,
                        log_dir: dir_path(p.dir_index),
                        log_start_offset: p.log.log_start_offset(),
                        log_end_offset: p.log.log_end_offset(),
                        segments: p.log.segment_count(),
                        size_bytes: p.log.size_bytes(),
                        offline: None,
                    });
                }
                let o = offline.get(&(topic.to_owned(), partition))?;
                Some(PartitionInfo {
                    topic: topic.to_owned(),
                    partition,
                    log_dir: o.dir_index.map(dir_path).unwrap_or_default(),
                    log_start_offset: -1,
                    log_end_offset: -1,
                    segments: 0,
                    size_bytes: 0,
                    offline: Some(o.cause.clone()),
                })
            })
            .collect())
    }

    fn logs(&self, topic: Option<&str>) -> Vec<(usize, Log)> {
        let topics = self.inner.topics.read();
        let mut out = Vec::new();
        let mut add = |t: &Topic| {
            out.extend(t.partitions.iter().flatten().map(|p| (p.dir_index, p.log.clone())));
        };
        match topic {
            // Looked up, not searched: the store's open asks once per topic.
            Some(name) => topics.get(name).into_iter().for_each(&mut add),
            None => topics.values().for_each(&mut add),
        }
        out
    }

    /// fsyncs every partition (or those of `topic`) and writes the checkpoints.
    ///
    /// An offline partition cannot be flushed: the others are flushed and
    /// checkpointed all the same, and then the call fails naming it, so an
    /// `Ok` always means every partition asked for is durable.
    ///
    /// # Errors
    /// The first fsync failure; [`Error::UnknownPartition`] for an unknown
    /// topic; after flushing the rest, [`Error::PartitionOffline`] for the
    /// first offline partition (its cause naming the others), or, flushing
    /// every topic, [`Error::LogDirOffline`] when a log directory is offline.
    pub fn flush(&self, topic: Option<&str>) -> Result<()> {
        self.ensure_open()?;
        if let Some(t) = topic {
            self.partition_count(t)?;
        }
        for (_, log) in self.logs(topic) {
            log.flush()?;
        }
        self.write_checkpoints()?;
        self.refuse_offline(topic)
    }

    /// [`Error::PartitionOffline`] for the first offline partition (of
    /// `topic`, or of any), naming the others; without a topic,
    /// [`Error::LogDirOffline`] for an offline log directory.
    fn refuse_offline(&self, topic: Option<&str>) -> Result<()> {
        let offline = self.inner.offline_partitions.read();
        let mut found = offline.iter().filter(|((t, _), _)| topic.is_none_or(|x| x == t));
        let Some(((t, p), first)) = found.next() else {
            return match self.inner.offline_dirs.first() {
                Some((path, cause)) if topic.is_none() => {
                    Err(Error::LogDirOffline { path: path.clone(), cause: cause.clone() })
                }
                _ => Ok(()),
            };
        };
        let others: Vec<String> = found.map(|((t, p), _)| partition_dir_name(t, *p)).collect();
        let mut cause = first.cause.clone();
        if !others.is_empty() {
            cause.push_str(&format!(
                " (and {} more offline partition(s): {})",
                others.len(),
                others.join(", ")
            ));
        }
        Err(Error::PartitionOffline {
            partition: partition_dir_name(t, *p),
            path: first.path.clone(),
            cause,
        })
    }

    /// What the store's segments hold open — descriptors, mapped bytes — and
    /// how often the budget (`log.open.segments.max`,
    /// `log.mapped.bytes.max`) closed idle segments to stay within it.
    #[must_use]
    pub fn resource_stats(&self) -> ResourceStats {
        self.inner.budget.stats()
    }

    /// Sync passes the store's open partitions completed since they were
    /// opened (the sum of [`Log::sync_passes`]): divided by the appends
    /// acknowledged meanwhile, the fsyncs an append cost.
    #[must_use]
    pub fn sync_passes(&self) -> u64 {
        self.logs(None).iter().map(|(_, log)| log.sync_passes()).sum()
    }

    /// The cleaner's statistics of every compacted partition it has looked at.
    #[must_use]
    pub fn cleaner_stats(&self) -> Vec<(TopicPartition, CleanerStats)> {
        let mut v: Vec<_> = self
            .inner
            .cleaner
            .stats()
            .into_iter()
            .map(|(tp, stats)| (TopicPartition::from(tp), stats))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Log directories, in config order.
    #[must_use]
    pub fn log_dirs(&self) -> Vec<PathBuf> {
        self.inner.dirs.iter().map(|d| d.path.clone()).collect()
    }

    /// The clock the store uses.
    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// The directory of a partition, for tools; also once the store is
    /// closed (to look at what the close left on disk).
    ///
    /// # Errors
    /// [`Error::UnknownPartition`].
    pub fn partition_dir(&self, topic: &str, partition: i32) -> Result<PathBuf> {
        Ok(self.held(topic, partition)?.dir().to_path_buf())
    }
}
