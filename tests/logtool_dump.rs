//! `logtool dump` decodes each file by its type, as `kafka-dump-log` does, and says what the file
//! holds: `.log` batches and records with Kafka's field names, `.index`, `.timeindex`,
//! `.txnindex`, producer `.snapshot`s, the offset checkpoints, `leader-epoch-checkpoint` and
//! `partition.metadata`. Each is checked against what the file holds: a store this test writes
//! through the library (whose state it knows) and the Kafka-written broker fixtures (whose files
//! it reads back on its own). Also: the exit statuses `--help` documents.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::json_line::{num, text};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use bytes::Bytes;
use strata::{BatchBuilder, Record, Store, StoreConfig, TxnMarker};

fn logtool(args: &[&str]) -> Output {
    Command::new(common::logtool_bin_built()).args(args).output().unwrap()
}

/// stdout lines of a `logtool ARGS` that must exit 0.
fn ok(args: &[&str]) -> Vec<String> {
    let out = logtool(args);
    assert!(out.status.success(), "logtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn of_type<'a>(lines: &'a [String], ty: &str) -> Vec<&'a String> {
    let tag = format!("{{\"type\":\"{ty}\",");
    lines.iter().filter(|l| l.starts_with(&tag)).collect()
}

fn p(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// A store the test writes: it knows every value the files must hold.

const T0: i64 = 1_700_000_000_000;

fn txn(pid: i64, n: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0).producer(pid, 0, 0).transactional(true);
    for i in 0..n {
        b.append(&Record::new(format!("t{i}"), format!("p{pid}-{i}")).timestamp(ts)).unwrap();
    }
    b.build().unwrap()
}

fn marker(pid: i64, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit,
        transaction_version: 0,
    }
}

/// What the test wrote into topic `t` partition 0, as the library reports it before closing.
struct Written {
    leo: i64,
    log_start: i64,
    aborted: Vec<strata::AbortedTxn>,
    epochs: Vec<strata::EpochEntry>,
    topic_id: String,
    /// First offset of producer 9's transaction, left open at close.
    open_txn_first: i64,
    /// (last offset, last sequence) of producer 9's batch.
    open_txn_last: (i64, i32),
}

fn write_store(root: &Path) -> Written {
    let store = Store::open(StoreConfig::new([root.to_path_buf()])).unwrap();
    let mut cfg = BTreeMap::new();
    cfg.insert("index.interval.bytes".to_owned(), "150".to_owned());
    store.create_topic("t", 1, &cfg).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.set_leader_epoch(3).unwrap();
    let mut ts = T0;
    for i in 0..20 {
        ts += 10;
        let mut r = Record::new(format!("key-{i}"), format!("value-{i}-{}", "x".repeat(i * 5)));
        if i % 3 == 0 {
            r = Record::unkeyed(format!("unkeyed-{i}"));
        }
        log.append(&[r.header("h", "v").timestamp(ts)]).unwrap();
    }
    log.append_batch(txn(7, 2, ts)).unwrap();
    log.append_marker(marker(7, false)).unwrap();
    log.set_leader_epoch(5).unwrap();
    for i in 0..5 {
        ts += 10;
        log.append(&[Record::new("later", format!("v{i}")).timestamp(ts)]).unwrap();
    }
    let info = log.append_batch(txn(9, 3, ts + 10)).unwrap();
    store.delete_records("t", 0, 2).unwrap();
    let leo = log.log_end_offset();
    let written = Written {
        leo,
        log_start: log.log_start_offset(),
        aborted: log.aborted_transactions(0, leo).unwrap(),
        epochs: log.leader_epochs(),
        topic_id: log.topic_id().unwrap().unwrap().to_string(),
        open_txn_first: info.base_offset,
        open_txn_last: (info.base_offset + 2, 2),
    };
    drop(log);
    store.close().unwrap();
    written
}

