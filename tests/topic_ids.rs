//! Topic IDs: one per topic, in Kafka's `partition.metadata` format in every
//! partition directory, kept across reopens, given to directories that lack
//! one (older brokers), and a damaged file takes only its partition offline.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;

use strata::Error;
use strata::config::StoreConfig;
use strata::format::TopicId;
use strata::store::Store;

fn open(dir: &Path) -> Store {
    Store::open(StoreConfig::new([dir]).background_threads(false)).unwrap()
}

fn metadata(store: &Store, topic: &str, p: i32) -> String {
    let dir = store.partition_dir(topic, p).unwrap();
    std::fs::read_to_string(dir.join("partition.metadata")).unwrap()
}

/// Kafka's layout: `version: 0`, newline, `topic_id: ` and 22 URL-safe base64 characters, no newline.
fn parse_kafka_file(text: &str) -> TopicId {
    let (version, id) = text.split_once('\n').unwrap();
    assert_eq!(version, "version: 0");
    let id = id.strip_prefix("topic_id: ").unwrap();
    assert_eq!(id.len(), 22, "{id}");
    assert!(id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{id}");
    TopicId::parse(id).unwrap()
}

#[test]
fn every_partition_of_a_topic_carries_its_one_topic_id_in_kafkas_format() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("orders", 3, &BTreeMap::new()).unwrap();
    store.create_topic("other", 1, &BTreeMap::new()).unwrap();
    let id = store.topic_id("orders").unwrap().unwrap();
    for p in 0..3 {
        assert_eq!(parse_kafka_file(&metadata(&store, "orders", p)), id);
    }
    assert_ne!(store.topic_id("other").unwrap().unwrap(), id, "IDs differ between topics");
    assert!(matches!(store.topic_id("missing"), Err(Error::UnknownPartition { .. })));
    store.close().unwrap();
}

#[test]
fn a_topic_keeps_its_id_across_reopens_and_new_partitions_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("orders", 2, &BTreeMap::new()).unwrap();
    let id = store.topic_id("orders").unwrap().unwrap();
    store.close().unwrap();
    let store = open(tmp.path());
    assert_eq!(store.topic_id("orders").unwrap(), Some(id));
    store.add_partitions("orders", 4).unwrap();
    for p in 0..4 {
        assert_eq!(parse_kafka_file(&metadata(&store, "orders", p)), id);
    }
    store.close().unwrap();
}

#[test]
fn directories_without_partition_metadata_open_and_get_one_id() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("old", 3, &BTreeMap::new()).unwrap();
    store.partition("old", 0).unwrap().append(&[strata::format::Record::new("k", "v")]).unwrap();
    let dirs: Vec<_> = (0..3).map(|p| store.partition_dir("old", p).unwrap()).collect();
    store.close().unwrap();
    // As an older broker (or strata) left them: no partition.metadata anywhere.
    for d in &dirs {
        std::fs::remove_file(d.join("partition.metadata")).unwrap();
    }
    let store = open(tmp.path());
    let id = store.topic_id("old").unwrap().unwrap();
    for p in 0..3 {
        assert_eq!(parse_kafka_file(&metadata(&store, "old", p)), id);
    }
    store.close().unwrap();
}

#[test]
fn a_damaged_partition_metadata_takes_only_its_partition_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    let bad = store.partition_dir("t", 1).unwrap().join("partition.metadata");
    store.close().unwrap();
    std::fs::write(&bad, "version: 7\ntopic_id: nonsense").unwrap();
    let store = open(tmp.path());
    assert!(store.partition("t", 0).is_ok());
    let err = store.partition("t", 1).unwrap_err();
    assert!(err.to_string().contains("partition.metadata"), "{err}");
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "version: 7\ntopic_id: nonsense");
    store.close().unwrap();
}
