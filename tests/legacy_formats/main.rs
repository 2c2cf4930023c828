//! Legacy message formats (magic 0 and 1) are data, not corruption: a broker
//! upgraded from Kafka < 0.11 keeps them, and strata opens, serves, dumps and
//! appends after them as that broker does.
//!
//! The legacy segments are written at test time by kafka-python's
//! `LegacyRecordBatchBuilder` (`tests/common/legacy_log.py`), every codec
//! magic 0/1 allows, compressed wrappers stored as a broker stores them; the
//! expected records come from kafka-python reading the same files, and dumps
//! are compared with Kafka's own Java reader (`kverify`). Tests skip with a
//! printed reason when python3 with kafka-python is absent.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;
mod split;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bytes::Bytes;
use strata::ManualClock;
use strata::internals::cleaner::Cleaner;
use strata::internals::format::{BatchIter, FormatError, Record, StopReason};
use strata::internals::io::fault::{self, FaultPlan};
use strata::{CleanupPolicy, LogConfig, StoreConfig};
use strata::{LoadOptions, LoadReport, Log, OffsetSpec};

const NOW: i64 = 1_700_000_000_000;
/// Timestamps of the magic-1 records: `TS + offset * 10`.
const TS: i64 = 1_600_000_000_000;

fn config() -> LogConfig {
    LogConfig::default().index_interval_bytes(64).segment_index_bytes(4096)
}

fn open(dir: &Path, clean_shutdown: bool) -> Log {
    let options = LoadOptions::default().with_clean_shutdown(clean_shutdown);
    Log::open(dir, "t", 0, config(), ManualClock::new(NOW), options).unwrap().0
}

fn script() -> PathBuf {
    common::manifest_dir().join("tests").join("common").join("legacy_log.py")
}

/// Whether python3 can run the generator; prints why not.
fn python_available() -> bool {
    match Command::new("python3").args(["-c", "import kafka.record.legacy_records"]).output() {
        Ok(out) if out.status.success() => true,
        _ => {
            common::skip("python3 with kafka-python is needed to write legacy message sets");
            false
        }
    }
}

/// One entry of the generator's spec: `codec` 0 writes one message per offset.
fn entry(magic: u8, codec: u8, offsets: std::ops::RangeInclusive<i64>, lat: Option<i64>) -> String {
    let records: Vec<String> = offsets
        .map(|o| {
            // Some null keys and one null value, so nulls round-trip too.
            let key = if o % 4 == 1 { "null".to_owned() } else { format!("\"key-{}\"", o % 3) };
            let value = if o == 6 { "null".to_owned() } else { format!("\"value-{o}\"") };
            format!(
                "{{\"offset\":{o},\"timestamp\":{},\"key\":{key},\"value\":{value}}}",
                TS + o * 10
            )
        })
        .collect();
    let lat = lat.map_or("null".to_owned(), |t| t.to_string());
    format!(
        "{{\"magic\":{magic},\"codec\":{codec},\"log_append_time\":{lat},\"records\":[{}]}}",
        records.join(",")
    )
}

/// Appends `entries` to `file`, written by kafka-python.
fn write_legacy(file: &Path, entries: &[String]) {
    let mut child = Command::new("python3")
        .arg(script())
        .arg("write")
        .arg(file)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let spec = format!("[{}]", entries.join(","));
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), spec.as_bytes()).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "legacy_log.py write {} failed", file.display());
}

fn segment(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// A partition as an upgraded broker leaves it: segment 0 holds offsets 0..=14
/// in magic 0 (plain, gzip, snappy, lz4 with the old header checksum) and
/// magic 1 (plain, CreateTime and LogAppendTime wrappers); segment 15 holds
/// 15..=24 in magic 1. 25 records.
fn legacy_partition(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    write_legacy(
        &segment(dir, 0),
        &[
            entry(0, 0, 0..=1, None),
            entry(0, 1, 2..=3, None),
            entry(0, 2, 4..=5, None),
            entry(0, 3, 6..=7, None),
            entry(1, 0, 8..=8, None),
            entry(1, 1, 9..=10, None),
            entry(1, 2, 11..=12, Some(TS + 5_000)),
            entry(1, 3, 13..=14, None),
        ],
    );
    write_legacy(
        &segment(dir, 15),
        &[entry(1, 0, 15..=17, None), entry(1, 1, 18..=21, None), entry(1, 3, 22..=24, None)],
    );
}

/// A record as read: offset, timestamp, key, value.
type Rec = (i64, i64, Option<Bytes>, Option<Bytes>);

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
            assert!(r.headers().is_empty(), "legacy records have no headers");
            out.push((r.offset(), r.timestamp(), r.key().cloned(), r.value().cloned()));
        }
        assert!(fetched.next_offset() > next, "a non-empty read must move forward");
        next = fetched.next_offset();
    }
    out
}

