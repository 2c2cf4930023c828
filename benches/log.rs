//! Partition-log throughput and latency: append, zero-copy sequential reads,
//! offset and timestamp lookups, and opening a log after a clean or an unclean
//! shutdown.
//!
//! Shape: 1 KiB records, 100 records per batch (about 104 KB per batch), 8 MiB
//! segments. Each group builds its data once in a tempdir; files stay in the
//! page cache, so these measure strata's CPU and mapping costs, not the disk.
//! `log_append_small` and `log_append_durable` use issue 12's shape instead
//! (8-byte keys, 100-byte values): borrowed records, owned records (made in
//! the timed loop, and made before it), client batches, and an append with
//! a durable flush; `log_first_scan` the first scan of such a log right
//! after its appends (with and without its pages set up ahead of the
//! reader), each iteration on a log appended afresh.
//! Run with `cargo bench --bench log` (about a minute).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use strata::LogConfig;
use strata::{BatchBuilder, Record};
use strata::{Clock, ManualClock};
use strata::{LoadOptions, Log, OffsetSpec};

const NOW: i64 = 1_700_000_000_000;
const RECORDS_PER_BATCH: usize = 100;
const RECORD_VALUE: usize = 1024;
const LOG_BYTES: usize = 64 << 20;
const SEGMENT_BYTES: u64 = 8 << 20;
const FETCH_BYTES: usize = 1 << 20;

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

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

/// Text-like bytes over a 16-letter alphabet.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..len).map(|_| b'a' + (rng.next() % 16) as u8).collect()
}

/// A client batch of 100 1 KiB records whose timestamps start at `ts0`, one ms apart.
fn client_batch(ts0: i64, seed: u64) -> Bytes {
    let mut b = BatchBuilder::new(0);
    for i in 0..RECORDS_PER_BATCH {
        let value = payload(RECORD_VALUE, seed * 1_000 + i as u64);
        b.append(&Record::new(format!("key-{i:06}"), value).timestamp(ts0 + i as i64)).unwrap();
    }
    b.build().unwrap()
}

fn config() -> LogConfig {
    LogConfig::default().segment_bytes(SEGMENT_BYTES)
}

fn open(dir: &Path, options: LoadOptions) -> Log {
    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
    Log::open(dir, "bench", 0, config(), clock, options).unwrap().0
}

/// A closed 64 MiB log in `dir`: batches of increasing timestamps.
fn build_log(dir: &Path) -> (i64, i64) {
    let log = open(dir, LoadOptions::default());
    let batches: Vec<Bytes> = (0..16).map(|s| client_batch(NOW, s)).collect();
    let mut i = 0usize;
    while log.size_bytes() < LOG_BYTES as u64 {
        // Reuse 16 payloads; timestamps come from the batch's position.
        let ts0 = NOW + (i * RECORDS_PER_BATCH) as i64;
        let mut b = BatchBuilder::new(0);
        let view = strata::BatchView::new(batches[i % 16].clone()).unwrap();
        for (k, r) in view.records().unwrap().enumerate() {
            let r = r.unwrap();
            b.append_raw(k as i32, ts0 + k as i64, r.key(), r.value(), r.headers()).unwrap();
        }
        log.append_batch(b.build().unwrap()).unwrap();
        i += 1;
    }
    let leo = log.log_end_offset();
    log.close().unwrap();
    (leo, NOW + leo)
}

fn append(c: &mut Criterion) {
    // 32 MiB per iteration into a fresh log, so the files stay bounded.
    const PER_ITER: usize = 320;
    let batches: Vec<Bytes> = (0..16).map(|s| client_batch(NOW, s)).collect();
    let bytes: usize = (0..PER_ITER).map(|i| batches[i % 16].len()).sum();
    let mut group = c.benchmark_group("log_append");
    configure(&mut group);
    group.throughput(Throughput::BytesDecimal(bytes as u64));
    group.bench_function("append_batch/100x1KiB", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let log = open(dir.path(), LoadOptions::default());
                (dir, log)
            },
            |(dir, log)| {
                for i in 0..PER_ITER {
                    log.append_batch(batches[i % 16].clone()).unwrap();
                }
                (dir, log)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (leo, _) = build_log(dir.path());
    let log = open(dir.path(), LoadOptions::clean());
    let total = log.size_bytes();
    let mut group = c.benchmark_group("log_read");
    configure(&mut group);
    group.throughput(Throughput::BytesDecimal(total));
    group.bench_function("sequential_1MiB_fetches/64MiB", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut bytes = 0usize;
            while offset < leo {
                let f = log.read(offset, FETCH_BYTES).unwrap();
                bytes += f.size_bytes();
                offset = f.next_offset();
            }
            assert_eq!(bytes as u64, total);
            bytes
        })
    });
    group.bench_function("sequential_1MiB_fetches_iterating_records/64MiB", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut value_bytes = 0usize;
            while offset < leo {
                let f = log.read(offset, FETCH_BYTES).unwrap();
                for r in f.records() {
                    value_bytes += r.unwrap().value().map_or(0, Bytes::len);
                }
                offset = f.next_offset();
            }
            black_box(value_bytes)
        })
    });
    group.bench_function("sequential_1MiB_fetches_record_views/64MiB", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut value_bytes = 0usize;
            while offset < leo {
                let f = log.read(offset, FETCH_BYTES).unwrap();
                for batch in f.record_batches() {
                    for r in batch.unwrap().records() {
                        value_bytes += r.unwrap().value().map_or(0, <[u8]>::len);
                    }
                }
                offset = f.next_offset();
            }
            black_box(value_bytes)
        })
    });
    group.finish();
}

