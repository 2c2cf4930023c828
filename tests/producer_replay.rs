//! Producer state rebuilt from the batches a directory holds, as Kafka's
//! `ProducerAppendInfo.append` and `rebuildProducerState` rebuild it: the
//! batches a client append refuses (an empty control batch, a producer batch
//! without a sequence) come from the cleaner, a Kafka broker or a hostile
//! file, and each changes the state as it does in Kafka.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use strata::internals::format::NO_SEQUENCE;
use strata::{BatchBuilder, Error, LoadOptions, Log, LogConfig, ManualClock, Record};

const NOW: i64 = 1_700_000_000_000;

fn batch(base: i64, pid: i64, seq: i32, n: usize, transactional: bool) -> Bytes {
    let mut b = BatchBuilder::new(base).producer(pid, 0, seq).transactional(transactional);
    for i in 0..n {
        b.append(&Record::new(format!("k{i}"), format!("v{seq}-{i}")).timestamp(NOW)).unwrap();
    }
    b.build().unwrap()
}

fn open(dir: &Path, options: LoadOptions) -> Log {
    Log::open(dir, "t", 0, LogConfig::default(), ManualClock::new(NOW), options).unwrap().0
}

fn open_read_only(dir: &Path, options: LoadOptions) -> Log {
    let config = LogConfig::default();
    Log::open_read_only(dir, "t", 0, config, ManualClock::new(NOW), options).unwrap().0
}

/// Appends `bytes` to the first segment's `.log` file, past what the log wrote.
fn plant(dir: &Path, bytes: &[u8]) {
    let path = dir.join("00000000000000000000.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// A control batch of producer `pid` left without its marker record, as the
/// cleaner leaves one: it still covers its offset.
fn empty_control_batch(base: i64, pid: i64) -> Bytes {
    BatchBuilder::new(base)
        .producer(pid, 0, NO_SEQUENCE)
        .transactional(true)
        .control(true)
        .last_offset_delta(0)
        .empty_batch_timestamps(NOW, NOW)
        .build()
        .unwrap()
}

/// Kafka's `ProducerAppendInfo.append` reads a control batch's marker only if
/// it holds a record: an empty one completes no transaction. strata closed the
/// producer's open transaction at any control batch, so a file with an empty
/// one after a transactional batch moved the LSO past records no marker ended.
#[test]
fn an_empty_control_batch_leaves_its_producers_transaction_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LoadOptions::default());
    log.append_batch(batch(0, 11, 0, 1, true)).unwrap();
    assert_eq!(log.last_stable_offset(), 0);
    log.close().unwrap();
    plant(dir.path(), &empty_control_batch(1, 11));

    for clean in [true, false] {
        let options = LoadOptions::default().with_clean_shutdown(clean);
        let ro = open_read_only(dir.path(), options);
        assert_eq!(ro.log_end_offset(), 2);
        assert_eq!(ro.last_stable_offset(), 0, "read-only, clean {clean}: the transaction ended");
        drop(ro);
        let log = open(dir.path(), options);
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(log.last_stable_offset(), 0, "clean {clean}: the transaction ended");
        // Still open: its producer may not write outside it.
        let refused = log.append_batch(batch(0, 11, 1, 1, false)).unwrap_err();
        assert!(matches!(refused, Error::InvalidTxnState { .. }), "{refused}");
        log.close().unwrap();
    }
}

/// Kafka's `ProducerAppendInfo.appendDataBatch` records every data batch of a
/// producer, one without a sequence too (`RecordBatch.NO_SEQUENCE`, as the
/// group coordinator writes transactional offset commits): it becomes the
/// producer's last batch, so the next sequence expected is 0, and a
/// transactional one opens the transaction. strata skipped such a batch's
/// metadata and went on expecting the sequence after the batch before it.
#[test]
fn a_producer_batch_without_a_sequence_is_its_producers_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LoadOptions::default());
    log.append_batch(batch(0, 5, 0, 3, false)).unwrap();
    log.append_batch(batch(0, 6, 0, 1, false)).unwrap();
    log.close().unwrap();
    plant(dir.path(), &batch(4, 5, NO_SEQUENCE, 1, false));
    plant(dir.path(), &batch(5, 6, NO_SEQUENCE, 2, true));

    let log = open(dir.path(), LoadOptions::default().with_clean_shutdown(false));
    assert_eq!(log.log_end_offset(), 7);
    assert_eq!(log.last_stable_offset(), 5, "the transactional batch opens the transaction");
    // Kafka's `checkSequence`: the last sequence is -1, so the next is 0.
    log.append_batch(batch(0, 5, 0, 1, false)).unwrap();
    log.close().unwrap();
    // And through the snapshot the close wrote: the entry's last batch is the one at 7.
    let log = open(dir.path(), LoadOptions::default());
    let dup = log.append_batch(batch(0, 5, 0, 1, false)).unwrap();
    assert_eq!(dup.base_offset, 7, "a retry of the batch at 7 is its duplicate");
    assert_eq!(log.log_end_offset(), 8);
    log.close().unwrap();
}