/// What kafka-python reads from the `.log` files of `dir`, in file order.
fn kafka_python_records(dir: &Path) -> Vec<Rec> {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| common::is_segment_log_name(p.file_name().unwrap()))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        let res = Command::new("python3").arg(script()).arg("dump").arg(&log).output().unwrap();
        assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
        for line in String::from_utf8(res.stdout).unwrap().lines() {
            out.push(parse_dump_line(line));
        }
    }
    out
}

/// `{"key": b64|null, "offset": N, "timestamp": N, "value": b64|null}` (sorted keys).
fn parse_dump_line(line: &str) -> Rec {
    let field = |name: &str| {
        let start = line.find(&format!("\"{name}\": ")).unwrap() + name.len() + 4;
        let rest = &line[start..];
        let end = rest.find([',', '}']).unwrap();
        rest[..end].trim().to_owned()
    };
    let bytes = |v: String| (v != "null").then(|| Bytes::from(base64_decode(v.trim_matches('"'))));
    (
        field("offset").parse().unwrap(),
        field("timestamp").parse().unwrap(),
        bytes(field("key")),
        bytes(field("value")),
    )
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = acc << 6 | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn offsets(recs: &[Rec]) -> Vec<i64> {
    recs.iter().map(|r| r.0).collect()
}

fn file_sizes(dir: &Path) -> Vec<(i64, u64)> {
    [0, 15].iter().map(|&b| (b, fs::metadata(segment(dir, b)).unwrap().len())).collect()
}

#[test]
fn unclean_open_of_a_legacy_log_keeps_every_record() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    let before = file_sizes(&dir);
    let options = LoadOptions::default();
    let (log, report) = Log::open(&dir, "t", 0, config(), ManualClock::new(NOW), options).unwrap();
    assert_eq!((report.truncated_bytes, report.dropped_segments), (0, 0), "{report:?}");
    assert_eq!(report.recovered_segments, 2);
    assert_eq!(log.segment_base_offsets(), vec![0, 15]);
    assert_eq!(log.log_end_offset(), 25);
    assert_eq!(offsets(&read_all(&log)), (0..25).collect::<Vec<_>>());
    log.close().unwrap();
    assert_eq!(file_sizes(&dir), before, "recovery must not cut legacy data");
}

#[test]
fn clean_open_serves_every_legacy_offset() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    let log = open(&dir, true);
    assert_eq!(log.log_end_offset(), 25);
    // Every offset, read on its own, starts a fetch that holds it.
    for offset in 0..25 {
        let fetched = log.read(offset, 1).unwrap();
        let first = fetched.records().next().unwrap().unwrap();
        assert_eq!(first.offset(), offset);
    }
    assert_eq!(read_all(&log), kafka_python_records(&dir));
}

#[test]
fn appends_after_a_legacy_only_log_continue_at_the_right_offset() {
    if !python_available() {
        return;
    }
    for clean in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        legacy_partition(&dir);
        let log = open(&dir, clean);
        let info = log.append(&[Record::new("new", "v2-a"), Record::new("new", "v2-b")]).unwrap();
        assert_eq!(info.base_offset, 25, "clean_shutdown={clean}");
        log.close().unwrap();
        // A crash image: reopened without the clean-shutdown marker.
        let log = open(&dir, false);
        assert_eq!(log.log_end_offset(), 27);
        let all = read_all(&log);
        assert_eq!(offsets(&all), (0..27).collect::<Vec<_>>());
        assert_eq!(all[25].3.as_deref(), Some(&b"v2-a"[..]));
        log.close().unwrap();
    }
}

