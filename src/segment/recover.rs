//! Recovery of one segment after an unclean shutdown (Kafka's
//! `LogSegment.recover`): re-validate every batch, rebuild both indexes from
//! scratch with the append rule, and cut the file after the last valid batch.

use std::sync::atomic::Ordering;

use crate::format::{BatchIter, NO_TIMESTAMP, StopReason};
use crate::io::file;
use crate::io::mmap::ReadMap;
use crate::{Error, Result};

use super::{AppendState, Segment};

/// What recovering a segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecoveryOutcome {
    /// Valid batches kept.
    pub batches: usize,
    /// Bytes cut from the end of the `.log`.
    pub truncated_bytes: u64,
    /// Why the scan stopped, when it stopped before the end.
    pub stop: Option<StopReason>,
    /// The offset after the last valid batch (the base offset if none).
    pub next_offset: i64,
}

impl Segment {
    /// Validates every batch, rebuilds the indexes and truncates the `.log`
    /// after the last valid batch. Must run before the segment is shared.
    pub(crate) fn recover(&self) -> Result<RecoveryOutcome> {
        let physical = self.with_file(file::len)?;
        // Read the whole file, valid or not, through a private map.
        let map = self.with_file(|f, p| ReadMap::map(f, p, physical))?;
        let data = map.bytes(0, physical as usize, physical as usize);
        self.offset_index.reset()?;
        self.time_index.reset()?;
        let mut st = AppendState {
            max_timestamp: Some((NO_TIMESTAMP, self.base_offset)),
            ..AppendState::default()
        };
        let mut iter = BatchIter::validating(data);
        let mut batches = 0;
        let mut last_index_pos = 0u64;
        let mut next_offset = self.base_offset;
        let mut stop = None;
        // Bytes of accepted batches: a batch that frames and hashes right but
        // whose offsets do not follow is cut too.
        let mut valid = 0u64;
        for (pos, batch) in iter.by_ref() {
            let pos = pos as u64;
            let relative = batch.last_offset() - self.base_offset;
            let misplaced = if batch.base_offset() < next_offset {
                Some("not above the previous batch's offsets")
            } else if relative > i64::from(i32::MAX) {
                Some("too far above the segment's base offset")
            } else {
                None
            };
            if let Some(reason) = misplaced {
                stop = Some(StopReason::Corrupt {
                    position: pos as usize,
                    error: crate::format::FormatError::InvalidValue {
                        field: "batch.baseOffset",
                        value: batch.base_offset(),
                        reason,
                    },
                });
                break;
            }
            if batches == 0 {
                st.rolling_base_timestamp = Some(batch.max_timestamp());
            }
            let (max_ts, _) = st.max_timestamp.unwrap_or((NO_TIMESTAMP, self.base_offset));
            if batch.max_timestamp() > max_ts {
                st.max_timestamp = Some((batch.max_timestamp(), batch.last_offset()));
            }
            if pos - last_index_pos > self.limits.index_interval_bytes {
                let p = u32::try_from(pos)
                    .map_err(|_| Error::InvalidRequest("segment position exceeds i32".into()))?;
                // A sealed segment written under a larger `segment.index.bytes`
                // (or by another writer) needs every entry: grow, never fail.
                self.offset_index.grow_for_one_more()?;
                self.offset_index.append(batch.last_offset(), p)?;
                let (ts, off) = st.max_timestamp.unwrap_or((NO_TIMESTAMP, self.base_offset));
                self.time_index.grow_for_one_more()?;
                self.time_index.maybe_append(ts, off, false)?;
                last_index_pos = pos;
            }
            next_offset = batch.next_offset();
            valid = pos + batch.size() as u64;
            batches += 1;
        }
        if stop.is_none() {
            stop = iter.stop_reason().filter(|r| **r != StopReason::End).cloned();
        }
        st.bytes_since_last_index_entry = Some(valid - last_index_pos);
        // No view of the old tail may outlive the cut.
        drop(iter);
        drop(map);
        if valid < physical {
            self.with_file(|f, p| file::set_len(f, p, valid))?;
        }
        self.len.store(valid, Ordering::Release);
        *self.state.lock() = st;
        Ok(RecoveryOutcome { batches, truncated_bytes: physical - valid, stop, next_offset })
    }
}
