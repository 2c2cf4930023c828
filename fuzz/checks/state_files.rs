//! What the `state_files` fuzz target claims about the decoders of the
//! partition's state files and of the group coordinator's records, as a plain
//! function so `tests/fuzz_corpus.rs` replays the corpus without cargo-fuzz.
//!
//! These are the bytes besides the batches that strata reads from a partition
//! directory (or from a `__consumer_offsets` log) it may not have written: a
//! directory handed over from a Kafka broker, or damaged on disk. The first
//! input byte picks the decoder (modulo the number of decoders), the rest is
//! the file or record:
//!
//! | byte | decoder                                            |
//! |-----:|----------------------------------------------------|
//! | 0    | `GroupKey::decode` (a `__consumer_offsets` key)     |
//! | 1    | `OffsetCommit::decode` (its value)                 |
//! | 2    | `producer_snapshot::decode` (`<offset>.snapshot`)  |
//! | 3    | `leader_epoch::decode` (`leader-epoch-checkpoint`) |
//! | 4    | `partition_metadata::decode` (`partition.metadata`) |
//! | 5    | `txn_index::decode` (`.txnindex`)                  |
//! | 6    | `offset_entries` / `time_entries` (`.index`, `.timeindex`) |
//!
//! For any bytes:
//!
//! 1. No decoder panics; each refuses what it cannot read with an error.
//! 2. What a decoder accepts, its encoder writes back to something the
//!    decoder reads as the same value.
//! 3. Where the format has one spelling, the encoder writes the very bytes
//!    read: a producer snapshot whole; the entries of a `.txnindex` (whole
//!    entries, a cut tail aside); an offset-commit key of version 1 or a
//!    metadata key (version 2), up to what the key holds.
//! 4. An index's entries are whole entries of the file, never more than it
//!    holds.

use strata::internals::format::group_record::{GroupKey, OffsetCommit};
use strata::internals::format::index_entry::{
    OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE, offset_entries, time_entries,
};
use strata::internals::format::{leader_epoch, partition_metadata, producer_snapshot, txn_index};

/// Which decoder an input reached and whether it accepted the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Outcome {
    /// Empty input: no decoder picked.
    Empty,
    /// The decoder of this name refused the bytes.
    Refused(&'static str),
    /// The decoder of this name accepted them, and the claims held.
    Accepted(&'static str),
}

/// The decoders' names, in the order of the first byte's values.
pub(crate) const DECODERS: [&str; 7] = [
    "group_key",
    "offset_commit",
    "producer_snapshot",
    "leader_epoch",
    "partition_metadata",
    "txn_index",
    "index_entries",
];

/// Runs the claims of the module docs on `data`; panics if one fails.
pub(crate) fn check(data: &[u8]) -> Outcome {
    let Some((&pick, rest)) = data.split_first() else { return Outcome::Empty };
    let which = usize::from(pick) % DECODERS.len();
    let name = DECODERS.get(which).copied().unwrap_or("?");
    let accepted = match which {
        0 => group_key(rest),
        1 => offset_commit(rest),
        2 => snapshot(rest),
        3 => epochs(rest),
        4 => metadata(rest),
        5 => txns(rest),
        _ => indexes(rest),
    };
    if accepted { Outcome::Accepted(name) } else { Outcome::Refused(name) }
}

fn group_key(b: &[u8]) -> bool {
    let Ok(key) = GroupKey::decode(b) else { return false };
    if let GroupKey::Other { .. } = key {
        return true;
    }
    let encoded = match key.encode() {
        Ok(e) => e,
        Err(e) => panic!("a decoded key does not encode: {key:?}: {e}"),
    };
    assert_eq!(GroupKey::decode(&encoded).ok(), Some(key.clone()), "key round trip");
    // Version 0 keys are written back as version 1; 1 and 2 as read.
    let version = b.get(..2).map(|v| i16::from_be_bytes([v[0], v[1]]));
    if version != Some(0) {
        assert_eq!(b.get(..encoded.len()), Some(encoded.as_ref()), "key bytes of {key:?}");
    }
    true
}

fn offset_commit(b: &[u8]) -> bool {
    let Ok(value) = OffsetCommit::decode(b) else { return false };
    let encoded = match value.encode() {
        Ok(e) => e,
        // Kafka's flexible version 4 carries metadata past an int16 length; version 3 cannot.
        Err(_) => {
            assert!(value.metadata.len() > i16::MAX as usize, "refused {value:?}");
            return true;
        }
    };
    assert_eq!(OffsetCommit::decode(&encoded).ok(), Some(value), "offset commit round trip");
    true
}

fn snapshot(b: &[u8]) -> bool {
    let Ok(entries) = producer_snapshot::decode(b) else { return false };
    assert_eq!(producer_snapshot::encode(&entries), b, "a snapshot has one spelling");
    assert_eq!(producer_snapshot::encoded_len(entries.len()), b.len() as u64);
    true
}

fn epochs(b: &[u8]) -> bool {
    let Ok(entries) = leader_epoch::decode(b) else { return false };
    let encoded = leader_epoch::encode(&entries);
    assert_eq!(leader_epoch::decode(&encoded).ok(), Some(entries), "checkpoint round trip");
    true
}

fn metadata(b: &[u8]) -> bool {
    let Ok(id) = partition_metadata::decode(b) else { return false };
    let encoded = partition_metadata::encode(id);
    assert_eq!(partition_metadata::decode(&encoded).ok(), Some(id), "topic id round trip");
    true
}

/// The base offset a `.txnindex` is read against: the first 8 bytes, so the
/// fuzzer reaches both sides of the base-offset rule.
fn txns(b: &[u8]) -> bool {
    let (base, file) = match b.split_first_chunk::<8>() {
        Some((base, file)) => (i64::from_be_bytes(*base), file),
        None => (0, b),
    };
    let Ok(entries) = txn_index::decode(file, base) else { return false };
    let whole = entries.len() * txn_index::ENTRY_SIZE;
    assert_eq!(whole, file.len() / txn_index::ENTRY_SIZE * txn_index::ENTRY_SIZE);
    let encoded: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
    assert_eq!(Some(encoded.as_slice()), file.get(..whole), "txnindex entries as read");
    true
}

fn indexes(b: &[u8]) -> bool {
    let offsets = offset_entries(b, 0);
    assert!(offsets.len() <= b.len() / OFFSET_ENTRY_SIZE, "more offset entries than the file");
    let times = time_entries(b, i64::MAX);
    assert!(times.len() <= b.len() / TIME_ENTRY_SIZE, "more time entries than the file");
    true
}
