//! Hostile and damaged log directories: names and counts read from disk are
//! checked like a caller's, a stray `.swap` is checked before it replaces
//! anything, symlinks do not redirect writes, and one partition that cannot
//! be opened takes only itself offline.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata::Error;
use strata::Record;
use strata::Store;
use strata::StoreConfig;

use common::closed_store::{count, make, open};

const SEG0: &str = "00000000000000000000.log";

fn append_line(path: &Path, line: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(line);
    std::fs::write(path, text).unwrap();
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// One bad partition
// ---------------------------------------------------------------------------------------------

#[test]
fn a_partition_that_cannot_be_opened_goes_offline_alone_naming_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 2, 10);
    // Partition 0's segment becomes a directory: opening it fails.
    let log0 = tmp.path().join("t-0").join(SEG0);
    let saved = std::fs::read(&log0).unwrap();
    std::fs::remove_file(&log0).unwrap();
    std::fs::create_dir(&log0).unwrap();
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();

    let store = open(tmp.path()).unwrap();
    let offline = store.offline_partitions();
    assert_eq!(offline.len(), 1, "{offline:?}");
    assert_eq!((offline[0].0.as_str(), offline[0].1), ("t", 0));
    assert!(offline[0].3.contains(SEG0), "the cause names the file: {}", offline[0].3);
    let err = store.partition("t", 0).unwrap_err();
    assert!(matches!(err, Error::PartitionOffline { .. }), "{err}");
    assert!(err.to_string().contains(SEG0), "{err}");
    assert_eq!(store.partition_count("t").unwrap(), 2);
    assert_eq!(count(&store, "t", 1), 10);
    store.partition("t", 1).unwrap().append(&[Record::new("k", "more")]).unwrap();
    // The flush flushes and checkpoints the rest, and says it could not flush t-0.
    let err = store.flush(None).unwrap_err();
    assert!(
        matches!(&err, Error::PartitionOffline { partition, .. } if partition == "t-0"),
        "{err}"
    );
    assert!(store.flush(Some("t")).is_err());
    let described = store.describe_topic("t").unwrap();
    assert_eq!(described.len(), 2, "{described:?}");
    assert!(described[0].offline.as_ref().is_some_and(|c| c.contains(SEG0)), "{described:?}");
    assert_eq!((described[0].log_start_offset, described[0].log_end_offset), (-1, -1));
    assert_eq!((described[1].offline.as_ref(), described[1].log_end_offset), (None, 11));
    // The offline partition keeps its checkpointed recovery point.
    let rp = std::fs::read_to_string(tmp.path().join("recovery-point-offset-checkpoint")).unwrap();
    assert!(rp.contains("t 0 10\n"), "{rp}");
    store.close().unwrap();
    assert!(
        !tmp.path().join(".kafka_cleanshutdown").exists(),
        "a directory with an unopened partition is not marked clean"
    );
    drop(store);

    // Repaired, it comes back with its data; nothing was recreated over it.
    std::fs::remove_dir(&log0).unwrap();
    std::fs::write(&log0, saved).unwrap();
    let store = open(tmp.path()).unwrap();
    assert!(store.offline_partitions().is_empty());
    assert_eq!(count(&store, "t", 0), 10);
    assert_eq!(count(&store, "t", 1), 11);
    store.close().unwrap();
    common::assert_kafka_valid_many(&[tmp.path().join("t-0"), tmp.path().join("t-1")], 4096);
}

// ---------------------------------------------------------------------------------------------
// strata-topics and checkpoints
// ---------------------------------------------------------------------------------------------

#[test]
fn topic_names_read_from_the_topics_file_cannot_leave_the_log_dir() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    make(&dir, 1, 3);
    let topics = dir.join("strata-topics");
    let original = std::fs::read_to_string(&topics).unwrap();
    let lines = original.lines().count();
    for name in ["../escaped", "/abs/path", "a/../../b"] {
        std::fs::write(&topics, &original).unwrap();
        append_line(&topics, &format!("topic {name} 1\n"));
        let err = open(&dir).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::CorruptFile { .. }), "{msg}");
        assert!(msg.contains("strata-topics"), "{msg}");
        assert!(msg.contains(&format!("line {}", lines + 1)) && msg.contains(name), "{msg}");
    }
    assert_eq!(entries(root.path()), ["logs"], "nothing created outside the log dir");
    // The file is left as it was for the operator to repair.
    assert!(std::fs::read_to_string(&topics).unwrap().contains("topic a/../../b 1"));
}

#[test]
fn partition_counts_read_from_the_topics_file_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 1);
    let before = entries(tmp.path());
    append_line(&tmp.path().join("strata-topics"), "topic plain 100000000\n");
    let started = std::time::Instant::now();
    let msg = open(tmp.path()).unwrap_err().to_string();
    // Refused before any directory is made: creating 100,000,000 would take hours (the bound is
    // generous for a loaded machine).
    assert!(started.elapsed().as_secs() < 60);
    assert!(msg.contains("strata-topics") && msg.contains("topic plain"), "{msg}");
    assert!(msg.contains("line "), "{msg}");
    assert_eq!(entries(tmp.path()), before, "no directory created");
}

