use proptest::prelude::*;

use super::*;

fn seg(base: i64, size: u64, ts: i64) -> SegmentStat {
    SegmentStat { base_offset: base, size, largest_timestamp: ts, first_batch_timestamp: ts }
}

fn stat(segments: Vec<SegmentStat>, checkpoint: Option<i64>, leo: i64) -> LogStat {
    LogStat {
        segments,
        log_start_offset: 0,
        checkpoint,
        log_end_offset: leo,
        last_stable_offset: leo,
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
        min_cleanable_dirty_ratio: 0.5,
        now_ms: 100_000,
    }
}

#[test]
fn the_active_segment_is_never_cleanable() {
    let c = cleanable(&stat(vec![seg(0, 100, 1), seg(10, 100, 1), seg(20, 100, 1)], None, 30));
    assert_eq!((c.first_dirty_offset, c.first_uncleanable_offset), (0, 20));
    assert_eq!(c.cleanable_bytes, 200);
    assert!(c.eligible);
}

#[test]
fn below_the_dirty_ratio_nothing_is_cleaned() {
    // clean 300 bytes, dirty 100: ratio 0.25 < 0.5.
    let c = cleanable(&stat(vec![seg(0, 300, 1), seg(10, 100, 1), seg(20, 10, 1)], Some(10), 30));
    assert!((c.dirty_ratio - 0.25).abs() < 1e-9);
    assert!(!c.eligible);
}

#[test]
fn max_compaction_lag_forces_cleaning_below_the_ratio() {
    let mut s = stat(vec![seg(0, 300, 1), seg(10, 100, 50_000), seg(20, 10, 1)], Some(10), 30);
    s.max_compaction_lag_ms = 10_000;
    let c = cleanable(&s);
    assert!(c.must_clean && c.eligible, "{c:?}");
}

#[test]
fn an_overdue_segment_held_back_by_min_lag_still_forces_cleaning_of_those_before_it() {
    // Kafka's maxCompactionDelay looks at every dirty non-active segment:
    // segment 10's first batch waited past max.compaction.lag.ms, but its
    // newest record is younger than min.compaction.lag.ms, so it stays
    // uncleanable; the overdue data still forces the segment before it to be
    // cleaned below the dirty ratio (clean 1000 bytes, dirty 100: 0.09).
    let mut first = seg(0, 1_000, 1_000);
    first.first_batch_timestamp = 1_000;
    let mut overdue = seg(20, 100, 99_000);
    overdue.first_batch_timestamp = 2_000;
    let mut s = stat(vec![first, seg(10, 100, 50_000), overdue, seg(30, 10, 99_500)], Some(10), 40);
    s.min_compaction_lag_ms = 5_000;
    s.max_compaction_lag_ms = 60_000;
    let c = cleanable(&s);
    assert_eq!(c.first_uncleanable_offset, 20, "{c:?}");
    assert!(c.must_clean && c.eligible, "{c:?}");
}

#[test]
fn min_compaction_lag_holds_back_young_segments() {
    let mut s = stat(vec![seg(0, 100, 1_000), seg(10, 100, 99_000), seg(20, 100, 1)], None, 30);
    s.min_compaction_lag_ms = 5_000;
    let c = cleanable(&s);
    assert_eq!(c.first_uncleanable_offset, 10);
    assert_eq!(c.cleanable_bytes, 100);
}

#[test]
fn a_checkpoint_outside_the_log_resets_to_the_start() {
    let mut s = stat(vec![seg(0, 100, 1), seg(10, 100, 1)], Some(500), 20);
    s.log_start_offset = 3;
    assert_eq!(cleanable(&s).first_dirty_offset, 3);
}

#[test]
fn the_dirtiest_eligible_log_is_picked() {
    let a = cleanable(&stat(vec![seg(0, 100, 1), seg(10, 100, 1), seg(20, 1, 1)], Some(10), 21));
    let b = cleanable(&stat(vec![seg(0, 100, 1), seg(10, 1, 1)], None, 11));
    let c = cleanable(&stat(vec![seg(0, 100, 1)], None, 10));
    assert_eq!(filthiest(&[a, b, c]), Some(1));
}

proptest! {
    #[test]
    fn sections_are_ordered_and_ratio_bounded(
        sizes in proptest::collection::vec(0u64..1000, 1..10),
        cp in proptest::option::of(0i64..120),
        lag in 0i64..200_000,
    ) {
        let segs: Vec<SegmentStat> = sizes.iter().enumerate().map(|(k, &sz)| seg(10 * k as i64, sz, 1_000 * k as i64)).collect();
        let leo = 10 * segs.len() as i64;
        let mut s = stat(segs, cp, leo);
        s.min_compaction_lag_ms = lag;
        let c = cleanable(&s);
        prop_assert!(c.first_dirty_offset <= leo);
        prop_assert!(c.first_uncleanable_offset <= s.segments.last().unwrap().base_offset.max(c.first_dirty_offset));
        prop_assert!((0.0..=1.0).contains(&c.dirty_ratio));
        prop_assert!(!c.eligible || c.cleanable_bytes > 0);
    }
}

#[test]
fn an_open_transaction_caps_the_cleanable_section_before_the_dirty_ratio() {
    // Offsets 0..30 in three closed segments, an undecided transaction from offset 12.
    let mut s =
        stat(vec![seg(0, 100, 1), seg(10, 100, 1), seg(20, 100, 1), seg(30, 0, 1)], None, 30);
    s.last_stable_offset = 12;
    let c = cleanable(&s);
    assert_eq!((c.first_dirty_offset, c.first_uncleanable_offset), (0, 10));
    assert_eq!(c.cleanable_bytes, 100);
    // Held back at the first dirty offset: nothing cleanable, not eligible.
    s.last_stable_offset = 0;
    let c = cleanable(&s);
    assert_eq!((c.cleanable_bytes, c.eligible), (0, false));
}
