//! Replacing segments with the cleaner's output, crash-safely (Kafka's
//! `LocalLog.replaceSegments`), and finishing or undoing an interrupted
//! replacement when a log is opened (`LogLoader.removeTempFilesAndCollectSwapFiles`).
//!
//! Swap, under the append lock:
//! 1. rename each new segment `.cleaned` -> `.swap`, in **descending** base
//!    order (so a surviving `.cleaned` proves the renames had not all happened);
//! 2. publish the new segment list to readers;
//! 3. retire each old segment (`Segment::retire`: out of the open-segment
//!    budget, mapped fully, so readers that snapshotted it keep reading its
//!    bytes even once its files are gone), rename its files `.deleted`, and
//!    schedule their removal;
//! 4. rename each new segment `.swap` -> final name;
//! 5. fsync the directory.
//!
//! Everything the steps open is opened before step 1: the directory (held
//! for every fsync) and the old segments' `.log` files (mapped whole for
//! step 3). A process out of descriptors there fails the cleaning, retried
//! later, where a failure past step 1 poisons the log; a map the budget
//! evicted since, that step 3 cannot make again out of descriptors, is
//! done without (the readers that listed the segment reopen it by its new
//! name).
//!
//! On open (crash anywhere above):
//! 1. every `.swap` file at or above the lowest `.cleaned` base is deleted
//!    (step 1 never finished: the old segments are all still there), then every
//!    `.cleaned` file;
//! 2. the remaining `.swap` segments cover `[lowest base, highest next offset)`:
//!    every ordinary segment file in that range is an old segment whose step 3
//!    did not happen — it is deleted;
//! 3. the `.swap` files are renamed to their final names;
//! 4. `.deleted` files are removed (by the loader). Kafka's `LogLoader` removes
//!    them first; here they go last, so that an open refusing a `.swap` whose
//!    old segments are gone (below) has removed nothing, their `.deleted`
//!    copies included.
//!
//! So a crash at any step reopens to the old segments or the new ones, never
//! a mix and never a loss.
//!
//! A `.swap` file is input like any other and is checked before it replaces
//! anything: every byte must frame into batches whose CRCs hold, with offsets
//! increasing from the file's base and below the next `.swap`'s base; the
//! lowest `.swap` must not start inside an old segment that stays, and an
//! ordinary segment (the active one, which is never cleaned) must remain above
//! the swapped range; while the old segments are all still there, the swap
//! must hold their records, less only what a cleaner may drop
//! ([`swap_content`](super::swap_content)). A set
//! that fails is removed and the old segments are kept (reported in
//! [`LoadReport::rejected_swaps`](super::LoadReport)); if the old segments are
//! already gone, opening fails naming the `.swap` file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::file_name::{
    CLEANED_SUFFIX, FileKind, SWAP_SUFFIX, TempSuffix, parse_file_name, segment_file_name,
};
use crate::format::{BatchIter, StopReason};
use crate::io::{fault, file};
use crate::segment::Segment;
use crate::{Error, Result};

use super::Log;

impl Log {
    /// Replaces `old` (consecutive segments of this log, oldest first) with
    /// `new` (`.cleaned` segments covering the same offsets). A failure
    /// before step 1 removes `new`'s files and leaves the log as it was; a
    /// failure after poisons the log (its next open finishes or undoes the
    /// swap).
    pub(crate) fn replace_segments(
        &self,
        new: Vec<Arc<Segment>>,
        old: &[Arc<Segment>],
    ) -> Result<()> {
        let _w = self.writer()?;
        let v = self.view();
        let start = v.segments.iter().position(|s| old.first().is_some_and(|o| Arc::ptr_eq(s, o)));
        let unchanged = start.is_some_and(|i| {
            old.iter()
                .enumerate()
                .all(|(k, o)| v.segments.get(i + k).is_some_and(|s| Arc::ptr_eq(s, o)))
        });
        // Nothing is renamed until everything the swap opens is open: the
        // directory, whose fsyncs make each step durable, and the old
        // segments' `.log` files, mapped whole for the readers that listed
        // them. Out of descriptors (or memory) here, with nothing left for the
        // budget to evict, the cleaning fails as any does, its `.cleaned`
        // files removed, and is retried; past step 1 a failure poisons.
        let prepared = (|| {
            let (Some(start), true) = (start, unchanged) else {
                return Err(Error::InvalidRequest(format!(
                    "{}: segments changed while cleaning; will retry",
                    self.name()
                )));
            };
            if start + old.len() >= v.segments.len() {
                return Err(Error::InvalidRequest(format!(
                    "{}: the cleaner may not replace the active segment",
                    self.name()
                )));
            }
            // A test's hook may act here (the append lock is held; nothing renamed yet).
            fault::point("swap::before_swap_rename")?;
            let dir = file::DirHandle::open(&self.inner.dir)?;
            for seg in old {
                seg.map_fully()?;
            }
            Ok((start, dir))
        })();
        let (start, dir) = match prepared {
            Ok(p) => p,
            Err(e) => {
                for seg in &new {
                    let _ = seg.delete_files();
                }
                return Err(e);
            }
        };
        // Step 1.
        for seg in new.iter().rev() {
            seg.change_suffix_in(CLEANED_SUFFIX, SWAP_SUFFIX, &dir).map_err(|e| self.poison(e))?;
        }
        fault::point("swap::after_swap_rename").map_err(|e| self.poison(e))?;
        // Step 2.
        {
            let mut view = self.inner.view.write();
            let mut list: Vec<Arc<Segment>> = view.segments.iter().take(start).cloned().collect();
            list.extend(new.iter().cloned());
            list.extend(view.segments.iter().skip(start + old.len()).cloned());
            view.segments = Arc::new(list);
        }
        // Step 3.
        let now = self.clock.now_ms();
        let delay = self.config().file_delete_delay_ms;
        for seg in old {
            seg.retire().map_err(|e| self.poison(e))?;
            self.inner.pending_deletes.lock().push((now.saturating_add(delay), Arc::clone(seg)));
        }
        // One fsync for the renames: a crash before it leaves old segments the `.swap`
        // files cover, which recovery deletes as it completes the swap.
        dir.sync().map_err(|e| self.poison(e))?;
        fault::point("swap::after_old_deleted").map_err(|e| self.poison(e))?;
        // Step 4.
        for seg in &new {
            seg.change_suffix_in(SWAP_SUFFIX, "", &dir).map_err(|e| self.poison(e))?;
            seg.release();
        }
        fault::point("swap::after_final_rename").map_err(|e| self.poison(e))?;
        // Step 5.
        dir.sync().map_err(|e| self.poison(e))?;
        Ok(())
    }
}

