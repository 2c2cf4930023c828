//! Point reads: the one record at an offset ([`Log::read_record`]).
//!
//! A point read serves what [`Log::read`]`(offset, 1)` and the first record
//! of its first batch would serve, checked the same way (the batch's CRC
//! and structure, its offsets against the batches around it), in fewer
//! steps. Its cost is mostly waiting on memory: the batch holding the
//! record (11.7 KB for 100 records of 108 bytes) is summed whole for its
//! CRC and is rarely in the CPU cache. So the read
//!
//! - asks for the header of the batch at the index's floor entry and the
//!   first lines of the batch at the entry after it (where the record's
//!   batch most likely starts) together, before it waits on either;
//! - asks for only the first 24 lines and the first line of each 4 KiB
//!   page: the CPU's own prefetcher streams the rest once the read walks
//!   them in order, where asking for every line up front stalled the read
//!   until nearly all of them had arrived (`examples/point_read.rs
//!   latency`); the page heads start the TLB walks of the batch's pages
//!   together (see [`prefetch_batch`]);
//! - sums the batch for its CRC as its lines arrive, then walks to the
//!   record by the records' length varints (from the cache by then: a
//!   walk first, waiting on memory line by line, was slower), and only
//!   then looks at the header of the batch after it and decodes the
//!   record. Nothing is served before every check passed.
//!
//! Whatever this path does not recognise as the plain case (a legacy
//! entry, an index that does not lead straight to the batch, a batch that
//! does not check, offsets out of place) goes to the general read, which
//! answers, and fails, exactly as [`Log::read`] does.

use crate::Result;
use crate::format::batch::peek_v2;
use crate::format::layout::{self, attr};
use crate::format::record::{RecordContext, decode_common, decode_view, skip_spans};
use crate::format::varint::short_unsigned_at;
use crate::format::{Compression, RecordView};
use crate::segment::{Segment, prefetch_batch};

use super::Log;

/// Where [`Log::read_record`] found the batch holding its offset.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// Byte position of the batch in the segment.
    at: usize,
    /// Its size in bytes, framed by [`peek_v2`] (at least the 61-byte
    /// header, every byte within the segment's published bytes).
    size: usize,
    base_offset: i64,
    last_offset: i64,
    /// The offset after the batch before it, when the walk read that one.
    previous_next: Option<i64>,
}