#[test]
fn errors_from_the_topics_file_name_the_file_the_topic_and_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 1);
    let topics = tmp.path().join("strata-topics");
    let line = std::fs::read_to_string(&topics).unwrap().lines().count() + 1;
    append_line(&topics, "config t retention.ms soon\n");
    let msg = open(tmp.path()).unwrap_err().to_string();
    for part in ["strata-topics", "topic t", &format!("line {line}"), "retention.ms"] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
}

#[test]
fn names_in_checkpoints_are_validated_and_the_bad_file_reported() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 5);
    let cp = tmp.path().join("log-start-offset-checkpoint");
    std::fs::write(&cp, "0\n1\n../escaped 0 3\n").unwrap();
    let store = open(tmp.path()).unwrap();
    let ignored = store.ignored_entries();
    assert!(ignored.iter().any(|(p, why)| p == &cp && why.contains("line 3")), "{ignored:?}");
    assert_eq!(count(&store, "t", 0), 5);
    store.close().unwrap();
}

#[test]
fn a_stray_directory_is_reported_not_adopted() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 1);
    for stray in ["plain--1", "t-01", "t-0-future", "lost+found"] {
        std::fs::create_dir(tmp.path().join(stray)).unwrap();
    }
    let store = open(tmp.path()).unwrap();
    let names: Vec<String> = store.topics().into_iter().map(|(t, _)| t).collect();
    assert_eq!(names, ["t"]);
    assert_eq!(store.partition_count("t").unwrap(), 1);
    let ignored: Vec<PathBuf> = store.ignored_entries().iter().map(|(p, _)| p.clone()).collect();
    for stray in ["plain--1", "t-01", "t-0-future", "lost+found"] {
        assert!(ignored.contains(&tmp.path().join(stray)), "{stray} not reported: {ignored:?}");
    }
    store.close().unwrap();
    // Left alone.
    assert!(tmp.path().join("plain--1").is_dir());
}

#[test]
fn preallocate_is_refused_not_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    let overrides = BTreeMap::from([("preallocate".to_owned(), "true".to_owned())]);
    let err = store.create_topic("p", 1, &overrides).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }) && err.to_string().contains("preallocate"));
    let off = BTreeMap::from([("preallocate".to_owned(), "false".to_owned())]);
    store.create_topic("p", 1, &off).unwrap();
    assert!(store.set_topic_config("p", "preallocate", "true").is_err());
    store.close().unwrap();
}

#[test]
fn the_kraft_metadata_topic_cannot_be_created() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    let err = store.create_topic("__cluster_metadata", 1, &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidTopic { .. }), "{err}");
    assert!(!tmp.path().join("__cluster_metadata-0").exists());
    assert!(store.create_topic("t", 100_001, &BTreeMap::new()).is_err());
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Leftover .swap files
// ---------------------------------------------------------------------------------------------

/// A store whose `t-0` holds 200 records in one segment, with a `.log.swap` holding `swap`.
fn with_swap(swap: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 200);
    let part = tmp.path().join("t-0");
    std::fs::write(part.join(format!("{SEG0}.swap")), swap).unwrap();
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    (tmp, part)
}

#[test]
fn a_garbage_swap_file_is_rejected_and_the_old_segment_kept() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 200);
    let live = std::fs::read(tmp.path().join("t-0").join(SEG0)).unwrap();
    // A prefix of the real segment with garbage after it: every batch before the garbage is
    // valid, which is what made the old code take it.
    let mut garbage = live[..live.len() * 6 / 7].to_vec();
    garbage.extend(std::iter::repeat_n(0x5a, 300));
    for swap in [garbage, live[..live.len() / 2].to_vec(), vec![0xff; 4096]] {
        let (tmp, part) = with_swap(&swap);
        let store = open(tmp.path()).unwrap();
        assert_eq!(count(&store, "t", 0), 200);
        let rejected: Vec<_> =
            store.load_reports().iter().flat_map(|(_, r)| r.rejected_swaps.clone()).collect();
        if swap.len() != live.len() / 2 {
            assert_eq!(rejected.len(), 1, "{rejected:?}");
            assert!(rejected[0].0.ends_with(format!("{SEG0}.swap")), "{rejected:?}");
        }
        store.close().unwrap();
        assert!(common::swap_leftovers(&part).is_empty());
        common::assert_kafka_valid(&part, 4096);
    }
}

