//! Committed offsets expire as Kafka's coordinator expires them
//! (`OffsetMetadataManager.cleanupExpiredOffsets`,
//! `OffsetExpirationConditionImpl`, `ClassicGroup.offsetExpirationCondition`):
//! `offsets.retention.minutes` after the commit (a group without protocol
//! type), after the group became empty or after its load (a broker's group),
//! or at a version-1 commit's explicit `expireTimestamp`, with a tombstone
//! written into `__consumer_offsets`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::internals::format::group_record::{GroupKey, OffsetCommit, partition_for_group};
use strata::{BatchBuilder, Clock, Error, ManualClock, Record, Store, StoreConfig};

const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new([dir]).background_threads(false).offsets_retention_minutes(60)
}

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    Store::open_with_clock(config(dir), Arc::clone(clock) as Arc<dyn Clock>).unwrap()
}

fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let key = GroupKey::Offset { group: group.into(), topic: topic.into(), partition };
    key.encode().unwrap().to_vec()
}

/// Every (key, value) record of `group`'s `__consumer_offsets` partition, in order.
fn offsets_records(store: &Store, group: &str) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group(group, count)).unwrap();
    log.records_from(log.log_start_offset())
        .map(|r| {
            let r = r.unwrap();
            (r.key().unwrap().to_vec(), r.value().map(|v| v.to_vec()))
        })
        .collect()
}

/// The last record of `key` in `group`'s partition is a tombstone.
fn ends_in_tombstone(store: &Store, group: &str, key: &[u8]) -> bool {
    let records = offsets_records(store, group);
    records.iter().rev().find(|(k, _)| k == key).is_some_and(|(_, v)| v.is_none())
}

#[test]
fn offsets_past_the_retention_expire_into_tombstones_and_fresh_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(dir.path(), &clock);
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    store.groups().commit("old", "t", 0, 5).unwrap();
    clock.advance(30 * MINUTE);
    store.groups().commit("old", "t", 1, 6).unwrap();
    store.groups().commit("fresh", "t", 0, 7).unwrap();
    clock.advance(30 * MINUTE - 1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0, "expired before the retention");
    // Kafka's rule: `now - commitTimestamp >= offsetsRetentionMs`.
    clock.advance(1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert_eq!(store.groups().fetch("old", "t", 0).unwrap(), None);
    assert_eq!(store.groups().fetch("old", "t", 1).unwrap(), Some(6));
    assert_eq!(store.groups().fetch("fresh", "t", 0).unwrap(), Some(7));
    assert_eq!(store.groups().list().unwrap(), ["fresh", "old"]);
    assert!(ends_in_tombstone(&store, "old", &offset_key("old", "t", 0)));
    // The group keeps an offset: its metadata is not deleted.
    let metadata = GroupKey::Metadata { group: "old".into() }.encode().unwrap().to_vec();
    assert!(offsets_records(&store, "old").iter().all(|(k, _)| *k != metadata));

    // Both groups' last offsets expire in a maintenance pass; the groups go with them.
    clock.advance(30 * MINUTE);
    let report = store.maintain(None).unwrap();
    assert_eq!(report.offsets_expired, 2, "{report}");
    assert!(store.groups().list().unwrap().is_empty());
    assert!(ends_in_tombstone(&store, "old", &offset_key("old", "t", 1)));
    assert!(ends_in_tombstone(&store, "old", &metadata), "the emptied group is not deleted");
    assert_eq!(store.expire_committed_offsets().unwrap(), 0, "expired twice");
    store.close().unwrap();

    // Kafka's own reader finds the tombstones where strata wrote them: one
    // partition (strata's default count), offsets 3 (old t-0), 4 and 5 (fresh
    // t-0, fresh's metadata), 6 and 7 (old t-1, old's metadata).
    assert_eq!(store.partition_count("__consumer_offsets").unwrap(), 1);
    match common::kverify_dump(&dir.path().join("__consumer_offsets-0")) {
        None => common::skip("kverify is not built (set STRATA_KVERIFY)"),
        Some(dump) => {
            let dump = dump.unwrap();
            let tombstones: Vec<&str> = dump
                .lines()
                .filter(|l| {
                    l.starts_with("{\"type\":\"record\"") && l.contains("\"value_b64\":null")
                })
                .map(|l| l.split(',').nth(1).unwrap())
                .collect();
            let offsets = ["3", "4", "5", "6", "7"].map(|o| format!("\"offset\":{o}"));
            assert_eq!(tombstones, offsets, "{dump}");
        }
    }
}

