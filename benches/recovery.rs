//! Unclean recovery of one large active segment, beside its ceiling: the
//! `benches/compare` recovery row at a size criterion can repeat.
//!
//! Shape: one 256 MiB segment (under the default 1 GiB `segment.bytes`) of
//! client batches of 100 records (8-byte key, 100-byte value), written by
//! `Log::append_batch` and closed once, so its page cache holds it as appends
//! leave it. Each iteration times `Log::open` with `clean_shutdown: false` and
//! recovery point 0 (every batch's framing and CRC checked, both indexes
//! rebuilt); the close after it is not timed. `recovery/crc32c_in_memory`
//! times the `crc32c` crate over the same bytes held in a `Vec`: the ceiling
//! issue 12 measures recovery against (one thread; strata's open sets up
//! its map's page tables on a second one, `io::populate`, so on a loaded
//! machine the ratio moves with what the scheduler gives that thread).
//! `recovery/page_table_floor` times what the kernel charges one thread
//! before any byte is checked: the segment mapped, `MADV_POPULATE_READ`
//! over it and one byte of every 4 KiB page read (the unmapping untimed, as
//! the open keeps its map). Throughput is the segment's bytes.
//! Run with `cargo bench --bench recovery` (about 45 seconds).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "support/client_batches.rs"]
mod support;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata::internals::io::ReadMap;
use strata::{LoadOptions, Log, LogConfig, SystemClock};

const SEGMENT_MIB: u64 = 256;

fn open(dir: &Path, clean: bool) -> Log {
    let options = LoadOptions::default().with_clean_shutdown(clean);
    Log::open(dir, "t", 0, LogConfig::default(), Arc::new(SystemClock), options).unwrap().0
}

/// The segment's bytes.
fn write(dir: &Path) -> Vec<u8> {
    let log = open(dir, true);
    for b in support::client_batches(16).iter().cycle() {
        if log.size_bytes() >= SEGMENT_MIB << 20 {
            break;
        }
        log.append_batch(b.clone()).unwrap();
    }
    log.close().unwrap();
    let segment = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    std::fs::read(segment).unwrap()
}

fn recovery(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = write(dir.path());
    let mut group = c.benchmark_group("recovery");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("unclean_open/256MiB", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let log = open(dir.path(), false);
                spent += start.elapsed();
                assert_eq!(log.size_bytes(), bytes.len() as u64, "recovery cut valid data");
                log.close().unwrap();
            }
            spent
        })
    });
    group.bench_function("crc32c_in_memory/256MiB", |b| {
        b.iter(|| crc32c::crc32c(black_box(&bytes)))
    });
    let segment = dir.path().join(format!("{:020}.log", 0));
    let file = std::fs::File::open(&segment).unwrap();
    let len = bytes.len();
    group.bench_function("page_table_floor/256MiB", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let map = ReadMap::map(&file, &segment, len as u64).unwrap();
                map.populate_read(0, len);
                let view = map.bytes(0, len, len);
                black_box(view.iter().step_by(4096).fold(0u8, |a, b| a ^ b));
                spent += start.elapsed();
                drop(view);
                drop(map);
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, recovery);
criterion_main!(benches);
