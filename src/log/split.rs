//! Splitting a segment whose offsets overflow its base (Kafka's
//! `LocalLog.splitOverflowedSegment`, KAFKA-6264).
//!
//! Index entries store offsets relative to the segment's base as int32, so a
//! segment may only hold offsets up to `base + i32::MAX`. Kafka's brokers
//! before 0.11 could write legacy (magic 0/1) segments past that — a
//! compacted log whose cleaner grouped sparse offsets into one segment — and
//! a loader that takes the overflow for corruption would cut the segment and
//! drop every later one. Kafka splits it instead, and so does this: its
//! batches are copied in order into new segments, a new one starting at each
//! batch whose last offset its current segment cannot express (the first part
//! keeps the original's base unless the first batch already overflows it,
//! and then starts at that batch, as Kafka names every part), and the parts
//! replace the original through the swap protocol of [`super::swap`] (parts
//! `.cleaned` -> `.swap`, original deleted, parts renamed), so a crash at any
//! step reopens to the original or to all the parts.

use std::path::Path;
use std::sync::Arc;

use crate::Result;
use crate::format::file_name::{CLEANED_SUFFIX, DELETED_SUFFIX, SWAP_SUFFIX};
use crate::io::{fault, file};
use crate::segment::overflow::{overflows, splits};
use crate::segment::{Segment, SegmentLimits};

/// Splits `seg` if some batch's offsets overflow its base and every batch
/// stays below `next_base` (the next segment's base); returns the parts,
/// opened as ordinary segments, or `None` when there is nothing to split.
///
/// A segment whose framing stops before its end (a torn or corrupt tail) is
/// left alone: copying would drop the tail without the recovery that decides
/// about it, so recovery handles such a segment as before.
pub(super) fn split_overflowed(
    dir: &Path,
    seg: &Segment,
    limits: &SegmentLimits,
    now: i64,
    next_base: Option<i64>,
) -> Result<Option<Vec<Arc<Segment>>>> {
    let base = seg.base_offset();
    if !splits(seg.bytes(0, seg.len())?, base, next_base) {
        return Ok(None);
    }
    let mut parts: Vec<Arc<Segment>> = Vec::new();
    // Cleared when the bytes stop framing before the end: not a whole split.
    let mut framed = true;
    let result = (|| {
        for item in seg.batches_from(0)? {
            let Ok((_, batch)) = item else {
                framed = false;
                break;
            };
            let current = parts.last().map_or(base, |p| p.base_offset());
            if parts.is_empty() || overflows(batch.last_offset(), current) {
                // A part starts at its first batch, as Kafka's do; the first keeps the
                // original's name unless its first batch already overflows it (an old
                // cleaner's group whose records below were all compacted away).
                let start = if parts.is_empty() && !overflows(batch.last_offset(), base) {
                    base
                } else {
                    batch.base_offset()
                };
                parts.push(Segment::create_with_suffix(
                    dir,
                    start,
                    limits.clone(),
                    now,
                    0,
                    CLEANED_SUFFIX,
                )?);
            }
            if let Some(part) = parts.last() {
                part.append(&batch)?;
            }
        }
        Ok::<_, crate::Error>(())
    })();
    let whole = framed && parts.iter().map(|p| p.len()).sum::<u64>() == seg.len();
    // One part named as the original would change nothing.
    let moved = parts.len() >= 2 || parts.first().is_some_and(|p| p.base_offset() != base);
    if result.is_err() || !whole || !moved {
        for part in &parts {
            let _ = part.delete_files();
        }
        return result.map(|()| None);
    }
    for part in &parts {
        part.seal()?;
        part.flush()?;
    }
    // The swap protocol, as the cleaner's (see `super::swap`): descending
    // renames to `.swap`, the original deleted, the parts renamed into place.
    for part in parts.iter().rev() {
        part.change_suffix(CLEANED_SUFFIX, SWAP_SUFFIX)?;
    }
    fault::point("split::after_swap_rename")?;
    seg.add_suffix(DELETED_SUFFIX)?;
    seg.delete_files()?;
    for part in &parts {
        part.change_suffix(SWAP_SUFFIX, "")?;
        part.release();
    }
    file::fsync_dir(dir)?;
    let bases: Vec<i64> = parts.iter().map(|p| p.base_offset()).collect();
    drop(parts);
    let reopened = bases
        .into_iter()
        .map(|b| Segment::open(dir, b, limits.clone(), now, 0))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(reopened))
}
