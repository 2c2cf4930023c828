//! [`BatchBuilder`]: records to RecordBatch v2 bytes, as Kafka's
//! `MemoryRecordsBuilder` writes them.
//!
//! The first record's timestamp becomes `baseTimestamp` (or the delete horizon
//! when one is set), record timestamps are stored as deltas from it, and the
//! CRC is computed last over attributes..end. Compressed batches compress the
//! whole records section as one stream; the header stays uncompressed.

use bytes::{BufMut, Bytes};

use super::borrowed::{BorrowedHeader, RecordParts};
use super::compression::compress;
use super::control::ControlRecord;
use super::encode::RecordsBuf;
use super::layout::{self, attr};
use super::{
    Compression, FormatError, FormatResult, Header, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, TimestampType,
};

/// Builds one v2 batch.
///
/// ```
/// use strata::{BatchBuilder, BatchView, Record};
/// let mut b = BatchBuilder::new(0);
/// b.append(&Record::new("k", "v").timestamp(1_700_000_000_000))?;
/// let batch = BatchView::new(b.build()?)?;
/// batch.validate()?;
/// assert_eq!(batch.records_count(), 1);
/// # Ok::<(), strata::FormatError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    compression: Compression,
    compression_level: Option<i32>,
    log_append_time: Option<i64>,
    transactional: bool,
    control: bool,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    delete_horizon: Option<i64>,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    last_offset_delta: Option<i32>,
    last_offset_delta_override: Option<i32>,
    count: i32,
    /// The batch as it will be stored: [`layout::BATCH_OVERHEAD`] bytes of
    /// header, filled in by `build`, then the encoded records. Records are
    /// encoded here directly, so an uncompressed batch is never copied again.
    buf: RecordsBuf,
}

/// The refusal of an offset delta that does not increase.
fn not_increasing(offset_delta: i32) -> FormatError {
    FormatError::InvalidValue {
        field: "record.offsetDelta",
        value: offset_delta.into(),
        reason: "offset deltas must increase from 0",
    }
}

impl BatchBuilder {
    /// A builder for a CreateTime, uncompressed, non-idempotent batch at `base_offset`.
    #[must_use]
    pub fn new(base_offset: i64) -> Self {
        BatchBuilder::sized(base_offset, 0)
    }

    /// [`new`](Self::new) with room for `bytes` bytes of encoded records
    /// allocated at once (where `new(..).with_capacity(..)` allocates the
    /// header, then moves it to a larger buffer).
    pub(crate) fn sized(base_offset: i64, bytes: usize) -> Self {
        BatchBuilder::sized_in(base_offset, Vec::new(), bytes)
    }

    /// [`sized`](Self::sized), encoding into the allocation of `spare`, a
    /// spent buffer (its bytes are overwritten, never read).
    pub(crate) fn sized_in(base_offset: i64, spare: Vec<u8>, bytes: usize) -> Self {
        BatchBuilder {
            base_offset,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            compression: Compression::None,
            compression_level: None,
            log_append_time: None,
            transactional: false,
            control: false,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            delete_horizon: None,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
            last_offset_delta: None,
            last_offset_delta_override: None,
            count: 0,
            buf: RecordsBuf::reuse(spare, layout::BATCH_OVERHEAD, bytes),
        }
    }

    /// Reserves room for `bytes` more bytes of encoded records, so that a
    /// caller who knows the batch's size spares the buffer its regrowth copies.
    #[must_use]
    pub fn with_capacity(mut self, bytes: usize) -> Self {
        self.buf.reserve(bytes);
        self
    }

    /// Compresses the records section with `codec` at `level` (codec default when `None`).
    #[must_use]
    pub fn compression(mut self, codec: Compression, level: Option<i32>) -> Self {
        self.compression = codec;
        self.compression_level = level;
        self
    }

    /// Sets the partition leader epoch (default -1).
    #[must_use]
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Makes the batch LogAppendTime with `append_time` as its maxTimestamp.
    #[must_use]
    pub fn log_append_time(mut self, append_time: i64) -> Self {
        self.log_append_time = Some(append_time);
        self
    }

