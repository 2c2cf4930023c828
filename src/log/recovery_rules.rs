//! The decisions a log's open makes about its segments, in one place: the
//! writer's open ([`Log::open`](super::Log::open), `load.rs`) acts on them and
//! the read-only open (`read_only.rs`) only reports them, so the dry run
//! predicts exactly what a writer's open repairs.
//!
//! For each segment, oldest first:
//! 1. **Which segments are recovered.** After a crash, every segment from the
//!    one holding the recovery point onwards is re-validated (Kafka's
//!    `LogLoader.recoverLog`); the others (all of them after a clean
//!    shutdown) are trusted — unless their files are missing or lie
//!    ([`Segment::damage`]: index order and range, the last entry at a batch,
//!    the active tail framing), and then they are rebuilt where they are
//!    (Kafka's `recoverSegment` at load). See [`judge_segment`]. After a
//!    clean shutdown, an active segment whose data runs past the checkpointed
//!    recovery point (the log end the close recorded) is re-validated with
//!    that point as a ceiling. See [`recover_from`]; the placement rules a
//!    re-validation applies are `segment::recover::Placer`'s.
//! 2. **What a recovery's cut costs.** A cut above the recovery point, or a
//!    hole it opens in a log without compaction, drops every later segment:
//!    they cannot follow a hole. Damage repaired in a trusted segment keeps
//!    the later segments. See [`aftermath`].
//! 3. **A log start ahead of the data.** Data that ends below the
//!    checkpointed log start offset is dropped whole and the log restarts at
//!    the checkpoint (Kafka's `LogLoader`). See [`restarts`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Result;
use crate::format::StopReason;
use crate::io::file;
use crate::segment::Segment;

use super::{LoadOptions, LoadReport, TailCut, describe_stop};

/// What to do with one segment at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Its files are used as they are.
    Trust,
    /// Above the recovery point after a crash: re-validated.
    Recover,
    /// Trusted, but its files are missing or lie (the reason): rebuilt and
    /// cut where it is, later segments kept.
    Repair(String),
}

impl Verdict {
    /// Whether the segment is re-validated at all.
    pub(super) fn recovers(&self) -> bool {
        !matches!(self, Verdict::Trust)
    }

    /// Whether it is above the recovery point after a crash.
    pub(super) fn unclean(&self) -> bool {
        matches!(self, Verdict::Recover)
    }
}

/// Where recovery starts, from [`recover_from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// The index of the first segment re-validated (the number of segments: none).
    pub(super) from: usize,
    /// The clean shutdown's ceiling for the active segment (see [`recover_from`]).
    pub(super) ceiling: Option<i64>,
    /// After a crash, a checkpointed recovery point found past the end of the
    /// data: not believed, so every segment is re-validated.
    pub(super) distrusted: Option<i64>,
}

/// The index of the first segment a crash recovery re-validates (the one
/// holding the recovery point); after a clean shutdown the number of
/// segments, unless the active segment holds data past the checkpointed
/// recovery point: then the active one, re-validated with that point as its
/// ceiling (see `segment::recover::Placer` for what it cuts).
///
/// A clean close moves the recovery point to the log end before it
/// checkpoints it and only then writes the clean-shutdown marker (strata's
/// `Store::close`; Kafka's `LogManager.shutdown`: `log.flush(true)`, then
/// `checkpointRecoveryOffsetsInDir`, then the marker). So after a clean
/// shutdown the active segment's data ends exactly there, and a batch past it
/// that leaves a gap, and would end there had it followed the batch before
/// it, was raised by a flipped bit in its base offset (outside the CRC).
/// Only a checkpoint entry inside the active segment counts: one below it
/// cannot be the log end a close recorded. Contiguous data past it, or a gap
/// whose batch would not end there, is kept (a stale or edited checkpoint
/// must not cut records).
///
/// After a crash, a checkpointed recovery point past the end of the active
/// segment's framed data vouches for nothing: a flush only ever records an
/// offset it wrote, and the data below it stays on disk. Kafka re-validates
/// only the last segment then (`LogLoader.recoverLog` takes the floor
/// segment of the point); strata re-validates every segment, so an edited,
/// stale or damaged entry never lets unflushed segments be served unchecked.
pub(super) fn recover_from(segments: &[Arc<Segment>], options: &LoadOptions) -> Plan {
    let r = options.recovery_point;
    if !options.clean_shutdown {
        let past_the_data = options.recovery_point_known
            && segments
                .last()
                .is_some_and(|active| active.base_offset() < r && framed_end(active) < r);
        if past_the_data {
            return Plan { from: 0, ceiling: None, distrusted: Some(r) };
        }
        let from = segments.partition_point(|s| s.base_offset() <= r).saturating_sub(1);
        return Plan { from, ceiling: None, distrusted: None };
    }
    let past = options.recovery_point_known
        && segments.last().is_some_and(|active| {
            // A tail that cannot be read is damage: re-validated either way.
            active.base_offset() <= r && !matches!(active.read_next_offset(), Ok(end) if end <= r)
        });
    match past {
        true => Plan { from: segments.len().saturating_sub(1), ceiling: Some(r), distrusted: None },
        false => Plan { from: segments.len(), ceiling: None, distrusted: None },
    }
}

