//! strata -> broker: `logtool hand-over` end to end (part of the `broker_to_strata` tests).

use super::*;

/// What each consumer group of the hand-over test committed in strata, by (group, partition):
/// `billing` on partition 0 at a record the cleaner kept (the active segment starts at 353) and
/// on partition 1 in a gap the cleaner left (its consumers resume at 137, and receive 353 first),
/// `audit` on partition 1 only, at the first record after the cleaned part (400, plain data
/// before the transactions), `stale` on partition 0 below
/// the log start that DeleteRecords moved afterwards (25). `billing` also commits on another
/// topic, which the hand-over of `topic` must not carry.
const GROUP_COMMITS: &[(&str, i32, i64)] =
    &[("billing", 0, 360), ("billing", 1, 137), ("audit", 1, 400), ("stale", 0, 10)];
const GROUPS: &[&str] = &["audit", "billing", "stale"];

/// Writes topic `topic` in a strata store at `dir`: two partitions of several segments, keys,
/// null values, headers and timestamps, a log start moved by DeleteRecords on partition 0, and
/// compacted by strata's cleaner (17 keys, tombstones kept); the [`GROUP_COMMITS`]; then the
/// transactions of [`write_transactions`].
fn write_strata_topic(dir: &Path, topic: &str) {
    let store = Store::open(StoreConfig::new([dir]).background_threads(false)).expect("open");
    let configs: BTreeMap<String, String> = [
        ("segment.bytes", "4096"),
        ("cleanup.policy", "compact,delete"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    store.create_topic(topic, 2, &configs).expect("create topic");
    // Timestamps of the last minute: inside the broker's default 7-day retention.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    for partition in 0..2 {
        let log = store.partition(topic, partition).expect("partition");
        for b in 0..40i64 {
            let records: Vec<Record> = (0..10i64)
                .map(|i| {
                    let n = b * 10 + i;
                    let r = if n % 13 == 0 {
                        Record::tombstone(format!("k{}", n % 17))
                    } else {
                        Record::new(format!("k{}", n % 17), format!("value-{partition}-{n}"))
                    };
                    r.header("n", format!("{n}")).timestamp(now - 60_000 + n)
                })
                .collect();
            log.append(&records).expect("append");
        }
    }
    for &(group, partition, offset) in GROUP_COMMITS {
        store.groups().commit(group, topic, partition, offset).expect("commit");
    }
    // A commit on a topic the store lacks (as a cluster keeps them): not handed over.
    common::raw_commit(&store, "billing", "elsewhere", 0, 5);
    store.delete_records(topic, 0, 25).expect("DeleteRecords");
    let report = store.maintain(Some(topic)).expect("a cleaning pass");
    assert!(report.partitions_cleaned > 0, "strata's cleaner compacted {topic}");
    for partition in 0..2 {
        let log = store.partition(topic, partition).expect("partition");
        write_transactions(&log, partition, now);
    }
    store.close().expect("close");
}

/// A transactional batch of producer `pid` (epoch 0) from sequence `seq`: `n` records named
/// `{what}-{pid}-{seq + i}` with a header and a timestamp.
fn txn_batch(pid: i64, seq: i32, n: i32, what: &str, now: i64) -> strata::bytes::Bytes {
    let mut b = BatchBuilder::new(0).producer(pid, 0, seq).transactional(true);
    for i in 0..n {
        let s = seq + i;
        let r = Record::new(format!("t{}", s % 3), format!("{what}-{pid}-{s}"))
            .header("txn", format!("{pid}"))
            .timestamp(now - 30_000 + i64::from(s));
        b.append(&r).expect("a transactional record");
    }
    b.build().expect("a transactional batch")
}

/// Transactions written through strata's own API after the cleaning pass, as a transaction
/// coordinator and its producers would: two producers' transactions interleaved with plain
/// data, committed (values `committed-...`) and aborted (`aborted-...`), and on partition 1 a
/// third producer's transaction left open, which holds the last stable offset below the log
/// end. The first record (offset 400, `audit`'s commit) is plain data.
fn write_transactions(log: &strata::Log, partition: i32, now: i64) {
    let (a, b, open) =
        (7_000 + i64::from(partition) * 10, 7_001 + i64::from(partition) * 10, 7_009);
    let marker = |pid: i64, commit: bool| TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 3,
        commit,
        transaction_version: 0,
    };
    let plain = |n: i64| {
        log.append(&[Record::new(format!("p{n}"), format!("plain-{partition}-{n}"))
            .header("n", format!("{n}"))
            .timestamp(now - 20_000 + n)])
            .expect("plain append");
    };
    plain(0);
    log.append_batch(txn_batch(a, 0, 3, "committed", now)).expect("a: 0-2");
    plain(1);
    log.append_batch(txn_batch(b, 0, 2, "aborted", now)).expect("b: 0-1");
    log.append_batch(txn_batch(a, 3, 2, "committed", now)).expect("a: 3-4");
    log.append_marker(marker(a, true)).expect("commit a");
    plain(2);
    log.append_marker(marker(b, false)).expect("abort b");
    log.append_batch(txn_batch(a, 5, 2, "aborted", now)).expect("a: 5-6");
    log.append_batch(txn_batch(b, 2, 3, "committed", now)).expect("b: 2-4");
    plain(3);
    log.append_marker(marker(a, false)).expect("abort a");
    log.append_marker(marker(b, true)).expect("commit b");
    plain(4);
    if partition == 1 {
        log.append_batch(txn_batch(open, 0, 2, "open", now)).expect("open: 0-1");
        plain(5);
    }
}