/// The scan `benches/compare` times: one pass of 1 MiB fetches decoded as
/// borrowed views right after the appends (108-byte records in batches of
/// 100, one 1 GiB active segment), when the segment's pages are in the
/// page cache but not yet in the reader's page table. With the pages set
/// up ahead of the reader on another core (`io::ahead`, the default) and
/// without; each iteration appends a fresh log first, untimed.
fn first_scan(c: &mut Criterion) {
    const RECORDS: usize = 400_000;
    let value = [7u8; 100];
    let mut group = c.benchmark_group("log_first_scan");
    // Each iteration appends its log first (untimed): fewer of them.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (name, on) in [("after_appends/ahead", true), ("after_appends/off", false)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    strata::internals::io::ahead::set_enabled(on);
                    let dir = tempfile::tempdir().unwrap();
                    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
                    let options = LoadOptions::default();
                    let log =
                        Log::open(dir.path(), "scan", 0, LogConfig::default(), clock, options)
                            .unwrap()
                            .0;
                    for b in 0..RECORDS / RECORDS_PER_BATCH {
                        let keys: Vec<[u8; 8]> = (0..RECORDS_PER_BATCH)
                            .map(|i| ((b * RECORDS_PER_BATCH + i) as u64).to_be_bytes())
                            .collect();
                        let records: Vec<strata::BorrowedRecord<'_>> = keys
                            .iter()
                            .map(|k| strata::BorrowedRecord::new(k, &value).timestamp(NOW))
                            .collect();
                        log.append(&records).unwrap();
                    }
                    (dir, log)
                },
                |(dir, log)| {
                    let (mut offset, mut n) = (0, 0usize);
                    while offset < log.log_end_offset() {
                        let f = log.read(offset, FETCH_BYTES).unwrap();
                        for batch in f.record_batches() {
                            for r in batch.unwrap().records() {
                                n += r.unwrap().value().map_or(0, <[u8]>::len);
                            }
                        }
                        offset = f.next_offset();
                    }
                    assert_eq!(n, RECORDS * value.len());
                    (dir, log)
                },
                BatchSize::PerIteration,
            );
        });
    }
    strata::internals::io::ahead::set_enabled(true);
    group.finish();
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (leo, max_ts) = build_log(dir.path());
    let log = open(dir.path(), LoadOptions::clean());
    assert!(log.segment_count() >= 8);
    let mut group = c.benchmark_group("log_lookup");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    let mut rng = Rng(42);
    group.bench_function("offset/random", |b| {
        b.iter(|| {
            let offset = (rng.next() % leo as u64) as i64;
            let f = log.read(offset, 1).unwrap();
            f.next_offset()
        })
    });
    // A point read: the batch holding the offset, CRC checked, records
    // before the target skipped by length, the target decoded.
    let mut rng = Rng(44);
    group.bench_function("point_read_record/random", |b| {
        b.iter(|| {
            let offset = (rng.next() % leo as u64) as i64;
            let f = log.read(offset, 1).unwrap();
            let r = f.records().next().unwrap().unwrap();
            assert_eq!(r.offset(), offset);
            r.value().map_or(0, Bytes::len)
        })
    });
    let mut rng = Rng(45);
    group.bench_function("point_read_view/random", |b| {
        b.iter(|| {
            let offset = (rng.next() % leo as u64) as i64;
            let f = log.read(offset, 1).unwrap();
            let batch = f.record_batches().next().unwrap().unwrap();
            let r = batch.records().next().unwrap().unwrap();
            assert_eq!(r.offset(), offset);
            r.value().map_or(0, <[u8]>::len)
        })
    });
    let mut rng = Rng(43);
    let span = (max_ts - NOW) as u64;
    group.bench_function("time/random", |b| {
        b.iter(|| {
            let target = NOW + (rng.next() % span) as i64;
            log.offset_for_time(OffsetSpec::Timestamp(target)).unwrap().unwrap().offset
        })
    });
    group.bench_function("time/max_timestamp", |b| {
        b.iter(|| log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap().unwrap().offset)
    });
    group.finish();
}

fn open_recover(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    build_log(dir.path());
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let mut group = c.benchmark_group("log_open");
    configure(&mut group);
    group.throughput(Throughput::BytesDecimal(bytes));
    for (name, options) in [
        ("clean/64MiB", LoadOptions::clean()),
        ("unclean_recovery_point_0/64MiB", LoadOptions::default()),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let log = open(dir.path(), options);
                    spent += start.elapsed();
                    // Seal again so every iteration opens the same files.
                    log.close().unwrap();
                }
                spent
            })
        });
    }
    group.finish();
}

