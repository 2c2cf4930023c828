//! Scale: 10,000 partitions in one store under `ulimit -n 1024`, created, appended round-robin,
//! closed, reopened and read back; the store's descriptors stay within the open-segment budget
//! and its disk within a few pages per partition. Runs in a child process (the test binary
//! itself), whose open-file limit is lowered for it alone.
//!
//! `STRATA_SCALE_PARTITIONS` overrides the count (default 10,000). The store lives in
//! `STRATA_SCALE_DIR` if set, else in `/dev/shm` when that is a tmpfs with room (what is
//! measured is strata's cost in descriptors, memory, threads and time, not the latency of a
//! shared disk, where creating and removing 40,000 files alone can take minutes), else in the
//! temporary directory.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::Instant;

use strata::Record;
use strata::Store;
use strata::StoreConfig;

const CHILD_ENV: &str = "STRATA_SCALE_CHILD";

fn partitions() -> i32 {
    std::env::var("STRATA_SCALE_PARTITIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn record(p: i32, round: i64) -> Record {
    Record::new(format!("p{p}").into_bytes(), format!("r{round}-{}", "v".repeat(100)).into_bytes())
}

/// Bytes of disk under `dir` (`st_blocks`), and the number of files.
fn disk_usage(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            bytes += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
            }
        }
    }
    (bytes, files)
}

const ROUNDS: i64 = 3;

/// Where the store goes (see the module docs).
fn scale_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("STRATA_SCALE_DIR") {
        return dir.into();
    }
    let shm = Path::new("/dev/shm");
    let roomy = std::process::Command::new("df")
        .args(["--output=avail", "-B1M"])
        .arg(shm)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().nth(1).and_then(|l| l.trim().parse::<u64>().ok()))
        .is_some_and(|mib| mib >= 1024);
    if roomy { shm.to_path_buf() } else { std::env::temp_dir() }
}

#[test]
fn ten_thousand_partitions_append_reopen_and_read_back_under_ulimit_1024() {
    if !common::in_child(
        CHILD_ENV,
        "ten_thousand_partitions_append_reopen_and_read_back_under_ulimit_1024",
        Some(1024),
    ) {
        return;
    }
    let n = partitions();
    let root = tempfile::tempdir_in(scale_dir()).unwrap();
    eprintln!("store in {}", root.path().display());
    let t = Instant::now();
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic("scale", n, &BTreeMap::new()).unwrap();
    eprintln!("created {n} partitions in {:?}", t.elapsed());
    let t = Instant::now();
    let logs: Vec<_> = (0..n).map(|p| store.partition("scale", p).unwrap()).collect();
    for round in 0..ROUNDS {
        for (p, log) in logs.iter().enumerate() {
            let p = i32::try_from(p).unwrap();
            assert_eq!(log.append(&[record(p, round)]).unwrap().base_offset, round);
        }
    }
    eprintln!("{} appends round-robin in {:?}", i64::from(n) * ROUNDS, t.elapsed());
    let fds = open_fds();
    let stats = store.resource_stats();
    eprintln!("open descriptors {fds}, {stats:?}");
    assert!(fds < 1024, "{fds} descriptors open");
    let (bytes, files) = disk_usage(root.path());
    eprintln!("disk: {} MiB in {files} files", bytes >> 20);
    assert!(
        bytes / u64::try_from(n).unwrap() <= 64 << 10,
        "{bytes} bytes of disk for {n} partitions"
    );
    drop(logs);
    let t = Instant::now();
    store.close().unwrap();
    eprintln!("closed in {:?}", t.elapsed());

    let t = Instant::now();
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    eprintln!("clean open of {n} partitions in {:?}", t.elapsed());
    assert!(store.recovery_report().cuts.is_empty(), "a clean shutdown cuts nothing");
    let t = Instant::now();
    for p in 0..n {
        let log = store.partition("scale", p).unwrap();
        assert_eq!(log.log_end_offset(), ROUNDS);
        let records: Vec<_> = log.read(0, 1 << 20).unwrap().records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), ROUNDS as usize, "partition {p}");
        for (round, r) in records.iter().enumerate() {
            assert_eq!(r.value(), record(p, round as i64).value.as_ref(), "partition {p}");
        }
    }
    eprintln!("read back in {:?}", t.elapsed());
    assert!(open_fds() < 1024);
    let t = Instant::now();
    store.close().unwrap();
    eprintln!("closed again in {:?}", t.elapsed());
    let t = Instant::now();
    drop(root);
    eprintln!("removed in {:?}", t.elapsed());
}
