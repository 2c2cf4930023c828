//! DeleteRecords and the log start offset (part of the `retention` tests).

use super::*;

/// Topic `t`: 8 batches of 5 records (offsets 0..40) in segments of 2 batches.
fn delete_records_env(policy: &str) -> (Env, Log) {
    let env = Env::new();
    let log = env.topic(
        "t",
        &[("segment.bytes", "1400"), ("file.delete.delay.ms", "0"), ("cleanup.policy", policy)],
    );
    for _ in 0..8 {
        append_batch(&log, 5, env.now);
    }
    (env, log)
}

#[test]
fn delete_records_moves_earliest_exactly_to_a_mid_segment_mid_batch_offset() {
    let (env, log) = delete_records_env("delete");
    let dir = env.store.partition_dir("t", 0).unwrap();
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    // 17 is inside the batch 15..=19, not at a segment boundary.
    let target = 17;
    let holder = segment_holding(&bases, target);
    assert!(holder < 15, "17's batch must not start its segment: {bases:?}");

    assert_eq!(env.store.delete_records("t", 0, target).unwrap(), target);
    assert_eq!(log.log_start_offset(), target);
    assert_eq!(log.offset_for_time(OffsetSpec::Earliest).unwrap().unwrap().offset, target);
    assert_out_of_range(log.read(target - 1, 4096), target - 1);
    assert_out_of_range(log.read(0, 4096), 0);
    let fetched = log.read(target, 4096).unwrap();
    assert_eq!(fetched.records().next().unwrap().unwrap().offset(), target);
    assert_eq!(read_all(&log), (target..40).collect::<Vec<_>>());
    // Segments wholly below the new start are gone at once; the one holding it stays whole.
    assert_eq!(
        log.segment_base_offsets(),
        bases.iter().copied().filter(|&b| b >= holder).collect::<Vec<_>>()
    );
    for &b in bases.iter().filter(|&&b| b < holder) {
        assert_segment_gone(&dir, b);
    }
    env.store.close().unwrap();
    assert_kafka_verify(&dir);
}

#[test]
fn delete_records_past_the_log_end_is_refused_and_changes_nothing() {
    let (env, log) = delete_records_env("delete");
    env.store.delete_records("t", 0, 12).unwrap();
    let bases = log.segment_base_offsets();
    for bad in [41, 1_000, -2] {
        assert_out_of_range(env.store.delete_records("t", 0, bad), bad);
        assert_eq!(log.log_start_offset(), 12);
        assert_eq!(log.segment_base_offsets(), bases);
    }
    assert_eq!(read_all(&log), (12..40).collect::<Vec<_>>());
}

#[test]
fn delete_records_at_or_below_the_current_start_is_a_no_op() {
    let (env, log) = delete_records_env("delete");
    env.store.delete_records("t", 0, 17).unwrap();
    let bases = log.segment_base_offsets();
    for offset in [17, 16, 0] {
        assert_eq!(env.store.delete_records("t", 0, offset).unwrap(), 17);
        assert_eq!(log.log_start_offset(), 17);
        assert_eq!(log.segment_base_offsets(), bases);
    }
}

#[test]
fn delete_records_up_to_the_log_end_leaves_nothing_readable() {
    let (env, log) = delete_records_env("delete");
    assert_eq!(env.store.delete_records("t", 0, 40).unwrap(), 40);
    assert_eq!(log.log_start_offset(), 40);
    assert!(log.read(40, 4096).unwrap().is_empty());
    assert_out_of_range(log.read(39, 4096), 39);
    append_batch(&log, 1, env.now);
    assert_eq!(read_all(&log), vec![40]);
}

#[test]
fn delete_records_on_a_compact_only_topic_is_refused() {
    let (env, log) = delete_records_env("compact");
    let err = env.store.delete_records("t", 0, 10).unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(log.log_start_offset(), 0);
    // With delete in the policy it is allowed.
    let (env, log) = delete_records_env("compact,delete");
    assert_eq!(env.store.delete_records("t", 0, 10).unwrap(), 10);
    assert_eq!(log.log_start_offset(), 10);
}

