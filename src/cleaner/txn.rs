//! Transactions during cleaning (Kafka's `CleanedTransactionMetadata`).
//!
//! The aborted transactions come from the segments' `.txnindex` files, as
//! in Kafka. Then, batch by batch in offset order:
//!
//! - before a batch, every aborted transaction that began at or below the
//!   batch's last offset becomes "ongoing aborted";
//! - a transactional data batch of an ongoing aborted producer is noted as
//!   seen and is **discardable** (aborted data goes, whatever its keys);
//!   otherwise its producer joins the "ongoing committed" set; a
//!   non-transactional batch is never discardable here;
//! - an ABORT marker ends its producer's aborted transaction: it is kept if
//!   a batch of that transaction was seen in this pass (and its index entry
//!   then goes to the cleaned segment's `.txnindex`), else discardable; a
//!   COMMIT marker is discardable when no batch of its transaction was seen
//!   (the data was already cleaned away); an empty control batch (already
//!   cleaned) is discardable; other control types are kept.
//!
//! A discardable marker first gets a delete horizon and is removed by a later
//! cleaning once the horizon has passed, so read-committed consumers see it
//! for at least `delete.retention.ms`.

use std::collections::{HashMap, HashSet};

use crate::format::txn_index::AbortedTxn;
use crate::format::{BatchView, ControlRecord, ControlType};

/// The kind of a control batch's first record (`None`: empty or unreadable).
pub(crate) fn marker_kind(batch: &BatchView) -> Option<ControlType> {
    let r = batch.records().ok()?.next()?.ok()?;
    let key = r.key()?;
    ControlRecord::decode(key, r.value().map(|v| v.as_ref())).ok().map(|c| c.kind)
}

/// The per-pass state of Kafka's rules (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct TxnTracker {
    /// Aborted transactions not yet reached, in reverse first-offset order (pop from the end).
    pending: Vec<AbortedTxn>,
    /// Producer -> its ongoing aborted transaction and whether a batch of it was seen.
    ongoing_aborted: HashMap<i64, (AbortedTxn, bool)>,
    ongoing_committed: HashSet<i64>,
    /// The index entry of the ABORT marker just kept, for the cleaned segment.
    kept_abort: Option<AbortedTxn>,
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
                self.ongoing_aborted.insert(t.producer_id, (t, false));
            }
        }
        let pid = b.producer_id();
        self.kept_abort = None;
        if b.is_control() {
            if b.records_count() == 0 {
                return true;
            }
            return match marker_kind(b) {
                Some(ControlType::Abort) => match self.ongoing_aborted.remove(&pid) {
                    Some((t, true)) => {
                        self.kept_abort = Some(t);
                        false
                    }
                    _ => true,
                },
                Some(ControlType::Commit) => !self.ongoing_committed.remove(&pid),
                _ => false,
            };
        }
        if !b.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&pid) {
            Some((_, seen)) => {
                *seen = true;
                true
            }
            None => {
                self.ongoing_committed.insert(pid);
                false
            }
        }
    }

    /// The `.txnindex` entry of the ABORT marker [`Self::can_discard`] just
    /// kept because its transaction's data was seen (Kafka re-appends it to
    /// the cleaned segment's index).
    pub(crate) fn take_kept_abort(&mut self) -> Option<AbortedTxn> {
        self.kept_abort.take()
    }
}
