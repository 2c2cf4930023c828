//! Regressions from an embedder's review of the library at 12f6be2: what a
//! program embedding strata meets on first use (relative paths, closed
//! stores, unknown names, partitions whose directory is missing). Each test
//! names the defect it guards against.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::{Error, LoadOptions, Log, LogConfig, Store, StoreConfig, SystemClock};

/// Set to a test's name in the child process that runs its body.
const CHILD_ENV: &str = "STRATA_EMBEDDER_REVIEW_CHILD";

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new([dir]).background_threads(false)
}

/// `Path::new("relstore").parent()` is `""`: the directory fsync after
/// creating a bare relative log directory opened `""` and failed with
/// `fsync dir : No such file or directory` on the first run. The body runs in
/// a child process, since it changes the working directory.
#[test]
fn a_store_and_a_log_open_in_bare_relative_directories_on_first_run() {
    let name = "a_store_and_a_log_open_in_bare_relative_directories_on_first_run";
    if !common::in_child(CHILD_ENV, name, None) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_current_dir(tmp.path()).unwrap();
    let store = Store::open(StoreConfig::new(["relstore"])).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    assert!(tmp.path().join("relstore/t-0").is_dir());
    let (log, _) = Log::open(
        Path::new("bare-0"),
        "bare",
        0,
        LogConfig::default(),
        Arc::new(SystemClock),
        LoadOptions::default(),
    )
    .unwrap();
    log.close().unwrap();
    assert!(tmp.path().join("bare-0").is_dir());
}

/// A store of topic `t` (`partitions` partitions), open.
fn store_with_topic(dir: &Path, partitions: i32) -> Store {
    let store = Store::open(config(dir)).unwrap();
    store.create_topic("t", partitions, &BTreeMap::new()).unwrap();
    store
}

/// Unknown topics printed `unknown topic or partition: nope--1`: the
/// sentinel -1 is never shown as a partition number.
#[test]
fn an_unknown_topic_is_named_without_the_partition_sentinel() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 1);
    for e in [
        store.partition("nope", 0).unwrap_err(),
        store.partition_count("nope").unwrap_err(),
        store.describe_topic("nope").unwrap_err(),
        store.flush(Some("nope")).unwrap_err(),
    ] {
        assert_eq!(e.to_string(), "unknown topic nope");
    }
    let e = store.partition("t", 3).unwrap_err();
    assert_eq!(e.to_string(), "unknown topic or partition: t-3");
    store.close().unwrap();
}

/// `commit("g", "nope", 0, 5)` returned Ok: a commit for a topic or partition
/// the store does not have is refused, as Kafka's OffsetCommit answers
/// UNKNOWN_TOPIC_OR_PARTITION, and nothing is committed.
#[test]
fn a_commit_for_an_unknown_topic_or_partition_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 2);
    let groups = store.groups();
    let e = groups.commit("g", "nope", 0, 5).unwrap_err();
    assert!(matches!(&e, Error::UnknownPartition { topic, partition: -1 } if topic == "nope"));
    assert_eq!(e.to_string(), "unknown topic nope");
    let e = groups.commit("g", "t", 2, 5).unwrap_err();
    assert!(matches!(&e, Error::UnknownPartition { partition: 2, .. }), "{e}");
    assert_eq!(e.to_string(), "unknown topic or partition: t-2");
    let e = groups.commit("g", "t", -1, 5).unwrap_err();
    assert!(matches!(&e, Error::InvalidRequest(m) if m.contains("-1")), "{e}");
    assert_eq!(groups.list().unwrap(), Vec::<String>::new());
    groups.commit("g", "t", 1, 5).unwrap();
    assert_eq!(groups.fetch("g", "t", 1).unwrap(), Some(5));
    store.close().unwrap();
}

/// Lag was clamped at 0: a commit past the log end showed lag 0, where
/// Kafka's `kafka-consumer-groups --describe` (ConsumerGroupCommand.getLag,
/// `logEndOffset - offset`) shows it negative.
#[test]
fn lag_of_a_commit_past_the_log_end_is_negative_as_kafka_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 1);
    let log = store.partition("t", 0).unwrap();
    log.append(&[strata::Record::new("k", "v"), strata::Record::new("k", "w")]).unwrap();
    store.groups().commit("g", "t", 0, 10).unwrap();
    let lag = &store.groups().describe("g").unwrap()[0];
    assert_eq!((lag.log_end_offset, lag.lag), (Some(2), Some(-8)));
    store.close().unwrap();
}
