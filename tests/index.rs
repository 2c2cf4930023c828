//! The offset index and the time index: Kafka's exact bytes, lookups, append
//! rules, concurrent readers, and lookups against a brute-force scan.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strata::Error;
use strata::internals::index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};

const BASE: i64 = 1000;
const MAX: u64 = 10 * 1024 * 1024;

fn offset_index(dir: &Path, max: u64) -> (PathBuf, OffsetIndex) {
    let path = dir.join("00000000000000001000.index");
    let idx = OffsetIndex::create(&path, BASE, max).unwrap();
    (path, idx)
}

fn time_index(dir: &Path, max: u64) -> (PathBuf, TimeIndex) {
    let path = dir.join("00000000000000001000.timeindex");
    let idx = TimeIndex::create(&path, BASE, max).unwrap();
    (path, idx)
}

fn op(offset: i64, position: u32) -> OffsetPosition {
    OffsetPosition { offset, position }
}

fn to(timestamp: i64, offset: i64) -> TimestampOffset {
    TimestampOffset { timestamp, offset }
}

#[test]
fn offset_entry_bytes_are_relative_offset_then_position_big_endian() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = offset_index(dir.path(), MAX);
    idx.append(BASE + 5, 4100).unwrap();
    idx.trim_to_valid_size().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), [0, 0, 0, 5, 0, 0, 0x10, 0x04]);
}

#[test]
fn time_entry_bytes_are_timestamp_then_relative_offset_big_endian() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = time_index(dir.path(), MAX);
    assert!(idx.maybe_append(0x0102_0304_0506_0708, BASE + 0x0a0b, false).unwrap());
    idx.close_and_trim().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x0a, 0x0b]);
}

#[test]
fn lookup_returns_largest_entry_not_above_target() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    for (i, offset) in [1010, 1020, 1030].into_iter().enumerate() {
        idx.append(offset, 4096 * (i as u32 + 1)).unwrap();
    }
    assert_eq!(idx.lookup(1010).unwrap(), op(1010, 4096));
    assert_eq!(idx.lookup(1025).unwrap(), op(1020, 8192));
    assert_eq!(idx.lookup(i64::MAX).unwrap(), op(1030, 12288));
    assert_eq!(idx.entry(1).unwrap(), op(1020, 8192));
    assert!(idx.entry(3).is_err());
}

#[test]
fn lookup_with_next_returns_the_floor_entry_and_the_next_entrys_position() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    assert_eq!(idx.lookup_with_next(1500).unwrap(), (op(BASE, 0), None), "empty index");
    for (i, offset) in [1010, 1020, 1030].into_iter().enumerate() {
        idx.append(offset, 4096 * (i as u32 + 1)).unwrap();
    }
    for target in [0, 1009, 1010, 1019, 1020, 1025, 1030, i64::MAX] {
        let (floor, next) = idx.lookup_with_next(target).unwrap();
        assert_eq!(floor, idx.lookup(target).unwrap(), "floor of {target}");
        let want = match target {
            ..1010 => None, // below the first entry: no floor slot, no guess
            1010..1020 => Some(8192),
            1020..1030 => Some(12288),
            _ => None, // the last entry has none after it
        };
        assert_eq!(next, want, "next of {target}");
    }
}

#[test]
fn lookup_below_first_entry_returns_base_offset_at_position_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    assert_eq!(idx.lookup(1500).unwrap(), op(BASE, 0));
    assert_eq!(idx.last_entry().unwrap(), op(BASE, 0));
    idx.append(1010, 4096).unwrap();
    assert_eq!(idx.lookup(1009).unwrap(), op(BASE, 0));
    assert_eq!(idx.lookup(0).unwrap(), op(BASE, 0));
}

#[test]
fn fetch_upper_bound_is_first_entry_at_or_past_the_fetch_end() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    idx.append(1010, 100).unwrap();
    idx.append(1020, 200).unwrap();
    assert_eq!(idx.fetch_upper_bound_offset(0, 150).unwrap(), Some(op(1020, 200)));
    assert_eq!(idx.fetch_upper_bound_offset(100, 0).unwrap(), Some(op(1010, 100)));
    assert_eq!(idx.fetch_upper_bound_offset(150, 51).unwrap(), None);
}

#[test]
fn offset_index_rejects_non_increasing_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    idx.append(1010, 0).unwrap();
    assert!(matches!(idx.append(1010, 10), Err(Error::InvalidRequest(_))));
    assert!(idx.append(1009, 10).is_err());
    assert_eq!(idx.entries().unwrap(), 1);
}

#[test]
fn offset_index_rejects_offsets_outside_the_int32_range() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    assert!(idx.append(BASE - 1, 0).is_err());
    assert!(idx.append(BASE + i64::from(i32::MAX) + 1, 0).is_err());
    assert!(idx.append(BASE + 1, u32::MAX).is_err());
    idx.append(BASE + i64::from(i32::MAX), 0).unwrap();
}

