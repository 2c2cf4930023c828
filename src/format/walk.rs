//! Checking a v2 batch's records without building them: what the log needs
//! to validate a client batch (Kafka's `LogValidator` decodes every record
//! of a producer batch) in one pass that allocates nothing per record.
//!
//! [`walk_records`] applies exactly the rules of
//! [`BatchView::check_records`](super::BatchView::check_records) — each
//! record frames within its declared length, lengths are -1 or >= 0, header
//! keys are not null, offset deltas increase within `[0, lastOffsetDelta]`,
//! the count matches and no bytes are left over — with the same errors, but
//! hands the caller only the few facts the log's rules look at.

use super::batch::DEFAULT_MAX_DECOMPRESSED;
use super::compression::decompress;
use super::layout;
use super::varint::{read_varint, read_varlong};
use super::{BatchView, Compression, FormatError, FormatResult};

/// What the log's rules need from one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordFacts {
    /// The stored offset delta.
    pub offset_delta: i32,
    /// The stored timestamp delta (from the batch's baseTimestamp).
    pub timestamp_delta: i64,
    /// Whether the key is null.
    pub key_is_null: bool,
}

/// Walks every record of the v2 `batch` (decompressing its records section
/// once if it is compressed), checks its framing, and calls `each` with its
/// facts. The CRC is not checked here: call [`BatchView::validate`] first.
///
/// # Errors
/// A format violation wrapped by `wrap`, or the first error of `each`.
pub(crate) fn walk_records<E>(
    batch: &BatchView,
    wrap: impl Fn(FormatError) -> E,
    mut each: impl FnMut(RecordFacts) -> Result<(), E>,
) -> Result<(), E> {
    let bytes = batch.as_bytes();
    let stored = bytes.get(layout::RECORDS..).unwrap_or_default();
    let decompressed;
    let section = match batch.compression().map_err(&wrap)? {
        Compression::None => stored,
        codec => {
            decompressed = decompress(codec, stored, DEFAULT_MAX_DECOMPRESSED).map_err(&wrap)?;
            &decompressed[..]
        }
    };
    let count = batch.records_count();
    let last = batch.last_offset_delta();
    let mut walker = Walker { src: section, pos: 0 };
    let mut prev: Option<i32> = None;
    for _ in 0..count.max(0) {
        let facts = walker.record().map_err(&wrap)?;
        each(facts)?;
        let d = facts.offset_delta;
        if d < 0 || d > last || prev.is_some_and(|p| d <= p) {
            return Err(wrap(FormatError::InvalidValue {
                field: "record.offsetDelta",
                value: d.into(),
                reason: "deltas must increase within [0, lastOffsetDelta]",
            }));
        }
        prev = Some(d);
    }
    if walker.pos < section.len() {
        // Kafka's `ensureNoneRemaining`: leftover bytes mean the count lied.
        return Err(wrap(FormatError::TrailingBytes { count, extra: section.len() - walker.pos }));
    }
    Ok(())
}

