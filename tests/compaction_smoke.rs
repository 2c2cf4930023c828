//! After overwrites and tombstones, one maintain pass leaves the latest record per key.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, HashMap};

use strata::config::StoreConfig;
use strata::format::Record;
use strata::store::Store;

#[test]
fn compaction_keeps_exactly_the_latest_record_of_every_live_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false)).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("segment.bytes".to_owned(), "2048".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut latest: HashMap<String, (i64, Option<String>)> = HashMap::new();
    for round in 0..40 {
        let mut batch = Vec::new();
        for k in 0..5 {
            let key = format!("k{}", (round * 7 + k) % 13);
            if (round + k) % 9 == 0 {
                batch.push(Record::tombstone(key.clone()).timestamp(1_000 + round));
            } else {
                batch.push(
                    Record::new(key.clone(), format!("v{round}-{k}")).timestamp(1_000 + round),
                );
            }
        }
        let at = log.append(&batch).unwrap();
        for (i, r) in batch.iter().enumerate() {
            let key = String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap();
            let value = r.value.as_ref().map(|v| String::from_utf8(v.to_vec()).unwrap());
            latest.insert(key, (at.base_offset + i as i64, value));
        }
    }
    let before = log.segment_count();
    let report = store.maintain(None).unwrap();
    assert!(report.partitions_cleaned == 1, "{report:?} {:?}", store.cleaner_stats());
    assert!(log.segment_count() <= before);
    // Everything below the active segment is clean: each key at most once there.
    let active_base = *log.segment_base_offsets().last().unwrap();
    let fetched = log.read(log.log_start_offset(), usize::MAX).unwrap();
    let mut seen: HashMap<String, (i64, Option<String>)> = HashMap::new();
    for r in fetched.records() {
        let r = r.unwrap();
        let key = String::from_utf8(r.key().unwrap().to_vec()).unwrap();
        let value = r.value().map(|v| String::from_utf8(v.to_vec()).unwrap());
        if r.offset() < active_base {
            assert!(
                !seen.contains_key(&key) || seen[&key].0 >= active_base,
                "{key} twice below the active segment"
            );
        }
        seen.insert(key, (r.offset(), value));
    }
    assert_eq!(seen, latest);
    store.close().unwrap();
    let part = dir.path().join("t-0");
    if common::kafka_verify_available().is_ok() {
        let out = common::kafka_verify(&part, &[]);
        assert!(out.ok(), "{out}");
    }
}
