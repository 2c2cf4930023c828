//! `logtool produce` as an operator feeds it: what a refused line leaves in the store and in
//! the reports, and when a batch that does not fill is appended (`--linger-ms`). The reports
//! (`{"partition","base_offset","last_offset","records"}` lines) must say exactly what the log
//! holds.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use common::json_line::{num, text_or_null};

fn ok(dir: &Path, args: &[&str]) -> Vec<String> {
    common::logtool_ok(&[dir], args, b"")
}

/// Checks that the `produce` reports tile each partition's log from offset 0 to its end, and
/// returns each partition's keys as `consume` reads them back, in offset order.
fn reports_match_the_log(
    dir: &Path,
    topic: &str,
    reports: &[String],
) -> BTreeMap<i64, Vec<String>> {
    let mut reported: BTreeMap<i64, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for r in reports {
        let p = num(r, "partition").unwrap();
        let (base, last, n) = (
            num(r, "base_offset").unwrap(),
            num(r, "last_offset").unwrap(),
            num(r, "records").unwrap(),
        );
        reported.entry(p).or_default().push((base, last, n));
    }
    let mut keys: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for line in ok(dir, &["consume", topic]) {
        let p = num(&line, "partition").unwrap();
        let list = keys.entry(p).or_default();
        assert_eq!(num(&line, "offset").unwrap(), i64::try_from(list.len()).unwrap(), "{line}");
        list.push(text_or_null(&line, "key").unwrap_or("(null)").to_owned());
    }
    for line in ok(dir, &["offsets", topic]) {
        let p = num(&line, "partition").unwrap();
        let latest = num(&line, "latest").unwrap();
        let mut next = 0;
        for &(base, last, n) in reported.get(&p).map_or(&[][..], Vec::as_slice) {
            assert_eq!((base, last - base + 1), (next, n), "partition {p}: {reports:?}");
            next = last + 1;
        }
        assert_eq!(
            next, latest,
            "partition {p}: the reports say {next} records, the log holds {latest}"
        );
    }
    keys
}

/// 130 keyed lines over 3 partitions in batches of 20 (two fill on each partition, the rest
/// wait), then `bad` at line 131, then one more keyed line.
fn input_with_bad_line_131(bad: &str) -> String {
    let mut input = String::new();
    for i in 0..130 {
        writeln!(input, "k{i}:v").unwrap();
    }
    writeln!(input, "{bad}").unwrap();
    input.push_str("after:v\n");
    input
}

/// By default a refused line first appends the records read before it that wait in unfilled
/// batches, each batch reported as usual, and then fails naming the line and why, as
/// `kafka-console-producer.sh` sends what it read before a bad line. The old tool dropped
/// them without a word: only full batches were in the store (120 of 130 records here).
/// `--atomic` still appends nothing. Two refusals: a keyless line in a compacted topic, and a
/// record larger than `max.message.bytes`.
#[test]
fn a_refused_line_appends_the_lines_read_before_it_and_reports_them() {
    let big = format!("big:{}", "y".repeat(2000));
    for (bad, why) in [("no key here", "without a key"), (big.as_str(), "max.message.bytes")] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let config = ["--config", "cleanup.policy=compact", "--config", "max.message.bytes=1000"];
        for topic in ["feed", "all"] {
            let mut args = vec!["topic-create", topic, "--partitions", "3"];
            args.extend(config);
            ok(dir, &args);
        }
        let input = input_with_bad_line_131(bad);
        let produce = |topic: &str, extra: &[&str]| {
            let mut args = vec!["produce", topic, "--key-separator", ":", "--batch-records", "20"];
            args.extend(extra);
            common::logtool_run(&[dir], true, &args, input.as_bytes())
        };

        let out = produce("feed", &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
        assert!(err.contains("line 131: ") && err.contains(why), "names the line and why: {err}");
        assert!(err.contains("130 records of earlier lines were appended and stay"), "{err}");
        assert!(err.contains("nothing from line 131 on was appended"), "{err}");
        let reports: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
        let keys = reports_match_the_log(dir, "feed", &reports);
        let mut stored: Vec<String> = keys.into_values().flatten().collect();
        stored.sort_unstable();
        let mut read: Vec<String> = (0..130).map(|i| format!("k{i}")).collect();
        read.sort_unstable();
        assert_eq!(stored, read, "every line before line 131 and none after it");

        let out = produce("all", &["--atomic"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("line 131: ") && err.contains(why), "{err}");
        assert!(err.contains("nothing was appended"), "{err}");
        assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(reports_match_the_log(dir, "all", &[]).is_empty());
    }
}

#[test]
fn produce_reports_match_the_log_when_every_line_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "t", "--partitions", "3"]);
    let input: String = (0..130).map(|i| format!("k{i}:v\n")).collect();
    let args = ["produce", "t", "--key-separator", ":", "--batch-records", "20"];
    let reports = common::logtool_ok(&[dir], &args, input.as_bytes());
    let keys = reports_match_the_log(dir, "t", &reports);
    assert_eq!(keys.values().map(Vec::len).sum::<usize>(), 130);
}

