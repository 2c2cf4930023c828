//! Format-layer throughput: CRC-32C, batch encode, batch decode and region
//! iteration, each reported in MB/s of *uncompressed* batch bytes so codecs
//! compare on the work they save the caller, not on their output size.
//!
//! Record values are pseudo-random lowercase text (16 letters, so about half
//! entropy): compressible like real payloads, not trivially like zeros.
//! Run with `cargo bench --bench format`; the whole file takes a few minutes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use strata::internals::format::{
    BatchBuilder, BatchIter, BatchView, BorrowedRecord, Compression, Record,
};

/// Batch shapes: (name, records, value bytes).
const SHAPES: [(&str, usize, usize); 2] = [("100x100B", 100, 100), ("1000x1KiB", 1000, 1024)];

/// Deterministic text-like bytes (xorshift over a 16-letter alphabet).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 16) as u8
        })
        .collect()
}

fn records(count: usize, value_len: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            Record::new(format!("key-{i:06}"), payload(value_len, i as u64))
                .timestamp(1_700_000_000_000 + i as i64)
        })
        .collect()
}

fn build(records: &[Record], codec: Compression) -> Bytes {
    let mut b = BatchBuilder::new(0).compression(codec, None);
    for r in records {
        b.append(r).unwrap();
    }
    b.build().unwrap()
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

fn crc(c: &mut Criterion) {
    let mut group = c.benchmark_group("crc32c");
    configure(&mut group);
    // 11,736 bytes: what a batch's CRC covers in the append workload (100
    // records of an 8-byte key and a 100-byte value).
    let sizes =
        [("1KiB", 1 << 10), ("batch_11736B", 11_736), ("64KiB", 64 << 10), ("1MiB", 1 << 20)];
    for (name, len) in sizes {
        let data = payload(len, 7);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| b.iter(|| crc32c::crc32c(black_box(&data))));
        // What reads check and built batches are stamped with
        // (`format::crc::crc32c`: crc-fast once its self-test passed), on the same bytes.
        group.bench_function(format!("read_path/{name}"), |b| {
            b.iter(|| strata::internals::format::crc::crc32c(black_box(&data)))
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    configure(&mut group);
    for (shape, count, value_len) in SHAPES {
        let records = records(count, value_len);
        let raw_len = build(&records, Compression::None).len();
        group.throughput(Throughput::Bytes(raw_len as u64));
        for codec in Compression::ALL {
            group.bench_function(format!("{shape}/{}", codec.name()), |b| {
                b.iter(|| build(black_box(&records), codec))
            });
        }
    }
    group.finish();
}

/// The record encoder's two paths on the append workload's shape (100
/// records of an 8-byte key and a 100-byte value): records without headers
/// (the plain path, encoded at a cursor) and records with two headers (the
/// general path, pushed field by field).
fn encode_records(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_records");
    configure(&mut group);
    let data = payload(100 * 108, 3);
    let plain: Vec<BorrowedRecord<'_>> = data
        .chunks_exact(108)
        .map(|r| BorrowedRecord::new(&r[..8], &r[8..]).timestamp(1_700_000_000_000))
        .collect();
    let with_headers: Vec<BorrowedRecord<'_>> =
        plain.iter().map(|r| r.clone().header("trace", &r.key.unwrap_or_default()[..4])).collect();
    let with_headers: Vec<BorrowedRecord<'_>> =
        with_headers.into_iter().map(|r| r.header("src", "bench")).collect();
    group.throughput(Throughput::Elements(100));
    for (name, records) in
        [("plain/100x(8+100B)", &plain), ("two_headers/100x(8+100B)", &with_headers)]
    {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut builder = BatchBuilder::new(0).with_capacity(100 * 150);
                for r in black_box(records) {
                    builder.append(r).unwrap();
                }
                builder.build().unwrap()
            })
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    configure(&mut group);
    for (shape, count, value_len) in SHAPES {
        let records = records(count, value_len);
        let raw_len = build(&records, Compression::None).len();
        group.throughput(Throughput::Bytes(raw_len as u64));
        for codec in Compression::ALL {
            let batch = build(&records, codec);
            group.bench_function(format!("{shape}/{}", codec.name()), |b| {
                b.iter(|| {
                    let view = BatchView::new(black_box(batch.clone())).unwrap();
                    view.validate().unwrap();
                    let mut n = 0usize;
                    for r in view.records().unwrap() {
                        n += r.unwrap().value().map_or(0, Bytes::len);
                    }
                    n
                })
            });
        }
    }
    group.finish();
}

fn region_iter(c: &mut Criterion) {
    const REGION: usize = 16 << 20;
    let mut group = c.benchmark_group("region_iter");
    configure(&mut group);
    // 16 records of 1 KiB per batch, as a producer with a 16 KiB batch.size writes them.
    let mut region = Vec::with_capacity(REGION + (64 << 10));
    let batch_records = records(16, 1024);
    let mut base = 0i64;
    while region.len() < REGION {
        let mut b = BatchBuilder::new(base);
        for r in &batch_records {
            b.append(r).unwrap();
        }
        region.extend_from_slice(&b.build().unwrap());
        base += 16;
    }
    let region = Bytes::from(region);
    group.throughput(Throughput::Bytes(region.len() as u64));
    group.bench_function("validating/16MiB", |b| {
        b.iter(|| {
            let mut it = BatchIter::validating(black_box(region.clone()));
            let batches = it.by_ref().count();
            assert_eq!(it.valid_len(), region.len());
            batches
        })
    });
    group.finish();
}

/// The read path's hot loops over one region of `benches/compare`-shaped
/// batches (100 records of a 16-byte key and a 100-byte value), all in MB/s
/// of the same bytes: the crc32c crate alone (the ceiling of any CRC-checked
/// read), framing with each batch's CRC checked, and full decodes touching
/// every key and value byte through borrowed views and through owned records.
fn read_paths(c: &mut Criterion) {
    const REGION: usize = 16 << 20;
    let mut group = c.benchmark_group("read_paths");
    configure(&mut group);
    let mut region = Vec::with_capacity(REGION + (64 << 10));
    let mut base = 0i64;
    while region.len() < REGION {
        let mut b = BatchBuilder::new(base);
        for i in 0..100usize {
            let key = Bytes::from(payload(16, base as u64 + i as u64));
            let value = Bytes::from(payload(100, !(base as u64 + i as u64)));
            b.append_raw(i as i32, 1_700_000_000_000, Some(&key), Some(&value), &[]).unwrap();
        }
        region.extend_from_slice(&b.build().unwrap());
        base += 100;
    }
    let region = Bytes::from(region);
    group.throughput(Throughput::Bytes(region.len() as u64));
    group.bench_function("crc32c_only/16MiB", |b| b.iter(|| crc32c::crc32c(black_box(&region))));
    // The ceiling of a CRC-checked walk: one call per batch over exactly the
    // bytes its CRC covers, as the walk below checks them.
    let covered: Vec<std::ops::Range<usize>> = BatchIter::new(region.clone())
        .map(|(pos, b)| pos + strata::internals::format::layout::ATTRIBUTES..pos + b.size())
        .collect();
    group.bench_function("crc32c_per_batch/16MiB", |b| {
        b.iter(|| {
            covered.iter().fold(0u32, |a, r| a ^ crc32c::crc32c(black_box(&region[r.clone()])))
        })
    });
    group.bench_function("read_path_crc_per_batch/16MiB", |b| {
        b.iter(|| {
            covered.iter().fold(0u32, |a, r| {
                a ^ strata::internals::format::crc::crc32c(black_box(&region[r.clone()]))
            })
        })
    });
    group.bench_function("batch_views_crc_checked/16MiB", |b| {
        b.iter(|| {
            let mut it = BatchIter::validating(black_box(region.clone()));
            let batches = it.by_ref().count();
            assert_eq!(it.valid_len(), region.len());
            batches
        })
    });
    let touch = |k: &[u8], v: &[u8]| -> u64 {
        k.iter().chain(v).fold(0u64, |a, &x| a.wrapping_add(u64::from(x)))
    };
    group.bench_function("full_decode_views_crc_checked/16MiB", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for (_, batch) in BatchIter::validating(black_box(region.clone())) {
                let decoded = batch.decode().unwrap();
                for r in decoded.views() {
                    let r = r.unwrap();
                    sum = sum.wrapping_add(touch(r.key().unwrap(), r.value().unwrap()));
                }
            }
            sum
        })
    });
    group.bench_function("full_decode_owned_records_crc_checked/16MiB", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for (_, batch) in BatchIter::validating(black_box(region.clone())) {
                for r in batch.records().unwrap() {
                    let r = r.unwrap();
                    sum = sum.wrapping_add(touch(r.key().unwrap(), r.value().unwrap()));
                }
            }
            sum
        })
    });
    group.finish();
}

/// A point read's walk inside its batch: seek to the last record of a dense
/// 100-record batch (every record before it passed by its length) and
/// decode it, against the same seek in a batch with offset gaps (each
/// record's delta read).
fn seek(c: &mut Criterion) {
    let mut group = c.benchmark_group("seek");
    configure(&mut group);
    for (name, step) in [("dense", 1), ("gapped", 2)] {
        let mut b = BatchBuilder::new(0);
        for i in 0..100i32 {
            let key = Bytes::from(payload(8, i as u64));
            let value = Bytes::from(payload(100, !(i as u64)));
            b.append_raw(i * step, 1_700_000_000_000, Some(&key), Some(&value), &[]).unwrap();
        }
        let batch = BatchView::new(b.build().unwrap()).unwrap();
        let decoded = batch.decode().unwrap();
        let last = i64::from(99 * step);
        group.bench_function(format!("{name}/to_last_of_100x108B"), |b| {
            b.iter(|| {
                let mut views = decoded.views();
                views.seek(black_box(last));
                views.next().unwrap().unwrap().offset()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, crc, encode, encode_records, decode, region_iter, read_paths, seek);
criterion_main!(benches);
