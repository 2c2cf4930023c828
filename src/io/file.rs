//! Thin wrappers over `std::fs`: each passes the [`fault`] gate first and
//! returns [`crate::Error::Io`] naming the operation and the path.
//!
//! Durability helpers follow one rule: a create or rename is durable only once
//! its directory is fsynced. [`rename`] and [`write_atomic`] do that
//! themselves; after [`create_new`]/[`create_rw`] the caller fsyncs the
//! directory once for the files it created together ([`fsync_dir`]).
//!
//! Files opened for writing are never reached through a symlink in their
//! last component (`O_NOFOLLOW`): a link planted where a segment, index or
//! checkpoint belongs fails the open instead of redirecting writes outside
//! the store. Directories on the way may be symlinks (an operator moving a
//! partition elsewhere).
//!
//! Positional reads and writes use `std::os::unix::fs::FileExt`; strata runs
//! where Kafka does (unix).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{FileExt as _, FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::fault::{self, Op};
use crate::{Error, Result};

/// Runs `f` behind the fault gate, wrapping any error with `name` and `path`.
fn gate<T>(
    op: Op,
    name: &'static str,
    path: &Path,
    f: impl FnOnce() -> std::io::Result<T>,
) -> Result<T> {
    fault::watched(op, path);
    let out = fault::check_io_at(op, Some(path))
        .and_then(|()| f())
        .map_err(|e| Error::io(name, path, e))?;
    fault::done(op, path, None);
    Ok(out)
}

/// Renames `from` to `to` behind the gate, without any fsync: the caller
/// fsyncs the directory (once for several renames) before anything depends on
/// the new names.
pub fn rename_unsynced(from: &Path, to: &Path) -> Result<()> {
    fault::check_io_at(Op::Rename, Some(from))
        .and_then(|()| std::fs::rename(from, to))
        .map_err(|e| Error::io("rename", from, e))?;
    fault::done(Op::Rename, from, Some(to));
    Ok(())
}

/// Fails unless `file` is a regular file. Every file strata opens by name in
/// a store directory must be one: a FIFO or device planted under a store
/// file's name would block a read or write forever, or stream endless bytes.
fn regular(file: File) -> std::io::Result<File> {
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(not_regular(kind))
}

/// The error for a file of type `kind` where a regular file belongs, naming
/// what it is instead.
pub fn not_regular(kind: std::fs::FileType) -> std::io::Error {
    let what = if kind.is_symlink() {
        "a symbolic link (strata never follows one to a store file)"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    std::io::Error::new(ErrorKind::InvalidInput, format!("{what}, not a regular file"))
}

/// `O_NONBLOCK`: opening a FIFO does not wait for a peer (a regular file
/// ignores it); [`regular`] then refuses the FIFO.
fn no_block(o: &mut OpenOptions) -> &mut OpenOptions {
    o.custom_flags(libc::O_NONBLOCK)
}

/// Opens an existing regular file for reading.
pub fn open_read(path: &Path) -> Result<File> {
    gate(Op::Open, "open", path, || {
        no_block(OpenOptions::new().read(true)).open(path).and_then(regular)
    })
}

/// Options for a read-write open that refuses a symlink as the file itself
/// (`ELOOP`) and does not wait on a FIFO (`O_NONBLOCK`; [`regular`] then
/// refuses it).
fn rw_nofollow() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    options
}

/// Opens an existing regular file for reading and writing (a segment to
/// append to). A symlink is refused (`ELOOP`).
pub fn open_rw(path: &Path) -> Result<File> {
    gate(Op::Open, "open", path, || rw_nofollow().open(path).and_then(regular))
}

/// Opens a regular file for reading and writing, creating it empty if
/// missing; an existing file keeps its bytes. A symlink is refused (`ELOOP`).
pub fn create_rw(path: &Path) -> Result<File> {
    gate(Op::Open, "create", path, || {
        rw_nofollow().create(true).truncate(false).open(path).and_then(regular)
    })
}

/// Creates a new empty file for reading and writing; fails if it exists
/// (a symlink included, dangling or not).
pub fn create_new(path: &Path) -> Result<File> {
    gate(Op::Open, "create", path, || rw_nofollow().create_new(true).open(path))
}

