//! One-run peer comparison of strata against other Rust logs and against the
//! raw file and memory ceilings. See README.md for what is measured and why.
//!
//! Usage: `cargo run --release [-- --records N --reps N --only NAME[,NAME...] --out PATH
//! --warmup N --recovery-mib N --no-recovery --no-compaction --durable-chunk N]`;
//! `cargo run --release -- --durable [--reps N]` runs only the durable-append
//! workload at 1, 100 and 1,000 partitions ([`durable`]); `-- --partitions` the append
//! throughput at 1 and 1,000 partitions ([`partitions`]).

mod compaction;
mod durable;
mod engines;
mod metrics;
mod partitions;
mod recovery;
mod report;
mod targets;
mod workload;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use engines::{Durability, Spec};
use metrics::Sample;
use workload::{DURABLE_BATCHES, RECORD_BYTES, RECORDS_PER_BATCH, Workload};

pub struct Args {
    pub records: usize,
    pub reps: usize,
    /// Untimed repetitions of every engine before the timed ones.
    pub warmup: usize,
    pub only: Option<String>,
    pub out: String,
    pub recovery_mib: u64,
    pub recovery: bool,
    pub compaction: bool,
    /// Batches each engine appends durably before the next takes its turn.
    pub durable_chunk: usize,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        records: 1_000_000,
        reps: 5,
        warmup: 1,
        only: None,
        out: concat!(env!("CARGO_MANIFEST_DIR"), "/../../BENCHMARKS.md").to_string(),
        recovery_mib: 1024,
        recovery: true,
        compaction: true,
        durable_chunk: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => a.records = value()?.parse()?,
            "--reps" => a.reps = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--only" => a.only = Some(value()?),
            "--out" => a.out = value()?,
            "--recovery-mib" => a.recovery_mib = value()?.parse()?,
            "--no-recovery" => a.recovery = false,
            "--no-compaction" => a.compaction = false,
            "--durable-chunk" => a.durable_chunk = value()?.parse()?,
            _ => bail!("unknown argument {flag}"),
        }
    }
    ensure!(a.reps > 0, "--reps must be positive");
    ensure!(a.durable_chunk > 0, "--durable-chunk must be positive");
    ensure!(a.records >= DURABLE_BATCHES * RECORDS_PER_BATCH, "--records below the durable run");
    Ok(a)
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--durable") {
        return durable::main();
    }
    if std::env::args().any(|a| a == "--partitions") {
        return partitions::main();
    }
    let started = Instant::now();
    let args = parse_args()?;
    let specs: Vec<Spec> = engines::all()
        .into_iter()
        .filter(|s| args.only.as_ref().is_none_or(|o| o.split(',').any(|o| s.name.contains(o))))
        .collect();
    let names: Vec<&'static str> = specs.iter().map(|s| s.name).collect();
    eprintln!("generating {} records...", args.records);
    let w = Workload::new(args.records);

    let recovery = if args.recovery {
        Some(recovery::Setup::new(&w, args.recovery_mib, &names)?)
    } else {
        None
    };
    let compaction = if args.compaction { Some(compaction::Setup::new(&names)?) } else { None };

    // The first repetition ran at a fraction of the others' speed for every
    // engine, the memory ceiling's `Vec` included (append: memory 306 MB/s
    // against 1,070 and 1,902 in the next two; raw file 594 against 1,865 and
    // 1,945): in this VM the first touch of page-cache and heap pages the run
    // has not used before is slow, and whichever engine runs first pays it.
    // Untimed repetitions first put every phase onto pages the machine has
    // already handed out once.
    for rep in 0..args.warmup {
        for spec in &specs {
            eprintln!("warm-up {}/{} {}", rep + 1, args.warmup, spec.name);
            // Compaction works on fresh copies each time: it needs no warm-up.
            repetition(spec, &w, recovery.as_ref(), None).context("warm-up")?;
        }
    }

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); specs.len()];
    // Repetitions outermost, so that slow drift of a shared machine is spread over every engine.
    for rep in 0..args.reps {
        for (spec, out) in specs.iter().zip(samples.iter_mut()) {
            eprint!("rep {}/{} {:<18}", rep + 1, args.reps, spec.name);
            let s = repetition(spec, &w, recovery.as_ref(), compaction.as_ref())?;
            eprintln!(
                " {}",
                s.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>().join(", ")
            );
            out.push(s);
        }
        durable_row(&specs, &w, args.durable_chunk, &mut samples).context("durable row")?;
    }

    let md = report::render(&report::Context {
        specs: &specs,
        samples: &samples,
        workload: &w,
        recovery_bytes: recovery.as_ref().map(recovery::Setup::bytes),
        compaction_bytes: compaction.as_ref().map(compaction::Setup::dirty_bytes),
        elapsed: started.elapsed(),
        command: command_line(),
        warmup: args.warmup,
    });
    println!("{md}");
    std::fs::write(&args.out, &md).with_context(|| args.out.clone())?;
    eprintln!("wrote {} in {:.0?}", args.out, started.elapsed());
    Ok(())
}

