//! Topic IDs: one per topic, in Kafka's `partition.metadata` format in every
//! partition directory, kept across reopens, given to directories that lack
//! one (older brokers), and a damaged file takes only its partition offline.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use strata::Error;
use strata::Store;
use strata::StoreConfig;
use strata::TopicId;

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
    store.partition("old", 0).unwrap().append(&[strata::Record::new("k", "v")]).unwrap();
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

/// A partition whose `partition.metadata` is not Kafka's format is refused before its log is
/// opened: after an unclean shutdown with a torn tail (garbage after the last batch), the open
/// that takes it offline cuts nothing, rebuilds no index and writes no snapshot or checkpoint in
/// its directory, which stays as it was for the operator to repair.
#[test]
fn a_damaged_partition_metadata_is_refused_before_recovery_changes_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..20 {
        log.append(&[strata::Record::new(format!("k{i}"), "v")]).unwrap();
    }
    let dir = store.partition_dir("t", 0).unwrap();
    store.close().unwrap();
    std::fs::write(dir.join("partition.metadata"), "version: 7\ntopic_id: nonsense").unwrap();
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    let seg = dir.join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0x5a; 100]);
    std::fs::write(&seg, bytes).unwrap();
    let before = common::dir_snapshot(&dir);
    let store = open(tmp.path());
    let err = store.partition("t", 0).unwrap_err();
    assert!(err.to_string().contains("partition.metadata"), "{err}");
    store.close().unwrap();
    let after = common::dir_snapshot(&dir);
    let names = |s: &BTreeMap<std::path::PathBuf, _>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before), "no file is created, removed or renamed");
    for (path, was) in &before {
        assert!(after.get(path) == Some(was), "{} changed", path.display());
    }
}

/// A Kafka broker's data directory (a `../shared` fixture): strata reads the
/// topic IDs and leader epochs the broker wrote, keeps both files byte for
/// byte, and continues at the broker's latest epoch.
#[test]
fn a_brokers_topic_ids_and_leader_epochs_are_read_and_kept() {
    let Some(src) =
        common::fixture("kafka-broker/fuzibotond-Experts-in-team-innovation/bd84927/kafka/data")
    else {
        return common::skip(
            "no ../shared fixture kafka-broker/fuzibotond-Experts-in-team-innovation",
        );
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    common::copy_dir(&src, &dir).unwrap();
    let files = |name: &str| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join(name).is_file() && !p.ends_with("__cluster_metadata-0"))
            .map(|p| (p.display().to_string(), std::fs::read(p.join(name)).unwrap()))
            .collect();
        v.sort();
        v
    };
    let (metadata, epochs) = (files("partition.metadata"), files("leader-epoch-checkpoint"));
    assert!(metadata.len() >= 5 && epochs.len() >= 5);
    let store = open(&dir);
    assert_eq!(store.topic_id("first").unwrap().unwrap().to_string(), "mnjqLRqrSwSh1xz9beGobA");
    assert_eq!(
        store.topic_id("__consumer_offsets").unwrap().unwrap().to_string(),
        "Rkh9AX0GSAe8U38BBNFwlg"
    );
    let log = store.partition("sensor-data-topic", 0).unwrap();
    let got: Vec<(i32, i64)> =
        log.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(got, vec![(4, 0), (6, 4), (8, 34)]);
    assert_eq!(log.leader_epoch(), 8, "appends continue in the broker's latest epoch");
    let at = log.append(&[strata::Record::new("k", "from strata")]).unwrap();
    let batch = log.read(at.base_offset, 1).unwrap().batches().next().unwrap();
    assert_eq!(batch.partition_leader_epoch(), 8);
    // A partition whose last epoch starts at its log end (a leader elected
    // after the last append): Kafka's loader drops that entry too, and the
    // leader's epoch goes on; its next batch brings the entry back.
    let offsets = store.partition("__consumer_offsets", 19).unwrap();
    let on_disk: Vec<(i32, i64)> =
        offsets.leader_epochs().iter().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(on_disk, vec![(0, 0), (6, 2)], "(8, 3) starts at the log end");
    assert_eq!((offsets.log_end_offset(), offsets.leader_epoch()), (3, 8));
    // Every other checkpoint is what Kafka's loader leaves: entries below the log end.
    let expected: Vec<(String, Vec<u8>)> = epochs
        .iter()
        .map(|(path, bytes)| {
            let name = Path::new(path).file_name().unwrap().to_str().unwrap();
            let (topic, p) = name.rsplit_once('-').unwrap();
            let leo = store.partition(topic, p.parse().unwrap()).unwrap().log_end_offset();
            let text = String::from_utf8(bytes.clone()).unwrap();
            let kept: Vec<&str> = text
                .lines()
                .skip(2)
                .filter(|l| l.split(' ').nth(1).unwrap().parse::<i64>().unwrap() < leo)
                .collect();
            let mut out = format!("0\n{}\n", kept.len());
            kept.iter().for_each(|l| out.push_str(&format!("{l}\n")));
            (path.clone(), out.into_bytes())
        })
        .collect();
    assert_ne!(expected, epochs, "some broker entries start at the log end");
    store.close().unwrap();
    // The broker's partitions keep their partition.metadata byte for byte (new
    // __consumer_offsets partitions strata creates get their own, with the topic's ID).
    let keep = |now: Vec<(String, Vec<u8>)>, before: &[(String, Vec<u8>)]| {
        for (path, bytes) in before {
            let after = now.iter().find(|(p, _)| p == path).map(|(_, b)| b);
            assert_eq!(after, Some(bytes), "{path}");
        }
    };
    keep(files("partition.metadata"), &metadata);
    keep(files("leader-epoch-checkpoint"), &expected);
}

/// A partition whose `partition.metadata` names another topic's ID (a
/// directory copied in from elsewhere) goes offline alone, as Kafka fails
/// only that partition (`Partition.checkOrSetTopicId`:
/// `InconsistentTopicIdException`): the store opens, the topic's other
/// partitions serve under the ID most of them carry, and the file is left
/// as it was.
#[test]
fn a_partition_carrying_another_topics_id_goes_offline_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 3, &BTreeMap::new()).unwrap();
    store.create_topic("u", 1, &BTreeMap::new()).unwrap();
    let id = store.topic_id("t").unwrap().unwrap();
    let foreign = metadata(&store, "u", 0);
    let odd = store.partition_dir("t", 0).unwrap().join("partition.metadata");
    store.close().unwrap();
    std::fs::write(&odd, &foreign).unwrap();
    let store = Store::open(StoreConfig::new([tmp.path()]).background_threads(false))
        .expect("one partition's foreign topic ID must not refuse the whole store");
    assert!(store.partition("t", 1).is_ok() && store.partition("t", 2).is_ok());
    assert_eq!(store.topic_id("t").unwrap(), Some(id), "the ID most partitions carry");
    let err = store.partition("t", 0).unwrap_err();
    assert!(matches!(err, Error::PartitionOffline { .. }), "{err:?}");
    assert!(err.to_string().contains("partition.metadata"), "{err}");
    assert!(store.partition("u", 0).is_ok());
    store.close().unwrap();
    assert_eq!(std::fs::read_to_string(&odd).unwrap(), foreign);
    // It stays offline across opens until the file is put right.
    let store = open(tmp.path());
    assert!(store.partition("t", 0).is_err());
    store.close().unwrap();
}
