//! Reading a segment: offset and timestamp lookups (index first, then a short
//! scan of batch headers), and batch iteration over published bytes.
//!
//! Every byte below the published length was a whole batch when it was
//! written or recovered, so bytes that stop framing there are corruption
//! (bit rot, an overwritten file), never "the end": every scan here ends with
//! [`Error::Corrupt`] naming the `.log` and the byte position instead of
//! stopping quietly, which would make readers skip the offsets after it
//! (Kafka's `CorruptRecordException`). Scans that decode records check the
//! batch's CRC first, so a flipped byte is never taken for data.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::format::batch::peek_v2;
use crate::format::{BatchIter, BatchView, FormatError, NO_TIMESTAMP, StopReason};
use crate::{Error, Result};

use super::Segment;

/// Where a batch sits in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchLocation {
    /// Byte position of the batch start.
    pub position: u64,
    /// Batch size in bytes.
    pub size: u64,
    /// Base offset of the batch.
    pub base_offset: i64,
    /// Last offset of the batch.
    pub last_offset: i64,
}

/// `(position in the segment, batch)` from a start position to the published
/// end. Bytes that stop framing before the end (and, for a validating scan,
/// a batch that fails its checks) end the iteration with one
/// [`Error::Corrupt`] naming the file and the position.
pub(crate) struct Batches {
    iter: BatchIter,
    start: u64,
    path: Arc<Path>,
    done: bool,
}

impl Iterator for Batches {
    type Item = Result<(u64, BatchView)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some((pos, b)) = self.iter.next() {
            return Some(Ok((self.start + pos as u64, b)));
        }
        self.done = true;
        stop_error(&self.path, self.start, self.iter.stop_reason()).map(Err)
    }
}

/// The corruption a [`BatchIter`] stop over `[start, published end)` means,
/// or `None` if it consumed every byte.
pub(crate) fn stop_error(
    path: &std::path::Path,
    start: u64,
    stop: Option<&StopReason>,
) -> Option<Error> {
    let (position, source) = match stop? {
        StopReason::End => return None,
        StopReason::Corrupt { position, error } => (*position, error.clone()),
        StopReason::TornTail { position, needed, available } => (
            *position,
            FormatError::Truncated { field: "batch", needed: *needed, available: *available },
        ),
        StopReason::ZeroTail { position, len } => (
            *position,
            FormatError::InvalidValue {
                field: "batch.batchLength",
                value: 0,
                reason: if *len > 0 { "zero bytes where a batch must start" } else { "empty" },
            },
        ),
    };
    Some(Error::corrupt(path, start + position as u64, source))
}

/// Batches up to this size are asked into the CPU cache as soon as a read
/// has found the one holding its offset (see [`prefetch_batch`]).
const PREFETCH_BYTES: usize = 64 << 10;

/// Lines of a batch a read asks for ahead ([`prefetch_batch`], and the
/// point read's lead).
pub(crate) const PREFETCH_LINES: usize = 24;

/// Asks the CPU to load the first [`PREFETCH_LINES`] cache lines of the
/// batch of `size` bytes at the start of `rest`, the first line of each
/// 4 KiB page it spans, and the line after it (the next batch's header),
/// when the batch is at most [`PREFETCH_BYTES`].
///
/// A read checks the CRC of the batch it found before serving any record of
/// it, and for a point read that batch is rarely in the CPU cache: its
/// first lines then load while the read finishes its checks, and the CPU's
/// prefetcher streams the rest once the CRC reads them in order. Asking for
/// every line of an 11.7 KB batch at once stalled the read until nearly all
/// of them had arrived (by `perf`, a fifth of a point read's time on the
/// prefetch instructions; `examples/point_read latency`). That prefetcher
/// stops at each page boundary, where a page read at random also misses
/// the TLB: asking for each page's first line
/// ([`prefetch_page_heads`](crate::io::hint::prefetch_page_heads)) starts
/// those page walks together instead of one after the other (a point
/// read's p50 1.86-1.87 µs to 1.67-1.68, p99 2.73-2.98 to 2.41-2.70 in
/// the same runs). The header of the batch after it is read by
/// [`Segment::locate`] and the read's placement checks. A hint only: it
/// changes no result, and a `size` that is a guess only asks for lines
/// the read may not use.
pub(crate) fn prefetch_batch(rest: &[u8], size: usize) {
    if size > PREFETCH_BYTES {
        return;
    }
    if let Some(after) = rest.get(size) {
        crate::io::hint::prefetch(after);
    }
    let batch = rest.get(..size).unwrap_or(rest);
    crate::io::hint::prefetch_lines(batch, PREFETCH_LINES);
    crate::io::hint::prefetch_page_heads(batch);
}

