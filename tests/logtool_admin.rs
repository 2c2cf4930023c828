//! `logtool`'s admin verbs driven through the built binary (shared/spec/logtool.md): the topic
//! verbs (`topic-list`, `-describe`, `-delete`, `-alter`, `-config-set`, `-config-remove`,
//! `-config-describe`), `delete-records` and `maintain`. Each verb must round-trip, bad input must
//! be one clear sentence on stderr that leaves the store as it was, and what retention, DeleteRecords
//! and the cleaner leave behind must be exactly the expected suffix or latest-per-key and still pass
//! `kafka_verify.py` and Kafka's own reader.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::json_line::{num, text_or_null};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

/// Kafka's default `index.interval.bytes`, which these topics keep.
const INDEX_INTERVAL: u64 = 4096;

/// Runs `logtool --dir D... --json ARGS...` with `stdin` piped in.
fn run(dirs: &[&Path], args: &[&str], stdin: &[u8]) -> Output {
    common::logtool_run(dirs, true, args, stdin)
}

fn lines_of(dirs: &[&Path], args: &[&str], stdin: &[u8]) -> Vec<String> {
    common::logtool_ok(dirs, args, stdin)
}

fn ok(dir: &Path, args: &[&str]) -> Vec<String> {
    lines_of(&[dir], args, b"")
}

fn ok_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Vec<String> {
    lines_of(&[dir], args, stdin)
}

