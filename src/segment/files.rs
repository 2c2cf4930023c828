//! A segment's files leaving: retirement from the log's list (readers that
//! listed it keep reading), the suffix renames of retention and the
//! cleaner's swap, the `.log`'s modification time that outlives them,
//! deletion, and the close for good.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::format::file_name::{DELETED_SUFFIX, FileKind, segment_file_name};
use crate::io::file;
use crate::io::identity;
use crate::io::mmap::ReadMap;
use crate::{Error, Result};

use super::Segment;

impl Segment {
    /// Takes the segment out of the log's list for good (the cleaner
    /// replaced it, or retention removed it) while readers that took the
    /// list before may still be reading it: it leaves the budget, maps its
    /// `.log` whole, reads its largest timestamp (for their time lookups),
    /// renames its files `.deleted` and lets go of its descriptor and index
    /// maps. The caller fsyncs the directory once it retired all it retires
    /// (one fsync for the pass, not one a segment). The whole-file map stays until the last
    /// reader drops the segment, whatever happens to the files: out of the
    /// budget, no eviction can take it, so a reader never has to reopen a
    /// file that `file.delete.delay.ms` may already have removed. Mapped
    /// pages are the page cache's, so what it costs beyond address space is
    /// what the readers touch.
    ///
    /// Its callers (the cleaner's swap, retention) must not stop half-way
    /// for want of a descriptor, and map the segment whole before they
    /// change anything: a map the budget evicted since, that cannot be made
    /// again out of descriptors or memory, is done without (the segment is
    /// renamed all the same, and the readers that listed it open it by its
    /// new name, as after any eviction, until `file.delete.delay.ms` removes
    /// it). Nothing else here opens a file.
    pub(crate) fn retire(&self) -> Result<()> {
        self.account.detach();
        match self.map_fully() {
            Ok(()) => {}
            Err(e) if super::budget::is_exhaustion(&e) => {}
            Err(e) => return Err(e),
        }
        // Out of the budget, the map keeps no descriptor (nothing would
        // count or evict it for `file.delete.delay.ms`): one installed
        // before the detach lets go of its own here, one installed after
        // keeps none (see `Segment::bytes`).
        self.map.write().forget_file();
        self.keep_largest_timestamp();
        self.change_suffix_unsynced("", DELETED_SUFFIX)?;
        self.release();
        Ok(())
    }

    /// Reads what [`Segment::largest_timestamp`] answers from (the time
    /// index's last entry, or for a segment without timestamps the `.log`'s
    /// modification time) while the files are there: a time lookup that
    /// listed the segment before it left asks after they are gone (the time
    /// index deleted by `file.delete.delay.ms`, 0 included), as a read
    /// reads the map [`Segment::retire`] keeps. Failures are left to that
    /// lookup, which meets them again.
    fn keep_largest_timestamp(&self) {
        if let Ok((max, _)) = self.max_timestamp_so_far()
            && max < 0
            && let Ok(modified) = self.modified()
        {
            let _ = self.retired_modified.set(modified);
        }
    }

    /// Renames all files of the segment by adding `suffix` (e.g. `.deleted`).
    pub(crate) fn add_suffix(&self, suffix: &str) -> Result<()> {
        self.change_suffix("", suffix)
    }

    /// Renames all files of the segment from suffix `from` to suffix `to`
    /// (either may be empty): `.cleaned` -> `.swap` -> none.
    pub(crate) fn change_suffix(&self, from: &str, to: &str) -> Result<()> {
        self.change_suffix_unsynced(from, to)?;
        // One directory fsync makes the whole suffix change durable: the
        // renames of one segment's files need no order among themselves (the
        // loader treats a segment whose files disagree by suffix by its `.log`
        // and rebuilds indexes), only before the next step of a swap.
        file::fsync_dir(file::parent_dir(&self.log_path()))
    }

