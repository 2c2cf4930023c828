//! What each `__consumer_offsets` partition contributes to the groups'
//! state, kept apart so that a partition another writer appended to is read
//! again alone ([`load`](super::load)), and the merged views
//! (`GroupState::offsets`, `pending`, `memberships`) derived from them.
//!
//! The merge is the load's: a commit id held by two partitions keeps the one
//! whose record has the larger offset (the lower partition's on a tie), a
//! group's membership is the one of the highest partition holding one, a
//! pending commit is pending in any partition, and a group holding no
//! offsets has no membership. Kafka places every record of a group in the
//! partition `partition_for_group` names: while each part holds only groups
//! placed in its partition ([`GroupState::placement`]) the parts share no
//! group, and a partition read again derives anew exactly the entries of the
//! groups it held before or holds now, leaving every other group's as it
//! was. Otherwise (a broker's directory placed over another partition count,
//! a writer appending a group's records elsewhere) every merged view is
//! derived again from all the parts, as a full load derives it.
//!
//! The appends made here update the part of the partition they go to as its
//! load would read them, so a part always holds what reading its partition
//! up to the end the state notes gives.
//!
//! A group whose offsets were all forgotten here ([`GroupState::forget`])
//! has no membership in the merged view, as a load merges it; the membership
//! its records still hold (a topic's deletion or an expiry writes no metadata
//! tombstone for a group Kafka keeps: an undecodable one, a newer group
//! type's) counts again once it commits again, here as at a load.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::group_record::{GroupKey, partition_for_group};

use super::{CommittedOffset, GroupId, GroupState, Loaded, Memberships, note_membership};

/// What one `__consumer_offsets` partition holds, as its load reads it.
#[derive(Debug, Default)]
pub(super) struct Part {
    /// Its commits, each with the offset of the record holding it.
    pub(super) commits: Loaded,
    /// Its offsets with a transactional commit still pending at its end.
    pub(super) pending: BTreeSet<GroupId>,
    /// What its groups' metadata records say of their membership.
    pub(super) memberships: Memberships,
}

impl Part {
    /// Whether every group it holds is placed in partition `p` of `count`.
    pub(super) fn placed_in(&self, p: i32, count: i32) -> bool {
        let home = |g: &str| partition_for_group(g, count) == p;
        self.commits.keys().all(|(g, _, _)| home(g))
            && self.pending.iter().all(|(g, _, _)| home(g))
            && self.memberships.keys().all(|g| home(g))
    }
}

impl GroupState {
    /// Derives every merged view from the parts, as the load merges them,
    /// and notes whether the parts are placed over `count` partitions.
    pub(super) fn merge_all(&mut self, count: i32) {
        let mut loaded: BTreeMap<&GroupId, (&CommittedOffset, i64)> = BTreeMap::new();
        let mut pending = BTreeSet::new();
        let mut memberships = Memberships::new();
        for part in self.parts.values() {
            pending.extend(part.pending.iter().cloned());
            memberships.extend(part.memberships.iter().map(|(g, m)| (g.clone(), *m)));
            for (id, (c, at)) in &part.commits {
                if loaded.get(id).is_none_or(|(_, was)| *was < *at) {
                    loaded.insert(id, (c, *at));
                }
            }
        }
        self.offsets = loaded.into_iter().map(|(id, (c, _))| (id.clone(), c.clone())).collect();
        self.pending = pending;
        self.memberships = memberships;
        // A group holding no offsets is gone for Kafka's coordinator (see `GroupState::forget`).
        let offsetless: Vec<String> =
            self.memberships.keys().filter(|g| !self.holds_offsets(g)).cloned().collect();
        for group in offsetless {
            self.memberships.remove(&group);
        }
        let placed = self.parts.iter().all(|(p, part)| part.placed_in(*p, count));
        self.placement = placed.then_some(count);
    }

    /// Derives again the merged entries of the groups partition `p`'s part
    /// held (`old`) or holds now, while the parts are placed: no other part
    /// holds any of them.
    pub(super) fn merge_placed(&mut self, p: i32, old: &Part) {
        let none = Part::default();
        let new = self.parts.get(&p).unwrap_or(&none);
        for id in old.commits.keys().filter(|id| !new.commits.contains_key(*id)) {
            self.offsets.remove(id);
        }
        for (id, (c, _)) in &new.commits {
            self.offsets.insert(id.clone(), c.clone());
        }
        for id in old.pending.difference(&new.pending) {
            self.pending.remove(id);
        }
        self.pending.extend(new.pending.iter().cloned());
        let groups: BTreeSet<&String> = [old, new]
            .into_iter()
            .flat_map(|part| part.commits.keys().map(|(g, _, _)| g).chain(part.memberships.keys()))
            .collect();
        for group in groups {
            match new.memberships.get(group) {
                Some(m) if holds_offsets(&self.offsets, group) => {
                    self.memberships.insert(group.clone(), *m);
                }
                _ => {
                    self.memberships.remove(group);
                }
            }
        }
    }

