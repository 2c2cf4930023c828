//! The read-only dry run predicts exactly what a writer's open repairs: for directories whose
//! trusted files are damaged (an index missing or lying, a tail that no longer frames after a
//! clean shutdown, damage below the recovery point of a crash, a log start checkpointed past the
//! data), `Store::open_read_only` reports the same repairs, cuts, dropped segments and holes that
//! `Store::open` then makes, serves the same records, and changes nothing.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata::Store;
use strata::StoreConfig;
use strata::internals::format::{BatchIter, Record};
use strata::internals::store::checkpoint::{
    CLEAN_SHUTDOWN_FILE, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};
use tempfile::TempDir;

const RECORDS: i64 = 300;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new([dir]).background_threads(false)
}

/// Topic `t` (one partition, 1 KiB segments, an index entry every 128 bytes) holding `RECORDS`
/// records one per batch, closed cleanly; its `.log` files, oldest first.
fn written_store() -> (TempDir, Vec<PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let mut o = BTreeMap::new();
    o.insert("segment.bytes".to_owned(), "1024".to_owned());
    o.insert("index.interval.bytes".to_owned(), "128".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..RECORDS {
        log.append(&[Record::new(format!("k{i}"), format!("value-{i}"))]).unwrap();
    }
    store.close().unwrap();
    let dir = tmp.path().join("t-0");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| common::is_segment_log_name(p.file_name().unwrap()))
        .collect();
    logs.sort();
    (tmp, logs)
}

fn batch_positions(file: &Path) -> Vec<usize> {
    BatchIter::new(Bytes::from(std::fs::read(file).unwrap())).map(|(p, _)| p).collect()
}

fn flip(file: &Path, at: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at] ^= 0x5a;
    std::fs::write(file, bytes).unwrap();
}

fn sibling(log: &Path, ext: &str) -> PathBuf {
    log.with_extension(ext)
}

/// Overwrites offset-index slot `slot` of `log`'s `.index` with `(relative offset, position)`.
fn set_index_entry(log: &Path, slot: usize, relative: i32, position: i32) {
    let path = sibling(log, "index");
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= (slot + 1) * 8, "{} has {} bytes", path.display(), bytes.len());
    bytes[slot * 8..slot * 8 + 4].copy_from_slice(&relative.to_be_bytes());
    bytes[slot * 8 + 4..slot * 8 + 8].copy_from_slice(&position.to_be_bytes());
    std::fs::write(&path, bytes).unwrap();
}

fn unclean(tmp: &TempDir, recovery_point: i64) {
    std::fs::remove_file(tmp.path().join(CLEAN_SHUTDOWN_FILE)).unwrap();
    std::fs::write(
        tmp.path().join(RECOVERY_POINT_CHECKPOINT),
        format!("0\n1\nt 0 {recovery_point}\n"),
    )
    .unwrap();
}

