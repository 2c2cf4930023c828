//! Reads: zero-copy fetches ([`Log::read`]) of whole batches, as file
//! slices ([`super::FileSlice`]) a server can send.

use std::sync::Arc;

use crate::format::BatchIter;
use crate::format::batch::peek_v2;
use crate::segment::stop_error;
use crate::{Error, Result};

use super::Log;
use super::fetched::{Fetched, FileSlice, FileSource, Slices};

/// The corruption of a batch at `position` of `seg` whose offsets cannot be
/// there: reaching the next segment's base (`next_base`), past the log
/// end (no append has handed those offsets out), or not above the batch
/// read before it (`previous_next`, its next offset: a base offset lowered
/// by a flipped bit would serve that batch's offsets again, and shift its
/// own records). `None` for a batch in place.
fn misplaced(
    seg: &crate::segment::Segment,
    position: u64,
    (base_offset, last_offset): (i64, i64),
    previous_next: Option<i64>,
    next_base: Option<i64>,
    log_end_offset: i64,
) -> Option<Error> {
    let reason = if next_base.is_some_and(|n| last_offset >= n) {
        "reaches the next segment's base offset"
    } else if previous_next.is_some_and(|n| base_offset < n) {
        "not above the previous batch's offsets"
    } else if base_offset > log_end_offset {
        "past the log end offset"
    } else {
        return None;
    };
    let e = crate::format::FormatError::InvalidValue {
        field: "batch.baseOffset",
        value: base_offset,
        reason,
    };
    Some(seg.corrupt_at(position, e))
}

/// How many batches ahead of the one it frames a read asks for a header.
const AHEAD_HEADERS: usize = 4;

/// Asks the CPU for the headers a read is likely to frame next, `size`
/// (the batch at the start of `rest`) apart, as far as `room` (the bytes
/// the read may still take) reaches; all [`AHEAD_HEADERS`] of them when
/// `first`, else the farthest only (the nearer ones were asked for by the
/// batches before).
///
/// A read frames its batches by their headers, and each header's length
/// leads to the next: a chain of waits on memory, one a batch, for bytes
/// the CPU's own prefetcher does not fetch (they lie pages apart). A
/// steady producer's batches are about one size, so the guess is usually
/// right; a wrong one costs a line fetched for nothing. On the Intel Xeon
/// that made this change (`examples/read_loop crc 1000000 10`, 11.8 KB
/// batches, 1 MiB fetches, three pairs): 12.8-13.3 ns a record before,
/// 11.6-12.0 after. A hint only: what the read returns is the same.
#[inline]
fn ask_ahead(rest: &[u8], size: usize, room: usize, first: bool) {
    let nearest = if first { 1 } else { AHEAD_HEADERS };
    for k in nearest..=AHEAD_HEADERS {
        let at = size.saturating_mul(k);
        // Batches the read would stop before are not asked for.
        if at.saturating_add(size) > room {
            break;
        }
        if let Some(header) = rest.get(at) {
            crate::io::hint::prefetch(header);
        }
    }
}

