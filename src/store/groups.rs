//! Consumer-group offsets, kept as Kafka keeps them: records in the store's
//! own compacted `__consumer_offsets` topic, in Kafka's schema
//! ([`crate::format::group_record`]), each group in partition
//! `abs(hashCode(group)) % offsets.topic.num.partitions`. They survive
//! restarts, the cleaner keeps the topic small, and the offsets Kafka's own
//! consumers committed in a broker's data directory read back here.
//!
//! The state is materialized on first use by reading every partition of the
//! topic that exists (last record per key wins; a null value deletes; a
//! transactional commit counts once its producer's COMMIT marker follows, as
//! Kafka's coordinator loads it), then kept current by the commits made here
//! and, once another writer (a transactional producer's commit or its
//! COMMIT/ABORT marker, appended through [`Log`](crate::log::Log)) added
//! records to the partition a call answers for, by reading again the
//! partitions it appended to, the others' share kept ([`load`], [`parts`]).
//!
//! Committed offsets expire as Kafka's coordinator expires them: a group of
//! strata's own (no metadata record) or without a protocol type once
//! `offsets.retention.minutes` have passed since the commit; a group adopted
//! from a broker by its metadata (from when it became empty, never before
//! the load while it has members, never a newer group type's); a version-1
//! commit at its explicit expiry time. A tombstone is written for the offset
//! ([`expiry`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::format::Record;
use crate::format::group_record::{GroupKey, OffsetCommit, partition_for_group};
use crate::log::{AppendInfo, OffsetSpec};
use crate::{Error, Result};

use super::{Store, TopicPartition};

mod expiry;
mod load;
#[cfg(test)]
mod model;
mod parts;
mod tombstones;

use expiry::{Memberships, note_membership};
use parts::Part;
use tombstones::append_tombstones;

/// Kafka's internal topic of committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's internal topics (`Topic.isInternal`): the group coordinator's
/// [`OFFSETS_TOPIC`] and the transaction coordinator's `__transaction_state`.
/// Their records cannot be deleted ([`Store::delete_records`]), nor can
/// `logtool` delete or re-partition them.
pub const INTERNAL_TOPICS: [&str; 2] = [OFFSETS_TOPIC, "__transaction_state"];
/// Kafka's `offsets.topic.segment.bytes` default (100 MiB).
const OFFSETS_SEGMENT_BYTES: u64 = 100 << 20;

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset: the next record the group reads.
    pub offset: i64,
    /// When it was committed.
    pub commit_timestamp: i64,
    /// The committer's metadata string.
    pub metadata: String,
    /// The explicit expiry time of a version-1 commit (an old client's
    /// retention time), ms since the epoch: the offset expires then instead
    /// of `offsets.retention.minutes` after its commit. `None` otherwise.
    pub expire_timestamp: Option<i64>,
}

/// A partition's position and lag, as `kafka-consumer-groups --describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset.
    pub current_offset: i64,
    /// The partition's log end offset (`None` if the partition is not in this store).
    pub log_end_offset: Option<i64>,
    /// `log_end_offset - current_offset` (`None` if unknown). Negative when
    /// the commit is past the log end (a commit ahead of the data, or a log
    /// truncated below it), as Kafka's `kafka-consumer-groups --describe`
    /// shows it: the sign is the news.
    pub lag: Option<i64>,
}

impl std::fmt::Display for PartitionLag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        write!(
            f,
            "{}-{} current {} end {} lag {}",
            self.topic,
            self.partition,
            self.current_offset,
            known(self.log_end_offset),
            known(self.lag)
        )
    }
}

/// Where `reset` moves a group (`kafka-consumer-groups --reset-offsets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// This offset, clamped into the log.
    Offset(i64),
    /// The committed offset plus `n`, clamped; refused without a committed offset.
    ShiftBy(i64),
    /// The first offset whose timestamp is at or after this time (ms), or the end.
    Datetime(i64),
}

/// Kafka's `offsets.topic.num.partitions` default: the partition count of a
/// `__consumer_offsets` found in a broker's data directory.
const KAFKA_OFFSETS_PARTITIONS: usize = 50;

