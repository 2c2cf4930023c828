//! Consumer-group offsets live in `__consumer_offsets` in Kafka's schema.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;

use strata::Record;
use strata::StoreConfig;
use strata::{ResetTo, Store};

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig::new([dir]).background_threads(false)).unwrap()
}

#[test]
fn commits_survive_a_restart_and_lag_follows_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 2, &BTreeMap::new()).unwrap();
    let log = store.partition("orders", 1).unwrap();
    log.append(&(0..10).map(|i| Record::new("k", format!("v{i}"))).collect::<Vec<_>>()).unwrap();
    store.groups().commit("g1", "orders", 1, 4).unwrap();
    log.append(&[Record::new("k", "more")]).unwrap();
    let lag = store.groups().describe("g1").unwrap();
    assert_eq!((lag[0].current_offset, lag[0].log_end_offset, lag[0].lag), (4, Some(11), Some(7)));
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.groups().fetch("g1", "orders", 1).unwrap(), Some(4));
    assert_eq!(store.groups().list().unwrap(), vec!["g1".to_owned()]);
    assert!(store.partition("__consumer_offsets", 0).unwrap().log_end_offset() > 0);
}

#[test]
fn a_new_store_creates_one_offsets_partition_and_the_configured_count_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g1", "t", 0, 1).unwrap();
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 1);
    store.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new([dir.path()]).background_threads(false);
    config.offsets_topic_num_partitions = 7;
    let store = Store::open(config).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g1", "t", 0, 1).unwrap();
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 7);
    // Kafka's placement: abs(hashCode) % partitions.
    let p = strata::internals::format::group_record::partition_for_group("g1", 7);
    assert!(store.partition("__consumer_offsets", p).unwrap().log_end_offset() > 0);
    store.close().unwrap();
    // The topic keeps its count when the configured one changes: placement never moves.
    let store = open(dir.path());
    store.groups().commit("g1", "t", 0, 2).unwrap();
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 7);
    assert_eq!(store.groups().fetch("g1", "t", 0).unwrap(), Some(2));
    store.close().unwrap();
}

#[test]
fn reset_shift_never_goes_below_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.append(&(0..20).map(|i| Record::new("k", format!("v{i}"))).collect::<Vec<_>>()).unwrap();
    store.delete_records("t", 0, 5).unwrap();
    store.groups().commit("g", "t", 0, 12).unwrap();
    assert_eq!(store.groups().reset("g", "t", None, ResetTo::ShiftBy(-3)).unwrap(), vec![(0, 9)]);
    assert_eq!(store.groups().reset("g", "t", None, ResetTo::ShiftBy(-100)).unwrap(), vec![(0, 5)]);
    assert_eq!(
        store.groups().reset("g", "t", Some(0), ResetTo::Offset(1000)).unwrap(),
        vec![(0, 20)]
    );
    assert_eq!(store.groups().reset("g", "t", Some(0), ResetTo::Earliest).unwrap(), vec![(0, 5)]);
    assert!(store.groups().delete("g").unwrap());
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None);
    store.close().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.groups().fetch("g", "t", 0).unwrap(),
        None,
        "the tombstone survives a restart"
    );
}