/// Writes all of `buf` at byte `pos` (the file cursor is not used).
pub fn write_all_at(file: &File, path: &Path, buf: &[u8], pos: u64) -> Result<()> {
    gate(Op::Write, "write", path, || file.write_all_at(buf, pos))
}

/// Writes `head` then `rest` at byte `pos` as one write (`pwritev`): a batch
/// whose first bytes were reassigned without copying the rest.
pub fn write_all_at_split(
    file: &File,
    path: &Path,
    head: &[u8],
    rest: &[u8],
    pos: u64,
) -> Result<()> {
    gate(Op::Write, "write", path, || {
        let (mut head, mut rest, mut pos) = (head, rest, pos);
        while !head.is_empty() || !rest.is_empty() {
            let n = match pwritev2(file, head, rest, pos) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            pos += n as u64;
            (head, rest) = advance(head, rest, n);
        }
        Ok(())
    })
}

/// What is left of `head` then `rest` after a short write of `n` bytes.
fn advance<'a>(head: &'a [u8], rest: &'a [u8], n: usize) -> (&'a [u8], &'a [u8]) {
    let from_head = n.min(head.len());
    let left = head.get(from_head..).unwrap_or_default();
    (left, rest.get(n - from_head..).unwrap_or_default())
}

/// One `pwritev` of two buffers at `pos`: the bytes it wrote.
fn pwritev2(file: &File, head: &[u8], rest: &[u8], pos: u64) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd as _;
    let iov = [
        libc::iovec { iov_base: head.as_ptr().cast_mut().cast(), iov_len: head.len() },
        libc::iovec { iov_base: rest.as_ptr().cast_mut().cast(), iov_len: rest.len() },
    ];
    let offset = libc::off_t::try_from(pos)
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, "write position past off_t"))?;
    #[expect(unsafe_code, reason = "pwritev has no safe wrapper in std")]
    // SAFETY: both iovecs describe live, initialized slices that outlive the
    // call, and the kernel only reads from them (`pwritev` writes the file,
    // never the buffers; the `cast_mut` is for the C signature alone). The
    // count passed is the array's length, and the descriptor is open for the
    // borrow of `file`.
    let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), 2, offset) };
    // A negative return is the error in errno; otherwise a byte count.
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// Writes all of `buf` at the file cursor and advances it.
pub fn append(file: &File, path: &Path, buf: &[u8]) -> Result<()> {
    gate(Op::Write, "write", path, || {
        let mut file = file;
        file.write_all(buf)
    })
}

/// Fills `buf` from byte `pos`; reaching the end of the file first is an
/// error of kind `UnexpectedEof`.
pub fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], pos: u64) -> Result<()> {
    gate(Op::Read, "read", path, || file.read_exact_at(buf, pos))
}

/// Reads from byte `pos` until `buf` is full or the file ends; returns the
/// number of bytes read.
pub fn read_up_to_at(file: &File, path: &Path, buf: &mut [u8], pos: u64) -> Result<usize> {
    gate(Op::Read, "read", path, || {
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
            let at = pos.saturating_add(done as u64);
            match file.read_at(rest, at) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    })
}

/// The longest file [`read`] reads whole: 2 GiB, past any segment
/// (`segment.bytes` is an int), index, checkpoint or snapshot strata or
/// Kafka writes.
pub const MAX_READ: u64 = i32::MAX as u64;

/// Reads a whole (small) regular file (see [`open_read`]), up to
/// [`MAX_READ`] bytes: [`read_limited`] with the longest file of any kind.
///
/// # Errors
/// As [`read_limited`].
pub fn read(path: &Path) -> Result<Vec<u8>> {
    read_limited(path, MAX_READ)
}

