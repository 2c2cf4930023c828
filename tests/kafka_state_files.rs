//! A store that writes every feature of Kafka's format at once (`tests/common/strata_all.rs`:
//! all codecs, headers, null keys and values, idempotent and transactional producers with
//! commit and abort markers, leader epochs, LogAppendTime, rolls by size and time, retention,
//! DeleteRecords, two cleanings with tombstones, delete horizons and retained empty batches) is
//! accepted by both checkers (its indexes equal to Kafka's one-session rebuild) and by Kafka's
//! own index checks, and the files beside its segments
//! are read by Kafka's own readers (`compat/kafka/src/KafkaStateFiles.java`: the classes a broker
//! loads them with) as strata meant them: every producer snapshot entry for entry, the last one
//! equal to the producer state the log's batches imply, the leader-epoch checkpoints, the offset
//! checkpoints, `partition.metadata` and the clean-shutdown marker.
//!
//! Skips with the reason when the checkers or Kafka's jars are absent.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use common::strata_all::{self, INDEX_INTERVAL, PARTITIONS};
use strata::internals::format::producer_snapshot::{self, SnapshotEntry};
use strata::{BatchView, ControlRecord, Log, Store, StoreConfig, TimestampType};

fn batches(log: &Log) -> Vec<BatchView> {
    log.read(log.log_start_offset(), usize::MAX).unwrap().batches().collect()
}

/// A snapshot entry as `KafkaStateFiles` prints it.
fn entry_line(e: &SnapshotEntry) -> String {
    format!(
        "S {} {} {} {} {} {} {} {}",
        e.producer_id,
        e.epoch,
        e.last_sequence,
        e.last_offset,
        e.offset_delta,
        e.timestamp,
        e.coordinator_epoch,
        e.current_txn_first_offset
    )
}

/// The producer state Kafka's `ProducerStateManager` builds from `batches` (its
/// `ProducerAppendInfo`): per producer the epoch of its last batch, the sequence, offset and
/// offset delta of its last data batch, the max timestamp of its last batch, the coordinator
/// epoch of its last marker and the first offset of its open transaction; as snapshot lines
/// sorted by producer ID.
fn producer_state(batches: &[BatchView]) -> Vec<String> {
    let mut state: BTreeMap<i64, SnapshotEntry> = BTreeMap::new();
    for b in batches.iter().filter(|b| b.producer_id() >= 0) {
        let e = state.entry(b.producer_id()).or_insert(SnapshotEntry {
            producer_id: b.producer_id(),
            epoch: b.producer_epoch(),
            last_sequence: -1,
            last_offset: -1,
            offset_delta: 0,
            timestamp: -1,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        });
        e.epoch = b.producer_epoch();
        e.timestamp = b.max_timestamp();
        if b.is_control() {
            let r = b.records().unwrap().next().unwrap().unwrap();
            let c = ControlRecord::decode(r.key().unwrap(), r.value().map(|v| &v[..])).unwrap();
            e.coordinator_epoch = c.coordinator_epoch;
            e.current_txn_first_offset = -1;
        } else {
            e.last_sequence = b.last_sequence();
            e.last_offset = b.last_offset();
            e.offset_delta = b.last_offset_delta();
            if b.is_transactional() && e.current_txn_first_offset < 0 {
                e.current_txn_first_offset = b.base_offset();
            }
        }
    }
    state.values().map(entry_line).collect()
}

/// The files of `dir` Kafka's state readers take, sorted.
fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".snapshot")
                || name.ends_with("-offset-checkpoint")
                || name == "leader-epoch-checkpoint"
                || name == "partition.metadata"
                || name == ".kafka_cleanshutdown"
        })
        .collect();
    files.sort();
    files
}