#[test]
fn offsets_committed_by_kafkas_consumers_read_back_from_a_broker_directory() {
    let Some(shared) = common::shared_dir() else { return common::skip("../shared is absent") };
    let src = shared
        .join("fixtures/kafka-broker/fuzibotond-Experts-in-team-innovation/bd84927/kafka/data");
    if !src.is_dir() {
        return common::skip("fixture missing");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    common::copy_dir(&src, &dir).unwrap();
    let store = open(&dir);
    let groups = store.groups().list().unwrap();
    assert!(groups.contains(&"sensor-consumer-group".to_owned()), "{groups:?}");
    let lag = store.groups().describe("sensor-consumer-group").unwrap();
    assert_eq!(lag.len(), 1);
    assert_eq!((lag[0].topic.as_str(), lag[0].partition), ("sensor-data-topic", 0));
    assert!(store.topics().iter().all(|(t, _)| t != "__cluster_metadata"));
    // The broker placed groups over Kafka's 50 partitions (five of them are on this
    // disk): a commit here lands where Kafka looks for it.
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 50);
    store.groups().commit("another-group", "sensor-data-topic", 0, 1).unwrap();
    let p = strata::internals::format::group_record::partition_for_group("another-group", 50);
    assert!(store.partition("__consumer_offsets", p).unwrap().log_end_offset() > 0);
    store.close().unwrap();
    let store = open(&dir);
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 50);
    assert_eq!(store.groups().fetch("another-group", "sensor-data-topic", 0).unwrap(), Some(1));
    store.close().unwrap();
}

/// One offset commit of `group` for `topic`-`partition`, as a `__consumer_offsets` record.
fn commit_record(group: &str, topic: &str, partition: i32, offset: i64) -> Record {
    use strata::internals::format::group_record::{GroupKey, OffsetCommit};
    let key = GroupKey::Offset { group: group.into(), topic: topic.into(), partition };
    let value = OffsetCommit {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 1_000,
        expire_timestamp: None,
    };
    Record {
        timestamp: 1_000,
        key: Some(key.encode().unwrap()),
        value: Some(value.encode().unwrap()),
        headers: Vec::new(),
    }
}

/// Kafka's coordinator keeps a transactional offset commit (a consumer's
/// `sendOffsetsToTransaction`) pending until its producer's COMMIT marker and
/// drops it at an ABORT (`GroupMetadataManager.doLoadGroupsAndOffsets`): an
/// aborted or still open transaction's offsets are never the group's.
#[test]
fn aborted_and_open_transactional_offset_commits_are_not_read_as_committed() {
    use strata::internals::format::group_record::partition_for_group;
    use strata::{BatchBuilder, TxnMarker};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 3, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 1).unwrap();
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap();
    let txn = |pid: i64, records: &[Record]| {
        let mut b = BatchBuilder::new(0).producer(pid, 0, 0).transactional(true);
        for r in records {
            b.append(r).unwrap();
        }
        log.append_batch(b.build().unwrap()).unwrap();
    };
    let marker = |pid: i64, commit: bool| TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit,
        transaction_version: 0,
    };
    // Aborted: partition 0 would move to 100.
    txn(7, &[commit_record("g", "orders", 0, 100)]);
    // Committed: partition 1 goes to 50.
    txn(8, &[commit_record("g", "orders", 1, 50)]);
    log.append_marker(marker(7, false)).unwrap();
    log.append_marker(marker(8, true)).unwrap();
    // A committed transaction's offset older than a plain commit after it loses to it.
    txn(10, &[commit_record("g", "orders", 1, 60)]);
    log.append(&[commit_record("g", "orders", 1, 70)]).unwrap();
    log.append_marker(marker(10, true)).unwrap();
    // Still open: partition 2 would move to 999.
    txn(9, &[commit_record("g", "orders", 2, 999)]);
    store.close().unwrap();
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.groups().fetch("g", "orders", 0).unwrap(), Some(1), "aborted commit read");
    assert_eq!(store.groups().fetch("g", "orders", 1).unwrap(), Some(70));
    assert_eq!(store.groups().fetch("g", "orders", 2).unwrap(), None, "open commit read");
    store.close().unwrap();
}

