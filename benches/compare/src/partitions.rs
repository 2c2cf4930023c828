//! Append throughput at 1 and 1,000 partitions (issue 11, item 6: the target
//! is >= 0.9x of one partition's rate at 1,000). One thread appends
//! single-record batches (`page_cache` durability, Kafka's default) round-robin
//! over the partitions, so each append lands on a different partition: the
//! worst case for anything held per partition. At 1,000 partitions it runs
//! twice: with the default `log.open.segments.max` (a quarter of the
//! process's open-file limit, at most 4,096: every active segment stays open
//! where `ulimit -n` is 4,096 or more) and with a budget of 256 (the default
//! under `ulimit -n 1024`, so most appends reopen their segment's file,
//! evicting others).
//!
//! The raw ceiling runs beside them: a `pwrite` of one single-record batch's
//! bytes at the end of a plain file, round-robin over 1 and over 1,000 files
//! (descriptors all open). Its 1,000-file rate over its 1-file rate is what
//! the kernel alone leaves of one file's rate, before strata does anything.
//!
//! Usage: `cargo run --release -- --partitions`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use strata::{Record, Store, StoreConfig};

/// Appends per run.
const APPENDS: usize = 200_000;
/// Value bytes per record.
const VALUE_BYTES: usize = 100;
/// Runs per configuration; the median is reported.
const REPS: usize = 5;

/// Appends per second, the evictions the budget made, and the budget.
fn run(partitions: usize, max_open_segments: Option<u32>) -> Result<(f64, u64, usize)> {
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
    for log in &logs {
        log.append(&[Record::new(b"k".to_vec(), value.clone())])?;
    }
    let t = Instant::now();
    for i in 0..APPENDS {
        logs[i % partitions].append(&[Record::new(b"k".to_vec(), value.clone())])?;
    }
    let rate = APPENDS as f64 / t.elapsed().as_secs_f64();
    let evictions = store.resource_stats().evictions;
    let budget = store.resource_stats().max_open_segments;
    store.close()?;
    Ok((rate, evictions, budget))
}

/// Bytes of one single-record batch as strata writes it here: the 61-byte
/// batch header, the record's framing, a 1-byte key and the value.
const RAW_BYTES: usize = 61 + 8 + 1 + VALUE_BYTES;

/// Appends per second of a raw `pwrite` of [`RAW_BYTES`] at the end of one of
/// `files` plain files, round-robin.
fn raw(files: usize) -> Result<f64> {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::Builder::new().prefix("strata-partitions-raw-").tempdir_in("/tmp")?;
    let handles = (0..files)
        .map(|i| std::fs::File::create(dir.path().join(format!("{i}.log"))))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ends = vec![0u64; files];
    let bytes = vec![b'v'; RAW_BYTES];
    for (f, end) in handles.iter().zip(&mut ends) {
        f.write_all_at(&bytes, *end)?;
        *end += RAW_BYTES as u64;
    }
    let t = Instant::now();
    for i in 0..APPENDS {
        let k = i % files;
        handles[k].write_all_at(&bytes, ends[k])?;
        ends[k] += RAW_BYTES as u64;
    }
    Ok(APPENDS as f64 / t.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the three configurations and the raw ceiling `REPS` times,
/// interleaved, and prints a table.
pub fn main() -> Result<()> {
    let configs: [(&str, usize, Option<u32>); 3] = [
        ("1 partition", 1, None),
        ("1,000, default budget", 1_000, None),
        ("1,000, budget 256", 1_000, Some(256)),
    ];
    let mut rates = vec![Vec::new(); configs.len()];
    let mut evictions = vec![0; configs.len()];
    let mut raw_rates = [Vec::new(), Vec::new()];
    for rep in 0..REPS {
        for (i, (name, partitions, max)) in configs.iter().enumerate() {
            let (rate, ev, budget) = run(*partitions, *max)?;
            eprintln!(
                "rep {}/{REPS} {name:<30} {rate:>10.0} appends/s, {ev} evictions (budget {budget})",
                rep + 1
            );
            rates[i].push(rate);
            evictions[i] = ev;
        }
        for (i, files) in [1, 1_000].into_iter().enumerate() {
            let rate = raw(files)?;
            eprintln!("rep {}/{REPS} raw pwrite, {files} files{:<13} {rate:>10.0} appends/s", rep + 1, "");
            raw_rates[i].push(rate);
        }
    }
    let base = median(rates[0].clone());
    println!("| partitions | appends/s (median of {REPS}) | vs 1 partition | evictions |");
    println!("|---|---:|---:|---:|");
    for (i, (name, _, _)) in configs.iter().enumerate() {
        let m = median(rates[i].clone());
        println!("| {name} | {m:.0} | {:.2}x | {} |", m / base, evictions[i]);
    }
    let raw_base = median(raw_rates[0].clone());
    for (i, files) in ["1 file", "1,000 files"].into_iter().enumerate() {
        let m = median(raw_rates[i].clone());
        println!("| raw pwrite, {files} | {m:.0} | {:.2}x of 1 file | |", m / raw_base);
    }
    println!("\n{APPENDS} single-record appends of {VALUE_BYTES} B, one thread, round-robin;");
    println!("raw: pwrite of {RAW_BYTES} B at each file's end, round-robin.");
    Ok(())
}