    /// Sets idempotent-producer state: producer id, epoch and first sequence.
    #[must_use]
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch transactional.
    #[must_use]
    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }

    /// Marks the batch as a control batch (its records are control records).
    #[must_use]
    pub fn control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }

    /// Stores a compaction delete horizon in `baseTimestamp` (attribute bit 6).
    #[must_use]
    pub fn delete_horizon(mut self, horizon_ms: i64) -> Self {
        self.delete_horizon = Some(horizon_ms);
        self
    }

    /// Number of records appended so far.
    #[must_use]
    pub fn count(&self) -> i32 {
        self.count
    }

    /// Size of the batch if built uncompressed now.
    #[must_use]
    pub fn uncompressed_size(&self) -> usize {
        self.buf.len()
    }

    /// Appends `record` (an owned [`Record`](super::Record), a
    /// [`BorrowedRecord`](super::BorrowedRecord), or anything else with
    /// [`RecordParts`]) at the next offset delta (0, 1, 2, ...).
    ///
    /// # Errors
    /// [`FormatError::TooLarge`] when a key, value or the batch outgrows int32 lengths.
    #[inline(always)]
    pub fn append<R: RecordParts + ?Sized>(&mut self, record: &R) -> FormatResult<()> {
        // The next delta increases by construction; only i32::MAX has none.
        let delta = match self.last_offset_delta {
            None => 0,
            Some(d) => d.checked_add(1).ok_or_else(|| not_increasing(i32::MAX))?,
        };
        self.encode_at(delta, record.timestamp(), record.key(), record.value(), record.headers())
    }

    /// Appends every record of `records` at the next offset deltas, as
    /// [`append`](Self::append) one by one would, with timestamp
    /// [`NO_TIMESTAMP`] replaced by `now`: runs of records without headers
    /// go through one loop that keeps the batch's state in registers
    /// ([`RecordsBuf::encode_plain_run`]), any other record through `append`.
    ///
    /// # Errors
    /// As [`append`](Self::append), for the first record refused (the
    /// records before it stay in the batch).
    #[cfg(test)]
    pub(crate) fn append_all_stamped<R: RecordParts>(
        &mut self,
        records: &[R],
        now: i64,
    ) -> FormatResult<()> {
        self.append_all_checked(records, now, |_, _| true, |_, _, _| Ok(()), |e| e)
    }

    /// [`append_all_stamped`](Self::append_all_stamped), refusing the first
    /// record that breaks the caller's rules, each record judged before it
    /// is encoded. `surely(timestamp, key_is_null)` is a quick test that
    /// vouches for most records (and is asked only when a record's shape
    /// differs from the last one's: one of the same shape has the same
    /// stamped timestamp and key nullity); a record it does not vouch for,
    /// or that is encoded one by one, is judged by `exact(index, timestamp,
    /// key_is_null)`, whose error is returned. `wrap` turns the format's
    /// refusals into the caller's error.
    ///
    /// # Errors
    /// The first error of `exact`, or the wrapped refusal of
    /// [`append`](Self::append) (the records before it stay in the batch).
    pub(crate) fn append_all_checked<R: RecordParts, E>(
        &mut self,
        records: &[R],
        now: i64,
        surely: impl Fn(i64, bool) -> bool,
        mut exact: impl FnMut(usize, i64, bool) -> Result<(), E>,
        wrap: impl Fn(FormatError) -> E,
    ) -> Result<(), E> {
        let stamp = |r: &R| {
            let ts = r.timestamp();
            if ts == NO_TIMESTAMP { now } else { ts }
        };
        let mut rest = records;
        while let Some((first, _)) = rest.split_first() {
            let first_ts = stamp(first);
            if self.count == 0 && self.base_timestamp.is_none() {
                self.base_timestamp = Some(self.delete_horizon.unwrap_or(first_ts));
            }
            let base = self.base_timestamp.unwrap_or(first_ts);
            let next = match self.last_offset_delta {
                None => Some(0),
                Some(d) => d.checked_add(1),
            };
            let mut done = 0;
            if let Some(next) = next {
                let run = self.buf.encode_plain_run(
                    base,
                    next,
                    rest,
                    |r| (stamp(r), r.key(), r.value(), r.headers().len()),
                    &surely,
                );
                if run.count > 0 {
                    // At most i32::MAX - next + 1 records: the sums fit.
                    self.last_offset_delta = Some(next + (run.count - 1) as i32);
                    self.count += run.count as i32;
                    self.max_timestamp = self.max_timestamp.max(run.max_timestamp);
                }
                done = run.count;
            }
            rest = rest.get(done..).unwrap_or_default();
            // A record the run did not take: judged, then one by one (which
            // refuses it with the reason, or encodes it).
            if let Some((r, tail)) = rest.split_first() {
                let timestamp = stamp(r);
                exact(records.len() - rest.len(), timestamp, r.key().is_none())?;
                self.append(&Stamped { record: r, timestamp }).map_err(&wrap)?;
                rest = tail;
            }
        }
        Ok(())
    }

    /// Appends a record at an explicit offset delta, which must exceed the previous one
    /// (the cleaner keeps original offsets this way).
    ///
    /// # Errors
    /// [`FormatError::InvalidValue`] for a delta that does not increase.
    pub fn append_raw(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&Bytes>,
        value: Option<&Bytes>,
        headers: &[Header],
    ) -> FormatResult<()> {
        self.append_parts(
            offset_delta,
            timestamp,
            key.map(|b| &b[..]),
            value.map(|b| &b[..]),
            headers.iter().map(|h| (&h.key[..], h.value.as_deref())),
        )
    }

    /// [`append_raw`](Self::append_raw) from borrowed slices: the bytes are
    /// encoded straight into the batch, with no `Bytes` made for them.
    ///
    /// # Errors
    /// As [`append_raw`](Self::append_raw).
    pub fn append_slices(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[BorrowedHeader<'_>],
    ) -> FormatResult<()> {
        self.append_parts(
            offset_delta,
            timestamp,
            key,
            value,
            headers.iter().map(|h| (h.key, h.value)),
        )
    }

    #[inline(always)]
    fn append_parts<'h>(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
    ) -> FormatResult<()> {
        if offset_delta < 0 || self.last_offset_delta.is_some_and(|d| offset_delta <= d) {
            return Err(not_increasing(offset_delta));
        }
        self.encode_at(offset_delta, timestamp, key, value, headers)
    }

    /// [`append_parts`](Self::append_parts) at a delta known to increase.
    #[inline(always)]
    fn encode_at<'h>(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
    ) -> FormatResult<()> {
        if self.count == 0 && self.base_timestamp.is_none() {
            self.base_timestamp = Some(self.delete_horizon.unwrap_or(timestamp));
        }
        let base = self.base_timestamp.unwrap_or(timestamp);
        let before = self.buf.len();
        self.buf.encode_record(timestamp.wrapping_sub(base), offset_delta, key, value, headers)?;
        if self.buf.len() > i32::MAX as usize {
            let size = self.buf.len();
            // The batch stays as it was before this record.
            self.buf.truncate(before);
            return Err(FormatError::TooLarge { field: "batch", size });
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.last_offset_delta = Some(offset_delta);
        self.count += 1;
        Ok(())
    }

    /// Overrides `lastOffsetDelta` so the batch keeps describing its original
    /// offset range after records were removed (Kafka's `overrideLastOffset`).
    #[must_use]
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta_override = Some(delta);
        self
    }

    /// Overrides `baseTimestamp` and `maxTimestamp` for a batch left empty by compaction:
    /// Kafka keeps the original maxTimestamp there.
    #[must_use]
    pub fn empty_batch_timestamps(mut self, base_timestamp: i64, max_timestamp: i64) -> Self {
        self.base_timestamp = Some(base_timestamp);
        self.max_timestamp = max_timestamp;
        self
    }

    /// Builds a control batch holding one control record at `base_offset`, as
    /// Kafka's `MemoryRecords.withEndTransactionMarker` does: uncompressed,
    /// transactional, baseSequence -1.
    ///
    /// # Errors
    /// Only if the marker cannot be encoded (never for COMMIT/ABORT).
    pub fn control_batch(
        base_offset: i64,
        timestamp: i64,
        producer_id: i64,
        producer_epoch: i16,
        partition_leader_epoch: i32,
        marker: &ControlRecord,
    ) -> FormatResult<Bytes> {
        let mut b = BatchBuilder::new(base_offset)
            .producer(producer_id, producer_epoch, NO_SEQUENCE)
            .transactional(true)
            .partition_leader_epoch(partition_leader_epoch);
        b.control = true;
        let (key, value) = marker.encode();
        b.append_raw(0, timestamp, Some(&key), Some(&value), &[])?;
        b.build()
    }

    /// Finishes the batch.
    ///
    /// # Errors
    /// A codec that is not compiled in, or a batch over the int32 size limit.
    pub fn build(self) -> FormatResult<Bytes> {
        self.build_vec().map(Bytes::from)
    }

    /// [`build`](Self::build) into the vector the records were encoded in
    /// (uncompressed) or one holding the compressed section: the log patches
    /// offsets into it before freezing it.
    pub(crate) fn build_vec(self) -> FormatResult<Vec<u8>> {
        let mut buf = match self.compression {
            Compression::None => self.buf.into_vec(),
            codec => {
                let section = self.buf.as_slice().get(layout::BATCH_OVERHEAD..).unwrap_or_default();
                let body = compress(codec, section, self.compression_level)?;
                let mut buf = Vec::with_capacity(layout::BATCH_OVERHEAD + body.len());
                buf.resize(layout::BATCH_OVERHEAD, 0);
                buf.extend_from_slice(&body);
                buf
            }
        };
        let size = buf.len();
        let length = i32::try_from(size - layout::LOG_OVERHEAD)
            .map_err(|_| FormatError::TooLarge { field: "batch", size })?;
        let mut attributes = i16::from(self.compression.id());
        if self.log_append_time.is_some() {
            attributes |= attr::TIMESTAMP_TYPE;
        }
        if self.transactional {
            attributes |= attr::TRANSACTIONAL;
        }
        if self.control {
            attributes |= attr::CONTROL;
        }
        if self.delete_horizon.is_some() {
            attributes |= attr::DELETE_HORIZON;
        }
        let max_timestamp = self.log_append_time.unwrap_or(self.max_timestamp);
        {
            let mut header = buf.get_mut(..layout::BATCH_OVERHEAD).unwrap_or_default();
            header.put_i64(self.base_offset);
            header.put_i32(length);
            header.put_i32(self.partition_leader_epoch);
            header.put_i8(layout::MAGIC_V2);
            header.put_u32(0); // CRC, filled in below
            header.put_i16(attributes);
            header.put_i32(self.last_offset_delta_override.or(self.last_offset_delta).unwrap_or(0));
            header.put_i64(self.base_timestamp.unwrap_or(NO_TIMESTAMP));
            header.put_i64(max_timestamp);
            header.put_i64(self.producer_id);
            header.put_i16(self.producer_epoch);
            header.put_i32(self.base_sequence);
            header.put_i32(self.count);
        }
        let crc = super::crc::crc32c(buf.get(layout::ATTRIBUTES..).unwrap_or_default());
        if let Some(slot) = buf.get_mut(layout::CRC..layout::CRC + 4) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        Ok(buf)
    }
}

