//! Reads: zero-copy fetches and time lookups.
//!
//! Decoding a fetch checks each batch's CRC-32C once per read (one pass over
//! its bytes, then one pass to decode), and not across reads: there is no
//! "verified up to here" mark per segment. Such a mark would be sound only
//! if verified bytes could never change, and the bytes a read sees are the
//! page cache's: a page dropped under memory pressure is read from the disk
//! again, where bit rot or another program's write may have changed it (the
//! cases CRCs exist for), and nothing short of a syscall per read (`mincore`,
//! `fstat`) tells a reader that happened. So every read verifies what it
//! decodes, as a Kafka consumer does with every fetch.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::format::batch::{Records, peek_v2};
use crate::format::{BatchIter, BatchView, DecodedBatch, RecordRef, RecordView};
use crate::segment::{Segment, stop_error};
use crate::{Error, Result};

use super::Log;

/// Bytes of one segment returned by a read: a zero-copy view, and the open
/// `.log` file they are in with their position there, so a server can
/// `sendfile(file, position, len)` instead of copying them.
///
/// Send from [`FileSlice::file`], never by opening [`FileSlice::path`]:
/// the cleaner puts a cleaned segment under the same name, and retention
/// renames and deletes files, so the name may hold other bytes, or nothing,
/// by the time a server opens it (Kafka's broker likewise sends from the
/// segment's open `FileChannel`, never by name).
///
/// A slice of a segment that has left the log (deleted by retention or
/// `delete_records`, or replaced by the cleaner, and kept readable for the
/// readers that listed it until `file.delete.delay.ms` removes its files)
/// carries no file: write its `bytes` instead. Such a segment keeps its
/// bytes mapped but no descriptor, which the open-segment budget would
/// neither count nor close (one per segment, for up to a minute).
///
/// ```
/// # use std::sync::Arc;
/// # use std::os::unix::fs::FileExt;
/// # use strata::{LoadOptions, Log, LogConfig, Record, SystemClock};
/// # let dir = tempfile::tempdir()?;
/// # let (log, _) = Log::open(dir.path(), "t", 0, LogConfig::default(), Arc::new(SystemClock), LoadOptions::default())?;
/// log.append(&[Record::new("k", "v")])?;
/// for slice in log.read(0, 1 << 20)?.slices() {
///     let Some(file) = &slice.file else {
///         continue; // a retired segment's: write slice.bytes instead
///     };
///     // What sendfile(socket, file.as_raw_fd(), slice.position, len) sends:
///     let mut sent = vec![0; slice.bytes.len()];
///     file.read_exact_at(&mut sent, slice.position)?;
///     assert_eq!(sent, slice.bytes);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileSlice {
    /// The open `.log` file the bytes were read from (`AsRawFd`/`AsFd`
    /// give its descriptor): `bytes` are at `position` in it for as long as
    /// the slice lives, whatever happens to its name meanwhile. Shared with
    /// the segment's memory map (a reference count, not a descriptor per
    /// read). Holding it keeps the descriptor open, and so keeps the file's
    /// disk space, past the segment's deletion and past the open-segment
    /// budget's eviction of the segment (which closes only the segment's
    /// own handle): drop slices once sent. The descriptor is never closed
    /// or reused for another file while a slice holds it.
    ///
    /// `None` when the segment had left the log by the time of the read
    /// (deleted or replaced, see above): send `bytes`, which stay valid
    /// however long the slice is held.
    pub file: Option<Arc<File>>,
    /// The `.log` file's name at the time of the read, for messages only:
    /// retention may rename or delete it and compaction may put another
    /// file of other bytes under it later, so never open it to send
    /// `bytes` (use [`FileSlice::file`]). Shared with the segment (a
    /// reference count, not a copy per read); it derefs to [`Path`], and
    /// `path.to_path_buf()` gives an owned copy.
    pub path: Arc<Path>,
    /// Byte position of the first batch in the file.
    pub position: u64,
    /// The batches, whole.
    pub bytes: Bytes,
}

