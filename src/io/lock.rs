//! The log-directory lock: one process (and one store) owns a directory.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use super::fault::{self, Op};
use super::file;
use crate::{Error, Result};

/// How long [`DirLock::acquire`] retries a held lock before giving up.
pub const RETRY_FOR: std::time::Duration = std::time::Duration::from_millis(500);

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
    /// Creates or opens `dir/.lock` and takes an exclusive lock on it. A lock
    /// still held after [`RETRY_FOR`] is [`Error::DirectoryLocked`]; `dir`
    /// must exist.
    ///
    /// Why wait at all: a lock belongs to an open file description, and a
    /// process that forks (any thread starting a child) shares the
    /// descriptions of every file open at that instant until the child execs
    /// (our files are close-on-exec). A store closed in that window stays
    /// "locked" for the child's few microseconds to milliseconds; a real
    /// second owner holds it for much longer than the retry.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE_NAME);
        let file = file::create_rw(&path)?;
        fault::check(Op::Lock, &path)?;
        let deadline = std::time::Instant::now() + RETRY_FOR;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DirLock { dir: dir.to_path_buf(), _file: file }),
                Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::DirectoryLocked {
                        path: dir.to_path_buf(),
                        detail: format!(
                            "the log directory is held by another strata store ({} is locked)",
                            path.display()
                        ),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