fn snapshot_offsets(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".snapshot")?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// Kafka's `rebuildProducerState` replays from the larger of the snapshot's
/// offset and the log start (`truncateAndReload` starts an empty state at the
/// log start): a batch below the log start, still in the first segment after
/// DeleteRecords, is not replayed. strata replayed the whole first segment,
/// so a crash brought back a transaction only records below the log start
/// held.
#[test]
fn a_replay_without_a_snapshot_starts_at_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LoadOptions::default());
    log.append_batch(batch(0, 11, 0, 1, true)).unwrap();
    log.append_batch(batch(0, -1, NO_SEQUENCE, 1, false)).unwrap();
    assert_eq!(log.delete_records(1).unwrap(), 1);
    drop(log); // a crash: no snapshot
    assert!(snapshot_offsets(dir.path()).is_empty());

    let options = LoadOptions::default().with_clean_shutdown(false).with_log_start_offset(1);
    let ro = open_read_only(dir.path(), options);
    assert_eq!(ro.log_start_offset(), 1);
    assert_eq!(ro.last_stable_offset(), 2, "read-only: a transaction below the log start");
    assert_eq!(ro.producer_count(), 0, "read-only: a producer below the log start");
    drop(ro);
    let log = open(dir.path(), options);
    assert_eq!(log.last_stable_offset(), 2, "a transaction below the log start came back");
    assert_eq!(log.producer_count(), 0, "a producer below the log start came back");
    log.append_batch(batch(0, 11, 5, 1, false)).unwrap();
    log.close().unwrap();
}

/// Kafka's `truncateAndReload` removes the snapshots at or below the log
/// start and loads none of them: the state starts empty at the log start.
/// strata loaded such a snapshot, holding producers of records retention or
/// DeleteRecords had removed. A read-only open reads it as the writer's open
/// does, removing nothing.
#[test]
fn a_snapshot_at_or_below_the_log_start_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LoadOptions::default());
    log.append_batch(batch(0, 11, 0, 1, true)).unwrap();
    log.append_batch(batch(0, 12, 0, 1, false)).unwrap();
    log.close().unwrap();
    assert_eq!(snapshot_offsets(dir.path()), [2]);

    let options = LoadOptions::default().with_log_start_offset(2);
    let ro = open_read_only(dir.path(), options);
    assert_eq!(ro.producer_count(), 0, "read-only: the snapshot at the log start was loaded");
    drop(ro);
    assert_eq!(snapshot_offsets(dir.path()), [2], "the read-only open removed a snapshot");
    let log = open(dir.path(), options);
    assert_eq!(log.producer_count(), 0, "the snapshot at the log start was loaded");
    assert_eq!(snapshot_offsets(dir.path()), Vec::<i64>::new());
    // Unknown: outside a transaction and at any sequence.
    log.append_batch(batch(0, 11, 7, 1, false)).unwrap();
    log.close().unwrap();
}

/// A read-only open drops the loaded snapshot's producers idle for
/// `producer.id.expiration.ms` as a writer's open does (06eef03), and holds
/// the producers it replayed: strata's read-only open kept none
/// (`producer_count` 0) and had no expiry to apply.
#[test]
fn a_read_only_open_holds_the_producers_a_writers_open_would() {
    const EXPIRATION_MS: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LoadOptions::default());
    log.append_batch(batch(0, 7, 0, 1, false)).unwrap();
    log.append_batch(batch(0, 8, 0, 1, true)).unwrap();
    log.close().unwrap();
    let options = LoadOptions::default().with_producer_id_expiration_ms(EXPIRATION_MS);
    let at = |now: i64| {
        let config = LogConfig::default();
        let clock = ManualClock::new(now);
        Log::open_read_only(dir.path(), "t", 0, config, clock, options).unwrap().0
    };
    let ro = at(NOW + EXPIRATION_MS - 1);
    assert_eq!(ro.producer_count(), 2, "read-only, before the expiration");
    let ro = at(NOW + EXPIRATION_MS);
    assert_eq!(ro.producer_count(), 1, "read-only: only the open transaction's producer stays");
    assert_eq!(ro.last_stable_offset(), 1);
    let writer = Log::open(
        dir.path(),
        "t",
        0,
        LogConfig::default(),
        ManualClock::new(NOW + EXPIRATION_MS),
        options,
    );
    assert_eq!(writer.unwrap().0.producer_count(), 1);
    assert_eq!(snapshot_offsets(dir.path()), [2]);
}
