//! Replacing segments with the cleaner's output, crash-safely (Kafka's
//! `LocalLog.replaceSegments`), and finishing or undoing an interrupted
//! replacement when a log is opened (`LogLoader.removeTempFilesAndCollectSwapFiles`).
//!
//! Swap, under the append lock:
//! 1. rename each new segment `.cleaned` -> `.swap`, in **descending** base
//!    order (so a surviving `.cleaned` proves the renames had not all happened);
//! 2. publish the new segment list to readers;
//! 3. map each old segment fully (readers that snapshotted it keep reading),
//!    rename its files `.deleted`, and schedule their removal;
//! 4. rename each new segment `.swap` -> final name;
//! 5. fsync the directory.
//!
//! On open (crash anywhere above):
//! 1. `.deleted` files are removed (by the loader);
//! 2. every `.swap` file at or above the lowest `.cleaned` base is deleted
//!    (step 1 never finished: the old segments are all still there), then every
//!    `.cleaned` file;
//! 3. the remaining `.swap` segments cover `[lowest base, highest next offset)`:
//!    every ordinary segment file in that range is an old segment whose step 3
//!    did not happen — it is deleted;
//! 4. the `.swap` files are renamed to their final names.
//!
//! So a crash at any step reopens to the old segments or the new ones, never
//! a mix and never a loss.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::format::BatchIter;
use crate::format::file_name::{
    CLEANED_SUFFIX, DELETED_SUFFIX, FileKind, SWAP_SUFFIX, TempSuffix, parse_file_name,
    segment_file_name,
};
use crate::io::{fault, file};
use crate::segment::Segment;
use crate::{Error, Result};

use super::Log;

impl Log {
    /// Replaces `old` (consecutive segments of this log, oldest first) with
    /// `new` (`.cleaned` segments covering the same offsets).
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
        // Step 1.
        for seg in new.iter().rev() {
            seg.change_suffix(CLEANED_SUFFIX, SWAP_SUFFIX).map_err(|e| self.poison(e))?;
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
        let now = self.inner.clock.now_ms();
        let delay = self.config().file_delete_delay_ms;
        for seg in old {
            seg.map_fully().map_err(|e| self.poison(e))?;
            seg.add_suffix(DELETED_SUFFIX).map_err(|e| self.poison(e))?;
            seg.release();
            self.inner.pending_deletes.lock().push((now.saturating_add(delay), Arc::clone(seg)));
        }
        fault::point("swap::after_old_deleted").map_err(|e| self.poison(e))?;
        // Step 4.
        for seg in &new {
            seg.change_suffix(SWAP_SUFFIX, "").map_err(|e| self.poison(e))?;
            seg.release();
        }
        fault::point("swap::after_final_rename").map_err(|e| self.poison(e))?;
        // Step 5.
        file::fsync_dir(&self.inner.dir).map_err(|e| self.poison(e))?;
        Ok(())
    }
}

/// The offset after the last batch of a `.log` file (its base when empty).
fn next_offset_of(path: &Path, base: i64) -> Result<i64> {
    let data = Bytes::from(file::read(path)?);
    Ok(BatchIter::new(data).last().map_or(base, |(_, b)| b.next_offset()))
}

/// Finishes or rolls back an interrupted swap in `dir` (see the module doc).
/// Returns the number of files removed or renamed.
pub(super) fn recover_swaps(dir: &Path) -> Result<usize> {
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
    let mut touched = 0;
    let min_cleaned = cleaned.iter().map(|(o, _)| *o).min();
    for (_, path) in &cleaned {
        file::remove_file_if_exists(path)?;
        touched += 1;
    }
    let mut keep = Vec::new();
    for (p, path) in swaps {
        if min_cleaned.is_some_and(|m| p.offset >= m) {
            file::remove_file_if_exists(&path)?;
            touched += 1;
        } else {
            keep.push((p, path));
        }
    }
    let log_swaps: BTreeSet<i64> =
        keep.iter().filter(|(p, _)| p.kind == FileKind::Log).map(|(p, _)| p.offset).collect();
    if let (Some(&lo), Some(_)) = (log_swaps.first(), log_swaps.last()) {
        let mut hi = lo;
        for &base in &log_swaps {
            let path = dir.join(format!("{}{SWAP_SUFFIX}", segment_file_name(base, FileKind::Log)));
            hi = hi.max(next_offset_of(&path, base)?);
        }
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
    Ok(touched)
}
