//! Regressions from an embedder's review of the library at 12f6be2: what a
//! program embedding strata meets on first use (relative paths, closed
//! stores, unknown names, partitions whose directory is missing). Each test
//! names the defect it guards against.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::{Error, LoadOptions, Log, LogConfig, Store, StoreConfig, SystemClock};

/// Set to a test's name in the child process that runs its body.
const CHILD_ENV: &str = "STRATA_EMBEDDER_REVIEW_CHILD";

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new([dir]).background_threads(false)
}

/// `Path::new("relstore").parent()` is `""`: the directory fsync after
/// creating a bare relative log directory opened `""` and failed with
/// `fsync dir : No such file or directory` on the first run. The body runs in
/// a child process, since it changes the working directory.
#[test]
fn a_store_and_a_log_open_in_bare_relative_directories_on_first_run() {
    let name = "a_store_and_a_log_open_in_bare_relative_directories_on_first_run";
    if !common::in_child(CHILD_ENV, name, None) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_current_dir(tmp.path()).unwrap();
    let store = Store::open(StoreConfig::new(["relstore"])).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    assert!(tmp.path().join("relstore/t-0").is_dir());
    let (log, _) = Log::open(
        Path::new("bare-0"),
        "bare",
        0,
        LogConfig::default(),
        Arc::new(SystemClock),
        LoadOptions::default(),
    )
    .unwrap();
    log.close().unwrap();
    assert!(tmp.path().join("bare-0").is_dir());
}

/// A store of topic `t` (`partitions` partitions), open.
fn store_with_topic(dir: &Path, partitions: i32) -> Store {
    let store = Store::open(config(dir)).unwrap();
    store.create_topic("t", partitions, &BTreeMap::new()).unwrap();
    store
}

/// `commit("g", "nope", 0, 5)` returned Ok: a commit for a topic or partition
/// the store does not have is refused, as Kafka's OffsetCommit answers
/// UNKNOWN_TOPIC_OR_PARTITION, and nothing is committed.
#[test]
fn a_commit_for_an_unknown_topic_or_partition_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 2);
    let groups = store.groups();
    let e = groups.commit("g", "nope", 0, 5).unwrap_err();
    assert!(matches!(&e, Error::UnknownPartition { topic, partition: -1 } if topic == "nope"));
    assert_eq!(e.to_string(), "unknown topic nope");
    let e = groups.commit("g", "t", 2, 5).unwrap_err();
    assert!(matches!(&e, Error::UnknownPartition { partition: 2, .. }), "{e}");
    assert_eq!(e.to_string(), "unknown topic or partition: t-2");
    let e = groups.commit("g", "t", -1, 5).unwrap_err();
    assert!(matches!(&e, Error::InvalidRequest(m) if m.contains("-1")), "{e}");
    assert_eq!(groups.list().unwrap(), Vec::<String>::new());
    groups.commit("g", "t", 1, 5).unwrap();
    assert_eq!(groups.fetch("g", "t", 1).unwrap(), Some(5));
    store.close().unwrap();
}

/// Unknown topics printed `unknown topic or partition: nope--1`: the
/// sentinel -1 is never shown as a partition number.
#[test]
fn an_unknown_topic_is_named_without_the_partition_sentinel() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 1);
    for e in [
        store.partition("nope", 0).unwrap_err(),
        store.partition_count("nope").unwrap_err(),
        store.describe_topic("nope").unwrap_err(),
        store.flush(Some("nope")).unwrap_err(),
    ] {
        assert_eq!(e.to_string(), "unknown topic nope");
    }
    let e = store.partition("t", 3).unwrap_err();
    assert_eq!(e.to_string(), "unknown topic or partition: t-3");
    store.close().unwrap();
}

/// `store.partition("events", 0)` after `store.close()` returned Ok with a
/// dead handle: it fails with [`Error::Closed`], as the store's other calls do.
#[test]
fn a_partition_asked_of_a_closed_store_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 1);
    store.close().unwrap();
    let e = store.partition("t", 0).unwrap_err();
    assert!(matches!(e, Error::Closed { .. }), "{e}");
    // Its directory is still named, to look at what the close left.
    assert_eq!(store.partition_dir("t", 0).unwrap(), tmp.path().join("t-0"));
}

