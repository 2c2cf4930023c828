//! Idempotent producers: retries are deduplicated, gaps and fenced epochs
//! refused, and the state survives restarts through Kafka's `.snapshot` files.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use strata::Error;
use strata::LogConfig;
use strata::ManualClock;
use strata::{BatchBuilder, Record};
use strata::{LoadOptions, Log};

fn batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(0).producer(pid, epoch, seq);
    for i in 0..n {
        b.append(&Record::new(format!("k{i}"), format!("v{seq}-{i}")).timestamp(1_000)).unwrap();
    }
    b.build().unwrap()
}

fn open(dir: &std::path::Path, clean: bool) -> Log {
    let clock = ManualClock::new(10_000);
    Log::open(
        dir,
        "t",
        0,
        LogConfig::default().segment_bytes(4096),
        clock,
        LoadOptions::default().with_clean_shutdown(clean),
    )
    .unwrap()
    .0
}

#[test]
fn a_retried_batch_returns_its_first_offsets_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), false);
    let first = log.append_batch(batch(7, 0, 0, 3)).unwrap();
    log.append_batch(batch(7, 0, 3, 2)).unwrap();
    let size = log.size_bytes();
    let again = log.append_batch(batch(7, 0, 0, 3)).unwrap();
    assert_eq!((again.base_offset, again.last_offset), (first.base_offset, first.last_offset));
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn a_sequence_gap_and_an_old_epoch_are_refused_with_distinct_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), false);
    log.append_batch(batch(7, 1, 0, 2)).unwrap();
    let gap = log.append_batch(batch(7, 1, 5, 1)).unwrap_err();
    assert!(
        matches!(gap, Error::OutOfOrderSequence { producer_id: 7, expected: 2, found: 5 }),
        "{gap}"
    );
    let fenced = log.append_batch(batch(7, 0, 2, 1)).unwrap_err();
    assert!(
        matches!(fenced, Error::InvalidProducerEpoch { producer_id: 7, epoch: 0, current: 1 }),
        "{fenced}"
    );
    let bumped_not_zero = log.append_batch(batch(7, 2, 9, 1)).unwrap_err();
    assert!(matches!(bumped_not_zero, Error::OutOfOrderSequence { expected: 0, .. }));
    log.append_batch(batch(7, 2, 0, 1)).unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn producer_state_survives_a_clean_restart_and_a_crash() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), false);
        for s in 0..40 {
            log.append_batch(batch(9, 0, s * 4, 4)).unwrap();
        }
        assert!(log.segment_count() > 1, "rolls write snapshots");
        if clean {
            log.close().unwrap();
        }
        drop(log);
        let log = open(dir.path(), clean);
        // The last batch is still recognized as a duplicate; the next sequence continues.
        let dup = log.append_batch(batch(9, 0, 39 * 4, 4)).unwrap();
        assert_eq!(dup.base_offset, 156);
        assert!(matches!(
            log.append_batch(batch(9, 0, 0, 4)),
            Err(Error::OutOfOrderSequence { .. })
        ));
        log.append_batch(batch(9, 0, 160, 1)).unwrap();
        assert!(
            std::fs::read_dir(dir.path()).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".snapshot"))
        );
    }
}

#[test]
fn idle_producers_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(10_000);
    let log = Log::open(
        dir.path(),
        "t",
        0,
        LogConfig::default(),
        Arc::clone(&clock) as _,
        LoadOptions::default(),
    )
    .unwrap()
    .0;
    log.append_batch(batch(3, 0, 0, 1)).unwrap();
    assert_eq!(log.producer_count(), 1);
    clock.set(1_000 + 100_000);
    assert_eq!(log.expire_producers(50_000).unwrap(), 1);
    // Unknown again: any sequence is accepted, as Kafka does since KIP-360.
    log.append_batch(batch(3, 0, 17, 1)).unwrap();
}

