//! The scan a segment's recovery and its read-only dry run share
//! ([`ValidPrefix`]).

use std::ops::ControlFlow;

use crate::format::{BatchIter, BatchView, NO_TIMESTAMP, StopReason};

use super::AppendState;
use super::recover::{BatchFacts, Placer};

/// The valid prefix of a segment's data as recovery finds it: each batch the
/// validating iterator yields goes through the placement rules ([`Placer`]),
/// and each batch they accept moves the prefix's end, the offset after it
/// and the append state's timestamps past it. [`Segment::recover`] and
/// [`Segment::recover_dry_run`] both scan through it, so they cut at the
/// same batch and leave the same state.
///
/// [`Segment::recover`]: super::Segment::recover
/// [`Segment::recover_dry_run`]: super::Segment::recover_dry_run
pub(crate) struct ValidPrefix {
    placer: Placer,
    /// The segment's base offset.
    base: i64,
    /// Batches accepted.
    pub(crate) batches: usize,
    /// Bytes up to the end of the last accepted batch: the cut point.
    pub(crate) valid: u64,
    /// The offset after the last accepted batch (the base offset if none).
    pub(crate) next_offset: i64,
    /// Why the valid data ends before the end of the data, when it does.
    pub(crate) stop: Option<StopReason>,
    /// The timestamps the accepted batches leave (`maxTimestampSoFar`, the
    /// rolling base); no index cadence.
    pub(crate) state: AppendState,
}

impl ValidPrefix {
    /// An empty prefix of the segment at `base`, placed by `placer`.
    pub(crate) fn new(base: i64, placer: Placer) -> Self {
        ValidPrefix {
            placer,
            base,
            batches: 0,
            valid: 0,
            next_offset: base,
            stop: None,
            state: AppendState {
                max_timestamp: Some((NO_TIMESTAMP, base)),
                ..AppendState::default()
            },
        }
    }

    /// The offset-index entries the placer was given, for a second scan.
    pub(crate) fn take_claims(&mut self) -> Vec<crate::index::OffsetPosition> {
        self.placer.take_claims()
    }

    /// Scans what `iter` yields up to the end of the valid data. `look` sees
    /// each batch before it is placed and may end the scan there
    /// (`Break(b)`, returned as `Some(b)`: the batch is neither placed nor
    /// accepted, the one held before it neither). `each` runs for every
    /// accepted batch, in order, with the state after its timestamps and
    /// before the prefix moves past it; its error ends the scan.
    pub(crate) fn scan<B, E>(
        &mut self,
        iter: &mut BatchIter,
        mut look: impl FnMut(usize, &BatchView) -> ControlFlow<B>,
        mut each: impl FnMut(usize, &BatchFacts, &AppendState) -> Result<(), E>,
    ) -> Result<Option<B>, E> {
        for (pos, batch) in iter.by_ref() {
            if let ControlFlow::Break(b) = look(pos, &batch) {
                return Ok(Some(b));
            }
            let placed = self.placer.feed(pos, BatchFacts::of(&batch));
            if let Some((at, b)) = &placed.accept {
                self.accept(*at, b, &mut each)?;
            }
            if placed.stop.is_some() {
                self.stop = placed.stop;
                return Ok(None);
            }
        }
        let placed = self.placer.finish();
        if let Some((at, b)) = &placed.accept {
            self.accept(*at, b, &mut each)?;
        }
        self.stop =
            placed.stop.or_else(|| iter.stop_reason().filter(|r| **r != StopReason::End).cloned());
        Ok(None)
    }

    /// Moves the prefix past `batch` at `pos`, calling `each` on the way.
    fn accept<E>(
        &mut self,
        pos: usize,
        batch: &BatchFacts,
        each: &mut impl FnMut(usize, &BatchFacts, &AppendState) -> Result<(), E>,
    ) -> Result<(), E> {
        let st = &mut self.state;
        if self.batches == 0 {
            st.rolling_base_timestamp = Some(batch.max_timestamp);
        }
        let (max_ts, _) = st.max_timestamp.unwrap_or((NO_TIMESTAMP, self.base));
        if batch.max_timestamp > max_ts {
            st.max_timestamp = Some((batch.max_timestamp, batch.last_offset));
        }
        each(pos, batch, st)?;
        self.next_offset = batch.next_offset();
        self.valid = pos as u64 + batch.size as u64;
        self.batches += 1;
        Ok(())
    }
}
