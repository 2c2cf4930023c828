//! Transactions as a Kafka broker keeps them: the `.txnindex` in Kafka's
//! format, the last stable offset, read-committed reads with the aborted
//! list a fetch response carries, KIP-890's marker epoch rule, recovery of
//! the index and the cleaner reading it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use strata::Error;
use strata::LogConfig;
use strata::ManualClock;
use strata::{AbortedTransaction, Isolation, LoadOptions, Log, TxnMarker};
use strata::{BatchBuilder, Record};

const INDEX_INTERVAL: u64 = 4096;

fn open_with(dir: &Path, cfg: LogConfig, options: LoadOptions) -> Log {
    Log::open(dir, "t", 0, cfg, ManualClock::new(10_000), options).unwrap().0
}

fn open(dir: &Path) -> Log {
    open_with(dir, LogConfig::default(), LoadOptions::default())
}

/// One transactional batch of `n` records of producer `pid`.
fn txn(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(0).producer(pid, epoch, seq).transactional(true);
    for i in 0..n {
        b.append(&Record::new(format!("k{i}"), format!("p{pid}-{seq}-{i}")).timestamp(1_000))
            .unwrap();
    }
    b.build().unwrap()
}

fn plain(v: &str) -> Vec<Record> {
    vec![Record::new("plain", v.to_owned()).timestamp(1_000)]
}

fn marker(pid: i64, epoch: i16, commit: bool, tv: i16) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch: 0,
        commit,
        transaction_version: tv,
    }
}

fn txnindex(dir: &Path, base: i64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.txnindex"))
}

/// Decodes a `.txnindex` with plain std (not through strata).
fn entries(path: &Path) -> Vec<[i64; 4]> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len() % 34, 0, "whole 34-byte entries");
    bytes
        .chunks(34)
        .map(|e| {
            assert_eq!(&e[0..2], &[0, 0], "version 0");
            let at = |i: usize| i64::from_be_bytes(e[i..i + 8].try_into().unwrap());
            [at(2), at(10), at(18), at(26)]
        })
        .collect()
}

#[test]
fn an_abort_writes_kafkas_txnindex_entry_and_a_commit_writes_none() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(&plain("a")).unwrap(); // 0
    log.append_batch(txn(7, 0, 0, 2)).unwrap(); // 1-2
    log.append_batch(txn(8, 0, 0, 1)).unwrap(); // 3
    let commit = log.append_marker(marker(8, 0, true, 0)).unwrap(); // 4
    assert!(!txnindex(dir.path(), 0).exists(), "no file until an abort");
    let abort = log.append_marker(marker(7, 0, false, 0)).unwrap(); // 5
    assert_eq!((commit, abort), (4, 5));
    // producerId, firstOffset, lastOffset (the marker), LSO (nothing else open: marker + 1).
    assert_eq!(entries(&txnindex(dir.path(), 0)), vec![[7, 1, 5, 6]]);
    log.close().unwrap();
    common::assert_kafka_accepts(dir.path(), INDEX_INTERVAL);
}

#[test]
fn an_aborts_entry_records_the_earliest_other_open_transaction_as_its_lso() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_batch(txn(1, 0, 0, 1)).unwrap(); // 0
    log.append_batch(txn(2, 0, 0, 1)).unwrap(); // 1
    log.append_marker(marker(2, 0, false, 0)).unwrap(); // 2: producer 1 still open at 0
    log.append_marker(marker(1, 0, false, 0)).unwrap(); // 3
    assert_eq!(entries(&txnindex(dir.path(), 0)), vec![[2, 1, 2, 0], [1, 0, 3, 4]]);
}

