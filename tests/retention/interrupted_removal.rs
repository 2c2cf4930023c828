//! A removal of retired segments stopped between a `.log`'s unlink and its index
//! unlinks (fault point `segment::delete_files::log_removed`), by a close of the log
//! or a failure (part of the `retention` tests): no half-removed segment is served,
//! kept on disk, or read back as data at the next open.

use super::*;
use strata::LoadOptions;
use strata::internals::io::fault;

/// A log at `dir` with one-record batches over several 1 KiB segments, whose first two
/// segments `delete_records` retired: their files renamed `.deleted`, waiting for
/// `file.delete.delay.ms`. Returns the log, its clock's time and the base offsets.
fn log_with_retired_segments(dir: &Path) -> (Log, Arc<ManualClock>, Vec<i64>) {
    let clock = ManualClock::new(SystemClock.now_ms());
    let config = LogConfig::default().segment_bytes(1024).file_delete_delay_ms(1_000);
    let (log, _) = Log::open(dir, "t", 0, config, clock.clone(), LoadOptions::default()).unwrap();
    append_records(&log, 40, clock.now_ms());
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 3, "{bases:?}");
    assert_eq!(log.delete_records(bases[2]).unwrap(), bases[2]);
    assert!(dir.join("00000000000000000000.log.deleted").exists(), "retired, not yet removed");
    (log, clock, bases)
}

/// The files in `dir` of the segment at `base`, by name.
fn files_of(dir: &Path, base: i64) -> Vec<String> {
    let prefix = format!("{base:020}.");
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

/// Opens the log at `dir` again (a writer's open, which removes what a removal left).
fn reopen(dir: &Path, clock: Arc<ManualClock>) -> Log {
    let config = LogConfig::default().segment_bytes(1024).file_delete_delay_ms(1_000);
    Log::open(dir, "t", 0, config, clock, LoadOptions::default()).unwrap().0
}

#[test]
fn a_log_close_between_a_removals_log_unlink_and_its_index_unlinks_leaves_no_segment_at_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (log, clock, bases) = log_with_retired_segments(dir);
    let end = log.log_end_offset();
    clock.advance(2_000);
    let (closer, at) = (log.clone(), dir.to_path_buf());
    let hook = fault::on_point("segment::delete_files::log_removed", move || {
        // The first retired segment's `.log` is gone, its indexes not yet.
        let left = files_of(&at, 0);
        assert!(!left.iter().any(|n| n.contains(".log")) && !left.is_empty(), "{left:?}");
        closer.close().unwrap();
    });
    let _ = log.delete_expired_files(clock.now_ms());
    assert!(hook.ran(), "the close ran inside the removal");
    assert!(log.is_closed());
    // No read is served once closed, whatever the segments' files: a clear error.
    assert!(matches!(log.read(bases[2], 1 << 20), Err(Error::Closed { .. })));
    assert!(matches!(log.read(0, 1 << 20), Err(Error::Closed { .. })));
    // What the close overtook stays on disk for the next open (the directory is no
    // longer this log's to change): the first segment's indexes, the second's every file.
    assert!(!files_of(dir, 0).is_empty() && !files_of(dir, bases[1]).is_empty());
    drop(log);

    let log = reopen(dir, clock);
    assert_eq!(files_of(dir, 0), Vec::<String>::new(), "the half-removed segment's files remain");
    assert_eq!(files_of(dir, bases[1]), Vec::<String>::new());
    // Neither segment is data again: the log starts where the removal moved it, no record
    // lost after it and none resurrected before it.
    assert_eq!(log.segment_base_offsets(), bases[2..]);
    assert_eq!(log.log_start_offset(), bases[2]);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(read_all(&log), (bases[2]..end).collect::<Vec<_>>());
    assert!(matches!(log.read(0, 1 << 20), Err(Error::OffsetOutOfRange { .. })));
    log.close().unwrap();
}

#[test]
fn a_removal_failing_between_its_log_unlink_and_its_index_unlinks_leaves_no_file_once_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (log, clock, bases) = log_with_retired_segments(dir);
    let end = log.log_end_offset();
    clock.advance(2_000);
    {
        let _plan =
            fault::arm(fault::FaultPlan::new().fail_point("segment::delete_files::log_removed"));
        assert!(log.delete_expired_files(clock.now_ms()).is_err());
    }
    let left = files_of(dir, 0);
    assert!(!left.iter().any(|n| n.contains(".log")) && !left.is_empty(), "{left:?}");
    // The live segments are untouched and read as before.
    assert_eq!(read_all(&log), (bases[2]..end).collect::<Vec<_>>());
    // The next pass finishes both removals.
    assert_eq!(log.delete_expired_files(clock.now_ms()).unwrap(), 2);
    assert_eq!(files_of(dir, 0), Vec::<String>::new(), "the retried removal left files");
    assert_eq!(files_of(dir, bases[1]), Vec::<String>::new());
    log.close().unwrap();

    let log = reopen(dir, clock);
    assert_eq!(log.segment_base_offsets(), bases[2..]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (bases[2], end));
    assert_eq!(read_all(&log), (bases[2]..end).collect::<Vec<_>>());
    log.close().unwrap();
}
