//! After overwrites and tombstones, one maintain pass leaves the latest record per key.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, HashMap};

use strata::Record;
use strata::Store;
use strata::StoreConfig;

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

/// A transactional batch of `producer` with `records`, built as a producer would.
fn txn_batch(producer: i64, seq: i32, records: &[(&str, &str)]) -> bytes::Bytes {
    let mut b = strata::BatchBuilder::new(0).producer(producer, 0, seq).transactional(true);
    for (k, v) in records {
        b.append(&Record::new(k.to_string(), v.to_string()).timestamp(1_000)).unwrap();
    }
    b.build().unwrap()
}

/// A store on a manual clock (at 1,000,000 ms, no background threads) with a
/// compacted topic `t` of one partition, cleanable at any dirty ratio, whose
/// tombstones and markers outlive their horizon by 1 s; `extra` adds configs.
fn compacted_topic_t(
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> (Store, std::sync::Arc<strata::ManualClock>) {
    let clock = strata::ManualClock::new(1_000_000);
    let store = Store::open_with_clock(
        StoreConfig::new([dir]).background_threads(false),
        std::sync::Arc::clone(&clock) as _,
    )
    .unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    o.insert("delete.retention.ms".to_owned(), "1000".to_owned());
    for (k, v) in extra {
        o.insert((*k).to_owned(), (*v).to_owned());
    }
    store.create_topic("t", 1, &o).unwrap();
    (store, clock)
}

#[test]
fn aborted_transactions_vanish_and_markers_outlive_their_data_by_the_delete_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = compacted_topic_t(dir.path(), &[("segment.bytes", "1024")]);
    let log = store.partition("t", 0).unwrap();
    // Committed value of k, then an aborted transaction overwriting it, then a committed one for j.
    log.append(&[Record::new("k", "committed").timestamp(1_000)]).unwrap();
    log.append_batch(txn_batch(7, 0, &[("k", "aborted")])).unwrap();
    let abort = log.append_txn_marker(7, 0, 1, false).unwrap();
    log.append_batch(txn_batch(8, 0, &[("j", "in-txn")])).unwrap();
    let commit = log.append_txn_marker(8, 0, 1, true).unwrap();
    // Enough later data that everything above is below the active segment.
    for i in 0..40 {
        log.append(&[Record::new(format!("z{i}"), "x".repeat(40)).timestamp(1_000)]).unwrap();
    }
    let values = |log: &strata::Log| -> HashMap<String, String> {
        let mut m = HashMap::new();
        for r in log.read(log.log_start_offset(), usize::MAX).unwrap().records() {
            let r = r.unwrap();
            // Data records only: control records' keys start with a zero version.
            if let (Some(k), Some(v)) = (r.key(), r.value())
                && !k.starts_with(b"\0")
            {
                m.insert(
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                );
            }
        }
        m
    };
    let marker_offsets = |log: &strata::Log| -> Vec<i64> {
        log.read(log.log_start_offset(), usize::MAX)
            .unwrap()
            .batches()
            .filter(|b| b.is_control() && b.records_count() > 0)
            .map(|b| b.base_offset())
            .collect()
    };
    log.roll().unwrap();
    // Producers expire first: a live producer's last data batch would stay (Kafka's
    // RETAIN_EMPTY), and with it the ABORT marker of its transaction.
    assert_eq!(log.expire_producers(0).unwrap(), 2);
    store.maintain(None).unwrap();
    let v = values(&log);
    assert_eq!(
        v.get("k").map(String::as_str),
        Some("committed"),
        "the aborted write is gone and did not supersede the committed one"
    );
    assert_eq!(v.get("j").map(String::as_str), Some("in-txn"));
    // The ABORT marker outlived its data (kept, its data was seen this pass); COMMIT stays: its data is alive.
    assert_eq!(marker_offsets(&log), vec![abort, commit]);
    // Next pass: the aborted data is gone, so its marker is discardable and gets a horizon ...
    log.append(&[Record::new("k", "later").timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    store.maintain(None).unwrap();
    assert!(marker_offsets(&log).contains(&abort), "kept until its delete horizon");
    // ... and vanishes after it.
    clock.advance(2_000);
    log.append(&[Record::new("k", "later2").timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    store.maintain(None).unwrap();
    assert!(!marker_offsets(&log).contains(&abort), "{:?}", marker_offsets(&log));
    assert!(marker_offsets(&log).contains(&commit), "its transaction's data is still there");
    store.close().unwrap();
    if common::kafka_verify_available().is_ok() {
        let out = common::kafka_verify(&dir.path().join("t-0"), &[]);
        assert!(out.ok(), "{out}");
    }
}

#[test]
fn an_open_transaction_holds_back_cleaning_like_kafkas_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false)).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("segment.bytes".to_owned(), "1024".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new("k", "committed").timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    // Undecided: if it aborts later, "committed" must still be there.
    log.append_batch(txn_batch(9, 0, &[("k", "undecided")])).unwrap();
    for i in 0..30 {
        log.append(&[Record::new("k", format!("after-{i}")).timestamp(1_000)]).unwrap();
    }
    log.roll().unwrap();
    store.maintain(None).unwrap();
    let values: Vec<String> = log
        .read(0, usize::MAX)
        .unwrap()
        .records()
        .map(|r| String::from_utf8_lossy(r.unwrap().value().unwrap()).into_owned())
        .collect();
    assert!(values.contains(&"committed".to_owned()), "{values:?}");
    // The undecided batch sits at offset 1: nothing from there on was cleaned.
    assert!(log.cleaner_checkpoint().unwrap_or(0) <= 1, "{:?}", log.cleaner_checkpoint());
    // Once the transaction aborts, cleaning may proceed past it, and the aborted value never wins.
    log.append_txn_marker(9, 0, 1, false).unwrap();
    log.roll().unwrap();
    store.maintain(None).unwrap();
    let last_k = log
        .read(0, usize::MAX)
        .unwrap()
        .records()
        .filter_map(|r| r.ok())
        .filter(|r| r.key().is_some_and(|k| &k[..] == b"k"))
        .last()
        .map(|r| String::from_utf8_lossy(r.value().unwrap()).into_owned());
    assert_eq!(last_k.as_deref(), Some("after-29"));
    let all: Vec<String> = log
        .read(0, usize::MAX)
        .unwrap()
        .records()
        .filter_map(|r| r.ok())
        .filter_map(|r| r.value().map(|v| String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert!(!all.contains(&"undecided".to_owned()), "aborted data is cleaned away: {all:?}");
}

/// A transaction aborted below the first dirty segment must not make
/// the map pass treat the same producer's later committed batch as aborted.
#[test]
fn a_committed_tombstone_after_an_old_abort_of_its_producer_deletes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = compacted_topic_t(dir.path(), &[]);
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new("k", "v1").timestamp(1_000)]).unwrap();
    log.append_batch(txn_batch(7, 0, &[("a", "aborted")])).unwrap();
    log.append_txn_marker(7, 0, 1, false).unwrap();
    log.roll().unwrap();
    store.maintain(None).unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(3));
    // Same producer, new transaction: delete k, committed.
    let mut b = strata::BatchBuilder::new(0).producer(7, 0, 1).transactional(true);
    b.append(&Record::tombstone("k").timestamp(1_000)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    log.append_txn_marker(7, 0, 1, true).unwrap();
    log.append(&[Record::new("other", "x").timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    store.maintain(None).unwrap();
    let live = |log: &strata::Log| -> Vec<(i64, Option<String>)> {
        log.read(log.log_start_offset(), usize::MAX)
            .unwrap()
            .records()
            .map(|r| r.unwrap())
            .filter(|r| r.key().is_some_and(|k| k.as_ref() == b"k"))
            .map(|r| (r.offset(), r.value().map(|v| String::from_utf8_lossy(v).into_owned())))
            .collect()
    };
    let after_pass_2 = live(&log);
    // Past the tombstone's delete horizon, a later cleaning removes it.
    clock.advance(5_000);
    log.append(&[Record::new("other", "y").timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    store.maintain(None).unwrap();
    let after_pass_3 = live(&log);
    assert!(
        after_pass_3.iter().all(|(_, v)| v.is_none()),
        "deleted key k resurrected: after pass 2 {after_pass_2:?}, after pass 3 {after_pass_3:?}"
    );
}

/// A partition held back by an open transaction must not starve
/// the cleaner threads' other partitions.
#[test]
fn an_open_transaction_on_the_filthiest_partition_does_not_starve_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new([dir.path()]).background_threads(false);
    let store = Store::open(cfg.clone()).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("a", 1, &o).unwrap();
    store.create_topic("b", 1, &o).unwrap();
    let a = store.partition("a", 0).unwrap();
    let b = store.partition("b", 0).unwrap();
    for i in 0..50 {
        b.append(&[Record::new("k", format!("v{i}")).timestamp(1_000)]).unwrap();
    }
    b.roll().unwrap();
    store.maintain(None).unwrap();
    let cleaned_to = b.cleaner_checkpoint();
    assert!(cleaned_to.is_some());
    for i in 0..50 {
        b.append(&[Record::new("k", format!("w{i}")).timestamp(1_000)]).unwrap();
    }
    b.roll().unwrap();
    // a: dirtier (never cleaned), but an open transaction at its offset 0.
    a.append_batch(txn_batch(9, 0, &[("k", "open")])).unwrap();
    for i in 0..50 {
        a.append(&[Record::new("j", format!("v{i}")).timestamp(1_000)]).unwrap();
    }
    a.roll().unwrap();
    let cleaner = strata::internals::cleaner::Cleaner::new(&cfg);
    let mut map = cleaner.new_map();
    let logs = vec![b.clone(), a.clone()];
    for _ in 0..5 {
        let _ = cleaner.clean_filthiest(&logs, &[], true, &mut map);
    }
    assert_ne!(b.cleaner_checkpoint(), cleaned_to, "b never cleaned by the cleaner thread's pass");
}

/// A log another cleaner thread is cleaning is not a candidate, as Kafka's
/// `grabFilthiestCompactedLog` skips logs in progress: a second thread picked
/// the same filthiest log, found it busy and slept `log.cleaner.backoff.ms`,
/// so `log.cleaner.threads` > 1 cleaned one partition at a time and the
/// others waited out every long cleaning. The second thread's pass runs here
/// while the first holds the filthiest log at its swap.
#[test]
fn a_second_cleaner_thread_cleans_another_log_while_the_filthiest_is_being_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new([dir.path()]).background_threads(false);
    let store = Store::open(cfg.clone()).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("a", 1, &o).unwrap();
    store.create_topic("b", 1, &o).unwrap();
    let a = store.partition("a", 0).unwrap();
    let b = store.partition("b", 0).unwrap();
    // a: dirtier than b (dirty ratio 1 against b's below it), so every pass picks a first.
    for i in 0..50 {
        b.append(&[Record::new("k", format!("v{i}")).timestamp(1_000)]).unwrap();
    }
    b.roll().unwrap();
    store.maintain(None).unwrap();
    let b_cleaned_to = b.cleaner_checkpoint();
    for i in 0..50 {
        b.append(&[Record::new("k", format!("w{i}")).timestamp(1_000)]).unwrap();
    }
    b.roll().unwrap();
    for i in 0..50 {
        a.append(&[Record::new("j", format!("v{i}")).timestamp(1_000)]).unwrap();
    }
    a.roll().unwrap();
    let cleaner = std::sync::Arc::new(strata::internals::cleaner::Cleaner::new(&cfg));
    let logs = vec![a.clone(), b.clone()];
    let second: std::sync::Arc<parking_lot::Mutex<Option<(usize, bool)>>> = Default::default();
    let hook = {
        let (cleaner, logs, second) = (cleaner.clone(), logs.clone(), second.clone());
        strata::internals::io::fault::on_point("swap::after_swap_rename", move || {
            let mut map = cleaner.new_map();
            let picked = cleaner.clean_filthiest(&logs, &[], true, &mut map);
            *second.lock() = picked.map(|(i, r)| (i, r.is_ok_and(|o| o.segments_replaced > 0)));
        })
    };
    let mut map = cleaner.new_map();
    let (first, result) = cleaner.clean_filthiest(&logs, &[], true, &mut map).unwrap();
    assert!(hook.ran());
    assert_eq!((first, result.unwrap().segments_replaced > 0), (0, true), "a is the filthiest");
    assert_eq!(*second.lock(), Some((1, true)), "the second pass did not clean b");
    assert_ne!(b.cleaner_checkpoint(), b_cleaned_to);
}

/// wyhash's published "final 4" secrets, which the cleaner's key hash once
/// used as its only key: with them, anyone can build colliding keys.
const WYHASH_SECRET: [u64; 4] =
    [0x2d35_8dcc_aa6c_78a5, 0x8bb8_4b93_962e_acc9, 0x4b33_a62e_d433_d4a3, 0x4d5a_2da5_1de1_aa47];

/// A 160-byte key whose 48-byte chunks zero both lanes' long-key multiplies
/// under the public secrets: two such keys differing in their first chunk
/// only had the same 128-bit hash.
fn crafted_colliding_key(prefix: u8) -> Vec<u8> {
    let s = WYHASH_SECRET;
    let mut key = vec![b'x'; 160];
    key[..48].fill(prefix);
    for (lane, chunk) in [(s[1], 48usize), (s[2], 96)] {
        let salt = lane.rotate_left(29);
        for (j, secret) in [s[1], s[2], s[3]].into_iter().enumerate() {
            let at = chunk + 16 * j;
            key[at..at + 8].copy_from_slice(&(secret ^ salt).to_le_bytes());
        }
    }
    key
}

#[test]
fn keys_crafted_against_the_public_wyhash_secrets_do_not_collide() {
    use strata::internals::cleaner::offset_map::{OffsetMap, hash128};
    let (a, b) = (crafted_colliding_key(b'A'), crafted_colliding_key(b'B'));
    assert_ne!(a, b);
    assert_ne!(hash128(&a), hash128(&b), "distinct keys share a hash");
    let mut map = OffsetMap::new(1 << 20, 0.9);
    map.put(&a, 10);
    assert_eq!(map.get(&b), None, "key b answers with key a's offset");
}

#[test]
fn compaction_keeps_a_live_key_whose_crafted_hash_collided_with_a_later_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false)).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new(crafted_colliding_key(b'A'), "value of A").timestamp(1_000)]).unwrap();
    log.append(&[Record::new(crafted_colliding_key(b'B'), "value of B").timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    store.maintain(None).unwrap();
    let keys: Vec<u8> =
        log.read(0, usize::MAX).unwrap().records().map(|r| r.unwrap().key().unwrap()[0]).collect();
    assert_eq!(keys, vec![b'A', b'B'], "live key A was compacted away");
}

/// A compacted topic with two 4 KiB records of one key, in a store whose
/// cleaner is throttled to `rate` bytes per second, and the partition.
fn throttled_store(dir: &std::path::Path, rate: &str) -> (std::sync::Arc<Store>, strata::Log) {
    let text = format!("log.dirs={}\nlog.cleaner.io.max.bytes.per.second={rate}\n", dir.display());
    let (cfg, _) = StoreConfig::from_properties_str(&text).unwrap();
    cfg.validate().unwrap();
    let store = Store::open(cfg.background_threads(false)).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new("k", vec![b'v'; 4096]).timestamp(1_000)]).unwrap();
    log.append(&[Record::new("k", vec![b'w'; 4096]).timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    (std::sync::Arc::new(store), log)
}

/// Runs `maintain` on another thread, closes the log once the cleaning is
/// under way, and waits (60 s at most, far below the throttle's sleep) for
/// both: `Err` names what did not come back.
fn close_during_throttled_maintain(
    store: std::sync::Arc<Store>,
    log: &strata::Log,
) -> Result<(), String> {
    use std::sync::mpsc;
    use std::time::Duration;
    let (maintained, maintain_done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = store.maintain(None);
        let _ = maintained.send(());
    });
    std::thread::sleep(Duration::from_millis(500));
    let (closed, close_done) = mpsc::channel();
    let closing = log.clone();
    std::thread::spawn(move || {
        let _ = closing.close();
        let _ = closed.send(());
    });
    close_done.recv_timeout(Duration::from_secs(60)).map_err(|e| format!("close: {e}"))?;
    maintain_done.recv_timeout(Duration::from_secs(60)).map_err(|e| format!("maintain: {e}"))
}

