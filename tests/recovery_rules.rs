//! Kafka's recovery rules where strata used to differ: damage is repaired
//! where it is, indexes that lie are caught, corruption is an error and
//! never a skip or data, lookups answer as Kafka does, and every config Kafka
//! accepts works.
//!
//! Every directory a test leaves behind is handed to the independent
//! checkers (`kafka_verify.py`, and Kafka's own reader when it is built).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use strata::Error;
use strata::LogConfig;
use strata::ManualClock;
use strata::internals::format::{BatchBuilder, BatchIter, Record};
use strata::{LoadOptions, LoadReport, Log, OffsetSpec};

const NOW: i64 = 1_700_000_000_000;
const INTERVAL: u64 = 100;
const SEGMENT_BYTES: u64 = 2048;

fn config() -> LogConfig {
    LogConfig::default()
        .segment_bytes(SEGMENT_BYTES)
        .index_interval_bytes(INTERVAL)
        .segment_index_bytes(4096)
}

fn open_with(dir: &Path, cfg: LogConfig, options: LoadOptions) -> (Log, LoadReport) {
    Log::open(dir, "t", 0, cfg, ManualClock::new(NOW), options).unwrap()
}

fn clean() -> LoadOptions {
    LoadOptions::clean()
}

fn unclean(recovery_point: i64) -> LoadOptions {
    LoadOptions::default().with_recovery_point(recovery_point)
}

/// The value of record `i`: its offset is `i` in these tests.
fn value(i: i64) -> String {
    format!("value-{i}-{}", "x".repeat((i as usize * 7) % 40))
}

/// Appends records `from..to` as one batch each (timestamp `NOW + i`).
fn append_range(log: &Log, from: i64, to: i64) {
    for i in from..to {
        let mut b = BatchBuilder::new(0);
        b.append(&Record::new(format!("k{i}"), value(i)).timestamp(NOW + i)).unwrap();
        let info = log.append_batch(b.build().unwrap()).unwrap();
        assert_eq!(info.base_offset, i);
    }
}

/// A closed log of `n` one-record batches (offsets `0..n`) over several segments.
fn closed_log(dir: &Path, n: i64) {
    let (log, _) = open_with(dir, config(), clean());
    append_range(&log, 0, n);
    log.close().unwrap();
}

fn segment_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Base offsets of the `.log` files of `dir`, sorted.
fn bases(dir: &Path) -> Vec<i64> {
    let mut out: Vec<i64> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log").and_then(|b| b.parse().ok())
        })
        .collect();
    out.sort_unstable();
    out
}

/// `(position, base offset, size)` of every batch of a `.log` file.
fn batches_of(path: &Path) -> Vec<(usize, i64, usize)> {
    BatchIter::new(fs::read(path).unwrap().into())
        .map(|(pos, b)| (pos, b.base_offset(), b.size()))
        .collect()
}

/// Every offset of `offsets` read on its own: the first record is that offset's, with its value.
fn assert_offsets_read(log: &Log, offsets: impl IntoIterator<Item = i64>) {
    for o in offsets {
        let fetched = log.read(o, 1).unwrap_or_else(|e| panic!("read({o}): {e}"));
        let r = fetched.records().next().unwrap_or_else(|| panic!("read({o}) is empty")).unwrap();
        assert_eq!(r.offset(), o, "read({o}) starts at another record");
        assert_eq!(r.value().unwrap().as_ref(), value(o).as_bytes(), "read({o})");
    }
}

/// Reads from the log start offset onwards until the end; returns the offsets seen, or the
/// first error.
fn read_sequentially(log: &Log) -> Result<Vec<i64>, Error> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let fetched = log.read(next, 300)?;
        for r in fetched.records() {
            out.push(r?.offset());
        }
        assert!(fetched.next_offset() > next);
        next = fetched.next_offset();
    }
    Ok(out)
}

fn write_at(path: &Path, position: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt as _;
    fs::OpenOptions::new().write(true).open(path).unwrap().write_all_at(bytes, position).unwrap();
}

