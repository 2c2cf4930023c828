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

mod check;
mod dry_run;
pub(crate) mod overflow;
mod read;
mod recover;

pub(crate) use read::stop_error;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::format::file_name::{FileKind, segment_file_name};
use crate::format::{BatchView, NO_TIMESTAMP};
use crate::index::{OffsetIndex, TimeIndex};
use crate::io::file;
use crate::io::identity::{self, FileId};
use crate::io::mmap::ReadMap;
use crate::{Error, Result};

/// Sizes a segment needs from the topic config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentLimits {
    /// `segment.index.bytes`.
    pub max_index_size: u64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u64,
    /// `segment.bytes`: the active segment is mapped this far so appends need no remap.
    pub segment_bytes: u64,
}

/// State only the appender changes.
#[derive(Debug, Default)]
struct AppendState {
    /// Bytes appended since the last offset-index entry, counted from that
    /// entry's batch start. `None` until first needed for an existing
    /// segment: it is then derived from the last entry's position (the
    /// segment start when there is none), exactly as a rebuild counts, so
    /// the index a reopened segment writes equals the one a rebuild writes.
    bytes_since_last_index_entry: Option<u64>,
    /// `(maxTimestampSoFar, offset of the batch holding it)`; loaded from the
    /// time index on first use for existing segments.
    max_timestamp: Option<(i64, i64)>,
    /// Max timestamp of the first batch: time-based rolling counts from it.
    rolling_base_timestamp: Option<i64>,
}

