//! `Log::read_record`, the point read, answers exactly as the general read
//! does (`Log::read(offset, 1)`, its first batch's first record, kept when
//! it has the offset asked for): at every offset of logs of many shapes,
//! and with any one byte of a batch changed, where both must refuse the
//! same way (a CRC mismatch, a base offset out of place) or serve the same
//! record.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata::{BatchBuilder, Clock, Compression, Record, TimestampType};
use strata::{LoadOptions, Log, LogConfig, ManualClock};

const NOW: i64 = 1_700_000_000_000;

fn open(dir: &Path, cfg: LogConfig) -> Log {
    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
    Log::open(dir, "t", 0, cfg, clock, LoadOptions::default()).unwrap().0
}

/// What the general read serves at `offset`: the record's `Debug` text,
/// `None` when no record has the offset, or the error's text.
fn general(log: &Log, offset: i64) -> Result<Option<String>, String> {
    let fetched = log.read(offset, 1).map_err(|e| e.to_string())?;
    let Some(batch) = fetched.record_batches().next() else { return Ok(None) };
    let batch = batch.map_err(|e| e.to_string())?;
    match batch.records().next() {
        None => Ok(None),
        Some(Err(e)) => Err(e.to_string()),
        Some(Ok(r)) => Ok((r.offset() == offset).then(|| format!("{r:?}"))),
    }
}

/// What `read_record` serves at `offset`, in the same terms.
fn point(log: &Log, offset: i64) -> Result<Option<String>, String> {
    log.read_record(offset, |r| format!("{r:?}")).map_err(|e| e.to_string())
}

/// Both reads at every offset from below the log start to past the end;
/// returns how many offsets served a record.
fn agree_everywhere(log: &Log, case: &str) -> usize {
    let mut served = 0;
    for offset in log.log_start_offset() - 2..log.log_end_offset() + 3 {
        let want = general(log, offset);
        served += usize::from(matches!(want, Ok(Some(_))));
        assert_eq!(point(log, offset), want, "{case}: offset {offset}");
    }
    served
}

/// A client batch of `n` records: keys `k{i}`, values of `len(i)` bytes,
/// every third record with a header, every seventh a tombstone, every
/// fifth without a key.
fn batch(n: usize, len: impl Fn(usize) -> usize, codec: Compression) -> Bytes {
    let codec = if codec.is_available() { codec } else { Compression::None };
    let mut b = BatchBuilder::new(0).compression(codec, None);
    for i in 0..n {
        let mut r = if i % 7 == 6 {
            Record::tombstone(format!("k{i}"))
        } else {
            Record::new(format!("k{i}"), vec![b'a' + (i % 26) as u8; len(i)])
        };
        if i % 5 == 4 {
            r = Record::unkeyed(vec![b'v'; len(i)]);
        }
        if i % 3 == 2 {
            r = r.header("h", format!("{i}"));
        }
        b.append(&r.timestamp(NOW + i as i64)).unwrap();
    }
    b.build().unwrap()
}

/// Batches of every shape a point read meets: one size of record (runs
/// broken where the offset delta's varint grows, at 64), sizes that vary,
/// single records, a compressed batch, an idempotent producer's batch.
fn fill(log: &Log) {
    log.append_batch(batch(100, |_| 100, Compression::None)).unwrap();
    log.append_batch(batch(130, |i| (i * 37) % 300, Compression::None)).unwrap();
    for i in 0..5 {
        log.append(&[Record::new(format!("one{i}"), "x")]).unwrap();
    }
    log.append_batch(batch(40, |_| 20, Compression::Gzip)).unwrap();
    let mut b = BatchBuilder::new(0).producer(7, 0, 0);
    for i in 0..70 {
        b.append(&Record::new(format!("p{i}"), vec![b'p'; 50])).unwrap();
    }
    log.append_batch(b.build().unwrap()).unwrap();
    log.append_batch(batch(100, |_| 8, Compression::None)).unwrap();
}

