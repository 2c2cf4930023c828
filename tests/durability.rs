//! Durability: the flush at roll (the sealed segment synced off the append path, the recovery
//! point moved and checkpointed, so an unclean open re-validates only what was written since).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::internals::store::checkpoint;

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

/// `config` with the periodic checkpoints (`log.flush.offset.checkpoint.interval.ms`, 60 s by
/// default, and the log-start one) a day apart: a checkpoint a test sees within its bounds is
/// then one that a roll's pass asked for, however slow the machine.
fn no_periodic_checkpoints(config: StoreConfig) -> StoreConfig {
    let day = 86_400_000;
    config
        .log_flush_offset_checkpoint_interval_ms(day)
        .log_flush_start_offset_checkpoint_interval_ms(day)
}

/// The checkpointed recovery point of `topic-0` in `root`, if any.
fn checkpointed_recovery_point(root: &Path, topic: &str) -> Option<i64> {
    let offsets = checkpoint::read_offsets(&root.join("recovery-point-offset-checkpoint")).ok()?;
    offsets.get(&(topic.to_owned(), 0)).copied()
}

#[test]
fn a_roll_syncs_the_sealed_segment_and_checkpoints_the_recovery_point() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(no_periodic_checkpoints(StoreConfig::new([root.path()]))).unwrap();
    store.create_topic(TOPIC, 1, &overrides(&[("segment.bytes", SEGMENT_BYTES)])).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    for i in 0..60 {
        log.append(&[record(i)]).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "the appends should have rolled: {bases:?}");
    let active = *bases.last().unwrap();
    // The flusher runs off the append path: the recovery point follows shortly (nothing else
    // would move it: flush.ms is off), and the checkpoint within about a second. The periodic
    // checkpoints are a day apart, so only the roll's can be the one seen; the waits allow for
    // a loaded machine.
    assert!(
        eventually(60, || log.recovery_point() == active),
        "recovery point {} should reach the active segment's base {active}",
        log.recovery_point()
    );
    assert!(
        eventually(30, || checkpointed_recovery_point(root.path(), TOPIC) == Some(active)),
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
    // Each 2 KiB segment holds about 14 records: wait for a checkpoint past
    // ROLLS * 10 records and for more than ROLLS segments on disk (the
    // checkpoint alone can be reached with fewer segments when the writer is
    // slow), with a deadline generous enough for a loaded machine.
    let segment_files = || {
        std::fs::read_dir(store_root.join(format!("{TOPIC}-0")))
            .map(|d| {
                d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".log")).count()
            })
            .unwrap_or(0) as i64
    };
    let reached = eventually(300, || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited ({status}): {}", std::fs::read_to_string(&stderr).unwrap());
        }
        checkpointed_recovery_point(&store_root, TOPIC).is_some_and(|rp| rp >= ROLLS * 10)
            && segment_files() > ROLLS
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        reached,
        "within 300 s, no recovery point checkpointed past {} records with more than {ROLLS} segments ({} segments)",
        ROLLS * 10,
        segment_files()
    );
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

/// Appends one batch and flushes it `flushes` times on a fresh log in `dir`.
fn append_and_flush(dir: &Path, flushes: usize) -> strata::Log {
    use std::sync::Arc;
    use strata::BorrowedRecord;
    use strata::LogConfig;
    use strata::SystemClock;
    use strata::{LoadOptions, Log};
    let (log, _) =
        Log::open(dir, "t", 0, LogConfig::default(), Arc::new(SystemClock), LoadOptions::default())
            .unwrap();
    let value = [7u8; 100];
    for i in 0..flushes {
        let key = i.to_be_bytes();
        let batch: Vec<_> = (0..100).map(|_| BorrowedRecord::new(&key, &value)).collect();
        log.append(&batch).unwrap();
        log.flush().unwrap();
    }
    log
}

#[test]
fn a_durable_flush_is_one_fdatasync_of_the_log_and_nothing_else() {
    use strata::internals::io::fault::{self, FaultPlan, Op};
    let dir = tempfile::tempdir().unwrap();
    let log = append_and_flush(dir.path(), 1);
    let guard = fault::arm(FaultPlan::new().trace());
    let value = [1u8; 100];
    for i in 0..20u64 {
        let key = i.to_be_bytes();
        let batch: Vec<_> = (0..100).map(|_| strata::BorrowedRecord::new(&key, &value)).collect();
        let before = guard.trace().len();
        log.append(&batch).unwrap();
        log.flush().unwrap();
        let syncs: Vec<_> = guard
            .trace()
            .into_iter()
            .skip(before)
            .filter(|(op, _)| matches!(op, Op::Sync | Op::SyncDir))
            .collect();
        assert_eq!(syncs.len(), 1, "flush {i}: {syncs:?}");
        assert!(syncs[0].0 == Op::Sync && syncs[0].1.extension().is_some_and(|e| e == "log"));
    }
    drop(guard);
    log.close().unwrap();
}