/// The offset of a `R topic partition offset ...` line.
fn record_offset(line: &str) -> i64 {
    line.split(' ').nth(3).and_then(|o| o.parse().ok()).expect("an R line's offset")
}

/// The `G` lines `clients.py resume` must print for `topic` after the hand-over's offsets were
/// committed on the cluster: each group's committed offset is strata's, moved into the
/// partition's `[log start, log end]` (`stale`'s 10 becomes the log start 25); kafka-python's
/// position is that offset, and the first record either client receives is strata's first
/// record at or after it (`-` at the end; librdkafka reports the end offset as its position).
fn expected_resume(topic: &str, want: &Reads) -> Vec<String> {
    let mut lines = Vec::new();
    for client in ["kafka-python", "confluent-kafka"] {
        for group in GROUPS {
            for partition in 0..2 {
                let read = &want[&(topic.to_owned(), partition)];
                let committed = GROUP_COMMITS
                    .iter()
                    .find(|(g, p, _)| g == group && *p == partition)
                    .map(|&(_, _, o)| o.clamp(read.log_start, read.end));
                let first = committed
                    .and_then(|c| read.records.iter().map(|r| record_offset(r)).find(|&o| o >= c));
                let dash = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
                let position = match client {
                    "kafka-python" => committed,
                    _ => first.or(committed),
                };
                lines.push(format!(
                    "G {client} {group} {topic} {partition} {} {} {}",
                    dash(committed),
                    dash(position),
                    dash(first)
                ));
            }
        }
    }
    lines
}

/// The hand-over's reset plan committed on the running broker with Kafka's own
/// `kafka-consumer-groups.sh --reset-offsets --from-file ... --execute`, as the verb printed it.
/// The tool's NEW-OFFSET table must list exactly `carried`.
///
/// Kafka's tool probes the file's format by parsing its first line as `topic,partition,offset`;
/// up to 4.3 (4.0.2, 4.1.2, 4.2.2 and 4.3.1 were run) it prints that parse's stack trace before it
/// reads the `group,topic,partition,offset` lines it then applies (4.4.0 prints nothing): that
/// trace, and only it, is allowed on stderr.
fn commit_reset_plan(broker: &Broker, plan: &Path, printed: &str, carried: &[(String, i32, i64)]) {
    let mut args = vec!["--reset-offsets", "--from-file"];
    let plan = plan.display().to_string();
    args.push(&plan);
    for g in GROUPS {
        args.extend(["--group", g]);
    }
    args.push("--execute");
    let expected_command =
        format!("kafka-consumer-groups.sh --bootstrap-server BROKER:PORT {}", args.join(" "));
    assert!(
        printed.contains(&expected_command),
        "hand-over printed the command {expected_command:?}:\n{printed}"
    );
    let (stdout, stderr) =
        broker.tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", &args);
    eprintln!("kafka-consumer-groups --reset-offsets --from-file:\n{}", stdout.trim_end());
    let mut table: Vec<(String, i32, i64)> = stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [g, _topic, p, o] => Some(((*g).to_owned(), p.parse().ok()?, o.parse().ok()?)),
                _ => None,
            }
        })
        .collect();
    table.sort();
    assert_eq!(table, carried, "kafka-consumer-groups' NEW-OFFSET table:\n{stdout}\n{stderr}");
    let format_probe = "InvalidFormatException: Cannot deserialize value of type `int` from String";
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            !l.starts_with('\t') && !l.starts_with(" at [Source") && !l.contains(format_probe)
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        !stdout.contains("Error") && unexpected.is_empty(),
        "kafka-consumer-groups reported a failure:\n{stdout}\n--- stderr ---\n{stderr}"
    );
    if stderr.contains(format_probe) {
        eprintln!("kafka-consumer-groups printed its CSV format probe's exception (Kafka < 4.4)");
    }
}