fn set_len(path: &Path, len: u64) {
    fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// The offset-index entries `(relative offset, position)` of an `.index` file.
fn index_entries(path: &Path) -> Vec<(i32, i32)> {
    fs::read(path)
        .unwrap()
        .chunks_exact(8)
        .map(|c| {
            (
                i32::from_be_bytes(c[..4].try_into().unwrap()),
                i32::from_be_bytes(c[4..].try_into().unwrap()),
            )
        })
        .collect()
}

fn assert_corrupt_names(e: &Error, path: &Path, position: u64) {
    match e {
        Error::Corrupt { path: p, position: at, .. } => {
            assert_eq!((p.as_path(), *at), (path, position), "{e}");
        }
        other => panic!("expected a corruption error naming {}: {other}", path.display()),
    }
}

// ---------------------------------------------------------------------------------------------
// Load: Kafka's LogLoader rules
// ---------------------------------------------------------------------------------------------

#[test]
fn log_start_checkpoint_ahead_of_the_log_end_restarts_the_log_at_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    closed_log(&dir, 30);
    // The checkpoint of a `delete_records(50)` reached the disk; the data did not.
    let options = LoadOptions::default().with_log_start_offset(50);
    let (log, report) = open_with(&dir, config(), options);
    assert_eq!(report.restarted_at, Some(50));
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    assert_eq!(bases(&dir), [50]);
    assert!(matches!(log.read(10, 100), Err(Error::OffsetOutOfRange { .. })));
    append_range(&log, 50, 55); // offsets below 50 are never handed out again
    assert_offsets_read(&log, 50..55);
    log.close().unwrap();
    let (log, _) = open_with(&dir, config(), clean().with_log_start_offset(50));
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 55));
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn missing_index_and_a_bad_batch_in_an_old_segment_truncate_only_that_segment_after_a_clean_shutdown()
 {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    closed_log(&dir, 80);
    let all = bases(&dir);
    assert!(all.len() >= 4, "{all:?}");
    let victim = segment_path(&dir, all[1], "log");
    let batches = batches_of(&victim);
    let (pos, bad_offset, _) = batches[batches.len() / 2];
    fs::remove_file(segment_path(&dir, all[1], "index")).unwrap();
    write_at(&victim, pos as u64 + 40, b"\xff\xff"); // the CRC no longer matches
    let (log, report) = open_with(&dir, config(), clean());
    assert_eq!(bases(&dir), all, "every later segment is kept");
    assert_eq!(report.dropped_segments, 0);
    assert_eq!(report.truncations.len(), 1, "{report:?}");
    assert_eq!(report.repaired_segments.len(), 1, "{report:?}");
    assert_offsets_read(&log, (0..bad_offset).chain(all[2]..80));
    assert_eq!(log.log_end_offset(), 80);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn index_entries_past_the_file_or_not_increasing_are_detected_at_open_and_rebuilt_on_disk() {
    for damage in ["past the file", "not increasing", "garbage"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        closed_log(&dir, 60);
        let all = bases(&dir);
        let index = segment_path(&dir, all[0], "index");
        let live = fs::read(&index).unwrap();
        assert!(live.len() >= 16, "the test needs two entries");
        match damage {
            "past the file" => write_at(&index, live.len() as u64 - 4, &1_000_000i32.to_be_bytes()),
            "not increasing" => write_at(&index, 8, &live[..8]),
            _ => write_at(&index, 0, &[0x5a; 16]),
        }
        let (log, report) = open_with(&dir, config(), clean());
        assert_eq!(report.repaired_segments.len(), 1, "{damage}: {report:?}");
        assert_eq!(fs::read(&index).unwrap(), live, "{damage}: the .index is rebuilt on disk");
        assert_offsets_read(&log, 0..60);
        log.close().unwrap();
        assert_eq!(bases(&dir), all);
        common::assert_kafka_valid(&dir, INTERVAL);
    }
}

/// The clean-shutdown tail cases of issue 10 item 5: the batch the last index entry of the
/// active segment points at is zeroed or cut.
fn tail_damage_is_recovered(zero: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let cfg = config().segment_bytes(1 << 20);
    let (log, _) = open_with(&dir, cfg.clone(), clean());
    append_range(&log, 0, 40);
    log.close().unwrap();
    let entries = index_entries(&segment_path(&dir, 0, "index"));
    let (rel, pos) = *entries.last().unwrap();
    let path = segment_path(&dir, 0, "log");
    let len = fs::metadata(&path).unwrap().len();
    if zero {
        write_at(&path, pos as u64, &vec![0; (len - pos as u64) as usize]);
    } else {
        set_len(&path, pos as u64 + 10);
    }
    let (log, report) = open_with(&dir, cfg, clean());
    // The batch the entry points at holds offset `rel` (one record per batch).
    let lost = i64::from(rel);
    assert_eq!(log.log_end_offset(), lost, "{report:?}");
    assert_offsets_read(&log, 0..lost);
    append_range(&log, lost, lost + 5); // the next offsets are new, and read back as written
    assert_offsets_read(&log, 0..lost + 5);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn zeroed_batch_at_the_last_index_entry_after_a_clean_shutdown_is_recovered_without_reusing_offsets()
 {
    tail_damage_is_recovered(true);
}

#[test]
fn cut_batch_at_the_last_index_entry_after_a_clean_shutdown_is_recovered_without_reusing_offsets() {
    tail_damage_is_recovered(false);
}

#[test]
fn rebuilt_index_grows_when_segment_index_bytes_was_lowered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let big = config().segment_bytes(1 << 20);
    let (log, _) = open_with(&dir, big.clone(), clean());
    append_range(&log, 0, 60);
    log.roll().unwrap();
    append_range(&log, 60, 120);
    log.close().unwrap();
    let live = fs::read(segment_path(&dir, 0, "index")).unwrap();
    assert!(live.len() > 3 * 8);
    // Lowered at run time, then a crash: the rebuild needs more entries than 24 bytes hold.
    let small = big.segment_index_bytes(24);
    let (log, report) = open_with(&dir, small, unclean(0));
    assert_eq!(report.recovered_segments, 2);
    assert_offsets_read(&log, 0..120);
    append_range(&log, 120, 130);
    log.close().unwrap();
    assert_eq!(fs::read(segment_path(&dir, 0, "index")).unwrap(), live);
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn reopened_segment_counts_index_interval_from_its_last_entry_so_live_equals_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let cfg = config().segment_bytes(1 << 20);
    // Several sessions append to the same active segment.
    for session in 0..4 {
        let (log, _) = open_with(&dir, cfg.clone(), clean());
        append_range(&log, session * 7, session * 7 + 7);
        log.close().unwrap();
    }
    let live = fs::read(segment_path(&dir, 0, "index")).unwrap();
    fs::remove_file(segment_path(&dir, 0, "index")).unwrap();
    let (log, _) = open_with(&dir, cfg, clean());
    log.close().unwrap();
    // (The time index differs by the final entry every clean close adds, in Kafka too.)
    assert_eq!(index_entries(&segment_path(&dir, 0, "index")), index_entries_of(&live));
    common::assert_kafka_accepts(&dir, INTERVAL);
}

fn index_entries_of(bytes: &[u8]) -> Vec<(i32, i32)> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), bytes).unwrap();
    index_entries(tmp.path())
}

