//! Drives strata's read hot paths in a loop, for profilers (callgrind, perf):
//! builds a log shaped like `benches/compare`'s workload (8-byte keys,
//! 100-byte values, batches of 100), then runs one of
//!
//! - `point`: point reads at pseudo-random offsets, each decoding the one
//!   record as an owned `RecordRef` (`Fetched::records`);
//! - `pointview`: the same reads taking the record as a borrowed view
//!   (`Fetched::record_batches`), as `benches/compare` reads;
//! - `latency`: the `pointview` reads timed one by one, printing p50 and p99;
//! - `crcfloor`: the CRC check alone of random batches (copied out of the
//!   log, more bytes than the CPU caches hold), timed one by one: what a
//!   point read cannot go below;
//! - `scan`: full scans touching every key and value (`Fetched::records`);
//! - `views`: full scans with the borrowed views (`Fetched::record_batches`);
//! - `crc`: every batch's CRC checked, no record decoded (`Fetched::batches`
//!   and `BatchView::validate`);
//! - `fetch`: the 1 MiB `Log::read`s of a scan alone, nothing checked;
//! - `first`: one `views` pass right after the appends (what
//!   `benches/compare` times), with and without the map's pages set up
//!   ahead of the reader (`io::ahead`), alternately, N times each.
//!
//! A fourth argument `producer` builds idempotent producers' batches.
//!
//! Scans touch each record as `benches/compare` does (both lengths, the last
//! key byte, the first and last value bytes), so the count is strata's work
//! rather than the loop's.
//!
//! ```text
//! cargo build --release --example read_loop
//! valgrind --tool=callgrind --toggle-collect='read_loop::run_*' \
//!     target/release/examples/read_loop point 100000 20000
//! ```
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use strata::BatchBuilder;
use strata::LogConfig;
use strata::{Clock, ManualClock};
use strata::{LoadOptions, Log};

const KEY: usize = 8;
const VALUE: usize = 100;
const PER_BATCH: usize = 100;

/// Builds the log; `producer` makes every batch an idempotent producer's
/// (records then carry sequences, as most of a modern Kafka topic's do).
fn build(log: &Log, records: usize, producer: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut payload = [0u8; KEY + VALUE];
    for b in 0..records / PER_BATCH {
        let mut builder = BatchBuilder::new(0);
        if producer {
            builder = builder.producer(1, 0, (b * PER_BATCH) as i32);
        }
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

/// What a scan reads of each record: as `benches/compare`'s `touch`.
#[inline]
fn touch(key: Option<&[u8]>, value: Option<&[u8]>) -> u64 {
    let (k, v) = (key.unwrap_or_default(), value.unwrap_or_default());
    let last = |b: &[u8]| u64::from(b.last().copied().unwrap_or(0));
    (k.len() + v.len()) as u64 + last(k) + u64::from(v.first().copied().unwrap_or(0)) + last(v)
}

#[inline(never)]
fn run_crc(log: &Log, passes: usize) -> Result<u64, Box<dyn std::error::Error>> {
    let mut n = 0u64;
    for _ in 0..passes {
        let end = log.log_end_offset();
        let mut offset = 0;
        while offset < end {
            let f = log.read(offset, 1 << 20)?;
            for b in f.batches() {
                b.validate()?;
                n += 1;
            }
            offset = f.next_offset();
        }
    }
    Ok(n)
}

/// Full passes of `Log::read` alone (1 MiB fetches, nothing checked or
/// decoded): what finding a fetch's batches costs a scan.
#[inline(never)]
fn run_fetch(log: &Log, passes: usize) -> Result<u64, strata::Error> {
    let mut n = 0u64;
    for _ in 0..passes {
        let end = log.log_end_offset();
        let mut offset = 0;
        while offset < end {
            let f = log.read(offset, 1 << 20)?;
            n += f.size_bytes() as u64;
            offset = f.next_offset();
        }
    }
    Ok(n)
}

/// One step of the xorshift the random reads draw their offsets from.
fn xorshift(x: &mut u64) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
}

#[inline(never)]
fn run_point(log: &Log, records: u64, reads: usize) -> Result<u64, strata::Error> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut sum = 0u64;
    for _ in 0..reads {
        xorshift(&mut x);
        let offset = (x % records) as i64;
        let f = log.read(offset, 1)?;
        if let Some(r) = f.records().next() {
            let r = r?;
            sum += u64::from(r.value().and_then(|v| v.first().copied()).unwrap_or(0));
        }
    }
    Ok(sum)
}