impl Segment {
    /// A reader was handed this segment's bytes `[start, end)` in one fetch
    /// of a `published`-byte segment and is likely to read on: the map's
    /// pages past them are set up ahead of it when the fetch is large
    /// ([`crate::io::ReadMap::populate_ahead`]). Advice only.
    pub(crate) fn read_ahead(&self, start: u64, end: u64, published: u64) {
        let len = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if end.saturating_sub(start) < crate::io::ahead::MIN_FETCH as u64 {
            return;
        }
        // A clone of the map (two reference counts), so the claim, which
        // may queue and start the worker thread, holds no lock of this
        // segment: a seal, an eviction or a read growing the map never
        // waits on it.
        let map = self.map.read().clone();
        map.populate_ahead(len(start), len(end), len(published));
    }

    /// Bytes of the installed map claimed for population ahead of readers.
    #[cfg(test)]
    pub(crate) fn claimed_ahead(&self) -> usize {
        self.map.read().ahead_progress().claimed()
    }

    /// Batches from byte `position` to the published end, framed (CRCs are
    /// not checked: use [`Self::valid_batches_from`] before decoding
    /// records).
    pub(crate) fn batches_from(&self, position: u64) -> Result<Batches> {
        self.scan(position, false)
    }

    /// Like [`Self::batches_from`], and each batch is
    /// [validated](BatchView::validate) (CRC, attributes, counts) before it
    /// is yielded: for readers that decode or copy records.
    pub(crate) fn valid_batches_from(&self, position: u64) -> Result<Batches> {
        self.scan(position, true)
    }

    fn scan(&self, position: u64, validate: bool) -> Result<Batches> {
        let bytes = self.bytes(position, self.len())?;
        let iter = if validate { BatchIter::validating(bytes) } else { BatchIter::new(bytes) };
        Ok(Batches { iter, start: position, path: self.shared_log_path(), done: false })
    }

    /// The first batch whose last offset is `>= offset`, searching from the
    /// offset index's floor entry (Kafka's `translateOffset`) in `data`, this
    /// segment's published bytes from position 0 (one map access for a
    /// whole read). v2 batch headers
    /// are read in place; legacy entries and bytes that do not frame take
    /// the general scan, which reports damage as [`Error::Corrupt`].
    ///
    /// A batch that starts below the end of the batch scanned before it (a
    /// base offset lowered by a flipped bit, which the CRC does not cover)
    /// is [`Error::Corrupt`]: returned, it would serve shifted records.
    pub(crate) fn locate(&self, data: &Bytes, offset: i64) -> Result<Option<BatchLocation>> {
        let (start, ahead) = self.scan_start_ahead(data, offset)?;
        let mut pos = usize::try_from(start).unwrap_or(usize::MAX);
        let mut previous_next = None;
        while let Some(rest) = data.get(pos..) {
            if rest.is_empty() {
                return Ok(None);
            }
            let Some((size, base_offset, last_offset)) = peek_v2(rest) else { break };
            self.check_rising(pos as u64, base_offset, previous_next)?;
            if last_offset >= offset {
                if !ahead.is_some_and(|(at, len)| at == pos && size <= len) {
                    prefetch_batch(rest, size);
                }
                // Confirmed by the batch after it: one that goes back, to
                // fit after the batch before this one, shows this one raised.
                let after = rest.get(size..).and_then(peek_v2).map(|(_, b, _)| b);
                if let (Some(before), Some(after)) = (previous_next, after)
                    && after <= last_offset
                    && after >= before
                    && (after < base_offset || (after == base_offset && base_offset > before))
                {
                    let e = crate::format::FormatError::InvalidValue {
                        field: "batch.baseOffset",
                        value: base_offset,
                        reason: "above the offsets of the batch after it",
                    };
                    return Err(self.corrupt_at(pos as u64, e));
                }
                let position = pos as u64;
                return Ok(Some(BatchLocation {
                    position,
                    size: size as u64,
                    base_offset,
                    last_offset,
                }));
            }
            previous_next = Some(last_offset.saturating_add(1));
            pos += size;
        }
        for item in self.batches_in(data, pos as u64) {
            let (position, b) = item?;
            self.check_rising(position, b.base_offset(), previous_next)?;
            previous_next = Some(b.next_offset());
            if b.last_offset() >= offset {
                return Ok(Some(BatchLocation {
                    position,
                    size: b.size() as u64,
                    base_offset: b.base_offset(),
                    last_offset: b.last_offset(),
                }));
            }
        }
        Ok(None)
    }