#[test]
fn legacy_records_decode_equal_to_kafka_python_dump() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    let expected = kafka_python_records(&dir);
    assert_eq!(expected.len(), 25);
    // Spot checks of the rules the comparison covers: magic 0 has no
    // timestamp, a LogAppendTime wrapper's time replaces the inner ones.
    assert_eq!(expected[2].1, -1);
    assert_eq!(expected[11].1, TS + 5_000);
    assert_eq!(expected[9].1, TS + 90);
    let log = open(&dir, false);
    assert_eq!(read_all(&log), expected);
}

#[test]
fn mixed_legacy_and_v2_segment_reads_and_dumps_fully() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    let log = open(&dir, false);
    for i in 0..5 {
        log.append(&[Record::new(format!("k{i}"), format!("v{i}")).timestamp(NOW + i)]).unwrap();
    }
    log.close().unwrap();
    // The last segment now holds magic 1 then magic 2 batches.
    let log = open(&dir, false);
    let all = read_all(&log);
    assert_eq!(offsets(&all), (0..30).collect::<Vec<_>>());
    // Reading from the middle of the mixed segment serves v2 after legacy.
    let fetched = log.read(23, 1 << 20).unwrap();
    let from_23: Vec<i64> = fetched.records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(from_23, (23..30).collect::<Vec<_>>());
    log.close().unwrap();
    // kafka-python reads the same records (v2 ones included, header-free here).
    assert_eq!(all, kafka_python_records(&dir));
    // logtool dump --json prints exactly what Kafka's own reader prints.
    let out = Command::new(common::logtool_bin_built())
        .args(["dump", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dump = String::from_utf8(out.stdout).unwrap();
    assert_eq!(dump.lines().filter(|l| l.starts_with("{\"type\":\"record\"")).count(), 30);
    match common::kverify_dump(&dir) {
        None => common::skip("kverify (Kafka's Java reader) is not built"),
        Some(kafka) => assert_eq!(dump, kafka.unwrap()),
    }
}

#[test]
fn a_flipped_byte_in_a_legacy_message_is_corruption_not_data() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    let data = Bytes::from(fs::read(segment(&dir, 0)).unwrap());
    let entries: Vec<(usize, usize)> =
        BatchIter::validating(data.clone()).map(|(pos, b)| (pos, b.size())).collect();
    assert_eq!(entries.len(), 9);
    // Any flipped byte after the offset and size fields of any entry is caught,
    // by the CRC or by the framing that the lengths must satisfy.
    for &(pos, size) in &entries {
        for at in pos + 12..pos + size {
            let mut bad = data.to_vec();
            bad[at] ^= 0x20;
            let mut it = BatchIter::validating(Bytes::from(bad));
            let kept = it.by_ref().count();
            let stop = it.stop_reason().cloned();
            let index = entries.iter().position(|e| e.0 == pos).unwrap();
            assert_eq!(kept, index, "flip at {at} of the entry at {pos}: {stop:?}");
            assert!(matches!(stop, Some(StopReason::Corrupt { position, .. }) if position == pos));
        }
    }
    // A flip in a value byte is a CRC failure naming CRC-32.
    // Entry 5 is the magic-1 message at offset 8.
    let (pos, size) = entries[5];
    let mut bad = data.to_vec();
    bad[pos + size - 1] ^= 1;
    let mut it = BatchIter::validating(Bytes::from(bad.clone()));
    assert_eq!(it.by_ref().count(), 5);
    assert!(matches!(
        it.stop_reason(),
        Some(StopReason::Corrupt { error: FormatError::LegacyCrcMismatch { .. }, .. })
    ));
    // Recovery cuts the segment at the bad message and, as Kafka's LogLoader
    // does after a cut, drops the segments after it: nothing wrong is served.
    fs::write(segment(&dir, 0), &bad).unwrap();
    let log = open(&dir, false);
    let served = read_all(&log);
    assert_eq!(offsets(&served), (0..8).collect::<Vec<_>>());
    assert_eq!(log.log_end_offset(), 8);
}

