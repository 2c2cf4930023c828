//! Regressions found by the code review of the first version (each test names
//! the defect it guards against).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use strata::Error;
use strata::LogConfig;
use strata::Record;
use strata::SystemClock;
use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::{LoadOptions, Log};

fn open(dir: &std::path::Path, options: LoadOptions) -> Log {
    let cfg = LogConfig::default().segment_bytes(2048);
    Log::open(dir, "t", 0, cfg, std::sync::Arc::new(SystemClock), options).unwrap().0
}

fn fill(log: &Log, batches: usize) {
    for i in 0..batches {
        log.append(&[Record::new(format!("k{i}"), "v".repeat(200))]).unwrap();
    }
}

#[test]
fn a_closed_log_refuses_roll_flush_and_delete_records() {
    // Found by review: these entry points skipped the closed check, so a held
    // handle could create or rename files after the store released its lock.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LoadOptions::default());
    fill(&log, 20);
    log.close().unwrap();
    let files_before = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(matches!(log.roll(), Err(Error::Closed { .. })));
    assert!(matches!(log.flush(), Err(Error::Closed { .. })));
    assert!(matches!(log.flush_if_due(), Err(Error::Closed { .. })));
    assert!(matches!(log.delete_records(3), Err(Error::Closed { .. })));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files_before);
}

#[test]
fn crash_recovery_does_not_read_segments_below_the_recovery_point() {
    // Found by review: with no idempotent producers no snapshot was ever
    // written, so an unclean open replayed every segment to rebuild producer
    // state. Now a snapshot at every roll bounds the replay.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LoadOptions::default());
    fill(&log, 200);
    let segments = log.segment_count();
    assert!(segments > 20, "{segments}");
    log.flush().unwrap();
    let recovery_point = log.recovery_point();
    drop(log); // a crash: no close
    let guard = fault::arm(FaultPlan::new());
    let log = open(dir.path(), LoadOptions::default().with_recovery_point(recovery_point));
    let maps = guard.calls(Op::Map);
    drop(guard);
    assert!(maps < 8, "an unclean open mapped {maps} files for {segments} segments");
    assert_eq!(log.log_end_offset(), recovery_point);
}

#[test]
fn a_non_ascii_zone_offset_is_an_error_not_a_panic() {
    // Found by review: `--to-datetime` split a 4-byte zone at byte 2 without a char-boundary check.
    let dir = tempfile::tempdir().unwrap();
    let out = common::logtool_run(
        &[dir.path()],
        true,
        &["group-reset", "g", "t", "--to-datetime", "2024-01-01T00:00+a€"],
        b"",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("zone"), "{err}");
}
