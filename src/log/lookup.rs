//! Time lookups: Kafka's ListOffsets ([`Log::offset_for_time`]).

use std::sync::Arc;

#[cfg(doc)]
use crate::Error;
use crate::Result;
use crate::segment::Segment;

use super::Log;

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