#[test]
fn a_swap_file_that_does_not_start_at_the_segment_it_replaces_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 200);
    let part = tmp.path().join("t-0");
    // A valid one-batch segment whose name claims base 0 but whose data starts at 150: it would
    // replace segment 0 and lose offsets 0..150.
    let seg = std::fs::read(part.join(SEG0)).unwrap();
    let other = tempfile::tempdir().unwrap();
    {
        let store = open(other.path()).unwrap();
        store.create_topic("t", 1, &BTreeMap::new()).unwrap();
        store.partition("t", 0).unwrap().append(&[Record::new("x", "y")]).unwrap();
        store.close().unwrap();
    }
    let mut batch = std::fs::read(other.path().join("t-0").join(SEG0)).unwrap();
    assert!(batch.len() < seg.len());
    // Rewrite its base offset to 150 (the CRC does not cover the base offset).
    batch[..8].copy_from_slice(&150i64.to_be_bytes());
    std::fs::write(part.join("00000000000000000150.log.swap"), &batch).unwrap();
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    let store = open(tmp.path()).unwrap();
    assert_eq!(count(&store, "t", 0), 200);
    let rejected: Vec<_> =
        store.load_reports().iter().flat_map(|(_, r)| r.rejected_swaps.clone()).collect();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    store.close().unwrap();
    assert!(common::swap_leftovers(&part).is_empty());
    common::assert_kafka_valid(&part, 4096);
}

#[test]
fn a_swap_file_copied_from_the_active_segment_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 0);
    {
        let store = open(tmp.path()).unwrap();
        let log = store.partition("t", 0).unwrap();
        for i in 0..100 {
            if i % 25 == 0 && i > 0 {
                log.roll().unwrap();
            }
            log.append(&[Record::new(format!("k{i}"), "v")]).unwrap();
        }
        store.close().unwrap();
    }
    let part = tmp.path().join("t-0");
    // The active segment (base 75) copied under the name of segment 25: every batch is
    // valid and above 25, but it would replace segments 25, 50 and 75 and lose 25..75.
    let active = std::fs::read(part.join("00000000000000000075.log")).unwrap();
    std::fs::write(part.join("00000000000000000025.log.swap"), active).unwrap();
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    let store = open(tmp.path()).unwrap();
    assert_eq!(count(&store, "t", 0), 100);
    let rejected: Vec<_> =
        store.load_reports().iter().flat_map(|(_, r)| r.rejected_swaps.clone()).collect();
    assert!(rejected.len() == 1 && rejected[0].1.contains("active segment"), "{rejected:?}");
    store.close().unwrap();
    assert!(common::swap_leftovers(&part).is_empty());
    common::assert_kafka_valid(&part, 4096);
}

/// Topic `t` (`cleanup.policy` as given), one partition, segments at 0, 25, 50 and 75 (active),
/// a record with a key of its own at each offset 0..100, closed cleanly.
fn four_segments(dir: &Path, policy: &str) {
    let store = open(dir).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), policy.to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..100 {
        if i % 25 == 0 && i > 0 {
            log.roll().unwrap();
        }
        log.append(&[Record::new(format!("k{i}"), format!("v{i}"))]).unwrap();
    }
    store.close().unwrap();
}

/// A CRC-valid copy of a later, sealed segment of the same partition planted as an earlier
/// segment's `.swap` covers the offsets of the segments it would replace (25..75 here) exactly
/// as a cleaning that dropped every earlier record would; the old segments' records tell them
/// apart (records 25..50 have keys no later record has, so no cleaner dropped them): the swap is
/// rejected, the old segments kept, and every record served, by a writer and read-only.
#[test]
fn a_swap_file_copied_from_a_later_segment_of_the_partition_is_rejected() {
    for policy in ["delete", "compact"] {
        let tmp = tempfile::tempdir().unwrap();
        four_segments(tmp.path(), policy);
        let part = tmp.path().join("t-0");
        let later = std::fs::read(part.join("00000000000000000050.log")).unwrap();
        std::fs::write(part.join("00000000000000000025.log.swap"), later).unwrap();

        let ro = Store::open_read_only(StoreConfig::new([tmp.path()])).unwrap();
        assert_eq!(count(&ro, "t", 0), 100, "{policy}: read-only");
        drop(ro);
        let store = open(tmp.path()).unwrap();
        assert_eq!(count(&store, "t", 0), 100, "{policy}");
        assert_one_swap_rejected(&store, "lacks the record at offset 25", policy);
        store.close().unwrap();
        assert!(common::swap_leftovers(&part).is_empty());
        common::assert_kafka_valid(&part, 4096);
    }
}

/// An empty `.swap` planted at a sealed segment's base covers no offsets, yet finishing it would
/// rename it over that segment: the segment's records decide as for any swap (a cleaner drops
/// none of them here, keys are unique), so it is rejected and the old segment kept, for both
/// policies.
#[test]
fn an_empty_swap_file_over_a_segment_whose_records_no_cleaner_drops_is_rejected() {
    for policy in ["delete", "compact"] {
        let tmp = tempfile::tempdir().unwrap();
        four_segments(tmp.path(), policy);
        let part = tmp.path().join("t-0");
        std::fs::write(part.join("00000000000000000025.log.swap"), b"").unwrap();
        let store = open(tmp.path()).unwrap();
        assert_eq!(count(&store, "t", 0), 100, "{policy}");
        assert_one_swap_rejected(&store, "lacks the record at offset 25", policy);
        store.close().unwrap();
        assert!(common::swap_leftovers(&part).is_empty());
    }
}

