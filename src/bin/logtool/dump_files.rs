//! `dump` for the files of a partition or log directory that are not
//! segments: what each holds, in `kafka-dump-log`'s words where it has them
//! (`.index`, `.timeindex`, `.txnindex`, `.snapshot`), and in the file's own
//! field names for the checkpoints Kafka's tool does not read.

use std::path::Path;

use strata::internals::format::file_name::{FileKind, parse_file_name};
use strata::internals::format::index_entry::{offset_entries, time_entries};
use strata::internals::format::leader_epoch::{self, LEADER_EPOCH_CHECKPOINT_FILE};
use strata::internals::format::{partition_metadata, producer_snapshot, txn_index};
use strata::internals::store::checkpoint::{
    self, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};

use super::Out;
use super::dump::optional_long;
use super::json::Json;

/// Kafka's per-directory replication checkpoint: same format as the others.
const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
/// The file of a `partition.metadata`.
const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// What a file is, from its name (as Kafka's tool decides by suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A segment `.log` (also `.log.deleted`/`.cleaned`/`.swap`), with its base offset.
    Log(i64),
    /// A KRaft snapshot `<offset>-<epoch>.checkpoint`: record batches.
    KraftSnapshot(i64, i32),
    /// KRaft's `bootstrap.checkpoint`: record batches.
    KraftBootstrap,
    /// `.index`, with the segment's base offset.
    Index(i64),
    /// `.timeindex`, with the segment's base offset.
    TimeIndex(i64),
    /// `.txnindex`, with the segment's base offset.
    TxnIndex(i64),
    /// A producer-state `.snapshot`.
    ProducerSnapshot,
    /// `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
    /// `cleaner-offset-checkpoint`, `replication-offset-checkpoint`.
    OffsetCheckpoint,
    /// `leader-epoch-checkpoint`.
    LeaderEpochCheckpoint,
    /// `partition.metadata`.
    PartitionMetadata,
    /// Anything else (`meta.properties`, `quorum-state`, ...).
    Unknown,
}

impl Kind {
    /// The kind of the file named `name`.
    pub fn of(name: &str) -> Kind {
        if let Some(p) = parse_file_name(name) {
            return match p.kind {
                FileKind::Log => Kind::Log(p.offset),
                FileKind::Index => Kind::Index(p.offset),
                FileKind::TimeIndex => Kind::TimeIndex(p.offset),
                FileKind::TxnIndex => Kind::TxnIndex(p.offset),
                FileKind::Snapshot => Kind::ProducerSnapshot,
            };
        }
        match name {
            RECOVERY_POINT_CHECKPOINT
            | LOG_START_OFFSET_CHECKPOINT
            | CLEANER_OFFSET_CHECKPOINT
            | REPLICATION_OFFSET_CHECKPOINT => Kind::OffsetCheckpoint,
            LEADER_EPOCH_CHECKPOINT_FILE => Kind::LeaderEpochCheckpoint,
            PARTITION_METADATA_FILE => Kind::PartitionMetadata,
            "bootstrap.checkpoint" => Kind::KraftBootstrap,
            _ => kraft_snapshot(name).map_or(Kind::Unknown, |(o, e)| Kind::KraftSnapshot(o, e)),
        }
    }

    /// Where a directory listing puts it: segments first in offset order
    /// (log, then its indexes), then the partition's and directory's state
    /// files. `None`: a directory dump leaves it out unless asked.
    pub fn order(self, indexes: bool, all: bool) -> Option<(u8, i64)> {
        match self {
            Kind::Log(base) => Some((0, base)),
            Kind::Index(base) | Kind::TimeIndex(base) | Kind::TxnIndex(base) if indexes || all => {
                Some((0, base))
            }
            Kind::Unknown => None,
            _ if all => Some((1, 0)),
            _ => None,
        }
    }
}

/// `<20-digit end offset>-<10-digit epoch>.checkpoint` (KRaft's `Snapshots`).
fn kraft_snapshot(name: &str) -> Option<(i64, i32)> {
    let (offset, epoch) = name.strip_suffix(".checkpoint")?.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(offset, 20) || !digits(epoch, 10) {
        return None;
    }
    Some((offset.parse().ok()?, epoch.parse().ok()?))
}

