//! The crate's one error type.
//!
//! Corruption is never folded into I/O: a torn or damaged file is
//! [`Error::Corrupt`] with the file and byte position, so an operator can
//! tell "the disk failed" from "the bytes are wrong".

use std::path::PathBuf;

use thiserror::Error;

use crate::format::FormatError;

/// Everything that can go wrong in strata.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `write`, `fsync`, `rename`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk are not valid Kafka format.
    #[error("corrupt data in {path} at byte {position}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte position of the batch or entry that failed.
        position: u64,
        /// What was wrong with it.
        #[source]
        source: FormatError,
    },
    /// An index or checkpoint file violates its invariants.
    #[error("corrupt {path}: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// A batch handed to `append` is not a valid v2 batch.
    #[error("invalid batch: {source}")]
    InvalidBatch {
        /// What was wrong with it.
        #[source]
        source: FormatError,
    },
    /// A batch handed to `append` is well-formed but breaks a rule of the log.
    #[error("invalid record: {reason}")]
    InvalidRecord {
        /// What rule it broke.
        reason: String,
    },
    /// A batch is larger than `max.message.bytes` (or `segment.bytes`).
    #[error("batch of {size} bytes is larger than {limit_name} = {limit}")]
    RecordTooLarge {
        /// The batch size in bytes.
        size: usize,
        /// The config that limits it.
        limit_name: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A record timestamp is outside `message.timestamp.before/after.max.ms`.
    #[error("timestamp {timestamp} is {reason} (now {now})")]
    InvalidTimestamp {
        /// The offending timestamp.
        timestamp: i64,
        /// The clock at validation.
        now: i64,
        /// Which bound it broke.
        reason: String,
    },
    /// An offset below the log start offset or above the log end offset.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: i64,
        /// First readable offset.
        log_start_offset: i64,
        /// Next offset to be written.
        log_end_offset: i64,
    },
    /// A previous fsync or write failed; the partition refuses further writes.
    #[error("partition {partition} is poisoned by an earlier failure: {cause}")]
    Poisoned {
        /// The partition (`topic-N`).
        partition: String,
        /// The failure that poisoned it.
        cause: String,
    },
    /// A config key is unknown or its value is invalid.
    #[error("config {key}={value}: {reason}")]
    InvalidConfig {
        /// Kafka's name of the key.
        key: String,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A topic name breaks Kafka's rules or collides with another.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic {
        /// The name.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A topic that already exists.
    #[error("topic {topic} already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// A topic or partition that does not exist (Kafka's
    /// `UNKNOWN_TOPIC_OR_PARTITION`). Displays as `unknown topic T` when the
    /// topic itself is unknown, `unknown topic or partition: T-N` otherwise.
    #[error("{}", unknown_partition_message(topic, *partition))]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition, or -1 when the topic itself is unknown.
        partition: i32,
    },
    /// The requested change is not allowed (e.g. shrinking a topic).
    #[error("{0}")]
    InvalidRequest(String),
    /// Another process or `Store` holds the log directory, or a log of this
    /// process already has the partition directory open.
    #[error("{path} is locked: {detail}")]
    DirectoryLocked {
        /// The log directory or partition directory.
        path: PathBuf,
        /// What the lock call said.
        detail: String,
    },
    /// An idempotent producer's batch does not continue its sequence.
    #[error("producer {producer_id}: out-of-order sequence {found}, expected {expected}")]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The sequence the log expected next.
        expected: i32,
        /// The batch's first sequence.
        found: i32,
    },
    /// A batch from an older producer epoch than the log has seen (a fenced producer).
    #[error("producer {producer_id}: epoch {epoch} is fenced by the current epoch {current}")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The newest epoch seen.
        current: i16,
    },
    /// A transaction marker from a coordinator older than the one that wrote
    /// the producer's last marker (Kafka's `TransactionCoordinatorFencedException`).
    #[error(
        "producer {producer_id}: coordinator epoch {coordinator_epoch} is older than {current}, which wrote its last marker"
    )]
    TransactionCoordinatorFenced {
        /// The producer.
        producer_id: i64,
        /// The marker's coordinator epoch.
        coordinator_epoch: i32,
        /// The coordinator epoch of the producer's last marker.
        current: i32,
    },
    /// A transactional producer's batch breaks the transaction protocol.
    #[error("producer {producer_id}: {reason}")]
    InvalidTxnState {
        /// The producer.
        producer_id: i64,
        /// What was wrong.
        reason: String,
    },
    /// A log directory failed; its partitions are offline, the others keep working.
    #[error("log directory {path} is offline: {cause}")]
    LogDirOffline {
        /// The directory.
        path: PathBuf,
        /// The failure that took it offline.
        cause: String,
    },
    /// A partition could not be opened; the rest of the store serves.
    #[error("partition {partition} ({path}) is offline: {cause}")]
    PartitionOffline {
        /// The partition (`topic-N`).
        partition: String,
        /// Its directory.
        path: PathBuf,
        /// Why opening it failed (naming the file).
        cause: String,
    },
    /// The disk holding `path` is full (`ENOSPC`, or the quota's `EDQUOT`),
    /// or its free space is below `strata.log.dir.min.free.bytes`. Nothing of
    /// a failed write or roll stays: a partial write was cut back to the
    /// last whole batch. From a sync (a flush, or a `strata.durability=sync`
    /// append waiting for one) it means the records were written but are not
    /// yet durable: the recovery point did not move, and a later sync makes
    /// them durable. **Retriable**: the partition is not poisoned, and
    /// the same call succeeds once space is freed (retention, DeleteRecords
    /// and compaction keep running meanwhile). See [`Error::is_retriable`].
    #[error("no space for {path}: {reason}")]
    NoSpace {
        /// The file that could not grow (or the directory below the watermark).
        path: PathBuf,
        /// What ran out.
        reason: String,
    },
    /// The store or partition was closed, or the file a handle opened is no
    /// longer at its name (the handle is stale: its topic was deleted, or its
    /// store closed and another store changed the directory). Match it with
    /// `Error::Closed { .. }`.
    #[error(
        "{what} is closed (its log or its store was closed, or the handle is stale); open the store again for new handles"
    )]
    Closed {
        /// What was closed: `partition T-N (DIR)` for a log (and a store's
        /// call about one partition), `the store (DIR, ...)` with its log
        /// directories, or the file a segment's or index's handle had
        /// (`DIR/00000000000000000000.log`, its partition's directory).
        what: String,
    },
    /// One partition has a directory in two log directories (Kafka refuses
    /// to start too): which copy is current cannot be told.
    #[error("partition {partition} is in two log directories: {first} and {second}")]
    DuplicatePartition {
        /// The partition (`topic-N`).
        partition: String,
        /// One copy.
        first: PathBuf,
        /// The other copy.
        second: PathBuf,
    },
    /// The log directories' copies of `strata-topics` (the store's topics
    /// and their configs, one copy in each) cannot be reconciled, or a log
    /// directory holds a partition of a topic the store's copy does not
    /// list: refused at open, before anything is loaded, rather than run
    /// under guessed configs.
    #[error("store metadata conflict at {path}: {reason}")]
    StoreMetadataConflict {
        /// The copy or partition directory refused.
        path: PathBuf,
        /// What disagrees, and what to do about it.
        reason: String,
    },
    /// The store was opened read-only ([`crate::store::Store::open_read_only`]):
    /// it never writes, so this operation is refused.
    #[error("refused: the store is open read-only")]
    ReadOnly,
}

