//! What a fetch returns ([`Fetched`]): its file slices, and its batches and
//! records decoded from them.
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

use crate::format::batch::Records;
use crate::format::{BatchIter, BatchView, DecodedBatch, RecordRef, RecordView};
use crate::segment::{Segment, stop_error};
use crate::{Error, Result};

#[cfg(doc)]
use super::Log;

/// Bytes of one segment returned by a read: a zero-copy view, and where
/// they are in the segment's `.log` file, so a server can
/// `sendfile(file, position, len)` instead of copying them.
///
/// Send from the file [`FileSlice::file`] gives, never by opening
/// [`FileSlice::path`] yourself: the cleaner puts a cleaned segment under
/// the same name, and retention renames and deletes files, so the name may
/// hold other bytes, or nothing, by the time a server opens it (Kafka's
/// broker likewise sends from the segment's open `FileChannel`, never by
/// name). `file()` finds the very file the bytes were read from, or tells
/// you it is gone: then write `bytes`, which stay valid however long the
/// slice is held.
///
/// A slice holds no descriptor. Descriptors belong to the store's
/// open-segment budget (`log.open.segments.max`); a slice held by a
/// reader keeps its bytes mapped and its segment in memory, so readers
/// holding fetches across many segments (a compacted partition's tiny
/// segments, say) do not hold a descriptor per segment outside the budget.
///
/// ```
/// # use std::sync::Arc;
/// # use std::os::unix::fs::FileExt;
/// # use strata::{LoadOptions, Log, LogConfig, Record, SystemClock};
/// # let dir = tempfile::tempdir()?;
/// # let (log, _) = Log::open(dir.path(), "t", 0, LogConfig::default(), Arc::new(SystemClock), LoadOptions::default())?;
/// log.append(&[Record::new("k", "v")])?;
/// for slice in log.read(0, 1 << 20)?.slices() {
///     let Some(file) = slice.file()? else {
///         continue; // the segment's file is gone: write slice.bytes instead
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
    /// The segment, which [`FileSlice::file`] asks for its file.
    pub(super) source: FileSource,
}

/// The segment a [`FileSlice`] was read from: a reference count, not a
/// descriptor (the budget closes and reopens the segment's own).
#[derive(Clone)]
pub(super) struct FileSource(pub(super) Arc<Segment>);

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FileSource").field(&self.0.base_offset()).finish()
    }
}

impl FileSlice {
    /// The open `.log` file the bytes are in, at [`FileSlice::position`], to
    /// `sendfile` from; `None` when that file is gone (removed by retention,
    /// `delete_records` or the cleaner, once `file.delete.delay.ms`
    /// passed): write [`FileSlice::bytes`] instead.
    ///
    /// The descriptor the segment keeps open while the open-segment budget
    /// lets it (no system call); otherwise the file is opened again under its
    /// current name (live, or `.deleted` once the segment left the log) and
    /// checked to be the same file (device, inode and birth time), never
    /// another one now under its name; out of descriptors, the budget closes
    /// other segments and the open is retried. Either way the descriptor
    /// stays open for as long as the returned `Arc` lives, outside the
    /// budget: drop it once the bytes are sent.
    ///
    /// # Errors
    /// [`crate::Error::Closed`] once the log is closed or its topic deleted
    /// (a closed log opens no file again; the bytes stay valid);
    /// [`crate::Error::Io`] when the file is there but cannot be opened (out
    /// of descriptors with nothing left to close, say) or is shorter than
    /// the slice (cut by something outside strata).
    pub fn file(&self) -> Result<Option<Arc<File>>> {
        self.source.0.file_to_send(self.position + self.bytes.len() as u64)
    }
}

/// The result of [`Log::read`]: whole batches, starting with the one that
/// holds the requested offset.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub(super) slices: Slices,
    pub(super) start_offset: i64,
    pub(super) next_offset: i64,
    pub(super) log_start_offset: i64,
    pub(super) log_end_offset: i64,
    /// Set by reads with [`super::Isolation::ReadCommitted`].
    pub(super) last_stable_offset: Option<i64>,
    pub(super) aborted: Vec<super::AbortedTransaction>,
}

/// The file ranges of a [`Fetched`]: held inline while there is one (every
/// read that stays in one segment, so a point read allocates nothing for
/// them), in a `Vec` once a read crosses into a second segment.
#[derive(Debug, Clone, Default)]
pub(super) enum Slices {
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

    pub(super) fn push(&mut self, slice: FileSlice) {
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
