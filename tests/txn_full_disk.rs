//! A full disk at the `.txnindex` entry of an abort marker, after the marker
//! reached the `.log`: the log must not hand the marker's offset out again
//! (a reviewer's reproduction served two batches at one offset, showed the
//! aborted record as committed, and lost a flushed append at reopen).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use bytes::Bytes;
use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::{
    BatchBuilder, Error, Isolation, LoadOptions, Log, LogConfig, ManualClock, Record, TxnMarker,
};

fn txn(pid: i64) -> Bytes {
    let mut b = BatchBuilder::new(0).producer(pid, 0, 0).transactional(true);
    b.append(&Record::new("k", "v").timestamp(1_000)).unwrap();
    b.build().unwrap()
}

fn abort(pid: i64) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit: false,
        transaction_version: 0,
    }
}

fn open(dir: &Path) -> Log {
    Log::open(dir, "t", 0, LogConfig::default(), ManualClock::new(10_000), LoadOptions::default())
        .unwrap()
        .0
}

/// Which write of an abort marker's append is the `.txnindex` entry (1-based).
fn txnindex_write() -> u64 {
    let probe = tempfile::tempdir().unwrap();
    let log = open(probe.path());
    log.append_batch(txn(7)).unwrap();
    let g = fault::arm(FaultPlan::new().trace());
    log.append_marker(abort(7)).unwrap();
    let trace = g.trace();
    let writes: Vec<_> = trace.iter().filter(|(op, _)| *op == Op::Write).collect();
    let at = writes.iter().position(|(_, p)| p.to_string_lossy().ends_with(".txnindex"));
    at.expect("an abort marker writes a .txnindex entry") as u64 + 1
}

#[test]
fn a_full_disk_at_an_abort_markers_txnindex_entry_poisons_the_log_instead_of_reusing_its_offset() {
    let n = txnindex_write();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_batch(txn(7)).unwrap(); // offset 0, transactional
    {
        let _g =
            fault::arm(FaultPlan::new().fail_nth(Op::Write, n).os_error(Op::Write, libc::ENOSPC));
        log.append_marker(abort(7)).unwrap_err();
    }
    // The marker's bytes are in the segment: no later append may take its offset.
    match log.append(&[Record::new("k", "after")]) {
        Err(Error::Poisoned { .. }) => {}
        other => panic!("an append after a half-written marker must fail as poisoned: {other:?}"),
    }
    drop(log);

    // Recovery keeps the marker and rebuilds its index entry: the transaction is aborted.
    let log = open(dir.path());
    assert_eq!(log.log_end_offset(), 2, "the transactional record and its abort marker");
    let fetched = log.read_with(0, 1 << 20, Isolation::ReadCommitted).unwrap();
    assert_eq!(fetched.aborted_transactions().len(), 1, "{:?}", fetched.aborted_transactions());
    assert_eq!(fetched.committed_records().count(), 0, "the aborted record is not committed");
    let after = log.append(&[Record::new("k", "after")]).unwrap();
    assert_eq!(after.base_offset, 2);
}
