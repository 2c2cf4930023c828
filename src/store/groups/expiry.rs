//! Committed-offset expiry, as Kafka's group coordinator runs it every
//! `offsets.retention.check.interval.ms` (`GroupCoordinatorShard.cleanupGroupMetadata`,
//! `OffsetMetadataManager.cleanupExpiredOffsets`).
//!
//! strata's groups have no members: Kafka treats such a group (one that only
//! commits, a "simple" consumer group, an empty classic group without a
//! protocol type) with `ClassicGroup.offsetExpirationCondition`'s last case,
//! its base timestamp the commit's own. The rule is then
//! `OffsetExpirationConditionImpl.isOffsetExpired`:
//!
//! - a commit carrying an explicit `expireTimestamp` (value version 1, from an
//!   old client's retention time) expires once `now >= expireTimestamp`,
//!   whatever the retention;
//! - any other expires once `now - commitTimestamp >= offsets.retention.minutes`.
//!
//! An offset whose transactional commit is still pending is kept until its
//! producer's marker ends it. Each expired offset gets a tombstone in
//! `__consumer_offsets` (`appendOffsetCommitTombstone`), so fetching it answers
//! none, a reopen reads it as deleted and compaction removes the record; a
//! group left with no offsets (and no pending commit) is deleted with them, a
//! tombstone of its metadata too (`GroupMetadataManager.maybeDeleteGroup`,
//! `ClassicGroup.createGroupTombstoneRecords`).
//!
//! Groups held in a `__consumer_offsets` partition that is offline or did not
//! load are passed over, as Kafka's coordinator cleans only the shards it
//! loaded; a failure to write one group's tombstones leaves its offsets as
//! they were and the other groups are expired all the same.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::group_record::{GroupKey, partition_for_group};
use crate::{Error, Result};

use super::{CommittedOffset, GroupId, Groups, OFFSETS_TOPIC, Store, tombstones};

/// Milliseconds in a minute (Kafka's `offsetsRetentionMs = minutes * 60 * 1000L`).
const MINUTE_MS: i64 = 60_000;

/// Whether `commit` has expired at `now` under a retention of `retention_ms`
/// (`OffsetExpirationConditionImpl.isOffsetExpired`, base the commit time).
fn is_expired(commit: &CommittedOffset, now: i64, retention_ms: i64) -> bool {
    match commit.expire_timestamp {
        // "Older versions with explicit expire_timestamp field => old expiration semantics".
        Some(at) => now >= at,
        None => now.saturating_sub(commit.commit_timestamp) >= retention_ms,
    }
}

impl Store {
    /// Expires the committed offsets older than `offsets.retention.minutes`
    /// (a version-1 commit's explicit expiry time, when it has one), now:
    /// what the maintenance thread runs every
    /// `offsets.retention.check.interval.ms`, and [`maintain`](Self::maintain)
    /// with it. Each expired offset gets a tombstone in `__consumer_offsets`;
    /// a group left without offsets is deleted. Returns how many offsets
    /// expired. Time is the store's [`clock`](Self::clock).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use strata::{Clock, ManualClock, Store, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let clock = ManualClock::new(1_700_000_000_000);
    /// let config = StoreConfig::new([dir.path()]).offsets_retention_minutes(60);
    /// let store = Store::open_with_clock(config, Arc::clone(&clock) as Arc<dyn Clock>)?;
    /// store.create_topic("orders", 1, &Default::default())?;
    /// store.groups().commit("billing", "orders", 0, 7)?;
    /// clock.advance(59 * 60_000);
    /// assert_eq!(store.expire_committed_offsets()?, 0);
    /// clock.advance(60_000); // an hour since the commit
    /// assert_eq!(store.expire_committed_offsets()?, 1);
    /// assert_eq!(store.groups().fetch("billing", "orders", 0)?, None);
    /// # store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ReadOnly`] or [`Error::Closed`]; I/O failures reading
    /// `__consumer_offsets` or writing the tombstones (the first one, after
    /// every other group was expired).
    pub fn expire_committed_offsets(&self) -> Result<usize> {
        self.ensure_open()?;
        self.groups().expire_offsets()
    }
}

impl Groups<'_> {
    /// See [`Store::expire_committed_offsets`].
    fn expire_offsets(&self) -> Result<usize> {
        let minutes = self.store.inner.config.offsets_retention_minutes;
        let retention_ms = minutes.saturating_mul(MINUTE_MS);
        let mut cache = self.store.inner.groups.lock();
        if cache.is_none() {
            if self.store.partition_count(OFFSETS_TOPIC).is_err() {
                return Ok(0);
            }
            *cache = Some(self.load()?);
        }
        let Some(state) = cache.as_mut() else { return Err(self.store.closed_error()) };
        let now = self.store.clock().now_ms();
        let count = self.partitions();
        let mut expired: BTreeMap<&str, Vec<GroupId>> = BTreeMap::new();
        let mut kept: BTreeSet<&str> = BTreeSet::new();
        for (id, commit) in &state.offsets {
            let group = id.0.as_str();
            if !state.pending.contains(id) && is_expired(commit, now, retention_ms) {
                expired.entry(group).or_default().push(id.clone());
            } else {
                kept.insert(group);
            }
        }
        // Kafka deletes a group only with no open transaction of its offsets.
        let open: BTreeSet<&str> = state.pending.iter().map(|(g, _, _)| g.as_str()).collect();
        let mut done: Vec<GroupId> = Vec::new();
        let mut first_error = None;
        for (group, ids) in expired {
            let p = partition_for_group(group, count);
            if state.unloaded.contains_key(&p) {
                continue;
            }
            let log = match self.store.partition(OFFSETS_TOPIC, p) {
                Ok(log) => log,
                Err(Error::PartitionOffline { .. } | Error::LogDirOffline { .. }) => continue,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            let emptied = !kept.contains(group) && !open.contains(group);
            let metadata = emptied.then(|| GroupKey::Metadata { group: group.to_owned() });
            match tombstones(&ids, metadata, now).and_then(|records| log.append(&records)) {
                Ok(_) => done.extend(ids),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        for id in &done {
            state.offsets.remove(id);
        }
        first_error.map_or(Ok(done.len()), Err)
    }
}