/// A negative expiration (which `producer.id.expiration.ms` refuses) given
/// to the API is refused too, forgetting nothing: a producer's retry of a
/// batch already in the log is still answered as a duplicate. Found by an
/// audit of API edges (2026-12-03): it forgot every producer.
#[test]
fn a_negative_producer_expiration_is_refused_and_forgets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    let first = log.append_batch(batch(42, 0, 0, 1)).unwrap();
    let refused = log.expire_producers(-1).unwrap_err();
    assert!(
        matches!(&refused, Error::InvalidConfig { key, value, .. }
            if key == "producer.id.expiration.ms" && value == "-1"),
        "{refused}"
    );
    assert_eq!(log.producer_count(), 1);
    let retry = log.append_batch(batch(42, 0, 0, 1)).unwrap();
    assert_eq!((retry.base_offset, log.log_end_offset()), (first.base_offset, 1));
    log.close().unwrap();
    // At the open too, before the directory is touched.
    let fresh = dir.path().join("fresh");
    let opened = Log::open(
        &fresh,
        "t",
        0,
        LogConfig::default(),
        ManualClock::new(0) as _,
        LoadOptions::default().with_producer_id_expiration_ms(-5),
    );
    assert!(matches!(opened, Err(Error::InvalidConfig { .. })), "{:?}", opened.err());
    assert!(!fresh.exists(), "nothing created for a refused open");
    let read_only = Log::open_read_only(
        dir.path(),
        "t",
        0,
        LogConfig::default(),
        ManualClock::new(0) as _,
        LoadOptions::default().with_producer_id_expiration_ms(-5),
    );
    assert!(matches!(read_only, Err(Error::InvalidConfig { .. })), "{:?}", read_only.err());
}

#[test]
fn snapshots_written_by_kafka_brokers_decode() {
    let Some(shared) = common::shared_dir() else { return common::skip("../shared is absent") };
    let mut found = 0;
    let mut stack = vec![shared.join("fixtures/kafka-broker")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "snapshot")
                && !p.to_string_lossy().contains("__cluster_metadata")
            {
                strata::internals::format::producer_snapshot::decode(&std::fs::read(&p).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                found += 1;
            }
        }
    }
    assert!(found > 0);
}

#[test]
fn a_transaction_marker_closes_the_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), false);
    let mut b = BatchBuilder::new(0).producer(11, 0, 0).transactional(true);
    b.append(&Record::new("k", "v").timestamp(1_000)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    let refused = log.append_batch(batch(11, 0, 1, 1)).unwrap_err();
    assert!(matches!(refused, Error::InvalidTxnState { .. }), "{refused}");
    let marker = log.append_txn_marker(11, 0, 5, true).unwrap();
    assert_eq!(marker, 1);
    log.append_batch(batch(11, 0, 1, 1)).unwrap();
    log.close().unwrap();
    if common::kafka_verify_available().is_ok() {
        let out = common::kafka_verify(dir.path(), &[]);
        assert!(out.ok(), "{out}");
    }
}