/// The committed offsets strata reads from the broker's own `__consumer_offsets` (a copy of
/// its stopped data log directory): what the group coordinator wrote for `topic`.
fn strata_reads_broker_commits(data: &Path, topic: &str) -> Vec<(String, i32, i64)> {
    let copy = tempfile::tempdir().expect("tempdir");
    copy_dir(data, copy.path()).expect("copy the broker's log dir");
    let store = Store::open_read_only(StoreConfig::new([copy.path()])).expect("read-only open");
    let mut commits = Vec::new();
    for group in GROUPS {
        for c in store.groups().offsets(group).expect("offsets") {
            if c.topic == topic {
                commits.push(((*group).to_owned(), c.partition, c.offset));
            }
        }
    }
    commits
}

/// The transaction left open on partition 1 (no coordinator on the cluster knows it) is closed
/// with Kafka's remedy for a hanging transaction, `kafka-transactions.sh abort` at the offset
/// `hand-over` named: its ABORT marker takes the log end, the last stable offset moves past it,
/// and read committed serves partition 1's records after the old LSO, the open ones hidden.
fn abort_the_open_transaction(broker: &Broker, topic: &str, want: &Reads, committed: &Reads) {
    let key = (topic.to_owned(), 1);
    let (u, c) = (&want[&key], &committed[&key]);
    let lso = c.end.to_string();
    let args = ["abort", "--topic", topic, "--partition", "1", "--start-offset", &lso];
    let (stdout, stderr) = broker.tool("org.apache.kafka.tools.TransactionsCommand", &args);
    eprintln!("kafka-transactions abort at {lso}: {}{}", stdout.trim(), stderr.trim());
    let after = parse_reads(&broker.clients("read", &["read_committed", &format!("{topic}:1")]));
    let a = &after[&key];
    let open = hex(Some(b"open-"));
    let mut expected = c.records.clone();
    expected.extend(
        u.records
            .iter()
            .filter(|l| record_offset(l) >= c.end)
            .filter(|l| !l.split(' ').nth(7).unwrap_or("").starts_with(&open))
            .cloned(),
    );
    assert_eq!((a.log_start, a.end), (u.log_start, u.end + 1), "{key:?}: LSO after the abort");
    assert_eq!(a.records, expected, "{key:?}: read committed after the abort");
    eprintln!(
        "hand-over: kafka-transactions abort closed {topic}-1's open transaction: LSO {}, \
         {} records read committed",
        a.end,
        a.records.len()
    );
}

/// strata's reads of every partition of `topic` (read-only open) with `isolation`, keyed like
/// the consumer's.
fn strata_reads(dir: &Path, topic: &str, isolation: Isolation) -> Reads {
    let store = Store::open_read_only(StoreConfig::new([dir])).expect("read-only open");
    let mut reads = Reads::new();
    for partition in 0..2 {
        let read = strata_read(&store, topic, partition, isolation);
        reads.insert((topic.to_owned(), partition), read);
    }
    reads
}