    /// [`Segment::change_suffix`] fsyncing the directory through `dir`, held
    /// open by the caller (see [`file::DirHandle`]): no descriptor is opened.
    pub(crate) fn change_suffix_in(
        &self,
        from: &str,
        to: &str,
        dir: &file::DirHandle,
    ) -> Result<()> {
        self.change_suffix_unsynced(from, to)?;
        dir.sync()
    }

    /// The renames of [`Segment::change_suffix`], without the fsync.
    fn change_suffix_unsynced(&self, from: &str, to: &str) -> Result<()> {
        let swap = |p: &Path| -> PathBuf {
            let s = p.as_os_str().to_string_lossy();
            let stem = s.strip_suffix(from).unwrap_or(&s);
            PathBuf::from(format!("{stem}{to}"))
        };
        self.check_open()?;
        // The name is locked across the rename: a reader whose open missed
        // the old name finds the new one (see `reopen`).
        let mut name = self.log_path.write();
        let old = name.to_path_buf();
        if !identity::still_at(&old, self.log_id)? {
            return Err(Error::closed_file(&old));
        }
        let new = swap(&old);
        file::rename_unsynced(&old, &new)?;
        *name = Arc::from(new);
        drop(name);
        self.offset_index.rename_to(swap(&self.offset_index.path()))?;
        self.time_index.rename_to(swap(&self.time_index.path()))?;
        self.txn_index.rename_to(swap(&self.txn_index.path()))
    }

    /// Sets the `.log` file's modification time (the cleaner keeps the
    /// source's, so time-based decisions about the data do not restart).
    pub(crate) fn set_modified(&self, time: std::time::SystemTime) -> Result<()> {
        self.with_file(|f, p| file::set_modified(f, p, time))
    }

    /// The `.log` file's modification time.
    pub(crate) fn modified(&self) -> Result<std::time::SystemTime> {
        if let Some(&modified) = self.retired_modified.get() {
            return Ok(modified); // retired: its files are not written again, or gone
        }
        match (self.modified_on_disk(), self.retired_modified.get()) {
            // A retire overtook the look: it kept the time before the rename or
            // removal that made the look fail.
            (Err(_), Some(&kept)) => Ok(kept),
            (looked, _) => looked,
        }
    }

