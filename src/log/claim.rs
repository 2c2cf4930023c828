//! One open [`Log`](super::Log) per partition directory in a process.
//!
//! The store's `.lock` keeps other processes and stores out of a log
//! directory, but a partition directory can also be opened with
//! [`Log::open`](super::Log::open) directly, and two logs over one directory
//! would hand out the same offsets and overwrite each other's records. So an
//! open log holds a [`DirClaim`] on its directory, keyed by the directory's
//! `(device, inode)` (a symlink or a second spelling of the path is the same
//! directory), and gives it back when it closes or is dropped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::io::identity::{self, FileId};
use crate::{Error, Result};

/// Directories of the logs open in this process.
static OPEN: Mutex<BTreeSet<FileId>> = Mutex::new(BTreeSet::new());

/// A partition directory this process has open; released when dropped.
#[derive(Debug)]
pub(crate) struct DirClaim {
    id: FileId,
}

impl DirClaim {
    /// Claims `dir` (which exists), or fails with [`Error::DirectoryLocked`]
    /// if an open log of this process holds it.
    pub(crate) fn take(dir: &Path) -> Result<DirClaim> {
        let (id, _) = identity::stat(dir)?;
        if OPEN.lock().insert(id) {
            Ok(DirClaim { id })
        } else {
            Err(Error::DirectoryLocked {
                path: PathBuf::from(dir),
                detail: "this partition directory is already open in this process (a \
                         store's partition, or another Log::open): close that log first"
                    .into(),
            })
        }
    }
}

impl Drop for DirClaim {
    fn drop(&mut self) {
        OPEN.lock().remove(&self.id);
    }
}
