//! Looking changes nothing: a read-only open (`Store::open_read_only`) of a directory that needs
//! recovery leaves every byte as it was, reports exactly the cut a writer's recovery then makes,
//! serves the data that recovery keeps, and works while a writer holds the store; `logtool`'s
//! read verbs use it. A normal open that cuts says so (`recovery_report`), and a normal open that
//! finds everything in place does not rewrite the store's metadata.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata::Error;
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::internals::format::BatchIter;
use strata::internals::store::checkpoint::{CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_CHECKPOINT};
use tempfile::TempDir;

const RECORDS: i64 = 300;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new([dir]).background_threads(false)
}

/// A store with topic `t` (one partition, 1 KiB segments) holding `RECORDS` records, one per
/// batch, closed cleanly. Returns the directory and the partition's `.log` files, oldest first.
fn written_store() -> (TempDir, Vec<PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let mut o = BTreeMap::new();
    o.insert("segment.bytes".to_owned(), "1024".to_owned());
    o.insert("index.interval.bytes".to_owned(), "128".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..RECORDS {
        log.append(&[Record::new(format!("k{i}"), format!("value-{i}"))]).unwrap();
    }
    store.close().unwrap();
    let logs = log_files(&tmp_partition(&tmp));
    (tmp, logs)
}

fn tmp_partition(tmp: &TempDir) -> PathBuf {
    tmp.path().join("t-0")
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| common::is_segment_log_name(p.file_name().unwrap()))
        .collect();
    v.sort();
    v
}

/// Positions of the batches of a `.log` file.
fn batch_positions(file: &Path) -> Vec<usize> {
    BatchIter::new(Bytes::from(std::fs::read(file).unwrap())).map(|(p, _)| p).collect()
}

/// The damage of a lost clean shutdown: no marker, a recovery point of 0 (so recovery
/// re-validates every segment), a flipped byte inside the 3rd batch of the 2nd segment and a torn
/// half batch at the end of the last. Returns the file and position of the corrupt batch.
fn damage(tmp: &TempDir, logs: &[PathBuf]) -> (PathBuf, u64) {
    std::fs::remove_file(tmp.path().join(CLEAN_SHUTDOWN_FILE)).unwrap();
    std::fs::write(tmp.path().join(RECOVERY_POINT_CHECKPOINT), "0\n1\nt 0 0\n").unwrap();
    let victim = logs[1].clone();
    let at = batch_positions(&victim)[2];
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[at + 70] ^= 0x5a;
    std::fs::write(&victim, bytes).unwrap();
    let last = logs.last().unwrap();
    let tail = std::fs::read(last).unwrap();
    let torn: Vec<u8> = tail[..40].to_vec();
    std::fs::write(last, [tail, torn].concat()).unwrap();
    (victim, at as u64)
}

/// What a store shows of `t-0`: start, end and every offset with its value.
fn contents(store: &Store) -> (i64, i64, Vec<(i64, Bytes)>) {
    let log = store.partition("t", 0).unwrap();
    let fetched = log.read(log.log_start_offset(), usize::MAX).unwrap();
    let records = fetched
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r.offset(), r.value().unwrap().clone()))
        .collect();
    (log.log_start_offset(), log.log_end_offset(), records)
}

