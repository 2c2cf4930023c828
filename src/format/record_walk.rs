//! Walking a batch's records section: [`DecodedBatch`] (the section ready
//! to decode) and its records, as borrowed [`RecordViews`] or owned
//! [`Records`].
//!
//! The walk is a scan's inner loop, so it is shaped like one. The unread
//! records are one shrinking slice; each step tries
//! [`decode_common`](super::record::decode_common) (short varints, no
//! headers: nearly every record), which frames the record by its length
//! varint with one bounds check and builds no error. Everything else (a
//! record with headers or long varints, damage, the end of the section, a
//! legacy entry's records) goes to one out-of-line function that takes the
//! walk's state by value and hands the new state back, so the loop's state
//! never has its address taken and stays in registers.
//!
//! Each record's offset delta must follow Kafka's rule for a batch's
//! records (strictly increasing within `[0, lastOffsetDelta]`, which
//! `append` enforces): a batch whose CRC holds but whose deltas lie (a
//! hostile or damaged file, which recovery's CRC check keeps) would
//! otherwise serve records at offsets past the log end, twice, or going
//! back. The walk keeps the least delta the next record may carry.
//!
//! After an error the walk is empty (no records promised, no bytes left):
//! the iterators yield the error once and then end, with no flag to test
//! per record.

use bytes::Bytes;

use super::record::{
    RecordContext, RecordView, decode_common, decode_view, skip_record, skip_spans,
};
use super::{FormatError, FormatResult, RecordRef};

/// Kafka's rule for a v2 batch's record offset deltas, record by record:
/// strictly increasing within `[0, lastOffsetDelta]`. The read walk and
/// `walk_records` (append's check) both apply it, so they refuse the same
/// record of a batch that breaks it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DeltaRule {
    /// `recordsCount == lastOffsetDelta + 1`: the rule then leaves record
    /// `i` the delta `i`, one compare a record.
    dense: bool,
    /// Otherwise the least delta the next record may carry (one past the
    /// last record's) and the batch's `lastOffsetDelta`.
    next: i64,
    last: i32,
}

impl DeltaRule {
    /// The rule for a batch of `count` records whose header says
    /// `lastOffsetDelta` is `last`.
    pub(super) fn new(count: i32, last: i32) -> Self {
        DeltaRule { dense: last.checked_add(1) == Some(count), next: 0, last }
    }

    /// Whether record `index` (from 0) may carry offset delta `d`, moving
    /// the least delta past it if so.
    #[inline(always)]
    pub(super) fn admits(&mut self, index: i32, d: i32) -> bool {
        if self.dense {
            return d == index;
        }
        let fits = i64::from(d) >= self.next && d <= self.last;
        if fits {
            self.next = i64::from(d) + 1;
        }
        fits
    }
}

/// Where decoding stands besides the unread bytes; shared by [`Records`]
/// and [`RecordViews`].
#[derive(Debug, Clone, Copy, Default)]
struct Walk {
    /// Records the header promises that are not read yet.
    remaining: i32,
    /// The header's record count (for the trailing-bytes error).
    count: i32,
    /// The offset-delta rule, checked record by record ([`Walk::admits`]).
    rule: DeltaRule,
    ctx: RecordContext,
}

/// What [`general`] hands back: the item, the unread bytes after it, and
/// the walk's state after it.
type Step<'a> = (Option<FormatResult<RecordView<'a>>>, &'a [u8], Walk);

/// Every case of a step but the common record: the end of the section
/// (and bytes left after it), a record [`decode_common`] declined, read by
/// [`decode_view`], which reads any shape and names any damage, or a
/// record whose offset delta breaks the rule. Out of line, and by value:
/// see the module docs.
#[inline(never)]
fn general(rest: &[u8], mut w: Walk) -> Step<'_> {
    let ended = Walk { remaining: 0, ..w };
    if w.remaining <= 0 {
        if rest.is_empty() {
            return (None, rest, ended);
        }
        // Kafka's `ensureNoneRemaining`: leftover bytes mean the count lied.
        let e = FormatError::TrailingBytes { count: w.count, extra: rest.len() };
        return (Some(Err(e)), &[], ended);
    }
    let mut pos = 0;
    match decode_view(rest, &mut pos, &w.ctx) {
        Ok(r) if w.admits(r.offset_delta()) => {
            w.remaining -= 1;
            (Some(Ok(r)), rest.get(pos..).unwrap_or_default(), w)
        }
        Ok(r) => (Some(Err(FormatError::misplaced_offset_delta(r.offset_delta()))), &[], ended),
        Err(e) => (Some(Err(e)), &[], ended),
    }
}