#[test]
fn the_last_stable_offset_is_the_first_open_transactions_offset_else_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(&plain("a")).unwrap(); // 0
    assert_eq!(log.last_stable_offset(), 1);
    log.append_batch(txn(7, 0, 0, 1)).unwrap(); // 1
    log.append(&plain("b")).unwrap(); // 2
    log.append_batch(txn(8, 0, 0, 1)).unwrap(); // 3
    assert_eq!(log.last_stable_offset(), 1);
    log.append_marker(marker(7, 0, true, 0)).unwrap(); // 4
    assert_eq!(log.last_stable_offset(), 3, "producer 8's transaction is still open");
    log.append_marker(marker(8, 0, false, 0)).unwrap(); // 5
    assert_eq!(log.last_stable_offset(), 6);
    // The LSO survives a restart (clean: from the snapshot; unclean: replayed).
    log.append_batch(txn(9, 0, 0, 1)).unwrap(); // 6
    log.close().unwrap();
    for clean in [true, false] {
        let log = open_with(
            dir.path(),
            LogConfig::default(),
            LoadOptions::default().with_clean_shutdown(clean),
        );
        assert_eq!(log.last_stable_offset(), 6, "clean {clean}");
        log.close().unwrap();
    }
    let ro = Log::open_read_only(
        dir.path(),
        "t",
        0,
        LogConfig::default(),
        ManualClock::new(10_000),
        LoadOptions::default(),
    )
    .unwrap()
    .0;
    assert_eq!(ro.last_stable_offset(), 6, "a read-only open serves the same LSO");
}

#[test]
fn read_committed_stops_at_the_lso_and_lists_the_aborted_transactions_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(&plain("a")).unwrap(); // 0
    log.append_batch(txn(7, 0, 0, 2)).unwrap(); // 1-2
    log.append_batch(txn(8, 0, 0, 1)).unwrap(); // 3
    log.append_marker(marker(7, 0, false, 0)).unwrap(); // 4
    log.append_marker(marker(8, 0, true, 0)).unwrap(); // 5
    log.append_batch(txn(9, 0, 0, 1)).unwrap(); // 6: open
    log.append(&plain("b")).unwrap(); // 7

    let all = log.read_with(0, usize::MAX, Isolation::ReadUncommitted).unwrap();
    assert_eq!(all.next_offset(), 8);
    assert!(all.aborted_transactions().is_empty());

    let committed = log.read_with(0, usize::MAX, Isolation::ReadCommitted).unwrap();
    assert_eq!(committed.last_stable_offset(), Some(6));
    assert_eq!(committed.next_offset(), 6, "nothing at or past the LSO");
    assert!(committed.batches().all(|b| b.base_offset() < 6));
    assert_eq!(
        committed.aborted_transactions(),
        &[AbortedTransaction { producer_id: 7, first_offset: 1 }]
    );
    // A fetch that starts after the abort's marker does not report it.
    let later = log.read_with(5, usize::MAX, Isolation::ReadCommitted).unwrap();
    assert!(later.aborted_transactions().is_empty(), "{:?}", later.aborted_transactions());
    // Between the LSO and the log end: empty, as a caught-up reader's read.
    let above = log.read_with(7, usize::MAX, Isolation::ReadCommitted).unwrap();
    assert!(above.is_empty());
    assert!(matches!(
        log.read_with(9, 1, Isolation::ReadCommitted),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

#[test]
fn an_abort_whose_marker_lies_in_a_later_segment_is_reported_for_the_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        open_with(dir.path(), LogConfig::default().segment_bytes(300), LoadOptions::default());
    log.append_batch(txn(7, 0, 0, 1)).unwrap(); // 0
    for i in 0..6 {
        log.append(&plain(&format!("filler-{i:040}"))).unwrap();
    }
    log.append_marker(marker(7, 0, false, 0)).unwrap();
    assert!(log.segment_count() > 2, "{}", log.segment_count());
    assert!(!txnindex(dir.path(), 0).exists(), "the entry lies with the marker's segment");
    let first = log.read_with(0, 1, Isolation::ReadCommitted).unwrap();
    assert_eq!(first.next_offset(), 1);
    assert_eq!(
        first.aborted_transactions(),
        &[AbortedTransaction { producer_id: 7, first_offset: 0 }]
    );
}

#[test]
fn an_unclean_open_rebuilds_the_txnindex_as_the_live_append_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        open_with(dir.path(), LogConfig::default().segment_bytes(400), LoadOptions::default());
    for round in 0..6 {
        log.append_batch(txn(1, 0, round * 2, 2)).unwrap();
        log.append_batch(txn(2, 0, round, 1)).unwrap();
        log.append_marker(marker(2, 0, round % 2 == 0, 0)).unwrap();
        log.append_marker(marker(1, 0, false, 0)).unwrap();
        log.append(&plain("between")).unwrap();
    }
    log.close().unwrap();
    let live: BTreeMap<_, _> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txnindex"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(live.len() > 1, "entries in several segments: {live:?}");
    // Lose every index and one entry's tail; recover everything.
    let (torn, _) = live.iter().next().unwrap();
    std::fs::write(torn, [0u8; 20]).unwrap();
    for p in live.keys().skip(1) {
        std::fs::remove_file(p).unwrap();
    }
    let log =
        open_with(dir.path(), LogConfig::default().segment_bytes(400), LoadOptions::default());
    for (p, bytes) in &live {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "{} rebuilt as written", p.display());
    }
    log.close().unwrap();
    common::assert_kafka_valid(dir.path(), INDEX_INTERVAL);
}

