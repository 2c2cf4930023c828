//! Kafka's producer-state snapshot file `<offset>.snapshot`, pure encoding
//! (`ProducerStateManager.writeSnapshot` / `readSnapshot`, schema
//! `ProducerSnapshot.json` version 1).
//!
//! | bytes | field       | type                              |
//! |------:|-------------|-----------------------------------|
//! | 0-1   | version     | int16 = 1                         |
//! | 2-5   | crc         | uint32, CRC-32C of bytes 6..end   |
//! | 6-9   | entry count | int32                             |
//! | 10-   | entries     | 46 bytes each, below              |
//!
//! Entry: producerId int64, epoch int16, lastSequence int32, lastOffset
//! int64, offsetDelta int32, timestamp int64, coordinatorEpoch int32,
//! currentTxnFirstOffset int64 (-1 = none). Only the last batch of each
//! producer is kept; `lastOffset < 0` means the producer has no batch.

use bytes::BufMut;

use super::batch::array;
use super::layout::producer_snapshot::{CRC, ENTRIES, ENTRY_COUNT, VERSION, entry};
use super::{FormatError, FormatResult};

/// Snapshot format version strata reads and writes.
pub const SNAPSHOT_VERSION: i16 = 1;
/// Bytes per entry.
pub const ENTRY_SIZE: usize = entry::SIZE;
/// Bytes before the first entry: version, CRC, entry count.
pub const HEADER_SIZE: usize = ENTRIES;

/// One producer in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the last record of its last batch.
    pub last_sequence: i32,
    /// Offset of the last record of its last batch (-1: no batch).
    pub last_offset: i64,
    /// `lastOffset - firstOffset` of that batch.
    pub offset_delta: i32,
    /// maxTimestamp of its last batch or marker.
    pub timestamp: i64,
    /// Epoch of the transaction coordinator that wrote its last marker (-1 none).
    pub coordinator_epoch: i32,
    /// First offset of its open transaction, -1 when none.
    pub current_txn_first_offset: i64,
}

/// The length of [`encode`]'s output for `count` entries.
#[must_use]
pub fn encoded_len(count: usize) -> u64 {
    let count = u64::try_from(count).unwrap_or(u64::MAX);
    count.saturating_mul(ENTRY_SIZE as u64).saturating_add(ENTRIES as u64)
}

/// Reads a big-endian field of the snapshot through the format's field reader.
macro_rules! be {
    ($ty:ty, $b:expr, $at:expr, $field:literal) => {
        <$ty>::from_be_bytes(array($b, $at, $field)?)
    };
}

/// Encodes a snapshot.
#[must_use]
pub fn encode(entries: &[SnapshotEntry]) -> Vec<u8> {
    let mut b = Vec::with_capacity(ENTRIES + entries.len() * ENTRY_SIZE);
    b.put_i16(SNAPSHOT_VERSION);
    b.put_u32(0);
    b.put_i32(i32::try_from(entries.len()).unwrap_or(i32::MAX));
    for e in entries.iter().take(i32::MAX as usize) {
        encode_entry(e, &mut b);
    }
    let crc = crc32c::crc32c(b.get(ENTRY_COUNT..).unwrap_or_default());
    if let Some(s) = b.get_mut(CRC..ENTRY_COUNT) {
        s.copy_from_slice(&crc.to_be_bytes());
    }
    b
}

/// Appends one entry's 46 bytes to `b`: [`encode`] one entry at a time, for
/// a writer that streams the entries and puts the [`header`] last.
pub fn encode_entry(e: &SnapshotEntry, b: &mut Vec<u8>) {
    // Field order is the layout's (`layout::producer_snapshot::entry`).
    b.put_i64(e.producer_id);
    b.put_i16(e.epoch);
    b.put_i32(e.last_sequence);
    b.put_i64(e.last_offset);
    b.put_i32(e.offset_delta);
    b.put_i64(e.timestamp);
    b.put_i32(e.coordinator_epoch);
    b.put_i64(e.current_txn_first_offset);
}

/// The first [`HEADER_SIZE`] bytes of a snapshot of `count` entries whose bytes
/// from the entry count on (the count's four, then the entries) have the
/// CRC-32C `crc`: version, CRC, count.
#[must_use]
pub fn header(count: i32, crc: u32) -> [u8; HEADER_SIZE] {
    let mut h = [0; HEADER_SIZE];
    let mut b = &mut h[..];
    b.put_i16(SNAPSHOT_VERSION);
    b.put_u32(crc);
    b.put_i32(count);
    h
}

