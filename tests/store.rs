//! The store at full size: several log directories, topic lifecycle, and
//! opening a Kafka broker's data directory.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use strata::Error;
use strata::Record;
use strata::Store;
use strata::StoreConfig;

fn open(dirs: &[&Path]) -> Store {
    Store::open(StoreConfig::new(dirs.iter().copied()).background_threads(false)).unwrap()
}

#[test]
fn a_twelve_partition_topic_spreads_evenly_over_three_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..3).map(|i| tmp.path().join(format!("d{i}"))).collect();
    let store = open(&dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>());
    store.create_topic("t", 12, &BTreeMap::new()).unwrap();
    let mut counts = BTreeMap::new();
    for p in store.describe_topic("t").unwrap() {
        *counts.entry(p.log_dir).or_insert(0) += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![4, 4, 4]);
}

#[test]
fn a_second_store_on_the_same_directory_fails_and_the_first_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open(&[tmp.path()]);
    first.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let err = Store::open(StoreConfig::new([tmp.path()])).unwrap_err();
    assert!(matches!(err, Error::DirectoryLocked { .. }), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    first.partition("t", 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
    first.close().unwrap();
    // After a clean close the directory is free again.
    open(&[tmp.path()]).close().unwrap();
}

/// Damages log directory `dir` so that the next open takes it offline: its
/// recovery-point checkpoint becomes a directory, which reading fails on.
/// What a process locking a log directory's `.lock` as a Kafka broker does
/// got: Java's `FileChannel.tryLock` takes a POSIX record lock
/// (`fcntl(F_SETLK)`), the lock Python's `fcntl.lockf` takes too.
enum BrokerLock {
    /// Held until the child's stdin closes.
    Held(std::process::Child),
    /// Someone else holds the directory: a broker would refuse to start.
    Refused,
    /// No python3 to stand in for the broker (skipped, saying why).
    NoPython,
}

/// One directory named twice in `log.dirs` (through `..`, a trailing `.` or a symlink) is
/// refused at once as the same directory listed twice, as Kafka's LogManager refuses it
/// (canonical paths: "Duplicate log directory found"), for a writer and a read-only open: the
/// writer's second lock of it waited and failed as "held by another strata store".
#[test]
fn one_directory_listed_twice_under_two_names_is_refused_as_a_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    std::fs::create_dir_all(tmp.path().join("b")).unwrap();
    std::fs::create_dir_all(&a).unwrap();
    std::os::unix::fs::symlink(&a, tmp.path().join("link")).unwrap();
    for other in [tmp.path().join("b").join("..").join("a"), a.join("."), tmp.path().join("link")] {
        let config = StoreConfig::new([a.clone(), other.clone()]);
        for read_only in [false, true] {
            let opened = if read_only {
                Store::open_read_only(config.clone())
            } else {
                Store::open(config.clone())
            };
            match opened {
                Err(e @ Error::InvalidConfig { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("log.dirs") && text.contains("twice"), "{text}");
                }
                Err(e) => panic!("{}: expected InvalidConfig, got {e}", other.display()),
                Ok(_) => panic!("{}: opened", other.display()),
            }
        }
    }
    // Nothing but the lock file was made in the directory by the refused opens.
    let made: Vec<_> = std::fs::read_dir(&a).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(made.iter().all(|n| n == ".lock"), "{made:?}");
}

fn lock_as_a_kafka_broker(path: &Path) -> BrokerLock {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let script = "import fcntl, sys\n\
                  f = open(sys.argv[1], 'a')\n\
                  try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n\
                  except OSError:\n    print('refused', flush=True); sys.exit(0)\n\
                  print('locked', flush=True)\n\
                  sys.stdin.read()\n";
    let spawned = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            common::skip(&format!("cannot run python3: {e}"));
            return BrokerLock::NoPython;
        }
    };
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    match line.trim() {
        "locked" => BrokerLock::Held(child),
        "refused" => {
            child.wait().unwrap();
            BrokerLock::Refused
        }
        other => panic!("the lock holder said {other:?}"),
    }
}

fn release(mut child: std::process::Child) {
    drop(child.stdin.take());
    child.wait().unwrap();
}

