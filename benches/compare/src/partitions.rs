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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the three configurations `REPS` times, interleaved, and prints a table.
pub fn main() -> Result<()> {
    let configs: [(&str, usize, Option<u32>); 3] = [
        ("1 partition", 1, None),
        ("1,000, default budget", 1_000, None),
        ("1,000, budget 256", 1_000, Some(256)),
    ];
    let mut rates = vec![Vec::new(); configs.len()];
    let mut evictions = vec![0; configs.len()];
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
    }
    let base = median(rates[0].clone());
    println!("| partitions | appends/s (median of {REPS}) | vs 1 partition | evictions |");
    println!("|---|---:|---:|---:|");
    for (i, (name, _, _)) in configs.iter().enumerate() {
        let m = median(rates[i].clone());
        println!("| {name} | {m:.0} | {:.2}x | {} |", m / base, evictions[i]);
    }
    println!("\n{APPENDS} single-record appends of {VALUE_BYTES} B, one thread, round-robin.");
    Ok(())
}