/// A snapshot's header, read by a reader that streams the entries after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The CRC the file claims for its bytes from the entry count on.
    pub crc: u32,
    /// The entry count it claims.
    pub count: i32,
    /// The file length that count makes: the header plus 46 bytes an entry
    /// (`None` for a negative count, which no file has).
    pub expected_len: Option<u64>,
}

/// Reads a snapshot's header: [`decode`]'s checks that need no more than
/// its first [`HEADER_SIZE`] bytes. The caller checks `expected_len` against the
/// file and the CRC over the rest before it trusts any entry.
///
/// # Errors
/// Fewer than [`HEADER_SIZE`] bytes, or an unknown version.
pub fn decode_header(b: &[u8]) -> FormatResult<Header> {
    let version = be!(i16, b, VERSION, "snapshot.version");
    if version != SNAPSHOT_VERSION {
        return Err(version_error(version));
    }
    let crc = be!(u32, b, CRC, "snapshot.crc");
    let count = be!(i32, b, ENTRY_COUNT, "snapshot.count");
    let expected_len = u64::try_from(count).ok().map(|c| c * ENTRY_SIZE as u64 + ENTRIES as u64);
    Ok(Header { crc, count, expected_len })
}

fn version_error(version: i16) -> FormatError {
    FormatError::InvalidValue {
        field: "snapshot.version",
        value: version.into(),
        reason: "only version 1 exists",
    }
}

/// Decodes a snapshot.
///
/// # Errors
/// An unknown version, a CRC mismatch, or a length that does not match the count.
pub fn decode(b: &[u8]) -> FormatResult<Vec<SnapshotEntry>> {
    let version = be!(i16, b, VERSION, "snapshot.version");
    if version != SNAPSHOT_VERSION {
        return Err(version_error(version));
    }
    let stored = be!(u32, b, CRC, "snapshot.crc");
    let computed = crc32c::crc32c(b.get(ENTRY_COUNT..).unwrap_or_default());
    if stored != computed {
        return Err(FormatError::SnapshotCrcMismatch { stored, computed });
    }
    let count = be!(i32, b, ENTRY_COUNT, "snapshot.count");
    let expected = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(ENTRY_SIZE))
        .and_then(|n| n.checked_add(ENTRIES));
    if expected != Some(b.len()) {
        return Err(FormatError::InvalidValue {
            field: "snapshot.count",
            value: count.into(),
            reason: "does not match the file length",
        });
    }
    b.get(ENTRIES..).unwrap_or_default().chunks_exact(ENTRY_SIZE).map(decode_entry).collect()
}

/// Decodes one entry's 46 bytes.
///
/// # Errors
/// Fewer than 46 bytes.
pub fn decode_entry(e: &[u8]) -> FormatResult<SnapshotEntry> {
    Ok(SnapshotEntry {
        producer_id: be!(i64, e, entry::PRODUCER_ID, "snapshot.producerId"),
        epoch: be!(i16, e, entry::EPOCH, "snapshot.epoch"),
        last_sequence: be!(i32, e, entry::LAST_SEQUENCE, "snapshot.lastSequence"),
        last_offset: be!(i64, e, entry::LAST_OFFSET, "snapshot.lastOffset"),
        offset_delta: be!(i32, e, entry::OFFSET_DELTA, "snapshot.offsetDelta"),
        timestamp: be!(i64, e, entry::TIMESTAMP, "snapshot.timestamp"),
        coordinator_epoch: be!(i32, e, entry::COORDINATOR_EPOCH, "snapshot.coordinatorEpoch"),
        current_txn_first_offset: be!(
            i64,
            e,
            entry::CURRENT_TXN_FIRST_OFFSET,
            "snapshot.currentTxnFirstOffset"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips_and_detects_damage() {
        let e = SnapshotEntry {
            producer_id: 4242,
            epoch: 3,
            last_sequence: 9,
            last_offset: 100,
            offset_delta: 4,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        };
        let bytes = encode(&[e, SnapshotEntry { producer_id: 7, ..e }]);
        assert_eq!(bytes.len(), 10 + 2 * 46);
        assert_eq!(decode(&bytes).unwrap().len(), 2);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(matches!(decode(&bad), Err(FormatError::SnapshotCrcMismatch { .. })));
        assert!(decode(&bytes[..50]).is_err());
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }
}