/// Producer `.snapshot` files in `dir`: (offset, length).
fn snapshots(dir: &std::path::Path) -> Vec<(i64, u64)> {
    let mut v: Vec<(i64, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let offset = name.strip_suffix(".snapshot")?.parse().ok()?;
            Some((offset, e.metadata().unwrap().len()))
        })
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn a_producer_state_too_long_to_snapshot_is_not_written_and_is_rebuilt_at_reopen() {
    use strata::internals::format::producer_snapshot::encoded_len;
    use strata::internals::io::fault::{self, FaultPlan};
    // Three producers fit (the 1 GiB limit, lowered for writer and reader alike); ten do not.
    let limit = encoded_len(3);
    // `fits_first`: a roll snapshot of three producers before the state outgrows the limit
    // (the reopen starts from it); else no snapshot ever fits (the reopen replays the log).
    for fits_first in [true, false] {
        for clean in [true, false] {
            let case = format!("fits_first {fits_first}, clean {clean}");
            let dir = tempfile::tempdir().unwrap();
            let _limit = fault::arm(FaultPlan::new().lower_limit("producer snapshot", limit));
            let log = open(dir.path(), false);
            let mut last = Vec::new(); // (producer, its last batch's sequence, its base offset)
            let producers: &[i64] = if fits_first { &[1, 2, 3] } else { &[] };
            for &pid in producers {
                let at = log.append_batch(batch(pid, 0, 0, 2)).unwrap();
                last.push((pid, 0, at.base_offset));
            }
            let first_roll = log.log_end_offset();
            log.roll().unwrap(); // a snapshot of three producers, or (empty) no roll
            for pid in 1..=10 {
                let seq = if fits_first && pid <= 3 { 2 } else { 0 };
                let at = log.append_batch(batch(pid, 0, seq, 2)).unwrap();
                last.retain(|&(p, _, _)| p != pid);
                last.push((pid, seq, at.base_offset));
            }
            log.roll().unwrap(); // a roll snapshot too long to write
            let at = log.append_batch(batch(10, 0, 2, 2)).unwrap();
            last.retain(|&(p, _, _)| p != 10);
            last.push((10, 2, at.base_offset));
            let end = log.log_end_offset();
            if clean {
                log.close().unwrap();
            }
            drop(log);
            let written = snapshots(dir.path());
            assert!(written.iter().all(|&(_, len)| len <= limit), "{case}: {written:?}");
            let expected: Vec<i64> = if fits_first { vec![first_roll] } else { vec![] };
            let offsets: Vec<i64> = written.iter().map(|&(o, _)| o).collect();
            assert_eq!(offsets, expected, "{case}: only the snapshots that fit");

            let log = open(dir.path(), clean);
            assert_eq!(log.producer_count(), 10, "{case}");
            for &(pid, seq, base) in &last {
                let dup = log.append_batch(batch(pid, 0, seq, 2)).unwrap();
                assert_eq!(dup.base_offset, base, "{case}: producer {pid}'s retry");
                assert!(
                    matches!(
                        log.append_batch(batch(pid, 0, seq + 3, 1)),
                        Err(Error::OutOfOrderSequence { .. })
                    ),
                    "{case}: producer {pid}'s gap"
                );
                log.append_batch(batch(pid, 0, seq + 2, 1)).unwrap();
            }
            assert_eq!(log.log_end_offset(), end + 10, "{case}");
        }
    }
}

/// Each way a snapshot file can lie, planted at the log end of a cleanly
/// closed log whose older snapshots are gone: the open refuses it (removes
/// it, as Kafka deletes a snapshot it cannot read) and replays the log, so
/// the producer's last batch is still a duplicate and its sequence goes on.
#[test]
fn a_damaged_snapshot_at_the_log_end_is_removed_and_the_log_replayed() {
    use strata::internals::format::producer_snapshot::encoded_len;
    let with_count = |b: &mut Vec<u8>, count: i32| {
        b[6..10].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&b[6..]);
        b[2..6].copy_from_slice(&crc.to_be_bytes());
    };
    type Damage<'a> = &'a dyn Fn(&mut Vec<u8>);
    let cases: [(&str, Damage<'_>); 5] = [
        ("bad CRC", &|b| *b.last_mut().unwrap() ^= 1),
        ("truncated", &|b| {
            b.pop();
        }),
        ("count above the entries", &|b| with_count(b, 2)),
        ("count below the entries", &|b| with_count(b, 0)),
        ("count above the bound", &|b| with_count(b, i32::MAX)),
    ];
    for (case, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), false);
        for s in 0..40 {
            log.append_batch(batch(9, 0, s * 4, 4)).unwrap();
        }
        log.close().unwrap();
        drop(log);
        let all = snapshots(dir.path());
        let &(at, len) = all.last().unwrap();
        assert_eq!((at, len), (160, encoded_len(1)), "{case}");
        for &(o, _) in &all[..all.len() - 1] {
            std::fs::remove_file(dir.path().join(format!("{o:020}.snapshot"))).unwrap();
        }
        let path = dir.path().join(format!("{at:020}.snapshot"));
        let mut bytes = std::fs::read(&path).unwrap();
        damage(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let log = open(dir.path(), true);
        assert!(snapshots(dir.path()).is_empty(), "{case}: the damaged snapshot is removed");
        let dup = log.append_batch(batch(9, 0, 39 * 4, 4)).unwrap();
        assert_eq!(dup.base_offset, 156, "{case}: the replay knows the last batch");
        assert!(
            matches!(log.append_batch(batch(9, 0, 0, 4)), Err(Error::OutOfOrderSequence { .. })),
            "{case}"
        );
        log.append_batch(batch(9, 0, 160, 1)).unwrap();
    }
}

