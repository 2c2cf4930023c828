//! Opening a partition directory after a crash: torn, corrupt and zero-filled
//! tails, lost and damaged indexes, leftovers of interrupted work, the
//! clean-shutdown marker and the recovery point, crash images cut back to the
//! lengths that were fsynced, injected I/O faults, and poisoning after a
//! failed write or fsync.
//!
//! Every directory a test leaves behind is handed to the independent
//! checkers (`kafka_verify.py`, and Kafka's own reader when it is built).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;
mod crash_images;
mod faults;
mod indexes;
mod large_segment;
mod one_pass;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata::Error;
use strata::ManualClock;
use strata::Store;
use strata::internals::format::{BatchBuilder, BatchIter, Compression, Header, Record, StopReason};
use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::{AppendInfo, LoadOptions, LoadReport, Log, OffsetSpec};
use strata::{LogConfig, StoreConfig};

/// The clock every log of this file reads.
const NOW: i64 = 1_700_000_000_000;
/// `index.interval.bytes`: small, so that segments get several entries.
const INTERVAL: u64 = 100;
/// `segment.bytes`: small, so that a few dozen batches make several segments.
const SEGMENT_BYTES: u64 = 2048;

fn config() -> LogConfig {
    LogConfig::default()
        .segment_bytes(SEGMENT_BYTES)
        .index_interval_bytes(INTERVAL)
        .segment_index_bytes(4096)
}

fn open(dir: &Path, options: LoadOptions) -> (Log, LoadReport) {
    Log::open(dir, "t", 0, config(), ManualClock::new(NOW), options).unwrap()
}

fn clean() -> LoadOptions {
    LoadOptions::clean()
}

fn unclean(recovery_point: i64) -> LoadOptions {
    LoadOptions::default().with_recovery_point(recovery_point)
}

/// A record as the tests expect to read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<Header>,
}

/// The `i`th record of the test data. Sizes, keys and headers vary, and
/// timestamps sometimes go backwards, so both indexes get work to do.
fn record(i: usize) -> Record {
    let value = format!("value-{i}-{}", "x".repeat(i * 7 % 40));
    let mut r = if i % 5 == 3 {
        Record::unkeyed(value)
    } else {
        Record::new(format!("key-{}", i % 13), value)
    };
    if i % 4 == 1 {
        r = r.header("h", format!("{i}"));
    }
    r.timestamp(NOW - 100_000 + (i as i64 * 37 % 101) * 10)
}

/// Appends `records` as one client batch compressed with `codec`, and
/// extends `recs` with what should now be readable.
fn append(log: &Log, recs: &mut Vec<Rec>, records: &[Record], codec: Compression) -> AppendInfo {
    // Without the codec's feature (`--no-default-features`) recovery is checked uncompressed.
    let codec = if codec.is_available() { codec } else { Compression::None };
    let mut b = BatchBuilder::new(0).compression(codec, None);
    for r in records {
        b.append(r).unwrap();
    }
    let info = log.append_batch(b.build().unwrap()).unwrap();
    assert_eq!(info.base_offset, recs.last().map_or(log.log_start_offset(), |r| r.offset + 1));
    for (i, r) in records.iter().enumerate() {
        recs.push(Rec {
            offset: info.base_offset + i as i64,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        });
    }
    info
}

/// The codec of the `j`th batch of [`write_batches`]: mostly none, every codec now and then.
fn codec(j: usize) -> Compression {
    match j % 9 {
        2 => Compression::Gzip,
        4 => Compression::Lz4,
        6 => Compression::Zstd,
        8 => Compression::Snappy,
        _ => Compression::None,
    }
}

/// Appends `batches` batches of 1 to 4 records, numbering records from `recs.len()`.
fn write_batches(log: &Log, recs: &mut Vec<Rec>, batches: usize) -> Vec<AppendInfo> {
    let mut infos = Vec::new();
    for j in 0..batches {
        let first = recs.len();
        let records: Vec<Record> = (first..first + 1 + j % 4).map(record).collect();
        infos.push(append(log, recs, &records, codec(first)));
    }
    infos
}