/// The scenario did what the module says, so the checks below cover it.
fn assert_every_feature_was_written(store: &Store) {
    for p in 0..2 {
        let log = store.partition("mix", p).unwrap();
        let all = batches(&log);
        let codecs: BTreeSet<u8> = all.iter().map(BatchView::compression_id).collect();
        assert_eq!(codecs.len(), 5, "mix-{p}: every codec");
        assert!(all.iter().any(BatchView::is_control), "mix-{p}: control batches");
        assert!(all.iter().any(BatchView::is_transactional), "mix-{p}: transactions");
        assert!(
            log.segment_count() >= 5,
            "mix-{p}: rolled by size and time: {:?}",
            log.segment_base_offsets()
        );
        let epochs: Vec<i32> = log.leader_epochs().iter().map(|e| e.epoch).collect();
        assert_eq!(epochs, [0, 3, 7], "mix-{p}: leader epochs");
        assert!(
            !log.aborted_transactions(0, i64::MAX).unwrap().is_empty(),
            "mix-{p}: aborted transactions"
        );
    }
    let at = batches(&store.partition("append-time", 0).unwrap());
    assert!(at.iter().all(|b| b.timestamp_type() == TimestampType::LogAppendTime));
    assert!(at.iter().all(|b| b.compression().unwrap() == strata::Compression::Lz4));
    let log = store.partition("compacted", 0).unwrap();
    let cleaned = batches(&log);
    assert!(
        cleaned.iter().any(|b| !b.is_control() && b.records_count() == 0),
        "compacted: an emptied batch was kept"
    );
    assert!(cleaned.iter().any(|b| b.delete_horizon_ms().is_some()), "compacted: delete horizons");
    let values: Vec<String> = log
        .read(log.log_start_offset(), usize::MAX)
        .unwrap()
        .records()
        .filter_map(|r| r.unwrap().value().map(|v| String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert!(!values.iter().any(|v| v.starts_with("aborted-")), "compacted: aborted data dropped");
    assert!(log.cleaner_checkpoint().is_some(), "compacted: cleaned");
}

#[test]
fn a_store_with_every_feature_is_accepted_by_both_checkers_and_its_state_files_by_kafkas_own_readers()
 {
    let tmp = tempfile::tempdir().unwrap();
    let written = strata_all::write(tmp.path());
    let dirs: Vec<PathBuf> =
        PARTITIONS.iter().map(|(t, p)| tmp.path().join(format!("{t}-{p}"))).collect();
    for dir in &dirs {
        common::assert_kafka_accepts(dir, INDEX_INTERVAL);
    }

    let mut files = state_files(tmp.path());
    for dir in &dirs {
        files.extend(state_files(dir));
    }
    let read = match common::broker::kafka_state_files(&files) {
        Err(reason) => {
            common::skip(&format!("Kafka's state-file readers cannot run: {reason}"));
            return;
        }
        Ok(result) => result.unwrap_or_else(|e| panic!("{e}")),
    };
    let lines = |path: &Path| read.get(path).cloned().unwrap_or_else(|| panic!("{path:?} read"));

    let store = Store::open_read_only(StoreConfig::new([tmp.path()])).unwrap();
    assert_every_feature_was_written(&store);
    let mut snapshots = 0;
    for ((topic, p), dir) in PARTITIONS.iter().zip(&dirs) {
        let log = store.partition(topic, *p).unwrap();
        // Every producer snapshot, entry for entry as strata meant it.
        let mut last = None;
        for file in
            state_files(dir).into_iter().filter(|f| f.extension().is_some_and(|x| x == "snapshot"))
        {
            let ours = producer_snapshot::decode(&fs::read(&file).unwrap()).unwrap();
            let want: Vec<String> = ours.iter().map(entry_line).collect();
            assert_eq!(lines(&file), want, "{}: Kafka's readSnapshot", file.display());
            snapshots += 1;
            last = Some(file);
        }
        let last = last.unwrap_or_else(|| panic!("{topic}-{p}: no producer snapshot"));
        let at: i64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        assert_eq!(at, log.log_end_offset(), "{topic}-{p}: the close's snapshot is at the end");
        if *topic == "mix" || *topic == "append-time" {
            // Nothing was removed from these logs: the state the batches imply.
            let mut got = lines(&last);
            got.sort();
            assert_eq!(got, producer_state(&batches(&log)), "{topic}-{p}: the producer state");
        }
        let epochs: Vec<String> = log
            .leader_epochs()
            .iter()
            .map(|e| format!("E {} {}", e.epoch, e.start_offset))
            .collect();
        assert_eq!(lines(&dir.join("leader-epoch-checkpoint")), epochs, "{topic}-{p}: epochs");
        let id = store.topic_id(topic).unwrap().unwrap();
        assert_eq!(lines(&dir.join("partition.metadata")), [format!("M 0 {id}")]);
    }
    assert_eq!(lines(&tmp.path().join(".kafka_cleanshutdown")).len(), 1, "a clean shutdown");
    // The store-wide checkpoints: every recovery point is the log end, every log start above 0
    // is listed, and the cleaner's point for the compacted partition.
    let offsets = |name: &str| lines(&tmp.path().join(name));
    let mut recovery = Vec::new();
    let mut starts = Vec::new();
    for (topic, p) in PARTITIONS {
        let log = store.partition(topic, *p).unwrap();
        recovery.push(format!("O {topic} {p} {}", log.log_end_offset()));
        if log.log_start_offset() > 0 {
            starts.push(format!("O {topic} {p} {}", log.log_start_offset()));
        }
    }
    recovery.sort();
    starts.sort();
    assert_eq!(offsets("recovery-point-offset-checkpoint"), recovery);
    assert_eq!(offsets("log-start-offset-checkpoint"), starts);
    assert!(starts.contains(&format!("O retained 0 {}", written.retained_start)));
    let cleaned = store.partition("compacted", 0).unwrap().cleaner_checkpoint().unwrap();
    assert_eq!(offsets("cleaner-offset-checkpoint"), [format!("O compacted 0 {cleaned}")]);
    eprintln!(
        "Kafka's readers read {} state files ({snapshots} producer snapshots) as strata wrote them",
        files.len()
    );
}
