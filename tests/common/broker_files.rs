//! What strata reads of the files a Kafka broker keeps beside its segments: `.txnindex`,
//! `partition.metadata` and `leader-epoch-checkpoint` (used by `broker_to_strata`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use strata::{Store, StoreConfig};

fn files_named(data: &Path, pick: impl Fn(&str) -> bool) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for part in fs::read_dir(data).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        for f in fs::read_dir(&part).unwrap().flatten().map(|e| e.path()) {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if pick(&name) {
                out.insert(f.strip_prefix(data).unwrap().to_path_buf(), fs::read(&f).unwrap());
            }
        }
    }
    out
}

/// On a copy of a stopped broker's data directory: strata reads the broker's topic IDs, and
/// its `.txnindex` files equal byte for byte what strata writes when it rebuilds them from the
/// same batches (its rebuild at the first open of a directory without a leader-epoch
/// checkpoint). Returns the number of `.txnindex` entries compared.
pub(crate) fn assert_broker_txn_files_read(data: &Path, scratch: &Path) -> usize {
    let broker_txn = files_named(data, |n| n.ends_with(".txnindex"));
    let metadata = files_named(data, |n| n == "partition.metadata");
    assert!(!metadata.is_empty(), "the broker wrote partition.metadata files");
    // 1. Topic IDs as the broker assigned them.
    {
        let copy = scratch.join("ids");
        super::copy_dir(data, &copy).unwrap();
        let store = Store::open(StoreConfig::new([&copy]).background_threads(false)).unwrap();
        for (path, text) in &metadata {
            let dir = path.parent().unwrap().to_str().unwrap();
            let (topic, p) = dir.rsplit_once('-').unwrap();
            let _ = p;
            let id = store.topic_id(topic).unwrap().expect("a topic ID").to_string();
            assert_eq!(
                String::from_utf8(text.clone()).unwrap(),
                format!("version: 0\ntopic_id: {id}")
            );
        }
        store.close().unwrap();
    }
    // 2. The .txnindex files rebuilt by strata from the broker's batches.
    let copy = scratch.join("rebuilt");
    super::copy_dir(data, &copy).unwrap();
    for path in broker_txn.keys() {
        fs::remove_file(copy.join(path)).unwrap();
    }
    for path in files_named(&copy, |n| n == "leader-epoch-checkpoint").keys() {
        fs::remove_file(copy.join(path)).unwrap();
    }
    let store = Store::open(StoreConfig::new([&copy]).background_threads(false)).unwrap();
    store.close().unwrap();
    let rebuilt = files_named(&copy, |n| n.ends_with(".txnindex"));
    assert_eq!(
        rebuilt.keys().collect::<Vec<_>>(),
        broker_txn.keys().collect::<Vec<_>>(),
        "the same segments hold aborted transactions"
    );
    for (path, bytes) in &broker_txn {
        assert_eq!(rebuilt.get(path), Some(bytes), "{} equals the broker's", path.display());
    }
    broker_txn.values().map(|b| b.len() / 34).sum()
}