/// `logtool --dir DIR --json ARGS...` with stdin a pipe left open, and its stdout's lines as
/// they come.
fn spawn_feed(
    dir: &Path,
    args: &[&str],
) -> (std::process::Child, std::process::ChildStdin, std::sync::mpsc::Receiver<String>) {
    let mut child = std::process::Command::new(common::logtool_bin_built())
        .arg("--dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout) {
            let _ = tx.send(line.unwrap());
        }
    });
    (child, stdin, lines)
}

/// Waits for the child to end; its exit must be a success.
fn finish(child: std::process::Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A slow feed (`tail -f | logtool produce`): one line, stdin left open. Its batch of one
/// (of the 500 it could hold) is appended and reported once the record has waited the default
/// linger of 1000 ms (the console producer's `--timeout`); the bound here is 10 s, generous so a
/// loaded machine cannot fail it. The old tool appended only full batches or at stdin's end,
/// so the record waited as long as stdin stayed open. End of input still appends the rest.
#[test]
fn a_batch_that_does_not_fill_is_appended_after_its_linger_while_stdin_stays_open() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "slow", "--partitions", "1"]);
    let (child, mut stdin, lines) = spawn_feed(dir, &["produce", "slow"]);
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    let patience = std::time::Duration::from_secs(10);
    let first = lines.recv_timeout(patience).expect("the lingering batch was reported");
    assert_eq!(first, r#"{"partition":0,"base_offset":0,"last_offset":0,"records":1}"#);
    assert_eq!(ok(dir, &["offsets", "slow"]), [r#"{"partition":0,"earliest":0,"latest":1}"#]);
    stdin.write_all(b"second\nthird\n").unwrap();
    drop(stdin);
    finish(child);
    let mut reports = vec![first];
    reports.extend(lines.iter());
    reports_match_the_log(dir, "slow", &reports);
    let values: Vec<String> = ok(dir, &["consume", "slow"])
        .iter()
        .map(|l| text_or_null(l, "value").unwrap().to_owned())
        .collect();
    assert_eq!(values, ["first", "second", "third"]);
}

/// Records wait while their batch's linger has not passed, and the end of stdin appends every
/// pending batch at once: with `--linger-ms 600000`, lines written apart on a pipe left open
/// make one batch, and 30 keyed lines make one batch per partition.
#[test]
fn end_of_input_appends_every_batch_still_lingering() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "t", "--partitions", "3"]);
    let (child, mut stdin, lines) =
        spawn_feed(dir, &["produce", "t", "--partition", "1", "--linger-ms", "600000"]);
    stdin.write_all(b"a\n").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    stdin.write_all(b"b\n").unwrap();
    drop(stdin);
    finish(child);
    let reports: Vec<String> = lines.iter().collect();
    assert_eq!(reports, [r#"{"partition":1,"base_offset":0,"last_offset":1,"records":2}"#]);

    let input: String = (0..30).map(|i| format!("k{i}:v\n")).collect();
    let args = ["produce", "t", "--key-separator", ":", "--linger-ms", "600000"];
    let reports = common::logtool_ok(&[dir], &args, input.as_bytes());
    let mut partitions: Vec<i64> = reports.iter().map(|r| num(r, "partition").unwrap()).collect();
    partitions.sort_unstable();
    partitions.dedup();
    assert_eq!(partitions.len(), reports.len(), "one batch per partition: {reports:?}");
    assert_eq!(reports.iter().map(|r| num(r, "records").unwrap()).sum::<i64>(), 30);
    let mut all = vec![r#"{"partition":1,"base_offset":0,"last_offset":1,"records":2}"#.to_owned()];
    all.extend(reports);
    reports_match_the_log(dir, "t", &all);

    // --atomic appends at stdin's end only: a linger is a contradiction.
    let out = common::logtool_run(
        &[dir],
        true,
        &["produce", "t", "--atomic", "--linger-ms", "5"],
        b"x\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--linger-ms"));
}

/// An append that fails (here the roll to a new segment: the partition directories were
/// renamed away under the running tool) names every input line read that was not appended:
/// the failed batch's, and the one pending on the other partition, which the old tool dropped
/// without naming. What was reported stays.
#[test]
fn a_failed_append_names_every_line_read_that_was_not_appended() {
    use std::io::Write as _;
    use strata::internals::store::partitioner::partition_for_key;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A batch of two 60-byte records fills most of a 300-byte segment: the next one rolls.
    ok(dir, &["topic-create", "t", "--partitions", "2", "--config", "segment.bytes=300"]);
    let key_on = |p: i32| {
        (0..).map(|i| format!("k{i}")).find(|k| partition_for_key(k.as_bytes(), 2) == p).unwrap()
    };
    let (k0, k1) = (key_on(0), key_on(1));
    let v = "v".repeat(60);
    let args =
        ["produce", "t", "--key-separator", ":", "--batch-records", "2", "--linger-ms", "600000"];
    let (child, mut stdin, lines) = spawn_feed(dir, &args);
    write!(stdin, "{k0}:{v}\n{k0}:{v}\n").unwrap();
    stdin.flush().unwrap();
    let first = lines.recv_timeout(std::time::Duration::from_secs(60)).expect("a full batch");
    assert_eq!(first, r#"{"partition":0,"base_offset":0,"last_offset":1,"records":2}"#);
    for p in ["t-0", "t-1"] {
        std::fs::rename(dir.join(p), tmp.path().join(format!("{p}.moved"))).unwrap();
    }
    // Line 3 waits on partition 1; lines 4 and 5 fill partition 0's batch, whose append fails.
    write!(stdin, "{k1}:{v}\n{k0}:{v}\n{k0}:{v}\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot append to t-0 (input lines 4 to 5; 2 records"), "{err}");
    assert!(err.contains("not appended: lines 3 to 5"), "{err}");
    assert!(err.contains("nothing after line 5 was appended"), "{err}");
    assert!(lines.iter().next().is_none(), "one batch reported");
}

/// A negative `--timestamp` is refused before anything is appended, as Kafka's console
/// producer refuses it (`ProducerRecord`: "Timestamp should always be non-negative"): a
/// record at -5 made a batch whose maxTimestamp (-1, "none") is not its records' largest,
/// which `verify`, `kafka_verify.py` and Kafka's `DumpLogSegments` all call damaged.
#[test]
fn a_negative_timestamp_is_refused_and_appends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "t", "--partitions", "1"]);
    for ts in ["-5", "-1", "-9223372036854775808"] {
        let out = common::logtool_run(&[dir], true, &["produce", "t", "--timestamp", ts], b"a\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--timestamp {ts}: {err}");
        assert!(err.contains("--timestamp") && err.contains(ts), "{err}");
        assert!(out.stdout.is_empty(), "--timestamp {ts} reported an append");
    }
    let offsets = ok(dir, &["offsets", "t"]);
    assert_eq!(num(&offsets[0], "latest"), Some(0), "{offsets:?}");
    let verify =
        common::logtool_run(&[dir], true, &["verify", dir.join("t-0").to_str().unwrap()], b"");
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