    /// Whether `group`, holding no offset and no pending commit, still has
    /// in partition `p`'s records the metadata of a group Kafka deletes once
    /// it holds no offsets (a classic group: `cleanupExpiredOffsets`
    /// answers true for a group without offsets, then `maybeDeleteGroup`).
    /// The merged views leave that group out, as deleted; its records would
    /// bring it back at the next load once it holds offsets again.
    pub(super) fn deleted_but_on_disk(&self, p: i32, group: &str) -> bool {
        !holds_offsets(&self.offsets, group)
            && !self.pending.iter().any(|(g, _, _)| g == group)
            && (self.parts.get(&p).and_then(|part| part.memberships.get(group)))
                .is_some_and(|m| super::expiry::deleted_when_empty(Some(m)))
    }

    /// Notes the commits appended here to partition `p` in one batch from
    /// offset `base`, in order: each is the merged view's commit of its id.
    pub(super) fn note_commits(
        &mut self,
        p: i32,
        base: i64,
        commits: impl IntoIterator<Item = (GroupId, CommittedOffset)>,
    ) {
        let part = self.parts.entry(p).or_default();
        let mut at = base;
        let mut groups = BTreeSet::new();
        for (id, c) in commits {
            if self.placement.is_some_and(|count| partition_for_group(&id.0, count) != p) {
                self.placement = None;
            }
            part.commits.insert(id.clone(), (c.clone(), at));
            if !self.memberships.contains_key(&id.0) {
                groups.insert(id.0.clone());
            }
            self.offsets.insert(id, c);
            at = at.saturating_add(1);
        }
        // A group that held no offset had no membership; the one its records
        // still hold counts again now, as the load merges it.
        for group in groups {
            let kept = self.parts.values().rev().find_map(|part| part.memberships.get(&group));
            if let Some(m) = kept.copied() {
                self.memberships.insert(group, m);
            }
        }
    }

    /// Forgets the offsets `ids` once their tombstones are appended to
    /// partition `p` (and the membership `group_tombstoned` had there, once
    /// its metadata tombstone is): from `p`'s part as its load would read
    /// them, and from the merged views ([`forget`](GroupState::forget)).
    pub(super) fn note_tombstones(
        &mut self,
        p: i32,
        ids: &[GroupId],
        group_tombstoned: Option<&str>,
    ) {
        if let Some(part) = self.parts.get_mut(&p) {
            for id in ids {
                part.commits.remove(id);
                part.pending.remove(id);
            }
            if let Some(group) = group_tombstoned {
                let key = GroupKey::Metadata { group: group.to_owned() };
                note_membership(&mut part.memberships, &key, &[], None);
            }
        }
        self.forget(ids);
    }
}