#[test]
fn expired_offsets_stay_expired_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(dir.path(), &clock);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 5).unwrap();
    clock.advance(60 * MINUTE);
    store.groups().commit("h", "t", 0, 9).unwrap();
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    store.close().unwrap();
    drop(store);

    let store = open(dir.path(), &clock);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None, "the expired offset came back");
    assert_eq!(store.groups().fetch("h", "t", 0).unwrap(), Some(9));
    assert_eq!(store.groups().list().unwrap(), ["h"]);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    store.close().unwrap();
}

/// A commit of value version 1, as an old client's commit with a retention
/// time leaves it: its `expireTimestamp` (-1: none) is Kafka's expiry time.
fn v1_commit(group: &str, partition: i32, offset: i64, expire: Option<i64>) -> Record {
    let value = OffsetCommit {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: T0,
        expire_timestamp: expire,
    };
    let mut value = value.encode().unwrap().to_vec();
    if expire.is_none() {
        // Written as version 3; a v1 value always holds the field, -1 is Kafka's "none".
        value = [&[0, 1][..], &value[2..10], &value[14..], &(-1i64).to_be_bytes()].concat();
    }
    assert_eq!(value[..2], [0, 1], "not a version 1 value");
    Record::new(offset_key(group, "t", partition), value).timestamp(T0)
}

#[test]
fn a_version_1_commit_expires_at_its_explicit_expire_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(dir.path(), &clock);
    store.create_topic("t", 3, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 1).unwrap();
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap();
    log.append(&[
        v1_commit("g", 0, 10, Some(T0 + 5 * MINUTE)),
        v1_commit("g", 1, 11, Some(T0 + 2 * 24 * 60 * MINUTE)),
        v1_commit("g", 2, 12, None),
    ])
    .unwrap();
    store.close().unwrap();
    drop(store);

    let store = open(dir.path(), &clock);
    let offsets = store.groups().offsets("g").unwrap();
    let expiries: Vec<_> = offsets.iter().map(|c| (c.offset, c.expire_timestamp)).collect();
    assert_eq!(
        expiries,
        [(10, Some(T0 + 5 * MINUTE)), (11, Some(T0 + 2 * 24 * 60 * MINUTE)), (12, None)]
    );
    // Before the retention: the explicit time wins.
    clock.advance(5 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None);
    // -1 is none: the retention counts from the commit.
    clock.set(T0 + 60 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert_eq!(store.groups().fetch("g", "t", 2).unwrap(), None);
    // Past the retention, the explicit time still rules.
    assert_eq!(store.groups().fetch("g", "t", 1).unwrap(), Some(11));
    clock.set(T0 + 2 * 24 * 60 * MINUTE - 1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    clock.advance(1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert!(store.groups().list().unwrap().is_empty());
    store.close().unwrap();
}

/// Kafka keeps an offset while a transactional commit of it is pending
/// (`cleanupExpiredOffsets`: "We don't expire the offset yet if there is a
/// pending transactional offset for the partition"), and its group with it.
#[test]
fn an_offset_with_a_pending_transactional_commit_does_not_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(dir.path(), &clock);
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 1).unwrap();
    store.groups().commit("g", "t", 1, 2).unwrap();
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap();
    let value = OffsetCommit {
        offset: 50,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: T0,
        expire_timestamp: None,
    };
    let mut b = BatchBuilder::new(0).producer(9, 0, 0).transactional(true);
    b.append(&Record::new(offset_key("g", "t", 0), value.encode().unwrap())).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    store.close().unwrap();
    drop(store);

    let store = open(dir.path(), &clock);
    clock.advance(60 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1, "only t-1 expires");
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(1));
    assert_eq!(store.groups().fetch("g", "t", 1).unwrap(), None);
    let metadata = GroupKey::Metadata { group: "g".into() }.encode().unwrap().to_vec();
    assert!(offsets_records(&store, "g").iter().all(|(k, _)| *k != metadata));
    store.close().unwrap();
}

