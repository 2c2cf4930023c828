//! Tombstones of committed offsets and group metadata, written into
//! `__consumer_offsets` in batches that fit its `max.message.bytes`.
//!
//! A group can hold more offsets than one batch of their tombstones holds
//! (the default 1 MiB limit fits some 30,000 tombstones of short names).
//! Kafka's coordinator writes its cleanup as a non-atomic result
//! (`GroupCoordinatorShard.cleanupGroupMetadata` returns
//! `CoordinatorResult(records, false)`), which `CoordinatorRuntime` splits
//! into batches under the partition's limit; so does this. The group's
//! metadata tombstone comes last, so a failure part-way leaves the group
//! with its remaining offsets, never offsets without their group.

use crate::format::Record;
use crate::format::group_record::GroupKey;
use crate::format::layout::BATCH_OVERHEAD;
use crate::log::{AppendInfo, Log};
use crate::{Error, Result};

use super::GroupId;

/// The most a tombstone record adds to a batch beyond its key's bytes: its
/// length, attributes, timestamp and offset deltas and key length (varints
/// of at most 5 bytes each), the null value's length and the header count.
const TOMBSTONE_OVERHEAD: usize = 5 + 1 + 5 + 5 + 5 + 1 + 1;

/// Tombstones (a key, a null value) of the offsets `ids` and, when given,
/// of a group's metadata, each timestamped `now`.
pub(super) fn tombstones(
    ids: &[GroupId],
    metadata: Option<GroupKey>,
    now: i64,
) -> Result<Vec<Record>> {
    let offsets = ids.iter().map(|(g, t, p)| GroupKey::Offset {
        group: g.clone(),
        topic: t.clone(),
        partition: *p,
    });
    offsets
        .chain(metadata)
        .map(|k| {
            let key =
                k.encode().map_err(|e| Error::InvalidRequest(format!("cannot encode key: {e}")))?;
            Ok(Record { timestamp: now, key: Some(key), value: None, headers: Vec::new() })
        })
        .collect()
}

/// Appends to `log` the tombstones of the offsets `ids` and then, when
/// given, of a group's metadata, in batches each within `limit` bytes
/// (a record larger than it alone goes in a batch of its own, and fails).
/// Returns how many of `ids` have their tombstone written, a prefix of
/// them, and the first failure, after which nothing more is written; each
/// append made is pushed onto `appends`, in order.
pub(super) fn append_tombstones(
    log: &Log,
    ids: &[GroupId],
    metadata: Option<GroupKey>,
    now: i64,
    appends: &mut Vec<AppendInfo>,
) -> (usize, Result<()>) {
    let records = match tombstones(ids, metadata, now) {
        Ok(r) => r,
        Err(e) => return (0, Err(e)),
    };
    let limit = usize::try_from(log.config().max_message_bytes).unwrap_or(usize::MAX);
    let mut written = 0;
    for batch in batches(&records, limit) {
        match log.append(batch) {
            Ok(info) => appends.push(info),
            Err(e) => return (written.min(ids.len()), Err(e)),
        }
        written += batch.len();
    }
    (ids.len(), Ok(()))
}

/// `records` cut, in order, into runs whose batch is at most `limit` bytes.
fn batches(records: &[Record], limit: usize) -> impl Iterator<Item = &[Record]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut size = BATCH_OVERHEAD;
        let mut n = 0;
        for r in rest {
            let bound = r.key.as_ref().map_or(0, |k| k.len()) + TOMBSTONE_OVERHEAD;
            if n > 0 && size.saturating_add(bound) > limit {
                break;
            }
            size = size.saturating_add(bound);
            n += 1;
        }
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_within_the_limit_and_keep_every_record_in_order() {
        let ids: Vec<GroupId> = (0..1000).map(|p| ("g".to_owned(), "t".to_owned(), p)).collect();
        let records = tombstones(&ids, Some(GroupKey::Metadata { group: "g".into() }), 0).unwrap();
        let limit = 4096;
        let runs: Vec<&[Record]> = batches(&records, limit).collect();
        assert!(runs.len() > 1, "one batch of {} tombstones", records.len());
        for run in &runs {
            let mut b = crate::format::BatchBuilder::new(0);
            for r in *run {
                b.append(r).unwrap();
            }
            let size = b.build().unwrap().len();
            assert!(size <= limit, "a batch of {size} bytes over {limit}");
        }
        let joined: Vec<Record> = runs.concat();
        assert_eq!(joined, records);
    }

    #[test]
    fn a_record_over_the_limit_goes_alone() {
        let ids = [("g".to_owned(), "t".repeat(100), 0), ("g".to_owned(), "t".to_owned(), 1)];
        let records = tombstones(&ids, None, 0).unwrap();
        let runs: Vec<usize> = batches(&records, 10).map(<[Record]>::len).collect();
        assert_eq!(runs, [1, 1]);
    }
}
