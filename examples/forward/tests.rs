//! Unit tests of `examples/forward.rs` (what needs no broker): they run under
//! `cargo test --features forward --example forward`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use strata::{BatchBuilder, Clock, ManualClock, Record};

use super::*;

const MINUTE_MS: i64 = 60_000;

/// A forwarder of `store`'s topic `t` (one partition) caught up at strata offset `next`,
/// Kafka offset `next`: what its commits do needs no broker, so its producer points at
/// none (creating one connects to nothing).
fn caught_up(store: &Store, next: i64) -> Forwarder<'_> {
    let options = parse_args(
        ["--dir", "unused", "--bootstrap", "127.0.0.1:1", "--group", "g", "--topic", "t"]
            .into_iter()
            .map(str::to_owned),
    )
    .unwrap();
    let producer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .create_with_context(Reports::default())
        .unwrap();
    let log = store.partition("t", 0).unwrap();
    let stream = Stream {
        topic: "t".to_owned(),
        kafka_topic: "t".to_owned(),
        partition: 0,
        log,
        next_read: next,
        pending: VecDeque::new(),
        acked: next,
        kafka_next: next,
        committed: (-1, -1),
        committed_at_ms: None,
        forwarded: 0,
    };
    Forwarder {
        store,
        options,
        producer,
        streams: vec![stream],
        acks_seen: 0,
        abort_after_acks: None,
    }
}

/// A partition that gets no new record keeps its commit: the forwarder commits its
/// unchanged position again before `offsets.retention.minutes` expires it. Expired, the
/// next start would find no commit and forward the whole partition again as a first run.
#[test]
fn an_idle_partitions_position_outlives_offsets_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let config =
        StoreConfig::new([dir.path()]).offsets_retention_minutes(60).background_threads(false);
    let store = Store::open_with_clock(config, Arc::clone(&clock) as Arc<dyn Clock>).unwrap();
    store.create_topic("t", 1, &Default::default()).unwrap();
    store.partition("t", 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
    let mut f = caught_up(&store, 1);
    f.commit().unwrap();
    // Three hours idle, the run loop committing as it does, retention expiring as it does.
    for _ in 0..18 {
        clock.advance(10 * MINUTE_MS);
        f.commit().unwrap();
        store.expire_committed_offsets().unwrap();
    }
    assert_eq!(
        store.groups().fetch("g", "t", 0).unwrap(),
        Some(1),
        "the idle partition's position expired: a restart would forward it all again"
    );
    drop(f);
    store.close().unwrap();
}

/// A partition whose last records were a transaction and its commit marker resumes
/// after retention removed them: its committed position is past the marker (nothing is
/// forwarded for it), not at it, where the next start's check (committed below the log
/// start) took the marker's removal for records deleted before they were forwarded.
#[test]
fn a_position_after_a_transaction_marker_is_past_the_marker() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false)).unwrap();
    store.create_topic("t", 1, &Default::default()).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut b = BatchBuilder::new(0).producer(7, 0, 0).transactional(true);
    b.append(&Record::new("k", "v")).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    let marker = log.append_txn_marker(7, 0, 0, true).unwrap();
    let mut f = caught_up(&store, 0);
    f.send_some(&mut u64::MAX.clone()).unwrap();
    assert_eq!(f.streams[0].pending, [0]);
    // The broker acknowledges the record at Kafka offset 0.
    f.producer.context().deliveries.lock().unwrap().push(Delivery {
        stream: 0,
        strata_offset: 0,
        outcome: Ok((0, 0)),
    });
    f.take_deliveries().unwrap();
    assert!(f.caught_up());
    f.commit().unwrap();
    // Retention (here DeleteRecords) removes everything forwarded, marker included.
    let start = log.delete_records(marker + 1).unwrap();
    let committed = store.groups().fetch("g", "t", 0).unwrap().unwrap();
    assert!(
        committed >= start,
        "committed {committed} below the log start {start}: the next start stops with \
         'retention deleted records before they were forwarded'"
    );
    drop(f);
    store.close().unwrap();
}