/// The partition count of a `__consumer_offsets` adopted from a Kafka broker's
/// directory: the broker placed groups over its configured count (50 unless
/// `offsets.topic.num.partitions` says otherwise), whichever partitions it
/// happened to leave on this disk.
pub(super) fn adopted_offsets_partitions(
    config: &crate::config::StoreConfig,
    found: usize,
) -> usize {
    let configured = usize::try_from(config.offsets_topic_num_partitions).unwrap_or(usize::MAX);
    let kafka = if configured > 1 { configured } else { KAFKA_OFFSETS_PARTITIONS };
    found.max(kafka)
}

/// The configs Kafka gives `__consumer_offsets`: compacted, 100 MiB segments.
pub(super) fn offsets_topic_overrides() -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("segment.bytes".to_owned(), OFFSETS_SEGMENT_BYTES.to_string());
    o.insert("compression.type".to_owned(), "producer".to_owned());
    o
}

/// Overrides of a topic found on disk without strata's metadata (a Kafka
/// broker's data directory): Kafka's own for its internal topic, none otherwise.
///
/// `keeping` (an open asked to adopt unlisted partitions,
/// `StoreConfig::adopt_unlisted_partitions`): retention is off
/// (`retention.ms` and `retention.bytes` -1), so nothing of a topic whose
/// real configs are unknown is deleted before they are set again.
pub(super) fn adopted_overrides(topic: &str, keeping: bool) -> BTreeMap<String, String> {
    if topic == OFFSETS_TOPIC {
        offsets_topic_overrides()
    } else if keeping {
        [("retention.ms", "-1"), ("retention.bytes", "-1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    } else {
        BTreeMap::new()
    }
}

/// A committed offset's key: (group, topic, partition).
type GroupId = (String, String, i32);

/// The committed offsets: (group, topic, partition) -> commit.
type Offsets = BTreeMap<GroupId, CommittedOffset>;

/// Loaded commits, each with the offset of the record holding it.
type Loaded = BTreeMap<GroupId, (CommittedOffset, i64)>;

/// The materialized state: the commits of every `__consumer_offsets`
/// partition that loaded, and why each other one did not. `offsets`,
/// `pending` and `memberships` are the views merged from `parts` ([`parts`]).
#[derive(Debug, Default)]
pub(super) struct GroupState {
    offsets: Offsets,
    /// Partitions whose records do not load (a corrupt batch, a commit that
    /// does not decode), each with the error that names it. Only their
    /// groups are refused: Kafka's coordinator leaves a partition it fails
    /// to load unloaded and serves the groups of the others.
    unloaded: BTreeMap<i32, (PathBuf, String)>,
    /// Offsets with a transactional commit still pending (its producer's
    /// marker not yet read) at the load: not expired while it is, as Kafka's
    /// `cleanupExpiredOffsets` waits for it (`hasPendingTransactionalOffsets`).
    /// A tombstone of the offset drops its pending commit, and its entry here.
    pending: BTreeSet<GroupId>,
    /// What each group's metadata records say of its membership, which
    /// decides from when its offsets expire ([`expiry`]).
    memberships: Memberships,
    /// When the store loaded the groups (its clock): a group loaded with
    /// members counts its offsets' retention from then at the earliest. A
    /// reload keeps the first load's time.
    loaded_at: i64,
    /// Each partition's log end offset as of the state: the end when it
    /// loaded, moved past each append made here while nothing else wrote
    /// between. A partition whose end is elsewhere (absent: 0) holds records
    /// the state has not read ([`Groups::refresh`]).
    ends: BTreeMap<i32, i64>,
    /// What each partition that loaded holds, as reading it up to its end
    /// in `ends` gives: a partition read again replaces its part alone.
    parts: BTreeMap<i32, Part>,
    /// The partition count every part's groups are placed over (each part
    /// holds only groups of its own partition), `None` when some are not:
    /// whether a partition read again can merge its part alone ([`parts`]).
    placement: Option<i32>,
}

impl GroupState {
    /// The state, unless `group`'s partition (`None`: any) did not load.
    fn checked(&mut self, group: Option<i32>) -> Result<&mut GroupState> {
        let failed = match group {
            Some(p) => self.unloaded.get(&p),
            None => self.unloaded.values().next(),
        };
        match failed {
            Some((path, reason)) => {
                Err(Error::CorruptFile { path: path.clone(), reason: reason.clone() })
            }
            None => Ok(self),
        }
    }

    /// Whether `group` holds a committed offset.
    fn holds_offsets(&self, group: &str) -> bool {
        parts::holds_offsets(&self.offsets, group)
    }

    /// Notes an append of this module's to partition `p`: the state reflects
    /// it, and is still current when nothing else wrote since it was.
    fn note_append(&mut self, p: i32, info: &AppendInfo) {
        let end = self.ends.entry(p).or_insert(0);
        if *end == info.base_offset {
            *end = info.last_offset.saturating_add(1);
        }
    }

    /// Forgets the offsets `ids` from the merged views, once their tombstones
    /// are written ([`note_tombstones`](Self::note_tombstones)): their
    /// commits, their pending transactional commits
    /// (`OffsetMetadataManager.replay`), and the loaded membership of each group left without offsets. Kafka
    /// deletes such a group (`cleanupGroupMetadata`, `maybeDeleteGroup`), so a
    /// later commit under its id starts a new group counted from its commits,
    /// never from an adopted group's old state.
    fn forget(&mut self, ids: &[GroupId]) {
        for id in ids {
            self.offsets.remove(id);
            self.pending.remove(id);
        }
        for (group, _, _) in ids {
            if !self.holds_offsets(group) {
                self.memberships.remove(group);
            }
        }
    }
}

/// Consumer-group operations of a store: `store.groups()`.
///
/// ```
/// # use strata::{Record, Store, StoreConfig};
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new([dir.path()]))?;
/// store.create_topic("orders", 1, &Default::default())?;
/// let log = store.partition("orders", 0)?;
/// log.append(&[Record::new("k", "a"), Record::new("k", "b"), Record::new("k", "c")])?;
///
/// // A consumer read offset 0 and commits the next one to read (Kafka's rule).
/// store.groups().commit("billing", "orders", 0, 1)?;
/// assert_eq!(store.groups().fetch("billing", "orders", 0)?, Some(1));
/// let lag = &store.groups().describe("billing")?[0];
/// assert_eq!((lag.log_end_offset, lag.lag), (Some(3), Some(2)));
/// store.close()?;
///
/// // Commits live in the store's own `__consumer_offsets`: they survive a restart.
/// let store = Store::open(StoreConfig::new([dir.path()]))?;
/// assert_eq!(store.groups().list()?, ["billing"]);
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Groups<'a> {
    store: &'a Store,
}

