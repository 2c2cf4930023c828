//! Hostile and damaged checkpoint files at open: a recovery point that cannot
//! be believed never lets unflushed data go unchecked, a log start offset is
//! never trusted beyond Kafka's rule, and a garbled cleaner offset changes
//! nothing the cleaner keeps.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use strata::{Record, Store};

use common::closed_store::open;

const SEG0: &str = "00000000000000000000.log";
const RECOVERY: &str = "recovery-point-offset-checkpoint";
const STARTS: &str = "log-start-offset-checkpoint";
const CLEANER: &str = "cleaner-offset-checkpoint";

/// A closed store with `t`-0 of 100 records in four segments of 25
/// (values `v0`..`v99`), closed cleanly.
fn four_segments(dir: &Path) {
    let store = open(dir).unwrap();
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..100 {
        if i % 25 == 0 && i > 0 {
            log.roll().unwrap();
        }
        log.append(&[Record::new(format!("k{i}"), format!("v{i}"))]).unwrap();
    }
    store.close().unwrap();
}

/// Damages record `v{i}` of the first segment (inside its batch's CRC).
fn corrupt_value(dir: &Path, i: usize) {
    let path = dir.join("t-0").join(SEG0);
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = format!("v{i}");
    let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap();
    bytes[at] = b'X';
    std::fs::write(&path, bytes).unwrap();
}

/// What the open found for `t`-0: (segments re-validated, bytes cut).
fn recovered(store: &Store) -> (usize, u64) {
    let (_, r) = store.load_reports().iter().find(|(name, _)| name == "t-0").unwrap();
    (r.recovered_segments, r.truncated_bytes)
}

fn crash(dir: &Path) {
    std::fs::remove_file(dir.join(".kafka_cleanshutdown")).unwrap();
}

// ---------------------------------------------------------------------------------------------
// recovery-point-offset-checkpoint
// ---------------------------------------------------------------------------------------------

/// The file is written whole (tmp, fsync, rename, directory fsync), so a torn
/// one is damage, not a crash: with it the clean-shutdown marker no longer
/// vouches for the data, and every segment is re-validated.
#[test]
fn a_torn_recovery_point_checkpoint_makes_a_clean_directory_recover_every_segment() {
    for torn in [
        "0\n1\nt 0 1",
        "0\n3\nt 0 100\n",
        "0\n1\nt 0 100\ngarbage\n",
        "\u{0}\u{0}\u{0}",
        "0\n1\nt 0 \u{ff}",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        four_segments(tmp.path());
        corrupt_value(tmp.path(), 5);
        let file = tmp.path().join(RECOVERY);
        std::fs::write(&file, torn).unwrap();
        let store = open(tmp.path()).unwrap();
        let (segments, cut) = recovered(&store);
        assert!(
            segments >= 1 && cut > 0,
            "{torn:?}: damaged data served unchecked ({segments} segments recovered, {cut} bytes cut)"
        );
        assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 5, "{torn:?}");
        let ignored = store.ignored_entries();
        assert!(
            ignored.iter().any(|(p, why)| p == &file && why.contains("recover")),
            "{torn:?}: the file and what was done are reported: {ignored:?}"
        );
        store.close().unwrap();
    }
}

/// Non-UTF-8 bytes are as corrupt as any other damage.
#[test]
fn a_non_utf8_recovery_point_checkpoint_is_reported_and_recovers_everything() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path());
    corrupt_value(tmp.path(), 5);
    std::fs::write(tmp.path().join(RECOVERY), b"0\n1\nt 0 1\xff\xfe\n").unwrap();
    let store = open(tmp.path()).unwrap();
    assert!(recovered(&store).1 > 0, "damaged data served unchecked");
    store.close().unwrap();
}

/// After a crash, a recovery point past the end of the data cannot be what
/// a flush recorded: it vouches for nothing, and every segment is
/// re-validated (Kafka would re-validate only the last).
#[test]
fn a_recovery_point_past_the_log_end_after_a_crash_recovers_every_segment() {
    for point in [101, 1_000_000, i64::MAX] {
        let tmp = tempfile::tempdir().unwrap();
        four_segments(tmp.path());
        corrupt_value(tmp.path(), 5);
        crash(tmp.path());
        std::fs::write(tmp.path().join(RECOVERY), format!("0\n1\nt 0 {point}\n")).unwrap();
        let store = open(tmp.path()).unwrap();
        let (segments, cut) = recovered(&store);
        assert!(
            cut > 0,
            "recovery point {point}: damaged data served unchecked ({segments} segments recovered)"
        );
        assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 5);
        let (_, report) = &store.load_reports()[0];
        assert_eq!(report.distrusted_recovery_point, Some(point));
        store.close().unwrap();
    }
}

