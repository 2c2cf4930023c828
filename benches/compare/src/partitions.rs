//! Append throughput at 1 and 1,000 partitions (issue 11, item 6: the target
//! is >= 0.9x of one partition's rate at 1,000). One thread appends
//! round-robin over the partitions, so each append lands on a different
//! partition: the worst case for anything held per partition. Two workloads
//! run on the same store, one after the other:
//!
//! - single-record batches (a 1-byte key and a 100-byte value, `page_cache`
//!   durability, Kafka's default): what each append costs per partition;
//! - 100-record batches (an 8-byte key and a 100-byte value each, the shape
//!   of issue 12's append workload), built by `Log::append` from borrowed
//!   records: the per-partition costs spread over 100 records.
//!
//! At 1,000 partitions each runs twice: with the default
//! `log.open.segments.max` (a quarter of the process's open-file limit, at
//! most 4,096: every active segment stays open where `ulimit -n` is 4,096 or
//! more) and with a budget of 256 (the default under `ulimit -n 1024`, so
//! most appends reopen their segment's file, evicting others).
//!
//! The raw ceiling runs beside each workload: a `pwrite` of as many bytes as
//! strata wrote for one append, at the end of a plain file, round-robin over
//! 1 and over 1,000 files (descriptors all open). Its 1,000-file rate over
//! its 1-file rate is what the kernel alone leaves of one file's rate, before
//! strata does anything; the report puts it beside strata's ratio, with the
//! time per append of each, so a reader sees how much of the drop is the
//! kernel's.
//!
//! Usage: `cargo run --release -- --partitions [--reps N]`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use strata::{BorrowedRecord, Record, Store, StoreConfig};

use crate::workload::{KEY_BYTES, RECORD_BYTES, RECORDS_PER_BATCH, Workload};

/// Single-record appends per run.
const APPENDS: usize = 200_000;
/// 100-record batch appends per run (1,000,000 records, about 11 MiB a
/// second of the run at 1,000 partitions' pace: enough to time, little
/// enough that writeback throttling stays out of it).
const BATCH_APPENDS: usize = 10_000;
/// Value bytes per single record.
const VALUE_BYTES: usize = 100;
/// Runs per configuration by default; the median is reported.
const REPS: usize = 5;

/// One configuration's figures from one run.
struct Rates {
    /// Single-record appends a second.
    single: f64,
    /// 100-record batch appends a second.
    batch: f64,
    /// Bytes one single-record append wrote, and one batch append.
    single_bytes: usize,
    batch_bytes: usize,
    evictions: u64,
    budget: usize,
}

/// Both workloads on one store of `partitions` partitions.
fn run(partitions: usize, max_open_segments: Option<u32>, w: &Workload) -> Result<Rates> {
    let dir = tempfile::Builder::new().prefix("strata-partitions-").tempdir_in("/tmp")?;
    let mut config = StoreConfig::new([dir.path()]);
    if let Some(max) = max_open_segments {
        config = config.log_open_segments_max(max);
    }
    let store = Store::open(config)?;
    store.create_topic("p", i32::try_from(partitions)?, &BTreeMap::new())?;
    let logs: Vec<_> =
        (0..partitions).map(|p| store.partition("p", p as i32)).collect::<strata::Result<_>>()?;
    let value = vec![b'v'; VALUE_BYTES];
    // One warm-up append per partition: every partition has its files.
    let mut single_bytes = 0;
    for log in &logs {
        single_bytes = log.append(&[Record::new(b"k".to_vec(), value.clone())])?.size;
    }
    let t = Instant::now();
    for i in 0..APPENDS {
        logs[i % partitions].append(&[Record::new(b"k".to_vec(), value.clone())])?;
    }
    let single = APPENDS as f64 / t.elapsed().as_secs_f64();

    let batches: Vec<Vec<BorrowedRecord<'_>>> = (0..w.batches())
        .map(|b| {
            w.batch_bytes(b)
                .chunks_exact(RECORD_BYTES)
                .map(|r| {
                    let (key, value) = r.split_at(KEY_BYTES);
                    BorrowedRecord::new(key, value)
                })
                .collect()
        })
        .collect();
    let batch_of = |i: usize| batches.get(i % batches.len()).context("no batches");
    let mut batch_bytes = 0;
    for (i, log) in logs.iter().enumerate() {
        batch_bytes = log.append(batch_of(i)?)?.size;
    }
    let t = Instant::now();
    for i in 0..BATCH_APPENDS {
        logs[i % partitions].append(batch_of(i)?)?;
    }
    let batch = BATCH_APPENDS as f64 / t.elapsed().as_secs_f64();
    let evictions = store.resource_stats().evictions;
    let budget = store.resource_stats().max_open_segments;
    store.close()?;
    Ok(Rates { single, batch, single_bytes, batch_bytes, evictions, budget })
}

