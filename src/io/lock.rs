//! The log-directory lock: one process (and one store) owns a directory.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use super::fault::{self, Op};
use super::file;
use super::sys;
use crate::{Error, Result};

/// How long [`DirLock::acquire`] retries a held lock before giving up.
pub const RETRY_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// Name of the lock file, as Kafka's (`LogManager.LockFileName`).
pub const LOCK_FILE_NAME: &str = ".lock";

/// An exclusive `flock` and an exclusive record lock (`F_OFD_SETLK`) on
/// `dir/.lock`, released when dropped.
///
/// Both belong to an open file description, so a second
/// [`DirLock::acquire`] of the same directory fails even within one process:
/// two stores can never share a directory by accident. The `flock` keeps out
/// strata stores (older ones took only that); the record lock keeps out a
/// Kafka broker, whose `LogManager.lockLogDirs` takes Java's
/// `FileChannel.tryLock` on the same `.lock`: a POSIX record lock
/// (`fcntl(F_SETLK)`) on Linux, which no `flock` conflicts with, so with the
/// `flock` alone a broker and a store both wrote the same segments.
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
        let mut flocked = false;
        loop {
            if !flocked {
                match file.try_lock() {
                    Ok(()) => flocked = true,
                    Err(TryLockError::WouldBlock) => {}
                    Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
                }
            }
            // Kept until the record lock is had too, or the wait ends (the
            // file's drop lets go of both).
            if flocked && sys::try_lock_record(&file).map_err(|e| Error::io("lock", &path, e))? {
                return Ok(DirLock { dir: dir.to_path_buf(), _file: file });
            }
            if std::time::Instant::now() >= deadline {
                let holder = if flocked {
                    "a process holding a record lock on it, such as a running Kafka broker"
                } else {
                    "another strata store"
                };
                return Err(Error::DirectoryLocked {
                    path: dir.to_path_buf(),
                    detail: format!(
                        "the log directory is held by {holder} ({} is locked)",
                        path.display()
                    ),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
