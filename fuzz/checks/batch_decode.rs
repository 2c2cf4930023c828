//! What the `batch_decode` fuzz target claims about [`BatchView`], as a plain
//! function so `tests/fuzz_corpus.rs` replays the corpus without cargo-fuzz.
//!
//! Each input is checked as given and, when it frames but its CRC is wrong,
//! again with the CRC recomputed: a mutated batch almost never carries a
//! matching CRC, and without the second pass the fuzzer would seldom get past
//! `validate()` to the record decoder.
//!
//! For any bytes:
//!
//! 1. [`BatchView::new`], `validate()`, `validate_records()` and iterating
//!    `records_with_limit(1 MiB)` to the end never panic.
//! 2. A batch that passes `validate_records()` and is not a control batch,
//!    rebuilt with [`BatchBuilder`] under its own codec, decodes to the same
//!    records (offset, timestamp, key, value, headers) and header fields.
//! 3. A *canonical* batch rebuilds to the same bytes. Canonical means a
//!    `BatchBuilder` could have written it; every exclusion below is a batch
//!    the decoder rightly accepts but that spells its content another way:
//!    - uncompressed: compressed streams are not unique;
//!    - no attribute bits beyond 0-6 (codec, LogAppendTime, transactional,
//!      control, delete horizon): the builder never sets bits 7-15;
//!    - every record's attributes byte is 0, which is all the builder writes;
//!    - every varint and varlong in the records section is minimal and carries
//!      no bits the decoder drops (a 5th varint byte above `0x0f`, a 10th
//!      varlong byte above `0x01`): the decoder reads these as the same value;
//!    - every null key, value and header value is written -1: the decoder
//!      reads any negative length as null (Kafka's `DefaultRecord.readFrom`),
//!      the builder writes -1;
//!    - the builder derives baseTimestamp from the first record, so without a
//!      delete horizon the first timestampDelta is 0; for CreateTime it derives
//!      maxTimestamp as `max(-1, base + delta)` over the records. Empty batches
//!      keep any timestamps (`empty_batch_timestamps`, as the cleaner does);
//!    - a control batch is rebuilt by `BatchBuilder::control_batch`, the only
//!      way the builder writes one, so it must look like its output: one
//!      record at offsetDelta 0 and timestampDelta 0, lastOffsetDelta 0,
//!      attributes exactly transactional | control, baseSequence -1, no
//!      headers, and a COMMIT or ABORT marker whose 4-byte key and 6-byte value
//!      both have version 0.
//!
//!    A records count that disagrees with the records, bytes after the last
//!    record and out-of-range offset deltas never get this far:
//!    `validate_records()` refuses them.

use bytes::Bytes;
use strata::internals::format::{
    BatchBuilder, BatchView, Compression, ControlRecord, ControlType, RecordRef, TimestampType,
    layout,
};

/// Ceiling on decompressed records, so a tiny bomb cannot stall the fuzzer.
const MAX_DECOMPRESSED: usize = 1 << 20;
/// Attribute bits 0-6: the only ones the builder writes.
const KNOWN_ATTRIBUTES: i16 = 0x7f;
/// Transactional | control: a marker batch's attributes.
const CONTROL_ATTRIBUTES: i16 = 0x30;

/// How far an input got; the corpus replay checks the deep paths are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// `BatchView::new` refused the bytes.
    Unframed,
    /// Framed, but `validate_records()` (or a bounded decompression) failed.
    Invalid,
    /// Valid, but a control batch `control_batch` cannot have written.
    Valid,
    /// Valid, rebuilt and compared field by field, not byte by byte.
    Equivalent,
    /// Canonical: rebuilt to the very same bytes.
    Identical,
}

/// Runs every claim of the module docs on `data`, then on `data` with its CRC
/// fixed; panics if one fails. Returns the deeper of the two outcomes.
pub(crate) fn check(data: &[u8]) -> Outcome {
    let outcome = check_as_given(data);
    match with_crc_fixed(data) {
        Some(fixed) => outcome.max(check_as_given(&fixed)),
        None => outcome,
    }
}

/// `data` with the CRC-32C recomputed, or `None` if it does not frame or the
/// CRC is already right.
fn with_crc_fixed(data: &[u8]) -> Option<Vec<u8>> {
    let batch = BatchView::new(Bytes::copy_from_slice(data)).ok()?;
    let crc = batch.compute_crc();
    if crc == batch.crc() {
        return None;
    }
    let mut fixed = data.to_vec();
    fixed.get_mut(layout::CRC..layout::CRC + 4)?.copy_from_slice(&crc.to_be_bytes());
    Some(fixed)
}