/// A sync pass that runs while a roll is creating the next segment (another
/// thread's `wait_synced`, a flusher worker) must not mark the directory as
/// synced for a segment whose files are not in it yet: records appended to
/// that segment and acknowledged durable need its directory entry fsynced
/// after the files were created (review 3, finding F2).
#[test]
fn a_pass_during_a_roll_never_covers_the_new_segments_directory_entry_before_its_files_exist() {
    use strata::internals::io::fault::{self, FaultPlan, Op};
    let dir = tempfile::tempdir().unwrap();
    let log = append_and_flush(dir.path(), 1);
    log.append(&[record(1)]).unwrap(); // unsynced, so the pass in the roll has work
    let guard = fault::arm(FaultPlan::new().trace());
    let l = log.clone();
    let hook = fault::on_point("log::roll::before_create", move || {
        // Another thread's pass at this moment (no flusher: it runs here).
        l.wait_synced(l.log_end_offset()).unwrap();
    });
    log.roll().unwrap();
    assert!(hook.ran());
    log.append(&[record(2)]).unwrap();
    let leo = log.log_end_offset();
    log.wait_synced(leo).unwrap();
    assert_eq!(log.recovery_point(), leo);
    let trace = guard.trace();
    let new_log = format!("{:020}.log", leo - 1);
    let created = trace
        .iter()
        .position(|(op, p)| *op == Op::Open && p.file_name().is_some_and(|n| n == new_log.as_str()))
        .unwrap_or_else(|| panic!("no open of {new_log} in {trace:?}"));
    let dir_synced_after = trace[created..].iter().any(|(op, _)| *op == Op::SyncDir);
    assert!(
        dir_synced_after,
        "records of {new_log} acknowledged durable (recovery point {leo}) with no directory \
         fsync since its files were created: {trace:?}"
    );
    drop(guard);
    log.close().unwrap();
}

/// The environment variable that turns [`sync_count_child_when_spawned`] on: `DIR:FLUSHES`.
const SYNC_CHILD_ENV: &str = "STRATA_DURABILITY_SYNC_CHILD";

/// Body of the child process [`a_durable_flush_is_one_sync_syscall`] runs under strace.
#[test]
fn sync_count_child_when_spawned() {
    let Some(arg) = std::env::var_os(SYNC_CHILD_ENV) else { return };
    let arg = arg.into_string().unwrap();
    let (dir, flushes) = arg.rsplit_once(':').unwrap();
    append_and_flush(Path::new(dir), flushes.parse().unwrap()).close().unwrap();
}

/// Sync syscalls (`fsync`, `fdatasync`, `msync`, `sync_file_range`, `syncfs`) a child
/// process made while appending and flushing `flushes` batches, as `strace -c` counts them.
fn strace_syncs(strace: &Path, flushes: usize) -> Result<u64, String> {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("strace.txt");
    let data = dir.path().join("log");
    let out = Command::new(strace)
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync,msync,sync_file_range,syncfs", "-o"])
        .arg(&summary)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "sync_count_child_when_spawned", "--nocapture", "--test-threads", "1"])
        .env(SYNC_CHILD_ENV, format!("{}:{flushes}", data.display()))
        .output()
        .map_err(|e| format!("strace did not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "strace failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("")
        ));
    }
    let text = std::fs::read_to_string(&summary).map_err(|e| e.to_string())?;
    // Rows: % time, seconds, usecs/call, calls, [errors,] syscall.
    Ok(text
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let name = *cols.last()?;
            let syncs = ["fsync", "fdatasync", "msync", "sync_file_range", "syncfs"];
            syncs.contains(&name).then(|| cols.get(3)?.parse::<u64>().ok()).flatten()
        })
        .sum())
}

#[test]
fn a_durable_flush_is_one_sync_syscall() {
    let strace = ["/usr/bin/strace", "/bin/strace"].into_iter().map(Path::new).find(|p| p.exists());
    let Some(strace) = strace else {
        common::skip("strace is not installed (the io-gate test counts the syncs instead)");
        return;
    };
    let (few, many) = match (strace_syncs(strace, 5), strace_syncs(strace, 45)) {
        (Ok(few), Ok(many)) => (few, many),
        (Err(e), _) | (_, Err(e)) => {
            common::skip(&format!("{e} (the io-gate test counts the syncs instead)"));
            return;
        }
    };
    // Opening and closing cost the same in both runs: the difference is the 40 flushes.
    assert_eq!(many - few, 40, "sync syscalls: {few} for 5 flushes, {many} for 45");
}