/// The transactions of [`write_transactions`] are in `uncommitted` and `committed` as a Kafka
/// consumer sees them: aborted and open data read uncommitted only, committed data in both, and
/// the last stable offset below the log end on partition 1 only (its open transaction).
fn assert_transactions_happened(topic: &str, uncommitted: &Reads, committed: &Reads) {
    let value = |l: &String| l.split(' ').nth(7).unwrap_or("").to_owned();
    for partition in 0..2 {
        let key = (topic.to_owned(), partition);
        let (u, c) = (&uncommitted[&key], &committed[&key]);
        let count = |r: &Read, what: &str| {
            let prefix = hex(Some(what.as_bytes()));
            r.records.iter().filter(|l| value(l).starts_with(&prefix)).count()
        };
        assert_eq!(count(u, "committed-"), 8, "{key:?}: committed data read uncommitted");
        assert_eq!(count(c, "committed-"), 8, "{key:?}: committed data read committed");
        assert_eq!(count(u, "aborted-"), 4, "{key:?}: aborted data read uncommitted");
        assert_eq!(count(c, "aborted-"), 0, "{key:?}: aborted data hidden read committed");
        assert_eq!(count(c, "open-"), 0, "{key:?}: open data hidden read committed");
        if partition == 1 {
            assert_eq!(count(u, "open-"), 2, "{key:?}: open data read uncommitted");
            assert!(c.end < u.end, "{key:?}: the open transaction holds the LSO below the end");
        } else {
            assert_eq!(c.end, u.end, "{key:?}: no open transaction, the LSO is the end");
        }
    }
}

