//! Readers racing retention (part of the `retention` tests).

use super::*;

/// What one reader thread saw.
#[derive(Default)]
struct ReaderStats {
    passes: u64,
    records: u64,
    restarts: u64,
    /// Bytes handed out by reads, with a copy made at read time.
    held: Vec<(PathBuf, Bytes, Vec<u8>)>,
}

/// Streams the log from its start to its end (or for `max_fetches` fetches), again and again,
/// until a pass that began after `done` was set ends; on OffsetOutOfRange restarts from the
/// current log start offset.
/// Publishes its fetch count in `progress`.
fn reader_loop(
    log: &Log,
    done: &AtomicBool,
    progress: &AtomicU64,
    max_bytes: usize,
    max_fetches: usize,
) -> ReaderStats {
    let mut stats = ReaderStats::default();
    let mut fetches = 0u64;
    loop {
        let last_pass = done.load(Ordering::SeqCst);
        let mut pos = log.log_start_offset();
        for _ in 0..max_fetches {
            let fetched = match log.read(pos, max_bytes) {
                Ok(f) => f,
                Err(Error::OffsetOutOfRange { log_start_offset, log_end_offset, .. }) => {
                    assert!(
                        pos < log_start_offset,
                        "OffsetOutOfRange at {pos} inside [{log_start_offset}, {log_end_offset}]"
                    );
                    pos = log.log_start_offset();
                    stats.restarts += 1;
                    continue;
                }
                Err(e) => panic!("read at {pos} failed: {e:?}"),
            };
            if fetched.is_empty() {
                break;
            }
            fetches += 1;
            progress.store(fetches, Ordering::SeqCst);
            let mut expect = pos;
            for r in fetched.records() {
                let r = r.unwrap_or_else(|e| panic!("corrupt record after {expect}: {e:?}"));
                assert_eq!(r.offset(), expect, "gap or repeat");
                assert_eq!(r.key().unwrap().as_ref(), key_of(expect).as_bytes());
                assert_eq!(r.value().unwrap().as_ref(), value_of(expect).as_slice());
                expect += 1;
                stats.records += 1;
            }
            assert_eq!(expect, fetched.next_offset(), "next_offset follows the last record");
            if fetches.is_multiple_of(7) && stats.held.len() < 300 {
                let s = &fetched.slices()[0];
                stats.held.push((s.path.to_path_buf(), s.bytes.clone(), s.bytes.to_vec()));
            }
            pos = fetched.next_offset();
        }
        stats.passes += 1;
        if last_pass {
            return stats;
        }
    }
}

#[test]
fn readers_racing_retention_never_see_corrupt_data_and_keep_bytes_of_deleted_segments() {
    let env = Env::new();
    let log = env.topic(
        "t",
        &[("segment.bytes", "2048"), ("retention.bytes", "6000"), ("file.delete.delay.ms", "0")],
    );
    let dir = env.store.partition_dir("t", 0).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    // Whole passes fetching a batch, 4 KiB or everything at a time, and a reader that keeps
    // re-reading the head of the log, where retention deletes.
    // Each reader's fetches: every 50 appends wait for each reader to fetch 7 more (so each
    // holds new bytes, kept every 7th fetch, that retention deletes later), so the reads race
    // retention under any schedule.
    let progress: Arc<[AtomicU64; 4]> = Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
    let readers: Vec<_> = [(1usize, usize::MAX), (4096, usize::MAX), (1 << 20, usize::MAX), (1, 2)]
        .into_iter()
        .enumerate()
        .map(|(n, (max_bytes, max_fetches))| {
            let log = log.clone();
            let done = Arc::clone(&done);
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                reader_loop(&log, &done, &progress[n], max_bytes, max_fetches)
            })
        })
        .collect();

    // Retention straight on the log after most appends (a store pass also writes and fsyncs
    // the checkpoints, which would make the loop slow), a whole store pass now and then.
    let mut deleted = 0usize;
    for i in 0..600 {
        append_batch(&log, 3, env.now);
        if i % 50 == 0 {
            common::wait_until_each_grows(&progress[..], 7, "reader fetches");
            deleted += env.store.maintain(None).unwrap().segments_deleted;
        } else if i % 2 == 0 {
            deleted += log.delete_old_segments().unwrap().segments_deleted;
        }
    }
    deleted += env.store.maintain(None).unwrap().segments_deleted;
    done.store(true, Ordering::SeqCst);
    let stats: Vec<ReaderStats> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!(
        "race: {deleted} segments deleted in {:?}; per reader (passes, records, restarts, held): \
         {:?}",
        started.elapsed(),
        stats.iter().map(|s| (s.passes, s.records, s.restarts, s.held.len())).collect::<Vec<_>>()
    );
    assert!(deleted > 60, "retention should have run a lot: {deleted}");
    assert!(log.size_bytes() <= 6000 + 2048);

    // Bytes handed out stay readable and unchanged, also those whose file is gone.
    let mut from_deleted = 0;
    for s in &stats {
        for (path, bytes, copy) in &s.held {
            assert_eq!(bytes.as_ref(), copy.as_slice(), "{} changed", path.display());
            let mut it = BatchIter::validating(bytes.clone());
            assert!(it.by_ref().count() > 0);
            assert_eq!(it.stop_reason(), Some(&StopReason::End));
            if !path.exists() {
                from_deleted += 1;
            }
        }
    }
    assert!(from_deleted > 0, "no held bytes outlived their file");
    assert!(!file_names(&dir).iter().any(|n| n.ends_with(".deleted")));
    env.store.close().unwrap();
    assert_kafka_verify(&dir);
}

