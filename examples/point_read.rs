//! Point reads of one offset, for profilers and for the floor under them.
//! Builds a log shaped like `benches/compare`'s workload (1,000,000 records
//! of an 8-byte key and a 100-byte value, batches of 100: 11.7 KB each,
//! more than the CPU caches hold in all), then runs one of
//!
//! - `count N`: `N` point reads at pseudo-random offsets as
//!   `benches/compare` reads them (`Log::read_record` and the record's
//!   borrowed view), for callgrind's instruction counts;
//! - `general N`: the same reads through `Log::read(offset, 1)` and
//!   `Fetched::record_batches` (the general fetch path);
//! - `latency N`: `N` reads a row, one at a time, each timed alone, the
//!   rows drawn at random read by read so that load on the machine falls on
//!   all alike: the point read of `count`, the general path's, and the
//!   floors under them: the CRC-32C alone of a random batch (the slice of
//!   the segment's map the read would check, as `benches/compare`'s floor
//!   row); the batch's cache lines loaded and nothing computed (the memory
//!   alone); the CRC after asking for every line, for the first 24, or
//!   chunk by chunk ahead of the sum (none beats the CPU's prefetcher),
//!   or after asking for the first line of each 4 KiB page (which starts
//!   the page walks together, and does beat it);
//!   the point read and the CRC again on a batch just read (in the cache:
//!   what the read computes beside its CRC); and the CRC, walk and decode
//!   of the public batch API (`BatchView::validate`, `RecordViews::seek`).
//!   Each read goes to its own random batch, out of the caches mostly.
//!   Prints p50 and p99 (µs) of each row;
//! - `smaps N`: `N` point reads, then the segment's and index's mappings
//!   as `/proc/self/smaps` shows them (page size, huge pages).
//!
//! ```text
//! cargo build --release --example point_read
//! valgrind --tool=callgrind --toggle-collect='point_read::run_*' \
//!     target/release/examples/point_read count 20000
//! target/release/examples/point_read latency 200000
//! ```
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use strata::internals::format::crc::crc32c;
use strata::{BatchBuilder, Clock, LoadOptions, Log, LogConfig, ManualClock};

const RECORDS: usize = 1_000_000;
const KEY: usize = 8;
const VALUE: usize = 100;
const PER_BATCH: usize = 100;
/// The first byte a v2 batch's CRC covers (its attributes).
const CRC_FROM: usize = 21;

fn build(log: &Log) -> Result<(), Box<dyn std::error::Error>> {
    let mut payload = [0u8; KEY + VALUE];
    for b in 0..RECORDS / PER_BATCH {
        let mut builder = BatchBuilder::new(0);
        for d in 0..PER_BATCH {
            let i = b * PER_BATCH + d;
            payload.iter_mut().enumerate().for_each(|(j, x)| *x = (i * 31 + j) as u8);
            let key = Bytes::copy_from_slice(payload.get(..KEY).unwrap_or_default());
            let value = Bytes::copy_from_slice(payload.get(KEY..).unwrap_or_default());
            builder.append_raw(d as i32, 1_700_000_000_000, Some(&key), Some(&value), &[])?;
        }
        log.append_batch(builder.build()?)?;
    }
    Ok(())
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// The first value byte of the record at `offset`, as `benches/compare`
/// reads it.
#[inline(never)]
fn point(log: &Log, offset: i64) -> Result<u8, strata::Error> {
    let v = log.read_record(offset, |r| r.value().and_then(|v| v.first().copied()))?;
    Ok(v.flatten().unwrap_or(0))
}

/// The same through the general fetch path.
#[inline(never)]
fn general(log: &Log, offset: i64) -> Result<u8, strata::Error> {
    let f = log.read(offset, 1)?;
    let Some(batch) = f.record_batches().next().transpose()? else { return Ok(0) };
    let r = batch.records().next().transpose()?;
    Ok(r.and_then(|r| r.value()).and_then(|v| v.first().copied()).unwrap_or(0))
}

/// The CRC-32C alone of `batch` (the floor row of `benches/compare`).
#[inline(never)]
fn crc_alone(batch: &[u8]) -> u32 {
    crc32c(batch.get(CRC_FROM..).unwrap_or_default())
}

/// Every cache line of `batch` loaded, nothing computed: the memory alone.
#[inline(never)]
fn lines_alone(batch: &[u8]) -> u8 {
    batch.iter().step_by(64).fold(0, |a, &b| a ^ b)
}

fn prefetch(lines: &[u8]) {
    for b in lines.iter().step_by(64) {
        strata::internals::io::hint::prefetch(b);
    }
}

/// Every line asked for first, then the CRC.
#[inline(never)]
fn crc_prefetch_all(batch: &[u8]) -> u32 {
    prefetch(batch);
    crc_alone(batch)
}

/// The first `N` lines asked for, then the CRC.
#[inline(never)]
fn crc_prefetch_head<const N: usize>(batch: &[u8]) -> u32 {
    prefetch(batch.get(..N * 64).unwrap_or(batch));
    crc_alone(batch)
}

/// The first line of each page asked for, then the CRC.
#[inline(never)]
fn crc_page_heads(batch: &[u8]) -> u32 {
    strata::internals::io::hint::prefetch_page_heads(batch);
    crc_alone(batch)
}

/// The CRC in chunks of `C` bytes, asking for the lines `A` chunks ahead.
#[inline(never)]
fn crc_chunked<const C: usize, const A: usize>(batch: &[u8]) -> u32 {
    let body = batch.get(CRC_FROM..).unwrap_or_default();
    prefetch(body.get(..C * A).unwrap_or(body));
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    let mut at = 0;
    while at < body.len() {
        let end = (at + C).min(body.len());
        if let Some(ahead) = body.get(at + C * A..(at + C * (A + 1)).min(body.len())) {
            prefetch(ahead);
        }
        d.update(body.get(at..end).unwrap_or_default());
        at = end;
    }
    d.finalize() as u32
}

/// The batch checked (`BatchView::validate`), then walked to the record
/// and the record decoded: what the read does once it found the batch.
#[inline(never)]
fn crc_and_walk(batch: &Bytes, offset: i64) -> Result<u8, strata::FormatError> {
    let b = strata::BatchView::new(batch.clone())?;
    b.validate()?;
    let d = b.decode()?;
    let mut views = d.views();
    views.seek(offset);
    let r = views.next().transpose()?;
    Ok(r.and_then(|r| r.value()).and_then(|v| v.first().copied()).unwrap_or(0))
}

#[inline(never)]
fn run_count(log: &Log, reads: usize, general_path: bool) -> Result<u64, strata::Error> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut sum = 0u64;
    for _ in 0..reads {
        let offset = (xorshift(&mut x) % RECORDS as u64) as i64;
        let v = if general_path { general(log, offset)? } else { point(log, offset)? };
        sum += u64::from(v);
    }
    Ok(sum)
}

