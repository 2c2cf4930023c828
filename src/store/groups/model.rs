//! The groups' state kept in memory must always be what a fresh load of
//! `__consumer_offsets` reads: random sequences of what the store does
//! (commits, deletions, expiry, a topic deleted and created again) and of
//! what another writer appends through `Log` (commits and their tombstones,
//! group metadata and its tombstones, transactional commits and their
//! markers), each followed by a comparison of the state with a fresh load.
//! Every record of a group goes to the partition Kafka places it in.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use crate::format::BatchBuilder;
use crate::format::group_record::{GroupKey, OffsetCommit, partition_for_group};
use crate::store::{OFFSETS_TOPIC, Store};
use crate::{Clock, ManualClock, Record, StoreConfig};

const COUNT: i32 = 3;
const T0: i64 = 1_700_000_000_000;
const GROUPS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// One step; `g` indexes [`GROUPS`], `u` picks topic `u` over `t`.
#[derive(Debug, Clone)]
enum Op {
    Commit {
        g: usize,
        u: bool,
        p: i32,
        offset: i64,
    },
    DeleteGroup {
        g: usize,
    },
    ForeignCommit {
        g: usize,
        u: bool,
        p: i32,
        offset: i64,
    },
    ForeignTombstone {
        g: usize,
        u: bool,
        p: i32,
    },
    /// A classic consumer group's metadata with `members` members, empty since now.
    ForeignMetadata {
        g: usize,
        members: usize,
    },
    ForeignMetadataTombstone {
        g: usize,
    },
    TxnCommit {
        g: usize,
        u: bool,
        p: i32,
        offset: i64,
        producer: i64,
    },
    /// `producer`'s marker in `g`'s partition and in partition `also`.
    TxnMarker {
        g: usize,
        producer: i64,
        commit: bool,
        also: i32,
    },
    Expire {
        minutes: i64,
    },
    /// Deletes topic `u`, or creates it again once deleted.
    ToggleTopic,
    Fetch {
        g: usize,
    },
    /// A store operation whose `nth` file write fails.
    Faulted {
        op: Box<Op>,
        nth: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let g = 0..GROUPS.len();
    let p = 0..2i32;
    let offset = 0..1000i64;
    prop_oneof![
        (g.clone(), any::<bool>(), p.clone(), offset.clone())
            .prop_map(|(g, u, p, offset)| Op::Commit { g, u, p, offset }),
        g.clone().prop_map(|g| Op::DeleteGroup { g }),
        (g.clone(), any::<bool>(), p.clone(), offset.clone())
            .prop_map(|(g, u, p, offset)| Op::ForeignCommit { g, u, p, offset }),
        (g.clone(), any::<bool>(), p.clone()).prop_map(|(g, u, p)| Op::ForeignTombstone {
            g,
            u,
            p
        }),
        (g.clone(), 0..2usize).prop_map(|(g, members)| Op::ForeignMetadata { g, members }),
        g.clone().prop_map(|g| Op::ForeignMetadataTombstone { g }),
        (g.clone(), any::<bool>(), p, offset, 100..103i64).prop_map(
            |(g, u, p, offset, producer)| { Op::TxnCommit { g, u, p, offset, producer } }
        ),
        (g.clone(), 100..103i64, any::<bool>(), 0..COUNT)
            .prop_map(|(g, producer, commit, also)| Op::TxnMarker { g, producer, commit, also }),
        (0..8i64).prop_map(|minutes| Op::Expire { minutes }),
        Just(Op::ToggleTopic),
        g.clone().prop_map(|g| Op::Fetch { g }),
    ]
}

fn faulted() -> impl Strategy<Value = Op> {
    let g = 0..GROUPS.len();
    let inner =
        prop_oneof![
            (g.clone(), any::<bool>(), 0..2i32, 0..1000i64)
                .prop_map(|(g, u, p, offset)| Op::Commit { g, u, p, offset }),
            g.prop_map(|g| Op::DeleteGroup { g }),
            (0..8i64).prop_map(|minutes| Op::Expire { minutes }),
            Just(Op::ToggleTopic),
        ];
    prop_oneof![
        4 => op(),
        1 => (inner, 1..4u64).prop_map(|(op, nth)| Op::Faulted { op: Box::new(op), nth }),
    ]
}

fn commit_value(offset: i64, at: i64) -> Vec<u8> {
    let c = OffsetCommit {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: at,
        expire_timestamp: None,
    };
    c.encode().map(|b| b.to_vec()).unwrap_or_default()
}

fn key(k: GroupKey) -> Vec<u8> {
    k.encode().map(|b| b.to_vec()).unwrap_or_default()
}

fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    key(GroupKey::Offset { group: group.into(), topic: topic.into(), partition })
}

