//! Transactions during cleaning (Kafka's `CleanedTransactionMetadata`).
//!
//! Kafka reads aborted transactions from its `.txnindex` files; strata finds
//! them by scanning the log's batch headers: a producer's transactional data
//! batches open a transaction at the first one's offset, and its next
//! control batch closes it, as COMMIT or ABORT. Then, batch by batch in
//! offset order:
//!
//! - before a batch, every aborted transaction that began at or below the
//!   batch's last offset becomes "ongoing aborted";
//! - a transactional data batch of an ongoing aborted producer is noted as
//!   seen and is **discardable** (aborted data goes, whatever its keys);
//!   otherwise its producer joins the "ongoing committed" set; a
//!   non-transactional batch is never discardable here;
//! - an ABORT marker ends its producer's aborted transaction: it is kept if
//!   a batch of that transaction was seen in this pass, else discardable; a
//!   COMMIT marker is discardable when no batch of its transaction was seen
//!   (the data was already cleaned away); an empty control batch (already
//!   cleaned) is discardable; other control types are kept.
//!
//! A discardable marker first gets a delete horizon and is removed by a later
//! cleaning once the horizon has passed, so read-committed consumers see it
//! for at least `delete.retention.ms`.

use std::collections::{HashMap, HashSet};

use crate::format::{BatchView, ControlRecord, ControlType};

/// An aborted transaction: its producer, first offset and ABORT marker offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// The kind of a control batch's first record (`None`: empty or unreadable).
pub(crate) fn marker_kind(batch: &BatchView) -> Option<ControlType> {
    let r = batch.records().ok()?.next()?.ok()?;
    let key = r.key()?;
    ControlRecord::decode(key, r.value().map(|v| v.as_ref())).ok().map(|c| c.kind)
}

/// Collects aborted transactions while the log's batches are walked in order.
#[derive(Debug, Default)]
pub(crate) struct AbortScan {
    open: HashMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
}

impl AbortScan {
    pub(crate) fn observe(&mut self, b: &BatchView) {
        let pid = b.producer_id();
        if pid < 0 {
            return;
        }
        if b.is_control() {
            let first = self.open.remove(&pid);
            if let (Some(first_offset), Some(ControlType::Abort)) = (first, marker_kind(b)) {
                self.aborted.push(AbortedTxn { producer_id: pid, first_offset });
            }
        } else if b.is_transactional() {
            self.open.entry(pid).or_insert(b.base_offset());
        }
    }

    /// First offset of the oldest transaction still open (no marker yet).
    pub(crate) fn open_first_offset(&self) -> Option<i64> {
        self.open.values().copied().min()
    }

    /// Aborted transactions, by first offset.
    pub(crate) fn finish(mut self) -> Vec<AbortedTxn> {
        self.aborted.sort_by_key(|t| t.first_offset);
        self.aborted
    }
}

/// The per-pass state of Kafka's rules (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct TxnTracker {
    /// Aborted transactions not yet reached, in reverse first-offset order (pop from the end).
    pending: Vec<AbortedTxn>,
    /// Producer -> whether a batch of its ongoing aborted transaction was seen.
    ongoing_aborted: HashMap<i64, bool>,
    ongoing_committed: HashSet<i64>,
}

impl TxnTracker {
    pub(crate) fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|t| std::cmp::Reverse(t.first_offset));
        TxnTracker { pending: aborted, ..TxnTracker::default() }
    }

    /// Whether Kafka's rules allow discarding `b` (its records, for data
    /// batches; the whole marker, for control batches).
    pub(crate) fn can_discard(&mut self, b: &BatchView) -> bool {
        while self.pending.last().is_some_and(|t| t.first_offset <= b.last_offset()) {
            if let Some(t) = self.pending.pop() {
                self.ongoing_aborted.insert(t.producer_id, false);
            }
        }
        let pid = b.producer_id();
        if b.is_control() {
            if b.records_count() == 0 {
                return true;
            }
            return match marker_kind(b) {
                Some(ControlType::Abort) => match self.ongoing_aborted.remove(&pid) {
                    Some(seen) => !seen,
                    None => true,
                },
                Some(ControlType::Commit) => !self.ongoing_committed.remove(&pid),
                _ => false,
            };
        }
        if !b.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&pid) {
            Some(seen) => {
                *seen = true;
                true
            }
            None => {
                self.ongoing_committed.insert(pid);
                false
            }
        }
    }
}
