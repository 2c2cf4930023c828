//! The calls an embedding service reaches for: store-level produce with Kafka's default
//! partitioner, create-if-absent with a typed `TopicConfig`, consecutive reads as an iterator and
//! an async tail as a `Stream`, both ending cleanly when the store closes or the topic goes.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use strata::Record;
use strata::Store;
use strata::internals::store::partitioner::partition_for_key;
use strata::{CleanupPolicy, StoreConfig, TopicConfig};

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig::new([dir]).background_threads(false)).unwrap()
}

#[test]
fn produce_places_keys_as_kafkas_partitioner_and_returns_each_records_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("orders", 4, &BTreeMap::new()).unwrap();
    let keys = ["alice", "bob", "carol", "dave", "alice", "erin", "bob"];
    let at =
        store.produce("orders", keys.iter().map(|k| Record::new(*k, format!("{k}!")))).unwrap();
    assert_eq!(at.len(), keys.len());
    for (k, m) in keys.iter().zip(&at) {
        assert_eq!(m.partition, partition_for_key(k.as_bytes(), 4), "{k}");
        let log = store.partition("orders", m.partition).unwrap();
        let r = log.records_from(m.offset).next().unwrap().unwrap();
        assert_eq!(
            (r.offset(), r.key().map(|k| k.to_vec())),
            (m.offset, Some(k.as_bytes().to_vec()))
        );
        assert!(m.timestamp > 0, "a record without a timestamp gets the produce time");
    }
    // Offsets within a partition follow the input order.
    assert_eq!(at[4].partition, at[0].partition);
    assert!(at[4].offset > at[0].offset);
    store.close().unwrap();
}

#[test]
fn unkeyed_records_of_one_call_share_a_partition_and_produce_to_an_unknown_topic_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("logs", 3, &BTreeMap::new()).unwrap();
    let unkeyed = |v: &str| Record { key: None, ..Record::new("", v.to_owned()) };
    let at = store.produce("logs", (0..5).map(|i| unkeyed(&i.to_string()))).unwrap();
    assert!(at.iter().all(|m| m.partition == at[0].partition));
    assert_eq!(at.iter().map(|m| m.offset).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    let err = store.produce("nope", [Record::new("k", "v")]).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    store.close().unwrap();
}

#[test]
fn create_if_absent_applies_a_typed_config_once_and_set_topic_configs_changes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let config = TopicConfig::new()
        .cleanup_policy(CleanupPolicy::COMPACT)
        .retention(Duration::from_secs(3600))
        .segment_bytes(1 << 20);
    assert!(store.create_topic_if_absent("users", 2, &config).unwrap());
    assert!(!store.create_topic_if_absent("users", 5, &TopicConfig::new()).unwrap());
    assert_eq!(store.partition_count("users").unwrap(), 2);
    let overrides = store.topic_overrides("users").unwrap();
    assert_eq!(overrides["cleanup.policy"], "compact");
    assert_eq!(overrides["retention.ms"], "3600000");
    let log = store.partition("users", 0).unwrap();
    assert!(log.config().cleanup_policy.compact);

    store.set_topic_configs("users", &TopicConfig::new().retention_bytes(1 << 30)).unwrap();
    assert_eq!(store.topic_overrides("users").unwrap()["retention.bytes"], "1073741824");
    assert_eq!(log.config().retention_bytes, 1 << 30);
    // A bad value changes nothing, and says which key was wrong.
    let bad = TopicConfig::new().segment_bytes(1 << 20).set("retention.ms", "soon");
    let err = store.set_topic_configs("users", &bad).unwrap_err();
    assert!(err.to_string().contains("retention.ms"), "{err}");
    assert_eq!(store.topic_overrides("users").unwrap()["retention.ms"], "3600000");
    store.close().unwrap();
}

#[test]
fn records_from_reads_consecutive_steps_to_the_log_end() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..20 {
        log.append(&[Record::new("k", format!("v{i}"))]).unwrap();
    }
    // Tiny steps: one batch per read, every record once and in order.
    let offsets: Vec<i64> =
        log.records_from(3).fetch_bytes(1).map(|r| r.unwrap().offset()).collect();
    assert_eq!(offsets, (3..20).collect::<Vec<_>>());
    assert_eq!(log.records_from(20).count(), 0);
    store.close().unwrap();
}

