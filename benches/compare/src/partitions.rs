//! Append throughput at 1 and 1,000 partitions (issue 11, item 6: the target
//! is >= 0.9x of one partition's rate at 1,000). One thread appends
//! round-robin over the partitions, so each append lands on a different
//! partition: the worst case for anything held per partition. Two workloads:
//!
//! - single-record batches (a 1-byte key and a 100-byte value, `page_cache`
//!   durability, Kafka's default): what each append costs per partition;
//! - 100-record batches (an 8-byte key and a 100-byte value each, the shape
//!   of issue 12's append workload), built by `Log::append` from borrowed
//!   records: the per-partition costs spread over 100 records.
//!
//! Three stores are opened once: 1 partition, 1,000 partitions with the
//! default `log.open.segments.max` (a quarter of the process's open-file
//! limit, at most 4,096: every active segment stays open where `ulimit -n`
//! is 4,096 or more), and 1,000 partitions with a budget of 256 (the default
//! under `ulimit -n 1024`, so most appends reopen their segment's file,
//! evicting others).
//!
//! The raw ceiling runs beside them: a `pwrite` of as many bytes as strata
//! wrote for one append, at the end of a plain file, round-robin over 1 and
//! over 1,000 files (descriptors all open). Its 1,000-file rate over its
//! 1-file rate is what the kernel alone leaves of one file's rate, before
//! strata does anything.
//!
//! Each rep times one chunk of each configuration in turn, strata's and
//! raw's, a few seconds apart, so a shared machine's drift falls on all of
//! them alike; a ratio is the median of the reps' ratios of neighbouring
//! chunks. The report puts strata's ratio beside raw's, with the time per
//! append of each, so a reader sees how much of the drop is the kernel's.
//!
//! Usage: `cargo run --release -- --partitions [--reps N]`.

use std::collections::BTreeMap;
use std::fs::File;
use std::time::Instant;

use anyhow::{Context, Result};
use strata::{BorrowedRecord, Log, Record, Store, StoreConfig};

use crate::workload::{KEY_BYTES, RECORD_BYTES, RECORDS_PER_BATCH, Workload};

/// Single-record appends per chunk.
const APPENDS: usize = 100_000;
/// 100-record batch appends per chunk (500,000 records: 5 per partition at
/// 1,000, enough to time, little enough that writeback throttling stays out
/// of most chunks).
const BATCH_APPENDS: usize = 5_000;
/// Value bytes per single record.
const VALUE_BYTES: usize = 100;
/// Reps by default; medians are reported.
const REPS: usize = 5;

/// One store of `partitions` partitions, each appended to once.
struct Partitions {
    name: &'static str,
    _dir: tempfile::TempDir,
    store: Store,
    logs: Vec<Log>,
    /// Bytes one single-record append and one batch append wrote.
    single_bytes: usize,
    batch_bytes: usize,
}

impl Partitions {
    fn open(
        name: &'static str,
        partitions: usize,
        max_open_segments: Option<u32>,
        batches: &[Vec<BorrowedRecord<'_>>],
    ) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("strata-partitions-").tempdir_in("/tmp")?;
        let mut config = StoreConfig::new([dir.path()]);
        if let Some(max) = max_open_segments {
            config = config.log_open_segments_max(max);
        }
        let store = Store::open(config)?;
        store.create_topic("p", i32::try_from(partitions)?, &BTreeMap::new())?;
        let logs: Vec<_> = (0..partitions)
            .map(|p| store.partition("p", p as i32))
            .collect::<strata::Result<_>>()?;
        // One warm-up append of each kind per partition: every partition has its files.
        let (mut single_bytes, mut batch_bytes) = (0, 0);
        for (i, log) in logs.iter().enumerate() {
            single_bytes = log.append(&[single()])?.size;
            batch_bytes = log.append(batch_of(batches, i)?)?.size;
        }
        Ok(Partitions { name, _dir: dir, store, logs, single_bytes, batch_bytes })
    }

    /// Single-record appends a second over one chunk.
    fn singles(&self) -> Result<f64> {
        let t = Instant::now();
        for i in 0..APPENDS {
            self.logs[i % self.logs.len()].append(&[single()])?;
        }
        Ok(APPENDS as f64 / t.elapsed().as_secs_f64())
    }

    /// Batch appends a second over one chunk.
    fn batches(&self, batches: &[Vec<BorrowedRecord<'_>>]) -> Result<f64> {
        let t = Instant::now();
        for i in 0..BATCH_APPENDS {
            self.logs[i % self.logs.len()].append(batch_of(batches, i)?)?;
        }
        Ok(BATCH_APPENDS as f64 / t.elapsed().as_secs_f64())
    }
}

fn single() -> Record {
    Record::new(b"k".to_vec(), vec![b'v'; VALUE_BYTES])
}

fn batch_of<'a, 'w>(
    batches: &'a [Vec<BorrowedRecord<'w>>],
    i: usize,
) -> Result<&'a [BorrowedRecord<'w>]> {
    Ok(batches.get(i % batches.len().max(1)).context("no batches")?)
}

/// `files` plain files written at their ends.
struct Raw {
    _dir: tempfile::TempDir,
    files: Vec<(File, u64)>,
}

impl Raw {
    fn open(files: usize) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("strata-partitions-raw-").tempdir_in("/tmp")?;
        let files = (0..files)
            .map(|i| File::create(dir.path().join(format!("{i}.log"))).map(|f| (f, 0)))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Raw { _dir: dir, files })
    }

    /// Writes a second of `appends` `pwrite`s of `bytes` bytes at the end of
    /// the files, round-robin.
    fn run(&mut self, bytes: usize, appends: usize) -> Result<f64> {
        use std::os::unix::fs::FileExt;
        let buf = vec![b'v'; bytes];
        let n = self.files.len();
        let t = Instant::now();
        for i in 0..appends {
            let (f, end) = &mut self.files[i % n];
            f.write_all_at(&buf, *end)?;
            *end += bytes as u64;
        }
        Ok(appends as f64 / t.elapsed().as_secs_f64())
    }
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