#[test]
fn a_txnindex_goes_with_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        open_with(dir.path(), LogConfig::default().segment_bytes(300), LoadOptions::default());
    log.append_batch(txn(7, 0, 0, 1)).unwrap();
    log.append_marker(marker(7, 0, false, 0)).unwrap();
    assert!(txnindex(dir.path(), 0).exists());
    for i in 0..6 {
        log.append(&plain(&format!("filler-{i:040}"))).unwrap();
    }
    let second = log.segment_base_offsets()[1];
    log.delete_records(second).unwrap();
    log.delete_old_segments().unwrap();
    let deleted = dir.path().join(format!("{:020}.txnindex.deleted", 0));
    assert!(!txnindex(dir.path(), 0).exists() && deleted.exists(), "renamed with segment 0");
    log.delete_expired_files(i64::MAX).unwrap();
    assert!(!deleted.exists(), "removed with segment 0");
}

#[test]
fn kip_890_markers_must_bump_the_epoch_and_a_retry_of_the_last_one_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_batch(txn(7, 3, 0, 1)).unwrap();
    // Transaction version 2: the coordinator bumps the epoch for the marker.
    let same = log.append_marker(marker(7, 3, true, 2)).unwrap_err();
    assert!(matches!(same, Error::InvalidProducerEpoch { epoch: 3, current: 3, .. }), "{same}");
    log.append_marker(marker(7, 4, true, 2)).unwrap();
    // The same marker again (a coordinator's retry): nothing is open, so it is written.
    log.append_marker(marker(7, 4, true, 2)).unwrap();
    let older = log.append_marker(marker(7, 3, true, 2)).unwrap_err();
    assert!(matches!(older, Error::InvalidProducerEpoch { .. }), "{older}");
    // Legacy versions accept a marker at the producer's epoch, refuse one below it.
    log.append_batch(txn(8, 2, 0, 1)).unwrap();
    log.append_marker(marker(8, 2, false, 0)).unwrap();
    assert!(matches!(
        log.append_marker(marker(8, 1, false, 1)),
        Err(Error::InvalidProducerEpoch { .. })
    ));
}

#[test]
fn a_marker_from_an_older_coordinator_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_batch(txn(7, 0, 0, 1)).unwrap();
    log.append_marker(TxnMarker { coordinator_epoch: 5, ..marker(7, 0, true, 0) }).unwrap();
    log.append_batch(txn(7, 0, 1, 1)).unwrap();
    let err =
        log.append_marker(TxnMarker { coordinator_epoch: 4, ..marker(7, 0, true, 0) }).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TransactionCoordinatorFenced {
                producer_id: 7,
                coordinator_epoch: 4,
                current: 5
            }
        ),
        "{err}"
    );
    assert_eq!(log.last_stable_offset(), 2, "the transaction stays open");
}

#[test]
fn directories_with_aborted_transactions_pass_both_checkers() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with(
        dir.path(),
        LogConfig::default().segment_bytes(2048).index_interval_bytes(256),
        LoadOptions::default(),
    );
    for round in 0..20 {
        log.append_batch(txn(1, 0, round * 3, 3)).unwrap();
        log.append(&plain(&format!("interleaved-{round}"))).unwrap();
        log.append_batch(txn(2, 0, round, 1)).unwrap();
        log.append_marker(marker(1, 0, round % 3 != 0, 0)).unwrap();
        log.append_marker(marker(2, 0, round % 2 == 0, 0)).unwrap();
    }
    assert!(log.segment_count() > 2);
    log.close().unwrap();
    let indexes = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "txnindex"))
        .count();
    assert!(indexes > 1, "{indexes} .txnindex files");
    common::assert_kafka_accepts(dir.path(), 256);
}

