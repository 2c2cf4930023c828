//! Reads (part of the `log_append_read` tests).

use super::*;

/// A log of `batches` batches; batch `i` holds `1 + i % 4` records with 60-byte values.
fn filled_log(dir: &Path, cfg: LogConfig, batches: usize) -> Log {
    let (log, _) = open(dir, cfg);
    for i in 0..batches {
        log.append_batch(sized_batch(1 + i % 4, 60, NOW + i as i64)).unwrap();
    }
    log
}

#[test]
fn read_returns_whole_batches_starting_at_the_batch_holding_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(
        dir.path(),
        LogConfig::default().segment_bytes(2_000).index_interval_bytes(300),
        60,
    );
    assert!(log.segment_count() > 3);
    let leo = log.log_end_offset();
    let all: Vec<BatchView> = log.read(0, usize::MAX).unwrap().batches().collect();
    assert_eq!(all.last().unwrap().next_offset(), leo);
    for offset in 0..leo {
        let holder = all
            .iter()
            .position(|b| b.base_offset() <= offset && offset <= b.last_offset())
            .unwrap();
        // max_bytes 1: exactly the batch holding the offset.
        let f = log.read(offset, 1).unwrap();
        let got: Vec<BatchView> = f.batches().collect();
        assert_eq!(got, vec![all[holder].clone()], "offset {offset}");
        assert_eq!(f.next_offset(), all[holder].next_offset());
        assert_eq!(f.size_bytes(), all[holder].size());
        // Unbounded: every batch from there to the end, across segments.
        let f = log.read(offset, usize::MAX).unwrap();
        let got: Vec<BatchView> = f.batches().collect();
        assert_eq!(got, all[holder..].to_vec(), "offset {offset}");
        assert_eq!(f.next_offset(), leo);
        assert_eq!(f.log_end_offset(), leo);
    }
}

#[test]
fn read_stops_before_max_bytes_but_always_returns_at_least_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(10_000), 80);
    let all: Vec<BatchView> = log.read(0, usize::MAX).unwrap().batches().collect();
    for max_bytes in [0, 1, 100, 250, 500, 1_000, 2_999, 3_000, 5_000, 100_000] {
        let mut offset = 0;
        while offset < log.log_end_offset() {
            let f = log.read(offset, max_bytes).unwrap();
            let got: Vec<BatchView> = f.batches().collect();
            assert!(!got.is_empty());
            assert!(
                f.size_bytes() <= max_bytes || got.len() == 1,
                "{max_bytes}: {}",
                f.size_bytes()
            );
            // Greedy: the next batch would not have fit.
            let next = all.iter().find(|b| b.base_offset() == f.next_offset());
            if let Some(next) = next {
                assert!(
                    f.size_bytes() + next.size() > max_bytes,
                    "read stopped early at {max_bytes}"
                );
            }
            offset = f.next_offset();
        }
        assert_eq!(offset, log.log_end_offset());
    }
    // One batch larger than max_bytes on its own.
    log.append_batch(sized_batch(10, 500, NOW)).unwrap();
    let f = log.read(log.log_end_offset() - 1, 10).unwrap();
    assert_eq!(f.batches().count(), 1);
    assert!(f.size_bytes() > 5_000);
    assert_eq!(f.next_offset(), log.log_end_offset());
}

