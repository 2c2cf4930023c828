//! The leader epoch cache (Kafka's `LeaderEpochFileCache`), kept in
//! `leader-epoch-checkpoint`: for each leader epoch, the first offset written
//! in it. Every appended batch carries the log's current epoch (its
//! `partitionLeaderEpoch`); strata has no elections of its own, so the epoch
//! stays where it was (0 for a new partition) unless an embedding service
//! that elects leaders sets it ([`Log::set_leader_epoch`]).
//!
//! Rules, as Kafka's:
//! - `assign(epoch, offset)`: nothing to do when `epoch` is the latest and
//!   `offset` not below its start; otherwise entries with an epoch at or
//!   above `epoch`, or a start at or above `offset`, go and the entry is
//!   added; the checkpoint is then rewritten at once;
//! - the log start moving up (retention, `delete_records`) drops entries
//!   that start at or below it, the last of them kept and moved to start
//!   there; every open drops entries that start at or after the log end
//!   (Kafka's `LogLoader`), and appends go on in the newest epoch the file
//!   knew (its entry comes back with the next batch);
//! - a directory without the file (an older broker's or strata's) opens
//!   with the epochs its batches carry, read once with the `.txnindex`
//!   rebuild (see `txn_recover`).
//!
//! Every write is crash-safe: a temporary file, fsynced, renamed over the
//! checkpoint, the directory fsynced.

use std::path::{Path, PathBuf};

use crate::format::leader_epoch::{self, EpochEntry, LEADER_EPOCH_CHECKPOINT_FILE};
use crate::io::file;
use crate::{Error, Result};

use super::Log;

/// The longest `leader-epoch-checkpoint` read: its two header lines and a
/// line of at most 31 bytes (an int epoch, a long offset) for each of
/// 1,048,576 epochs, far past the leader elections any partition's log
/// keeps (Kafka writes a line per epoch the log holds). A longer file (a
/// planted sparse one costs no disk) is refused unread, naming it.
pub(crate) const MAX_CHECKPOINT_LEN: u64 = 32 + (1 << 20) * 31;

/// The cache and its file.
/// `repr(C)`: the copy of the last entry, which every append checks, first.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct EpochCache {
    /// A copy of the last entry, which every append checks: kept apart from
    /// the vector's buffer, so the check does not read it (a cache line per
    /// append on a store whose appends go round-robin over many
    /// partitions). Set wherever `entries` changes.
    last: Option<EpochEntry>,
    path: PathBuf,
    entries: Vec<EpochEntry>,
    /// What the file holds.
    on_disk: Vec<EpochEntry>,
    /// The highest log start the entries were trimmed to: the file may still
    /// hold epochs below it (its write failed), which a revert to the file
    /// must not bring back.
    trimmed_to: Option<i64>,
}

impl EpochCache {
    /// Reads `dir`'s checkpoint (no file: no entries; `existed` says which).
    pub(crate) fn load(dir: &Path) -> Result<(EpochCache, bool)> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        if !file::exists(&path)? {
            return Ok((EpochCache { path, ..EpochCache::default() }, false));
        }
        let entries = leader_epoch::decode(&file::read_limited(&path, MAX_CHECKPOINT_LEN)?)
            .map_err(|e| Error::CorruptFile { path: path.clone(), reason: e.to_string() })?;
        let last = entries.last().copied();
        Ok((EpochCache { path, on_disk: entries.clone(), entries, last, trimmed_to: None }, true))
    }

    pub(crate) fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Kafka's `assign`; whether the entries changed.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = self.last.is_none_or(|l| l.epoch != epoch || start_offset < l.start_offset);
        if !needed {
            return false;
        }
        while self
            .entries
            .last()
            .is_some_and(|l| l.epoch >= epoch || l.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push(EpochEntry { epoch, start_offset });
        self.last = self.entries.last().copied();
        true
    }

    /// Recovery's rule (Kafka's `LogSegment.recover`): a recovered batch's epoch
    /// is assigned only when it is above the latest one known. The epoch is
    /// outside the batch CRC, so a lower one met during recovery (a flipped
    /// bit, say) must not pop the entries before it.
    pub(crate) fn assign_recovered(&mut self, epoch: i32, start_offset: i64) -> bool {
        if self.latest_epoch().is_some_and(|latest| epoch <= latest) {
            return false;
        }
        self.assign(epoch, start_offset)
    }

    /// Kafka's `truncateFromStart`; whether the entries changed.
    pub(crate) fn truncate_from_start(&mut self, log_start: i64) -> bool {
        self.trimmed_to = Some(self.trimmed_to.map_or(log_start, |t| t.max(log_start)));
        let below = self.entries.partition_point(|e| e.start_offset <= log_start);
        let Some(last) = below.checked_sub(1).and_then(|i| self.entries.get(i)).copied() else {
            return false;
        };
        if below == 1 && last.start_offset == log_start {
            return false;
        }
        self.entries.drain(..below);
        self.entries.insert(0, EpochEntry { epoch: last.epoch, start_offset: log_start });
        self.last = self.entries.last().copied();
        true
    }

    /// Kafka's `truncateFromEnd`; whether the entries changed.
    pub(crate) fn truncate_from_end(&mut self, end: i64) -> bool {
        let keep = self.entries.partition_point(|e| e.start_offset < end);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        self.last = self.entries.last().copied();
        changed
    }

    /// The end of a writable open: entries at or past the log end go, the
    /// log start trims the first; a directory without the file gets the
    /// epoch of its first batch at the log start (0 at the end of an empty
    /// log). The checkpoint is rewritten only when that changed it. Returns
    /// the epoch appends carry from now on.
    pub(crate) fn settle_at_open(
        &mut self,
        segments: &[std::sync::Arc<crate::segment::Segment>],
        existed: bool,
        log_start: i64,
        log_end: i64,
    ) -> Result<i32> {
        // The leader keeps the newest epoch it knew even when no batch of it
        // survives (Kafka's leader re-assigns it at the log end).
        let newest_known =
            self.latest_epoch().into_iter().chain(self.on_disk.last().map(|e| e.epoch)).max();
        self.truncate_from_end(log_end);
        self.truncate_from_start(log_start);
        if !existed && self.entries.is_empty() {
            let first = match segments.first() {
                Some(s) if log_end > log_start => s
                    .batches_from(0)?
                    .filter_map(|b| b.ok().map(|(_, b)| b))
                    .find(|b| b.next_offset() > log_start && !b.is_legacy())
                    .map(|b| b.partition_leader_epoch()),
                _ => None,
            };
            match first {
                Some(epoch) => self.assign(epoch, log_start),
                None => self.assign(0, log_end),
            };
        }
        // Recovery may have changed the entries too.
        if self.entries != self.on_disk || !existed {
            self.write()?;
        }
        Ok(self.latest_epoch().into_iter().chain(newest_known).max().unwrap_or(0).max(0))
    }

    /// Forgets the changes not written: the entries are what the file holds
    /// (after a failed [`write`](Self::write), so that the next change that
    /// needs them writes them again), trimmed to the log start again: a
    /// trim whose write failed left the file holding epochs below it, and
    /// the log start never moves back (Kafka's `truncateFromStart` is not
    /// undone by a failed flush either).
    pub(crate) fn revert_to_disk(&mut self) {
        self.entries.clone_from(&self.on_disk);
        if let Some(log_start) = self.trimmed_to {
            self.truncate_from_start(log_start);
        }
        self.last = self.entries.last().copied();
    }

    /// Rewrites the checkpoint, crash-safe.
    pub(crate) fn write(&mut self) -> Result<()> {
        file::write_atomic_if_changed(&self.path, &leader_epoch::encode(&self.entries))?;
        self.on_disk.clone_from(&self.entries);
        Ok(())
    }
}