/// `Error::Closed` named nothing: an append through a log of a closed store, or to a closed
/// `Log`, said only that something was closed. It now names what: the partition and its
/// directory for a log, the partition and the store's log directories for a store's call about
/// one partition, the store's log directories for a call about the whole store. Embedders
/// still match the variant (`Error::Closed { .. }`).
#[test]
fn a_closed_error_names_the_partition_or_the_store_that_was_closed() {
    use strata::Record;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = store_with_topic(dir, 2);
    let log = store.partition("t", 1).unwrap();
    store.close().unwrap();

    let e = log.append(&[Record::new("k", "v")]).unwrap_err();
    let Error::Closed { what } = &e else { panic!("not Closed: {e}") };
    assert_eq!(what, &format!("partition t-1 ({})", dir.join("t-1").display()));
    assert!(
        e.to_string()
            .starts_with(&format!("partition t-1 ({}) is closed", dir.join("t-1").display())),
        "{e}"
    );

    let e = store.partition("t", 0).unwrap_err();
    let Error::Closed { what } = &e else { panic!("not Closed: {e}") };
    assert_eq!(what, &format!("partition t-0 of the store ({})", dir.display()));

    let e = store.produce("t", [Record::new("k", "v")]).unwrap_err();
    assert!(matches!(e, Error::Closed { .. }), "{e}");
    assert!(e.to_string().contains("partition t-"), "{e}");

    let e = store.flush(None).unwrap_err();
    let Error::Closed { what } = &e else { panic!("not Closed: {e}") };
    assert_eq!(what, &format!("the store ({})", dir.display()));

    // A log opened on its own, then closed.
    let solo = dir.join("solo-2");
    let (log, _) = Log::open(
        &solo,
        "solo",
        2,
        LogConfig::default(),
        Arc::new(SystemClock),
        LoadOptions::default(),
    )
    .unwrap();
    log.close().unwrap();
    let e = log.append(&[Record::new("k", "v")]).unwrap_err();
    let Error::Closed { what } = &e else { panic!("not Closed: {e}") };
    assert_eq!(what, &format!("partition solo-2 ({})", solo.display()));
}

/// Lag was clamped at 0: a commit past the log end showed lag 0, where
/// Kafka's `kafka-consumer-groups --describe` (ConsumerGroupCommand.getLag,
/// `logEndOffset - offset`) shows it negative.
#[test]
fn lag_of_a_commit_past_the_log_end_is_negative_as_kafka_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 1);
    let log = store.partition("t", 0).unwrap();
    log.append(&[strata::Record::new("k", "v"), strata::Record::new("k", "w")]).unwrap();
    store.groups().commit("g", "t", 0, 10).unwrap();
    let lag = &store.groups().describe("g").unwrap()[0];
    assert_eq!((lag.log_end_offset, lag.lag), (Some(2), Some(-8)));
    store.close().unwrap();
}

/// Topic `t` of 4 partitions spread over log directories `n2` and `n3`
/// (n2 first: it holds `strata-topics`), partition `p` holding `p + 1`
/// records; closed. Returns the two directories.
fn spread_over_two_dirs(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (n2, n3) = (root.join("n2"), root.join("n3"));
    let store = Store::open(StoreConfig::new([&n2, &n3]).background_threads(false)).unwrap();
    store.create_topic("t", 4, &BTreeMap::new()).unwrap();
    for p in 0..4 {
        let records: Vec<_> = (0..=p).map(|i| strata::Record::new("k", format!("v{i}"))).collect();
        store.partition("t", p).unwrap().append(&records).unwrap();
    }
    store.close().unwrap();
    for p in [0, 2] {
        assert!(n2.join(format!("t-{p}")).is_dir(), "t-{p} is placed in n2");
    }
    (n2, n3)
}

fn assert_offline_not_found(e: &Error, name: &str) {
    assert!(
        matches!(e, Error::PartitionOffline { partition, cause, .. }
            if partition == name && cause.contains("was not found")),
        "{e}"
    );
}