const ROWS: [&str; 12] = [
    "read_record",
    "read(offset, 1)",
    "CRC alone",
    "lines alone",
    "prefetch all+CRC",
    "prefetch 24+CRC",
    "CRC 1K chunks a2",
    "CRC 2K chunks a1",
    "read_record, hot",
    "CRC alone, hot",
    "CRC+walk (views)",
    "page heads+CRC",
];

fn run_latency(log: &Log, reads: usize) -> Result<(), Box<dyn std::error::Error>> {
    // Every batch as a slice of the segment's map, and its offsets.
    let all = log.read(0, usize::MAX)?;
    let batches: Vec<(i64, Bytes)> =
        all.batches().map(|b| (b.base_offset(), b.as_bytes().clone())).collect();
    // A pass over every batch first, as `benches/compare` scans before its
    // point reads: the map's pages are then in, and reads time reading.
    let warm: u8 = batches.iter().map(|(_, b)| lines_alone(b)).fold(0, |a, b| a ^ b);
    black_box(warm);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut times: [Vec<f64>; ROWS.len()] = Default::default();
    for t in &mut times {
        t.reserve(reads);
    }
    for _ in 0..reads * ROWS.len() {
        let row = (xorshift(&mut x) % ROWS.len() as u64) as usize;
        let offset = (xorshift(&mut x) % RECORDS as u64) as i64;
        let Some((_, whole)) = batches.get(offset as usize / PER_BATCH) else { continue };
        let batch: &[u8] = whole;
        let t = Instant::now();
        match row {
            0 => {
                black_box(point(log, offset)?);
            }
            1 => {
                black_box(general(log, offset)?);
            }
            2 => {
                black_box(crc_alone(batch));
            }
            3 => {
                black_box(lines_alone(batch));
            }
            4 => {
                black_box(crc_prefetch_all(batch));
            }
            5 => {
                black_box(crc_prefetch_head::<24>(batch));
            }
            6 => {
                black_box(crc_chunked::<1024, 2>(batch));
            }
            7 => {
                black_box(crc_chunked::<2048, 1>(batch));
            }
            8 | 9 => {
                // Timed again, the batch now in the cache.
                if row == 8 {
                    black_box(point(log, offset)?);
                } else {
                    black_box(crc_alone(batch));
                }
                let t = Instant::now();
                if row == 8 {
                    black_box(point(log, offset)?);
                } else {
                    black_box(crc_alone(batch));
                }
                if let Some(times) = times.get_mut(row) {
                    times.push(t.elapsed().as_secs_f64() * 1e6);
                }
                continue;
            }
            10 => {
                black_box(crc_and_walk(whole, offset)?);
            }
            _ => {
                black_box(crc_page_heads(batch));
            }
        }
        let took = t.elapsed().as_secs_f64() * 1e6;
        if let Some(times) = times.get_mut(row) {
            times.push(took);
        }
    }
    for (name, t) in ROWS.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let at = |q: f64| t.get(((t.len() as f64 * q) as usize).min(t.len() - 1)).copied();
        println!(
            "{name:>16}: p50 {:.2} µs, p99 {:.2} µs",
            at(0.5).unwrap_or(0.0),
            at(0.99).unwrap_or(0.0),
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("count", String::as_str).to_owned();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir()?;
    let clock: Arc<dyn Clock> = ManualClock::new(1_700_000_000_000);
    let (log, _) =
        Log::open(dir.path(), "t", 0, LogConfig::default(), clock, LoadOptions::default())?;
    build(&log)?;
    match mode.as_str() {
        "latency" => run_latency(&log, n)?,
        "smaps" => {
            run_count(&log, n, false)?;
            let smaps = std::fs::read_to_string("/proc/self/smaps")?;
            let mut show = false;
            for line in smaps.lines() {
                if line.contains('/')
                    || line.starts_with(|c: char| c.is_ascii_hexdigit())
                        && line.contains(' ')
                        && !line.contains(':')
                {
                    show = line.contains(".log") || line.contains(".index");
                }
                if show
                    && (line.contains(".log")
                        || line.contains(".index")
                        || line.starts_with("Rss")
                        || line.contains("PmdMapped")
                        || line.starts_with("KernelPageSize")
                        || line.starts_with("THPeligible")
                        || line.starts_with("VmFlags"))
                {
                    println!("{line}");
                }
            }
        }
        "general" | "count" => {
            let t = Instant::now();
            let sum = run_count(&log, n, mode == "general")?;
            let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            println!("{mode}: {n} reads, {per:.3} µs each, checksum {}", black_box(sum));
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(log.close()?)
}