/// One segment. `Send + Sync`: readers share it with the appender.
pub(crate) struct Segment {
    base_offset: i64,
    /// Current `.log` path (changes when renamed to `.deleted`).
    log_path: RwLock<PathBuf>,
    /// The `.log` file first opened: every reopen by name must find it.
    log_id: FileId,
    /// Set by [`Segment::close`]: no file of the segment is opened, mapped,
    /// renamed or removed again, and reads fail.
    closed: AtomicBool,
    /// Set by [`Segment::close`] and [`Segment::delete_files`]: the files are
    /// not ours to open, rename or remove any more. Reads of bytes already
    /// mapped still work (a reader that snapshotted the segment list before
    /// retention removed the segment).
    gone: AtomicBool,
    /// Open for writing while the segment is active or being recovered.
    file: Mutex<Option<File>>,
    map: RwLock<ReadMap>,
    /// Bytes written and published to readers.
    len: AtomicU64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    state: Mutex<AppendState>,
    limits: SegmentLimits,
    created_ms: i64,
    roll_jitter_ms: i64,
    /// Set by a read-only open's dry-run recovery: the indexes are not to be
    /// trusted (a writer would rebuild them), so lookups scan from the start.
    scan_only: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("base_offset", &self.base_offset)
            .field("len", &self.len())
            .finish()
    }
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
    ) -> Result<Self> {
        Self::create_with_suffix(dir, base_offset, limits, now_ms, jitter_ms, "")
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
    ) -> Result<Self> {
        let name = |kind| dir.join(format!("{}{suffix}", segment_file_name(base_offset, kind)));
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex, FileKind::TxnIndex] {
            file::remove_file_if_exists(&name(kind))?;
        }
        let log_path = name(FileKind::Log);
        let f = file::create_new(&log_path)?;
        let offset_index =
            OffsetIndex::create(name(FileKind::Index), base_offset, limits.max_index_size)?;
        let time_index =
            TimeIndex::create(name(FileKind::TimeIndex), base_offset, limits.max_index_size)?;
        let map = ReadMap::map(&f, &log_path, limits.segment_bytes)?;
        Ok(Segment {
            base_offset,
            log_id: identity::of(&f, &log_path)?,
            closed: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            log_path: RwLock::new(log_path),
            file: Mutex::new(Some(f)),
            map: RwLock::new(map),
            len: AtomicU64::new(0),
            offset_index,
            time_index,
            state: Mutex::new(AppendState {
                max_timestamp: Some((NO_TIMESTAMP, base_offset)),
                ..AppendState::default()
            }),
            limits,
            created_ms: now_ms,
            roll_jitter_ms: jitter_ms,
            scan_only: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Opens an existing segment without reading it: the indexes and the map
    /// are loaded on first use, so opening thousands of segments is cheap.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        limits: SegmentLimits,
        now_ms: i64,
        jitter_ms: i64,
    ) -> Result<Self> {
        let log_path = dir.join(segment_file_name(base_offset, FileKind::Log));
        let (log_id, len) = identity::stat_file(&log_path)?;
        let writable = true;
        Ok(Segment {
            base_offset,
            log_id,
            closed: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            log_path: RwLock::new(log_path),
            file: Mutex::new(None),
            map: RwLock::new(ReadMap::empty()),
            len: AtomicU64::new(len),
            offset_index: OffsetIndex::open(
                dir.join(segment_file_name(base_offset, FileKind::Index)),
                base_offset,
                limits.max_index_size,
                writable,
            ),
            time_index: TimeIndex::open(
                dir.join(segment_file_name(base_offset, FileKind::TimeIndex)),
                base_offset,
                limits.max_index_size,
                writable,
            ),
            state: Mutex::new(AppendState::default()),
            limits,
            created_ms: now_ms,
            roll_jitter_ms: jitter_ms,
            scan_only: std::sync::atomic::AtomicBool::new(false),
        })
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
        self.log_path.read().clone()
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

    /// Refuses every use of the files of a closed or deleted segment.
    fn check_open(&self) -> Result<()> {
        if self.gone.load(Ordering::Acquire) { Err(Error::Closed) } else { Ok(()) }
    }

    /// Runs `f` on the open `.log`, reopening it (the same file, checked by
    /// identity) if it was released.
    fn with_file<R>(&self, f: impl FnOnce(&File, &Path) -> Result<R>) -> Result<R> {
        let mut guard = self.file.lock();
        self.check_open()?;
        let path = self.log_path();
        if guard.is_none() {
            let f = identity::reopen_rw(&path, self.log_id)?;
            identity::ensure_len(&f, &path, self.len())?;
            *guard = Some(f);
        }
        match guard.as_ref() {
            Some(file) => f(file, &path),
            None => Err(Error::Closed),
        }
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
        let modified = self.modified()?;
        let ms = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Ok(i64::try_from(ms).unwrap_or(i64::MAX))
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

    /// Appends one validated batch whose offsets are final. Called only by the
    /// appender, under the log's append lock.
    pub(crate) fn append(&self, batch: &BatchView) -> Result<()> {
        let position = self.len();
        let bytes = batch.as_bytes();
        let end = position + bytes.len() as u64;
        // The write happens before the state lock: time queries never wait on it.
        self.with_file(|f, path| match file::write_all_at(f, path, bytes, position) {
            // A full disk may have taken part of the batch: cut back to the last
            // whole one, so the partition stays usable once space is freed.
            Err(Error::Io { source, .. }) if file::is_no_space(&source) => {
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
        let since = match st.bytes_since_last_index_entry {
            Some(n) => n,
            None => position.saturating_sub(u64::from(self.offset_index.last_entry()?.position)),
        };
        let mut since_after = since + bytes.len() as u64;
        if since > self.limits.index_interval_bytes {
            let pos = u32::try_from(position)
                .map_err(|_| Error::InvalidRequest("segment position exceeds i32".into()))?;
            self.offset_index.append(batch.last_offset(), pos)?;
            let (ts, off) = st.max_timestamp.unwrap_or((NO_TIMESTAMP, self.base_offset));
            self.time_index.maybe_append(ts, off, false)?;
            since_after = bytes.len() as u64;
        }
        st.bytes_since_last_index_entry = Some(since_after);
        drop(st);
        self.ensure_mapped(end)?;
        self.len.store(end, Ordering::Release);
        Ok(())
    }

    /// Makes sure the read map covers `end` bytes.
    fn ensure_mapped(&self, end: u64) -> Result<()> {
        if (self.map.read().len() as u64) >= end {
            return Ok(());
        }
        let capacity = end.max(self.limits.segment_bytes);
        let map = self.with_file(|f, path| ReadMap::map(f, path, capacity))?;
        *self.map.write() = map;
        Ok(())
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
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if (self.map.read().len() as u64) < end {
            // A sealed segment is mapped lazily, exactly to its length.
            let path = self.log_path();
            let f = identity::reopen_read(&path, self.log_id)?;
            identity::ensure_len(&f, &path, published)?;
            let map = ReadMap::map(&f, &path, published)?;
            let mut slot = self.map.write();
            // `close` sets `closed` before it empties the map under this
            // lock: seen false here, the map is not emptied yet, and a map
            // made after close is never installed.
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            if (slot.len() as u64) < end {
                *slot = map;
            }
        }
        let map = self.map.read();
        if self.closed.load(Ordering::Acquire) {
            // A close between the checks above and here emptied the map: an
            // empty view would read as "no data", not as the close it is.
            return Err(Error::Closed);
        }
        Ok(map.bytes(start as usize, end as usize, published as usize))
    }

    /// fsyncs the `.log` only: enough for a segment that recovery would
    /// re-validate (and re-index) after a crash anyway.
    pub(crate) fn flush_log(&self) -> Result<()> {
        self.with_file(file::sync_data)
    }

    /// fsyncs the `.log` and both indexes.
    pub(crate) fn flush(&self) -> Result<()> {
        self.with_file(file::sync_data)?;
        self.offset_index.flush()?;
        self.time_index.flush()
    }

    /// The segment stops being active (roll) or the log closes: append the
    /// final time-index entry and trim both indexes to their entries.
    pub(crate) fn seal(&self) -> Result<()> {
        let (ts, off) = self.max_timestamp_so_far()?;
        if self.len() > 0 {
            self.time_index.maybe_append(ts, off, true)?;
        }
        self.offset_index.trim_to_valid_size()?;
        self.time_index.trim_to_valid_size()
    }

    /// Lets go of file handles and index maps of a sealed segment; they are
    /// reopened on demand.
    pub(crate) fn release(&self) {
        *self.file.lock() = None;
        self.offset_index.release();
        self.time_index.release();
    }

    /// Sizes the indexes back to `segment.index.bytes` so an existing segment
    /// can take appends again (Kafka's `resizeIndexes` on load).
    pub(crate) fn reopen_for_append(&self) -> Result<()> {
        self.offset_index.resize_keeping_entries(self.limits.max_index_size)?;
        self.time_index.resize_keeping_entries(self.limits.max_index_size)?;
        self.ensure_mapped(self.len().max(1))
    }

    /// Whether either index has no free slot.
    pub(crate) fn indexes_full(&self) -> Result<(bool, bool)> {
        Ok((self.offset_index.is_full()?, self.time_index.is_full()?))
    }

    /// Renames all files of the segment by adding `suffix` (e.g. `.deleted`).
    pub(crate) fn add_suffix(&self, suffix: &str) -> Result<()> {
        self.change_suffix("", suffix)
    }

    /// Renames all files of the segment from suffix `from` to suffix `to`
    /// (either may be empty): `.cleaned` -> `.swap` -> none.
    pub(crate) fn change_suffix(&self, from: &str, to: &str) -> Result<()> {
        let swap = |p: &Path| -> PathBuf {
            let s = p.as_os_str().to_string_lossy();
            let stem = s.strip_suffix(from).unwrap_or(&s);
            PathBuf::from(format!("{stem}{to}"))
        };
        self.check_open()?;
        let old = self.log_path();
        if !identity::still_at(&old, self.log_id)? {
            return Err(Error::Closed);
        }
        let new = swap(&old);
        file::rename(&old, &new)?;
        *self.log_path.write() = new;
        self.offset_index.rename_to(swap(&self.offset_index.path()))?;
        self.time_index.rename_to(swap(&self.time_index.path()))
    }

    /// Sets the `.log` file's modification time (the cleaner keeps the
    /// source's, so time-based decisions about the data do not restart).
    pub(crate) fn set_modified(&self, time: std::time::SystemTime) -> Result<()> {
        self.with_file(|f, p| file::set_modified(f, p, time))
    }

    /// The `.log` file's modification time.
    pub(crate) fn modified(&self) -> Result<std::time::SystemTime> {
        self.check_open()?;
        let path = self.log_path();
        if !identity::still_at(&path, self.log_id)? {
            return Err(Error::Closed);
        }
        file::modified(&path)
    }

    /// Best-effort removal of the files of a segment whose creation failed
    /// half-way (a full disk at a roll); a leftover is removed by the next
    /// creation of the same name, or recovered as an empty segment.
    pub(crate) fn remove_files(dir: &Path, base_offset: i64) {
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex, FileKind::TxnIndex] {
            let _ = file::remove_file_if_exists(&dir.join(segment_file_name(base_offset, kind)));
        }
    }

    /// Deletes all files of the segment. Views already handed out stay valid.
    /// A closed segment deletes nothing: its names may hold another store's
    /// files by now.
    pub(crate) fn delete_files(&self) -> Result<()> {
        let mut handle = self.file.lock();
        *handle = None;
        if self.gone.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let path = self.log_path();
        if identity::still_at(&path, self.log_id)? {
            file::remove_file_if_exists(&path)?;
        }
        drop(handle);
        self.offset_index.delete()?;
        self.time_index.delete()?;
        Ok(())
    }

    /// Closes the segment for good (its log closed): the descriptor and every
    /// map the segment holds are dropped, and every later use of its files
    /// fails with [`Error::Closed`]. Views already handed out stay valid.
    pub(crate) fn close(&self) {
        let mut handle = self.file.lock();
        self.closed.store(true, Ordering::Release);
        self.gone.store(true, Ordering::Release);
        *handle = None;
        *self.map.write() = ReadMap::empty();
        drop(handle);
        self.offset_index.close();
        self.time_index.close();
    }
}
