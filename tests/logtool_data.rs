//! `logtool`'s data verbs driven as a user would, through the built binary:
//! `topic-create`, `produce`, `consume`, `offsets`, `offset-for-time` and `flush`
//! (shared/spec/logtool.md). What `produce` wrote must come back from `consume` exactly, pass
//! `kafka_verify.py` and Kafka's own reader, land where Kafka's default partitioner puts it, and be
//! found by `offset-for-time` as a brute-force scan finds it. Bad input must give one clear sentence
//! on stderr and a non-zero exit, never a panic.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use strata::internals::store::partitioner::partition_for_key;

/// Runs `logtool --dir DIR --json ARGS...` with `stdin` piped in.
fn logtool_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    common::logtool_run(&[dir], true, args, stdin)
}

/// Runs `logtool --dir DIR --json ARGS...`, asserts success, returns stdout's lines.
fn ok(dir: &Path, args: &[&str]) -> Vec<String> {
    ok_in(dir, args, b"")
}

fn ok_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Vec<String> {
    common::logtool_ok(&[dir], args, stdin)
}

/// A JSON string as Python's `json.dumps(ensure_ascii=True)` (and logtool) writes it.
fn js(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c => {
                for u in c.encode_utf16(&mut [0; 2]) {
                    write!(out, "\\u{u:04x}").unwrap();
                }
            }
        }
    }
    out.push('"');
    out
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_owned(), js)
}

/// The `consume --json` line of one record.
fn record_line(
    topic: &str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<&str>,
    value: Option<&str>,
    headers: &[(&str, Option<&str>)],
) -> String {
    let headers: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{{\"key\":{},\"value\":{}}}", js(k), opt(*v)))
        .collect();
    format!(
        "{{\"topic\":{},\"partition\":{partition},\"offset\":{offset},\"timestamp\":{timestamp},\
         \"timestamp_type\":\"CreateTime\",\"key\":{},\"value\":{},\"headers\":[{}]}}",
        js(topic),
        opt(key),
        opt(value),
        headers.join(",")
    )
}

/// The value of a number (or null) field of a flat JSON line.
fn field(line: &str, name: &str) -> Option<i64> {
    let pat = format!("\"{name}\":");
    let at = line.find(&pat).unwrap_or_else(|| panic!("no {name} in {line}")) + pat.len();
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap();
    let text = &rest[..end];
    if text == "null" { None } else { Some(text.parse().unwrap()) }
}

/// The value of a string field (no escapes inside) of a flat JSON line.
fn str_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("\"{name}\":");
    let at = line.find(&pat).unwrap() + pat.len();
    let rest = &line[at..];
    if rest.starts_with("null") {
        return None;
    }
    let rest = rest.strip_prefix('"').unwrap();
    Some(&rest[..rest.find('"').unwrap()])
}

