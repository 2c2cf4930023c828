//! Rebuilding `.txnindex` files and leader epochs after a crash (Kafka's
//! `LogSegment.recover` updates both as it replays producer state), and the
//! producer state a read-only open derives without changing a file.
//!
//! The segments recovered from the recovery point on may have lost entries
//! with their tails, or hold entries for markers that were cut: their
//! indexes are emptied and refilled by replaying every batch with a producer
//! id from the newest snapshot at or below the first of them. The LSO each
//! entry records is the one the live append computed: the earliest other
//! transaction still open after the abort, else the marker's offset + 1.

use std::path::Path;
use std::sync::Arc;

use crate::Result;
use crate::format::BatchView;
use crate::format::txn_index::AbortedTxn;
use crate::segment::Segment;

use super::leader_epoch::EpochCache;
use super::producer_state::{CompletedTxn, ProducerState, read_snapshot};

/// Segments recovery just validated and found without producer batches, by
/// base offset, with their leader-epoch changes (`RecoveryOutcome`).
pub(super) type ReadByRecovery = std::collections::BTreeMap<i64, Vec<(i32, i64)>>;

/// Producer state at the end of `segments`: `start`'s state (a snapshot's,
/// or empty) with the batches replayed that end at or after its offset
/// (Kafka's `rebuildProducerState` reads each segment from the larger of the
/// snapshot's offset and the log start), calling `on_batch` with each
/// segment and batch read, the state after it and what it completed. Nothing
/// is written or removed. A segment recovery just read and found without
/// producer batches (in `read_by_recovery`, by base offset, with its
/// leader-epoch changes) is not read again: `on_read` gets what recovery saw
/// instead.
fn replay(
    start: (ProducerState, i64),
    segments: &[Arc<Segment>],
    read_by_recovery: &ReadByRecovery,
    mut on_batch: impl FnMut(&Segment, &BatchView, &ProducerState, Option<CompletedTxn>) -> Result<()>,
    mut on_read: impl FnMut(&Segment, &[(i32, i64)]),
    mut on_segment: impl FnMut(&Segment) -> Result<()>,
) -> Result<ProducerState> {
    let (mut state, from) = start;
    let first = segments.partition_point(|s| s.base_offset() <= from).saturating_sub(1);
    for seg in segments.iter().skip(first) {
        on_segment(seg)?;
        if let Some(epoch_changes) = read_by_recovery.get(&seg.base_offset()) {
            on_read(seg, epoch_changes);
            continue;
        }
        for item in seg.batches_from(0)? {
            let (_, b) = item?;
            let completed = if b.last_offset() >= from && b.producer_id() >= 0 {
                state.update(&b)
            } else {
                None
            };
            on_batch(seg, &b, &state, completed)?;
        }
    }
    Ok(state)
}

/// Where a producer-state rebuild starts (Kafka's `truncateAndReload`): the
/// snapshot loaded, or an empty state at the log start.
pub(super) fn start_at(
    snapshot: Option<(ProducerState, i64)>,
    log_start: i64,
) -> (ProducerState, i64) {
    snapshot.unwrap_or_else(|| (ProducerState::default(), log_start))
}

/// [`replay`] for the producer state alone.
pub(super) fn replay_producers(
    start: (ProducerState, i64),
    segments: &[Arc<Segment>],
    read_by_recovery: &ReadByRecovery,
) -> Result<ProducerState> {
    replay(start, segments, read_by_recovery, |_, _, _, _| Ok(()), |_, _| {}, |_| Ok(()))
}

/// The state an index rebuild replays from: the newest readable snapshot at
/// or below `up_to`, or the first segment. Unlike the producer state, it
/// does not start at the log start: a transaction that opened below it and
/// aborted above it keeps its index entry.
fn index_start(dir: &Path, up_to: i64) -> Result<(ProducerState, i64)> {
    Ok(start_at(read_snapshot(dir, i64::MIN, up_to)?, i64::MIN))
}