/// How far the resident set's peak rose above the resident set while `f` ran, in MiB
/// (`VmHWM` of `/proc/self/status`, reset through `/proc/self/clear_refs`).
fn peak_rise_mib<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let status = |field: &str| -> f64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb = s.lines().find_map(|l| l.strip_prefix(field)).unwrap();
        kb.trim().trim_end_matches("kB").trim().parse::<f64>().unwrap() / 1024.0
    };
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status("VmRSS:");
    let out = f();
    (out, status("VmHWM:") - before)
}

/// A snapshot of half a million producers whose last entry is damaged is refused by its CRC
/// before a producer is read: its open holds a chunk, not the state a valid snapshot of that
/// length costs (about 90 MiB), and the log is replayed as for any damaged snapshot. Before,
/// the entries were decoded into a state while they were summed, and the CRC refused them only
/// at the end. Runs in a child process of its own, so that no other test moves the peak.
#[test]
fn a_damaged_snapshot_is_refused_by_its_crc_before_its_producers_are_held() {
    use strata::internals::format::producer_snapshot::{SnapshotEntry, encode};
    let name = "a_damaged_snapshot_is_refused_by_its_crc_before_its_producers_are_held";
    if !common::in_child("STRATA_PRODUCER_STATE_CHILD", name, None) {
        return;
    }
    const PRODUCERS: i64 = 500_000;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), false);
    log.append_batch(batch(9, 0, 0, 4)).unwrap();
    log.close().unwrap();
    drop(log);
    let &(at, _) = snapshots(dir.path()).last().unwrap();
    let path = dir.path().join(format!("{at:020}.snapshot"));
    let good = encode(
        &(0..PRODUCERS)
            .map(|i| SnapshotEntry {
                producer_id: 1_000 + i,
                epoch: 0,
                last_sequence: 3,
                last_offset: 3,
                offset_delta: 3,
                timestamp: 10_000,
                coordinator_epoch: -1,
                current_txn_first_offset: -1,
            })
            .collect::<Vec<_>>(),
    );

    std::fs::write(&path, &good).unwrap();
    let (log, valid) = peak_rise_mib(|| open(dir.path(), true));
    assert!(valid > 40.0, "a valid snapshot's state: +{valid:.1} MiB");
    log.close().unwrap();
    drop(log);

    let mut bad = good;
    *bad.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &bad).unwrap();
    drop(bad);
    let (log, damaged) = peak_rise_mib(|| open(dir.path(), true));
    assert!(damaged < 16.0, "a damaged snapshot cost +{damaged:.1} MiB (a valid one +{valid:.1})");
    assert!(!path.exists(), "the damaged snapshot is removed");
    // Replayed from the log: producer 9's batch is known, its retry a duplicate.
    assert_eq!(log.append_batch(batch(9, 0, 0, 4)).unwrap().base_offset, 0);
    log.append_batch(batch(9, 0, 4, 1)).unwrap();
    eprintln!("open's peak rise: valid snapshot +{valid:.1} MiB, damaged +{damaged:.1} MiB");
}

/// A producer the log knows in its epoch without a batch of that epoch (a
/// KIP-890 marker bumped its epoch, or a marker was its first write) goes on
/// at sequence 0 only, as Kafka's `ProducerAppendInfo.checkSequence` takes
/// its last sequence as -1 there; a gap is refused, before and after a
/// reopen, clean or not.
#[test]
fn a_producer_known_without_a_batch_in_its_epoch_must_start_at_sequence_zero() {
    let txn = |pid: i64, epoch: i16, seq: i32| {
        let mut b = BatchBuilder::new(0).producer(pid, epoch, seq).transactional(true);
        b.append(&Record::new("k", "v").timestamp(1_000)).unwrap();
        b.build().unwrap()
    };
    let marker = |pid: i64, epoch: i16, tv: i16| strata::TxnMarker {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch: 0,
        commit: true,
        transaction_version: tv,
    };
    for reopen in [None, Some(true), Some(false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), false);
        // Producer 5: a transaction whose KIP-890 marker bumps its epoch to 1.
        log.append_batch(txn(5, 0, 0)).unwrap();
        log.append_batch(txn(5, 0, 1)).unwrap();
        log.append_marker(marker(5, 1, 2)).unwrap();
        // Producer 6: its first write is a (legacy) marker at epoch 2.
        log.append_marker(marker(6, 2, 0)).unwrap();
        if let Some(clean) = reopen {
            if clean {
                log.close().unwrap();
            }
            drop(log);
            log = open(dir.path(), clean);
        }
        for (pid, epoch) in [(5, 1), (6, 2)] {
            let gap = log.append_batch(txn(pid, epoch, 3)).unwrap_err();
            assert!(
                matches!(gap, Error::OutOfOrderSequence { expected: 0, found: 3, .. }),
                "reopen {reopen:?}, producer {pid}: {gap}"
            );
            log.append_batch(txn(pid, epoch, 0)).unwrap();
            log.append_batch(txn(pid, epoch, 1)).unwrap();
        }
    }
}