    /// [`Error::Corrupt`] when the batch at `position`, starting at
    /// `base_offset`, starts below `previous_next`, the end of the batch
    /// before it.
    fn check_rising(
        &self,
        position: u64,
        base_offset: i64,
        previous_next: Option<i64>,
    ) -> Result<()> {
        if previous_next.is_some_and(|n| base_offset < n) {
            let e = crate::format::FormatError::InvalidValue {
                field: "batch.baseOffset",
                value: base_offset,
                reason: "not above the previous batch's offsets",
            };
            return Err(self.corrupt_at(position, e));
        }
        Ok(())
    }

    /// Batches of `data` (published bytes from position 0) from `position`.
    fn batches_in(&self, data: &Bytes, position: u64) -> Batches {
        let from = usize::try_from(position).unwrap_or(usize::MAX).min(data.len());
        Batches {
            iter: BatchIter::new(data.slice(from..)),
            start: from as u64,
            path: self.shared_log_path(),
            done: false,
        }
    }

    /// Where to start scanning for `offset`: the offset index's floor entry
    /// if a batch starting at or below `offset`, and ending at or below the
    /// entry's offset, frames there, else the
    /// segment start. Every batch before such a batch ends below `offset`,
    /// so the scan cannot pass the one holding it; an index that lies (a
    /// garbage or swapped file, a position inside a batch) only costs a
    /// longer scan, never skipped records. An index that cannot be read (a
    /// segment deleted under a reader), or is not trusted (scan-only
    /// segments of a read-only open), is not needed either.
    fn scan_start(&self, offset: i64) -> Result<u64> {
        self.scan_start_in(&self.bytes(0, self.len())?, offset)
    }

    /// [`Self::scan_start`] in `data`, published bytes from position 0.
    fn scan_start_in(&self, data: &Bytes, offset: i64) -> Result<u64> {
        if self.is_scan_only() {
            return Ok(0);
        }
        let Ok(entry) = self.offset_index().lookup(offset) else { return Ok(0) };
        self.usable_start(data, offset, entry)
    }

