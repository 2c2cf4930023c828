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