fn compacted_store(dir: &Path) -> (strata::Store, Log) {
    use strata::Clock as _;
    let clock = ManualClock::new(strata::SystemClock.now_ms());
    let config = strata::StoreConfig::new([dir]).background_threads(false);
    let store = strata::Store::open_with_clock(config, clock).unwrap();
    if store.partition("c", 0).is_err() {
        let o: BTreeMap<String, String> = [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        store.create_topic("c", 1, &o).unwrap();
    }
    let log = store.partition("c", 0).unwrap();
    (store, log)
}

fn values(log: &Log) -> Vec<String> {
    let f = log.read(log.log_start_offset(), usize::MAX).unwrap();
    f.records().map(|r| String::from_utf8(r.unwrap().value().unwrap().to_vec()).unwrap()).collect()
}

/// Writes an aborted transaction (keys k0, k1) between committed data, then
/// rolls twice so the cleaner may clean it. Returns the abort marker's offset.
fn aborted_between_committed(log: &Log) -> i64 {
    log.append(&[Record::new("k0", "committed-0")]).unwrap();
    log.append_batch(txn(7, 0, 0, 2)).unwrap();
    log.append(&[Record::new("k1", "committed-1")]).unwrap();
    let abort = log.append_marker(marker(7, 0, false, 0)).unwrap();
    log.roll().unwrap();
    log.append(&[Record::new("tail", "active")]).unwrap();
    abort
}

#[test]
fn the_cleaner_drops_aborted_data_it_learns_from_the_txnindex_and_keeps_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, log) = compacted_store(tmp.path());
    let abort = aborted_between_committed(&log);
    assert!(values(&log).contains(&"p7-0-0".to_owned()));
    let report = store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    let left = values(&log);
    assert!(!left.iter().any(|v| v.starts_with("p7-")), "aborted data cleaned: {left:?}");
    // The marker stays (its data was seen this pass), so its entry goes to the cleaned segment.
    let dir = store.partition_dir("c", 0).unwrap();
    assert_eq!(entries(&txnindex(&dir, 0)), vec![[7, 1, abort, abort + 1]]);
    let f = log.read_with(0, usize::MAX, Isolation::ReadCommitted).unwrap();
    assert_eq!(f.aborted_transactions(), &[AbortedTransaction { producer_id: 7, first_offset: 1 }]);
    store.close().unwrap();
    common::assert_kafka_valid(&dir, INDEX_INTERVAL);
}

#[test]
fn the_cleaner_reads_aborted_transactions_from_the_txnindex_not_from_batch_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, log) = compacted_store(tmp.path());
    aborted_between_committed(&log);
    let dir = store.partition_dir("c", 0).unwrap();
    store.close().unwrap();
    // Without its index (as a directory from before strata kept one), the
    // transaction reads as committed: the cleaner keeps its latest records.
    std::fs::remove_file(txnindex(&dir, 0)).unwrap();
    let (store, log) = compacted_store(tmp.path());
    store.maintain(None).unwrap();
    let left = values(&log);
    assert!(left.contains(&"p7-0-0".to_owned()), "{left:?}");
    store.close().unwrap();
}