#[test]
fn produce_then_consume_returns_exactly_what_was_produced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(
        ok(dir, &["topic-create", "rt", "--partitions", "1"]),
        [r#"{"topic":"rt","partitions":1}"#]
    );
    let ts = 1_700_000_000_000_i64;
    let input = "k1::v1\n\
                 no separator here\n\
                 k2::<null>\n\
                 <null>::v3\n\
                 ::empty key\n\
                 k4::\n\
                 k5::a::b\n\
                 caf\u{e9}::\u{1f600} \u{2603}\n\
                 k6::crlf\r\n\
                 \n\
                 q\"uote\\::tab\there\n\
                 last::no newline at the end";
    let produced = ok_in(
        dir,
        &[
            "produce",
            "rt",
            "--partition",
            "0",
            "--key-separator",
            "::",
            "--null-marker",
            "<null>",
            "--header",
            "trace=abc=d",
            "--header",
            "empty=",
            "--header",
            "gone=<null>",
            "--timestamp",
            &ts.to_string(),
            "--batch-records",
            "5",
        ],
        input.as_bytes(),
    );
    assert_eq!(
        produced,
        [
            r#"{"partition":0,"base_offset":0,"last_offset":4,"records":5}"#,
            r#"{"partition":0,"base_offset":5,"last_offset":9,"records":5}"#,
            r#"{"partition":0,"base_offset":10,"last_offset":11,"records":2}"#,
        ]
    );

    let headers = [("trace", Some("abc=d")), ("empty", Some("")), ("gone", None)];
    let expected: Vec<(Option<&str>, Option<&str>)> = vec![
        (Some("k1"), Some("v1")),
        (None, Some("no separator here")),
        (Some("k2"), None),
        (None, Some("v3")),
        (Some(""), Some("empty key")),
        (Some("k4"), Some("")),
        (Some("k5"), Some("a::b")),
        (Some("caf\u{e9}"), Some("\u{1f600} \u{2603}")),
        (Some("k6"), Some("crlf")),
        (None, Some("")),
        (Some("q\"uote\\"), Some("tab\there")),
        (Some("last"), Some("no newline at the end")),
    ];
    let expected: Vec<String> = expected
        .iter()
        .enumerate()
        .map(|(i, (k, v))| record_line("rt", 0, i as i64, ts, *k, *v, &headers))
        .collect();
    assert_eq!(ok(dir, &["consume", "rt"]), expected);
    assert_eq!(ok(dir, &["consume", "rt", "--from-beginning", "--partition", "0"]), expected);
    assert_eq!(ok(dir, &["consume", "rt", "--partition", "0", "--offset", "7"]), expected[7..]);
    assert_eq!(ok(dir, &["consume", "rt", "--max-records", "3"]), expected[..3]);
    assert_eq!(ok(dir, &["consume", "rt", "--partition", "0", "--offset", "12"]), [] as [&str; 0]);
    assert_eq!(ok(dir, &["consume", "rt", "--from-timestamp", &ts.to_string()]), expected);
    assert!(ok(dir, &["consume", "rt", "--from-timestamp", &(ts + 1).to_string()]).is_empty());

    // Without --timestamp a record carries the time it was read.
    let before = now_ms();
    ok_in(dir, &["produce", "rt", "--partition", "0"], b"now\n");
    let after = now_ms();
    let line = ok(dir, &["consume", "rt", "--partition", "0", "--offset", "12"]);
    assert_eq!(line.len(), 1);
    let stamped = field(&line[0], "timestamp").unwrap();
    assert!((before..=after).contains(&stamped), "{before} <= {stamped} <= {after}");
    assert_eq!(str_field(&line[0], "value"), Some("now"));
    assert_eq!(str_field(&line[0], "key"), None);
    assert_eq!(ok(dir, &["offsets", "rt"]), [r#"{"partition":0,"earliest":0,"latest":13}"#]);

    // People's output: aligned columns, null shown as null.
    let out = Command::new(common::logtool_bin_built())
        .args(["--dir", dir.to_str().unwrap(), "consume", "rt", "--max-records", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "a heading and three records: {text}");
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["0", "2", &ts.to_string(), "k2", "null"]
    );
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis(),
    )
    .unwrap()
}

/// One input line of the acceptance test: keyed (`KEY:VALUE`) or not, the value unique.
fn acceptance_lines(rng: &mut common::Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            // Random hex keeps the codecs from squeezing the data into a single segment.
            let noise: String = (0..3).map(|_| format!("{:016x}", rng.next())).collect();
            if rng.below(4) == 0 {
                format!("unkeyed-{i}-{noise}")
            } else {
                format!("key-{}:value-{i}-{noise}", rng.below(50))
            }
        })
        .collect()
}

/// Splits an acceptance line into (key, value).
fn split_line(line: &str) -> (Option<&str>, &str) {
    match line.split_once(':') {
        Some((k, v)) => (Some(k), v),
        None => (None, line),
    }
}

