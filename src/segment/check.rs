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
//!   starts at or below the entry's offset, and a batch at or after it holds
//!   that offset (the entry names the last offset of the append that wrote
//!   the batch: a base offset lowered by a flipped bit, which the CRC does
//!   not cover, shows as batches that no longer reach it);
//! - no entry of either index names an offset of the next segment, and the
//!   batches at the start and at the last entry hold no offset of it;
//! - for the active segment, the batches after the last entry frame exactly
//!   up to the end of the file with rising offsets, none ending at
//!   `i64::MAX` or wrapping past it (no log end follows), and the time index names
//!   no offset past them;
//! - the time index's last entry, the segment's largest timestamp, is
//!   carried by the v2 batch holding its offset, and does not name an
//!   offset past the last batch (a header walk from the offset index's
//!   floor entry for it);
//! - the `.txnindex`, when there is one, decodes (Kafka's
//!   `TransactionIndex.sanityCheck`, which its `LogLoader` runs on every
//!   segment at load: a failing segment is recovered) and no entry ends at an
//!   offset of the next segment, or past the active segment's data.

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
        // Kafka's `LogSegment.sanityCheck` checks the `.txnindex` at every
        // load, and `LogLoader` recovers a segment whose index fails it.
        let txns = match self.txn_index().entries() {
            Ok(txns) => txns,
            Err(e @ (crate::Error::Corrupt { .. } | crate::Error::CorruptFile { .. })) => {
                return Ok(Some(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        let txn_path = self.txn_index().path();
        if let Some(t) = txns.last()
            && next_base.is_some_and(|next| t.last_offset >= next)
        {
            let o = t.last_offset;
            let p = txn_path.display();
            return Ok(Some(format!("{p}: an entry ends at offset {o}, of the next segment")));
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
                Some((base, ..)) if base > last.offset => {
                    let o = last.offset;
                    return Ok(at(format!("(offset {o}) points at a batch starting at {base}")));
                }
                Some((_, end, _)) if next_base.is_some_and(|next| end >= next) => {
                    return Ok(at(format!(
                        "points at a batch ending at {end}, in the next segment"
                    )));
                }
                Some((_, end, size)) if end < last.offset => {
                    if !self.reaches(pos + size, end, last.offset)? {
                        let o = last.offset;
                        return Ok(at(format!(
                            "(offset {o}) points at batches that end before it, from byte {pos}"
                        )));
                    }
                }
                Some(_) => {}
            }
        }
        // The first batch: its offsets lie in this segment's range (the base
        // offset is outside the CRC, so a flipped bit there hashes right).
        if len > 0 {
            let log = self.log_path();
            let first = |why: String| Some(format!("{}: first batch {why}", log.display()));
            match self.frame_at(0)? {
                None => return Ok(first("does not frame".to_owned())),
                Some((base, ..)) if base < self.base_offset() => {
                    return Ok(first(format!("starts at {base}, below the segment's base")));
                }
                Some((base, end, _)) if next_base.is_some_and(|next| end >= next) => {
                    return Ok(first(format!("holds offsets {base}..={end}, of the next segment")));
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
            let mut next_offset = (start == 0).then_some(self.base_offset());
            for (pos, b) in iter.by_ref() {
                // Offsets rise batch after batch. The base offset is outside
                // the CRC: a flipped bit there shows as a batch the next one
                // goes back from (gaps stay allowed: a follower's copy of a
                // compacted log has them even in its active segment).
                if next_offset.is_some_and(|n| b.base_offset() < n) {
                    let (log, at) = (self.log_path(), start + pos as u64);
                    let base = b.base_offset();
                    return Ok(Some(format!(
                        "{}: batch at byte {at} starts at offset {base}, below the one before's end",
                        log.display()
                    )));
                }
                // No offset follows `i64::MAX`, and a base offset raised near it
                // (outside the CRC) wraps the last offset: either way the log end
                // after the batch would wrap below zero.
                if b.last_offset() == i64::MAX || b.last_offset() < b.base_offset() {
                    let (log, at) = (self.log_path(), start + pos as u64);
                    return Ok(Some(format!(
                        "{}: batch at byte {at} starts at offset {}, and no log end can follow it",
                        log.display(),
                        b.base_offset()
                    )));
                }
                next_offset = Some(b.next_offset());
            }
            if let Some(stop) = iter.stop_reason().filter(|s| **s != StopReason::End) {
                let log = self.log_path();
                return Ok(Some(format!("{}: tail after byte {start}: {stop:?}", log.display())));
            }
            let end = next_offset.unwrap_or(self.base_offset());
            if let Some(t) = times.last.filter(|t| t.offset >= end) {
                let (o, p) = (t.offset, time_path.display());
                return Ok(Some(format!("{p}: names offset {o}, past the log end {end}")));
            }
            if let Some(t) = txns.last().filter(|t| t.last_offset >= end) {
                let (o, p) = (t.last_offset, txn_path.display());
                return Ok(Some(format!(
                    "{p}: an entry ends at offset {o}, past the log end {end}"
                )));
            }
        }
        // The time index's last entry `(T, O)` is what the segment's largest timestamp is
        // taken from at a trusted open (Kafka's `LogSegment.maxTimestampSoFar`, the last entry
        // read back): time retention, time lookups and MAX_TIMESTAMP trust it. Every writer
        // (Kafka's `LogSegment.append`, its roll and close entry, recovery, the cleaner) names
        // in `O` an offset of the batch whose maxTimestamp reached `T`, so the v2 batch holding
        // `O` carries `T`; one that does not shows a stale or foreign file, whose timestamp
        // would have retention delete records before their time or lookups skip them.
        // An entry past the last batch is of a longer `.log` than this one (truncation cuts
        // the time index with it): its timestamp is no record's.
        if let Some(t) = times.last {
            let floor = offsets.largest_le(t.offset, |e| e.offset)?;
            let (o, ts, p) = (t.offset, t.timestamp, time_path.display());
            match self.max_timestamp_holding(floor, t.offset)? {
                Holding::Carries(carried) if carried != ts => {
                    return Ok(Some(format!(
                        "{p}: last entry names timestamp {ts} at offset {o}, whose batch carries {carried}"
                    )));
                }
                Holding::PastEnd(end) => {
                    return Ok(Some(format!(
                        "{p}: last entry names offset {o}, past the batches of the .log (ending at {end})"
                    )));
                }
                Holding::Carries(_) | Holding::Unknown => {}
            }
        }
        Ok(None)
    }

    /// The maxTimestamp of the v2 batch holding `offset` ([`Holding`]), walking batch
    /// headers (`pread`, nothing mapped) from the offset index's floor
    /// entry for it (`floor`) when a batch starting at or below `offset`
    /// and ending at or below the entry's offset frames there (as a read's
    /// scan start, `usable_start`), else from the segment start. `None`
    /// when no batch holds it (a gap), the walk stops framing or going up,
    /// or the batch is a legacy (magic 0/1) one; past the end when the
    /// batches end below it at the end of the file.
    fn max_timestamp_holding(
        &self,
        floor: Option<crate::index::OffsetPosition>,
        offset: i64,
    ) -> Result<Holding> {
        let path = self.log_path();
        let f = identity::reopen_read(&path, self.log_id)?;
        let mut position = match floor {
            Some(e) if e.position > 0 => match self.frame_in(&f, u64::from(e.position))? {
                Some((base, last, _)) if base <= offset && last <= e.offset => {
                    u64::from(e.position)
                }
                _ => 0,
            },
            _ => 0,
        };
        let mut previous: Option<i64> = None;
        while let Some((base, last, size)) = self.frame_in(&f, position)? {
            if previous.is_some_and(|p| base <= p) || last < base || base > offset {
                return Ok(Holding::Unknown);
            }
            if offset <= last {
                let mut head = [0u8; layout::MAX_TIMESTAMP + 8];
                let read = file::read_up_to_at(&f, &path, &mut head, position)?;
                let magic = head_field::<1>(&head, layout::MAGIC)[0] as i8;
                if read < head.len() || magic != layout::MAGIC_V2 {
                    return Ok(Holding::Unknown);
                }
                let carried = i64::from_be_bytes(head_field(&head, layout::MAX_TIMESTAMP));
                return Ok(Holding::Carries(carried));
            }
            previous = Some(last);
            position += size;
        }
        // Batches that framed up to the end of the file, all below the offset.
        Ok(match previous {
            Some(end) if position == self.len() => Holding::PastEnd(end),
            _ => Holding::Unknown,
        })
    }

    /// Whether the batches from `position` on (where a batch ending at `end`
    /// below `offset` starts) reach `offset`: walking while they end below it
    /// with rising offsets, one holds it. An entry strata wrote names the last
    /// offset of the batch at its position (the caller's first header read
    /// settles it); a Kafka follower's or cleaner's names the last offset of
    /// an append of several batches, which takes this walk.
    fn reaches(&self, mut position: u64, mut end: i64, offset: i64) -> Result<bool> {
        let path = self.log_path();
        let f = identity::reopen_read(&path, self.log_id)?;
        while let Some((base, last, size)) = self.frame_in(&f, position)? {
            if base <= end || last < base {
                return Ok(false);
            }
            if base <= offset && offset <= last {
                return Ok(true);
            }
            if last > offset {
                return Ok(false);
            }
            end = last;
            position += size;
        }
        Ok(false)
    }

    /// The base and last offsets of the batch whose header is at `position`,
    /// if one frames there (a sane length that fits the file). Reads 27
    /// bytes with `pread`, so a sealed segment is not mapped just to be
    /// checked. A legacy (magic 0/1) entry's offset is its last offset.
    fn frame_at(&self, position: u64) -> Result<Option<(i64, i64, u64)>> {
        let f = identity::reopen_read(&self.log_path(), self.log_id)?;
        self.frame_in(&f, position)
    }

    /// [`Self::frame_at`] in the open `.log` `f`, with the batch's size in bytes.
    fn frame_in(&self, f: &std::fs::File, position: u64) -> Result<Option<(i64, i64, u64)>> {
        let path = self.log_path();
        let mut head = [0u8; layout::LAST_OFFSET_DELTA + 4];
        let read = file::read_up_to_at(f, &path, &mut head, position)?;
        if read < layout::HEADER_SIZE_UP_TO_MAGIC {
            return Ok(None);
        }
        let base = i64::from_be_bytes(head_field(&head, layout::BASE_OFFSET));
        let length = i32::from_be_bytes(head_field(&head, layout::LENGTH));
        let fits = length >= layout::MIN_FRAMED_LENGTH
            && position + layout::LOG_OVERHEAD as u64 + length.unsigned_abs() as u64 <= self.len();
        let magic = head_field::<1>(&head, layout::MAGIC)[0] as i8;
        let last = if magic >= layout::MAGIC_V2 && read == head.len() {
            let delta = i32::from_be_bytes(head_field(&head, layout::LAST_OFFSET_DELTA));
            base.saturating_add(i64::from(delta))
        } else {
            base
        };
        let size = layout::LOG_OVERHEAD as u64 + u64::from(length.unsigned_abs());
        Ok(fits.then_some((base, last, size)))
    }
}

/// What the batches of a `.log` say of an offset a time index entry names
/// (`Segment::max_timestamp_holding`).
enum Holding {
    /// The v2 batch holding it carries this maxTimestamp.
    Carries(i64),
    /// The batches frame to the end of the file and end at this offset,
    /// below it.
    PastEnd(i64),
    /// Not known: no batch frames at or after the walk's start, a gap, a
    /// walk that stops framing or going up, or a legacy batch.
    Unknown,
}

/// `N` bytes of `head` from `at` (the caller's offsets lie inside it).
fn head_field<const N: usize>(head: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = head.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}
