//! strata -> broker with every feature at once (part of the `broker_to_strata` tests): the store
//! of `tests/common/strata_all.rs` (every codec, headers, null keys and values, idempotent and
//! transactional producers with commit and abort markers, leader epochs, LogAppendTime, rolls by
//! size and time, retention, DeleteRecords, two cleanings with tombstones, delete horizons and
//! retained empty batches) is handed to a stopped broker topic by topic, and the broker serves
//! every record as strata reads it (read uncommitted and read committed, log start, end and last
//! stable offset) twice: after a clean start, which loads strata's indexes and producer
//! snapshots as they are, and after an unclean one (no `.kafka_cleanshutdown`, recovery points
//! 0), where the broker's own recovery re-reads every segment and rebuilds its indexes and
//! producer state. Each time, the producers the broker describes (`kafka-transactions.sh
//! describe-producers`) are those of strata's last producer snapshot. Then the broker appends
//! (idempotent and transactional producers, a commit and an abort per partition) and strata
//! reads the broker's directory back record for record as the broker's consumers read it.
//!
//! Before the unclean start, a crash image of a strata partition (`strata_all::write_crash_image`:
//! copied while the store was open, plus a torn batch) goes into the broker's partition
//! directory as it is: the broker's own recovery must make it whole, serving every record strata
//! acknowledged and describing strata's producers.

use super::*;
use common::strata_all;

/// `kafka-transactions.sh describe-producers` of one partition, as
/// `pid epoch coordinatorEpoch lastSequence lastTimestamp txnStart` lines, sorted (`-1` for
/// none).
fn broker_producers(broker: &Broker, topic: &str, partition: i32) -> Vec<String> {
    let p = partition.to_string();
    let (stdout, _) = broker.tool(
        "org.apache.kafka.tools.TransactionsCommand",
        &["describe-producers", "--topic", topic, "--partition", &p],
    );
    let mut lines: Vec<String> = stdout
        .lines()
        .skip(1) // the header
        .map(|l| {
            l.split_whitespace()
                .map(|f| if f == "None" { "-1" } else { f })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

/// What strata's last producer snapshot of a partition says, in [`broker_producers`]' form.
fn snapshot_producers(dir: &Path) -> Vec<String> {
    let mut snaps: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snapshot"))
        .collect();
    snaps.sort();
    let last = snaps.last().unwrap_or_else(|| panic!("{}: no snapshot", dir.display()));
    let entries =
        strata::internals::format::producer_snapshot::decode(&fs::read(last).unwrap()).unwrap();
    let mut lines: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {}",
                e.producer_id,
                e.epoch,
                e.coordinator_epoch,
                e.last_sequence,
                e.timestamp,
                e.current_txn_first_offset
            )
        })
        .collect();
    lines.sort();
    lines
}