/// Opening a subset of a store's log directories showed `t 3`, failed
/// reads of the partitions it lacked as unknown, and created them empty in
/// the open directory (after which the whole store refused to open: the
/// partition was in two directories). They are offline, named, the count
/// stays the topics file's, nothing is created, and the whole store opens
/// again with every record.
#[test]
fn partitions_of_a_log_directory_left_out_of_the_config_are_offline_not_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let (n2, n3) = spread_over_two_dirs(tmp.path());
    let ro = Store::open_read_only(StoreConfig::new([&n2])).unwrap();
    assert_eq!(ro.topics(), [("t".to_owned(), 4)]);
    assert_offline_not_found(&ro.partition("t", 1).unwrap_err(), "t-1");
    ro.close().unwrap();

    let store = Store::open(config(&n2)).unwrap();
    assert_eq!(store.topics(), [("t".to_owned(), 4)]);
    let offline: Vec<_> = store.offline_partitions().into_iter().map(|o| (o.0, o.1)).collect();
    assert_eq!(offline, [("t".to_owned(), 1), ("t".to_owned(), 3)]);
    assert_offline_not_found(&store.partition("t", 3).unwrap_err(), "t-3");
    let e = store.partition("t", 1).unwrap_err();
    assert!(e.to_string().contains(&n2.display().to_string()), "names the dirs searched: {e}");
    assert_eq!(store.partition("t", 2).unwrap().log_end_offset(), 3);
    let e = store.flush(None).unwrap_err();
    assert_offline_not_found(&e, "t-1");
    assert!(e.to_string().contains("t-3"), "names every offline partition: {e}");
    let described = store.describe_topic("t").unwrap();
    let states: Vec<_> = described.iter().map(|p| (p.partition, p.offline.is_some())).collect();
    assert_eq!(states, [(0, false), (1, true), (2, false), (3, true)]);
    store.add_partitions("t", 5).unwrap();
    store.close().unwrap();
    assert!(!n2.join("t-1").exists() && !n2.join("t-3").exists(), "nothing recreated in n2");

    let store = Store::open(StoreConfig::new([&n2, &n3]).background_threads(false)).unwrap();
    assert!(store.offline_partitions().is_empty(), "{:?}", store.offline_partitions());
    for p in 0..4 {
        assert_eq!(store.partition("t", p).unwrap().log_end_offset(), i64::from(p) + 1);
    }
    assert_eq!(store.partition_count("t").unwrap(), 5);
    store.flush(None).unwrap();
    store.close().unwrap();
}

/// A partition directory removed by hand, every log directory present: the
/// next open recreated it empty at offset 0. It is offline as a partition of
/// a missing log directory is, and comes back with its data when restored.
#[test]
fn a_partition_directory_removed_by_hand_is_offline_not_recreated_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 2);
    store.partition("t", 1).unwrap().append(&[strata::Record::new("k", "v")]).unwrap();
    store.close().unwrap();
    let (t1, aside) = (tmp.path().join("t-1"), tmp.path().join("aside"));
    std::fs::rename(&t1, &aside).unwrap();

    let store = Store::open(config(tmp.path())).unwrap();
    assert_eq!(store.partition_count("t").unwrap(), 2);
    assert_offline_not_found(&store.partition("t", 1).unwrap_err(), "t-1");
    assert_offline_not_found(&store.flush(Some("t")).unwrap_err(), "t-1");
    let described = store.describe_topic("t").unwrap();
    assert!(described[1].offline.is_some() && described[1].log_dir.as_os_str().is_empty());
    store.close().unwrap();
    assert!(!t1.exists(), "not recreated");

    std::fs::rename(&aside, &t1).unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    assert_eq!(store.partition("t", 1).unwrap().log_end_offset(), 1);
    store.flush(None).unwrap();
    store.close().unwrap();
}

/// A log directory adopted without `strata-topics` (what a Kafka broker that
/// held partitions 0 and 2 of a topic leaves) is counted to its highest
/// partition; the gap below it never held data and is made at that open.
/// Left empty, it was counted in `strata-topics` at the file's next write
/// (here, a second topic's creation) and was offline at every open after:
/// `flush` failed for good and nothing could make it.
#[test]
fn a_gap_in_an_adopted_topic_is_made_at_adoption_not_left_offline_for_good() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 3);
    store.partition("t", 2).unwrap().append(&[strata::Record::new("k", "v")]).unwrap();
    store.close().unwrap();
    std::fs::remove_file(tmp.path().join("strata-topics")).unwrap();
    std::fs::remove_dir_all(tmp.path().join("t-1")).unwrap();

    let store = Store::open(config(tmp.path())).unwrap();
    assert_eq!(store.partition_count("t").unwrap(), 3);
    assert!(store.describe_topic("t").unwrap().iter().all(|p| p.offline.is_none()));
    store.create_topic("other", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    assert!(tmp.path().join("t-1").is_dir());

    let store = Store::open(config(tmp.path())).unwrap();
    store.flush(None).unwrap();
    assert_eq!(store.partition("t", 1).unwrap().log_end_offset(), 0);
    assert_eq!(store.partition("t", 2).unwrap().log_end_offset(), 1);
    store.partition("t", 1).unwrap().append(&[strata::Record::new("k", "v")]).unwrap();
    store.close().unwrap();
}

