//! Reads: zero-copy fetches and time lookups.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::format::{BatchIter, BatchView, RecordRef};
use crate::segment::{Segment, stop_error};
use crate::{Error, Result};

use super::Log;

/// Bytes of one segment returned by a read: a zero-copy view plus where they
/// live on disk, so a server can `sendfile(path, position, len)` instead.
#[derive(Debug, Clone)]
pub struct FileSlice {
    /// The `.log` file at the time of the read. Retention or compaction may
    /// rename or delete it later; `bytes` stays valid regardless.
    pub path: PathBuf,
    /// Byte position of the first batch in the file.
    pub position: u64,
    /// The batches, whole.
    pub bytes: Bytes,
}

/// The result of [`Log::read`]: whole batches, starting with the one that
/// holds the requested offset.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    slices: Vec<FileSlice>,
    start_offset: i64,
    next_offset: i64,
    log_start_offset: i64,
    log_end_offset: i64,
    /// Set by reads with [`super::Isolation::ReadCommitted`].
    pub(super) last_stable_offset: Option<i64>,
    pub(super) aborted: Vec<super::AbortedTransaction>,
}

impl Fetched {
    /// The file ranges, in offset order.
    #[must_use]
    pub fn slices(&self) -> &[FileSlice] {
        &self.slices
    }

    /// Whether nothing was read (the offset was the log end).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
    }

    /// Total bytes.
    #[must_use]
    pub fn size_bytes(&self) -> usize {
        self.slices.iter().map(|s| s.bytes.len()).sum()
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
    /// before trusting a batch's contents, or use [`Self::records`].
    pub fn batches(&self) -> impl Iterator<Item = BatchView> + '_ {
        self.slices.iter().flat_map(|s| BatchIter::new(s.bytes.clone()).map(|(_, b)| b))
    }

    /// Records at or after the requested offset, decoded lazily. Each
    /// batch's CRC and structure are checked before it is decoded (Kafka's
    /// consumer default `check.crcs=true`): a damaged batch yields
    /// [`Error::Corrupt`] naming the `.log` file and the batch's byte
    /// position, and nothing after it. Keys and values of uncompressed
    /// batches are slices of the memory map.
    pub fn records(&self) -> impl Iterator<Item = Result<RecordRef>> + '_ {
        self.decode(true)
    }

    /// [`Self::records`] without the CRC check, for callers that validate
    /// batches themselves (Kafka's `check.crcs=false`). A damaged batch may
    /// then decode as wrong data.
    pub fn records_unchecked(&self) -> impl Iterator<Item = Result<RecordRef>> + '_ {
        self.decode(false)
    }

    fn decode(&self, check: bool) -> impl Iterator<Item = Result<RecordRef>> + '_ {
        let start = self.start_offset;
        let mut failed = false;
        self.slices
            .iter()
            .flat_map(|s| BatchIter::new(s.bytes.clone()).map(move |(pos, b)| (s, pos, b)))
            .flat_map(move |(s, pos, b)| {
                let at = move |source| Error::corrupt(&s.path, s.position + pos as u64, source);
                let checked = if check { b.validate().map(|()| b) } else { Ok(b) };
                let records: Box<dyn Iterator<Item = Result<RecordRef>>> =
                    match checked.and_then(|b| b.records()) {
                        Ok(rs) => Box::new(rs.map(move |r| r.map_err(at))),
                        Err(source) => Box::new(std::iter::once(Err(at(source)))),
                    };
                records
            })
            .filter(move |r| r.as_ref().map_or(true, |r| r.offset() >= start))
            // Nothing is decoded after the first error.
            .take_while(move |r| {
                let go = !failed;
                failed |= r.is_err();
                go
            })
    }
}