/// Reads a whole regular file no longer than `max` bytes, the longest file
/// of its kind Kafka or strata writes: a longer one (a planted sparse file
/// costs no disk) is refused before anything is allocated. The buffer is
/// reserved once at the file's length, without aborting when memory is
/// short, so a read costs the file's length, never twice it.
///
/// # Errors
/// [`Error::CorruptFile`] naming the file when it is longer than `max`;
/// [`Error::Io`] naming it when its length cannot be allocated
/// (`ErrorKind::OutOfMemory`), and for I/O failures.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let max = max.min(MAX_READ);
    let mut too_long = None;
    let read = gate(Op::Read, "read", path, || {
        let file = no_block(OpenOptions::new().read(true)).open(path).and_then(regular)?;
        let len = file.metadata()?.len();
        if len > max {
            too_long = Some(len);
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        // One more byte than the length, so that reading to the end finds
        // the end without growing the buffer.
        let room = usize::try_from(len).ok().and_then(|l| l.checked_add(1));
        if room.is_none_or(|room| out.try_reserve_exact(room).is_err()) {
            return Err(std::io::Error::new(
                ErrorKind::OutOfMemory,
                format!("cannot allocate {len} bytes to read it"),
            ));
        }
        // A file that grows while it is read is read up to the limit only.
        std::io::Read::read_to_end(&mut std::io::Read::take(&file, max + 1), &mut out)?;
        if out.len() as u64 > max {
            too_long = Some(out.len() as u64);
            out = Vec::new();
        }
        Ok(out)
    })?;
    match too_long {
        Some(len) => Err(Error::CorruptFile {
            path: path.to_path_buf(),
            reason: format!("length {len} is past the longest such file ({max} bytes)"),
        }),
        None => Ok(read),
    }
}

/// Reads a whole file the user named (a config file), which may be a FIFO
/// or a device such as `/dev/stdin`.
pub fn read_any(path: &Path) -> Result<Vec<u8>> {
    gate(Op::Read, "read", path, || std::fs::read(path))
}

/// `fdatasync`: the file's bytes (and the length, if it changed) are durable.
pub fn sync_data(file: &File, path: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    let r = gate(Op::Sync, "fsync", path, || file.sync_data());
    crate::events::fsync_took(path, start.elapsed());
    r
}

/// `fsync`: bytes and all metadata are durable.
pub fn sync_all(file: &File, path: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    let r = gate(Op::Sync, "fsync", path, || file.sync_all());
    crate::events::fsync_took(path, start.elapsed());
    r
}

/// Sets the file's length, cutting or zero-extending it.
pub fn set_len(file: &File, path: &Path, len: u64) -> Result<()> {
    gate(Op::SetLen, "set_len", path, || file.set_len(len))
}

/// Gives `[from, to)` of the file real blocks (`fallocate`), growing the
/// file to `to` if it is shorter, so that a full disk is an error here and
/// never a `SIGBUS` when a mapping of those pages is written later
/// (`set_len` alone makes a sparse file). Blocks already there are kept and
/// no written byte changes. Where the file system has no `fallocate`, the
/// error is `EOPNOTSUPP`: the caller rewrites the range with the bytes it
/// holds (see [`super::IndexMap`]).
pub fn allocate_range(file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
    if to <= from {
        return Ok(());
    }
    gate(Op::Allocate, "fallocate", path, || super::sys::fallocate(file, from, to - from))
}

/// Gives `[from, to)` of the file real blocks without changing its length
/// (`fallocate` with `FALLOC_FL_KEEP_SIZE`): for the `.log` an appender
/// writes next, so that each write finds its blocks allocated. Advice
/// only: the length, and so every read, stays as it was.
pub fn preallocate(file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
    if to <= from {
        return Ok(());
    }
    gate(Op::Allocate, "fallocate", path, || super::sys::fallocate_keep_size(file, from, to - from))
}

/// Whether `e` says the file system cannot `fallocate`.
pub fn is_unsupported(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(libc::EOPNOTSUPP))
}

/// Bytes available to unprivileged writers on the file system holding `path`.
pub fn free_space(path: &Path) -> Result<u64> {
    gate(Op::FreeSpace, "statvfs", path, || super::sys::free_space(path))
}

/// Whether `e` says the disk (or the user's quota) is full.
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// The file's current length in bytes.
pub fn len(file: &File, path: &Path) -> Result<u64> {
    gate(Op::Metadata, "metadata", path, || file.metadata().map(|m| m.len()))
}

/// Length of the file at `path`, without opening it.
pub fn size(path: &Path) -> Result<u64> {
    gate(Op::Metadata, "metadata", path, || std::fs::metadata(path).map(|m| m.len()))
}

