//! A segment that a sync pass covered to its end while it was active, then
//! sealed by a roll, lies below the recovery point: the next open trusts it
//! with its indexes as they are on disk. Passes sync only an active
//! segment's `.log` (its indexes are rebuilt while it is at the recovery
//! point), so the roll must sync what the seal wrote and the `.txnindex`
//! before the segment is trusted; otherwise a power cut after a clean
//! shutdown (or after the roll) loses the `.txnindex` and serves aborted
//! records as committed. Found by an audit of durability (2026-12-03).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata::internals::io::fault;
use strata::{
    BatchBuilder, Clock, Isolation, LoadOptions, Log, LogConfig, ManualClock, Record, Store,
    StoreConfig, TxnMarker,
};

fn aborted_txn(producer_id: i64) -> Bytes {
    let mut b = BatchBuilder::new(0).producer(producer_id, 0, 0).transactional(true);
    for i in 0..2 {
        b.append(&Record::new(format!("k{i}"), format!("aborted-{i}"))).expect("record");
    }
    b.build().expect("batch")
}

fn abort(producer_id: i64) -> TxnMarker {
    TxnMarker {
        producer_id,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit: false,
        transaction_version: 0,
    }
}

/// Offsets 0 (plain), 1-2 (producer 7's transaction), 3 (its abort); the
/// recovery point at 4 (flushed); a roll; offset 4 (plain) in the new segment.
fn write_and_roll(log: &Log, flush_before_roll: bool) {
    log.append(&[Record::new("plain", "a")]).expect("append");
    log.append_batch(aborted_txn(7)).expect("transaction");
    log.append_marker(abort(7)).expect("abort");
    if flush_before_roll {
        log.flush().expect("flush");
    }
    assert_eq!(log.recovery_point(), 4);
    log.roll().expect("roll");
    log.append(&[Record::new("plain", "b")]).expect("append");
}

fn committed(log: &Log) -> Vec<i64> {
    log.read_with(0, 1 << 20, Isolation::ReadCommitted)
        .expect("read")
        .committed_records()
        .map(|r| r.expect("record").offset())
        .collect()
}

/// The store's directory as a power cut after now could leave it if the
/// first segment's indexes kept only their synced bytes, opened, read.
fn committed_after_power_cut(root: &Path, data: &Path, watch: &fault::Watch) -> Vec<i64> {
    let image = root.join("image");
    common::copy_dir(data, &image).expect("copy");
    for name in ["00000000000000000000.txnindex", "00000000000000000000.timeindex"] {
        let synced = watch.synced_len(&data.join("t-0").join(name));
        let cut = std::fs::OpenOptions::new().write(true).open(image.join("t-0").join(name));
        cut.expect("open").set_len(synced).expect("cut");
    }
    let store = Store::open(StoreConfig::new([&image])).expect("open image");
    let got = committed(&store.partition("t", 0).expect("partition"));
    store.close().expect("close image");
    got
}

/// Every index of the sealed first segment was synced at its full length.
fn sealed_indexes_synced(dir: &Path, watch: &fault::Watch) {
    for name in [
        "00000000000000000000.index",
        "00000000000000000000.timeindex",
        "00000000000000000000.txnindex",
    ] {
        let path = dir.join(name);
        let len = std::fs::metadata(&path).expect("index file").len();
        assert_eq!(watch.synced_len(&path), len, "{name}: synced at its sealed length");
    }
}

/// A store with one partition of a topic of the given durability class,
/// and no background threads: no flusher runs the pass a roll asks for,
/// so what is synced is what the calls themselves synced.
fn store_with(durability: &str) -> (tempfile::TempDir, std::path::PathBuf, fault::Watch, Store) {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let watch = fault::watch(&data);
    let store = Store::open(StoreConfig::new([&data]).background_threads(false)).expect("open");
    let cfg: BTreeMap<String, String> =
        [("strata.durability".to_owned(), durability.to_owned())].into_iter().collect();
    store.create_topic("t", 1, &cfg).expect("topic");
    (root, data, watch, store)
}

#[test]
fn a_segment_sealed_after_durable_appends_has_its_txnindex_synced_before_a_clean_shutdown() {
    let (root, data, watch, store) = store_with("sync");
    let log = store.partition("t", 0).expect("partition");
    write_and_roll(&log, false);
    assert_eq!(committed(&log), [0, 4], "the aborted records are left out");
    store.close().expect("clean shutdown");
    sealed_indexes_synced(&data.join("t-0"), &watch);
    assert_eq!(committed_after_power_cut(root.path(), &data, &watch), [0, 4]);
}

#[test]
fn a_roll_after_a_flush_to_the_log_end_syncs_the_sealed_segments_indexes_before_it_returns() {
    // A log opened on its own: no store's flusher or hook runs the pass the
    // roll asks for, so what is synced after the roll the roll synced.
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("t-0");
    let watch = fault::watch(root.path());
    let open = |dir: &Path, options: LoadOptions| {
        let clock: Arc<dyn Clock> = ManualClock::new(1_700_000_000_000);
        Log::open(dir, "t", 0, LogConfig::default(), clock, options).expect("open").0
    };
    let log = open(&dir, LoadOptions::default());
    write_and_roll(&log, true);
    sealed_indexes_synced(&dir, &watch);
    drop(log); // a crash: no close
    // A power cut now, with the store's checkpoint of the recovery point at
    // the sealed segment's end (4): the open trusts the sealed segment.
    let image = root.path().join("image");
    common::copy_dir(&dir, &image).expect("copy");
    for name in ["00000000000000000000.txnindex", "00000000000000000000.timeindex"] {
        let cut = std::fs::OpenOptions::new().write(true).open(image.join(name));
        cut.expect("open").set_len(watch.synced_len(&dir.join(name))).expect("cut");
    }
    let reopened = open(&image, LoadOptions::default().with_recovery_point(4));
    assert_eq!(committed(&reopened), [0, 4]);
}
