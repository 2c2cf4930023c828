//! Cleaner throughput: MB/s of dirty input one `Store::maintain` compacts, by key cardinality.
//!
//! Shape: ~32 MiB of records with 100-byte values and 10-byte keys, 100 records per batch,
//! 8 MiB segments, everything below the active segment dirty; 100, 10 000 or 100 000 distinct
//! keys in a shuffled order. Each case builds a template store once; every iteration copies it
//! into a fresh tempdir and opens it (not timed), then times one `maintain` — the map pass, the
//! recopy, the swap and its fsyncs — with the default 128 MiB key map. Throughput is the dirty
//! bytes (the `.log` files below the active segment) per second.
//! `compaction/key_map` times the cleaner's key map alone: the puts of the map pass and the
//! gets of the recopy pass for 300,000 records over 100,000 distinct keys, in the default
//! 128 MiB map (a fresh one per iteration, as each cleaning of a new store gets).
//! Run with `cargo bench --bench compaction` (about a minute).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::internals::cleaner::offset_map::OffsetMap;
use strata::{Clock, ManualClock};
use tempfile::TempDir;

const NOW: i64 = 1_700_000_000_000;
const LOG_BYTES: u64 = 32 << 20;
const VALUE_BYTES: usize = 100;
const RECORDS_PER_BATCH: usize = 100;

/// xorshift, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn open(root: &Path) -> Store {
    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
    Store::open_with_clock(StoreConfig::new([root]).background_threads(false), clock).unwrap()
}

/// Copies a directory tree with `std::fs`.
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A closed store with ~32 MiB of dirty records over `keys` distinct keys; returns it with the
/// dirty bytes.
fn template(keys: u64) -> (TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("segment.bytes".to_owned(), (8u64 << 20).to_string());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ keys);
    let value: Vec<u8> = (0..VALUE_BYTES).map(|i| b'a' + (i % 26) as u8).collect();
    while log.size_bytes() < LOG_BYTES {
        let batch: Vec<Record> = (0..RECORDS_PER_BATCH)
            .map(|_| {
                let key = format!("key-{:06}", rng.next() % keys);
                Record::new(key, value.clone()).timestamp(NOW)
            })
            .collect();
        log.append(&batch).unwrap();
    }
    log.roll().unwrap();
    let dirty = log.size_bytes();
    log.append(&[Record::new("key-active", "v").timestamp(NOW)]).unwrap();
    drop(log);
    store.close().unwrap();
    (dir, dirty)
}

fn cleaner(c: &mut Criterion) {
    let mut group = c.benchmark_group("compaction/maintain");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for keys in [100u64, 10_000, 100_000] {
        let (tpl, dirty) = template(keys);
        group.throughput(Throughput::Bytes(dirty));
        group.bench_function(format!("{keys}_keys"), |b| {
            b.iter_batched(
                || {
                    let root = tempfile::tempdir().unwrap();
                    copy_dir(tpl.path(), root.path());
                    let store = open(root.path());
                    (root, store)
                },
                |(root, store)| {
                    let report = store.maintain(None).unwrap();
                    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
                    black_box(report);
                    (root, store)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn key_map(c: &mut Criterion) {
    const RECORDS: u64 = 300_000;
    const KEYS: u64 = 100_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let keys: Vec<Vec<u8>> =
        (0..RECORDS).map(|_| format!("key-{:06}", rng.next() % KEYS).into_bytes()).collect();
    let mut group = c.benchmark_group("compaction/key_map");
    group.sample_size(10).throughput(Throughput::Elements(RECORDS));
    group.bench_function("put_then_get/100000_keys/128MiB", |b| {
        b.iter_batched(
            || OffsetMap::new(128 << 20, 0.9),
            |mut map| {
                for (o, k) in keys.iter().enumerate() {
                    assert!(map.put(k, o as i64));
                }
                let mut latest = 0usize;
                for (o, k) in keys.iter().enumerate() {
                    latest += usize::from(map.get(k) == Some(o as i64));
                }
                black_box(latest)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, cleaner, key_map);
criterion_main!(benches);