#[test]
fn acceptance_several_topics_every_codec_rolled_segments_pass_kafkas_checkers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = common::Rng(0x00ac_ce97);
    let partitions = 3;
    let verify = common::kafka_verify_available();
    if let Err(reason) = &verify {
        common::skip(&format!("kafka_verify.py part: {reason}"));
    }
    let mut kverify_missing = false;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("acc-{codec}");
        ok(
            dir,
            &[
                "topic-create",
                &topic,
                "--partitions",
                &partitions.to_string(),
                "--config",
                // Small enough that every partition rolls even when zstd shrinks the
                // batches and the sticky partitioner gives a partition few unkeyed lines.
                "segment.bytes=4096",
            ],
        );
        let lines = acceptance_lines(&mut rng, 1500);
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let reports = ok_in(
            dir,
            &[
                "produce",
                &topic,
                "--key-separator",
                ":",
                "--compression",
                codec,
                "--batch-records",
                "25",
            ],
            input.as_bytes(),
        );
        let reported: i64 = reports.iter().map(|r| field(r, "records").unwrap()).sum();
        assert_eq!(reported, 1500, "{topic}: every line reported in some batch");

        // consume prints back exactly what was produced: every line once, keyed lines in the
        // partition Kafka's partitioner picks, each partition in input order.
        let consumed = ok(dir, &["consume", &topic]);
        assert_eq!(consumed.len(), lines.len(), "{topic}");
        let index: BTreeMap<&str, usize> =
            lines.iter().enumerate().map(|(i, l)| (split_line(l).1, i)).collect();
        let mut last_index: BTreeMap<i64, usize> = BTreeMap::new();
        let mut seen = vec![false; lines.len()];
        let mut last_partition = 0;
        for line in &consumed {
            let p = field(line, "partition").unwrap();
            assert!(p >= last_partition, "partitions come in order");
            last_partition = p;
            let value = str_field(line, "value").unwrap();
            let i = index[value];
            assert!(!seen[i], "{value} consumed twice");
            seen[i] = true;
            let (key, _) = split_line(&lines[i]);
            assert_eq!(str_field(line, "key"), key, "{topic}: key of {value}");
            if let Some(k) = key {
                assert_eq!(p, i64::from(partition_for_key(k.as_bytes(), partitions)), "{k}");
            }
            if let Some(&prev) = last_index.get(&p) {
                assert!(i > prev, "{topic}-{p}: input order kept");
            }
            last_index.insert(p, i);
            assert_eq!(str_field(line, "topic"), Some(topic.as_str()));
        }

        for p in 0..partitions {
            let pdir = dir.join(format!("{topic}-{p}"));
            let segments = common::segment_logs(&pdir).len();
            assert!(segments > 1, "{topic}-{p} rolled: {segments} segments");
            if verify.is_err() {
                continue;
            }
            // One run checks the invariants (index entries > 4096 bytes apart included) and dumps.
            let outcome = common::kafka_verify(&pdir, &["--index-interval", "4096", "--dump"]);
            assert!(outcome.ok(), "kafka_verify.py {}: {outcome}", pdir.display());
            let dump = outcome.stdout;
            let batches = dump.lines().filter(|l| l.starts_with("{\"type\":\"batch\"")).count();
            let with_codec = dump.matches(&format!("\"compression\":\"{codec}\"")).count();
            assert!(batches > 0);
            assert_eq!(with_codec, batches, "{topic}-{p}: every batch is {codec}");
            match common::kverify_dump(&pdir) {
                None => kverify_missing = true,
                Some(java) => assert_eq!(java.unwrap(), dump, "kverify vs kafka_verify.py"),
            }
        }
    }
    if kverify_missing {
        common::skip("kverify (Kafka's Java reader) is not built; .ci/run builds it");
    }
}