/// Dumps a file that is not record batches; returns the problems reported
/// on stderr (a file that does not decode).
pub fn dump(out: &mut Out, path: &Path, name: &str, kind: Kind, data: &[u8]) -> usize {
    match kind {
        Kind::Index(base) => {
            let entries = offset_entries(data, base);
            if entries.is_empty() {
                out.human(&format!("{} is empty.", path.display()));
            }
            for (offset, position) in entries {
                let line = Json::object()
                    .with("type", "index")
                    .with("file", name)
                    .with("offset", offset)
                    .with("position", position);
                out.line(&line, || format!("offset: {offset} position: {position}"));
            }
            0
        }
        Kind::TimeIndex(base) => {
            for (timestamp, offset) in time_entries(data, base) {
                let line = Json::object()
                    .with("type", "timeindex")
                    .with("file", name)
                    .with("timestamp", timestamp)
                    .with("offset", offset);
                out.line(&line, || format!("timestamp: {timestamp} offset: {offset}"));
            }
            0
        }
        Kind::TxnIndex(base) => txn_entries(out, path, name, base, data),
        Kind::ProducerSnapshot => snapshot_entries(out, path, name, data),
        Kind::OffsetCheckpoint => offset_checkpoint(out, path, name, data),
        Kind::LeaderEpochCheckpoint => match leader_epoch::decode(data) {
            Ok(entries) => {
                for e in entries {
                    let line = Json::object()
                        .with("type", "leader-epoch-checkpoint")
                        .with("file", name)
                        .with("epoch", e.epoch)
                        .with("startOffset", e.start_offset);
                    out.line(&line, || {
                        format!("epoch: {} startOffset: {}", e.epoch, e.start_offset)
                    });
                }
                0
            }
            Err(e) => problem(path, &format!("not a leader-epoch checkpoint: {e}")),
        },
        Kind::PartitionMetadata => match partition_metadata::decode(data) {
            Ok(id) => {
                let line = Json::object()
                    .with("type", "partition-metadata")
                    .with("file", name)
                    .with("version", 0)
                    .with("topicId", id.to_string());
                out.line(&line, || format!("version: 0 topicId: {id}"));
                0
            }
            Err(e) => problem(path, &format!("not a partition.metadata file: {e}")),
        },
        Kind::Log(_) | Kind::KraftSnapshot(..) | Kind::KraftBootstrap | Kind::Unknown => 0,
    }
}

fn problem(path: &Path, what: &str) -> usize {
    say!("logtool: {}: {what}", path.display());
    1
}

/// Kafka's `dumpTxnIndex` line per aborted transaction.
fn txn_entries(out: &mut Out, path: &Path, name: &str, base: i64, data: &[u8]) -> usize {
    let (entries, bad) = match txn_index::decode(data, base) {
        Ok(entries) => (entries, None),
        Err((at, e)) => {
            // The entries before the bad one still print.
            let whole = at / txn_index::ENTRY_SIZE * txn_index::ENTRY_SIZE;
            let good = txn_index::decode(data.get(..whole).unwrap_or_default(), base);
            (good.unwrap_or_default(), Some(format!("bad entry at position {at}: {e}")))
        }
    };
    for e in entries {
        let line = Json::object()
            .with("type", "txnindex")
            .with("file", name)
            .with("version", txn_index::TXN_INDEX_VERSION)
            .with("producerId", e.producer_id)
            .with("firstOffset", e.first_offset)
            .with("lastOffset", e.last_offset)
            .with("lastStableOffset", e.last_stable_offset);
        out.line(&line, || {
            format!(
                "version: {} producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
                txn_index::TXN_INDEX_VERSION,
                e.producer_id,
                e.first_offset,
                e.last_offset,
                e.last_stable_offset
            )
        });
    }
    let torn = data.len() % txn_index::ENTRY_SIZE;
    let mut problems = 0;
    if let Some(bad) = bad {
        problems += problem(path, &bad);
    }
    if torn != 0 {
        problems += problem(path, &format!("{torn} bytes at the end are not a whole entry"));
    }
    problems
}

/// Kafka's `DefaultRecordBatch.decrementSequence`: sequences wrap at `i32::MAX`,
/// in Java's wrapping `int` arithmetic (a snapshot may hold any values).
fn first_sequence(last: i32, delta: i32) -> i32 {
    if last < delta {
        i32::MAX.wrapping_sub(delta.wrapping_sub(last)).wrapping_add(1)
    } else {
        last.wrapping_sub(delta)
    }
}

