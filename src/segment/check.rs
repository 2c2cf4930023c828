//! Checks of a segment's files when a log is opened and its files are to be
//! trusted as they are (below the recovery point, or after a clean shutdown).
//!
//! Kafka skips these checks at load because it recovers everything above the
//! recovery point anyway (`LogSegment.sanityCheck`). strata checks a little
//! more, cheaply (one pass over each index, one batch header per segment, and
//! the active segment's tail after its last index entry), so that an index
//! that lies or a tail that no longer frames is rebuilt on disk instead of
//! making reads skip records or the log end offset fall back to the
//! segment's base:
//!
//! - both indexes pass their own sanity checks (length, order, zero tail);
//! - the last offset-index entry points inside the `.log`, at a batch that
//!   starts at or below the entry's offset;
//! - no entry of either index names an offset of the next segment;
//! - for the active segment, the batches after the last entry frame exactly
//!   up to the end of the file, and the time index names no offset past them.

use crate::Result;
use crate::format::{BatchIter, StopReason, layout};
use crate::io::{file, identity};

use super::Segment;

impl Segment {
    /// Why this segment's files cannot be trusted as they are, or `None`.
    /// `next_base` is the base offset of the following segment, `None` for
    /// the active one. I/O failures are errors; damage is a reason.
    pub(crate) fn damage(&self, next_base: Option<i64>) -> Result<Option<String>> {
        // Read, not mapped: a trusted segment's indexes stay unmapped until used.
        let offsets = self.offset_index().check()?;
        let index_path = self.offset_index().path();
        if let Some(reason) = offsets.problem {
            return Ok(Some(format!("{}: {reason}", index_path.display())));
        }
        let times = self.time_index().check()?;
        let time_path = self.time_index().path();
        if let Some(reason) = times.problem {
            return Ok(Some(format!("{}: {reason}", time_path.display())));
        }
        let len = self.len();
        if let Some(last) = offsets.last {
            let pos = u64::from(last.position);
            let at = |why: String| Some(format!("{}: last entry {why}", index_path.display()));
            if pos >= len {
                return Ok(at(format!("points at byte {pos}, past the end ({len} bytes)")));
            }
            if next_base.is_some_and(|next| last.offset >= next) {
                return Ok(at(format!("names offset {}, of the next segment", last.offset)));
            }
            match self.frame_at(pos)? {
                None => return Ok(at(format!("points at byte {pos}, where no batch frames"))),
                Some(base) if base > last.offset => {
                    let o = last.offset;
                    return Ok(at(format!("(offset {o}) points at a batch starting at {base}")));
                }
                Some(_) => {}
            }
        }
        if let Some(t) = times.last
            && next_base.is_some_and(|next| t.offset >= next)
        {
            let o = t.offset;
            return Ok(Some(format!(
                "{}: names offset {o}, of the next segment",
                time_path.display()
            )));
        }
        if next_base.is_none() {
            let start = offsets.last.map_or(0, |e| u64::from(e.position));
            let mut iter = BatchIter::new(self.bytes(start, len)?);
            let next_offset = iter.by_ref().last().map(|(_, b)| b.next_offset());
            if let Some(stop) = iter.stop_reason().filter(|s| **s != StopReason::End) {
                let log = self.log_path();
                return Ok(Some(format!("{}: tail after byte {start}: {stop:?}", log.display())));
            }
            let end = next_offset.unwrap_or(self.base_offset());
            if let Some(t) = times.last.filter(|t| t.offset >= end) {
                let (o, p) = (t.offset, time_path.display());
                return Ok(Some(format!("{p}: names offset {o}, past the log end {end}")));
            }
        }
        Ok(None)
    }

    /// The base offset of the batch whose header is at `position`, if one
    /// frames there (a sane length that fits the file). Reads 17 bytes with
    /// `pread`, so a sealed segment is not mapped just to be checked.
    fn frame_at(&self, position: u64) -> Result<Option<i64>> {
        let path = self.log_path();
        let f = identity::reopen_read(&path, self.log_id)?;
        let mut head = [0u8; layout::HEADER_SIZE_UP_TO_MAGIC];
        if file::read_up_to_at(&f, &path, &mut head, position)? < head.len() {
            return Ok(None);
        }
        let base = i64::from_be_bytes(head_field(&head, layout::BASE_OFFSET));
        let length = i32::from_be_bytes(head_field(&head, layout::LENGTH));
        let fits = length >= layout::MIN_FRAMED_LENGTH
            && position + layout::LOG_OVERHEAD as u64 + length.unsigned_abs() as u64 <= self.len();
        Ok(fits.then_some(base))
    }
}

/// `N` bytes of `head` from `at` (the caller's offsets lie inside it).
fn head_field<const N: usize>(head: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = head.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}