/// The result of [`Log::read`]: whole batches, starting with the one that
/// holds the requested offset.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    slices: Slices,
    pub(super) start_offset: i64,
    next_offset: i64,
    log_start_offset: i64,
    log_end_offset: i64,
    /// Set by reads with [`super::Isolation::ReadCommitted`].
    pub(super) last_stable_offset: Option<i64>,
    pub(super) aborted: Vec<super::AbortedTransaction>,
}

/// The file ranges of a [`Fetched`]: held inline while there is one (every
/// read that stays in one segment, so a point read allocates nothing for
/// them), in a `Vec` once a read crosses into a second segment.
#[derive(Debug, Clone, Default)]
enum Slices {
    #[default]
    Empty,
    One(FileSlice),
    Many(Vec<FileSlice>),
}

impl Slices {
    fn as_slice(&self) -> &[FileSlice] {
        match self {
            Self::Empty => &[],
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }

    fn push(&mut self, slice: FileSlice) {
        *self = match std::mem::take(self) {
            Self::Empty => Self::One(slice),
            Self::One(first) => Self::Many(vec![first, slice]),
            Self::Many(mut v) => {
                v.push(slice);
                Self::Many(v)
            }
        };
    }
}

impl Fetched {
    /// The file ranges, in offset order.
    #[must_use]
    pub fn slices(&self) -> &[FileSlice] {
        self.slices.as_slice()
    }

    /// Whether nothing was read (the offset was the log end).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slices().is_empty()
    }

    /// Total bytes.
    #[must_use]
    pub fn size_bytes(&self) -> usize {
        self.slices().iter().map(|s| s.bytes.len()).sum()
    }