/// An empty `.swap` at the base of a compacted segment whose every key comes again in a later
/// sealed segment is what a cleaning of that segment leaves: it is accepted and replaces the
/// segment, and the later records are all served.
#[test]
fn an_empty_swap_over_a_segment_superseded_by_a_later_one_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    let o = BTreeMap::from([("cleanup.policy".to_owned(), "compact".to_owned())]);
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    for round in 0..2 {
        for k in 0..5 {
            log.append(&[Record::new(format!("k{k}"), format!("v{round}"))]).unwrap();
        }
        log.roll().unwrap();
    }
    log.append(&[Record::new("tail", "active")]).unwrap();
    store.close().unwrap();
    let part = tmp.path().join("t-0");
    std::fs::write(part.join("00000000000000000000.log.swap"), b"").unwrap();

    let store = open(tmp.path()).unwrap();
    let rejected: Vec<_> =
        store.load_reports().iter().flat_map(|(_, r)| r.rejected_swaps.clone()).collect();
    assert!(rejected.is_empty(), "{rejected:?}");
    let log = store.partition("t", 0).unwrap();
    let fetched = log.read(0, 1 << 20).unwrap();
    let offsets: Vec<i64> = fetched.records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(offsets, (5..11).collect::<Vec<_>>());
    store.close().unwrap();
    assert!(common::swap_leftovers(&part).is_empty());
}

/// A `.swap` whose records differ from those at the same offsets in the segments it replaces
/// (here: segment 25 with one value changed, CRC recomputed) is not a cleaner's output.
#[test]
fn a_swap_file_whose_records_differ_from_the_old_segments_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path(), "compact");
    let part = tmp.path().join("t-0");
    let old = std::fs::read(part.join("00000000000000000025.log")).unwrap();
    let mut builder = strata::BatchBuilder::new(25);
    let mut pos = 0;
    let mut batches = Vec::new();
    while pos < old.len() {
        let len = i32::from_be_bytes(old[pos + 8..pos + 12].try_into().unwrap()) as usize;
        batches.push(pos);
        pos += 12 + len;
    }
    // The first batch (offset 25) rebuilt with another value; the rest copied.
    builder.append(&Record::new("k25", "forged")).unwrap();
    let forged = builder.build().unwrap();
    let swap = [forged.as_ref(), &old[batches[1]..]].concat();
    std::fs::write(part.join("00000000000000000025.log.swap"), swap).unwrap();
    let store = open(tmp.path()).unwrap();
    assert_eq!(count(&store, "t", 0), 100);
    let log = store.partition("t", 0).unwrap();
    let first = log.read(25, 1).unwrap().records().next().unwrap().unwrap();
    assert_eq!(first.value().unwrap().as_ref(), b"v25");
    let rejected: Vec<_> =
        store.load_reports().iter().flat_map(|(_, r)| r.rejected_swaps.clone()).collect();
    assert!(
        rejected.len() == 1 && rejected[0].1.contains("holds a record at offset 25"),
        "{rejected:?}"
    );
    store.close().unwrap();
}

/// Flips bit `bit` of byte `byte` of the `nth` batch of `log` (in its base offset, which the CRC
/// does not cover, so the batch still hashes right). Returns the batch's true base offset.
fn flip_base_offset(log: &Path, nth: usize, (byte, bit): (usize, u8)) -> i64 {
    let mut bytes = std::fs::read(log).unwrap();
    let mut pos = 0;
    for _ in 0..nth {
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        pos += 12 + len;
    }
    let base = i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap());
    bytes[pos + byte] ^= 1 << bit;
    std::fs::write(log, bytes).unwrap();
    base
}

/// Reads `t-0` from its start as a consumer does. Every read makes progress or fails naming
/// `file`; returns the offsets and values served.
fn read_on(store: &Store, file: &str) -> BTreeMap<i64, Vec<u8>> {
    let log = store.partition("t", 0).unwrap();
    let mut served = BTreeMap::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        match log.read(next, 1 << 16) {
            Ok(f) => {
                assert!(!f.is_empty() && f.next_offset() > next, "a read at {next} was stuck");
                for r in f.records() {
                    let r = r.unwrap();
                    served.insert(r.offset(), r.value().unwrap().to_vec());
                }
                next = f.next_offset();
            }
            Err(e) => {
                assert!(e.to_string().contains(file), "the error does not name {file}: {e}");
                break;
            }
        }
    }
    served
}

