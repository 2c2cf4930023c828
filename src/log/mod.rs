//! One partition's log: an ordered list of segments, the last one active.
//!
//! # Concurrency
//! One appender at a time (the append lock); any number of readers. A reader
//! takes the view lock only to clone a snapshot — the segment list, the log
//! start and end offsets — and then reads through memory maps with no lock.
//! The appender writes a batch, updates the indexes, publishes the segment's
//! new length and finally the new log end offset, so a reader never sees a
//! batch at or past the end offset it snapshotted.
//!
//! # Durability
//! An append returns once its bytes are in the page cache. It is durable once
//! flushed: by [`Log::flush`], by `flush.messages` / `flush.ms`, by the sync
//! pass a roll asks for (up to the new segment's base), or at close; see
//! [`flush`]. The recovery point is the offset below which everything was
//! fsynced; after a crash only segments at or above it are re-validated. A failed write or
//! fsync poisons the log: every later append or flush fails with
//! [`Error::Poisoned`] instead of retrying over unknown disk state — except a
//! full disk at a write or roll, which fails that append with the retriable
//! [`Error::NoSpace`] and cuts the partial write back, and a full disk at an
//! fsync, which fails that pass with the same error and leaves the recovery
//! point where it was (the segment rewrites its unsynced bytes before its
//! next fsync; see the crate's durability contract). A pass that cannot open
//! a file to sync (out of descriptors or memory after eviction) ran no fsync
//! of it and fails without poisoning too.

mod append;
mod claim;
mod close;
mod delete;
mod fetched;
pub mod flush;
#[cfg(test)]
mod layout;
mod leader_epoch;
mod load;
mod lookup;
mod partition_metadata;
mod point;
mod producer_state;
mod read;
mod read_only;
mod records;
mod recovery_rules;
pub mod retention;
pub mod roll;
mod rolling;
mod snapshot_file;
mod space;
mod split;
#[cfg(feature = "stream")]
pub mod stream;
mod swap;
mod swap_content;
mod tail;
mod txn;
mod txn_recover;

/// The longest file of each kind of partition state the log reads whole
/// (it refuses a longer one unread, naming it), for tools that read them
/// too (`logtool dump`): a planted sparse file costs them no more memory
/// than it costs the log.
pub mod read_limits {
    /// `partition.metadata`.
    pub const PARTITION_METADATA: u64 = super::partition_metadata::MAX_FILE_LEN;
    /// `leader-epoch-checkpoint`.
    pub const LEADER_EPOCH_CHECKPOINT: u64 = super::leader_epoch::MAX_CHECKPOINT_LEN;
    /// An offset checkpoint (`recovery-point-offset-checkpoint` and its kin).
    pub const OFFSET_CHECKPOINT: u64 = crate::store::checkpoint::MAX_FILE_LEN;

    /// A producer-state `.snapshot`.
    #[must_use]
    pub fn producer_snapshot() -> u64 {
        super::producer_state::max_snapshot_len()
    }
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::config::LogConfig;
use crate::format::builder::set_base_offset_and_epoch;
use crate::format::{BatchView, RecordParts};
use crate::segment::budget::Budget;
use crate::segment::{Segment, SegmentLimits};
use crate::{Error, Result};

pub use delete::DeleteOutcome;
pub use fetched::{Fetched, FetchedBatch, FetchedRecords, FileSlice};
pub use load::{LoadOptions, LoadReport};
pub use lookup::{OffsetSpec, TimestampedOffset};
pub(crate) use partition_metadata::{new_topic_id, read_topic_id};
pub(crate) use producer_state::LastRecord;
pub use read_only::TailCut;
pub(crate) use read_only::describe_stop;
pub use records::{DEFAULT_FETCH_BYTES, RecordsFrom};
pub(crate) use space::FreeSpace;
#[cfg(feature = "stream")]
pub use stream::Tail;
pub use tail::WaitFor;
pub use txn::{AbortedTransaction, Isolation, TxnMarker};

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Number of records.
    pub records: i64,
    /// The batch's maxTimestamp as stored.
    pub max_timestamp: i64,
    /// Bytes written.
    pub size: usize,
}

