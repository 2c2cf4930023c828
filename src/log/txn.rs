//! Transactions as a Kafka broker keeps them: markers, the last stable
//! offset, the `.txnindex` and read-committed reads.
//!
//! - A producer's transaction is open from its first transactional batch to
//!   its COMMIT or ABORT marker ([`Log::append_marker`], checked by Kafka's
//!   marker rules, KIP-890 included).
//! - The **last stable offset** (LSO) is the first offset of the earliest
//!   open transaction, or the log end offset when none is open (strata has no
//!   replication: its high watermark is the log end). Below it every
//!   transaction is decided.
//! - Each ABORT marker that ends a transaction adds an entry to the active
//!   segment's `.txnindex` (producer, first offset, marker offset, the LSO
//!   once the abort is written); the file moves, is cleaned and is deleted
//!   with its segment, and recovery rebuilds it.
//! - A read with [`Isolation::ReadCommitted`] returns no batch at or above
//!   the LSO and lists the aborted transactions whose data may lie in what
//!   it returned: what a Kafka fetch response carries, so that a consumer
//!   (or the server handing the bytes to one) skips aborted data and markers.

use std::collections::HashSet;
use std::sync::Arc;

use crate::format::txn_index::AbortedTxn;
use crate::format::{BatchBuilder, BatchView, ControlRecord, ControlType, RecordRef};
use crate::segment::Segment;
use crate::{Error, Result};

use super::fetched::FramedBatches;
use super::producer_state::CompletedTxn;
use super::{Fetched, Log, Writer};

/// What a read returns of transactional data (Kafka's fetch `isolation_level`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// Everything up to the log end offset, open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// Only batches below the last stable offset, with the list of aborted
    /// transactions in the range (see [`Fetched::aborted_transactions`]).
    ReadCommitted,
}

/// An aborted transaction whose data may lie in a fetched range: the entry a
/// Kafka fetch response's `aborted_transactions` carries. A consumer skips
/// this producer's transactional batches from `first_offset` up to its
/// next ABORT marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTransaction {
    /// The transaction's producer.
    pub producer_id: i64,
    /// Offset of the transaction's first batch.
    pub first_offset: i64,
}

/// A transaction marker to write, as a coordinator's `WriteTxnMarkers`
/// request carries it for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    /// The producer whose transaction ends.
    pub producer_id: i64,
    /// The epoch the marker carries. With transaction version 2 the
    /// coordinator bumps it for every marker, so it must be above the
    /// producer's epoch (or equal, for a retry of a marker already written).
    pub producer_epoch: i16,
    /// The coordinator's epoch; one below the producer's last marker's is fenced.
    pub coordinator_epoch: i32,
    /// COMMIT (`true`) or ABORT (`false`).
    pub commit: bool,
    /// The coordinator's transaction version: 0 or 1 (legacy rules: the
    /// marker's epoch may not be below the producer's), 2 (KIP-890).
    pub transaction_version: i16,
}

impl Fetched {
    /// The aborted transactions whose data may lie in this read, by first
    /// offset; empty unless read with [`Isolation::ReadCommitted`].
    #[must_use]
    pub fn aborted_transactions(&self) -> &[AbortedTransaction] {
        &self.aborted
    }

    /// The last stable offset when the read happened (read-committed reads only).
    #[must_use]
    pub fn last_stable_offset(&self) -> Option<i64> {
        self.last_stable_offset
    }