    /// [`Segment::modified`] in ms since the epoch (0 for a time before it).
    pub(crate) fn modified_ms(&self) -> Result<i64> {
        let ms =
            self.modified()?.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Ok(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// The `.log`'s modification time as the file system has it now.
    fn modified_on_disk(&self) -> Result<std::time::SystemTime> {
        self.check_open()?;
        // The name is held for the look: a rename (the cleaner's swap) waits
        // for it, so the name looked at is the file's (recursive, as in
        // `with_shared_file`: never behind a queued rename).
        let path = self.log_path.read_recursive();
        identity::modified_if_at(&path, self.log_id)?.ok_or_else(|| Error::closed_file(&path))
    }

    /// Best-effort removal of the files of a segment whose creation failed
    /// half-way (a full disk at a roll); a leftover is removed by the next
    /// creation of the same name, or recovered as an empty segment.
    pub(crate) fn remove_files(dir: &Path, base_offset: i64) {
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex, FileKind::TxnIndex] {
            let _ = file::remove_file_if_exists(&dir.join(segment_file_name(base_offset, kind)));
        }
    }

    /// Deletes all files of the segment. Views already handed out stay valid.
    /// A closed segment deletes nothing: its names may hold another store's
    /// files by now.
    ///
    /// The segment is [`Files::Removing`] before the first removal, so no
    /// open, rename or map of its files starts once the removal has (readers
    /// that listed it keep what they mapped, see [`Segment::retire`]). A
    /// removal that fails leaves the rest of the files for the next call (the
    /// next pass over the log's pending deletes); a file already removed is
    /// skipped then.
    pub(crate) fn delete_files(&self) -> Result<()> {
        let mut handle = self.file.lock();
        // Under the descriptor's lock, which `close` takes to set `Closed`.
        let state = self.files.get();
        // A test's hook may finish another pass's removal here (the lock is held).
        crate::io::fault::point("segment::delete_files::state_read")?;
        match state {
            Files::Closed | Files::Removed => return Ok(()),
            Files::Live => self.files.set(Files::Removing),
            // Left alone: another pass (`Store::maintain` and the retention thread both run
            // the pending deletes) may be past its last unlink, outside this lock, and set
            // `Removed` since the read; storing `Removing` would move the state back up.
            Files::Removing => {}
        }
        let map = self.map.read();
        let held = super::descriptors(&handle, &map);
        *handle = None;
        let closed = held - super::descriptors(&handle, &map);
        drop(map);
        self.account.adjust(-closed, 0);
        let path = self.log_path();
        if identity::still_at(&path, self.log_id)? {
            file::remove_file_if_exists(&path)?;
        }
        drop(handle);
        // The `.log` is gone, its indexes not yet. A test's hook may close the segment (or
        // its log) here, or the point fail as an unlink would (no lock is held).
        crate::io::fault::point("segment::delete_files::log_removed")?;
        // A close from here on leaves each index's file alone (its own
        // `closed`, taken under its lock) and stays `Closed`.
        self.offset_index.delete()?;
        self.time_index.delete()?;
        self.txn_index.delete()?;
        self.account.detach();
        // A test's hook may close the segment here (no lock is held).
        crate::io::fault::point("segment::delete_files::before_removed")?;
        self.files.advance(Files::Removing, Files::Removed);
        Ok(())
    }

    /// Closes the segment for good (its log closed): the descriptor and every
    /// map the segment holds are dropped, and every later use of its files
    /// fails with [`Error::Closed`]. Views already handed out stay valid.
    pub(crate) fn close(&self) {
        let mut handle = self.file.lock();
        self.files.set(Files::Closed);
        *handle = None;
        *self.map.write() = ReadMap::empty();
        drop(handle);
        self.offset_index.close();
        self.time_index.close();
        self.txn_index.close();
        self.account.detach();
    }
}

/// Where a segment's files stand; one state for the segment, set under its
/// descriptor's lock (`Segment::file`), moving only down the table:
///
/// | state | the files | set by |
/// |---|---|---|
/// | `Live` | ours: opened, mapped and renamed on demand | creation or open |
/// | `Removing` | being removed: no open, rename or map starts; a removal that failed is tried again | [`Segment::delete_files`], before its first unlink |
/// | `Removed` | all removed | [`Segment::delete_files`], after its last unlink |
/// | `Closed` | not ours (the log closed; the directory may be another store's): never touched again, reads of mapped bytes fail too | [`Segment::close`], from any state |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Files {
    Live = 0,
    Removing = 1,
    Removed = 2,
    Closed = 3,
}

/// A [`Files`] readers check without a lock.
#[derive(Debug)]
pub(super) struct FilesState(AtomicU8);

impl FilesState {
    pub(super) const fn new() -> Self {
        FilesState(AtomicU8::new(Files::Live as u8))
    }

    pub(super) fn get(&self) -> Files {
        match self.0.load(Ordering::Acquire) {
            0 => Files::Live,
            1 => Files::Removing,
            2 => Files::Removed,
            _ => Files::Closed,
        }
    }

    fn set(&self, to: Files) {
        self.0.store(to as u8, Ordering::Release);
    }