#[test]
fn read_is_out_of_range_below_the_log_start_and_above_the_log_end_and_empty_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(1_000), 30);
    let leo = log.log_end_offset();
    let f = log.read(leo, 1_000).unwrap();
    assert!(f.is_empty());
    assert_eq!((f.size_bytes(), f.next_offset(), f.batches().count()), (0, leo, 0));
    assert_eq!(f.records().count(), 0);
    for bad in [leo + 1, leo + 1_000, -1] {
        match log.read(bad, 1_000) {
            Err(Error::OffsetOutOfRange { offset, log_start_offset: 0, log_end_offset }) => {
                assert_eq!((offset, log_end_offset), (bad, leo));
            }
            other => panic!("read({bad}): expected OffsetOutOfRange, got {other:?}"),
        }
    }
    log.close().unwrap();
    drop(log);
    // Reopen with a log start offset in the middle of a batch.
    let start = 17;
    let options = LoadOptions::clean().with_recovery_point(leo).with_log_start_offset(start);
    let log = open_with(
        dir.path(),
        LogConfig::default().segment_bytes(1_000),
        ManualClock::new(NOW),
        options,
    );
    assert_eq!(log.log_start_offset(), start);
    assert!(matches!(log.read(start - 1, 1_000), Err(Error::OffsetOutOfRange { .. })));
    assert!(matches!(log.read(0, 1_000), Err(Error::OffsetOutOfRange { .. })));
    let f = log.read(start, 1).unwrap();
    let first = f.batches().next().unwrap();
    assert!(first.base_offset() <= start && start <= first.last_offset());
    assert_eq!(f.records().next().unwrap().unwrap().offset(), start);
    assert!(log.read(log.log_end_offset(), 10).unwrap().is_empty());
    // An empty log: offset 0 is the end.
    let empty = tempfile::tempdir().unwrap();
    let (log, _) = open(empty.path(), LogConfig::default());
    assert!(log.read(0, 100).unwrap().is_empty());
    assert!(matches!(log.read(1, 100), Err(Error::OffsetOutOfRange { .. })));
}

#[test]
fn reads_share_the_segments_log_path_instead_of_copying_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(
        dir.path(),
        LogConfig::default().segment_bytes(1_500).index_interval_bytes(100),
        50,
    );
    let (a, b) = (log.read(3, 1).unwrap(), log.read(4, 1).unwrap());
    assert_eq!(a.slices().len(), 1, "a read inside one segment returns one slice");
    let (pa, pb) = (&a.slices()[0].path, &b.slices()[0].path);
    assert_eq!(pa, pb, "offsets 3 and 4 live in the first segment");
    assert!(std::sync::Arc::ptr_eq(pa, pb), "one shared path, not a copy per read");
    // Across segments: one slice per segment, each naming its own file.
    let all = log.read(0, usize::MAX).unwrap();
    let paths: Vec<_> = all.slices().iter().map(|s| s.path.to_path_buf()).collect();
    assert!(paths.len() > 3);
    assert!(paths.windows(2).all(|w| w[0] < w[1]), "{paths:?}");
    assert!(std::sync::Arc::ptr_eq(&all.slices()[0].path, pa));
}

#[test]
fn fetched_slices_name_the_file_position_and_bytes_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(
        dir.path(),
        LogConfig::default().segment_bytes(1_500).index_interval_bytes(100),
        50,
    );
    let check = |log: &Log| {
        for (offset, max_bytes) in [(0, usize::MAX), (7, 2_000), (33, 1), (40, 900), (0, 4_000)] {
            let f = log.read(offset, max_bytes).unwrap();
            let mut next = None;
            for s in f.slices() {
                let mut file = std::fs::File::open(&s.path).unwrap();
                file.seek(SeekFrom::Start(s.position)).unwrap();
                let mut on_disk = vec![0; s.bytes.len()];
                file.read_exact(&mut on_disk).unwrap();
                assert_eq!(on_disk, s.bytes.as_ref(), "{} @ {}", s.path.display(), s.position);
                assert!(common::is_segment_log_name(s.path.file_name().unwrap()));
                // Whole batches, in offset order.
                let mut it = BatchIter::validating(s.bytes.clone());
                for (_, b) in it.by_ref() {
                    assert!(next.is_none_or(|n| b.base_offset() >= n));
                    next = Some(b.next_offset());
                }
                assert_eq!(it.valid_len(), s.bytes.len());
            }
            assert_eq!(next, Some(f.next_offset()));
        }
    };
    check(&log);
    assert!(
        log.read(0, usize::MAX).unwrap().slices().len() > 3,
        "several segments, several slices"
    );
    log.close().unwrap();
    drop(log);
    // And through the lazy maps of a reopened log.
    let options = LoadOptions::clean();
    let log = open_with(
        dir.path(),
        LogConfig::default().segment_bytes(1_500),
        ManualClock::new(NOW),
        options,
    );
    check(&log);
}

