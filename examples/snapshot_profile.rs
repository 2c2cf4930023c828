//! What reading and writing a large producer-state snapshot costs in time
//! and memory: one partition whose `<offset>.snapshot` at its log end holds
//! `N` producers (strata's own encoder wrote it), opened, rolled and closed.
//!
//! ```text
//! cargo build --release --example snapshot_profile
//! target/release/examples/snapshot_profile gen DIR N   # DIR must not exist
//! /usr/bin/time -v target/release/examples/snapshot_profile run DIR
//! ```
//!
//! `gen` writes one record through `Log::append`, closes the log, then
//! replaces the close's (empty) snapshot at the log end with one of `N`
//! producers, each with one batch and a timestamp of now (none expires at
//! open). `run` then prints, for each step, its wall time, its thread's CPU
//! time (`/proc/thread-self/schedstat`), the resident set when it started and the peak resident set while it ran (`VmHWM` of
//! `/proc/self/status`, reset before each step through
//! `/proc/self/clear_refs`):
//! - `open`: `Log::open` with a clean shutdown, which reads the snapshot
//!   into the producer state;
//! - `roll`: `Log::roll` after one more record, which writes the state's
//!   snapshot (unsynced) at the new segment's base;
//! - `close`: `Log::close` after one more record, which writes the state's
//!   snapshot at the new log end, fsynced.
//!
//! `same` opens and closes with nothing appended: the close compares the
//! state with the snapshot it was read from and writes nothing. Both `run`
//! and `same` change `DIR`: run each on a fresh copy of the generated one.
//!
//! A step's cost past the state it holds is its peak less its starting
//! resident set. The file is about 46 bytes a producer (20 million: 920 MB).
#![allow(clippy::print_stdout, reason = "a profiling tool prints what it measured")]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use strata::internals::format::producer_snapshot::{SnapshotEntry, encode};
use strata::{LoadOptions, Log, LogConfig, Record, SystemClock};

fn open(dir: &Path) -> Log {
    let options = LoadOptions::default().with_clean_shutdown(true);
    Log::open(dir, "t", 0, LogConfig::default(), Arc::new(SystemClock), options).expect("open").0
}

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(d.as_millis()).expect("clock")
}

fn gen_dir(dir: &Path, n: i64) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let log = open(dir);
    log.append(&[Record::new("k", "v").timestamp(now_ms())]).expect("append");
    let leo = log.log_end_offset();
    log.close().expect("close");
    let now = now_ms();
    let entries: Vec<SnapshotEntry> = (0..n)
        .map(|i| SnapshotEntry {
            producer_id: 1_000 + i,
            epoch: 0,
            last_sequence: 4,
            last_offset: 0,
            offset_delta: 4,
            timestamp: now,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        })
        .collect();
    let bytes = encode(&entries);
    let path = dir.join(format!("{leo:020}.snapshot"));
    assert!(path.exists(), "the close wrote no snapshot at {leo}");
    std::fs::write(&path, &bytes).expect("write snapshot");
    println!("{}: {n} producers, {} bytes", path.display(), bytes.len());
}

/// A `kB` field of `/proc/self/status`, in MiB.
fn status_mib(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = s
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`):
/// on a shared machine wall time also measures the other processes.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Runs `f` and prints its wall and CPU time, the resident set before it and
/// its peak.
fn step<T>(name: &str, f: impl FnOnce() -> T) -> T {
    // "5" resets the peak resident set (VmHWM) to the current one.
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
    let (rss, t, cpu) = (status_mib("VmRSS:"), Instant::now(), thread_cpu_ns());
    let out = f();
    let (took, cpu) = (t.elapsed(), thread_cpu_ns() - cpu);
    let peak = status_mib("VmHWM:");
    println!(
        "{name:>5}: {:8.1} ms ({:8.1} ms CPU), RSS before {rss:7.1} MiB, peak {peak:7.1} MiB (+{:.1})",
        took.as_secs_f64() * 1e3,
        cpu as f64 / 1e6,
        peak - rss
    );
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("MODE: gen or run");
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    match mode.as_str() {
        "gen" => gen_dir(&dir, args.next().map_or(1_000_000, |n| n.parse().expect("N"))),
        "run" => {
            let log = step("open", || open(&dir));
            let one = [Record::new("k", "v").timestamp(now_ms())];
            log.append(&one).expect("append");
            step("roll", || log.roll().expect("roll"));
            log.append(&one).expect("append");
            step("close", || log.close().expect("close"));
        }
        "same" => {
            let log = step("open", || open(&dir));
            step("close", || log.close().expect("close"));
        }
        other => panic!("unknown mode {other}"),
    }
}
