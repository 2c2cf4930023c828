//! `logtool hand-over`'s consumer-group plan, without a broker: the groups' committed offsets on
//! the handed-over topic become the CSV that `kafka-consumer-groups.sh --reset-offsets
//! --from-file` reads, the verb prints the command, and it refuses to drop the offsets silently.
//! (tests/broker_to_strata/ runs the whole procedure against a real Kafka broker.)
//!
//! The "broker" here is a directory shaped as a stopped broker's log dir after `kafka-topics
//! --create`: `meta.properties`, and per partition a directory with `partition.metadata`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::fs;
use std::path::Path;

use common::{dir_snapshot, logtool_run};
use strata::{BatchBuilder, Record, Store, StoreConfig, TxnMarker};

/// A strata store at `dir` with topic `orders` (2 partitions of 10 records; partition 0's log
/// start moved to 4) and commits: `billing` on both partitions, `stale` below the log start,
/// `ahead` past the log end, `a,b "c"` (a group id needing CSV quotes), `billing` on another
/// topic, and `lost` on a partition `orders` does not have.
fn strata_with_groups(dir: &Path) {
    let store = Store::open(StoreConfig::new([dir]).background_threads(false)).unwrap();
    store.create_topic("orders", 2, &Default::default()).unwrap();
    store.create_topic("elsewhere", 1, &Default::default()).unwrap();
    for p in 0..2 {
        let records: Vec<Record> = (0..10).map(|i| Record::new("k", format!("v{i}"))).collect();
        store.partition("orders", p).unwrap().append(&records).unwrap();
    }
    let groups = store.groups();
    groups.commit("billing", "orders", 0, 7).unwrap();
    groups.commit("billing", "orders", 1, 3).unwrap();
    groups.commit("stale", "orders", 0, 1).unwrap();
    groups.commit("ahead", "orders", 1, 50).unwrap();
    groups.commit("a,b \"c\"", "orders", 1, 9).unwrap();
    groups.commit("billing", "elsewhere", 0, 0).unwrap();
    common::raw_commit(&store, "lost", "orders", 5, 2);
    store.delete_records("orders", 0, 4).unwrap();
    store.close().unwrap();
}

/// A stopped broker's log dir holding empty partitions of `orders`.
fn empty_broker(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("meta.properties"), "version=1\nnode.id=1\n").unwrap();
    for p in 0..2 {
        let part = dir.join(format!("orders-{p}"));
        fs::create_dir_all(&part).unwrap();
        fs::write(
            part.join("partition.metadata"),
            "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n",
        )
        .unwrap();
        fs::write(part.join("00000000000000000000.log"), b"").unwrap();
    }
}

