//! strata -> Kafka live forwarding (`examples/forward.rs`) against a real Apache Kafka broker
//! (tests/common/broker.rs), with crashes: the forwarder is SIGKILLed in the middle of a run,
//! aborted on purpose between the broker's acknowledgement and strata's commit, restarted, and
//! finally run to the end; more records are appended to strata between the runs. A real consumer
//! (confluent-kafka, compat/kafka/clients.py) then reads every Kafka partition, and each must hold
//! exactly the strata partition's records, once each, in order: offsets, keys (null too), values
//! (null and empty too), headers (null values too) and timestamps.
//!
//! Skips (with the reason) without Java, the resolved jars (target/kafka-lib) or the Python
//! clients; `.ci/run` installs all three and makes a skip a failure.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::broker::{Broker, kafka_available};
use common::{manifest_dir, skip};
use strata::{Header, Record, Store, StoreConfig, TopicConfig};

const GROUP: &str = "to-kafka";
/// (strata topic, Kafka topic, partitions).
const TOPICS: &[(&str, &str, i32)] = &[("events", "events", 3), ("audit", "audit-mirror", 1)];

/// The forward example, built (`--features forward`) in the test's own profile.
fn forward_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        if let Some(cargo) = std::env::var_os("CARGO") {
            // The features this test was built with (at least `forward`): under
            // `cargo test --all-features` the example is already built with them, and a build
            // with other features would rebuild the library.
            let features: Vec<&str> = [
                ("gzip", cfg!(feature = "gzip")),
                ("snappy", cfg!(feature = "snappy")),
                ("lz4", cfg!(feature = "lz4")),
                ("zstd", cfg!(feature = "zstd")),
                ("cli", cfg!(feature = "cli")),
                ("tracing", cfg!(feature = "tracing")),
                ("stream", cfg!(feature = "stream")),
                ("forward", true),
            ]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect();
            let mut build = Command::new(cargo);
            build.current_dir(manifest_dir()).args(["build", "--no-default-features"]);
            build.args(["--features", &features.join(","), "--example", "forward"]);
            match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => {}
                Some("release") => {
                    build.arg("--release");
                }
                Some(other) => {
                    build.args(["--profile", other]);
                }
                None => panic!("no profile dir above {}", exe.display()),
            }
            let out = build.output().unwrap();
            assert!(
                out.status.success(),
                "cargo build --features {} --example forward:\n{}",
                features.join(","),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let bin = profile_dir.join("examples").join("forward");
        assert!(bin.is_file(), "{} not built", bin.display());
        bin
    })
    .clone()
}