#[test]
fn dump_decodes_every_file_of_a_written_store_to_what_the_library_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let w = write_store(&root);
    assert_eq!(w.aborted.len(), 1, "the test writes one aborted transaction");
    assert_eq!(w.log_start, 2);
    let part = root.join("t-0");

    // Without --all-files a directory is its .log files: exactly the contract's batch/record lines.
    let plain = ok(&["dump", "--json", p(&part)]);
    assert!(
        plain
            .iter()
            .all(|l| l.starts_with("{\"type\":\"batch\"") || l.starts_with("{\"type\":\"record\""))
    );

    let lines = ok(&["dump", "--json", "--all-files", p(&part), p(&root)]);
    let batches = of_type(&lines, "batch");
    assert_eq!(of_type(&lines, "record").len() as i64, w.leo, "every offset once");

    // .txnindex: the aborted transactions the log reports.
    let txns = of_type(&lines, "txnindex");
    assert_eq!(txns.len(), w.aborted.len());
    for (l, a) in txns.iter().zip(&w.aborted) {
        assert_eq!(num(l, "version"), Some(0));
        assert_eq!(num(l, "producerId"), Some(a.producer_id));
        assert_eq!(num(l, "firstOffset"), Some(a.first_offset));
        assert_eq!(num(l, "lastOffset"), Some(a.last_offset));
        assert_eq!(num(l, "lastStableOffset"), Some(a.last_stable_offset));
    }

    // .snapshot: producer 9's open transaction and its last batch; producer 7 ended by its marker.
    // Every snapshot holds the state before its offset: one taken at or below the abort marker
    // still has producer 7's transaction open. The last one is the state at close.
    let all_snaps = of_type(&lines, "snapshot");
    let abort = &w.aborted[0];
    for l in all_snaps.iter().filter(|l| num(l, "producerId") == Some(7)) {
        let at: i64 = text(l, "file").trim_end_matches(".snapshot").parse().unwrap();
        let open = (at <= abort.last_offset).then_some(abort.first_offset);
        assert_eq!(num(l, "currentTxnFirstOffset"), open, "{l}");
    }
    let last_file = text(all_snaps.last().unwrap(), "file");
    assert_eq!(last_file, format!("{:020}.snapshot", w.leo), "the snapshot of the clean close");
    let snaps: Vec<_> = all_snaps.iter().filter(|l| text(l, "file") == last_file).collect();
    let p9 = snaps.iter().find(|l| num(l, "producerId") == Some(9)).expect("producer 9");
    assert_eq!(num(p9, "currentTxnFirstOffset"), Some(w.open_txn_first));
    assert_eq!(num(p9, "lastOffset"), Some(w.open_txn_last.0));
    assert_eq!(num(p9, "lastSequence"), Some(i64::from(w.open_txn_last.1)));
    assert_eq!(num(p9, "firstSequence"), Some(0));
    assert_eq!(num(p9, "offsetDelta"), Some(2));
    let p7 = snaps.iter().find(|l| num(l, "producerId") == Some(7)).expect("producer 7");
    assert_eq!(num(p7, "currentTxnFirstOffset"), None, "the abort ended it");
    assert_eq!(num(p7, "coordinatorEpoch"), Some(0));

    // leader-epoch-checkpoint and partition.metadata.
    let epochs: Vec<(i64, i64)> = of_type(&lines, "leader-epoch-checkpoint")
        .iter()
        .map(|l| (num(l, "epoch").unwrap(), num(l, "startOffset").unwrap()))
        .collect();
    let want: Vec<(i64, i64)> =
        w.epochs.iter().map(|e| (i64::from(e.epoch), e.start_offset)).collect();
    assert_eq!(epochs, want);
    assert!(want.iter().any(|&(e, _)| e == 5), "{want:?}");
    let meta = of_type(&lines, "partition-metadata");
    assert_eq!(meta.len(), 1);
    assert_eq!(text(meta[0], "topicId"), w.topic_id);

    // The log directory's checkpoints: the log start and, after a clean close, the recovery point.
    let checkpoint = |file: &str| -> Vec<(String, i64, i64)> {
        of_type(&lines, "offset-checkpoint")
            .iter()
            .filter(|l| text(l, "file") == file)
            .map(|l| {
                (
                    text(l, "topic").to_owned(),
                    num(l, "partition").unwrap(),
                    num(l, "offset").unwrap(),
                )
            })
            .collect()
    };
    assert!(checkpoint("log-start-offset-checkpoint").contains(&("t".to_owned(), 0, w.log_start)));
    assert!(checkpoint("recovery-point-offset-checkpoint").contains(&("t".to_owned(), 0, w.leo)));

    // .index: each entry points at the batch whose last offset it names.
    let index = of_type(&lines, "index");
    assert!(index.len() >= 3, "index.interval.bytes=150 gives entries: {}", index.len());
    for e in &index {
        let b = batches.iter().find(|b| num(b, "position") == num(e, "position")).expect(e);
        assert_eq!(num(b, "lastOffset"), num(e, "offset"), "{e}");
    }
    // .timeindex: each entry is a batch's max timestamp and last offset (rising timestamps).
    let times = of_type(&lines, "timeindex");
    assert!(times.len() >= 3);
    for e in &times {
        let b = batches.iter().find(|b| num(b, "lastOffset") == num(e, "offset")).expect(e);
        assert_eq!(num(b, "maxTimestamp"), num(e, "timestamp"), "{e}");
    }
}

