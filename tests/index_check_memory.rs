//! The check of a trusted segment's indexes at log open reads them in bounded memory: a
//! planted sparse index file of 1.5 GiB (no disk blocks) costs the open a few chunks, not its
//! length, and the open's verdict (the index trusted as it is, or its segment rebuilt) is the
//! one a whole read gave.
//!
//! Linux only (the peak resident size is `VmHWM` of `/proc/self/status`, reset through
//! `/proc/self/clear_refs`). One test, so that no other test of this binary shares the peak.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata::Record;

use common::closed_store::{count, open};

/// The planted files' length: whole entries of both index types (8 and 12 bytes).
const HUGE: u64 = 3 << 29;

/// What the open may add to the peak resident size.
const BUDGET: u64 = 64 << 20;

/// A `VmXxx:` field of `/proc/self/status`, in bytes; `None` where there is none.
fn vm(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A closed store in `dir`: topic `t`, one partition, records 0..60 in one batch each, an
/// offset-index entry per batch, in segments 0, 20 and 40 (the active one).
fn three_segments(dir: &Path) {
    let store = open(dir).unwrap();
    let config = BTreeMap::from([("index.interval.bytes".to_owned(), "1".to_owned())]);
    store.create_topic("t", 1, &config).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..60 {
        if i % 20 == 0 && i > 0 {
            log.roll().unwrap();
        }
        log.append(&[Record::new(format!("k{i}"), format!("v{i}"))]).unwrap();
    }
    store.close().unwrap();
}

/// How an index file of the sealed segment 20 is replaced.
#[derive(Debug, Clone, Copy)]
enum Plant {
    /// Zeros only, sparse: no entries.
    Sparse,
    /// Its own entries, then a sparse zero tail.
    EntriesThenSparse,
    /// Its own entries, a sparse zero tail and one non-zero last byte.
    EntriesThenSparseThenByte,
}

/// Replaces `path` as `plant` says; the file's length after.
fn plant(path: &Path, plant: Plant) -> u64 {
    let entries = std::fs::read(path).unwrap();
    let f = std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
    if !matches!(plant, Plant::Sparse) {
        std::os::unix::fs::FileExt::write_all_at(&f, &entries, 0).unwrap();
    }
    f.set_len(HUGE).unwrap();
    if matches!(plant, Plant::EntriesThenSparseThenByte) {
        std::os::unix::fs::FileExt::write_all_at(&f, &[1], HUGE - 1).unwrap();
    }
    HUGE
}

/// Opens the store in `dir` after `file` of segment 20 was replaced as `how` says; the growth of
/// the peak resident size over the open and a full read, and the file's length after.
fn open_planted(dir: &Path, file: &str, how: Plant) -> (u64, u64) {
    three_segments(dir);
    let path: PathBuf = dir.join("t-0").join(format!("{:020}.{file}", 20));
    plant(&path, how);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = vm("VmHWM:").unwrap();
    let store = open(dir).unwrap();
    assert_eq!(count(&store, "t", 0), 60, "{file} {how:?}: every record reads back");
    let grown = vm("VmHWM:").unwrap().saturating_sub(before);
    store.close().unwrap();
    (grown, std::fs::metadata(&path).unwrap().len())
}

#[test]
fn planted_sparse_index_files_of_gigabytes_are_checked_at_open_in_bounded_memory() {
    if vm("VmHWM:").is_none() || std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!(
            "skipped: no VmHWM in /proc/self/status, or no /proc/self/clear_refs to reset it"
        );
        return;
    }
    // (file, plant, whether the open trusts it as it is: a rebuild rewrites it, shorter).
    let cases = [
        ("index", Plant::Sparse, true),
        ("index", Plant::EntriesThenSparse, true),
        ("index", Plant::EntriesThenSparseThenByte, false),
        ("timeindex", Plant::Sparse, true),
        ("timeindex", Plant::EntriesThenSparse, true),
        ("timeindex", Plant::EntriesThenSparseThenByte, false),
    ];
    for (file, how, trusted) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let (grown, len) = open_planted(tmp.path(), file, how);
        eprintln!(
            "{file} {how:?}: peak resident size grew by {} KiB, length after {len}",
            grown >> 10
        );
        assert!(
            grown < BUDGET,
            "{file} {how:?}: the open's peak resident size grew by {} MiB for a sparse file of {} MiB",
            grown >> 20,
            HUGE >> 20
        );
        assert_eq!(len == HUGE, trusted, "{file} {how:?}: trusted as it is (length {len})");
    }
}