/// The bytes of disk blocks an open file holds (its data and the file
/// system's own blocks for it, past its length too) and its last
/// modification time.
pub fn allocated_and_modified(file: &File, path: &Path) -> Result<(u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    gate(Op::Metadata, "metadata", path, || {
        let meta = file.metadata()?;
        Ok((meta.blocks().saturating_mul(512), meta.modified()?))
    })
}

/// Sets the last-modification time of an open file.
pub fn set_modified(file: &File, path: &Path, time: std::time::SystemTime) -> Result<()> {
    gate(Op::Metadata, "set modified", path, || file.set_modified(time))
}

/// Whether `path` is a directory (false when it does not exist).
pub fn is_dir(path: &Path) -> Result<bool> {
    gate(Op::Metadata, "metadata", path, || match std::fs::metadata(path) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    })
}

/// Whether `path` is a symbolic link (false when it does not exist); the
/// link itself is looked at, never followed.
pub fn is_symlink(path: &Path) -> Result<bool> {
    gate(Op::Metadata, "metadata", path, || match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(m.file_type().is_symlink()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    })
}

/// Checks the name of a directory strata opens (`what`: "log directory",
/// "partition directory") before anything is created in it: whether it
/// exists, refusing a file or other non-directory there, and a missing one
/// when `must_exist`, in the OS's words (`what PATH: Not a directory (os
/// error 20)`) rather than those of the create or open that would fail.
pub fn check_dir(what: &'static str, path: &Path, must_exist: bool) -> Result<bool> {
    let found = gate(Op::Metadata, "metadata", path, || match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.is_dir())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    })?;
    let errno = match found {
        Some(true) => return Ok(true),
        Some(false) => libc::ENOTDIR,
        None if must_exist => libc::ENOENT,
        None => return Ok(false),
    };
    Err(Error::io(what, path, std::io::Error::from_raw_os_error(errno)))
}

/// Whether `path` exists (an error only when that cannot be told).
pub fn exists(path: &Path) -> Result<bool> {
    gate(Op::Metadata, "metadata", path, || path.try_exists())
}

/// Fsyncs a directory, making creates, renames and removes in it durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    gate(Op::SyncDir, "fsync dir", dir, || File::open(dir)?.sync_all())
}

/// A directory held open to fsync it again and again without opening it:
/// an operation whose later steps must not fail for want of a descriptor
/// (the cleaner's swap, which cannot stop half-way without poisoning its
/// log) opens it before its first step, where running out of descriptors
/// still fails cleanly.
#[derive(Debug)]
pub struct DirHandle {
    file: File,
    path: PathBuf,
}

impl DirHandle {
    /// Opens `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let file = gate(Op::Open, "open dir", dir, || File::open(dir))?;
        Ok(DirHandle { file, path: dir.to_owned() })
    }

    /// Fsyncs the directory, as [`fsync_dir`] does.
    pub fn sync(&self) -> Result<()> {
        gate(Op::SyncDir, "fsync dir", &self.path, || self.file.sync_all())
    }
}

/// The directory holding `path`, to fsync after creating or renaming it:
/// `.` for a bare name (`Path::new("d1").parent()` is `""`, which cannot be
/// opened). Every fsync of a parent directory goes through here.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Renames `from` to `to` (replacing `to` if it exists), then fsyncs the
/// directory of each so the rename is durable.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    rename_unsynced(from, to)?;
    let (from_dir, to_dir) = (parent_dir(from), parent_dir(to));
    fsync_dir(to_dir)?;
    if from_dir != to_dir {
        fsync_dir(from_dir)?;
    }
    Ok(())
}

/// Removes a file; a missing file is an error.
pub fn remove_file(path: &Path) -> Result<()> {
    gate(Op::Remove, "remove", path, || std::fs::remove_file(path))
}

/// Removes a file if it exists; returns whether it did.
pub fn remove_file_if_exists(path: &Path) -> Result<bool> {
    gate(Op::Remove, "remove", path, || match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    })
}

/// Removes a directory and everything in it.
pub fn remove_dir_all(dir: &Path) -> Result<()> {
    gate(Op::Remove, "remove dir", dir, || std::fs::remove_dir_all(dir))
}

/// Creates a directory and any missing parents.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    gate(Op::CreateDir, "create dir", dir, || std::fs::create_dir_all(dir))
}

