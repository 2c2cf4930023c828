//! A segment's `.log` descriptor: opened on demand, reopened by name (the same file, checked
//! by identity) when the budget closed it or the cleaner and retention renamed it, and counted
//! in the store's [`budget`](super::budget).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Segment;
use super::budget::{self, Account};
use super::files::Files;
use crate::error::{Error, Result};
use crate::io::identity;

impl Segment {
    /// Opens the `.log` by its current name with `open`. The cleaner and
    /// retention rename segments that readers may be reading (`.swap`,
    /// `.deleted`): a name that vanished because the segment was renamed
    /// meanwhile, or that holds another file by now (the cleaner's swap puts
    /// the cleaned segment under the name it took from the old one:
    /// `open`'s identity check answers [`Error::Closed`]), is retried under
    /// the new name. A `Closed` from a renamed segment's old name would end
    /// a reader's `records_from` quietly, as at a close, on a live log.
    pub(super) fn reopen(&self, open: impl Fn(&Path) -> Result<File>) -> Result<(File, PathBuf)> {
        let mut attempts = 0;
        loop {
            let path = self.log_path();
            // Tests stop a reopen here, between reading the name and opening it.
            crate::io::fault::point("segment::reopen")?;
            match open(&path) {
                Err(e)
                    if attempts < 8
                        && match &e {
                            Error::Io { source, .. } => {
                                source.kind() == std::io::ErrorKind::NotFound
                            }
                            Error::Closed { .. } => true,
                            _ => false,
                        }
                        && self.log_path() != path =>
                {
                    attempts += 1;
                }
                Err(e) => return Err(e),
                Ok(f) => return Ok((f, path)),
            }
        }
    }

    /// Runs `f` on the open `.log`, reopening it (the same file, checked by
    /// identity) if it was released.
    pub(super) fn with_file<R>(&self, f: impl FnOnce(&File, &Path) -> Result<R>) -> Result<R> {
        self.with_shared_file(|file, path| f(file, path))
    }

    pub(super) fn with_shared_file<R>(
        &self,
        f: impl FnOnce(&Arc<File>, &Path) -> Result<R>,
    ) -> Result<R> {
        let (mut guard, reopened) = self.open_file()?;
        // The name is borrowed under its lock for the call, not copied (an
        // allocation per append): a rename waits for the call to end. A
        // recursive read, so a closure that reads the name again never waits
        // behind a queued rename.
        let path = self.log_path.read_recursive();
        let out = match guard.as_ref() {
            Some(file) => f(file, &path),
            None => Err(Error::closed_file(&path)),
        };
        drop(path);
        Self::keep_counted(&mut guard, reopened, &self.account);
        out
    }

    /// Lets go of a descriptor [`Segment::open_file`] just reopened for a
    /// segment that has left the budget (retired: a sync pass that listed
    /// it before it left): the budget neither counts
    /// nor evicts it, so kept in the segment it stayed open, uncounted,
    /// until the segment's files were deleted (`file.delete.delay.ms`).
    /// A caller of [`Segment::shared_file`] keeps its clone until it drops
    /// it. Asked only after a reopen, so appends take no extra lock.
    pub(super) fn keep_counted(handle: &mut Option<Arc<File>>, reopened: bool, account: &Account) {
        if reopened && account.is_detached() {
            *handle = None;
        }
    }

    /// The descriptor's lock, the `.log` open under it (reopened by name
    /// when the budget closed it), its use recorded in the budget; whether
    /// it was reopened.
    pub(super) fn open_file(
        &self,
    ) -> Result<(parking_lot::MutexGuard<'_, Option<Arc<File>>>, bool)> {
        let mut guard = self.file.lock();
        self.check_open()?;
        let reopened = guard.is_none();
        if reopened {
            let reopened = budget::retrying(
                || self.account.relieve(),
                || {
                    let (f, path) = self.reopen(|p| identity::reopen_rw(p, self.log_id))?;
                    identity::ensure_len(&f, &path, self.len())?;
                    Ok(f)
                },
            )?;
            *guard = Some(Arc::new(reopened));
            self.account.adjust(1, 0);
        } else {
            self.account.touch();
        }
        Ok((guard, reopened))
    }

    /// Opens the `.log` if the budget closed it, as [`Segment::with_file`]
    /// does, without taking its name's lock for a call that has nothing to
    /// do with it.
    pub(super) fn ensure_open(&self) -> Result<()> {
        let (mut guard, reopened) = self.open_file()?;
        Self::keep_counted(&mut guard, reopened, &self.account);
        Ok(())
    }

    /// The `.log` for a server to `sendfile` published bytes below `min_len`
    /// from ([`crate::log::FileSlice::file`]). The descriptor the segment's
    /// map keeps, without a system call; else the file reopened read-only
    /// under its current name (live, or `.deleted` once the segment left
    /// the log) and checked to be this segment's, the budget evicting and
    /// retrying when the process is out of descriptors. `None` once the
    /// file is gone (removed, or its name given to another file). The
    /// descriptor stays open while the caller holds it, outside the budget.
    ///
    /// A closed segment is [`Error::Closed`]: a closed log opens no file
    /// again (the directory may be another store's by now). A file found
    /// shorter than `min_len` is an error naming both lengths: something
    /// outside strata cut it.
    pub(crate) fn file_to_send(&self, min_len: u64) -> Result<Option<Arc<File>>> {
        match self.files.get() {
            Files::Live => {}
            Files::Closed => return Err(self.closed()),
            Files::Removing | Files::Removed => return Ok(None),
        }
        if let Some(kept) = self.map.read().file() {
            return Ok(Some(Arc::clone(kept)));
        }
        let opened = budget::retrying(
            || self.account.relieve(),
            || {
                let (f, path) = self.reopen(|p| identity::reopen_read(p, self.log_id))?;
                identity::ensure_len(&f, &path, min_len)?;
                Ok(f)
            },
        );
        match opened {
            Ok(f) => Ok(Some(Arc::new(f))),
            Err(_) if self.is_closed() => Err(self.closed()),
            // Its last name holds another file, or none: this one is gone.
            Err(Error::Closed { .. }) => Ok(None),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The open `.log` (reopened as [`Segment::with_file`] does), to use
    /// without holding the descriptor's lock: an fsync on it does not stop
    /// appends. If the budget closes the segment meanwhile, the descriptor
    /// stays open until the caller drops it.
    pub(super) fn shared_file(&self) -> Result<(Arc<File>, PathBuf)> {
        self.with_shared_file(|f, path| Ok((Arc::clone(f), path.to_path_buf())))
    }
}