    /// The records a Kafka consumer with `isolation.level=read_committed`
    /// sees in this read, at or after the requested offset: the batches of
    /// the [aborted transactions](Self::aborted_transactions) and every
    /// control batch are skipped (Kafka's `CompletedFetch`: an aborted
    /// transaction applies to its producer's transactional batches from its
    /// first offset up to its ABORT marker). Each batch kept is checked as
    /// [`Fetched::records`] checks it. On a read-uncommitted read (no aborted
    /// list) only control batches are skipped.
    pub fn committed_records(&self) -> impl Iterator<Item = Result<RecordRef>> + '_ {
        let start = self.start_offset;
        // Aborted transactions not yet reached, latest first (popped from the end).
        let mut pending: Vec<AbortedTransaction> = self.aborted.clone();
        pending.sort_by_key(|t| std::cmp::Reverse(t.first_offset));
        let mut aborted: HashSet<i64> = HashSet::new();
        let mut failed = false;
        FramedBatches::new(self.slices())
            .filter_map(move |item| {
                // A batch that does not frame any more is passed on as the error.
                let (s, pos, b) = match item {
                    Ok(framed) => framed,
                    Err(e) => return Some(Err(e)),
                };
                // A marker is checked before it is read, as Kafka's consumer
                // checks every batch (`CompletedFetch`): a damaged ABORT
                // marker read as another would keep its producer aborted,
                // or end its aborted transaction, without a word.
                if b.is_control()
                    && let Err(source) = b.validate()
                {
                    return Some(Err(Error::corrupt(&*s.path, s.position + pos as u64, source)));
                }
                if b.producer_id() >= 0 {
                    while pending.last().is_some_and(|t| t.first_offset <= b.last_offset()) {
                        if let Some(t) = pending.pop() {
                            aborted.insert(t.producer_id);
                        }
                    }
                    if b.is_control() {
                        if is_abort_marker(&b) {
                            aborted.remove(&b.producer_id());
                        }
                    } else if b.is_transactional() && aborted.contains(&b.producer_id()) {
                        return None;
                    }
                }
                (!b.is_control()).then_some(Ok((s, pos, b)))
            })
            .flat_map(move |item| {
                let (s, pos, b) = match item {
                    Ok(framed) => framed,
                    Err(e) => {
                        let failed: Box<dyn Iterator<Item = Result<RecordRef>>> =
                            Box::new(std::iter::once(Err(e)));
                        return failed;
                    }
                };
                let at = move |source| Error::corrupt(&*s.path, s.position + pos as u64, source);
                let records: Box<dyn Iterator<Item = Result<RecordRef>>> =
                    match b.validate().and_then(|()| b.records()) {
                        Ok(rs) => Box::new(rs.map(move |r| r.map_err(at))),
                        Err(source) => Box::new(std::iter::once(Err(at(source)))),
                    };
                records
            })
            .filter(move |r| r.as_ref().map_or(true, |r| r.offset() >= start))
            .take_while(move |r| {
                let go = !failed;
                failed |= r.is_err();
                go
            })
    }
}

/// Refuses a marker no coordinator sends: a transaction belongs to a
/// producer id and epoch (-1 is "none" for both), and Kafka's transaction
/// versions are 0, 1 and 2 (`TransactionVersion`).
fn check_marker_fields(m: &TxnMarker) -> Result<()> {
    let bad = |what: &str, value: i64, rule: &str| {
        Err(Error::InvalidRequest(format!("transaction marker: {what} {value} {rule}")))
    };
    if m.producer_id < 0 {
        return bad("producer id", m.producer_id, "is not a producer's (>= 0)");
    }
    if m.producer_epoch < 0 {
        return bad("producer epoch", m.producer_epoch.into(), "is not a producer's (>= 0)");
    }
    if !(0..=2).contains(&m.transaction_version) {
        return bad("transaction version", m.transaction_version.into(), "is not 0, 1 or 2");
    }
    Ok(())
}

/// Whether a control batch is an ABORT marker (Kafka's `containsAbortMarker`).
fn is_abort_marker(b: &BatchView) -> bool {
    super::producer_state::marker_of(b).is_some_and(|m| m.kind == ControlType::Abort)
}