/// Whether `group` holds a committed offset in `offsets`.
pub(super) fn holds_offsets(offsets: &super::Offsets, group: &str) -> bool {
    let first = (group.to_owned(), String::new(), i32::MIN);
    offsets.range(first..).next().is_some_and(|((g, _, _), _)| g == group)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::format::BatchBuilder;
    use crate::format::group_record::{GroupKey, OffsetCommit, partition_for_group};
    use crate::store::{OFFSETS_TOPIC, Store};
    use crate::{Record, StoreConfig};

    const COUNT: i32 = 3;

    fn commit_value(offset: i64) -> Vec<u8> {
        let value = OffsetCommit {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
            expire_timestamp: None,
        };
        value.encode().unwrap().to_vec()
    }

    fn offset_key(group: &str) -> Vec<u8> {
        let key = GroupKey::Offset { group: group.into(), topic: "t".into(), partition: 0 };
        key.encode().unwrap().to_vec()
    }

    /// Appends `records` to partition `p` of `__consumer_offsets`, past the groups' state.
    fn append(store: &Store, p: i32, records: &[Record]) {
        store.partition(OFFSETS_TOPIC, p).unwrap().append(records).unwrap();
    }

    fn home(group: &str) -> i32 {
        partition_for_group(group, COUNT)
    }

    /// Refreshes the state and checks it is what a load of the topic reads;
    /// returns its placement.
    fn refreshed_as_loaded(store: &Store, step: &str) -> Option<i32> {
        let groups = store.groups();
        let mut cache = store.inner.groups.lock();
        groups.refresh(&mut cache, None).unwrap();
        let state = cache.as_ref().unwrap();
        let fresh = groups.load().unwrap();
        assert_eq!(state.offsets, fresh.offsets, "{step}: offsets");
        assert_eq!(state.pending, fresh.pending, "{step}: pending");
        assert_eq!(state.memberships, fresh.memberships, "{step}: memberships");
        assert_eq!(state.unloaded, fresh.unloaded, "{step}: unloaded");
        // An end not noted is 0 (`GroupState::ends`).
        let noted = |ends: &BTreeMap<i32, i64>| -> Vec<(i32, i64)> {
            ends.iter().filter(|(_, end)| **end != 0).map(|(p, end)| (*p, *end)).collect()
        };
        assert_eq!(noted(&state.ends), noted(&fresh.ends), "{step}: ends");
        assert_eq!(state.placement, fresh.placement, "{step}: placement");
        state.placement
    }

    #[test]
    fn reading_again_only_the_moved_partitions_ends_as_a_full_load_reads_the_topic() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new([dir.path()]).background_threads(false);
        config.offsets_topic_num_partitions = 3;
        let store = Store::open(config).unwrap();
        store.create_topic("t", 2, &Default::default()).unwrap();
        let g: Vec<String> = (0..12).map(|i| format!("g{i}")).collect();
        for (i, group) in g.iter().enumerate() {
            let i = i64::try_from(i).unwrap();
            store.groups().commit(group, "t", 0, i).unwrap();
            store.groups().commit(group, "t", 1, i).unwrap();
        }
        assert_eq!(refreshed_as_loaded(&store, "loaded"), Some(COUNT));

        append(&store, home(&g[0]), &[Record::new(offset_key(&g[0]), commit_value(100))]);
        assert_eq!(refreshed_as_loaded(&store, "a commit"), Some(COUNT));
        assert_eq!(store.groups().fetch(&g[0], "t", 0).unwrap(), Some(100));

        // g1 keeps its t-1 offset; a group of its partition gets a membership.
        let tombstone = Record { value: None, ..Record::new(offset_key(&g[1]), "") };
        let metadata = |group: &str| GroupKey::Metadata { group: group.into() }.encode().unwrap();
        append(&store, home(&g[1]), &[tombstone, Record::new(metadata(&g[1]), "?")]);
        append(&store, home("nobody"), &[Record::new(metadata("nobody"), "?")]);
        assert_eq!(refreshed_as_loaded(&store, "a tombstone and memberships"), Some(COUNT));
        assert_eq!(store.groups().fetch(&g[1], "t", 0).unwrap(), None);

        let txn = |offset| {
            let mut b = BatchBuilder::new(0).producer(7, 0, 0).transactional(true);
            b.append(&Record::new(offset_key(&g[3]), commit_value(offset))).unwrap();
            b.build().unwrap()
        };
        let log = store.partition(OFFSETS_TOPIC, home(&g[3])).unwrap();
        log.append_batch(txn(300)).unwrap();
        assert_eq!(refreshed_as_loaded(&store, "a pending commit"), Some(COUNT));
        log.append_txn_marker(7, 0, 0, true).unwrap();
        assert_eq!(refreshed_as_loaded(&store, "its COMMIT"), Some(COUNT));
        assert_eq!(store.groups().fetch(&g[3], "t", 0).unwrap(), Some(300));

        assert!(store.groups().delete(&g[4]).unwrap());
        store.groups().commit(&g[5], "t", 0, 500).unwrap();
        let no_membership = Record { value: None, ..Record::new(metadata(&g[1]), "") };
        append(&store, home(&g[1]), &[no_membership]);
        assert_eq!(refreshed_as_loaded(&store, "appends made here"), Some(COUNT));

        // A commit of g6 in another partition than its own: the parts are merged again whole.
        let elsewhere = (home(&g[6]) + 1) % COUNT;
        append(&store, elsewhere, &[Record::new(offset_key(&g[6]), commit_value(600))]);
        assert_eq!(refreshed_as_loaded(&store, "a commit placed elsewhere"), None);
        store.groups().commit(&g[6], "t", 0, 601).unwrap();
        let third = (home(&g[6]) + 2) % COUNT;
        append(&store, third, &[Record::new(offset_key("other"), commit_value(1))]);
        assert_eq!(refreshed_as_loaded(&store, "a commit after it"), None);

        // An undecodable commit leaves its partition unloaded, the others served.
        let bad = g.iter().skip(7).find(|b| home(b) != elsewhere).unwrap();
        append(&store, home(bad), &[Record::new(offset_key(bad), "not a commit")]);
        assert_eq!(refreshed_as_loaded(&store, "an undecodable commit"), None);
        store.close().unwrap();
    }

    /// A group its records keep (here an undecodable membership, which Kafka
    /// never deletes) loses its offsets with a topic's deletion and commits
    /// again: the membership its partition still holds counts again, as a
    /// load reads it, not only once another writer moves the partition.
    #[test]
    fn a_kept_group_committing_again_has_the_membership_a_load_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new([dir.path()]).background_threads(false);
        config.offsets_topic_num_partitions = 3;
        let store = Store::open(config).unwrap();
        store.create_topic("t", 1, &Default::default()).unwrap();
        store.create_topic("x", 1, &Default::default()).unwrap();
        store.groups().commit("m", "x", 0, 1).unwrap();
        let metadata = GroupKey::Metadata { group: "m".into() }.encode().unwrap();
        append(&store, home("m"), &[Record::new(metadata, "?")]);
        assert_eq!(refreshed_as_loaded(&store, "an undecodable membership"), Some(COUNT));
        store.delete_topic("x").unwrap();
        assert_eq!(refreshed_as_loaded(&store, "its only topic deleted"), Some(COUNT));
        store.groups().commit("m", "t", 0, 2).unwrap();
        assert_eq!(refreshed_as_loaded(&store, "a commit again"), Some(COUNT));
        store.close().unwrap();
    }
}