/// 1e-300 bytes per second passes validation (above 0, as Kafka's unchecked
/// double allows); its sleep is too long for a `Duration`, which panicked.
#[test]
fn a_tiny_valid_cleaner_throttle_does_not_panic_maintain() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = throttled_store(dir.path(), "1e-300");
    close_during_throttled_maintain(store, &log).unwrap();
}

/// At one byte per second the cleaning would sleep for hours under the
/// log's cleaning lock; closing the log stops it within a sleep slice.
#[test]
fn closing_a_log_during_a_throttled_cleaning_does_not_wait_out_the_throttle() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = throttled_store(dir.path(), "1");
    close_during_throttled_maintain(store, &log).unwrap();
}

/// Kafka's cleaner threads stop a cleaning in progress when the cleaner
/// shuts down (`LogCleaner.CleanerThread` checks `isRunning` in `checkDone`
/// and throws `ThreadShutdownException`). A store closing under a cleaner
/// throttled to one byte per second must not wait out the throttle: its
/// background cleaner thread is joined before the logs are closed.
#[test]
fn closing_a_store_during_a_throttled_background_cleaning_does_not_wait_out_the_throttle() {
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "log.dirs={}\nlog.cleaner.io.max.bytes.per.second=1\nlog.cleaner.backoff.ms=10\n",
        dir.path().display()
    );
    let (cfg, _) = StoreConfig::from_properties_str(&text).unwrap();
    let store = Store::open(cfg).unwrap();
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new("k", vec![b'v'; 4096]).timestamp(1_000)]).unwrap();
    log.append(&[Record::new("k", vec![b'w'; 4096]).timestamp(1_000)]).unwrap();
    log.roll().unwrap();
    // The cleaner thread wakes every 10 ms: give it time to start the cleaning.
    std::thread::sleep(Duration::from_millis(500));
    let (closed, close_done) = mpsc::channel();
    let closing = store.clone();
    std::thread::spawn(move || {
        let _ = closed.send(closing.close());
    });
    let result = close_done.recv_timeout(Duration::from_secs(60));
    assert!(matches!(result, Ok(Ok(()))), "store close: {result:?}");
    assert!(
        store.background_errors().is_empty(),
        "a cleaning stopped by the close is no failure: {:?}",
        store.background_errors()
    );
    drop(store);
    let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false)).unwrap();
    let values = store.partition("t", 0).unwrap().read(0, usize::MAX).unwrap().records().count();
    assert_eq!(values, 2, "the stopped cleaning changed nothing");
    store.close().unwrap();
}

