//! The log-directory lock: one process (and one store) owns a directory.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use super::fault::{self, Op};
use super::file;
use crate::{Error, Result};

/// Name of the lock file, as Kafka's (`LogManager.LockFileName`).
pub const LOCK_FILE_NAME: &str = ".lock";

/// An exclusive `flock` on `dir/.lock`, released when dropped.
///
/// `flock` locks belong to an open file description, so a second
/// [`DirLock::acquire`] of the same directory fails even within one process:
/// two stores can never share a directory by accident.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _file: File,
}

impl DirLock {
    /// Creates or opens `dir/.lock` and takes an exclusive lock on it without
    /// waiting. A lock held elsewhere is [`Error::DirectoryLocked`]; `dir`
    /// must exist.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE_NAME);
        let file = file::create_rw(&path)?;
        fault::check(Op::Lock, &path)?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { dir: dir.to_path_buf(), _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::DirectoryLocked {
                path: dir.to_path_buf(),
                detail: format!("{} is locked", path.display()),
            }),
            Err(TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