/// Empties and refills the `.txnindex` of every segment based at or above
/// `from_base`, and assigns the leader epochs their batches carry (Kafka's
/// `LogSegment.recover` does both).
pub(super) fn rebuild_txn_indexes(
    dir: &Path,
    segments: &[Arc<Segment>],
    from_base: i64,
    epochs: &mut EpochCache,
    read_by_recovery: &ReadByRecovery,
) -> Result<()> {
    let epochs = std::cell::RefCell::new(epochs);
    replay(
        index_start(dir, from_base)?,
        segments,
        read_by_recovery,
        |seg, batch, state, completed| {
            if seg.base_offset() < from_base {
                return Ok(());
            }
            if !batch.is_legacy() {
                epochs
                    .borrow_mut()
                    .assign_recovered(batch.partition_leader_epoch(), batch.base_offset());
            }
            index_abort(seg, state, completed)
        },
        |seg, epoch_changes| {
            if seg.base_offset() >= from_base {
                for &(epoch, offset) in epoch_changes {
                    epochs.borrow_mut().assign_recovered(epoch, offset);
                }
            }
        },
        |seg| if seg.base_offset() >= from_base { seg.txn_index().reset() } else { Ok(()) },
    )
    .map(drop)
}

/// Appends to `seg`'s `.txnindex` the entry of a transaction `completed`
/// aborted, with the LSO after it (`state`, the state after its marker).
fn index_abort(
    seg: &Segment,
    state: &ProducerState,
    completed: Option<CompletedTxn>,
) -> Result<()> {
    let Some(c) = completed.filter(|c| c.aborted) else {
        return Ok(());
    };
    // Saturating: a trusted segment is replayed unvalidated, and a
    // marker planted at `i64::MAX` has no offset after it.
    let after_marker = c.last_offset.saturating_add(1);
    seg.txn_index().append(AbortedTxn {
        producer_id: c.producer_id,
        first_offset: c.first_offset,
        last_offset: c.last_offset,
        last_stable_offset: state.first_unstable_offset().unwrap_or(after_marker),
    })
}

/// [`rebuild_txn_indexes`] for a read-only open: the indexes of the segments
/// based at or above `from_base` are rebuilt in memory only
/// (`TxnIndex::reset_detached`), so its
/// read-committed reads list the aborted transactions a writer's open would
/// index, and no file changes. Leader epochs are left as the file has them.
pub(super) fn rebuild_txn_indexes_in_memory(
    dir: &Path,
    segments: &[Arc<Segment>],
    from_base: i64,
) -> Result<()> {
    let none = ReadByRecovery::new();
    replay(
        index_start(dir, from_base)?,
        segments,
        &none,
        |seg, _, state, completed| {
            if seg.base_offset() < from_base {
                return Ok(());
            }
            index_abort(seg, state, completed)
        },
        |_, _| {},
        |seg| {
            if seg.base_offset() >= from_base {
                seg.txn_index().reset_detached();
            }
            Ok(())
        },
    )
    .map(drop)
}

/// The producer state a read-only open holds, as a writer's open rebuilds
/// it (`load::rebuild_producers`): the newest readable snapshot above the
/// log start (its producers idle past `expiry`, (now,
/// `producer.id.expiration.ms`), dropped) plus the batches after it, read
/// without removing anything.
pub(super) fn replay_read_only(
    dir: &Path,
    segments: &[Arc<Segment>],
    log_start: i64,
    log_end_offset: i64,
    expiry: Option<(i64, i64)>,
) -> Result<ProducerState> {
    let (mut state, from) = start_at(read_snapshot(dir, log_start, log_end_offset)?, log_start);
    if let Some((now, expiration_ms)) = expiry {
        state.expire(now, expiration_ms);
    }
    replay_producers((state, from), segments, &ReadByRecovery::new())
}
