//! strata inside a tokio service: produce by key, tail every partition as a
//! stream, commit the consumer's offsets, read its lag, and give each topic
//! its own compaction and retention — no glue beyond what is below.
//!
//! ```text
//! cargo run --example service --features stream [DIR]
//! ```
//!
//! Blocking calls (`produce`, which may wait for an fsync under
//! `strata.durability=sync`; `close`, which flushes) run on tokio's blocking
//! pool; the tails are async streams woken by the appends, on any runtime.
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use strata::Record;
use strata::Tail;
use strata::{CleanupPolicy, StoreConfig, TopicConfig};
use strata::{Store, TopicPartition};

const GROUP: &str = "billing";
const ORDERS: i64 = 30;

/// The next item of a stream (what `StreamExt::next` does, without the crate).
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Reads one partition from the group's committed offset, commits after each
/// record, and returns how many it saw before the store closed.
async fn consume(store: Store, partition: i32) -> Result<u64, strata::Error> {
    let start = store.groups().fetch(GROUP, "orders", partition)?.unwrap_or(0);
    let mut tail: Tail = store.partition("orders", partition)?.tail(start);
    let mut seen = 0;
    // The stream ends (None) when the store closes or the topic is deleted.
    while let Some(record) = next(&mut tail).await {
        let record = record?;
        seen += 1;
        let at = TopicPartition::new("orders", partition);
        store.groups().commit_many(GROUP, &[(at, record.offset() + 1)])?;
    }
    Ok(seen)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("strata-service-{}", std::process::id())),
    };
    let store = Store::open(StoreConfig::new([&dir]))?;

    // Per-topic policies: orders kept a week, the users table compacted.
    let orders = TopicConfig::new().retention(Duration::from_secs(7 * 24 * 3600));
    store.create_topic_if_absent("orders", 3, &orders)?;
    let users = TopicConfig::new().cleanup_policy(CleanupPolicy::COMPACT);
    store.create_topic_if_absent("users", 1, &users)?;
    println!("topics: {:?}", store.topics());

    let consumers: Vec<_> = (0..3).map(|p| tokio::spawn(consume(store.clone(), p))).collect();

    // Produce by key: one customer's orders land on one partition, in order.
    let producer = store.clone();
    let placed = tokio::task::spawn_blocking(move || {
        let records = (0..ORDERS)
            .map(|i| Record::new(format!("customer-{}", i % 7), format!("{{\"order\":{i}}}")));
        producer.produce("orders", records)
    })
    .await??;
    if let Some(first) = placed.first() {
        println!("produced {} orders; the first went to {first}", placed.len());
    }
    let users_at =
        store.produce("users", [Record::new("u1", "alice"), Record::new("u1", "alicia")])?;
    if let Some(latest) = users_at.last() {
        println!("users: u1 now at {latest}");
    }

    // Wait until the consumers have committed everything, reading the lag.
    loop {
        let lag: i64 = store.groups().describe(GROUP)?.iter().filter_map(|l| l.lag).sum();
        let committed = store.groups().offsets(GROUP)?.len();
        println!("group {GROUP}: {committed} partitions committed, total lag {lag}");
        if committed == 3 && lag == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for lag in store.groups().describe(GROUP)? {
        println!("  {lag}");
    }

    // Close (a clean shutdown: it flushes): every tail then ends.
    let closing = store.clone();
    tokio::task::spawn_blocking(move || closing.close()).await??;
    let mut total = 0;
    for c in consumers {
        total += c.await??;
    }
    println!("closed; the consumers saw {total} records and ended");
    assert_eq!(total, u64::try_from(ORDERS)?);
    if std::env::args().nth(1).is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