/// A read-only open of a directory with a corrupt batch, a torn tail and no clean-shutdown
/// marker leaves every file byte-identical (contents, lengths, modification times; no file
/// created), reports the cut a writer's recovery would make — file, position, bytes — and the
/// later segments it would drop, and serves exactly the records before the cut.
#[test]
fn read_only_open_of_a_damaged_directory_changes_nothing_and_reports_the_cut() {
    let (tmp, logs) = written_store();
    assert!(logs.len() >= 4, "{logs:?}");
    let (victim, at) = damage(&tmp, &logs);
    let before = common::dir_snapshot(tmp.path());

    let store = Store::open_read_only(config(tmp.path())).unwrap();
    assert!(store.is_read_only());
    let report = store.recovery_report();
    assert!(report.read_only);
    let (partition, first) = &report.cuts[0];
    assert_eq!(partition, "t-0");
    assert_eq!(first.file, victim);
    assert_eq!(first.position, at);
    assert_eq!(first.bytes, std::fs::metadata(&victim).unwrap().len() - at);
    assert!(first.reason.contains("bad batch"), "{}", first.reason);
    let dropped: Vec<_> =
        report.cuts[1..].iter().map(|(_, c)| (c.file.clone(), c.position)).collect();
    let later: Vec<_> = logs[2..].iter().map(|f| (f.clone(), 0)).collect();
    assert_eq!(dropped, later, "every later segment would go");

    let (start, end, records) = contents(&store);
    assert_eq!(start, 0);
    assert_eq!(records.len() as i64, end, "a dense prefix");
    assert!(end > 0 && end < RECORDS, "{end}");
    for (o, v) in &records {
        assert_eq!(v.as_ref(), format!("value-{o}").as_bytes());
    }
    store.close().unwrap();
    drop(store);
    assert_eq!(common::dir_snapshot(tmp.path()), before, "a read-only open changed the directory");

    // The writer's recovery then cuts exactly what was predicted and keeps the same records.
    let writer = Store::open(config(tmp.path())).unwrap();
    let cut = writer.recovery_report();
    assert!(!cut.read_only);
    assert_eq!(cut.cuts, report.cuts, "the read-only report predicts the writer's cuts");
    assert_eq!(contents(&writer), (start, end, records));
    writer.close().unwrap();
    common::assert_kafka_valid(&tmp_partition(&tmp), 128);
}

/// A torn tail alone: a read-only open reports the torn bytes of the last segment and serves
/// every complete record.
#[test]
fn read_only_open_reports_a_torn_tail_and_serves_every_whole_record() {
    let (tmp, logs) = written_store();
    std::fs::remove_file(tmp.path().join(CLEAN_SHUTDOWN_FILE)).unwrap();
    let last = logs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    let tail = std::fs::read(last).unwrap();
    std::fs::write(last, [tail.clone(), tail[..30].to_vec()].concat()).unwrap();
    let before = common::dir_snapshot(tmp.path());
    let store = Store::open_read_only(config(tmp.path())).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.cuts.len(), 1, "{report:?}");
    assert_eq!(
        (report.cuts[0].1.file.clone(), report.cuts[0].1.position, report.cuts[0].1.bytes),
        (last.clone(), len, 30)
    );
    assert_eq!(contents(&store).1, RECORDS);
    drop(store);
    assert_eq!(common::dir_snapshot(tmp.path()), before);
}

/// A read-only store opens while a writer store holds the directory (no lock taken), sees what
/// the writer flushed, refuses every change with `Error::ReadOnly`, and leaves the writer
/// working; `logtool offsets` (another process) does the same.
#[test]
fn read_only_open_works_while_a_writer_holds_the_store() {
    let (tmp, _) = written_store();
    let writer = Store::open(config(tmp.path())).unwrap();
    let wlog = writer.partition("t", 0).unwrap();
    wlog.append(&[Record::new("live", "value-300")]).unwrap();
    wlog.flush().unwrap();

    let ro = Store::open_read_only(config(tmp.path())).unwrap();
    let log = ro.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), RECORDS + 1);
    assert!(ro.recovery_report().is_empty(), "{:?}", ro.recovery_report());
    assert!(matches!(log.append(&[Record::new("k", "v")]), Err(Error::ReadOnly)));
    assert!(matches!(log.flush(), Err(Error::ReadOnly)));
    assert!(matches!(log.delete_records(1), Err(Error::ReadOnly)));
    assert!(matches!(ro.create_topic("u", 1, &BTreeMap::new()), Err(Error::ReadOnly)));
    assert!(matches!(ro.delete_topic("t"), Err(Error::ReadOnly)));
    assert!(matches!(ro.maintain(None), Err(Error::ReadOnly)));
    assert!(matches!(ro.write_checkpoints(), Err(Error::ReadOnly)));
    assert!(matches!(ro.groups().commit("g", "t", 0, 5), Err(Error::ReadOnly)));
    assert!(matches!(
        log.wait_for(RECORDS + 1, std::time::Duration::from_secs(20)),
        Err(Error::Closed { .. })
    ));

    let lines = common::logtool_ok(&[tmp.path()], &["offsets", "t"], b"");
    assert!(lines.iter().any(|l| l.contains(&format!("{}", RECORDS + 1))), "{lines:?}");

    ro.close().unwrap();
    wlog.append(&[Record::new("after", "value-301")]).unwrap();
    writer.close().unwrap();
    assert_eq!(contents(&Store::open(config(tmp.path())).unwrap()).1, RECORDS + 2);
}

