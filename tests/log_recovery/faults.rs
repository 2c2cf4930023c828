//! Poisoning and injected faults (part of the `log_recovery` tests).

use super::*;

fn is_injected(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.to_string().starts_with("injected fault: "))
}

fn assert_poisoned(r: Result<impl std::fmt::Debug, Error>, what: &str) {
    match r {
        Err(Error::Poisoned { partition, cause }) => {
            assert_eq!(partition, "t-0", "{what}");
            assert!(
                cause.contains("injected fault"),
                "{what}: cause {cause:?} does not name the fault"
            );
        }
        other => panic!("{what}: expected Poisoned, got {other:?}"),
    }
}

#[test]
fn failed_fsync_poisons_the_log_and_every_later_write_names_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open(&dir, unclean(0));
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 10);
    log.flush().unwrap();
    let recovery_point = log.recovery_point();
    {
        let _faults = fault::arm(FaultPlan::new().fail_every(Op::Sync));
        write_batches(&log, &mut recs, 3); // appends do not fsync
        let err = log.flush().unwrap_err();
        assert!(is_injected(&err), "{err}");
    }
    // Disarmed: the disk would work again, but nothing retries over an unknown state.
    let leo = log.log_end_offset();
    assert!(log.poisoned().unwrap().contains("injected fault"));
    assert_poisoned(log.append(&[record(0)]), "append");
    let mut batch = BatchBuilder::new(0);
    batch.append(&record(1)).unwrap();
    assert_poisoned(log.append_batch(batch.build().unwrap()), "append_batch");
    assert_poisoned(log.flush(), "flush");
    assert_poisoned(log.roll(), "roll");
    assert_poisoned(log.flush_if_due(), "flush_if_due");
    assert_eq!(read_all(&log), recs, "reads keep working");
    assert_poisoned(log.close(), "close");
    assert!(log.is_closed(), "a poisoned log still closes");
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.recovery_point(), recovery_point, "a failed flush does not advance it");
    drop(log);

    let (log, _) = open(&dir, unclean(recovery_point));
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn failed_write_poisons_the_log_and_leaves_the_end_offset_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open(&dir, unclean(0));
    let mut recs = Vec::new();
    write_batches(&log, &mut recs, 10);
    let leo = log.log_end_offset();
    let size = log.size_bytes();
    {
        let _faults = fault::arm(FaultPlan::new().fail_nth(Op::Write, 1));
        let err = log.append(&[record(100)]).unwrap_err();
        assert!(is_injected(&err), "{err}");
    }
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.size_bytes(), size);
    assert_poisoned(log.append(&[record(101)]), "append after a failed write");
    assert_poisoned(log.flush(), "flush after a failed write");
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(read_all(&log), recs);
    drop(log);

    let (log, _) = open(&dir, unclean(0));
    assert_eq!(read_all(&log), recs);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

/// What a scripted workload got done before its first error.
struct Outcome {
    attempted: Vec<Rec>,
    acked: usize,
    recovery_point: i64,
    failed: bool,
}

/// 16 batches over several segments, a flush after the 8th and the 16th, a
/// roll after the 11th; stops at the first error.
fn scripted_workload(log: &Log) -> Outcome {
    let mut out = Outcome { attempted: Vec::new(), acked: 0, recovery_point: 0, failed: false };
    for j in 0..16 {
        let first = out.attempted.len();
        let records: Vec<Record> = (first..first + 1 + j % 4).map(record).collect();
        // Without the codec's feature (`--no-default-features`) the workload runs uncompressed.
        let c = Some(codec(first)).filter(|c| c.is_available()).unwrap_or(Compression::None);
        let mut b = BatchBuilder::new(0).compression(c, None);
        for r in &records {
            b.append(r).unwrap();
        }
        for (i, r) in records.iter().enumerate() {
            out.attempted.push(Rec {
                offset: (first + i) as i64,
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
            });
        }
        let flush = j % 8 == 7;
        let step = log
            .append_batch(b.build().unwrap())
            .map(|info| out.acked = (info.last_offset + 1) as usize)
            .and_then(|()| if flush { log.flush() } else { Ok(()) })
            .and_then(|()| if j == 10 { log.roll() } else { Ok(()) });
        match step {
            Ok(()) if flush => out.recovery_point = log.recovery_point(),
            Ok(()) => {}
            Err(_) => {
                out.failed = true;
                break;
            }
        }
    }
    out
}