#[test]
fn dump_prints_kafka_dump_log_field_names_for_people() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let w = write_store(&root);
    let part = root.join("t-0");
    let lines = ok(&["dump", "--all-files", "--print-data-log", p(&part)]);
    let all = lines.join("\n");
    assert!(lines[0].starts_with("Dumping ") && lines[0].ends_with("00000000000000000000.log"));
    assert_eq!(lines[1], "Log starting offset: 0");
    let batch = lines.iter().find(|l| l.starts_with("baseOffset: ")).unwrap();
    for field in [
        " lastOffset: ",
        " count: ",
        " baseSequence: ",
        " lastSequence: ",
        " producerId: ",
        " producerEpoch: ",
        " partitionLeaderEpoch: 3",
        " isTransactional: false",
        " isControl: false",
        " deleteHorizonMs: OptionalLong.empty",
        " position: 0 ",
        " CreateTime: ",
        " size: ",
        " magic: 2",
        " compresscodec: none",
        " crc: ",
        " isvalid: true",
    ] {
        assert!(batch.contains(field), "{field:?} in {batch}");
    }
    // A keyed record with a header, and an unkeyed one: key: only when there is a key.
    let keyed = lines.iter().find(|l| l.starts_with("| offset: 2 ")).unwrap();
    assert!(keyed.contains(" CreateTime: ") && keyed.contains(" keySize: 5 "), "{keyed}");
    assert!(
        keyed.contains(" sequence: -1 headerKeys: [h] key: key-2 payload: value-2-"),
        "{keyed}"
    );
    let unkeyed = lines.iter().find(|l| l.starts_with("| offset: 3 ")).unwrap();
    assert!(
        unkeyed.contains(" keySize: -1 ")
            && unkeyed.ends_with("headerKeys: [h] payload: unkeyed-3")
    );
    // The abort marker: Kafka's control-record words, no payload.
    let abort_at = w.aborted[0].last_offset;
    let marker = lines.iter().find(|l| l.starts_with(&format!("| offset: {abort_at} "))).unwrap();
    assert!(marker.ends_with(" endTxnMarker: ABORT coordinatorEpoch: 0"), "{marker}");
    // The other files in kafka-dump-log's words.
    let a = &w.aborted[0];
    assert!(all.contains(&format!(
        "version: 0 producerId: 7 firstOffset: {} lastOffset: {} lastStableOffset: {}",
        a.first_offset, a.last_offset, a.last_stable_offset
    )));
    assert!(all.contains(&format!(
        "producerId: 9 producerEpoch: 0 coordinatorEpoch: -1 currentTxnFirstOffset: OptionalLong[{}]",
        w.open_txn_first
    )));
    assert!(lines.iter().any(|l| l.starts_with("offset: ") && l.contains(" position: ")));
    assert!(lines.iter().any(|l| l.starts_with("timestamp: ") && l.contains(" offset: ")));
    assert!(all.contains("epoch: 5 startOffset: "));
    assert!(all.contains(&format!("version: 0 topicId: {}", w.topic_id)));

    // A LogAppendTime topic says so on batches and records.
    let root2 = tmp.path().join("lat");
    let store = Store::open(StoreConfig::new([root2.clone()])).unwrap();
    let mut cfg = BTreeMap::new();
    cfg.insert("message.timestamp.type".to_owned(), "LogAppendTime".to_owned());
    store.create_topic("l", 1, &cfg).unwrap();
    store.partition("l", 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
    store.close().unwrap();
    let lines = ok(&["dump", p(&root2.join("l-0"))]);
    assert!(
        lines.iter().any(|l| l.starts_with("baseOffset: 0 ") && l.contains(" LogAppendTime: "))
    );
    assert!(lines.iter().any(|l| l.starts_with("| offset: 0 LogAppendTime: ")));
}

