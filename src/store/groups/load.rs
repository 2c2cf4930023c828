//! Reading `__consumer_offsets` into the groups' state, and reading it
//! again when records the state has not seen were written into it.
//!
//! Kafka's coordinator is the only writer of its partitions and replays each
//! record it writes, a transaction marker included
//! (`OffsetMetadataManager.replayEndTransactionMarker`). Here a
//! transactional producer's commit and its COMMIT or ABORT marker reach the
//! topic through [`Log`] itself, past the groups' state: each use of the
//! state first compares the log end offsets of the partitions it answers
//! for with the ends it reflects and, when one moved, reads again each
//! partition whose end moved, keeping what every other partition
//! contributed ([`parts`](super::parts)). The appends made here move the
//! ends the state notes along with them, so only another writer's records
//! cost a read, of the partitions they went to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::format::group_record::{GroupKey, OffsetCommit, partition_for_group};
use crate::format::{ControlRecord, ControlType};
use crate::log::Log;
use crate::{Error, Result};

use super::{
    CommittedOffset, GroupState, Groups, Loaded, Memberships, OFFSETS_TOPIC, Part, note_membership,
};

/// A partition read again: its end, then its part or why it did not load;
/// `None` for one offline now, which a load leaves out.
type Reread = Option<(i64, std::result::Result<Part, (PathBuf, String)>)>;

/// Whether a control batch is a COMMIT marker (an unreadable one is not).
fn is_commit_marker(b: &crate::format::BatchView) -> bool {
    let Some(Ok(r)) = b.records().ok().and_then(|mut rs| rs.next()) else { return false };
    r.key()
        .and_then(|k| ControlRecord::decode(k, r.value().map(|v| v.as_ref())).ok())
        .is_some_and(|m| m.kind == ControlType::Commit)
}

