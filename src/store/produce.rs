//! Store-level produce: records for a topic placed on its partitions by
//! Kafka's default partitioner, as a Kafka producer would place them.
//!
//! - A record with a key goes to `murmur2(key) % partitions`
//!   ([`partition_for_key`]): the partition Kafka's Java client picks, so a
//!   key lands where it would on a broker.
//! - Records without a key go to the topic's sticky partition
//!   ([`StickyPartitioner`]); each call that used it completes its batch, so
//!   the next call draws another partition (Kafka's `BuiltInPartitioner`).
//! - A record without a timestamp (-1) gets the store clock's time, as the
//!   producer stamps `CreateTime`.
//! - On a `LogAppendTime` topic each record's [`RecordMetadata::timestamp`]
//!   is the append time the log stored, as Kafka's producer reports the
//!   broker's `logAppendTime` (`FutureRecordMetadata.value`).
//!
//! Each partition's records are appended as one batch, in the order given.
//! The call blocks as [`Log::append`](crate::log::Log::append) does.

use std::collections::BTreeMap;
use std::fmt;

use crate::format::{NO_TIMESTAMP, Record};
use crate::{Error, Result};

use super::Store;
use super::partitioner::{StickyPartitioner, partition_for_key};

/// Where one produced record was stored (Kafka's `RecordMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The partition the partitioner chose.
    pub partition: i32,
    /// The record's offset in that partition.
    pub offset: i64,
    /// The record's timestamp as stored: the one given, or the time it was
    /// produced; on a `LogAppendTime` topic, the time the log appended it.
    pub timestamp: i64,
}

impl fmt::Display for RecordMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "partition {} offset {}", self.partition, self.offset)
    }
}

/// The per-topic sticky partitioners of a store's unkeyed produce calls.
#[derive(Debug, Default)]
pub(super) struct StickyState {
    topics: parking_lot::Mutex<BTreeMap<String, StickyPartitioner>>,
}

impl StickyState {
    /// The sticky partition of `topic` over `partitions`.
    fn current(&self, topic: &str, partitions: i32) -> i32 {
        let mut topics = self.topics.lock();
        let p =
            topics.entry(topic.to_owned()).or_insert_with(|| StickyPartitioner::new(partitions));
        if p.partitions() != partitions {
            p.set_partitions(partitions);
        }
        p.partition()
    }

    /// The batch of `partition` is complete: the next unkeyed call draws anew.
    fn complete(&self, topic: &str, partition: i32) {
        if let Some(p) = self.topics.lock().get_mut(topic) {
            p.batch_complete(partition);
        }
    }
}

impl Store {
    /// Appends `records` to `topic`, each on the partition Kafka's default
    /// partitioner picks (see the module docs), and returns where each one
    /// went, in the order given.
    ///
    /// Records of one partition are appended as one batch; batches of
    /// different partitions are independent, so on an error the partitions
    /// before the failing one keep their records (as a Kafka producer's
    /// batches to different partitions succeed or fail alone).
    ///
    /// Blocks as [`Log::append`](crate::log::Log::append) does: under
    /// `strata.durability=sync` or `flush.messages` it waits for an fsync. In
    /// async code, call it from `spawn_blocking` there.
    ///
    /// ```
    /// # use strata::{Record, Store, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new([dir.path()]))?;
    /// store.create_topic_if_absent("orders", 3, &Default::default())?;
    /// let at = store.produce("orders", [Record::new("alice", "1"), Record::new("alice", "2")])?;
    /// assert_eq!(at[0].partition, at[1].partition);          // one key, one partition
    /// assert_eq!(at[1].offset, at[0].offset + 1);
    /// store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic; what
    /// [`Log::append`](crate::log::Log::append) returns.
    pub fn produce(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<Vec<RecordMetadata>> {
        let partitions = self.partition_count(topic)?;
        let now = self.inner.clock.now_ms();
        let sticky = self.inner.sticky.current(topic, partitions);
        // partition -> (positions in the input, records)
        let mut by_partition: BTreeMap<i32, (Vec<usize>, Vec<Record>)> = BTreeMap::new();
        let mut count = 0;
        for (i, mut record) in records.into_iter().enumerate() {
            if record.timestamp == NO_TIMESTAMP {
                record.timestamp = now;
            }
            let p = match &record.key {
                Some(key) => partition_for_key(key, partitions),
                None => sticky,
            };
            let slot = by_partition.entry(p).or_default();
            slot.0.push(i);
            slot.1.push(record);
            count = i + 1;
        }
        let mut out = vec![RecordMetadata { partition: -1, offset: -1, timestamp: -1 }; count];
        for (p, (positions, records)) in by_partition {
            let log = self.partition(topic, p)?;
            let info = log.append(&records)?;
            // The log stamped the batch with its append time: every record
            // of it carries that time (the batch's maxTimestamp).
            let append_time = (log.config().message_timestamp_type
                == crate::format::TimestampType::LogAppendTime)
                .then_some(info.max_timestamp);
            for (k, (i, r)) in positions.iter().zip(&records).enumerate() {
                let offset = info.base_offset + i64::try_from(k).unwrap_or(i64::MAX);
                let timestamp = append_time.unwrap_or(r.timestamp);
                if let Some(slot) = out.get_mut(*i) {
                    *slot = RecordMetadata { partition: p, offset, timestamp };
                }
            }
            if p == sticky {
                self.inner.sticky.complete(topic, p);
            }
        }
        if out.iter().any(|m| m.partition < 0) {
            return Err(Error::InvalidRequest("a produced record was not placed".into()));
        }
        Ok(out)
    }
}