/// Snapshot entries no state at the snapshot's offset can hold, each in a
/// file whose CRC is right, planted at the log end of a cleanly closed log
/// (its older snapshots gone): the open refuses the file as it refuses a
/// damaged one and replays the log, so producer 9 goes on from its real last
/// batch. Before, a batch whose first offset lay below 0 panicked the retry
/// that matched it (an overflow), one past the log end answered a new batch as
/// a duplicate at offsets never written, and transactions at or past the
/// snapshot's offset, or two at one offset, were taken as open.
#[test]
fn snapshot_entries_no_state_at_its_offset_holds_are_refused() {
    use strata::internals::format::producer_snapshot::{SnapshotEntry, encode};
    let real = SnapshotEntry {
        producer_id: 9,
        epoch: 0,
        last_sequence: 159,
        last_offset: 159,
        offset_delta: 3,
        timestamp: 1_000,
        coordinator_epoch: -1,
        current_txn_first_offset: -1,
    };
    let other = SnapshotEntry { producer_id: 10, ..real };
    let cases: [(&str, Vec<SnapshotEntry>, i32); 5] = [
        (
            "a batch starting below offset 0",
            vec![SnapshotEntry {
                last_sequence: 2,
                last_offset: i64::MAX - 1,
                offset_delta: -(i32::MAX - 2),
                ..real
            }],
            i32::MAX,
        ),
        (
            "a batch past the snapshot's offset",
            vec![SnapshotEntry { last_sequence: 163, last_offset: 500, ..real }],
            160,
        ),
        ("a negative offset delta", vec![SnapshotEntry { offset_delta: -1, ..real }], 160),
        (
            "a transaction past the snapshot's offset",
            vec![real, SnapshotEntry { current_txn_first_offset: 160, ..other }],
            160,
        ),
        (
            "two transactions at one offset",
            vec![
                SnapshotEntry { current_txn_first_offset: 100, ..real },
                SnapshotEntry { current_txn_first_offset: 100, ..other },
            ],
            160,
        ),
    ];
    for (case, planted, seq) in cases {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), false);
        for s in 0..40 {
            log.append_batch(batch(9, 0, s * 4, 4)).unwrap();
        }
        log.close().unwrap();
        drop(log);
        let all = snapshots(dir.path());
        let &(at, _) = all.last().unwrap();
        assert_eq!(at, 160, "{case}");
        for &(o, _) in &all[..all.len() - 1] {
            std::fs::remove_file(dir.path().join(format!("{o:020}.snapshot"))).unwrap();
        }
        std::fs::write(dir.path().join(format!("{at:020}.snapshot")), encode(&planted)).unwrap();
        let log = open(dir.path(), true);
        assert!(snapshots(dir.path()).is_empty(), "{case}: the snapshot is removed");
        assert_eq!(log.producer_count(), 1, "{case}: producer 9, from the log");
        assert_eq!(log.last_stable_offset(), 160, "{case}: no transaction is open");
        // Four records: the sequences the planted batches claim, where they claim one.
        let next = log.append_batch(batch(9, 0, seq, 4));
        if seq == 160 {
            assert_eq!(next.unwrap().base_offset, 160, "{case}: written, not a duplicate");
        } else {
            let err = next.unwrap_err();
            assert!(
                matches!(err, Error::OutOfOrderSequence { expected: 160, .. }),
                "{case}: {err}"
            );
        }
    }
}

