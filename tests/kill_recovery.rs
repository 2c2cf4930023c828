//! `logtool produce --flush` killed with SIGKILL mid-stream: every batch it reported before dying
//! must be in the log after recovery, with the right records, and the partition directory must
//! still be one Kafka accepts (`kafka_verify.py`: untrimmed indexes and a zero-filled tail are
//! warnings, not violations).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use strata::Store;
use strata::StoreConfig;

const TOPIC: &str = "crash";
/// Records per batch (`--batch-records`).
const BATCH: i64 = 10;

/// Line `i` of the input: key `k{i}`, value `v{i}-...`; fed in order to partition 0, so record
/// offset `i` must hold line `i`.
fn line(i: i64) -> String {
    format!("k{i}:v{i}-{}\n", "p".repeat(usize::try_from(i % 37).unwrap()))
}

fn value(i: i64) -> String {
    let l = line(i);
    l.trim_end().split_once(':').unwrap().1.to_owned()
}

/// A number field of a flat JSON line.
fn field(json: &str, name: &str) -> i64 {
    let pat = format!("\"{name}\":");
    let at = json.find(&pat).unwrap_or_else(|| panic!("no {name} in {json}")) + pat.len();
    let rest = &json[at..];
    rest[..rest.find([',', '}']).unwrap()].parse().unwrap()
}

/// Starts `produce --flush`, feeds it lines from a thread without end, SIGKILLs it once it has
/// reported `kill_after` batches, and returns the reported `(base_offset, last_offset)` pairs.
fn produce_and_kill(dir: &Path, kill_after: usize) -> Vec<(i64, i64)> {
    let mut child = Command::new(common::logtool_bin_built())
        .arg("--dir")
        .arg(dir)
        .args(["--json", "produce", TOPIC, "--partition", "0", "--flush"])
        .arg("--batch-records")
        .arg(BATCH.to_string())
        .args(["--key-separator", ":"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            // Lines go in small bursts, so the producer is mid-batch (and mid-write) when killed.
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) && i < 1_000_000 {
                let burst: String = (i..i + 7).map(line).collect();
                if stdin.write_all(burst.as_bytes()).and_then(|()| stdin.flush()).is_err() {
                    break; // the producer died: broken pipe
                }
                i += 7;
                thread::sleep(Duration::from_micros(200));
            }
            i
        })
    };

    let mut reported = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut text = String::new();
    while reported.len() < kill_after {
        assert!(Instant::now() < deadline, "no progress: {} batches reported", reported.len());
        text.clear();
        let n = stdout.read_line(&mut text).unwrap();
        assert!(n > 0, "produce ended early after {} batches", reported.len());
        assert_eq!(field(&text, "partition"), 0);
        assert_eq!(field(&text, "records"), BATCH);
        reported.push((field(&text, "base_offset"), field(&text, "last_offset")));
    }
    // Still being fed: kill it now.
    assert!(!feeder.is_finished(), "the feeder must still be writing at the kill");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not exited: {status}");
    stop.store(true, Ordering::Relaxed);
    let fed = feeder.join().unwrap();
    assert!(fed > reported.last().unwrap().1, "fed {fed} lines, more than were reported");
    // Lines printed after the ones we read (already in the pipe) count as reported too.
    let mut rest = String::new();
    while stdout.read_line(&mut rest).unwrap_or(0) > 0 {
        for l in rest.lines() {
            reported.push((field(l, "base_offset"), field(l, "last_offset")));
        }
        rest.clear();
    }
    reported
}

fn check_recovered(dir: &Path, reported: &[(i64, i64)]) {
    // Offsets are dense from 0: batch i covers [10 i, 10 i + 9].
    for (i, &(base, last)) in reported.iter().enumerate() {
        let i = i64::try_from(i).unwrap();
        assert_eq!((base, last), (i * BATCH, i * BATCH + BATCH - 1), "reported batch {i}");
    }
    let reported_end = reported.last().unwrap().1 + 1;
    let pdir = dir.join(format!("{TOPIC}-0"));

    // The files as the crash left them: Kafka's checker accepts them (warnings allowed).
    match common::kafka_verify_available() {
        Ok(()) => {
            let outcome = common::kafka_verify(&pdir, &[]);
            assert!(outcome.ok(), "kafka_verify.py on the crashed dir: {outcome}");
        }
        Err(reason) => common::skip(&reason),
    }

    let store = Store::open(StoreConfig::new([dir]).background_threads(false)).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    let end = log.log_end_offset();
    assert!(end >= reported_end, "log end {end} lost reported offsets below {reported_end}");
    // Everything recovered is whole batches of the lines in order.
    assert_eq!(end % BATCH, 0, "only whole batches survive");
    let mut next = 0;
    while next < end {
        let fetched = log.read(next, 1 << 20).unwrap();
        for r in fetched.records() {
            let r = r.unwrap();
            assert_eq!(r.offset(), next);
            assert_eq!(r.key().unwrap().as_ref(), format!("k{next}").as_bytes());
            assert_eq!(r.value().unwrap().as_ref(), value(next).as_bytes());
            next += 1;
        }
        assert_eq!(next, fetched.next_offset());
    }
    assert_eq!(next, end);
    store.close().unwrap();
    drop(store); // close() does not release the directory lock; dropping does (see below)

    // After recovery and a clean close the directory is still Kafka's.
    if common::kafka_verify_available().is_ok() {
        let outcome = common::kafka_verify(&pdir, &["--index-interval", "4096"]);
        assert!(outcome.ok(), "kafka_verify.py after recovery: {outcome}");
    }
    // And logtool reads it back too.
    let out = Command::new(common::logtool_bin_built())
        .arg("--dir")
        .arg(dir)
        .args(["--json", "consume", TOPIC, "--partition", "0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8(out.stdout).unwrap();
    assert_eq!(i64::try_from(lines.lines().count()).unwrap(), end);
}

#[test]
fn killed_produce_keeps_every_reported_batch() {
    for (round, kill_after) in [20, 23, 31].into_iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // A small segment size so some kills land right after a roll.
        let out = Command::new(common::logtool_bin_built())
            .arg("--dir")
            .arg(dir)
            .args(["--json", "topic-create", TOPIC, "--partitions", "1", "--config"])
            .arg(format!("segment.bytes={}", 4096 + round * 1500))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let reported = produce_and_kill(dir, kill_after);
        assert!(reported.len() >= kill_after);
        check_recovered(dir, &reported);
    }
}

/// `Store::close` should release the log directories' locks: the store module's docs say the
/// close protocol ends with "then unlock", and Kafka's `LogManager.shutdown` releases its locks.
/// Today the `.lock` flock is only released when the last clone of the `Store` is dropped, so a
/// closed-but-not-dropped store still blocks every other process and `Store::open` on its dirs.
#[test]
fn store_close_releases_the_directory_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let config = || StoreConfig::new([tmp.path()]).background_threads(false);
    let store = Store::open(config()).unwrap();
    store.close().unwrap();
    let again = Store::open(config());
    assert!(again.is_ok(), "reopen after close: {:?}", again.err());
    drop(store);
}
