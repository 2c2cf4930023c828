//! Reading a segment: offset and timestamp lookups (index first, then a short
//! scan of batch headers), and batch iteration over published bytes.

use crate::format::{BatchIter, BatchView};
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

impl Segment {
    /// Batches from byte `position` to the published end (framing only: the
    /// bytes were validated when written or recovered).
    pub(crate) fn batches_from(&self, position: u64) -> Result<BatchIter> {
        Ok(BatchIter::new(self.bytes(position, self.len())?))
    }

    /// The first batch whose last offset is `>= offset`, searching from the
    /// offset index's floor entry (Kafka's `translateOffset`).
    pub(crate) fn translate_offset(&self, offset: i64) -> Result<Option<BatchLocation>> {
        let start = self.index_position(offset);
        self.locate_from(start, |b| b.last_offset() >= offset)
    }

    /// Where to start scanning for `offset`: the offset index's floor entry,
    /// or the segment start when the index cannot be read (it only speeds
    /// the scan up; a segment deleted under a reader has none).
    fn index_position(&self, offset: i64) -> u64 {
        if self.is_scan_only() {
            return 0;
        }
        self.offset_index().lookup(offset).map_or(0, |e| u64::from(e.position))
    }

    /// The first batch from `start` matching `pred`. A segment that cannot be
    /// read is an error, never "not here": a reader must not skip its data.
    fn locate_from(
        &self,
        start: u64,
        pred: impl Fn(&BatchView) -> bool,
    ) -> Result<Option<BatchLocation>> {
        let iter = self.batches_from(start)?;
        Ok(iter.map(|(pos, b)| (start + pos as u64, b)).find(|(_, b)| pred(b)).map(
            |(position, b)| BatchLocation {
                position,
                size: b.size() as u64,
                base_offset: b.base_offset(),
                last_offset: b.last_offset(),
            },
        ))
    }

    /// The offset after the last batch: scans from the last index entry
    /// (Kafka's `readNextOffset`).
    pub(crate) fn read_next_offset(&self) -> Result<i64> {
        let start = if self.is_scan_only() {
            0
        } else {
            u64::from(self.offset_index().last_entry()?.position)
        };
        let next = self.batches_from(start)?.last().map(|(_, b)| b.next_offset());
        Ok(next.unwrap_or(self.base_offset()))
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
        let start = self.index_position(floor.max(min_offset));
        for (_, batch) in self.batches_from(start)? {
            if batch.max_timestamp() < target || batch.last_offset() < min_offset {
                continue;
            }
            for r in batch.records().map_err(|e| self.corrupt(e))? {
                let r = r.map_err(|e| self.corrupt(e))?;
                if r.timestamp() >= target && r.offset() >= min_offset {
                    return Ok(Some((r.offset(), r.timestamp())));
                }
            }
        }
        Ok(None)
    }

    /// The first record carrying the segment's largest timestamp, as
    /// `(offset, timestamp)` (KIP-734 `MAX_TIMESTAMP`).
    pub(crate) fn offset_of_max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let (max_ts, off) = self.max_timestamp_so_far()?;
        let start = self.index_position(off);
        for (_, batch) in self.batches_from(start)? {
            if batch.max_timestamp() != max_ts {
                continue;
            }
            for r in batch.records().map_err(|e| self.corrupt(e))? {
                let r = r.map_err(|e| self.corrupt(e))?;
                if r.timestamp() == max_ts {
                    return Ok(Some((r.offset(), max_ts)));
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn corrupt(&self, e: crate::format::FormatError) -> Error {
        Error::corrupt(self.log_path(), 0, e)
    }
}