impl Walk {
    /// The record at the front of `rest`, moving `rest` past it; an error
    /// (once, then the end) for one that does not decode or for bytes left
    /// after the last.
    #[inline(always)]
    fn step<'a>(&mut self, rest: &mut &'a [u8]) -> Option<FormatResult<RecordView<'a>>> {
        if self.remaining > 0
            && let Some((r, next)) = decode_common(rest, &self.ctx)
            && self.admits(r.offset_delta())
        {
            *rest = next;
            self.remaining -= 1;
            return Some(Ok(r));
        }
        let (item, next, walk) = general(rest, *self);
        *rest = next;
        *self = walk;
        item
    }

    /// Whether the next record (not yet counted off `remaining`) may carry
    /// offset delta `d` ([`DeltaRule`]).
    #[inline(always)]
    fn admits(&mut self, d: i32) -> bool {
        self.rule.admits(self.count - self.remaining, d)
    }

    /// Moves `rest` past the records whose offset is below `offset`,
    /// reading only each one's length and offset delta. A record that does
    /// not frame, or whose delta breaks the rule, stops the skip there, so
    /// the next step reports it.
    fn seek(&mut self, rest: &mut &[u8], offset: i64) {
        if self.rule.dense && self.seek_dense(rest, offset) {
            return;
        }
        while self.remaining > 0 {
            match skip_record(rest, 0) {
                Some((delta, next))
                    if self.ctx.base_offset.wrapping_add(i64::from(delta)) < offset
                        && self.admits(delta) =>
                {
                    *rest = rest.get(next..).unwrap_or_default();
                    self.remaining -= 1;
                }
                _ => return,
            }
        }
    }

    /// [`Self::seek`] in a dense batch: the record at `offset` is the
    /// `offset - baseOffset`th, so the records before it are passed by
    /// their length varints alone (a point read's path: about 10
    /// instructions a record instead of 30). The record landed on must
    /// carry exactly the offset asked for; if it does not (a batch that
    /// breaks Kafka's delta rule), or the offset is past the batch, nothing
    /// moves and `false` sends the caller to the general skip, which reads
    /// every delta.
    fn seek_dense(&mut self, rest: &mut &[u8], offset: i64) -> bool {
        let at = self.count - self.remaining;
        let target = offset.saturating_sub(self.ctx.base_offset);
        let Ok(skip) = i32::try_from(target.saturating_sub(i64::from(at))) else { return false };
        // Nothing to pass, or every record: the general skip decides by the deltas.
        if skip <= 0 || skip >= self.remaining {
            return false;
        }
        let Some(pos) = skip_spans(rest, 0, skip) else { return false };
        if !matches!(skip_record(rest, pos), Some((delta, _)) if delta == at + skip) {
            return false;
        }
        // The passed records' deltas are not read: the one landed on holds
        // the delta a dense batch gives it, and the walk goes on from there.
        *rest = rest.get(pos..).unwrap_or_default();
        self.remaining -= skip;
        true
    }
}

/// A batch's records section ready to decode (see
/// [`BatchView::decode`](super::BatchView::decode)): it owns the bytes, so
/// the [`RecordView`]s of [`views`](Self::views) borrow from it.
#[derive(Debug, Clone)]
pub struct DecodedBatch {
    /// The records section: the batch's own bytes, or decompressed.
    src: Bytes,
    walk: Walk,
    /// A legacy entry's records, decoded up front (a v1 wrapper's offsets
    /// are only known once its last inner message is read).
    legacy: Vec<RecordRef>,
}