    /// The offset after the last batch returned; where the next read starts.
    #[must_use]
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Log start offset when the read happened.
    #[must_use]
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Log end offset when the read happened.
    #[must_use]
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// The batches, in offset order. The first may start below the requested
    /// offset. Only their framing was checked: call [`BatchView::validate`]
    /// before trusting a batch's contents, or use [`Self::records`]. Bytes
    /// whose framing changed since the read (see [`Self::record_batches`])
    /// end it early: [`Self::record_batches`] names them.
    pub fn batches(&self) -> impl Iterator<Item = BatchView> + '_ {
        self.slices().iter().flat_map(|s| BatchIter::new(s.bytes.clone()).map(|(_, b)| b))
    }

    /// Records at or after the requested offset, decoded lazily. Each
    /// batch's CRC and structure are checked before it is decoded (Kafka's
    /// consumer default `check.crcs=true`): a damaged batch yields
    /// [`Error::Corrupt`] naming the `.log` file and the batch's byte
    /// position, and nothing after it. Keys and values of uncompressed
    /// batches are slices of the memory map.
    ///
    /// Transaction markers (control batches) are not handed out, as a Kafka
    /// consumer returns none at either isolation level: their offsets are
    /// skipped. [`Self::batches`] and [`Self::record_batches`] keep them
    /// ([`BatchView::is_control`]). Records of aborted transactions are
    /// handed out here; [`Self::committed_records`] leaves them out too.
    ///
    /// Records of the first batch below the requested offset are skipped by
    /// their lengths, not decoded. For scans, [`Self::record_batches`] hands
    /// out borrowed [`RecordView`]s instead, which cost no reference count
    /// per record.
    pub fn records(&self) -> FetchedRecords<'_> {
        FetchedRecords::new(self, true)
    }

    /// [`Self::records`] without the CRC check, for callers that validate
    /// batches themselves (Kafka's `check.crcs=false`). A damaged batch may
    /// then decode as wrong data.
    pub fn records_unchecked(&self) -> FetchedRecords<'_> {
        FetchedRecords::new(self, false)
    }

    /// The batches, each checked as [`Self::records`] checks it (one CRC-32C
    /// pass over its bytes) and ready to decode: the fast path for reading
    /// every record, as borrowed [`RecordView`]s. Bytes that no longer frame
    /// as the batches the read returned (changed on disk since: a batch's
    /// length and magic are not under its CRC) yield [`Error::Corrupt`], as
    /// [`Self::records`] does, never a quiet end before
    /// [`Self::next_offset`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use strata::{LoadOptions, Log, LogConfig, Record, SystemClock};
    /// # let dir = tempfile::tempdir()?;
    /// # let (log, _) = Log::open(dir.path(), "t", 0, LogConfig::default(), Arc::new(SystemClock), LoadOptions::default())?;
    /// log.append(&[Record::new("a", "1"), Record::new("b", "2")])?;
    /// let fetched = log.read(0, 1 << 20)?;
    /// let mut total = 0;
    /// for batch in fetched.record_batches() {
    ///     let batch = batch?;
    ///     for r in batch.records() {
    ///         total += r?.value().map_or(0, <[u8]>::len);
    ///     }
    /// }
    /// assert_eq!(total, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_batches(&self) -> impl Iterator<Item = Result<FetchedBatch<'_>>> + '_ {
        self.checked_batches(true)
    }

    /// [`Self::record_batches`] without the CRC check (see
    /// [`Self::records_unchecked`]).
    pub fn record_batches_unchecked(&self) -> impl Iterator<Item = Result<FetchedBatch<'_>>> + '_ {
        self.checked_batches(false)
    }

    fn checked_batches(&self, check: bool) -> impl Iterator<Item = Result<FetchedBatch<'_>>> + '_ {
        let mut failed = false;
        FramedBatches::new(self.slices()).map_while(move |item| {
            if failed {
                return None;
            }
            let (s, pos, batch) = match item {
                Ok(framed) => framed,
                Err(e) => {
                    failed = true;
                    return Some(Err(e));
                }
            };
            let position = s.position + pos as u64;
            let decoded = checked_decode(&batch, check)
                .map_err(|source| Error::corrupt(&*s.path, position, source));
            failed = decoded.is_err();
            Some(decoded.map(|decoded| FetchedBatch {
                batch,
                decoded,
                slice: s,
                position,
                start_offset: self.start_offset,
            }))
        })
    }
}

/// The batches of a fetch's slices, each with its slice and its position
/// in it. Every slice held whole batches when the read framed it, so bytes
/// that stop framing before a slice's end changed since (another program's
/// write, or a page read again from a disk whose bytes rotted: a batch's
/// length and magic are not under its CRC): they yield one
/// [`Error::Corrupt`] naming the file and the position, and nothing after
/// it. Ending there quietly would lose the batches after it, which the
/// fetch's [`Fetched::next_offset`] has already passed. [`Fetched::records`]
/// and [`Fetched::record_batches`] both read the batches through it.
#[derive(Debug)]
pub(super) struct FramedBatches<'f> {
    slices: std::slice::Iter<'f, FileSlice>,
    current: Option<(&'f FileSlice, BatchIter)>,
}

impl<'f> FramedBatches<'f> {
    pub(super) fn new(slices: &'f [FileSlice]) -> Self {
        FramedBatches { slices: slices.iter(), current: None }
    }
}

impl<'f> Iterator for FramedBatches<'f> {
    type Item = Result<(&'f FileSlice, usize, BatchView)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (s, iter) = match &mut self.current {
                Some((s, iter)) => (*s, iter),
                None => {
                    let s = self.slices.next()?;
                    self.current = Some((s, BatchIter::new(s.bytes.clone())));
                    continue;
                }
            };
            if let Some((pos, b)) = iter.next() {
                return Some(Ok((s, pos, b)));
            }
            let stop = stop_error(&s.path, s.position, iter.stop_reason());
            self.current = None;
            if let Some(e) = stop {
                self.slices = [].iter();
                return Some(Err(e));
            }
        }
    }
}