fn check_as_given(data: &[u8]) -> Outcome {
    let Ok(batch) = BatchView::new(Bytes::copy_from_slice(data)) else {
        return Outcome::Unframed;
    };
    assert_eq!(batch.size(), data.len(), "a view covers exactly its buffer");
    let header_ok = batch.validate().is_ok();
    let (true, Some(records)) = (header_ok, bounded_records(&batch)) else {
        return Outcome::Invalid;
    };
    // Only now is the full-limit decode known to stay within MAX_DECOMPRESSED.
    if batch.validate_records().is_err() {
        return Outcome::Invalid;
    }
    assert_eq!(records.len(), usize::try_from(batch.records_count()).unwrap_or(usize::MAX));

    if batch.is_control() {
        let Some(marker) = canonical_control(&batch, &records) else {
            return Outcome::Valid;
        };
        let rebuilt = BatchBuilder::control_batch(
            batch.base_offset(),
            batch.base_timestamp(),
            batch.producer_id(),
            batch.producer_epoch(),
            batch.partition_leader_epoch(),
            &marker,
        );
        assert_same_bytes(&batch, rebuilt.ok().as_ref());
        return Outcome::Identical;
    }

    let codec = batch.compression().unwrap_or_default();
    let rebuilt = match rebuild(&batch, &records, codec) {
        Ok(bytes) => bytes,
        Err(e) => panic!("the builder refused a batch validate_records() accepted: {e}"),
    };
    assert_equivalent(&batch, &records, &rebuilt);
    if codec == Compression::None && is_canonical(&batch, &records) {
        assert_same_bytes(&batch, Some(&rebuilt));
        return Outcome::Identical;
    }
    Outcome::Equivalent
}

/// Iterates all records under [`MAX_DECOMPRESSED`]; `Some` only if all decode.
fn bounded_records(batch: &BatchView) -> Option<Vec<RecordRef>> {
    let mut out = Vec::new();
    let mut ok = true;
    for r in batch.records_with_limit(MAX_DECOMPRESSED).ok()? {
        match r {
            Ok(r) => out.push(r),
            Err(_) => ok = false,
        }
    }
    ok.then_some(out)
}

/// Rebuilds `batch` from its header fields and `records` with [`BatchBuilder`].
fn rebuild(
    batch: &BatchView,
    records: &[RecordRef],
    codec: Compression,
) -> strata::internals::format::FormatResult<Bytes> {
    let base_timestamp = batch.base_timestamp();
    let mut b = BatchBuilder::new(batch.base_offset())
        .compression(codec, None)
        .partition_leader_epoch(batch.partition_leader_epoch())
        .producer(batch.producer_id(), batch.producer_epoch(), batch.base_sequence())
        .transactional(batch.is_transactional());
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        b = b.log_append_time(batch.max_timestamp());
    }
    if let Some(horizon) = batch.delete_horizon_ms() {
        b = b.delete_horizon(horizon);
    }
    if records.is_empty() {
        b = b.empty_batch_timestamps(base_timestamp, batch.max_timestamp());
    }
    for r in records {
        b.append_raw(
            r.offset_delta(),
            base_timestamp.wrapping_add(r.timestamp_delta()),
            r.key(),
            r.value(),
            r.headers(),
        )?;
    }
    let last = records.last().map_or(0, RecordRef::offset_delta);
    if batch.last_offset_delta() != last {
        b = b.last_offset_delta(batch.last_offset_delta());
    }
    b.build()
}

/// Claim 2: the rebuilt batch holds the same records and header fields.
fn assert_equivalent(batch: &BatchView, records: &[RecordRef], rebuilt: &Bytes) {
    let again = match BatchView::new(rebuilt.clone()) {
        Ok(v) => v,
        Err(e) => panic!("the builder wrote a batch that does not frame: {e}"),
    };
    if let Err(e) = again.validate_records() {
        panic!("the builder wrote a batch that does not validate: {e}");
    }
    let header = |v: &BatchView| {
        (
            v.base_offset(),
            v.partition_leader_epoch(),
            v.attributes() & KNOWN_ATTRIBUTES,
            v.last_offset_delta(),
            v.producer_id(),
            v.producer_epoch(),
            v.base_sequence(),
            v.records_count(),
            v.delete_horizon_ms(),
        )
    };
    assert_eq!(header(batch), header(&again), "rebuilt header fields differ");
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        assert_eq!(batch.max_timestamp(), again.max_timestamp());
    }
    let content = |r: &RecordRef| {
        (r.offset(), r.timestamp(), r.key().cloned(), r.value().cloned(), r.headers().to_vec())
    };
    let expected: Vec<_> = records.iter().map(content).collect();
    let actual: Vec<_> = match again.records() {
        Ok(it) => it.filter_map(Result::ok).map(|r| content(&r)).collect(),
        Err(e) => panic!("the rebuilt batch does not decode: {e}"),
    };
    assert_eq!(expected, actual, "rebuilt records differ");
}