/// What [`Log::offset_for_time`] looks for (Kafka's ListOffsets targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// The first record carrying the largest timestamp (KIP-734).
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
/// there: reaching the next segment's base (`next_base`), or past the log
/// end (no append has handed those offsets out). `None` for a batch in place.
fn misplaced(
    seg: &crate::segment::Segment,
    position: u64,
    b: &crate::format::BatchView,
    next_base: Option<i64>,
    log_end_offset: i64,
) -> Option<Error> {
    let reason = if next_base.is_some_and(|n| b.last_offset() >= n) {
        "reaches the next segment's base offset"
    } else if b.base_offset() > log_end_offset {
        "past the log end offset"
    } else {
        return None;
    };
    let e = crate::format::FormatError::InvalidValue {
        field: "batch.baseOffset",
        value: b.base_offset(),
        reason,
    };
    Some(seg.corrupt_at(position, e))
}

impl Log {
    /// Reads whole batches starting with the one holding `offset`, up to
    /// `max_bytes` — but always at least one batch, even a larger one (Kafka's
    /// KIP-74 rule) — and never past the log end offset. Reading at the log
    /// end returns an empty result.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the log start offset or above the end;
    /// [`Error::Closed`] once the log is closed.
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
            slices: Vec::new(),
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
            let start = if i == first {
                match seg.translate_offset(offset)? {
                    Some(loc) => loc.position,
                    None => continue,
                }
            } else {
                0
            };
            let data = seg.bytes(start, seg.len())?;
            let mut end = 0usize;
            // Set when a batch stops the read: later segments must not be read past it.
            let mut full = false;
            let next_base = v.segments.get(i + 1).map(|s| s.base_offset());
            let mut iter = BatchIter::new(data.clone());
            for (pos, b) in iter.by_ref() {
                if let Some(e) = misplaced(seg, start + pos as u64, &b, next_base, v.log_end_offset)
                {
                    // Offsets outside the segment's range (a flipped bit in a
                    // base offset, which the CRC does not cover) are damage:
                    // stopping there quietly would leave the reader stuck.
                    if total == 0 {
                        return Err(e);
                    }
                    full = true;
                    break;
                }
                if b.base_offset() >= limit {
                    full = true;
                    break;
                }
                if total > 0 && total + b.size() > max_bytes {
                    full = true;
                    break;
                }
                end = pos + b.size();
                total += b.size();
                out.next_offset = b.next_offset();
            }
            if !full && let Some(e) = stop_error(&seg.log_path(), start, iter.stop_reason()) {
                // Bytes that stop framing inside a segment are damage, never its
                // end: reading on in the next segment would skip offsets. What
                // came before is returned; the read that starts at it fails.
                if total == 0 {
                    return Err(e);
                }
                full = true;
            }
            if end > 0 {
                out.slices.push(FileSlice {
                    path: seg.log_path(),
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
            OffsetSpec::MaxTimestamp => {
                let mut best: Option<(i64, &Arc<Segment>)> = None;
                for seg in v.segments.iter().filter(|s| s.len() > 0) {
                    let ts = seg.max_timestamp_so_far()?.0;
                    if best.is_none_or(|(b, _)| ts > b) {
                        best = Some((ts, seg));
                    }
                }
                let Some((_, seg)) = best else { return Ok(None) };
                // Kafka answers with the record even when it lies below the log
                // start offset (`UnifiedLog.fetchOffsetByTimestamp` does not
                // filter it), and only offsets a reader can fetch (below the end).
                Ok(seg
                    .offset_of_max_timestamp()?
                    .filter(|&(o, _)| o < v.log_end_offset)
                    .map(|(offset, timestamp)| TimestampedOffset::found(offset, timestamp)))
            }
            OffsetSpec::Timestamp(target) => {
                for seg in v.segments.iter() {
                    if seg.len() == 0 || seg.largest_timestamp()? < target {
                        continue;
                    }
                    let found = seg.find_offset_by_timestamp(target, v.log_start_offset)?;
                    if let Some((offset, timestamp)) = found.filter(|&(o, _)| o < v.log_end_offset)
                    {
                        return Ok(Some(TimestampedOffset::found(offset, timestamp)));
                    }
                }
                Ok(None)
            }
        }
    }
}