#[test]
fn offset_and_time_lookups_work_on_legacy_segments() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    for clean in [true, false] {
        let log = open(&dir, clean);
        let at = |ts| log.offset_for_time(OffsetSpec::Timestamp(ts)).unwrap().map(|t| t.offset);
        // Magic 0 records have no timestamp; the first timed record is 8.
        assert_eq!(at(0), Some(8));
        assert_eq!(at(TS + 95), Some(10));
        // The LogAppendTime wrapper's records read as its time.
        assert_eq!(at(TS + 4_000), Some(11));
        assert_eq!(at(TS + 5_001), None);
        let max = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap().unwrap();
        assert_eq!((max.offset, max.timestamp), (11, Some(TS + 5_000)));
        assert_eq!(log.offset_for_time(OffsetSpec::Latest).unwrap().unwrap().offset, 25);
        log.close().unwrap();
    }
}

/// The shallow entries `legacy_partition` writes, as offset ranges: one per message of an
/// uncompressed entry, one per compressed wrapper.
fn legacy_entries() -> Vec<std::ops::RangeInclusive<i64>> {
    let mut out: Vec<_> = (0..=1).map(|o| o..=o).collect();
    out.extend([2..=3, 4..=5, 6..=7, 8..=8, 9..=10, 11..=12, 13..=14]);
    out.extend((15..=17).map(|o| o..=o));
    out.extend([18..=21, 22..=24]);
    out
}

/// The cleaner compacts legacy (magic 0/1) entries by key, as Kafka's cleaner does
/// (`MemoryRecords.filterTo` treats each shallow entry as a batch): exactly the records that
/// are the latest of their key stay (records without a key go, as Kafka drops them), in their
/// original magic: an entry that keeps all stays byte for byte, a compressed wrapper that keeps
/// some is rewritten with those. Kafka's own reader (`kverify`) reads the result. Before, every
/// legacy entry was copied through.
#[test]
fn cleaner_compacts_legacy_messages_by_key_and_kafka_reads_the_result() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    let legacy = kafka_python_records(&dir);
    let config = config().cleanup_policy(CleanupPolicy::COMPACT).min_cleanable_dirty_ratio(0.0);
    let options = LoadOptions::default();
    let (log, _) = Log::open(&dir, "t", 0, config, ManualClock::new(NOW), options).unwrap();
    // Three v2 versions of a key the legacy records also carry.
    for i in 0..3 {
        log.append(&[Record::new("key-0", format!("v2-{i}")).timestamp(NOW)]).unwrap();
    }
    log.roll().unwrap();
    log.append(&[Record::new("key-1", "active").timestamp(NOW)]).unwrap();

    // The model: the latest offset of each key below the active segment; an entry stays when
    // one of its records is the latest of its key.
    let mut latest = std::collections::HashMap::new();
    for (o, _, k, _) in &legacy {
        if let Some(k) = k {
            latest.insert(k.clone(), *o);
        }
    }
    latest.insert(Bytes::from("key-0"), 27);
    let live = |o: i64| legacy[o as usize].2.as_ref().is_some_and(|k| latest[k] == o);
    let partly_live = legacy_entries()
        .into_iter()
        .filter(|e| e.clone().any(live) && !e.clone().all(live))
        .collect::<Vec<_>>();
    assert!(!partly_live.is_empty(), "no wrapper keeps only some of its records");
    let expected: Vec<Rec> = legacy.iter().filter(|r| live(r.0)).cloned().collect();
    let removed = legacy.len() - expected.len();

    let cleaner = Cleaner::new(&StoreConfig::new([tmp.path()]));
    let report = cleaner.clean_all(std::slice::from_ref(&log));
    assert_eq!((report.failures, report.partitions_cleaned), (0, 1), "{report:?}");
    assert_eq!(report.records_removed, removed as u64 + 2, "the gone records, two v2 key-0s");
    let all = read_all(&log);
    assert_eq!(&all[..expected.len()], &expected[..], "the kept legacy records, as written");
    assert_eq!(offsets(&all[expected.len()..]), vec![27, 28]);
    log.close().unwrap();
    // The kept legacy records are in the cleaned segment in their original magic, and Kafka reads it.
    let cleaned = kafka_python_records(&dir);
    assert_eq!(&cleaned[..expected.len()], &expected[..]);
    if let Some(kafka) = common::kverify_dump(&dir) {
        kafka.unwrap();
    }
}

