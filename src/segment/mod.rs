//! A segment: one `.log` file of batches plus its `.index` and `.timeindex`.
//!
//! The appender (the partition's one writer, holding the log's append lock)
//! writes whole batches at the end of the `.log` and keeps both indexes the
//! way Kafka >= 4.1 does (one rule per batch, §2.9 of the spec):
//!
//! 1. if more than `index.interval.bytes` were appended since the last
//!    offset-index entry, add `(batch.lastOffset, batch start position)` and
//!    offer `(maxTimestampSoFar, its offset)` to the time index;
//! 2. the time index only takes strictly larger timestamps;
//! 3. on roll and clean close the final `(maxTimestampSoFar, offset)` is added
//!    and both indexes are trimmed to their entries.
//!
//! This is exactly what recovery rebuilds, so an index rebuilt after a crash
//! equals the one written live. Reads of data never wait for an append: they
//! read the published length (an atomic) and view bytes through a shared
//! memory map. (Index lookups and the max-timestamp query take short locks
//! the appender also takes, never across the write itself.)
//!
//! Files and maps are opened on demand and counted in the store's
//! [`budget`]: the descriptor when something is written or synced, the
//! `.log` map on the first read past it (a sealed segment at exactly its
//! length, the active one in steps), the index maps on first lookup. The
//! budget closes idle segments' files; every reopen checks it finds the same
//! file ([`crate::io::identity`]).

mod append;
pub(crate) mod budget;
mod check;
mod dry_run;
mod files;
mod handle;
pub(crate) mod overflow;
mod read;
pub(crate) use read::prefetch_batch;
mod recover;
pub(crate) mod txn_index;
mod valid_prefix;

pub(crate) use read::stop_error;
pub(crate) use recover::{Recovery, Rules};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::format::file_name::{FileKind, segment_file_name};
use crate::format::{BatchIter, NO_TIMESTAMP, StopReason};
use crate::index::cadence::EntryCadence;
use crate::index::{OffsetIndex, TimeIndex};
use crate::io::file;
use crate::io::identity::{self, FileId};
use crate::io::mmap::ReadMap;
use crate::{Error, Result};

use budget::{Account, Budget};
use txn_index::TxnIndex;

/// The active segment's map grows in steps of at least this much (and by
/// doubling), never to `segment.bytes` at once.
const MAP_STEP: u64 = 1 << 20;

/// Sizes a segment needs from the topic config, and the store's budget.
#[derive(Debug, Clone)]
pub(crate) struct SegmentLimits {
    /// The store's budget of open segments and mapped bytes.
    pub budget: Arc<Budget>,
    /// `segment.index.bytes`.
    pub max_index_size: u64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u64,
    /// `segment.bytes`: the active segment's map grows up to this.
    pub segment_bytes: u64,
}

/// State only the appender changes.
#[derive(Debug, Default)]
struct AppendState {
    /// Where the last offset-index entry points: the `index.interval.bytes`
    /// rule counts from there ([`EntryCadence`], the rule a rebuild applies
    /// too). `None` until first needed for an existing segment: it is then
    /// read from the index (the segment start when it is empty), so the index
    /// a reopened segment writes equals the one a rebuild writes.
    index_cadence: Option<EntryCadence>,
    /// `(maxTimestampSoFar, offset of the batch holding it)`; loaded from the
    /// time index on first use for existing segments.
    max_timestamp: Option<(i64, i64)>,
    /// Max timestamp of the first batch: time-based rolling counts from it.
    rolling_base_timestamp: Option<i64>,
}