/// Kafka's `dumpProducerIdSnapshot` line per producer.
fn snapshot_entries(out: &mut Out, path: &Path, name: &str, data: &[u8]) -> usize {
    let entries = match producer_snapshot::decode(data) {
        Ok(entries) => entries,
        Err(e) => return problem(path, &format!("not a producer-state snapshot: {e}")),
    };
    for e in entries {
        let txn_first = (e.current_txn_first_offset >= 0).then_some(e.current_txn_first_offset);
        // Kafka keeps batch metadata only for an entry with a batch (lastOffset >= 0).
        let batch = (e.last_offset >= 0).then(|| {
            (first_sequence(e.last_sequence, e.offset_delta), e.last_sequence, e.last_offset)
        });
        let mut line = Json::object()
            .with("type", "snapshot")
            .with("file", name)
            .with("producerId", e.producer_id)
            .with("producerEpoch", e.epoch)
            .with("coordinatorEpoch", e.coordinator_epoch)
            .with("currentTxnFirstOffset", txn_first.map_or(Json::Null, Json::from))
            .with("lastTimestamp", e.timestamp);
        for (key, value) in [
            ("firstSequence", batch.map(|b| i64::from(b.0))),
            ("lastSequence", batch.map(|b| i64::from(b.1))),
            ("lastOffset", batch.map(|b| b.2)),
            ("offsetDelta", batch.map(|_| i64::from(e.offset_delta))),
            ("timestamp", batch.map(|_| e.timestamp)),
        ] {
            line.push(key, value.map_or(Json::Null, Json::from));
        }
        out.line(&line, || {
            let mut s = format!(
                "producerId: {} producerEpoch: {} coordinatorEpoch: {} currentTxnFirstOffset: {} \
                 lastTimestamp: {}",
                e.producer_id,
                e.epoch,
                e.coordinator_epoch,
                optional_long(txn_first),
                e.timestamp
            );
            if let Some((first, last, offset)) = batch {
                s.push_str(&format!(
                    " firstSequence: {first} lastSequence: {last} lastOffset: {offset} \
                     offsetDelta: {} timestamp: {}",
                    e.offset_delta, e.timestamp
                ));
            }
            s
        });
    }
    0
}

/// One line per partition of an offset checkpoint, in (topic, partition) order.
fn offset_checkpoint(out: &mut Out, path: &Path, name: &str, data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else {
        return problem(path, "not an offset checkpoint: not UTF-8");
    };
    let offsets = match checkpoint::decode(text) {
        Ok(offsets) => offsets,
        Err(e) => return problem(path, &format!("not an offset checkpoint: {e}")),
    };
    for ((topic, partition), offset) in offsets {
        let line = Json::object()
            .with("type", "offset-checkpoint")
            .with("file", name)
            .with("topic", topic.as_str())
            .with("partition", partition)
            .with("offset", offset);
        out.line(&line, || format!("topic: {topic} partition: {partition} offset: {offset}"));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_come_from_names_as_kafkas_tool_decides() {
        assert_eq!(Kind::of("00000000000000000042.log"), Kind::Log(42));
        assert_eq!(Kind::of("00000000000000000042.log.deleted"), Kind::Log(42));
        assert_eq!(Kind::of("00000000000000000042.index"), Kind::Index(42));
        assert_eq!(Kind::of("00000000000000000042.timeindex"), Kind::TimeIndex(42));
        assert_eq!(Kind::of("00000000000000000042.txnindex"), Kind::TxnIndex(42));
        assert_eq!(Kind::of("00000000000000000006.snapshot"), Kind::ProducerSnapshot);
        assert_eq!(Kind::of("recovery-point-offset-checkpoint"), Kind::OffsetCheckpoint);
        assert_eq!(Kind::of("cleaner-offset-checkpoint"), Kind::OffsetCheckpoint);
        assert_eq!(Kind::of("leader-epoch-checkpoint"), Kind::LeaderEpochCheckpoint);
        assert_eq!(Kind::of("partition.metadata"), Kind::PartitionMetadata);
        assert_eq!(
            Kind::of("00000000000000001234-0000000005.checkpoint"),
            Kind::KraftSnapshot(1234, 5)
        );
        assert_eq!(Kind::of("meta.properties"), Kind::Unknown);
        assert_eq!(Kind::of("42.log"), Kind::Unknown);
    }

    #[test]
    fn first_sequence_wraps_as_kafkas_decrement_sequence() {
        assert_eq!(first_sequence(9, 4), 5);
        assert_eq!(first_sequence(2, 4), i32::MAX - 1);
        // Any values a snapshot holds, as Java's wrapping `int` gives them
        // (`lastSequence = i32::MIN, offsetDelta = 1` overflowed: a panic
        // in debug builds).
        assert_eq!(first_sequence(i32::MIN, 1), -1);
        assert_eq!(first_sequence(i32::MAX, i32::MIN), -1);
    }
}