#[test]
fn the_log_start_offset_survives_close_and_reopen_through_kafkas_checkpoint() {
    let (env, log) = delete_records_env("delete");
    env.store.delete_records("t", 0, 17).unwrap();
    let bases = log.segment_base_offsets();
    env.store.close().unwrap();
    let text = fs::read_to_string(env.root().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(text, "0\n1\nt 0 17\n");
    let env = env.reopen();
    let log = env.store.partition("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), 17);
    assert_eq!(log.segment_base_offsets(), bases);
    assert_out_of_range(log.read(16, 4096), 16);
    assert_eq!(read_all(&log), (17..40).collect::<Vec<_>>());
}

#[test]
fn a_start_offset_on_a_segment_boundary_is_checkpointed_too() {
    let (env, log) = delete_records_env("delete");
    let bases = log.segment_base_offsets();
    let boundary = bases[2];
    assert_eq!(env.store.delete_records("t", 0, boundary).unwrap(), boundary);
    assert_eq!(log.segment_base_offsets(), bases[2..].to_vec());
    env.store.close().unwrap();
    // Kafka checkpoints only start offsets above the first segment's base; strata every one
    // above 0, so a crash that loses a segment file cannot take the start with it.
    let text = fs::read_to_string(env.root().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(text, format!("0\n1\nt 0 {boundary}\n"));
    let env = env.reopen();
    let log = env.store.partition("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), boundary);
    assert_eq!(read_all(&log), (boundary..40).collect::<Vec<_>>());
}

/// A removal of a retired segment's files that fails (`EIO` at its 1st, 2nd, 3rd or 4th unlink:
/// the `.log`, `.index`, `.timeindex` or `.txnindex`) leaves the rest for the next maintenance
/// pass, which removes every one of them; a file the failed pass did remove is no error then.
/// The removal used to mark the segment gone before its unlinks, so the retry found it "already
/// gone" and the files stayed until the next open.
#[test]
fn a_failed_removal_of_deleted_files_is_retried_by_the_next_maintenance_pass() {
    use strata::internals::io::fault::{self, FaultPlan, Op};
    use strata::{BatchBuilder, TxnMarker};
    for failing in 1..=4 {
        let env = Env::new();
        let log = env.topic("t", &[("segment.bytes", "1400"), ("file.delete.delay.ms", "0")]);
        // An aborted transaction gives segment 0 a `.txnindex` too.
        let mut txn = BatchBuilder::new(0).producer(7, 0, 0).transactional(true);
        txn.append(&Record::new("txn", "aborted").timestamp(env.now)).unwrap();
        log.append_batch(txn.build().unwrap()).unwrap();
        let abort = TxnMarker {
            producer_id: 7,
            producer_epoch: 0,
            coordinator_epoch: 0,
            commit: false,
            transaction_version: 0,
        };
        log.append_marker(abort).unwrap();
        for _ in 0..8 {
            append_batch(&log, 5, env.now);
        }
        let dir = env.store.partition_dir("t", 0).unwrap();
        assert!(dir.join(format!("{:020}.txnindex", 0)).exists());
        let second = log.segment_base_offsets()[1];
        {
            let plan =
                FaultPlan::new().fail_nth(Op::Remove, failing).os_error(Op::Remove, libc::EIO);
            let eio = fault::arm(plan);
            // The new start stands: the failed unlink is cleanup left for later.
            assert_eq!(env.store.delete_records("t", 0, second).unwrap(), second);
            assert_eq!(eio.injected(), 1, "unlink {failing} failed");
        }
        let left: Vec<String> = file_names(&dir)
            .into_iter()
            .filter(|n| n.starts_with(&format!("{:020}.", 0)) && n.ends_with(".deleted"))
            .collect();
        assert!(!left.is_empty(), "unlink {failing}: nothing left by the failure");
        env.store.maintain(Some("t")).unwrap();
        assert_segment_gone(&dir, 0);
        assert_eq!(log.log_start_offset(), second);
    }
}

/// Files whose removal keeps failing hold up nothing else a maintenance pass does: the due
/// segments queued after them are still removed, and the `flush.ms` flush still runs (the pass
/// returns the removal's error once all of it is done). The removal used to stop at the first
/// failing segment and fail the partition's whole pass before its flush, so with a disk that
/// keeps refusing one unlink, nothing behind it was ever removed and `flush.ms` never flushed.
#[test]
fn a_removal_that_keeps_failing_holds_up_neither_other_removals_nor_the_flush_ms_flush() {
    use strata::internals::io::fault::{self, FaultPlan, Op};
    let env = Env::new();
    let log = env.topic(
        "t",
        &[("segment.bytes", "1400"), ("file.delete.delay.ms", "0"), ("flush.ms", "1000")],
    );
    for _ in 0..8 {
        append_batch(&log, 5, env.now);
    }
    // The rolls' flushes run now (`flush.ms` is not due yet), so the pass below has only
    // `flush.ms` to flush for: the active segment's unflushed tail.
    env.store.maintain(Some("t")).unwrap();
    assert!(log.recovery_point() < log.log_end_offset(), "an unflushed tail to flush");
    let dir = env.store.partition_dir("t", 0).unwrap();
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "segments {bases:?}");
    {
        // Both segments below the new start are renamed, and every unlink of them fails.
        let eio =
            fault::arm(FaultPlan::new().fail_every(Op::Remove).os_error(Op::Remove, libc::EIO));
        assert_eq!(env.store.delete_records("t", 0, bases[2]).unwrap(), bases[2]);
        assert!(eio.injected() >= 2, "both segments' removals were tried");
    }
    env.clock.advance(2_000);
    {
        // Segment 0's first unlink fails again; segment 1's go through.
        let eio =
            fault::arm(FaultPlan::new().fail_nth(Op::Remove, 1).os_error(Op::Remove, libc::EIO));
        assert!(env.store.maintain(Some("t")).is_err(), "the failed removal is reported");
        assert_eq!(eio.injected(), 1);
    }
    // (Its producer snapshot, whose removal failed at the `delete_records`, goes with the next
    // removal of snapshots below the start, or at the next open, as Kafka's stray snapshots do.)
    let segment_files = |base: i64| -> Vec<String> {
        let prefix = format!("{base:020}.");
        file_names(&dir)
            .into_iter()
            .filter(|n| n.starts_with(&prefix) && !n.ends_with(".snapshot"))
            .collect()
    };
    assert_eq!(segment_files(bases[1]), Vec::<String>::new(), "segment 1 removed");
    assert!(
        file_names(&dir).iter().any(|n| n.starts_with(&format!("{:020}.", bases[0]))),
        "segment 0's files wait for the next pass"
    );
    assert_eq!(log.recovery_point(), log.log_end_offset(), "flush.ms flushed the tail");
    env.store.maintain(Some("t")).unwrap();
    assert_eq!(segment_files(bases[0]), Vec::<String>::new(), "segment 0 removed");
    assert_eq!(log.log_start_offset(), bases[2]);
}