// ---------------------------------------------------------------------------------------------
// Reads: corruption is an error, never a skip, never data
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_length_in_the_middle_of_a_sealed_segment_fails_reads_naming_file_and_position() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    closed_log(&dir, 60);
    let all = bases(&dir);
    let victim = segment_path(&dir, all[0], "log");
    let batches = batches_of(&victim);
    // Before the last index entry's batch, so the open-time check has nothing to see.
    let (pos, bad_offset, _) = batches[2];
    write_at(&victim, pos as u64 + 8, &3i32.to_be_bytes());
    let (log, _) = open_with(&dir, config(), clean());
    let e = read_sequentially(&log).unwrap_err();
    assert_corrupt_names(&e, &victim, pos as u64);
    let e = log.read(bad_offset, 100).unwrap_err();
    assert_corrupt_names(&e, &victim, pos as u64);
    assert_offsets_read(&log, 0..bad_offset);
    assert_offsets_read(&log, all[1]..60);
    log.close().unwrap();
}

#[test]
fn flipped_byte_in_a_sealed_segment_is_a_corruption_error_from_records_never_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    closed_log(&dir, 60);
    let all = bases(&dir);
    let victim = segment_path(&dir, all[0], "log");
    let (pos, offset, size) = batches_of(&victim)[3];
    let last = pos as u64 + size as u64 - 3; // a byte of the record's value
    let byte = fs::read(&victim).unwrap()[last as usize];
    write_at(&victim, last, &[byte ^ 0x20]);
    // Below the recovery point: the files are trusted and the bit rot stays.
    let (log, _) = open_with(&dir, config(), unclean(60));
    let fetched = log.read(offset, 1).unwrap();
    let e = fetched.records().next().unwrap().unwrap_err();
    assert_corrupt_names(&e, &victim, pos as u64);
    assert!(e.to_string().contains("crc"), "{e}");
    assert_eq!(fetched.records().count(), 1, "nothing is decoded after the error");
    // The opt-out for callers that check CRCs themselves.
    let r = fetched.records_unchecked().next().unwrap().unwrap();
    assert_ne!(r.value().unwrap().as_ref(), value(offset).as_bytes());
    // Time lookups decode records too.
    assert!(matches!(
        log.offset_for_time(OffsetSpec::Timestamp(NOW + offset)),
        Err(Error::Corrupt { .. })
    ));
    log.close().unwrap();
}