/// A record with its timestamp stamped.
struct Stamped<'r, R> {
    record: &'r R,
    timestamp: i64,
}

impl<R: RecordParts> super::borrowed::sealed::Sealed for Stamped<'_, R> {}

impl<R: RecordParts> RecordParts for Stamped<'_, R> {
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn key(&self) -> Option<&[u8]> {
        self.record.key()
    }
    fn value(&self) -> Option<&[u8]> {
        self.record.value()
    }
    fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], Option<&[u8]>)> + Clone {
        self.record.headers()
    }
}

/// Rewrites header fields outside the CRC in place: base offset and partition
/// leader epoch. Kafka left them out of the CRC so the log can assign them
/// without rehashing.
pub fn set_base_offset_and_epoch(batch: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    if let Some(s) = batch.get_mut(layout::BASE_OFFSET..layout::BASE_OFFSET + 8) {
        s.copy_from_slice(&base_offset.to_be_bytes());
    }
    if let Some(s) =
        batch.get_mut(layout::PARTITION_LEADER_EPOCH..layout::PARTITION_LEADER_EPOCH + 4)
    {
        s.copy_from_slice(&partition_leader_epoch.to_be_bytes());
    }
}

/// Sets the timestamp type and maxTimestamp of a batch and recomputes its CRC,
/// as the log does for LogAppendTime topics. The other attributes are
/// written as Kafka writes them: the bits it defines, no others.
pub fn set_max_timestamp(batch: &mut [u8], timestamp_type: TimestampType, max_timestamp: i64) {
    let Some(attrs) = batch.get(layout::ATTRIBUTES..layout::ATTRIBUTES + 2) else { return };
    let mut attributes = i16::from_be_bytes([
        attrs.first().copied().unwrap_or(0),
        attrs.get(1).copied().unwrap_or(0),
    ]);
    // Written anew from the bits Kafka defines, as its `setMaxTimestamp`
    // does (`computeAttributes`): any other bit a producer set is dropped.
    attributes &=
        attr::COMPRESSION_MASK | attr::TRANSACTIONAL | attr::CONTROL | attr::DELETE_HORIZON;
    match timestamp_type {
        TimestampType::LogAppendTime => attributes |= attr::TIMESTAMP_TYPE,
        TimestampType::CreateTime => attributes &= !attr::TIMESTAMP_TYPE,
    }
    if let Some(s) = batch.get_mut(layout::ATTRIBUTES..layout::ATTRIBUTES + 2) {
        s.copy_from_slice(&attributes.to_be_bytes());
    }
    if let Some(s) = batch.get_mut(layout::MAX_TIMESTAMP..layout::MAX_TIMESTAMP + 8) {
        s.copy_from_slice(&max_timestamp.to_be_bytes());
    }
    let crc = super::crc::crc32c(batch.get(layout::ATTRIBUTES..).unwrap_or_default());
    if let Some(s) = batch.get_mut(layout::CRC..layout::CRC + 4) {
        s.copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{BatchView, BorrowedRecord, Record};
    use proptest::prelude::*;

    /// Records of changing shapes: runs of one shape, null keys and values,
    /// headers, a three-byte length, a key too large for the plain path,
    /// stamped and explicit timestamps (deltas of one to ten bytes), offset deltas past 63 (two bytes).
    fn mixed_records<'a>(big: &'a [u8], mid: &'a [u8]) -> Vec<BorrowedRecord<'a>> {
        let mut records = Vec::new();
        for i in 0..150usize {
            let r = match i % 37 {
                5 => BorrowedRecord::unkeyed(mid),
                6 => BorrowedRecord::tombstone("gone"),
                7 => BorrowedRecord::new("h", "x").header("a", "b"),
                8 => BorrowedRecord::new("k", &big[..20_000]),
                9 if i < 40 => BorrowedRecord::new(big, "v"), // over 1 MiB of key
                10 => BorrowedRecord::new("k", mid).timestamp(NO_TIMESTAMP),
                11 => BorrowedRecord::new("k", mid).timestamp(i64::MIN),
                12 | 13 => BorrowedRecord::new("k", mid).timestamp(0), // a six-byte delta
                _ if i > 100 => BorrowedRecord::new("key-0001", mid).timestamp(1_700_000_000_000),
                _ => BorrowedRecord::new("key-0001", mid),
            };
            records.push(r);
        }
        records
    }

    #[test]
    fn appending_all_at_once_builds_the_bytes_of_appending_one_by_one() {
        let big = vec![3u8; (1 << 20) + 1];
        let mid = vec![9u8; 100];
        let now = 1_700_000_000_123;
        let records = mixed_records(&big, &mid);
        for start in [0, 1, 36, 149] {
            let records = &records[start..];
            let mut all = BatchBuilder::new(0);
            all.append_all_stamped(records, now).unwrap();
            let mut one = BatchBuilder::new(0);
            for r in records {
                let ts = if r.timestamp == NO_TIMESTAMP { now } else { r.timestamp };
                one.append(&r.clone().timestamp(ts)).unwrap();
            }
            assert_eq!(all.count(), one.count());
            assert_eq!(all.build().unwrap(), one.build().unwrap(), "from record {start}");
        }
    }

    #[test]
    fn a_batch_built_in_a_spent_buffer_holding_other_bytes_equals_one_built_in_a_new_buffer() {
        // `Log::append` keeps the last batch's bytes as the room of the
        // next (`RecordsBuf::reuse` zeroes only the header): no byte of
        // theirs may show through, whether the spent buffer is shorter than
        // a header, shorter than the batch, or longer.
        let big = vec![3u8; (1 << 20) + 1];
        let mid = vec![9u8; 100];
        let now = 1_700_000_000_123;
        let records = mixed_records(&big, &mid);
        for start in [0, 1, 36, 149] {
            let records = &records[start..];
            let mut fresh = BatchBuilder::sized_in(7, Vec::new(), 0);
            fresh.append_all_stamped(records, now).unwrap();
            let want = fresh.build_vec().unwrap();
            for (len, capacity) in [(10, 10), (200, 4_096), (want.len(), want.len()), (1 << 21, 0)]
            {
                let mut spent = vec![0xA5u8; len];
                spent.reserve(capacity);
                let mut reused = BatchBuilder::sized_in(7, spent, capacity);
                reused.append_all_stamped(records, now).unwrap();
                let got = reused.build_vec().unwrap();
                assert!(got == want, "from record {start}, a spent buffer of {len} bytes");
            }
        }
    }

    #[test]
    fn owned_records_build_the_bytes_of_borrowed_records_over_the_same_bytes() {
        // Log::append's one encoder, fed `Record`s (each field an
        // `Option<Bytes>`) rather than slices: headers (null values too),
        // null and empty keys and values, a key past the plain path's 1 MiB.
        let big = vec![3u8; (1 << 20) + 1];
        let mid = vec![9u8; 100];
        let now = 1_700_000_000_123;
        let mut borrowed = mixed_records(&big, &mid);
        borrowed.extend([
            BorrowedRecord::new("", ""),
            BorrowedRecord { key: None, value: None, ..BorrowedRecord::new("", "") },
            BorrowedRecord {
                headers: vec![BorrowedHeader::new("n", None::<&[u8]>)],
                ..BorrowedRecord::new("k", "")
            },
            BorrowedRecord::new("", &big[..]),
        ]);
        let owned: Vec<Record> = borrowed.iter().map(BorrowedRecord::to_record).collect();
        for start in [0, 1, 36, 149] {
            let mut from_owned = BatchBuilder::new(0);
            from_owned.append_all_stamped(&owned[start..], now).unwrap();
            let mut from_borrowed = BatchBuilder::new(0);
            from_borrowed.append_all_stamped(&borrowed[start..], now).unwrap();
            assert_eq!(from_owned.count(), from_borrowed.count());
            assert_eq!(from_owned.build().unwrap(), from_borrowed.build().unwrap(), "from {start}");
        }
    }

    #[test]
    fn appending_all_at_once_stops_at_the_last_offset_delta_with_the_refusal_of_one_by_one() {
        let mut b = BatchBuilder::new(0);
        b.append_raw(i32::MAX - 1, 0, None, None, &[]).unwrap();
        let records = [BorrowedRecord::new("a", "1"), BorrowedRecord::new("b", "2")];
        let refused = b.append_all_stamped(&records, 5).unwrap_err();
        assert_eq!(refused, not_increasing(i32::MAX));
        // The record at i32::MAX is in, with its timestamp stamped.
        assert_eq!(b.count(), 2);
        let batch = BatchView::new(b.build().unwrap()).unwrap();
        assert_eq!(batch.last_offset_delta(), i32::MAX);
        assert_eq!(batch.max_timestamp(), 5);
    }

    #[test]
    fn append_takes_the_next_delta_and_refuses_past_i32_max_as_an_explicit_delta_is_refused() {
        let mut b = BatchBuilder::new(0);
        b.append(&Record::new("a", "1")).unwrap();
        b.append_raw(5, 0, None, None, &[]).unwrap();
        b.append(&Record::new("b", "2")).unwrap();
        let explicit = b.append_raw(6, 0, None, None, &[]).unwrap_err();
        let batch = BatchView::new(b.build().unwrap()).unwrap();
        let deltas: Vec<i32> =
            batch.records().unwrap().map(|r| r.unwrap().offset_delta()).collect();
        assert_eq!(deltas, [0, 5, 6]);
        let mut full = BatchBuilder::new(0);
        full.append_raw(i32::MAX, 0, None, None, &[]).unwrap();
        let next = full.append(&Record::new("c", "3")).unwrap_err();
        // The same refusal either way, and the batch keeps its one record.
        assert_eq!(next, not_increasing(i32::MAX));
        assert_eq!(explicit, not_increasing(6));
        assert_eq!(full.count(), 1);
    }

    #[test]
    fn values_of_every_length_to_140_bytes_encode_to_the_reference_bytes() {
        // Each length twice in a row: once as a template's first record, once as its match
        // (the copies of 17 to 128 bytes are two overlapping moves, the rest memcpy).
        let bytes: Vec<u8> = (0..140u8).collect();
        let records: Vec<BorrowedRecord<'_>> = (0..=140)
            .flat_map(|n| [0, 1].map(|_| BorrowedRecord::new("key", &bytes[..n])))
            .collect();
        let mut all = BatchBuilder::new(0);
        all.append_all_stamped(&records, 5).unwrap();
        let mut want = Vec::new();
        for (i, r) in records.iter().enumerate() {
            want.extend(reference_record(0, i as i32, r.key, r.value, &[]));
        }
        assert_eq!(&all.build().unwrap()[layout::BATCH_OVERHEAD..], &want[..]);
    }

    /// A generated record: timestamp, key, value, headers.
    type Fields = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<(Vec<u8>, Option<Vec<u8>>)>);

    /// Record fields for the proptests: keys and values null, short
    /// (the copies of 8 to 16 bytes), of two-byte lengths, or (rarely)
    /// large; timestamps stamped, near the first, far from it, or extreme;
    /// now and then headers.
    fn arb_record() -> impl Strategy<Value = Fields> {
        let bytes = || {
            prop_oneof![
                2 => Just(None),
                6 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(Some),
                3 => proptest::collection::vec(any::<u8>(), 60..200).prop_map(Some),
                1 => (9_000usize..20_000).prop_map(|n| Some(vec![5u8; n])),
            ]
        };
        let ts = prop_oneof![
            4 => Just(NO_TIMESTAMP),
            3 => 1_700_000_000_000i64..1_700_000_000_100,
            1 => 0i64..1 << 40,
            1 => any::<i64>(),
        ];
        let header = (
            proptest::collection::vec(any::<u8>(), 0..6),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
        );
        let headers = prop_oneof![
            6 => Just(Vec::new()),
            1 => proptest::collection::vec(header, 1..3),
        ];
        (ts, bytes(), bytes(), headers)
    }

    /// [`crate::format::encode::reference_record`] of a record with borrowed headers.
    fn reference_record(
        ts_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[BorrowedHeader<'_>],
    ) -> Vec<u8> {
        let headers: Vec<_> = headers.iter().map(|h| (h.key, h.value)).collect();
        crate::format::encode::reference_record(ts_delta, offset_delta, key, value, &headers)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn random_records_appended_at_once_encode_to_the_reference_bytes(
            records in proptest::collection::vec(arb_record(), 1..120),
            now in 1_700_000_000_000i64..1_700_000_001_000,
        ) {
            let records: Vec<BorrowedRecord<'_>> = records
                .iter()
                .map(|(ts, k, v, hs)| {
                    let mut r = BorrowedRecord::new("", "").timestamp(*ts);
                    r.key = k.as_deref();
                    r.value = v.as_deref();
                    for (hk, hv) in hs {
                        r.headers.push(BorrowedHeader { key: hk, value: hv.as_deref() });
                    }
                    r
                })
                .collect();
            let mut all = BatchBuilder::new(0);
            all.append_all_stamped(&records, now).unwrap();
            let stamp = |r: &BorrowedRecord<'_>| if r.timestamp == NO_TIMESTAMP { now } else { r.timestamp };
            let base = stamp(&records[0]);
            let mut want = Vec::new();
            for (i, r) in records.iter().enumerate() {
                want.extend(reference_record(
                    stamp(r).wrapping_sub(base),
                    i as i32,
                    r.key,
                    r.value,
                    &r.headers,
                ));
            }
            let built = all.build().unwrap();
            proptest::prop_assert_eq!(&built[layout::BATCH_OVERHEAD..], &want[..]);
            let batch = BatchView::new(built).unwrap();
            batch.validate().unwrap();
            proptest::prop_assert_eq!(batch.records_count() as usize, records.len());
            // As Kafka's builder: the largest timestamp above -1.
            let max = records.iter().map(stamp).fold(NO_TIMESTAMP, i64::max);
            proptest::prop_assert_eq!(batch.max_timestamp(), max);
        }

        /// Neighbours that differ in their value's length alone take the
        /// template's rewrite of its value fields (the encoder's
        /// `Template::resize`), unless a varint widens: lengths around the
        /// value length's and the record length's width steps (64 and 8,192
        /// bytes), null values among them, over 64 offset deltas; timestamp
        /// deltas up to 2^53 in magnitude, so the record's head (length,
        /// attributes, timestamp delta) passes the template's first word.
        #[test]
        fn records_whose_values_change_length_encode_to_the_reference_bytes(
            lens in proptest::collection::vec(
                prop_oneof![
                    8 => 40usize..90,
                    1 => Just(usize::MAX),
                    2 => 8_150usize..8_250,
                ],
                1..200,
            ),
            key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            now in 1_700_000_000_000i64..1_700_000_001_000,
            delta in prop_oneof![
                4 => Just(0i64),
                1 => Just(1i64 << 40),
                1 => Just(-(1i64 << 50)),
                1 => Just(1i64 << 53),
                2 => 1i64..100_000,
            ],
        ) {
            let bytes = vec![7u8; 8_250];
            // The first record sets the base timestamp; the rest sit `delta` from it.
            let ts_delta = |i: usize| if i == 0 { 0 } else { delta };
            let records: Vec<BorrowedRecord<'_>> = lens
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let mut r = BorrowedRecord::new("", "").timestamp(now + ts_delta(i));
                    r.key = key.as_deref();
                    r.value = bytes.get(..n);
                    r
                })
                .collect();
            let mut all = BatchBuilder::new(0);
            all.append_all_stamped(&records, now).unwrap();
            let mut want = Vec::new();
            for (i, r) in records.iter().enumerate() {
                want.extend(reference_record(ts_delta(i), i as i32, r.key, r.value, &[]));
            }
            let built = all.build().unwrap();
            proptest::prop_assert_eq!(&built[layout::BATCH_OVERHEAD..], &want[..]);
            proptest::prop_assert_eq!(BatchView::new(built).unwrap().records_count() as usize, records.len());
        }

        #[test]
        fn the_rules_refuse_the_first_record_that_breaks_them_whatever_the_quick_test_vouches_for(
            records in proptest::collection::vec(arb_record(), 1..60),
            bad_ts in proptest::collection::vec(any::<bool>(), 1..60),
            vouch_every in 1i64..4,
        ) {
            let now = 1_700_000_000_000;
            let records: Vec<BorrowedRecord<'_>> = records
                .iter()
                .map(|(ts, k, v, _)| {
                    let mut r = BorrowedRecord::new("", "").timestamp(*ts);
                    r.key = k.as_deref();
                    r.value = v.as_deref();
                    r
                })
                .collect();
            // A rule on timestamps and key nullity only (what the log's rules
            // read): odd timestamps with a null key are refused where `bad_ts` says.
            let refused = |i: usize, ts: i64, key_is_null: bool| {
                key_is_null && ts % 2 != 0 && bad_ts.get(i % bad_ts.len()).copied().unwrap_or(false)
            };
            let stamp = |r: &BorrowedRecord<'_>| if r.timestamp == NO_TIMESTAMP { now } else { r.timestamp };
            let first_bad = records.iter().enumerate().position(|(i, r)| refused(i, stamp(r), r.key.is_none()));
            // The quick test vouches only for records no rule refuses at any
            // index (a record of one shape may sit at several indexes).
            let surely = |ts: i64, key_is_null: bool| {
                !(key_is_null && ts % 2 != 0) && ts % vouch_every == 0
            };
            let mut b = BatchBuilder::new(0);
            let got = b.append_all_checked(
                &records,
                now,
                surely,
                |i, ts, null| if refused(i, ts, null) { Err(i) } else { Ok(()) },
                |_| usize::MAX,
            );
            match first_bad {
                Some(i) => proptest::prop_assert_eq!(got, Err(i)),
                None => {
                    proptest::prop_assert_eq!(got, Ok(()));
                    proptest::prop_assert_eq!(b.count() as usize, records.len());
                }
            }
        }
    }
}
