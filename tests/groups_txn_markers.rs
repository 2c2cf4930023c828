//! A transactional offset commit (a producer's `sendOffsetsToTransaction`,
//! written into `__consumer_offsets` through [`strata::Log`]) counts once its
//! producer's COMMIT marker follows and never after an ABORT, whether the
//! commit and the marker were written before the groups' state loaded or
//! after: Kafka's coordinator replays every record of its partitions,
//! markers included (`OffsetMetadataManager.replayEndTransactionMarker`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::internals::format::group_record::{GroupKey, OffsetCommit, partition_for_group};
use strata::{BatchBuilder, Clock, Log, ManualClock, Record, Store, StoreConfig};

const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;
const PRODUCER: i64 = 9;

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    let config = StoreConfig::new([dir]).background_threads(false).offsets_retention_minutes(60);
    Store::open_with_clock(config, Arc::clone(clock) as Arc<dyn Clock>).unwrap()
}

/// Group `g`'s `__consumer_offsets` partition.
fn offsets_log(store: &Store) -> Log {
    let count = store.partition_count("__consumer_offsets").unwrap();
    store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap()
}

/// `PRODUCER`'s transactional commit of `offset` for `g` on `t`-0, at `at`.
fn txn_commit(log: &Log, offset: i64, at: i64) {
    let key = GroupKey::Offset { group: "g".into(), topic: "t".into(), partition: 0 };
    let value = OffsetCommit {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: at,
        expire_timestamp: None,
    };
    let mut b = BatchBuilder::new(0).producer(PRODUCER, 0, 0).transactional(true);
    b.append(&Record::new(key.encode().unwrap(), value.encode().unwrap()).timestamp(at)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
}

/// A store at `T0` where `g` committed offset 1 of `t`-0 (its state loaded).
fn store_with_a_commit(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    let store = open(dir, clock);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 1).unwrap();
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(1));
    store
}

#[test]
fn a_transactional_commit_made_after_the_load_counts_once_its_commit_marker_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = store_with_a_commit(dir.path(), &clock);
    clock.advance(10 * MINUTE);
    txn_commit(&offsets_log(&store), 50, T0 + 10 * MINUTE);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(1), "counted before its marker");
    offsets_log(&store).append_txn_marker(PRODUCER, 0, 0, true).unwrap();
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(50), "the COMMIT went unseen");
    // Its retention counts from its own commit time, not the older plain commit's.
    clock.set(T0 + 70 * MINUTE - 1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    clock.advance(1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None);
    store.close().unwrap();
}

#[test]
fn a_transactional_commit_made_after_the_load_is_dropped_by_its_abort_marker() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = store_with_a_commit(dir.path(), &clock);
    txn_commit(&offsets_log(&store), 50, T0);
    offsets_log(&store).append_txn_marker(PRODUCER, 0, 0, false).unwrap();
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(1));
    clock.advance(60 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert!(store.groups().list().unwrap().is_empty());
    store.close().unwrap();
}

/// A commit pending when the state loaded holds its offset back from
/// expiry only until its marker: a COMMIT applies it, an ABORT drops it,
/// and either way the offset expires in its time.
#[test]
fn a_commit_pending_at_the_load_is_ended_by_a_marker_written_after_the_load() {
    for commit in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = store_with_a_commit(dir.path(), &clock);
        txn_commit(&offsets_log(&store), 50, T0);
        store.close().unwrap();
        drop(store);

        let store = open(dir.path(), &clock);
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(1), "commit {commit}");
        offsets_log(&store).append_txn_marker(PRODUCER, 0, 0, commit).unwrap();
        let want = if commit { 50 } else { 1 };
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(want), "commit {commit}");
        clock.advance(60 * MINUTE);
        assert_eq!(
            store.expire_committed_offsets().unwrap(),
            1,
            "commit {commit}: still held back by the ended transaction"
        );
        assert!(store.groups().list().unwrap().is_empty(), "commit {commit}");
        store.close().unwrap();
    }
}

/// Kafka's `onPartitionsDeleted` tombstones the deleted partitions' pending
/// transactional commits too: the topic's deletion must not leave one that
/// its COMMIT marker brings back, past the recreated topic's first records.
#[test]
fn a_pending_commit_of_a_deleted_topic_stays_deleted_after_its_commit_marker() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(dir.path(), &clock);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.create_topic("u", 1, &BTreeMap::new()).unwrap();
    // No plain commit of t-0, whose tombstone would drop the pending one with it.
    store.groups().commit("g", "u", 0, 1).unwrap();
    txn_commit(&offsets_log(&store), 50, T0);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None, "counted before its marker");
    store.delete_topic("t").unwrap();
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    offsets_log(&store).append_txn_marker(PRODUCER, 0, 0, true).unwrap();
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None, "its COMMIT brought it back");
    store.close().unwrap();
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None, "after a reopen");
    store.close().unwrap();
}

/// Kafka's `deleteGroups` tombstones the group's pending transactional
/// commits too (`OffsetMetadataManager.deleteAllOffsets`): a deleted group
/// must not come back with a pending commit once its COMMIT marker follows.
#[test]
fn a_deleted_group_stays_deleted_after_the_commit_marker_of_its_pending_commit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(dir.path(), &clock);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.create_topic("u", 1, &BTreeMap::new()).unwrap();
    // No plain commit of t-0, whose tombstone would drop the pending one with it.
    store.groups().commit("g", "u", 0, 1).unwrap();
    txn_commit(&offsets_log(&store), 50, T0);
    assert!(store.groups().delete("g").unwrap());
    offsets_log(&store).append_txn_marker(PRODUCER, 0, 0, true).unwrap();
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None, "its COMMIT brought it back");
    assert!(store.groups().list().unwrap().is_empty());
    store.close().unwrap();
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None, "after a reopen");
    store.close().unwrap();
}
