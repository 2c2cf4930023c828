use proptest::prelude::*;

use super::*;

fn seg(base: i64, size: u64, ts: i64) -> SegmentFacts {
    SegmentFacts { base_offset: base, size, largest_timestamp: ts, last_modified_ms: 0 }
}

fn inputs(segments: Vec<SegmentFacts>, leo: i64) -> RetentionInputs {
    RetentionInputs {
        segments,
        log_end_offset: leo,
        log_start_offset: 0,
        retention_ms: None,
        retention_bytes: None,
        delete_policy: true,
        now_ms: 10_000,
    }
}

#[test]
fn time_retention_deletes_the_expired_prefix_only() {
    let mut i = inputs(
        vec![seg(0, 10, 1_000), seg(10, 10, 9_500), seg(20, 10, 2_000), seg(30, 10, 9_900)],
        40,
    );
    i.retention_ms = Some(5_000);
    // The third segment is old too, but deletion stops at the first young one.
    assert_eq!(plan(&i).deleted(), 1);
}

#[test]
fn size_retention_keeps_the_limit_when_dropping_whole_segments() {
    let mut i = inputs(vec![seg(0, 100, 1), seg(10, 100, 1), seg(20, 100, 1), seg(30, 50, 1)], 40);
    i.retention_bytes = Some(160);
    // 350 bytes, 190 too many: dropping the first (100) leaves 250; the second would leave 150 < 160.
    assert_eq!(plan(&i).by_size, 1);
}

#[test]
fn an_expired_non_empty_active_segment_is_rolled_and_deleted() {
    let mut i = inputs(vec![seg(0, 10, 1_000), seg(10, 10, 1_000)], 20);
    i.retention_ms = Some(5_000);
    let p = plan(&i);
    assert_eq!((p.deleted(), p.roll_first), (2, true));
}

#[test]
fn an_empty_active_segment_is_never_deleted() {
    let mut i = inputs(vec![seg(0, 10, 1_000), seg(10, 0, -1)], 10);
    i.retention_ms = Some(5_000);
    let p = plan(&i);
    assert_eq!((p.deleted(), p.roll_first), (1, false));
}

#[test]
fn segments_below_the_log_start_offset_go_even_without_the_delete_policy() {
    let mut i = inputs(vec![seg(0, 10, 1), seg(10, 10, 1), seg(20, 10, 1)], 30);
    i.delete_policy = false;
    i.retention_ms = Some(0);
    i.log_start_offset = 15;
    let p = plan(&i);
    assert_eq!((p.by_log_start_offset, p.deleted()), (1, 1));
}

#[test]
fn a_future_timestamp_does_not_pin_the_log_forever() {
    let mut i = inputs(vec![seg(0, 10, 1_000_000_000), seg(10, 10, 9_999)], 20);
    i.retention_ms = Some(5_000);
    // Written at time 0 but stamped far in the future: judged by its write time.
    assert_eq!(plan(&i).deleted(), 1);
    assert_eq!(retention_timestamp(&i.segments[0], i.now_ms), 0);
}

fn arb_inputs() -> impl Strategy<Value = RetentionInputs> {
    (
        proptest::collection::vec((1u64..100, -1i64..20_000, 0i64..20_000), 1..12),
        0i64..200,
        any::<bool>(),
        proptest::option::of(0i64..20_000),
        proptest::option::of(0u64..800),
        any::<bool>(),
    )
        .prop_map(
            |(segs, lso_pick, delete_policy, retention_ms, retention_bytes, empty_last)| {
                let n = segs.len();
                let segments: Vec<SegmentFacts> = segs
                    .iter()
                    .enumerate()
                    .map(|(k, &(size, ts, mtime))| SegmentFacts {
                        base_offset: 10 * k as i64,
                        size: if k + 1 == n && empty_last { 0 } else { size },
                        largest_timestamp: if k + 1 == n && empty_last { -1 } else { ts },
                        last_modified_ms: mtime,
                    })
                    .collect();
                let leo =
                    segments.last().map_or(0, |s| s.base_offset + if s.size == 0 { 0 } else { 10 });
                RetentionInputs {
                    segments,
                    log_end_offset: leo,
                    log_start_offset: lso_pick.min(leo),
                    retention_ms,
                    retention_bytes,
                    delete_policy,
                    now_ms: 15_000,
                }
            },
        )
}

/// Applies a plan the way the log does: the surviving segments and start offset.
fn apply(i: &RetentionInputs, p: &RetentionPlan) -> (Vec<SegmentFacts>, i64) {
    let mut rest: Vec<SegmentFacts> = i.segments.iter().skip(p.deleted()).copied().collect();
    if p.roll_first {
        rest.push(SegmentFacts {
            base_offset: i.log_end_offset,
            size: 0,
            largest_timestamp: -1,
            last_modified_ms: i.now_ms,
        });
    }
    let lso = rest.first().map_or(i.log_start_offset, |s| s.base_offset.max(i.log_start_offset));
    (rest, lso)
}

proptest! {
    #[test]
    fn unexpired_data_is_never_deleted_by_time(i in arb_inputs()) {
        let p = plan(&i);
        let (rest, _) = apply(&i, &p);
        prop_assert!(!rest.is_empty());
        if let Some(ms) = i.retention_ms.filter(|_| i.delete_policy && i.retention_bytes.is_none()) {
            for (k, s) in i.segments.iter().enumerate().take(p.deleted()) {
                let below_start = i.segments.get(k + 1).is_some_and(|n| n.base_offset <= i.log_start_offset);
                prop_assert!(below_start || i.now_ms - retention_timestamp(s, i.now_ms) > ms, "deleted unexpired segment {}", k);
            }
        }
    }

    #[test]
    fn the_log_start_offset_never_passes_the_end(i in arb_inputs()) {
        let (_, lso) = apply(&i, &plan(&i));
        prop_assert!(lso <= i.log_end_offset);
    }

    #[test]
    fn size_retention_keeps_at_least_the_limit(i in arb_inputs()) {
        let p = plan(&i);
        let (rest, _) = apply(&i, &p);
        if let (Some(limit), true) = (i.retention_bytes, i.delete_policy) {
            let kept: u64 = rest.iter().map(|s| s.size).sum();
            let total: u64 = i.segments.iter().skip(p.by_log_start_offset).map(|s| s.size).sum();
            if p.by_time == 0 && total >= limit {
                prop_assert!(kept >= limit, "kept {} < limit {}", kept, limit);
            }
        }
    }

    #[test]
    fn a_second_pass_deletes_nothing(i in arb_inputs()) {
        let p = plan(&i);
        let (rest, lso) = apply(&i, &p);
        let again = RetentionInputs { segments: rest, log_start_offset: lso, ..i.clone() };
        let p2 = plan(&again);
        prop_assert_eq!(p2.deleted(), 0, "second pass {:?} after {:?}", p2, p);
    }
}