/// Issue 12's append shape: 8-byte keys, 100-byte values, 100 records a batch,
/// keys and values borrowed from one payload buffer.
const SMALL_KEY: usize = 8;
const SMALL_VALUE: usize = 100;

fn small_payload(batches: usize) -> Vec<u8> {
    payload(batches * RECORDS_PER_BATCH * (SMALL_KEY + SMALL_VALUE), 7)
}

fn small_record(data: &[u8], i: usize) -> (&[u8], &[u8]) {
    let at = i * (SMALL_KEY + SMALL_VALUE);
    (&data[at..at + SMALL_KEY], &data[at + SMALL_KEY..at + SMALL_KEY + SMALL_VALUE])
}

/// The append hot paths on 100-record batches of small records: borrowed
/// records (one copy into the batch), owned records made from the same
/// slices, client batches built and appended, and an append plus a durable
/// flush (one fdatasync).
fn append_small(c: &mut Criterion) {
    use strata::BorrowedRecord;
    const PER_ITER: usize = 200;
    let data = small_payload(PER_ITER);
    let mut group = c.benchmark_group("log_append_small");
    configure(&mut group);
    group.throughput(Throughput::BytesDecimal(
        (PER_ITER * RECORDS_PER_BATCH * (SMALL_KEY + SMALL_VALUE)) as u64,
    ));
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), LoadOptions::default());
        (dir, log)
    };
    group.bench_function("borrowed_records/100x(8+100B)", |b| {
        b.iter_batched(
            fresh,
            |(dir, log)| {
                let mut batch = Vec::with_capacity(RECORDS_PER_BATCH);
                for n in 0..PER_ITER {
                    batch.clear();
                    for i in n * RECORDS_PER_BATCH..(n + 1) * RECORDS_PER_BATCH {
                        let (k, v) = small_record(&data, i);
                        batch.push(BorrowedRecord::new(k, v));
                    }
                    log.append(&batch).unwrap();
                }
                (dir, log)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("owned_records_copied_from_slices/100x(8+100B)", |b| {
        b.iter_batched(
            fresh,
            |(dir, log)| {
                let mut batch = Vec::with_capacity(RECORDS_PER_BATCH);
                for n in 0..PER_ITER {
                    batch.clear();
                    for i in n * RECORDS_PER_BATCH..(n + 1) * RECORDS_PER_BATCH {
                        let (k, v) = small_record(&data, i);
                        batch.push(Record::new(k.to_vec(), v.to_vec()));
                    }
                    log.append(&batch).unwrap();
                }
                (dir, log)
            },
            BatchSize::PerIteration,
        )
    });
    // The owned records built before the timed loop (untimed setup), each
    // key and value a `Bytes` slice of one shared buffer: `Log::append`
    // alone, which `borrowed_records` minus this isolates from the
    // caller's making and dropping of its records.
    let shared = Bytes::copy_from_slice(&data);
    group.bench_function("owned_records_built_before/100x(8+100B)", |b| {
        b.iter_batched(
            || {
                let batches: Vec<Vec<Record>> = (0..PER_ITER)
                    .map(|n| {
                        (n * RECORDS_PER_BATCH..(n + 1) * RECORDS_PER_BATCH)
                            .map(|i| {
                                let at = i * (SMALL_KEY + SMALL_VALUE);
                                Record::new(
                                    shared.slice(at..at + SMALL_KEY),
                                    shared.slice(at + SMALL_KEY..at + SMALL_KEY + SMALL_VALUE),
                                )
                            })
                            .collect()
                    })
                    .collect();
                (fresh(), batches)
            },
            |((dir, log), batches)| {
                for batch in &batches {
                    log.append(batch).unwrap();
                }
                (dir, log, batches)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("append_batch_client_built/100x(8+100B)", |b| {
        b.iter_batched(
            fresh,
            |(dir, log)| {
                for n in 0..PER_ITER {
                    let mut builder = BatchBuilder::new(0);
                    for (d, i) in (n * RECORDS_PER_BATCH..(n + 1) * RECORDS_PER_BATCH).enumerate() {
                        let (k, v) = small_record(&data, i);
                        builder.append_slices(d as i32, NOW, Some(k), Some(v), &[]).unwrap();
                    }
                    log.append_batch(builder.build().unwrap()).unwrap();
                }
                (dir, log)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("log_append_durable");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    let (dir, log) = fresh();
    let mut n = 0usize;
    group.bench_function("append_and_flush/100x(8+100B)", |b| {
        b.iter(|| {
            let batch: Vec<_> = (0..RECORDS_PER_BATCH)
                .map(|i| {
                    let (k, v) = small_record(
                        &data,
                        (n * RECORDS_PER_BATCH + i) % (PER_ITER * RECORDS_PER_BATCH),
                    );
                    BorrowedRecord::new(k, v)
                })
                .collect();
            n += 1;
            log.append(&batch).unwrap();
            log.flush().unwrap();
        })
    });
    group.finish();
    log.close().unwrap();
    drop(dir);
}

criterion_group!(benches, append, append_small, read, first_scan, lookups, open_recover);
criterion_main!(benches);