/// Every record from the log start to the end, through `Log::read`.
fn read_all(log: &Log) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    loop {
        let fetched = log.read(next, 1 << 20).unwrap();
        if fetched.is_empty() {
            break;
        }
        for r in fetched.records() {
            let r = r.unwrap();
            out.push(Rec {
                offset: r.offset(),
                timestamp: r.timestamp(),
                key: r.key().cloned(),
                value: r.value().cloned(),
                headers: r.headers().to_vec(),
            });
        }
        assert!(fetched.next_offset() > next, "a non-empty read must move forward");
        next = fetched.next_offset();
    }
    assert_eq!(next, log.log_end_offset());
    out
}

/// Reads each offset on its own (an index lookup each time): the first record
/// returned is that offset's.
fn assert_every_offset_reads(log: &Log, recs: &[Rec]) {
    for r in recs {
        let fetched = log.read(r.offset, 1).unwrap();
        let first = fetched.batches().next().unwrap();
        assert!(first.base_offset() <= r.offset && r.offset <= first.last_offset());
        let got = fetched.records().next().unwrap().unwrap();
        assert_eq!((got.offset(), got.value()), (r.offset, r.value.as_ref()));
    }
}

/// `offset_for_time` agrees with a scan of `recs` for every timestamp around the data.
fn assert_time_lookups(log: &Log, recs: &[Rec]) {
    let mut targets: BTreeSet<i64> =
        recs.iter().flat_map(|r| [r.timestamp - 1, r.timestamp]).collect();
    targets.insert(recs.iter().map(|r| r.timestamp).max().unwrap_or(0) + 1);
    for ts in targets {
        let expected =
            recs.iter().find(|r| r.timestamp >= ts).map(|r| (r.offset, Some(r.timestamp)));
        let got = log.offset_for_time(OffsetSpec::Timestamp(ts)).unwrap();
        assert_eq!(got.map(|t| (t.offset, t.timestamp)), expected, "offset_for_time({ts})");
    }
}

fn name(base: i64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

/// Every file of `dir` by name, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The `.index` and `.timeindex` files of `dir`, with their bytes.
fn index_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .filter(|(n, _)| n.ends_with(".index") || n.ends_with(".timeindex"))
        .collect()
}

fn set_len(path: &Path, len: u64) {
    fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// `(position, base offset, size)` of every batch of a `.log` file, read with the format layer
/// only.
fn batches_of(path: &Path) -> Vec<(usize, i64, usize)> {
    BatchIter::new(Bytes::from(fs::read(path).unwrap()))
        .map(|(pos, b)| (pos, b.base_offset(), b.size()))
        .collect()
}

/// A fresh copy of `src` in a new temporary directory, as `<tmp>/t-0`.
fn copy_of(src: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    common::copy_dir(src, &dir).unwrap();
    (tmp, dir)
}

/// A log of `batches` batches over several segments, written in one session
/// and closed cleanly; returns the records it holds.
fn closed_log(dir: &Path, batches: usize) -> Vec<Rec> {
    let (log, _) = open(dir, clean());
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, batches);
    assert!(log.segment_count() >= 3, "the workload should roll: {:?}", log.segment_base_offsets());
    log.close().unwrap();
    recs
}

// ---------------------------------------------------------------------------------------------
// Torn, corrupt and zero-filled tails