#[test]
fn read_returns_contiguous_batches_and_never_skips_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(
        dir.path(),
        LogConfig::default().segment_bytes(1_500).index_interval_bytes(100),
        50,
    );
    // e.g. read(3, 500) returned 3..=5 from the first segment, found the next batch too big for
    // the rest of the budget, went on to the next segments and returned offsets from 41 on.
    let leo = log.log_end_offset();
    for max_bytes in [1, 200, 500, 900, 1_200, 2_000, 3_000] {
        for start in 0..leo {
            let f = log.read(start, max_bytes).unwrap();
            let mut next: Option<i64> = None;
            for b in f.batches() {
                if let Some(n) = next {
                    assert_eq!(
                        b.base_offset(),
                        n,
                        "read({start}, {max_bytes}) skipped offsets {n}..{}",
                        b.base_offset()
                    );
                }
                next = Some(b.next_offset());
            }
            assert_eq!(next, Some(f.next_offset()));
        }
    }
}

/// Whether bytes lie inside one of the mapped slices `f` was read from (a
/// view of them, not a copy).
fn in_fetched_slices(f: &strata::Fetched) -> impl Fn(&[u8]) -> bool {
    let ranges: Vec<std::ops::Range<usize>> = f
        .slices()
        .iter()
        .map(|s| s.bytes.as_ptr() as usize..s.bytes.as_ptr() as usize + s.bytes.len())
        .collect();
    move |b: &[u8]| {
        let (start, end) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
        ranges.iter().any(|r| r.start <= start && end <= r.end)
    }
}

#[test]
fn keys_and_values_of_uncompressed_batches_point_into_the_mapped_slice() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(1_500), 20);
    let f = log.read(0, usize::MAX).unwrap();
    let inside = in_fetched_slices(&f);
    let mut n = 0;
    for r in f.records() {
        let r = r.unwrap();
        assert!(inside(r.key().unwrap()), "key of {} is a copy", r.offset());
        assert!(inside(r.value().unwrap()), "value of {} is a copy", r.offset());
        n += 1;
    }
    assert_eq!(n, log.log_end_offset());
}

#[test]
fn records_skip_offsets_below_the_requested_one_inside_the_first_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    log.append_batch(sized_batch(5, 10, NOW)).unwrap(); // 0..=4
    log.append_batch(client_batch(
        Compression::Gzip,
        &[(NOW, Some("a"), "1"), (NOW, Some("b"), "2"), (NOW, Some("c"), "3")],
    ))
    .unwrap(); // 5..=7
    for start in 0..8 {
        let f = log.read(start, usize::MAX).unwrap();
        let offsets: Vec<i64> = f.records().map(|r| r.unwrap().offset()).collect();
        assert_eq!(offsets, (start..8).collect::<Vec<_>>(), "start {start}");
        // The first batch is returned whole.
        assert!(f.batches().next().unwrap().base_offset() <= start);
    }
    let f = log.read(6, 1).unwrap();
    let values: Vec<Bytes> = f.records().map(|r| r.unwrap().value().unwrap().clone()).collect();
    assert_eq!(values, vec![Bytes::from("2"), Bytes::from("3")]);
    assert_eq!(f.batches().next().unwrap().base_offset(), 5);
}