/// The paths of the entries of `dir`, sorted by name.
pub fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    gate(Op::ReadDir, "read dir", dir, || {
        let mut paths = std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()?;
        paths.sort();
        Ok(paths)
    })
}

/// `path` with `suffix` appended to its file name (`a.index` + `.swap`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writers of `path.tmp` files, one at a time per path: two threads replacing
/// the same file (a flush and the background checkpointer) must not rename
/// each other's temporary file away. Striped by a hash of the path; another
/// process cannot interfere because the log directory is locked.
fn replace_lock(path: &Path) -> parking_lot::MutexGuard<'static, ()> {
    use std::hash::BuildHasher as _;
    static STRIPES: [parking_lot::Mutex<()>; 16] = [const { parking_lot::Mutex::new(()) }; 16];
    static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let h = SEED.get_or_init(Default::default).hash_one(path);
    let i = usize::try_from(h % 16).unwrap_or(0);
    STRIPES.get(i).unwrap_or(&STRIPES[0]).lock()
}

/// Creates `path.tmp` afresh holding `bytes`: a stale one (or a planted
/// symlink) is removed first and the new one is created exclusively.
fn write_tmp(path: &Path, bytes: &[u8]) -> Result<(PathBuf, File)> {
    let (tmp, file) = create_tmp(path)?;
    match write_all_at(&file, &tmp, bytes, 0) {
        Ok(()) => Ok((tmp, file)),
        Err(e) => {
            drop(file);
            discard_tmp(&tmp);
            Err(e)
        }
    }
}

/// Removes the `path.tmp` of a replacement that failed, best effort: on a
/// full disk its blocks are wanted back at once, not at the next write of
/// the same file (which replaces a stale one anyway). Once the rename has
/// happened there is none to remove.
fn discard_tmp(tmp: &Path) {
    let _ = remove_file_if_exists(tmp);
}

/// Creates `path.tmp` afresh and empty, as [`write_tmp`] does.
fn create_tmp(path: &Path) -> Result<(PathBuf, File)> {
    let tmp = with_suffix(path, ".tmp");
    let file = match create_new(&tmp) {
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {
            remove_file(&tmp)?;
            create_new(&tmp)?
        }
        other => other?,
    };
    Ok((tmp, file))
}

/// Replaces a small file by writing `path.tmp` and renaming it over `path`,
/// without any fsync: for files whose loss or tearing in a crash is detected
/// and tolerated (a producer snapshot has a CRC; a bad one is skipped).
pub fn write_replace_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    let _one_writer = replace_lock(path);
    let (tmp, file) = write_tmp(path, bytes)?;
    drop(file);
    rename_unsynced(&tmp, path).inspect_err(|_| discard_tmp(&tmp))
}

/// [`write_atomic`] unless `path` already holds exactly `bytes`: a file
/// every writer of which made durable (checkpoints, clean-shutdown
/// snapshots) need not be written, synced and renamed again when nothing
/// changed, and keeps its inode and mtime. Returns whether it wrote.
///
/// # Errors
/// As [`write_atomic`]; a file that cannot be read is simply replaced.
pub fn write_atomic_if_changed(path: &Path, bytes: &[u8]) -> Result<bool> {
    let unsure = unsure().lock().contains(path);
    if !unsure && read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    write_atomic(path, bytes).map(|()| true)
}

/// Paths whose last [`write_atomic`] failed once its rename may have
/// happened (the directory's fsync failed): they may hold the new bytes
/// without their name being durable, so the next write of the same bytes is
/// not skipped as unchanged.
fn unsure() -> &'static parking_lot::Mutex<std::collections::HashSet<PathBuf>> {
    static UNSURE: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<PathBuf>>> =
        std::sync::OnceLock::new();
    UNSURE.get_or_init(Default::default)
}

/// Replaces a small file atomically: writes `path.tmp`, fsyncs it, renames it
/// over `path` and fsyncs the directory. After a crash `path` holds either the
/// old or the new bytes; a stale `path.tmp` may remain and is replaced by the
/// next call. A call that fails leaves `path` as it was and removes its
/// `path.tmp`. Concurrent calls for one path run one at a time.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let _one_writer = replace_lock(path);
    let (tmp, file) = write_tmp(path, bytes)?;
    sync_and_rename(file, &tmp, path)
}