#[test]
fn the_maintenance_thread_expires_offsets_every_check_interval() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let hour = 3_600_000;
    let config = config(dir.path())
        .background_threads(true)
        .log_initial_task_delay_ms(hour)
        .log_retention_check_interval_ms(hour)
        .offsets_retention_check_interval_ms(20);
    let store = Store::open_with_clock(config, Arc::clone(&clock) as Arc<dyn Clock>).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 3).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(3), "expired too soon");
    clock.advance(60 * MINUTE);
    let start = Instant::now();
    while store.groups().fetch("g", "t", 0).unwrap().is_some() {
        assert!(start.elapsed() < Duration::from_secs(30), "not expired by the thread");
        std::thread::sleep(Duration::from_millis(10));
    }
    store.close().unwrap();
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
}

#[test]
fn a_bad_offsets_retention_value_is_refused_naming_the_key() {
    let bad = [
        ("offsets.retention.minutes", "0", "must be between 1 and 2147483647"),
        ("offsets.retention.minutes", "2147483648", "must be between 1 and 2147483647"),
        ("offsets.retention.minutes", "a week", ""),
        ("offsets.retention.check.interval.ms", "0", "must be at least 1"),
    ];
    for (key, value, reason) in bad {
        let text = format!("log.dirs=/tmp/x\n{key}={value}\n");
        let err = StoreConfig::from_properties_str(&text).unwrap_err();
        let Error::InvalidConfig { key: k, value: v, reason: r } = &err else {
            panic!("{key}={value}: {err:?}")
        };
        assert_eq!((k.as_str(), v.as_str()), (key, value), "{err}");
        assert!(r.contains(reason), "{key}={value}: {err}");
    }
    let (config, warnings) =
        StoreConfig::from_properties_str("log.dirs=/tmp/x\noffsets.retention.minutes=1440\n")
            .unwrap();
    assert_eq!(config.offsets_retention_minutes, 1440);
    assert!(warnings.iter().all(|w| w.key() != "offsets.retention.minutes"), "{warnings:?}");
    assert_eq!(StoreConfig::new(["/tmp/x"]).offsets_retention_minutes, 10_080, "Kafka's 7 days");

    // A config built in code is checked at open; nothing is created.
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(config_with_minutes(dir.path(), -5)).unwrap_err();
    assert!(
        err.to_string().contains("offsets.retention.minutes"),
        "the error does not name the key: {err}"
    );
}

fn config_with_minutes(dir: &Path, minutes: i64) -> StoreConfig {
    config(dir).offsets_retention_minutes(minutes)
}

#[test]
fn a_read_only_store_expires_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(dir.path(), &clock);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 5).unwrap();
    store.close().unwrap();
    drop(store);
    let ro = Store::open_read_only(config(dir.path())).unwrap();
    assert!(matches!(ro.expire_committed_offsets(), Err(Error::ReadOnly)));
    assert_eq!(ro.groups().fetch("g", "t", 0).unwrap(), Some(5));
    ro.close().unwrap();
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&i16::try_from(s.len()).unwrap().to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// A `GroupMetadataValue` of version 3 as a Kafka 2.x/3.x broker writes it
/// (`GroupMetadataManager`'s group record): `protocol_type`, generation,
/// protocol "range", a leader, `currentStateTimestamp` and `members` members.
fn group_metadata(group: &str, protocol_type: &str, state_at: i64, members: usize) -> Record {
    let mut v = vec![0, 3];
    put_str(&mut v, protocol_type);
    v.extend_from_slice(&3i32.to_be_bytes());
    put_str(&mut v, "range");
    put_str(&mut v, if members > 0 { "m-0" } else { "" });
    v.extend_from_slice(&state_at.to_be_bytes());
    v.extend_from_slice(&i32::try_from(members).unwrap().to_be_bytes());
    for i in 0..members {
        put_str(&mut v, &format!("m-{i}"));
        v.extend_from_slice(&(-1i16).to_be_bytes()); // groupInstanceId null
        put_str(&mut v, "client");
        put_str(&mut v, "/127.0.0.1");
        v.extend_from_slice(&300_000i32.to_be_bytes()); // rebalance timeout
        v.extend_from_slice(&45_000i32.to_be_bytes()); // session timeout
        v.extend_from_slice(&2i32.to_be_bytes());
        v.extend_from_slice(&[0, 1]); // subscription
        v.extend_from_slice(&2i32.to_be_bytes());
        v.extend_from_slice(&[0, 1]); // assignment
    }
    let key = GroupKey::Metadata { group: group.into() }.encode().unwrap().to_vec();
    Record::new(key, v).timestamp(state_at)
}