/// A tombstone deletes the offset and every transactional commit of it still
/// pending, as Kafka's coordinator replays it (`OffsetMetadataManager.replay`:
/// "Remove all the pending offset commits related to the tombstone"): a COMMIT
/// marker that follows the tombstone (the topic deleted, or the group's offsets
/// deleted, while a consumer's `sendOffsetsToTransaction` was open) brings
/// nothing back.
#[test]
fn a_tombstone_drops_the_pending_transactional_commits_of_its_offset() {
    use strata::internals::format::group_record::{GroupKey, partition_for_group};
    use strata::{BatchBuilder, TxnMarker};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 2, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 1).unwrap();
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap();
    let mut b = BatchBuilder::new(0).producer(7, 0, 0).transactional(true);
    b.append(&commit_record("g", "orders", 0, 100)).unwrap();
    b.append(&commit_record("g", "orders", 1, 40)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    let key = GroupKey::Offset { group: "g".into(), topic: "orders".into(), partition: 0 };
    let tombstone =
        Record { timestamp: 1_000, key: Some(key.encode().unwrap()), value: None, headers: vec![] };
    log.append(&[tombstone]).unwrap();
    log.append_marker(TxnMarker {
        producer_id: 7,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit: true,
        transaction_version: 0,
    })
    .unwrap();
    store.close().unwrap();
    drop(store);

    let store = open(dir.path());
    assert_eq!(
        store.groups().fetch("g", "orders", 0).unwrap(),
        None,
        "a commit pending before the tombstone came back with its COMMIT marker"
    );
    assert_eq!(store.groups().fetch("g", "orders", 1).unwrap(), Some(40));
    store.close().unwrap();
}

/// Appends to `group`'s `__consumer_offsets` partition a commit of
/// `orders`-0 whose value does not decode (version 3 cut after its offset's
/// first bytes); returns its offset.
fn append_undecodable_commit(store: &Store, group: &str) -> i64 {
    use strata::internals::format::group_record::{GroupKey, partition_for_group};
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group(group, count)).unwrap();
    let key = GroupKey::Offset { group: group.into(), topic: "orders".into(), partition: 0 };
    let damaged = Record {
        timestamp: 1_000,
        key: Some(key.encode().unwrap()),
        value: Some(vec![0, 3, 0, 0].into()),
        headers: vec![],
    };
    log.append(&[damaged]).unwrap().base_offset
}

/// An offset commit whose value does not decode fails the load, naming the partition and
/// offset, as Kafka's coordinator loader fails on a record it cannot deserialize
/// (`CoordinatorLoaderImpl`: "Deserializing record ... failed"); it was skipped, and the
/// group's older commit was served as its position (a consumer rewound to 5 after committing
/// past it).
#[test]
fn an_offset_commit_that_does_not_decode_is_an_error_not_the_older_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 5).unwrap();
    let at = append_undecodable_commit(&store, "g");
    store.close().unwrap();
    drop(store);

    let store = open(dir.path());
    let err = store.groups().fetch("g", "orders", 0).unwrap_err().to_string();
    assert!(err.contains("__consumer_offsets") && err.contains(&format!("offset {at}")), "{err}");
    store.close().unwrap();
}

/// Kafka's coordinator loads each `__consumer_offsets` partition apart: one
/// that fails to load leaves its groups unserved, and the groups of the
/// others are served as before.
#[test]
fn a_commit_that_does_not_decode_refuses_only_the_groups_of_its_partition() {
    use strata::internals::format::group_record::partition_for_group;
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new([dir.path()]).background_threads(false);
    config.offsets_topic_num_partitions = 3;
    let open = |_: &std::path::Path| Store::open(config.clone()).unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 5).unwrap();
    let count = store.partition_count("__consumer_offsets").unwrap();
    let damaged_partition = partition_for_group("g", count);
    let other = (0..100)
        .map(|i| format!("h{i}"))
        .find(|h| partition_for_group(h, count) != damaged_partition)
        .expect("a group on another partition");
    store.groups().commit(&other, "orders", 0, 7).unwrap();
    let at = append_undecodable_commit(&store, "g");
    store.close().unwrap();
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.groups().fetch(&other, "orders", 0).unwrap(), Some(7));
    store.groups().commit(&other, "orders", 0, 8).unwrap();
    assert_eq!(store.groups().fetch(&other, "orders", 0).unwrap(), Some(8));
    for err in [
        store.groups().fetch("g", "orders", 0).unwrap_err(),
        store.groups().commit("g", "orders", 0, 9).unwrap_err(),
        store.groups().list().unwrap_err(),
    ] {
        let err = err.to_string();
        assert!(
            err.contains("__consumer_offsets") && err.contains(&format!("offset {at}")),
            "{err}"
        );
    }
    store.close().unwrap();
}