#[test]
fn concurrent_reads_never_see_past_the_log_end_or_a_torn_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) =
        open(dir.path(), LogConfig::default().segment_bytes(20_000).index_interval_bytes(500));
    const BATCHES: usize = 1_500;
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..BATCHES {
                // Equal-sized batches: see read_returns_contiguous_batches_and_never_skips_offsets.
                log.append_batch(sized_batch(2, 40, NOW + i as i64)).unwrap();
            }
        })
    };
    let mut offset = 0;
    let mut batches = 0;
    let mut empty_reads = 0u64;
    while batches < BATCHES {
        let f = log.read(offset, 4_096).unwrap();
        assert!(f.next_offset() <= f.log_end_offset());
        let mut next = offset;
        for s in f.slices() {
            let mut it = BatchIter::validating(s.bytes.clone());
            for (_, b) in it.by_ref() {
                assert!(b.last_offset() < f.log_end_offset(), "batch past the snapshotted LEO");
                assert!(b.base_offset() == next || (next == offset && b.base_offset() <= offset));
                next = b.next_offset();
                batches += 1;
            }
            assert_eq!(it.valid_len(), s.bytes.len(), "torn or corrupt batch in a read");
        }
        if f.is_empty() {
            empty_reads += 1;
            std::thread::yield_now();
        }
        offset = f.next_offset();
    }
    writer.join().unwrap();
    assert_eq!(offset, log.log_end_offset());
    assert!(log.segment_count() > 2);
    eprintln!("{empty_reads} empty reads while racing the appender");
}

#[test]
fn headers_and_null_values_survive_append_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    let records = vec![
        Record::new("k", "v").timestamp(NOW).header("a", "1").header("a", "2"),
        Record::tombstone("gone").timestamp(NOW + 1),
        Record {
            timestamp: NOW + 2,
            key: None,
            value: None,
            headers: vec![Header::new("n", None::<Bytes>)],
        },
    ];
    let mut b = BatchBuilder::new(0);
    for r in &records {
        b.append(r).unwrap();
    }
    log.append_batch(b.build().unwrap()).unwrap();
    let got: Vec<Record> =
        log.read(0, 1).unwrap().records().map(|r| r.unwrap().to_record()).collect();
    assert_eq!(got, records);
}

/// The stored bytes of every batch in the log, in order.
fn stored_batches(log: &Log) -> Vec<Vec<u8>> {
    let f = log.read(0, usize::MAX).unwrap();
    f.batches().map(|b| b.as_bytes().to_vec()).collect()
}

#[test]
fn borrowed_owned_and_client_built_records_store_the_same_bytes() {
    use strata::{BorrowedHeader, BorrowedRecord};
    let key_buf = String::from("order-1order-2");
    let value_buf = vec![7u8; 300];
    for cfg in [
        LogConfig::default(),
        LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime),
        LogConfig::default().compression_type(TopicCompression::Codec(Compression::Gzip)),
    ] {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let (borrowed_log, _) = open(a.path(), cfg.clone());
        let (owned_log, _) = open(b.path(), cfg.clone());
        let (client_log, _) = open(c.path(), cfg.clone());
        let borrowed = [
            BorrowedRecord::new(&key_buf[..7], &value_buf[..100]).timestamp(NOW - 3),
            BorrowedRecord {
                headers: vec![
                    BorrowedHeader::new("h", Some("x")),
                    BorrowedHeader::new("n", None::<&str>),
                ],
                ..BorrowedRecord::tombstone(&key_buf[7..])
            },
            BorrowedRecord::unkeyed(&value_buf[100..]),
        ];
        let owned: Vec<Record> = borrowed.iter().map(BorrowedRecord::to_record).collect();
        let at = borrowed_log.append(&borrowed).unwrap();
        assert_eq!(owned_log.append(&owned).unwrap(), at);
        // The same records as a client batch, timestamps already stamped.
        let codec = cfg.compression_type.target(Compression::None);
        let mut batch = BatchBuilder::new(0).compression(codec, None);
        for r in &owned {
            let ts = if r.timestamp == NO_TIMESTAMP { NOW } else { r.timestamp };
            batch.append(&r.clone().timestamp(ts)).unwrap();
        }
        assert_eq!(client_log.append_batch(batch.build().unwrap()).unwrap(), at);
        let stored = stored_batches(&borrowed_log);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored, stored_batches(&owned_log));
        assert_eq!(stored, stored_batches(&client_log));
        let view = BatchView::new(Bytes::from(stored[0].clone())).unwrap();
        view.validate_records().unwrap();
        let back: Vec<Record> = view.records().unwrap().map(|r| r.unwrap().to_record()).collect();
        assert_eq!(
            back.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
            owned.iter().map(|r| r.key.clone()).collect::<Vec<_>>()
        );
        assert_eq!(back[1].headers, owned[1].headers);
        assert_eq!(back[2].value.as_deref(), Some(&value_buf[100..]));
    }
}