#[test]
fn committed_records_are_what_a_read_committed_kafka_consumer_sees() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(&plain("a")).unwrap(); // 0
    log.append_batch(txn(7, 0, 0, 2)).unwrap(); // 1-2: aborted
    log.append_batch(txn(8, 0, 0, 1)).unwrap(); // 3: committed
    log.append(&plain("b")).unwrap(); // 4
    log.append_marker(marker(7, 0, false, 0)).unwrap(); // 5
    log.append_marker(marker(8, 0, true, 0)).unwrap(); // 6
    log.append_batch(txn(7, 0, 2, 1)).unwrap(); // 7: the same producer, committed this time
    log.append_marker(marker(7, 0, true, 0)).unwrap(); // 8
    log.append(&plain("c")).unwrap(); // 9
    let values = |f: &strata::Fetched| -> Vec<(i64, String)> {
        f.committed_records()
            .map(|r| {
                let r = r.unwrap();
                (r.offset(), String::from_utf8(r.value().unwrap().to_vec()).unwrap())
            })
            .collect()
    };
    let committed = log.read_with(0, usize::MAX, Isolation::ReadCommitted).unwrap();
    assert_eq!(
        values(&committed),
        vec![
            (0, "a".to_owned()),
            (3, "p8-0-0".to_owned()),
            (4, "b".to_owned()),
            (7, "p7-2-0".to_owned()),
            (9, "c".to_owned())
        ]
    );
    // From the middle of the aborted transaction: still skipped.
    let mid = log.read_with(2, usize::MAX, Isolation::ReadCommitted).unwrap();
    assert_eq!(values(&mid).first(), Some(&(3, "p8-0-0".to_owned())));
    // Read uncommitted: everything but the markers.
    let all = log.read_with(0, usize::MAX, Isolation::ReadUncommitted).unwrap();
    assert_eq!(values(&all).len(), 7);
}

#[test]
fn a_directory_from_before_txnindex_files_gets_them_rebuilt_at_its_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        open_with(dir.path(), LogConfig::default().segment_bytes(400), LoadOptions::default());
    for round in 0..4 {
        log.append_batch(txn(1, 0, round, 1)).unwrap();
        log.append(&plain("between")).unwrap();
        log.append_marker(marker(1, 0, round % 2 == 1, 0)).unwrap();
    }
    log.close().unwrap();
    let indexes: BTreeMap<_, _> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txnindex"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(!indexes.is_empty());
    // As strata wrote directories before it kept these files: no index, no epoch checkpoint.
    for p in indexes.keys() {
        std::fs::remove_file(p).unwrap();
    }
    std::fs::remove_file(dir.path().join("leader-epoch-checkpoint")).unwrap();
    let log = open_with(dir.path(), LogConfig::default().segment_bytes(400), LoadOptions::clean());
    for (p, bytes) in &indexes {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "{} rebuilt", p.display());
    }
    let f = log.read_with(0, usize::MAX, Isolation::ReadCommitted).unwrap();
    assert_eq!(f.aborted_transactions().len(), 2);
}

#[test]
fn a_damaged_txnindex_of_a_trusted_segment_is_rebuilt_at_open_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || LogConfig::default().segment_bytes(400);
    let log = open_with(dir.path(), cfg(), LoadOptions::default());
    for round in 0..6 {
        log.append_batch(txn(1, 0, round * 2, 2)).unwrap();
        log.append_batch(txn(2, 0, round, 1)).unwrap();
        log.append_marker(marker(2, 0, round % 2 == 0, 0)).unwrap();
        log.append_marker(marker(1, 0, false, 0)).unwrap();
        log.append(&plain("between")).unwrap();
    }
    let aborted = |log: &Log| {
        let mut all = Vec::new();
        let mut at = 0;
        while at < log.log_end_offset() {
            let f = log.read_with(at, 1 << 20, Isolation::ReadCommitted)?;
            all.extend(f.aborted_transactions().iter().copied());
            at = f.next_offset();
        }
        Ok::<_, Error>(all)
    };
    let expected = aborted(&log).unwrap();
    let end = log.log_end_offset();
    log.close().unwrap();
    let path = txnindex(dir.path(), 0);
    let written = std::fs::read(&path).unwrap();
    assert!(!written.is_empty() && log_segments(dir.path()) > 2);
    // Its first entry's version is garbage (Kafka's `TransactionIndex.sanityCheck`
    // fails such a file at load and `LogLoader` recovers the segment).
    let mut damaged = written.clone();
    damaged[0] = 0x7f;
    std::fs::write(&path, &damaged).unwrap();
    let (log, report) = Log::open(
        dir.path(),
        "t",
        0,
        cfg(),
        ManualClock::new(10_000),
        LoadOptions::clean().with_recovery_point(end),
    )
    .unwrap();
    assert!(
        report.repaired_segments.iter().any(|(_, why)| why.contains(".txnindex")),
        "{:?}",
        report.repaired_segments
    );
    assert_eq!(std::fs::read(&path).unwrap(), written, "rebuilt as written");
    assert_eq!(aborted(&log).unwrap(), expected);
    log.close().unwrap();
}