impl Log {
    /// Reads whole batches starting with the one holding `offset`, up to
    /// `max_bytes` — but always at least one batch, even a larger one (Kafka's
    /// KIP-74 rule) — and never past the log end offset. Reading at the log
    /// end returns an empty result.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the log start offset or above the end;
    /// [`Error::Closed`] once the log is closed; [`Error::Corrupt`] naming the
    /// `.log` and position when the batch at `offset` does not frame or its
    /// offsets cannot be there (a read reaching such bytes after whole
    /// batches returns those batches, and the next read fails). CRCs are
    /// checked when records are decoded, not here.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Fetched> {
        self.check_open()?;
        let v = self.view();
        self.read_below(&v, offset, max_bytes, v.log_end_offset)
    }

    /// [`Log::read`] from the snapshot `v`, returning no batch at or above `limit`.
    pub(super) fn read_below(
        &self,
        v: &super::View,
        offset: i64,
        max_bytes: usize,
        limit: i64,
    ) -> Result<Fetched> {
        let mut out = Fetched {
            slices: Slices::Empty,
            start_offset: offset,
            next_offset: offset,
            log_start_offset: v.log_start_offset,
            log_end_offset: v.log_end_offset,
            ..Fetched::default()
        };
        if offset < v.log_start_offset || offset > v.log_end_offset {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: v.log_start_offset,
                log_end_offset: v.log_end_offset,
            });
        }
        if offset >= limit {
            return Ok(out); // a tailing reader caught up: nothing to look up
        }
        let first = v.segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let mut total = 0usize;
        for (i, seg) in v.segments.iter().enumerate().skip(first) {
            // Tests stop a read here, between its snapshot and its bytes.
            crate::io::fault::point("log::read::segment")?;
            // One map access per segment: the lookup and the slice share it.
            let whole = seg.bytes(0, seg.len())?;
            let start = if i == first {
                match seg.locate(&whole, offset)? {
                    Some(loc) => loc.position,
                    None => continue,
                }
            } else {
                0
            };
            let data = whole.slice(usize::try_from(start).unwrap_or(usize::MAX).min(whole.len())..);
            let mut end = 0usize;
            // Set when a batch stops the read: later segments must not be read past it.
            let mut full = false;
            let next_base = v.segments.get(i + 1).map(|s| s.base_offset());
            let mut stop = None;
            let mut pos = 0usize;
            // The last batch taken in this segment: its position, size, base
            // offset, and the end of the batch taken before it in this read.
            let mut taken: Option<(usize, usize, i64, Option<i64>)> = None;
            while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
                // v2 headers are read in place; anything else takes the general framing.
                let (size, base_offset, last_offset) = match peek_v2(rest) {
                    Some(frame) => frame,
                    None => {
                        let mut iter = BatchIter::new(data.slice(pos..));
                        match iter.next() {
                            Some((_, b)) => (b.size(), b.base_offset(), b.last_offset()),
                            None => {
                                stop = iter.stop_reason().cloned().map(|r| (pos, r));
                                break;
                            }
                        }
                    }
                };
                ask_ahead(rest, size, max_bytes.saturating_sub(total), pos == 0);
                let at = start + pos as u64;
                let previous_next = (total > 0).then_some(out.next_offset);
                let offsets = (base_offset, last_offset);
                if let Some(e) =
                    misplaced(seg, at, offsets, previous_next, next_base, v.log_end_offset)
                {
                    // Offsets outside the segment's range (a flipped bit in a
                    // base offset, which the CRC does not cover) are damage:
                    // stopping there quietly would leave the reader stuck.
                    // A batch going back that fits after the one before the
                    // batch taken last shows that one raised (recovery's
                    // `Placer` rule; landing on its base, when that one left
                    // a gap, too): it is not served either.
                    if previous_next.is_some_and(|n| base_offset < n)
                        && let Some((p_pos, p_size, p_base, Some(before))) = taken
                        && base_offset >= before
                        && (base_offset < p_base || (base_offset == p_base && p_base > before))
                    {
                        end = p_pos;
                        total -= p_size;
                        out.next_offset = before;
                    }
                    if total == 0 {
                        return Err(e);
                    }
                    full = true;
                    break;
                }
                if base_offset >= limit {
                    full = true;
                    break;
                }
                if total > 0 && total + size > max_bytes {
                    full = true;
                    break;
                }
                // What the taken batch had to follow: the batch before it in
                // this read, or for a segment's first batch its base offset
                // (its name; recovery's `Placer` starts there too).
                let before = if total > 0 {
                    Some(out.next_offset)
                } else {
                    (at == 0).then(|| seg.base_offset())
                };
                taken = Some((pos, size, base_offset, before));
                end = pos + size;
                pos = end;
                total += size;
                out.next_offset = last_offset.wrapping_add(1);
            }
            if !full
                && let Some((at, reason)) = stop
                && let Some(e) = stop_error(&seg.log_path(), start + at as u64, Some(&reason))
            {
                // Bytes that stop framing inside a segment are damage, never its
                // end: reading on in the next segment would skip offsets. What
                // came before is returned; the read that starts at it fails.
                if total == 0 {
                    return Err(e);
                }
                full = true;
            }
            if end > 0 {
                // A reader handed a large fetch reads on after it: the pages
                // past it are mapped on another core (`io::ahead`; smaller
                // fetches are passed over in `read_ahead`), when it is the
                // map's leading reader (readers behind it find them mapped).
                seg.read_ahead(start, start + end as u64, whole.len() as u64);
                // The slice finds the segment's file when asked
                // (`FileSlice::file`), holding no descriptor meanwhile.
                out.slices.push(FileSlice {
                    path: seg.shared_log_path(),
                    position: start,
                    bytes: data.slice(..end),
                    source: FileSource(Arc::clone(seg)),
                });
            }
            if full || total >= max_bytes || out.next_offset >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::io::ahead;
    use crate::{BorrowedRecord, LoadOptions, Log, LogConfig, ManualClock};

    /// A log of one segment holding about `bytes` of 1 KiB records.
    fn log_of(dir: &std::path::Path, bytes: usize) -> Log {
        let clock = ManualClock::new(1_700_000_000_000);
        let (log, _) =
            Log::open(dir, "t", 0, LogConfig::default(), clock, LoadOptions::default()).unwrap();
        let value = vec![5u8; 1000];
        let batch: Vec<BorrowedRecord<'_>> =
            (0..64).map(|_| BorrowedRecord::new(b"key", &value)).collect();
        while log.size_bytes() < bytes as u64 {
            log.append(&batch).unwrap();
        }
        log
    }

    #[test]
    fn point_reads_and_small_fetches_claim_nothing_and_a_large_fetch_claims_ahead_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_of(dir.path(), 8 << 20);
        let seg = Arc::clone(log.segments().last().unwrap());
        let published = usize::try_from(seg.len()).unwrap();
        let mut offset = 0;
        while offset < log.log_end_offset() {
            let f = log.read(offset, 64 << 10).unwrap();
            offset = f.next_offset();
        }
        for o in [0, 1_000, 7_000] {
            log.read_record(o, |r| r.offset()).unwrap();
            log.read(o, 1).unwrap();
        }
        assert_eq!(seg.claimed_ahead(), 0, "64 KiB fetches and point reads claim nothing");
        if !ahead::available() {
            println!("skipped: no populating worker here (one core, or not Linux)");
            return;
        }
        let f = log.read(0, 1 << 20).unwrap();
        let fetched = f.size_bytes();
        assert!(fetched >= ahead::MIN_FETCH);
        assert_eq!(seg.claimed_ahead(), (fetched + ahead::LEAD).min(published));
        log.close().unwrap();
    }
}