#[test]
fn records_the_log_builds_are_held_to_the_topic_rules_without_revalidation() {
    use strata::BorrowedRecord;
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default()
        .cleanup_policy(CleanupPolicy::COMPACT)
        .message_timestamp_difference_max_ms(1_000)
        .max_message_bytes(500);
    let (log, _) = open(dir.path(), cfg);
    let keyless = log.append(&[BorrowedRecord::new("k", "v"), BorrowedRecord::unkeyed("v")]);
    assert!(
        matches!(&keyless, Err(Error::InvalidRecord { reason }) if reason.contains("offset delta 1 without a key")),
        "{keyless:?}"
    );
    let stale = log.append(&[BorrowedRecord::new("k", "v").timestamp(NOW - 5_000)]);
    assert!(
        matches!(stale, Err(Error::InvalidTimestamp { timestamp, .. }) if timestamp == NOW - 5_000)
    );
    let big = vec![0u8; 600];
    let too_large = log.append(&[BorrowedRecord::new("k", &big)]);
    assert!(matches!(
        too_large,
        Err(Error::RecordTooLarge { limit_name: "max.message.bytes", .. })
    ));
    assert_eq!(log.log_end_offset(), 0, "nothing refused was written");
    let at = log.append(&[BorrowedRecord::new("k", "v")]).unwrap();
    assert_eq!((at.base_offset, at.max_timestamp), (0, NOW));
}

/// `(offset, record)` of every record a fetch yields through the borrowed views.
fn viewed(f: &strata::Fetched) -> Vec<(i64, Record)> {
    let mut out = Vec::new();
    for batch in f.record_batches() {
        let batch = batch.unwrap();
        for r in batch.records() {
            let r = r.unwrap();
            out.push((r.offset(), r.to_record()));
        }
    }
    out
}

#[test]
fn record_views_yield_the_same_records_as_owned_records_from_every_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) =
        open(dir.path(), LogConfig::default().segment_bytes(1_200).index_interval_bytes(200));
    for i in 0..30i64 {
        if i % 3 == 0 {
            let v = format!("z{i}");
            log.append_batch(client_batch(
                Compression::Gzip,
                &[(NOW + i, Some("a"), v.as_str()), (NOW + i, None, "b"), (NOW + i, Some("c"), "")],
            ))
            .unwrap();
        } else {
            log.append_batch(sized_batch(1 + (i as usize) % 5, 30, NOW + i)).unwrap();
        }
    }
    assert!(log.segment_count() > 3);
    let leo = log.log_end_offset();
    for start in 0..leo {
        for max_bytes in [1, 700, usize::MAX] {
            let f = log.read(start, max_bytes).unwrap();
            let owned: Vec<(i64, Record)> =
                f.records().map(|r| r.unwrap()).map(|r| (r.offset(), r.to_record())).collect();
            assert_eq!(owned.first().map(|r| r.0), Some(start), "start {start}");
            assert_eq!(viewed(&f), owned, "start {start}, max_bytes {max_bytes}");
        }
    }
}

#[test]
fn record_views_of_uncompressed_batches_point_into_the_mapped_slice() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled_log(dir.path(), LogConfig::default().segment_bytes(1_500), 20);
    let f = log.read(0, usize::MAX).unwrap();
    let inside = in_fetched_slices(&f);
    let mut n = 0;
    for batch in f.record_batches() {
        let batch = batch.unwrap();
        for r in batch.records() {
            let r = r.unwrap();
            assert!(inside(r.key().unwrap()), "key of {} is a copy", r.offset());
            assert!(inside(r.value().unwrap()), "value of {} is a copy", r.offset());
            n += 1;
        }
    }
    assert_eq!(n, log.log_end_offset());
}