fn log_segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|e| e == "log"))
        .count()
}

/// A log of several segments whose aborts are spread over them, closed; then an aborted
/// transaction is planted at the end of segment `pick(bases)`'s `.txnindex`, from `first` to
/// `last` (computed from the next segment's base, or the log end for the active one). Opens
/// the log with every segment trusted and returns the load's repairs, after checking the file
/// came back as written and reads answer the aborts actually written. (Kafka's
/// `TransactionIndex.sanityCheck` refuses only an entry ending below the segment's base; an
/// entry past the segment is strata's own check, `Segment::damage`.)
fn plant_txn_past_its_segment(
    pick: impl Fn(&[i64]) -> usize,
    span: impl Fn(Option<i64>, i64) -> (i64, i64),
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || LogConfig::default().segment_bytes(400);
    let log = open_with(dir.path(), cfg(), LoadOptions::default());
    for round in 0..6 {
        log.append_batch(txn(1, 0, round * 2, 2)).unwrap();
        log.append_marker(marker(1, 0, false, 0)).unwrap();
        log.append(&plain("between")).unwrap();
    }
    let aborted = |log: &Log| {
        let (mut all, mut at) = (Vec::new(), 0);
        while at < log.log_end_offset() {
            let f = log.read_with(at, 1 << 20, Isolation::ReadCommitted).unwrap();
            all.extend(f.aborted_transactions().iter().copied());
            at = f.next_offset();
        }
        all
    };
    let (expected, end, bases) = (aborted(&log), log.log_end_offset(), log.segment_base_offsets());
    log.close().unwrap();
    assert!(bases.len() > 2, "{bases:?}");
    let at = pick(&bases);
    let path = txnindex(dir.path(), bases[at]);
    let written = std::fs::read(&path).ok();
    let (first, last) = span(bases.get(at + 1).copied(), end);
    // Kafka's 34-byte entry: version 0, producer id, first offset, last offset, last stable offset.
    let mut planted = written.clone().unwrap_or_default();
    planted.extend_from_slice(&0i16.to_be_bytes());
    for field in [99, first, last, last + 1] {
        planted.extend_from_slice(&i64::to_be_bytes(field));
    }
    std::fs::write(&path, &planted).unwrap();
    let options = LoadOptions::clean().with_recovery_point(end);
    let (log, report) =
        Log::open(dir.path(), "t", 0, cfg(), ManualClock::new(10_000), options).unwrap();
    assert_eq!(std::fs::read(&path).ok(), written, "{} rebuilt as written", path.display());
    assert_eq!(aborted(&log), expected);
    log.close().unwrap();
    report.repaired_segments.into_iter().map(|(_, why)| why).collect()
}

#[test]
fn a_txnindex_entry_ending_in_the_next_segment_gets_its_segment_rebuilt_at_open() {
    // Segment 0's last abort ends at the next segment's base offset.
    let repairs = plant_txn_past_its_segment(|_| 0, |next, _| (next.unwrap() - 1, next.unwrap()));
    assert!(
        repairs.iter().any(|why| why.contains(".txnindex") && why.contains("of the next segment")),
        "{repairs:?}"
    );
}

#[test]
fn a_txnindex_entry_ending_past_the_log_end_gets_the_active_segment_rebuilt_at_open() {
    // The active segment's last abort ends two offsets past the log end.
    let repairs = plant_txn_past_its_segment(|bases| bases.len() - 1, |_, end| (end, end + 2));
    assert!(
        repairs.iter().any(|why| why.contains(".txnindex") && why.contains("past the log end")),
        "{repairs:?}"
    );
}

/// A log holding one committed transaction: its data record (offset 0, key `k`) and its
/// commit marker (offset 1, a control batch), then a plain record (offset 2).
fn committed_transaction_then_plain(dir: &Path) -> Log {
    let log = open(dir);
    let mut b = BatchBuilder::new(0).producer(7, 0, 0).transactional(true);
    b.append(&Record::new("k", "v").timestamp(1_000)).unwrap();
    log.append_batch(b.build().unwrap()).unwrap();
    log.append_marker(marker(7, 0, true, 0)).unwrap();
    log.append(&plain("after")).unwrap();
    log
}

