//! Leader epochs as Kafka keeps them: `leader-epoch-checkpoint` in Kafka's
//! text format, an entry when appended batches carry a new higher epoch (set
//! by an embedding service that elects leaders), trimmed when the log start
//! moves and when recovery cuts the log end, and directories without the
//! file still open.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use strata::Error;
use strata::LogConfig;
use strata::ManualClock;
use strata::Record;
use strata::internals::format::leader_epoch::EpochEntry;
use strata::{LoadOptions, Log};

fn open_with(dir: &Path, options: LoadOptions) -> Log {
    let cfg = LogConfig::default().segment_bytes(400);
    Log::open(dir, "t", 0, cfg, ManualClock::new(10_000), options).unwrap().0
}

fn open(dir: &Path) -> Log {
    open_with(dir, LoadOptions::default())
}

fn put(log: &Log, n: usize) {
    for i in 0..n {
        log.append(&[Record::new("k", format!("value-{i:030}")).timestamp(1_000)]).unwrap();
    }
}

fn checkpoint(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("leader-epoch-checkpoint")).unwrap()
}

fn e(epoch: i32, start_offset: i64) -> EpochEntry {
    EpochEntry { epoch, start_offset }
}

#[test]
fn a_new_partition_checkpoints_epoch_0_from_offset_0_in_kafkas_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    assert_eq!(checkpoint(dir.path()), "0\n1\n0 0\n");
    put(&log, 3);
    assert_eq!(log.leader_epoch(), 0);
    assert_eq!(log.leader_epochs(), vec![e(0, 0)]);
    assert_eq!(checkpoint(dir.path()), "0\n1\n0 0\n", "the same epoch adds nothing");
}

#[test]
fn an_epoch_set_by_the_embedder_is_carried_by_batches_and_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    put(&log, 5);
    log.set_leader_epoch(3).unwrap();
    assert_eq!(checkpoint(dir.path()), "0\n2\n0 0\n3 5\n");
    put(&log, 2);
    let marker = log.append_txn_marker(9, 0, 0, true).unwrap();
    let epochs: Vec<i32> =
        log.read(0, usize::MAX).unwrap().batches().map(|b| b.partition_leader_epoch()).collect();
    assert_eq!(epochs, vec![0, 0, 0, 0, 0, 3, 3, 3], "marker at {marker} too");
    let lower = log.set_leader_epoch(2).unwrap_err();
    assert!(matches!(lower, Error::InvalidRequest(_)), "{lower}");
    log.set_leader_epoch(3).unwrap();
    assert_eq!(log.leader_epochs(), vec![e(0, 0), e(3, 5)], "the same epoch again: no entry");
    log.close().unwrap();
    let log = open_with(dir.path(), LoadOptions::clean());
    assert_eq!((log.leader_epoch(), log.leader_epochs()), (3, vec![e(0, 0), e(3, 5)]));
    log.close().unwrap();
    common::assert_kafka_valid(dir.path(), 4096);
}

#[test]
fn the_log_start_moving_up_trims_the_epochs_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    put(&log, 4);
    log.set_leader_epoch(1).unwrap();
    put(&log, 4);
    log.set_leader_epoch(2).unwrap();
    put(&log, 4);
    assert_eq!(log.leader_epochs(), vec![e(0, 0), e(1, 4), e(2, 8)]);
    log.delete_records(6).unwrap();
    assert_eq!(log.leader_epochs(), vec![e(1, 6), e(2, 8)]);
    assert_eq!(checkpoint(dir.path()), "0\n2\n1 6\n2 8\n");
}

/// A trim whose checkpoint write failed, then an append whose epoch write failed: the append's
/// revert to what the file holds does not bring back the epochs the trim removed (the file still
/// holds them, the log start having moved past them); the next write leaves them out.
#[test]
fn a_failed_epoch_write_never_restores_epochs_below_the_log_start() {
    use strata::internals::io::fault::{self, FaultPlan, Op};
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    put(&log, 4);
    log.set_leader_epoch(1).unwrap();
    log.close().unwrap();
    // Epoch 1 has no batch: the open drops its entry, and the next append brings it back.
    let log = open(dir.path());
    assert_eq!((log.leader_epoch(), log.leader_epochs()), (1, vec![e(0, 0)]));
    {
        let full = FaultPlan::new().fail_every(Op::Sync).os_error(Op::Sync, libc::ENOSPC);
        let _full = fault::arm(full);
        assert_eq!(log.delete_records(2).unwrap(), 2);
        assert_eq!(log.leader_epochs(), vec![e(0, 2)]);
        assert_eq!(checkpoint(dir.path()), "0\n1\n0 0\n", "the trim's write failed");
        let err = log.append(&[Record::new("k", "v").timestamp(1_000)]).unwrap_err();
        assert!(matches!(err, Error::NoSpace { .. }), "{err}");
    }
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(log.leader_epochs(), vec![e(0, 2)], "an epoch below the log start came back");
    put(&log, 1);
    assert_eq!(log.leader_epochs(), vec![e(0, 2), e(1, 4)]);
    assert_eq!(checkpoint(dir.path()), "0\n2\n0 2\n1 4\n");
}

#[test]
fn recovery_drops_epochs_that_start_past_the_recovered_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    put(&log, 2);
    log.set_leader_epoch(4).unwrap();
    put(&log, 1);
    let seg = dir.path().join(format!("{:020}.log", 0));
    let before_last = log.read(0, usize::MAX).unwrap().slices()[0].bytes.len() as u64
        - log.read(2, 1).unwrap().size_bytes() as u64;
    drop(log);
    // A crash tore the last batch, the only one of epoch 4.
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(before_last + 10).unwrap();
    let log = open_with(dir.path(), LoadOptions::default());
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.leader_epochs(), vec![e(0, 0)]);
    assert_eq!(checkpoint(dir.path()), "0\n1\n0 0\n");
}

#[test]
fn a_directory_without_a_checkpoint_opens_with_its_batches_epochs() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        log.set_leader_epoch(2).unwrap();
        put(&log, 3);
        log.set_leader_epoch(5).unwrap();
        put(&log, 3);
        log.close().unwrap();
        // As an older broker or strata left it.
        std::fs::remove_file(dir.path().join("leader-epoch-checkpoint")).unwrap();
        let log = open_with(dir.path(), LoadOptions::default().with_clean_shutdown(clean));
        // Every batch is read once (as recovery does): each epoch from its first batch.
        assert_eq!(log.leader_epochs(), vec![e(2, 0), e(5, 3)], "clean {clean}");
        assert_eq!(log.leader_epoch(), 5);
        assert!(dir.path().join("leader-epoch-checkpoint").exists());
    }
}

#[test]
fn a_damaged_checkpoint_fails_the_open_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).close().unwrap();
    std::fs::write(dir.path().join("leader-epoch-checkpoint"), "0\n3\n1 0\n").unwrap();
    let err = Log::open(
        dir.path(),
        "t",
        0,
        LogConfig::default(),
        ManualClock::new(10_000),
        LoadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("leader-epoch-checkpoint"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("leader-epoch-checkpoint")).unwrap(),
        "0\n3\n1 0\n"
    );
}