#[test]
fn a_log_directory_a_kafka_broker_holds_is_refused_and_a_broker_cannot_take_a_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let (broker_dir, store_dir) = (tmp.path().join("broker"), tmp.path().join("store"));
    std::fs::create_dir_all(&broker_dir).unwrap();
    // A running broker's directory: its `.lock` held as the JVM holds it.
    let broker = match lock_as_a_kafka_broker(&broker_dir.join(".lock")) {
        BrokerLock::Held(child) => child,
        BrokerLock::NoPython => return,
        BrokerLock::Refused => panic!("a fresh .lock was refused"),
    };
    let opened = Store::open(StoreConfig::new([&broker_dir]).background_threads(false));
    release(broker);
    match opened {
        Err(Error::DirectoryLocked { path, detail }) => {
            assert_eq!(path, broker_dir);
            assert!(detail.contains("Kafka broker"), "{detail}");
        }
        Err(e) => panic!("expected DirectoryLocked for the broker's directory, got {e}"),
        Ok(store) => {
            store.close().unwrap();
            panic!("a store opened the log directory a Kafka broker holds");
        }
    }
    // The other way: a broker started on an open store's directory cannot lock it.
    let store = open(&[&store_dir]);
    if let BrokerLock::Held(child) = lock_as_a_kafka_broker(&store_dir.join(".lock")) {
        release(child);
        panic!("a Kafka broker locked the directory of an open store");
    }
    store.close().unwrap();
    // Once the store is closed, a broker can have it.
    match lock_as_a_kafka_broker(&store_dir.join(".lock")) {
        BrokerLock::Held(child) => release(child),
        _ => panic!("the closed store's directory could not be locked"),
    }
}

fn fail_log_dir(dir: &std::path::Path) {
    let checkpoint = dir.join("recovery-point-offset-checkpoint");
    std::fs::remove_file(&checkpoint).unwrap();
    std::fs::create_dir(&checkpoint).unwrap();
}

#[test]
fn a_failing_directory_goes_offline_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let store = open(&[&a, &b]);
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    for p in 0..2 {
        store.partition("t", p).unwrap().append(&[Record::new("k", format!("v{p}"))]).unwrap();
    }
    let dir_of_0 = store.describe_topic("t").unwrap()[0].log_dir.clone();
    store.close().unwrap();
    drop(store);
    fail_log_dir(&dir_of_0);
    let store = open(&[&a, &b]);
    assert_eq!(store.offline_dirs().len(), 1, "{:?}", store.offline_dirs());
    assert_eq!(store.offline_dirs()[0].0, dir_of_0);
    let err = store.partition("t", 0).unwrap_err();
    assert!(matches!(err, Error::LogDirOffline { .. }), "{err}");
    let p1 = store.partition("t", 1).unwrap();
    assert_eq!(p1.read(0, 1 << 20).unwrap().records().count(), 1);
    p1.append(&[Record::new("k", "more")]).unwrap();
}

#[test]
fn new_partitions_are_never_placed_in_an_offline_log_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let store = open(&[&a, &b]);
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    let dir_of_0 = store.describe_topic("t").unwrap()[0].log_dir.clone();
    store.close().unwrap();
    drop(store);
    // Partition 0's directory goes offline; it then holds no open partition
    // and looked the emptiest.
    fail_log_dir(&dir_of_0);
    let store = open(&[&a, &b]);
    assert_eq!(store.offline_dirs().len(), 1, "{:?}", store.offline_dirs());
    store.create_topic("u", 3, &BTreeMap::new()).unwrap();
    store.add_partitions("t", 3).unwrap();
    for (topic, p) in [("u", 0), ("u", 1), ("u", 2), ("t", 2)] {
        let placed = [&a, &b].iter().any(|d| d.join(format!("{topic}-{p}")).exists());
        assert!(placed, "{topic}-{p} was not made");
        assert!(
            !dir_of_0.join(format!("{topic}-{p}")).exists(),
            "{topic}-{p} was placed in the offline directory {}",
            dir_of_0.display()
        );
        store.partition(topic, p).unwrap().append(&[Record::new("k", "v")]).unwrap();
    }
}

#[test]
fn a_deleted_topic_is_gone_and_a_crash_mid_delete_finishes_on_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&[tmp.path()]);
    store.create_topic("gone", 2, &BTreeMap::new()).unwrap();
    store.partition("gone", 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
    store.delete_topic("gone").unwrap();
    assert!(store.topics().iter().all(|(t, _)| t != "gone"));
    assert!(!tmp.path().join("gone-0").exists());
    // A -delete directory left by a crash is removed at open.
    let leftover = tmp.path().join("old-0.0123456789abcdef0123456789abcdef-delete");
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("00000000000000000000.log"), b"").unwrap();
    store.close().unwrap();
    drop(store);
    let store = open(&[tmp.path()]);
    assert!(!leftover.exists());
    store.create_topic("gone", 1, &BTreeMap::new()).unwrap();
    assert_eq!(store.partition("gone", 0).unwrap().log_end_offset(), 0, "re-created empty");
}

