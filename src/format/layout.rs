//! Byte offsets of the v2 batch header, each derived from the previous field.
//!
//! Mirrors the constants of Kafka's `DefaultRecordBatch` and `Records`.

/// `baseOffset`: int64.
pub const BASE_OFFSET: usize = 0;
const BASE_OFFSET_LEN: usize = 8;
/// `batchLength`: int32, bytes after this field.
pub const LENGTH: usize = BASE_OFFSET + BASE_OFFSET_LEN;
const LENGTH_LEN: usize = 4;
/// `baseOffset` + `batchLength`: what precedes the counted bytes (Kafka's `LOG_OVERHEAD`).
pub const LOG_OVERHEAD: usize = LENGTH + LENGTH_LEN;
/// `partitionLeaderEpoch`: int32.
pub const PARTITION_LEADER_EPOCH: usize = LOG_OVERHEAD;
const PARTITION_LEADER_EPOCH_LEN: usize = 4;
/// `magic`: int8.
pub const MAGIC: usize = PARTITION_LEADER_EPOCH + PARTITION_LEADER_EPOCH_LEN;
const MAGIC_LEN: usize = 1;
/// Bytes needed to frame any batch, v0-v2 (Kafka's `HEADER_SIZE_UP_TO_MAGIC`).
pub const HEADER_SIZE_UP_TO_MAGIC: usize = MAGIC + MAGIC_LEN;
/// `crc`: uint32, CRC-32C of [`ATTRIBUTES`]..end.
pub const CRC: usize = MAGIC + MAGIC_LEN;
const CRC_LEN: usize = 4;
/// `attributes`: int16.
pub const ATTRIBUTES: usize = CRC + CRC_LEN;
const ATTRIBUTES_LEN: usize = 2;
/// `lastOffsetDelta`: int32.
pub const LAST_OFFSET_DELTA: usize = ATTRIBUTES + ATTRIBUTES_LEN;
const LAST_OFFSET_DELTA_LEN: usize = 4;
/// `baseTimestamp`: int64.
pub const BASE_TIMESTAMP: usize = LAST_OFFSET_DELTA + LAST_OFFSET_DELTA_LEN;
const BASE_TIMESTAMP_LEN: usize = 8;
/// `maxTimestamp`: int64.
pub const MAX_TIMESTAMP: usize = BASE_TIMESTAMP + BASE_TIMESTAMP_LEN;
const MAX_TIMESTAMP_LEN: usize = 8;
/// `producerId`: int64.
pub const PRODUCER_ID: usize = MAX_TIMESTAMP + MAX_TIMESTAMP_LEN;
const PRODUCER_ID_LEN: usize = 8;
/// `producerEpoch`: int16.
pub const PRODUCER_EPOCH: usize = PRODUCER_ID + PRODUCER_ID_LEN;
const PRODUCER_EPOCH_LEN: usize = 2;
/// `baseSequence`: int32.
pub const BASE_SEQUENCE: usize = PRODUCER_EPOCH + PRODUCER_EPOCH_LEN;
const BASE_SEQUENCE_LEN: usize = 4;
/// `recordsCount`: int32.
pub const RECORDS_COUNT: usize = BASE_SEQUENCE + BASE_SEQUENCE_LEN;
const RECORDS_COUNT_LEN: usize = 4;
/// First byte of the records section; also the smallest legal v2 batch
/// (Kafka's `RECORD_BATCH_OVERHEAD`, 61).
pub const RECORDS: usize = RECORDS_COUNT + RECORDS_COUNT_LEN;
/// Smallest legal v2 batch in bytes.
pub const BATCH_OVERHEAD: usize = RECORDS;
/// The only magic strata writes.
pub const MAGIC_V2: i8 = 2;
/// Smallest `batchLength` Kafka's framing accepts before reading the magic
/// (`LegacyRecord.RECORD_OVERHEAD_V0`): below it, framing fails as corrupt.
pub const MIN_FRAMED_LENGTH: i32 = 14;

/// Attribute bits (low byte of `attributes`).
pub mod attr {
    /// Codec bits 0-2.
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// Bit 3: LogAppendTime.
    pub const TIMESTAMP_TYPE: i16 = 0x08;
    /// Bit 4: transactional.
    pub const TRANSACTIONAL: i16 = 0x10;
    /// Bit 5: control batch.
    pub const CONTROL: i16 = 0x20;
    /// Bit 6: `baseTimestamp` holds the compaction delete horizon (KIP-534).
    pub const DELETE_HORIZON: i16 = 0x40;
}