/// Whether the file a clean close leaves at `snapshot` is fsynced: the
/// source of the last rename onto it had its last write followed by a sync
/// (or no rename onto it happened while `ops` were recorded).
fn left_synced(
    ops: &[(strata::internals::io::fault::Op, std::path::PathBuf, Option<std::path::PathBuf>)],
    snapshot: &std::path::Path,
) -> bool {
    use strata::internals::io::fault::Op;
    let Some(at) =
        ops.iter().rposition(|(op, _, to)| *op == Op::Rename && to.as_deref() == Some(snapshot))
    else {
        return true;
    };
    let from = &ops[at].1;
    ops[..at]
        .iter()
        .rev()
        .find(|(op, path, _)| path == from && matches!(op, Op::Write | Op::Sync))
        .is_some_and(|(op, _, _)| *op == Op::Sync)
}

/// A clean close leaves the snapshot at the log end durable, as Kafka's
/// does (`UnifiedLog.close` takes a flushed snapshot). After a clean open
/// the snapshot there is already durable, and a roll at that same offset
/// (an explicit one, a `segment.ms` roll before the first append, or
/// retention's roll when every segment expires) must not replace it with an
/// unsynced copy that the close then keeps as the durable one: a power cut
/// after the shutdown marker could leave it empty, and every producer is
/// forgotten (retried batches appended twice). Kafka's roll takes no
/// snapshot at an offset it already has one for (`takeSnapshot` needs
/// `lastMapOffset > lastSnapOffset`). Both cases: the state unchanged since
/// the open, and changed by expiration.
#[test]
fn a_roll_at_a_clean_opens_log_end_leaves_its_snapshot_durable_through_the_close() {
    use strata::internals::io::fault;
    for expire in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(10_000);
        let open = |clean: bool| {
            Log::open(
                dir.path(),
                "t",
                0,
                LogConfig::default(),
                Arc::clone(&clock) as _,
                LoadOptions::default().with_clean_shutdown(clean),
            )
            .unwrap()
            .0
        };
        let log = open(false);
        log.append_batch(batch(7, 0, 0, 2)).unwrap();
        let mut late = BatchBuilder::new(0).producer(8, 0, 0);
        late.append(&Record::new("k", "v").timestamp(200_000)).unwrap();
        log.append_batch(late.build().unwrap()).unwrap();
        log.close().unwrap();
        let end = dir.path().join(format!("{:020}.snapshot", 3));
        assert!(end.exists());

        let log = open(true);
        if expire {
            clock.set(150_000);
            assert_eq!(log.expire_producers(100_000).unwrap(), 1, "producer 7 expires, 8 stays");
        }
        let ops = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&ops);
        let observer = fault::observe(move |d| {
            seen.lock().unwrap().push((d.op, d.path.to_owned(), d.to.map(|p| p.to_owned())));
        });
        log.roll().unwrap();
        assert_eq!(log.segment_base_offsets(), vec![0, 3]);
        log.close().unwrap();
        drop(observer);
        let ops = ops.lock().unwrap();
        assert!(
            left_synced(&ops, &end),
            "expire {expire}: the close left {} unsynced: {ops:?}",
            end.display()
        );
        // And it holds the state the close had.
        let log = open(true);
        assert_eq!(log.producer_count(), if expire { 1 } else { 2 }, "expire {expire}");
        // Producer 8's retry is still known.
        let mut again = BatchBuilder::new(0).producer(8, 0, 0);
        again.append(&Record::new("k", "v").timestamp(200_000)).unwrap();
        assert_eq!(log.append_batch(again.build().unwrap()).unwrap().base_offset, 2);
        log.close().unwrap();
    }
}

