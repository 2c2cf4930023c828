//! Broker → strata: a real Apache Kafka broker (tests/common/broker.rs) writes through real
//! producers (compat/kafka/clients.py: librdkafka via confluent-kafka), and strata opens a copy of
//! the broker's data log directory and must read every partition record for record as a
//! consumer read it from the broker: offsets, keys, values, headers, timestamps and their type,
//! the log start offset and the log end offset, read uncommitted; and read committed (strata's
//! `Log::read_with` filtered as Kafka's consumer filters a fetch), with the last stable offset.
//!
//! What the broker writes: every codec, headers, a LogAppendTime topic, an idempotent producer,
//! two transactional producers committing and aborting while plain producers write between
//! them, a compacted topic after its cleaner ran (tombstones kept), a compacted topic with
//! transactions after its cleaner ran (aborted data dropped, an emptied batch kept for its
//! producer), DeleteRecords, and time
//! retention that deleted segments. Compared after a clean stop (where strata's `logtool dump`
//! of every partition the broker wrote, internal topics too, also equals the checkers' dumps
//! line for line), again after a kill (an open transaction left behind), and after a torn tail
//! (the kill's copy with the last batch of two partitions cut as a power cut mid-write leaves
//! it). Then strata appends to the copy, the broker restarts on it, and kafka-python reads
//! strata's appends through the broker.
//!
//! strata → broker, every feature at once (`strata_to_broker.rs`): the store of
//! `tests/common/strata_all.rs` handed over topic by topic and served record for record after a
//! clean and an unclean broker start, the broker's producers equal to strata's snapshots.
//!
//! strata → broker: a strata topic (compacted by strata's cleaner, log start moved, transactions
//! written through strata's API: committed, aborted and one left open, interleaved with plain
//! data; consumer groups' commits) goes to a stopped broker with `logtool hand-over`; the broker
//! serves every record at its offset after a clean and an unclean start, read uncommitted and
//! read committed (aborted data hidden, the same last stable offset), and after Kafka's own
//! `kafka-consumer-groups.sh --reset-offsets --from-file` commits the verb's plan, consumers of
//! each group (kafka-python and confluent-kafka) resume at strata's committed offsets, which
//! strata then reads back from the broker's own `__consumer_offsets`.
//!
//! The Kafka version is that of the jars in `$STRATA_KAFKA_LIB` (default `target/kafka-lib`,
//! the pom's 4.4.0); `.ci/run` also runs the hand-over test against 4.0.2.
//!
//! Skips (with the reason) without Java, the resolved jars (target/kafka-lib) or the Python
//! clients; `.ci/run` installs all three and makes a skip a failure.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;
mod handover;
mod strata_to_broker;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use common::broker::{Broker, kafka_available, kafka_index_check};
use common::{copy_dir, skip};
use strata::Isolation;
use strata::StoreConfig;
use strata::internals::store::{Store, checkpoint};
use strata::{BatchBuilder, ControlRecord, ControlType, Record, TimestampType, TxnMarker};

/// Every partition the scenario writes, as `topic:partition`.
const PARTITIONS: &[&str] = &[
    "codecs:0",
    "codecs:1",
    "codecs:2",
    "codecs:3",
    "codecs:4",
    "append-time:0",
    "idempotent:0",
    "idempotent:1",
    "txn:0",
    "txn:1",
    "compacted:0",
    "compacted-txn:0",
    "deleted:0",
    "retention:0",
];

/// What a consumer read of one partition: `P` line fields and its `R` lines, in order.
#[derive(Debug, Default)]
struct Read {
    log_start: i64,
    end: i64,
    records: Vec<String>,
}

/// Reads of several partitions, by (topic, partition).
type Reads = BTreeMap<(String, i32), Read>;