#[test]
fn appending_a_legacy_message_set_is_refused() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    legacy_partition(&dir);
    let data = Bytes::from(fs::read(segment(&dir, 15)).unwrap());
    let (_, first) = BatchIter::new(data).next().unwrap();
    assert!(first.is_legacy());
    let log = open(&dir, true);
    // strata writes only RecordBatch v2: a legacy message offered for append
    // is refused, and nothing is written.
    let err = log.append_batch(first.into_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            strata::Error::InvalidBatch { source: FormatError::UnsupportedMagic { magic: 1 } }
        ),
        "{err}"
    );
    assert_eq!(log.log_end_offset(), 25);
}

/// Offsets past `i32::MAX` above the base, which an old broker's compacted
/// legacy segment could hold.
const FAR: i64 = 3_000_000_000;

/// A legacy compressed wrapper kept whole for one live record must not
/// bring back a deleted key once its v2 tombstone passes its delete horizon.
#[test]
fn a_key_deleted_by_a_v2_tombstone_does_not_come_back_from_a_kept_legacy_wrapper() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    // Offset 0: key-0 (plain); offsets 2..=3 in one gzip wrapper: key-2, key-0.
    write_legacy(&segment(&dir, 0), &[entry(1, 0, 0..=0, None), entry(1, 1, 2..=3, None)]);
    let clock = ManualClock::new(NOW);
    let config = config()
        .cleanup_policy(CleanupPolicy::COMPACT)
        .min_cleanable_dirty_ratio(0.0)
        .delete_retention_ms(1_000);
    let (log, _) =
        Log::open(&dir, "t", 0, config, std::sync::Arc::clone(&clock) as _, LoadOptions::default())
            .unwrap();
    log.append(&[Record::tombstone("key-0").timestamp(NOW)]).unwrap();
    log.roll().unwrap();
    let cleaner = Cleaner::new(&StoreConfig::new([tmp.path()]));
    cleaner.clean_all(std::slice::from_ref(&log));
    clock.advance(10_000);
    log.append(&[Record::new("other", "x").timestamp(NOW)]).unwrap();
    log.roll().unwrap();
    cleaner.clean_all(std::slice::from_ref(&log));
    let key0: Vec<Rec> = read_all(&log)
        .into_iter()
        .filter(|r| r.2.as_deref() == Some(b"key-0".as_slice()))
        .collect();
    assert!(key0.iter().all(|r| r.3.is_none()), "deleted key-0 is back: {key0:?}");
    // The rewritten entry (key-2 alone at offset 2, in magic 1) is read by Kafka's reader
    // (kverify) and kafka-python; kafka_verify.py checks RecordBatch v2 only.
    let kept: Vec<Rec> = read_all(&log).into_iter().filter(|r| r.0 == 2).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    log.close().unwrap();
    let legacy: Vec<Rec> = kafka_python_records(&dir).into_iter().filter(|r| r.0 == 2).collect();
    assert_eq!(legacy, kept);
    if let Some(kafka) = common::kverify_dump(&dir) {
        kafka.unwrap();
    }
}