impl DecodedBatch {
    /// A v2 batch's records section `src`, holding `count` records whose
    /// offset deltas lie in `[0, last_offset_delta]`.
    pub(super) fn v2(src: Bytes, count: i32, last_offset_delta: i32, ctx: RecordContext) -> Self {
        let rule = DeltaRule::new(count, last_offset_delta);
        let walk = Walk { remaining: count, count, rule, ctx };
        DecodedBatch { src, walk, legacy: Vec::new() }
    }

    /// A legacy entry's records.
    pub(super) fn legacy(records: Vec<RecordRef>) -> Self {
        DecodedBatch { src: Bytes::new(), walk: Walk::default(), legacy: records }
    }

    /// The records as borrowed views, in stored order.
    #[must_use]
    pub fn views(&self) -> RecordViews<'_> {
        RecordViews { rest: &self.src, walk: self.walk, legacy: self.legacy.iter() }
    }

    /// The records as owned [`RecordRef`]s sharing the batch's bytes.
    #[must_use]
    pub fn into_records(self) -> Records {
        Records { src: self.src, pos: 0, walk: self.walk, legacy: self.legacy.into_iter() }
    }
}

/// Borrowed records of a [`DecodedBatch`]. Yields an error (once, then
/// ends) on the first record that does not decode, or if bytes remain
/// after the last one.
#[derive(Debug, Clone)]
pub struct RecordViews<'a> {
    /// The records not read yet.
    rest: &'a [u8],
    walk: Walk,
    legacy: std::slice::Iter<'a, RecordRef>,
}

impl RecordViews<'_> {
    /// Moves past the records below `offset` without decoding them: each
    /// is skipped by its length, only its offset delta read (a point read's
    /// path to its record).
    pub fn seek(&mut self, offset: i64) {
        if self.legacy.len() > 0 {
            if let Some(last_below) = legacy_below(self.legacy.as_slice(), offset).checked_sub(1) {
                self.legacy.nth(last_below);
            }
            return;
        }
        self.walk.seek(&mut self.rest, offset);
    }
}

/// How many of a legacy entry's records not read yet lie below `offset`
/// (what a seek passes over).
fn legacy_below(records: &[RecordRef], offset: i64) -> usize {
    records.iter().take_while(|r| r.offset() < offset).count()
}

impl<'a> Iterator for RecordViews<'a> {
    type Item = FormatResult<RecordView<'a>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        // A legacy entry promises no v2 records, so its records are read
        // only where a v2 walk would end.
        if self.walk.remaining <= 0
            && let Some(r) = self.legacy.next()
        {
            return Some(Ok(r.view()));
        }
        self.walk.step(&mut self.rest)
    }
}

/// Iterator over a batch's records. Yields an error (once, then ends) on the
/// first record that does not decode, or if bytes remain after the last one.
#[derive(Debug)]
pub struct Records {
    src: Bytes,
    /// Where the records not read yet start in `src`.
    pos: usize,
    walk: Walk,
    legacy: std::vec::IntoIter<RecordRef>,
}

impl Records {
    /// Moves past the records below `offset` without decoding them, as
    /// [`RecordViews::seek`].
    pub fn seek(&mut self, offset: i64) {
        if self.legacy.len() > 0 {
            if let Some(last_below) = legacy_below(self.legacy.as_slice(), offset).checked_sub(1) {
                self.legacy.nth(last_below);
            }
            return;
        }
        let mut rest = self.src.get(self.pos..).unwrap_or_default();
        self.walk.seek(&mut rest, offset);
        self.pos = self.src.len() - rest.len();
    }
}

impl Iterator for Records {
    type Item = FormatResult<RecordRef>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.legacy.next() {
            return Some(Ok(r));
        }
        let src = &self.src;
        let mut rest = src.get(self.pos..).unwrap_or_default();
        let item = self.walk.step(&mut rest);
        self.pos = src.len() - rest.len();
        item.map(|r| r.map(|r| r.to_ref(src)))
    }
}