/// A store opening a partition drops the producers of the loaded snapshot
/// that are idle for `producer.id.expiration.ms`, unless their transaction is
/// open, as Kafka's `ProducerStateManager.loadFromSnapshot` filters them
/// (`isProducerExpired`): strata kept them until the first expiration pass,
/// so a producer Kafka forgot at the reopen was still fenced by its old
/// sequence (and one an expiration pass had dropped before a crash came
/// back from the roll's snapshot).
#[test]
fn a_reopen_forgets_the_snapshots_producers_idle_past_their_expiration() {
    const NOW: i64 = 1_767_225_600_000;
    const EXPIRATION_MS: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let open = |now: i64| {
        let config = strata::StoreConfig::new([dir.path()])
            .background_threads(false)
            .producer_id_expiration_ms(EXPIRATION_MS);
        strata::Store::open_with_clock(config, ManualClock::new(now)).unwrap()
    };
    let store = open(NOW);
    store.create_topic("t", 1, &std::collections::BTreeMap::new()).unwrap();
    let log = store.partition("t", 0).unwrap();
    let record = |v: &str| Record::new("k", v.to_owned()).timestamp(NOW);
    let mut idle = BatchBuilder::new(0).producer(7, 0, 0);
    idle.append(&record("idle")).unwrap();
    log.append_batch(idle.build().unwrap()).unwrap();
    let mut open_txn = BatchBuilder::new(0).producer(8, 0, 0).transactional(true);
    open_txn.append(&record("open")).unwrap();
    log.append_batch(open_txn.build().unwrap()).unwrap();
    assert_eq!(log.producer_count(), 2);
    drop(log);
    store.close().unwrap();
    drop(store);

    // Not yet idle for the expiration: both stay.
    let store = open(NOW + EXPIRATION_MS - 1);
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.producer_count(), 2, "expired before producer.id.expiration.ms passed");
    drop(log);
    store.close().unwrap();
    drop(store);

    let store = open(NOW + EXPIRATION_MS);
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.producer_count(), 1, "only the producer with an open transaction stays");
    assert_eq!(log.last_stable_offset(), 1, "its transaction still bounds the LSO");
    // Unknown again: any sequence is accepted, as Kafka does since KIP-360.
    log.append_batch(batch(7, 0, 17, 1)).unwrap();
    drop(log);
    store.close().unwrap();
}

/// A store's recovery-point checkpoint removes the producer snapshots a
/// crash recovery no longer reads, as Kafka's
/// `deleteSnapshotsAfterRecoveryPointCheckpoint` does after each one: those
/// below both the segment before the active one and the segment below the
/// recovery point. strata kept the snapshot of every segment until retention
/// deleted the segment, so a compacted topic (never deleted) with many
/// producers kept a copy of their state per segment, without bound.
#[test]
fn a_recovery_point_checkpoint_removes_the_snapshots_recovery_no_longer_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        strata::Store::open(strata::StoreConfig::new([dir.path()]).background_threads(false))
            .unwrap();
    let overrides: std::collections::BTreeMap<String, String> =
        [("segment.bytes".to_owned(), "4096".to_owned())].into();
    store.create_topic("t", 1, &overrides).unwrap();
    let log = store.partition("t", 0).unwrap();
    for s in 0..200 {
        log.append_batch(batch(9, 0, s * 4, 4)).unwrap();
    }
    assert!(log.segment_count() > 3, "rolls write snapshots");
    let part = dir.path().join("t-0");
    let before: Vec<i64> = snapshots(&part).iter().map(|&(o, _)| o).collect();
    assert!(before.len() > 3, "a snapshot a roll: {before:?}");
    log.flush().unwrap();
    store.write_checkpoints().unwrap();
    let mut bases: Vec<i64> = std::fs::read_dir(&part)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log").and_then(|n| n.parse().ok())
        })
        .collect();
    bases.sort_unstable();
    // The recovery point is the log end: the segment below it is the active one, so
    // what stays is from the segment before the active one on.
    let keep_from = bases[bases.len() - 2];
    let after: Vec<i64> = snapshots(&part).iter().map(|&(o, _)| o).collect();
    let kept: Vec<i64> = before.iter().copied().filter(|&o| o >= keep_from).collect();
    assert_eq!(after, kept, "segments at {bases:?}");
    drop(log);
    store.close().unwrap();
    drop(store);
    // A crash recovery from there still knows the producer.
    let log = open(&part, false);
    let dup = log.append_batch(batch(9, 0, 199 * 4, 4)).unwrap();
    assert_eq!(dup.base_offset, 796);
}
