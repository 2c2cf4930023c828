//! Index files on disk: preallocation, trim, reopen of untrimmed files, lazy
//! mapping and release, truncation, reset, sanity checks, rename and delete,
//! injected faults, and Kafka-written fixtures.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strata::Error;
use strata::internals::index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};
use strata::internals::io::fault::{self, FaultPlan, Op};

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

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn new_index_is_preallocated_and_trim_keeps_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = offset_index(dir.path(), 1001);
    assert_eq!(file_len(&path), 1000);
    assert_eq!(idx.max_entries().unwrap(), 125);
    idx.append(1001, 10).unwrap();
    idx.append(1002, 20).unwrap();
    idx.trim_to_valid_size().unwrap();
    assert_eq!(file_len(&path), 16);
    assert!(idx.is_full().unwrap());
    drop(idx);
    let idx = OffsetIndex::open(&path, BASE, 1001, true);
    assert_eq!(idx.entries().unwrap(), 2);
    assert_eq!(idx.last_entry().unwrap(), op(1002, 20));
    assert!(idx.resize(1001).unwrap());
    assert_eq!((file_len(&path), idx.entries().unwrap()), (1000, 2));
    assert!(!idx.resize(1000).unwrap());
    idx.append(1003, 30).unwrap();
}

#[test]
fn reopen_of_untrimmed_index_stops_at_zero_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = time_index(dir.path(), 12 * 100);
    for i in 1..=7 {
        idx.maybe_append(i * 10, BASE + i, false).unwrap();
    }
    idx.flush().unwrap();
    drop(idx); // a crash: never trimmed
    assert_eq!(file_len(&path), 1200);
    let idx = TimeIndex::open(&path, BASE, 12 * 100, true);
    assert_eq!(idx.entries().unwrap(), 7);
    assert_eq!(idx.last_entry().unwrap(), to(70, BASE + 7));
    idx.sanity_check().unwrap();
    assert!(idx.maybe_append(80, BASE + 8, false).unwrap());
    assert_eq!(idx.entry(7).unwrap(), to(80, BASE + 8));
}

#[test]
fn all_zero_first_entry_counts_only_when_the_second_is_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.index");
    // (base + 0, position 0) then (base + 3, 77), then a zero tail.
    let mut bytes = vec![0; 8 * 10];
    bytes[8..16].copy_from_slice(&[0, 0, 0, 3, 0, 0, 0, 77]);
    std::fs::write(&path, &bytes).unwrap();
    let idx = OffsetIndex::open(&path, BASE, MAX, false);
    assert_eq!(idx.entries().unwrap(), 2);
    assert_eq!(idx.entry(0).unwrap(), op(BASE, 0));
    std::fs::write(&path, vec![0; 8 * 10]).unwrap();
    assert_eq!(OffsetIndex::open(&path, BASE, MAX, false).entries().unwrap(), 0);
}

#[test]
fn open_is_lazy_until_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.index");
    let idx = OffsetIndex::open(&missing, BASE, MAX, false);
    assert!(!idx.is_loaded());
    assert!(matches!(idx.entries(), Err(Error::Io { .. })));
    let idx = TimeIndex::open(&missing, BASE, MAX, true);
    assert!(!missing.exists());
    assert_eq!(idx.entries().unwrap(), 0);
    assert!(idx.is_loaded());
    assert_eq!(file_len(&missing), MAX - MAX % 12);
}

#[test]
fn release_unmaps_and_next_use_maps_again() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    idx.append(BASE, 0).unwrap(); // an all-zero entry, kept across release
    idx.release();
    assert!(!idx.is_loaded());
    assert_eq!(idx.lookup(BASE).unwrap(), op(BASE, 0));
    assert_eq!(idx.entries().unwrap(), 1);
}

#[test]
fn truncate_to_drops_entries_at_and_above_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (opath, oidx) = offset_index(dir.path(), 8 * 50);
    let (tpath, tidx) = time_index(dir.path(), 12 * 50);
    for i in 1..=5 {
        oidx.append(BASE + i * 10, (i * 100) as u32).unwrap();
        tidx.maybe_append(i * 1000, BASE + i * 10, false).unwrap();
    }
    oidx.truncate_to(BASE + 30).unwrap();
    tidx.truncate_to(BASE + 31).unwrap();
    assert_eq!(oidx.entries().unwrap(), 2);
    assert_eq!(oidx.last_entry().unwrap(), op(BASE + 20, 200));
    assert_eq!(tidx.entries().unwrap(), 3);
    assert_eq!(tidx.last_entry().unwrap(), to(3000, BASE + 30));
    // The dropped slots were zeroed: an untrimmed reopen does not resurrect them.
    drop((oidx, tidx));
    assert_eq!(OffsetIndex::open(&opath, BASE, 400, true).entries().unwrap(), 2);
    let tidx = TimeIndex::open(&tpath, BASE, 600, true);
    assert_eq!(tidx.entries().unwrap(), 3);
    tidx.truncate_to(BASE).unwrap();
    assert_eq!(tidx.last_entry().unwrap(), to(-1, BASE));
}

