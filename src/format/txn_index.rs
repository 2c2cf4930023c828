//! Kafka's transaction index `<base>.txnindex`, pure encoding
//! (`AbortedTxn`, `TransactionIndex`): one fixed-size entry per aborted
//! transaction whose ABORT marker lies in the segment, in marker order.
//!
//! | bytes | field            | type                                           |
//! |------:|------------------|------------------------------------------------|
//! | 0-1   | version          | int16 = 0                                      |
//! | 2-9   | producerId       | int64                                          |
//! | 10-17 | firstOffset      | int64, the transaction's first offset          |
//! | 18-25 | lastOffset       | int64, the ABORT marker's offset               |
//! | 26-33 | lastStableOffset | int64, the partition's LSO once it completed   |
//!
//! There is no header and no checksum. The file grows by whole entries; a
//! torn last entry (fewer than 34 bytes) is not an entry, as Kafka's reader
//! stops where less than a full entry remains. `lastOffset` strictly
//! increases from entry to entry, and no entry lies below the segment's base
//! offset (Kafka's `sanityCheck`).

use super::batch::array as be;
use super::{FormatError, FormatResult};

/// Entry version strata reads and writes (Kafka's `AbortedTxn.CURRENT_VERSION`).
pub const TXN_INDEX_VERSION: i16 = 0;
const VERSION_AT: usize = 0;
const PRODUCER_ID_AT: usize = VERSION_AT + 2;
const FIRST_OFFSET_AT: usize = PRODUCER_ID_AT + 8;
const LAST_OFFSET_AT: usize = FIRST_OFFSET_AT + 8;
const LAST_STABLE_OFFSET_AT: usize = LAST_OFFSET_AT + 8;
/// Bytes per entry.
pub const ENTRY_SIZE: usize = LAST_STABLE_OFFSET_AT + 8;

/// The longest `.txnindex` of a segment whose `.log` is `log_len` bytes
/// long: an entry per ABORT marker in the segment (Kafka's
/// `UnifiedLog.append` and its cleaner add an entry to the segment that
/// holds the marker), each marker a batch of at least
/// [`BATCH_OVERHEAD`](super::layout::BATCH_OVERHEAD) bytes, and one entry
/// more for rounding.
#[must_use]
pub fn max_file_len(log_len: u64) -> u64 {
    let markers = log_len / super::layout::BATCH_OVERHEAD as u64 + 1;
    markers.saturating_mul(ENTRY_SIZE as u64)
}

/// One aborted transaction, as the `.txnindex` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTxn {
    /// The transaction's producer.
    pub producer_id: i64,
    /// Offset of the transaction's first batch.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset once the abort was written: the
    /// first offset of the earliest other open transaction, else
    /// `last_offset + 1`. A fetch that ends at or below it needs no later
    /// segment's index.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// The entry's 34 bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        let fields: [(usize, &[u8]); 5] = [
            (VERSION_AT, &TXN_INDEX_VERSION.to_be_bytes()),
            (PRODUCER_ID_AT, &self.producer_id.to_be_bytes()),
            (FIRST_OFFSET_AT, &self.first_offset.to_be_bytes()),
            (LAST_OFFSET_AT, &self.last_offset.to_be_bytes()),
            (LAST_STABLE_OFFSET_AT, &self.last_stable_offset.to_be_bytes()),
        ];
        for (at, bytes) in fields {
            if let Some(slot) = b.get_mut(at..at + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
        }
        b
    }
}

/// A `.txnindex` file's entries, or what is wrong with the first bad one:
/// its byte position and the error.
///
/// # Errors
/// An entry of an unknown version, a `lastOffset` below `base_offset` or not
/// above the previous entry's, or a `firstOffset` above its `lastOffset`.
pub fn decode(bytes: &[u8], base_offset: i64) -> Result<Vec<AbortedTxn>, (usize, FormatError)> {
    let mut out: Vec<AbortedTxn> = Vec::with_capacity(bytes.len() / ENTRY_SIZE);
    for (i, e) in bytes.chunks_exact(ENTRY_SIZE).enumerate() {
        let at = i * ENTRY_SIZE;
        let entry = decode_entry(e).map_err(|err| (at, err))?;
        let invalid =
            |field, value, reason| (at, FormatError::InvalidValue { field, value, reason });
        if entry.last_offset < base_offset {
            return Err(invalid(
                "txnindex.lastOffset",
                entry.last_offset,
                "below the segment's base offset",
            ));
        }
        if out.last().is_some_and(|p| p.last_offset >= entry.last_offset) {
            return Err(invalid(
                "txnindex.lastOffset",
                entry.last_offset,
                "not above the previous entry's",
            ));
        }
        if entry.first_offset > entry.last_offset {
            return Err(invalid(
                "txnindex.firstOffset",
                entry.first_offset,
                "above the entry's lastOffset",
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

fn decode_entry(e: &[u8]) -> FormatResult<AbortedTxn> {
    let version = i16::from_be_bytes(be(e, VERSION_AT, "txnindex.version")?);
    if version != TXN_INDEX_VERSION {
        return Err(FormatError::InvalidValue {
            field: "txnindex.version",
            value: version.into(),
            reason: "only version 0 exists",
        });
    }
    Ok(AbortedTxn {
        producer_id: i64::from_be_bytes(be(e, PRODUCER_ID_AT, "txnindex.producerId")?),
        first_offset: i64::from_be_bytes(be(e, FIRST_OFFSET_AT, "txnindex.firstOffset")?),
        last_offset: i64::from_be_bytes(be(e, LAST_OFFSET_AT, "txnindex.lastOffset")?),
        last_stable_offset: i64::from_be_bytes(be(
            e,
            LAST_STABLE_OFFSET_AT,
            "txnindex.lastStableOffset",
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn entry_is_kafkas_34_bytes_big_endian() {
        let b = entry(0x0102_0304_0506_0708, 5, 9).encode();
        assert_eq!(b.len(), 34);
        assert_eq!(&b[0..2], &[0, 0]);
        assert_eq!(&b[2..10], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[10..18], &5i64.to_be_bytes());
        assert_eq!(&b[18..26], &9i64.to_be_bytes());
        assert_eq!(&b[26..34], &10i64.to_be_bytes());
    }

    #[test]
    fn entries_round_trip_and_a_torn_tail_is_not_an_entry() {
        let mut file = Vec::new();
        file.extend_from_slice(&entry(1, 0, 4).encode());
        file.extend_from_slice(&entry(2, 3, 8).encode());
        file.extend_from_slice(&[0u8; 20]);
        assert_eq!(decode(&file, 0).unwrap(), vec![entry(1, 0, 4), entry(2, 3, 8)]);
    }

    #[test]
    fn bad_entries_are_named_with_their_position() {
        let mut file = entry(1, 0, 4).encode().to_vec();
        file.extend_from_slice(&entry(2, 0, 4).encode());
        assert!(matches!(decode(&file, 0), Err((34, FormatError::InvalidValue { .. }))));
        assert!(matches!(decode(&entry(1, 0, 4).encode(), 10), Err((0, _))));
        let mut v1 = entry(1, 0, 4).encode();
        v1[1] = 1;
        assert!(matches!(
            decode(&v1, 0),
            Err((0, FormatError::InvalidValue { field: "txnindex.version", .. }))
        ));
    }
}