#[test]
fn a_following_iterator_sees_new_records_and_ends_when_the_topic_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new("k", "first")]).unwrap();
    // The reader reports each offset as it sees it: the second record is appended once it saw
    // the first, and the topic deleted once it saw the second (with fixed sleeps, a reader not
    // scheduled before the deletion saw nothing).
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let reader = thread::spawn({
        let log = log.clone();
        move || {
            log.records_from(0)
                .follow()
                .map(|r| r.map(|r| r.offset()))
                .inspect(|r| {
                    if let Ok(offset) = r {
                        seen_tx.send(*offset).unwrap();
                    }
                })
                .collect::<Vec<_>>()
        }
    });
    let patience = Duration::from_secs(60);
    assert_eq!(seen_rx.recv_timeout(patience), Ok(0));
    log.append(&[Record::new("k", "second")]).unwrap();
    assert_eq!(seen_rx.recv_timeout(patience), Ok(1));
    store.delete_topic("t").unwrap();
    let seen = reader.join().unwrap();
    assert_eq!(seen.into_iter().collect::<Result<Vec<_>, _>>().unwrap(), [0, 1]);
    store.close().unwrap();
}

#[cfg(feature = "stream")]
mod stream {
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use futures_core::Stream;

    use super::*;

    fn poll(tail: &mut Pin<Box<strata::Tail>>) -> Poll<Option<strata::Result<i64>>> {
        let mut cx = Context::from_waker(Waker::noop());
        tail.as_mut().poll_next(&mut cx).map(|o| o.map(|r| r.map(|r| r.offset())))
    }

    #[test]
    fn the_async_tail_yields_the_backlog_then_waits_then_ends_on_close() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        store.create_topic("t", 1, &BTreeMap::new()).unwrap();
        let log = store.partition("t", 0).unwrap();
        log.append(&[Record::new("k", "a"), Record::new("k", "b")]).unwrap();
        let mut tail = Box::pin(log.tail(1));
        assert!(matches!(poll(&mut tail), Poll::Ready(Some(Ok(1)))));
        assert!(poll(&mut tail).is_pending());
        assert_eq!(log.registered_wakers(), 1);
        log.append(&[Record::new("k", "c")]).unwrap();
        assert!(matches!(poll(&mut tail), Poll::Ready(Some(Ok(2)))));
        assert!(poll(&mut tail).is_pending());
        store.close().unwrap();
        assert!(matches!(poll(&mut tail), Poll::Ready(None)));
        assert!(matches!(poll(&mut tail), Poll::Ready(None)), "and stays ended");
        assert_eq!(log.registered_wakers(), 0);
    }

    #[test]
    fn the_async_tail_ends_when_its_topic_is_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path());
        store.create_topic("t", 1, &BTreeMap::new()).unwrap();
        let log = store.partition("t", 0).unwrap();
        let mut tail = Box::pin(log.tail(0));
        assert!(poll(&mut tail).is_pending());
        store.delete_topic("t").unwrap();
        assert!(matches!(poll(&mut tail), Poll::Ready(None)));
        store.close().unwrap();
    }
}

/// Kafka's producer hands back the broker's append time as the record's
/// timestamp on a `LogAppendTime` topic (`FutureRecordMetadata.value`: the
/// response's `logAppendTime` when set, else the create time): the time the
/// record was stored with, not the one the caller gave.
#[test]
fn produce_returns_the_stored_append_time_on_a_log_append_time_topic() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = strata::ManualClock::new(5_000_000);
    let config = StoreConfig::new([tmp.path()]).background_threads(false);
    let store = Store::open_with_clock(config, clock).unwrap();
    let mut o = BTreeMap::new();
    o.insert("message.timestamp.type".to_owned(), "LogAppendTime".to_owned());
    store.create_topic("audit", 1, &o).unwrap();
    let at = store.produce("audit", [Record::new("k", "v").timestamp(1_000)]).unwrap();
    let log = store.partition("audit", 0).unwrap();
    let stored = log.records_from(at[0].offset).next().unwrap().unwrap().timestamp();
    assert_eq!(stored, 5_000_000, "the log stamps its append time");
    assert_eq!(at[0].timestamp, stored, "produce reports the time the record was stored with");
    store.close().unwrap();
}