fn assert_same_bytes(batch: &BatchView, rebuilt: Option<&Bytes>) {
    let Some(rebuilt) = rebuilt else { panic!("the builder refused a canonical batch") };
    assert!(
        batch.as_bytes() == rebuilt,
        "canonical batch re-encodes differently:\n input  {:02x?}\n output {:02x?}",
        batch.as_bytes().as_ref(),
        rebuilt.as_ref()
    );
}

/// The canonical rules of the module docs, for a non-control uncompressed batch.
fn is_canonical(batch: &BatchView, records: &[RecordRef]) -> bool {
    if batch.attributes() & !KNOWN_ATTRIBUTES != 0
        || records.iter().any(|r| r.attributes() != 0)
        || !varints_are_minimal(&batch.records_section(), records.len())
    {
        return false;
    }
    let Some(first) = records.first() else { return true };
    if batch.delete_horizon_ms().is_none() && first.timestamp_delta() != 0 {
        return false;
    }
    batch.timestamp_type() == TimestampType::LogAppendTime
        || batch.max_timestamp() == max_create_time(batch, records)
}

fn max_create_time(batch: &BatchView, records: &[RecordRef]) -> i64 {
    records
        .iter()
        .map(|r| batch.base_timestamp().wrapping_add(r.timestamp_delta()))
        .fold(-1, i64::max)
}

/// The marker of a control batch that `BatchBuilder::control_batch` would
/// write byte for byte, or `None` when the batch is not of that shape.
fn canonical_control(batch: &BatchView, records: &[RecordRef]) -> Option<ControlRecord> {
    let [r] = records else { return None };
    let shaped = batch.attributes() == CONTROL_ATTRIBUTES
        && batch.compression_id() == 0
        && batch.last_offset_delta() == 0
        && batch.base_sequence() == -1
        && batch.max_timestamp() == batch.base_timestamp().max(-1)
        && r.attributes() == 0
        && r.offset_delta() == 0
        && r.timestamp_delta() == 0
        && r.headers().is_empty()
        && varints_are_minimal(&batch.records_section(), 1);
    if !shaped {
        return None;
    }
    let (key, value) = (r.key()?, r.value()?);
    let marker = ControlRecord::decode(key, Some(value.as_ref())).ok()?;
    if !matches!(marker.kind, ControlType::Commit | ControlType::Abort) {
        return None;
    }
    let (k, v) = marker.encode();
    (k == *key && v == *value).then_some(marker)
}

/// Walks `count` uncompressed records and reports whether every varint is
/// written the way the encoder writes it (a null length as -1). Runs only on records the decoder
/// accepted, so a walk that fails to parse is a disagreement between the two.
fn varints_are_minimal(section: &[u8], count: usize) -> bool {
    let mut w = Walker { rest: section, minimal: true };
    for _ in 0..count {
        if w.record().is_none() {
            panic!("the decoder accepted records this walk cannot parse");
        }
    }
    assert!(w.rest.is_empty(), "the decoder accepted trailing bytes");
    w.minimal
}

struct Walker<'a> {
    rest: &'a [u8],
    minimal: bool,
}

impl Walker<'_> {
    /// One LEB128 group of at most `max` bytes; `top` bounds the last byte
    /// of a full-length encoding (higher bits are dropped by the decoder).
    fn leb(&mut self, max: usize, top: u8) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..max {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32).unwrap_or(0);
            if byte & 0x80 == 0 {
                self.minimal &= (i == 0 || byte != 0) && (i + 1 < max || byte <= top);
                return Some(value);
            }
        }
        None
    }

    fn varint(&mut self) -> Option<i32> {
        let raw = self.leb(5, 0x0f)? as u32;
        Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    fn varlong(&mut self) -> Option<()> {
        self.leb(10, 0x01).map(drop)
    }

    /// Skips a length-prefixed byte string (any negative length is null; the
    /// encoder writes -1).
    fn bytes(&mut self) -> Option<()> {
        let len = self.varint()?;
        self.minimal &= len >= -1;
        if len >= 0 {
            self.rest = self.rest.get(usize::try_from(len).ok()?..)?;
        }
        Some(())
    }

    fn record(&mut self) -> Option<()> {
        let len = usize::try_from(self.varint()?).ok()?;
        let after = self.rest.len().checked_sub(len)?;
        self.rest = self.rest.get(1..)?; // attributes
        self.varlong()?; // timestampDelta
        self.varint()?; // offsetDelta
        self.bytes()?; // key
        self.bytes()?; // value
        for _ in 0..self.varint()? {
            self.bytes()?; // header key
            self.bytes()?; // header value
        }
        (self.rest.len() == after).then_some(())
    }
}
