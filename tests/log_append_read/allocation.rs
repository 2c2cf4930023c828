//! Blocks given ahead of a growing `.log` (`fallocate` keeping the size, so
//! each `pwrite` finds its blocks allocated): the file's length is only what
//! was written, every record reads back, and a sealed segment keeps no block
//! past its end.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use strata::internals::io::file;
use strata::{BorrowedRecord, LogConfig};

use super::open;

/// Bytes of blocks the file holds (`st_blocks` counts 512-byte units).
fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

fn log_file(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Whether the file system under `dir` gives a file blocks past its end
/// without growing it; where it cannot, strata's `.log`s grow as written.
fn keeps_blocks_past_the_end(dir: &Path) -> bool {
    let path = dir.join("probe");
    let f = std::fs::File::create(&path).unwrap();
    let ok = file::preallocate(&f, &path, 0, 1 << 20).is_ok() && allocated(&path) >= 1 << 20;
    std::fs::remove_file(&path).unwrap();
    ok
}

#[test]
fn a_growing_log_gets_blocks_ahead_its_length_never_shows_and_a_roll_gives_them_back() {
    let dir = tempfile::tempdir().unwrap();
    if !keeps_blocks_past_the_end(dir.path()) {
        eprintln!("skipped: the file system under {:?} has no fallocate", dir.path());
        return;
    }
    let (log, _clock) = open(dir.path(), LogConfig::default());
    let value = [7u8; 100];
    let mut written = 0u64;
    let mut total = 0usize;
    // 40 batches of 100 records: about 470 KB, past the 256 KiB from which
    // blocks are given ahead.
    for b in 0..40 {
        let keys: Vec<String> = (0..100).map(|i| format!("k{:05}", b * 100 + i)).collect();
        let records: Vec<BorrowedRecord<'_>> =
            keys.iter().map(|k| BorrowedRecord::new(k.as_bytes(), &value)).collect();
        written += log.append(&records).unwrap().size as u64;
        total += records.len();
    }
    let active = log_file(dir.path(), 0);
    // The length is exactly the batches written; the blocks run past it.
    assert_eq!(std::fs::metadata(&active).unwrap().len(), written);
    assert_eq!(log.size_bytes(), written);
    let blocks = allocated(&active);
    assert!(blocks >= written + (16 << 10), "{blocks} bytes of blocks for {written} written");
    // Every record reads back, and nothing past the last batch.
    let mut offset = 0;
    let mut read = 0;
    while offset < log.log_end_offset() {
        let fetched = log.read(offset, 1 << 20).unwrap();
        for r in fetched.records() {
            let r = r.unwrap();
            assert_eq!(r.key().unwrap(), format!("k{:05}", r.offset()).as_bytes());
            assert_eq!(r.value().unwrap(), &value[..]);
            read += 1;
        }
        offset = fetched.next_offset();
    }
    assert_eq!(read, total);
    // Sealed by the roll: at most the block holding its last byte past the length.
    log.roll().unwrap();
    let sealed = allocated(&active);
    assert!(sealed < written + 4096, "{sealed} bytes of blocks for {written} after the roll");
    assert_eq!(std::fs::metadata(&active).unwrap().len(), written);
    log.close().unwrap();
}

#[test]
fn a_small_log_gets_no_block_past_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock) = open(dir.path(), LogConfig::default());
    let value = [1u8; 1000];
    let mut written = 0u64;
    // About 100 KB: under the 256 KiB from which blocks are given ahead.
    for i in 0..100 {
        let key = format!("k{i}");
        written += log.append(&[BorrowedRecord::new(key.as_bytes(), &value)]).unwrap().size as u64;
    }
    let active = log_file(dir.path(), 0);
    assert_eq!(std::fs::metadata(&active).unwrap().len(), written);
    let blocks = allocated(&active);
    assert!(blocks < written + 4096, "{blocks} bytes of blocks for {written} written");
    log.close().unwrap();
}

/// Blocks a crashed process left past a `.log`'s end (given ahead, never
/// given back) go when the segment is sealed, even with no append since the
/// open; and giving them back keeps the file's modification time, by which a
/// segment whose records carry no timestamp is retained.
#[test]
fn blocks_a_crash_left_past_the_end_go_at_the_roll_which_keeps_the_logs_mtime() {
    let dir = tempfile::tempdir().unwrap();
    if !keeps_blocks_past_the_end(dir.path()) {
        eprintln!("skipped: the file system under {:?} has no fallocate", dir.path());
        return;
    }
    let value = [7u8; 100];
    let mut written = 0u64;
    {
        let (log, _clock) = open(dir.path(), LogConfig::default());
        for b in 0..40 {
            let keys: Vec<String> = (0..100).map(|i| format!("k{:05}", b * 100 + i)).collect();
            let records: Vec<BorrowedRecord<'_>> =
                keys.iter().map(|k| BorrowedRecord::new(k.as_bytes(), &value)).collect();
            written += log.append(&records).unwrap().size as u64;
        }
        log.close().unwrap();
    }
    // What a process that crashed after giving blocks ahead leaves: blocks
    // past the end, and an mtime from before the crash.
    let active = log_file(dir.path(), 0);
    let f = std::fs::OpenOptions::new().write(true).open(&active).unwrap();
    file::preallocate(&f, &active, written, written + (1 << 20)).unwrap();
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(3_600);
    f.set_modified(then).unwrap();
    drop(f);
    assert!(allocated(&active) >= written + (1 << 20));
    let (log, _clock) = open(dir.path(), LogConfig::default());
    log.roll().unwrap();
    let sealed = allocated(&active);
    assert!(sealed < written + 4096, "{sealed} bytes of blocks for {written} after the roll");
    assert_eq!(std::fs::metadata(&active).unwrap().len(), written);
    assert_eq!(std::fs::metadata(&active).unwrap().modified().unwrap(), then);
    log.close().unwrap();
}