/// Kafka removes every group's committed offsets of a deleted topic (its
/// coordinator's `onPartitionsDeleted` writes their tombstones): a topic
/// created again under the same name starts with no commit, so a consumer
/// group does not resume at an offset of the old topic's data and skip the
/// new topic's records below it.
#[test]
fn deleting_a_topic_forgets_the_groups_offsets_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 2, &BTreeMap::new()).unwrap();
    store.create_topic("kept", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 1, 5).unwrap();
    store.groups().commit("g", "kept", 0, 3).unwrap();
    store.groups().commit("h", "orders", 0, 2).unwrap();
    store.delete_topic("orders").unwrap();
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
    store.create_topic("orders", 2, &BTreeMap::new()).unwrap();
    assert_eq!(store.groups().fetch("g", "orders", 1).unwrap(), None);
    assert_eq!(store.groups().list().unwrap(), vec!["g".to_owned()]);
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.groups().fetch("g", "orders", 1).unwrap(), None, "after a restart too");
    assert_eq!(store.groups().fetch("h", "orders", 0).unwrap(), None);
    assert_eq!(store.groups().fetch("g", "kept", 0).unwrap(), Some(3));
    store.close().unwrap();
}

/// Kafka's `ReplicaManager` refuses DeleteRecords on an internal topic whatever
/// its cleanup policy: the groups' state is read from `__consumer_offsets`, and
/// commits deleted under it would still be served.
#[test]
fn records_of_an_internal_topic_cannot_be_deleted_even_with_the_delete_policy() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 1, &BTreeMap::new()).unwrap();
    store.create_topic("__transaction_state", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 7).unwrap();
    let offsets = "__consumer_offsets";
    store.set_topic_config(offsets, "cleanup.policy", "compact,delete").unwrap();
    store.set_topic_config("__transaction_state", "cleanup.policy", "delete").unwrap();
    for (topic, p) in [(offsets, 0), ("__transaction_state", 0)] {
        let end = store.partition(topic, p).unwrap().log_end_offset();
        let err = store.delete_records(topic, p, end).unwrap_err();
        assert!(matches!(&err, strata::Error::InvalidTopic { name, .. } if name == topic), "{err}");
        assert!(err.to_string().contains("internal topic"), "{err}");
        assert_eq!(store.partition(topic, p).unwrap().log_start_offset(), 0, "{topic}");
    }
    assert_eq!(store.groups().fetch("g", "orders", 0).unwrap(), Some(7));
    store.close().unwrap();
}

/// A group whose `__consumer_offsets` partition is offline has offsets the
/// store cannot read: asking for them is an error naming the partition, as
/// Kafka's coordinator answers a group it has not loaded with an error
/// (`COORDINATOR_LOAD_IN_PROGRESS`), never with "no commit", which sends a
/// consumer to its `auto.offset.reset` (reading everything again, or
/// skipping to the end).
#[test]
fn offsets_in_an_offline_offsets_partition_are_an_error_not_absent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 7).unwrap();
    let bad = store.partition_dir("__consumer_offsets", 0).unwrap().join("partition.metadata");
    store.close().unwrap();
    drop(store);
    std::fs::write(&bad, "version: 7\ntopic_id: nonsense").unwrap();
    let store = open(dir.path());
    let err = store.groups().fetch("g", "orders", 0).unwrap_err();
    assert!(matches!(err, strata::Error::PartitionOffline { .. }), "{err:?}");
    assert!(store.groups().offsets("g").is_err());
    assert!(store.groups().describe("g").is_err());
    assert!(store.groups().list().is_err(), "a list missing the offline partition's groups");
    store.close().unwrap();
}

