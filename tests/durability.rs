//! Durability: the flush at roll (the sealed segment synced off the append path, the recovery
//! point moved and checkpointed, so an unclean open re-validates only what was written since).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::config::StoreConfig;
use strata::format::Record;
use strata::store::Store;
use strata::store::checkpoint;

const TOPIC: &str = "roll";
/// Small segments: a few batches each, so a child rolls many within a second.
const SEGMENT_BYTES: &str = "2048";

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn record(i: i64) -> Record {
    Record::new(format!("k{i}").into_bytes(), format!("value-{i}-{}", "x".repeat(100)).into_bytes())
}

/// Polls `f` until it is true or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// The checkpointed recovery point of `topic-0` in `root`, if any.
fn checkpointed_recovery_point(root: &Path, topic: &str) -> Option<i64> {
    let offsets = checkpoint::read_offsets(&root.join("recovery-point-offset-checkpoint")).ok()?;
    offsets.get(&(topic.to_owned(), 0)).copied()
}

#[test]
fn a_roll_syncs_the_sealed_segment_and_checkpoints_the_recovery_point() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic(TOPIC, 1, &overrides(&[("segment.bytes", SEGMENT_BYTES)])).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    for i in 0..60 {
        log.append(&[record(i)]).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "the appends should have rolled: {bases:?}");
    let active = *bases.last().unwrap();
    // The flusher runs off the append path: the recovery point follows shortly.
    assert!(
        eventually(10, || log.recovery_point() == active),
        "recovery point {} should reach the active segment's base {active}",
        log.recovery_point()
    );
    assert!(
        eventually(10, || checkpointed_recovery_point(root.path(), TOPIC) == Some(active)),
        "checkpointed recovery point {:?} should reach {active}",
        checkpointed_recovery_point(root.path(), TOPIC)
    );
    assert!(store.background_errors().is_empty(), "{:?}", store.background_errors());
    store.close().unwrap();
}

#[test]
fn without_background_threads_maintain_runs_the_roll_flush() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([root.path()]).background_threads(false)).unwrap();
    store.create_topic(TOPIC, 1, &overrides(&[("segment.bytes", SEGMENT_BYTES)])).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    for i in 0..40 {
        log.append(&[record(i)]).unwrap();
    }
    assert_eq!(log.recovery_point(), 0, "nothing runs the flush without a thread or maintain");
    store.maintain(None).unwrap();
    let active = *log.segment_base_offsets().last().unwrap();
    assert!(active > 0);
    assert_eq!(log.recovery_point(), active);
    assert_eq!(checkpointed_recovery_point(root.path(), TOPIC), Some(active));
    store.close().unwrap();
}

/// The environment variable that turns [`roll_child_appends_forever_when_spawned`] on.
const CHILD_ENV: &str = "STRATA_DURABILITY_ROLL_CHILD";

/// Body of the child process of the kill test; returns at once unless that test spawned it.
/// Appends [`record`]s forever to a topic with tiny segments.
#[test]
fn roll_child_appends_forever_when_spawned() {
    let Some(root) = std::env::var_os(CHILD_ENV) else { return };
    let store = Store::open(StoreConfig::new([PathBuf::from(root)])).unwrap();
    store.create_topic(TOPIC, 1, &overrides(&[("segment.bytes", SEGMENT_BYTES)])).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    for i in 0.. {
        log.append(&[record(i)]).unwrap();
        if i % 16 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn after_a_kill_recovery_reads_only_what_was_written_since_the_last_roll() {
    const ROLLS: i64 = 40;
    let root = tempfile::tempdir().unwrap();
    let store_root = root.path().join("store");
    let stderr = root.path().join("child.stderr");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "roll_child_appends_forever_when_spawned", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, &store_root)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    // Each 2 KiB segment holds about 14 records: wait for a checkpoint past ROLLS rolls.
    let reached = eventually(60, || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited ({status}): {}", std::fs::read_to_string(&stderr).unwrap());
        }
        checkpointed_recovery_point(&store_root, TOPIC).is_some_and(|rp| rp >= ROLLS * 10)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reached, "no recovery point checkpointed past {} records", ROLLS * 10);
    let checkpointed = checkpointed_recovery_point(&store_root, TOPIC).unwrap();

    let store = Store::open(StoreConfig::new([&store_root]).background_threads(false)).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    let report = &store.load_reports().iter().find(|(name, _)| name == "roll-0").unwrap().1;
    let bases = log.segment_base_offsets();
    let after_checkpoint = bases.iter().filter(|&&b| b > checkpointed).count();
    eprintln!(
        "checkpointed {checkpointed}; {} segments, {} recovered, {after_checkpoint} after the \
         checkpoint; end {}",
        bases.len(),
        report.recovered_segments,
        log.log_end_offset()
    );
    assert!(bases.len() as i64 >= ROLLS, "{} segments", bases.len());
    // The segment holding the recovery point and those after it; never the synced prefix.
    assert_eq!(report.recovered_segments, after_checkpoint + 1, "{report:?}");
    assert!(log.log_end_offset() >= checkpointed);
    // Every record is the one its offset was written with.
    let mut at = 0;
    while at < log.log_end_offset() {
        let fetched = log.read(at, 1 << 20).unwrap();
        for r in fetched.records() {
            let r = r.unwrap();
            let want = record(r.offset());
            assert_eq!(r.value(), want.value.as_ref(), "offset {}", r.offset());
            at = r.offset() + 1;
        }
    }
    let dir = store.partition_dir(TOPIC, 0).unwrap();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 4096);
}
