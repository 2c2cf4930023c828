//! Lost and damaged indexes (part of the `log_recovery` tests).

use super::*;

/// Deletes every file of `dir` whose name ends with `ext`, reopens after a
/// clean shutdown, checks reads, closes, and returns the index files.
fn reopen_without(
    dir: &Path,
    ext: &str,
    recs: &[Rec],
    segments: usize,
) -> BTreeMap<String, Vec<u8>> {
    for (n, _) in files(dir) {
        if n.ends_with(ext) {
            fs::remove_file(dir.join(n)).unwrap();
        }
    }
    let (log, report) = open(dir, clean());
    assert_eq!(report.truncated_bytes, 0);
    if ext == ".index" {
        assert_eq!(report.recovered_segments, segments, "a missing .index is always rebuilt");
    }
    assert_eq!(read_all(&log), recs);
    assert_every_offset_reads(&log, recs);
    assert_time_lookups(&log, recs);
    log.close().unwrap();
    index_files(dir)
}

#[test]
fn missing_offset_indexes_are_rebuilt_after_a_clean_shutdown_as_written_live() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let recs = closed_log(&dir, 60);
    let live = index_files(&dir);
    let segments = live.len() / 2;
    assert!(reopen_without(&dir, ".index", &recs, segments) == live, "rebuilt .index files differ");
    common::assert_kafka_accepts(&dir, INTERVAL);
}

#[test]
fn missing_time_indexes_are_rebuilt_after_a_clean_shutdown_as_written_live() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let recs = closed_log(&dir, 60);
    let live = index_files(&dir);
    let segments = live.len() / 2;
    let rebuilt = reopen_without(&dir, ".timeindex", &recs, segments);
    for (n, bytes) in &live {
        assert_eq!(rebuilt.get(n), Some(bytes), "{n}");
    }
    common::assert_kafka_accepts(&dir, INTERVAL);
}

#[test]
fn missing_indexes_of_both_kinds_are_rebuilt_after_an_unclean_shutdown_as_written_live() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let recs = closed_log(&dir, 60);
    let live = index_files(&dir);
    for n in live.keys() {
        fs::remove_file(dir.join(n)).unwrap();
    }
    let leo = recs.last().unwrap().offset + 1;
    // Recovery point at the end: only the missing .index files force recovery below it.
    let (log, report) = open(&dir, unclean(leo));
    assert_eq!(report.recovered_segments, live.len() / 2);
    assert_eq!(read_all(&log), recs);
    assert_time_lookups(&log, &recs);
    log.close().unwrap();
    assert!(index_files(&dir) == live, "rebuilt index files differ from the live ones");
    common::assert_kafka_accepts(&dir, INTERVAL);
}

/// A closed log whose active segment has at least `entries` offset-index entries.
fn closed_log_with_indexed_active_segment(dir: &Path, entries: usize) -> Vec<Rec> {
    let (log, _) = open(dir, clean());
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 30);
    log.roll().unwrap();
    // Rising timestamps: every offset-index entry brings a time-index entry.
    for j in 0..10 {
        let first = recs.len();
        let records: Vec<Record> = (first..first + 1 + j % 3)
            .map(|i| record(i).timestamp(NOW - 1000 + i as i64))
            .collect();
        append(&log, &mut recs, &records, codec(j));
    }
    let active = *log.segment_base_offsets().last().unwrap();
    log.close().unwrap();
    for (ext, size) in [("index", 8), ("timeindex", 12)] {
        let len = fs::metadata(dir.join(name(active, ext))).unwrap().len() as usize;
        assert!(len / size >= entries, "active .{ext} has {} entries", len / size);
    }
    recs
}

/// Ways of damaging an index file's bytes.
/// A named way to damage an index file.
type Damage = (&'static str, Box<dyn Fn(&mut Vec<u8>)>);

fn damages(entry: usize) -> Vec<Damage> {
    vec![
        ("all 0xff", Box::new(|b: &mut Vec<u8>| b.iter_mut().for_each(|x| *x = 0xff))),
        (
            "ascii garbage",
            Box::new(|b: &mut Vec<u8>| {
                let text = b"garbage!garbage!garbage!";
                b.iter_mut().zip(text.iter().cycle()).for_each(|(x, t)| *x = *t);
            }),
        ),
        (
            "length not a multiple of the entry size",
            Box::new(|b: &mut Vec<u8>| b.extend([1, 2, 3])),
        ),
        (
            "first two entries swapped",
            Box::new(move |b: &mut Vec<u8>| {
                let (first, rest) = b.split_at_mut(entry);
                first.swap_with_slice(&mut rest[..entry]);
            }),
        ),
        (
            "an entry of zeros between entries",
            Box::new(move |b: &mut Vec<u8>| {
                b[entry..2 * entry].iter_mut().for_each(|x| *x = 0);
            }),
        ),
    ]
}

#[test]
fn corrupt_index_of_the_active_segment_is_detected_and_rebuilt_after_a_clean_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("t-0");
    let recs = closed_log_with_indexed_active_segment(&src, 3);
    let live = index_files(&src);
    let live_files = files(&src);
    let active = live_files.keys().filter_map(|n| n.strip_suffix(".log")).max().unwrap();
    let active: i64 = active.parse().unwrap();
    for (ext, entry) in [("index", 8), ("timeindex", 12)] {
        for (what, damage) in damages(entry) {
            let (_tmp, dir) = copy_of(&src);
            let path = dir.join(name(active, ext));
            let mut bytes = live_files[&name(active, ext)].clone();
            damage(&mut bytes);
            fs::write(&path, &bytes).unwrap();
            let ctx = format!(".{ext}: {what}");

            let (log, report) = open(&dir, clean());
            assert_eq!(report.recovered_segments, 1, "{ctx}: not detected");
            assert_eq!(report.truncated_bytes, 0, "{ctx}");
            assert_eq!(read_all(&log), recs, "{ctx}");
            assert_every_offset_reads(&log, &recs);
            assert_time_lookups(&log, &recs);
            log.close().unwrap();
            assert!(index_files(&dir) == live, "{ctx}: rebuilt indexes differ from the live ones");
        }
    }
    common::assert_kafka_accepts(&src, INTERVAL);
}

#[test]
fn indexes_rebuilt_by_recovery_equal_the_indexes_written_live() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("t-0");
    let recs = closed_log(&src, 80);
    let live = files(&src);
    common::assert_kafka_accepts(&src, INTERVAL);

    // Recovering every segment over its existing indexes...
    let (_t1, dir) = copy_of(&src);
    let (log, report) = open(&dir, unclean(0));
    assert_eq!(report.recovered_segments, live.keys().filter(|n| n.ends_with(".log")).count());
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    assert!(files(&dir) == live, "indexes rebuilt over the old ones differ from the live ones");

    // ...and without them.
    let (_t2, dir) = copy_of(&src);
    for n in index_files(&dir).keys() {
        fs::remove_file(dir.join(n)).unwrap();
    }
    let (log, _) = open(&dir, unclean(0));
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    assert!(files(&dir) == live, "indexes rebuilt from nothing differ from the live ones");
}