/// Appends per second of `appends` raw `pwrite`s of `bytes` bytes at the end
/// of one of `files` plain files, round-robin.
fn raw(files: usize, bytes: usize, appends: usize) -> Result<f64> {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::Builder::new().prefix("strata-partitions-raw-").tempdir_in("/tmp")?;
    let handles = (0..files)
        .map(|i| std::fs::File::create(dir.path().join(format!("{i}.log"))))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ends = vec![0u64; files];
    let buf = vec![b'v'; bytes];
    for (f, end) in handles.iter().zip(&mut ends) {
        f.write_all_at(&buf, *end)?;
        *end += bytes as u64;
    }
    let t = Instant::now();
    for i in 0..appends {
        let k = i % files;
        handles[k].write_all_at(&buf, ends[k])?;
        ends[k] += bytes as u64;
    }
    Ok(appends as f64 / t.elapsed().as_secs_f64())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn reps() -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--reps") {
        Some(i) => Ok(args.get(i + 1).context("--reps needs a value")?.parse()?),
        None => Ok(REPS),
    }
}

/// Runs the three configurations and the raw ceilings `--reps` times
/// (default 5), interleaved, and prints a table per workload.
pub fn main() -> Result<()> {
    let reps = reps()?.max(1);
    let configs: [(&str, usize, Option<u32>); 3] = [
        ("1 partition", 1, None),
        ("1,000, default budget", 1_000, None),
        ("1,000, budget 256", 1_000, Some(256)),
    ];
    let w = Workload::new(RECORDS_PER_BATCH * 8);
    // [config][rep]; the raw ceilings [workload][1 file, 1,000 files][rep].
    let mut single = vec![Vec::new(); configs.len()];
    let mut batch = vec![Vec::new(); configs.len()];
    let mut evictions = vec![0; configs.len()];
    let mut raw_rates = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    let (mut single_bytes, mut batch_bytes) = (0, 0);
    for rep in 0..reps {
        for (i, (name, partitions, max)) in configs.iter().enumerate() {
            let r = run(*partitions, *max, &w)?;
            eprintln!(
                "rep {}/{reps} {name:<24} {:>9.0} single/s {:>7.0} batches/s, {} evictions (budget {})",
                rep + 1,
                r.single,
                r.batch,
                r.evictions,
                r.budget
            );
            single[i].push(r.single);
            batch[i].push(r.batch);
            evictions[i] = r.evictions;
            (single_bytes, batch_bytes) = (r.single_bytes, r.batch_bytes);
        }
        for (k, (bytes, appends)) in
            [(single_bytes, APPENDS), (batch_bytes, BATCH_APPENDS)].into_iter().enumerate()
        {
            for (j, files) in [1, 1_000].into_iter().enumerate() {
                let rate = raw(files, bytes, appends)?;
                eprintln!(
                    "rep {}/{reps} raw pwrite {bytes} B, {files} files {:>9.0} writes/s",
                    rep + 1,
                    rate
                );
                raw_rates[k][j].push(rate);
            }
        }
    }
    let workloads = [
        ("single-record appends", &single, single_bytes, &raw_rates[0]),
        ("100-record batch appends", &batch, batch_bytes, &raw_rates[1]),
    ];
    for (title, rates, bytes, raw) in workloads {
        let base = median(&rates[0]);
        let (raw1, raw1000) = (median(&raw[0]), median(&raw[1]));
        println!("\n{title} ({bytes} B written per append), median of {reps}:\n");
        println!("| configuration | appends/s | ns/append | vs 1 partition | evictions |");
        println!("|---|---:|---:|---:|---:|");
        for (i, (name, _, _)) in configs.iter().enumerate() {
            let m = median(&rates[i]);
            println!("| {name} | {m:.0} | {:.0} | {:.2}x | {} |", 1e9 / m, m / base, evictions[i]);
        }
        for (name, m) in [("raw pwrite, 1 file", raw1), ("raw pwrite, 1,000 files", raw1000)] {
            println!("| {name} | {m:.0} | {:.0} | {:.2}x of 1 file | |", 1e9 / m, m / raw1);
        }
        let strata1000 = median(&rates[1]);
        println!(
            "\n1,000 / 1: strata {:.2}x, raw pwrite {:.2}x (the kernel alone). Per append, \
             strata minus raw: {:.0} ns at 1 partition, {:.0} ns at 1,000 (default budget).",
            strata1000 / base,
            raw1000 / raw1,
            1e9 / base - 1e9 / raw1,
            1e9 / strata1000 - 1e9 / raw1000
        );
    }
    println!(
        "\nOne thread, round-robin over the partitions; raw: a pwrite of the bytes strata wrote \
         per append at each file's end, round-robin over plain files."
    );
    Ok(())
}