/// A store at `T0` holding group `g`'s commit of offset 5 at `T0` and then
/// `records` in its `__consumer_offsets` partition, reopened at `reopen_at`
/// (a broker directory adopted then).
fn adopted(dir: &Path, clock: &Arc<ManualClock>, records: &[Record], reopen_at: i64) -> Store {
    clock.set(T0);
    let store = open(dir, clock);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 5).unwrap();
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap();
    log.append(records).unwrap();
    store.close().unwrap();
    drop(store);
    clock.set(reopen_at);
    open(dir, clock)
}

/// `ClassicGroup.offsetExpirationCondition`: an empty group with a protocol
/// type counts from `currentStateTimestamp`, when it became empty.
#[test]
fn an_empty_consumer_group_keeps_offsets_until_the_retention_after_it_became_empty() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let records = [group_metadata("g", "consumer", T0 + 50 * MINUTE, 0)];
    let store = adopted(dir.path(), &clock, &records, T0 + 60 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0, "expired from its commit time");
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(5));
    clock.set(T0 + 110 * MINUTE - 1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    clock.advance(1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None);
    assert!(store.groups().list().unwrap().is_empty());
    store.close().unwrap();
}

#[test]
fn an_empty_consumer_group_empty_for_longer_than_the_retention_expires_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let records = [group_metadata("g", "consumer", T0, 0)];
    let store = adopted(dir.path(), &clock, &records, T0 + 60 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None);
    store.close().unwrap();
}

/// A group loaded with members becomes empty only once they time out after
/// the load (a broker restart), so never counts from before it.
#[test]
fn a_group_loaded_with_members_keeps_offsets_until_the_retention_after_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let records = [group_metadata("g", "consumer", T0, 2)];
    let store = adopted(dir.path(), &clock, &records, T0 + 30 * MINUTE);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(5));
    clock.set(T0 + 90 * MINUTE - 1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0, "expired before load + retention");
    clock.advance(1);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1);
    // Empty since its members' sessions ended after the load, it goes with its
    // last offset (`maybeDeleteGroup`), the metadata tombstone last.
    let metadata = GroupKey::Metadata { group: "g".into() }.encode().unwrap().to_vec();
    assert!(ends_in_tombstone(&store, "g", &metadata), "the emptied group was kept");
    assert!(ends_in_tombstone(&store, "g", &offset_key("g", "t", 0)));
    store.close().unwrap();
}

/// Kafka's cleanup visits every group (`cleanupGroupMetadata`): a classic
/// group holding no offsets at all, adopted from a broker's directory, is
/// deleted at the first check, its metadata tombstoned, whether empty or
/// loaded with members (empty from the load: no member heartbeats here); a
/// group whose metadata does not decode is kept, and a second check writes
/// nothing.
#[test]
fn a_classic_group_without_offsets_is_deleted_at_the_first_check_and_an_undecodable_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let odd = GroupKey::Metadata { group: "odd".into() }.encode().unwrap().to_vec();
    let records = [
        group_metadata("lonely", "consumer", T0, 0),
        group_metadata("busy", "consumer", T0, 2),
        Record::new(odd, vec![0, 3, 0]).timestamp(T0),
    ];
    let store = adopted(dir.path(), &clock, &records, T0 + MINUTE);
    let metadata = |g: &str| GroupKey::Metadata { group: g.into() }.encode().unwrap().to_vec();
    assert!(!ends_in_tombstone(&store, "lonely", &metadata("lonely")));
    assert_eq!(store.expire_committed_offsets().unwrap(), 0, "an offset expired");
    assert!(ends_in_tombstone(&store, "lonely", &metadata("lonely")), "the empty group was kept");
    assert!(ends_in_tombstone(&store, "busy", &metadata("busy")), "the emptied group was kept");
    assert!(!ends_in_tombstone(&store, "odd", &metadata("odd")), "an undecodable group went");
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(5));
    let written = offsets_records(&store, "lonely").len();
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    assert_eq!(offsets_records(&store, "lonely").len(), written, "a second check wrote again");
    store.close().unwrap();
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    assert_eq!(offsets_records(&store, "lonely").len(), written, "the reopen's check wrote again");
    store.close().unwrap();
}