#[test]
fn records_from_hands_out_no_transaction_marker_as_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = committed_transaction_then_plain(dir.path());
    let seen: Vec<i64> = log.records_from(0).map(|r| r.unwrap().offset()).collect();
    assert_eq!(seen, [0, 2], "records_from yielded the commit marker at offset 1");
}

#[test]
fn fetched_records_hand_out_no_transaction_marker_as_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = committed_transaction_then_plain(dir.path());
    let fetched = log.read(0, usize::MAX).unwrap();
    let seen: Vec<i64> = fetched.records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(seen, [0, 2], "Fetched::records yielded the commit marker at offset 1");
    let unchecked: Vec<i64> = fetched.records_unchecked().map(|r| r.unwrap().offset()).collect();
    assert_eq!(unchecked, [0, 2], "records_unchecked yielded the commit marker at offset 1");
    // A read starting at the marker hands out nothing before the next record.
    let from_marker: Vec<i64> =
        log.read(1, usize::MAX).unwrap().records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(from_marker, [2]);
    // The batch-level view keeps the marker, flagged as control.
    let control: Vec<(i64, bool)> =
        fetched.batches().map(|b| (b.base_offset(), b.is_control())).collect();
    assert_eq!(control, [(0, false), (1, true), (2, false)]);
}

#[cfg(feature = "stream")]
#[test]
fn the_async_tail_hands_out_no_transaction_marker_as_a_record() {
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use futures_core::Stream;

    let dir = tempfile::tempdir().unwrap();
    let log = committed_transaction_then_plain(dir.path());
    let mut tail = log.tail(0);
    let mut cx = Context::from_waker(Waker::noop());
    let mut seen = Vec::new();
    while let Poll::Ready(Some(r)) = Pin::new(&mut tail).poll_next(&mut cx) {
        seen.push(r.unwrap().offset());
    }
    assert_eq!(seen, [0, 2], "the tail yielded the commit marker at offset 1");
}

/// A read-only open serves read-committed reads with the aborted
/// transactions a writer's open would index: the `.txnindex` of a segment
/// recovery re-validates is rebuilt from its markers (Kafka's
/// `LogSegment.recover`), so one a power cut lost (its ABORT marker reached
/// the disk, the index entry did not), or one of a directory from before
/// strata kept these files, is no list to trust. Read as it lay, it let a
/// read-committed reader take an aborted transaction's records as committed.
/// Nothing is written: the rebuilt entries live in memory.
#[test]
fn a_read_only_open_lists_the_aborted_transactions_a_writers_recovery_would_index() {
    let read_only = |dir: &Path, options: LoadOptions| {
        Log::open_read_only(dir, "t", 0, LogConfig::default(), ManualClock::new(10_000), options)
            .unwrap()
            .0
    };
    let committed = |log: &Log| -> Vec<String> {
        let f = log.read_with(0, usize::MAX, Isolation::ReadCommitted).unwrap();
        f.committed_records()
            .map(|r| String::from_utf8(r.unwrap().value().unwrap().to_vec()).unwrap())
            .collect()
    };
    let listing = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
            })
            .collect()
    };
    // The index lost by a power cut (an unclean open), and a directory from
    // before the files (no index, no epoch checkpoint; a clean open).
    for before_txnindex in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        log.append(&plain("a")).unwrap(); // 0
        log.append_batch(txn(7, 0, 0, 2)).unwrap(); // 1-2
        log.append(&plain("b")).unwrap(); // 3
        log.append_marker(marker(7, 0, false, 0)).unwrap(); // 4
        log.append(&plain("c")).unwrap(); // 5
        assert_eq!(committed(&log), ["a", "b", "c"]);
        log.close().unwrap();
        std::fs::remove_file(txnindex(dir.path(), 0)).unwrap();
        let options = if before_txnindex {
            std::fs::remove_file(dir.path().join("leader-epoch-checkpoint")).unwrap();
            LoadOptions::clean()
        } else {
            LoadOptions::default().with_clean_shutdown(false).with_recovery_point(0)
        };
        let before = listing(dir.path());
        let ro = read_only(dir.path(), options);
        assert_eq!(committed(&ro), ["a", "b", "c"], "before_txnindex {before_txnindex}");
        assert_eq!(
            ro.read_with(0, usize::MAX, Isolation::ReadCommitted).unwrap().aborted_transactions(),
            &[AbortedTransaction { producer_id: 7, first_offset: 1 }]
        );
        drop(ro);
        assert_eq!(listing(dir.path()), before, "the read-only open changed nothing");
        // The writer's open agrees (and writes the index).
        let log = open_with(dir.path(), LogConfig::default(), options);
        assert_eq!(committed(&log), ["a", "b", "c"], "before_txnindex {before_txnindex}");
    }
}