/// A recovery point at the log end after a crash is believed, as Kafka does:
/// flushed data is not read again.
#[test]
fn a_recovery_point_at_the_log_end_after_a_crash_is_believed() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path());
    crash(tmp.path());
    std::fs::write(tmp.path().join(RECOVERY), "0\n1\nt 0 100\n").unwrap();
    let store = open(tmp.path()).unwrap();
    assert_eq!(recovered(&store), (1, 0), "only the active segment is re-validated");
    assert_eq!(store.load_reports()[0].1.distrusted_recovery_point, None);
    store.close().unwrap();
}

/// A negative recovery point recovers from the first segment (Kafka's floor).
#[test]
fn a_negative_recovery_point_after_a_crash_recovers_every_segment() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path());
    corrupt_value(tmp.path(), 5);
    crash(tmp.path());
    std::fs::write(tmp.path().join(RECOVERY), "0\n1\nt 0 -7\n").unwrap();
    let store = open(tmp.path()).unwrap();
    assert!(recovered(&store).1 > 0);
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 5);
    store.close().unwrap();
}

/// A partition named twice: no writer (Kafka's or strata's, both from a map)
/// writes that, so the file is damage and read as such, not "last one wins".
#[test]
fn a_recovery_point_checkpoint_naming_a_partition_twice_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path());
    corrupt_value(tmp.path(), 5);
    crash(tmp.path());
    let file = tmp.path().join(RECOVERY);
    std::fs::write(&file, "0\n2\nt 0 0\nt 0 60\n").unwrap();
    let store = open(tmp.path()).unwrap();
    let ignored = store.ignored_entries();
    assert!(
        ignored
            .iter()
            .any(|(p, why)| p == &file && why.contains("line 4") && why.contains("twice")),
        "{ignored:?}"
    );
    assert!(recovered(&store).1 > 0, "damaged data served unchecked");
    store.close().unwrap();
}

/// A count line far beyond the entries costs nothing and is corrupt.
#[test]
fn a_huge_count_is_corrupt_and_allocates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path());
    let file = tmp.path().join(RECOVERY);
    std::fs::write(&file, "0\n2147483647\nt 0 100\n").unwrap();
    let store = open(tmp.path()).unwrap();
    assert!(store.ignored_entries().iter().any(|(p, _)| p == &file));
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 100);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// log-start-offset-checkpoint
// ---------------------------------------------------------------------------------------------

/// Garbled or negative: the log starts at its first segment (Kafka's reset),
/// nothing is deleted.
#[test]
fn a_garbled_or_negative_log_start_offset_deletes_nothing() {
    for text in ["0\n1\nt 0 x\n", "0\n1\nt 0 -5\n", "0\n2\nt 0 5\n", "\u{ff}"] {
        let tmp = tempfile::tempdir().unwrap();
        four_segments(tmp.path());
        std::fs::write(tmp.path().join(STARTS), text).unwrap();
        let store = open(tmp.path()).unwrap();
        let log = store.partition("t", 0).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 100), "{text:?}");
        store.close().unwrap();
    }
}

/// Past the log end: as Kafka's `LogLoader`, every record on disk is below
/// the start (deleted), so the data is dropped and the log restarts there,
/// and the report says so. At `i64::MAX` the restarted log refuses appends
/// with an error; it never overflows an offset.
#[test]
fn a_log_start_offset_past_the_log_end_restarts_the_log_there_and_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path());
    std::fs::write(tmp.path().join(STARTS), "0\n1\nt 0 150\n").unwrap();
    let store = open(tmp.path()).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (150, 150));
    assert_eq!(store.load_reports()[0].1.restarted_at, Some(150));
    store.close().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    four_segments(tmp.path());
    std::fs::write(tmp.path().join(STARTS), format!("0\n1\nt 0 {}\n", i64::MAX)).unwrap();
    let store = open(tmp.path()).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!(store.load_reports()[0].1.restarted_at, Some(i64::MAX));
    let appended = log.append(&[Record::new("k", "v")]);
    assert!(matches!(appended, Err(strata::Error::InvalidRequest(_))), "{appended:?}");
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// cleaner-offset-checkpoint
// ---------------------------------------------------------------------------------------------

/// Garbled, negative or past the end: the cleaner starts from the log start
/// (Kafka's `cleanableOffsets` reset), never from a point that skips records.
#[test]
fn a_garbled_or_stray_cleaner_offset_restarts_cleaning_from_the_log_start() {
    for text in ["0\n1\nt 0 x\n", "0\n1\nt 0 -5\n", "0\n1\nt 0 1000\n"] {
        let tmp = tempfile::tempdir().unwrap();
        four_segments(tmp.path());
        std::fs::write(tmp.path().join(CLEANER), text).unwrap();
        let store = open(tmp.path()).unwrap();
        let log = store.partition("t", 0).unwrap();
        assert!(
            matches!(log.cleaner_checkpoint(), None | Some(0)),
            "{text:?}: {:?}",
            log.cleaner_checkpoint()
        );
        assert_eq!(log.log_end_offset(), 100);
        store.close().unwrap();
    }
}