    /// [`Self::scan_start_in`] for a read of one batch ([`Self::locate`]),
    /// which also asks the CPU for the bytes at the index entry after the
    /// floor entry: with an entry per batch (batches larger than
    /// `index.interval.bytes`, the common case), the batch holding `offset`
    /// starts there. Those bytes then load while the scan reads the header
    /// at the floor entry, the batch before, which is a second wait on
    /// memory otherwise. It guesses the batch as long as the distance
    /// between the two entries; the guess `(position, bytes)` is returned
    /// beside the start, so the batch is not asked for twice. A hint only:
    /// the scan reads and checks the same bytes whatever the index says.
    fn scan_start_ahead(&self, data: &Bytes, offset: i64) -> Result<(u64, Option<(usize, usize)>)> {
        if self.is_scan_only() {
            return Ok((0, None));
        }
        let Ok((entry, next)) = self.offset_index().lookup_with_next(offset) else {
            return Ok((0, None));
        };
        // The floor entry's batch header, read first by the scan.
        if let Some(first) = usize::try_from(entry.position).ok().and_then(|p| data.get(p)) {
            crate::io::hint::prefetch(first);
        }
        let ahead = next.and_then(|next| {
            let at = usize::try_from(next).ok()?;
            let len = at.checked_sub(usize::try_from(entry.position).ok()?)?;
            prefetch_batch(data.get(at..)?, len);
            (len <= PREFETCH_BYTES).then_some((at, len))
        });
        Ok((self.usable_start(data, offset, entry)?, ahead))
    }

    /// Where a scan for `offset` may start given the index's floor entry
    /// for it (see [`Self::scan_start`]).
    fn usable_start(
        &self,
        data: &Bytes,
        offset: i64,
        entry: crate::index::OffsetPosition,
    ) -> Result<u64> {
        let position = u64::from(entry.position);
        if position == 0 {
            return Ok(0);
        }
        let rest = usize::try_from(position).ok().and_then(|p| data.get(p..)).unwrap_or_default();
        // The entry `(O, P)` also promises that the batch at `P` ends at or
        // below `O` (written after the append that ended at `O`): one ending
        // above was raised by a flipped bit in its base offset, and the scan
        // from the start sees it against the batches around it.
        let usable = match peek_v2(rest) {
            Some((_, base_offset, last)) => base_offset <= offset && last <= entry.offset,
            None => {
                let first = self.batches_in(data, position).next();
                matches!(first, Some(Ok((_, ref b)))
                    if b.base_offset() <= offset && b.last_offset() <= entry.offset)
            }
        };
        Ok(if usable { position } else { 0 })
    }

    /// The offset after the last batch: scans from the last index entry
    /// (Kafka's `readNextOffset`), falling back to the segment start when the
    /// entry does not point at a batch.
    pub(crate) fn read_next_offset(&self) -> Result<i64> {
        let start = if self.is_scan_only() {
            0
        } else {
            self.scan_start(self.offset_index().last_entry()?.offset)?
        };
        let mut next = self.base_offset();
        for item in self.batches_from(start)? {
            next = item?.1.next_offset();
        }
        Ok(next)
    }

    /// The first record with `timestamp >= target` and `offset >= min_offset`,
    /// as `(offset, timestamp)` (Kafka's `findOffsetByTimestamp`).
    pub(crate) fn find_offset_by_timestamp(
        &self,
        target: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64)>> {
        // The indexes only narrow the scan; without them (a segment deleted
        // under a reader) the scan starts at the beginning and gives the same answer.
        let floor = match self.is_scan_only() {
            true => self.base_offset(),
            false => self.time_index().lookup(target).map_or(self.base_offset(), |e| e.offset),
        };
        let start = self.scan_start(floor.max(min_offset))?;
        for item in self.batches_from(start)? {
            let (position, batch) = item?;
            if batch.max_timestamp() < target || batch.last_offset() < min_offset {
                continue;
            }
            for r in self.checked_records(position, &batch)? {
                let r = r.map_err(|e| self.corrupt_at(position, e))?;
                if r.timestamp() >= target && r.offset() >= min_offset {
                    return Ok(Some((r.offset(), r.timestamp())));
                }
            }
        }
        Ok(None)
    }