/// Checks `batch` (when `check`) and prepares its records for decoding.
fn checked_decode(batch: &BatchView, check: bool) -> crate::format::FormatResult<DecodedBatch> {
    if check {
        batch.validate()?;
    }
    batch.decode()
}

/// One batch of a [`Fetched`], checked and ready to decode (see
/// [`Fetched::record_batches`]).
#[derive(Debug)]
pub struct FetchedBatch<'f> {
    batch: BatchView,
    decoded: DecodedBatch,
    slice: &'f FileSlice,
    position: u64,
    start_offset: i64,
}

impl FetchedBatch<'_> {
    /// The batch.
    #[must_use]
    pub fn batch(&self) -> &BatchView {
        &self.batch
    }

    /// Byte position of the batch in its `.log` file.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Records at or after the fetch's requested offset, borrowing the
    /// fetched bytes (for an uncompressed batch, the memory map): no
    /// allocation and no reference count per record. Records below the
    /// requested offset are skipped by their lengths. A record that does not
    /// decode yields [`Error::Corrupt`] naming the file and the batch's
    /// position, and ends the iteration.
    pub fn records(&self) -> impl Iterator<Item = Result<RecordView<'_>>> + '_ {
        let mut views = self.decoded.views();
        if self.batch.base_offset() < self.start_offset {
            views.seek(self.start_offset);
        }
        FetchedViews { views, batch: self, ahead: self.next_bytes() }
    }

    /// The fetched bytes after this batch, as many as it has (most likely
    /// the next batch, which a scan reads next): what [`FetchedViews`]
    /// asks the CPU for while it decodes this one.
    fn next_bytes(&self) -> &[u8] {
        let size = self.batch.size();
        let at = usize::try_from(self.position - self.slice.position)
            .map_or(usize::MAX, |at| at.saturating_add(size));
        let after = self.slice.bytes.get(at..).unwrap_or_default();
        after.get(..size).unwrap_or(after)
    }
}

/// The records of a [`FetchedBatch`] (see [`FetchedBatch::records`]), as
/// one plain loop inlined into its caller wherever it is used. A
/// `map`/`filter` chain here was inlined into a scan's loop only while
/// one caller used it: with a second (a point read), its `try_fold` became
/// a call a record, and the scan took 300 instructions a record instead of
/// 206 (callgrind, `examples/read_loop.rs views`).
///
/// A scan's time goes mostly to two steps a batch: its CRC, which waits on
/// memory (a batch read for the first time is rarely in any CPU cache),
/// and its records' decoding, which keeps the CPU busy while memory idles.
/// So each record decoded asks the CPU for the next two
/// cache lines of the fetched bytes after the batch (the next batch, which
/// the scan sums next), spread over the decoding rather than all at once,
/// which would fill the CPU's queue of misses and stall the decoding
/// instead. A hint only: nothing read changes, and bytes no one reads
/// (a consumer that stops, the fetch's last batch) cost one wasted line
/// fetch each.
struct FetchedViews<'b, 'f> {
    views: crate::format::RecordViews<'b>,
    batch: &'b FetchedBatch<'f>,
    /// The fetched bytes after the batch not yet asked for.
    ahead: &'b [u8],
}

impl<'b> Iterator for FetchedViews<'b, '_> {
    type Item = Result<RecordView<'b>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = self.views.next()?;
            if let Some(line) = self.ahead.first() {
                crate::io::hint::prefetch(line);
                if let Some(second) = self.ahead.get(64) {
                    crate::io::hint::prefetch(second);
                }
                self.ahead = self.ahead.get(128..).unwrap_or_default();
            }
            match item {
                // Records below the requested offset a seek could not pass.
                Ok(r) if r.offset() < self.batch.start_offset => {}
                Ok(r) => return Some(Ok(r)),
                Err(source) => {
                    let b = self.batch;
                    return Some(Err(Error::corrupt(&*b.slice.path, b.position, source)));
                }
            }
        }
    }
}