/// A marker names a producer, an epoch and a transaction version a coordinator can send:
/// producer id and epoch not negative (-1 is "no producer", which no transaction has), version
/// 0 to 2. Any other is refused naming the field, and nothing is written: before, a marker for
/// producer -1 was written as a transactional control batch of no producer, which no reader can
/// place, and a version of 7 was taken for KIP-890's rules.
#[test]
fn a_marker_for_no_producer_or_an_unknown_transaction_version_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_batch(txn(7, 0, 0, 1)).unwrap();
    let cases = [
        (marker(-1, 0, true, 0), "producer id"),
        (marker(i64::MIN, 0, false, 2), "producer id"),
        (marker(7, -1, false, 0), "producer epoch"),
        (marker(7, 0, true, 3), "transaction version"),
        (marker(7, 0, true, -1), "transaction version"),
    ];
    for (m, field) in cases {
        match log.append_marker(m) {
            Err(e @ Error::InvalidRequest(_)) => assert!(e.to_string().contains(field), "{e}"),
            other => panic!("{m:?}: expected InvalidRequest naming the {field}, got {other:?}"),
        }
        assert_eq!(log.log_end_offset(), 1, "{m:?}: nothing written");
        assert!(log.poisoned().is_none());
    }
    assert_eq!(log.last_stable_offset(), 0, "the transaction is still open");
    assert_eq!(log.append_marker(marker(7, 0, false, 0)).unwrap(), 1);
    assert_eq!(log.last_stable_offset(), 2);
}

#[test]
fn read_record_hands_out_no_transaction_marker_as_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = committed_transaction_then_plain(dir.path());
    let at = |o: i64| log.read_record(o, |r| r.offset()).unwrap();
    assert_eq!(at(0), Some(0));
    assert_eq!(at(1), None, "read_record served the commit marker at offset 1 as a record");
    assert_eq!(at(2), Some(2));
}

/// Kafka's consumer checks every batch, transaction markers included, before it reads the
/// marker in it (`CompletedFetch.nextFetchedRecord`, `maybeEnsureValid`): a damaged ABORT
/// marker is a `CorruptRecordException`. `committed_records` read markers unchecked: one
/// whose type was flipped to COMMIT kept its producer aborted, and the producer's committed
/// transaction after it was dropped without an error.
#[test]
fn committed_records_refuse_a_damaged_abort_marker_instead_of_reading_it() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_batch(txn(7, 0, 0, 1)).unwrap();
    log.append_marker(marker(7, 0, false, 0)).unwrap();
    log.append_batch(txn(7, 0, 1, 1)).unwrap();
    log.append_marker(marker(7, 0, true, 0)).unwrap();
    let read = || log.read_with(0, usize::MAX, Isolation::ReadCommitted).unwrap();
    let offsets = |f: &strata::Fetched| -> Vec<Result<i64, Error>> {
        f.committed_records().map(|r| r.map(|r| r.offset())).collect()
    };
    let before = offsets(&read());
    assert!(matches!(before[..], [Ok(2)]), "{before:?}");
    // The ABORT marker's control key: after the 61-byte header, the record's length,
    // attributes, timestamp delta, offset delta and key length (a byte each), then the
    // key's version (int16) and type (int16; 0 ABORT, 1 COMMIT).
    let at = read().batches().next().unwrap().size() + 61 + 5 + 3;
    let path = dir.path().join(format!("{:020}.log", 0));
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_at(&[1], at as u64).unwrap();
    let fetched = read();
    let got = offsets(&fetched);
    assert!(
        matches!(got[..], [Err(Error::Corrupt { .. })]),
        "committed_records over a damaged ABORT marker: {got:?}"
    );
}