/// A flipped bit in a batch's base offset (outside the CRC) moves the batch to offsets 2^24
/// higher (past the next segment's base, or past the log end), or 2^35 higher (past what an
/// index entry can express relative to the segment's base: not a legacy segment to split, but
/// damage). Whether it sits first or in the middle of a sealed segment or in the active one,
/// after a clean or an unclean shutdown, the partition stays online, the store never hands out
/// those offsets, every read makes progress or fails naming the file, and every record before
/// the damaged batch is served (before: a read at it returned nothing, for ever; the 2^35 flip
/// took the partition offline).
#[test]
fn a_flipped_bit_in_a_batch_base_offset_never_leaves_a_read_stuck() {
    for ((segment, nth), clean, flip) in [(25, 0), (25, 3), (75, 2)]
        .into_iter()
        .flat_map(|s| [true, false].map(|c| (s, c)))
        .flat_map(|(s, c)| [(4, 0), (3, 3)].map(|f| (s, c, f)))
    {
        {
            let tmp = tempfile::tempdir().unwrap();
            four_segments(tmp.path(), "delete");
            let file = format!("{segment:020}.log");
            let damaged = flip_base_offset(&tmp.path().join("t-0").join(&file), nth, flip);
            if !clean {
                std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
                std::fs::remove_file(tmp.path().join("recovery-point-offset-checkpoint")).unwrap();
            }
            let case = format!("batch {nth} of {file}, clean {clean}, flip {flip:?}");
            let ro = Store::open_read_only(StoreConfig::new([tmp.path()])).unwrap();
            let seen = read_on(&ro, &file);
            drop(ro);
            let store = open(tmp.path()).unwrap();
            assert!(
                store.offline_partitions().is_empty(),
                "{case}: {:?}",
                store.offline_partitions()
            );
            let log = store.partition("t", 0).unwrap();
            assert!(log.log_end_offset() <= 100, "{case}: end {}", log.log_end_offset());
            let served = read_on(&store, &file);
            assert_eq!(served, seen, "{case}: read-only and writer serve the same");
            for o in 0..damaged {
                let v = served.get(&o).unwrap_or_else(|| panic!("{case}: record {o} not served"));
                assert_eq!(v, format!("v{o}").as_bytes(), "{case}");
            }
            let next = log.append(&[Record::new("after", "x")]).unwrap();
            assert!(next.base_offset <= 100, "{case}: an append got {}", next.base_offset);
            store.close().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Symlinks
// ---------------------------------------------------------------------------------------------

#[test]
fn segment_files_are_not_written_through_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 50);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    let content = vec![0x11u8; 8192];
    let part = tmp.path().join("t-0");
    for name in ["00000000000000000000.index", "00000000000000000000.timeindex", SEG0] {
        std::fs::write(&victim, &content).unwrap();
        let link = part.join(name);
        let saved = std::fs::read(&link).unwrap();
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        // Unclean: recovery rebuilds indexes and truncates the log.
        let _ = std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown"));
        if let Ok(store) = open(tmp.path()) {
            if let Ok(log) = store.partition("t", 0) {
                let _ = log.append(&[Record::new("k", "v")]);
                let _ = log.flush();
            }
            let _ = store.close();
        }
        assert_eq!(std::fs::read(&victim).unwrap(), content, "{name}: written through a symlink");
        std::fs::remove_file(&link).unwrap();
        std::fs::write(&link, saved).unwrap();
    }
}

/// An index file planted as a symlink (to a file outside the store, holding garbage) is not the
/// segment's own file: the open removes the link (never following it to write), rebuilds the
/// index in a file of its own and keeps the partition online, serving every record — for sealed
/// and active segments, offset and time indexes, after a clean or an unclean shutdown. The
/// read-only open before it changes nothing and serves the same records. Before, the partition
/// went offline.
#[test]
fn a_planted_index_symlink_is_removed_and_rebuilt_not_taken_offline() {
    for name in [
        "00000000000000000025.index",
        "00000000000000000025.timeindex",
        "00000000000000000075.index",
        "00000000000000000075.timeindex",
    ] {
        for clean in [true, false] {
            let case = format!("{name}, clean {clean}");
            let tmp = tempfile::tempdir().unwrap();
            four_segments(tmp.path(), "delete");
            let outside = tempfile::tempdir().unwrap();
            let victim = outside.path().join("victim");
            let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
            std::fs::write(&victim, &garbage).unwrap();
            let link = tmp.path().join("t-0").join(name);
            std::fs::remove_file(&link).unwrap();
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            if !clean {
                std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
            }
            let ro = Store::open_read_only(StoreConfig::new([tmp.path()])).unwrap();
            assert!(ro.offline_partitions().is_empty(), "{case}: {:?}", ro.offline_partitions());
            assert_eq!(count(&ro, "t", 0), 100, "{case}: read-only");
            drop(ro);
            assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink(), "{case}: ro changed");

            let store = open(tmp.path()).unwrap();
            assert!(
                store.offline_partitions().is_empty(),
                "{case}: {:?}",
                store.offline_partitions()
            );
            assert_eq!(count(&store, "t", 0), 100, "{case}");
            assert!(
                !std::fs::symlink_metadata(&link).unwrap().is_symlink(),
                "{case}: still a link"
            );
            let log = store.partition("t", 0).unwrap();
            for o in [0, 30, 60, 90] {
                let r = log.read(o, 1).unwrap().records().next().unwrap().unwrap();
                assert_eq!(r.offset(), o, "{case}");
            }
            log.append(&[Record::new("after", "x")]).unwrap();
            log.roll().unwrap();
            store.close().unwrap();
            assert_eq!(
                std::fs::read(&victim).unwrap(),
                garbage,
                "{case}: written through the link"
            );
            common::assert_kafka_valid(&tmp.path().join("t-0"), 4096);
        }
    }
}

