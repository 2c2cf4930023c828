//! Regressions from an embedder's review of the library at 12f6be2: what a
//! program embedding strata meets on first use (relative paths, closed
//! stores, unknown names, partitions whose directory is missing). Each test
//! names the defect it guards against.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::{LoadOptions, Log, LogConfig, Store, StoreConfig, SystemClock};

/// Set to a test's name in the child process that runs its body.
const CHILD_ENV: &str = "STRATA_EMBEDDER_REVIEW_CHILD";

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
