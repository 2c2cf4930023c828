//! What the `legacy_decode` fuzz target claims about legacy (magic 0/1)
//! entries read through [`BatchView::new_stored`], as a plain function so
//! `tests/fuzz_corpus.rs` replays the corpus without cargo-fuzz.
//!
//! Each input is checked as given and, when it frames as a legacy message but
//! its CRC-32 is wrong, again with the CRC recomputed, so mutations reach the
//! key/value and decompression paths behind the CRC.
//!
//! For any bytes:
//!
//! 1. `new_stored`, `validate()`, `validate_records()`, every header accessor
//!    (`base_offset`, `last_offset`, `records_count`, ...) and iterating
//!    `records_with_limit(1 MiB)` never panic.
//! 2. A legacy entry that validates and whose records decode looks as Kafka's
//!    consumer sees it: no producer, sequence, leader epoch, transaction or
//!    control fields; `last_offset()` is the offset field, `base_offset()` the
//!    first record's offset, `records_count()` the records decoded; no record
//!    has headers; magic 0 records have no timestamp; records of a
//!    LogAppendTime wrapper carry its timestamp; an uncompressed message is
//!    one record at its own offset.
//! 3. An uncompressed message that validates re-encodes, from what was
//!    decoded (offset, magic, attributes, timestamp, key, value), to the very
//!    same bytes: the decoder reads every field where Kafka writes it. The
//!    one exception is a null written as a length below -1 (Kafka reads any
//!    negative length as null; strata writes -1): its re-encoding reads back
//!    as the same record.

use bytes::Bytes;
use strata::internals::format::legacy::crc32;
use strata::{BatchView, RecordRef, TimestampType};

/// Ceiling on decompressed records, so a tiny bomb cannot stall the fuzzer.
const MAX_DECOMPRESSED: usize = 1 << 20;
/// Where the CRC-32 sits, and where the bytes it covers start.
const CRC_AT: usize = 12;
const MAGIC_AT: usize = 16;

/// How far an input got; the corpus replay checks the deep paths are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// Not a legacy entry `new_stored` accepts (or a v2 batch).
    Unframed,
    /// Framed, but the CRC, the records or a bounded decompression failed.
    Invalid,
    /// Valid, records decoded and checked (compressed wrappers).
    Decoded,
    /// Valid and uncompressed, a null written below -1: re-encoded (with -1)
    /// to a message that reads back as the same record.
    Equivalent,
    /// Valid and uncompressed: re-encoded to the same bytes.
    Identical,
}

/// Runs every claim of the module docs on `data`, then on `data` with its
/// CRC fixed; panics if one fails. Returns the deeper of the two outcomes.
pub(crate) fn check(data: &[u8]) -> Outcome {
    let outcome = check_as_given(data);
    match with_crc_fixed(data) {
        Some(fixed) => outcome.max(check_as_given(&fixed)),
        None => outcome,
    }
}

fn with_crc_fixed(data: &[u8]) -> Option<Vec<u8>> {
    let view = BatchView::new_stored(Bytes::copy_from_slice(data)).ok()?;
    if !view.is_legacy() || view.compute_crc() == view.crc() {
        return None;
    }
    let mut fixed = data.to_vec();
    let crc = crc32(data.get(MAGIC_AT..)?);
    fixed.get_mut(CRC_AT..CRC_AT + 4)?.copy_from_slice(&crc.to_be_bytes());
    Some(fixed)
}

