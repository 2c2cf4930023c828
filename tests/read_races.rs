//! Reads racing the writer's rolls and the budget's evictions. A read checks whether a segment
//! is mapped far enough and cuts its view from that map under one lock: a seal (which drops the
//! active segment's capacity map) or an eviction between the two used to leave an empty map, and
//! the read then returned nothing for that segment, skipping its records below the log end it
//! reported.
//!
//! Lookups racing the removal of the segments they listed (`delete_records`, with
//! `file.delete.delay.ms` = 0): a time lookup used to read a removed segment's largest timestamp
//! from its deleted files and fail with `Error::Closed` on the live log.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata::{Record, Store, StoreConfig};

fn value(o: i64) -> String {
    format!("v{o:06}")
}

/// Reader threads read the whole log again and again while the writer appends and rolls small
/// segments, with room for one open segment in the budget (so every read evicts, and segments
/// are sealed while readers hold them): every read returns every offset from the start to the
/// end it reports, each with the value written there.
#[test]
fn reads_racing_rolls_and_evictions_return_every_offset_below_their_end() {
    let tmp = tempfile::tempdir().unwrap();
    let config = StoreConfig::new([tmp.path()]).background_threads(false).log_open_segments_max(1);
    let store = Store::open(config).unwrap();
    let overrides: BTreeMap<String, String> =
        [("segment.bytes", "2048"), ("segment.index.bytes", "4096")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    store.create_topic("t", 1, &overrides).unwrap();
    let log = store.partition("t", 0).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    // Reads each reader finished: the writer waits for every reader to finish one more at each
    // checkpoint, so reads race the appends however the threads are scheduled (a reader not
    // scheduled during the appends read nothing).
    let finished: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let readers: Vec<_> = (0..2)
        .map(|n| {
            let (log, done, finished) = (log.clone(), Arc::clone(&done), Arc::clone(&finished));
            std::thread::spawn(move || {
                let (mut reads, mut records) = (0u64, 0i64);
                while !done.load(Ordering::SeqCst) {
                    let fetched = log.read(0, usize::MAX).unwrap();
                    let end = fetched.log_end_offset();
                    let mut next = 0;
                    for r in fetched.records() {
                        let r = r.unwrap();
                        assert_eq!(r.offset(), next, "read skipped offsets (end {end})");
                        assert_eq!(r.value().unwrap().as_ref(), value(next).as_bytes());
                        next += 1;
                    }
                    assert_eq!(next, end, "read stopped short of the end it reported");
                    reads += 1;
                    records += end;
                    finished[n].store(reads, Ordering::SeqCst);
                }
                (reads, records)
            })
        })
        .collect();
    // Bounded in count and time: a few hundred segments, or 20 s on a slow machine, but never
    // fewer than MIN records (several dozen segments).
    const MIN: i64 = 2_000;
    const CHECKPOINT: i64 = 500;
    let started = Instant::now();
    let mut o = 0;
    while o < 6_000 && (o < MIN || started.elapsed() < Duration::from_secs(20)) {
        if o % CHECKPOINT == 0 {
            let seen: Vec<u64> = finished.iter().map(|f| f.load(Ordering::SeqCst)).collect();
            let deadline = Instant::now() + Duration::from_secs(60);
            while finished.iter().zip(&seen).any(|(f, &s)| f.load(Ordering::SeqCst) == s) {
                assert!(Instant::now() < deadline, "a reader finished no read in 60 s at {o}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let recs: Vec<Record> = (o..o + 4).map(|i| Record::new("k", value(i))).collect();
        log.append(&recs).unwrap();
        o += 4;
    }
    done.store(true, Ordering::SeqCst);
    let reads: Vec<(u64, i64)> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    let stats = store.resource_stats();
    eprintln!("{o} records, {} segments, reads {reads:?}, {stats:?}", log.segment_count());
    assert!(reads.iter().all(|&(n, _)| n > 0), "{reads:?}");
    assert!(log.segment_count() > 20, "{}", log.segment_count());
    assert!(stats.evictions > 0, "{stats:?}");
    store.close().unwrap();
}

const NOW: i64 = 1_700_000_000_000;

/// A log of sealed segments of 1 KiB holding offsets 0..200, offset `o` stamped `NOW + o` (or,
/// without `stamped`, carrying no timestamp: -1), reopened after a clean close so that no
/// segment has read its largest timestamp yet (it comes from the time index, or the `.log`'s
/// modification time, on first use), with `file.delete.delay.ms` = 0: a segment's files go as
/// soon as it leaves the log.
fn reopened_log_of_small_segments(dir: &std::path::Path, stamped: bool) -> strata::Log {
    use strata::{BatchBuilder, LoadOptions, Log, LogConfig, ManualClock};
    let config = || LogConfig::default().segment_bytes(1024).file_delete_delay_ms(0);
    let clock = || ManualClock::new(NOW);
    let (log, _) = Log::open(dir, "t", 0, config(), clock(), LoadOptions::default()).unwrap();
    for o in 0..200 {
        if stamped {
            log.append(&[Record::new("k", value(o)).timestamp(NOW + o)]).unwrap();
        } else {
            let mut b = BatchBuilder::new(0);
            b.append(&Record::new("k", value(o)).timestamp(-1)).unwrap();
            log.append_batch(b.build().unwrap()).unwrap();
        }
    }
    log.close().unwrap();
    let (log, _) = Log::open(dir, "t", 0, config(), clock(), LoadOptions::clean()).unwrap();
    assert!(log.segment_count() > 4, "{} segments", log.segment_count());
    log
}

/// A time lookup (Kafka's ListOffsets) that took the segment list before `delete_records`
/// removed the first segments, and their files with them, answers from its snapshot as a read
/// does: the removed segments keep their maps and their largest timestamps for it. It used to
/// fail with `Error::Closed` on the live log (a removed segment's time index, deleted, was read
/// for its largest timestamp; without timestamps, its deleted `.log`'s modification time).
#[test]
fn a_time_lookup_listing_segments_before_delete_records_answers_from_its_snapshot() {
    use strata::OffsetSpec;
    use strata::internals::io::fault;
    let specs = [
        (true, OffsetSpec::Timestamp(NOW + 150)),
        (true, OffsetSpec::MaxTimestamp),
        (false, OffsetSpec::Timestamp(0)),
    ];
    for (stamped, spec) in specs {
        let tmp = tempfile::tempdir().unwrap();
        let log = reopened_log_of_small_segments(tmp.path(), stamped);
        let bases = log.segment_base_offsets();
        let cut = bases[bases.len() - 2];
        let deleter = log.clone();
        let hook = fault::on_point("log::offset_for_time::segment", move || {
            assert_eq!(deleter.delete_records(cut).unwrap(), cut);
        });
        let found = log.offset_for_time(spec);
        assert!(hook.ran(), "delete_records ran inside the lookup");
        drop(hook);
        assert_eq!(log.segment_base_offsets(), &bases[bases.len() - 2..], "segments removed");
        let found = found.unwrap_or_else(|e| panic!("{spec:?} after delete_records: {e}"));
        let want = match spec {
            // Records without a timestamp match no target.
            _ if !stamped => None,
            OffsetSpec::Timestamp(ts) => Some(ts - NOW),
            _ => Some(199),
        };
        let want = want.map(|o| (o, Some(NOW + o)));
        assert_eq!(found.map(|f| (f.offset, f.timestamp)), want, "{spec:?}");
        log.close().unwrap();
    }
}

/// A MAX_TIMESTAMP lookup passed by an append that raises the largest timestamp (as every
/// append of a producer stamping the time does) answers a record: it answered none, the
/// segment's largest timestamp being the new record's, past the end its snapshot had taken.
#[test]
fn a_max_timestamp_lookup_passed_by_an_append_of_a_larger_timestamp_answers_a_record() {
    use strata::internals::io::fault;
    use strata::{LoadOptions, Log, LogConfig, ManualClock, OffsetSpec};
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (log, _) =
        Log::open(tmp.path(), "t", 0, LogConfig::default(), clock, LoadOptions::default()).unwrap();
    for o in 0..10 {
        log.append(&[Record::new("k", value(o)).timestamp(NOW + o)]).unwrap();
    }
    let appender = log.clone();
    let hook = fault::on_point("log::offset_for_time::segment", move || {
        appender.append(&[Record::new("k", value(10)).timestamp(NOW + 100)]).unwrap();
    });
    let found = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
    assert!(hook.ran(), "the append ran inside the lookup");
    drop(hook);
    let found = found.map(|f| (f.offset, f.timestamp));
    // The snapshot's answer (offset 9) or the log's after the append (offset 10), never none.
    assert!(
        matches!(found, Some((9, Some(t))) if t == NOW + 9)
            || matches!(found, Some((10, Some(t))) if t == NOW + 100),
        "MAX_TIMESTAMP passed by an append answered {found:?}"
    );
    log.close().unwrap();
}

/// One batch of one record at `o`, carrying no timestamp (-1): a segment of them is judged by
/// its `.log`'s modification time, read on every time lookup.
fn unstamped(o: i64) -> bytes::Bytes {
    let mut b = strata::BatchBuilder::new(0);
    b.append(&Record::new("k", value(o)).timestamp(-1)).unwrap();
    b.build().unwrap()
}

/// Reader threads fetch, point-read and look up by time again and again while the writer
/// appends, rolls small segments and moves the log start up (`delete_records`, with
/// `file.delete.delay.ms` = 0: the segments below it and their files go at once), under a budget
/// of one open segment (every read evicts). Every answer comes from the reader's snapshot: a
/// fetch returns every offset from where it asked to the end it reports, with the value written
/// there; a point read returns the value written at its offset; a time lookup answers (no record
/// carries a timestamp: none matches). Only an offset the log start has passed may be refused.
#[test]
fn readers_racing_delete_records_and_evictions_answer_from_their_snapshots() {
    use strata::{Error, OffsetSpec};
    let tmp = tempfile::tempdir().unwrap();
    let config = StoreConfig::new([tmp.path()]).background_threads(false).log_open_segments_max(1);
    let store = Store::open(config).unwrap();
    let overrides: BTreeMap<String, String> =
        [("segment.bytes", "2048"), ("segment.index.bytes", "4096"), ("file.delete.delay.ms", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    store.create_topic("t", 1, &overrides).unwrap();
    let log = store.partition("t", 0).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let finished: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    // An offset the log start passed between the reader's look at it and the read's snapshot.
    let passed = |e: &Error, log: &strata::Log| match e {
        Error::OffsetOutOfRange { offset, .. } => *offset < log.log_start_offset(),
        _ => false,
    };
    let readers: Vec<_> = (0..2)
        .map(|n| {
            let (log, done, finished) = (log.clone(), Arc::clone(&done), Arc::clone(&finished));
            std::thread::spawn(move || {
                let (mut rounds, mut refused) = (0u64, 0u64);
                while !done.load(Ordering::SeqCst) {
                    let start = log.log_start_offset();
                    match log.read(start, usize::MAX) {
                        Ok(fetched) => {
                            let mut next = start;
                            for r in fetched.records() {
                                let r = r.unwrap();
                                assert_eq!(r.offset(), next, "fetch from {start} skipped");
                                assert_eq!(r.value().unwrap().as_ref(), value(next).as_bytes());
                                next += 1;
                            }
                            assert_eq!(next, fetched.log_end_offset(), "fetch from {start}");
                        }
                        Err(e) if passed(&e, &log) => refused += 1,
                        Err(e) => panic!("fetch from {start}: {e}"),
                    }
                    let end = log.log_end_offset();
                    let o = start + (rounds as i64 * 7_919) % (end - start).max(1);
                    // Every offset from the start to the end holds a record. At the end (an
                    // empty log) there is none, unless the writer appended it since.
                    let written = Some(Some(value(o).into_bytes()));
                    match log.read_record(o, |r| r.value().map(<[u8]>::to_vec)) {
                        Ok(got) if o < end => assert_eq!(got, written, "at {o}"),
                        Ok(got) => assert!(got.is_none() || got == written, "at {o}: {got:?}"),
                        Err(e) if passed(&e, &log) => refused += 1,
                        Err(e) => panic!("point read at {o}: {e}"),
                    }
                    for spec in [OffsetSpec::Timestamp(0), OffsetSpec::MaxTimestamp] {
                        match log.offset_for_time(spec) {
                            Ok(found) if spec == OffsetSpec::Timestamp(0) => {
                                assert_eq!(found, None, "no record carries a timestamp");
                            }
                            Ok(_) => {}
                            Err(e) => panic!("{spec:?}: {e}"),
                        }
                    }
                    rounds += 1;
                    finished[n].store(rounds, Ordering::SeqCst);
                }
                (rounds, refused)
            })
        })
        .collect();
    // As in the test above: at each checkpoint the writer waits for every reader to finish one
    // more round, so rounds race the writer's changes however the threads are scheduled.
    const CHECKPOINT: i64 = 100;
    let started = Instant::now();
    let mut o = 0;
    let mut moves = 0;
    while o < 3_000 && (o < 1_000 || started.elapsed() < Duration::from_secs(20)) {
        if o % CHECKPOINT == 0 {
            let seen: Vec<u64> = finished.iter().map(|f| f.load(Ordering::SeqCst)).collect();
            let deadline = Instant::now() + Duration::from_secs(60);
            while finished.iter().zip(&seen).any(|(f, &s)| f.load(Ordering::SeqCst) == s)
                && !readers.iter().any(std::thread::JoinHandle::is_finished)
            {
                assert!(Instant::now() < deadline, "a reader finished no round in 60 s at {o}");
                std::thread::sleep(Duration::from_millis(1));
            }
            if readers.iter().any(std::thread::JoinHandle::is_finished) {
                break; // a reader failed: its panic is reported below
            }
        }
        log.append_batch(unstamped(o)).unwrap();
        o += 1;
        if o % 10 == 0 && o > 200 {
            log.delete_records(o - 200).unwrap();
            moves += 1;
        }
    }
    done.store(true, Ordering::SeqCst);
    let rounds: Vec<(u64, u64)> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    let stats = store.resource_stats();
    eprintln!("{o} records, {moves} start moves, (rounds, refused) {rounds:?}, {stats:?}");
    assert!(rounds.iter().all(|&(n, _)| n > 0), "{rounds:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(log.log_start_offset() > 0 && log.segment_count() < 40, "{}", log.segment_count());
    store.close().unwrap();
}

/// Views of the active segment taken while its map was 1 MiB long stay valid and unchanged
/// after appends grow the map (a read past it maps the segment again, longer, and installs that
/// map), after the segment rolls (its capacity map dropped) and after `delete_records` removes it
/// and its files (`file.delete.delay.ms` = 0).
#[test]
fn views_of_an_active_segment_outlive_its_map_growing_its_roll_and_its_deletion() {
    use strata::{LoadOptions, Log, LogConfig, ManualClock};
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig::default().segment_bytes(8 << 20).file_delete_delay_ms(0);
    let (log, _) =
        Log::open(tmp.path(), "t", 0, config, ManualClock::new(NOW), LoadOptions::default())
            .unwrap();
    let big = |o: i64| format!("{}{}", value(o), "x".repeat(4000));
    let mut o = 0;
    while log.size_bytes() < 900 << 10 {
        log.append(&[Record::new("k", big(o))]).unwrap();
        o += 1;
    }
    // Held: the whole segment as it was, and a point view of its last record.
    let held = log.read(0, usize::MAX).unwrap();
    let copy: Vec<Vec<u8>> = held.slices().iter().map(|s| s.bytes.to_vec()).collect();
    let last = o - 1;
    let point = log.read(last, 1).unwrap();
    let first_map = held.slices()[0].bytes.as_ptr();
    // Past the first map's 1 MiB: the next read maps the segment again.
    while log.size_bytes() < 3 << 20 {
        log.append(&[Record::new("k", big(o))]).unwrap();
        o += 1;
    }
    let grown = log.read(0, usize::MAX).unwrap();
    assert_ne!(grown.slices()[0].bytes.as_ptr(), first_map, "the map was replaced");
    assert_eq!(log.segment_count(), 1);
    log.roll().unwrap();
    log.append(&[Record::new("k", big(o))]).unwrap();
    assert_eq!(log.delete_records(o).unwrap(), o);
    assert_eq!(log.segment_count(), 1, "the segment held is gone");
    assert!(!tmp.path().join("00000000000000000000.log").exists());
    assert!(!tmp.path().join("00000000000000000000.log.deleted").exists());
    drop(grown);

    let now: Vec<Vec<u8>> = held.slices().iter().map(|s| s.bytes.to_vec()).collect();
    assert_eq!(now, copy, "held bytes changed");
    let mut next = 0;
    for r in held.records() {
        let r = r.unwrap();
        assert_eq!((r.offset(), r.value().unwrap().as_ref()), (next, big(next).as_bytes()));
        next += 1;
    }
    assert_eq!(next, last + 1);
    let r = point.records().next().unwrap().unwrap();
    assert_eq!((r.offset(), r.value().unwrap().as_ref()), (last, big(last).as_bytes()));
    log.close().unwrap();
}

/// Mapped lengths of every mapping of the file `name` in `dir` (`/proc/self/maps`).
fn mapped_lengths(dir: &std::path::Path, name: &str) -> Vec<u64> {
    let path = dir.canonicalize().unwrap().join(name);
    let path = path.to_str().unwrap();
    let mut out = Vec::new();
    for line in std::fs::read_to_string("/proc/self/maps").unwrap().lines() {
        if line.split_whitespace().nth(5) != Some(path) {
            continue;
        }
        let (a, b) = line.split_whitespace().next().unwrap().split_once('-').unwrap();
        out.push(u64::from_str_radix(b, 16).unwrap() - u64::from_str_radix(a, 16).unwrap());
    }
    out
}

/// A read that maps the active segment (a step ahead of its length, as the active segment is
/// mapped) while a roll seals it does not leave that map installed in the sealed segment: once
/// the read's views are dropped, the segment is mapped at its exact length, as a sealed segment
/// is (before, the segment kept the 1 MiB map made for it while active, counted in the budget).
#[test]
fn a_read_racing_the_roll_that_seals_its_segment_leaves_it_mapped_at_its_exact_length() {
    use strata::internals::io::fault;
    use strata::{LoadOptions, Log, LogConfig, ManualClock};
    let tmp = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(
        tmp.path(),
        "t",
        0,
        LogConfig::default(),
        ManualClock::new(NOW),
        LoadOptions::default(),
    )
    .unwrap();
    for o in 0..10 {
        log.append(&[Record::new("k", value(o))]).unwrap();
    }
    let check = |fetched: &strata::Fetched| {
        let values: Vec<_> = fetched.records().map(|r| r.unwrap().value().cloned()).collect();
        let want: Vec<_> = (0..10).map(|o| Some(bytes::Bytes::from(value(o)))).collect();
        assert_eq!(values, want);
    };
    // The roll runs after the read sized its map for the active segment, before it maps it.
    let roller = log.clone();
    let hook = fault::on_point("segment::bytes::map", move || roller.roll().unwrap());
    let fetched = log.read(0, usize::MAX).unwrap();
    assert!(hook.ran(), "the roll ran inside the read");
    drop(hook);
    assert_eq!(log.segment_count(), 2);
    check(&fetched);
    drop(fetched);
    check(&log.read(0, usize::MAX).unwrap());
    let name = "00000000000000000000.log";
    let len = std::fs::metadata(tmp.path().join(name)).unwrap().len();
    assert_eq!(mapped_lengths(tmp.path(), name), vec![len.div_ceil(4096) * 4096]);
    log.close().unwrap();
}

/// One round of a worker of the test below, given its log and the rounds done.
type Work = Box<dyn Fn(&strata::Log, u64) + Send>;

/// Every kind of work on one partition at once, on threads of their own, under a budget of two
/// open segments: appends (keyed, so the cleaner has work), fetches, point reads, time lookups,
/// read-committed reads, tailing waits, flushes, `delete_records` and maintenance passes
/// (retention, cleaning, `.deleted` files at `file.delete.delay.ms` = 0, checkpoints). Locks are
/// taken in one order (the cleaning lock, the append lock, then the view, a segment's locks and
/// the budget's), so all of it finishes: the watchdog's bound is one only a deadlock reaches.
/// Every record any read returns is the one written at its offset.
#[test]
fn every_kind_of_work_on_one_partition_at_once_finishes_and_reads_only_written_records() {
    use std::sync::mpsc;
    use strata::{Error, Isolation, OffsetSpec};
    let tmp = tempfile::tempdir().unwrap();
    let config = StoreConfig::new([tmp.path()]).background_threads(false).log_open_segments_max(2);
    let store = Store::open(config).unwrap();
    let overrides: BTreeMap<String, String> = [
        ("segment.bytes", "2048"),
        ("segment.index.bytes", "4096"),
        ("file.delete.delay.ms", "0"),
        ("cleanup.policy", "compact,delete"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    store.create_topic("t", 1, &overrides).unwrap();
    let log = store.partition("t", 0).unwrap();
    const RECORDS: i64 = 3_000;
    // Timestamps near the store's clock: retention by time leaves the segments to the cleaner.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let base = i64::try_from(now.as_millis()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Rounds each worker finished: they stop only once each finished one, however scheduled.
    let finished: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
    let (tx, rx) = mpsc::channel::<(&'static str, u64)>();
    // A read's error that the moving log start explains.
    let passed = |e: &Error, log: &strata::Log| match e {
        Error::OffsetOutOfRange { offset, .. } => *offset < log.log_start_offset(),
        _ => false,
    };
    let check = |fetched: &strata::Fetched| {
        for r in fetched.records() {
            let r = r.unwrap();
            assert_eq!(r.value().unwrap().as_ref(), value(r.offset()).as_bytes());
        }
    };
    let mut workers = 0;
    let mut spawn = |name: &'static str, work: Work| {
        let (log, stop, tx) = (log.clone(), Arc::clone(&stop), tx.clone());
        let (finished, i) = (Arc::clone(&finished), workers);
        workers += 1;
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                work(&log, rounds);
                rounds += 1;
                finished[i].store(rounds, Ordering::SeqCst);
            }
            tx.send((name, rounds)).unwrap();
        });
    };
    spawn(
        "reader",
        Box::new(move |log, n| {
            let start = log.log_start_offset();
            match log.read(start, 64 << 10) {
                Ok(f) => check(&f),
                Err(e) if passed(&e, log) => {}
                Err(e) => panic!("fetch: {e}"),
            }
            let o = start + (n as i64 * 7_919) % (log.log_end_offset() - start).max(1);
            match log.read_record(o, |r| r.value().map(<[u8]>::to_vec)) {
                Ok(Some(v)) => assert_eq!(v, Some(value(o).into_bytes())),
                Ok(None) => {} // compacted away, or the log end
                Err(e) if passed(&e, log) => {}
                Err(e) => panic!("point read at {o}: {e}"),
            }
            match log.read_with(start, 64 << 10, Isolation::ReadCommitted) {
                Ok(f) => check(&f),
                Err(e) if passed(&e, log) => {}
                Err(e) => panic!("read committed: {e}"),
            }
            for spec in [OffsetSpec::Timestamp(base + o), OffsetSpec::MaxTimestamp] {
                log.offset_for_time(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
            }
        }),
    );
    spawn(
        "tail",
        Box::new(|log, _| {
            let end = log.log_end_offset();
            log.wait_for(end, Duration::from_millis(5)).unwrap();
        }),
    );
    spawn("flusher", Box::new(|log, _| log.flush().unwrap()));
    spawn(
        "deleter",
        Box::new(|log, _| {
            let to = log.log_end_offset() - 300;
            if to > log.log_start_offset() {
                log.delete_records(to).unwrap();
            }
            std::thread::yield_now();
        }),
    );
    let maintainer = store.clone();
    spawn(
        "maintainer",
        Box::new(move |_, _| {
            let report = maintainer.maintain(None).unwrap();
            assert_eq!(report.cleaner_failures, 0, "{:?}", maintainer.cleaner_stats());
        }),
    );
    let appender = log.clone();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for o in 0..RECORDS {
            let key = format!("key{}", o % 20);
            appender.append(&[Record::new(key, value(o)).timestamp(base + o)]).unwrap();
        }
        done_tx.send(()).unwrap();
    });
    // Only a deadlock (or a panicked appender) reaches these bounds.
    done_rx.recv_timeout(Duration::from_secs(300)).expect("the appender finished");
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished.iter().any(|f| f.load(Ordering::SeqCst) == 0) {
        assert!(Instant::now() < deadline, "a worker finished no round in 120 s");
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::SeqCst);
    drop(tx);
    let mut rounds = BTreeMap::new();
    for _ in 0..5 {
        let (name, n) = rx.recv_timeout(Duration::from_secs(120)).expect("every worker finished");
        rounds.insert(name, n);
    }
    eprintln!("rounds {rounds:?}, {:?}, {:?}", store.resource_stats(), store.cleaner_stats());
    assert!(rounds.values().all(|&n| n > 0), "{rounds:?}");
    assert_eq!(log.log_end_offset(), RECORDS);
    let fetched = log.read(log.log_start_offset(), usize::MAX).unwrap();
    check(&fetched);
    store.close().unwrap();
}

/// Batches appended between a read's snapshot and its bytes (the active segment's published
/// length has grown past the snapshot's log end, and the appends roll a new segment the
/// snapshot does not list) are not returned: a fetch, whatever its size, ends at the log end it
/// reports.
#[test]
fn a_read_returns_nothing_appended_after_its_snapshot() {
    use strata::internals::io::fault;
    use strata::{LoadOptions, Log, LogConfig, ManualClock};
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig::default().segment_bytes(1024);
    let (log, _) =
        Log::open(tmp.path(), "t", 0, config, ManualClock::new(NOW), LoadOptions::default())
            .unwrap();
    for o in 0..5 {
        log.append(&[Record::new("k", value(o))]).unwrap();
    }
    let appender = log.clone();
    let append_more = move || {
        // Into the active segment the snapshot lists, then past its roll into a new one.
        for o in 5..40 {
            appender.append(&[Record::new("k", value(o))]).unwrap();
        }
        assert!(appender.segment_count() > 1);
    };
    let hook = fault::on_point("log::read::segment", append_more);
    let fetched = log.read(0, usize::MAX).unwrap();
    assert!(hook.ran());
    drop(hook);
    assert_eq!((fetched.log_end_offset(), fetched.next_offset()), (5, 5));
    let offsets: Vec<i64> = fetched.records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    assert_eq!(log.read(0, usize::MAX).unwrap().next_offset(), 40, "all of it, read again");
    log.close().unwrap();
}

/// A read that listed segments the cleaner then replaced reads them after the swap, whose
/// retirement could not map them whole (the process out of descriptors, the budget's one open
/// segment evicted their maps). The read here took the segment's name just before the swap
/// renamed it `.deleted` and put the cleaned segment under that name: the file it then opened
/// was not the segment's, and it failed with `Error::Closed` on the live log, which ends a
/// `records_from` iteration quietly, as at a close, with records left unread. It now opens the
/// segment by its new name and returns the records as they were before the cleaning; once the
/// pending deletes removed the files (`file.delete.delay.ms` = 0) it fails with an I/O error
/// naming the file, never with other data or `Closed`.
#[test]
fn a_read_reopening_a_segment_a_swap_out_of_descriptors_replaced_gets_its_data_or_an_error() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use strata::Error;
    use strata::internals::io::fault::{self, FaultPlan, Op};
    for removed in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let config =
            StoreConfig::new([tmp.path()]).background_threads(false).log_open_segments_max(1);
        let store = Store::open(config).unwrap();
        let delay = if removed { "0" } else { "600000" };
        let overrides: BTreeMap<String, String> = [
            ("segment.bytes", "4096"),
            ("segment.index.bytes", "4096"),
            ("cleanup.policy", "compact"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("file.delete.delay.ms", delay),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        store.create_topic("t", 1, &overrides).unwrap();
        let log = store.partition("t", 0).unwrap();
        // Segments of four records, small enough for one cleaning to replace several.
        for o in 0..40 {
            log.append(&[Record::new(format!("k{}", o % 4), value(o))]).unwrap();
            if o % 4 == 3 {
                log.roll().unwrap();
            }
        }
        // From the swap's first rename on, every open fails as it does out of descriptors:
        // the old segments' retirement cannot map them again.
        let exhausted: Rc<RefCell<Option<fault::FaultGuard>>> = Rc::default();
        let (slot, cleaner, maintained) = (Rc::clone(&exhausted), store.clone(), log.clone());
        let clean = move || {
            let armed = Rc::clone(&slot);
            let _swap = fault::on_point("swap::after_swap_rename", move || {
                let plan = FaultPlan::new().fail_from_nth(Op::Open, 1).os_error(Op::Open, 24);
                *armed.borrow_mut() = Some(fault::arm(plan));
            });
            let report = cleaner.maintain(Some("t"));
            eprintln!("maintain with the swap out of descriptors: {report:?}");
            slot.borrow_mut().take();
            // The swap's pending deletes: with no delay, the old segments' files go now.
            if removed {
                assert!(maintained.delete_expired_files(i64::MAX).unwrap() > 0);
            }
        };
        // The read of segment 0 (evicted) stops between taking its name and opening it.
        let hook = fault::on_point("segment::reopen", clean);
        let read = log.read(0, usize::MAX);
        assert!(hook.ran());
        drop(hook);
        assert!(log.poisoned().is_none(), "{:?}", log.poisoned());
        assert!(log.read(0, usize::MAX).unwrap().records().count() < 40, "nothing cleaned");
        eprintln!("removed {removed}: {:?}", read.as_ref().map(|f| f.next_offset()));
        match read {
            Ok(fetched) => {
                assert!(!removed, "read the removed files");
                let got: Vec<(i64, Vec<u8>)> = fetched
                    .records()
                    .map(|r| r.unwrap())
                    .map(|r| (r.offset(), r.value().unwrap().to_vec()))
                    .collect();
                let want: Vec<(i64, Vec<u8>)> =
                    (0..40).map(|o| (o, value(o).into_bytes())).collect();
                assert_eq!(got, want, "the records before the cleaning");
            }
            Err(e) => {
                assert!(removed, "{e:?}");
                let named = matches!(&e, Error::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound);
                assert!(named && e.to_string().contains(".log.deleted"), "{e:?}");
            }
        }
        store.close().unwrap();
    }
}

/// Arms a hook at the lookup's fault point that appends a record stamped above every other
/// (`NOW + 1_000 + offset`) and arms itself again, for up to 32 appends: every segment every
/// look of a lookup visits is passed by an append.
fn append_at_every_look(
    log: strata::Log,
    appended: std::rc::Rc<std::cell::Cell<i64>>,
    guards: std::rc::Rc<std::cell::RefCell<Vec<strata::internals::io::fault::HookGuard>>>,
) {
    use std::rc::Rc;
    use strata::internals::io::fault;
    let (l, a, g) = (log, Rc::clone(&appended), Rc::clone(&guards));
    let guard = fault::on_point("log::offset_for_time::segment", move || {
        let o = l.log_end_offset();
        l.append(&[Record::new("k", value(o)).timestamp(NOW + 1_000 + o)]).unwrap();
        a.set(a.get() + 1);
        if a.get() < 32 {
            append_at_every_look(l, a, g);
        }
    });
    guards.borrow_mut().push(guard);
}

/// A MAX_TIMESTAMP lookup answers from its snapshot, however many appends of larger
/// timestamps pass it: the first record carrying the largest timestamp below the snapshot's
/// log end offset, in the active segment or in a sealed one. It used to look again with a
/// fresh view each time the largest timestamp was an append's past its snapshot, up to 8
/// times, and then answered none although its snapshot held records.
#[test]
fn a_max_timestamp_lookup_passed_by_an_append_at_every_look_answers_from_its_snapshot() {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use strata::{LoadOptions, Log, LogConfig, ManualClock, OffsetSpec};
    // Without and with a sealed segment holding the largest timestamp (offset 3).
    for sealed in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(NOW);
        let (log, _) =
            Log::open(tmp.path(), "t", 0, LogConfig::default(), clock, LoadOptions::default())
                .unwrap();
        for o in 0..10 {
            let ts = if sealed && o == 3 { NOW + 500 } else { NOW + o };
            log.append(&[Record::new("k", value(o)).timestamp(ts)]).unwrap();
            if sealed && o == 4 {
                log.roll().unwrap();
            }
        }
        let appended = Rc::new(Cell::new(0));
        let guards = Rc::new(RefCell::new(Vec::new()));
        append_at_every_look(log.clone(), Rc::clone(&appended), Rc::clone(&guards));
        let found = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
        drop(std::mem::take(&mut *guards.borrow_mut()));
        assert!(appended.get() > 0, "appends ran inside the lookup");
        let found = found.map(|f| (f.offset, f.timestamp));
        let want = if sealed { (3, NOW + 500) } else { (9, NOW + 9) };
        assert_eq!(found, Some((want.0, Some(want.1))), "sealed: {sealed}");
        // Once the appends stop, the lookup names the last of them.
        let last = log.log_end_offset() - 1;
        let found = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
        assert_eq!(found.map(|f| (f.offset, f.timestamp)), Some((last, Some(NOW + 1_000 + last))));
        log.close().unwrap();
    }
}
