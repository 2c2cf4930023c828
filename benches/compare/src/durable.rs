//! Durable appends at 1, 100 and 1,000 partitions: every append returns only
//! once it is on disk, in three ways:
//! - **per-append fsync**: `flush.messages=1` (Kafka's per-message flush):
//!   each append syncs its partition before it returns, holding the append
//!   lock, so no two appends share an fsync;
//! - **append + flush**: `Log::append` then `Log::flush`; a flush whose
//!   records a concurrent pass already covered syncs nothing, so appenders of
//!   one partition share passes by accident of timing;
//! - **group commit**: `strata.durability=sync`: an appender runs its
//!   partition's sync pass on its own thread, and the appends that arrive
//!   while it runs share the next one.
//!
//! Group commit can only share a pass between appends waiting on the same
//! partition at the same time, so the workload has `THREADS` appenders each
//! picking the partition of every append at random (one seeded sequence per
//! thread, the same in every mode), as keyed producers would: at 1 partition
//! all of them wait on one log, at 1,000 two rarely meet. Beside each rate:
//! the sync passes per acknowledged append, from the store's
//! [`strata::Store::sync_passes`] (one `fdatasync` each here: no roll).
//! Usage: `cargo run --release -- --durable`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use strata::Record;
use strata::Store;
use strata::StoreConfig;

/// Concurrent appenders.
const THREADS: usize = 16;
/// Appends per run (all threads together).
const APPENDS: usize = 4_000;
/// Value bytes per record.
const VALUE_BYTES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    PerAppendFsync,
    AppendThenFlush,
    GroupCommit,
}

/// One mode at one partition count.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    rate: f64,
    syncs_per_append: f64,
}

/// The partition of each of a thread's appends: xorshift64 seeded by the
/// thread, uniform over `partitions`.
fn partition_sequence(thread: usize, partitions: usize, n: usize) -> Vec<usize> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (thread as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % partitions as u64) as usize
        })
        .collect()
}

fn run(partitions: usize, mode: Mode) -> Result<Outcome> {
    let dir = tempfile::Builder::new().prefix("strata-durable-").tempdir_in("/tmp")?;
    let store = Store::open(StoreConfig::new([dir.path()]))?;
    let mut overrides = BTreeMap::new();
    match mode {
        Mode::PerAppendFsync => overrides.insert("flush.messages".to_owned(), "1".to_owned()),
        Mode::AppendThenFlush => None,
        Mode::GroupCommit => overrides.insert("strata.durability".to_owned(), "sync".to_owned()),
    };
    store.create_topic("d", i32::try_from(partitions)?, &overrides)?;
    let logs: Vec<_> = (0..partitions)
        .map(|p| store.partition("d", i32::try_from(p).unwrap_or(i32::MAX)))
        .collect::<strata::Result<_>>()?;
    let sequences: Vec<_> =
        (0..THREADS).map(|t| partition_sequence(t, partitions, APPENDS / THREADS)).collect();
    let value = vec![b'v'; VALUE_BYTES];
    let passes_before = store.sync_passes();
    let t = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = sequences
            .iter()
            .map(|sequence| {
                let (logs, value) = (&logs, &value);
                s.spawn(move || -> strata::Result<()> {
                    for &p in sequence {
                        let log = &logs[p];
                        log.append(&[Record::new(b"k".to_vec(), value.clone())])?;
                        if mode == Mode::AppendThenFlush {
                            log.flush()?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("append thread panicked"))??;
        }
        Ok(())
    })?;
    let elapsed = t.elapsed();
    let appends = (APPENDS / THREADS * THREADS) as f64;
    let passes = store.sync_passes() - passes_before;
    store.close()?;
    Ok(Outcome { rate: appends / elapsed.as_secs_f64(), syncs_per_append: passes as f64 / appends })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The median of `v` (sorted in place; `v` is not empty).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `--reps N` from the command line (default 3).
fn reps() -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--reps") {
        Some(i) => {
            let n: usize = args.get(i + 1).context("--reps needs a value")?.parse()?;
            anyhow::ensure!(n > 0, "--reps must be positive");
            Ok(n)
        }
        None => Ok(3),
    }
}

/// Runs every combination `--reps` times (the modes in a rotated order each
/// rep, so none always runs right after another's files were removed) and
/// prints a Markdown table of the medians.
pub fn main() -> Result<()> {
    let started = Instant::now();
    let reps = reps()?;
    let load_before = load_average();
    let modes = [Mode::PerAppendFsync, Mode::AppendThenFlush, Mode::GroupCommit];
    let mut rows = Vec::new();
    for partitions in [1, 100, 1_000] {
        // Per mode: rates, syncs per append, and group / per-append of each rep.
        let mut rates = [Vec::new(), Vec::new(), Vec::new()];
        let mut syncs = [Vec::new(), Vec::new(), Vec::new()];
        let mut ratios = Vec::new();
        for rep in 0..reps {
            let mut outcomes = [None; 3];
            for k in 0..modes.len() {
                let m = (rep + k) % modes.len();
                let mode = modes[m];
                let o = run(partitions, mode).with_context(|| format!("{mode:?}"))?;
                eprintln!(
                    "{partitions:>5} partitions, rep {rep}: {mode:?} {:>7.0}/s ({:.2} syncs/append)",
                    o.rate, o.syncs_per_append
                );
                outcomes[m] = Some(o);
            }
            for (m, o) in outcomes.iter().enumerate() {
                let o = o.context("a mode did not run")?;
                rates[m].push(o.rate);
                syncs[m].push(o.syncs_per_append);
            }
            if let [Some(each), _, Some(group)] = outcomes {
                ratios.push(group.rate / each.rate);
            }
        }
        let cells: Vec<(f64, f64)> =
            (0..modes.len()).map(|m| (median(&mut rates[m]), median(&mut syncs[m]))).collect();
        rows.push((partitions, cells, median(&mut ratios)));
    }
    println!(
        "| partitions | per-append fsync (appends/s) | syncs/append | append + flush (appends/s) \
         | syncs/append | group commit (appends/s) | syncs/append | group / per-append |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (p, cells, ratio) in rows {
        let cells: Vec<String> =
            cells.iter().map(|(rate, syncs)| format!("{rate:.0} | {syncs:.2}")).collect();
        println!("| {p} | {} | {ratio:.1}x |", cells.join(" | "));
    }
    println!(
        "\nMedians of {reps} reps (group / per-append: the median of each rep's ratio). {THREADS} \
         appender threads, each append to a random partition; {APPENDS} single-record appends of \
         {VALUE_BYTES} B per run; per-append fsync is `flush.messages=1`, append + flush is \
         `Log::append` then `Log::flush`, group commit is `strata.durability=sync`; syncs/append \
         is `Store::sync_passes` over the appends. Load average {load_before} before, {} after; \
         {:.0?} in all.",
        load_average(),
        started.elapsed()
    );
    Ok(())
}