/// With missing partitions offline, a creation that crashed after its
/// commit point (`strata-topics` written) and before its directories would
/// leave the topic offline for good: `create_topic` marks the topic
/// `creating` until every partition exists, and the next open makes a marked
/// topic's missing partitions (with its overrides), then drops the mark, so a
/// directory removed later is offline, not made again.
#[test]
fn an_unfinished_creation_is_finished_at_the_next_open_and_only_then() {
    let tmp = tempfile::tempdir().unwrap();
    let topics_file = tmp.path().join("strata-topics");
    let store = store_with_topic(tmp.path(), 1);
    store.close().unwrap();
    let written = std::fs::read_to_string(&topics_file).unwrap();
    assert!(written.contains("topic t 1") && !written.contains("creating"), "{written}");
    // What a crash between step 1 and the directories leaves.
    std::fs::write(
        &topics_file,
        format!("{written}creating c\ntopic c 2\nconfig c cleanup.policy compact\n"),
    )
    .unwrap();

    let store = Store::open(config(tmp.path())).unwrap();
    assert!(store.offline_partitions().is_empty(), "{:?}", store.offline_partitions());
    for p in 0..2 {
        store.partition("c", p).unwrap();
    }
    assert_eq!(store.topic_overrides("c").unwrap()["cleanup.policy"], "compact");
    store.close().unwrap();
    let finished = std::fs::read_to_string(&topics_file).unwrap();
    assert!(!finished.contains("creating"), "{finished}");

    std::fs::remove_dir_all(tmp.path().join("c-1")).unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    assert_offline_not_found(&store.partition("c", 1).unwrap_err(), "c-1");
    store.close().unwrap();
}

/// A partition directory removed by hand lost its checkpoint entries at the
/// store's next checkpoint write: restored, it started at its first
/// segment's base and served again the records an earlier DeleteRecords
/// had removed. Its entries are carried over every checkpoint write while
/// it is missing (a log start never moves backwards, as in Kafka), so it
/// comes back at its log start; deleting the topic drops them.
#[test]
fn a_missing_partition_keeps_its_log_start_until_its_directory_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic(tmp.path(), 2);
    let records: Vec<_> = (0..10).map(|i| strata::Record::new("k", format!("v{i}"))).collect();
    store.partition("t", 1).unwrap().append(&records).unwrap();
    assert_eq!(store.delete_records("t", 1, 6).unwrap(), 6);
    store.close().unwrap();
    let (t1, aside) = (tmp.path().join("t-1"), tmp.path().join("aside"));
    std::fs::rename(&t1, &aside).unwrap();
    let starts = tmp.path().join("log-start-offset-checkpoint");

    for _ in 0..2 {
        let store = Store::open(config(tmp.path())).unwrap();
        assert_offline_not_found(&store.partition("t", 1).unwrap_err(), "t-1");
        // Flushes and checkpoints the rest, then names the missing partition.
        assert_offline_not_found(&store.flush(None).unwrap_err(), "t-1");
        store.close().unwrap();
        let text = std::fs::read_to_string(&starts).unwrap();
        assert!(text.lines().any(|l| l == "t 1 6"), "{text}");
        // Its recovery point is not carried: a directory restored by hand
        // (from a backup, say) is validated whole, not trusted up to it.
        let points = std::fs::read_to_string(tmp.path().join("recovery-point-offset-checkpoint"));
        let points = points.unwrap();
        assert!(points.lines().any(|l| l.starts_with("t 0 ")), "{points}");
        assert!(!points.lines().any(|l| l.starts_with("t 1 ")), "{points}");
    }

    std::fs::rename(&aside, &t1).unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let log = store.partition("t", 1).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 10));
    let e = log.read(0, 1 << 20).unwrap_err();
    assert!(matches!(e, Error::OffsetOutOfRange { offset: 0, log_start_offset: 6, .. }), "{e}");
    store.close().unwrap();

    // Missing again, then deleted through the API: the entries go with it.
    std::fs::rename(&t1, &aside).unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    store.delete_topic("t").unwrap();
    store.close().unwrap();
    let text = std::fs::read_to_string(&starts).unwrap();
    assert!(!text.lines().any(|l| l.starts_with("t ")), "{text}");
}