#[test]
fn offset_index_is_full_at_max_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), 8 * 3);
    for i in 1..=3 {
        assert!(!idx.is_full().unwrap());
        idx.append(BASE + i, i as u32).unwrap();
    }
    assert!(idx.is_full().unwrap());
    assert!(idx.append(BASE + 4, 4).is_err());
}

#[test]
fn time_index_skips_non_increasing_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = time_index(dir.path(), MAX);
    assert!(!idx.maybe_append(-1, BASE, false).unwrap()); // v0 batches: no entry
    assert!(idx.maybe_append(100, BASE + 1, false).unwrap());
    assert!(!idx.maybe_append(100, BASE + 2, false).unwrap());
    assert!(idx.maybe_append(101, BASE + 2, false).unwrap());
    assert_eq!(idx.entries().unwrap(), 2);
    assert_eq!(idx.last_entry().unwrap(), to(101, BASE + 2));
}

#[test]
fn time_index_rejects_decreasing_offsets_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = time_index(dir.path(), MAX);
    idx.maybe_append(100, BASE + 5, false).unwrap();
    assert!(idx.maybe_append(200, BASE + 4, false).is_err());
    assert!(idx.maybe_append(99, BASE + 6, false).is_err());
    assert!(idx.maybe_append(200, BASE - 1 - i64::from(i32::MAX), false).is_err());
    assert_eq!(idx.entries().unwrap(), 1);
}

#[test]
fn time_index_reserves_one_slot_for_the_roll_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = time_index(dir.path(), 12 * 3);
    assert!(idx.maybe_append(10, BASE + 1, false).unwrap());
    assert!(idx.maybe_append(20, BASE + 2, false).unwrap());
    assert!(idx.is_full().unwrap());
    assert!(idx.maybe_append(30, BASE + 3, false).is_err());
    assert!(idx.maybe_append(30, BASE + 3, true).unwrap());
    assert!(idx.maybe_append(40, BASE + 4, true).is_err());
    assert_eq!(idx.entries().unwrap(), 3);
}

#[test]
fn time_index_lookup_returns_largest_timestamp_not_above_target() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = time_index(dir.path(), MAX);
    assert_eq!(idx.lookup(5).unwrap(), to(-1, BASE));
    assert_eq!(idx.last_entry().unwrap(), to(-1, BASE));
    idx.maybe_append(100, BASE + 3, false).unwrap();
    idx.maybe_append(200, BASE + 9, false).unwrap();
    assert_eq!(idx.lookup(99).unwrap(), to(-1, BASE));
    assert_eq!(idx.lookup(100).unwrap(), to(100, BASE + 3));
    assert_eq!(idx.lookup(199).unwrap(), to(100, BASE + 3));
    assert_eq!(idx.lookup(i64::MAX).unwrap(), to(200, BASE + 9));
}

#[test]
fn indexes_are_send_and_sync_and_serve_readers_while_appending() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<OffsetIndex>();
    assert_send_sync::<TimeIndex>();
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=2000 {
                idx.append(BASE + i, i as u32 * 10).unwrap();
            }
        });
        s.spawn(|| {
            for _ in 0..2000 {
                let found = idx.lookup(BASE + 1000).unwrap();
                assert!(
                    found == op(BASE, 0) || (found.offset <= BASE + 1000 && found.offset > BASE)
                );
                assert_eq!(i64::from(found.position), (found.offset - BASE) * 10);
            }
        });
    });
    assert_eq!(idx.lookup(BASE + 1000).unwrap(), op(BASE + 1000, 10_000));
}

proptest! {
    #[test]
    fn lookup_matches_a_brute_force_scan(
        gaps in proptest::collection::vec((1i64..50, 1u32..5000), 0..600),
        targets in proptest::collection::vec(900i64..40_000, 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (_, oidx) = offset_index(dir.path(), MAX);
        let (_, tidx) = time_index(dir.path(), MAX);
        let (mut offset, mut position, mut entries) = (BASE, 0u32, Vec::new());
        for (gap, size) in gaps {
            offset += gap;
            position += size;
            oidx.append(offset, position).unwrap();
            tidx.maybe_append(offset * 3, offset, false).unwrap();
            entries.push(op(offset, position));
        }
        for target in targets {
            let want = entries.iter().rev().find(|e| e.offset <= target).copied();
            prop_assert_eq!(oidx.lookup(target).unwrap(), want.unwrap_or(op(BASE, 0)));
            let want_t = entries.iter().rev().find(|e| e.offset * 3 <= target).map(|e| to(e.offset * 3, e.offset));
            prop_assert_eq!(tidx.lookup(target).unwrap(), want_t.unwrap_or(to(-1, BASE)));
        }
    }
}
