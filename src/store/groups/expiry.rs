//! Committed-offset expiry, as Kafka's group coordinator runs it every
//! `offsets.retention.check.interval.ms` (`GroupCoordinatorShard.cleanupGroupMetadata`,
//! `OffsetMetadataManager.cleanupExpiredOffsets`).
//!
//! The time an offset's retention counts from (its base) is
//! `ClassicGroup.offsetExpirationCondition`'s, read from the group's latest
//! `GroupMetadataValue` in `__consumer_offsets`:
//!
//! - no metadata record (strata's own groups only commit) or no protocol type
//!   (null or empty, a "simple" consumer group): the commit's own timestamp;
//! - a protocol type and no members (Kafka's `Empty`): the group's
//!   `currentStateTimestamp`, when it became empty (the commit's timestamp
//!   when the value, before version 2 or holding -1, has none);
//! - a protocol type and members (a group adopted from a broker's directory
//!   while its consumers ran): the time the store loaded the groups. A broker
//!   restarting on that directory keeps such a group until its members' session
//!   timeouts end it (and the rebalance they start), and counts from when it
//!   became empty then, so never before its load: strata serves no heartbeats
//!   and writes no group state, so it counts from the load itself, up to those
//!   timeouts sooner than such a broker, and from each open's load again (a
//!   store reopened more often than the retention keeps these offsets);
//! - a `GroupMetadataValue` that does not decode, or a group with records of
//!   the newer group types (KIP-848 consumer, share and streams groups, key
//!   versions 3 and up, whose membership strata does not read): none, its
//!   offsets never expire here. The load does not fail for them.
//!
//! The rule is then `OffsetExpirationConditionImpl.isOffsetExpired`:
//!
//! - a commit carrying an explicit `expireTimestamp` (value version 1, from an
//!   old client's retention time) expires once `now >= expireTimestamp`,
//!   whatever the retention;
//! - any other expires once `now - base >= offsets.retention.minutes`.
//!
//! An offset whose transactional commit is still pending is kept until its
//! producer's marker ends it. Each expired offset gets a tombstone in
//! `__consumer_offsets` (`appendOffsetCommitTombstone`), so fetching it answers
//! none, a reopen reads it as deleted and compaction removes the record (in
//! as many batches as the partition's `max.message.bytes` requires, see
//! [`tombstones`](super::tombstones)); a
//! group left with no offsets (and no pending commit) is deleted with them, a
//! tombstone of its metadata too (`GroupMetadataManager.maybeDeleteGroup`,
//! `ClassicGroup.createGroupTombstoneRecords`). Kafka deletes only a group
//! that `isEmpty`: a classic group loaded with members counts as empty from
//! the load, as its retention does (no member heartbeats here), so it is
//! deleted too; an undecodable one and a newer group type's are kept. An
//! empty group holding no offsets at all (its metadata adopted from a
//! broker's directory) is deleted at the first check, as Kafka's cleanup
//! visits every group.
//!
//! Groups held in a `__consumer_offsets` partition that is offline or did not
//! load are passed over, as Kafka's coordinator cleans only the shards it
//! loaded; a failure to write one group's tombstones leaves its offsets as
//! they were and the other groups are expired all the same.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::group_record::{
    GroupKey, GroupMetadataSummary, modern_group_of, partition_for_group,
};
use crate::{Error, Result};

use super::{CommittedOffset, GroupId, Groups, OFFSETS_TOPIC, Store, append_tombstones};

/// Milliseconds in a minute (Kafka's `offsetsRetentionMs = minutes * 60 * 1000L`).
const MINUTE_MS: i64 = 60_000;

/// What a group's metadata records say of its membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Membership {
    /// Its latest `GroupMetadataValue` (key version 2).
    Classic(GroupMetadataSummary),
    /// Its latest `GroupMetadataValue` does not decode.
    Undecodable,
    /// It has records of a newer group type (key version 3 and up).
    Modern,
}

/// Each group's [`Membership`]; a group without any has no metadata record.
pub(super) type Memberships = BTreeMap<String, Membership>;

/// Notes in `into` what the non-offset record `key` (raw bytes `raw`) with
/// `value` (`None`: a tombstone) says of its group's membership. A newer
/// group type's mark stays, its tombstones too (conservative: its offsets
/// are kept); a metadata tombstone forgets a classic group's.
pub(super) fn note_membership(
    into: &mut Memberships,
    key: &GroupKey,
    raw: &[u8],
    value: Option<&[u8]>,
) {
    match key {
        GroupKey::Metadata { group } => {
            if into.get(group) == Some(&Membership::Modern) {
                return;
            }
            match value {
                None => {
                    into.remove(group);
                }
                Some(v) => {
                    let m = GroupMetadataSummary::decode(v)
                        .map_or(Membership::Undecodable, Membership::Classic);
                    into.insert(group.clone(), m);
                }
            }
        }
        GroupKey::Other { .. } => {
            if let Some(group) = modern_group_of(raw) {
                into.insert(group, Membership::Modern);
            }
        }
        GroupKey::Offset { .. } => {}
    }
}