/// Asserts that `logtool ARGS` fails with one sentence on stderr that mentions `mentions`.
fn fails(dir: &Path, args: &[&str], mentions: &str) {
    let out = run(&[dir], args, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "logtool {args:?} should fail, printed {stderr}");
    assert!(!stderr.contains("panicked"), "logtool {args:?} panicked: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "logtool {args:?}: one line: {stderr}");
    assert!(stderr.starts_with("logtool: "), "logtool {args:?}: {stderr}");
    assert!(stderr.contains(mentions), "logtool {args:?}: {stderr:?} should mention {mentions:?}");
    assert!(out.stdout.is_empty(), "logtool {args:?} printed on stdout");
}

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// Every entry name under `dir`, recursively, sorted (to see that nothing changed).
fn tree(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            names.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    names.sort();
    names
}

/// Sum of the partition directory's `NNNNNNNNNNNNNNNNNNNN.log` sizes.
fn log_bytes(dir: &Path) -> u64 {
    common::segment_logs(dir).iter().map(|(_, b)| b.len() as u64).sum()
}

/// Base offsets of the partition directory's segments, from the file names.
fn segment_bases(dir: &Path) -> Vec<i64> {
    common::segment_logs(dir)
        .iter()
        .map(|(p, _)| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect()
}

/// The `{"key","value","source"}` lines of `topic-config-describe` as key -> (value, source).
fn configs(dir: &Path, topic: &str, extra: &[&str]) -> BTreeMap<String, (String, String)> {
    let args: Vec<&str> = extra.iter().copied().chain(["topic-config-describe", topic]).collect();
    ok(dir, &args)
        .iter()
        .map(|l| {
            let (k, v, s) =
                (text_or_null(l, "key"), text_or_null(l, "value"), text_or_null(l, "source"));
            (k.unwrap().to_owned(), (v.unwrap().to_owned(), s.unwrap().to_owned()))
        })
        .collect()
}

fn pair(v: &str, s: &str) -> (String, String) {
    (v.to_owned(), s.to_owned())
}

#[test]
fn topic_create_if_not_exists_leaves_an_existing_topic_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "orders", "--partitions", "2"]);
    fails(dir, &["topic-create", "orders", "--partitions", "3"], "orders");
    assert_eq!(
        ok(dir, &["topic-create", "orders", "--partitions", "3", "--if-not-exists"]),
        [r#"{"topic":"orders","partitions":2,"created":false}"#]
    );
    assert_eq!(ok(dir, &["topic-list"]), [r#"{"topic":"orders","partitions":2}"#]);
}

#[test]
fn topic_config_set_takes_kafkas_add_config_and_delete_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "c", "--partitions", "1"]);
    assert_eq!(
        ok(dir, &["topic-config-set", "c", "--add-config", "retention.ms=1000,segment.bytes=4096"]),
        [
            r#"{"topic":"c","key":"retention.ms","value":"1000"}"#,
            r#"{"topic":"c","key":"segment.bytes","value":"4096"}"#
        ]
    );
    // All or none: one bad value leaves the overrides as they were.
    fails(
        dir,
        &["topic-config-set", "c", "--add-config", "retention.ms=5,segment.bytes=x"],
        "segment.bytes",
    );
    let topic_keys = |dir: &Path| -> Vec<String> {
        ok(dir, &["topic-config-describe", "c"])
            .into_iter()
            .filter(|l| l.contains(r#""source":"topic""#))
            .collect()
    };
    assert_eq!(topic_keys(dir).len(), 2);
    assert!(topic_keys(dir)[0].contains(r#""value":"1000""#), "{:?}", topic_keys(dir));
    assert_eq!(
        ok(dir, &["topic-config-set", "c", "--delete-config", "retention.ms"]),
        [r#"{"topic":"c","key":"retention.ms"}"#]
    );
    assert_eq!(topic_keys(dir).len(), 1);
    fails(dir, &["topic-config-set", "c", "--delete-config", "retention.ms"], "retention.ms");
}

#[test]
fn topic_verbs_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "orders", "--partitions", "2", "--config", "segment.bytes=2048"]);
    assert_eq!(ok(dir, &["topic-list"]), [r#"{"topic":"orders","partitions":2}"#]);
    let d = dir.display();
    let empty = |p: i32| {
        format!(
            r#"{{"topic":"orders","partition":{p},"log_dir":"{d}","log_start_offset":0,"log_end_offset":0,"segments":1,"size_bytes":0,"state":"online"}}"#
        )
    };
    assert_eq!(ok(dir, &["topic-describe", "orders"]), [empty(0), empty(1)]);

    ok_in(dir, &["produce", "orders", "--partition", "1"], b"a\nb\nc\n");
    let described = ok(dir, &["topic-describe", "orders"]);
    assert_eq!(described[0], empty(0));
    assert_eq!(num(&described[1], "log_end_offset"), Some(3));
    assert_eq!(num(&described[1], "size_bytes"), Some(log_bytes(&dir.join("orders-1")) as i64));
    assert!(num(&described[1], "size_bytes").unwrap() > 0);

    // Growing keeps the data and adds empty partitions with their directories.
    assert_eq!(
        ok(dir, &["topic-alter", "orders", "--partitions", "5"]),
        [r#"{"topic":"orders","partitions":5}"#]
    );
    let described = ok(dir, &["topic-describe", "orders"]);
    assert_eq!(described.len(), 5);
    assert_eq!(num(&described[1], "log_end_offset"), Some(3));
    for (p, line) in described.iter().enumerate().skip(2) {
        assert_eq!(*line, empty(i32::try_from(p).unwrap()));
        assert!(dir.join(format!("orders-{p}")).is_dir());
    }
    assert_eq!(ok(dir, &["topic-list"]), [r#"{"topic":"orders","partitions":5}"#]);

    // Config sources: topic (override), store (server.properties), default (Kafka's).
    let c = configs(dir, "orders", &[]);
    assert_eq!(c["segment.bytes"], pair("2048", "topic"));
    assert_eq!(c["retention.ms"], pair("604800000", "default"));
    assert_eq!(c["cleanup.policy"], pair("delete", "default"));
    let props = tmp.path().join("server.properties");
    fs::write(&props, "log.retention.hours=1\nlog.segment.bytes=4096\n").unwrap();
    let c = configs(dir, "orders", &["--config", props.to_str().unwrap()]);
    assert_eq!(c["retention.ms"], pair("3600000", "store"));
    assert_eq!(c["segment.bytes"], pair("2048", "topic"), "an override beats the store");

    assert_eq!(
        ok(dir, &["topic-config-set", "orders", "retention.ms", "60000"]),
        [r#"{"topic":"orders","key":"retention.ms","value":"60000"}"#]
    );
    ok(dir, &["topic-config-set", "orders", "cleanup.policy", "compact,delete"]);
    let c = configs(dir, "orders", &[]);
    assert_eq!(c["retention.ms"], pair("60000", "topic"));
    assert_eq!(c["cleanup.policy"].1, "topic");
    assert_eq!(
        ok(dir, &["topic-config-remove", "orders", "retention.ms"]),
        [r#"{"topic":"orders","key":"retention.ms"}"#]
    );
    let c = configs(dir, "orders", &[]);
    assert_eq!(c["retention.ms"], pair("604800000", "default"));
    assert_eq!(c["segment.bytes"], pair("2048", "topic"));

    // Bad config changes fail and change nothing.
    let before = configs(dir, "orders", &[]);
    fails(dir, &["topic-config-set", "orders", "no.such.key", "1"], "no.such.key");
    fails(dir, &["topic-config-set", "orders", "segment.bytes", "lots"], "segment.bytes");
    fails(dir, &["topic-config-set", "orders", "retention.ms", "-5"], "retention.ms");
    fails(dir, &["topic-config-remove", "orders", "retention.ms"], "retention.ms");
    fails(dir, &["topic-config-set", "nope", "retention.ms", "1"], "nope");
    fails(dir, &["topic-config-describe", "nope"], "nope");
    assert_eq!(configs(dir, "orders", &[]), before);
}

#[test]
fn illegal_names_and_shrinking_fail_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "a.b", "--partitions", "3"]);
    ok_in(dir, &["produce", "a.b", "--partition", "2"], b"x\ny\n");
    let snapshot =
        |dir: &Path| (ok(dir, &["topic-list"]), ok(dir, &["topic-describe", "a.b"]), tree(dir));
    let before = snapshot(dir);
    let long = "t".repeat(250);
    for (name, mentions) in [
        ("a/b", "'/'"),
        ("..", "`..`"),
        (".", "`.`"),
        (long.as_str(), "250 characters"),
        ("a_b", "collides with existing topic a.b"),
        ("a.b", "a.b"),
        ("has space", "' '"),
    ] {
        fails(dir, &["topic-create", name], mentions);
    }
    fails(dir, &["topic-alter", "a.b", "--partitions", "2"], "can only be added");
    fails(dir, &["topic-alter", "a.b", "--partitions", "3"], "more than 3");
    fails(dir, &["topic-alter", "a.b", "--partitions", "0"], "not 0");
    fails(dir, &["topic-alter", "nope", "--partitions", "4"], "\"nope\" does not exist");
    fails(dir, &["topic-delete", "nope"], "\"nope\" does not exist");
    fails(dir, &["topic-describe", "nope"], "\"nope\" does not exist");
    fails(dir, &["delete-records", "a.b", "2", "3"], "past the log end 2");
    fails(dir, &["delete-records", "a.b", "3", "0"], "no partition 3");
    fails(dir, &["delete-records", "a.b", "0", "-2"], "negative");
    fails(dir, &["maintain", "nope"], "\"nope\" does not exist");
    assert_eq!(snapshot(dir), before);

    // The longest legal name works.
    let longest = "t".repeat(249);
    ok(dir, &["topic-create", &longest, "--partitions", "1"]);
    assert!(dir.join(format!("{longest}-0")).is_dir());
}

#[test]
fn topic_delete_removes_directories_and_a_recreated_topic_starts_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let dirs = [a.as_path(), b.as_path()];
    lines_of(&dirs, &["topic-create", "doomed", "--partitions", "4"], b"");
    lines_of(&dirs, &["topic-create", "keeper", "--partitions", "1"], b"");
    for p in 0..4 {
        let part = p.to_string();
        lines_of(&dirs, &["produce", "doomed", "--partition", &part], b"1\n2\n3\n");
    }
    lines_of(&dirs, &["produce", "keeper"], b"kept\n");
    let doomed_dirs = |dir: &Path| {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("doomed-"))
            .count()
    };
    assert_eq!(doomed_dirs(&a) + doomed_dirs(&b), 4);

    assert_eq!(
        lines_of(&dirs, &["topic-delete", "doomed"], b""),
        [r#"{"topic":"doomed","deleted":true}"#]
    );
    assert_eq!(doomed_dirs(&a) + doomed_dirs(&b), 0, "no doomed-N nor doomed-N.*-delete left");
    assert_eq!(lines_of(&dirs, &["topic-list"], b""), [r#"{"topic":"keeper","partitions":1}"#]);
    let kept = lines_of(&dirs, &["consume", "keeper"], b"");
    assert_eq!(kept.len(), 1);
    assert_eq!(text_or_null(&kept[0], "value"), Some("kept"));

    lines_of(&dirs, &["topic-create", "doomed", "--partitions", "2"], b"");
    for line in lines_of(&dirs, &["topic-describe", "doomed"], b"") {
        assert_eq!(num(&line, "log_start_offset"), Some(0), "{line}");
        assert_eq!(num(&line, "log_end_offset"), Some(0), "{line}");
        assert_eq!(num(&line, "size_bytes"), Some(0), "{line}");
    }
    assert!(lines_of(&dirs, &["consume", "doomed"], b"").is_empty());
}

/// `produce`s `n` records `"{prefix}-{i}"` with CreateTime `ts` (now when `None`), one per batch;
/// returns their offsets.
fn produce_values(dir: &Path, topic: &str, prefix: &str, n: usize, ts: Option<i64>) -> Vec<i64> {
    let input: String = (0..n).map(|i| format!("{prefix}-{i}-{}\n", "v".repeat(40))).collect();
    let ts = ts.map(|t| t.to_string());
    let mut args = vec!["produce", topic, "--partition", "0", "--batch-records", "1"];
    if let Some(t) = &ts {
        args.extend(["--timestamp", t.as_str()]);
    }
    ok_in(dir, &args, input.as_bytes()).iter().map(|l| num(l, "base_offset").unwrap()).collect()
}

/// The (offset, value) pairs `consume --from-beginning` prints for partition 0.
fn consumed(dir: &Path, topic: &str) -> Vec<(i64, Option<String>)> {
    ok(dir, &["consume", topic, "--partition", "0", "--from-beginning"])
        .iter()
        .map(|l| (num(l, "offset").unwrap(), text_or_null(l, "value").map(str::to_owned)))
        .collect()
}

#[test]
fn retention_ms_deletes_old_segments_and_leaves_the_suffix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let part = dir.join("events-0");
    let cfg = ["--config", "segment.bytes=1024", "--config", "retention.ms=3600000"];
    let mut args = vec!["topic-create", "events", "--partitions", "1"];
    args.extend(cfg);
    ok(dir, &args);
    let old = produce_values(dir, "events", "old", 40, Some(now_ms() - 2 * 86_400_000));
    let new = produce_values(dir, "events", "new", 15, None);
    let bases = segment_bases(&part);
    assert!(bases.len() > 4, "the old records span several segments: {bases:?}");
    // Segments holding only old records go; the first holding a new one stays.
    let first_new = new[0];
    let expected_start = *bases.iter().filter(|&&b| b <= first_new).max().unwrap();
    assert!(expected_start > 0);

    let report = ok(dir, &["maintain"]);
    assert_eq!(report.len(), 1);
    let deleted = bases.iter().filter(|&&b| b < expected_start).count();
    assert_eq!(num(&report[0], "segments_deleted"), Some(deleted as i64), "{}", report[0]);
    assert!(num(&report[0], "bytes_deleted").unwrap() > 0);
    assert_eq!(
        ok(dir, &["offsets", "events"]),
        [format!(r#"{{"partition":0,"earliest":{expected_start},"latest":55}}"#)]
    );
    assert_eq!(segment_bases(&part)[0], expected_start, "the start is a segment boundary");
    let all: Vec<(i64, String)> = old
        .iter()
        .enumerate()
        .map(|(i, &o)| (o, format!("old-{i}-{}", "v".repeat(40))))
        .chain(new.iter().enumerate().map(|(i, &o)| (o, format!("new-{i}-{}", "v".repeat(40)))))
        .collect();
    let suffix: Vec<(i64, Option<String>)> =
        all.into_iter().filter(|(o, _)| *o >= expected_start).map(|(o, v)| (o, Some(v))).collect();
    assert_eq!(consumed(dir, "events"), suffix);
    common::assert_kafka_valid(&part, INDEX_INTERVAL);
}

#[test]
fn retention_bytes_keeps_the_newest_data_within_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let part = dir.join("sized-0");
    let (limit, segment) = (3000_u64, 1024_u64);
    ok(
        dir,
        &[
            "topic-create",
            "sized",
            "--partitions",
            "1",
            "--config",
            &format!("segment.bytes={segment}"),
            "--config",
            &format!("retention.bytes={limit}"),
        ],
    );
    let offsets = produce_values(dir, "sized", "r", 120, None);
    assert!(log_bytes(&part) > 3 * limit);
    let report = ok(dir, &["maintain", "sized"]);
    assert!(num(&report[0], "segments_deleted").unwrap() > 0, "{}", report[0]);
    let size = log_bytes(&part);
    assert!(size <= limit + segment, "{size} bytes left, limit {limit} + one segment");
    let described = ok(dir, &["topic-describe", "sized"]);
    assert_eq!(num(&described[0], "size_bytes"), Some(size as i64));
    let start = segment_bases(&part)[0];
    assert!(start > 0);
    let expected: Vec<(i64, Option<String>)> = offsets
        .iter()
        .enumerate()
        .filter(|&(_, &o)| o >= start)
        .map(|(i, &o)| (o, Some(format!("r-{i}-{}", "v".repeat(40)))))
        .collect();
    assert_eq!(consumed(dir, "sized"), expected, "the newest records survive, in order");
    assert_eq!(expected.last().unwrap().0, 119);
    common::assert_kafka_valid(&part, INDEX_INTERVAL);
}

#[test]
fn delete_records_moves_the_log_start_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let part = dir.join("dr-0");
    ok(dir, &["topic-create", "dr", "--partitions", "2", "--config", "segment.bytes=1024"]);
    produce_values(dir, "dr", "r", 50, None);
    let bases = segment_bases(&part);
    let keep_from = *bases.iter().filter(|&&b| b <= 17).max().unwrap();
    assert!(keep_from > 0, "offset 17 is beyond the first segment: {bases:?}");
    assert_eq!(
        ok(dir, &["delete-records", "dr", "0", "17"]),
        [r#"{"partition":0,"log_start_offset":17}"#]
    );
    assert_eq!(ok(dir, &["offsets", "dr"])[0], r#"{"partition":0,"earliest":17,"latest":50}"#);
    let got = consumed(dir, "dr");
    assert_eq!(got.len(), 33);
    assert_eq!(got[0].0, 17);
    assert_eq!(got[0].1.as_deref(), Some(format!("r-17-{}", "v".repeat(40)).as_str()));
    let kept: Vec<i64> = bases.iter().copied().filter(|&b| b >= keep_from).collect();
    assert_eq!(segment_bases(&part), kept, "whole segments below the start are gone, not more");
    // Below the start is a no-op; past the end is refused and changes nothing.
    assert_eq!(
        ok(dir, &["delete-records", "dr", "0", "5"]),
        [r#"{"partition":0,"log_start_offset":17}"#]
    );
    fails(dir, &["delete-records", "dr", "0", "51"], "past the log end 50");
    assert_eq!(ok(dir, &["offsets", "dr"])[0], r#"{"partition":0,"earliest":17,"latest":50}"#);
    // -1 is the log end (Kafka's "everything").
    ok_in(dir, &["produce", "dr", "--partition", "1"], b"a\nb\n");
    assert_eq!(
        ok(dir, &["delete-records", "dr", "1", "-1"]),
        [r#"{"partition":1,"log_start_offset":2}"#]
    );
    assert_eq!(ok(dir, &["offsets", "dr"])[1], r#"{"partition":1,"earliest":2,"latest":2}"#);
    common::assert_kafka_valid(&part, INDEX_INTERVAL);
}

#[test]
fn maintain_compacts_to_the_latest_record_per_live_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let part = dir.join("kv-0");
    ok(
        dir,
        &[
            "topic-create",
            "kv",
            "--partitions",
            "1",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "min.cleanable.dirty.ratio=0.01",
            "--config",
            "segment.bytes=1024",
        ],
    );
    // 12 keys, 150 writes: overwrites, and tombstones for every key divisible by 4 at the end
    // (plus some tombstones early that later writes revive).
    let mut input = String::new();
    let mut latest: BTreeMap<String, (usize, Option<String>)> = BTreeMap::new();
    let mut seq = 0;
    let mut write = |input: &mut String, key: String, value: Option<String>| {
        input.push_str(&format!("{key}:{}\n", value.as_deref().unwrap_or("<null>")));
        latest.insert(key, (seq, value));
        seq += 1;
    };
    for i in 0..150 {
        let k = (i * 7) % 12;
        let value = if i % 23 == 5 { None } else { Some(format!("v{i}-{}", "x".repeat(20))) };
        write(&mut input, format!("key{k}"), value);
    }
    for k in (0..12).step_by(4) {
        write(&mut input, format!("key{k}"), None);
    }
    // Unique keys after, so everything above lies in segments the cleaner may clean.
    for i in 0..40 {
        write(&mut input, format!("filler{i}"), Some(format!("f{i}-{}", "y".repeat(20))));
    }
    let produced = ok_in(
        dir,
        &[
            "produce",
            "kv",
            "--partition",
            "0",
            "--batch-records",
            "1",
            "--key-separator",
            ":",
            "--null-marker",
            "<null>",
        ],
        input.as_bytes(),
    );
    assert_eq!(produced.len(), seq);
    let offset_of: Vec<i64> = produced.iter().map(|l| num(l, "base_offset").unwrap()).collect();
    assert!(segment_bases(&part).len() > 5);

    let report = ok(dir, &["maintain"]);
    assert!(num(&report[0], "partitions_cleaned").unwrap() >= 1, "{}", report[0]);
    assert!(num(&report[0], "bytes_read").unwrap() > num(&report[0], "bytes_written").unwrap());

    let lines = ok(dir, &["consume", "kv", "--from-beginning"]);
    let mut seen = BTreeMap::new();
    for l in &lines {
        let key = text_or_null(l, "key").unwrap().to_owned();
        let (offset, value) =
            (num(l, "offset").unwrap(), text_or_null(l, "value").map(str::to_owned));
        let (at, want) = &latest[&key];
        assert_eq!(offset, offset_of[*at], "{key}: only its latest record survives");
        assert_eq!(&value, want, "{key}");
        assert!(seen.insert(key.clone(), value).is_none(), "{key} appears twice");
    }
    for (key, (_, value)) in &latest {
        if value.is_some() {
            assert!(seen.contains_key(key), "live key {key} is gone");
        }
    }
    // Tombstones may linger for delete.retention.ms; no dead key keeps a value.
    let live = latest.values().filter(|v| v.1.is_some()).count();
    assert_eq!(seen.values().filter(|v| v.is_some()).count(), live);
    // kafka_verify.py, and Kafka's own reader (kverify) when built, must read it all alike.
    common::assert_kafka_valid(&part, INDEX_INTERVAL);
}

/// A cleaning that fails (a sealed segment with a batch whose CRC does not match) is a failed
/// `maintain`, as an offline partition is: exit 3, the partition and the cause on stderr, no
/// report on stdout, and the segment as it was.
#[test]
fn maintain_whose_cleaning_fails_exits_3_naming_the_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(
        dir,
        &[
            "topic-create",
            "kv",
            "--partitions",
            "1",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "min.cleanable.dirty.ratio=0.01",
            "--config",
            "segment.bytes=1024",
        ],
    );
    let input: String = (0..200).map(|i| format!("k{}:v{i}\n", i % 5)).collect();
    let args =
        ["produce", "kv", "--partition", "0", "--key-separator", ":", "--batch-records", "5"];
    ok_in(dir, &args, input.as_bytes());
    let first = dir.join("kv-0").join("00000000000000000000.log");
    let mut bytes = fs::read(&first).unwrap();
    // A byte of the first batch's records: its CRC no longer matches.
    bytes[70] ^= 0xff;
    fs::write(&first, &bytes).unwrap();
    let out = run(&[dir], &["maintain"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("kv-0") && err.contains("clean"), "{err}");
    assert!(out.stdout.is_empty(), "maintain reported success");
    assert_eq!(fs::read(&first).unwrap(), bytes, "the damaged segment changed");
}

// ---------------------------------------------------------------------------------------------
// The operator's review of 12f6be2

/// Runs the tool for people (no `--json`) with `--dir dir`: (status, stdout, stderr).
fn human(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::logtool_run(&[dir], false, args, b"");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The contract's invocation, `cargo run --release --example logtool -- ...`, on a checkout
/// with no extra flags: `cargo build --example logtool` (default features, no `cli`) builds
/// the tool to `target/<profile>/examples/logtool`, and it runs a verb.
#[test]
fn the_contracts_example_command_builds_without_flags_and_runs_the_tool() {
    let Some(cargo) = std::env::var_os("CARGO") else {
        common::skip("not started by cargo: cannot build the example");
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let mut build = std::process::Command::new(cargo);
    build.current_dir(common::manifest_dir()).args(["build", "--example", "logtool"]);
    match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let built = build.output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let example =
        profile_dir.join("examples").join(format!("logtool{}", std::env::consts::EXE_SUFFIX));
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&example)
            .arg("--dir")
            .arg(tmp.path())
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        run(&["topic-create", "t", "--partitions", "2"]),
        "{\"topic\":\"t\",\"partitions\":2}\n"
    );
    assert!(run(&["topic-list"]).contains("{\"topic\":\"t\",\"partitions\":2}"));
}

#[test]
fn version_prints_the_tools_version_and_one_partition_is_singular() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, out, err) = human(dir, &["--version"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), format!("logtool {}", env!("CARGO_PKG_VERSION")));
    let (_, out, _) = human(dir, &["topic-create", "one"]);
    assert_eq!(out.trim(), "created topic one with 1 partition");
    let (_, out, _) = human(dir, &["topic-create", "two", "--partitions", "2"]);
    assert_eq!(out.trim(), "created topic two with 2 partitions");
}

#[test]
fn delete_records_past_the_end_names_the_last_offset_the_log_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "orders"]);
    fails(dir, &["delete-records", "orders", "0", "9"], "the log is empty, its start and end at 0");
    ok_in(dir, &["produce", "orders"], b"a\nb\nc\n");
    ok(dir, &["delete-records", "orders", "0", "1"]);
    // The log end, 3, is the next offset: the log holds 1 and 2.
    fails(dir, &["delete-records", "orders", "0", "99"], "the log holds offsets 1 to 2;");
    ok(dir, &["delete-records", "orders", "0", "2"]);
    fails(dir, &["delete-records", "orders", "0", "99"], "the log holds offset 2 only;");
}

#[test]
fn a_missing_dir_is_created_by_every_verb_and_is_an_empty_store() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("fresh");
    assert_eq!(lines_of(&[&fresh], &["topic-list"], b""), Vec::<String>::new());
    assert!(fresh.is_dir(), "created if missing, as the contract says of --dir");
    let other = tmp.path().join("other");
    assert_eq!(lines_of(&[&other], &["group-list"], b""), Vec::<String>::new());
    assert!(other.is_dir());
}

#[test]
fn a_dir_that_is_a_regular_file_is_not_a_directory_for_writers_too() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("afile");
    fs::write(&file, "x").unwrap();
    for args in [&["topic-create", "t"][..], &["topic-list"], &["flush"]] {
        let out = run(&[&file], args, b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert_eq!(
            err.trim(),
            format!("logtool: log directory {} is not a directory", file.display())
        );
    }
}

/// A partition whose `partition.metadata` is damaged is offline: every command says so on
/// stderr, `flush` and `maintain` (which skip it) exit 3, `topic-describe` lists it with its
/// state, and what the open ignored (a damaged checkpoint, a stray directory) is said too.
#[test]
fn offline_partitions_and_ignored_entries_are_said_and_skipping_one_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "t", "--partitions", "2"]);
    ok_in(dir, &["produce", "t", "--partition", "0"], b"a\n");
    fs::write(dir.join("t-1").join("partition.metadata"), "garbage").unwrap();
    fs::write(dir.join("recovery-point-offset-checkpoint"), "x").unwrap();
    fs::create_dir(dir.join("stray")).unwrap();
    let says = |err: &str, checkpoint: bool| {
        let offline = err.lines().filter(|l| l.contains("partition t-1 is offline")).count();
        assert_eq!(offline, 1, "one line for the offline partition: {err}");
        assert!(err.contains("partition.metadata line 1") && err.contains("\"garbage\""), "{err}");
        let ignored = err.contains("ignored ") && err.contains("recovery-point-offset-checkpoint");
        assert_eq!(ignored, checkpoint, "{err}");
        assert!(err.contains("ignored ") && err.contains("stray"), "{err}");
    };
    // A read-only verb says it; the damaged checkpoint stays until a writer closes the store.
    let out = run(&[dir], &["topic-list"], b"");
    assert!(out.status.success());
    says(&String::from_utf8_lossy(&out.stderr), true);
    for (verb, checkpoint) in [("flush", true), ("maintain", false)] {
        let out = run(&[dir], &[verb], b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{verb}: {err}");
        says(&err, checkpoint);
        let last = err.trim_end().lines().last().unwrap();
        assert!(last.contains("t-1") && last.contains("offline"), "{verb}: {err}");
        assert!(out.stdout.is_empty(), "{verb} reported success");
    }
    let out = run(&[dir], &["topic-describe", "t"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    says(&err, false);
    let lines: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "both partitions: {lines:?}");
    assert!(lines[0].contains(r#""partition":0"#) && lines[0].contains(r#""state":"online""#));
    assert!(lines[1].contains(r#""partition":1"#) && lines[1].contains(r#""state":"offline""#));
    assert!(lines[1].contains(r#""log_end_offset":null"#), "{}", lines[1]);
}

/// A Kafka broker's log directory added to a store that has `strata-topics`
/// is refused, naming `--adopt-unlisted`; with it, its topics are adopted
/// with default configs and listed.
#[test]
fn adopt_unlisted_takes_in_a_kafka_log_directory_added_to_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (k1, k2) = (tmp.path().join("k1"), tmp.path().join("k2"));
    ok(&k1, &["topic-create", "x", "--partitions", "1"]);
    // A directory as a broker leaves it: a partition, no strata-topics.
    ok(&k2, &["topic-create", "y", "--partitions", "1"]);
    fs::remove_file(k2.join("strata-topics")).unwrap();
    let out = run(&[&k1, &k2], &["topic-list"], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--adopt-unlisted"), "{stderr}");
    let listed = lines_of(&[&k1, &k2], &["--adopt-unlisted", "topic-list"], b"");
    assert!(listed.iter().any(|l| l.contains("\"y\"")), "{listed:?}");
    // topic-list opens read-only and writes nothing: a writing verb adopts
    // the topics into every copy, and the next command needs no flag.
    let out = run(&[&k1, &k2], &["topic-list"], b"");
    assert!(!out.status.success());
    lines_of(&[&k1, &k2], &["--adopt-unlisted", "maintain"], b"");
    let listed = lines_of(&[&k1, &k2], &["topic-list"], b"");
    assert!(listed.iter().any(|l| l.contains("\"y\"")), "{listed:?}");
}
