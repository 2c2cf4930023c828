//! Retention: which prefix of segments to delete, as a pure function.
//!
//! Kafka's `deleteOldSegments` runs three predicates in order, each deleting
//! a prefix of the segments left by the previous one (the order makes
//! repeated passes idempotent, KAFKA-12177):
//!
//! 1. **log start offset**: a segment whose successor starts at or below the
//!    log start offset holds nothing readable;
//! 2. **size** (`retention.bytes`, per partition): delete oldest segments while
//!    what remains stays at or above the limit;
//! 3. **time** (`retention.ms`): delete segments whose newest record is older
//!    than the limit.
//!
//! Size and time apply only under `cleanup.policy=delete`. An empty last
//! segment is never deleted; when every segment goes (the active one
//! included), the log rolls first so an empty active segment remains.
//!
//! # Future timestamps (Kafka's gotcha G1, done better)
//! Kafka judges a segment by its largest record timestamp, so one CreateTime
//! record stamped years ahead pins that segment — and, since deletion is a
//! prefix, the whole log — forever. strata judges a segment whose largest
//! timestamp lies in the future (after `now`) by the time its file was last
//! written instead, as it does for segments without timestamps. A wrong clock
//! on one producer can then delay deletion by at most `retention.ms`.

/// What retention needs to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFacts {
    /// First offset of the segment.
    pub base_offset: i64,
    /// Bytes in its `.log`.
    pub size: u64,
    /// Largest record timestamp, -1 when none.
    pub largest_timestamp: i64,
    /// When its `.log` was last written, ms since the epoch. Read only for a
    /// segment whose largest timestamp is -1 or after `now`
    /// ([`retention_timestamp`]).
    pub last_modified_ms: i64,
}

/// Inputs of one retention pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionInputs {
    /// Segments, oldest first; the last is the active one. Never empty.
    pub segments: Vec<SegmentFacts>,
    /// Next offset to be written.
    pub log_end_offset: i64,
    /// First readable offset.
    pub log_start_offset: i64,
    /// `retention.ms`, `None` when unlimited.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`, `None` when unlimited.
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy` includes `delete`.
    pub delete_policy: bool,
    /// Wall clock now, ms.
    pub now_ms: i64,
}

/// The decision of one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPlan {
    /// Segments deleted by the log-start-offset rule (a prefix).
    pub by_log_start_offset: usize,
    /// Further segments deleted by the size rule.
    pub by_size: usize,
    /// Further segments deleted by the time rule.
    pub by_time: usize,
    /// Every segment goes: roll first so an empty active segment remains.
    pub roll_first: bool,
}

impl RetentionPlan {
    /// Total segments deleted (always a prefix of the log).
    #[must_use]
    pub fn deleted(&self) -> usize {
        self.by_log_start_offset + self.by_size + self.by_time
    }
}

/// The time a segment is judged by (see the module doc on future timestamps).
#[must_use]
pub fn retention_timestamp(s: &SegmentFacts, now_ms: i64) -> i64 {
    if s.largest_timestamp < 0 || s.largest_timestamp > now_ms {
        s.last_modified_ms
    } else {
        s.largest_timestamp
    }
}

/// Plans one retention pass.
#[must_use]
pub fn plan(i: &RetentionInputs) -> RetentionPlan {
    let n = i.segments.len();
    // Offset just past segment k: the next segment's base, or the log end.
    let upper = |k: usize| i.segments.get(k + 1).map_or(i.log_end_offset, |s| s.base_offset);
    // A segment may go only if it is not the last one while empty.
    let deletable = |k: usize| k + 1 < n || i.segments.get(k).is_some_and(|s| s.size > 0);
    let mut p = RetentionPlan::default();
    let mut k = 0;
    while k + 1 < n && upper(k) <= i.log_start_offset {
        k += 1;
    }
    p.by_log_start_offset = k;
    if i.delete_policy {
        if let Some(limit) = i.retention_bytes {
            let total: u64 = i.segments.iter().skip(k).map(|s| s.size).sum();
            let mut excess = total.saturating_sub(limit);
            let start = k;
            while let Some(s) = i.segments.get(k) {
                if total < limit || s.size > excess || !deletable(k) {
                    break;
                }
                excess -= s.size;
                k += 1;
            }
            p.by_size = k - start;
        }
        if let Some(ms) = i.retention_ms {
            let start = k;
            while let Some(s) = i.segments.get(k) {
                if i.now_ms.saturating_sub(retention_timestamp(s, i.now_ms)) <= ms || !deletable(k)
                {
                    break;
                }
                k += 1;
            }
            p.by_time = k - start;
        }
    }
    p.roll_first = n > 0 && k == n;
    p
}

#[cfg(test)]
mod tests;