/// The offset after the last batch of a `.log` file (its base when empty),
/// read through a map (no copy of the file in memory).
fn next_offset_of(path: &Path, base: i64) -> Result<i64> {
    let data = super::swap_content::mapped(path)?;
    Ok(BatchIter::new(data).last().map_or(base, |(_, b)| b.next_offset()))
}

/// Checks a `.log.swap` file, mapped: whole batches with valid CRCs, offsets
/// increasing within `[base, limit)`. Returns its first batch's base offset
/// and the offset after its last batch (its base when empty), or what is wrong.
fn check_swap_log(
    path: &Path,
    base: i64,
    limit: Option<i64>,
) -> Result<std::result::Result<(Option<i64>, i64), String>> {
    let data = super::swap_content::mapped(path)?;
    let mut it = BatchIter::validating(data);
    let mut next = base;
    let mut first = None;
    for (pos, b) in it.by_ref() {
        first.get_or_insert(b.base_offset());
        if b.base_offset() < next {
            return Ok(Err(format!(
                "batch at byte {pos} starts at offset {}, below {next}",
                b.base_offset()
            )));
        }
        next = b.next_offset();
    }
    match it.stop_reason() {
        None | Some(StopReason::End) => {}
        Some(stop) => return Ok(Err(format!("does not frame into valid batches: {stop:?}"))),
    }
    if let Some(limit) = limit.filter(|&l| next > l) {
        return Ok(Err(format!("holds offsets up to {next}, past the next swap's base {limit}")));
    }
    Ok(Ok((first, next)))
}