/// What readers snapshot. `repr(C)`: what an append reads or writes first
/// (see [`Inner`]).
#[derive(Debug, Clone)]
#[repr(C)]
struct View {
    segments: Arc<Vec<Arc<Segment>>>,
    log_end_offset: i64,
    /// Tailing readers waiting for an append (see [`tail`]).
    waiters: usize,
    /// First offset of the earliest open transaction.
    first_unstable_offset: Option<i64>,
    log_start_offset: i64,
}

impl View {
    /// Kafka's LSO: the first unstable offset (not below the log start), else the end.
    fn last_stable_offset(&self) -> i64 {
        self.first_unstable_offset
            .map_or(self.log_end_offset, |f| f.max(self.log_start_offset).min(self.log_end_offset))
    }
}

/// Appender-only state. `repr(C)`: what every append reads first, together
/// (see [`Inner`]).
#[derive(Debug)]
#[repr(C)]
struct Writer {
    closed: bool,
    leader_epoch: i32,
    /// The active segment and the segment list it was taken from (see
    /// [`Log::active_for_append`]).
    active: Option<ActiveCache>,
    /// `leader-epoch-checkpoint` (its copy of the last entry first).
    epochs: leader_epoch::EpochCache,
    producers: producer_state::ProducerState,
    jitter_seed: u64,
    /// The offset of a snapshot known to be durable on disk (written at
    /// close, or found at a clean open): close rewrites it only if the
    /// state it holds changed.
    durable_snapshot: Option<i64>,
}

/// The last segment of a segment list, kept by the appender: while the view
/// still holds that very list (same address), the append reads neither the
/// list's allocation nor its vector: two cache lines less per append on a
/// store whose appends go round-robin over many partitions. Both are held
/// weakly: a weak count keeps the list's allocation from being freed, so its
/// address is not reused by a later list and equal addresses mean the same
/// list, while a list the view dropped (retention, compaction, a roll) frees
/// its segments at once, not at this partition's next append: an idle
/// partition's deleted segments give their disk space back.
#[derive(Debug)]
struct ActiveCache {
    list: std::sync::Weak<Vec<Arc<Segment>>>,
    active: std::sync::Weak<Segment>,
}

/// `repr(C)` and aligned to a cache line, hot fields first: an append reads
/// the flags, the config's [`append::AppendSettings`], the view and the
/// writer's first fields, which this order packs into the first three lines
/// (the compiler's own order spread them over about six: each a miss per
/// append when appends go round-robin over many partitions). On x86-64:
/// line 0 holds the flags, the settings' lock and 48 bytes of settings;
/// line 1 the rest of them, the view's lock and what an append reads and
/// writes of the view; line 2 the log start, the writer's lock, its flags,
/// active-segment cache and the copy of the last leader epoch entry
/// (`layout::an_appends_fields_of_a_log_lie_in_its_first_three_cache_lines`).
/// The clock, read by every append too, is in each handle ([`Log`]).
#[derive(Debug)]
#[repr(C, align(64))]
struct Inner {
    /// Whether `poison` holds a cause: the append's check reads this flag,
    /// beside the other flags it reads, instead of taking the lock.
    poisoned: std::sync::atomic::AtomicBool,
    /// Whether a watermark is set: without one an append reads this flag,
    /// beside the log's other flags, instead of taking `space`'s lock.
    watermark: std::sync::atomic::AtomicBool,
    /// Opened by [`Log::open_read_only`]: every change is refused.
    read_only: bool,
    /// What an append reads of `config`, set with it.
    settings: RwLock<append::AppendSettings>,
    view: RwLock<View>,
    writer: Mutex<Writer>,
    config: RwLock<Arc<LogConfig>>,
    dir: PathBuf,
    topic: String,
    partition: i32,
    /// Recovery point, sync passes and their waiters (see [`flush`]).
    flush: flush::Flush,
    /// The free-space watermark.
    space: space::Space,
    poison: Mutex<Option<String>>,
    tail: tail::Notifier,
    /// Segments renamed `.deleted`, with the time their files may go.
    pending_deletes: Mutex<Vec<(i64, Arc<Segment>)>>,
    /// Held by the cleaner for a whole pass and by retention: they never
    /// work on the same log at once. Taken before `writer`, never after.
    cleaning: Mutex<()>,
    /// First dirty offset (`cleaner-offset-checkpoint`).
    cleaner_checkpoint: Mutex<Option<i64>>,
    /// Set at the start of `close`: a cleaning in progress gives up.
    closing: std::sync::atomic::AtomicBool,
    /// Set once closed: reads fail with [`Error::Closed`].
    closed: std::sync::atomic::AtomicBool,
    /// This process's claim on the directory, given back at close.
    claim: Mutex<Option<claim::DirClaim>>,
    /// The store's budget of open segments and mapped bytes.
    budget: Arc<Budget>,
}