/// Inode and mtime of every file under `root` but segment data and indexes
/// and the clean-shutdown marker (which an open removes and a close writes,
/// as Kafka does).
fn metadata_files(root: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::metadata(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if m.is_dir() {
                dirs.push(p);
            } else if ![
                ".log",
                ".index",
                ".timeindex",
                ".txnindex",
                ".lock",
                ".kafka_cleanshutdown",
            ]
            .iter()
            .any(|s| name.ends_with(s))
            {
                out.insert(p, (m.ino(), m.modified().unwrap()));
            }
        }
    }
    out
}

#[test]
fn opening_and_closing_an_unchanged_store_rewrites_no_metadata() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([root.path()])).unwrap();
    store.create_topic("t", 2, &overrides(&[("retention.ms", "86400000")])).unwrap();
    store.partition("t", 0).unwrap().append(&[record(1)]).unwrap();
    store.close().unwrap();
    // The first reopen drops the empty partition's leader-epoch entry at its
    // log end (Kafka's truncation at open); from then on nothing changes.
    Store::open(StoreConfig::new([root.path()])).unwrap().close().unwrap();
    let before = metadata_files(root.path());
    let names: Vec<String> =
        before.keys().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in
        ["strata-topics", "recovery-point-offset-checkpoint", "00000000000000000001.snapshot"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    // Coarse file-system clocks would hide a rewrite within the same tick.
    std::thread::sleep(Duration::from_millis(20));
    let watch = strata::internals::io::fault::watch(root.path());
    for _ in 0..2 {
        Store::open(StoreConfig::new([root.path()])).unwrap().close().unwrap();
    }
    assert_eq!(metadata_files(root.path()), before, "an open and close of an unchanged store");
    // Per round, one write: the clean-shutdown marker at close.
    assert_eq!(watch.calls(strata::internals::io::fault::Op::Write), 2);
}

const SUSTAINED_TOPIC: &str = "sustained";
/// Partitions the sustained-roll child spreads its appends over.
const SUSTAINED_PARTITIONS: i32 = 48;
/// The environment variable that turns [`sustained_roll_child_when_spawned`] on.
const SUSTAINED_CHILD_ENV: &str = "STRATA_DURABILITY_SUSTAINED_CHILD";
/// How long the checkpoint may trail a sync pass. The child's periodic checkpoints are a day
/// apart, so only the flusher's checkpoints after rolls (about once a second) can cover a
/// sample: the bound separates "follows" from "never" with room for a loaded machine.
const CHECKPOINT_LAG_BOUND: Duration = Duration::from_secs(60);
/// Times the child samples the recovery points and waits for the checkpoint to cover them.
const SAMPLES: usize = 5;

/// The checkpointed recovery points of the sustained topic's partitions, by partition.
fn checkpointed_points(root: &Path) -> BTreeMap<i32, i64> {
    checkpoint::read_offsets(&root.join("recovery-point-offset-checkpoint"))
        .map(|o| {
            o.into_iter()
                .filter(|((t, _), _)| t == SUSTAINED_TOPIC)
                .map(|((_, p), v)| (p, v))
                .collect()
        })
        .unwrap_or_default()
}

