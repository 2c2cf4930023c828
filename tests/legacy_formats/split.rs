//! Legacy segments whose offsets overflow their base, split as Kafka's
//! `splitOverflowedSegment` splits them (part of the `legacy_formats` tests).

use super::*;

/// Segment 0 holds offsets 0, 1, `FAR`, `FAR + 1` (plain and gzip magic 1);
/// segment `FAR + 2` holds two more. Such gaps come from compaction, so the
/// topic is compacted.
fn overflowed_partition(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    write_legacy(
        &segment(dir, 0),
        &[
            entry(1, 0, 0..=1, None),
            entry(1, 0, FAR..=FAR, None),
            entry(1, 1, FAR + 1..=FAR + 1, None),
        ],
    );
    write_legacy(&segment(dir, FAR + 2), &[entry(1, 0, FAR + 2..=FAR + 3, None)]);
}

fn open_compacted(dir: &Path) -> Result<(Log, LoadReport), strata::Error> {
    let options = LoadOptions::default();
    let config = config().cleanup_policy(CleanupPolicy::COMPACT);
    Log::open(dir, "t", 0, config, ManualClock::new(NOW), options)
}

#[test]
fn a_legacy_segment_whose_offsets_overflow_its_base_is_split_not_cut() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    overflowed_partition(&dir);
    let expected = kafka_python_records(&dir);
    // A read-only open changes nothing, serves every record and reports the
    // split a writer's open makes, not a cut.
    let before = fs::read(segment(&dir, 0)).unwrap();
    {
        let options = LoadOptions::default();
        let config = config().cleanup_policy(CleanupPolicy::COMPACT);
        let (log, report) =
            Log::open_read_only(&dir, "t", 0, config, ManualClock::new(NOW), options).unwrap();
        assert_eq!((report.split_segments, report.truncated_bytes), (1, 0), "{report:?}");
        assert_eq!(read_all(&log), expected);
    }
    assert_eq!(fs::read(segment(&dir, 0)).unwrap(), before);
    let (log, report) = open_compacted(&dir).unwrap();
    assert_eq!((report.split_segments, report.truncated_bytes), (1, 0), "{report:?}");
    assert_eq!(log.segment_base_offsets(), vec![0, FAR, FAR + 2]);
    assert_eq!(log.log_end_offset(), FAR + 4);
    assert_eq!(read_all(&log), expected);
    let info = log.append(&[Record::new("k", "v")]).unwrap();
    assert_eq!(info.base_offset, FAR + 4);
    log.close().unwrap();
    assert!(common::swap_leftovers(&dir).is_empty(), "{:?}", common::swap_leftovers(&dir));
    let (log, report) = open_compacted(&dir).unwrap();
    assert_eq!(report.split_segments, 0);
    assert_eq!(read_all(&log).len(), 7);
    log.close().unwrap();
    if let Some(kafka) = common::kverify_dump(&dir) {
        kafka.unwrap();
    }
}

#[test]
fn a_crash_during_a_split_reopens_to_every_record() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    overflowed_partition(&dir);
    let expected = kafka_python_records(&dir);
    {
        let _fault = fault::arm(FaultPlan::new().fail_point("split::after_swap_rename"));
        let err = open_compacted(&dir).unwrap_err();
        assert!(err.to_string().contains("split::after_swap_rename"), "{err}");
    }
    let (log, _) = open_compacted(&dir).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, FAR, FAR + 2]);
    assert_eq!(read_all(&log), expected);
    assert!(common::swap_leftovers(&dir).is_empty(), "{:?}", common::swap_leftovers(&dir));
}

#[test]
fn an_overflowed_legacy_active_segment_is_split_and_takes_appends() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    overflowed_partition(&dir);
    fs::remove_file(segment(&dir, FAR + 2)).unwrap();
    let expected = kafka_python_records(&dir);
    let (log, report) = open_compacted(&dir).unwrap();
    assert_eq!(report.split_segments, 1, "{report:?}");
    assert_eq!(log.segment_base_offsets(), vec![0, FAR]);
    assert_eq!(read_all(&log), expected);
    assert_eq!(log.append(&[Record::new("k", "v")]).unwrap().base_offset, FAR + 2);
    log.close().unwrap();
    let (log, _) = open_compacted(&dir).unwrap();
    assert_eq!(read_all(&log).len(), 5);
    log.close().unwrap();
    if let Some(kafka) = common::kverify_dump(&dir) {
        kafka.unwrap();
    }
}