/// A compressed legacy wrapper that keeps only some of its records is rewritten as one wrapper
/// of the same magic and codec (as Kafka's `MemoryRecords.filterTo` rewrites it), so the
/// cleaned segment is no larger than its source: before, each kept record became one
/// uncompressed message and a 15 KB gzip wrapper of 1000 × 1000-byte values cleaned into 1 MB,
/// so a well-compressed 1 GiB legacy segment could clean past what a segment may hold. The kept
/// records (gaps in their offsets included) read back as written through strata, kafka-python
/// and Kafka's reader (`kverify`), for every codec and magic 0/1 allows, LogAppendTime too.
#[test]
fn a_partly_kept_legacy_wrapper_is_rewritten_compressed_with_its_codec() {
    if !python_available() {
        return;
    }
    const PER: i64 = 200;
    // (magic, codec, LogAppendTime)
    let cases =
        [(0, 1, None), (0, 2, None), (0, 3, None), (1, 1, None), (1, 2, Some(NOW)), (1, 3, None)];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    let value = "v".repeat(1000);
    let entries: Vec<String> = (0i64..)
        .zip(cases)
        .map(|(i, (magic, codec, lat))| {
            let records: Vec<String> = (i * PER..(i + 1) * PER)
                .map(|o| {
                    let ts = TS + o * 10;
                    format!("{{\"offset\":{o},\"timestamp\":{ts},\"key\":\"k{o}\",\"value\":\"{value}{o}\"}}")
                })
                .collect();
            let lat = lat.map_or("null".to_owned(), |t: i64| t.to_string());
            format!(
                "{{\"magic\":{magic},\"codec\":{codec},\"log_append_time\":{lat},\"records\":[{}]}}",
                records.join(",")
            )
        })
        .collect();
    write_legacy(&segment(&dir, 0), &entries);
    let source = fs::metadata(segment(&dir, 0)).unwrap().len();
    let legacy = kafka_python_records(&dir);
    assert_eq!(legacy.len() as i64, PER * cases.len() as i64);
    let config = config().cleanup_policy(CleanupPolicy::COMPACT).min_cleanable_dirty_ratio(0.0);
    let (log, _) =
        Log::open(&dir, "t", 0, config, ManualClock::new(NOW), LoadOptions::default()).unwrap();
    // Each wrapper's first record and one in its middle are superseded.
    let superseded = |o: i64| o % PER == 0 || o % PER == 5;
    for o in (0..legacy.len() as i64).filter(|&o| superseded(o)) {
        log.append(&[Record::new(format!("k{o}"), "new").timestamp(NOW)]).unwrap();
    }
    log.roll().unwrap();
    let report =
        Cleaner::new(&StoreConfig::new([tmp.path()])).clean_all(std::slice::from_ref(&log));
    assert_eq!((report.failures, report.partitions_cleaned), (0, 1), "{report:?}");
    let expected: Vec<Rec> = legacy.iter().filter(|r| !superseded(r.0)).cloned().collect();
    let all = read_all(&log);
    assert_eq!(&all[..expected.len()], &expected[..], "the kept legacy records, as written");
    log.close().unwrap();
    let cleaned = fs::read(segment(&dir, 0)).unwrap();
    let cleaned_len = cleaned.len() as u64;
    assert!(
        cleaned_len <= source + 1024,
        "cleaned {cleaned_len} bytes from a {source}-byte source"
    );
    let codecs: Vec<(i8, u8)> = BatchIter::new(Bytes::from(cleaned))
        .map(|(_, b)| (b.magic(), b.compression_id()))
        .filter(|&(magic, _)| magic < 2)
        .collect();
    let want: Vec<(i8, u8)> = cases.iter().map(|&(m, c, _)| (m, c)).collect();
    assert_eq!(codecs, want, "one wrapper per source wrapper, magic and codec kept");
    assert_eq!(&kafka_python_records(&dir)[..expected.len()], &expected[..]);
    if let Some(kafka) = common::kverify_dump(&dir) {
        kafka.unwrap();
    }
}