/// One engine's repetition: [`run`], then recovery and compaction where set up.
fn repetition(
    spec: &Spec,
    w: &Workload,
    recovery: Option<&recovery::Setup>,
    compaction: Option<&compaction::Setup>,
) -> Result<Sample> {
    let mut s = run(spec, w).with_context(|| spec.name)?;
    if let Some(r) = recovery {
        r.run(spec.name, &mut s).with_context(|| format!("{} recovery", spec.name))?;
    }
    if let Some(c) = compaction {
        c.run(spec.name, &mut s).with_context(|| format!("{} compaction", spec.name))?;
    }
    Ok(s)
}

fn fresh_dir() -> Result<tempfile::TempDir> {
    // Dirty pages of the previous phase must not be written back during this one.
    os_sync();
    Ok(tempfile::Builder::new().prefix("strata-compare-").tempdir_in("/tmp")?)
}

/// One repetition for one engine: page-cache append then reads, client
/// batches, one final fsync, fsync per batch (each into a fresh directory).
fn run(spec: &Spec, w: &Workload) -> Result<Sample> {
    let mbps = |bytes: usize, d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    let payload = w.payload_bytes();
    let mut s = Sample::new();

    let dir = fresh_dir()?;
    let mut e = (spec.open)(dir.path(), w)?;
    let t = Instant::now();
    for b in 0..w.batches() {
        e.append(w, b)?;
    }
    s.insert(metrics::APPEND, mbps(payload, t.elapsed()));

    let t = Instant::now();
    let (n, sum) = e.scan()?;
    s.insert(metrics::SCAN, mbps(payload, t.elapsed()));
    ensure!(n == w.records as u64, "scan returned {n} records, expected {}", w.records);
    ensure!(sum == w.scan_sum, "scan returned wrong values");

    let t = Instant::now();
    if let Some(got) = e.scan_crc() {
        let d = t.elapsed();
        ensure!(got? > 0, "CRC walk checked nothing");
        s.insert(metrics::SCAN_CRC, mbps(payload, d));
    }

    let mut lat = Vec::with_capacity(w.random_offsets.len());
    let mut sum = 0u64;
    for &o in &w.random_offsets {
        let t = Instant::now();
        let v = e.get(o)?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        sum += u64::from(v);
    }
    ensure!(sum == w.random_sum, "random reads returned wrong values");
    lat.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
    // Both come from one sorted sample: a p99 below its p50 is a bug here.
    ensure!(p50 <= p99, "p50 {p50} µs above p99 {p99} µs");
    s.insert(metrics::GET_P50, p50);
    s.insert(metrics::GET_P99, p99);
    if let Some(floor) = e.get_crc_floor(&w.random_offsets) {
        let mut floor = floor?;
        floor.sort_by(f64::total_cmp);
        s.insert(metrics::GET_CRC_P50, percentile(&floor, 0.50));
        s.insert(metrics::GET_CRC_P99, percentile(&floor, 0.99));
    }
    e.close()?;
    drop(dir);

    let dir = fresh_dir()?;
    let mut e = (spec.open)(dir.path(), w)?;
    if e.prepare_client_batches(w)? {
        os_sync();
        let t = Instant::now();
        for b in 0..w.batches() {
            e.append_client_batch(b)?;
        }
        s.insert(metrics::APPEND_BATCH, mbps(payload, t.elapsed()));
    }
    e.close()?;
    drop(dir);

    let dir = fresh_dir()?;
    let mut e = (spec.open)(dir.path(), w)?;
    if e.runs_ceiling_rows() && e.prepare_client_batches(w)? {
        os_sync();
        let t = Instant::now();
        for b in 0..w.batches() {
            e.append_client_batch_crc(b)?;
        }
        s.insert(metrics::APPEND_BATCH_CRC, mbps(payload, t.elapsed()));
    }
    e.close()?;
    drop(dir);

    if spec.durability != Durability::None {
        let dir = fresh_dir()?;
        let mut e = (spec.open)(dir.path(), w)?;
        let t = Instant::now();
        for b in 0..w.batches() {
            e.append(w, b)?;
        }
        e.sync()?;
        s.insert(metrics::APPEND_FSYNC_END, mbps(payload, t.elapsed()));
        e.close()?;
        drop(dir);

        let dir = fresh_dir()?;
        let mut e = (spec.open)(dir.path(), w)?;
        if e.runs_ceiling_rows() && e.prepare_client_batches(w)? {
            os_sync();
            let t = Instant::now();
            for b in 0..w.batches() {
                e.append_client_batch(b)?;
            }
            e.sync()?;
            s.insert(metrics::APPEND_BATCH_FSYNC_END, mbps(payload, t.elapsed()));
        }
        e.close()?;
        drop(dir);
    }
    Ok(s)
}

