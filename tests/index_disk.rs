//! Index files cost disk for what they hold: they are sized to `segment.index.bytes` sparsely
//! (as Kafka does) and get real blocks in steps just ahead of their entries, so a new partition
//! takes a page per index instead of 20 MB, while a full disk is still an `ENOSPC` error before
//! a write (the retriable `Error::NoSpace`), never a `SIGBUS` in the index map.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use strata::Error;
use strata::Log;
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::internals::io::fault::{self, FaultPlan, Op};

fn open(root: &Path, topic_config: &[(&str, &str)]) -> (Store, Log) {
    let store = Store::open(StoreConfig::new([root]).background_threads(false)).unwrap();
    let config: BTreeMap<String, String> =
        topic_config.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    store.create_topic("idx", 1, &config).unwrap();
    let log = store.partition("idx", 0).unwrap();
    (store, log)
}

fn record(i: i64) -> Record {
    Record::new(format!("k{i}").into_bytes(), format!("v{i}-{}", "x".repeat(40)).into_bytes())
}

/// The active segment's `(.index, .timeindex)` paths.
fn active_indexes(log: &Log) -> (PathBuf, PathBuf) {
    let base = *log.segment_base_offsets().last().unwrap();
    (log.dir().join(format!("{base:020}.index")), log.dir().join(format!("{base:020}.timeindex")))
}

/// Bytes of disk a file takes (`st_blocks` counts 512-byte units).
fn disk_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// One page on the machines strata runs on, at most 64 KiB anywhere.
const PAGE_BOUND: u64 = 64 << 10;

#[test]
fn a_new_partitions_index_files_take_a_page_of_disk_not_segment_index_bytes() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[]);
    for i in 0..20 {
        log.append(&[record(i)]).unwrap();
    }
    let (index, time_index) = active_indexes(&log);
    for path in [&index, &time_index] {
        // Preallocated to segment.index.bytes (10 MiB) as Kafka does, but sparse.
        assert!(len(path) >= (10 << 20) - 12, "{}: length {}", path.display(), len(path));
        let used = disk_bytes(path);
        assert!(used <= PAGE_BOUND, "{} takes {used} bytes of disk", path.display());
    }
    // The whole partition directory: far below the 20 MB that fully allocated indexes took.
    let total: u64 =
        std::fs::read_dir(log.dir()).unwrap().map(|e| disk_bytes(&e.unwrap().path())).sum();
    assert!(total <= 4 * PAGE_BOUND, "a new partition takes {total} bytes of disk");
    store.close().unwrap();
}

#[test]
fn index_blocks_grow_in_steps_just_ahead_of_the_entries() {
    let root = tempfile::tempdir().unwrap();
    // An entry per append: 2,999 offset entries (23,992 bytes), spread over several pages.
    let (store, log) = open(root.path(), &[("index.interval.bytes", "1")]);
    let mut max_ratio = 0.0f64;
    for i in 0..3000 {
        log.append(&[record(i)]).unwrap();
        if i % 250 == 249 {
            let (index, _) = active_indexes(&log);
            // Every append but the first (at position 0) adds an entry.
            let entries = i as u64 * 8;
            let used = disk_bytes(&index);
            assert!(used >= entries, "entries {entries} bytes on {used} bytes of blocks");
            max_ratio = max_ratio.max(used as f64 / entries as f64);
            assert!(used <= 2 * entries + PAGE_BOUND, "{used} bytes for {entries} of entries");
        }
    }
    eprintln!("blocks / entry bytes at most {max_ratio:.2}");
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    // Sealed at close: trimmed to the entries, as before.
    let index = dir.join(format!("{:020}.index", 0));
    assert_eq!(len(&index), 2999 * 8);
    common::assert_kafka_valid(&dir, 1);
}

#[test]
fn enospc_when_an_index_needs_its_next_blocks_fails_the_append_retriably() {
    let root = tempfile::tempdir().unwrap();
    let (store, log) = open(root.path(), &[("index.interval.bytes", "1")]);
    let log_file = log.dir().join(format!("{:020}.log", 0));
    // Fill the first page of the offset index; an entry beyond it needs new blocks.
    let mut i = 0;
    let mut failed = None;
    {
        let _full = fault::arm(
            FaultPlan::new().fail_every(Op::Allocate).os_error(Op::Allocate, libc::ENOSPC),
        );
        while i < 5000 {
            let before = len(&log_file);
            match log.append(&[record(i)]) {
                Ok(_) => i += 1,
                Err(e) => {
                    assert_eq!(len(&log_file), before, "nothing was written");
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    let err = failed.expect("the index outgrew its first page without an allocation");
    assert!(matches!(err, Error::NoSpace { .. }) && err.is_retriable(), "{err:?}");
    assert!(i >= 256, "failed after only {i} appends");
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.log_end_offset(), i);
    // Space is back: appends go on at the next offset and every entry is in place.
    for _ in 0..100 {
        assert_eq!(log.append(&[record(i)]).unwrap().base_offset, i);
        i += 1;
    }
    for at in [0, i / 2, i - 1] {
        let r = log.read(at, 1 << 10).unwrap().records().next().unwrap().unwrap();
        assert_eq!(r.offset(), at);
    }
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 1);
}

#[test]
fn enospc_at_a_roll_fails_it_retriably_before_the_active_segment_is_sealed() {
    let root = tempfile::tempdir().unwrap();
    let config = [("index.interval.bytes", "1")];
    {
        let (store, log) = open(root.path(), &config);
        for i in 0..600 {
            log.append(&[record(i)]).unwrap();
        }
        store.close().unwrap();
    }
    // Reopened, the active segment's index maps know of no blocks yet: the roll's final
    // time-index entry must be given one first.
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    let log = store.partition("idx", 0).unwrap();
    let (index, time_index) = active_indexes(&log);
    let segments = log.segment_count();
    {
        let _full = fault::arm(
            FaultPlan::new().fail_every(Op::Allocate).os_error(Op::Allocate, libc::ENOSPC),
        );
        let err = log.roll().unwrap_err();
        assert!(matches!(err, Error::NoSpace { .. }) && err.is_retriable(), "{err:?}");
    }
    assert_eq!(log.poisoned(), None);
    assert_eq!(log.segment_count(), segments);
    // Not sealed: the indexes are still at their preallocated length, not trimmed.
    assert!(len(&index) >= (10 << 20) - 8 && len(&time_index) >= (10 << 20) - 12);
    log.roll().unwrap();
    assert_eq!(log.segment_count(), segments + 1);
    assert_eq!(log.append(&[record(600)]).unwrap().base_offset, 600);
    let dir = log.dir().to_path_buf();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 1);
}