/// A partition's log. Cheap to clone; clones share the same log.
#[derive(Debug, Clone)]
pub struct Log {
    inner: Arc<Inner>,
    /// The log's clock, in the handle: an append reads it where the
    /// caller keeps its handles, not from a cache line of the log of its
    /// own (a miss per append when appends go round-robin over many
    /// partitions).
    clock: Arc<dyn Clock>,
}

impl Log {
    /// The partition directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Topic name.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// Partition number.
    #[must_use]
    pub fn partition(&self) -> i32 {
        self.inner.partition
    }

    /// `topic-N`.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}-{}", self.inner.topic, self.inner.partition)
    }

    /// The effective config.
    #[must_use]
    pub fn config(&self) -> Arc<LogConfig> {
        Arc::clone(&self.inner.config.read())
    }

    /// What an append reads of the config (see [`append::AppendSettings`]).
    fn append_settings(&self) -> append::AppendSettings {
        *self.inner.settings.read()
    }

    /// Replaces the config; the next append, roll and maintenance pass obey it.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a config that breaks a rule
    /// ([`LogConfig::validate`]): it is refused now, and the log keeps its
    /// config, rather than failing (and poisoning the log) at the next roll.
    /// Every valid config can be honoured by the next roll, down to
    /// `segment.index.bytes` = 4.
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        // The settings change under the config's write lock: two calls
        // cannot leave one's settings beside the other's config.
        let mut full = self.inner.config.write();
        *self.inner.settings.write() = append::AppendSettings::of(&config);
        *full = Arc::new(config);
        Ok(())
    }

    /// Whether `other` is a handle of this same log.
    #[must_use]
    pub fn same_log(&self, other: &Log) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn view(&self) -> View {
        self.inner.view.read().clone()
    }

    /// First readable offset.
    #[must_use]
    pub fn log_start_offset(&self) -> i64 {
        self.inner.view.read().log_start_offset
    }

    /// Next offset to be written.
    #[must_use]
    pub fn log_end_offset(&self) -> i64 {
        self.inner.view.read().log_end_offset
    }

    /// Number of segments.
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.inner.view.read().segments.len()
    }

    /// Base offsets of the segments, oldest first.
    #[must_use]
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.inner.view.read().segments.iter().map(|s| s.base_offset()).collect()
    }

    /// Total bytes of all `.log` files.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.inner.view.read().segments.iter().map(|s| s.len()).sum()
    }

    fn check_poison(&self) -> Result<()> {
        if !self.inner.poisoned.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        match &*self.inner.poison.lock() {
            Some(cause) => Err(Error::Poisoned { partition: self.name(), cause: cause.clone() }),
            None => Ok(()),
        }
    }

    /// A failed write or roll: a full disk is a retriable [`Error::NoSpace`]
    /// that leaves the log usable (the write was cut back); any other failure
    /// poisons the log.
    fn fail_write(&self, e: Error) -> Error {
        match e.into_no_space() {
            e @ Error::NoSpace { .. } => e,
            e => self.poison(e),
        }
    }

    /// Records `e` as the cause that poisons the log, and returns it.
    fn poison(&self, e: Error) -> Error {
        {
            let mut p = self.inner.poison.lock();
            if p.is_none() {
                *p = Some(e.to_string());
                self.inner.poisoned.store(true, std::sync::atomic::Ordering::Release);
                crate::events::poisoned(&self.name(), &e);
            }
        }
        // No append can follow: tailing readers end with the poison.
        self.inner.tail.notify();
        self.wake_sync_waiters();
        e
    }

    /// Appends records as one batch built here, compressed with the topic's
    /// `compression.type` (none when it is `producer`). Records with
    /// timestamp -1 are stamped with the current time; any other negative
    /// timestamp is refused, as Kafka's producer refuses it.
    ///
    /// Takes owned [`Record`](crate::format::Record)s or [`BorrowedRecord`](crate::format::BorrowedRecord)s (any [`RecordParts`]):
    /// keys and values are encoded straight from them into the batch, which
    /// the log checks against the topic's rules while building it and then
    /// writes without validating it again.
    ///
    /// Both kinds go through the same encoder, reading each record's key and
    /// value in place (no `Bytes` is cloned or dropped, nothing copied but
    /// into the batch); owned records cost the append about 3% more
    /// instructions (a null check on each `Option<Bytes>`). What they cost
    /// is in their making and dropping, outside the append: a
    /// `Bytes::copy_from_slice` key and value are two allocations, copies
    /// and frees a record (2.5 times the append's instructions for 8-byte
    /// keys and 100-byte values), `Bytes::slice`s two reference counts up
    /// and down (half the append's); `examples/append_profile.rs` measures
    /// both, modes `records`, `shared` and their `_held` forms. Bytes
    /// already in a buffer need only be borrowed.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use strata::{LoadOptions, Log, LogConfig, SystemClock};
    /// use strata::BorrowedRecord;
    /// # let dir = tempfile::tempdir()?;
    /// # let (log, _) = Log::open(dir.path(), "t", 0, LogConfig::default(), Arc::new(SystemClock), LoadOptions::default())?;
    /// let line = b"order-17,shipped".to_vec();
    /// let (key, value) = line.split_at(8);
    /// let at = log.append(&[BorrowedRecord::new(key, &value[1..])])?;
    /// assert_eq!(at.base_offset, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`append_batch`](Self::append_batch), and
    /// [`Error::InvalidTimestamp`] for a timestamp below -1 (nothing of the
    /// records is appended).
    ///
    /// [`BorrowedRecord`]: crate::format::BorrowedRecord
    pub fn append<R: RecordParts>(&self, records: &[R]) -> Result<AppendInfo> {
        let cfg = self.append_settings();
        let now = self.clock.now_ms();
        let (mut batch, records) = append::build(records, &cfg, now)?;
        let w = self.writer()?;
        set_base_offset_and_epoch(&mut batch, self.log_end_offset(), w.leader_epoch);
        let batch =
            BatchView::new(Bytes::from(batch)).map_err(|source| Error::InvalidBatch { source })?;
        let prepared = append::PreparedBatch { batch, records, head: None };
        let appended = self.append_prepared(w, &cfg, &prepared, now);
        // The batch's buffer serves this thread's next append.
        append::recycle(prepared.batch.into_bytes());
        appended
    }

    /// Appends a client-built v2 batch: validated, offsets assigned by patching
    /// its base offset, stored verbatim unless the topic's rules require a
    /// rewrite (see the rules of [`Log::append`]).
    ///
    /// # Errors
    /// [`Error::InvalidBatch`] / [`Error::InvalidRecord`] for a bad batch,
    /// [`Error::RecordTooLarge`], [`Error::InvalidTimestamp`];
    /// for an idempotent or transactional producer's batch
    /// [`Error::OutOfOrderSequence`], [`Error::InvalidProducerEpoch`] (a
    /// fenced epoch) and [`Error::InvalidTxnState`] (a duplicate of one of
    /// its last five batches is no error: it answers its first offsets and
    /// writes nothing);
    /// [`Error::Poisoned`] after an earlier I/O failure, [`Error::Closed`];
    /// the retriable [`Error::NoSpace`] when the disk is full or below the
    /// free-space watermark (nothing was written; the log stays usable),
    /// except at the sync of a `strata.durability=sync` append: an error of
    /// that sync (`NoSpace`, or an I/O error that does not poison) comes
    /// after the write, so the records are in the log and served but not
    /// acknowledged durable, and a retry without an idempotent producer
    /// writes them twice (see the crate docs' durability contract);
    /// [`Error::InvalidRequest`] when the batch's offsets would pass
    /// `i64::MAX` (a log end put near it by a hostile file name).
    pub fn append_batch(&self, batch: Bytes) -> Result<AppendInfo> {
        let w = self.writer()?;
        let settings = self.append_settings();
        let now = self.clock.now_ms();
        let leo = self.log_end_offset();
        let prepared = append::prepare(batch, &settings, leo, w.leader_epoch, now)?;
        self.append_prepared(w, &settings, &prepared, now)
    }

    /// Writes a batch whose offsets are assigned, under the append lock `w`.
    fn append_prepared(
        &self,
        mut w: parking_lot::MutexGuard<'_, Writer>,
        cfg: &append::AppendSettings,
        prepared: &append::PreparedBatch,
        now: i64,
    ) -> Result<AppendInfo> {
        let batch = &prepared.batch;
        if let Some(d) = w.producers.check(batch)? {
            // A retry of a batch already in the log: answer as the first time, write nothing.
            drop(w);
            self.acknowledge(cfg, d.last_offset)?;
            return Ok(AppendInfo {
                base_offset: d.first_offset,
                last_offset: d.last_offset,
                records: d.last_offset - d.first_offset + 1,
                max_timestamp: d.timestamp,
                size: 0,
            });
        }
        if batch.size() as u64 > cfg.segment_bytes {
            return Err(Error::RecordTooLarge {
                size: batch.size(),
                limit_name: "segment.bytes",
                limit: cfg.segment_bytes,
            });
        }
        self.check_free_space(batch.size() as u64)?;
        self.write_locked_with_head(
            &mut w,
            cfg,
            batch,
            prepared.head.as_ref().map(|h| &h[..]),
            now,
        )?;
        let info = AppendInfo {
            base_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
            records: prepared.records,
            max_timestamp: batch.max_timestamp(),
            size: batch.size(),
        };
        // next - recovery point >= flush.messages needs next >= flush.messages
        // (offsets are >= 0): checked first, so the default (Long.MAX) never
        // reads the recovery point's lock.
        if cfg.flush_messages > 0
            && batch.next_offset() >= cfg.flush_messages
            && batch.next_offset() - self.recovery_point() >= cfg.flush_messages
        {
            self.sync_to(batch.next_offset())?;
        }
        drop(w);
        self.acknowledge(cfg, info.last_offset)?;
        Ok(info)
    }

    /// Waits until `last_offset` is synced when the topic's durability class
    /// says an append is acknowledged only then (called without the append lock).
    fn acknowledge(&self, cfg: &append::AppendSettings, last_offset: i64) -> Result<()> {
        if cfg.acknowledge_synced {
            self.commit_durable(last_offset.saturating_add(1))
        } else {
            Ok(())
        }
    }

    /// The append lock, refused when the log is poisoned or closed.
    fn writer(&self) -> Result<parking_lot::MutexGuard<'_, Writer>> {
        let w = self.inner.writer.lock();
        self.check_poison()?;
        if w.closed {
            return Err(self.closed_error());
        }
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        Ok(w)
    }

    /// Rolls if needed, writes a batch whose offsets are final, updates the
    /// producer state and publishes the new end offset to readers and waiters.
    fn write_locked(
        &self,
        w: &mut Writer,
        cfg: &append::AppendSettings,
        batch: &crate::format::BatchView,
        now: i64,
    ) -> Result<()> {
        self.write_locked_with_head(w, cfg, batch, None, now)
    }

    /// [`write_locked`](Self::write_locked), writing `head` in place of the
    /// batch's first bytes when given (see [`append::PreparedBatch::head`]).
    fn write_locked_with_head(
        &self,
        w: &mut Writer,
        cfg: &append::AppendSettings,
        batch: &crate::format::BatchView,
        head: Option<&[u8]>,
        now: i64,
    ) -> Result<()> {
        // The offset after the batch must exist: a log end near `i64::MAX`
        // (a hostile file name or checkpoint put it there) would otherwise
        // wrap the log end below zero and hand out offsets no read reaches.
        let span = i64::from(batch.last_offset_delta()).saturating_add(1);
        if batch.base_offset() < 0 || batch.base_offset().checked_add(span).is_none() {
            return Err(Error::InvalidRequest(format!(
                "{}: a batch of {span} offsets from {} would pass the largest offset, {}",
                self.name(),
                batch.base_offset(),
                i64::MAX
            )));
        }
        let (active, index_entry_due) = self.maybe_roll(
            w,
            cfg,
            batch.size() as u64,
            batch.max_timestamp(),
            batch.last_offset(),
            now,
        )?;
        // Opening what the append needs changes nothing: its failure does not poison.
        match index_entry_due {
            Some(due) => active.prepare_append_due(due),
            None => active.prepare_append(),
        }
        .map_err(Error::into_no_space)?;
        // The batch's epoch is checkpointed before the batch is written
        // (Kafka's `UnifiedLog.append` assigns it first): a full disk there
        // fails the append retriably with nothing written, and the cache
        // goes back to what the file holds, so the retry writes it again.
        if w.epochs.assign(batch.partition_leader_epoch(), batch.base_offset())
            && let Err(e) = w.epochs.write()
        {
            w.epochs.revert_to_disk();
            return Err(self.fail_write(e));
        }
        active.append_with_head(batch, head).map_err(|e| self.fail_write(e))?;
        let completed = w.producers.update(batch);
        self.index_completed(w, &active, completed)?;
        let waiting = {
            let mut v = self.inner.view.write();
            v.log_end_offset = batch.next_offset();
            // Only a producer's batch (id >= 0) can open or close a
            // transaction; the open transactions are not read otherwise.
            if batch.producer_id() >= 0 {
                v.first_unstable_offset = w.producers.first_unstable_offset();
            }
            v.waiters > 0
        };
        if waiting {
            self.inner.tail.notify();
        }
        Ok(())
    }

    /// The active segment, as [`active`](Self::active), from the writer's
    /// cache while the segment list is unchanged.
    fn active_for_append(&self, w: &mut Writer) -> Result<Arc<Segment>> {
        let v = self.inner.view.read();
        if let Some(c) = &w.active
            && std::ptr::eq(c.list.as_ptr(), Arc::as_ptr(&v.segments))
            // The view holds the list, and the list the segment.
            && let Some(active) = c.active.upgrade()
        {
            return Ok(active);
        }
        // Load always leaves at least one segment; an empty list means closed.
        let active = v.segments.last().cloned().ok_or_else(|| self.closed_error())?;
        w.active = Some(ActiveCache {
            list: Arc::downgrade(&v.segments),
            active: Arc::downgrade(&active),
        });
        Ok(active)
    }

    fn active(&self) -> Result<Arc<Segment>> {
        // Load always leaves at least one segment; an empty list means closed.
        self.inner.view.read().segments.last().cloned().ok_or_else(|| self.closed_error())
    }

    /// The segment list as readers see it.
    pub(crate) fn segments(&self) -> Arc<Vec<Arc<Segment>>> {
        Arc::clone(&self.inner.view.read().segments)
    }

    /// The log's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Excludes the cleaner and retention from each other; `None` if busy.
    pub(crate) fn try_cleaning_guard(&self) -> Option<parking_lot::MutexGuard<'_, ()>> {
        self.inner.cleaning.try_lock()
    }

    /// Whether a cleaning (or retention, which excludes it) holds the log now.
    pub(crate) fn cleaning_busy(&self) -> bool {
        self.inner.cleaning.is_locked()
    }

    /// Whether the log is closing or closed: long work on it should stop.
    pub(crate) fn is_closing(&self) -> bool {
        self.inner.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The cleaner's first dirty offset, as checkpointed.
    #[must_use]
    pub fn cleaner_checkpoint(&self) -> Option<i64> {
        *self.inner.cleaner_checkpoint.lock()
    }

    /// Sets the cleaner's first dirty offset (from `cleaner-offset-checkpoint`, or after a pass).
    pub fn set_cleaner_checkpoint(&self, offset: Option<i64>) {
        *self.inner.cleaner_checkpoint.lock() = offset;
    }

    /// Resets a cleaner checkpoint below the log start offset or past the log
    /// end offset to the log start offset, as Kafka's
    /// `LogCleanerManager.cleanableOffsets` does (`forceUpdateCheckpoint`):
    /// one past the end would come back into range as the log grows, and the
    /// records written below it by then would pass for cleaned ones (their
    /// keys never mapped, a deleted value outlives its tombstone).
    pub(crate) fn reset_stray_cleaner_checkpoint(&self) {
        let mut checkpoint = self.inner.cleaner_checkpoint.lock();
        let v = self.inner.view.read();
        if checkpoint.is_some_and(|c| c < v.log_start_offset || c > v.log_end_offset) {
            *checkpoint = Some(v.log_start_offset);
        }
    }

    /// What this log's segments need from `cfg`, with the log's budget.
    pub(crate) fn limits(&self, cfg: &LogConfig) -> SegmentLimits {
        Self::limits_with(cfg, &self.inner.budget)
    }

    pub(crate) fn limits_with(cfg: &LogConfig, budget: &Arc<Budget>) -> SegmentLimits {
        SegmentLimits {
            budget: Arc::clone(budget),
            max_index_size: cfg.segment_index_bytes,
            index_interval_bytes: cfg.index_interval_bytes,
            segment_bytes: cfg.segment_bytes,
        }
    }

    /// Forgets idempotent producers idle for `expiration_ms` (Kafka's
    /// `producer.id.expiration.ms`) and holding no open transaction;
    /// returns how many. 0 forgets every such producer.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a negative `expiration_ms` (which
    /// would forget every producer, whose retries would then be appended
    /// again instead of answered as duplicates); nothing is forgotten.
    pub fn expire_producers(&self, expiration_ms: i64) -> Result<usize> {
        refuse_negative_expiration(expiration_ms)?;
        let now = self.clock.now_ms();
        Ok(self.inner.writer.lock().producers.expire(now, expiration_ms))
    }

    /// The last record of each producer still remembered: what compaction keeps.
    pub(crate) fn last_records_of_active_producers(
        &self,
    ) -> std::collections::HashMap<i64, LastRecord> {
        self.inner.writer.lock().producers.last_records()
    }

    /// Idempotent producers this partition remembers.
    #[must_use]
    pub fn producer_count(&self) -> usize {
        self.inner.writer.lock().producers.len()
    }

    /// Writes a transaction marker (COMMIT or ABORT) for `producer_id`, as a
    /// transaction coordinator does with the legacy rules (transaction
    /// version 0); see [`Log::append_marker`]. Returns the marker's offset.
    ///
    /// # Errors
    /// As [`Log::append_marker`].
    pub fn append_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Result<i64> {
        self.append_marker(TxnMarker {
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
            transaction_version: 0,
        })
    }

    /// Whether an earlier failure poisoned the log, and why.
    #[must_use]
    pub fn poisoned(&self) -> Option<String> {
        self.inner.poison.lock().clone()
    }
}

/// [`Error::InvalidConfig`] for a negative `producer.id.expiration.ms`
/// given to [`Log::expire_producers`] or
/// [`LoadOptions::with_producer_id_expiration_ms`].
pub(crate) fn refuse_negative_expiration(expiration_ms: i64) -> Result<()> {
    if expiration_ms < 0 {
        return Err(Error::InvalidConfig {
            key: "producer.id.expiration.ms".into(),
            value: expiration_ms.to_string(),
            reason: "a negative expiration would forget every producer".into(),
        });
    }
    Ok(())
}