#[test]
fn logtool_consume_reports_corruption_naming_file_and_position() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    common::logtool_ok(&[root], &["topic-create", "c", "--partitions", "1"], b"");
    let input: String = (0..20).map(|i| format!("k{i}::v{i}\n")).collect();
    common::logtool_ok(
        &[root],
        &["produce", "c", "--partition", "0", "--key-separator", "::"],
        input.as_bytes(),
    );
    let log = root.join("c-0").join(format!("{:020}.log", 0));
    let (pos, _, size) = batches_of(&log)[0];
    let last = pos as u64 + size as u64 - 1;
    let byte = fs::read(&log).unwrap()[last as usize];
    write_at(&log, last, &[byte ^ 0x01]);
    let out = common::logtool_run(&[root], false, &["consume", "c", "--from-beginning"], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "stdout: {stdout}");
    assert!(stderr.contains(&log.display().to_string()), "{stderr}");
    assert!(stderr.contains(&format!("byte {pos}")), "{stderr}");
}

#[test]
fn lying_index_entry_never_makes_reads_skip_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    closed_log(&dir, 60);
    let all = bases(&dir);
    let index = segment_path(&dir, all[0], "index");
    let entries = index_entries(&index);
    assert!(entries.len() >= 3, "{entries:?}");
    // Entry 0 keeps its offset but points at entry 1's batch, which starts above it: the index
    // is still increasing and its last entry true, so only a read can notice.
    write_at(&index, 4, &entries[1].1.to_be_bytes());
    let (log, _) = open_with(&dir, config(), unclean(60));
    assert_offsets_read(&log, 0..60);
    assert_eq!(read_sequentially(&log).unwrap(), (0..60).collect::<Vec<_>>());
    log.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Lookups as Kafka answers them
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_time_index_on_a_sealed_segment_does_not_hide_it_from_time_lookups() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    closed_log(&dir, 60);
    let all = bases(&dir);
    // Kafka creates a missing .timeindex empty; so may an old broker have left it.
    set_len(&segment_path(&dir, all[0], "timeindex"), 0);
    let (log, _) = open_with(&dir, config(), clean());
    for o in [0, 3, all[1] - 1] {
        let found = log.offset_for_time(OffsetSpec::Timestamp(NOW + o)).unwrap().unwrap();
        assert_eq!((found.offset, found.timestamp), (o, Some(NOW + o)));
    }
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn max_timestamp_below_the_log_start_offset_is_answered_as_kafka_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open_with(&dir, config().segment_bytes(1 << 20), clean());
    for (i, ts) in [(0, NOW), (1, NOW + 500), (2, NOW + 10), (3, NOW + 20)] {
        let mut b = BatchBuilder::new(0);
        b.append(&Record::new("k", value(i)).timestamp(ts)).unwrap();
        log.append_batch(b.build().unwrap()).unwrap();
    }
    log.delete_records(2).unwrap();
    // Kafka's `fetchOffsetByTimestamp(MAX_TIMESTAMP)` does not filter by the log start offset.
    let found = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
    assert_eq!(found.map(|f| (f.offset, f.timestamp)), Some((1, Some(NOW + 500))));
    log.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Configs Kafka accepts