/// The end of a durable replacement: fsyncs `file` (`tmp`), renames it over
/// `path` and fsyncs the directory; a failure removes `tmp` if still there.
fn sync_and_rename(file: File, tmp: &Path, path: &Path) -> Result<()> {
    let synced = sync_all(&file, tmp);
    drop(file);
    if let Err(e) = synced {
        discard_tmp(tmp);
        return Err(e);
    }
    unsure().lock().insert(path.to_owned());
    rename(tmp, path).inspect_err(|_| discard_tmp(tmp))?;
    unsure().lock().remove(path);
    Ok(())
}

/// Replaces `path` with a file `fill` writes: `fill` gets `path.tmp`, created
/// afresh as [`write_atomic`] creates it, and writes its bytes where it likes
/// (a header last, once what it sums is written); then, when `durable`, the
/// file is fsynced, renamed over `path` and the directory fsynced, as
/// [`write_atomic`] does, else it is renamed unsynced, as
/// [`write_replace_unsynced`] does. For a file too long to build in memory
/// first (a producer snapshot of millions of producers). A `fill` that fails
/// leaves `path` as it was; its `path.tmp` is removed, as after any failure.
///
/// # Errors
/// `fill`'s error, or I/O failures.
pub fn replace_with(
    path: &Path,
    durable: bool,
    fill: impl FnOnce(&File, &Path) -> Result<()>,
) -> Result<()> {
    let _one_writer = replace_lock(path);
    let (tmp, file) = create_tmp(path)?;
    if let Err(e) = fill(&file, &tmp) {
        drop(file);
        // Best effort: a stale `path.tmp` is replaced by the next write anyway.
        let _ = remove_file(&tmp);
        return Err(e);
    }
    if !durable {
        drop(file);
        return rename_unsynced(&tmp, path).inspect_err(|_| discard_tmp(&tmp));
    }
    sync_and_rename(file, &tmp, path)
}

/// 16 random bytes from the kernel (`/dev/urandom`), or, where that cannot be
/// read, from the standard library's per-process random hash keys mixed with
/// the time and a counter. For identifiers (topic IDs), not for secrets.
#[must_use]
pub fn random_bytes() -> [u8; 16] {
    use std::hash::{BuildHasher as _, Hasher as _};
    use std::io::Read as _;
    let mut out = [0u8; 16];
    let kernel = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if kernel.is_ok() && out != [0; 16] {
        return out;
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now);
        h.write_u64(n);
        h.write_usize(i);
        h.write_u32(std::process::id());
        half.copy_from_slice(&h.finish().to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_write_whose_directory_sync_failed_is_not_skipped_as_unchanged() {
        use crate::io::fault::{self, FaultPlan, Op};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("checkpoint");
        {
            let _broken = fault::arm(FaultPlan::new().fail_nth(Op::SyncDir, 1));
            assert!(super::write_atomic_if_changed(&path, b"new").is_err());
        }
        // The rename happened: the file holds the bytes, but its name may not be durable.
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"new"[..]));
        let counting = fault::arm(FaultPlan::new());
        assert!(matches!(super::write_atomic_if_changed(&path, b"new"), Ok(true)));
        assert_eq!(counting.calls(Op::SyncDir), 1, "the directory is synced this time");
        // Once durable, the same bytes are skipped again.
        assert!(matches!(super::write_atomic_if_changed(&path, b"new"), Ok(false)));
        assert_eq!(counting.calls(Op::SyncDir), 1);
    }

    use super::advance;

    /// Every short write of a two-part `pwritev` leaves exactly the bytes
    /// after the first `n`, in order, so the loop never writes a batch's
    /// body against the wrong header bytes.
    #[test]
    fn a_short_split_write_leaves_exactly_the_unwritten_bytes() {
        let whole: Vec<u8> = (0..40).collect();
        for split in [0, 1, 16, 39, 40] {
            let (head, rest) = whole.split_at(split);
            for n in 0..=whole.len() {
                let (h, r) = advance(head, rest, n);
                let left: Vec<u8> = h.iter().chain(r).copied().collect();
                assert_eq!(left, whole[n..], "split {split}, {n} written");
            }
        }
    }
}
