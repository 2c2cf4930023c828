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
