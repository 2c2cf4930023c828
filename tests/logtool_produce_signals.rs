//! `logtool produce` stopped by a signal (Ctrl-C, `kill`, a closed terminal) with lines read
//! but still lingering: it appends them and exits 128 + the signal's number, as Kafka's console
//! producer closes its producer in a shutdown hook, sending what lingers, and its JVM exits so. The old tool died of
//! the signal and lost them without a word.
//!
//! The tool's stdin stays open: the test waits until the tool's `stdin` thread has read every
//! byte written (its `rchar` in `/proc/PID/task/TID/io`, polled within a bound), then signals.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::json_line::{num, text_or_null};

/// How long the tool may take to read what was written (a loaded machine is slow; a passing
/// run waits milliseconds).
const PATIENCE: Duration = Duration::from_secs(20);

fn ok(dir: &Path, args: &[&str]) -> Vec<String> {
    common::logtool_ok(&[dir], args, b"")
}

/// `logtool --dir DIR --json ARGS...` with stdin a pipe left open.
fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(common::logtool_bin_built())
        .arg("--dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Bytes read so far by `pid`'s thread named `stdin` (`None` before it exists).
fn stdin_thread_read(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "stdin" {
            let io = std::fs::read_to_string(task.path().join("io")).ok()?;
            return io.lines().find_map(|l| l.strip_prefix("rchar: ")?.trim().parse().ok());
        }
    }
    None
}

/// Writes `input` to the tool's stdin (left open) and waits until it has read all of it.
fn feed_and_wait_until_read(child: &mut Child, input: &[u8]) -> std::process::ChildStdin {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    let want = u64::try_from(input.len()).unwrap();
    while stdin_thread_read(child.id()).is_none_or(|n| n < want) {
        assert!(
            start.elapsed() < PATIENCE,
            "the tool read {:?} of {want} bytes in {PATIENCE:?}",
            stdin_thread_read(child.id())
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    stdin
}

fn kill(child: &Child, signal: &str) {
    let status =
        Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    assert!(status.unwrap().success(), "kill -{signal}");
}

/// 40 keyed lines over 3 partitions with batches of 8 and a linger of ten minutes: some
/// batches fill and are appended while stdin is read, the rest linger until `signal`. The
/// tool then appends every line it read, reports each batch, names the signal on stderr and
/// exits `status` (128 + the signal's number: the input was cut short). The reports
/// tile each partition's log, and `consume` reads all 40 lines back.
fn lingering_lines_are_appended_on(signal: &str, status: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "t", "--partitions", "3"]);
    let input: String = (0..40).map(|i| format!("k{i}:v{i}\n")).collect();
    let args =
        ["produce", "t", "--key-separator", ":", "--batch-records", "8", "--linger-ms", "600000"];
    let mut child = spawn(dir, &args);
    let stdin = feed_and_wait_until_read(&mut child, input.as_bytes());
    kill(&child, signal);
    // Waits with stdin still open: the signal alone must end the tool.
    let (tx, done) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output().unwrap();
        let _ = tx.send(());
        out
    });
    done.recv_timeout(PATIENCE).expect("the tool ended after the signal, stdin still open");
    drop(stdin);
    let out = waiter.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{signal}: {:?}, stderr {stderr}", out.status);
    assert!(
        stderr.contains(&format!("SIG{signal}: stopped reading stdin after 40 lines")),
        "{stderr}"
    );

    let reports: Vec<String> =
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    let mut next = std::collections::BTreeMap::new();
    for r in &reports {
        let p = num(r, "partition").unwrap();
        let at = next.entry(p).or_insert(0);
        assert_eq!(num(r, "base_offset").unwrap(), *at, "{reports:?}");
        *at = num(r, "last_offset").unwrap() + 1;
    }
    for line in ok(dir, &["offsets", "t"]) {
        let p = num(&line, "partition").unwrap();
        assert_eq!(num(&line, "latest"), next.get(&p).copied().or(Some(0)), "{reports:?}");
    }
    let mut keys: Vec<String> = ok(dir, &["consume", "t"])
        .iter()
        .map(|l| text_or_null(l, "key").unwrap().to_owned())
        .collect();
    keys.sort_by_key(|k| k[1..].parse::<u32>().unwrap());
    let want: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    assert_eq!(keys, want);
}

#[test]
fn sigint_appends_every_line_read_that_was_lingering_and_exits_130() {
    lingering_lines_are_appended_on("INT", 130);
}

#[test]
fn sigterm_appends_every_line_read_that_was_lingering_and_exits_143() {
    lingering_lines_are_appended_on("TERM", 143);
}

#[test]
fn sighup_appends_every_line_read_that_was_lingering_and_exits_129() {
    lingering_lines_are_appended_on("HUP", 129);
}

/// `--atomic` takes the whole of stdin or nothing: a SIGINT before its end appends nothing,
/// says so, and exits 130 (128 + SIGINT, what a shell reports for a process the signal ended).
#[test]
fn sigint_before_the_end_of_an_atomic_input_appends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "t", "--partitions", "1"]);
    let mut child = spawn(dir, &["produce", "t", "--atomic"]);
    let stdin = feed_and_wait_until_read(&mut child, b"a\nb\n");
    kill(&child, "INT");
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{:?}, stderr {stderr}", out.status);
    assert!(stderr.contains("SIGINT before stdin ended: nothing was appended"), "{stderr}");
    assert_eq!(ok(dir, &["offsets", "t"]), [r#"{"partition":0,"earliest":0,"latest":0}"#]);
}

/// A SIGHUP the caller ignored (`nohup`, `trap '' HUP`) stays ignored, as HotSpot registers
/// no shutdown signal that was ignored at start: the tool reads on through it, appends every
/// line of stdin and exits 0. (53e1563 caught it anyway and stopped after the first half.)
#[test]
fn an_ignored_sighup_does_not_stop_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "t", "--partitions", "1"]);
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(r#"trap "" HUP; exec "$0" "$@""#)
        .arg(common::logtool_bin_built())
        .arg("--dir")
        .arg(dir)
        .args(["--json", "produce", "t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first: String = (0..20).map(|i| format!("v{i}\n")).collect();
    let second: String = (20..40).map(|i| format!("v{i}\n")).collect();
    let mut stdin = feed_and_wait_until_read(&mut child, first.as_bytes());
    kill(&child, "HUP");
    // The tool must still be reading: give a caught signal time to stop it.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "the tool ended on an ignored SIGHUP");
    stdin.write_all(second.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{:?}, stderr {stderr}", out.status);
    let values: Vec<String> = ok(dir, &["consume", "t"])
        .iter()
        .map(|l| text_or_null(l, "value").unwrap().to_owned())
        .collect();
    let want: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    assert_eq!(values, want);
}
