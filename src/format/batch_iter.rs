//! [`BatchIter`]: walks a region of concatenated batches (a `.log` file or a
//! slice of one) and stops at the first torn or corrupt batch, saying why.
//!
//! Framing follows Kafka's `FileLogInputStream.nextBatch`: read the 17 bytes
//! up to the magic, refuse a length below 14 as corrupt, and treat a batch
//! that runs past the region as the end. Unlike Kafka we report the stop
//! instead of ending silently, because recovery must count what it drops.

use bytes::Bytes;

use super::batch::frame_header;
use super::layout;
use super::{BatchView, FormatError};

/// Why a [`BatchIter`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Every byte was consumed by whole batches.
    End,
    /// The region ends inside a batch: a torn write.
    TornTail {
        /// Where the incomplete batch starts.
        position: usize,
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes left in the region.
        available: usize,
    },
    /// Only zero bytes remain: the unwritten tail of a preallocated file.
    ZeroTail {
        /// Where the zeros start.
        position: usize,
        /// How many zero bytes.
        len: usize,
    },
    /// The batch at `position` fails framing or validation.
    Corrupt {
        /// Where the bad batch starts.
        position: usize,
        /// What is wrong with it.
        error: FormatError,
    },
}

/// Iterator over `(position, batch)` of a region of concatenated batches.
///
/// ```
/// use strata::internals::format::{BatchBuilder, BatchIter, Record, StopReason};
/// let mut b = BatchBuilder::new(0);
/// b.append(&Record::new("k", "v"))?;
/// let batch = b.build()?;
/// let mut region = batch.to_vec();
/// region.extend_from_slice(&batch[..30]); // a torn second batch
/// let mut it = BatchIter::validating(region.into());
/// assert_eq!(it.by_ref().count(), 1);
/// assert_eq!(it.valid_len(), batch.len());
/// assert!(matches!(it.stop_reason(), Some(StopReason::TornTail { .. })));
/// # Ok::<(), strata::FormatError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchIter {
    buf: Bytes,
    pos: usize,
    validate: bool,
    stop: Option<StopReason>,
}

impl BatchIter {
    /// Frames batches without checking CRCs (Kafka's read path).
    #[must_use]
    pub fn new(buf: Bytes) -> Self {
        BatchIter { buf, pos: 0, validate: false, stop: None }
    }

    /// Frames batches and [validates](BatchView::validate) each one; stops at
    /// the first that fails (recovery's path).
    #[must_use]
    pub fn validating(buf: Bytes) -> Self {
        BatchIter { buf, pos: 0, validate: true, stop: None }
    }

    /// Bytes covered by the whole (and, if validating, valid) batches yielded so far.
    #[must_use]
    pub fn valid_len(&self) -> usize {
        self.pos
    }

    /// Why iteration stopped, once it has.
    #[must_use]
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn stop_at_tail(&self, needed: usize) -> StopReason {
        let rest = self.rest();
        if rest.iter().all(|&b| b == 0) {
            StopReason::ZeroTail { position: self.pos, len: rest.len() }
        } else {
            StopReason::TornTail { position: self.pos, needed, available: rest.len() }
        }
    }

    fn next_batch(&mut self) -> Result<BatchView, StopReason> {
        let rest = self.rest();
        if rest.is_empty() {
            return Err(StopReason::End);
        }
        if rest.len() < layout::HEADER_SIZE_UP_TO_MAGIC {
            return Err(self.stop_at_tail(layout::HEADER_SIZE_UP_TO_MAGIC));
        }
        let position = self.pos;
        let corrupt = |error| StopReason::Corrupt { position, error };
        let (_, length, magic) = frame_header(rest).map_err(corrupt)?;
        if length < layout::MIN_FRAMED_LENGTH {
            if rest.iter().all(|&b| b == 0) {
                return Err(StopReason::ZeroTail { position, len: rest.len() });
            }
            return Err(corrupt(FormatError::InvalidValue {
                field: "batch.batchLength",
                value: length.into(),
                reason: "below the minimum of 14",
            }));
        }
        let size = length.unsigned_abs() as usize + layout::LOG_OVERHEAD;
        if size > rest.len() {
            return Err(self.stop_at_tail(size));
        }
        // Kafka reads magic 0 and 1 entries as batches too (they are data an
        // upgraded broker keeps); anything else but 2 is corrupt.
        if !(0..=layout::MAGIC_V2).contains(&magic) {
            return Err(corrupt(FormatError::UnsupportedMagic { magic }));
        }
        let bytes = self.buf.slice(position..position + size);
        // A v2 batch is viewed over this slice itself, which ends where its
        // length says (no second slice of it: a reference count taken and
        // dropped per batch); a legacy entry as a segment holds it.
        let view = if magic == layout::MAGIC_V2 {
            BatchView::new(bytes)
        } else {
            BatchView::parse_stored_prefix(&bytes)
        }
        .map_err(corrupt)?;
        if self.validate {
            view.validate().map_err(corrupt)?;
        }
        Ok(view)
    }
}

impl Iterator for BatchIter {
    type Item = (usize, BatchView);

    fn next(&mut self) -> Option<Self::Item> {
        if self.stop.is_some() {
            return None;
        }
        match self.next_batch() {
            Ok(view) => {
                let position = self.pos;
                self.pos += view.size();
                Some((position, view))
            }
            Err(reason) => {
                self.stop = Some(reason);
                None
            }
        }
    }
}