/// A cursor over encoded records that only measures them.
struct Walker<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Walker<'_> {
    fn rest(&self) -> &[u8] {
        self.src.get(self.pos..).unwrap_or_default()
    }

    /// A one-byte varint (most lengths, deltas and counts), decoded in place.
    fn one_byte(&mut self) -> Option<i64> {
        let b = *self.src.get(self.pos).filter(|b| **b < 0x80)?;
        self.pos += 1;
        Some(i64::from(b >> 1) ^ -i64::from(b & 1))
    }

    fn varint(&mut self, field: &'static str) -> FormatResult<i32> {
        if let Some(v) = self.one_byte() {
            return Ok(v as i32);
        }
        let (v, n) = read_varint(self.rest(), field)?;
        self.pos += n;
        Ok(v)
    }

    fn varlong(&mut self, field: &'static str) -> FormatResult<i64> {
        if let Some(v) = self.one_byte() {
            return Ok(v);
        }
        let (v, n) = read_varlong(self.rest(), field)?;
        self.pos += n;
        Ok(v)
    }

    fn skip(&mut self, field: &'static str, n: usize, limit: usize) -> FormatResult<()> {
        let available = limit.saturating_sub(self.pos);
        if n > available {
            return Err(FormatError::Truncated { field, needed: n, available });
        }
        self.pos += n;
        Ok(())
    }

    /// Skips a nullable length-prefixed byte string that must end by `limit`;
    /// whether it was null.
    fn nullable(
        &mut self,
        len_field: &'static str,
        field: &'static str,
        limit: usize,
    ) -> FormatResult<bool> {
        match self.varint(len_field)? {
            -1 => Ok(true),
            n if n < -1 => Err(FormatError::InvalidValue {
                field: len_field,
                value: i64::from(n),
                reason: "lengths are -1 (null) or >= 0",
            }),
            n => self.skip(field, n.unsigned_abs() as usize, limit).map(|()| false),
        }
    }

    /// Measures the record at the cursor, as the decoder would read it.
    fn record(&mut self) -> FormatResult<RecordFacts> {
        let len = self.varint("record.length")?;
        let len = usize::try_from(len).map_err(|_| FormatError::InvalidValue {
            field: "record.length",
            value: i64::from(len),
            reason: "a record length cannot be negative",
        })?;
        let start = self.pos;
        let available = self.src.len().saturating_sub(start);
        if len > available {
            return Err(FormatError::Truncated { field: "record.body", needed: len, available });
        }
        let end = start + len;
        self.skip("record.attributes", 1, end)?;
        let timestamp_delta = self.varlong("record.timestampDelta")?;
        let offset_delta = self.varint("record.offsetDelta")?;
        let key_is_null = self.nullable("record.keyLength", "record.key", end)?;
        self.nullable("record.valueLength", "record.value", end)?;
        let count = self.varint("record.headerCount")?;
        if count < 0 {
            return Err(FormatError::InvalidValue {
                field: "record.headerCount",
                value: i64::from(count),
                reason: "a header count cannot be negative",
            });
        }
        for _ in 0..count {
            let key_len = self.varint("record.header.keyLength")?;
            if key_len < 0 {
                return Err(FormatError::InvalidValue {
                    field: "record.header.keyLength",
                    value: i64::from(key_len),
                    reason: "header keys cannot be null",
                });
            }
            self.skip("record.header.key", key_len.unsigned_abs() as usize, end)?;
            self.nullable("record.header.valueLength", "record.header.value", end)?;
        }
        if self.pos != end {
            return Err(FormatError::InvalidValue {
                field: "record.length",
                value: len as i64,
                reason: "fields do not add up to the declared record length",
            });
        }
        Ok(RecordFacts { offset_delta, timestamp_delta, key_is_null })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::format::{BatchBuilder, Record};

    /// Whatever the decoder says about a batch's records, the walker says too.
    /// Returns whether the batch framed (and so was compared) and was refused.
    fn same_verdict(bytes: Bytes) -> Option<bool> {
        let batch = BatchView::new(bytes).ok()?;
        let decoded = batch.check_records(|e| e, |_| Ok(()));
        let walked = walk_records(&batch, |e| e, |_| Ok(()));
        assert_eq!(decoded, walked);
        Some(walked.is_err())
    }

    #[test]
    fn walker_agrees_with_the_decoder_on_every_truncation_and_bit_flip() {
        let mut b = BatchBuilder::new(0);
        b.append(&Record::new("key", "value").header("h", "x")).unwrap();
        b.append(&Record::tombstone("k2")).unwrap();
        b.append(&Record::unkeyed("v3")).unwrap();
        let good = b.build().unwrap();
        assert_eq!(same_verdict(good.clone()), Some(false));
        for cut in layout::RECORDS..good.len() {
            // The batch length follows the cut, so the header still frames.
            let mut v = good.slice(..cut).to_vec();
            let length = i32::try_from(cut - layout::LOG_OVERHEAD).unwrap();
            v[layout::LENGTH..layout::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
            assert_eq!(same_verdict(Bytes::from(v)), Some(true), "cut at {cut}");
        }
        let mut refused = 0;
        for at in layout::RECORDS..good.len() {
            for bit in 0..8 {
                let mut v = good.to_vec();
                v[at] ^= 1 << bit;
                refused += usize::from(same_verdict(Bytes::from(v)) == Some(true));
            }
        }
        assert!(refused > 0, "some bit flips must break the records' framing");
    }

    #[test]
    fn walker_reports_each_records_facts() {
        let mut b = BatchBuilder::new(0);
        b.append(&Record::new("k", "v").timestamp(10)).unwrap();
        b.append(&Record::unkeyed("v").timestamp(25)).unwrap();
        let batch = BatchView::new(b.build().unwrap()).unwrap();
        let mut seen = Vec::new();
        walk_records(
            &batch,
            |e| e,
            |f| {
                seen.push(f);
                Ok::<(), FormatError>(())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                RecordFacts { offset_delta: 0, timestamp_delta: 0, key_is_null: false },
                RecordFacts { offset_delta: 1, timestamp_delta: 15, key_is_null: true },
            ]
        );
    }
}