    /// `from` -> `to`, unless something else moved it first (a `close`
    /// overtaking a removal stays `Closed`).
    fn advance(&self, from: Files, to: Files) {
        let _ = self.0.compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogConfig;
    use crate::format::{BatchBuilder, BatchView, Record};
    use crate::io::fault;
    use crate::segment::budget::Budget;

    /// A segment at offset 0 of `dir` holding one batch, mapped by a read.
    fn segment_with_a_batch(dir: &Path) -> Arc<Segment> {
        let limits = crate::log::Log::limits_with(&LogConfig::default(), &Budget::new(16, 1 << 30));
        let segment = Segment::create(dir, 0, limits, 0, 0).unwrap();
        let mut b = BatchBuilder::new(0);
        b.append(&Record::new("k", "v")).unwrap();
        segment.append(&BatchView::new(b.build().unwrap()).unwrap()).unwrap();
        assert_eq!(segment.bytes(0, segment.len()).unwrap().len() as u64, segment.len());
        segment
    }

    #[test]
    fn a_close_after_a_removals_last_unlink_stays_closed_and_reads_fail() {
        let dir = tempfile::tempdir().unwrap();
        let segment = segment_with_a_batch(dir.path());
        let closing = Arc::clone(&segment);
        let hook =
            fault::on_point("segment::delete_files::before_removed", move || closing.close());
        segment.delete_files().unwrap();
        drop(hook);
        assert_eq!(segment.files.get(), Files::Closed);
        assert!(matches!(segment.bytes(0, segment.len()), Err(Error::Closed { .. })));
        // A later pass over the pending deletes leaves it so.
        segment.delete_files().unwrap();
        assert_eq!(segment.files.get(), Files::Closed);
    }

    #[test]
    fn a_segments_modification_time_is_read_while_a_swap_renames_it() {
        // A time lookup reads the `.log`'s mtime (a segment without timestamps)
        // while the cleaner's swap renames it `.swap` and back: each look must
        // find the file under one of its names, never fail between them.
        let dir = tempfile::tempdir().unwrap();
        let segment = segment_with_a_batch(dir.path());
        // Read before the renames start (renames keep a file's mtime).
        let expected = std::fs::metadata(segment.log_path()).unwrap().modified().unwrap();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renamer = {
            let (segment, done) = (Arc::clone(&segment), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut renames = 0;
                while !done.load(Ordering::Relaxed) || renames < 200 {
                    segment.change_suffix_unsynced("", ".swap").unwrap();
                    segment.change_suffix_unsynced(".swap", "").unwrap();
                    renames += 2;
                }
                renames
            })
        };
        for look in 0..20_000 {
            match segment.modified() {
                Ok(t) => assert_eq!(t, expected, "look {look}"),
                Err(e) => panic!("look {look}: {e}"),
            }
        }
        done.store(true, Ordering::Relaxed);
        assert!(renamer.join().unwrap() >= 200);
    }