#[test]
fn a_failure_at_any_rename_of_an_active_segments_split_reopens_to_every_record() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    overflowed_partition(&template);
    fs::remove_file(segment(&template, FAR + 2)).unwrap();
    let partition = |name: &str| {
        let dir = tmp.path().join(name).join("t-0");
        fs::create_dir_all(&dir).unwrap();
        for f in fs::read_dir(&template).unwrap() {
            let f = f.unwrap();
            fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
        dir
    };
    let expected = {
        let (log, _) = open_compacted(&partition("whole")).unwrap();
        let records = read_all(&log);
        log.close().unwrap();
        records
    };
    let mut failed = 0;
    for n in 1.. {
        let dir = partition(&format!("rename-{n}"));
        let opened = {
            // A disk that stops renaming from the nth rename on, as a crash stops the open.
            let _f = fault::arm(FaultPlan::new().fail_from_nth(fault::Op::Rename, n));
            open_compacted(&dir).map(|(log, _)| log.close())
        };
        if opened.is_ok() {
            break; // the split needs fewer renames
        }
        failed += 1;
        let (log, _) = open_compacted(&dir)
            .unwrap_or_else(|e| panic!("reopening after a failure at rename {n}: {e}"));
        assert_eq!(read_all(&log), expected, "after a failure at rename {n}");
        log.close().unwrap();
    }
    assert!(failed >= 4, "only {failed} renames");
}

/// KAFKA-6264's own shape: an old broker's cleaner grouped segment 0 with a later one and
/// compacted away every record below `FAR`, so segment 0's first batch already overflows its
/// base. Kafka's split names each part after its first batch (`LocalLog.splitOverflowedSegment`:
/// `createNewCleanedSegment(dir, config, firstBatch.baseOffset)`), so the first part is `FAR`.
#[test]
fn a_legacy_segment_whose_first_batch_overflows_its_base_is_split_from_that_batch() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    fs::create_dir_all(&dir).unwrap();
    write_legacy(
        &segment(&dir, 0),
        &[entry(1, 0, FAR..=FAR, None), entry(1, 1, FAR + 1..=FAR + 1, None)],
    );
    write_legacy(&segment(&dir, FAR + 2), &[entry(1, 0, FAR + 2..=FAR + 3, None)]);
    let expected = kafka_python_records(&dir);
    {
        let options = LoadOptions::default();
        let config = config().cleanup_policy(CleanupPolicy::COMPACT);
        let (log, report) =
            Log::open_read_only(&dir, "t", 0, config, ManualClock::new(NOW), options).unwrap();
        assert_eq!((report.split_segments, report.truncated_bytes), (1, 0), "{report:?}");
        assert_eq!(read_all(&log), expected);
    }
    // A crash after the part's rename to `.swap` reopens to every record, and so does the
    // split itself.
    {
        let _fault = fault::arm(FaultPlan::new().fail_point("split::after_swap_rename"));
        let err = open_compacted(&dir).unwrap_err();
        assert!(err.to_string().contains("split::after_swap_rename"), "{err}");
    }
    let (log, report) = open_compacted(&dir).unwrap();
    assert_eq!((report.split_segments, report.truncated_bytes), (1, 0), "{report:?}");
    assert_eq!(log.segment_base_offsets(), vec![FAR, FAR + 2]);
    assert_eq!(read_all(&log), expected);
    assert_eq!(log.append(&[Record::new("k", "v")]).unwrap().base_offset, FAR + 4);
    log.close().unwrap();
    assert!(common::swap_leftovers(&dir).is_empty(), "{:?}", common::swap_leftovers(&dir));
    let (log, report) = open_compacted(&dir).unwrap();
    assert_eq!(report.split_segments, 0);
    assert_eq!(log.segment_base_offsets().get(..2), Some(&[FAR, FAR + 2][..]));
    assert_eq!(read_all(&log).len(), expected.len() + 1);
    log.close().unwrap();
    if let Some(kafka) = common::kverify_dump(&dir) {
        kafka.unwrap();
    }
}