#[test]
fn a_symlinked_partition_directory_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 20);
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("t-0");
    let part = tmp.path().join("t-0");
    std::fs::rename(&part, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &part).unwrap();
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    let store = open(tmp.path()).unwrap();
    assert!(store.offline_partitions().is_empty(), "{:?}", store.offline_partitions());
    assert_eq!(count(&store, "t", 0), 20);
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new("k", "v")]).unwrap();
    log.roll().unwrap();
    log.append(&[Record::new("k", "w")]).unwrap();
    store.close().unwrap();
    drop(store);
    let store = open(tmp.path()).unwrap();
    assert_eq!(count(&store, "t", 0), 22);
    store.close().unwrap();
    common::assert_kafka_valid(&moved, 4096);
}

/// The store's open rejected exactly one `.swap`, for `why`.
fn assert_one_swap_rejected(store: &Store, why: &str, policy: &str) {
    let rejected: Vec<_> =
        store.load_reports().iter().flat_map(|(_, r)| r.rejected_swaps.clone()).collect();
    assert!(rejected.len() == 1 && rejected[0].1.contains(why), "{policy}: {rejected:?}");
}

#[test]
fn a_segment_named_at_the_largest_offset_never_lets_the_log_end_wrap() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 1, 10);
    // An almost valid name: 20 digits, the largest offset there is.
    let stray = tmp.path().join("t-0").join(format!("{:020}.log", i64::MAX));
    std::fs::write(&stray, b"").unwrap();
    let store = open(tmp.path()).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), i64::MAX, "the empty segment is the active one");
    for n in [1, 2] {
        let records: Vec<Record> = (0..n).map(|i| Record::new("k", format!("late{i}"))).collect();
        match log.append(&records) {
            Err(Error::InvalidRequest(why)) => assert!(why.contains("largest offset"), "{why}"),
            other => panic!("an append past i64::MAX: {other:?}"),
        }
    }
    assert_eq!(log.log_end_offset(), i64::MAX, "the log end never wraps below zero");
    assert_eq!(log.poisoned(), None);
    assert_eq!(count(&store, "t", 0), 10);
    store.close().unwrap();
}

#[test]
fn an_index_file_past_the_largest_kafka_writes_is_rebuilt_not_read_into_memory() {
    for clean in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        make(tmp.path(), 1, 200);
        if !clean {
            std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
        }
        // 1 TiB, sparse (no disk blocks): no index Kafka or strata writes is past 2 GiB.
        let part = tmp.path().join("t-0");
        for ext in ["index", "timeindex"] {
            let path = part.join(format!("{:020}.{ext}", 0));
            std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1 << 40).unwrap();
        }
        // A read-only open serves the records without reading the file either.
        let config = StoreConfig::new([tmp.path()]).background_threads(false);
        let looking = Store::open_read_only(config).unwrap();
        assert_eq!(count(&looking, "t", 0), 200, "read-only, clean: {clean}");
        looking.close().unwrap();
        let store = open(tmp.path()).unwrap();
        assert_eq!(count(&store, "t", 0), 200, "clean: {clean}");
        let index = std::fs::metadata(part.join(format!("{:020}.index", 0))).unwrap().len();
        assert!(index < 1 << 31, "the index is rebuilt at its configured size: {index} bytes");
        store.close().unwrap();
    }
}

#[test]
fn planted_sparse_files_of_a_terabyte_are_refused_never_read_into_memory() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 3, 50);
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    // 1 TiB each, sparse (no disk blocks): past anything strata or Kafka reads whole.
    let sparse = |path: PathBuf| {
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path);
        f.unwrap().set_len(1 << 40).unwrap();
        path
    };
    let epochs = sparse(tmp.path().join("t-0").join("leader-epoch-checkpoint"));
    let snapshot = sparse(tmp.path().join("t-1").join(format!("{:020}.snapshot", 50)));
    let txns = sparse(tmp.path().join("t-2").join(format!("{:020}.txnindex", 0)));
    let recovery = sparse(tmp.path().join("recovery-point-offset-checkpoint"));
    let store = open(tmp.path()).unwrap();
    // The epoch checkpoint takes its partition offline, naming the file.
    match store.partition("t", 0) {
        Err(Error::PartitionOffline { cause, .. }) => {
            assert!(cause.contains("leader-epoch-checkpoint"), "{cause}");
        }
        other => panic!("t-0: {:?}", other.map(|l| l.log_end_offset())),
    }
    // A snapshot that long is corrupt (skipped and removed); a `.txnindex`
    // that long is damage (rebuilt); the checkpoint is read as empty.
    assert_eq!(count(&store, "t", 1), 50);
    assert!(!snapshot.exists());
    assert_eq!(count(&store, "t", 2), 50);
    assert!(!txns.exists() || std::fs::metadata(&txns).unwrap().len() < 1 << 20);
    assert!(
        store.ignored_entries().iter().any(|(p, _)| *p == recovery),
        "{:?}",
        store.ignored_entries()
    );
    store.close().unwrap();
    assert!(std::fs::metadata(&epochs).unwrap().len() == 1 << 40, "an offline partition is left");
}