/// The time `commit`'s retention counts from, `None` for never
/// (`ClassicGroup.offsetExpirationCondition`, see the module docs).
fn base_timestamp(m: Option<&Membership>, commit: &CommittedOffset, loaded_at: i64) -> Option<i64> {
    match m {
        None => Some(commit.commit_timestamp),
        Some(Membership::Classic(s)) if !s.has_protocol_type => Some(commit.commit_timestamp),
        Some(Membership::Classic(s)) if s.members == 0 => {
            Some(s.current_state_timestamp.unwrap_or(commit.commit_timestamp))
        }
        Some(Membership::Classic(_)) => Some(loaded_at),
        Some(Membership::Undecodable | Membership::Modern) => None,
    }
}

/// Whether a group of membership `m` is deleted once it holds no offset
/// (`GroupMetadataManager.maybeDeleteGroup` deletes a group that `isEmpty`):
/// one without metadata or a classic group. A classic group loaded with
/// members is empty once their sessions end after the load, and its offsets
/// count from the load as from then ([`base_timestamp`]): kept, it would
/// count a later commit from that load too, and expire it at the next check.
/// An undecodable group and a newer group type's are kept.
pub(super) fn deleted_when_empty(m: Option<&Membership>) -> bool {
    match m {
        None | Some(Membership::Classic(_)) => true,
        Some(Membership::Undecodable | Membership::Modern) => false,
    }
}

/// Whether `commit` has expired at `now` under a retention of `retention_ms`
/// counted from `base` (`OffsetExpirationConditionImpl.isOffsetExpired`).
fn is_expired(commit: &CommittedOffset, base: Option<i64>, now: i64, retention_ms: i64) -> bool {
    let Some(base) = base else { return false };
    match commit.expire_timestamp {
        // "Older versions with explicit expire_timestamp field => old expiration semantics".
        Some(at) => now >= at,
        None => now.saturating_sub(base) >= retention_ms,
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
        if cache.is_none() && self.store.partition_count(OFFSETS_TOPIC).is_err() {
            return Ok(0);
        }
        self.refresh(&mut cache, None)?;
        let Some(state) = cache.as_mut() else { return Err(self.store.closed_error()) };
        let now = self.store.clock().now_ms();
        let count = self.partitions();
        let mut expired: BTreeMap<&str, Vec<GroupId>> = BTreeMap::new();
        let mut kept: BTreeSet<&str> = BTreeSet::new();
        for (id, commit) in &state.offsets {
            let group = id.0.as_str();
            let base = base_timestamp(state.memberships.get(group), commit, state.loaded_at);
            if !state.pending.contains(id) && is_expired(commit, base, now, retention_ms) {
                expired.entry(group).or_default().push(id.clone());
            } else {
                kept.insert(group);
            }
        }
        // Kafka deletes a group only with no open transaction of its offsets.
        let open: BTreeSet<&str> = state.pending.iter().map(|(g, _, _)| g.as_str()).collect();
        // Kafka's cleanup visits every group, one holding no offset at all
        // too (`cleanupExpiredOffsets` answers true for it): an empty group's
        // metadata its partition still holds (a broker's directory adopted)
        // is deleted at the first check.
        for (p, part) in &state.parts {
            for (group, m) in &part.memberships {
                let home = partition_for_group(group, count) == *p;
                if home
                    && deleted_when_empty(Some(m))
                    && !state.holds_offsets(group)
                    && !open.contains(group.as_str())
                {
                    expired.entry(group.as_str()).or_default();
                }
            }
        }
        // Per group: its partition, the offsets tombstoned, whether its metadata was.
        let mut done: Vec<(i32, Vec<GroupId>, Option<String>)> = Vec::new();
        let mut appends = Vec::new();
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
            let emptied = !kept.contains(group)
                && !open.contains(group)
                && deleted_when_empty(state.memberships.get(group));
            let metadata = emptied.then(|| GroupKey::Metadata { group: group.to_owned() });
            // In batches that fit the partition's `max.message.bytes`: a group may
            // expire more offsets at once than one batch holds.
            let mut infos = Vec::new();
            let (written, appended) = append_tombstones(&log, &ids, metadata, now, &mut infos);
            appends.extend(infos.into_iter().map(|info| (p, info)));
            let tombstoned = (emptied && appended.is_ok()).then(|| group.to_owned());
            done.push((p, ids.into_iter().take(written).collect(), tombstoned));
            if let Err(e) = appended {
                first_error.get_or_insert(e);
            }
        }
        for (p, info) in &appends {
            state.note_append(*p, info);
        }
        let mut expired = 0;
        for (p, ids, tombstoned) in &done {
            state.note_tombstones(*p, ids, tombstoned.as_deref());
            expired += ids.len();
        }
        first_error.map_or(Ok(expired), Err)
    }
}