/// Runs the workload with the `n`th call of `op` failing, reopens as after a
/// crash, and checks that the log holds a prefix of what was attempted that
/// includes everything acknowledged.
fn fail_one_call(op: Op, n: u64, calls: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (log, _) = open(&dir, unclean(0));
    let out = {
        let guard = fault::arm(FaultPlan::new().fail_nth(op, n));
        let out = scripted_workload(&log);
        assert_eq!(guard.injected(), 1, "{op:?} #{n} of {calls}");
        out
    };
    let ctx = format!("{op:?} call #{n} of {calls} failed after {} acked records", out.acked);
    assert!(out.failed, "{ctx}: the failure went unnoticed");
    if matches!(op, Op::Write | Op::Sync | Op::SyncDir) {
        assert!(log.poisoned().is_some(), "{ctx}: the log is not poisoned");
    }
    drop(log);

    let (log, _) = open(&dir, unclean(out.recovery_point));
    let got = read_all(&log);
    assert!(got.len() >= out.acked, "{ctx}: {} records back", got.len());
    assert_eq!(got[..], out.attempted[..got.len()], "{ctx}: not a prefix");
    let mut recs = got;
    write_batches(&log, &mut recs, 3);
    assert_eq!(read_all(&log), recs, "{ctx}");
    // One run's directory goes to the independent checkers (they are slow to start).
    if op == Op::Write && n == calls.div_ceil(2) {
        log.close().unwrap();
        common::assert_kafka_valid(&dir, INTERVAL);
    }
}

#[test]
fn injected_fault_at_every_io_call_leaves_a_recoverable_prefix() {
    let ops = [Op::Write, Op::Sync, Op::SyncDir, Op::SetLen, Op::Open, Op::Map, Op::Metadata];
    let mut jobs = Vec::new();
    for op in ops {
        let tmp = tempfile::tempdir().unwrap();
        let (log, _) = open(&tmp.path().join("t-0"), unclean(0));
        let guard = fault::arm(FaultPlan::new());
        assert!(!scripted_workload(&log).failed);
        let calls = guard.calls(op);
        assert!(calls > 0, "the workload makes no {op:?} call");
        jobs.extend((1..=calls).map(|n| (op, n, calls)));
    }
    assert!(jobs.len() > 50, "only {} faults to inject", jobs.len());
    // Fault plans are per thread, so runs proceed in parallel (they mostly wait on fsync).
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                while let Some(&(op, n, calls)) =
                    jobs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    fail_one_call(op, n, calls);
                }
            });
        }
    });
}

/// The `index.interval.bytes` rule is one (`index::cadence`): for every
/// interval, indexes written live — across a clean reopen in the middle of
/// the active segment, where the count resumes from the index — equal those
/// recovery rebuilds from the `.log` files alone.
#[test]
fn live_and_rebuilt_indexes_are_equal_at_every_index_interval_across_a_reopen() {
    for interval in [0, 61, 150, 700, 5000] {
        let cfg = || {
            LogConfig::default()
                .segment_bytes(4096)
                .index_interval_bytes(interval)
                .segment_index_bytes(4096)
        };
        let open_with = |dir: &Path, options| {
            Log::open(dir, "t", 0, cfg(), ManualClock::new(NOW), options).unwrap().0
        };
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("t-0");
        let mut recs = Vec::new();
        for _ in 0..3 {
            let log = open_with(&src, clean());
            write_batches(&log, &mut recs, 25);
            log.close().unwrap();
        }
        let live = index_files(&src);
        let entries: usize =
            live.iter().filter(|(n, _)| n.ends_with(".index")).map(|(_, b)| b.len() / 8).sum();
        if interval < 700 {
            assert!(entries > 3, "interval {interval}: only {entries} offset-index entries");
        }
        let (_t, dir) = copy_of(&src);
        for n in index_files(&dir).keys() {
            fs::remove_file(dir.join(n)).unwrap();
        }
        let log = open_with(&dir, unclean(0));
        assert_eq!(read_all(&log), recs, "interval {interval}");
        log.close().unwrap();
        let rebuilt = index_files(&dir);
        for (n, bytes) in &live {
            assert_eq!(rebuilt.get(n), Some(bytes), "interval {interval}: {n} differs");
        }
        assert_eq!(rebuilt.len(), live.len(), "interval {interval}");
        assert!(live.len() >= 4, "interval {interval}: the workload should roll");
    }
}