impl Log {
    /// The record at `offset`, handed to `f` as a borrowed view (of the
    /// segment's memory map for an uncompressed batch: no copy, no
    /// allocation): `None` when no record has that offset (the log end, or
    /// an offset compaction removed). The batch holding it is checked as
    /// [`Fetched::records`](super::Fetched::records) checks it (its CRC-32C,
    /// as Kafka's consumer does with `check.crcs`, and its structure) before
    /// `f` sees anything. A transaction marker (control batch) is no record
    /// here, as for [`Fetched::records`](super::Fetched::records): its offset
    /// answers `None`, once the marker's batch checks.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use strata::{LoadOptions, Log, LogConfig, Record, SystemClock};
    /// # let dir = tempfile::tempdir()?;
    /// # let (log, _) = Log::open(dir.path(), "t", 0, LogConfig::default(), Arc::new(SystemClock), LoadOptions::default())?;
    /// log.append(&[Record::new("a", "1"), Record::new("b", "2")])?;
    /// let value = log.read_record(1, |r| r.value().map(<[u8]>::to_vec))?;
    /// assert_eq!(value, Some(Some(b"2".to_vec())));
    /// assert_eq!(log.read_record(2, |_| ())?, None); // the log end
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Log::read`]: [`Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange)
    /// below the log start offset or above the end, [`Error::Closed`](crate::Error::Closed)
    /// once the log is closed, and [`Error::Corrupt`](crate::Error::Corrupt)
    /// for a batch that fails its checks.
    pub fn read_record<T>(
        &self,
        offset: i64,
        f: impl FnOnce(RecordView<'_>) -> T,
    ) -> Result<Option<T>> {
        self.check_open()?;
        let v = self.view();
        let f = match self.read_record_fast(&v, offset, f)? {
            Ok(answer) => return Ok(answer),
            Err(f) => f,
        };
        // The general read, which names whatever the fast path declined.
        let fetched = self.read_below(&v, offset, 1, v.log_end_offset)?;
        let Some(batch) = fetched.record_batches().next().transpose()? else { return Ok(None) };
        // A transaction marker, checked, is no record (as `Fetched::records`
        // skips it, and a Kafka consumer at either isolation level).
        if batch.batch().is_control() {
            return Ok(None);
        }
        let record = batch.records().next().transpose()?;
        Ok(record.filter(|r| r.offset() == offset).map(f))
    }

    /// [`Self::read_record`] when the index leads straight to a batch that
    /// passes every check, else `Ok(Err(f))`: the general read answers.
    /// Errors are only those found before any batch is read (the offset's
    /// range, the segment's bytes), as [`Self::read_below`] returns them.
    fn read_record_fast<T, F: FnOnce(RecordView<'_>) -> T>(
        &self,
        v: &super::View,
        offset: i64,
        f: F,
    ) -> Result<std::result::Result<Option<T>, F>> {
        if offset < v.log_start_offset || offset >= v.log_end_offset {
            return Ok(Err(f)); // out of range, or the log end: the general read says which
        }
        let i = v.segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let Some(seg) = v.segments.get(i) else { return Ok(Err(f)) };
        // Tests stop a read here, between its snapshot and its bytes.
        crate::io::fault::point("log::read::segment")?;
        let data = match seg.published_view()? {
            Some(data) => data,
            // Not mapped yet (or evicted): mapped by the general view first.
            None => match seg.bytes(0, seg.len()).and_then(|_| seg.published_view())? {
                Some(data) => data,
                None => return Ok(Err(f)),
            },
        };
        let Some(lead) = lead(seg, &data, offset) else { return Ok(Err(f)) };
        // The batch at the entry after the floor entry is summed before the
        // floor batch's header is read (its wait on memory then overlaps
        // the sum), and confirmed by it after; when the floor batch itself
        // holds the offset, the headers are read in order first.
        let (found, confirmed) = match candidate(&data, &lead, offset) {
            Some(found) => (found, false),
            None => match in_order(&data, &lead, offset) {
                Some(found) => (found, true),
                None => return Ok(Err(f)),
            },
        };
        // `Log::read`'s placement rules for the batch it takes first.
        let next_base = v.segments.get(i + 1).map(|s| s.base_offset());
        if next_base.is_some_and(|n| found.last_offset >= n)
            || found.base_offset >= v.log_end_offset
        {
            return Ok(Err(f));
        }
        let confirmation = || match confirmed {
            true => Some(found.previous_next),
            false => confirm(&data, &lead, &found, offset),
        };
        Ok(serve(&data, found, offset, confirmation, f))
    }
}

/// The offset index's floor entry for a read and the position of the
/// entry after it, whose lines are asked for.
struct Lead {
    /// Position of the floor entry's batch.
    floor: usize,
    /// The floor entry's offset.
    floor_offset: i64,
    /// Position of the next entry's batch, when there is one.
    next: Option<usize>,
}

/// The index's [`Lead`] for `offset` in `data` (the segment's published
/// bytes from position 0), with both its batches asked for: the floor
/// batch's header, and the next batch as [`prefetch_batch`] asks for one,
/// taken to be as long as the floor batch (the distance between the two
/// entries: a steady producer's batches are about one size).
fn lead(seg: &Segment, data: &[u8], offset: i64) -> Option<Lead> {
    if seg.is_scan_only() {
        return None;
    }
    // The batches where an evenly spaced index puts them are asked for
    // before the lookup reads its entry; where the entries differ, those
    // the index names are asked for after it.
    let mut guessed = None;
    let ask = |floor: usize, next: usize| {
        if let Some(ahead) = data.get(next..) {
            prefetch_batch(ahead, next.saturating_sub(floor));
        }
        if let Some(first) = data.get(floor) {
            crate::io::hint::prefetch(first);
        }
    };
    let (entry, next) = seg
        .offset_index()
        .lookup_with_next_ahead(offset, |floor, next| {
            let (floor, next) = (floor as usize, next as usize);
            ask(floor, next);
            guessed = Some((floor, next));
        })
        .ok()?;
    let floor = usize::try_from(entry.position).ok()?;
    let next = next.and_then(|n| usize::try_from(n).ok());
    if let Some(n) = next
        && guessed != Some((floor, n))
    {
        ask(floor, n);
    }
    Some(Lead { floor, floor_offset: entry.offset, next })
}

