//! A segment opened read-only, and recovery as a dry run: the same
//! validation as [`Segment::recover`](super::Segment) — every batch framed,
//! hashed and at offsets that follow — but nothing is written: no index is
//! rebuilt, no file truncated, opened for writing or created. The segment
//! then serves only the valid prefix, scanning from its start instead of
//! trusting indexes a writer's recovery would rebuild.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::Result;
use crate::format::file_name::{FileKind, segment_file_name};
use crate::format::{BatchIter, StopReason};
use crate::index::{OffsetIndex, TimeIndex};
use crate::io::file;
use crate::io::identity;

use super::valid_prefix::ValidPrefix;
use super::{Segment, SegmentLimits};

/// What validating a segment without changing it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DryRun {
    /// Bytes on disk.
    pub physical: u64,
    /// Bytes of the valid prefix: a writer's recovery cuts the file here.
    pub valid: u64,
    /// Why the scan stopped before the end, when it did.
    pub stop: Option<StopReason>,
    /// The offset after the last valid batch (the base offset if none).
    pub next_offset: i64,
    /// A writer's open would split this legacy segment, whose offsets
    /// overflow its base (see [`super::overflow`]), instead of cutting it.
    pub splits: bool,
}

impl Segment {
    /// Opens an existing segment for reading only: its indexes are mapped
    /// read-only on first use and never created; nothing is read yet.
    /// `suffix` is empty, or `.swap` for the output of a swap a writer's
    /// open would finish.
    pub(crate) fn open_read_only(
        dir: &Path,
        base_offset: i64,
        limits: SegmentLimits,
        now_ms: i64,
        suffix: &str,
    ) -> Result<Arc<Self>> {
        let name = |kind| dir.join(format!("{}{suffix}", segment_file_name(base_offset, kind)));
        let log_path = name(FileKind::Log);
        let (log_id, len) = identity::stat_file(&log_path)?;
        super::check_len(&log_path, len)?;
        let offset_index =
            OffsetIndex::open(name(FileKind::Index), base_offset, limits.max_index_size, false);
        let time_index =
            TimeIndex::open(name(FileKind::TimeIndex), base_offset, limits.max_index_size, false);
        let txn_index = super::TxnIndex::open(name(FileKind::TxnIndex), base_offset, len);
        let segment = Self::assemble(
            base_offset,
            log_path,
            log_id,
            len,
            (offset_index, time_index, txn_index),
            limits,
            (now_ms, 0),
        );
        // Its length is fixed at open: mapped at exactly that.
        segment.sealed.store(true, Ordering::Release);
        Ok(segment)
    }

    /// Validates every batch as recovery does, changing nothing; then serves
    /// only the valid prefix and stops trusting the indexes (a writer's
    /// recovery would rebuild them). Must run before the segment is shared.
    /// `next_base` and `rules` as for `recover`.
    pub(crate) fn recover_dry_run(
        &self,
        next_base: Option<i64>,
        rules: super::recover::Rules,
    ) -> Result<DryRun> {
        let path = self.log_path();
        let f = identity::reopen_read(&path, self.log_id).map_err(|e| match e {
            // Listed, then replaced (a writer beside a read-only open): name it.
            crate::Error::Closed { .. } => crate::Error::io(
                "reopen",
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "replaced by another file since the directory was listed",
                ),
            ),
            e => e,
        })?;
        let physical = file::len(&f, &path)?;
        // Copied, not mapped: bytes past the valid prefix may be a live
        // writer's batch in flight or preallocated space it trims at roll.
        let len = usize::try_from(physical).map_err(|_| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "length exceeds usize");
            crate::Error::io("read", &path, e)
        })?;
        let mut buf = vec![0; len];
        let read = file::read_up_to_at(&f, &path, &mut buf, 0)?;
        buf.truncate(read);
        let physical = read as u64;
        let data = bytes::Bytes::from(buf);
        let splits = super::overflow::splits(data.clone(), self.base_offset, next_base);
        let mut iter = BatchIter::validating(data);
        // The placement rules of `recover`.
        let claims = super::recover::index_claims(self.offset_index());
        let placer =
            super::recover::Placer::new(self.base_offset, next_base, splits, rules, claims);
        let mut prefix = ValidPrefix::new(self.base_offset, placer);
        // Nothing ends this scan early and nothing in it fails.
        let Ok(None) = prefix.scan::<Infallible, Infallible>(
            &mut iter,
            |_, _| ControlFlow::Continue(()),
            |_, _, _| Ok(()),
        );
        let ValidPrefix { valid, next_offset, stop, state: st, .. } = prefix;
        self.len.store(valid, Ordering::Release);
        *self.state.lock() = st;
        self.scan_only.store(true, Ordering::Release);
        Ok(DryRun { physical, valid, stop, next_offset, splits })
    }

    /// Whether lookups skip the indexes and scan from the segment start.
    pub(crate) fn is_scan_only(&self) -> bool {
        self.scan_only.load(Ordering::Acquire)
    }
}