#[test]
fn illegal_names_colliding_names_and_shrinking_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&[tmp.path()]);
    store.create_topic("a.b", 3, &BTreeMap::new()).unwrap();
    let before = store.topics();
    for bad in ["a/b", "..", "", &"x".repeat(250), "a_b"] {
        let err = store.create_topic(bad, 1, &BTreeMap::new()).unwrap_err();
        assert!(matches!(err, Error::InvalidTopic { .. }), "{bad:?}: {err}");
    }
    for n in [1, 3] {
        let err = store.add_partitions("a.b", n).unwrap_err();
        assert!(err.to_string().contains("can only grow"), "{err}");
    }
    assert_eq!(store.topics(), before);
    store.add_partitions("a.b", 5).unwrap();
    assert_eq!(store.partition_count("a.b").unwrap(), 5);
}

/// Kafka's rule: growing a topic is one metadata change, so the topic has
/// the old count or the new one, never a count in between.
#[test]
fn an_add_partitions_that_fails_partway_leaves_the_topic_at_its_old_count_open_and_reopened() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&[tmp.path()]);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    // A file where the third of the four new partitions' directory goes.
    let blocker = tmp.path().join("t-3");
    std::fs::write(&blocker, b"not a directory").unwrap();
    store.add_partitions("t", 5).unwrap_err();
    assert_eq!(store.partition_count("t").unwrap(), 1, "the running store grew");
    for p in [1, 2, 4] {
        let dir = tmp.path().join(format!("t-{p}"));
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
    store.close().unwrap();
    drop(store);
    std::fs::remove_file(&blocker).unwrap();
    let store = open(&[tmp.path()]);
    assert_eq!(store.partition_count("t").unwrap(), 1, "the reopened store grew");
    store.add_partitions("t", 5).unwrap();
    assert_eq!(store.partition_count("t").unwrap(), 5);
}

/// Partition directories of the broker fixtures' data directories, with their parent.
fn broker_data_dirs() -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = common::fixture_dirs()
        .into_iter()
        .filter(|d| d.to_string_lossy().contains("kafka-broker"))
        .filter_map(|d| d.parent().map(Path::to_path_buf))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn a_kafka_broker_data_directory_opens_reads_and_takes_appends() {
    if common::shared_dir().is_none() {
        return common::skip("../shared is absent");
    }
    let data_dirs = broker_data_dirs();
    assert!(data_dirs.len() >= 3, "{data_dirs:?}");
    for src in data_dirs {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        common::copy_dir(&src, &dir).unwrap();
        let store = open(&[&dir]);
        assert!(store.offline_dirs().is_empty(), "{}: {:?}", src.display(), store.offline_dirs());
        let checkpoint = strata::internals::store::checkpoint::read_offsets(
            &dir.join("log-start-offset-checkpoint"),
        )
        .unwrap_or_default();
        for (topic, partitions) in store.topics() {
            for p in 0..partitions {
                let Ok(log) = store.partition(&topic, p) else { continue };
                // Every record Kafka wrote reads back, in order, from the start offset.
                let mut next = log.log_start_offset();
                let mut count = 0;
                while next < log.log_end_offset() {
                    let f = log.read(next, 1 << 20).unwrap();
                    count += f.records().filter(|r| r.is_ok()).count();
                    assert!(f.next_offset() > next);
                    next = f.next_offset();
                }
                if let Some(&start) = checkpoint.get(&(topic.clone(), p)) {
                    assert_eq!(
                        log.log_start_offset(),
                        start.max(log.log_start_offset()),
                        "{topic}-{p}: start offset honoured"
                    );
                }
                let leo = log.log_end_offset();
                if !topic.starts_with("__") {
                    let at = log.append(&[Record::new("strata", "was here")]).unwrap();
                    assert_eq!(at.base_offset, leo, "{topic}-{p}: appends continue at the log end");
                }
                let _ = count;
            }
        }
        store.close().unwrap();
        for part in common::fixture_dirs_under(&dir) {
            if common::kafka_verify_available().is_ok() {
                let out = common::kafka_verify(&part, &[]);
                assert!(out.ok(), "{}: {out}", part.display());
            }
        }
    }
}