/// The text of [`Error::UnknownPartition`]: -1 is the sentinel for "no
/// partition applies", never shown as a partition number (`nope--1`).
fn unknown_partition_message(topic: &str, partition: i32) -> String {
    if partition == -1 {
        format!("unknown topic {topic}")
    } else {
        format!("unknown topic or partition: {topic}-{partition}")
    }
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the operation and path it came from.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    /// Whether the same call may succeed later with nothing else changed by
    /// the caller: true for [`Error::NoSpace`] only.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::NoSpace { .. })
    }

    /// The [`Error::NoSpace`] for an I/O error that says the disk is full;
    /// any other error as it was.
    #[must_use]
    pub fn into_no_space(self) -> Self {
        match self {
            Error::Io { op, path, source } if crate::io::file::is_no_space(&source) => {
                Error::NoSpace { path, reason: format!("{op}: {source}") }
            }
            e => e,
        }
    }

    /// [`Error::Closed`] naming what was closed.
    pub(crate) fn closed(what: impl Into<String>) -> Self {
        Error::Closed { what: what.into() }
    }

    /// [`Error::Closed`] naming a partition (`T-N`) and its directory.
    pub(crate) fn closed_partition(name: &str, dir: &std::path::Path) -> Self {
        Error::Closed { what: format!("partition {name} ({})", dir.display()) }
    }

    /// [`Error::Closed`] naming a file (a segment's or an index's).
    pub(crate) fn closed_file(path: &std::path::Path) -> Self {
        Error::Closed { what: path.display().to_string() }
    }

    /// Wraps a format error with the file and position it was found at.
    pub fn corrupt(path: impl Into<PathBuf>, position: u64, source: FormatError) -> Self {
        Error::Corrupt { path: path.into(), position, source }
    }
}