/// Entries of the `.txnindex` files from the segment holding `from` on that
/// overlap `[from, upper)`: ending at or above `from`, starting below
/// `upper` (Kafka's `collectAbortedTransactions`). The walk stops at the
/// first entry whose LSO reaches `upper`: every transaction that began below
/// `upper` had ended by then.
pub(crate) fn collect_aborted(
    segments: &[Arc<Segment>],
    from: i64,
    upper: i64,
) -> Result<Vec<AbortedTxn>> {
    let first = segments.partition_point(|s| s.base_offset() <= from).saturating_sub(1);
    let mut out = Vec::new();
    for seg in segments.iter().skip(first) {
        for e in seg.txn_index().entries()?.iter() {
            if e.last_offset >= from && e.first_offset < upper {
                out.push(*e);
            }
            if e.last_stable_offset >= upper {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

impl Log {
    /// The last stable offset: the first offset of the earliest transaction
    /// still open (never below the log start offset), or the log end offset
    /// when none is.
    #[must_use]
    pub fn last_stable_offset(&self) -> i64 {
        self.view().last_stable_offset()
    }

    /// Reads as [`Log::read`] does, with Kafka's isolation levels. With
    /// [`Isolation::ReadCommitted`] no batch at or above the last stable
    /// offset is returned (an offset between it and the log end reads as
    /// empty, as a caught-up reader's does), and
    /// [`Fetched::aborted_transactions`] lists the aborted transactions
    /// overlapping the returned batches.
    ///
    /// # Errors
    /// As [`Log::read`]; [`Error::Corrupt`] for a damaged `.txnindex`.
    pub fn read_with(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
    ) -> Result<Fetched> {
        if isolation == Isolation::ReadUncommitted {
            return self.read(offset, max_bytes);
        }
        self.check_open()?;
        let v = self.view();
        let lso = v.last_stable_offset();
        let mut out = self.read_below(&v, offset, max_bytes, lso)?;
        out.last_stable_offset = Some(lso);
        if out.next_offset() > offset {
            out.aborted = collect_aborted(&v.segments, offset, out.next_offset())?
                .into_iter()
                .map(|t| AbortedTransaction {
                    producer_id: t.producer_id,
                    first_offset: t.first_offset,
                })
                .collect();
            out.aborted.sort_by_key(|t| t.first_offset);
        }
        Ok(out)
    }

    /// The aborted transactions overlapping `[from, upper)`, from the
    /// `.txnindex` files (what [`Log::read_with`] reports, in full).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a damaged `.txnindex`; I/O failures; [`Error::Closed`].
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Result<Vec<AbortedTxn>> {
        self.check_open()?;
        collect_aborted(&self.view().segments, from, upper)
    }

    /// Writes a COMMIT or ABORT marker for a producer's transaction, as a
    /// transaction coordinator does, after Kafka's checks (see
    /// [`TxnMarker`]). Returns the marker's offset. A marker for a producer
    /// with no open transaction is written and changes nothing else.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a marker no coordinator sends (a
    /// negative producer id or epoch, a transaction version other than 0 to
    /// 2), [`Error::InvalidProducerEpoch`] for a fenced producer epoch,
    /// [`Error::TransactionCoordinatorFenced`] for an older coordinator;
    /// I/O failures.
    pub fn append_marker(&self, marker: TxnMarker) -> Result<i64> {
        check_marker_fields(&marker)?;
        let mut w = self.writer()?;
        let cfg = self.config();
        let now = self.clock.now_ms();
        let leo = self.log_end_offset();
        let record = if marker.commit {
            ControlRecord::commit(marker.coordinator_epoch)
        } else {
            ControlRecord::abort(marker.coordinator_epoch)
        };
        let bytes = BatchBuilder::control_batch(
            leo,
            now,
            marker.producer_id,
            marker.producer_epoch,
            w.leader_epoch,
            &record,
        )
        .map_err(|source| Error::InvalidBatch { source })?;
        let batch = BatchView::new(bytes).map_err(|source| Error::InvalidBatch { source })?;
        w.producers.check_marker(&batch, &record, marker.transaction_version)?;
        let settings = super::append::AppendSettings::of(&cfg);
        self.write_locked(&mut w, &settings, &batch, now)?;
        drop(w);
        self.acknowledge(&settings, leo)?;
        Ok(leo)
    }

    /// After `batch` was written to `active`: a transaction it aborted gets
    /// its `.txnindex` entry (Kafka's `updateTxnIndex`), with the LSO once
    /// it ended.
    pub(super) fn index_completed(
        &self,
        w: &Writer,
        active: &Segment,
        completed: Option<CompletedTxn>,
    ) -> Result<()> {
        let Some(c) = completed.filter(|c| c.aborted) else { return Ok(()) };
        let entry = AbortedTxn {
            producer_id: c.producer_id,
            first_offset: c.first_offset,
            last_offset: c.last_offset,
            last_stable_offset: w.producers.first_unstable_offset().unwrap_or(c.last_offset + 1),
        };
        active.txn_index().append(entry).map_err(|e| self.poison(e))
    }
}