/// Rates of one workload: `[store][rep]` and `[1 file, 1,000 files][rep]`.
struct Rates {
    strata: Vec<Vec<f64>>,
    raw: [Vec<f64>; 2],
}

impl Rates {
    fn new(stores: usize) -> Self {
        Rates { strata: vec![Vec::new(); stores], raw: [Vec::new(), Vec::new()] }
    }

    /// The median over reps of each rep's `a / b`.
    fn paired(a: &[f64], b: &[f64]) -> f64 {
        median(&a.iter().zip(b).map(|(a, b)| a / b).collect::<Vec<_>>())
    }

    fn print(&self, title: &str, bytes: usize, stores: &[Partitions], reps: usize) {
        let base = &self.strata[0];
        let (raw1, raw1000) = (&self.raw[0], &self.raw[1]);
        println!("\n{title} ({bytes} B written per append), medians of {reps} reps:\n");
        println!("| configuration | appends/s | ns/append | vs 1 partition | evictions |");
        println!("|---|---:|---:|---:|---:|");
        for (s, rates) in stores.iter().zip(&self.strata) {
            let m = median(rates);
            println!(
                "| {} | {m:.0} | {:.0} | {:.2}x | {} |",
                s.name,
                1e9 / m,
                Self::paired(rates, base),
                s.store.resource_stats().evictions
            );
        }
        for (name, rates) in [("raw pwrite, 1 file", raw1), ("raw pwrite, 1,000 files", raw1000)] {
            let m = median(rates);
            println!(
                "| {name} | {m:.0} | {:.0} | {:.2}x of 1 file | |",
                1e9 / m,
                Self::paired(rates, raw1)
            );
        }
        let (s1, s1000) = (median(base), median(&self.strata[1]));
        let (r1, r1000) = (median(raw1), median(raw1000));
        println!(
            "\n1,000 / 1 (default budget): strata {:.2}x, raw pwrite {:.2}x (the kernel alone). \
             Time per append: strata {:.0} -> {:.0} ns (+{:.0}), raw {:.0} -> {:.0} ns (+{:.0}); \
             strata above raw: {:.0} ns at 1 partition, {:.0} ns at 1,000.",
            Self::paired(&self.strata[1], base),
            Self::paired(raw1000, raw1),
            1e9 / s1,
            1e9 / s1000,
            1e9 / s1000 - 1e9 / s1,
            1e9 / r1,
            1e9 / r1000,
            1e9 / r1000 - 1e9 / r1,
            1e9 / s1 - 1e9 / r1,
            1e9 / s1000 - 1e9 / r1000
        );
    }
}

/// Opens the stores and raw files once, times `--reps` (default 5) rounds
/// of one chunk per configuration, and prints a table per workload.
pub fn main() -> Result<()> {
    let reps = reps()?.max(1);
    let w = Workload::new(RECORDS_PER_BATCH * 8);
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
    eprintln!("opening the stores (1, 1,000 and 1,000 partitions)...");
    let stores = [
        Partitions::open("1 partition", 1, None, &batches)?,
        Partitions::open("1,000, default budget", 1_000, None, &batches)?,
        Partitions::open("1,000, budget 256", 1_000, Some(256), &batches)?,
    ];
    let budget = stores[1].store.resource_stats().max_open_segments;
    eprintln!("default budget: {budget} open segments");
    let (single_bytes, batch_bytes) = (stores[0].single_bytes, stores[0].batch_bytes);
    let mut raw = [Raw::open(1)?, Raw::open(1_000)?];
    let mut single = Rates::new(stores.len());
    let mut batch = Rates::new(stores.len());
    for rep in 0..reps {
        for (s, rates) in stores.iter().zip(&mut single.strata) {
            rates.push(s.singles()?);
        }
        for (r, rates) in raw.iter_mut().zip(&mut single.raw) {
            rates.push(r.run(single_bytes, APPENDS)?);
        }
        for (s, rates) in stores.iter().zip(&mut batch.strata) {
            rates.push(s.batches(&batches)?);
        }
        for (r, rates) in raw.iter_mut().zip(&mut batch.raw) {
            rates.push(r.run(batch_bytes, BATCH_APPENDS)?);
        }
        let last = |v: &Vec<f64>| v.last().copied().unwrap_or(f64::NAN);
        eprintln!(
            "rep {}/{reps}: single/s {:.0} {:.0} {:.0}, raw {:.0} {:.0}; batches/s {:.0} {:.0} {:.0}, raw {:.0} {:.0}",
            rep + 1,
            last(&single.strata[0]),
            last(&single.strata[1]),
            last(&single.strata[2]),
            last(&single.raw[0]),
            last(&single.raw[1]),
            last(&batch.strata[0]),
            last(&batch.strata[1]),
            last(&batch.strata[2]),
            last(&batch.raw[0]),
            last(&batch.raw[1]),
        );
    }
    single.print("Single-record appends", single_bytes, &stores, reps);
    batch.print("100-record batch appends", batch_bytes, &stores, reps);
    println!(
        "\nOne thread, round-robin over the partitions, {APPENDS} single-record or \
         {BATCH_APPENDS} batch appends per chunk; raw: a pwrite of the bytes strata wrote per \
         append at each file's end, round-robin over plain files. Evictions count both workloads."
    );
    for s in stores {
        s.store.close()?;
    }
    Ok(())
}