/// The records of a [`Fetched`] as owned [`RecordRef`]s (see [`Fetched::records`]).
#[derive(Debug)]
pub struct FetchedRecords<'f> {
    start_offset: i64,
    check: bool,
    /// The fetch's batches, framed as [`Fetched::record_batches`] frames them.
    batches: FramedBatches<'f>,
    /// The batch being decoded, its slice, and its position in its file.
    records: Option<(Records, &'f FileSlice, u64)>,
    done: bool,
}

impl<'f> FetchedRecords<'f> {
    fn new(fetched: &'f Fetched, check: bool) -> Self {
        FetchedRecords {
            start_offset: fetched.start_offset,
            check,
            batches: FramedBatches::new(fetched.slices()),
            records: None,
            done: false,
        }
    }

    /// The next batch's records, or `None` after the last batch.
    fn next_batch(&mut self) -> Option<Result<(Records, &'f FileSlice, u64)>> {
        loop {
            let (s, pos, batch) = match self.batches.next()? {
                Ok(framed) => framed,
                Err(e) => return Some(Err(e)),
            };
            let position = s.position + pos as u64;
            // Transaction markers are not records a consumer sees: Kafka's
            // consumer checks a control batch as any other, then skips it
            // (`CompletedFetch.nextFetchedRecord`), at either isolation level.
            if batch.is_control() {
                match batch.validate() {
                    Err(source) if self.check => {
                        return Some(Err(Error::corrupt(&*s.path, position, source)));
                    }
                    _ => continue,
                }
            }
            let decoded = checked_decode(&batch, self.check)
                .map_err(|source| Error::corrupt(&*s.path, position, source));
            return Some(decoded.map(|d| {
                let mut records = d.into_records();
                if batch.base_offset() < self.start_offset {
                    records.seek(self.start_offset);
                }
                (records, s, position)
            }));
        }
    }
}

impl Iterator for FetchedRecords<'_> {
    type Item = Result<RecordRef>;

    fn next(&mut self) -> Option<Result<RecordRef>> {
        while !self.done {
            if let Some((records, s, position)) = &mut self.records {
                match records.next() {
                    // Records below the requested offset a skip could not pass.
                    Some(Ok(r)) if r.offset() < self.start_offset => continue,
                    Some(Ok(r)) => return Some(Ok(r)),
                    Some(Err(source)) => {
                        self.done = true;
                        return Some(Err(Error::corrupt(&*s.path, *position, source)));
                    }
                    None => self.records = None,
                }
            }
            match self.next_batch() {
                None => self.done = true,
                Some(Ok(next)) => self.records = Some(next),
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// What [`Log::offset_for_time`] looks for (Kafka's ListOffsets targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// The first record carrying the largest timestamp (KIP-734); none when
    /// the first batch carrying it is magic 0, whose messages have no
    /// timestamp (Kafka's `RecordBatch.offsetOfMaxTimestamp`).
    MaxTimestamp,
    /// The first record, in offset order, whose timestamp is `>=` this.
    Timestamp(i64),
}

/// An offset and the timestamp that found it (`None` for `Earliest`/`Latest`,
/// where Kafka's ListOffsets answers -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampedOffset {
    /// The offset.
    pub offset: i64,
    /// The record's timestamp; `None` for `Earliest`/`Latest` and for a
    /// record without one.
    pub timestamp: Option<i64>,
}

impl TimestampedOffset {
    /// A record found at `offset` carrying `timestamp` (-1: none).
    fn found(offset: i64, timestamp: i64) -> Self {
        let timestamp = (timestamp != crate::format::NO_TIMESTAMP).then_some(timestamp);
        TimestampedOffset { offset, timestamp }
    }
}

impl std::fmt::Display for TimestampedOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.timestamp {
            Some(ts) => write!(f, "offset {} (timestamp {ts})", self.offset),
            None => write!(f, "offset {}", self.offset),
        }
    }
}

