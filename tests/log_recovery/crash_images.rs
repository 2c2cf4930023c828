//! Crash images: what the page cache held, and what had been fsynced (part of the `log_recovery` tests).

use super::*;

/// Lengths of the `.log` files of `dir` right now.
fn log_lengths(dir: &Path) -> BTreeMap<String, u64> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".log")))
        .map(|e| (e.file_name().into_string().unwrap(), e.metadata().unwrap().len()))
        .collect()
}

/// A log with a flushed prefix and an unflushed tail that spans rolls.
struct Crashed {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    recs: Vec<Rec>,
    flushed: Vec<Rec>,
    recovery_point: i64,
    synced: BTreeMap<String, u64>,
}

fn crashed_log() -> Crashed {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open(&dir, unclean(0));
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 30);
    log.flush().unwrap();
    let flushed = recs.clone();
    let recovery_point = log.recovery_point();
    assert_eq!(recovery_point, log.log_end_offset());
    let synced = log_lengths(&dir);
    let segments = log.segment_count();
    write_batches(&log, &mut recs, 30);
    assert!(log.segment_count() > segments + 1, "the unflushed tail should span rolls");
    drop(log);
    Crashed { _tmp: tmp, dir, recs, flushed, recovery_point, synced }
}

#[test]
fn everything_in_the_page_cache_survives_a_process_crash() {
    let c = crashed_log();
    let (log, report) = open(&c.dir, unclean(c.recovery_point));
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(read_all(&log), c.recs);
    log.close().unwrap();
    common::assert_kafka_accepts(&c.dir, INTERVAL);
}

#[test]
fn flushed_records_survive_a_crash_image_cut_to_the_synced_lengths() {
    let c = crashed_log();
    // Files created after the flush never reached the disk; the others only up to their synced
    // length.
    for n in log_lengths(&c.dir).keys() {
        let base = n.trim_end_matches(".log");
        match c.synced.get(n) {
            Some(&synced) => set_len(&c.dir.join(n), synced),
            None => {
                for ext in ["log", "index", "timeindex"] {
                    fs::remove_file(c.dir.join(format!("{base}.{ext}"))).unwrap();
                }
            }
        }
    }
    let (log, _) = open(&c.dir, unclean(c.recovery_point));
    assert_eq!(log.log_end_offset(), c.recovery_point);
    assert_eq!(read_all(&log), c.flushed);
    let mut recs = c.flushed.clone();
    write_batches(&log, &mut recs, 10);
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    common::assert_kafka_valid(&c.dir, INTERVAL);
}

#[test]
fn segment_cut_to_its_synced_length_drops_the_later_segments_it_no_longer_reaches() {
    let c = crashed_log();
    // The segment that was active at the flush lost its unsynced tail, but
    // the segments rolled after it reached the disk (the roll fsynced nothing).
    let flushed_active = c.synced.keys().last().unwrap().clone();
    set_len(&c.dir.join(&flushed_active), c.synced[&flushed_active]);
    let (log, report) = open(&c.dir, unclean(c.recovery_point));
    let got = read_all(&log);
    assert!(got.len() >= c.flushed.len());
    assert_eq!(got[..c.flushed.len()], c.flushed[..]);
    assert_eq!(got, c.recs[..got.len()], "the log must reopen to a prefix of what was appended");
    assert!(report.dropped_segments > 0);
    log.close().unwrap();
    common::assert_kafka_valid(&c.dir, INTERVAL);
}