/// A legacy message laid out by hand: `key_len` and `value_len` are written as given (so a
/// null can be written -2), followed by `key` and `value`.
fn raw_message(
    offset: i64,
    magic: u8,
    key_len: i32,
    key: &[u8],
    value_len: i32,
    value: &[u8],
) -> Vec<u8> {
    let mut body = vec![magic, 0];
    if magic == 1 {
        body.extend_from_slice(&(TS + offset).to_be_bytes());
    }
    body.extend_from_slice(&key_len.to_be_bytes());
    body.extend_from_slice(key);
    body.extend_from_slice(&value_len.to_be_bytes());
    body.extend_from_slice(value);
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&i32::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(&strata::internals::format::legacy::crc32(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A legacy key or value length below -1 is null and covers no bytes, as Kafka's
/// `LegacyRecord` reads it (`Utils.sizeDelimited` gives null for any negative size): strata
/// refused it as "negative or past the message end", so every read of a segment a broker kept
/// with such a message failed. (kafka-python mis-reads it, stepping back over the length, so
/// Kafka's own Java reader is the check here.)
#[test]
fn a_legacy_key_or_value_length_below_minus_one_reads_as_null_as_kafka_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    let mut bytes = raw_message(0, 0, -2, b"", 4, b"zero");
    bytes.extend(raw_message(1, 1, 2, b"k1", -3, b""));
    bytes.extend(raw_message(2, 1, -7, b"", -1, b""));
    fs::write(segment(&dir, 0), &bytes).unwrap();
    let want: Vec<Rec> = vec![
        (0, strata::internals::format::NO_TIMESTAMP, None, Some(Bytes::from_static(b"zero"))),
        (1, TS + 1, Some(Bytes::from_static(b"k1")), None),
        (2, TS + 2, None, None),
    ];
    for clean in [false, true] {
        let log = open(&dir, clean);
        assert_eq!(log.log_end_offset(), 3, "clean {clean}");
        assert_eq!(read_all(&log), want, "clean {clean}");
        for offset in 0..3 {
            let fetched = log.read(offset, 1).unwrap();
            assert_eq!(fetched.records().next().unwrap().unwrap().offset(), offset);
        }
        log.close().unwrap();
        assert_eq!(fs::read(segment(&dir, 0)).unwrap(), bytes, "recovery keeps the messages");
    }
    match common::kverify_dump(&dir) {
        None => common::skip("kverify (Kafka's Java reader) is not built; .ci/run builds it"),
        Some(dump) => {
            let dump = dump.unwrap();
            let records: Vec<&str> =
                dump.lines().filter(|l| l.starts_with("{\"type\":\"record\"")).collect();
            // Kafka's reader agrees field for field: null where the length is negative.
            let expected = [
                ["\"offset\":0,", "\"key_b64\":null,", "\"value_b64\":\"emVybw==\""],
                ["\"offset\":1,", "\"key_b64\":\"azE=\"", "\"value_b64\":null,"],
                ["\"offset\":2,", "\"key_b64\":null,", "\"value_b64\":null,"],
            ];
            assert_eq!(records.len(), expected.len(), "{dump}");
            for (line, fields) in records.iter().zip(expected) {
                for f in fields {
                    assert!(line.contains(f), "kverify: {line} lacks {f}");
                }
            }
        }
    }
}

/// A legacy (magic 0/1) tombstone has no delete horizon of its own: Kafka's cleaner removes it
/// once its source segment was last modified more than `delete.retention.ms` before the last
/// segment of the clean section (`Cleaner.doClean`'s `legacyDeleteHorizonMs`, against each
/// source segment's `lastModified`; with no clean section yet, every tombstone stays). strata
/// kept every legacy tombstone forever, so a deleted key's tombstone was served and stored for
/// good.
#[test]
fn a_legacy_tombstone_goes_once_its_segment_is_older_than_the_legacy_delete_horizon() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    let messages = [
        raw_message(0, 1, 1, b"a", 1, b"1"),
        raw_message(1, 1, 1, b"a", -1, b""),
        raw_message(2, 1, 1, b"b", 1, b"2"),
    ]
    .concat();
    fs::write(segment(&dir, 0), &messages).unwrap();
    // Segments too small to be cleaned together: the legacy one keeps its own time.
    let config = config()
        .cleanup_policy(CleanupPolicy::COMPACT)
        .min_cleanable_dirty_ratio(0.0)
        .delete_retention_ms(60_000)
        .segment_bytes(150);
    let (log, _) =
        Log::open(&dir, "t", 0, config, ManualClock::new(NOW), LoadOptions::default()).unwrap();
    log.roll().unwrap();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    let file = fs::File::options().write(true).open(segment(&dir, 0)).unwrap();
    file.set_modified(day_ago).unwrap();
    log.append(&[Record::new("c", "3").timestamp(NOW)]).unwrap();
    log.roll().unwrap();
    let cleaner = Cleaner::new(&StoreConfig::new([tmp.path()]));
    // The first cleaning has no clean section to date the horizon by: the tombstone stays (the
    // value it deletes goes).
    let report = cleaner.clean_all(std::slice::from_ref(&log));
    assert_eq!((report.failures, report.partitions_cleaned), (0, 1), "{report:?}");
    let tombstone = (1, Some(Bytes::from("a")), None);
    let kept = |log: &Log| read_all(log).into_iter().map(|r| (r.0, r.2, r.3)).collect::<Vec<_>>();
    assert_eq!(kept(&log).first(), Some(&tombstone));
    assert_eq!(offsets(&read_all(&log)), vec![1, 2, 3]);
    // The clean section now ends with segment 3, written a day after the legacy segment: a day
    // is past delete.retention.ms, so the next cleaning drops the tombstone.
    log.append(&[Record::new("d", "4").timestamp(NOW)]).unwrap();
    log.roll().unwrap();
    let report = cleaner.clean_all(std::slice::from_ref(&log));
    assert_eq!((report.failures, report.partitions_cleaned), (0, 1), "{report:?}");
    assert_eq!(offsets(&read_all(&log)), vec![2, 3, 4], "{:?}", kept(&log));
    log.close().unwrap();
    if let Some(kafka) = common::kverify_dump(&dir) {
        kafka.unwrap();
    }
}

/// A legacy tombstone in a segment modified within `delete.retention.ms` of the clean section's
/// last segment stays, as in Kafka: a consumer reading the topic in that time still sees it.
#[test]
fn a_legacy_tombstone_within_the_legacy_delete_horizon_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    let messages =
        [raw_message(0, 1, 1, b"a", 1, b"1"), raw_message(1, 1, 1, b"a", -1, b"")].concat();
    fs::write(segment(&dir, 0), &messages).unwrap();
    let config = config()
        .cleanup_policy(CleanupPolicy::COMPACT)
        .min_cleanable_dirty_ratio(0.0)
        .delete_retention_ms(86_400_000)
        .segment_bytes(150);
    let (log, _) =
        Log::open(&dir, "t", 0, config, ManualClock::new(NOW), LoadOptions::default()).unwrap();
    log.roll().unwrap();
    let cleaner = Cleaner::new(&StoreConfig::new([tmp.path()]));
    for key in ["c", "d"] {
        log.append(&[Record::new(key, "v").timestamp(NOW)]).unwrap();
        log.roll().unwrap();
        let report = cleaner.clean_all(std::slice::from_ref(&log));
        assert_eq!((report.failures, report.partitions_cleaned), (0, 1), "{report:?}");
        assert_eq!(offsets(&read_all(&log)).first(), Some(&1), "the tombstone stays");
    }
}