/// The batch at the lead's next entry when it holds `offset` (the common
/// case: the floor entry is the batch before), not yet confirmed by the
/// floor batch (see [`confirm`]).
fn candidate(data: &[u8], lead: &Lead, offset: i64) -> Option<Found> {
    let at = lead.next?;
    let (size, base_offset, last_offset) = peek_v2(data.get(at..)?)?;
    (base_offset <= offset && offset <= last_offset).then_some(Found {
        at,
        size,
        base_offset,
        last_offset,
        previous_next: None,
    })
}

/// The floor batch's header, checked as [`Segment::locate`] checks it on
/// its way to `found`: usable (`Segment::usable_start`: it starts at or
/// below the offset and ends at or below the entry's offset), ending
/// below the offset, followed directly by `found`, which rises above it.
/// `Some(the offset after it)` when all hold.
fn confirm(data: &[u8], lead: &Lead, found: &Found, offset: i64) -> Option<Option<i64>> {
    let (size, base_offset, last_offset) = peek_v2(data.get(lead.floor..)?)?;
    let usable = lead.floor == 0 || (base_offset <= offset && last_offset <= lead.floor_offset);
    let previous_next = last_offset.saturating_add(1);
    (usable
        && last_offset < offset
        && lead.floor.checked_add(size) == Some(found.at)
        && found.base_offset >= previous_next)
        .then_some(Some(previous_next))
}

/// The batch holding `offset` when the offset index's floor entry points
/// at it or at the batch just before it, as [`Segment::locate`] would find
/// it and with its checks passed; `None` for anything else.
fn in_order(data: &[u8], lead: &Lead, offset: i64) -> Option<Found> {
    let floor = lead.floor;
    let (size, base_offset, last_offset) = peek_v2(data.get(floor..)?)?;
    // `Segment::usable_start`: the entry's batch starts at or below the
    // offset and ends at or below the entry's offset (else the general
    // read scans from the segment start).
    if floor != 0 && (base_offset > offset || last_offset > lead.floor_offset) {
        return None;
    }
    if last_offset >= offset {
        return Some(Found { at: floor, size, base_offset, last_offset, previous_next: None });
    }
    let at = floor.checked_add(size)?;
    let (next_size, base, last) = peek_v2(data.get(at..)?)?;
    let previous_next = last_offset.saturating_add(1);
    // Rising above the batch before it, and holding the offset: else the
    // general read walks on, or names the damage.
    if base < previous_next || last < offset {
        return None;
    }
    Some(Found {
        at,
        size: next_size,
        base_offset: base,
        last_offset: last,
        previous_next: Some(previous_next),
    })
}

/// The fields of a v2 batch header a point read uses, read in place from
/// a batch [`peek_v2`] framed (magic 2, at least the 61-byte header): what
/// [`BatchView`](crate::format::BatchView)'s accessors return, without
/// making a view (and its two reference counts) of the segment's bytes.
struct Head {
    base_offset: i64,
    crc: u32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    base_sequence: i32,
    records_count: i32,
}

impl Head {
    /// The header at the start of `batch`; `None` when it is shorter than one.
    #[inline]
    fn read(batch: &[u8]) -> Option<Head> {
        let h: &[u8; layout::RECORDS] = batch.get(..layout::RECORDS)?.try_into().ok()?;
        Some(Head {
            base_offset: i64::from_be_bytes(field(h, layout::BASE_OFFSET)?),
            crc: u32::from_be_bytes(field(h, layout::CRC)?),
            attributes: i16::from_be_bytes(field(h, layout::ATTRIBUTES)?),
            last_offset_delta: i32::from_be_bytes(field(h, layout::LAST_OFFSET_DELTA)?),
            base_timestamp: i64::from_be_bytes(field(h, layout::BASE_TIMESTAMP)?),
            max_timestamp: i64::from_be_bytes(field(h, layout::MAX_TIMESTAMP)?),
            base_sequence: i32::from_be_bytes(field(h, layout::BASE_SEQUENCE)?),
            records_count: i32::from_be_bytes(field(h, layout::RECORDS_COUNT)?),
        })
    }
}

