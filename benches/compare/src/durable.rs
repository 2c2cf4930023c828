//! Durable appends at 1, 100 and 1,000 partitions: every append returns only
//! once it is on disk, either by a flush of its partition after each append
//! (`Log::append` + `Log::flush`, one fsync per append) or by group commit
//! (`strata.durability=sync`: an appender runs its partition's sync pass on
//! its own thread, and the appends that arrive while it runs share the next
//! one). With 32 appenders over 100 or 1,000 partitions no two waiting
//! appends share a file, so both modes make one `fdatasync` per append.
//!
//! `THREADS` client threads append single-record batches round-robin over the
//! partitions (thread `t` takes partitions `t, t + THREADS, ...`), so both
//! modes see the same concurrency. Usage: `cargo run --release -- --durable`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use strata::StoreConfig;
use strata::Record;
use strata::Store;

/// Concurrent appenders.
const THREADS: usize = 32;
/// Appends per run (all threads together).
const APPENDS: usize = 4_000;
/// Value bytes per record.
const VALUE_BYTES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    FlushEach,
    GroupCommit,
}

/// Appends per second for one mode at one partition count.
fn run(partitions: usize, mode: Mode) -> Result<f64> {
    let dir = tempfile::Builder::new().prefix("strata-durable-").tempdir_in("/tmp")?;
    let store = Store::open(StoreConfig::new([dir.path()]))?;
    let mut overrides = BTreeMap::new();
    if mode == Mode::GroupCommit {
        overrides.insert("strata.durability".to_owned(), "sync".to_owned());
    }
    store.create_topic("d", i32::try_from(partitions)?, &overrides)?;
    let logs: Vec<_> =
        (0..partitions).map(|p| store.partition("d", p as i32)).collect::<strata::Result<_>>()?;
    let value = vec![b'v'; VALUE_BYTES];
    let t = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let mine: Vec<_> = logs.iter().skip(t % partitions).step_by(THREADS).collect();
                let value = &value;
                s.spawn(move || -> strata::Result<()> {
                    for i in 0..APPENDS / THREADS {
                        let log = mine[i % mine.len()];
                        log.append(&[Record::new(b"k".to_vec(), value.clone())])?;
                        if mode == Mode::FlushEach {
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
    store.close()?;
    Ok(APPENDS as f64 / elapsed.as_secs_f64())
}

/// Runs every combination and prints a Markdown table.
pub fn main() -> Result<()> {
    let started = Instant::now();
    let mut rows = Vec::new();
    for partitions in [1, 100, 1_000] {
        let flush = run(partitions, Mode::FlushEach).context("flush each")?;
        let group = run(partitions, Mode::GroupCommit).context("group commit")?;
        eprintln!(
            "{partitions:>5} partitions: flush each {flush:>8.0}/s, group commit {group:>8.0}/s"
        );
        rows.push((partitions, flush, group));
    }
    println!("| partitions | flush per append (appends/s) | group commit (appends/s) | ratio |");
    println!("|---:|---:|---:|---:|");
    for (p, f, g) in rows {
        println!("| {p} | {f:.0} | {g:.0} | {:.1}x |", g / f);
    }
    println!(
        "\n{THREADS} threads, {APPENDS} single-record appends of {VALUE_BYTES} B per run; {:.0?} in all.",
        started.elapsed().max(Duration::ZERO)
    );
    Ok(())
}