/// Kafka answers MAX_TIMESTAMP with no offset when the batch holding the largest timestamp is
/// magic 0 (`RecordBatch.offsetOfMaxTimestamp`: "always returns None" for magic 0, whose
/// messages carry no timestamp). strata named that batch's first message, with no timestamp.
#[test]
fn max_timestamp_of_a_log_of_magic_0_messages_is_none_as_in_kafka() {
    fn v0(offset: i64, value: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8, 0];
        body.extend_from_slice(&(-1i32).to_be_bytes()); // null key
        body.extend_from_slice(&(value.len() as i32).to_be_bytes());
        body.extend_from_slice(value);
        let crc = strata::internals::format::legacy::crc32(&body);
        let mut m = offset.to_be_bytes().to_vec();
        m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        m.extend_from_slice(&crc.to_be_bytes());
        m.extend_from_slice(&body);
        m
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    let bytes: Vec<u8> = (0..3).flat_map(|o| v0(o, b"old")).collect();
    fs::write(dir.join(format!("{:020}.log", 0)), bytes).unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let (log, _) =
        Log::open(&dir, "t", 0, LogConfig::default(), clock, LoadOptions::default()).unwrap();
    assert_eq!(log.log_end_offset(), 3);
    let max = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
    assert_eq!(max, None, "MAX_TIMESTAMP of magic-0 messages named {max:?}");
    log.close().unwrap();
}