#[test]
fn read_record_serves_what_read_serves_at_every_offset() {
    let shapes = [
        ("defaults", LogConfig::default()),
        ("an index entry per batch", LogConfig::default().index_interval_bytes(1)),
        ("small segments", LogConfig::default().segment_bytes(30_000).index_interval_bytes(1)),
        (
            "log append time",
            LogConfig::default()
                .index_interval_bytes(1)
                .message_timestamp_type(TimestampType::LogAppendTime),
        ),
    ];
    for (case, cfg) in shapes {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), cfg);
        fill(&log);
        let served = agree_everywhere(&log, case);
        assert_eq!(served as i64, log.log_end_offset(), "{case}");
        // After a log start offset inside the first batch, and reopened
        // (indexes read back from their files).
        log.delete_records(50).unwrap();
        agree_everywhere(&log, case);
        log.close().unwrap();
        let log = open(dir.path(), cfg_again(case));
        agree_everywhere(&log, case);
        log.close().unwrap();
    }
}

fn cfg_again(case: &str) -> LogConfig {
    match case {
        "small segments" => LogConfig::default().segment_bytes(30_000).index_interval_bytes(1),
        _ => LogConfig::default().index_interval_bytes(1),
    }
}

/// The `.log` files of `dir`, oldest first.
fn log_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn with_any_one_byte_of_a_batch_changed_read_record_refuses_or_serves_as_read_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default().index_interval_bytes(1));
    // Three batches of one record size: the middle one is changed, byte by
    // byte, and read with the batches on both sides of it.
    for _ in 0..3 {
        log.append_batch(batch(12, |_| 30, Compression::None)).unwrap();
    }
    let file =
        std::fs::OpenOptions::new().read(true).write(true).open(&log_files(dir.path())[0]).unwrap();
    let all = std::fs::read(&log_files(dir.path())[0]).unwrap();
    let first = 12 + i32::from_be_bytes(all[8..12].try_into().unwrap()) as usize;
    let second =
        first + 12 + i32::from_be_bytes(all[first + 8..first + 12].try_into().unwrap()) as usize;
    let mut refused = 0;
    for at in first..second {
        for flip in [0x01u8, 0x80] {
            file.write_all_at(&[all[at] ^ flip], at as u64).unwrap();
            for offset in 0..log.log_end_offset() {
                let want = general(&log, offset);
                refused += usize::from(want.is_err());
                assert_eq!(point(&log, offset), want, "byte {at} ^ {flip:#x}, offset {offset}");
            }
            file.write_all_at(&all[at..=at], at as u64).unwrap();
        }
    }
    // Every change to the CRC or the bytes it covers is refused.
    assert!(refused > 2 * (second - first - 20), "{refused} refusals");
    agree_everywhere(&log, "restored");
}

/// The test above with the CRC made right again after each change, so the
/// changed batch passes the checksum and reaches the fast path's own checks
/// (placement, offsets, record framing): whatever it serves or refuses, the
/// general read serves or refuses the same (review 4, F10).
#[test]
fn with_any_one_byte_of_a_batch_changed_and_its_crc_fixed_read_record_answers_as_read_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default().index_interval_bytes(1));
    for _ in 0..3 {
        log.append_batch(batch(12, |_| 30, Compression::None)).unwrap();
    }
    let path = &log_files(dir.path())[0];
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let all = std::fs::read(path).unwrap();
    let first = 12 + i32::from_be_bytes(all[8..12].try_into().unwrap()) as usize;
    let second =
        first + 12 + i32::from_be_bytes(all[first + 8..first + 12].try_into().unwrap()) as usize;
    let (mut refused, mut served) = (0, 0);
    for at in (first..second).filter(|&at| !(first + 17..first + 21).contains(&at)) {
        for flip in [0x01u8, 0x80] {
            let mut changed = all[first..second].to_vec();
            changed[at - first] ^= flip;
            let crc = crc32c::crc32c(&changed[21..]);
            changed[17..21].copy_from_slice(&crc.to_be_bytes());
            file.write_all_at(&changed, first as u64).unwrap();
            for offset in 0..log.log_end_offset() {
                let want = general(&log, offset);
                refused += usize::from(want.is_err());
                served += usize::from(matches!(want, Ok(Some(_))));
                assert_eq!(point(&log, offset), want, "byte {at} ^ {flip:#x}, offset {offset}");
            }
            file.write_all_at(&all[first..second], first as u64).unwrap();
        }
    }
    // Both answers were reached: changes the checks refuse, and changed
    // bytes (a key or a value) served as they now are.
    assert!(refused > 0 && served > 0, "{refused} refused, {served} served");
    agree_everywhere(&log, "restored");
}