// ---------------------------------------------------------------------------------------------

#[test]
fn every_segment_index_bytes_kafka_accepts_opens_and_rolls() {
    for size in [4u64, 7, 8, 11, 12, 16, 23, 24, 100] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let cfg = config().segment_index_bytes(size).index_interval_bytes(0);
        let (log, _) = open_with(&dir, cfg.clone(), clean());
        append_range(&log, 0, 12);
        assert!(log.segment_count() > 1, "size {size}: a full index rolls");
        log.close().unwrap();
        let (log, _) = open_with(&dir, cfg.clone(), clean());
        append_range(&log, 12, 20);
        assert_offsets_read(&log, 0..20);
        log.close().unwrap();
        let (log, _) = open_with(&dir, cfg, unclean(0));
        assert_offsets_read(&log, 0..20);
        log.close().unwrap();
        common::assert_kafka_valid(&dir, 0);
    }
}

#[test]
fn set_config_refuses_a_config_the_next_roll_cannot_honour() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open_with(&dir, config(), clean());
    append_range(&log, 0, 5);
    let e = log.set_config(config().segment_index_bytes(2)).unwrap_err();
    assert!(matches!(&e, Error::InvalidConfig { key, .. } if key == "segment.index.bytes"), "{e}");
    assert_eq!(log.config().segment_index_bytes, 4096, "the old config stays");
    log.set_config(config().segment_index_bytes(4)).unwrap();
    log.roll().unwrap();
    append_range(&log, 5, 10);
    assert_offsets_read(&log, 0..10);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

/// A v2 batch's base offset lies outside its CRC: a flipped bit made the
/// last batch of segment 0 claim offset 432345564227567636, past the base
/// (25) of the segment after it. That is damage, not a legacy segment whose
/// offsets overflow its base (KAFKA-6264): the open split it into a part at
/// the jumped offset, ahead of segment 25 and out of order with it
/// (`[0, 432345564227567636, 25]`), and a read of one byte at 30 then served
/// the batch of 25 and no record (the partition_dir fuzz target found it).
/// Recovery cuts the damaged batch instead and, as Kafka's `LogLoader` does
/// after a cut, removes the segments after it: the log ends where its last
/// valid batch does, and every record before it is served where it is.
#[test]
fn a_batch_whose_base_offset_jumped_past_the_next_segment_is_cut_not_split_out_of_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    let batch = |base: i64| {
        let mut b = BatchBuilder::new(base);
        for o in base..base + 5 {
            b.append(&Record::new(format!("k{o}"), "v").timestamp(NOW)).unwrap();
        }
        b.build().unwrap().to_vec()
    };
    let log_of = |bases: &[i64]| bases.iter().flat_map(|&b| batch(b)).collect::<Vec<u8>>();
    let mut first = log_of(&[0, 5, 10, 15, 20]);
    // The last batch's base offset (its first byte): 20 becomes 0x0600_0000_0000_0014.
    let last = first.len() - batch(20).len();
    first[last] ^= 0x06;
    fs::write(dir.join("00000000000000000000.log"), &first).unwrap();
    fs::write(dir.join("00000000000000000025.log"), log_of(&[25, 30, 35])).unwrap();

    let (log, report) = open_with(&dir, config(), LoadOptions::default());
    assert_eq!(report.split_segments, 0, "{report:?}");
    assert_eq!(log.segment_base_offsets(), vec![0]);
    assert_eq!(log.log_end_offset(), 20);
    let mut served = Vec::new();
    for o in 0..20 {
        let fetched = log.read(o, 1).unwrap();
        if let Some(r) = fetched.records().next() {
            let r = r.unwrap();
            if r.offset() == o {
                served.push(o);
            }
        }
    }
    assert_eq!(served, (0..20).collect::<Vec<i64>>());
    assert_eq!(log.append(&[Record::new("k", "v")]).unwrap().base_offset, 20);
    log.close().unwrap();
}