/// The first value byte of the record at `offset`, read as a borrowed view
/// (`Fetched::record_batches`: no reference count), as `benches/compare` reads.
#[inline]
fn point_view(log: &Log, offset: i64) -> Result<u8, strata::Error> {
    let f = log.read(offset, 1)?;
    let Some(batch) = f.record_batches().next().transpose()? else { return Ok(0) };
    let r = batch.records().next().transpose()?;
    Ok(r.and_then(|r| r.value()).and_then(|v| v.first().copied()).unwrap_or(0))
}

#[inline(never)]
fn run_point_view(log: &Log, records: u64, reads: usize) -> Result<u64, strata::Error> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut sum = 0u64;
    for _ in 0..reads {
        xorshift(&mut x);
        sum += u64::from(point_view(log, (x % records) as i64)?);
    }
    Ok(sum)
}

/// Point reads as `run_point`, each timed alone: `(p50, p99)` in µs.
#[inline(never)]
fn run_latency(log: &Log, records: u64, reads: usize) -> Result<(f64, f64), strata::Error> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut times = Vec::with_capacity(reads);
    for _ in 0..reads {
        xorshift(&mut x);
        let offset = (x % records) as i64;
        let t = Instant::now();
        black_box(point_view(log, offset)?);
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times.get(((times.len() as f64 * q) as usize).min(times.len() - 1)).copied();
    Ok((at(0.5).unwrap_or(0.0), at(0.99).unwrap_or(0.0)))
}

/// The floor under `run_latency`: the CRC-32C of a random batch of the log
/// alone (`BatchView::validate` of a batch already located), timed one by
/// one over a copy of the segment, larger than the CPU caches: `(p50, p99)` in µs.
#[inline(never)]
fn run_crc_floor(log: &Log, reads: usize) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let f = log.read(0, usize::MAX)?;
    let batches: Vec<strata::BatchView> = f
        .batches()
        .map(|b| strata::BatchView::new(Bytes::copy_from_slice(b.as_bytes())))
        .collect::<Result<_, _>>()?;
    drop(f);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut times = Vec::with_capacity(reads);
    for _ in 0..reads {
        xorshift(&mut x);
        let Some(b) = batches.get((x % batches.len() as u64) as usize) else { continue };
        let t = Instant::now();
        b.validate()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times.get(((times.len() as f64 * q) as usize).min(times.len() - 1)).copied();
    Ok((at(0.5).unwrap_or(0.0), at(0.99).unwrap_or(0.0)))
}

#[inline(never)]
fn run_scan(log: &Log, passes: usize) -> Result<u64, strata::Error> {
    let mut sum = 0u64;
    for _ in 0..passes {
        let end = log.log_end_offset();
        let mut offset = 0;
        while offset < end {
            let f = log.read(offset, 1 << 20)?;
            for r in f.records() {
                let r = r?;
                sum = sum.wrapping_add(touch(r.key().map(|k| &k[..]), r.value().map(|v| &v[..])));
            }
            offset = f.next_offset();
        }
    }
    Ok(sum)
}

#[inline(never)]
fn run_views(log: &Log, passes: usize) -> Result<u64, strata::Error> {
    let mut sum = 0u64;
    for _ in 0..passes {
        let end = log.log_end_offset();
        let mut offset = 0;
        while offset < end {
            let f = log.read(offset, 1 << 20)?;
            for batch in f.record_batches() {
                let batch = batch?;
                for r in batch.records() {
                    let r = r?;
                    sum = sum.wrapping_add(touch(r.key(), r.value()));
                }
            }
            offset = f.next_offset();
        }
    }
    Ok(sum)
}

/// Nanoseconds this thread has spent on a CPU (the first field of
/// `/proc/thread-self/schedstat`); 0 where that file cannot be read.
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(0)
}

/// Page faults this thread has taken (`minflt` of `/proc/thread-self/stat`;
/// 0 where it cannot be read): the reader's own, not the populating
/// worker's.
fn thread_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    after_name.split_whitespace().nth(7).and_then(|f| f.parse().ok()).unwrap_or(0)
}