#[test]
fn a_strata_topic_handed_to_a_stopped_broker_is_served_at_its_offsets_and_its_groups_resume_there_after_clean_and_unclean_starts()
 {
    let version = match kafka_available() {
        Ok(v) => v,
        Err(reason) => {
            skip(&reason);
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let strata_dir = tmp.path().join("strata");
    fs::create_dir_all(&strata_dir).expect("mkdir");
    let mut broker = Broker::format(&tmp.path().join("broker"), &[]);
    let data = broker.data_dir().to_path_buf();
    let (mut compared, mut resumes) = (0, 0);
    for (topic, clean) in [("orders", true), ("orders-unclean", false)] {
        write_strata_topic(&strata_dir, topic);
        let want = strata_reads(&strata_dir, topic, Isolation::ReadUncommitted);
        let want_committed = strata_reads(&strata_dir, topic, Isolation::ReadCommitted);
        assert_transactions_happened(topic, &want, &want_committed);
        assert!(
            want.values().all(|r| (r.records.len() as i64) < r.end - r.log_start),
            "strata's cleaner removed records: the broker must serve the gaps"
        );
        let kept = |p: i32, o: i64| {
            want[&(topic.to_owned(), p)].records.iter().any(|r| record_offset(r) == o)
        };
        assert!(kept(0, 360) && !kept(1, 137), "billing commits at a kept record and in a gap");
        // 1. The broker creates the topic (its topic ID) and stops.
        broker.start();
        broker.clients("create", &[topic, "2"]);
        broker.stop();
        // 2. The verb moves strata's files in, and writes the groups' offsets as a reset plan.
        // Without a word about the groups' offsets it refuses, changing nothing.
        let broker_dir = data.display().to_string();
        let refused = common::logtool_run(
            &[&strata_dir],
            false,
            &["hand-over", topic, "--broker-dir", &broker_dir],
            b"",
        );
        let why = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && why.contains("--offsets-file"),
            "hand-over without --offsets-file refuses while groups have offsets: {why}"
        );
        let first_log = data.join(format!("{topic}-0")).join("00000000000000000000.log");
        assert_eq!(
            fs::metadata(&first_log).map(|m| m.len()).ok(),
            Some(0),
            "the refused hand-over left the broker's partition empty"
        );
        let plan = tmp.path().join(format!("{topic}-offsets.csv"));
        let out = common::logtool_run(
            &[&strata_dir],
            false,
            &[
                "hand-over",
                topic,
                "--broker-dir",
                &broker_dir,
                "--offsets-file",
                &plan.display().to_string(),
            ],
            b"",
        );
        assert!(
            out.status.success(),
            "logtool hand-over {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("hand-over {topic}:\n{}", printed.trim());
        let lso = want_committed[&(topic.to_owned(), 1)].end;
        let warned = format!("{topic}-1: a transaction is open from offset {lso}");
        assert!(
            printed.contains(&warned) && !printed.contains(&format!("{topic}-0: a transaction")),
            "hand-over names partition 1's open transaction ({warned:?}) only:\n{printed}"
        );
        let plan_text = fs::read_to_string(&plan).expect("the reset plan");
        assert!(
            !plan_text.contains("elsewhere"),
            "another topic's commit was carried:\n{plan_text}"
        );
        if !clean {
            // An unclean start with the recovery points lost: the broker re-validates every
            // handed-over segment and rebuilds its indexes and producer state.
            fs::remove_file(data.join(".kafka_cleanshutdown")).expect("remove the clean marker");
            let path = data.join(checkpoint::RECOVERY_POINT_CHECKPOINT);
            let mut points = checkpoint::read_offsets(&path).expect("recovery points");
            for p in 0..2 {
                points.insert((topic.to_owned(), p), 0);
            }
            checkpoint::write_offsets(&path, &points).expect("write recovery points");
        }
        // 3. The broker serves every record at its offset.
        broker.start();
        let targets: Vec<String> = (0..2).map(|p| format!("{topic}:{p}")).collect();
        let mut args = vec!["read_uncommitted"];
        args.extend(targets.iter().map(String::as_str));
        let got = parse_reads(&broker.clients("read", &args));
        args[0] = "read_committed";
        let got_committed = parse_reads(&broker.clients("read", &args));
        if clean {
            abort_the_open_transaction(&broker, topic, &want, &want_committed);
        }
        // 4. The groups' offsets go to the cluster through Kafka's own tool; a consumer of each
        // group resumes at strata's committed offset.
        let mut carried: Vec<(String, i32, i64)> = GROUP_COMMITS
            .iter()
            .map(|&(g, p, o)| {
                let read = &want[&(topic.to_owned(), p)];
                (g.to_owned(), p, o.clamp(read.log_start, read.end))
            })
            .collect();
        carried.sort();
        commit_reset_plan(&broker, &plan, &printed, &carried);
        let mut args = vec![""];
        args.extend(targets.iter().map(String::as_str));
        let mut resumed = Vec::new();
        for group in GROUPS {
            args[0] = group;
            resumed.extend(broker.clients("resume", &args).lines().map(str::to_owned));
        }
        resumed.sort();
        let mut expected = expected_resume(topic, &want);
        expected.sort();
        assert_eq!(resumed, expected, "where each group's consumers resume (broker, strata)");
        for line in &resumed {
            eprintln!(
                "hand-over ({}): resumes as strata committed: {line}",
                if clean { "clean" } else { "unclean" }
            );
        }
        resumes += resumed.len();
        broker.stop();
        // The offsets are in the cluster's __consumer_offsets, written by Kafka's coordinator.
        let mut in_broker = strata_reads_broker_commits(&data, topic);
        in_broker.sort();
        assert_eq!(in_broker, carried, "{topic}: the broker's __consumer_offsets (strata's read)");
        eprintln!("{topic}: the broker's __consumer_offsets holds {in_broker:?}");
        if !clean {
            let log = fs::read_to_string(broker.log_file()).expect("broker log");
            let recovered = log
                .lines()
                .filter(|l| l.contains("Recovering unflushed segment") && l.contains(topic))
                .count();
            assert!(recovered >= 2, "the broker recovered the handed-over segments:\n{log}");
            eprintln!("hand-over (unclean): the broker recovered {recovered} segments of {topic}");
        }
        for (isolation, got, want) in
            [("read_uncommitted", &got, &want), ("read_committed", &got_committed, &want_committed)]
        {
            for (key, w) in want {
                let g = got.get(key).expect("the broker read the partition");
                assert_read_equal(g, w, &format!("{key:?} {isolation} (broker, strata)"));
                compared += g.records.len();
                eprintln!(
                    "hand-over ({}): {}-{} {isolation}: the broker serves {} records equal, \
                     log start {}, end {}",
                    if clean { "clean" } else { "unclean" },
                    key.0,
                    key.1,
                    g.records.len(),
                    g.log_start,
                    g.end
                );
            }
        }
        let dirs: Vec<PathBuf> = (0..2).map(|p| data.join(format!("{topic}-{p}"))).collect();
        match kafka_index_check(&dirs) {
            Err(reason) => skip(&format!("Kafka's DumpLogSegments cannot run: {reason}")),
            Ok(result) => {
                let n = result.unwrap_or_else(|e| panic!("{e}"));
                eprintln!("DumpLogSegments: {n} index files of {topic} pass after the broker ran");
            }
        }
    }
    eprintln!(
        "Kafka {version}: the broker served {compared} records handed over by strata; \
         {resumes} group/partition resume points of two clients equal strata's commits"
    );
}