/// One segment. `Send + Sync`: readers share it with the appender.
///
/// `repr(C)`, hot fields first: what every append reads (the descriptor,
/// the length, the flags, the budget account, the name's lock, the append
/// state and the roll check's inputs) sits in a few neighbouring cache
/// lines after the reference counts, not spread over the whole struct
/// (its indexes included): each line is a miss per append when appends go
/// round-robin over many partitions.
#[repr(C)]
pub(crate) struct Segment {
    /// Open for writing while the segment is active or being recovered.
    /// Shared so that an fsync runs on a clone without holding the lock:
    /// appends to the segment go on while it syncs.
    file: Mutex<Option<Arc<File>>>,
    /// Bytes written and published to readers.
    len: AtomicU64,
    /// Whether the files are still ours to open, rename and remove: live,
    /// being removed, removed, or closed for good ([`files::Files`]). Reads of
    /// bytes already mapped work until the close (a reader that snapshotted
    /// the segment list before retention removed the segment).
    files: files::FilesState,
    /// Created empty by this process ([`Segment::create`]): every index
    /// entry it holds was written under `limits.index_interval_bytes`
    /// (live or by a rebuild), which bounds how many there can be (see
    /// [`Segment::indexes_have_room`]).
    created_here: AtomicBool,
    /// Sealed (rolled, closed or cleaned): mapped at exactly its length.
    sealed: AtomicBool,
    /// This segment's share of the store's budget.
    account: Arc<Account>,
    /// Current `.log` path (changes when renamed to `.deleted`).
    /// Shared, so a read hands it out by reference count, not by copy.
    log_path: RwLock<Arc<Path>>,
    state: Mutex<AppendState>,
    /// The appender gave the `.log` blocks up to here, past its length
    /// ([`Segment::allocate_ahead`]); 0 when it gave none.
    allocated: AtomicU64,
    base_offset: i64,
    created_ms: i64,
    roll_jitter_ms: i64,
    limits: SegmentLimits,
    /// The `.log` file first opened: every reopen by name must find it.
    log_id: FileId,
    map: RwLock<ReadMap>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Aborted transactions whose markers lie here (`.txnindex`).
    txn_index: TxnIndex,
    /// Set by a read-only open's dry-run recovery: the indexes are not to be
    /// trusted (a writer would rebuild them), so lookups scan from the start.
    scan_only: std::sync::atomic::AtomicBool,
    /// `.log` bytes below this were durable at the last successful fsync.
    synced: AtomicU64,
    /// Set by an fsync that failed for lack of space: the kernel may have
    /// marked the unsynced pages clean (they would never be written) or
    /// dropped them. The next sync first re-validates and rewrites the
    /// bytes from this position on (see [`Segment::flush_log`]).
    redirty_from: Mutex<Option<u64>>,
    /// The `.log`'s modification time, read by [`Segment::retire`] for a
    /// segment without timestamps: its largest timestamp for readers that
    /// listed it before it left, once its files are gone.
    retired_modified: std::sync::OnceLock<std::time::SystemTime>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.account.detach();
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("base_offset", &self.base_offset)
            .field("len", &self.len())
            .finish()
    }
}

/// Kafka's `FileRecords.open` refuses a segment file longer than an int
/// can address (its positions are ints, and so are strata's index
/// positions); so does this, naming the file, before anything scans it (a
/// planted sparse file of a terabyte costs no disk but would be read page by
/// page).
pub(crate) fn check_len(path: &Path, len: u64) -> Result<()> {
    if len > i32::MAX as u64 {
        return Err(crate::Error::CorruptFile {
            path: path.to_path_buf(),
            reason: format!("length {len} is past the largest segment ({} bytes)", i32::MAX),
        });
    }
    Ok(())
}