#[test]
fn torn_tail_is_truncated_to_last_valid_batch_at_every_cut_position() {
    for last_codec in [Compression::None, Compression::Gzip] {
        let image = tempfile::tempdir().unwrap();
        let src = image.path().join("t-0");
        let (log, _) = open(&src, unclean(0));
        let mut recs = Vec::new();
        write_batches(&log, &mut recs, 30);
        let bases = log.segment_base_offsets();
        let last = append(&log, &mut recs, &[Record::new("k", "v").timestamp(NOW)], last_codec);
        assert_eq!(log.segment_base_offsets(), bases, "the last batch must not start a segment");
        assert!(bases.len() >= 2);
        drop(log); // no close: the shape a crash leaves
        let kept = &recs[..recs.len() - 1];
        let log_name = name(*bases.last().unwrap(), "log");
        let full = fs::read(src.join(&log_name)).unwrap();
        let last_pos = full.len() - last.size;

        let mut reference: Option<BTreeMap<String, Vec<u8>>> = None;
        for cut in last_pos..full.len() {
            let (_tmp, dir) = copy_of(&src);
            let path = dir.join(&log_name);
            set_len(&path, cut as u64);
            let ctx =
                format!("{last_codec:?} batch at {last_pos} ({} bytes) cut at {cut}", last.size);

            let (log, report) = open(&dir, unclean(0));
            assert_eq!(log.log_end_offset(), last.base_offset, "{ctx}");
            assert_eq!(report.truncated_bytes, (cut - last_pos) as u64, "{ctx}");
            assert_eq!((report.recovered_segments, report.dropped_segments), (bases.len(), 0));
            let torn = &full[last_pos..cut];
            let expected: Vec<(PathBuf, StopReason)> = if torn.is_empty() {
                Vec::new()
            } else if torn.iter().all(|&b| b == 0) {
                // The first bytes of a batch are its base offset's high bytes, zero here.
                vec![(path.clone(), StopReason::ZeroTail { position: last_pos, len: torn.len() })]
            } else {
                let needed = if torn.len() < 17 { 17 } else { last.size };
                let available = torn.len();
                vec![(path.clone(), StopReason::TornTail { position: last_pos, needed, available })]
            };
            assert_eq!(report.truncations, expected, "{ctx}");
            assert_eq!(fs::metadata(&path).unwrap().len(), last_pos as u64, "{ctx}");
            assert_eq!(read_all(&log), kept, "{ctx}");

            // The log goes on from the end of the valid prefix.
            let mut more = kept.to_vec();
            let again =
                append(&log, &mut more, &[Record::new("k2", "v2").timestamp(NOW)], last_codec);
            assert_eq!(again.base_offset, last.base_offset, "{ctx}");
            assert_eq!(read_all(&log), more, "{ctx}");
            log.close().unwrap();

            // Every cut recovers to the same bytes; the first is checked by the independent tools.
            let now = files(&dir);
            match &reference {
                None => {
                    common::assert_kafka_accepts(&dir, INTERVAL);
                    reference = Some(now);
                }
                Some(r) => assert!(r == &now, "{ctx}: files differ from the first cut's"),
            }
        }
    }
}

#[test]
fn flipped_byte_in_a_middle_segment_truncates_there_and_drops_later_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open(&dir, unclean(0));
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 60);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "{bases:?}");
    drop(log);

    let victim = dir.join(name(bases[1], "log"));
    let batches = batches_of(&victim);
    let (position, bad_base, size) = batches[1];
    assert!(size > 64);
    let mut bytes = fs::read(&victim).unwrap();
    let seg_len = bytes.len();
    bytes[position + 63] ^= 0x40; // inside the records: only the CRC notices
    fs::write(&victim, &bytes).unwrap();

    let (log, report) = open(&dir, unclean(0));
    assert_eq!(log.log_end_offset(), bad_base);
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    assert_eq!(report.dropped_segments, bases.len() - 2);
    assert_eq!(report.truncated_bytes, (seg_len - position) as u64);
    assert_eq!(report.truncations.len(), 1, "{:?}", report.truncations);
    let (path, stop) = &report.truncations[0];
    assert_eq!(path, &victim);
    assert!(matches!(stop, StopReason::Corrupt { position: p, .. } if *p == position), "{stop:?}");
    assert_eq!(fs::metadata(&victim).unwrap().len(), position as u64);
    for &later in &bases[2..] {
        for ext in ["log", "index", "timeindex"] {
            assert!(!dir.join(name(later, ext)).exists(), "{} survived", name(later, ext));
        }
    }
    let kept: Vec<Rec> = recs.iter().filter(|r| r.offset < bad_base).cloned().collect();
    assert_eq!(read_all(&log), kept);

    let mut more = kept;
    let info = write_batches(&log, &mut more, 20);
    assert_eq!(info[0].base_offset, bad_base);
    assert_eq!(read_all(&log), more);
    log.close().unwrap();
    let (log, report) = open(&dir, clean());
    assert_eq!(report.recovered_segments, 0);
    assert_eq!(read_all(&log), more);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn zero_filled_tail_left_by_preallocation_is_truncated_and_reported_as_zero_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open(&dir, unclean(0));
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 40);
    log.flush().unwrap();
    let recovery_point = log.recovery_point();
    assert_eq!(recovery_point, log.log_end_offset());
    let active = dir.join(name(*log.segment_base_offsets().last().unwrap(), "log"));
    drop(log);
    let len = fs::metadata(&active).unwrap().len();
    set_len(&active, len + 4096);

    // Even with everything flushed, the active segment is re-validated.
    let (log, report) = open(&dir, unclean(recovery_point));
    assert_eq!(report.recovered_segments, 1);
    assert_eq!(report.truncated_bytes, 4096);
    assert_eq!(
        report.truncations,
        vec![(active.clone(), StopReason::ZeroTail { position: len as usize, len: 4096 })]
    );
    assert_eq!(fs::metadata(&active).unwrap().len(), len);
    assert_eq!(log.log_end_offset(), recovery_point);
    assert_eq!(read_all(&log), recs);
    write_batches(&log, &mut recs, 5);
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    common::assert_kafka_accepts(&dir, INTERVAL);
}