/// The `N` bytes at `at` of a header (always present for the layout's
/// offsets: the compiler drops the check).
#[inline(always)]
fn field<const N: usize>(h: &[u8; layout::RECORDS], at: usize) -> Option<[u8; N]> {
    h.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The record at `offset` of the batch `found` in `data`, handed to `f`
/// once the batch checks; `Err(f)` for anything the general read must
/// judge.
///
/// Serves only what the general read would serve, decoded the same way:
/// an uncompressed data (not control) batch whose offset deltas are dense (`recordsCount ==
/// lastOffsetDelta + 1`), where `FetchedBatch::records` passes the records
/// before the target by their lengths and confirms the one it lands on by
/// its offset delta, as here; and whose checks `BatchView::validate` would
/// pass (the CRC, a known codec, counts and offsets in range).
fn serve<T, F: FnOnce(RecordView<'_>) -> T>(
    data: &[u8],
    found: Found,
    offset: i64,
    confirm: impl FnOnce() -> Option<Option<i64>>,
    f: F,
) -> std::result::Result<Option<T>, F> {
    let Some(src) = found.at.checked_add(found.size).and_then(|end| data.get(found.at..end)) else {
        return Err(f);
    };
    let Some(head) = Head::read(src) else { return Err(f) };
    let (base, delta) = (head.base_offset, head.last_offset_delta);
    let Ok(skip) = usize::try_from(offset.wrapping_sub(base)) else { return Err(f) };
    if head.attributes & attr::COMPRESSION_MASK != i16::from(Compression::None.id())
        || head.attributes & attr::CONTROL != 0
        || delta < 0
        || delta.checked_add(1) != Some(head.records_count)
        || base < 0
        || base.checked_add(i64::from(delta)).is_none()
        || skip > delta as usize
    {
        return Err(f);
    }
    let (crc, at) = sum_and_walk(src, skip);
    if crc != head.crc {
        return Err(f); // the general read confirms the mismatch and names it
    }
    // The record landed on is confirmed by its offset delta below, where
    // it is decoded (`record.offset()`): no separate look at it first.
    let Some(at) = at else { return Err(f) };
    // The walk's checks on the way to the batch, then `Segment::locate`'s
    // of the batch after it: one going back below this one's end shows
    // this one raised.
    let Some(previous_next) = confirm() else { return Err(f) };
    let after = data.get(found.at.saturating_add(src.len())..).and_then(peek_v2);
    if previous_next.is_some() && after.is_some_and(|(_, b, _)| b <= found.last_offset) {
        return Err(f);
    }
    let log_append_time =
        (head.attributes & attr::TIMESTAMP_TYPE != 0).then_some(head.max_timestamp);
    let ctx = RecordContext {
        base_offset: base,
        base_timestamp: head.base_timestamp,
        log_append_time,
        base_sequence: head.base_sequence,
    };
    let Some(rest) = src.get(at..) else { return Err(f) };
    let record = match decode_common(rest, &ctx) {
        Some((r, _)) => r,
        None => match decode_view(rest, &mut 0, &ctx) {
            Ok(r) => r,
            Err(_) => return Err(f),
        },
    };
    if record.offset() != offset {
        return Err(f);
    }
    Ok(Some(f(record)))
}

/// The CRC-32C of `batch` (the bytes its stored CRC covers) and where its
/// record `skip` starts (`None` when the records before it do not frame).
fn sum_and_walk(batch: &[u8], skip: usize) -> (u32, Option<usize>) {
    let crc = crate::format::crc::crc32c(batch.get(layout::ATTRIBUTES..).unwrap_or_default());
    (crc, walk(batch, skip))
}

/// Where record `skip` of `batch` starts, as `skip_spans` from the first
/// record finds it (`None` where that does): the records before it passed
/// by their length varints.
///
/// Passing records one by one is a chain of loads, each waiting for the
/// one before it (about 10 cycles a record from the L1 cache, more from
/// L2: 0.15-0.4 µs for the 50 records a point read passes on average).
/// A steady producer's records come in runs of one size (100-byte values
/// change size only where the offset delta's varint grows, at delta 64),
/// so each run is passed at once: one record is passed by its length, and
/// its span (length varint and body) taken as a stride; a record one
/// stride further whose length varint has the same bytes has the same
/// length, so the walk passes exactly there. Those checks do not wait for
/// each other. The first record that differs starts the next run.
fn walk(batch: &[u8], skip: usize) -> Option<usize> {
    let (mut at, mut left) = (layout::RECORDS, skip);
    if batch.len() < at {
        return None; // no records section: `skip_spans` finds no record either
    }
    while left > 0 {
        let next = skip_spans(batch, at, 1)?;
        left -= 1;
        let stride = next - at;
        let (_, n) = short_unsigned_at(batch, at)?;
        // Records of this run passed at once, each ending inside the batch.
        let fits = batch.len().saturating_sub(next) / stride.max(1);
        let end = next + left.min(fits) * stride;
        let passed = match n {
            1 => pass_run::<1>(batch, at, next, end, stride),
            2 => pass_run::<2>(batch, at, next, end, stride),
            _ => pass_run::<3>(batch, at, next, end, stride),
        };
        left -= passed;
        at = next + passed * stride;
    }
    Some(at)
}

/// How many records from `next` on, stepping by `stride` below `end`,
/// have the `N`-byte length varint of the record at `first` (up to the
/// first that differs). `N` is a constant, so each step is one
/// load and one compare of registers (where comparing slices calls
/// `memcmp`).
#[inline(always)]
fn pass_run<const N: usize>(
    batch: &[u8],
    first: usize,
    next: usize,
    end: usize,
    stride: usize,
) -> usize {
    // A record's span holds its length varint, so `stride >= N`: each
    // chunk below holds the `N` bytes compared (the compiler drops the
    // check), and no step waits for another.
    let Some(length) = varint_bytes::<N>(batch, first) else { return 0 };
    let Some(run) = batch.get(next..end) else { return 0 };
    if stride < N {
        return 0;
    }
    let same =
        run.chunks_exact(stride).take_while(|c| c.first_chunk::<N>().map(word) == Some(length));
    same.count()
}

/// The `N` (one to three) bytes at `at` of `batch` as one number: two
/// length varints of `N` bytes are equal exactly when these are.
#[inline(always)]
fn varint_bytes<const N: usize>(batch: &[u8], at: usize) -> Option<u32> {
    batch.get(at..)?.first_chunk::<N>().map(word)
}

/// `N` (one to three) bytes as one number.
#[inline(always)]
fn word<const N: usize>(b: &[u8; N]) -> u32 {
    b.iter().rev().fold(0, |w, &x| w << 8 | u32::from(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A records section after a 61-byte header: each record its length
    /// (zig-zag LEB128, as Kafka writes it; a negative one where asked)
    /// and that many bytes.
    fn records(lengths: &[i64]) -> Vec<u8> {
        let mut out = vec![0u8; layout::RECORDS];
        for &len in lengths {
            let mut raw = ((len << 1) ^ (len >> 63)) as u64;
            loop {
                let byte = (raw & 0x7f) as u8;
                raw >>= 7;
                if raw == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            out.extend(std::iter::repeat_n(0xAB, usize::try_from(len).unwrap_or(0)));
        }
        out
    }

    #[test]
    fn runs_of_one_size_are_passed_to_where_skip_spans_lands() {
        // A steady producer's 100 records of 100-byte values: the span
        // grows by a byte at offset delta 64.
        let lengths: Vec<i64> = (0..100).map(|i| if i < 64 { 116 } else { 117 }).collect();
        let batch = records(&lengths);
        for skip in 0..=101 {
            let want =
                i32::try_from(skip).ok().and_then(|s| skip_spans(&batch, layout::RECORDS, s));
            assert_eq!(walk(&batch, skip), want, "skip {skip}");
        }
    }

    #[test]
    fn a_batch_shorter_than_its_header_has_no_record_to_walk_to() {
        // CI's proptest case: no records, the batch cut 7 bytes into its header.
        let batch = vec![0u8; layout::RECORDS - 7];
        assert_eq!(skip_spans(&batch, layout::RECORDS, 0), None);
        assert_eq!(walk(&batch, 0), None);
        assert_eq!(walk(&batch, 3), None);
    }

    proptest! {
        #[test]
        fn walking_by_runs_lands_where_skip_spans_lands(
            lengths in proptest::collection::vec(
                prop_oneof![8 => Just(40i64), 4 => Just(200i64), 2 => 0i64..20_000, 1 => -3i64..0],
                0..60,
            ),
            cut in 0usize..8,
            skip in 0usize..64,
        ) {
            let mut batch = records(&lengths);
            // Sometimes the batch ends inside a record.
            batch.truncate(batch.len().saturating_sub(cut * 7));
            let want = i32::try_from(skip).ok().and_then(|s| skip_spans(&batch, layout::RECORDS, s));
            prop_assert_eq!(walk(&batch, skip), want);
        }
    }
}
