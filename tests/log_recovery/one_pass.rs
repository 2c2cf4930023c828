//! Recovery reads each segment once: its scan is also the check for a
//! legacy segment to split, and the map it reads through is the one later
//! reads use. (Mapping a large segment's page cache is most of what its
//! recovery costs: `examples/recovery_profile.rs`.)

use super::*;

/// How many times each `.log` of `dir` was mapped in `trace`.
fn log_maps(trace: &[(Op, PathBuf)], dir: &Path) -> BTreeMap<PathBuf, usize> {
    let mut maps = BTreeMap::new();
    for (op, path) in trace {
        if *op == Op::Map && path.extension().is_some_and(|e| e == "log") {
            *maps.entry(path.clone()).or_default() += 1;
        }
    }
    for log in maps.keys() {
        assert_eq!(log.parent(), Some(dir), "{} is not in the log directory", log.display());
    }
    maps
}

#[test]
fn an_unclean_open_maps_each_segment_once_and_reads_after_it_map_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = Vec::new();
    let (log, _) = open(dir.path(), clean());
    write_batches(&log, &mut recs, 60);
    let segments = log.segment_count();
    assert!(segments >= 3, "the test needs sealed segments and an active one: {segments}");
    log.close().unwrap();

    let guard = fault::arm(FaultPlan::new().trace());
    let (log, report) = open(dir.path(), unclean(0));
    assert_eq!(report.recovered_segments, segments, "{report:?}");
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(read_all(&log), recs);
    let trace = guard.trace();
    drop(guard);
    let maps = log_maps(&trace, dir.path());
    assert_eq!(maps.len(), segments, "every segment is read: {maps:?}");
    for (path, n) in &maps {
        assert_eq!(*n, 1, "{} was mapped {n} times by the open and the reads", path.display());
    }
    log.close().unwrap();
    common::assert_kafka_valid(dir.path(), INTERVAL);
}