impl Segment {
    /// Creates a new, empty active segment at `base_offset` in `dir`,
    /// removing stray files of that name first (Kafka's `roll` step 2).
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        limits: SegmentLimits,
        now_ms: i64,
        jitter_ms: i64,
    ) -> Result<Arc<Self>> {
        let segment = Self::create_with_suffix(dir, base_offset, limits, now_ms, jitter_ms, "")?;
        segment.created_here.store(true, Ordering::Release);
        Ok(segment)
    }

    /// Creates a segment whose file names carry `suffix` (`.cleaned` for the
    /// cleaner's output), replacing stray files of the same names.
    pub(crate) fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        limits: SegmentLimits,
        now_ms: i64,
        jitter_ms: i64,
        suffix: &str,
    ) -> Result<Arc<Self>> {
        let name = |kind| dir.join(format!("{}{suffix}", segment_file_name(base_offset, kind)));
        // The descriptor is not kept: the first append opens it (through the budget).
        let create = || -> Result<(FileId, OffsetIndex, TimeIndex)> {
            for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex, FileKind::TxnIndex] {
                file::remove_file_if_exists(&name(kind))?;
            }
            let log_path = name(FileKind::Log);
            let f = file::create_new(&log_path)?;
            let id = identity::of(&f, &log_path)?;
            let offset_index =
                OffsetIndex::create(name(FileKind::Index), base_offset, limits.max_index_size)?;
            let time_index =
                TimeIndex::create(name(FileKind::TimeIndex), base_offset, limits.max_index_size)?;
            Ok((id, offset_index, time_index))
        };
        let budget = Arc::clone(&limits.budget);
        let created = budget::retrying(|| budget.relieve(u64::MAX), create);
        let (log_id, offset_index, time_index) = match created {
            Ok(made) => made,
            Err(e) => {
                // What this call made goes (the names were cleared first, so
                // any file there is this call's): a full disk must not keep a
                // cleaning's `.cleaned` files, or a roll's, until the next open.
                for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
                    let _ = file::remove_file_if_exists(&name(kind));
                }
                return Err(e);
            }
        };
        let txn_index = TxnIndex::create(name(FileKind::TxnIndex), base_offset);
        let segment = Self::assemble(
            base_offset,
            name(FileKind::Log),
            log_id,
            0,
            (offset_index, time_index, txn_index),
            limits,
            (now_ms, jitter_ms),
        );
        segment.state.lock().max_timestamp = Some((NO_TIMESTAMP, base_offset));
        Ok(segment)
    }

    /// Builds the shared segment (holding no descriptor: it is opened on
    /// first use) and counts its index maps in the budget.
    fn assemble(
        base_offset: i64,
        log_path: PathBuf,
        log_id: FileId,
        len: u64,
        (offset_index, time_index, txn_index): (OffsetIndex, TimeIndex, TxnIndex),
        limits: SegmentLimits,
        (created_ms, roll_jitter_ms): (i64, i64),
    ) -> Arc<Segment> {
        let segment = Arc::new_cyclic(|me| Segment {
            base_offset,
            log_id,
            files: files::FilesState::new(),
            log_path: RwLock::new(Arc::from(log_path)),
            file: Mutex::new(None),
            map: RwLock::new(ReadMap::empty()),
            len: AtomicU64::new(len),
            offset_index,
            time_index,
            txn_index,
            state: Mutex::new(AppendState::default()),
            allocated: AtomicU64::new(0),
            account: Arc::new(Account::new(&limits.budget, me.clone())),
            limits,
            created_ms,
            roll_jitter_ms,
            sealed: AtomicBool::new(false),
            created_here: AtomicBool::new(false),
            scan_only: AtomicBool::new(false),
            // Nothing is known durable until a sync of this process says so.
            synced: AtomicU64::new(0),
            redirty_from: Mutex::new(None),
            retired_modified: std::sync::OnceLock::new(),
        });
        segment.offset_index.set_account(Arc::clone(&segment.account));
        segment.time_index.set_account(Arc::clone(&segment.account));
        segment
    }

    /// Opens an existing segment without reading it: the indexes and the map
    /// are loaded on first use, so opening thousands of segments is cheap.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        limits: SegmentLimits,
        now_ms: i64,
        jitter_ms: i64,
    ) -> Result<Arc<Self>> {
        let log_path = dir.join(segment_file_name(base_offset, FileKind::Log));
        let (log_id, len) = identity::stat_file(&log_path)?;
        check_len(&log_path, len)?;
        let writable = true;
        let offset_index = OffsetIndex::open(
            dir.join(segment_file_name(base_offset, FileKind::Index)),
            base_offset,
            limits.max_index_size,
            writable,
        );
        let time_index = TimeIndex::open(
            dir.join(segment_file_name(base_offset, FileKind::TimeIndex)),
            base_offset,
            limits.max_index_size,
            writable,
        );
        let txn_index = TxnIndex::open(
            dir.join(segment_file_name(base_offset, FileKind::TxnIndex)),
            base_offset,
            len,
        );
        let segment = Self::assemble(
            base_offset,
            log_path,
            log_id,
            len,
            (offset_index, time_index, txn_index),
            limits,
            (now_ms, jitter_ms),
        );
        // Existing segments are sealed until `reopen_for_append` says otherwise.
        segment.sealed.store(true, Ordering::Release);
        Ok(segment)
    }

    /// First offset this segment may hold.
    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Published size of the `.log` in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Path of the `.log` file.
    pub(crate) fn log_path(&self) -> PathBuf {
        self.log_path.read().to_path_buf()
    }

    /// Path of the `.log` file, shared with the segment: a reference count,
    /// not an allocation, for what every read returns ([`crate::log::FileSlice`]).
    pub(crate) fn shared_log_path(&self) -> Arc<Path> {
        Arc::clone(&self.log_path.read())
    }

    /// Wall-clock creation time (for time-based rolling of segments without timestamps).
    pub(crate) fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// Jitter drawn for this segment.
    pub(crate) fn roll_jitter_ms(&self) -> i64 {
        self.roll_jitter_ms
    }

    pub(crate) fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub(crate) fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    pub(crate) fn txn_index(&self) -> &TxnIndex {
        &self.txn_index
    }

    /// Closed for good ([`Segment::close`]): reads fail, even of mapped bytes.
    fn is_closed(&self) -> bool {
        self.files.get() == files::Files::Closed
    }

    /// Refuses every use of the files of a closed or deleted segment.
    fn check_open(&self) -> Result<()> {
        if self.files.get() == files::Files::Live { Ok(()) } else { Err(self.closed()) }
    }

    /// [`Error::Closed`] naming the `.log` (its partition's directory). A recursive read of
    /// the name: built where a read of it may be held already, never behind a queued rename.
    pub(crate) fn closed(&self) -> Error {
        Error::closed_file(&self.log_path.read_recursive())
    }

    /// Max timestamp seen and the offset of the batch holding it.
    pub(crate) fn max_timestamp_so_far(&self) -> Result<(i64, i64)> {
        let mut st = self.state.lock();
        if let Some(m) = st.max_timestamp {
            return Ok(m);
        }
        let m = self.initial_max_timestamp()?;
        st.max_timestamp = Some(m);
        Ok(m)
    }

    /// The largest timestamp in the segment, or the `.log`'s modification
    /// time when no record carries one (Kafka's `LogSegment.largestTimestamp`):
    /// retention, compaction lag and time lookups use it, so a segment
    /// without timestamps is judged by its age and never skipped.
    pub(crate) fn largest_timestamp(&self) -> Result<i64> {
        let max = self.max_timestamp_so_far()?.0;
        if max >= 0 {
            return Ok(max);
        }
        self.modified_ms()
    }

    /// The rolling-base timestamp: max timestamp of the first batch.
    pub(crate) fn rolling_base_timestamp(&self) -> Result<Option<i64>> {
        if let Some(t) = self.state.lock().rolling_base_timestamp {
            return Ok(Some(t));
        }
        if self.len() == 0 {
            return Ok(None);
        }
        let first = self.batches_from(0)?.next().transpose()?.map(|(_, b)| b.max_timestamp());
        self.state.lock().rolling_base_timestamp = first;
        Ok(first)
    }

    /// How far to map for a read that needs `end` bytes: a sealed segment
    /// exactly to its length; the active one in doubling steps of at least
    /// [`MAP_STEP`], up to `segment.bytes` (or its length, if larger).
    fn map_capacity(&self, end: u64) -> u64 {
        if self.sealed.load(Ordering::Acquire) {
            return end;
        }
        self.active_map_capacity(end)
    }

    /// [`Segment::map_capacity`] of the active segment.
    fn active_map_capacity(&self, end: u64) -> u64 {
        let step = end.max(MAP_STEP).checked_next_power_of_two().unwrap_or(end);
        step.min(self.limits.segment_bytes).max(end)
    }

    /// Maps every published byte, so later reads need not open the file
    /// (which may be renamed or removed by then).
    pub(crate) fn map_fully(&self) -> Result<()> {
        self.bytes(0, self.len()).map(drop)
    }

    /// Zero-copy view of published bytes `[start, end)`.
    pub(crate) fn bytes(&self, start: u64, end: u64) -> Result<Bytes> {
        let published = self.len();
        let end = end.min(published);
        if start >= end {
            return Ok(Bytes::new());
        }
        if self.is_closed() {
            return Err(self.closed());
        }
        self.account.touch();
        // The length check and the view share one read lock: a seal (which
        // drops the active segment's capacity map) or an eviction between a
        // check and a later lock would leave an empty map, and an empty view
        // reads as "no data" — a reader would skip the segment's records.
        if let Some(view) = self.mapped_view(start, end, published)? {
            return Ok(view);
        }
        // Mapped on demand: a sealed segment exactly to its length, the
        // active one a step ahead (see `map_capacity`). The map keeps the
        // descriptor it is made of (`file_to_send` hands it out for
        // `sendfile`): the segment's own when it holds one open (the active
        // segment's), so the segment holds one descriptor, not two.
        let capacity = self.map_capacity(published);
        // Tests roll the segment here, after the read sized its map.
        crate::io::fault::point("segment::bytes::map")?;
        let held = self.file.lock().clone();
        let mapped = budget::retrying(
            || self.account.relieve(),
            || match &held {
                Some(f) => ReadMap::map_keeping(f, &self.log_path(), capacity),
                None => {
                    let (f, path) = self.reopen(|p| identity::reopen_read(p, self.log_id))?;
                    identity::ensure_len(&f, &path, published)?;
                    ReadMap::map_keeping(&Arc::new(f), &path, capacity)
                }
            },
        );
        drop(held);
        let mut map = match mapped {
            Ok(map) => map,
            // A segment retired meanwhile (renamed `.deleted`, perhaps removed
            // already) was mapped whole before its files moved and keeps that
            // map (see [`Segment::retire`]): a reader that missed the file
            // reads the map.
            Err(e) => return self.mapped_view(start, end, published)?.ok_or(e),
        };
        // The descriptor's lock too, to count what the segment holds (see
        // `descriptors`); the order of `evict` and `close`.
        let handle = self.file.lock();
        let mut slot = self.map.write();
        // `close` sets `Closed` before it empties the map under this
        // lock: seen false here, the map is not emptied yet, and a map
        // made after close is never installed.
        if self.is_closed() {
            return Err(self.closed());
        }
        // A retired segment has left the budget, which would neither count
        // nor evict a descriptor its map kept (one each, for
        // `file.delete.delay.ms`): its map keeps none (a slice of it opens
        // its `.deleted` file when asked). `retire` detaches before it
        // forgets the installed map's, under this lock, so no map keeping
        // one outlives it.
        if self.account.is_detached() {
            map.forget_file();
        }
        let view = map.bytes(start as usize, end as usize, published as usize);
        // A map sized for the active segment that a roll sealed meanwhile
        // is not kept: `seal` stores `sealed` before it takes this lock to
        // drop the capacity map, so seen false here, the seal drops this one
        // after. The view holds it for as long as the reader needs it.
        let oversized = self.sealed.load(Ordering::Acquire) && map.len() as u64 > published;
        if (slot.len() as u64) < end && !oversized {
            let grown = map.len() as i64 - slot.len() as i64;
            let opened = descriptors(&handle, &map) - descriptors(&handle, &slot);
            *slot = map;
            // Counted before the lock is released: an eviction takes the map
            // under this lock and subtracts it after, so it only ever
            // subtracts bytes already counted. Counted after the release, an
            // eviction in between subtracted first (from zero: no change) and
            // the count then kept bytes no map held, an open segment that no
            // eviction could close (the budget's enforcement spun on it).
            // The enforcement this may run evicts other segments, through
            // their locks' `try_` forms only.
            self.account.adjust(opened, grown);
        }
        drop(slot);
        drop(handle);
        // Tests evict this segment here, once its new map is installed.
        crate::io::fault::point("segment::bytes::installed")?;
        Ok(view)
    }

    /// The published bytes `[0, len())` as [`Self::bytes`] would hand them
    /// out, held by a [`MapView`](crate::io::MapView) instead of a `Bytes`
    /// (for a point read, which lends them to its caller and drops them):
    /// `None` when the segment is not mapped that far (then
    /// [`Self::bytes`] maps it).
    pub(crate) fn published_view(&self) -> Result<Option<crate::io::MapView>> {
        let published = self.len();
        if self.is_closed() {
            return Err(self.closed());
        }
        self.account.touch();
        // One read lock for the check and the view, as `mapped_view`.
        let map = self.map.read();
        if self.is_closed() {
            return Err(self.closed());
        }
        if (map.len() as u64) < published {
            return Ok(None);
        }
        let published = usize::try_from(published).unwrap_or(usize::MAX);
        Ok(map.view_from_start(published, published))
    }

    /// A view of `[start, end)` from the installed map if it covers `end`,
    /// checked and cut under one read lock; `None` when it does not.
    fn mapped_view(&self, start: u64, end: u64, published: u64) -> Result<Option<Bytes>> {
        let map = self.map.read();
        if self.is_closed() {
            // `close` empties the map: an empty view would read as "no
            // data", not as the close it is.
            return Err(self.closed());
        }
        if (map.len() as u64) < end {
            return Ok(None);
        }
        Ok(Some(map.bytes(start as usize, end as usize, published as usize)))
    }

    /// fsyncs the `.log` only: enough for a segment that recovery would
    /// re-validate (and re-index) after a crash anyway.
    ///
    /// A full disk at the fsync (`ENOSPC`, `EDQUOT`) is the retriable
    /// [`Error::NoSpace`]. What is on disk past the last successful fsync is
    /// then unknown: Linux marks pages whose writeback failed clean (they
    /// would never be written again, so a later fsync would "succeed"
    /// without them) and may drop them from the cache (they read back as
    /// what the disk holds, zeros). So the next sync first reads the bytes
    /// written since the last successful one back, checks every batch
    /// (framing and CRC) and writes them again, which makes their pages
    /// dirty; only then does it fsync. Bytes that no longer check poison the
    /// log (an error that is not `NoSpace`): they were published, and the
    /// next open's recovery cuts at the first bad batch. The file is never
    /// cut here: readers may hold views of every published byte.
    ///
    /// Whether it ran an fsync: not when an earlier one, which may have
    /// covered bytes appended after its caller looked, synced every byte.
    pub(crate) fn flush_log(&self) -> Result<bool> {
        let len = self.len();
        if self.redirty_from.lock().is_none() && self.synced.load(Ordering::Acquire) >= len {
            return Ok(false); // every byte was synced already (a close after a flush)
        }
        let (f, path) = self.shared_file()?;
        let (f, path) = (&*f, path.as_path());
        {
            let mut redirty = self.redirty_from.lock();
            if let Some(from) = *redirty {
                rewrite_unsynced(f, path, from, len).map_err(Error::into_no_space)?;
                *redirty = None;
            }
            match file::sync_data(f, path) {
                Ok(()) => {
                    self.synced.fetch_max(len, Ordering::AcqRel);
                    Ok(true)
                }
                Err(e) => {
                    let e = e.into_no_space();
                    if matches!(e, Error::NoSpace { .. }) {
                        *redirty = Some(self.synced.load(Ordering::Acquire));
                    }
                    Err(e)
                }
            }
        }
    }

    /// fsyncs the `.log` and the indexes (see [`Segment::flush_log`] and
    /// [`OffsetIndex::flush`] for a full disk); whether the `.log` needed
    /// an fsync.
    pub(crate) fn flush(&self) -> Result<bool> {
        let synced = self.flush_log()?;
        self.flush_indexes()?;
        Ok(synced)
    }

    /// fsyncs the indexes written since their last sync (the `.log` not:
    /// for a segment whose `.log` is known synced, such as one below the
    /// recovery point, that the open may have loaded without knowing so).
    pub(crate) fn flush_indexes(&self) -> Result<()> {
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.txn_index.flush()
    }

    /// Whether the segment was sealed (a roll, or a close): it takes no
    /// more appends, and its indexes hold their final entries.
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// The segment stops being active (roll) or the log closes: append the
    /// final time-index entry and trim both indexes to their entries.
    pub(crate) fn seal(&self) -> Result<()> {
        let (ts, off) = self.max_timestamp_so_far()?;
        if self.len() > 0 {
            self.time_index.maybe_append(ts, off, true)?;
        }
        self.offset_index.trim_to_valid_size()?;
        self.time_index.trim_to_valid_size()?;
        self.release_allocated_ahead();
        // From now on mapped at exactly its length: the capacity map goes
        // (views keep theirs), and so does the descriptor until next needed.
        self.sealed.store(true, Ordering::Release);
        let len = self.len();
        let mut handle = self.file.lock();
        let mut map = self.map.write();
        let held = descriptors(&handle, &map);
        *handle = None;
        let unmapped = if map.len() as u64 > len { std::mem::take(&mut *map).len() } else { 0 };
        let closed = held - descriptors(&handle, &map);
        drop(map);
        drop(handle);
        self.account.adjust(-closed, -(unmapped as i64));
        Ok(())
    }

    /// Lets go of the descriptor and index maps; they are reopened on demand.
    pub(crate) fn release(&self) {
        let closed = self.take_handle();
        self.account.adjust(-closed, 0);
        self.offset_index.release();
        self.time_index.release();
    }

    /// Drops the segment's own descriptor (its `.log` map may keep it, see
    /// [`ReadMap::map_keeping`]); how many descriptors that closed, to
    /// subtract from the budget's count.
    pub(super) fn take_handle(&self) -> isize {
        let mut handle = self.file.lock();
        let map = self.map.read();
        let held = descriptors(&handle, &map);
        *handle = None;
        held - descriptors(&handle, &map)
    }

    /// Closes the descriptor and unmaps everything the segment holds, unless
    /// it is in use right now (the budget's eviction never waits); whether
    /// all of it went. Views handed out keep their maps.
    pub(crate) fn evict(&self) -> bool {
        let Some(mut file) = self.file.try_lock() else { return false };
        let Some(mut map) = self.map.try_write() else { return false };
        // Victims are picked under the budget's totals lock and evicted
        // after it is released: `retire` may have detached this segment and
        // mapped its file whole in between. That map is the readers' (the
        // file may already be gone), so eviction leaves a detached segment
        // alone. `retire` detaches before it takes the map lock, so a
        // segment seen attached here is mapped whole only after this returns.
        if self.account.is_detached() {
            return false;
        }
        let closed = descriptors(&file, &map);
        *file = None;
        let unmapped = std::mem::take(&mut *map).len();
        drop(map);
        drop(file);
        self.account.adjust(-closed, -(unmapped as i64));
        let indexes = self.offset_index.try_release() && self.time_index.try_release();
        self.account.count_eviction();
        indexes
    }

    /// Sizes the indexes back to `segment.index.bytes` so an existing segment
    /// can take appends again (Kafka's `resizeIndexes` on load).
    pub(crate) fn reopen_for_append(&self) -> Result<()> {
        self.sealed.store(false, Ordering::Release);
        self.offset_index.resize_keeping_entries(self.limits.max_index_size)?;
        self.time_index.resize_keeping_entries(self.limits.max_index_size)?;
        Ok(())
    }
}