/// `first`: the scan `benches/compare` times, one pass right after the
/// appends, with the map's pages set up ahead of the reader on another
/// core (`io::ahead`, the default) and without, alternately, each pass on
/// a log built afresh (a reopened log's recovery may have mapped its
/// pages already). Prints each pass and the least and median of each
/// side: wall time and the reading thread's CPU time a record, and the
/// page faults the reading thread took itself.
fn first_scans(records: usize, reps: usize) -> Result<(), Box<dyn std::error::Error>> {
    let sides = ["ahead", "off"];
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); sides.len()];
    for _ in 0..reps {
        for (side, out) in sides.iter().zip(samples.iter_mut()) {
            strata::internals::io::ahead::set_enabled(*side == "ahead");
            let dir = tempfile::tempdir()?;
            let clock: Arc<dyn Clock> = ManualClock::new(1_700_000_000_000);
            let (log, _) =
                Log::open(dir.path(), "t", 0, LogConfig::default(), clock, LoadOptions::default())?;
            build(&log, records, false)?;
            let (t, cpu, faults) = (Instant::now(), on_cpu_ns(), thread_faults());
            black_box(run_views(&log, 1)?);
            let wall = t.elapsed().as_secs_f64() * 1e9 / records as f64;
            let cpu = on_cpu_ns().saturating_sub(cpu) as f64 / records as f64;
            let faults = thread_faults().saturating_sub(faults);
            println!("{side:5}: {wall:.2} ns a record wall, {cpu:.2} on CPU, {faults} faults");
            out.push((wall, cpu));
            log.close()?;
        }
    }
    strata::internals::io::ahead::set_enabled(true);
    for (side, s) in sides.iter().zip(samples) {
        let sorted = |f: fn(&(f64, f64)) -> f64| {
            let mut v: Vec<f64> = s.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            (v.first().copied().unwrap_or(0.0), v.get(v.len() / 2).copied().unwrap_or(0.0))
        };
        let ((wl, wm), (cl, cm)) = (sorted(|x| x.0), sorted(|x| x.1));
        println!(
            "{side:5}: ns a record wall least {wl:.2} median {wm:.2}; on CPU least {cl:.2} median {cm:.2}"
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("point", String::as_str).to_owned();
    let records: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir()?;
    let clock: Arc<dyn Clock> = ManualClock::new(1_700_000_000_000);
    let (log, _) =
        Log::open(dir.path(), "t", 0, LogConfig::default(), clock, LoadOptions::default())?;
    build(&log, records, args.get(4).is_some_and(|a| a == "producer"))?;
    if mode == "first" {
        log.close()?;
        return first_scans(records, n);
    }
    if mode == "crcfloor" {
        let (p50, p99) = run_crc_floor(&log, n)?;
        println!("crcfloor: {n} batch CRCs, p50 {p50:.2} µs, p99 {p99:.2} µs");
        return Ok(log.close()?);
    }
    if mode == "latency" {
        // One pass over every batch first, as `benches/compare` scans before
        // its point reads: the map's pages are then faulted in, and the
        // timed reads measure reading, not first touches.
        run_crc(&log, 1)?;
        let (p50, p99) = run_latency(&log, records as u64, n)?;
        println!("latency: {n} point reads, p50 {p50:.2} µs, p99 {p99:.2} µs");
        return Ok(log.close()?);
    }
    if matches!(mode.as_str(), "scan" | "views" | "crc" | "fetch") {
        // One pass at a time, each timed by the wall clock and by the time
        // the thread spent on a CPU (the kernel's schedstat): on a shared
        // machine the least of either is the pass least disturbed. The
        // first pass is also reported alone: it is the one that maps the
        // segment's pages (page faults), as `benches/compare`'s single scan
        // right after its appends does, and the later ones find them mapped.
        let (mut wall, mut cpu, mut sum) = (f64::MAX, f64::MAX, 0u64);
        let (mut first_cpu, mut first_wall) = (None, None);
        for _ in 0..n {
            let (t, c) = (Instant::now(), on_cpu_ns());
            sum = sum.wrapping_add(match mode.as_str() {
                "scan" => run_scan(&log, 1)?,
                "views" => run_views(&log, 1)?,
                "fetch" => run_fetch(&log, 1)?,
                _ => run_crc(&log, 1)?,
            });
            let on_cpu = (on_cpu_ns().saturating_sub(c)) as f64 / 1e3;
            let elapsed = t.elapsed().as_secs_f64() * 1e6;
            first_cpu.get_or_insert(on_cpu);
            first_wall.get_or_insert(elapsed);
            wall = wall.min(elapsed);
            cpu = cpu.min(on_cpu);
        }
        let per = |us: f64| us * 1e3 / records as f64;
        println!(
            "{mode}: {n} passes, least {wall:.0} µs wall ({:.2} ns a record), least {cpu:.0} µs \
             on CPU ({:.2} ns a record), first pass {:.2} ns a record on CPU, {:.2} wall, \
             checksum {}",
            per(wall),
            per(cpu),
            per(first_cpu.unwrap_or(0.0)),
            per(first_wall.unwrap_or(0.0)),
            black_box(sum)
        );
        return Ok(log.close()?);
    }
    let t = Instant::now();
    let sum = match mode.as_str() {
        "pointview" => run_point_view(&log, records as u64, n)?,
        _ => run_point(&log, records as u64, n)?,
    };
    let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{mode}: {n} iterations, {per:.3} µs each, checksum {}", black_box(sum));
    Ok(log.close()?)
}