/// A regular file named as a log directory: the writer's open said `create dir
/// F: File exists (os error 17)` and the read-only open `open read-only F:
/// entity not found` (the file is there); a missing directory opened read-only
/// also said `entity not found`. Each now names the directory and what is wrong
/// with it, as the OS words it.
#[test]
fn a_log_directory_that_is_a_file_or_missing_is_named_with_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let missing = tmp.path().join("missing");
    type Opener = fn(StoreConfig) -> strata::Result<Store>;
    let cases: [(&Path, Opener, &str); 3] = [
        (&file, Store::open, "Not a directory"),
        (&file, Store::open_read_only, "Not a directory"),
        (&missing, Store::open_read_only, "No such file or directory"),
    ];
    for (dir, open, why) in cases {
        let e = open(config(dir)).map(drop).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with(&format!("log directory {}: {why}", dir.display())), "{text}");
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "the file is left as it was");
}

/// `Log::open` of a regular file said `create dir F: File exists (os error
/// 17)`, and `Log::open_read_only` of a file or a missing directory `open
/// read-only F: entity not found`: each now names the partition directory and
/// what is wrong with it.
#[test]
fn a_partition_directory_that_is_a_file_or_missing_is_named_with_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("t-0");
    std::fs::write(&file, b"x").unwrap();
    let missing = tmp.path().join("u-0");
    type Opener = fn(
        &Path,
        &str,
        i32,
        LogConfig,
        Arc<dyn strata::Clock>,
        LoadOptions,
    ) -> strata::Result<(Log, strata::LoadReport)>;
    let cases: [(&Path, Opener, &str); 3] = [
        (&file, Log::open, "Not a directory"),
        (&file, Log::open_read_only, "Not a directory"),
        (&missing, Log::open_read_only, "No such file or directory"),
    ];
    for (dir, open, why) in cases {
        let e =
            open(dir, "t", 0, LogConfig::default(), Arc::new(SystemClock), LoadOptions::default())
                .map(drop)
                .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("partition directory {}: {why}", dir.display())),
            "{text}"
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "the file is left as it was");
}

/// A partition number is never negative (Kafka's `TopicPartition` of a log
/// directory, `Store::partition`): `Log::open` and `Log::open_read_only`
/// refuse one, naming it, before they create or read anything.
#[test]
fn a_log_opened_with_a_negative_partition_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t--1");
    std::fs::create_dir(&dir).unwrap();
    for open in [Log::open, Log::open_read_only] {
        let e = open(
            &dir,
            "t",
            -1,
            LogConfig::default(),
            Arc::new(SystemClock),
            LoadOptions::default(),
        )
        .map(drop)
        .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidRequest(m) if m == "partition -1 of topic t is negative"),
            "{e:?}"
        );
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing was created");
}

/// A topic name breaking Kafka's rules (`Topic.validate`: a space, `..`, 250 characters, an
/// empty name) names no Kafka partition directory, and `Store::create_topic` refuses it:
/// `Log::open` and `Log::open_read_only` refuse it too, with the store's error, before they
/// create or read anything. They opened (a writer's open created and recovered) the directory.
#[test]
fn a_log_opened_with_an_illegal_topic_name_is_refused_as_the_store_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([tmp.path().join("store")])).unwrap();
    let long = "a".repeat(250);
    for topic in ["bad name", "..", long.as_str(), ""] {
        let dir = tmp.path().join(format!("{topic}-0"));
        std::fs::create_dir(&dir).unwrap();
        let want = store.create_topic(topic, 1, &BTreeMap::new()).unwrap_err();
        assert!(matches!(want, Error::InvalidTopic { .. }), "{want:?}");
        for open in [Log::open, Log::open_read_only] {
            let e = open(
                &dir,
                topic,
                0,
                LogConfig::default(),
                Arc::new(SystemClock),
                LoadOptions::default(),
            )
            .map(drop)
            .unwrap_err();
            assert_eq!(e.to_string(), want.to_string(), "{topic:?}");
            assert!(matches!(e, Error::InvalidTopic { .. }), "{e:?}");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{topic:?}: nothing created");
    }
    store.close().unwrap();
}

/// A store needs a log directory: `Store::open` and `Store::open_read_only` of a config
/// listing none refuse it naming `log.dirs` (`StoreConfig::validate`, the one place the rule
/// lives), before anything is opened.
#[test]
fn a_store_with_no_log_directory_is_refused_naming_log_dirs() {
    for open in [Store::open, Store::open_read_only] {
        let e = open(StoreConfig::new(Vec::<std::path::PathBuf>::new())).map(drop).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidConfig { key, reason, .. }
                if key == "log.dirs" && reason == "at least one log directory is required"),
            "{e:?}"
        );
    }
}