// ---------------------------------------------------------------------------------------------
// Kafka-written files: read back here on their own and compared with the dump.

#[test]
fn dump_reads_kafka_written_state_files_as_the_files_hold_them() {
    let Some(data) =
        common::fixture("kafka-broker/fuzibotond-Experts-in-team-innovation/bd84927/kafka/data")
    else {
        return common::skip("../shared is absent");
    };
    // A producer snapshot: its one producer's last batch is the log's last batch.
    let first = data.join("first-0");
    let log_lines = ok(&["dump", "--json", p(&first.join("00000000000000000000.log"))]);
    let last = of_type(&log_lines, "batch").last().copied().unwrap().clone();
    let snap = ok(&["dump", "--json", p(&first.join("00000000000000000011.snapshot"))]);
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!(num(&snap[0], "producerId"), num(&last, "producerId"));
    assert_eq!(num(&snap[0], "producerEpoch"), num(&last, "producerEpoch"));
    assert_eq!(num(&snap[0], "lastOffset"), num(&last, "lastOffset"));
    assert_eq!(num(&snap[0], "firstSequence"), num(&last, "baseSequence"));
    assert_eq!(num(&snap[0], "timestamp"), num(&last, "maxTimestamp"));
    assert_eq!(num(&snap[0], "currentTxnFirstOffset"), None);

    // leader-epoch-checkpoint and partition.metadata, against their text.
    let text_of = |path: &Path| std::fs::read_to_string(path).unwrap();
    let epochs = ok(&["dump", "--json", p(&first.join("leader-epoch-checkpoint"))]);
    let want: Vec<String> = text_of(&first.join("leader-epoch-checkpoint"))
        .lines()
        .skip(2)
        .map(str::to_owned)
        .collect();
    let got: Vec<String> = epochs
        .iter()
        .map(|l| format!("{} {}", num(l, "epoch").unwrap(), num(l, "startOffset").unwrap()))
        .collect();
    assert_eq!(got, want);
    let meta = ok(&["dump", "--json", p(&first.join("partition.metadata"))]);
    let id = text_of(&first.join("partition.metadata"));
    assert_eq!(
        text(&meta[0], "topicId"),
        id.lines().nth(1).unwrap().trim_start_matches("topic_id: ")
    );

    // An offset checkpoint: every "topic partition offset" line of the file, once.
    let cp = data.join("recovery-point-offset-checkpoint");
    let mut want: Vec<String> = text_of(&cp).lines().skip(2).map(str::to_owned).collect();
    let mut got: Vec<String> = ok(&["dump", "--json", p(&cp)])
        .iter()
        .map(|l| {
            format!(
                "{} {} {}",
                text(l, "topic"),
                num(l, "partition").unwrap(),
                num(l, "offset").unwrap()
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // Kafka's offset index: entry = (last offset of the batch, its position); the time index's
    // entries name batches whose last offset they hold.
    let meta_dir = data.join("__cluster_metadata-0");
    let lines = ok(&["dump", "--json", "--indexes", p(&meta_dir)]);
    let batches = of_type(&lines, "batch");
    let index = of_type(&lines, "index");
    assert_eq!(index.len(), 113, "the README's count");
    for e in &index {
        let b = batches.iter().find(|b| num(b, "position") == num(e, "position")).expect(e);
        assert_eq!(num(b, "lastOffset"), num(e, "offset"), "{e}");
    }
    let times = of_type(&lines, "timeindex");
    assert_eq!(times.len(), 115, "the README's count");
    for e in &times {
        assert!(batches.iter().any(|b| num(b, "lastOffset") == num(e, "offset")), "{e}");
    }

    // A file Kafka's tool does not know is named and left, as Kafka's tool does.
    let out = logtool(&["dump", p(&data.join("meta.properties"))]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Ignoring unknown file "));
}

// ---------------------------------------------------------------------------------------------
// Damage and exit statuses

fn damaged(path: &Path, args: &[&str], mentions: &[&str]) {
    let mut all = vec!["dump"];
    all.extend_from_slice(args);
    all.push(p(path));
    let out = logtool(&all);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{all:?}: {err}");
    assert!(err.contains(&path.display().to_string()), "names the file: {err}");
    for m in mentions {
        assert!(err.contains(m), "{m:?} in {err}");
    }
}

#[test]
fn damaged_state_files_are_named_with_what_is_wrong_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    write_store(&root);
    let part = root.join("t-0");
    let snapshot = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "snapshot")
                && std::fs::metadata(p).unwrap().len() > 10
        })
        .unwrap();
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&snapshot, &bytes).unwrap();
    damaged(&snapshot, &[], &["snapshot.crc"]);

    let cp = root.join("recovery-point-offset-checkpoint");
    std::fs::write(&cp, "0\n1\nt zero 5\n").unwrap();
    damaged(&cp, &["--json"], &["line 3", "zero"]);

    let epochs = part.join("leader-epoch-checkpoint");
    std::fs::write(&epochs, "0\n2\n5 10\n3 20\n").unwrap();
    damaged(&epochs, &[], &["out of order"]);

    let txn = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "txnindex"))
        .unwrap();
    let len = std::fs::metadata(&txn).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&txn).unwrap().set_len(len + 5).unwrap();
    damaged(&txn, &[], &["5 bytes at the end"]);
}