/// The corruption of a batch at `position` of `seg` whose offsets cannot be
/// there: reaching the next segment's base (`next_base`), past the log
/// end (no append has handed those offsets out), or not above the batch
/// read before it (`previous_next`, its next offset: a base offset lowered
/// by a flipped bit would serve that batch's offsets again, and shift its
/// own records). `None` for a batch in place.
fn misplaced(
    seg: &crate::segment::Segment,
    position: u64,
    (base_offset, last_offset): (i64, i64),
    previous_next: Option<i64>,
    next_base: Option<i64>,
    log_end_offset: i64,
) -> Option<Error> {
    let reason = if next_base.is_some_and(|n| last_offset >= n) {
        "reaches the next segment's base offset"
    } else if previous_next.is_some_and(|n| base_offset < n) {
        "not above the previous batch's offsets"
    } else if base_offset > log_end_offset {
        "past the log end offset"
    } else {
        return None;
    };
    let e = crate::format::FormatError::InvalidValue {
        field: "batch.baseOffset",
        value: base_offset,
        reason,
    };
    Some(seg.corrupt_at(position, e))
}

/// The first record carrying the largest timestamp of the batches `v`
/// holds (those below its log end offset), as `(offset, timestamp)`: Kafka's
/// MAX_TIMESTAMP (`UnifiedLog.fetchOffsetByTimestamp`) answered from the
/// snapshot, so an append passing the lookup neither changes the answer nor
/// makes it none. The segment with the largest timestamp answers, the first
/// one on a tie (Kafka replaces its pick only on a larger one). Every segment
/// is ranked, an empty one too (at -1, as Kafka ranks one by its empty time
/// index): in a log without timestamps, an empty first segment answers none.
fn max_timestamp_in(v: &super::View) -> Result<Option<(i64, i64)>> {
    let mut best: Option<((i64, i64), &Arc<Segment>)> = None;
    for seg in v.segments.iter() {
        // Tests stop a lookup here, between its snapshot and a segment's timestamps.
        crate::io::fault::point("log::offset_for_time::segment")?;
        let max = seg.max_timestamp_below(v.log_end_offset)?;
        if best.is_none_or(|((b, _), _)| max.0 > b) {
            best = Some((max, seg));
        }
    }
    let Some((max, seg)) = best else { return Ok(None) };
    // Kafka answers with the record even when it lies below the log start
    // offset (`UnifiedLog.fetchOffsetByTimestamp` does not filter it).
    seg.offset_of_max_timestamp(max, v.log_end_offset)
}