/// Parses `clients.py read` output into partitions.
fn parse_reads(text: &str) -> Reads {
    let mut out: BTreeMap<(String, i32), Read> = BTreeMap::new();
    let mut current: Option<(String, i32)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["P", topic, partition, start, end] => {
                let key = ((*topic).to_owned(), partition.parse().expect("partition"));
                out.insert(
                    key.clone(),
                    Read {
                        log_start: start.parse().expect("log start"),
                        end: end.parse().expect("end"),
                        records: Vec::new(),
                    },
                );
                current = Some(key);
            }
            ["R", ..] => {
                let key = current.as_ref().expect("an R line before any P line");
                out.get_mut(key).expect("partition").records.push(line.to_owned());
            }
            _ => {}
        }
    }
    out
}

fn hex(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "-".to_owned(),
        Some([]) => "=".to_owned(),
        Some(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

/// One record in `clients.py`'s line format.
fn record_line(
    topic: &str,
    partition: i32,
    r: &strata::RecordRef,
    ts_type: TimestampType,
) -> String {
    let mut line = format!(
        "R {topic} {partition} {} {} {} {} {}",
        r.offset(),
        u8::from(ts_type == TimestampType::LogAppendTime),
        r.timestamp(),
        hex(r.key().map(|k| &k[..])),
        hex(r.value().map(|v| &v[..]))
    );
    for h in r.headers() {
        line.push_str(&format!(" {}:{}", hex(Some(&h.key[..])), hex(h.value.as_deref())));
    }
    line
}

/// Everything strata serves of one partition from its log start, as a Kafka consumer with
/// `isolation` would see it, as lines; with its log start and end offsets.
///
/// Read uncommitted: every data record (control batches are never handed to an application).
/// Read committed: [`Log::read_with`] stops at the last stable offset and lists the aborted
/// transactions of each read, and this filters as Kafka's consumer does (its `CompletedFetch`):
/// a producer's transactional batches are skipped from an aborted transaction's first offset up
/// to that producer's ABORT marker.
fn strata_read(store: &Store, topic: &str, partition: i32, isolation: Isolation) -> Read {
    let log =
        store.partition(topic, partition).unwrap_or_else(|e| panic!("{topic}-{partition}: {e}"));
    // A read-committed consumer's end offset is the last stable offset (ListOffsets with
    // isolation READ_COMMITTED), a read-uncommitted one's the high watermark (the log end).
    let log_end = log.log_end_offset();
    let end = match isolation {
        Isolation::ReadCommitted => log.last_stable_offset(),
        Isolation::ReadUncommitted => log_end,
    };
    let mut read = Read { log_start: log.log_start_offset(), end, records: Vec::new() };
    // Aborted transactions not yet reached, by first offset, and those seen already.
    let mut pending: BTreeSet<(i64, i64)> = BTreeSet::new();
    let mut listed: BTreeSet<(i64, i64)> = BTreeSet::new();
    let mut aborted_producers: BTreeSet<i64> = BTreeSet::new();
    let mut offset = read.log_start;
    while offset < log_end {
        let fetched = log
            .read_with(offset, 1 << 20, isolation)
            .unwrap_or_else(|e| panic!("read {offset}: {e}"));
        if fetched.is_empty() {
            // Read committed stops at the last stable offset.
            assert_eq!(
                isolation,
                Isolation::ReadCommitted,
                "{topic}-{partition}: empty read at {offset}"
            );
            assert_eq!(
                fetched.last_stable_offset(),
                Some(offset),
                "{topic}-{partition}: stopped at the LSO"
            );
            break;
        }
        for t in fetched.aborted_transactions() {
            if listed.insert((t.first_offset, t.producer_id)) {
                pending.insert((t.first_offset, t.producer_id));
            }
        }
        for batch in fetched.batches() {
            batch.validate().unwrap_or_else(|e| panic!("{topic}-{partition} batch: {e}"));
            let records: Vec<_> = batch
                .records()
                .unwrap_or_else(|e| panic!("{topic}-{partition}: {e}"))
                .map(|r| r.unwrap_or_else(|e| panic!("{topic}-{partition}: {e}")))
                .collect();
            if isolation == Isolation::ReadCommitted && batch.producer_id() >= 0 {
                while let Some(&(first, pid)) = pending.first() {
                    if first > batch.last_offset() {
                        break;
                    }
                    pending.pop_first();
                    aborted_producers.insert(pid);
                }
                let abort_marker = batch.is_control()
                    && records.first().is_some_and(|r| {
                        r.key()
                            .and_then(|k| ControlRecord::decode(k, r.value().map(|v| &v[..])).ok())
                            .is_some_and(|c| c.kind == ControlType::Abort)
                    });
                if abort_marker {
                    aborted_producers.remove(&batch.producer_id());
                } else if batch.is_transactional()
                    && aborted_producers.contains(&batch.producer_id())
                {
                    continue;
                }
            }
            if batch.is_control() {
                continue;
            }
            let ts_type = batch.timestamp_type();
            for r in records.iter().filter(|r| r.offset() >= offset) {
                read.records.push(record_line(topic, partition, r, ts_type));
            }
        }
        offset = fetched.next_offset();
    }
    read
}

/// Opens `dir` (a copy of the broker's data log directory) with strata and compares every
/// partition with what the consumer read; returns the number of records compared.
fn compare(dir: &Path, expected: &[(Isolation, &Reads)], when: &str) -> usize {
    let store = Store::open(StoreConfig::new([dir]).background_threads(false))
        .unwrap_or_else(|e| panic!("{when}: strata cannot open the broker's log dir: {e}"));
    let mut compared = 0;
    for &(isolation, reads) in expected {
        let when = format!("{when} ({isolation:?})");
        for ((topic, partition), want) in reads {
            let got = strata_read(&store, topic, *partition, isolation);
            assert_read_equal(&got, want, &format!("{when}: {topic}-{partition} (strata, broker)"));
            eprintln!(
                "{when}: {topic}-{partition}: {} records equal, log start {}, end {}",
                got.records.len(),
                got.log_start,
                got.end
            );
            compared += got.records.len();
        }
    }
    store.close().unwrap_or_else(|e| panic!("{when}: close: {e}"));
    compared
}

/// `got` equals `want`: log start, end (or LSO), and every record in order.
fn assert_read_equal(got: &Read, want: &Read, what: &str) {
    assert_eq!((got.log_start, got.end), (want.log_start, want.end), "{what}: log start, end");
    for (i, (g, w)) in got.records.iter().zip(&want.records).enumerate() {
        assert_eq!(g, w, "{what}: record #{i}");
    }
    assert_eq!(got.records.len(), want.records.len(), "{what}: record count");
}

fn partition_dirs(data: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(data)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", data.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// `logtool dump --json` of each of `dirs` equals `kafka_verify.py --dump`'s line for line, and
/// Kafka's own reader (kverify) reads every batch of them. Returns the number of batches.
fn assert_strata_dumps_as_the_checkers(dirs: &[PathBuf]) -> usize {
    if let Err(reason) = common::kafka_verify_available() {
        skip(&reason);
        return 0;
    }
    let mut batches = 0;
    let logtool = common::logtool_bin_built();
    for (dir, outcome) in common::kafka_verify_many(dirs, &["--dump"]) {
        assert!(outcome.ok(), "kafka_verify.py {} --dump: {outcome}", dir.display());
        let out = std::process::Command::new(&logtool)
            .args(["dump", "--json"])
            .arg(&dir)
            .output()
            .expect("run logtool");
        assert!(out.status.success(), "logtool dump {}: {out:?}", dir.display());
        let ours = String::from_utf8(out.stdout).expect("UTF-8");
        // The driver captures the summary (stderr with --dump) with the JSON lines.
        let theirs: String = outcome
            .stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| format!("{l}\n"))
            .collect();
        for (i, (a, b)) in theirs.lines().zip(ours.lines()).enumerate() {
            assert_eq!(b, a, "{} line {} (strata, kafka_verify.py)", dir.display(), i + 1);
        }
        assert_eq!(ours.lines().count(), theirs.lines().count(), "{}", dir.display());
        batches += theirs.lines().filter(|l| l.starts_with("{\"type\":\"batch\"")).count();
    }
    match common::kverify_many(dirs) {
        None => skip("kverify (Kafka's Java reader) is not built; .ci/run builds it"),
        Some(result) => result.unwrap_or_else(|e| panic!("{e}")),
    }
    batches
}

/// The time lookups to ask of each partition of `reads`: `topic:partition:spec` targets of
/// `clients.py times`, where spec is `max` or a timestamp: one below the smallest record
/// timestamp, one past the largest, and seven spread over the records' timestamps, each also
/// plus one (a timestamp between records', or past a batch's).
fn time_targets(reads: &Reads) -> Vec<String> {
    let mut targets = Vec::new();
    for ((topic, partition), read) in reads {
        let mut ts: Vec<i64> = read
            .records
            .iter()
            .filter_map(|l| l.split(' ').nth(5).and_then(|t| t.parse().ok()))
            .collect();
        ts.sort_unstable();
        ts.dedup();
        let mut specs: BTreeSet<String> = BTreeSet::from(["max".to_owned()]);
        if let (Some(first), Some(last)) = (ts.first(), ts.last()) {
            specs.insert((first - 1).to_string());
            specs.insert((last + 1).to_string());
            for i in 0..7 {
                let t = ts[i * (ts.len() - 1) / 6];
                specs.insert(t.to_string());
                specs.insert((t + 1).to_string());
            }
        }
        for spec in specs {
            targets.push(format!("{topic}:{partition}:{spec}"));
        }
    }
    targets
}

/// strata's answers to `targets` (see [`time_targets`]) in `clients.py times`' lines:
/// `Log::offset_for_time` with `OffsetSpec::MaxTimestamp` or `OffsetSpec::Timestamp`.
fn strata_times(store: &Store, targets: &[String]) -> Vec<String> {
    targets
        .iter()
        .map(|t| {
            let mut it = t.rsplitn(3, ':');
            let (spec, partition, topic) =
                (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            let log = store.partition(topic, partition.parse().unwrap()).unwrap();
            let asked = if spec == "max" {
                strata::OffsetSpec::MaxTimestamp
            } else {
                strata::OffsetSpec::Timestamp(spec.parse().unwrap())
            };
            let found = log.offset_for_time(asked).unwrap_or_else(|e| panic!("{t}: {e}"));
            let (offset, ts) = found.map_or((-1, -1), |f| (f.offset, f.timestamp.unwrap_or(-1)));
            format!("T {topic} {partition} {spec} {offset} {ts}")
        })
        .collect()
}

/// The broker's answers to `targets` equal strata's on `store`, line for line. Returns how many.
fn assert_times_equal(broker_lines: &str, store: &Store, targets: &[String], what: &str) -> usize {
    let theirs: Vec<&str> = broker_lines.lines().filter(|l| l.starts_with("T ")).collect();
    let ours = strata_times(store, targets);
    assert_eq!(theirs.len(), ours.len(), "{what}: every lookup answered");
    for (b, s) in theirs.iter().zip(&ours) {
        assert_eq!(s, b, "{what}: ListOffsets (strata, broker)");
    }
    ours.len()
}

/// Tears the last batch of `dir`'s last segment as a power cut during its write would: the file
/// keeps `keep` bytes of it (a cut inside its header or its records). Returns the batch's base
/// offset, where the log must end once recovered.
fn tear(dir: &Path, keep: usize) -> i64 {
    let (path, bytes) = common::segment_logs(dir).pop().expect("a segment");
    let (mut pos, mut last) = (0, None);
    while let Some(head) = bytes.get(pos..pos + 12) {
        let base = i64::from_be_bytes(head[..8].try_into().unwrap());
        let len = usize::try_from(i32::from_be_bytes(head[8..12].try_into().unwrap())).unwrap();
        last = Some((pos, 12 + len, base));
        pos += 12 + len;
    }
    let (start, len, base) = last.expect("a batch in the last segment");
    assert_eq!(start + len, bytes.len(), "{}: whole batches", path.display());
    assert!(keep < len, "the cut falls inside the batch");
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len((start + keep) as u64).unwrap();
    base
}

/// What a consumer read, less what a torn tail lost: records from `cut_at[partition]` on, and
/// the end (or last stable offset) at most that offset.
fn before_tear(reads: &Reads, cut_at: &BTreeMap<(String, i32), i64>) -> Reads {
    reads
        .iter()
        .map(|(key, r)| {
            let cut = cut_at.get(key).copied().unwrap_or(i64::MAX);
            let records = r
                .records
                .iter()
                .filter(|l| l.split(' ').nth(3).and_then(|o| o.parse::<i64>().ok()) < Some(cut))
                .cloned()
                .collect();
            (key.clone(), Read { log_start: r.log_start, end: r.end.min(cut), records })
        })
        .collect()
}

/// The broker did what the scenario asked, so the comparisons below cover it: the cleaner
/// removed records and kept tombstones, DeleteRecords and retention moved log starts, the
/// LogAppendTime topic's records carry the broker's time, aborted transactional data is there
/// read uncommitted and not read committed.
fn assert_scenario_happened(reads: &Reads, committed: &Reads) {
    let part = |t: &str, p: i32| reads.get(&(t.to_owned(), p)).expect("partition read");
    let field = |line: &str, i: usize| line.split(' ').nth(i).unwrap_or("").to_owned();
    let compacted = part("compacted", 0);
    assert!(
        (compacted.records.len() as i64) < compacted.end - compacted.log_start,
        "the cleaner removed records"
    );
    assert!(compacted.records.iter().any(|l| field(l, 7) == "-"), "tombstones were kept");
    assert_eq!(part("deleted", 0).log_start, 45, "DeleteRecords moved the log start");
    assert!(part("retention", 0).log_start > 0, "retention moved the log start");
    assert!(part("append-time", 0).records.iter().all(|l| field(l, 4) == "1"), "LogAppendTime");
    let aborted = |l: &String| field(l, 7).starts_with(&hex(Some(b"txn-a-1-"))[..]);
    assert!(part("txn", 0).records.iter().any(aborted), "aborted data is read uncommitted");
    let ct = part("compacted-txn", 0);
    assert!((ct.records.len() as i64) < ct.end - ct.log_start, "the cleaner removed records");
    assert!(
        !ct.records.iter().any(|l| field(l, 7).starts_with(&hex(Some(b"txn-3-"))[..])),
        "the cleaner dropped aborted data"
    );
    assert!(ct.records.iter().any(|l| field(l, 7) == "-"), "tombstones were kept");
    let txn_committed = committed.get(&("txn".to_owned(), 0)).expect("read committed");
    assert!(!txn_committed.records.iter().any(aborted), "and not read committed");
    assert!(!txn_committed.records.is_empty(), "committed data is read committed");
}

#[test]
fn broker_written_partitions_read_record_for_record_in_strata_and_strata_appends_serve_through_the_broker()
 {
    let version = match kafka_available() {
        Ok(v) => v,
        Err(reason) => {
            skip(&reason);
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut broker =
        Broker::format(&tmp.path().join("broker"), &[("log.index.interval.bytes", "512")]);
    let data = broker.data_dir().to_path_buf();
    broker.start();
    let written = broker.clients("write", &[&data.display().to_string()]);
    eprintln!("Kafka {version} wrote:\n{written}");
    let mut read_args = vec!["read_uncommitted"];
    read_args.extend_from_slice(PARTITIONS);
    let mut committed_args = vec!["read_committed"];
    committed_args.extend_from_slice(PARTITIONS);
    let uncommitted = parse_reads(&broker.clients("read", &read_args));
    let committed = parse_reads(&broker.clients("read", &committed_args));
    assert_eq!(uncommitted.len(), PARTITIONS.len(), "the consumer read every partition");
    assert_scenario_happened(&uncommitted, &committed);
    // Time lookups (ListOffsets by timestamp, and KIP-734's max timestamp) on every partition.
    let times = time_targets(&uncommitted);
    let time_refs: Vec<&str> = times.iter().map(String::as_str).collect();
    let broker_times = broker.clients("times", &time_refs);
    broker.stop();

    // 1. After a clean stop.
    let clean = tmp.path().join("clean-copy");
    copy_dir(&data, &clean).expect("copy the log dir");
    let both = [(Isolation::ReadUncommitted, &uncommitted), (Isolation::ReadCommitted, &committed)];
    let n_clean = compare(&clean, &both, "clean stop");
    let n_times = {
        let store = Store::open_read_only(StoreConfig::new([&clean])).expect("read-only open");
        assert_times_equal(&broker_times, &store, &times, "clean stop")
    };
    eprintln!("clean stop: {n_times} time lookups answered as the broker answered them");
    let emptied = common::segment_logs(&data.join("compacted-txn-0"))
        .into_iter()
        .flat_map(|(_, bytes)| strata::internals::format::BatchIter::new(bytes.into()))
        .filter(|(_, b)| !b.is_control() && b.records_count() == 0)
        .count();
    assert!(emptied > 0, "the broker's cleaner kept an emptied batch for its producer");
    // strata's dump of every partition the broker wrote (its internal topics too) equals the
    // checkers' dumps: every batch header field and every record, control and empty batches.
    let dirs = partition_dirs(&data);
    let dumped = assert_strata_dumps_as_the_checkers(&dirs);
    eprintln!(
        "{} partitions, {dumped} batches the broker wrote: strata's dump equals the checkers'",
        dirs.len()
    );
    // The broker's own .txnindex files equal strata's rebuild of them; its topic IDs are read.
    let txn_entries =
        common::broker_files::assert_broker_txn_files_read(&clean, &tmp.path().join("files"));
    assert!(txn_entries > 0, "the broker indexed its aborted transactions");
    eprintln!("{txn_entries} .txnindex entries of the broker equal strata's rebuild");

    // 2. After a kill, with a transaction left open and plain data after it: read committed
    // stops at the open transaction's first offset, on the broker and in strata.
    broker.start();
    broker.clients("write-more", &[]);
    let uncommitted = parse_reads(&broker.clients("read", &read_args));
    let committed = parse_reads(&broker.clients("read", &committed_args));
    broker.kill();
    let killed = tmp.path().join("killed-copy");
    copy_dir(&data, &killed).expect("copy the log dir");
    let torn = tmp.path().join("torn-copy");
    copy_dir(&data, &torn).expect("copy the log dir");
    let both = [(Isolation::ReadUncommitted, &uncommitted), (Isolation::ReadCommitted, &committed)];
    let n_killed = compare(&killed, &both, "after kill");

    // 2b. The kill came mid-write and a power cut lost the end of the last batch (a torn tail):
    // strata cuts each torn log at its last whole batch and serves every record before it, as
    // the broker served them; the checkers then accept the directories it recovered.
    let cut_at = BTreeMap::from([
        (("codecs".to_owned(), 2), tear(&torn.join("codecs-2"), 61 + 7)),
        (("txn".to_owned(), 0), tear(&torn.join("txn-0"), 30)),
    ]);
    let (u, c) = (before_tear(&uncommitted, &cut_at), before_tear(&committed, &cut_at));
    let n_torn = compare(
        &torn,
        &[(Isolation::ReadUncommitted, &u), (Isolation::ReadCommitted, &c)],
        "torn tail",
    );
    common::assert_kafka_valid_many(&[torn.join("codecs-2"), torn.join("txn-0")], 512);

    // Kafka's own index checks on the directories strata recovered and closed.
    match kafka_index_check(&partition_dirs(&killed)) {
        Err(reason) => skip(&format!("Kafka's DumpLogSegments cannot run: {reason}")),
        Ok(Ok(n)) => eprintln!("DumpLogSegments: {n} index files of the recovered copy pass"),
        Ok(Err(e)) => panic!("{e}"),
    }

    // 3. strata appends to the recovered copy; the broker restarts on it and serves them.
    let appended = {
        let store = Store::open(StoreConfig::new([&killed]).background_threads(false))
            .expect("strata reopens the copy");
        let mut appended = Vec::new();
        for (topic, partition) in [("codecs", 0), ("codecs", 3), ("txn", 1), ("compacted", 0)] {
            let log = store.partition(topic, partition).expect("partition");
            let records: Vec<Record> = (0..5)
                .map(|i| {
                    Record::new(format!("strata-key-{i}"), format!("strata-value-{topic}-{i}"))
                        .header("from", "strata")
                        .timestamp(1_800_000_000_000 + i)
                })
                .collect();
            let at = log.append(&records).expect("strata append");
            appended.push((topic, partition, at.base_offset));
        }
        let mut expected = BTreeMap::new();
        for &(topic, partition, from) in &appended {
            let all = strata_read(&store, topic, partition, Isolation::ReadUncommitted);
            let tail: Vec<String> = all
                .records
                .into_iter()
                .filter(|l| {
                    l.split(' ')
                        .nth(3)
                        .and_then(|o| o.parse::<i64>().ok())
                        .is_some_and(|o| o >= from)
                })
                .collect();
            assert_eq!(tail.len(), 5, "{topic}-{partition}: strata reads its own appends");
            expected.insert((topic, partition, from), tail);
        }
        store.close().expect("close");
        expected
    };
    fs::rename(&data, tmp.path().join("broker-original")).expect("set the original aside");
    fs::rename(&killed, &data).expect("the broker's log dir is now strata's");
    broker.start();
    let targets: Vec<String> =
        appended.keys().map(|(t, p, from)| format!("{t}:{p}:{from}")).collect();
    let target_refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let served = broker.clients("read-kp", &target_refs);
    let mut n_appended = 0;
    for ((topic, partition, _), want) in &appended {
        let prefix = format!("R {topic} {partition} ");
        let got: Vec<&str> = served.lines().filter(|l| l.starts_with(&prefix)).collect();
        assert_eq!(got, *want, "{topic}-{partition}: the broker serves strata's appends");
        n_appended += got.len();
    }
    // The broker serves everything else as before, too.
    let after = parse_reads(&broker.clients("read", &read_args));
    broker.stop();
    // What the broker said about the directory strata handed back: no error; warnings printed.
    let log = fs::read_to_string(broker.log_file()).expect("broker log");
    // Each error with the lines that follow it (the exception and its stack).
    let lines: Vec<&str> = log.lines().collect();
    let errors: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("] ERROR "))
        // Kafka 4.4.0's retention task can race its own cleaner manager ("Compaction for
        // partition X cannot be resumed since it is not paused", LogManager.cleanupLogs ->
        // LogCleanerManager.resumeCleaning); it names whichever partition it raced on, seen on
        // a plain (non-compacted) codecs partition, and is about the broker's in-memory state.
        .filter(|(i, _)| {
            !lines
                .get(i + 1)
                .is_some_and(|next| next.contains("cannot be resumed since it is not paused"))
        })
        .map(|(i, _)| lines.iter().skip(i).take(12).copied().collect::<Vec<_>>().join("\n"))
        .collect();
    assert!(
        errors.is_empty(),
        "the broker logged errors on strata's directory:\n{}",
        errors.join("\n")
    );
    for warning in log.lines().filter(|l| l.contains("] WARN ")) {
        eprintln!("broker on strata's directory: {warning}");
    }
    for ((topic, partition), want) in &uncommitted {
        let got = after.get(&(topic.clone(), *partition)).expect("partition read");
        let new = appended.iter().find(|((t, p, _), _)| t == topic && p == partition);
        let kept = new.map_or(got.records.len(), |(_, lines)| got.records.len() - lines.len());
        assert_eq!(
            &got.records[..kept],
            &want.records[..],
            "{topic}-{partition} after the hand-back"
        );
    }
    eprintln!(
        "Kafka {version}: compared {n_clean} records after a clean stop, {n_killed} after a \
         kill and {n_torn} after a torn tail (read uncommitted and read committed) over {} \
         partitions; the broker served strata's {n_appended} appended records",
        PARTITIONS.len()
    );
}