/// `logtool offsets`, `describe` and `consume` on a damaged directory change nothing, exit 0,
/// and say on stderr what a writer's recovery would cut (before, `offsets` ran that recovery
/// and silently cut the log).
#[test]
fn logtool_read_verbs_on_a_damaged_directory_change_nothing() {
    let (tmp, logs) = written_store();
    let (victim, _) = damage(&tmp, &logs);
    let before = common::dir_snapshot(tmp.path());
    for args in
        [&["offsets", "t"][..], &["topic-describe", "t"], &["consume", "t", "--from-beginning"]]
    {
        let out = common::logtool_run(&[tmp.path()], true, args, b"");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("needs recovery") && stderr.contains(&victim.display().to_string()),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            common::dir_snapshot(tmp.path()),
            before,
            "logtool {args:?} changed the directory"
        );
    }
}

/// A normal open that cuts says so: `recovery_report` names the file, position and bytes.
#[test]
fn a_normal_open_that_truncates_returns_the_report() {
    let (tmp, logs) = written_store();
    std::fs::remove_file(tmp.path().join(CLEAN_SHUTDOWN_FILE)).unwrap();
    let last = logs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    let tail = std::fs::read(last).unwrap();
    std::fs::write(last, [tail.clone(), tail[..25].to_vec()].concat()).unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let report = store.recovery_report();
    assert!(!report.read_only);
    assert_eq!(report.bytes(), 25);
    assert_eq!(
        (report.cuts[0].0.as_str(), &report.cuts[0].1.file, report.cuts[0].1.position),
        ("t-0", last, len)
    );
    assert_eq!(std::fs::metadata(last).unwrap().len(), len, "the cut was made");
    store.close().unwrap();
    let clean = Store::open(config(tmp.path())).unwrap();
    assert!(clean.recovery_report().is_empty(), "a clean open cuts nothing");
    clean.close().unwrap();
}

/// An open that finds the store's metadata in place does not rewrite (rename, fsync) it.
#[test]
fn a_normal_open_does_not_rewrite_unchanged_metadata() {
    let (tmp, _) = written_store();
    let topics = tmp.path().join("strata-topics");
    let before = std::fs::metadata(&topics).unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let after = std::fs::metadata(&topics).unwrap();
    assert_eq!(
        (before.ino(), before.mtime(), before.mtime_nsec()),
        (after.ino(), after.mtime(), after.mtime_nsec())
    );
    store.close().unwrap();
}

/// A read-only open of a store whose `strata-topics` marks a creation unfinished (a crash
/// between writing the file and making the directories: `c-0` made, `c-1` not) lists the
/// missing partition offline, naming the unfinished creation, counts the topic's partitions as
/// the file does, and writes nothing; a writable open then makes it, as before. Before, the
/// read-only open listed it nowhere and counted the topic one partition short.
#[test]
fn a_read_only_open_lists_an_unfinished_creations_missing_partitions_offline() {
    let (tmp, _) = written_store();
    let topics_file = tmp.path().join("strata-topics");
    let written = std::fs::read_to_string(&topics_file).unwrap();
    std::fs::create_dir(tmp.path().join("c-0")).unwrap();
    std::fs::write(&topics_file, format!("{written}creating c\ntopic c 2\n")).unwrap();
    let before = common::dir_snapshot(tmp.path());

    let store = Store::open_read_only(config(tmp.path())).unwrap();
    let offline = store.offline_partitions();
    assert_eq!(offline.len(), 1, "{offline:?}");
    let (topic, partition, _, cause) = &offline[0];
    assert_eq!((topic.as_str(), *partition), ("c", 1), "{offline:?}");
    assert!(
        cause.contains("creation did not finish") && cause.contains("a writable open makes it"),
        "{cause}"
    );
    assert_eq!(store.partition_count("c").unwrap(), 2);
    store.partition("c", 0).unwrap();
    let err = store.partition("c", 1).unwrap_err();
    assert!(
        matches!(&err, Error::PartitionOffline { partition, .. } if partition == "c-1"),
        "{err:?}"
    );
    store.close().unwrap();
    assert!(common::dir_snapshot(tmp.path()) == before, "a read-only open changed the store");

    let store = Store::open(config(tmp.path())).unwrap();
    assert!(store.offline_partitions().is_empty(), "{:?}", store.offline_partitions());
    store.partition("c", 1).unwrap();
    store.close().unwrap();
}
