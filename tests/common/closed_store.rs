//! A closed store built for a test to damage, and its records counted after the reopen.

use std::collections::BTreeMap;
use std::path::Path;

use strata::{Record, Store, StoreConfig};

/// Opens the store in `dir` with background threads off.
pub(crate) fn open(dir: &Path) -> strata::Result<Store> {
    Store::open(StoreConfig::new([dir]).background_threads(false))
}

/// A closed store in `dir` with topic `t` of `partitions` partitions holding `n` records each.
pub(crate) fn make(dir: &Path, partitions: i32, n: usize) {
    let store = open(dir).unwrap();
    store.create_topic("t", partitions, &BTreeMap::new()).unwrap();
    for p in 0..partitions {
        let log = store.partition("t", p).unwrap();
        for i in 0..n {
            log.append(&[Record::new(format!("k{i}"), format!("v{i}"))]).unwrap();
        }
    }
    store.close().unwrap();
}

/// The records a full read of `topic`-`partition` returns, each checked.
pub(crate) fn count(store: &Store, topic: &str, partition: i32) -> usize {
    let log = store.partition(topic, partition).unwrap();
    let mut n = 0;
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let fetched = log.read(offset, 1 << 20).unwrap();
        let records: Vec<_> = fetched.records().map(|r| r.unwrap()).collect();
        let Some(last) = records.last() else { break };
        offset = last.offset() + 1;
        n += records.len();
    }
    n
}