fn check_as_given(data: &[u8]) -> Outcome {
    let Ok(view) = BatchView::new_stored(Bytes::copy_from_slice(data)) else {
        return Outcome::Unframed;
    };
    if !view.is_legacy() {
        return Outcome::Unframed;
    }
    assert_eq!(view.size(), data.len(), "a view covers exactly its buffer");
    // Claim 1: the accessors never panic, whatever the bytes.
    let _ = (view.base_offset(), view.last_offset_delta(), view.records_count());
    let _ = (view.next_offset(), view.last_sequence(), view.records_section());
    let _ = view.validate_records();
    if view.validate().is_err() {
        return Outcome::Invalid;
    }
    let Some(records) = bounded_records(&view) else { return Outcome::Invalid };
    check_kafka_view(&view, &records);
    if view.compression_id() != 0 {
        return Outcome::Decoded;
    }
    let [r] = records.as_slice() else { panic!("an uncompressed message is one record") };
    let again = encode(&view, r);
    if again == data {
        return Outcome::Identical;
    }
    let reread = BatchView::new_stored(Bytes::from(again.clone())).ok();
    let reread = reread.as_ref().and_then(bounded_records);
    let fields = |r: &RecordRef| (r.offset(), r.timestamp(), r.key().cloned(), r.value().cloned());
    let same = matches!(reread.as_deref(), Some([s]) if fields(s) == fields(r));
    assert!(
        same && null_written_below_minus_one(data, view.magic()),
        "legacy message re-encodes differently:\n input  {data:02x?}\n output {again:02x?}"
    );
    Outcome::Equivalent
}

/// Whether the key or value length field of the uncompressed message `data`
/// is below -1 (a null Kafka reads, which strata writes as -1).
fn null_written_below_minus_one(data: &[u8], magic: i8) -> bool {
    let len_at =
        |at: usize| data.get(at..at + 4).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes);
    let key_at = MAGIC_AT + 2 + if magic == 1 { 8 } else { 0 };
    let Some(key_len) = len_at(key_at) else { return false };
    let value_at = key_at + 4 + usize::try_from(key_len).unwrap_or(0);
    key_len < -1 || len_at(value_at).is_some_and(|v| v < -1)
}

fn bounded_records(view: &BatchView) -> Option<Vec<RecordRef>> {
    view.records_with_limit(MAX_DECOMPRESSED).ok()?.collect::<Result<Vec<_>, _>>().ok()
}

/// Claim 2.
fn check_kafka_view(view: &BatchView, records: &[RecordRef]) {
    assert!(matches!(view.magic(), 0 | 1));
    assert_eq!(
        (view.producer_id(), view.producer_epoch(), view.base_sequence()),
        (-1, -1, -1),
        "legacy entries have no producer fields"
    );
    assert_eq!(view.partition_leader_epoch(), -1);
    assert!(!view.is_transactional() && !view.is_control() && view.delete_horizon_ms().is_none());
    let first = records.first().expect("a decoded entry has records");
    assert_eq!(view.base_offset(), first.offset());
    assert_eq!(usize::try_from(view.records_count()).ok(), Some(records.len()));
    let offset_field = i64::from_be_bytes(view.as_bytes()[..8].try_into().expect("8 bytes"));
    assert_eq!(view.last_offset(), offset_field);
    for r in records {
        assert!(r.headers().is_empty(), "legacy records have no headers");
        if view.magic() == 0 {
            assert_eq!(r.timestamp(), -1, "magic 0 has no timestamps");
        } else if view.timestamp_type() == TimestampType::LogAppendTime {
            assert_eq!(r.timestamp(), view.max_timestamp(), "LogAppendTime wrapper's time");
        }
    }
    if view.compression_id() == 0 {
        assert_eq!(first.offset(), offset_field);
    }
}

/// Claim 3: the message Kafka's `LegacyRecord.write` would produce.
fn encode(view: &BatchView, r: &RecordRef) -> Vec<u8> {
    let raw_attributes = view.as_bytes()[MAGIC_AT + 1];
    let mut body = vec![view.magic() as u8, raw_attributes];
    if view.magic() == 1 {
        body.extend_from_slice(&view.max_timestamp().to_be_bytes());
    }
    for field in [r.key(), r.value()] {
        match field {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                body.extend_from_slice(b);
            }
        }
    }
    let mut out = r.offset().to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}