#[test]
fn reset_drops_entries_and_preallocates_again() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = offset_index(dir.path(), 8 * 50);
    idx.append(BASE + 1, 1).unwrap();
    idx.trim_to_valid_size().unwrap();
    idx.reset().unwrap();
    assert_eq!((idx.entries().unwrap(), file_len(&path)), (0, 400));
    assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
    idx.append(BASE + 1, 1).unwrap();
}

#[test]
fn corrupt_index_length_is_reported_by_sanity_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.index");
    std::fs::write(&path, [0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0]).unwrap();
    let err = OffsetIndex::open(&path, BASE, MAX, false).sanity_check().unwrap_err();
    assert!(
        matches!(&err, Error::CorruptFile { path: p, reason }
        if p == &path && reason.contains("multiple of 8")),
        "{err}"
    );
}

#[test]
fn sanity_check_reports_the_slot_of_a_non_increasing_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.index");
    let entries = [[0, 0, 0, 1, 0, 0, 0, 9], [0, 0, 0, 3, 0, 0, 0, 20], [0, 0, 0, 2, 0, 0, 0, 30]];
    std::fs::write(&path, entries.concat()).unwrap();
    let err = OffsetIndex::open(&path, BASE, MAX, false).sanity_check().unwrap_err();
    assert!(err.to_string().contains("slot 2"), "{err}");
    // A relative offset that decodes below the base offset.
    std::fs::write(&path, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]).unwrap();
    let err = OffsetIndex::open(&path, BASE, MAX, false).sanity_check().unwrap_err();
    assert!(err.to_string().contains("below base offset"), "{err}");
}

#[test]
fn time_index_sanity_check_reports_decreasing_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.timeindex");
    let mut bytes = Vec::new();
    for (ts, rel) in [(50i64, 1i32), (40, 2)] {
        bytes.extend_from_slice(&ts.to_be_bytes());
        bytes.extend_from_slice(&rel.to_be_bytes());
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = TimeIndex::open(&path, BASE, MAX, false).sanity_check().unwrap_err();
    assert!(matches!(err, Error::CorruptFile { .. }), "{err}");
}

#[test]
fn sanity_check_reports_non_zero_bytes_after_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.index");
    let mut bytes = vec![0; 8 * 6];
    bytes[..8].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 9]);
    bytes[29] = 1; // slot 3: garbage after the zero slot 1, then zeros
    std::fs::write(&path, &bytes).unwrap();
    let idx = OffsetIndex::open(&path, BASE, MAX, false);
    assert_eq!(idx.entries().unwrap(), 1);
    let err = idx.sanity_check().unwrap_err();
    assert!(err.to_string().contains("non-zero byte at 29"), "{err}");
    // Garbage in the last slot: every slot counts, as in Kafka, and the zero
    // slots among them break the offset order.
    bytes[45] = 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = OffsetIndex::open(&path, BASE, MAX, false).sanity_check().unwrap_err();
    assert!(matches!(err, Error::CorruptFile { .. }), "{err}");
}

#[test]
fn rename_to_keeps_the_mapping_and_moves_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = offset_index(dir.path(), MAX);
    idx.append(BASE + 1, 1).unwrap();
    let deleted = dir.path().join("00000000000000001000.index.deleted");
    idx.rename_to(&deleted).unwrap();
    assert!(!path.exists() && deleted.exists());
    assert_eq!(idx.path(), deleted);
    idx.append(BASE + 2, 2).unwrap();
    idx.trim_to_valid_size().unwrap();
    assert_eq!(file_len(&deleted), 16);
    assert!(idx.delete().unwrap());
    assert!(!deleted.exists());
}

