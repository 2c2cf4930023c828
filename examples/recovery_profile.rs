//! Unclean recovery of one large segment, made for a profiler: the
//! `benches/compare` recovery row (`Log::open` with `clean_shutdown: false`
//! and recovery point 0, which re-validates every batch and rebuilds the
//! indexes) without the rest of the comparison.
//!
//! ```text
//! cargo build --release --example recovery_profile
//! target/release/examples/recovery_profile DIR [MIB] [REPS]
//! perf stat -e page-faults,dTLB-load-misses target/release/examples/recovery_profile DIR 1024 3
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='recovery_profile::recover*' \
//!     target/release/examples/recovery_profile DIR 64 1
//! ```
//!
//! The first run into `DIR` (which must not exist, or hold the log an
//! earlier run wrote) writes `MIB` MiB (default 1024) of client batches of
//! 100 records (8-byte key, 100-byte value) through `Log::append_batch`
//! and closes the log; every run then times `REPS` (default 3) unclean opens
//! of it and prints MiB/s of segment bytes for each, by wall time and by
//! the opening thread's CPU time, then the mean wall time and the mean CPU
//! time of the whole process (which counts recovery's page-table helper
//! thread, `strata::internals::io::populate`). The segment stays in the
//! page cache between runs (warm recovery, as in `benches/compare`).
#![allow(clippy::print_stdout, reason = "a profiling tool prints what it measured")]
#![allow(clippy::indexing_slicing, reason = "fixed-size slices of its own buffer")]

#[path = "../benches/support/client_batches.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use strata::{LoadOptions, Log, LogConfig, SystemClock};

fn open(dir: &Path, clean: bool) -> (Log, strata::LoadReport) {
    let options = LoadOptions::default().with_clean_shutdown(clean);
    Log::open(dir, "t", 0, LogConfig::default(), Arc::new(SystemClock), options).expect("open")
}

fn write(dir: &Path, mib: u64) {
    let target = (mib << 20).saturating_sub(1 << 20);
    let (log, _) = open(dir, true);
    for b in support::client_batches(64).iter().cycle() {
        if log.size_bytes() >= target {
            break;
        }
        log.append_batch(b.clone()).expect("append_batch");
    }
    log.close().expect("close");
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`):
/// on a shared machine wall time mostly measures the other processes.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// CPU time every thread of the process has run, exited ones included, in
/// nanoseconds (`utime + stime` of `/proc/self/stat`, in 10 ms ticks):
/// recovery's page-table helper thread counts here, not in
/// [`thread_cpu_ns`]. Coarse: compare sums over several repetitions.
fn process_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 =
        after.split_whitespace().skip(11).take(2).filter_map(|n| n.parse::<u64>().ok()).sum();
    ticks * 10_000_000
}

#[inline(never)]
fn recover(dir: &Path) -> (Log, strata::LoadReport) {
    open(dir, false)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let mib: u64 = args.next().map_or(1024, |n| n.parse().expect("MIB"));
    let reps: usize = args.next().map_or(3, |n| n.parse().expect("REPS"));
    if !dir.exists() {
        std::fs::create_dir_all(&dir).expect("mkdir");
        write(&dir, mib);
    }
    let (mut wall_sum, mut process_sum) = (0.0, 0);
    for _ in 0..reps {
        let (t, cpu, process) = (Instant::now(), thread_cpu_ns(), process_cpu_ns());
        let (log, report) = recover(&dir);
        let took = t.elapsed();
        let cpu = thread_cpu_ns() - cpu;
        process_sum += process_cpu_ns() - process;
        wall_sum += took.as_secs_f64();
        assert_eq!(report.recovered_segments, 1, "{report:?}");
        assert_eq!(report.truncated_bytes, 0, "{report:?}");
        let bytes = log.size_bytes();
        let mib = bytes as f64 / f64::from(1 << 20);
        println!(
            "recovered {mib:.1} MiB in {took:?} ({:.0} MiB/s), {:.1} ms of CPU ({:.0} MiB/s)",
            mib / took.as_secs_f64(),
            cpu as f64 / 1e6,
            mib / (cpu as f64 / 1e9)
        );
        let cpu = thread_cpu_ns();
        log.close().expect("close");
        println!("  close: {:.1} ms of CPU", (thread_cpu_ns() - cpu) as f64 / 1e6);
    }
    println!(
        "mean of {reps} recoveries: {:.1} ms wall, {:.0} ms of process CPU (all threads, 10 ms ticks)",
        wall_sum * 1e3 / reps as f64,
        process_sum as f64 / 1e6 / reps as f64
    );
}
