//! `logtool` whose stdout or stderr is a pipe nobody reads any more (`| head -1`,
//! `2>&1 | head`): a command that only looks may stop there, one that changes the store
//! finishes its work and closes the store cleanly, and no command panics.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use common::json_line::num;

/// The marker a clean close leaves in a log directory (Kafka's `.kafka_cleanshutdown`).
const CLEAN_SHUTDOWN: &str = ".kafka_cleanshutdown";

fn logtool(dir: &Path) -> Command {
    let mut cmd = Command::new(common::logtool_bin_built());
    cmd.arg("--dir").arg(dir).arg("--json");
    cmd
}

/// Runs `args`, reads one stdout line, then closes stdout's read end while the tool still has
/// far more to print; returns its exit status and stderr.
fn with_stdout_closed_after_one_line(
    dir: &Path,
    args: &[&str],
    stdin: Vec<u8>,
) -> (std::process::ExitStatus, String) {
    let mut child = logtool(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        // The old tool exits early: a broken pipe here is what the test looks at, not an error.
        let _ = input.write_all(&stdin);
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with('{'), "first line: {first:?}");
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn latest(dir: &Path, topic: &str) -> i64 {
    let lines = common::logtool_ok(&[dir], &["offsets", topic], b"");
    lines.iter().map(|l| num(l, "latest").unwrap()).sum()
}

#[test]
fn produce_whose_stdout_closes_appends_all_its_input_and_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    common::logtool_ok(&[dir.path()], &["topic-create", "t", "--partitions", "1"], b"");
    let lines = 20_000;
    let input: String = (0..lines).map(|i| format!("v{i}\n")).collect();
    // One report line per batch of 10: 2000 lines, far more than the pipe holds.
    let (status, stderr) = with_stdout_closed_after_one_line(
        dir.path(),
        &["produce", "t", "--partition", "0", "--batch-records", "10"],
        input.into_bytes(),
    );
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(latest(dir.path(), "t"), lines, "every line read is appended: {stderr}");
    assert!(dir.path().join(CLEAN_SHUTDOWN).exists(), "the store was not closed cleanly");
}

#[test]
fn consume_with_a_group_whose_stdout_closes_commits_nothing_and_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    common::logtool_ok(&[dir.path()], &["topic-create", "t", "--partitions", "1"], b"");
    let input: String = (0..20_000).map(|i| format!("v{i}\n")).collect();
    common::logtool_ok(&[dir.path()], &["produce", "t", "--partition", "0"], input.as_bytes());
    let (status, stderr) =
        with_stdout_closed_after_one_line(dir.path(), &["consume", "t", "--group", "g"], vec![]);
    assert!(status.success(), "{status}: {stderr}");
    // What the reader took is unknown: the group resumes where it was (at-least-once).
    let describe = common::logtool_run(&[dir.path()], true, &["group-describe", "g"], b"");
    assert!(
        !describe.status.success(),
        "the group committed {}",
        String::from_utf8_lossy(&describe.stdout)
    );
    assert!(dir.path().join(CLEAN_SHUTDOWN).exists(), "the store was not closed cleanly");
}

/// Runs `args` with stderr a pipe whose read end is already closed (`2>&1 | head -0`).
fn with_stderr_closed(dir: &Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    logtool(dir).args(args).stdin(Stdio::null()).stderr(writer).output().unwrap()
}

/// A store whose only segment ends in 24 bytes that are not a batch.
fn torn_store(dir: &Path) -> std::path::PathBuf {
    common::logtool_ok(&[dir], &["topic-create", "t", "--partitions", "1"], b"");
    common::logtool_ok(&[dir], &["produce", "t", "--partition", "0"], b"a\nb\n");
    let log = dir.join("t-0").join("00000000000000000000.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"XXXXXXXXXXXXXXXXXXXXXXXX").unwrap();
    log
}

#[test]
fn an_error_said_to_a_closed_stderr_keeps_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_stderr_closed(dir.path(), &["offsets", "no-such-topic"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.status);
}

#[test]
fn dump_of_damaged_data_with_a_closed_stderr_exits_1_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    torn_store(dir.path());
    let part = dir.path().join("t-0");
    let out = with_stderr_closed(dir.path(), &["dump", part.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", out.status);
}

#[test]
fn a_recovery_cut_said_to_a_closed_stderr_does_not_stop_the_store_opening() {
    let dir = tempfile::tempdir().unwrap();
    let log = torn_store(dir.path());
    let torn_len = std::fs::metadata(&log).unwrap().len();
    // A writer's open cuts the torn tail and says so on stderr, which is closed.
    let out = with_stderr_closed(dir.path(), &["flush"]);
    assert!(out.status.success(), "{}", out.status);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), torn_len - 24);
    assert!(dir.path().join(CLEAN_SHUTDOWN).exists(), "the store was not closed cleanly");
}
