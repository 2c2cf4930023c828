//! When to roll the active segment: a pure function of plain numbers
//! (Kafka's `LogSegment.shouldRoll` and `UnifiedLog.maybeRoll`).

/// What the roll decision looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollInputs {
    /// Bytes already in the active segment.
    pub segment_size: u64,
    /// Bytes about to be appended.
    pub append_size: u64,
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// Max timestamp of the incoming batch.
    pub incoming_max_timestamp: i64,
    /// The segment's rolling-base timestamp (max timestamp of its first batch), if known.
    pub rolling_base_timestamp: Option<i64>,
    /// Wall clock now, ms.
    pub now_ms: i64,
    /// When the segment was created, wall clock ms.
    pub created_ms: i64,
    /// `segment.ms` (or `min(segment.ms, max.compaction.lag.ms)` for compacted topics).
    pub max_segment_ms: i64,
    /// Jitter drawn once for this segment, `< min(segment.jitter.ms, segment.ms)`.
    pub roll_jitter_ms: i64,
    /// Offset index has no free slot.
    pub offset_index_full: bool,
    /// Time index has no free slot (one is kept for the roll entry).
    pub time_index_full: bool,
    /// Base offset of the active segment.
    pub segment_base: i64,
    /// Last offset of the incoming batch.
    pub incoming_last_offset: i64,
}

/// Why a segment rolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollReason {
    /// The append would grow the segment past `segment.bytes`.
    Size,
    /// The segment is older than `segment.ms` (minus jitter).
    Time,
    /// The offset index is full.
    OffsetIndexFull,
    /// The time index is full.
    TimeIndexFull,
    /// The incoming offsets do not fit an int32 relative to the segment base.
    OffsetOverflow,
}

/// Decides whether the active segment must roll before an append.
///
/// Time is measured from the first batch's timestamp when there is one
/// (record time, as Kafka has done since KAFKA-4099), else from the
/// segment's creation on the wall clock. An empty segment never rolls for
/// size or time, so a roll never produces an empty segment.
#[must_use]
pub fn should_roll(i: &RollInputs) -> Option<RollReason> {
    if i.segment_size > i.segment_bytes.saturating_sub(i.append_size) {
        return Some(RollReason::Size);
    }
    if i.segment_size > 0 {
        let waited = match i.rolling_base_timestamp {
            Some(base) if base >= 0 => i.incoming_max_timestamp.saturating_sub(base),
            _ => i.now_ms.saturating_sub(i.created_ms),
        };
        if waited > i.max_segment_ms.saturating_sub(i.roll_jitter_ms) {
            return Some(RollReason::Time);
        }
    }
    if i.offset_index_full {
        return Some(RollReason::OffsetIndexFull);
    }
    if i.time_index_full {
        return Some(RollReason::TimeIndexFull);
    }
    let relative = i.incoming_last_offset.saturating_sub(i.segment_base);
    if !(0..=i64::from(i32::MAX)).contains(&relative) {
        return Some(RollReason::OffsetOverflow);
    }
    None
}

/// The per-segment jitter: `seed % min(segment.jitter.ms, segment.ms)`, 0 when jitter is off
/// (Kafka's `LogConfig.randomSegmentJitter`).
#[must_use]
pub fn segment_jitter(seed: u64, segment_jitter_ms: i64, segment_ms: i64) -> i64 {
    let bound = segment_jitter_ms.min(segment_ms);
    if bound <= 0 { 0 } else { (seed % bound.unsigned_abs()) as i64 }
}

/// Advances `seed` (xorshift: jitter needs spread, not secrecy) and draws the
/// next segment's jitter from it.
pub fn draw_jitter(seed: &mut u64, segment_jitter_ms: i64, segment_ms: i64) -> i64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    segment_jitter(*seed, segment_jitter_ms, segment_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> RollInputs {
        RollInputs {
            segment_size: 100,
            append_size: 50,
            segment_bytes: 1000,
            incoming_max_timestamp: 1_000,
            rolling_base_timestamp: Some(900),
            now_ms: 10_000,
            created_ms: 0,
            max_segment_ms: 500,
            roll_jitter_ms: 0,
            offset_index_full: false,
            time_index_full: false,
            segment_base: 0,
            incoming_last_offset: 10,
        }
    }

    #[test]
    fn rolls_when_the_append_would_pass_segment_bytes() {
        assert_eq!(
            should_roll(&RollInputs { segment_size: 951, ..base() }),
            Some(RollReason::Size)
        );
        assert_eq!(should_roll(&RollInputs { segment_size: 950, ..base() }), None);
    }

    #[test]
    fn time_is_measured_from_the_first_batch_timestamp_not_the_wall_clock() {
        assert_eq!(
            should_roll(&RollInputs { incoming_max_timestamp: 1_401, ..base() }),
            Some(RollReason::Time)
        );
        assert_eq!(should_roll(&RollInputs { incoming_max_timestamp: 1_400, ..base() }), None);
        // Without a record time the wall clock counts.
        let wall = RollInputs { rolling_base_timestamp: None, ..base() };
        assert_eq!(should_roll(&wall), Some(RollReason::Time));
    }

    #[test]
    fn jitter_shortens_the_time_limit() {
        let i = RollInputs { incoming_max_timestamp: 1_300, roll_jitter_ms: 101, ..base() };
        assert_eq!(should_roll(&i), Some(RollReason::Time));
    }

    #[test]
    fn full_indexes_and_offset_overflow_roll() {
        assert_eq!(
            should_roll(&RollInputs { offset_index_full: true, ..base() }),
            Some(RollReason::OffsetIndexFull)
        );
        assert_eq!(
            should_roll(&RollInputs { time_index_full: true, ..base() }),
            Some(RollReason::TimeIndexFull)
        );
        let far = RollInputs { incoming_last_offset: i64::from(i32::MAX) + 1, ..base() };
        assert_eq!(should_roll(&far), Some(RollReason::OffsetOverflow));
    }

    proptest! {
        #[test]
        fn an_empty_segment_never_rolls_for_size_or_time(append in 0u64..1000, ts in any::<i64>(), now in any::<i64>()) {
            let i = RollInputs { segment_size: 0, append_size: append, incoming_max_timestamp: ts, now_ms: now, ..base() };
            prop_assert_eq!(should_roll(&i), None);
        }

        #[test]
        fn jitter_stays_below_both_bounds(seed in any::<u64>(), j in 0i64..1_000_000, s in 1i64..1_000_000) {
            let v = segment_jitter(seed, j, s);
            prop_assert!(v >= 0 && (v < j.min(s) || v == 0));
        }
    }
}