/// Writes 40 batches, lets `damage` append bytes to the active segment's
/// `.log` (given the directory, the segment bases and that file), reopens
/// after a crash and checks that exactly the appended bytes were cut: the
/// log end, the file's length and every record are as before, and Kafka's
/// checker accepts the directory. Returns the report and the file's length
/// before the damage.
fn recover_after_appended_bytes(damage: impl FnOnce(&Path, &[i64], &Path)) -> (LoadReport, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open(&dir, unclean(0));
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 40);
    let bases = log.segment_base_offsets();
    let leo = log.log_end_offset();
    drop(log);
    let active = dir.join(name(*bases.last().unwrap(), "log"));
    let len = fs::metadata(&active).unwrap().len();
    damage(&dir, &bases, &active);
    let appended = fs::metadata(&active).unwrap().len() - len;

    let (log, report) = open(&dir, unclean(0));
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(report.truncated_bytes, appended);
    assert_eq!(fs::metadata(&active).unwrap().len(), len);
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
    (report, len)
}

#[test]
fn batch_whose_offsets_precede_its_segment_base_is_cut_by_recovery() {
    let mut size = 0;
    let (report, len) = recover_after_appended_bytes(|dir, bases, active| {
        // A valid batch of the first segment, appended to the active one: its CRC
        // holds (the base offset is outside it), its offsets do not belong there.
        let first = dir.join(name(bases[0], "log"));
        let (pos, _, batch_size) = batches_of(&first)[0];
        size = batch_size;
        let stray = fs::read(&first).unwrap()[pos..pos + size].to_vec();
        let mut bytes = fs::read(active).unwrap();
        bytes.extend_from_slice(&stray);
        fs::write(active, &bytes).unwrap();
    });
    assert_eq!(report.truncated_bytes, size as u64);
    assert_eq!(report.truncations.len(), 1, "{:?}", report.truncations);
    assert!(matches!(
        &report.truncations[0].1,
        StopReason::Corrupt { position, .. } if *position as u64 == len
    ));
}

#[test]
fn replayed_batch_whose_offsets_go_backwards_is_cut_by_recovery() {
    let (report, len) = recover_after_appended_bytes(|_, _, active| {
        // The active segment's batches written again after themselves, as a
        // replayed write would leave them.
        let mut bytes = fs::read(active).unwrap();
        assert!(batches_of(active).len() >= 3);
        bytes.extend_from_within(..);
        fs::write(active, &bytes).unwrap();
    });
    assert_eq!(report.truncated_bytes, len);
}

// ---------------------------------------------------------------------------------------------
// Leftovers