/// An aborted transaction whose only data batch ends its segment, followed by a segment too
/// large to share a cleaned segment with it: the cleaner drops the aborted data but keeps an
/// empty batch at the group's last offset (so the cleaned segment reaches as far as its
/// source). That empty batch kept the original's producer and transactional flag, so every
/// later cleaning counted it as data of the aborted transaction, and the ABORT marker, kept
/// while its transaction's data is seen, was kept forever: Kafka drops the data (DELETE), then
/// gives the marker a delete horizon and removes it after.
#[test]
fn an_abort_marker_goes_after_its_horizon_when_its_data_ended_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = compacted_topic_t(dir.path(), &[("segment.bytes", "1024")]);
    let log = store.partition("t", 0).unwrap();
    log.append_batch(txn_batch(7, 0, &[("k", "aborted")])).unwrap();
    log.roll().unwrap();
    let start = log.size_bytes();
    let abort = log.append_txn_marker(7, 0, 1, false).unwrap();
    let mut i = 0;
    while log.size_bytes() - start < 960 {
        log.append(&[Record::new(format!("z{i}"), "x".repeat(20)).timestamp(1_000)]).unwrap();
        i += 1;
    }
    assert_eq!(log.segment_count(), 2, "the filler stays in segment 1");
    log.roll().unwrap();
    assert_eq!(log.expire_producers(0).unwrap(), 1);
    let markers = |log: &strata::Log| -> Vec<i64> {
        log.read(log.log_start_offset(), usize::MAX)
            .unwrap()
            .batches()
            .filter(|b| b.is_control() && b.records_count() > 0)
            .map(|b| b.base_offset())
            .collect()
    };
    for pass in 0..4 {
        log.append(&[Record::new("later", format!("{pass}")).timestamp(1_000)]).unwrap();
        log.roll().unwrap();
        store.maintain(None).unwrap();
        clock.advance(2_000);
    }
    assert!(
        !markers(&log).contains(&abort),
        "the ABORT marker is still there: {:?}",
        markers(&log)
    );
    store.close().unwrap();
    if common::kafka_verify_available().is_ok() {
        let out = common::kafka_verify(&dir.path().join("t-0"), &[]);
        assert!(out.ok(), "{out}");
    }
    if let Some(kafka) = common::kverify_dump(&dir.path().join("t-0")) {
        kafka.unwrap();
    }
}