/// Byte offsets of Kafka's producer-state snapshot (`<offset>.snapshot`,
/// `ProducerStateManager`'s schema version 1), each derived from the
/// previous field as the batch header's are.
pub mod producer_snapshot {
    /// `version`: int16 (1).
    pub const VERSION: usize = 0;
    const VERSION_LEN: usize = 2;
    /// `crc`: uint32, CRC-32C of [`ENTRY_COUNT`]..end.
    pub const CRC: usize = VERSION + VERSION_LEN;
    const CRC_LEN: usize = 4;
    /// `count`: int32, entries that follow.
    pub const ENTRY_COUNT: usize = CRC + CRC_LEN;
    const ENTRY_COUNT_LEN: usize = 4;
    /// First entry; also the size of an empty snapshot.
    pub const ENTRIES: usize = ENTRY_COUNT + ENTRY_COUNT_LEN;

    /// Offsets inside one entry.
    pub mod entry {
        /// `producerId`: int64.
        pub const PRODUCER_ID: usize = 0;
        const PRODUCER_ID_LEN: usize = 8;
        /// `epoch`: int16.
        pub const EPOCH: usize = PRODUCER_ID + PRODUCER_ID_LEN;
        const EPOCH_LEN: usize = 2;
        /// `lastSequence`: int32.
        pub const LAST_SEQUENCE: usize = EPOCH + EPOCH_LEN;
        const LAST_SEQUENCE_LEN: usize = 4;
        /// `lastOffset`: int64.
        pub const LAST_OFFSET: usize = LAST_SEQUENCE + LAST_SEQUENCE_LEN;
        const LAST_OFFSET_LEN: usize = 8;
        /// `offsetDelta`: int32.
        pub const OFFSET_DELTA: usize = LAST_OFFSET + LAST_OFFSET_LEN;
        const OFFSET_DELTA_LEN: usize = 4;
        /// `timestamp`: int64.
        pub const TIMESTAMP: usize = OFFSET_DELTA + OFFSET_DELTA_LEN;
        const TIMESTAMP_LEN: usize = 8;
        /// `coordinatorEpoch`: int32.
        pub const COORDINATOR_EPOCH: usize = TIMESTAMP + TIMESTAMP_LEN;
        const COORDINATOR_EPOCH_LEN: usize = 4;
        /// `currentTxnFirstOffset`: int64 (-1: none).
        pub const CURRENT_TXN_FIRST_OFFSET: usize = COORDINATOR_EPOCH + COORDINATOR_EPOCH_LEN;
        const CURRENT_TXN_FIRST_OFFSET_LEN: usize = 8;
        /// Bytes per entry.
        pub const SIZE: usize = CURRENT_TXN_FIRST_OFFSET + CURRENT_TXN_FIRST_OFFSET_LEN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_offsets_match_kafka_constants() {
        assert_eq!((LENGTH, PARTITION_LEADER_EPOCH, MAGIC, CRC, ATTRIBUTES), (8, 12, 16, 17, 21));
        assert_eq!((LAST_OFFSET_DELTA, BASE_TIMESTAMP, MAX_TIMESTAMP), (23, 27, 35));
        assert_eq!((PRODUCER_ID, PRODUCER_EPOCH, BASE_SEQUENCE, RECORDS_COUNT), (43, 51, 53, 57));
        assert_eq!(BATCH_OVERHEAD, 61);
    }

    #[test]
    fn producer_snapshot_offsets_match_kafkas_schema() {
        use producer_snapshot::{CRC, ENTRIES, ENTRY_COUNT, entry};
        assert_eq!((CRC, ENTRY_COUNT, ENTRIES), (2, 6, 10));
        assert_eq!((entry::EPOCH, entry::LAST_SEQUENCE, entry::LAST_OFFSET), (8, 10, 14));
        assert_eq!((entry::OFFSET_DELTA, entry::TIMESTAMP, entry::COORDINATOR_EPOCH), (22, 26, 34));
        assert_eq!((entry::CURRENT_TXN_FIRST_OFFSET, entry::SIZE), (38, 46));
    }
}