impl Store {
    /// Consumer-group offsets of this store.
    #[must_use]
    pub fn groups(&self) -> Groups<'_> {
        Groups { store: self }
    }
}

impl Groups<'_> {
    /// The partition count groups are placed over: the topic's own once it
    /// exists (placement never changes under a group), else the configured
    /// count it will be created with.
    fn partitions(&self) -> i32 {
        match self.store.partition_count(OFFSETS_TOPIC) {
            Ok(n) if n > 0 => n,
            _ => i32::try_from(self.store.inner.config.offsets_topic_num_partitions)
                .unwrap_or(i32::MAX)
                .max(1),
        }
    }

    /// Runs `f` on the groups' state, loading it first if need be; refused while
    /// the `__consumer_offsets` partition holding `group` (`None`: any) did
    /// not load.
    fn with_state<R>(
        &self,
        group: Option<&str>,
        f: impl FnOnce(&mut GroupState) -> Result<R>,
    ) -> Result<R> {
        let mut cache = self.store.inner.groups.lock();
        self.refresh(&mut cache, group)?;
        let holding = group.map(|g| partition_for_group(g, self.partitions()));
        match cache.as_mut() {
            Some(state) => f(state.checked(holding)?),
            None => Err(self.store.closed_error()),
        }
    }

    /// Runs `change`, the deletion or the creation of `topic`, then forgets
    /// every group's committed offsets of it: a tombstone for each in
    /// `__consumer_offsets`, as Kafka's coordinator writes them for deleted
    /// partitions (`GroupCoordinator.onPartitionsDeleted`), so a topic
    /// created again under the name starts with no group's position (a
    /// group would otherwise resume at an offset of the old data, past the
    /// new topic's first records). Pending transactional commits of it get
    /// their tombstone too, as in Kafka. A group left with no offset and no
    /// pending commit is deleted with them (a tombstone of its metadata
    /// last), as Kafka's next cleanup deletes an empty group without offsets
    /// (`cleanupGroupMetadata`, `maybeDeleteGroup`; a classic group loaded
    /// with members counts as empty, see [`expiry`]): its old state, kept on
    /// disk, would come back at the next open and count a later commit's
    /// retention from when the old group became empty. A creation forgets
    /// them too: a new topic has no commits of its own, and a crash after a
    /// deletion's commit point may have left the old topic's. Deleting
    /// `__consumer_offsets` itself forgets the state read from it. The
    /// groups' lock is taken
    /// before `change` takes the admin lock, the order a commit takes them
    /// in. A failure after `change` succeeded is recorded in the background
    /// errors (`TopicDeletion`), as the rest of a deletion's aftermath is;
    /// so is an offline `__consumer_offsets` partition, whose commits of the
    /// topic could not be removed.
    pub(super) fn then_forget_offsets(
        &self,
        topic: &str,
        verb: &str,
        change: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let mut cache = self.store.inner.groups.lock();
        change()?;
        if topic == OFFSETS_TOPIC {
            *cache = None;
            return Ok(());
        }
        let forgot = (|| {
            crate::io::fault::point("store::groups::forget_offsets")?;
            self.refresh(&mut cache, None)?;
            let Some(state) = cache.as_mut() else { return Ok(()) };
            let unloaded = state.unloaded.values().next().cloned();
            // Committed and pending alike, as Kafka's `onPartitionsDeleted`
            // tombstones both: a tombstone drops a pending commit, so its
            // COMMIT marker cannot bring the offset back.
            let mut by_group: BTreeMap<String, BTreeSet<GroupId>> = BTreeMap::new();
            let ids = state.offsets.keys().chain(&state.pending);
            for id in ids.filter(|(_, t, _)| t == topic) {
                by_group.entry(id.0.clone()).or_default().insert(id.clone());
            }
            for (group, ids) in by_group {
                let ids: Vec<GroupId> = ids.into_iter().collect();
                let p = partition_for_group(&group, self.partitions());
                let log = self.store.partition(OFFSETS_TOPIC, p)?;
                let now = self.store.clock().now_ms();
                let first = (group.clone(), String::new(), i32::MIN);
                let emptied = (state.offsets.range(first..))
                    .take_while(|((g, _, _), _)| *g == group)
                    .all(|((_, t, _), _)| t == topic)
                    && !state.pending.iter().any(|(g, _, _)| *g == group)
                    && expiry::deleted_when_empty(state.memberships.get(&group));
                let metadata = emptied.then(|| GroupKey::Metadata { group: group.clone() });
                let mut infos = Vec::new();
                let (written, appended) = append_tombstones(&log, &ids, metadata, now, &mut infos);
                infos.iter().for_each(|info| state.note_append(p, info));
                let tombstoned = (emptied && appended.is_ok()).then_some(group.as_str());
                state.note_tombstones(p, ids.get(..written).unwrap_or_default(), tombstoned);
                appended?;
            }
            // The load skipped an offline partition, or one that did not
            // load: its groups' commits of the topic are still there and come
            // back with it. Recorded, as Kafka's coordinator logs a shard it
            // cannot write.
            if let Some((path, reason)) = unloaded {
                return Err(Error::CorruptFile { path, reason });
            }
            self.readable(None)
        })();
        self.store.record(
            super::BackgroundTask::TopicDeletion,
            forgot.map_err(|e: Error| {
                Error::InvalidRequest(format!(
                    "{verb} topic {topic}: the consumer groups' offsets of it were not all \
                     removed: {e}"
                ))
            }),
        );
        Ok(())
    }

    /// Creates `__consumer_offsets` (compacted) or its missing partitions.
    fn ensure_topic(&self) -> Result<()> {
        let n = self.partitions();
        if self.store.partition_count(OFFSETS_TOPIC).is_err() {
            return match self.store.create_topic(OFFSETS_TOPIC, n, &offsets_topic_overrides()) {
                Err(Error::TopicExists { .. }) | Ok(()) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let _admin = self.store.admin()?;
        self.store.ensure_partitions(OFFSETS_TOPIC, n)
    }

    /// Appends `records` to `group`'s partition, noted in `state`'s ends;
    /// returns the partition and the offset of the first record.
    fn write(&self, state: &mut GroupState, group: &str, records: &[Record]) -> Result<(i32, i64)> {
        self.ensure_topic()?;
        let p = partition_for_group(group, self.partitions());
        let info = self.store.partition(OFFSETS_TOPIC, p)?.append(records)?;
        state.note_append(p, &info);
        Ok((p, info.base_offset))
    }

    /// Commits `offset` for `group` on `topic`-`partition`.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for an empty group id or a negative offset;
    /// [`Error::UnknownPartition`] for a topic or partition the store does
    /// not have (Kafka's `UNKNOWN_TOPIC_OR_PARTITION`: its `OffsetCommit`
    /// refuses partitions missing from the metadata); I/O failures.
    pub fn commit(&self, group: &str, topic: &str, partition: i32, offset: i64) -> Result<()> {
        self.commit_many(group, &[(TopicPartition::new(topic, partition), offset)])
    }

    /// Commits several offsets of one group in one batch.
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub fn commit_many(&self, group: &str, offsets: &[(TopicPartition, i64)]) -> Result<()> {
        let with: Vec<(TopicPartition, i64, String)> =
            offsets.iter().map(|(tp, o)| (tp.clone(), *o, String::new())).collect();
        self.commit_many_with_metadata(group, &with)
    }

    /// Commits several offsets of one group in one batch, each with the
    /// committer's metadata string (Kafka's `OffsetCommitRequest` metadata,
    /// which `kafka-consumer-groups` and [`offsets`](Self::offsets) show).
    /// The batch is one append: after a crash either every offset of it is
    /// committed or none is, so an offset and the metadata that explains it
    /// are never seen apart.
    ///
    /// ```
    /// # use strata::{Store, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new([dir.path()]))?;
    /// store.create_topic("orders", 1, &Default::default())?;
    /// let tp = TopicPartition::new("orders", 0);
    /// store.groups().commit_many_with_metadata("mirror", &[(tp, 42, "kafka-next=40".into())])?;
    /// assert_eq!(store.groups().offsets("mirror")?[0].metadata, "kafka-next=40");
    /// # store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub fn commit_many_with_metadata(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64, String)],
    ) -> Result<()> {
        if group.is_empty() {
            return Err(Error::InvalidRequest("a consumer group id cannot be empty".into()));
        }
        if let Some((tp, o, _)) = offsets.iter().find(|(_, o, _)| *o < 0) {
            return Err(Error::InvalidRequest(format!("offset {o} for {tp} is negative")));
        }
        // Kafka's OffsetCommit answers UNKNOWN_TOPIC_OR_PARTITION for a
        // partition the metadata lacks; an offline partition is still known.
        for (tp, _, _) in offsets {
            if tp.partition < 0 {
                return Err(Error::InvalidRequest(format!(
                    "partition {} of topic {} is negative",
                    tp.partition, tp.topic
                )));
            }
            let count = self.store.partition_count(&tp.topic)?;
            if !(0..count).contains(&tp.partition) {
                return Err(Error::UnknownPartition {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                });
            }
        }
        let now = self.store.clock().now_ms();
        let mut records = Vec::new();
        for (TopicPartition { topic, partition }, offset, metadata) in offsets {
            let key = GroupKey::Offset {
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
            };
            let value = OffsetCommit {
                offset: *offset,
                leader_epoch: -1,
                metadata: metadata.clone(),
                commit_timestamp: now,
                expire_timestamp: None,
            };
            let enc = |e| Error::InvalidRequest(format!("cannot encode commit: {e}"));
            records.push(Record {
                timestamp: now,
                key: Some(key.encode().map_err(enc)?),
                value: Some(value.encode().map_err(enc)?),
                headers: Vec::new(),
            });
        }
        self.with_state(Some(group), |state| {
            if records.is_empty() {
                return Ok(());
            }
            // A group the load left out as deleted still has its metadata on
            // disk: its tombstone goes first, in the same batch, or a reopen
            // would read the old group back under the new commits.
            let p = partition_for_group(group, self.partitions());
            let deleted = state.deleted_but_on_disk(p, group);
            if deleted {
                let key = GroupKey::Metadata { group: group.to_owned() };
                records.splice(0..0, tombstones::tombstones(&[], Some(key), now)?);
            }
            let (p, base) = self.write(state, group, &records)?;
            if deleted {
                state.note_tombstones(p, &[], Some(group));
            }
            let base = if deleted { base.saturating_add(1) } else { base };
            let commits = offsets.iter().map(|(TopicPartition { topic, partition }, o, m)| {
                let c = CommittedOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *o,
                    commit_timestamp: now,
                    metadata: m.clone(),
                    expire_timestamp: None,
                };
                ((group.to_owned(), topic.clone(), *partition), c)
            });
            state.note_commits(p, base, commits);
            Ok(())
        })
    }

    /// Refuses to answer for `group` (for every group: `None`) while the
    /// `__consumer_offsets` partition holding it is offline: its commits
    /// cannot be read, and "no commit" would send a consumer to its
    /// `auto.offset.reset`. Kafka's coordinator answers a group it has not
    /// loaded with an error too (`COORDINATOR_LOAD_IN_PROGRESS`).
    fn readable(&self, group: Option<&str>) -> Result<()> {
        if self.store.partition_count(OFFSETS_TOPIC).is_err() {
            return Ok(());
        }
        let count = self.partitions();
        let holding: Vec<i32> = match group {
            Some(g) => vec![partition_for_group(g, count)],
            None => (0..count).collect(),
        };
        for p in holding {
            if let Err(e @ (Error::PartitionOffline { .. } | Error::LogDirOffline { .. })) =
                self.store.partition(OFFSETS_TOPIC, p)
            {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The committed offset of `group` on `topic`-`partition`.
    ///
    /// # Errors
    /// I/O failures reading `__consumer_offsets`; [`Error::CorruptFile`] while the
    /// partition of it holding the group (for `list`, any) does not load (a corrupt batch, a
    /// commit that does not decode); [`Error::PartitionOffline`]
    /// (or [`Error::LogDirOffline`]) while the partition of it holding the
    /// group (for `list`, any) is offline.
    pub fn fetch(&self, group: &str, topic: &str, partition: i32) -> Result<Option<i64>> {
        self.readable(Some(group))?;
        self.with_state(Some(group), |s| {
            Ok(s.offsets.get(&(group.to_owned(), topic.to_owned(), partition)).map(|c| c.offset))
        })
    }

    /// Groups that have committed offsets, sorted.
    ///
    /// # Errors
    /// I/O failures reading `__consumer_offsets`; [`Error::CorruptFile`] while the
    /// partition of it holding the group (for `list`, any) does not load (a corrupt batch, a
    /// commit that does not decode); [`Error::PartitionOffline`]
    /// (or [`Error::LogDirOffline`]) while the partition of it holding the
    /// group (for `list`, any) is offline.
    pub fn list(&self) -> Result<Vec<String>> {
        self.readable(None)?;
        self.with_state(None, |s| {
            let groups = s.offsets.keys().map(|(g, _, _)| g.clone()).collect::<BTreeSet<_>>();
            Ok(groups.into_iter().collect())
        })
    }

    /// Every committed offset of `group`, sorted by topic and partition.
    ///
    /// # Errors
    /// I/O failures reading `__consumer_offsets`; [`Error::CorruptFile`] while the
    /// partition of it holding the group (for `list`, any) does not load (a corrupt batch, a
    /// commit that does not decode); [`Error::PartitionOffline`]
    /// (or [`Error::LogDirOffline`]) while the partition of it holding the
    /// group (for `list`, any) is offline.
    pub fn offsets(&self, group: &str) -> Result<Vec<CommittedOffset>> {
        self.readable(Some(group))?;
        self.with_state(Some(group), |s| {
            Ok(s.offsets
                .iter()
                .filter(|((g, _, _), _)| g == group)
                .map(|(_, c)| c.clone())
                .collect())
        })
    }

    /// Position and lag of every partition `group` committed.
    ///
    /// # Errors
    /// I/O failures reading `__consumer_offsets`; [`Error::CorruptFile`] while the
    /// partition of it holding the group (for `list`, any) does not load (a corrupt batch, a
    /// commit that does not decode); [`Error::PartitionOffline`]
    /// (or [`Error::LogDirOffline`]) while the partition of it holding the
    /// group (for `list`, any) is offline.
    pub fn describe(&self, group: &str) -> Result<Vec<PartitionLag>> {
        Ok(self
            .offsets(group)?
            .into_iter()
            .map(|c| {
                let leo =
                    self.store.partition(&c.topic, c.partition).ok().map(|l| l.log_end_offset());
                // ConsumerGroupCommand.getLag: `end - offset`, not clamped.
                let lag = leo.map(|leo| leo.saturating_sub(c.offset));
                PartitionLag {
                    topic: c.topic,
                    partition: c.partition,
                    current_offset: c.offset,
                    log_end_offset: leo,
                    lag,
                }
            })
            .collect())
    }

    /// Forgets `group`: a tombstone for each of its offsets, its pending
    /// transactional commits too (`OffsetMetadataManager.deleteAllOffsets`:
    /// a tombstone drops a pending commit, so its COMMIT marker cannot bring
    /// the group back), and its metadata. Returns whether it had any offset
    /// or pending commit.
    ///
    /// # Errors
    /// I/O failures; [`Error::PartitionOffline`] (or [`Error::LogDirOffline`])
    /// while the `__consumer_offsets` partition holding the group is offline.
    pub fn delete(&self, group: &str) -> Result<bool> {
        self.readable(Some(group))?;
        let now = self.store.clock().now_ms();
        self.with_state(Some(group), |state| {
            let ids: BTreeSet<&GroupId> =
                state.offsets.keys().chain(&state.pending).filter(|(g, _, _)| g == group).collect();
            let ids: Vec<GroupId> = ids.into_iter().cloned().collect();
            if !ids.is_empty() {
                self.ensure_topic()?;
                let p = partition_for_group(group, self.partitions());
                let log = self.store.partition(OFFSETS_TOPIC, p)?;
                let metadata = GroupKey::Metadata { group: group.to_owned() };
                let mut infos = Vec::new();
                let (written, appended) =
                    append_tombstones(&log, &ids, Some(metadata), now, &mut infos);
                infos.iter().for_each(|info| state.note_append(p, info));
                let tombstoned = appended.is_ok().then_some(group);
                state.note_tombstones(p, ids.get(..written).unwrap_or_default(), tombstoned);
                appended?;
            }
            Ok(!ids.is_empty())
        })
    }

    /// Moves `group`'s offsets on `topic` (one partition, or all) as
    /// `kafka-consumer-groups --reset-offsets --execute` does, never below the
    /// log start offset nor above the log end offset. Returns the new offsets.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic or partition; I/O failures.
    pub fn reset(
        &self,
        group: &str,
        topic: &str,
        partition: Option<i32>,
        to: ResetTo,
    ) -> Result<Vec<(i32, i64)>> {
        let targets = self.plan_reset(group, topic, partition, to)?;
        let commits: Vec<_> =
            targets.iter().map(|&(p, o)| (TopicPartition::new(topic, p), o)).collect();
        self.commit_many(group, &commits)?;
        Ok(targets)
    }

    /// The offsets [`reset`](Self::reset) would commit, committing nothing
    /// (`kafka-consumer-groups --reset-offsets --dry-run`).
    ///
    /// # Errors
    /// As [`reset`](Self::reset).
    pub fn plan_reset(
        &self,
        group: &str,
        topic: &str,
        partition: Option<i32>,
        to: ResetTo,
    ) -> Result<Vec<(i32, i64)>> {
        let partitions: Vec<i32> = match partition {
            Some(p) => vec![p],
            None => (0..self.store.partition_count(topic)?).collect(),
        };
        let mut targets = Vec::new();
        for p in partitions {
            let log = self.store.partition(topic, p)?;
            let (start, end) = (log.log_start_offset(), log.log_end_offset());
            let target = match to {
                ResetTo::Earliest => start,
                ResetTo::Latest => end,
                ResetTo::Offset(o) => o,
                ResetTo::ShiftBy(n) => {
                    // As kafka-consumer-groups.sh: a shift needs a position to shift from.
                    let current = self.fetch(group, topic, p)?.ok_or_else(|| {
                        Error::InvalidRequest(format!(
                            "group {group} has no committed offset for {topic}-{p} to shift"
                        ))
                    })?;
                    current.saturating_add(n)
                }
                ResetTo::Datetime(ts) => {
                    log.offset_for_time(OffsetSpec::Timestamp(ts))?.map_or(end, |f| f.offset)
                }
            };
            targets.push((p, target.clamp(start, end)));
        }
        Ok(targets)
    }
}