impl Log {
    /// Reads whole batches starting with the one holding `offset`, up to
    /// `max_bytes` — but always at least one batch, even a larger one (Kafka's
    /// KIP-74 rule) — and never past the log end offset. Reading at the log
    /// end returns an empty result.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the log start offset or above the end;
    /// [`Error::Closed`] once the log is closed; [`Error::Corrupt`] naming the
    /// `.log` and position when the batch at `offset` does not frame or its
    /// offsets cannot be there (a read reaching such bytes after whole
    /// batches returns those batches, and the next read fails). CRCs are
    /// checked when records are decoded, not here.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Fetched> {
        self.check_open()?;
        let v = self.view();
        self.read_below(&v, offset, max_bytes, v.log_end_offset)
    }

    /// [`Log::read`] from the snapshot `v`, returning no batch at or above `limit`.
    pub(super) fn read_below(
        &self,
        v: &super::View,
        offset: i64,
        max_bytes: usize,
        limit: i64,
    ) -> Result<Fetched> {
        let mut out = Fetched {
            slices: Slices::Empty,
            start_offset: offset,
            next_offset: offset,
            log_start_offset: v.log_start_offset,
            log_end_offset: v.log_end_offset,
            ..Fetched::default()
        };
        if offset < v.log_start_offset || offset > v.log_end_offset {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: v.log_start_offset,
                log_end_offset: v.log_end_offset,
            });
        }
        if offset >= limit {
            return Ok(out); // a tailing reader caught up: nothing to look up
        }
        let first = v.segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let mut total = 0usize;
        for (i, seg) in v.segments.iter().enumerate().skip(first) {
            // Tests stop a read here, between its snapshot and its bytes.
            crate::io::fault::point("log::read::segment")?;
            // One map access per segment: the lookup and the slice share it.
            let (whole, file) = seg.bytes_in_file(0, seg.len())?;
            let start = if i == first {
                match seg.locate(&whole, offset)? {
                    Some(loc) => loc.position,
                    None => continue,
                }
            } else {
                0
            };
            let data = whole.slice(usize::try_from(start).unwrap_or(usize::MAX).min(whole.len())..);
            let mut end = 0usize;
            // Set when a batch stops the read: later segments must not be read past it.
            let mut full = false;
            let next_base = v.segments.get(i + 1).map(|s| s.base_offset());
            let mut stop = None;
            let mut pos = 0usize;
            // The last batch taken in this segment: its position, size, base
            // offset, and the end of the batch taken before it in this read.
            let mut taken: Option<(usize, usize, i64, Option<i64>)> = None;
            while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
                // v2 headers are read in place; anything else takes the general framing.
                let (size, base_offset, last_offset) = match peek_v2(rest) {
                    Some(frame) => frame,
                    None => {
                        let mut iter = BatchIter::new(data.slice(pos..));
                        match iter.next() {
                            Some((_, b)) => (b.size(), b.base_offset(), b.last_offset()),
                            None => {
                                stop = iter.stop_reason().cloned().map(|r| (pos, r));
                                break;
                            }
                        }
                    }
                };
                let at = start + pos as u64;
                let previous_next = (total > 0).then_some(out.next_offset);
                let offsets = (base_offset, last_offset);
                if let Some(e) =
                    misplaced(seg, at, offsets, previous_next, next_base, v.log_end_offset)
                {
                    // Offsets outside the segment's range (a flipped bit in a
                    // base offset, which the CRC does not cover) are damage:
                    // stopping there quietly would leave the reader stuck.
                    // A batch going back that fits after the one before the
                    // batch taken last shows that one raised (recovery's
                    // `Placer` rule; landing on its base, when that one left
                    // a gap, too): it is not served either.
                    if previous_next.is_some_and(|n| base_offset < n)
                        && let Some((p_pos, p_size, p_base, Some(before))) = taken
                        && base_offset >= before
                        && (base_offset < p_base || (base_offset == p_base && p_base > before))
                    {
                        end = p_pos;
                        total -= p_size;
                        out.next_offset = before;
                    }
                    if total == 0 {
                        return Err(e);
                    }
                    full = true;
                    break;
                }
                if base_offset >= limit {
                    full = true;
                    break;
                }
                if total > 0 && total + size > max_bytes {
                    full = true;
                    break;
                }
                taken = Some((pos, size, base_offset, (total > 0).then_some(out.next_offset)));
                end = pos + size;
                pos = end;
                total += size;
                out.next_offset = last_offset.wrapping_add(1);
            }
            if !full
                && let Some((at, reason)) = stop
                && let Some(e) = stop_error(&seg.log_path(), start + at as u64, Some(&reason))
            {
                // Bytes that stop framing inside a segment are damage, never its
                // end: reading on in the next segment would skip offsets. What
                // came before is returned; the read that starts at it fails.
                if total == 0 {
                    return Err(e);
                }
                full = true;
            }
            if end > 0 {
                // A reader handed a large fetch reads on after it: the pages
                // past it are mapped on another core (`io::ahead`; smaller
                // fetches are passed over in `read_ahead`), when it is the
                // map's leading reader (readers behind it find them mapped).
                seg.read_ahead(start, start + end as u64, whole.len() as u64);
                // Bytes come from a map, which keeps the file it was made
                // of, unless the segment was retired (then `None`).
                out.slices.push(FileSlice {
                    file: file.clone(),
                    path: seg.shared_log_path(),
                    position: start,
                    bytes: data.slice(..end),
                });
            }
            if full || total >= max_bytes || out.next_offset >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Kafka's ListOffsets for this partition. `None` when no record qualifies.
    ///
    /// # Errors
    /// I/O or corruption while scanning; [`Error::Closed`] once the log is closed.
    pub fn offset_for_time(&self, spec: OffsetSpec) -> Result<Option<TimestampedOffset>> {
        self.check_open()?;
        let v = self.view();
        match spec {
            OffsetSpec::Earliest => {
                Ok(Some(TimestampedOffset { offset: v.log_start_offset, timestamp: None }))
            }
            OffsetSpec::Latest => {
                Ok(Some(TimestampedOffset { offset: v.log_end_offset, timestamp: None }))
            }
            OffsetSpec::MaxTimestamp => Ok(max_timestamp_in(&v)?
                .map(|(offset, timestamp)| TimestampedOffset::found(offset, timestamp))),
            OffsetSpec::Timestamp(target) => {
                // Kafka searches the first segment whose largest timestamp reaches the
                // target and answers from it alone (`UnifiedLog.fetchOffsetByTimestamp`):
                // when it holds no qualifying record (those at or past the target lie below
                // the log start, or its largest timestamp is a batch's Kafka's cleaner keeps
                // empty for its producer, or, for a segment without records, the file's mtime),
                // the answer is none, even where a later segment holds one.
                for seg in v.segments.iter() {
                    crate::io::fault::point("log::offset_for_time::segment")?;
                    if seg.len() == 0 || seg.largest_timestamp()? < target {
                        continue;
                    }
                    let found = seg.find_offset_by_timestamp(target, v.log_start_offset)?;
                    return Ok(found
                        .filter(|&(o, _)| o < v.log_end_offset)
                        .map(|(offset, timestamp)| TimestampedOffset::found(offset, timestamp)));
                }
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::io::ahead;
    use crate::{BorrowedRecord, LoadOptions, Log, LogConfig, ManualClock};

    /// A log of one segment holding about `bytes` of 1 KiB records.
    fn log_of(dir: &std::path::Path, bytes: usize) -> Log {
        let clock = ManualClock::new(1_700_000_000_000);
        let (log, _) =
            Log::open(dir, "t", 0, LogConfig::default(), clock, LoadOptions::default()).unwrap();
        let value = vec![5u8; 1000];
        let batch: Vec<BorrowedRecord<'_>> =
            (0..64).map(|_| BorrowedRecord::new(b"key", &value)).collect();
        while log.size_bytes() < bytes as u64 {
            log.append(&batch).unwrap();
        }
        log
    }

    #[test]
    fn point_reads_and_small_fetches_claim_nothing_and_a_large_fetch_claims_ahead_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_of(dir.path(), 8 << 20);
        let seg = Arc::clone(log.segments().last().unwrap());
        let published = usize::try_from(seg.len()).unwrap();
        let mut offset = 0;
        while offset < log.log_end_offset() {
            let f = log.read(offset, 64 << 10).unwrap();
            offset = f.next_offset();
        }
        for o in [0, 1_000, 7_000] {
            log.read_record(o, |r| r.offset()).unwrap();
            log.read(o, 1).unwrap();
        }
        assert_eq!(seg.claimed_ahead(), 0, "64 KiB fetches and point reads claim nothing");
        if !ahead::available() {
            println!("skipped: no populating worker here (one core, or not Linux)");
            return;
        }
        let f = log.read(0, 1 << 20).unwrap();
        let fetched = f.size_bytes();
        assert!(fetched >= ahead::MIN_FETCH);
        assert_eq!(seg.claimed_ahead(), (fetched + ahead::LEAD).min(published));
        log.close().unwrap();
    }
}