    /// The first record carrying the segment's largest timestamp, as
    /// `(offset, timestamp)` (KIP-734 `MAX_TIMESTAMP`).
    ///
    /// Kafka's rule (`UnifiedLog.fetchOffsetByTimestamp`): the FIRST batch
    /// whose maxTimestamp is the largest answers alone, with its
    /// `RecordBatch.offsetOfMaxTimestamp`: its first record carrying that
    /// timestamp, or none when it is magic 0 (whose messages carry no
    /// timestamp) or none of its records carries it (a batch the cleaner
    /// kept empty with its original maxTimestamp). A later batch carrying
    /// the same timestamp is never looked at.
    ///
    /// `max` is the largest timestamp of the batches below `end` and the
    /// last offset of the first batch carrying it (see
    /// [`Segment::max_timestamp_below`]): no batch at or past `end` is read.
    pub(crate) fn offset_of_max_timestamp(
        &self,
        (max_ts, off): (i64, i64),
        end: i64,
    ) -> Result<Option<(i64, i64)>> {
        let start = self.scan_start(off)?;
        for item in self.batches_from(start)? {
            let (position, batch) = item?;
            if batch.base_offset() >= end {
                break;
            }
            if batch.max_timestamp() != max_ts {
                continue;
            }
            if batch.magic() == 0 {
                return Ok(None);
            }
            for r in self.checked_records(position, &batch)? {
                let r = r.map_err(|e| self.corrupt_at(position, e))?;
                if r.timestamp() == max_ts {
                    return Ok(Some((r.offset(), max_ts)));
                }
            }
            return Ok(None);
        }
        Ok(None)
    }

    /// The largest timestamp of the batches below `end` and the last offset of
    /// the first batch carrying it (Kafka's `maxTimestampSoFar` and its
    /// offset, as of a snapshot whose log end offset is `end`): `(-1, base
    /// offset)` when no batch below `end` carries a larger one, an empty
    /// segment's included (Kafka's empty time index answers that pair). An
    /// append publishes its batch, and the segment's largest timestamp with
    /// it, before the log end offset: when that largest timestamp is a
    /// batch's at or past `end`, the batches below `end` are scanned (their
    /// headers only) for theirs.
    pub(crate) fn max_timestamp_below(&self, end: i64) -> Result<(i64, i64)> {
        let none = (NO_TIMESTAMP, self.base_offset());
        if self.len() == 0 {
            return Ok(none);
        }
        let (ts, off) = self.max_timestamp_so_far()?;
        if off < end {
            return Ok((ts, off));
        }
        let mut max = none;
        for item in self.batches_from(0)? {
            let (_, b) = item?;
            if b.base_offset() >= end {
                break;
            }
            // Raised only by a larger timestamp, as an append raises it.
            if b.max_timestamp() > max.0 {
                max = (b.max_timestamp(), b.last_offset());
            }
        }
        Ok(max)
    }

    /// The records of `batch` (at `position`) after its CRC and structure
    /// are checked.
    fn checked_records(
        &self,
        position: u64,
        batch: &BatchView,
    ) -> Result<crate::format::batch::Records> {
        batch.validate().map_err(|e| self.corrupt_at(position, e))?;
        batch.records().map_err(|e| self.corrupt_at(position, e))
    }

    /// `(maxTimestampSoFar, its batch's last offset)` of an existing
    /// segment: the time index's last entry, which every roll and clean
    /// close writes. A segment with data but an empty time index (Kafka
    /// creates a missing one empty) has its batch headers scanned instead, so
    /// its records stay visible to time lookups, retention and MAX_TIMESTAMP.
    pub(crate) fn initial_max_timestamp(&self) -> Result<(i64, i64)> {
        let last =
            self.time_index().entries()?.checked_sub(1).map(|_| self.time_index().last_entry());
        if let Some(last) = last.transpose()? {
            return Ok((last.timestamp, last.offset));
        }
        let mut max = (NO_TIMESTAMP, self.base_offset());
        for item in self.batches_from(0)? {
            let (_, b) = item?;
            if b.max_timestamp() > max.0 {
                max = (b.max_timestamp(), b.last_offset());
            }
        }
        Ok(max)
    }

    /// [`Error::Corrupt`] for this segment's `.log` at `position`.
    pub(crate) fn corrupt_at(&self, position: u64, e: FormatError) -> Error {
        Error::corrupt(self.log_path(), position, e)
    }
}