/// Body of the child process of the sustained-roll test; returns at once unless that test
/// spawned it. A thread a partition appends without pause to [`SUSTAINED_PARTITIONS`]
/// partitions of 2 KiB segments: a roll every few appends. Every fsync takes 50 ms, as on a
/// busy disk, so the flusher's passes (a few fsyncs each, at most 32 at once) fall behind the
/// rolls and its queue never runs dry. Meanwhile this thread takes [`SAMPLES`] samples: the
/// recovery points the passes reached, then how long until the checkpoint file on disk holds
/// them; one line a sample (`lag MS` or `late MS`) to the file `lags` beside the store, then
/// `done`. The appends go on until the test kills the process.
#[test]
fn sustained_roll_child_when_spawned() {
    let Some(root) = std::env::var_os(SUSTAINED_CHILD_ENV) else { return };
    let root = PathBuf::from(root);
    let store_root = root.join("store");
    let _slow_disk = strata::internals::io::fault::slow_syncs(Duration::from_millis(50));
    let store = Store::open(no_periodic_checkpoints(StoreConfig::new([&store_root]))).unwrap();
    let config = overrides(&[("segment.bytes", SEGMENT_BYTES), ("segment.index.bytes", "4096")]);
    store.create_topic(SUSTAINED_TOPIC, SUSTAINED_PARTITIONS, &config).unwrap();
    let logs: Vec<_> =
        (0..SUSTAINED_PARTITIONS).map(|p| store.partition(SUSTAINED_TOPIC, p).unwrap()).collect();
    // One appender a partition: a roll writes its producer snapshot with an fsync on the
    // appending thread, so a few threads alone would roll too slowly to keep the flusher busy.
    for log in &logs {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0.. {
                log.append(&[record(i)]).unwrap();
            }
        });
    }
    let mut lags = std::fs::File::create(root.join("lags")).unwrap();
    // Every partition rolled and had a pass.
    while logs.iter().any(|l| l.recovery_point() == 0) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let synced = || -> Vec<i64> { logs.iter().map(strata::Log::recovery_point).collect() };
    for _ in 0..SAMPLES {
        // A sample once a pass moved a recovery point past the checkpoint: each needs a new one.
        let ahead = eventually(60, || {
            let points = checkpointed_points(&store_root);
            synced().iter().zip(0..).any(|(&s, p)| points.get(&p).is_none_or(|&c| c < s))
        });
        assert!(ahead, "no pass moved a recovery point past the checkpoint within 60 s");
        let synced = synced();
        let start = Instant::now();
        let covered = eventually(CHECKPOINT_LAG_BOUND.as_secs() * 2, || {
            let points = checkpointed_points(&store_root);
            synced.iter().zip(0..).all(|(&s, p)| points.get(&p).is_some_and(|&c| c >= s))
        });
        let ms = start.elapsed().as_millis();
        use std::io::Write;
        writeln!(lags, "{} {ms}", if covered { "lag" } else { "late" }).unwrap();
    }
    std::fs::write(root.join("done"), "").unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn under_sustained_rolls_the_recovery_point_checkpoint_follows_each_rolls_sync() {
    let root = tempfile::tempdir().unwrap();
    let store_root = root.path().join("store");
    let stderr = root.path().join("child.stderr");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sustained_roll_child_when_spawned", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(SUSTAINED_CHILD_ENV, root.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let finished = eventually(600, || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited ({status}): {}", std::fs::read_to_string(&stderr).unwrap());
        }
        root.path().join("done").exists()
    });
    // Killed while the appends and rolls go on: an unclean shutdown under load.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(finished, "the child did not finish its samples within 600 s");
    let lags = std::fs::read_to_string(root.path().join("lags")).unwrap();
    eprintln!("checkpoint lag behind the synced recovery points (ms): {lags:?}");
    assert_eq!(lags.lines().count(), SAMPLES, "{lags}");
    for line in lags.lines() {
        let (kind, ms) = line.split_once(' ').unwrap();
        let ms: u64 = ms.parse().unwrap();
        assert!(
            kind == "lag" && Duration::from_millis(ms) <= CHECKPOINT_LAG_BOUND,
            "the checkpoint trailed the synced recovery points by {ms} ms or more ({kind}); \
             the bound is {CHECKPOINT_LAG_BOUND:?}: {lags}"
        );
    }

    // An unclean open re-validates only what follows each checkpointed recovery point: the
    // segment holding it and those after it, never the synced prefix.
    let checkpointed = checkpointed_points(&store_root);
    let store = Store::open(StoreConfig::new([&store_root]).background_threads(false)).unwrap();
    let (mut recovered, mut total) = (0, 0);
    for p in 0..SUSTAINED_PARTITIONS {
        let log = store.partition(SUSTAINED_TOPIC, p).unwrap();
        let name = format!("{SUSTAINED_TOPIC}-{p}");
        let report = &store.load_reports().iter().find(|(n, _)| *n == name).unwrap().1;
        let point = checkpointed[&p];
        let bases = log.segment_base_offsets();
        let after_checkpoint = bases.iter().filter(|&&b| b > point).count();
        assert!(point > 0, "{name}: checkpointed at 0");
        assert_eq!(report.recovered_segments, after_checkpoint + 1, "{name}: {report:?}");
        assert!(log.log_end_offset() >= point, "{name}");
        recovered += report.recovered_segments;
        total += bases.len();
    }
    eprintln!("recovered {recovered} of {total} segments");
    assert!(recovered < total);
    store.close().unwrap();
}

#[test]
fn flush_messages_syncs_once_that_many_records_are_unsynced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([dir.path()])).unwrap();
    store.create_topic("fm", 1, &overrides(&[("flush.messages", "3")])).unwrap();
    let log = store.partition("fm", 0).unwrap();
    let mut points = Vec::new();
    for i in 0..7 {
        log.append(&[record(i)]).unwrap();
        points.push(log.recovery_point());
    }
    // Synced at the 3rd and 6th record, not before or between.
    assert_eq!(points, [0, 0, 3, 3, 3, 6, 6]);
    store.close().unwrap();
}