#[test]
fn a_segment_file_past_two_gib_takes_its_partition_offline_naming_it_unread() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 2, 50);
    // 1 TiB, sparse: Kafka's `FileRecords.open` refuses a segment past an int.
    let log0 = tmp.path().join("t-0").join(SEG0);
    std::fs::OpenOptions::new().write(true).open(&log0).unwrap().set_len(1 << 40).unwrap();
    for read_only in [true, false] {
        let config = StoreConfig::new([tmp.path()]).background_threads(false);
        let store = if read_only {
            Store::open_read_only(config).unwrap()
        } else {
            open(tmp.path()).unwrap()
        };
        match store.partition("t", 0) {
            Err(Error::PartitionOffline { cause, .. }) => {
                assert!(cause.contains(SEG0) && cause.contains("largest segment"), "{cause}");
            }
            other => panic!("read-only {read_only}: {:?}", other.map(|l| l.log_end_offset())),
        }
        assert_eq!(count(&store, "t", 1), 50, "the other partition is served");
        store.close().unwrap();
    }
    assert_eq!(std::fs::metadata(&log0).unwrap().len(), 1 << 40, "left as it was");
}

/// A crash in a swap's step 3 leaves the old segment renamed `.deleted` beside its `.swap`; a
/// `.swap` that then fails its checks (a flipped bit: its CRC no longer holds) takes the
/// partition offline naming it, and the open leaves the directory as it found it: the
/// `.deleted` files, the last whole copy of those records, are not removed before the refusal.
#[test]
fn a_refused_swap_whose_old_segment_is_renamed_deleted_leaves_the_directory_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path(), "compact");
    let part = tmp.path().join("t-0");
    let mut swap = std::fs::read(part.join("00000000000000000025.log")).unwrap();
    let last = swap.len() - 1;
    swap[last] ^= 1;
    std::fs::write(part.join("00000000000000000025.log.swap"), swap).unwrap();
    for kind in ["log", "index", "timeindex"] {
        let name = format!("00000000000000000025.{kind}");
        std::fs::rename(part.join(&name), part.join(format!("{name}.deleted"))).unwrap();
    }
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    let before = common::dir_snapshot(&part);
    let store = open(tmp.path()).unwrap();
    match store.partition("t", 0) {
        Err(Error::PartitionOffline { cause, .. }) => {
            assert!(cause.contains("00000000000000000025.log.swap"), "{cause}");
        }
        other => panic!("{:?}", other.map(|l| l.log_end_offset())),
    }
    store.close().unwrap();
    let after = common::dir_snapshot(&part);
    let names = |s: &BTreeMap<PathBuf, _>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before), "no file of the directory is removed or renamed");
    assert!(after == before, "the directory is left as it was");
}

/// A topic whose overrides no longer resolve under the store's defaults (its
/// `min.compaction.lag.ms` above a `log.cleaner.max.compaction.lag.ms` set
/// since) takes its own partitions offline, naming the rule; the store opens
/// and its other topics serve. Kafka's broker loads such logs (it checks the
/// rule only when a topic's configs are created or altered).
#[test]
fn a_topic_whose_overrides_no_longer_resolve_goes_offline_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let config = || StoreConfig::new([tmp.path()]).background_threads(false);
    let store = Store::open(config()).unwrap();
    let mut lagged = BTreeMap::new();
    lagged.insert("min.compaction.lag.ms".to_owned(), "3600000".to_owned());
    store.create_topic("lagged", 1, &lagged).unwrap();
    store.create_topic("plain", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    drop(store);
    let defaults = strata::LogConfig::default().max_compaction_lag_ms(60_000);
    let store = Store::open(config().topic_defaults(defaults.clone()))
        .expect("one topic's configs must not refuse the whole store");
    assert!(store.partition("plain", 0).is_ok());
    let err = store.partition("lagged", 0).unwrap_err();
    assert!(matches!(err, Error::PartitionOffline { .. }), "{err:?}");
    assert!(err.to_string().contains("min.compaction.lag.ms"), "{err}");
    // Its override removed, the next open serves it.
    store.remove_topic_config("lagged", "min.compaction.lag.ms").unwrap();
    store.close().unwrap();
    drop(store);
    let store = Store::open(config().topic_defaults(defaults)).unwrap();
    assert!(store.partition("lagged", 0).is_ok());
    store.close().unwrap();
}