fn tombstone(key: Vec<u8>) -> Record {
    Record { value: None, ..Record::new(key, "") }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&i16::try_from(s.len()).unwrap_or(0).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// A `GroupMetadataValue` of version 3 as a Kafka broker writes it: a
/// "consumer" group of `members` members, in its state since `at`.
fn group_metadata(group: &str, at: i64, members: usize) -> Record {
    let mut v = vec![0, 3];
    put_str(&mut v, "consumer");
    v.extend_from_slice(&3i32.to_be_bytes());
    put_str(&mut v, "range");
    put_str(&mut v, if members > 0 { "m-0" } else { "" });
    v.extend_from_slice(&at.to_be_bytes());
    v.extend_from_slice(&i32::try_from(members).unwrap_or(0).to_be_bytes());
    for i in 0..members {
        put_str(&mut v, &format!("m-{i}"));
        v.extend_from_slice(&(-1i16).to_be_bytes()); // no group instance id
        put_str(&mut v, "client");
        put_str(&mut v, "/127.0.0.1");
        v.extend_from_slice(&300_000i32.to_be_bytes());
        v.extend_from_slice(&45_000i32.to_be_bytes());
        for _ in 0..2 {
            v.extend_from_slice(&2i32.to_be_bytes()); // subscription, then assignment
            v.extend_from_slice(&[0, 1]);
        }
    }
    Record::new(key(GroupKey::Metadata { group: group.into() }), v).timestamp(at)
}

/// Runs `op` on `store`; `u_exists` tracks topic `u`, `seqs` each producer's next sequence.
fn apply(
    store: &Store,
    clock: &ManualClock,
    op: &Op,
    u_exists: &mut bool,
    seqs: &mut BTreeMap<i64, i32>,
) -> crate::Result<()> {
    let name = |g: usize| GROUPS.get(g).copied().unwrap_or("a");
    let topic = |u: bool| if u && *u_exists { "u" } else { "t" };
    let part = |g: usize| store.partition(OFFSETS_TOPIC, partition_for_group(name(g), COUNT));
    let now = clock.now_ms();
    match *op {
        Op::Commit { g, u, p, offset } => store.groups().commit(name(g), topic(u), p, offset),
        Op::DeleteGroup { g } => store.groups().delete(name(g)).map(|_| ()),
        Op::ForeignCommit { g, u, p, offset } => {
            let r = Record::new(offset_key(name(g), topic(u), p), commit_value(offset, now));
            part(g)?.append(&[r]).map(|_| ())
        }
        Op::ForeignTombstone { g, u, p } => {
            part(g)?.append(&[tombstone(offset_key(name(g), topic(u), p))]).map(|_| ())
        }
        Op::ForeignMetadata { g, members } => {
            part(g)?.append(&[group_metadata(name(g), now, members)]).map(|_| ())
        }
        Op::ForeignMetadataTombstone { g } => {
            let k = key(GroupKey::Metadata { group: name(g).into() });
            part(g)?.append(&[tombstone(k)]).map(|_| ())
        }
        Op::TxnCommit { g, u, p, offset, producer } => {
            let seq = seqs.entry(producer).or_insert(0);
            let mut b = BatchBuilder::new(0).producer(producer, 0, *seq).transactional(true);
            let r = Record::new(offset_key(name(g), topic(u), p), commit_value(offset, now));
            b.append(&r).unwrap();
            part(g)?.append_batch(b.build().unwrap())?;
            *seq += 1;
            Ok(())
        }
        Op::TxnMarker { g, producer, commit, also } => {
            // A marker of a producer with no transaction open there is refused; fine.
            let _ = part(g)?.append_txn_marker(producer, 0, 0, commit);
            let _ = store.partition(OFFSETS_TOPIC, also)?.append_txn_marker(producer, 0, 0, commit);
            Ok(())
        }
        Op::Expire { minutes } => {
            clock.advance(minutes * 60_000);
            store.expire_committed_offsets().map(|_| ())
        }
        Op::ToggleTopic => {
            if *u_exists {
                store.delete_topic("u")?;
            } else {
                store.create_topic("u", 2, &BTreeMap::new())?;
            }
            *u_exists = !*u_exists;
            Ok(())
        }
        Op::Fetch { g } => store.groups().fetch(name(g), "t", 0).map(|_| ()),
        Op::Faulted { ref op, nth } => {
            use crate::io::fault::{self, FaultPlan, Op as IoOp};
            let _faults = fault::arm(FaultPlan::new().fail_nth(IoOp::Write, nth));
            apply(store, clock, op, u_exists, seqs)
        }
    }
}

/// The state refreshed, against a fresh load: `None` when they agree.
fn differs(store: &Store) -> Option<String> {
    let groups = store.groups();
    let mut cache = store.inner.groups.lock();
    if let Err(e) = groups.refresh(&mut cache, None) {
        return Some(format!("refresh failed: {e}"));
    }
    let (Some(state), Ok(fresh)) = (cache.as_ref(), groups.load()) else {
        return Some("no state, or the load failed".to_owned());
    };
    let parts = [
        ("offsets", format!("{:?}", state.offsets), format!("{:?}", fresh.offsets)),
        ("pending", format!("{:?}", state.pending), format!("{:?}", fresh.pending)),
        ("memberships", format!("{:?}", state.memberships), format!("{:?}", fresh.memberships)),
        ("placement", format!("{:?}", state.placement), format!("{:?}", fresh.placement)),
        (
            "unloaded",
            format!("{:?}", state.unloaded.keys()),
            format!("{:?}", fresh.unloaded.keys()),
        ),
    ];
    let diff = parts.into_iter().find(|(_, kept, loaded)| kept != loaded);
    diff.map(|(what, kept, loaded)| format!("{what}: kept {kept}, loaded {loaded}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_state_kept_in_memory_is_what_a_fresh_load_reads_after_every_step(
        ops in prop::collection::vec(faulted(), 1..60)
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let clock = ManualClock::new(T0);
        let mut config = StoreConfig::new([dir.path()]).background_threads(false);
        config.offsets_topic_num_partitions = COUNT.unsigned_abs();
        config.offsets_retention_minutes = 10;
        let store = Store::open_with_clock(config, Arc::clone(&clock) as Arc<dyn Clock>)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for t in ["t", "u"] {
            store.create_topic(t, 2, &BTreeMap::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let (mut u_exists, mut seqs) = (true, BTreeMap::new());
        for (i, op) in ops.iter().enumerate() {
            // A refused step (a sequence gap, a marker without a transaction) changes nothing.
            let _ = apply(&store, &clock, op, &mut u_exists, &mut seqs);
            if let Some(d) = differs(&store) {
                prop_assert!(false, "step {} ({:?}): {}", i, op, d);
            }
        }
        // A fault injected may have poisoned a partition, which close reports.
        let _ = store.close();
    }
}