    /// The names of the files in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_close_between_a_removals_log_unlink_and_its_index_unlinks_stays_closed_and_reads_fail() {
        let dir = tempfile::tempdir().unwrap();
        let segment = segment_with_a_batch(dir.path());
        let bytes = segment.len();
        let (closing, at) = (Arc::clone(&segment), dir.path().to_path_buf());
        let hook = fault::on_point("segment::delete_files::log_removed", move || {
            // The point sits after the `.log`'s unlink, before any index's.
            assert_eq!(
                names(&at),
                ["00000000000000000000.index", "00000000000000000000.timeindex"]
            );
            closing.close();
        });
        segment.delete_files().unwrap();
        assert!(hook.ran());
        assert_eq!(segment.files.get(), Files::Closed);
        // Nothing is served from the closed segment, its `.log` gone or not: a clear error.
        assert!(matches!(segment.bytes(0, bytes), Err(Error::Closed { .. })));
        assert!(
            matches!(segment.batches_from(0), Err(Error::Closed { .. })),
            "a walk of its batches"
        );
        // The indexes are no longer the segment's to remove (the directory may be another
        // store's once the close returned): left for the next open, which removes a `.index`
        // without its `.log` (`Log::open`'s orphan rule).
        assert_eq!(
            names(dir.path()),
            ["00000000000000000000.index", "00000000000000000000.timeindex"]
        );
        // A later pass over the pending deletes leaves them so.
        segment.delete_files().unwrap();
        assert_eq!(segment.files.get(), Files::Closed);
        assert_eq!(names(dir.path()).len(), 2);
    }

    /// Descriptors of this process open on files under `dir`.
    fn descriptors_under(dir: &Path) -> usize {
        let dir = dir.canonicalize().unwrap();
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.starts_with(&dir))
            .count()
    }

    #[test]
    fn a_sync_of_a_retired_segment_keeps_no_descriptor_the_budget_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let segment = segment_with_a_batch(dir.path());
        segment.retire().unwrap();
        assert_eq!(descriptors_under(dir.path()), 0, "retired: nothing open");
        // A sync pass (or a time lookup) that listed the segment before it left reopens
        // its `.log`, now `.deleted`, after the detach: the budget counts nothing of it.
        assert!(segment.flush_log().unwrap(), "its bytes were never synced");
        assert!(segment.file.lock().is_none(), "the reopened descriptor is not kept");
        assert_eq!(descriptors_under(dir.path()), 0, "closed once the sync returned");
        // Its reads still come from the map retire made.
        assert_eq!(segment.bytes(0, segment.len()).unwrap().len() as u64, segment.len());
    }

    #[test]
    fn a_lookup_in_a_retired_segment_keeps_no_index_map_the_budget_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let segment = segment_with_a_batch(dir.path());
        segment.retire().unwrap();
        // A reader that listed the segment before it left looks an offset and a time up.
        assert_eq!(segment.offset_index().lookup(0).unwrap().position, 0);
        assert!(segment.time_index().lookup(0).is_ok());
        assert!(!segment.offset_index().is_loaded(), "the offset index is not kept mapped");
        assert!(!segment.time_index().is_loaded(), "the time index is not kept mapped");
    }

    #[test]
    fn a_removal_failing_between_its_log_unlink_and_its_index_unlinks_is_finished_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let segment = segment_with_a_batch(dir.path());
        {
            let _plan = fault::arm(
                fault::FaultPlan::new().fail_point("segment::delete_files::log_removed"),
            );
            assert!(segment.delete_files().is_err());
        }
        assert_eq!(segment.files.get(), Files::Removing);
        assert_eq!(
            names(dir.path()),
            ["00000000000000000000.index", "00000000000000000000.timeindex"]
        );
        // No open or map of the files starts once the removal has: the `.log` is not read again.
        assert!(segment.bytes(0, segment.len()).is_ok(), "the map taken before stays readable");
        segment.delete_files().unwrap();
        assert_eq!(segment.files.get(), Files::Removed);
        assert_eq!(names(dir.path()), Vec::<String>::new(), "no file of the segment remains");
    }

    #[test]
    fn a_pass_that_read_removing_leaves_removed_set_meanwhile_by_another_pass() {
        use std::sync::mpsc;
        let dir = tempfile::tempdir().unwrap();
        let segment = segment_with_a_batch(dir.path());
        let (a_paused, wait_a) = mpsc::channel();
        let (go_a, a_waits) = mpsc::channel::<()>();
        let first = Arc::clone(&segment);
        // Pass A stops after its last unlink, the descriptor's lock released.
        let a = std::thread::spawn(move || {
            let _hook = fault::on_point("segment::delete_files::before_removed", move || {
                a_paused.send(()).unwrap();
                a_waits.recv().unwrap();
            });
            first.delete_files()
        });
        wait_a.recv().unwrap();
        assert_eq!(segment.files.get(), Files::Removing);
        // Pass B reads `Removing` under the lock, then A finishes (`Removed`) before B goes
        // on; B then fails before its own last step, leaving the state as it made it.
        let a_done = std::rc::Rc::new(std::cell::RefCell::new(None));
        let done = std::rc::Rc::clone(&a_done);
        let _hook = fault::on_point("segment::delete_files::state_read", move || {
            go_a.send(()).unwrap();
            *done.borrow_mut() = Some(a.join().unwrap());
        });
        let _plan =
            fault::arm(fault::FaultPlan::new().fail_point("segment::delete_files::before_removed"));
        assert!(segment.delete_files().is_err());
        assert!(matches!(a_done.borrow_mut().take(), Some(Ok(()))));
        // States only move down the table: Removed stays Removed.
        assert_eq!(segment.files.get(), Files::Removed);
    }
}