#[test]
fn a_byte_flipped_after_the_append_fails_views_and_records_at_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    for i in 0..4 {
        log.append_batch(sized_batch(10, 50, NOW + i)).unwrap();
    }
    // Both paths read the batch whole once, before anything is changed.
    assert_eq!(viewed(&log.read(0, usize::MAX).unwrap()).len(), 40);
    let (path, position, batch) = disk_batches(dir.path()).swap_remove(2);
    // A value byte of the third batch changes on disk (the map sees the same page).
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let at = (position + batch.size() - 10) as u64;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(at)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    std::io::Write::write_all(&mut file, &[byte[0] ^ 0x20]).unwrap();
    drop(file);
    // A point read inside the damaged batch and a scan across it both stop
    // there: a batch verified by an earlier read is verified again.
    for start in [25, 0] {
        let f = log.read(start, usize::MAX).unwrap();
        let err = f.records().find_map(Result::err).expect("records() reports the damage");
        assert!(
            matches!(&err, Error::Corrupt { position: p, source: FormatError::CrcMismatch { .. }, .. } if *p == position as u64),
            "{err}"
        );
        let mut seen = Vec::new();
        let mut failed = None;
        for b in f.record_batches() {
            match b {
                Ok(b) => seen.extend(b.records().map(|r| r.unwrap().offset())),
                Err(e) => failed = Some(e),
            }
        }
        assert!(
            matches!(failed, Some(Error::Corrupt { position: p, .. }) if p == position as u64),
            "record_batches() reports the damage"
        );
        assert!(seen.iter().all(|&o| o < 20), "nothing of or after the damaged batch: {seen:?}");
    }
}

/// A held fetch of three one-record batches whose second batch's framing
/// is changed on disk after the read framed it (another program's write,
/// or a page dropped and read again from a disk whose bytes rotted: the
/// magic and the length are not under the CRC), as `(byte, new bytes)`.
fn fetch_then_damage_the_second_batch(dir: &Path, at: usize, bytes: &[u8]) -> strata::Fetched {
    use std::os::unix::fs::FileExt;
    let (log, _) = open(dir, LogConfig::default());
    for i in 0..3 {
        log.append_batch(sized_batch(1, 20, NOW + i)).unwrap();
    }
    let fetched = log.read(0, usize::MAX).unwrap();
    assert_eq!(fetched.next_offset(), 3);
    let first = fetched.batches().next().unwrap().size();
    let file = std::fs::OpenOptions::new().write(true).open(dir.join(LOG0)).unwrap();
    file.write_at(bytes, (first + at) as u64).unwrap();
    fetched
}

const LOG0: &str = "00000000000000000000.log";

#[test]
fn a_fetched_batch_whose_framing_changed_after_the_read_is_an_error_not_the_end_of_the_fetch() {
    // The magic byte (a flipped bit: 2 -> 6), and a length grown past the fetch.
    for (at, bytes) in [(16, &[6u8][..]), (8, &[0x00, 0x10, 0x00, 0x00][..])] {
        let dir = tempfile::tempdir().unwrap();
        let fetched = fetch_then_damage_the_second_batch(dir.path(), at, bytes);
        let records: Vec<_> = fetched.records().map(|r| r.map(|r| r.offset())).collect();
        assert!(
            matches!(records[..], [Ok(0), Err(Error::Corrupt { .. })]),
            "byte {at}: records() ended quietly after offset 0 of a fetch up to 3: {records:?}"
        );
        let unchecked = fetched.records_unchecked().map(|r| r.map(|r| r.offset()));
        let unchecked: Vec<_> = unchecked.collect();
        assert!(matches!(unchecked[..], [Ok(0), Err(Error::Corrupt { .. })]), "{unchecked:?}");
        let batches: Vec<_> =
            fetched.record_batches().map(|b| b.map(|b| b.batch().base_offset())).collect();
        assert!(matches!(batches[..], [Ok(0), Err(Error::Corrupt { .. })]), "{batches:?}");
        let committed: Vec<_> =
            fetched.committed_records().map(|r| r.map(|r| r.offset())).collect();
        assert!(matches!(committed[..], [Ok(0), Err(Error::Corrupt { .. })]), "{committed:?}");
    }
}