/// A planted segment whose one batch ends at `i64::MAX` (valid CRC, offsets in reach of its
/// name) has no offset after it: its "next offset" wrapped to `i64::MIN`, which put the log end
/// below the log start, so the open deleted every segment and restarted the log empty (after a
/// clean shutdown, whether or not index files came with it). The batch is now cut like any
/// batch that cannot lie in its segment, and every record of the log is still served.
///
/// The same for a batch whose base offset (outside the CRC) was raised so far that its last
/// offset wraps past `i64::MAX`.
#[test]
fn a_planted_batch_ending_at_the_largest_offset_is_cut_and_never_empties_the_log() {
    let cases = [(true, false), (true, true), (false, false), (false, true)];
    for ((clean, with_indexes), raised) in cases.into_iter().flat_map(|c| [(c, 0), (c, 3)]) {
        let tmp = tempfile::tempdir().unwrap();
        make(tmp.path(), 1, 10);
        let base = i64::MAX - 5;
        let mut b = strata::BatchBuilder::new(base);
        for i in 0..6 {
            b.append(&Record::new("k", format!("v{i}"))).unwrap();
        }
        let mut batch = b.build().unwrap().as_ref().to_vec();
        batch[..8].copy_from_slice(&(base + raised).to_be_bytes());
        let part = tmp.path().join("t-0");
        std::fs::write(part.join(format!("{base:020}.log")), batch).unwrap();
        if with_indexes {
            for ext in ["index", "timeindex"] {
                std::fs::write(part.join(format!("{base:020}.{ext}")), b"").unwrap();
            }
        }
        if !clean {
            std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
        }
        let what = format!("clean {clean}, indexes {with_indexes}, raised by {raised}");
        let config = StoreConfig::new([tmp.path()]).background_threads(false);
        let looking = Store::open_read_only(config).unwrap();
        assert_eq!(count(&looking, "t", 0), 10, "{what}: read-only");
        looking.close().unwrap();
        let store = open(tmp.path()).unwrap();
        let log = store.partition("t", 0).unwrap();
        assert!(log.log_end_offset() >= 10, "{what}: log end {}", log.log_end_offset());
        assert_eq!(log.log_start_offset(), 0, "{what}");
        assert_eq!(count(&store, "t", 0), 10, "{what}");
        store.close().unwrap();
    }
}

/// A trusted sealed segment (after a clean shutdown, in a directory without a leader-epoch
/// checkpoint, so every `.txnindex` is rebuilt from the batches) whose ABORT marker was planted
/// at offset `i64::MAX`: the rebuild's last stable offset after it (the marker's offset + 1)
/// overflowed, a panic in a debug build. The open now answers without panicking.
#[test]
fn a_planted_abort_marker_at_the_largest_offset_does_not_panic_the_txnindex_rebuild() {
    use strata::{BatchBuilder, ControlRecord, LoadOptions, Log, LogConfig, ManualClock};
    let dir = tempfile::tempdir().unwrap();
    let mut data = BatchBuilder::new(0).producer(1000, 2, 0).transactional(true);
    data.append(&Record::new("k", "v")).unwrap();
    let abort = ControlRecord::abort(0);
    let marker = BatchBuilder::control_batch(i64::MAX, 1, 1000, 2, 0, &abort).unwrap();
    let sealed = [data.build().unwrap().as_ref(), marker.as_ref()].concat();
    std::fs::write(dir.path().join(format!("{:020}.log", 0)), sealed).unwrap();
    for ext in ["index", "timeindex"] {
        std::fs::write(dir.path().join(format!("{:020}.{ext}", 0)), b"").unwrap();
    }
    let mut active = BatchBuilder::new(100);
    active.append(&Record::new("k", "later")).unwrap();
    std::fs::write(dir.path().join(format!("{:020}.log", 100)), active.build().unwrap().as_ref())
        .unwrap();
    let opened = std::panic::catch_unwind(|| {
        let options = LoadOptions::clean().with_recovery_point(101);
        let clock = ManualClock::new(10_000);
        Log::open(dir.path(), "t", 0, LogConfig::default(), clock, options).map(|(log, _)| log)
    });
    let log = opened.expect("the open must not panic").unwrap();
    assert_eq!(log.log_end_offset(), 101);
    log.close().unwrap();
}

/// A `.swap` file named at the largest offset a file name can hold (i64::MAX): the check of
/// the swaps looked for the next swap above its base at `base + 1`, which overflows, a panic
/// (debug builds) that failed the whole store's open ('a loader thread panicked') where the
/// swap is input to judge like any other: an empty one replaces nothing, one that does not
/// frame takes its partition offline naming it (it lies above every segment, as the parts of
/// a split active segment whose original is gone do).
#[test]
fn a_swap_file_named_at_the_largest_offset_is_judged_without_a_panic() {
    let name = format!("{:020}.log.swap", i64::MAX);
    for swap in [Vec::new(), vec![0xff; 64]] {
        let tmp = tempfile::tempdir().unwrap();
        make(tmp.path(), 1, 200);
        let part = tmp.path().join("t-0");
        std::fs::write(part.join(&name), &swap).unwrap();
        std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
        let store = open(tmp.path()).unwrap();
        if swap.is_empty() {
            assert_eq!(count(&store, "t", 0), 200);
            let log = store.partition("t", 0).unwrap();
            assert_eq!(log.append(&[Record::new("k", "v")]).unwrap().base_offset, 200);
        } else {
            let e = store.partition("t", 0).unwrap_err();
            assert!(e.to_string().contains(&name), "{e}");
        }
        store.close().unwrap();
    }
}