/// The durable row (one fsync per batch) of one repetition, for every engine
/// that syncs, interleaved: each engine appends `chunk` batches
/// (`--durable-chunk`, default 1) in turn, the order rotating every round,
/// until each has appended [`DURABLE_BATCHES`]; its rate is its batches over
/// its own chunks' time. An fsync's time here is mostly the machine's other
/// I/O (a journal commit waits for whatever else is in it: 70 µs quiet,
/// milliseconds beside a build), which changes from one tenth of a second to
/// the next; run one engine after another, strata and the raw file met
/// different stretches of it and their ratio moved by 20% between runs
/// (0.63-1.58x beside other builds), and even chunks of 50 batches each
/// (0.1-0.2 s on a busy machine) left ratios from 0.3x to 3x between
/// repetitions. Batch by batch, every engine sees the same stretches (and
/// shares the file system's journal, as engines on one machine do).
fn durable_row(
    specs: &[Spec],
    w: &Workload,
    chunk: usize,
    samples: &mut [Vec<Sample>],
) -> Result<()> {
    struct Running {
        spec: usize,
        _dir: tempfile::TempDir,
        engine: Box<dyn engines::Engine>,
        took: Duration,
    }
    let mut running = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if spec.durability != Durability::None {
            let dir = fresh_dir()?;
            let engine = (spec.open)(dir.path(), w).with_context(|| spec.name)?;
            running.push(Running { spec: i, _dir: dir, engine, took: Duration::ZERO });
        }
    }
    if running.is_empty() {
        return Ok(());
    }
    os_sync();
    let n = running.len();
    for (round, start) in (0..DURABLE_BATCHES).step_by(chunk).enumerate() {
        let batches = start..(start + chunk).min(DURABLE_BATCHES);
        for k in 0..n {
            let r = &mut running[(round + k) % n];
            let t = Instant::now();
            for b in batches.clone() {
                r.engine.append_durable(w, b).with_context(|| specs[r.spec].name)?;
            }
            r.took += t.elapsed();
        }
    }
    let bytes = DURABLE_BATCHES * RECORDS_PER_BATCH * RECORD_BYTES;
    let mut line = Vec::new();
    for r in running {
        let rate = bytes as f64 / r.took.as_secs_f64() / 1e6;
        let name = specs[r.spec].name;
        r.engine.close().with_context(|| name)?;
        samples[r.spec].last_mut().context("no sample")?.insert(metrics::APPEND_FSYNC_EACH, rate);
        line.push(format!("{name} {rate:.2}"));
    }
    eprintln!("  {} (interleaved): {}", metrics::APPEND_FSYNC_EACH, line.join(", "));
    Ok(())
}

/// The `q` quantile of sorted samples (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_is_the_nearest_rank_of_sorted_samples() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.50), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn a_higher_quantile_is_never_below_a_lower_one() {
        let mut v: Vec<f64> = (0..10_000u64).map(|i| ((i * 7919) % 10_007) as f64 / 3.0).collect();
        v.sort_by(f64::total_cmp);
        let qs = [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0];
        for w in qs.windows(2) {
            assert!(percentile(&v, w[0]) <= percentile(&v, w[1]), "{w:?}");
        }
    }
}

pub fn os_sync() {
    let _ = Command::new("sync").status();
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "cd benches/compare && cargo run --release".into()
    } else {
        format!("cd benches/compare && cargo run --release -- {}", args.join(" "))
    }
}