/// An empty protocol type is none (Kafka's replay): a simple group, counted
/// from the commit; an undecodable value or a KIP-848 group's records keep
/// the offsets, and the load does not fail.
#[test]
fn simple_undecodable_and_newer_protocol_groups_expire_as_kafka_would_at_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let records = [group_metadata("g", "", T0 + 50 * MINUTE, 0)];
    let store = adopted(dir.path(), &clock, &records, T0 + 60 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 1, "a simple group counts from commit");
    store.close().unwrap();
    drop(store);

    let key = GroupKey::Metadata { group: "g".into() }.encode().unwrap().to_vec();
    let bad = Record::new(key, vec![0, 3, 0]).timestamp(T0);
    let dir = tempfile::tempdir().unwrap();
    let store = adopted(dir.path(), &clock, &[bad], T0 + 60 * MINUTE);
    clock.set(T0 + 1000 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(5));
    store.close().unwrap();
    drop(store);

    // ConsumerGroupMetadataKey (version 3): group id, then its epoch value.
    let mut key = vec![0, 3];
    put_str(&mut key, "g");
    let modern = Record::new(key, vec![0, 0, 0, 0, 0, 1]).timestamp(T0);
    let dir = tempfile::tempdir().unwrap();
    let store = adopted(dir.path(), &clock, &[modern], T0 + 60 * MINUTE);
    clock.set(T0 + 1000 * MINUTE);
    assert_eq!(store.expire_committed_offsets().unwrap(), 0);
    assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(5));
    store.close().unwrap();
}

/// Kafka deletes a group left with no offsets (`cleanupGroupMetadata`, `maybeDeleteGroup`), so a
/// later commit under its id starts a new group, counted from that commit: an adopted group's
/// old state (here empty since T0) must not outlive its offsets, whether the group was deleted
/// or its topic was, or a fresh commit would expire at once. The deletion is on disk (a metadata
/// tombstone), so a reopen does not bring the old state back either.
#[test]
fn a_commit_after_an_adopted_group_lost_its_offsets_counts_from_the_commit() {
    for how in ["delete the group", "delete the topic", "delete the topic, reopen"] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let records = [group_metadata("g", "consumer", T0, 0)];
        let mut store = adopted(dir.path(), &clock, &records, T0 + 30 * MINUTE);
        if how == "delete the group" {
            assert!(store.groups().delete("g").unwrap());
        } else {
            store.delete_topic("t").unwrap();
            store.create_topic("t", 1, &BTreeMap::new()).unwrap();
        }
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), None, "{how}");
        store.groups().commit("g", "t", 0, 7).unwrap();
        if how.ends_with("reopen") {
            store.close().unwrap();
            drop(store);
            store = open(dir.path(), &clock);
        }
        clock.set(T0 + 90 * MINUTE - 1);
        assert_eq!(
            store.expire_committed_offsets().unwrap(),
            0,
            "{how}: expired before its retention"
        );
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(7), "{how}");
        clock.advance(1);
        assert_eq!(store.expire_committed_offsets().unwrap(), 1, "{how}");
        store.close().unwrap();
    }
}

/// An adopted group with metadata (here empty since T0) and no offsets is a
/// group Kafka's next cleanup deletes (`cleanupExpiredOffsets` answers true
/// for a group without offsets, then `maybeDeleteGroup`), and the load
/// leaves its old state out: a first commit under its id counts from that
/// commit. A reopen must not read the old state back from the records it
/// still has, or the commit expires at the first check after the reopen.
#[test]
fn a_first_commit_of_an_adopted_group_without_offsets_counts_from_the_commit_after_a_reopen() {
    for reopen in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock);
        store.create_topic("t", 1, &BTreeMap::new()).unwrap();
        // Creates `__consumer_offsets`, then leaves nothing of "h" in it.
        store.groups().commit("h", "t", 0, 1).unwrap();
        assert!(store.groups().delete("h").unwrap());
        let count = store.partition_count("__consumer_offsets").unwrap();
        let log = store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap();
        log.append(&[group_metadata("g", "consumer", T0, 0)]).unwrap();
        store.close().unwrap();
        drop(store);
        clock.set(T0 + 30 * MINUTE);
        let mut store = open(dir.path(), &clock);
        store.groups().commit("g", "t", 0, 7).unwrap();
        if reopen {
            store.close().unwrap();
            drop(store);
            store = open(dir.path(), &clock);
        }
        clock.set(T0 + 90 * MINUTE - 1);
        assert_eq!(
            store.expire_committed_offsets().unwrap(),
            0,
            "reopen {reopen}: expired before its retention"
        );
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(7), "reopen {reopen}");
        clock.advance(1);
        assert_eq!(store.expire_committed_offsets().unwrap(), 1, "reopen {reopen}");
        store.close().unwrap();
    }
}