#[test]
fn leftover_deleted_cleaned_tmp_and_orphan_index_files_are_removed_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let recs = closed_log(&dir, 40);
    let before = files(&dir);
    let first_log = &before[&name(0, "log")];
    let leftovers = [
        // a segment deleted by retention whose files were not yet removed
        (name(0, "log.deleted"), first_log.clone()),
        (name(0, "index.deleted"), vec![0; 16]),
        (name(0, "timeindex.deleted"), vec![0; 24]),
        // the output of an interrupted compaction
        (name(0, "log.cleaned"), first_log.clone()),
        (name(0, "index.cleaned"), vec![0; 8]),
        // a checkpoint being rewritten
        ("leader-epoch-checkpoint.tmp".to_owned(), b"0\n0\n".to_vec()),
        // indexes whose .log is gone
        (name(99_999, "index"), vec![0; 8]),
        (name(99_999, "timeindex"), vec![0; 12]),
        (name(99_999, "txnindex"), vec![0; 34]),
    ];
    for (n, bytes) in &leftovers {
        fs::write(dir.join(n), bytes).unwrap();
    }

    let (log, report) = open(&dir, clean());
    assert_eq!(report.removed_temp_files, leftovers.len());
    assert_eq!(report.recovered_segments, 0);
    for (n, _) in &leftovers {
        assert!(!dir.join(n).exists(), "{n} was left behind");
    }
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    assert!(files(&dir) == before, "files other than the leftovers changed");
    common::assert_kafka_accepts(&dir, INTERVAL);
}

// ---------------------------------------------------------------------------------------------
// The clean-shutdown marker and the recovery point (through the store)

fn store_config(root: &Path) -> StoreConfig {
    StoreConfig::new([root]).background_threads(false).topic_defaults(config())
}

fn open_store(root: &Path) -> Store {
    Store::open_with_clock(store_config(root), ManualClock::new(NOW)).unwrap()
}

fn t0_report(store: &Store) -> LoadReport {
    let reports = store.load_reports();
    reports.iter().find(|(n, _)| n == "t-0").unwrap_or_else(|| panic!("{reports:?}")).1.clone()
}

#[test]
fn store_recovers_nothing_after_a_clean_close_and_only_from_the_recovery_point_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = open_store(root);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 40);
    drop(log);
    store.close().unwrap();
    assert!(root.join(".kafka_cleanshutdown").exists());
    drop(store);

    // Clean: the marker is consumed and no segment is re-validated.
    let store = open_store(root);
    assert!(!root.join(".kafka_cleanshutdown").exists(), "the marker is deleted at open");
    let report = t0_report(&store);
    assert_eq!((report.recovered_segments, report.truncated_bytes), (0, 0));
    let log = store.partition("t", 0).unwrap();
    assert_eq!(read_all(&log), recs);
    write_batches(&log, &mut recs, 10);
    store.flush(None).unwrap(); // fsyncs and checkpoints the recovery point
    let recovery_point = log.recovery_point();
    assert_eq!(recovery_point, log.log_end_offset());
    write_batches(&log, &mut recs, 40);
    let bases = log.segment_base_offsets();
    drop(log);
    drop(store); // a crash: no close, no marker

    // Unclean: segments from the one holding the recovery point onwards are re-validated.
    let store = open_store(root);
    let report = t0_report(&store);
    let from = bases.partition_point(|&b| b <= recovery_point) - 1;
    assert!(from > 0 && bases.len() - from > 1, "{bases:?} / {recovery_point}");
    assert_eq!(report.recovered_segments, bases.len() - from, "{bases:?} / {recovery_point}");
    assert_eq!(report.truncated_bytes, 0);
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.segment_base_offsets(), bases);
    assert_eq!(read_all(&log), recs, "no torn write: everything appended is back");
    drop(log);
    store.close().unwrap();
    drop(store);
    common::assert_kafka_valid(&root.join("t-0"), INTERVAL);
}

#[test]
fn opening_twice_without_a_close_in_between_counts_as_unclean() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = open_store(root);
    store.create_topic("t", 1, &BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 40);
    let segments = log.segment_count();
    drop(log);
    store.close().unwrap();
    drop(store);

    let store = open_store(root);
    assert_eq!(t0_report(&store).recovered_segments, 0);
    drop(store); // the marker was consumed at open: this is a crash

    let store = open_store(root);
    let report = t0_report(&store);
    // The checkpointed recovery point is the end of the log: only the active segment.
    assert_eq!(report.recovered_segments, 1, "of {segments} segments");
    let log = store.partition("t", 0).unwrap();
    assert_eq!(read_all(&log), recs);
    drop(log);
    store.close().unwrap();
    drop(store);
    common::assert_kafka_valid(&root.join("t-0"), INTERVAL);
}