#[test]
fn hand_over_writes_the_groups_offsets_as_kafka_consumer_groups_reset_plan_and_reports_what_it_cannot_carry()
 {
    let tmp = tempfile::tempdir().unwrap();
    let (strata, broker) = (tmp.path().join("strata"), tmp.path().join("broker"));
    strata_with_groups(&strata);
    empty_broker(&broker);
    let plan = tmp.path().join("plan.csv");
    let args = [
        "hand-over",
        "orders",
        "--broker-dir",
        broker.to_str().unwrap(),
        "--offsets-file",
        plan.to_str().unwrap(),
    ];
    let out = logtool_run(&[&strata], false, &args, b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Sorted by group and partition; `stale` moved up to the log start 4, `ahead` down to the
    // log end 10; the other topic's commit left out.
    assert_eq!(
        fs::read_to_string(&plan).unwrap(),
        "\"a,b \"\"c\"\"\",orders,1,9\nahead,orders,1,10\nbilling,orders,0,7\n\
         billing,orders,1,3\nstale,orders,0,4\n"
    );
    let command = format!(
        "kafka-consumer-groups.sh --bootstrap-server BROKER:PORT --reset-offsets --from-file {} \
         --group 'a,b \"c\"' --group ahead --group billing --group stale --execute",
        plan.display()
    );
    assert!(stdout.contains(&command), "the command:\n{stdout}");
    assert!(stdout.contains("group stale: orders-0 at offset 4 (committed 1, outside"), "{stdout}");
    assert!(
        stdout.contains("group ahead: orders-1 at offset 10 (committed 50, outside"),
        "{stdout}"
    );
    // The commit on a partition the topic does not have is reported, not dropped silently.
    assert!(
        stdout.contains("group lost: orders-5 at offset 2 not carried: orders has no partition 5"),
        "{stdout}"
    );
    let mut tmp_name = plan.clone().into_os_string();
    tmp_name.push(".tmp");
    assert!(!Path::new(&tmp_name).exists(), "the plan's temporary file was left behind");
    // The segments moved as before.
    assert!(fs::metadata(broker.join("orders-1/00000000000000000000.log")).unwrap().len() > 0);

    // --json: one line per offset, then the plan's line.
    let broker2 = tmp.path().join("broker2");
    empty_broker(&broker2);
    let plan2 = tmp.path().join("plan2.csv");
    let out = logtool_run(
        &[&strata],
        true,
        &[
            "hand-over",
            "orders",
            "--broker-dir",
            broker2.to_str().unwrap(),
            "--offsets-file",
            plan2.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l
            == r#"{"group":"stale","topic":"orders","partition":0,"committed_offset":1,"offset":4,"moved":true}"#),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l
            == r#"{"group":"lost","topic":"orders","partition":5,"committed_offset":2,"not_carried":"the topic has no such partition"}"#),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with(r#"{"offsets_file":"#)
            && l.contains(r#""groups":4,"offsets":5,"command":"kafka-consumer-groups.sh "#)),
        "{stdout}"
    );
}

#[test]
fn hand_over_refuses_to_leave_committed_group_offsets_behind_unless_told_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (strata, broker) = (tmp.path().join("strata"), tmp.path().join("broker"));
    strata_with_groups(&strata);
    empty_broker(&broker);
    let before = dir_snapshot(&broker);
    let out = logtool_run(
        &[&strata],
        false,
        &["hand-over", "orders", "--broker-dir", broker.to_str().unwrap()],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--offsets-file")
            && stderr.contains("--without-group-offsets")
            && stderr.contains("\"billing\""),
        "the refusal names the groups and both ways on: {stderr}"
    );
    assert_eq!(dir_snapshot(&broker), before, "the refused hand-over changed the broker's dir");

    let out = logtool_run(
        &[&strata],
        false,
        &[
            "hand-over",
            "orders",
            "--broker-dir",
            broker.to_str().unwrap(),
            "--without-group-offsets",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("5 committed offsets of consumer groups on orders not carried"),
        "{stdout}"
    );
    let log = broker.join("orders-0/00000000000000000000.log");
    assert!(fs::metadata(&log).unwrap().len() > 0, "the segments moved without the offsets");
}

#[test]
fn hand_over_of_a_topic_without_group_commits_needs_no_offsets_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (strata, broker) = (tmp.path().join("strata"), tmp.path().join("broker"));
    let store = Store::open(StoreConfig::new([&strata]).background_threads(false)).unwrap();
    store.create_topic("orders", 2, &Default::default()).unwrap();
    store.partition("orders", 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
    store.create_topic("elsewhere", 1, &Default::default()).unwrap();
    store.groups().commit("billing", "elsewhere", 0, 1).unwrap();
    store.close().unwrap();
    empty_broker(&broker);
    let out = logtool_run(
        &[&strata],
        false,
        &["hand-over", "orders", "--broker-dir", broker.to_str().unwrap()],
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("no consumer group committed offsets on orders"), "{stdout}");
}

#[test]
fn hand_over_names_a_transaction_left_open_with_its_partition_and_last_stable_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (strata, broker) = (tmp.path().join("strata"), tmp.path().join("broker"));
    let store = Store::open(StoreConfig::new([&strata]).background_threads(false)).unwrap();
    store.create_topic("orders", 2, &Default::default()).unwrap();
    for p in 0..2 {
        let log = store.partition("orders", p).unwrap();
        log.append(&[Record::new("k", "plain")]).unwrap(); // 0
        let mut b = BatchBuilder::new(0).producer(40 + i64::from(p), 0, 0).transactional(true);
        b.append(&Record::new("k", "in a transaction")).unwrap();
        log.append_batch(b.build().unwrap()).unwrap(); // 1
        log.append(&[Record::new("k", "plain")]).unwrap(); // 2
        if p == 0 {
            let marker = TxnMarker {
                producer_id: 40,
                producer_epoch: 0,
                coordinator_epoch: 0,
                commit: true,
                transaction_version: 0,
            };
            log.append_marker(marker).unwrap(); // 3
        }
    }
    store.close().unwrap();
    empty_broker(&broker);
    let args = ["hand-over", "orders", "--broker-dir", broker.to_str().unwrap()];
    let out = logtool_run(&[&strata], false, &args, b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("warning: orders-1: a transaction is open from offset 1")
            && stdout.contains("abort --topic orders --partition 1 --start-offset 1")
            && !stdout.contains("orders-0: a transaction"),
        "{stdout}"
    );
    // The same warning as a JSON line, for scripts.
    let again = tmp.path().join("broker2");
    empty_broker(&again);
    let args = ["hand-over", "orders", "--broker-dir", again.to_str().unwrap()];
    let out = logtool_run(&[&strata], true, &args, b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("\"warning\":\"open transaction\"")
            && l.contains("\"partition\":1")
            && l.contains("\"last_stable_offset\":1")),
        "{stdout}"
    );
}