impl Groups<'_> {
    /// Reads every existing `__consumer_offsets` partition into `state`, as
    /// Kafka's coordinator loads it (`OffsetMetadataManager.replay`):
    /// a plain commit applies at once, a tombstone removes the commit and any
    /// still pending of its key; a transactional
    /// one (a consumer's `sendOffsetsToTransaction`) waits, per producer,
    /// for that producer's marker. A COMMIT applies each of its offsets
    /// unless a commit appended after it is loaded already; an ABORT drops
    /// them, and a transaction still open at the end is not the group's.
    ///
    /// A partition whose records are corrupt or do not decode is left out,
    /// recorded in [`GroupState::unloaded`]; any other failure (I/O) fails
    /// the load, tried again on the next call.
    pub(super) fn load(&self) -> Result<GroupState> {
        let loaded_at = self.store.clock().now_ms();
        // No part yet: each is placed over the count the topic is created with.
        let placement = Some(self.partitions());
        let mut state = GroupState { loaded_at, placement, ..GroupState::default() };
        let Ok(count) = self.store.partition_count(OFFSETS_TOPIC) else { return Ok(state) };
        for p in 0..count {
            let Ok(log) = self.store.partition(OFFSETS_TOPIC, p) else { continue };
            // Taken first: a record appended while the partition is read makes the
            // next use read it again, never one the state lacks look read.
            state.ends.insert(p, log.log_end_offset());
            match Self::read_part(&log)? {
                Ok(part) => {
                    state.parts.insert(p, part);
                }
                Err(unloaded) => {
                    state.unloaded.insert(p, unloaded);
                }
            }
        }
        state.merge_all(count);
        Ok(state)
    }

    /// `log`'s part, or why it did not load (its records are corrupt or do
    /// not decode); any other failure (I/O) is the error.
    fn read_part(log: &Log) -> Result<std::result::Result<Part, (PathBuf, String)>> {
        match Self::load_partition(log) {
            Ok(part) => Ok(Ok(part)),
            Err(e @ (Error::Corrupt { .. } | Error::CorruptFile { .. })) => {
                Ok(Err((log.dir().to_path_buf(), e.to_string())))
            }
            Err(e) => Err(e),
        }
    }

    /// What one `__consumer_offsets` partition holds: its commits, each with
    /// the offset of the record holding it, the offsets with a
    /// transactional commit still pending at its end, and its groups' memberships.
    fn load_partition(log: &Log) -> Result<Part> {
        #[cfg(test)]
        tests::PARTITIONS_READ.with(|n| n.set(n.get() + 1));
        let mut loaded: Loaded = BTreeMap::new();
        let mut memberships = Memberships::new();
        let open = {
            let mut pending: BTreeMap<i64, Loaded> = BTreeMap::new();
            let mut offset = log.log_start_offset();
            while offset < log.log_end_offset() {
                let fetched = log.read(offset, 1 << 20)?;
                for batch in fetched.record_batches() {
                    let batch = batch?;
                    let b = batch.batch();
                    if b.last_offset() < offset {
                        continue;
                    }
                    if b.is_control() {
                        let commit = is_commit_marker(b);
                        let ended = pending.remove(&b.producer_id()).unwrap_or_default();
                        for (id, (c, at)) in ended.into_iter().filter(|_| commit) {
                            if loaded.get(&id).is_none_or(|(_, was)| *was < at) {
                                loaded.insert(id, (c, at));
                            }
                        }
                        continue;
                    }
                    let txn = b.is_transactional().then(|| b.producer_id());
                    for r in batch.records() {
                        let r = r?;
                        let Some(key) = r.key() else { continue };
                        // Group metadata and newer coordinators' record types are not
                        // offsets; an offset commit that does not decode fails the load, as
                        // it fails Kafka's (`CoordinatorLoaderImpl`): skipped, the group's
                        // older commit would be served as its position.
                        let undecodable = |e: crate::format::FormatError| Error::CorruptFile {
                            path: log.dir().to_path_buf(),
                            reason: format!(
                                "the consumer-group record at offset {} does not decode: {e}",
                                r.offset()
                            ),
                        };
                        let (group, topic, partition) = match GroupKey::decode(key) {
                            Ok(GroupKey::Offset { group, topic, partition }) => {
                                (group, topic, partition)
                            }
                            Ok(k @ (GroupKey::Metadata { .. } | GroupKey::Other { .. })) => {
                                note_membership(&mut memberships, &k, key, r.value());
                                continue;
                            }
                            Err(e) => return Err(undecodable(e)),
                        };
                        let id = (group, topic.clone(), partition);
                        match r.value().map(OffsetCommit::decode) {
                            None => {
                                // Every commit of the key goes, a pending one too: a
                                // marker after the tombstone brings none back
                                // (OffsetMetadataManager.replay).
                                loaded.remove(&id);
                                for open in pending.values_mut() {
                                    open.remove(&id);
                                }
                            }
                            Some(Ok(v)) => {
                                let c = CommittedOffset {
                                    topic,
                                    partition,
                                    offset: v.offset,
                                    commit_timestamp: v.commit_timestamp,
                                    metadata: v.metadata,
                                    expire_timestamp: v.expire_timestamp,
                                };
                                let into = match txn {
                                    Some(pid) => pending.entry(pid).or_default(),
                                    None => &mut loaded,
                                };
                                into.insert(id, (c, r.offset()));
                            }
                            Some(Err(e)) => return Err(undecodable(e)),
                        }
                    }
                }
                if fetched.next_offset() <= offset {
                    break;
                }
                offset = fetched.next_offset();
            }
            pending.into_values().flat_map(BTreeMap::into_keys).collect()
        };
        Ok(Part { commits: loaded, pending: open, memberships })
    }

    /// Loads the state into `cache`, or, when a partition holding `group`
    /// (`None`: any) has records it has not read (see the module docs),
    /// reads again every partition whose end moved. A failed read keeps the
    /// state as it was, tried again on the next call.
    pub(super) fn refresh(
        &self,
        cache: &mut Option<GroupState>,
        group: Option<&str>,
    ) -> Result<()> {
        match cache.as_mut() {
            None => *cache = Some(self.load()?),
            Some(state) if self.is_stale(state, group) => self.reload(state)?,
            Some(_) => {}
        }
        Ok(())
    }

    /// Reads again each partition whose end is not the one `state` notes and
    /// leaves out those offline now, as a load would; every other partition
    /// keeps its part, and the merged views are derived as a load derives
    /// them ([`parts`](super::parts)), still counting from the first load's time.
    fn reload(&self, state: &mut GroupState) -> Result<()> {
        let Ok(count) = self.store.partition_count(OFFSETS_TOPIC) else {
            let loaded_at = state.loaded_at;
            *state = GroupState { loaded_at, ..self.load()? };
            return Ok(());
        };
        // A partition past the count (none: the topic never shrinks) is left out too.
        let beyond: BTreeSet<i32> =
            state.ends.keys().chain(state.parts.keys()).copied().filter(|p| *p >= count).collect();
        let mut reread: Vec<(i32, Reread)> = beyond.into_iter().map(|p| (p, None)).collect();
        for p in 0..count {
            let Ok(log) = self.store.partition(OFFSETS_TOPIC, p) else {
                if state.ends.contains_key(&p) || state.parts.contains_key(&p) {
                    reread.push((p, None));
                }
                continue;
            };
            let end = log.log_end_offset();
            if end != state.ends.get(&p).copied().unwrap_or(0) {
                reread.push((p, Some((end, Self::read_part(&log)?))));
            }
        }
        let mut replaced = Vec::new();
        let mut placed = state.placement == Some(count);
        for (p, read) in reread {
            let old = state.parts.remove(&p).unwrap_or_default();
            state.unloaded.remove(&p);
            state.ends.remove(&p);
            if let Some((end, part)) = read {
                state.ends.insert(p, end);
                match part {
                    Ok(part) => {
                        placed &= part.placed_in(p, count);
                        state.parts.insert(p, part);
                    }
                    Err(unloaded) => {
                        state.unloaded.insert(p, unloaded);
                    }
                }
            }
            replaced.push((p, old));
        }
        if placed {
            for (p, old) in &replaced {
                state.merge_placed(*p, old);
            }
        } else {
            state.merge_all(count);
        }
        Ok(())
    }

    /// Whether a partition holding `group` (`None`: any) that is online
    /// ends elsewhere than `state` notes.
    fn is_stale(&self, state: &GroupState, group: Option<&str>) -> bool {
        let Ok(count) = self.store.partition_count(OFFSETS_TOPIC) else { return false };
        let holding = match group {
            Some(g) => {
                let p = partition_for_group(g, count);
                p..p.saturating_add(1)
            }
            None => 0..count,
        };
        holding.into_iter().any(|p| {
            self.store
                .partition(OFFSETS_TOPIC, p)
                .is_ok_and(|log| log.log_end_offset() != state.ends.get(&p).copied().unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::format::group_record::{GroupKey, OffsetCommit};
    use crate::store::{OFFSETS_TOPIC, Store};
    use crate::{Record, StoreConfig};

    thread_local! {
        /// How many `__consumer_offsets` partitions this thread's loads read.
        pub(super) static PARTITIONS_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A commit of `group` on `t`-0 at `offset`, as another writer appends it.
    fn foreign_commit(group: &str, offset: i64) -> Record {
        let key = GroupKey::Offset { group: group.into(), topic: "t".into(), partition: 0 };
        let value = OffsetCommit {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
            expire_timestamp: None,
        };
        Record::new(key.encode().unwrap(), value.encode().unwrap())
    }

    /// Whether the groups' state would be loaded again for any group.
    fn stale(store: &Store) -> bool {
        let cache = store.inner.groups.lock();
        cache.as_ref().is_none_or(|s| store.groups().is_stale(s, None))
    }

    #[test]
    fn the_groups_own_appends_keep_the_state_current_and_another_writers_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new([dir.path()]).background_threads(false)).unwrap();
        store.create_topic("t", 1, &Default::default()).unwrap();
        store.groups().commit("g", "t", 0, 1).unwrap();
        store.groups().commit("h", "t", 0, 2).unwrap();
        store.groups().delete("h").unwrap();
        assert!(!stale(&store), "a commit or a deletion made here reloads the state");

        let key = GroupKey::Offset { group: "g".into(), topic: "t".into(), partition: 0 };
        let value = OffsetCommit {
            offset: 9,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
            expire_timestamp: None,
        };
        let count = store.partition_count(OFFSETS_TOPIC).unwrap();
        let p = crate::format::group_record::partition_for_group("g", count);
        let log = store.partition(OFFSETS_TOPIC, p).unwrap();
        log.append(&[Record::new(key.encode().unwrap(), value.encode().unwrap())]).unwrap();
        assert!(stale(&store), "another writer's commit goes unseen");
        assert_eq!(store.groups().fetch("g", "t", 0).unwrap(), Some(9));
        assert!(!stale(&store));
        store.close().unwrap();
    }

    #[test]
    fn another_writers_append_reads_again_only_the_partition_it_moved() {
        use crate::format::group_record::partition_for_group;
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new([dir.path()]).background_threads(false);
        config.offsets_topic_num_partitions = 3;
        let store = Store::open(config).unwrap();
        store.create_topic("t", 1, &Default::default()).unwrap();
        let groups: Vec<String> = (0..12).map(|i| format!("g{i}")).collect();
        for (i, g) in groups.iter().enumerate() {
            store.groups().commit(g, "t", 0, i64::try_from(i).unwrap()).unwrap();
        }
        let home = |g: &str| partition_for_group(g, 3);
        let moved = home("g0");
        let log = store.partition(OFFSETS_TOPIC, moved).unwrap();
        log.append(&[foreign_commit("g0", 100)]).unwrap();

        PARTITIONS_READ.with(|n| n.set(0));
        assert_eq!(store.groups().fetch("g0", "t", 0).unwrap(), Some(100));
        assert_eq!(PARTITIONS_READ.with(std::cell::Cell::get), 1, "partitions read again");
        let elsewhere = groups.iter().find(|g| home(g) != moved).unwrap();
        let at = groups.iter().position(|g| g == elsewhere).unwrap();
        assert_eq!(
            store.groups().fetch(elsewhere, "t", 0).unwrap(),
            Some(i64::try_from(at).unwrap())
        );
        assert_eq!(store.groups().list().unwrap().len(), groups.len());
        assert_eq!(PARTITIONS_READ.with(std::cell::Cell::get), 1, "partitions read again");
        store.close().unwrap();
    }
}
