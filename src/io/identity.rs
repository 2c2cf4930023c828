//! File identity: a handle reopens only the file it opened first.
//!
//! Segments and indexes close their descriptors and maps when idle and open
//! them again by name. A name is not a file: after a topic is deleted and
//! re-created, or after another store compacted the directory, the same name
//! holds a different file, and mapping it at the old length would serve the
//! wrong records or fault (`SIGBUS`) past its end. So the first open records
//! the file's `(device, inode)` — and its birth time where the file system
//! records one, since inode numbers are reused — and every reopen compares: a
//! different file is [`Error::Closed`] (the handle is stale), never read. A
//! reopen that is about to map a length also checks the file still has it
//! ([`ensure_len`]): a reused inode without a birth time could otherwise be
//! mapped past its end.
//!
//! A rename keeps the inode, so a segment renamed `.deleted` or `.swap` is
//! still its own file.

use std::fs::File;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use super::fault::{self, Op};
use super::file;
use crate::{Error, Result};

/// `(device, inode, birth time)` of an open file; the birth time is `None`
/// where the file system or kernel does not report one (`statx` btime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
    born: Option<std::time::SystemTime>,
}

impl FileId {
    fn of_metadata(m: &std::fs::Metadata) -> FileId {
        FileId { dev: m.dev(), ino: m.ino(), born: m.created().ok() }
    }
}

/// Fails unless `file` (at `path`) is at least `min_len` bytes long: a file
/// cut below a length that was published for it cannot be mapped that far
/// (`SIGBUS`). The error names the path and both lengths.
pub fn ensure_len(file: &File, path: &Path, min_len: u64) -> Result<()> {
    let len = file::len(file, path)?;
    if len >= min_len {
        return Ok(());
    }
    let msg = format!("file is {len} bytes, below the {min_len} bytes published for it");
    Err(Error::io("reopen", path, std::io::Error::new(std::io::ErrorKind::UnexpectedEof, msg)))
}

/// The identity of an open file.
pub fn of(file: &File, path: &Path) -> Result<FileId> {
    fault::check_io(Op::Metadata)
        .and_then(|()| file.metadata())
        .map(|m| FileId::of_metadata(&m))
        .map_err(|e| Error::io("metadata", path, e))
}

/// The identity and length of the file at `path`, without opening it.
pub fn stat(path: &Path) -> Result<(FileId, u64)> {
    fault::check_io(Op::Metadata)
        .and_then(|()| std::fs::metadata(path))
        .map(|m| (FileId::of_metadata(&m), m.len()))
        .map_err(|e| Error::io("metadata", path, e))
}

/// [`stat`] of a file that must be a regular file (a segment): a symlink,
/// FIFO, device or directory under its name is an error naming it. A
/// symlink is not followed: segments are opened for writing with
/// `O_NOFOLLOW`, so a link planted where a segment belongs (to another
/// partition's segment, say) must not be read either.
pub fn stat_file(path: &Path) -> Result<(FileId, u64)> {
    fault::check_io(Op::Metadata)
        .and_then(|()| std::fs::symlink_metadata(path))
        .and_then(|m| {
            if m.is_file() {
                return Ok((FileId::of_metadata(&m), m.len()));
            }
            Err(file::not_regular(m.file_type()))
        })
        .map_err(|e| Error::io("metadata", path, e))
}

/// Fails with [`Error::Closed`] unless `file` is the file `expected` names.
pub fn check(file: &File, path: &Path, expected: FileId) -> Result<()> {
    if of(file, path)? == expected { Ok(()) } else { Err(Error::closed_file(path)) }
}

/// Opens `path` for reading if it is still the file `expected` names; a
/// different file is [`Error::Closed`], a missing one an I/O error.
pub fn reopen_read(path: &Path, expected: FileId) -> Result<File> {
    let f = file::open_read(path)?;
    check(&f, path, expected)?;
    Ok(f)
}

/// As [`reopen_read`], for reading and writing.
pub fn reopen_rw(path: &Path, expected: FileId) -> Result<File> {
    let f = file::open_rw(path)?;
    check(&f, path, expected)?;
    Ok(f)
}

/// The metadata of the file at `path` when it is the file `expected`
/// names, `None` when `path` is missing or names another: one `stat`, so
/// what is read of it is that file's (a check and then a second look would
/// race a rename between them).
fn metadata_if_at(path: &Path, expected: FileId) -> Result<Option<std::fs::Metadata>> {
    match fault::check_io(Op::Metadata).and_then(|()| std::fs::metadata(path)) {
        Ok(m) => Ok((FileId::of_metadata(&m) == expected).then_some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("metadata", path, e)),
    }
}

/// The modification time of the file at `path` when it is the file
/// `expected` names, `None` when `path` is missing or names another.
pub fn modified_if_at(path: &Path, expected: FileId) -> Result<Option<std::time::SystemTime>> {
    metadata_if_at(path, expected)?
        .map(|m| m.modified().map_err(|e| Error::io("metadata", path, e)))
        .transpose()
}

/// Whether `path` still names the file `expected` names (false when missing).
pub fn still_at(path: &Path, expected: FileId) -> Result<bool> {
    Ok(metadata_if_at(path, expected)?.is_some())
}