#[test]
fn bytes_read_before_deletion_stay_readable_and_unchanged_after_the_files_are_gone() {
    let env = Env::new();
    let log = env.topic("t", &[("segment.bytes", "1024"), ("file.delete.delay.ms", "0")]);
    let dir = env.store.partition_dir("t", 0).unwrap();
    append_records(&log, 20, env.now);
    let fetched = log.read(0, 1 << 20).unwrap();
    assert_eq!(fetched.slices().len(), log.segment_count(), "one slice per segment");
    let copies: Vec<Vec<u8>> = fetched.slices().iter().map(|s| s.bytes.to_vec()).collect();

    env.store.set_topic_config("t", "retention.bytes", "0").unwrap();
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, copies.len());
    for s in fetched.slices() {
        assert!(!s.path.exists(), "{} should be gone", s.path.display());
        // No file to send from: a server writes the bytes (which follow) instead.
        assert!(s.file().unwrap().is_none(), "{} gave a file after removal", s.path.display());
    }
    assert!(common::segment_logs(&dir).iter().all(|(_, bytes)| bytes.is_empty()));

    for (s, copy) in fetched.slices().iter().zip(&copies) {
        assert_eq!(s.bytes.as_ref(), copy.as_slice());
        let mut it = BatchIter::validating(s.bytes.clone());
        assert!(it.by_ref().count() > 0);
        assert_eq!(it.stop_reason(), Some(&StopReason::End));
    }
    let offsets: Vec<i64> = fetched
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.value().unwrap().as_ref(), value_of(r.offset()).as_slice());
            r.offset()
        })
        .collect();
    assert_eq!(offsets, (0..20).collect::<Vec<_>>());
}

/// A server sending a fetch after retention took its segments out of the log finds the very
/// files the bytes were read from, renamed `.deleted` until `file.delete.delay.ms` removes them:
/// `FileSlice::file` reopens each by identity, and sends what the fetch returned.
#[test]
fn slices_of_segments_retention_deleted_send_from_their_deleted_files_until_removal() {
    let env = Env::new();
    let log = env.topic("t", &[("segment.bytes", "1024")]);
    append_records(&log, 20, env.now);
    let fetched = log.read(0, 1 << 20).unwrap();
    assert!(fetched.slices().len() > 1);
    env.store.set_topic_config("t", "retention.bytes", "0").unwrap();
    let report = env.store.maintain(None).unwrap();
    assert_eq!(report.segments_deleted, fetched.slices().len());
    for s in fetched.slices() {
        assert!(!s.path.exists(), "{} should be renamed", s.path.display());
        let file = s.file().unwrap().expect("the .deleted file, kept for the delay");
        assert_eq!(common::sent_from(&file, s), s.bytes, "{}", s.path.display());
    }
}