#[test]
fn exit_statuses_tell_damage_bad_input_and_storage_failures_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let d = p(&dir);
    ok(&["--dir", d, "topic-create", "t", "--partitions", "2"]);

    // 2: what was asked for is wrong, and the sentence names it.
    let out = logtool(&["--dir", d, "offsets", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nope\""));
    let out = logtool(&["--dir", d, "delete-records", "t", "7", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"t\"") && err.contains("partition 7") && err.contains("0 to 1"),
        "{err}"
    );
    let out = logtool(&["--dir", d, "no-such-verb"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage errors");

    // 3: the store or a file cannot be read or written; the sentence names the path.
    let missing = tmp.path().join("missing.log");
    let out = logtool(&["dump", p(&missing)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.log"));
    let not_a_dir = tmp.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let out = logtool(&["--dir", p(&not_a_dir), "topic-list"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(p(&not_a_dir)));

    // 1: verify found damage.
    let log = dir.join("t-0").join("00000000000000000000.log");
    let out = Command::new(common::logtool_bin_built())
        .args(["--dir", d, "produce", "t", "--partition", "0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(b"one\ntwo\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let mut bytes = std::fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let out = logtool(&["verify", p(&dir.join("t-0"))]);
    assert_eq!(out.status.code(), Some(1));

    // --help documents them.
    let help = String::from_utf8(logtool(&["--help"]).stdout).unwrap();
    for line in
        ["Exit status:", "1  dump or verify", "2  the command line", "3  the store or a file"]
    {
        assert!(help.contains(line), "{line:?} in --help");
    }
}

#[test]
fn describe_style_output_is_aligned_in_columns_like_kafkas_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let d = p(&dir);
    ok(&["--dir", d, "topic-create", "a-long-topic-name", "--partitions", "11"]);
    for verb in ["offsets", "topic-describe"] {
        let lines = ok(&["--dir", d, verb, "a-long-topic-name"]);
        assert_eq!(lines.len(), 12, "{verb}: heading and 11 rows: {lines:?}");
        // Every column starts where its heading starts, on every row.
        let heading = &lines[0];
        let starts: Vec<usize> = heading
            .char_indices()
            .filter(|&(i, c)| c != ' ' && (i == 0 || heading.as_bytes()[i - 1] == b' '))
            .map(|(i, _)| i)
            .collect();
        assert!(starts.len() >= 4, "{heading}");
        for row in &lines[1..] {
            for &s in &starts[1..] {
                assert_eq!(row.as_bytes()[s - 1], b' ', "{verb}: {row:?} vs {heading:?}");
                assert_ne!(row.as_bytes()[s], b' ', "{verb}: {row:?} vs {heading:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The operator's review of 12f6be2

/// Runs `logtool ARGS` and gives up after a minute: (status, stderr). A FIFO once hung here.
fn within_a_minute(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(common::logtool_bin_built())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("logtool {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn dump_of_a_fifo_is_an_error_naming_it_never_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("t-0");
    std::fs::create_dir(&part).unwrap();
    let fifo = part.join("00000000000000000000.timeindex");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        common::skip("no mkfifo");
        return;
    }
    for args in [vec!["dump", p(&fifo)], vec!["dump", "--all-files", p(&part)]] {
        let (code, err) = within_a_minute(&args);
        assert_eq!(code, Some(3), "{args:?}: {err}");
        assert!(err.contains(p(&fifo)) && err.contains("a FIFO"), "{args:?}: {err}");
    }
}

#[test]
fn dump_and_verify_of_a_log_directory_cover_each_partition_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let d = p(&root);
    ok(&["--dir", d, "topic-create", "t", "--partitions", "2"]);
    let out = Command::new(common::logtool_bin_built())
        .args(["--dir", d, "produce", "t", "--partition", "1"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(b"a\nb\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let lines = ok(&["dump", "--json", d]);
    let batches = of_type(&lines, "batch");
    assert_eq!(batches.len(), 1, "{lines:?}");
    assert_eq!(num(batches[0], "lastOffset"), Some(1));
    let lines = ok(&["verify", "--json", d]);
    assert_eq!(lines.len(), 2, "one line per partition: {lines:?}");
    assert_eq!(text(&lines[0], "path"), p(&root.join("t-0")));
    assert_eq!(text(&lines[1], "path"), p(&root.join("t-1")));
    assert_eq!(num(&lines[1], "records"), Some(2));
}

#[test]
fn verify_and_dump_of_a_directory_that_is_no_partition_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("a.jpg"), "x").unwrap();
    for verb in ["verify", "dump"] {
        let out = logtool(&[verb, p(&other)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{verb}: {err}");
        assert!(err.contains(&format!("not a partition directory: {}", p(&other))), "{err}");
    }
}

/// `partition.metadata` and `leader-epoch-checkpoint` decode errors name the line and what it
/// holds (the old messages said `invalid value 0` whatever the line held).
#[test]
fn damaged_text_state_files_are_named_with_their_line_and_what_it_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = tmp.path().join("partition.metadata");
    std::fs::write(&meta, "garbage").unwrap();
    damaged(&meta, &[], &["line 1", "\"garbage\"", "version: 0"]);
    std::fs::write(&meta, "version: 0\ntopic_id: 4n5BJM5wT8iyOq8t9r5rJg\nmore\n").unwrap();
    damaged(&meta, &[], &["line 3", "\"more\""]);
    let epochs = tmp.path().join("leader-epoch-checkpoint");
    std::fs::write(&epochs, "7\n0\n").unwrap();
    damaged(&epochs, &[], &["line 1", "\"7\"", "version is not 0"]);
    std::fs::write(&epochs, "0\n2\n1 0\nfoo\n").unwrap();
    damaged(&epochs, &[], &["line 4", "\"foo\""]);
}

/// A batch whose CRC does not match but whose records still decode (a flipped byte in a
/// value) is reported on stderr with exit 1, and its records are printed as
/// `kafka_verify.py --dump` and Kafka's `DumpLogSegments` print them (they iterate a batch's
/// records whatever its CRC): the two dumps stay diffable where it matters most.
#[test]
fn dump_of_a_batch_whose_crc_fails_prints_its_records_as_kafka_verify_does() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([tmp.path().to_path_buf()])).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    log.append(&[Record::new("k0", "first-value"), Record::new("k1", "damaged-value")]).unwrap();
    log.append(&[Record::new("k2", "after")]).unwrap();
    store.close().unwrap();
    let part = tmp.path().join("t-0");
    let file = part.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.windows(7).position(|w| w == b"damaged").unwrap();
    bytes[at] = b'D';
    std::fs::write(&file, &bytes).unwrap();

    let out = logtool(&["dump", "--json", p(&part)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("corrupt batch at position 0"), "{err}");
    let lines: Vec<String> =
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    let offsets: Vec<i64> =
        of_type(&lines, "record").iter().map(|l| num(l, "offset").unwrap()).collect();
    assert_eq!(offsets, [0, 1, 2], "{lines:#?}");
    assert_eq!(text(&lines[2], "value_utf8"), "Damaged-value", "what the file holds");

    if let Err(why) = common::kafka_verify_available() {
        common::skip(&why);
        return;
    }
    let python = common::kafka_verify(&part, &["--dump"]);
    assert_eq!(python.status, 1, "{python}");
    assert_eq!(lines.join("\n") + "\n", python.stdout);
}

/// Kafka's `DumpLogSegments` prints `isValid:` and `crc:` on every legacy record line: an
/// uncompressed message's own (its CRC checked: `isValid: false` when it fails), and each inner
/// message's of a compressed wrapper (the deep iteration's records are legacy messages too).
#[test]
#[cfg(feature = "gzip")]
fn dump_prints_each_legacy_records_own_crc_and_validity_as_kafkas_tool_does() {
    use common::legacy::stored_crc as legacy_crc;
    use strata::internals::format::compression::compress;
    // Every message of the test carries the same magic-1 timestamp.
    let legacy_message = |offset, magic, attributes, key: &[u8], value: &[u8]| {
        common::legacy::message(offset, magic, attributes, 1_600_000_000_000, key, value)
    };
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("old-0");
    std::fs::create_dir_all(&part).unwrap();
    // A gzip v1 wrapper of two messages (relative inner offsets 0, 1; the wrapper at the last),
    // then a plain v1 message, then a plain v0 message whose CRC no longer matches its bytes.
    let inner = [legacy_message(0, 1, 0, b"a", b"x"), legacy_message(1, 1, 0, b"b", b"y")];
    let gz = compress(strata::Compression::Gzip, &inner.concat(), None).unwrap();
    let wrapper = legacy_message(1, 1, 1, &[], &gz);
    let wrapper = [&wrapper[..26], &(-1i32).to_be_bytes()[..], &wrapper[30..]].concat();
    let plain = legacy_message(2, 1, 0, b"c", b"z");
    let mut damaged = legacy_message(3, 0, 0, b"d", b"w");
    let damaged_crc = legacy_crc(&damaged);
    *damaged.last_mut().unwrap() = b'W';
    // A null key is -1: the wrapper above was built with an empty key, so fix its CRC too.
    let wrapper = {
        let crc = strata::internals::format::legacy::crc32(&wrapper[16..]);
        [&wrapper[..12], &crc.to_be_bytes()[..], &wrapper[16..]].concat()
    };
    let file = part.join("00000000000000000000.log");
    std::fs::write(&file, [wrapper, plain.clone(), damaged].concat()).unwrap();

    let out = logtool(&["dump", p(&file)]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "the damaged message is reported: {stdout}");
    let record = |o: i64| {
        stdout.lines().find(|l| l.starts_with(&format!("| offset: {o} "))).unwrap().to_owned()
    };
    for (o, crc, valid) in [
        (0, legacy_crc(&inner[0]), true),
        (1, legacy_crc(&inner[1]), true),
        (2, legacy_crc(&plain), true),
        (3, damaged_crc, false),
    ] {
        let line = record(o);
        assert!(line.ends_with(&format!(" isValid: {valid} crc: {crc}")), "{line}\n{stdout}");
    }
}

/// A KRaft log's control records print as Kafka's `DumpLogSegments` prints them: the
/// `LeaderChangeMessage` of `__cluster_metadata` and a snapshot's `SnapshotHeaderRecord` and
/// `SnapshotFooterRecord` as their JSON (the lines below are the tool's, 4.4.0, on these files).
#[test]
fn dump_prints_kraft_control_records_as_kafkas_tool_does() {
    let Some(data) =
        common::fixture("kafka-broker/RaviAzzuraPutra-LATIHAN-MICROSERVICE-NEW/f8f5c46/kafka/data")
    else {
        return common::skip("../shared is absent");
    };
    let part = data.join("__cluster_metadata-0");
    let log = ok(&["dump", p(&part.join("00000000000000000000.log"))]);
    assert_eq!(
        log[3],
        "| offset: 0 CreateTime: 1764665994038 keySize: 4 valueSize: 19 sequence: -1 \
         headerKeys: [] LeaderChange: {\"version\":0,\"leaderId\":1,\"voters\":[{\"voterId\":1}],\
         \"grantingVoters\":[{\"voterId\":1}]}"
    );
    let snapshot = ok(&["dump", p(&part.join("00000000000000007260-0000000001.checkpoint"))]);
    assert_eq!(
        snapshot[3],
        "| offset: 0 CreateTime: 1764669594377 keySize: 4 valueSize: 11 sequence: -1 \
         headerKeys: [] SnapshotHeader {\"version\":0,\"lastContainedLogTimestamp\":1764669594285}"
    );
    let footer = snapshot.iter().rfind(|l| l.starts_with("| ")).unwrap();
    assert_eq!(
        footer,
        "| offset: 62 CreateTime: 1764669594399 keySize: 4 valueSize: 3 sequence: -1 \
         headerKeys: [] SnapshotFooter {\"version\":0}"
    );
}

/// Offsets that skip (a compacted log's) are listed on stderr after the dump, as Kafka's tool
/// lists them (`Non-consecutive offsets in FILE` then `  A is followed by B`); they are no
/// problem, so the exit status stays 0. A log without gaps gets no such line.
#[test]
fn dump_lists_non_consecutive_offsets_on_stderr_without_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let batch = |base: i64, n: usize| {
        let mut b = BatchBuilder::new(base);
        for i in 0..n {
            b.append(&Record::new(format!("k{i}"), "v").timestamp(T0)).unwrap();
        }
        b.build().unwrap()
    };
    let gapped = tmp.path().join("00000000000000000000.log");
    let whole = [batch(0, 3), batch(10, 2), batch(12, 1), batch(20, 1)].concat();
    std::fs::write(&gapped, whole).unwrap();
    let out = logtool(&["dump", p(&gapped)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "Non-consecutive offsets in {}\n  2 is followed by 10\n  12 is followed by 20\n",
            gapped.display()
        )
    );

    let dense = tmp.path().join("00000000000000000100.log");
    std::fs::write(&dense, [batch(100, 3), batch(103, 2)].concat()).unwrap();
    let out = logtool(&["dump", p(&dense)]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The KRaft version and voters control records (types 5 and 6, written by KRaft controllers
/// since Kafka 3.9) print as Kafka's tool prints them: `KRaftVersion {...}` and
/// `KRaftVoters {...}` with the record's JSON. The expected lines are what `DumpLogSegments`
/// 4.4.0 printed for these bytes (`--deep-iteration`), host escapes included.
#[test]
fn dump_prints_kraft_version_and_voters_records_as_kafkas_tool_does() {
    fn uvarint(n: usize) -> Vec<u8> {
        assert!(n < 128);
        vec![n as u8]
    }
    fn compact(s: &str) -> Vec<u8> {
        [uvarint(s.len() + 1), s.as_bytes().to_vec()].concat()
    }
    let control_key = |ty: i16| [0i16.to_be_bytes(), ty.to_be_bytes()].concat();
    let kraft_version = [0i16.to_be_bytes(), 1i16.to_be_bytes()].concat();
    let kraft_version = [kraft_version, vec![0]].concat();
    let voter_1 = [
        1i32.to_be_bytes().to_vec(),
        (1..=16).collect(),
        uvarint(2),
        compact("CONTROLLER"),
        compact("l\u{e9}\u{1}\n\\\"h"),
        9093u16.to_be_bytes().to_vec(),
        vec![0],
        [0i16.to_be_bytes(), 1i16.to_be_bytes()].concat(),
        vec![0, 0],
    ]
    .concat();
    let voter_2 = [
        2i32.to_be_bytes().to_vec(),
        vec![0; 16],
        uvarint(1),
        [0i16.to_be_bytes(), 0i16.to_be_bytes()].concat(),
        vec![0, 0],
    ]
    .concat();
    let voters = [0i16.to_be_bytes().to_vec(), uvarint(3), voter_1, voter_2, vec![0]].concat();
    let mut b = BatchBuilder::new(0).control(true);
    b.append(&Record::new(control_key(5), kraft_version).timestamp(T0)).unwrap();
    b.append(&Record::new(control_key(6), voters).timestamp(T0)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("00000000000000000000.log");
    std::fs::write(&file, b.build().unwrap()).unwrap();

    let lines = ok(&["dump", p(&file)]);
    assert_eq!(
        lines[3],
        "| offset: 0 CreateTime: 1700000000000 keySize: 4 valueSize: 5 sequence: -1 \
         headerKeys: [] KRaftVersion {\"version\":0,\"kRaftVersion\":1}"
    );
    assert_eq!(
        lines[4],
        "| offset: 1 CreateTime: 1700000000000 keySize: 4 valueSize: 81 sequence: -1 \
         headerKeys: [] KRaftVoters {\"version\":0,\"voters\":[{\"voterId\":1,\
         \"voterDirectoryId\":\"AQIDBAUGBwgJCgsMDQ4PEA\",\"endpoints\":[{\"name\":\"CONTROLLER\",\
         \"host\":\"l\u{e9}\\u0001\\n\\\\\\\"h\",\"port\":9093}],\"kRaftVersionFeature\":\
         {\"minSupportedVersion\":0,\"maxSupportedVersion\":1}},{\"voterId\":2,\
         \"voterDirectoryId\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"endpoints\":[],\"kRaftVersionFeature\":\
         {\"minSupportedVersion\":0,\"maxSupportedVersion\":0}}]}"
    );
}
