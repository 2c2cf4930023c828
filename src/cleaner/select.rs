//! Which part of a log is dirty, and which log to clean: pure functions of
//! plain numbers (Kafka's `LogCleanerManager.cleanableOffsets`,
//! `calculateCleanableBytes`, `grabFilthiestCompactedLog`).
//!
//! ```text
//! | clean section | dirty: cleanable          | uncleanable (active segment, younger than min lag,  |
//! |               |                           | from the last stable offset's segment on)           |
//! start      first dirty             first uncleanable                                    end
//! ```

/// What selection needs to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStat {
    /// First offset of the segment.
    pub base_offset: i64,
    /// Bytes in its `.log`.
    pub size: u64,
    /// Largest record timestamp (-1 when none).
    pub largest_timestamp: i64,
    /// Max timestamp of its first batch (-1 when none): how long its oldest data has waited.
    pub first_batch_timestamp: i64,
}

/// Inputs for one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct LogStat {
    /// Segments oldest first; the last is active.
    pub segments: Vec<SegmentStat>,
    /// First readable offset.
    pub log_start_offset: i64,
    /// The cleaner checkpoint (first dirty offset), if any.
    pub checkpoint: Option<i64>,
    /// Next offset to be written.
    pub log_end_offset: i64,
    /// The last stable offset: the first offset of the earliest undecided
    /// transaction, or the log end offset.
    pub last_stable_offset: i64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// Wall clock, ms.
    pub now_ms: i64,
}

/// The sections of one partition and whether it should be cleaned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cleanable {
    /// First offset not yet cleaned.
    pub first_dirty_offset: i64,
    /// First offset that may not be cleaned (a segment boundary).
    pub first_uncleanable_offset: i64,
    /// Bytes of segments wholly below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of segments from the one holding the first dirty offset up to the uncleanable one.
    pub cleanable_bytes: u64,
    /// `cleanable / (clean + cleanable)`.
    pub dirty_ratio: f64,
    /// `max.compaction.lag.ms` has passed for some dirty record.
    pub must_clean: bool,
    /// The partition qualifies for cleaning now.
    pub eligible: bool,
}

/// Computes the sections of a partition (see the module doc).
#[must_use]
pub fn cleanable(s: &LogStat) -> Cleanable {
    let n = s.segments.len();
    let first_dirty = match s.checkpoint {
        Some(c) if c >= s.log_start_offset && c <= s.log_end_offset => c,
        _ => s.log_start_offset,
    };
    let active_base = s.segments.last().map_or(s.log_end_offset, |x| x.base_offset);
    let mut uncleanable = active_base;
    if s.min_compaction_lag_ms > 0 {
        // The first non-active segment at or after first dirty with data younger than the lag.
        let young = s.segments.iter().take(n.saturating_sub(1)).enumerate().find(|&(k, seg)| {
            let upper = s.segments.get(k + 1).map_or(s.log_end_offset, |x| x.base_offset);
            upper > first_dirty
                && seg.largest_timestamp > s.now_ms.saturating_sub(s.min_compaction_lag_ms)
        });
        if let Some((_, seg)) = young {
            uncleanable = uncleanable.min(seg.base_offset);
        }
    }
    // Never into an undecided transaction: were it aborted later, its records
    // must not have superseded committed ones. Capped here, before the dirty
    // ratio, as Kafka's `cleanableOffsets` caps by the last stable offset: a
    // log held back by an open transaction must not look cleanable (it would
    // be picked as the filthiest again and again, starving the others).
    uncleanable = uncleanable.min(s.last_stable_offset);
    let uncleanable = uncleanable.max(first_dirty);
    // Round down to the base of the segment holding it.
    let holder = s.segments.partition_point(|x| x.base_offset <= uncleanable).saturating_sub(1);
    let uncleanable =
        s.segments.get(holder).map_or(uncleanable, |x| x.base_offset.min(uncleanable));
    let dirty_from = s.segments.partition_point(|x| x.base_offset <= first_dirty).saturating_sub(1);
    // Segment-granular, as Kafka counts: a partly dirty segment counts on both sides.
    let clean_bytes: u64 =
        s.segments.iter().take_while(|x| x.base_offset < first_dirty).map(|x| x.size).sum();
    let cleanable_bytes: u64 = s
        .segments
        .iter()
        .skip(dirty_from)
        .take_while(|x| x.base_offset < uncleanable)
        .map(|x| x.size)
        .sum();
    let total = clean_bytes + cleanable_bytes;
    let dirty_ratio = if total == 0 { 0.0 } else { cleanable_bytes as f64 / total as f64 };
    let horizon = s.now_ms.saturating_sub(s.max_compaction_lag_ms);
    // Every dirty segment but the active one counts, also those the minimum
    // lag or an open transaction hold back: Kafka's
    // `LogCleanerManager.maxCompactionDelay` looks at
    // `nonActiveLogSegmentsFrom(firstDirtyOffset)`, so overdue data there
    // forces the cleaning of what is cleanable before it.
    let must_clean = s.max_compaction_lag_ms < i64::MAX
        && s.segments
            .iter()
            .take(n.saturating_sub(1))
            .skip(dirty_from)
            .any(|x| x.first_batch_timestamp > 0 && horizon > x.first_batch_timestamp);
    let eligible = cleanable_bytes > 0 && (must_clean || dirty_ratio > s.min_cleanable_dirty_ratio);
    Cleanable {
        first_dirty_offset: first_dirty,
        first_uncleanable_offset: uncleanable,
        clean_bytes,
        cleanable_bytes,
        dirty_ratio,
        must_clean,
        eligible,
    }
}

/// Index of the eligible partition with the largest dirty ratio, if any.
#[must_use]
pub fn filthiest(candidates: &[Cleanable]) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.eligible)
        .max_by(|(_, a), (_, b)| a.dirty_ratio.total_cmp(&b.dirty_ratio))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests;