/// The broker's log lines that say it found something wrong in strata's files.
fn complaints(log: &str) -> Vec<String> {
    let needles = [
        "] ERROR ",
        "Found invalid",
        "orrupt",
        "Failed to load producer snapshot",
        "Truncating",
        "truncated",
        "Deleting segment",
    ];
    log.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .filter(|l| strata_all::PARTITIONS.iter().any(|(t, p)| l.contains(&format!("{t}-{p}"))))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_strata_store_with_every_feature_is_served_by_the_broker_record_for_record_after_clean_and_unclean_starts()
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
    strata_all::write(&strata_dir);
    let image = tmp.path().join("crash-image");
    strata_all::write_crash_image(&strata_dir, &image);
    let topics: BTreeMap<&str, i32> =
        strata_all::PARTITIONS.iter().fold(BTreeMap::new(), |mut m, (t, p)| {
            let n = m.entry(*t).or_insert(0);
            *n = (*n).max(p + 1);
            m
        });
    let (want, want_committed, producers, crashed) = {
        let store = Store::open_read_only(StoreConfig::new([&strata_dir])).expect("read-only");
        let mut u = Reads::new();
        let mut c = Reads::new();
        let mut producers = BTreeMap::new();
        for &(topic, p) in strata_all::PARTITIONS {
            u.insert(
                (topic.to_owned(), p),
                strata_read(&store, topic, p, Isolation::ReadUncommitted),
            );
            c.insert(
                (topic.to_owned(), p),
                strata_read(&store, topic, p, Isolation::ReadCommitted),
            );
            producers
                .insert((topic, p), snapshot_producers(&strata_dir.join(format!("{topic}-{p}"))));
        }
        let crashed = [Isolation::ReadUncommitted, Isolation::ReadCommitted].map(|i| {
            (i, Reads::from([(("crashed".to_owned(), 0), strata_read(&store, "crashed", 0, i))]))
        });
        (u, c, producers, crashed)
    };
    let crashed_producers = snapshot_producers(&strata_dir.join("crashed-0"));

    let mut broker = Broker::format(&tmp.path().join("broker"), &[]);
    let data = broker.data_dir().to_path_buf();
    broker.start();
    for (topic, n) in &topics {
        broker.clients("create", &[topic, &n.to_string()]);
    }
    broker.clients("create", &["crashed", "1"]);
    broker.stop();
    let broker_dir = data.display().to_string();
    for topic in topics.keys() {
        let out = common::logtool_run(
            &[&strata_dir],
            false,
            &["hand-over", topic, "--broker-dir", &broker_dir],
            b"",
        );
        assert!(
            out.status.success(),
            "logtool hand-over {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let targets: Vec<String> =
        strata_all::PARTITIONS.iter().map(|(t, p)| format!("{t}:{p}")).collect();
    let times = time_targets(&want);
    let time_refs: Vec<&str> = times.iter().map(String::as_str).collect();
    let mut compared = 0;
    let mut appended = Vec::new();
    for clean in [true, false] {
        let when = if clean { "clean start" } else { "unclean start" };
        if !clean {
            // As after a power cut: no clean-shutdown marker, and no segment known flushed, so
            // the broker recovers every segment strata wrote.
            fs::remove_file(data.join(".kafka_cleanshutdown")).expect("remove the clean marker");
            let path = data.join(checkpoint::RECOVERY_POINT_CHECKPOINT);
            let mut points = checkpoint::read_offsets(&path).expect("recovery points");
            for &(topic, p) in strata_all::PARTITIONS {
                points.insert((topic.to_owned(), p), 0);
            }
            checkpoint::write_offsets(&path, &points).expect("write recovery points");
            // The crash image goes in as it is, without strata's recovery: the broker's own
            // recovery must make it whole (indexes rebuilt, the torn batch cut, producer state
            // from the last snapshot and the batches after it).
            let part = data.join("crashed-0");
            for e in fs::read_dir(&part).expect("the broker's crashed-0").flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if common::is_segment_log_name(&e.file_name())
                    || name.ends_with(".index")
                    || name.ends_with(".timeindex")
                {
                    fs::remove_file(e.path()).expect("remove the broker's empty segment");
                }
            }
            for e in fs::read_dir(&image).expect("the image").flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let segment_file = [".log", ".index", ".timeindex", ".txnindex", ".snapshot"]
                    .iter()
                    .any(|x| name.ends_with(x));
                if segment_file {
                    fs::copy(e.path(), part.join(&name)).expect("copy the image in");
                }
            }
        }
        broker.start();
        for (isolation, expected) in
            [("read_uncommitted", &want), ("read_committed", &want_committed)]
        {
            let mut args = vec![isolation];
            args.extend(targets.iter().map(String::as_str));
            let got = parse_reads(&broker.clients("read", &args));
            for (key, w) in expected {
                let g = got.get(key).unwrap_or_else(|| panic!("{when}: {key:?} read"));
                assert_read_equal(g, w, &format!("{when}: {key:?} {isolation} (broker, strata)"));
                compared += g.records.len();
                eprintln!(
                    "{when}: {}-{} {isolation}: {} records equal, log start {}, end {}",
                    key.0,
                    key.1,
                    g.records.len(),
                    g.log_start,
                    g.end
                );
            }
        }
        if !clean {
            for (isolation, want) in &crashed {
                let name = if *isolation == Isolation::ReadCommitted {
                    "read_committed"
                } else {
                    "read_uncommitted"
                };
                let got = parse_reads(&broker.clients("read", &[name, "crashed:0"]));
                let (g, w) = (&got[&("crashed".to_owned(), 0)], &want[&("crashed".to_owned(), 0)]);
                assert_read_equal(g, w, &format!("{when}: crashed-0 {name} (broker, strata)"));
                compared += g.records.len();
                eprintln!(
                    "{when}: the crash image: {name}: {} records equal, end {}",
                    g.records.len(),
                    g.end
                );
            }
            assert_eq!(
                broker_producers(&broker, "crashed", 0),
                crashed_producers,
                "{when}: crashed-0: the broker's producers (describe-producers, strata's state)"
            );
        }
        let got_times = broker.clients("times", &time_refs);
        let store = Store::open_read_only(StoreConfig::new([&strata_dir])).expect("read-only");
        let n = assert_times_equal(&got_times, &store, &times, when);
        eprintln!("{when}: {n} time lookups answered as strata answers them");
        drop(store);
        for (&(topic, p), want) in &producers {
            assert_eq!(
                &broker_producers(&broker, topic, p),
                want,
                "{when}: {topic}-{p}: the broker's producers (describe-producers, strata's snapshot)"
            );
        }
        if !clean {
            // The broker appends to what it recovered (idempotent and transactional producers);
            // its reads are what strata must read from the broker's directory afterwards.
            let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
            broker.clients("append-all", &args);
            args.insert(0, "read_uncommitted");
            appended
                .push((Isolation::ReadUncommitted, parse_reads(&broker.clients("read", &args))));
            args[0] = "read_committed";
            appended.push((Isolation::ReadCommitted, parse_reads(&broker.clients("read", &args))));
        }
        broker.stop();
        let log = fs::read_to_string(broker.log_file()).expect("broker log");
        let bad = complaints(&log);
        assert!(bad.is_empty(), "{when}: the broker complained:\n{}", bad.join("\n"));
        if !clean {
            let about_image: Vec<&str> = log.lines().filter(|l| l.contains("crashed-0")).collect();
            eprintln!("{when}: the broker on the crash image:\n{}", about_image.join("\n"));
            // Leader epochs strata's embedder set above the cluster's (README, hand-over).
            for l in log.lines().filter(|l| l.contains("caused truncation of conflicting")) {
                eprintln!("{when}: epochs above the cluster's: {l}");
            }
            let recovered =
                log.lines().filter(|l| l.contains("Recovering unflushed segment")).count();
            assert!(
                recovered >= strata_all::PARTITIONS.len(),
                "{when}: the broker recovered:\n{log}"
            );
            eprintln!("{when}: the broker recovered {recovered} segments strata wrote");
        }
    }
    let dirs: Vec<PathBuf> =
        strata_all::PARTITIONS.iter().map(|(t, p)| data.join(format!("{t}-{p}"))).collect();
    match kafka_index_check(&dirs) {
        Err(reason) => skip(&format!("Kafka's DumpLogSegments cannot run: {reason}")),
        Ok(result) => {
            result.unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // strata reads the broker's directory back: strata's records in the segments the broker
    // recovered (its rebuilt indexes, its producer snapshots) and the broker's appends after them.
    for (_, reads) in &appended {
        for (key, r) in reads {
            let new = r.records.iter().filter(|l| l.contains(&hex(Some(b"appended-")))).count();
            assert_eq!(new, 20, "{key:?}: the broker's appends were read");
        }
    }
    let back = tmp.path().join("back-in-strata");
    copy_dir(&data, &back).expect("copy the broker's log dir");
    let expected: Vec<(Isolation, &Reads)> = appended.iter().map(|(i, r)| (*i, r)).collect();
    let n_back = compare(&back, &expected, "strata on the broker's directory");
    eprintln!(
        "Kafka {version}: served {compared} records of strata's every-feature store equal after \
         a clean and an unclean start; strata read {n_back} records back from the broker's \
         directory after the broker appended"
    );
}