/// Decides whether the `.log.swap` segments `log_swaps` (bases; the ones a
/// writer's open would finish) may replace the ordinary segments `plain_logs`
/// of `dir`: `Ok(Ok(hi))` when they are whole and cover `[lowest base, hi)`,
/// `Ok(Err((file, why)))` when they fail and the old segments are still there
/// to keep, and an error when they fail and the old segments are gone.
pub(super) fn judge_swaps(
    dir: &Path,
    log_swaps: &BTreeSet<i64>,
    plain_logs: &BTreeSet<i64>,
    compact: bool,
) -> Result<std::result::Result<i64, (PathBuf, String)>> {
    let Some(&lo) = log_swaps.first() else { return Ok(Ok(0)) };
    let swap_path =
        |base| dir.join(format!("{}{SWAP_SUFFIX}", segment_file_name(base, FileKind::Log)));
    let mut hi = lo;
    let mut problem = None;
    for &base in log_swaps {
        // A name may say i64::MAX: no swap lies above it.
        let limit = base.checked_add(1).and_then(|b| log_swaps.range(b..).next().copied());
        match check_swap_log(&swap_path(base), base, limit)? {
            Ok((_, next)) => hi = hi.max(next),
            Err(why) => {
                problem = Some((swap_path(base), why));
                break;
            }
        }
    }
    // The cleaner never replaces the active segment: an ordinary segment
    // must remain at or above the swapped range (a copy of the active
    // segment renamed to an earlier base fails here), and no swap may take
    // its name (an empty one covers no offsets). Swaps with no ordinary
    // segment at or above their base replace nothing that stays: the parts
    // of a split active segment whose original was already deleted
    // (`split.rs`), the only copy of its records, which extend the log.
    let extends = plain_logs.range(lo..).next().is_none();
    let over_active =
        !extends && plain_logs.last().is_none_or(|&last| last < hi || log_swaps.contains(&last));
    if problem.is_none() && over_active {
        let why = format!("covers offsets up to {hi}, over the active segment");
        problem = Some((swap_path(lo), why));
    }
    // The cleaner names its output after the first segment it replaces,
    // so no old segment may run from below the swapped range into it (old
    // segments inside the range may already be gone: step 3 goes in order).
    let mut old_data_at_lo = plain_logs.contains(&lo);
    if let Some(&below) = plain_logs.range(..lo).next_back() {
        let end = next_offset_of(&dir.join(segment_file_name(below, FileKind::Log)), below)?;
        if end > lo {
            old_data_at_lo = true;
            if problem.is_none() {
                let why = format!("starts at {lo}, inside segment {below} (which ends at {end})");
                problem = Some((swap_path(lo), why));
            }
        }
    }
    // With the old segments all still there, their records decide whether
    // the swaps hold what they replace (`swap_content`): a copy of another
    // segment of the partition covers the right offsets but not the records.
    if problem.is_none() && old_data_at_lo {
        let content = super::swap_content::check(dir, log_swaps, plain_logs, (lo, hi), compact)?;
        problem = content.map(|why| (swap_path(lo), why));
    }
    match problem {
        None => Ok(Ok(hi)),
        Some((path, why)) if old_data_at_lo => Ok(Err((path, why))),
        // The old segments are already gone: neither side is whole.
        Some((path, why)) => Err(Error::CorruptFile {
            path,
            reason: format!("{why}; the segments it replaces are gone"),
        }),
    }
}

/// Finishes or rolls back an interrupted swap in `dir` (see the module doc).
/// Returns the number of files removed or renamed, and the `.swap` files
/// rejected with why.
pub(super) fn recover_swaps(dir: &Path, compact: bool) -> Result<(usize, Vec<(PathBuf, String)>)> {
    let mut cleaned = Vec::new();
    let mut swaps = Vec::new();
    let mut plain = Vec::new();
    for path in file::read_dir(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        match parse_file_name(name) {
            Some(p) if p.temp == Some(TempSuffix::Cleaned) => cleaned.push((p.offset, path)),
            Some(p) if p.temp == Some(TempSuffix::Swap) => swaps.push((p, path)),
            Some(p) if p.temp.is_none() => plain.push((p, path)),
            _ => {}
        }
    }
    let min_cleaned = cleaned.iter().map(|(o, _)| *o).min();
    let (dropped, keep): (Vec<_>, Vec<_>) =
        swaps.into_iter().partition(|(p, _)| min_cleaned.is_some_and(|m| p.offset >= m));
    let log_swaps: BTreeSet<i64> =
        keep.iter().filter(|(p, _)| p.kind == FileKind::Log).map(|(p, _)| p.offset).collect();
    let plain_logs: BTreeSet<i64> =
        plain.iter().filter(|(p, _)| p.kind == FileKind::Log).map(|(p, _)| p.offset).collect();
    // Judged before anything is removed: a swap refused with the segments it
    // replaces gone fails the open, which then leaves the directory as it
    // found it (the caller removes `.deleted` files only after this returns).
    let verdict = match log_swaps.first() {
        Some(_) => Some(judge_swaps(dir, &log_swaps, &plain_logs, compact)?),
        None => None,
    };
    let mut touched = 0;
    for path in cleaned.iter().map(|(_, p)| p).chain(dropped.iter().map(|(_, p)| p)) {
        file::remove_file_if_exists(path)?;
        touched += 1;
    }
    let mut rejected = Vec::new();
    if let (Some(lo), Some(verdict)) = (log_swaps.first().copied(), verdict) {
        let hi = match verdict {
            Ok(hi) => hi,
            Err((path, why)) => {
                for (_, p) in &keep {
                    file::remove_file_if_exists(p)?;
                }
                rejected.push((path, format!("{why}; removed, the old segments are kept")));
                file::fsync_dir(dir)?;
                return Ok((touched + keep.len(), rejected));
            }
        };
        for (p, path) in &plain {
            if p.kind != FileKind::Snapshot && p.offset >= lo && p.offset < hi {
                file::remove_file_if_exists(path)?;
                touched += 1;
            }
        }
    }
    for (_, path) in keep {
        let s = path.as_os_str().to_string_lossy();
        let target = s
            .strip_suffix(SWAP_SUFFIX)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| path.clone());
        file::rename(&path, &target)?;
        touched += 1;
    }
    if touched > 0 {
        file::fsync_dir(dir)?;
    }
    Ok((touched, rejected))
}