/// The offset after the last batch of `seg` that frames (CRCs unchecked):
/// what its log end is at most once recovered. A torn tail ends the count
/// where it starts.
fn framed_end(seg: &Segment) -> i64 {
    if let Ok(end) = seg.read_next_offset() {
        return end;
    }
    let mut next = seg.base_offset();
    if let Ok(batches) = seg.batches_from(0) {
        for item in batches {
            match item {
                Ok((_, batch)) => next = batch.next_offset(),
                Err(_) => break,
            }
        }
    }
    next
}

/// The placement rules of a segment's recovery: the clean shutdown's
/// ceiling of [`recover_from`], for the active segment only (the one it lies in).
pub(super) fn place_rules(next_base: Option<i64>, ceiling: Option<i64>) -> crate::segment::Rules {
    crate::segment::Rules { ceiling: ceiling.filter(|_| next_base.is_none()) }
}

/// Step 1 for `seg`, followed by a segment at `next_base` (`None`: it is the
/// active one); `unclean`: it is at or above the recovery point of a crash.
pub(super) fn judge_segment(
    seg: &Segment,
    next_base: Option<i64>,
    unclean: bool,
) -> Result<Verdict> {
    if unclean {
        return Ok(Verdict::Recover);
    }
    // An index planted as a symlink is not the segment's own file: it is
    // never followed (nor written through), but removed and rebuilt.
    if let Some(link) = symlinked_indexes(seg)?.first() {
        let reason =
            format!("{} is a symlink, not the segment's own file", as_loaded(link).display());
        return Ok(Verdict::Repair(reason));
    }
    // The paths the segment was opened with (a read-only open may look at
    // the `.swap` files a writer's open would rename first).
    for path in [seg.offset_index().path(), seg.time_index().path()] {
        if !file::exists(&path)? {
            return Ok(Verdict::Repair(format!("{} is missing", as_loaded(&path).display())));
        }
    }
    Ok(seg.damage(next_base)?.map_or(Verdict::Trust, Verdict::Repair))
}

/// The index files of `seg` (offset, time, transaction) that are symlinks.
/// A writer's open removes them (the link, not its target) before it
/// rebuilds the segment's indexes.
pub(super) fn symlinked_indexes(seg: &Segment) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in [seg.offset_index().path(), seg.time_index().path(), seg.txn_index().path()] {
        if file::is_symlink(&path)? {
            out.push(path);
        }
    }
    Ok(out)
}

/// `path` as a writer's open names it: without a `.swap` suffix, which it
/// removes before it loads.
fn as_loaded(path: &Path) -> PathBuf {
    let s = path.as_os_str().to_string_lossy();
    s.strip_suffix(crate::format::file_name::SWAP_SUFFIX)
        .map_or_else(|| path.to_owned(), PathBuf::from)
}

/// What a recovery's outcome means for the rest of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Aftermath {
    /// A hole: `(where the segment's data now ends, the next segment's base)`.
    pub hole: Option<(i64, i64)>,
    /// Every later segment is dropped.
    pub drop_later: bool,
}

/// Step 2: `verdict` was acted on, the segment lost `truncated` bytes and
/// now ends at `next_offset`; `gaps_allowed` when the log may have holes
/// (compaction) or the next segment is another part of the same split one.
pub(super) fn aftermath(
    verdict: &Verdict,
    gaps_allowed: bool,
    next_base: Option<i64>,
    truncated: u64,
    next_offset: i64,
) -> Aftermath {
    let unclean = verdict.unclean();
    // Without compaction a log has no gaps: a segment that now ends below
    // its successor's base lost a tail the successor followed.
    let hole = next_base
        .filter(|&b| unclean && !gaps_allowed && next_offset < b)
        .map(|b| (next_offset, b));
    // Kafka's `recoverLog`: a cut above the recovery point drops every later
    // segment; damage in trusted files is repaired where it is.
    Aftermath { hole, drop_later: unclean && (truncated > 0 || hole.is_some()) }
}

/// Step 3: whether data ending at `end_of_data` lies below the checkpointed
/// log start offset, so every segment goes and the log restarts there.
pub(super) fn restarts(end_of_data: i64, options: &LoadOptions) -> bool {
    end_of_data < options.log_start_offset.max(0)
}

/// Records in `report` what recovering `seg` found and decided: its repair,
/// its cut (`valid` bytes kept of `valid + truncated`) and hole.
pub(super) fn record(
    report: &mut LoadReport,
    seg: &Segment,
    verdict: &Verdict,
    valid: u64,
    truncated: u64,
    stop: Option<&StopReason>,
    after: &Aftermath,
) {
    report.recovered_segments += 1;
    let log = as_loaded(&seg.log_path());
    if let Verdict::Repair(reason) = verdict {
        report.repaired_segments.push((log.clone(), reason.clone()));
    }
    if truncated > 0 {
        report.truncated_bytes += truncated;
        report.cuts.push(TailCut {
            file: log.clone(),
            position: valid,
            bytes: truncated,
            reason: describe_stop(stop),
        });
        if let Some(stop) = stop {
            report.truncations.push((log, stop.clone()));
        }
    }
    if let Some(hole) = after.hole {
        report.offset_gaps.push(hole);
    }
}

/// Records in `report` that `later` is dropped after the cut in `seg`.
pub(super) fn record_dropped(report: &mut LoadReport, seg: &Segment, later: &Segment) {
    report.cuts.push(TailCut {
        file: as_loaded(&later.log_path()),
        position: 0,
        bytes: later.len(),
        reason: format!("follows the cut in {}", as_loaded(&seg.log_path()).display()),
    });
    report.dropped_segments += 1;
}