/// A crash after a topic's deletion is committed but before its offsets'
/// tombstones are written leaves the groups' commits of it on disk: the
/// topic created again under the name must still start with no group's
/// position (a new topic cannot have commits of its own).
#[test]
fn a_topic_created_again_after_a_crash_mid_deletion_has_no_group_offsets() {
    use strata::internals::io::fault::{self, FaultPlan};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 5).unwrap();
    {
        let _crash = fault::arm(FaultPlan::new().fail_point("store::groups::forget_offsets"));
        store.delete_topic("orders").unwrap();
    }
    assert_eq!(store.background_errors().len(), 1, "{:?}", store.background_errors());
    drop(store); // a crash: nothing more is written
    let store = open(dir.path());
    store.create_topic("orders", 1, &BTreeMap::new()).unwrap();
    assert_eq!(store.groups().fetch("g", "orders", 0).unwrap(), None);
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.groups().fetch("g", "orders", 0).unwrap(), None, "after a restart too");
    store.close().unwrap();
}

/// A topic deleted while the `__consumer_offsets` partition holding a
/// group's commits of it is offline cannot have those commits removed: the
/// deletion goes on (Kafka's coordinator also only logs a shard it cannot
/// write), but the failure is recorded in `background_errors`, never passed
/// over in silence, since those commits come back with the partition and a
/// topic created again under the name would start the group at them.
#[test]
fn deleting_a_topic_while_an_offsets_partition_is_offline_records_the_commits_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_topic("orders", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "orders", 0, 5).unwrap();
    let meta = store.partition_dir("__consumer_offsets", 0).unwrap().join("partition.metadata");
    store.close().unwrap();
    drop(store);
    let good = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, "version: 7\ntopic_id: nonsense").unwrap();
    let store = open(dir.path());
    store.delete_topic("orders").unwrap();
    let errors = store.background_errors();
    assert_eq!(errors.len(), 1, "the commits left behind are recorded: {errors:?}");
    assert!(errors[0].to_string().contains("__consumer_offsets-0"), "{errors:?}");
    store.close().unwrap();
    drop(store);
    std::fs::write(&meta, good).unwrap();
    let store = open(dir.path());
    assert_eq!(store.groups().fetch("g", "orders", 0).unwrap(), Some(5), "what was recorded");
    store.close().unwrap();
}

/// Groups are placed over `__consumer_offsets` by a hash of their id modulo
/// its partition count (Kafka's `partitionFor`), so growing it moves a
/// group's commits to another partition while its older ones stay where they
/// were: the load then compared record offsets of two partitions and served
/// the older commit. Kafka fixes the count its coordinator places groups over
/// and its tools refused to change the internal topic's count; the store
/// refuses it, and a group's last commit is what a reopen serves.
#[test]
fn the_offsets_topic_cannot_grow_and_a_groups_last_commit_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new([dir.path()]).background_threads(false);
    config.offsets_topic_num_partitions = 3;
    let store = Store::open(config.clone()).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    // Commits to be superseded.
    for group in (0..8).map(|i| format!("g{i}")) {
        for offset in 0..10 {
            store.groups().commit(&group, "t", 0, offset).unwrap();
        }
    }
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 3);
    let grown = store.add_partitions("__consumer_offsets", 4);
    for group in (0..8).map(|i| format!("g{i}")) {
        store.groups().commit(&group, "t", 0, 100).unwrap();
    }
    store.close().unwrap();
    drop(store);
    let store = Store::open(config).unwrap();
    for group in (0..8).map(|i| format!("g{i}")) {
        assert_eq!(
            store.groups().fetch(&group, "t", 0).unwrap(),
            Some(100),
            "group {group} after the reopen (growing the offsets topic returned {grown:?})"
        );
    }
    let err = grown.unwrap_err().to_string();
    assert!(err.contains("__consumer_offsets"), "{err}");
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 3);
}