fn base_of(log: &Path) -> i64 {
    log.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// The damages: a name and what it does to a written store.
type Damage = (&'static str, fn(&TempDir, &[PathBuf]));

fn damages() -> Vec<Damage> {
    vec![
        ("missing index and a bad batch in an old segment", |_, logs| {
            std::fs::remove_file(sibling(&logs[1], "index")).unwrap();
            flip(&logs[1], batch_positions(&logs[1])[2] + 70);
        }),
        ("missing time index in a middle segment", |_, logs| {
            std::fs::remove_file(sibling(&logs[2], "timeindex")).unwrap();
        }),
        ("index entry past the end of its file", |_, logs| {
            let entries = std::fs::metadata(sibling(&logs[1], "index")).unwrap().len() / 8;
            set_index_entry(&logs[1], entries as usize - 1, 20, 1 << 20);
        }),
        ("index entries not increasing", |_, logs| {
            set_index_entry(&logs[1], 1, 0, 0);
        }),
        ("index entry at a position where no batch frames", |_, logs| {
            let entries = std::fs::metadata(sibling(&logs[1], "index")).unwrap().len() / 8;
            let last = batch_positions(&logs[1]).last().copied().unwrap();
            set_index_entry(&logs[1], entries as usize - 1, 20, last as i32 + 3);
        }),
        ("active tail cut inside a batch after a clean shutdown", |_, logs| {
            let last = logs.last().unwrap();
            let len = std::fs::metadata(last).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
            f.set_len(len - 10).unwrap();
        }),
        ("active batch at the last index entry zeroed after a clean shutdown", |_, logs| {
            let last = logs.last().unwrap();
            let mut bytes = std::fs::read(last).unwrap();
            let at = *batch_positions(last).last().unwrap();
            bytes[at..].fill(0);
            std::fs::write(last, bytes).unwrap();
        }),
        ("crash: a bad batch below the recovery point and a torn tail above it", |tmp, logs| {
            unclean(tmp, base_of(&logs[logs.len() - 2]));
            std::fs::remove_file(sibling(&logs[1], "index")).unwrap();
            flip(&logs[1], batch_positions(&logs[1])[3] + 70);
            let last = logs.last().unwrap();
            let tail = std::fs::read(last).unwrap();
            std::fs::write(last, [tail.clone(), tail[..40].to_vec()].concat()).unwrap();
        }),
        ("crash: a lying index below the recovery point, a bad batch above it", |tmp, logs| {
            unclean(tmp, base_of(&logs[2]));
            set_index_entry(&logs[0], 1, 0, 0);
            flip(&logs[3], batch_positions(&logs[3])[1] + 70);
        }),
        ("log start checkpointed past the data", |tmp, _| {
            std::fs::write(
                tmp.path().join(LOG_START_OFFSET_CHECKPOINT),
                format!("0\n1\nt 0 {}\n", RECORDS + 50),
            )
            .unwrap();
        }),
    ]
}

/// What a load report says was (or would be) repaired, cut, dropped and restarted.
fn decisions(store: &Store) -> String {
    let reports = store.load_reports();
    assert_eq!(reports.len(), 1);
    let r = &reports[0].1;
    format!(
        "recovered {} repaired {:?} cuts {:?} truncated {} truncations {:?} dropped {} gaps {:?} \
         restarted {:?} splits {}",
        r.recovered_segments,
        r.repaired_segments,
        r.cuts,
        r.truncated_bytes,
        r.truncations,
        r.dropped_segments,
        r.offset_gaps,
        r.restarted_at,
        r.split_segments
    )
}

/// What a store serves of `t-0`: start, end and every offset with its value.
fn contents(store: &Store) -> (i64, i64, Vec<(i64, Bytes)>) {
    let log = store.partition("t", 0).unwrap();
    let mut out = Vec::new();
    let mut at = log.log_start_offset();
    while at < log.log_end_offset() {
        let fetched = log.read(at, usize::MAX).unwrap();
        let before = out.len();
        for r in fetched.records() {
            let r = r.unwrap();
            if r.offset() >= at {
                out.push((r.offset(), r.value().unwrap().clone()));
            }
        }
        assert!(out.len() > before, "a read at {at} made no progress");
        at = out.last().unwrap().0 + 1;
    }
    (log.log_start_offset(), log.log_end_offset(), out)
}

#[test]
fn read_only_report_predicts_exactly_what_a_writers_open_repairs() {
    for (name, damage) in damages() {
        let (tmp, logs) = written_store();
        assert!(logs.len() >= 5, "{logs:?}");
        damage(&tmp, &logs);
        let before = common::dir_snapshot(tmp.path());

        let ro = Store::open_read_only(config(tmp.path())).unwrap();
        let predicted = decisions(&ro);
        let seen = contents(&ro);
        ro.close().unwrap();
        drop(ro);
        assert_eq!(common::dir_snapshot(tmp.path()), before, "{name}: the dry run changed files");

        let writer = Store::open(config(tmp.path())).unwrap();
        let done = decisions(&writer);
        assert!(done != decisions_of_nothing(), "{name}: the writer repaired nothing: {done}");
        assert_eq!(predicted, done, "{name}: the dry run's report differs from the writer's");
        assert_eq!(contents(&writer), seen, "{name}: the dry run serves other records");
        writer.close().unwrap();
        // The writer's repair is on disk: a clean reopen finds nothing left to repair.
        let again = Store::open(config(tmp.path())).unwrap();
        assert_eq!(decisions(&again), decisions_of_nothing(), "{name}: repair did not stick");
        again.close().unwrap();
        common::assert_kafka_valid(&tmp.path().join("t-0"), 128);
    }
}

fn decisions_of_nothing() -> String {
    "recovered 0 repaired [] cuts [] truncated 0 truncations [] dropped 0 gaps [] restarted None \
     splits 0"
        .to_owned()
}
