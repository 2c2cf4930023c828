//! One-run peer comparison of strata against other Rust logs and against the
//! raw file and memory ceilings. See README.md for what is measured and why.
//!
//! Usage: `cargo run --release [-- --records N --reps N --only NAME --out PATH]`;
//! `cargo run --release -- --durable` runs only the durable-append workload ([`durable`]).

mod durable;
mod engines;
mod report;
mod workload;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use engines::{Durability, Spec};
use workload::{SYNC_EVERY_BATCHES, Workload};

/// One repetition's numbers for one engine. Throughputs in payload MB/s (10^6 bytes).
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub append: f64,
    pub append_fsync: Option<f64>,
    /// Encoding every batch without appending (where separable).
    pub encode_only: Option<f64>,
    pub seq_warm: f64,
    pub seq_warm_checked: Option<f64>,
    pub seq_cold: Option<f64>,
    pub random_us: f64,
    pub disk_bytes: u64,
}

struct Args {
    records: usize,
    reps: usize,
    only: Option<String>,
    out: String,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        records: 1_000_000,
        reps: 3,
        only: None,
        out: concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md").to_string(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => a.records = value()?.parse()?,
            "--reps" => a.reps = value()?.parse()?,
            "--only" => a.only = Some(value()?),
            "--out" => a.out = value()?,
            _ => bail!("unknown argument {flag}"),
        }
    }
    ensure!(a.reps > 0, "--reps must be positive");
    Ok(a)
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--durable") {
        return durable::main();
    }
    let started = Instant::now();
    let args = parse_args()?;
    let specs: Vec<Spec> = engines::all()
        .into_iter()
        .filter(|s| args.only.as_ref().is_none_or(|o| s.name.contains(o.as_str())))
        .collect();
    eprintln!("generating {} records...", args.records);
    let w = Workload::new(args.records);
    let cold = drop_caches();
    eprintln!("page cache drop: {}", if cold { "works" } else { "not available" });

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); specs.len()];
    // Repetitions outermost, so that slow drift of a shared machine is spread over every engine.
    for rep in 0..args.reps {
        for (spec, out) in specs.iter().zip(samples.iter_mut()) {
            eprint!("rep {}/{} {:<32}", rep + 1, args.reps, spec.name);
            let s = run(spec, &w, cold).with_context(|| spec.name)?;
            eprintln!(
                " append {:>7.1} MB/s, fsync'd {:>7}, seq {:>7.1}, cold {:>7}, random {:>6.2} us",
                s.append,
                s.append_fsync.map_or("-".into(), |v| format!("{v:.1}")),
                s.seq_warm,
                s.seq_cold.map_or("-".into(), |v| format!("{v:.1}")),
                s.random_us
            );
            out.push(s);
        }
    }

    let md = report::render(&report::Context {
        specs: &specs,
        samples: &samples,
        workload: &w,
        cold,
        elapsed: started.elapsed(),
        command: command_line(),
    });
    println!("{md}");
    std::fs::write(&args.out, &md).with_context(|| args.out.clone())?;
    eprintln!("wrote {} in {:.0?}", args.out, started.elapsed());
    Ok(())
}

/// One repetition for one engine: append, warm scan, random reads, cold scan,
/// then the fsync'd append into a fresh directory.
fn run(spec: &Spec, w: &Workload, cold: bool) -> Result<Sample> {
    let payload = w.payload_bytes() as f64;
    let mbps = |d: Duration| payload / d.as_secs_f64() / 1e6;
    let mut s = Sample::default();

    // Dirty pages of the previous engine must not be written back during this one.
    os_sync();
    let dir = tempfile::Builder::new().prefix("strata-compare-").tempdir_in("/tmp")?;
    let mut e = (spec.open)(dir.path(), false)?;
    let t = Instant::now();
    for b in 0..w.batches() {
        e.append(w, b)?;
    }
    s.append = mbps(t.elapsed());
    if let Some(d) = e.encode_only(w) {
        s.encode_only = Some(mbps(d?));
    }

    let t = Instant::now();
    let got = e.scan()?;
    s.seq_warm = mbps(t.elapsed());
    check_scan(got, w)?;
    let t = Instant::now();
    if let Some(got) = e.scan_checked() {
        let d = t.elapsed();
        check_scan(got?, w)?;
        s.seq_warm_checked = Some(mbps(d));
    }

    let t = Instant::now();
    let mut sum = 0u64;
    for &o in &w.random_offsets {
        sum += u64::from(e.get(o)?);
    }
    s.random_us = t.elapsed().as_secs_f64() * 1e6 / w.random_offsets.len() as f64;
    ensure!(sum == w.random_sum, "random reads returned wrong values");
    e.close()?;
    s.disk_bytes = disk_usage(dir.path())?;

    if spec.on_disk && cold {
        os_sync();
        ensure!(drop_caches(), "page cache drop stopped working");
        // Opening is not timed; the scan that follows is.
        let mut e = (spec.open)(dir.path(), true)?;
        let t = Instant::now();
        let got = e.scan()?;
        s.seq_cold = Some(mbps(t.elapsed()));
        check_scan(got, w)?;
        e.close()?;
    }
    drop(dir);

    if spec.durability != Durability::None {
        os_sync();
        let dir = tempfile::Builder::new().prefix("strata-compare-").tempdir_in("/tmp")?;
        let mut e = (spec.open)(dir.path(), false)?;
        let t = Instant::now();
        for b in 0..w.batches() {
            if (b + 1) % SYNC_EVERY_BATCHES == 0 || b + 1 == w.batches() {
                e.append_durable(w, b)?;
            } else {
                e.append(w, b)?;
            }
        }
        s.append_fsync = Some(mbps(t.elapsed()));
        e.close()?;
    }
    Ok(s)
}

fn check_scan((n, sum): (u64, u64), w: &Workload) -> Result<()> {
    ensure!(n == w.records as u64, "scan returned {n} records, expected {}", w.records);
    ensure!(sum == w.scan_sum, "scan returned wrong values");
    Ok(())
}

fn os_sync() {
    let _ = Command::new("sync").status();
}

/// Empties the page cache (root only; some sandboxes refuse it).
fn drop_caches() -> bool {
    os_sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Bytes allocated on disk under `dir` (sparse preallocations count as what they use).
fn disk_usage(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { disk_usage(&entry.path())? } else { meta.blocks() * 512 };
    }
    Ok(total)
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "cd benches/compare && cargo run --release".into()
    } else {
        format!("cd benches/compare && cargo run --release -- {}", args.join(" "))
    }
}
