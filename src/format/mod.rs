//! Kafka's record format, pure: no files, locks or clock.
//!
//! A `.log` file is a concatenation of RecordBatch v2 ("magic 2") batches with
//! no file header and no padding. This module reads and writes those bytes
//! exactly as Kafka does:
//!
//! - [`varint`]: zig-zag varints and varlongs, with bounded decoding;
//! - [`Record`] / [`RecordRef`]: one record to write / one record read back;
//! - [`BorrowedRecord`]: a record to write over borrowed slices, encoded
//!   straight into the batch ([`RecordParts`] covers both kinds);
//! - [`BatchView`]: a zero-copy view of one batch over [`bytes::Bytes`], every
//!   header field, [`BatchView::validate`] and lazy record iteration;
//! - [`BatchBuilder`]: records to batch bytes, with compression, producer
//!   state, timestamp type, transactions and control markers;
//! - [`BatchIter`]: walks a region of concatenated batches and stops at a torn
//!   or corrupt tail, reporting the valid length and why it stopped;
//! - [`compression`]: gzip, snappy (xerial framing), lz4 (frame) and zstd;
//! - [`legacy`]: reading Kafka's magic 0/1 message sets, which segments of
//!   upgraded brokers still hold ([`BatchIter`] yields them as views);
//! - [`file_name`]: 20-digit segment file names and `topic-N` directory names.
//!
//! Layout of a v2 batch (big-endian; Kafka's `DefaultRecordBatch`):
//!
//! | offset | width | field                | CRC? |
//! |-------:|------:|----------------------|------|
//! |      0 |     8 | baseOffset           | no   |
//! |      8 |     4 | batchLength (= size - 12) | no |
//! |     12 |     4 | partitionLeaderEpoch | no   |
//! |     16 |     1 | magic (2)            | no   |
//! |     17 |     4 | crc (CRC-32C of 21..end) | -  |
//! |     21 |     2 | attributes           | yes  |
//! |     23 |     4 | lastOffsetDelta      | yes  |
//! |     27 |     8 | baseTimestamp        | yes  |
//! |     35 |     8 | maxTimestamp         | yes  |
//! |     43 |     8 | producerId           | yes  |
//! |     51 |     2 | producerEpoch        | yes  |
//! |     53 |     4 | baseSequence         | yes  |
//! |     57 |     4 | recordsCount         | yes  |
//! |     61 |     - | records (maybe compressed) | yes |
//!
//! The byte offsets are derived one from the other in [`layout`].

pub mod batch;
pub mod batch_iter;
pub mod borrowed;
pub mod builder;
pub mod compression;
pub mod control;
pub mod crc;
mod encode;
mod error;
pub mod file_name;
pub mod group_record;
pub mod index_entry;
pub mod layout;
pub mod leader_epoch;
pub mod legacy;
pub mod partition_metadata;
pub mod producer_snapshot;
pub mod record;
mod record_walk;
pub mod txn_index;
mod types;
pub mod varint;
pub(crate) mod walk;

pub use batch::{BatchView, DecodedBatch, RecordViews};
pub use batch_iter::{BatchIter, StopReason};
pub use borrowed::{BorrowedHeader, BorrowedRecord, RecordParts};
pub use builder::BatchBuilder;
pub use control::{ControlRecord, ControlType};
pub use error::{FormatError, FormatResult};
pub use partition_metadata::TopicId;
pub use record::{Header, HeaderView, HeaderViews, Record, RecordRef, RecordView};
pub use types::{Compression, TimestampType};

/// Kafka's "no timestamp" sentinel (`RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;
/// Kafka's "no producer id" sentinel.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's "no producer epoch" sentinel.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Kafka's "no sequence" sentinel.
pub const NO_SEQUENCE: i32 = -1;
/// Kafka's "no partition leader epoch" sentinel.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