fn hex(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "-".to_owned(),
        Some([]) => "=".to_owned(),
        Some(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

/// Record `i` of a partition: every 7th unkeyed, every 11th a tombstone, every 13th an empty
/// value; 0 to 3 headers (binary values, a null one, a repeated name); distinct timestamps an
/// hour old (inside the broker's retention and its timestamp checks).
fn record(topic: &str, partition: i32, i: u64, base_ts: i64) -> Record {
    let value = match i {
        _ if i % 11 == 5 => None,
        _ if i % 13 == 6 => Some(Vec::new()),
        _ => {
            Some(format!("{topic}/{partition}/{i}/{}", "v".repeat((i % 40) as usize)).into_bytes())
        }
    };
    let key = (i % 7 != 3).then(|| format!("key-{}", i % 97).into_bytes());
    let mut headers = Vec::new();
    if i % 4 >= 1 {
        headers.push(Header::new("trace", Some(i.to_be_bytes().to_vec())));
    }
    if i % 4 >= 2 {
        headers.push(Header::new("null", None::<Vec<u8>>));
    }
    if i % 4 == 3 {
        headers.push(Header::new("trace", Some(vec![0xff, 0x00, 0x7f])));
    }
    Record {
        timestamp: base_ts + i64::try_from(i).unwrap() * 7 + i64::from(partition),
        key: key.map(Into::into),
        value: value.map(Into::into),
        headers,
    }
}

/// Appends records `from..to` to every partition of every topic, in batches of 1 to 37.
fn write(dir: &Path, from: u64, to: u64, base_ts: i64) {
    let store = Store::open(StoreConfig::new([dir])).unwrap();
    for &(topic, _, partitions) in TOPICS {
        store.create_topic_if_absent(topic, partitions, &TopicConfig::default()).unwrap();
        for p in 0..partitions {
            let log = store.partition(topic, p).unwrap();
            let mut i = from;
            while i < to {
                let n = (1 + (i * 31 + u64::try_from(p).unwrap()) % 37).min(to - i);
                let batch: Vec<Record> = (i..i + n).map(|j| record(topic, p, j, base_ts)).collect();
                log.append(&batch).unwrap();
                i += n;
            }
        }
    }
    store.close().unwrap();
}

/// Every record of a strata partition as `offset ts_type timestamp key value headers...`.
fn strata_lines(dir: &Path, topic: &str, partition: i32) -> Vec<String> {
    let store = Store::open_read_only(StoreConfig::new([dir])).unwrap();
    let log = store.partition(topic, partition).unwrap();
    let mut out = Vec::new();
    for r in log.records_from(log.log_start_offset()) {
        let r = r.unwrap();
        let mut line = format!(
            "{} 0 {} {} {}",
            r.offset(),
            r.timestamp(),
            hex(r.key().map(|k| &k[..])),
            hex(r.value().map(|v| &v[..]))
        );
        for h in r.headers() {
            line.push_str(&format!(" {}:{}", hex(Some(&h.key[..])), hex(h.value.as_deref())));
        }
        out.push(line);
    }
    out
}

/// What the forwarder committed in strata's group, per (topic, partition), read beside it.
fn committed(dir: &Path) -> BTreeMap<(String, i32), i64> {
    let Ok(store) = Store::open_read_only(StoreConfig::new([dir])) else {
        return BTreeMap::new();
    };
    let Ok(offsets) = store.groups().offsets(GROUP) else { return BTreeMap::new() };
    offsets.into_iter().map(|c| ((c.topic, c.partition), c.offset)).collect()
}

/// Starts the forwarder over [`TOPICS`], `--rate` (records/s) when given, aborting after
/// `abort_after` acknowledgements when given.
fn forwarder(dir: &Path, broker: &Broker, rate: Option<u64>, abort_after: Option<u64>) -> Child {
    forwarder_of(TOPICS, dir, broker, rate, abort_after)
}

/// [`forwarder`] over `topics` (strata topic, Kafka topic, partitions).
fn forwarder_of(
    topics: &[(&str, &str, i32)],
    dir: &Path,
    broker: &Broker,
    rate: Option<u64>,
    abort_after: Option<u64>,
) -> Child {
    let mut cmd = Command::new(forward_bin());
    cmd.arg("--dir").arg(dir).args(["--bootstrap", &broker.bootstrap(), "--group", GROUP]);
    for &(topic, kafka_topic, _) in topics {
        cmd.args(["--topic", &format!("{topic}={kafka_topic}")]);
    }
    cmd.args(["--settle-ms", "300"]);
    if let Some(rate) = rate {
        cmd.args(["--rate", &rate.to_string()]);
    }
    if let Some(n) = abort_after {
        cmd.env("STRATA_FORWARD_ABORT_AFTER_ACKS", n.to_string());
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// A temporary root and the store's directory `root/strata` in it; `None`, after printing why,
/// when no Kafka broker can run here.
fn kafka_and_root() -> Option<(tempfile::TempDir, PathBuf)> {
    if let Err(why) = kafka_available() {
        skip(&why);
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("strata");
    Some((root, dir))
}

/// A timestamp base an hour in the past (milliseconds since the epoch).
fn an_hour_ago_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(now.as_millis()).unwrap() - 3_600_000
}

/// A started broker under `root/broker` holding each Kafka topic of `topics` (strata topic, Kafka
/// topic, partitions), with the forward example built.
fn broker_with(root: &Path, topics: &[(&str, &str, i32)]) -> Broker {
    let mut broker = Broker::format(&root.join("broker"), &[]);
    broker.start();
    for &(_, kafka_topic, partitions) in topics {
        broker.clients("create", &[kafka_topic, &partitions.to_string()]);
    }
    forward_bin();
    broker
}

/// Waits (up to 120 s) until what the forwarder `child` committed in `dir` satisfies `enough`,
/// and returns the still running child with that commit; panics, naming `what` it waited for,
/// when the run exits first or time runs out.
fn until_committed(
    mut child: Child,
    dir: &Path,
    what: &str,
    enough: impl Fn(&BTreeMap<(String, i32), i64>) -> bool,
) -> (Child, BTreeMap<(String, i32), i64>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let c = committed(dir);
        if enough(&c) {
            return (child, c);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the forwarder exited ({status}) before {what}:\n{}", text(&finish(child)));
        }
        assert!(Instant::now() < deadline, "no {what} in 120 s (committed {c:?})");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` (up to 300 s) and returns its output.
fn finish(child: Child) -> Output {
    let id = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let deadline = Instant::now() + Duration::from_secs(300);
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-KILL", &id.to_string()]).status();
            panic!("the forwarder ran longer than 300 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Sum of `field=N` over the `resume` lines of a run's output.
fn resume_sum(stdout: &str, field: &str) -> i64 {
    stdout
        .lines()
        .filter(|l| l.starts_with("resume "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|w| w.strip_prefix(field)?.strip_prefix('=')?.parse::<i64>().ok())
        .sum()
}

/// Every record of each Kafka partition, read by confluent-kafka, as strata_lines formats them.
fn kafka_lines(
    broker: &Broker,
    topics: &[(&str, &str, i32)],
) -> BTreeMap<(String, i32), Vec<String>> {
    let targets: Vec<String> =
        topics.iter().flat_map(|&(_, k, n)| (0..n).map(move |p| format!("{k}:{p}"))).collect();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let out = broker.clients("read", &[&["read_uncommitted"], targets.as_slice()].concat());
    let mut lines: BTreeMap<(String, i32), Vec<String>> = BTreeMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["P", topic, partition, ..] => {
                lines.entry(((*topic).to_owned(), partition.parse().unwrap())).or_default();
            }
            ["R", topic, partition, rest @ ..] => {
                let key = ((*topic).to_owned(), partition.parse().unwrap());
                lines.entry(key).or_default().push(rest.join(" "));
            }
            _ => {}
        }
    }
    lines
}

#[test]
fn forwarding_with_kills_delivers_every_record_once_in_order() {
    let Some((root, dir)) = kafka_and_root() else { return };
    let base_ts = an_hour_ago_ms();
    let (first, more) = (3_000u64, 700u64);
    write(&dir, 0, first, base_ts);
    let total = |per: u64| per * TOPICS.iter().map(|t| u64::try_from(t.2).unwrap()).sum::<u64>();

    let mut broker = broker_with(root.path(), TOPICS);

    // Run 1: throttled to 2,000 records/s; SIGKILL once a quarter of the records are committed.
    let quarter = i64::try_from(total(first) / 4).unwrap();
    let (mut child, commit) =
        until_committed(forwarder(&dir, &broker, Some(2_000), None), &dir, "the kill", |c| {
            c.values().sum::<i64>() >= quarter
        });
    let at_kill: i64 = commit.values().sum();
    child.kill().unwrap(); // SIGKILL
    let run1 = finish(child);
    assert!(!run1.status.success(), "run 1 was killed:\n{}", text(&run1));
    let run1_out = String::from_utf8_lossy(&run1.stdout).into_owned();
    println!("run 1: SIGKILLed with {at_kill} of {} records committed", total(first));

    // Run 2: resumes, then aborts right after its 1,500th acknowledgement, before committing it.
    let run2 = finish(forwarder(&dir, &broker, Some(4_000), Some(1_500)));
    assert!(!run2.status.success(), "run 2 must abort:\n{}", text(&run2));
    let run2_out = String::from_utf8_lossy(&run2.stdout).into_owned();
    assert!(
        String::from_utf8_lossy(&run2.stderr).contains("aborting after 1500 acks"),
        "run 2 did not reach its abort:\n{}",
        text(&run2)
    );
    let after_run2: i64 = committed(&dir).values().sum();
    println!(
        "run 2: resumed (kafka had {} records past run 1's last commit, {} matched), \
         aborted after 1500 acks with {after_run2} committed",
        resume_sum(&run2_out, "window"),
        resume_sum(&run2_out, "matched")
    );
    assert_eq!(resume_sum(&run2_out, "unmatched"), 0, "{}", text(&run2));

    // More records while no forwarder runs.
    write(&dir, first, first + more, base_ts);

    // Run 3: to the end. The records run 2 had delivered but not committed must be recognized.
    let run3 = finish(forwarder(&dir, &broker, None, None));
    assert!(run3.status.success(), "run 3 failed:\n{}", text(&run3));
    let run3_out = String::from_utf8_lossy(&run3.stdout).into_owned();
    let (window, matched) = (resume_sum(&run3_out, "window"), resume_sum(&run3_out, "matched"));
    println!(
        "run 3: kafka had {window} records past run 2's last commit ({matched} recognized as \
         delivered); {}",
        run3_out.lines().last().unwrap_or("")
    );
    assert!(matched >= 1, "run 2 aborted between an ack and its commit:\n{}", text(&run3));
    assert_eq!(
        window,
        matched,
        "every record past the commit is one strata sent:\n{}",
        text(&run3)
    );

    // Run 4: nothing left to forward; a restart at the end sends nothing.
    let run4 = finish(forwarder(&dir, &broker, None, None));
    assert!(run4.status.success(), "run 4 failed:\n{}", text(&run4));
    let run4_out = String::from_utf8_lossy(&run4.stdout).into_owned();
    assert!(run4_out.contains("forwarded 0 records"), "{}", text(&run4));
    assert_eq!(resume_sum(&run4_out, "window"), 0, "{}", text(&run4));

    // Kafka holds exactly strata's records, in order, once each.
    let kafka = kafka_lines(&broker, TOPICS);
    let mut compared = 0;
    for &(topic, kafka_topic, partitions) in TOPICS {
        for p in 0..partitions {
            let ours = strata_lines(&dir, topic, p);
            let theirs = kafka.get(&(kafka_topic.to_owned(), p)).cloned().unwrap_or_default();
            println!(
                "{topic}-{p} -> {kafka_topic}-{p}: strata {} records, kafka {} records",
                ours.len(),
                theirs.len()
            );
            assert_eq!(ours.len() as u64, first + more);
            let first_diff = ours.iter().zip(&theirs).position(|(a, b)| a != b);
            assert!(
                first_diff.is_none() && ours.len() == theirs.len(),
                "{topic}-{p}: first difference at record {first_diff:?}: strata {:?} kafka {:?} \
                 (strata {} records, kafka {})",
                first_diff.and_then(|i| ours.get(i)),
                first_diff.and_then(|i| theirs.get(i)),
                ours.len(),
                theirs.len()
            );
            compared += ours.len();
        }
    }
    println!(
        "compared {compared} records (offset, timestamp, key, value, headers) over 4 partitions: \
         equal; run outputs:\n{run1_out}{run2_out}{run3_out}{run4_out}"
    );
    broker.stop();
}

/// Writes one record into a Kafka partition from a producer of the test's own: a writer the
/// forwarder does not know.
fn foreign_write(broker: &Broker, topic: &str, partition: i32) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    producer
        .send(BaseRecord::to(topic).partition(partition).key("foreign").payload("not strata's"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_foreign_write_into_the_kafka_partition_stops_the_forwarder_and_is_passed_over_on_restart() {
    let Some((root, dir)) = kafka_and_root() else { return };
    let base_ts = an_hour_ago_ms();
    let per = 2_000u64;
    write(&dir, 0, per, base_ts);
    let mut broker = broker_with(root.path(), TOPICS);

    // Run 1, throttled (1,000 records/s over 4 partitions): once events-0 has progress, another
    // producer appends a record to Kafka's events-0. The forwarder's next acknowledgement there
    // lands one offset later than it expects: it must stop, failing, without committing past it.
    let (child, _) = until_committed(
        forwarder(&dir, &broker, Some(1_000), None),
        &dir,
        "progress on events-0",
        |c| c.get(&("events".to_owned(), 0)).is_some_and(|&done| done >= 100),
    );
    foreign_write(&broker, "events", 0);
    let run1 = finish(child);
    let run1_text = text(&run1);
    assert!(!run1.status.success(), "run 1 must stop at the foreign record:\n{run1_text}");
    assert!(run1_text.contains("another producer"), "{run1_text}");
    let at_stop = committed(&dir);
    let reason = String::from_utf8_lossy(&run1.stderr)
        .lines()
        .rfind(|l| l.starts_with("forward: "))
        .unwrap_or_default()
        .to_owned();
    println!("run 1: {reason}\nrun 1: committed at the stop {at_stop:?}");

    // Run 2: the foreign record is in the window past the commit; it matches no strata record
    // and is passed over, the forwarder's own records around it are recognized.
    let run2 = finish(forwarder(&dir, &broker, None, None));
    assert!(run2.status.success(), "run 2 failed:\n{}", text(&run2));
    let run2_out = String::from_utf8_lossy(&run2.stdout).into_owned();
    let (window, matched, unmatched) = (
        resume_sum(&run2_out, "window"),
        resume_sum(&run2_out, "matched"),
        resume_sum(&run2_out, "unmatched"),
    );
    println!("run 2: window {window}, matched {matched}, unmatched {unmatched}");
    assert_eq!(unmatched, 1, "{}", text(&run2));
    assert_eq!(window, matched + unmatched, "{}", text(&run2));

    // Kafka: every strata record once, in order; events-0 also holds the one foreign record.
    let kafka = kafka_lines(&broker, TOPICS);
    let foreign_key = hex(Some(b"foreign"));
    for &(topic, kafka_topic, partitions) in TOPICS {
        for p in 0..partitions {
            let ours = strata_lines(&dir, topic, p);
            let theirs = kafka.get(&(kafka_topic.to_owned(), p)).cloned().unwrap_or_default();
            // Offsets after the foreign record are one higher in Kafka: compare the rest.
            let strip = |l: &String| l.split_once(' ').map(|(_, rest)| rest.to_owned());
            let foreign: Vec<&String> =
                theirs.iter().filter(|l| l.split(' ').nth(3) == Some(&foreign_key)).collect();
            let theirs_own: Vec<Option<String>> = theirs
                .iter()
                .filter(|l| l.split(' ').nth(3) != Some(&foreign_key))
                .map(strip)
                .collect();
            let ours_stripped: Vec<Option<String>> = ours.iter().map(strip).collect();
            println!(
                "{topic}-{p} -> {kafka_topic}-{p}: strata {} records, kafka {} ({} foreign)",
                ours.len(),
                theirs.len(),
                foreign.len()
            );
            assert_eq!(foreign.len(), usize::from(topic == "events" && p == 0));
            assert_eq!(ours.len() as u64, per);
            assert!(
                ours_stripped == theirs_own,
                "{topic}-{p}: kafka's records differ from strata's"
            );
        }
    }
    broker.stop();
}

/// Appends records `from..to` of the compacted topic `table`, value `table/<i>`: below 3,000
/// every 4th record has one of 8 shared keys (`hot<i % 8>`) and the others a key of their own;
/// from 3,000 on every record updates a shared key.
fn write_table(store: &Store, from: u64, to: u64, base_ts: i64) {
    let log = store.partition("table", 0).unwrap();
    let mut i = from;
    while i < to {
        let n = 10.min(to - i);
        let batch: Vec<Record> = (i..i + n)
            .map(|j| {
                let key = if j >= 3_000 || j % 4 == 0 {
                    format!("hot{}", j % 8)
                } else {
                    format!("u{j}")
                };
                Record::new(key, format!("table/{j}"))
                    .timestamp(base_ts + i64::try_from(j).unwrap())
            })
            .collect();
        log.append(&batch).unwrap();
        i += n;
    }
}

/// The `i` of each record's `table/<i>` value, in order.
fn table_indexes<'a>(lines: impl Iterator<Item = &'a String>) -> Vec<u64> {
    let want = |l: &String| {
        let value = l.split(' ').nth(4)?;
        let bytes: Vec<u8> = (0..value.len() / 2)
            .map(|k| u8::from_str_radix(value.get(2 * k..2 * k + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        String::from_utf8(bytes).ok()?.strip_prefix("table/")?.parse().ok()
    };
    lines.map(|l| want(l).unwrap_or_else(|| panic!("not a table record: {l}"))).collect()
}

#[test]
fn records_compacted_away_in_strata_inside_the_unconfirmed_window_are_passed_over() {
    let Some((root, dir)) = kafka_and_root() else { return };
    let base_ts = an_hour_ago_ms();
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_owned(), "compact".to_owned());
    overrides.insert("segment.bytes".to_owned(), "4096".to_owned());
    overrides.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    // Nothing is cleaned while run 1 forwards (the records are an hour old).
    overrides.insert("min.compaction.lag.ms".to_owned(), "86400000".to_owned());
    {
        let store = Store::open(StoreConfig::new([&dir]).background_threads(false)).unwrap();
        store.create_topic("table", 1, &overrides).unwrap();
        write_table(&store, 0, 3_000, base_ts);
        store.close().unwrap();
    }
    const TABLE: &[(&str, &str, i32)] = &[("table", "table", 1)];
    let mut broker = broker_with(root.path(), TABLE);
    let run = |abort_after| finish(forwarder_of(TABLE, &dir, &broker, Some(3_000), abort_after));

    // Run 1 aborts between an acknowledgement and its commit: records past the commit are in
    // Kafka. Then strata takes 1,000 more updates of the shared keys and its cleaner removes
    // every superseded record below the active segment, in the window too.
    let run1 = run(Some(2_000));
    assert!(!run1.status.success(), "run 1 must abort:\n{}", text(&run1));
    let commit = committed(&dir)[&("table".to_owned(), 0)];
    let report = {
        let store = Store::open(StoreConfig::new([&dir]).background_threads(false)).unwrap();
        write_table(&store, 3_000, 4_000, base_ts);
        store.set_topic_config("table", "min.compaction.lag.ms", "0").unwrap();
        let report = store.maintain(None).unwrap();
        store.close().unwrap();
        report
    };
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");

    // Run 2 finds records in the window that strata no longer has, passes over them, and
    // forwards the rest once.
    let run2 = run(None);
    assert!(run2.status.success(), "run 2 failed:\n{}", text(&run2));
    let out = String::from_utf8_lossy(&run2.stdout).into_owned();
    let (window, matched, unmatched) =
        (resume_sum(&out, "window"), resume_sum(&out, "matched"), resume_sum(&out, "unmatched"));
    println!(
        "compacted: run 1 committed {commit} of 3000, then 1000 updates and a cleaning; run 2: \
         window {window}, matched {matched}, unmatched (compacted away) {unmatched}"
    );
    assert!(window >= 1, "run 1 aborted between an ack and its commit:\n{}", text(&run2));
    assert!(unmatched >= 1, "the cleaner removed records of the window:\n{}", text(&run2));
    assert!(matched >= 1, "records of their own key in the window survive:\n{}", text(&run2));
    assert_eq!(window, matched + unmatched, "{}", text(&run2));

    // Kafka: strictly increasing record indexes (nothing twice, nothing reordered), and every
    // record strata still holds is there (nothing lost).
    let kafka = kafka_lines(&broker, TABLE);
    let theirs = table_indexes(kafka[&("table".to_owned(), 0)].iter());
    let ours = table_indexes(strata_lines(&dir, "table", 0).iter());
    assert!(theirs.windows(2).all(|w| w[0] < w[1]), "Kafka's records out of order or twice");
    let in_kafka: std::collections::BTreeSet<u64> = theirs.iter().copied().collect();
    let missing: Vec<u64> = ours.iter().copied().filter(|i| !in_kafka.contains(i)).collect();
    println!(
        "compacted: strata holds {} records after cleaning, Kafka {} (every one of strata's: {})",
        ours.len(),
        theirs.len(),
        missing.is_empty()
    );
    assert!(missing.is_empty(), "strata records missing in Kafka: {missing:?}");
    broker.stop();
}