impl Log {
    /// The log start moved: epochs that start below it are trimmed (Kafka's
    /// `truncateFromStart`). Called under the append lock.
    ///
    /// A failed write of the trimmed file (a full disk, say) changes nothing that
    /// matters: the file then still holds epochs below the log start, which
    /// every open trims again, and the next write of the cache retries (Kafka
    /// flushes this truncation asynchronously for the same reason). So it
    /// neither poisons the log nor fails the call that moved the start.
    pub(super) fn trim_epochs_to_start(&self, w: &mut super::Writer) -> Result<()> {
        if w.epochs.truncate_from_start(self.log_start_offset()) {
            let _ = w.epochs.write();
        }
        Ok(())
    }

    /// The leader epoch appended batches carry now.
    #[must_use]
    pub fn leader_epoch(&self) -> i32 {
        self.inner.writer.lock().leader_epoch
    }

    /// The leader epoch cache: each epoch and the first offset written in it,
    /// as `leader-epoch-checkpoint` holds them.
    #[must_use]
    pub fn leader_epochs(&self) -> Vec<EpochEntry> {
        self.inner.writer.lock().epochs.entries().to_vec()
    }

    /// Makes `epoch` the leader epoch of every later append, as a leader
    /// elected by an embedding service (Kafka's `makeLeader`): the epoch
    /// starts at the log end offset and the checkpoint is rewritten.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a negative epoch or one below the
    /// current; [`Error::Poisoned`], [`Error::Closed`], [`Error::ReadOnly`];
    /// I/O failures writing the checkpoint (which poison the log).
    pub fn set_leader_epoch(&self, epoch: i32) -> Result<()> {
        let mut w = self.writer()?;
        if epoch < 0 || epoch < w.leader_epoch {
            return Err(Error::InvalidRequest(format!(
                "{}: leader epoch {epoch} is below the current {}",
                self.name(),
                w.leader_epoch
            )));
        }
        w.leader_epoch = epoch;
        let leo = self.log_end_offset();
        if w.epochs.assign(epoch, leo) {
            w.epochs.write().map_err(|e| self.poison(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let entries: Vec<EpochEntry> = entries
            .iter()
            .map(|&(epoch, start_offset)| EpochEntry { epoch, start_offset })
            .collect();
        let last = entries.last().copied();
        EpochCache { entries, last, ..EpochCache::default() }
    }

    fn pairs(c: &EpochCache) -> Vec<(i32, i64)> {
        // Every change keeps the copy of the last entry in step.
        assert_eq!(c.last, c.entries().last().copied(), "the last entry's copy");
        c.entries().iter().map(|e| (e.epoch, e.start_offset)).collect()
    }

    #[test]
    fn recovery_ignores_an_epoch_below_the_latest_as_kafkas_segment_recovery_does() {
        // A run of epoch-5 batches from offset 100, one of them (at 200) with a flipped epoch 4.
        let mut c = cache(&[(3, 0), (5, 100)]);
        assert!(!c.assign_recovered(4, 200));
        assert!(!c.assign_recovered(5, 201));
        assert_eq!(pairs(&c), [(3, 0), (5, 100)]);
        assert!(c.assign_recovered(6, 300));
        assert_eq!(pairs(&c), [(3, 0), (5, 100), (6, 300)]);
        // The live rule still lets a lower epoch replace the entries above it (Kafka's assign).
        assert!(c.assign(4, 400));
        assert_eq!(pairs(&c), [(3, 0), (4, 400)]);
    }
}