#[test]
fn offsets_and_offset_for_time_agree_with_brute_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "tt", "--partitions", "1", "--config", "segment.bytes=2048"]);
    assert_eq!(
        ok(dir, &["offset-for-time", "tt", "0", "max-timestamp"]),
        [r#"{"partition":0,"timestamp":-1,"offset":null}"#],
        "an empty log has no max-timestamp record"
    );
    let mut rng = common::Rng(0x7173);
    let base = now_ms() - 86_400_000;
    // 40 timestamps, shuffled, some repeated: one produce invocation (several batches) each.
    let mut stamps: Vec<i64> = (0..40).map(|i| base + (i / 4 * 4 + i % 3) * 1000).collect();
    rng.shuffle(&mut stamps);
    let mut records: Vec<(i64, i64)> = Vec::new(); // (offset, timestamp)
    for (run, &ts) in stamps.iter().enumerate() {
        let n = 1 + rng.below(7);
        let input: String =
            (0..n).map(|i| format!("run {run} line {i} {}\n", "x".repeat(40))).collect();
        let reports = ok_in(
            dir,
            &["produce", "tt", "--timestamp", &ts.to_string(), "--batch-records", "3"],
            input.as_bytes(),
        );
        for r in &reports {
            for o in field(r, "base_offset").unwrap()..=field(r, "last_offset").unwrap() {
                assert_eq!(o, records.len() as i64, "offsets are dense");
                records.push((o, ts));
            }
        }
    }
    let leo = records.len() as i64;
    assert!(common::segment_logs(&dir.join("tt-0")).len() > 2, "the search spans segments");
    assert_eq!(
        ok(dir, &["offsets", "tt"]),
        [format!(r#"{{"partition":0,"earliest":0,"latest":{leo}}}"#)]
    );
    assert_eq!(
        ok(dir, &["offset-for-time", "tt", "0", "earliest"]),
        [r#"{"partition":0,"timestamp":-1,"offset":0}"#]
    );
    assert_eq!(
        ok(dir, &["offset-for-time", "tt", "0", "latest"]),
        [format!(r#"{{"partition":0,"timestamp":-1,"offset":{leo}}}"#)]
    );
    let max = records.iter().map(|r| r.1).max().unwrap();
    let first_max = records.iter().find(|r| r.1 == max).unwrap().0;
    assert_eq!(
        ok(dir, &["offset-for-time", "tt", "0", "max-timestamp"]),
        [format!(r#"{{"partition":0,"timestamp":{max},"offset":{first_max}}}"#)]
    );

    let (lo, hi) = (base - 2000, max + 2000);
    let mut targets: Vec<i64> =
        (0..40).map(|_| lo + i64::try_from(rng.below((hi - lo) as u64)).unwrap()).collect();
    // Exact hits and the edges too.
    targets.extend([stamps[0], stamps[1], max, max + 1, base, lo]);
    targets.extend((0..4).map(|i| stamps[5 + i] - 1));
    assert_eq!(targets.len(), 50);
    for target in targets {
        let expected = match records.iter().find(|r| r.1 >= target) {
            Some((o, ts)) => format!(r#"{{"partition":0,"timestamp":{ts},"offset":{o}}}"#),
            None => r#"{"partition":0,"timestamp":-1,"offset":null}"#.to_owned(),
        };
        assert_eq!(
            ok(dir, &["offset-for-time", "tt", "0", &target.to_string()]),
            [expected],
            "target {target}"
        );
    }
    // consume --from-timestamp starts where offset-for-time points.
    let target = stamps[3];
    let first = records.iter().find(|r| r.1 >= target).unwrap().0;
    let consumed = ok(dir, &["consume", "tt", "--from-timestamp", &target.to_string()]);
    assert_eq!(consumed.len() as i64, leo - first);
    assert_eq!(field(&consumed[0], "offset"), Some(first));
}

#[test]
fn default_partitioner_places_keyed_records_and_sticks_unkeyed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "dp", "--partitions", "5"]);
    let keys: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    let input: String = keys.iter().map(|k| format!("{k}={k}-value\n")).collect();
    ok_in(dir, &["produce", "dp", "--key-separator", "="], input.as_bytes());
    let consumed = ok(dir, &["consume", "dp"]);
    assert_eq!(consumed.len(), 200);
    for line in &consumed {
        let key = str_field(line, "key").unwrap();
        let p = field(line, "partition").unwrap();
        assert_eq!(p, i64::from(partition_for_key(key.as_bytes(), 5)), "{key}");
    }
    // "foobar" on 3 partitions is partition 0 (kafka-storage.md §8.5's example).
    ok(dir, &["topic-create", "three", "--partitions", "3"]);
    let r = ok_in(dir, &["produce", "three", "--key-separator", ":"], b"foobar:x\n");
    assert_eq!(r, [r#"{"partition":0,"base_offset":0,"last_offset":0,"records":1}"#]);

    // Unkeyed: each batch of 10 goes whole to one partition, then the partitioner moves on.
    ok(dir, &["topic-create", "sticky", "--partitions", "4"]);
    let input: String = (0..200).map(|i| format!("v{i}\n")).collect();
    let reports = ok_in(dir, &["produce", "sticky", "--batch-records", "10"], input.as_bytes());
    assert_eq!(reports.len(), 20);
    let parts: Vec<i64> = reports.iter().map(|r| field(r, "partition").unwrap()).collect();
    assert!(reports.iter().all(|r| field(r, "records") == Some(10)), "{reports:?}");
    assert!(parts.windows(2).all(|w| w[0] != w[1]), "a full batch moves it on: {parts:?}");
    let mut used = parts.clone();
    used.sort_unstable();
    used.dedup();
    assert!(used.len() >= 3, "spread over partitions: {parts:?}");
}

#[test]
fn config_file_dirs_and_num_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let props = tmp.path().join("server.properties");
    std::fs::write(&props, "num.partitions=4\nbroker.id=1\n").unwrap();
    let out = Command::new(common::logtool_bin_built())
        .arg("--dir")
        .arg(&a)
        .arg("--dir")
        .arg(&b)
        .arg("--config")
        .arg(&props)
        .args(["--json", "topic-create", "multi"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "{\"topic\":\"multi\",\"partitions\":4}\n");
    let count = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("multi-"))
            .count()
    };
    assert_eq!((count(&a), count(&b)), (2, 2), "partitions spread over both directories");

    // log.dirs from the file when no --dir is given.
    let c = tmp.path().join("c");
    std::fs::write(&props, format!("log.dirs={}\nnum.partitions=2\n", c.display())).unwrap();
    let out = Command::new(common::logtool_bin_built())
        .arg("--config")
        .arg(&props)
        .args(["--json", "topic-create", "fromfile"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(c.join("fromfile-0").is_dir() && c.join("fromfile-1").is_dir());
    assert!(c.join(".kafka_cleanshutdown").is_file(), "closed cleanly");

    assert_eq!(ok(&c, &["flush"]), [r#"{"flushed":true}"#]);
    assert_eq!(ok(&c, &["flush", "fromfile"]), [r#"{"flushed":true}"#]);
}

/// Runs a command that must fail: non-zero exit, one line on stderr, no panic, nothing on stdout.
fn fails(dir: &Path, args: &[&str], stdin: &[u8], mentions: &str) {
    let out = logtool_in(dir, args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "logtool {args:?} should fail");
    assert!(out.status.code().is_some(), "{args:?} died of a signal");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{args:?}: {stderr}"
    );
    assert!(stderr.contains(mentions), "{args:?}: {stderr:?} should mention {mentions:?}");
    if stderr.starts_with("logtool: ") {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one sentence: {stderr}");
    }
    assert!(out.stdout.is_empty(), "{args:?} printed {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "good", "--partitions", "2"]);
    ok_in(dir, &["produce", "good", "--partition", "1"], b"a\nb\n");
    let before = ok(dir, &["offsets", "good"]);

    fails(dir, &["produce", "nope"], b"x\n", "nope");
    fails(dir, &["consume", "nope"], b"", "nope");
    fails(dir, &["offsets", "nope"], b"", "nope");
    fails(dir, &["offset-for-time", "nope", "0", "latest"], b"", "nope");
    fails(dir, &["flush", "nope"], b"", "nope");
    fails(dir, &["produce", "good", "--partition", "2"], b"x\n", "partition 2");
    fails(dir, &["produce", "good", "--partition", "-1"], b"x\n", "partition -1");
    fails(dir, &["consume", "good", "--partition", "7"], b"", "partition 7");
    fails(dir, &["consume", "good", "--partition", "1", "--offset", "5"], b"", "out of range");
    fails(dir, &["offset-for-time", "good", "3", "latest"], b"", "partition 3");
    fails(dir, &["offset-for-time", "good", "0", "yesterday"], b"", "yesterday");
    fails(dir, &["topic-create", "a/b"], b"", "a/b");
    fails(dir, &["topic-create", ".."], b"", "..");
    fails(dir, &["topic-create", "good"], b"", "already exists");
    fails(dir, &["topic-create", "x", "--config", "no.such.key=1"], b"", "no.such.key");
    fails(dir, &["topic-create", "x", "--config", "segment.bytes=lots"], b"", "segment.bytes");
    fails(dir, &["topic-create", "x", "--config", "segment.bytes"], b"", "KEY=VALUE");
    fails(dir, &["topic-create", "x", "--partitions", "0"], b"", "partition");
    fails(dir, &["produce", "good", "--compression", "brotli"], b"x\n", "brotli");
    fails(dir, &["produce", "good", "--header", "novalue"], b"x\n", "novalue");
    fails(dir, &["produce", "good", "--key-separator", ""], b"x\n", "key-separator");
    fails(dir, &["produce", "good", "--batch-records", "0"], b"x\n", "batch-records");
    // A timestamp a day ahead breaks message.timestamp.after.max.ms of one hour.
    ok(dir, &["topic-create", "strict", "--config", "message.timestamp.after.max.ms=3600000"]);
    let future = (now_ms() + 86_400_000).to_string();
    fails(dir, &["produce", "strict", "--timestamp", &future], b"x\n", "timestamp");
    assert_eq!(ok(dir, &["offsets", "strict"]), [r#"{"partition":0,"earliest":0,"latest":0}"#]);

    assert_eq!(ok(dir, &["offsets", "good"]), before, "failed commands changed nothing");
    assert!(!dir.join("a").exists() && !dir.join("x-0").exists());
    let consumed = ok(dir, &["consume", "good"]);
    assert_eq!(consumed.len(), 2);

    // A config file that does not exist or does not parse.
    let out = Command::new(common::logtool_bin_built())
        .arg("--dir")
        .arg(dir)
        .args(["--config", "/nonexistent/server.properties", "offsets", "good"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/server.properties") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn produce_cuts_batches_at_the_partitions_size_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "small", "--config", "max.message.bytes=1000"]);
    // 300-byte lines: at most three fit a 1000-byte batch, so the 20-record batches are cut.
    let lines: Vec<String> = (0..20).map(|i| format!("{i:03}{}", "x".repeat(297))).collect();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let reports = ok_in(dir, &["produce", "small", "--batch-records", "20"], input.as_bytes());
    assert!(reports.len() >= 7, "{reports:?}");
    assert!(reports.iter().all(|r| field(r, "records").unwrap() <= 3), "{reports:?}");
    let consumed = ok(dir, &["consume", "small"]);
    let values: Vec<&str> = consumed.iter().map(|l| str_field(l, "value").unwrap()).collect();
    assert_eq!(values, lines);
    // One record larger than the limit cannot be cut: a clear error, nothing appended.
    let big = format!("{}\n", "y".repeat(2000));
    fails(dir, &["produce", "small"], big.as_bytes(), "max.message.bytes");
    assert_eq!(ok(dir, &["offsets", "small"]), [r#"{"partition":0,"earliest":0,"latest":20}"#]);
}

#[test]
fn consume_follow_prints_records_another_process_appends_until_max_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "f", "--partitions", "1"]);
    ok_in(dir, &["produce", "f", "--partition", "0"], b"a\nb\n");
    let mut child = Command::new(common::logtool_bin_built())
        .arg("--dir")
        .arg(dir)
        .args(["--json", "consume", "f", "--follow", "--max-records", "3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The consumer's lines, as it prints them: "c" is produced once it printed the two records
    // there were, so it follows the log to a record appended after it reached the end (with a
    // fixed sleep, a consumer started late found all three at once).
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout) {
            let _ = lines_tx.send(line.unwrap());
        }
    });
    let patience = std::time::Duration::from_secs(60);
    let value = |l: String| {
        let (_, rest) = l.split_once(r#""value":""#).unwrap();
        rest.split('"').next().unwrap().to_owned()
    };
    let mut values = Vec::new();
    for _ in 0..2 {
        values.push(value(lines.recv_timeout(patience).expect("consume --follow printed")));
    }
    ok_in(dir, &["produce", "f", "--partition", "0"], b"c\n");
    let deadline = std::time::Instant::now() + patience;
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "consume --follow did not stop at 3 records");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(child.wait().unwrap().success());
    // The reading thread sends the rest and ends with the pipe.
    values.extend(lines.iter().map(value));
    assert_eq!(values, ["a", "b", "c"]);
}

// ---------------------------------------------------------------------------------------------
// The operator's review of 12f6be2

/// A keyless line after 600 keyed ones into a compacted topic: with `--atomic` the whole
/// input is checked before the first append, so the failure names the line and the log stays
/// empty; by default (a live feed) the first batch of 500 is appended as it fills, the 100
/// records pending are appended before the refusal is reported, and the failure says the 600
/// stay (the old tool failed without saying; `logtool_produce` checks the reports).
#[test]
fn produce_checks_every_line_before_appending_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "c", "--partitions", "1", "--config", "cleanup.policy=compact"]);
    let mut input = String::new();
    for i in 0..600 {
        writeln!(input, "k{i}:v").unwrap();
    }
    input.push_str("no key here\n");
    let out =
        logtool_in(dir, &["produce", "c", "--key-separator", ":", "--atomic"], input.as_bytes());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 601") && err.contains("without a key"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "a batch was reported: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(ok(dir, &["offsets", "c"]), [r#"{"partition":0,"earliest":0,"latest":0}"#]);
    // By default batches are appended as they fill (a live feed): the refusal says what stays.
    let out = logtool_in(dir, &["produce", "c", "--key-separator", ":"], input.as_bytes());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 601") && err.contains("600 records of earlier lines"), "{err}");
    assert_eq!(ok(dir, &["offsets", "c"]), [r#"{"partition":0,"earliest":0,"latest":600}"#]);
}

#[test]
fn produce_reports_offsets_in_words_for_people() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "w", "--partitions", "1"]);
    let people = |stdin: &[u8]| {
        let out = common::logtool_run(&[dir], false, &["produce", "w"], stdin);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(people(b"a\n"), "partition 0: 1 record at offset 0\n");
    assert_eq!(people(b"b\nc\n"), "partition 0: 2 records at offsets 1 to 2\n");
}

/// A batch whose CRC does not match is damaged on-disk data: exit 3, as the exit table says
/// (the old tool exited 2, the status of a wrong command line).
#[test]
fn consume_of_a_batch_with_a_bad_crc_exits_with_the_storage_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topic-create", "x", "--partitions", "1"]);
    ok_in(dir, &["produce", "x"], b"one\ntwo\n");
    let log = dir.join("x-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let out = logtool_in(dir, &["consume", "x"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("corrupt batch") && err.contains("00000000000000000000.log"), "{err}");
}

/// A magic-0 record has no timestamp type: Kafka's consumer gives it `NoTimestampType` with
/// timestamp -1 (`AbstractLegacyRecordBatch.timestampType`), as `dump` names it; `consume` called
/// it `CreateTime`.
#[test]
fn consume_names_a_magic_0_records_timestamp_type_as_kafkas_consumer_does() {
    let tmp = tempfile::tempdir().unwrap();
    let store = strata::Store::open(strata::StoreConfig::new([tmp.path()])).unwrap();
    store.create_topic("old", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    drop(store);
    // The partition as a pre-0.10 broker, then a 0.10 one, left it.
    let part = tmp.path().join("old-0");
    for e in std::fs::read_dir(&part).unwrap() {
        let path = e.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("000") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let data = [
        common::legacy::message(0, 0, 0, -1, b"k", b"v0"),
        common::legacy::message(1, 1, 0, 1_000, b"k", b"v1"),
    ];
    std::fs::write(part.join("00000000000000000000.log"), data.concat()).unwrap();

    let lines = ok(tmp.path(), &["consume", "old"]);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(common::json_line::text(&lines[0], "timestamp_type"), "NoTimestampType");
    assert_eq!(common::json_line::num(&lines[0], "timestamp"), Some(-1));
    assert_eq!(common::json_line::text(&lines[1], "timestamp_type"), "CreateTime");
    assert_eq!(common::json_line::num(&lines[1], "timestamp"), Some(1_000));
}
