//! Offsets a segment's indexes cannot express: index entries store an offset
//! relative to the segment's base as int32, so a segment may hold offsets up
//! to `base + i32::MAX`. Only legacy segments of old brokers go past that
//! (KAFKA-6264); a writer's open splits them (`log/split.rs`) rather than
//! taking the overflow for corruption, and a read-only open must agree.

use bytes::Bytes;

use crate::format::{BatchIter, StopReason};

/// Whether `offset` cannot be stored relative to `base` in an index entry.
pub(crate) fn overflows(offset: i64, base: i64) -> bool {
    offset.checked_sub(base).is_none_or(|d| d > i64::from(i32::MAX))
}

/// Whether a writer's open splits a segment at `base` holding `data`: some
/// batch overflows the base, every byte frames into whole batches, the
/// offsets rise from batch to batch and stay below `next_base`, the base of
/// the segment after it (a torn or corrupt tail, or a batch whose base
/// offset — outside the CRC — took a flipped bit and jumped, is left to
/// recovery, which decides what to keep). A batch at or past the next
/// segment's base is no legacy overflow: the split would place a part there,
/// out of order with the segments after it.
pub(crate) fn splits(data: Bytes, base: i64, next_base: Option<i64>) -> bool {
    let mut iter = BatchIter::new(data);
    let mut overflow = false;
    let mut next = base;
    for (_, b) in iter.by_ref() {
        if b.base_offset() < next || next_base.is_some_and(|n| b.last_offset() >= n) {
            return false;
        }
        overflow |= overflows(b.last_offset(), base);
        next = b.next_offset();
    }
    overflow && iter.stop_reason() == Some(&StopReason::End)
}