#[test]
fn read_only_index_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = offset_index(dir.path(), MAX);
    idx.append(BASE + 1, 1).unwrap();
    idx.close_and_trim().unwrap();
    let ro = OffsetIndex::open(&path, BASE, MAX, false);
    assert!(ro.append(BASE + 2, 2).is_err());
    assert!(ro.resize(MAX).is_err());
    assert_eq!(ro.lookup(BASE + 5).unwrap(), op(BASE + 1, 1));
}

#[test]
fn injected_index_write_fault_leaves_entries_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (_, idx) = offset_index(dir.path(), MAX);
    idx.append(BASE + 1, 1).unwrap();
    let g = fault::arm(FaultPlan::new().fail_nth(Op::Write, 1));
    assert!(matches!(idx.append(BASE + 2, 2), Err(Error::Io { .. })));
    drop(g);
    assert_eq!(idx.entries().unwrap(), 1);
    idx.append(BASE + 2, 2).unwrap();
    let _g = fault::arm(FaultPlan::new().fail_every(Op::Sync));
    assert!(idx.flush().is_err());
}

/// Entries of a Kafka index file by the rule of `kafka_verify.py`'s
/// `read_entries`: up to the first all-zero entry, unless it is slot 0 and
/// slot 1 is not all-zero.
fn linear_count(bytes: &[u8], size: usize) -> usize {
    let slots: Vec<&[u8]> = bytes.chunks_exact(size).collect();
    let zero = |s: &[u8]| s.iter().all(|&b| b == 0);
    (0..slots.len())
        .find(|&i| zero(slots[i]) && !(i == 0 && slots.len() > 1 && !zero(slots[1])))
        .unwrap_or(slots.len())
}

#[test]
fn kafka_written_indexes_open_and_pass_sanity_check() {
    let Some(shared) = common::shared_dir() else {
        return common::skip("no ../shared fixtures");
    };
    let mut stack = vec![shared.join("fixtures")];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(base) = name.split('.').next().and_then(|b| b.parse::<i64>().ok()) else {
                continue;
            };
            match path.extension().and_then(|e| e.to_str()) {
                Some("index") => {
                    let idx = OffsetIndex::open(&path, base, MAX, false);
                    idx.sanity_check().unwrap();
                    let want = linear_count(&std::fs::read(&path).unwrap(), 8);
                    assert_eq!(idx.entries().unwrap(), want, "{path:?}");
                }
                Some("timeindex") => {
                    let idx = TimeIndex::open(&path, base, MAX, false);
                    idx.sanity_check().unwrap();
                    let want = linear_count(&std::fs::read(&path).unwrap(), 12);
                    assert_eq!(idx.entries().unwrap(), want, "{path:?}");
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    assert!(checked > 0);
}

proptest! {
    #[test]
    fn entry_count_on_open_matches_the_linear_zero_tail_rule(
        n in 0usize..70,
        slots in 1usize..80,
        zero_first in any::<bool>(),
    ) {
        let n = n.min(slots);
        let mut bytes = vec![0u8; slots * 8];
        for i in 0..n {
            let rel = if zero_first { i as i32 } else { i as i32 + 1 };
            bytes[i * 8..i * 8 + 4].copy_from_slice(&rel.to_be_bytes());
            bytes[i * 8 + 4..i * 8 + 8].copy_from_slice(&(rel as u32 * 8).to_be_bytes());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.index");
        std::fs::write(&path, &bytes).unwrap();
        let idx = OffsetIndex::open(&path, BASE, MAX, false);
        prop_assert_eq!(idx.entries().unwrap(), linear_count(&bytes, 8));
        idx.sanity_check().unwrap();
    }
}

#[test]
fn failed_trim_keeps_entries_and_maps_again_on_next_use() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = offset_index(dir.path(), MAX);
    idx.append(BASE + 1, 1).unwrap();
    idx.append(BASE + 2, 2).unwrap();
    {
        let _g = fault::arm(FaultPlan::new().fail_every(Op::SetLen));
        assert!(matches!(idx.trim_to_valid_size(), Err(Error::Io { .. })));
    }
    assert_eq!(idx.lookup(BASE + 9).unwrap(), op(BASE + 2, 2));
    idx.trim_to_valid_size().unwrap();
    assert_eq!(file_len(&path), 16);
}

#[test]
fn deleted_index_refuses_further_use() {
    let dir = tempfile::tempdir().unwrap();
    let (path, idx) = time_index(dir.path(), MAX);
    assert!(idx.delete().unwrap());
    assert!(matches!(idx.lookup(0), Err(Error::Closed { .. })));
    assert!(!path.exists());
    assert!(!idx.delete().unwrap());
}