/// A group with more expired offsets than one `__consumer_offsets` batch
/// holds (`max.message.bytes`, 1 MiB by default; a tombstone of these keys
/// takes about 30 bytes) expires them all: Kafka's cleanup is a non-atomic
/// write (`cleanupGroupMetadata` returns `CoordinatorResult(records, false)`),
/// which its runtime splits into batches that fit. Deleting such a group
/// writes the same tombstones.
#[test]
fn a_group_with_more_offsets_than_one_tombstone_batch_holds_expires_or_deletes_whole() {
    for deleting in [false, true] {
        expire_or_delete_a_group_of_100_000_offsets(deleting);
    }
}

/// Group `g` with 100,000 commits at `T0` (one of `t`-0, the others written
/// straight into `__consumer_offsets`), expired an hour later or deleted.
fn expire_or_delete_a_group_of_100_000_offsets(deleting: bool) {
    const N: i32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let value = OffsetCommit {
        offset: 3,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: T0,
        expire_timestamp: None,
    };
    let value = value.encode().unwrap().to_vec();
    let commits: Vec<Record> =
        (1..N).map(|p| Record::new(offset_key("g", "t", p), value.clone()).timestamp(T0)).collect();
    let store = open(dir.path(), &clock);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.groups().commit("g", "t", 0, 5).unwrap();
    let count = store.partition_count("__consumer_offsets").unwrap();
    let log = store.partition("__consumer_offsets", partition_for_group("g", count)).unwrap();
    for chunk in commits.chunks(5_000) {
        log.append(chunk).unwrap();
    }
    store.close().unwrap();
    drop(store);

    let store = open(dir.path(), &clock);
    assert_eq!(store.groups().offsets("g").unwrap().len(), 100_000);
    clock.advance(60 * MINUTE);
    if deleting {
        assert!(store.groups().delete("g").unwrap());
    } else {
        assert_eq!(store.expire_committed_offsets().unwrap(), 100_000);
    }
    assert!(store.groups().list().unwrap().is_empty());
    let metadata = GroupKey::Metadata { group: "g".into() }.encode().unwrap().to_vec();
    let records = offsets_records(&store, "g");
    assert_eq!(records.last(), Some(&(metadata, None)), "the group's tombstone comes last");
    store.close().unwrap();
    drop(store);

    let store = open(dir.path(), &clock);
    assert!(store.groups().list().unwrap().is_empty(), "expired offsets came back");
    store.close().unwrap();
}

/// A group loaded with members counts its offsets' retention from the load,
/// as Kafka's does once those members time out (no member heartbeats here):
/// from then it is an empty group, which Kafka deletes with its last offset
/// (`cleanupGroupMetadata`, `maybeDeleteGroup`). A later commit under its
/// id then starts a new group, counted from that commit, never from the old
/// group's load, or it expires at the next check, minutes after it was made.
#[test]
fn a_commit_after_a_group_loaded_with_members_lost_its_offsets_counts_from_the_commit() {
    for how in ["delete the topic", "expire"] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let records = [group_metadata("g", "consumer", T0, 2)];
        let store = adopted(dir.path(), &clock, &records, T0 + 30 * MINUTE);
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(5), "{how}");
        clock.set(T0 + 90 * MINUTE);
        if how == "expire" {
            assert_eq!(store.expire_committed_offsets().unwrap(), 1, "{how}");
        } else {
            store.delete_topic("t").unwrap();
            store.create_topic("t", 1, &BTreeMap::new()).unwrap();
        }
        store.groups().commit("g", "t", 0, 7).unwrap();
        clock.advance(10 * MINUTE);
        assert_eq!(
            store.expire_committed_offsets().unwrap(),
            0,
            "{how}: a fresh commit expired at the next check"
        );
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(7), "{how}");
        clock.set(T0 + 150 * MINUTE);
        assert_eq!(store.expire_committed_offsets().unwrap(), 1, "{how}");
        store.close().unwrap();
    }
}