/// The `.log` descriptors a segment holds, as the budget counts them: its
/// own `handle` and the one its `.log` `map` keeps, once when they are the
/// same (the active segment's map is made of its write descriptor). At most
/// two: a sealed segment's map keeps a read-only descriptor, and a sync or a
/// rename reopens its write descriptor beside it.
pub(super) fn descriptors(handle: &Option<Arc<File>>, map: &ReadMap) -> isize {
    let kept = match (map.file(), handle) {
        (Some(kept), Some(own)) => !Arc::ptr_eq(kept, own),
        (kept, _) => kept.is_some(),
    };
    isize::from(handle.is_some()) + isize::from(kept)
}

/// Bytes read back per step when unsynced bytes are rewritten.
const REWRITE_STEP: u64 = 8 << 20;

/// Reads `[from, to)` of the `.log` back, checks it is whole valid batches
/// and writes it again at the same place (the same bytes: views of it see no
/// change), so that its pages are dirty and the next fsync writes them.
/// `from` is a batch boundary (a length some sync saw). Bytes that no longer
/// check are an error naming the position, which poisons the log.
fn rewrite_unsynced(f: &File, path: &Path, mut from: u64, to: u64) -> Result<()> {
    let mut step = REWRITE_STEP;
    while from < to {
        let n = (to - from).min(step);
        let mut buf = vec![0; usize::try_from(n).unwrap_or(usize::MAX)];
        file::read_exact_at(f, path, &mut buf, from)?;
        let bytes = Bytes::from(buf);
        let mut batches = BatchIter::validating(bytes.clone());
        batches.by_ref().for_each(drop);
        let valid = batches.valid_len();
        if valid == 0 {
            // A batch longer than the step is read whole; zeros or a bad batch fail here, not
            // after reading on up to the whole unsynced range (a segment) into memory.
            if let Some(&StopReason::TornTail { needed, .. }) = batches.stop_reason()
                && needed as u64 > n
                && needed as u64 <= to - from
            {
                step = needed as u64;
                continue;
            }
            let why = batches.stop_reason().map_or_else(String::new, |r| format!(": {r:?}"));
            let msg = format!(
                "after an fsync failed for lack of space, the unsynced bytes from position {from} \
                 no longer hold valid batches (the kernel dropped their pages){why}"
            );
            return Err(Error::io("fsync", path, std::io::Error::other(msg)));
        }
        file::write_all_at(f, path, bytes.get(..valid).unwrap_or_default(), from)?;
        from += valid as u64;
    }
    Ok(())
}
