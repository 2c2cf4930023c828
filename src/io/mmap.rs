//! Memory maps of segment and index files, and the contract that makes them
//! sound.
//!
//! # The mmap contract
//!
//! Mapping a file is `unsafe` because another writer could change or truncate
//! the bytes behind a `&[u8]`. strata keeps four rules, and each `unsafe`
//! site below names the ones it relies on:
//!
//! 1. **Viewed bytes never change.** Bytes that a [`Bytes`] view covers never
//!    change while the view lives: segment files are only appended to;
//!    compaction and retention replace or delete whole files, never rewrite
//!    them.
//! 2. **No truncation below a published length.** A file is never truncated
//!    below a length a view was handed out for. If the active segment is
//!    mapped beyond its written length (so appends need no remap), readers
//!    only ever see the written, published length, and the trim at roll keeps
//!    every published byte.
//! 3. **Index maps are written under the append lock.** Index files are
//!    mapped writable and touched only under the partition's append lock;
//!    readers copy entries out. Only a writer maps index files: a read-only
//!    index (a read-only open, possibly beside a live writer that trims or
//!    recovery-cuts its indexes) copies the file with positional reads, so a
//!    file shrinking under it is an error, never a fault. [`IndexMap`] writes need `&mut self`, so the
//!    index types keep it in a `RwLock` and no `&[u8]` over index bytes
//!    outlives a read lock.
//! 4. **One process owns a log directory** (the `.lock` file of
//!    [`crate::io::lock`]). A file truncated or rewritten behind our back by
//!    another program is outside the contract: reads of it may fault
//!    (`SIGBUS`) or return changed bytes. A read-only open takes no lock and
//!    may sit beside that owner: it maps only `.log` bytes of batches the
//!    owner had written and will keep, and copies everything else (indexes,
//!    the bytes its recovery dry run validates).
//!
//! Within the process, a map is only ever made of the file its handle first
//! opened: a reopen by name checks the `(device, inode)` first
//! ([`super::identity`]), so a stale handle cannot map a file that replaced
//! its own at the same name (a re-created topic, another store's compaction)
//! at a length that file does not have.
//!
//! A view of a deleted or renamed file stays valid: the mapping keeps the
//! inode alive until the last view is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{MmapMut, MmapOptions, MmapRaw};
use parking_lot::Mutex;

use super::ahead;
use super::fault::{self, Op};
use super::file;
use super::identity::{self, FileId};
use crate::{Error, Result};

fn map_len(path: &Path, len: u64) -> Result<usize> {
    usize::try_from(len).map_err(|_| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "length exceeds usize");
        Error::io("mmap", path, e)
    })
}

/// A read-only shared mapping of a segment `.log` file, possibly longer than
/// the file (the active segment is mapped once to its capacity and grows into
/// it by `write`). Cheap to clone; [`Bytes`] views keep it alive.
#[derive(Default)]
pub struct ReadMap {
    /// `None` for a zero-length mapping (`mmap` of length 0 fails).
    raw: Option<Arc<MmapRaw>>,
    /// The longest view `[0, n)` made so far: a later view inside it is a
    /// slice of it (a reference count), not a new owner (an allocation per
    /// read). Every byte it covers was published when it was made, so it is
    /// a view like any reader's (contract rules 1 and 2); only slices of it
    /// within the caller's published length are handed out, and
    /// [`ReadMap::forget_views`] drops it where a file is cut.
    from_start: Mutex<Bytes>,
    /// How far population ahead of sequential readers has got
    /// ([`ReadMap::populate_ahead`]); shared by the map's clones.
    ahead: Arc<ahead::Progress>,
    /// The open file the map was made of, when kept ([`ReadMap::map_keeping`]):
    /// handed to a server (`FileSlice::file`) to `sendfile` from the file
    /// the map's bytes are in, whatever later happens to its name.
    file: Option<Arc<File>>,
}

impl Clone for ReadMap {
    fn clone(&self) -> Self {
        ReadMap {
            raw: self.raw.clone(),
            from_start: Mutex::new(self.from_start.lock().clone()),
            ahead: Arc::clone(&self.ahead),
            file: self.file.clone(),
        }
    }
}

impl ReadMap {
    /// A mapping of nothing: every view of it is empty.
    pub fn empty() -> ReadMap {
        ReadMap::default()
    }

    /// Maps the first `len` bytes of `file`, which may be more than its
    /// current length. Only bytes below the published (written) length may be
    /// viewed, see [`ReadMap::bytes`].
    pub fn map(file: &File, path: &Path, len: u64) -> Result<ReadMap> {
        let len = map_len(path, len)?;
        if len == 0 {
            return Ok(ReadMap::empty());
        }
        fault::check(Op::Map, path)?;
        // A raw map hands out no references by itself: `bytes` creates each
        // `&[u8]` over a published range only.
        let raw = MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)
            .map_err(|e| Error::io("mmap", path, e))?;
        Ok(ReadMap { raw: Some(Arc::new(raw)), ..ReadMap::default() })
    }

    /// [`ReadMap::map`], keeping `file` open with the map (see
    /// [`ReadMap::file`]): the descriptor closes when the last clone of the
    /// map and the last [`ReadMap::file`] handed out are dropped.
    pub fn map_keeping(file: &Arc<File>, path: &Path, len: u64) -> Result<ReadMap> {
        let map = ReadMap::map(file, path, len)?;
        if map.raw.is_none() {
            return Ok(map);
        }
        Ok(ReadMap { file: Some(Arc::clone(file)), ..map })
    }

    /// The open file the map was made of, if [`ReadMap::map_keeping`] kept
    /// it: the very file its views show, even after its name was renamed,
    /// removed or given to another file.
    pub fn file(&self) -> Option<&Arc<File>> {
        self.file.as_ref()
    }

    /// Lets go of the file [`ReadMap::map_keeping`] kept (its descriptor
    /// closes once no clone or [`ReadMap::file`] handed out holds it); the
    /// mapping stays. For a map no budget counts the descriptor of.
    pub fn forget_file(&mut self) {
        self.file = None;
    }

    /// Drops the view kept for reuse (see `from_start`): for a map whose file
    /// was cut below bytes it viewed (recovery's cut of a torn tail).
    pub fn forget_views(&self) {
        *self.from_start.lock() = Bytes::new();
    }

    /// Length of the mapping (not of the file).
    pub fn len(&self) -> usize {
        self.raw.as_ref().map_or(0, |raw| raw.len())
    }

    /// Tells the kernel the mapping will be read once from start to end
    /// (`madvise(MADV_SEQUENTIAL)`): aggressive read-ahead, pages dropped
    /// behind the reader. For recovery's scan of a whole segment. Advice only
    /// affects speed, so a refusal is ignored.
    pub fn advise_sequential(&self) {
        if let Some(raw) = &self.raw {
            let _ = raw.advise(memmap2::Advice::Sequential);
        }
    }

    /// Takes back [`ReadMap::advise_sequential`] (`madvise(MADV_NORMAL)`):
    /// the map is read at any offset from now on. A refusal is ignored.
    pub fn advise_normal(&self) {
        if let Some(raw) = &self.raw {
            let _ = raw.advise(memmap2::Advice::Normal);
        }
    }

    /// Has the kernel set up the page-table entries of `[start, start + len)`
    /// (clamped to the mapping) at once (`madvise(MADV_POPULATE_READ)`,
    /// Linux 5.14+), instead of one page fault per 64 KiB as a reader touches
    /// them (fault-around). For recovery's scan, called a step ahead of it.
    /// Mapping pages of the page cache is most of what that scan costs when
    /// the cache holds the file in small folios (as appends leave it); this
    /// saves the fault entries and exits, not the per-page work. Advice
    /// only affects speed (the pages fault in anyway when read), so a
    /// refusal (an older kernel, a range past the end of the file) is
    /// ignored. Reads no byte and makes no reference to the mapping.
    pub fn populate_read(&self, start: usize, len: usize) {
        let Some(raw) = &self.raw else { return };
        let start = start.min(raw.len());
        let len = len.min(raw.len() - start);
        if len > 0 {
            #[cfg(target_os = "linux")]
            let _ = raw.advise_range(memmap2::Advice::PopulateRead, start, len);
        }
    }

    /// A reader was handed bytes `[start, end)` of the map in one fetch and
    /// is likely to read on from `end`: when the fetch is large
    /// ([`ahead::MIN_FETCH`]), the range up to [`ahead::LEAD`] past `end`
    /// (and below `published`, the published length the fetch was cut
    /// at) that no earlier fetch claimed is queued for the background
    /// worker to populate ([`ahead`], [`ahead::plan`]). Claims are made at
    /// most once per half [`ahead::LEAD`] read, so most fetches cost one
    /// atomic load.
    /// Advice only: it changes nothing any read returns.
    pub fn populate_ahead(&self, start: usize, end: usize, published: usize) {
        if let Some(raw) = &self.raw {
            ahead::claim(raw, &self.ahead, start, end, published.min(raw.len()));
        }
    }

    /// How far population ahead of readers has got in this map.
    pub fn ahead_progress(&self) -> &ahead::Progress {
        &self.ahead
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zero-copy view of bytes `[start, end)`. The caller guarantees
    /// `published_len` bytes of the file are written and will stay (contract
    /// rules 1 and 2). The range is clamped to `published_len` and to the
    /// mapping, so the result is shorter than asked (possibly empty) when the
    /// range reaches past them; it never panics.
    pub fn bytes(&self, start: usize, end: usize, published_len: usize) -> Bytes {
        let Some(raw) = &self.raw else {
            return Bytes::new();
        };
        let end = end.min(published_len).min(raw.len());
        let start = start.min(end);
        if start == end {
            return Bytes::new();
        }
        // A reader that finds the cache busy (another reader in these few
        // lines) makes its own view rather than wait.
        if let Some(mut cached) = self.from_start.try_lock() {
            let whole = published_len.min(raw.len());
            // Longer than published means the file was cut below it
            // (recovery's cut of a torn tail keeps its scan's map): it is
            // replaced before any view is taken, and is itself never read.
            if cached.len() < end || cached.len() > whole {
                // Everything published now, so the reads after this one (up
                // to the next append) find it long enough.
                *cached = Bytes::from_owner(View { raw: Arc::clone(raw), start: 0, len: whole });
            }
            return cached.slice(start..end);
        }
        Bytes::from_owner(View { raw: Arc::clone(raw), start, len: end - start })
    }
}

/// Bytes `[0, len)` of a [`ReadMap`] holding its own share of the mapping:
/// what [`ReadMap::bytes`] views, without a [`Bytes`] around it. For one
/// read that lends the bytes out and drops the view (a point read): one
/// reference count, where a `Bytes` view also takes the cached view's lock
/// and reference count.
pub struct MapView(View);

impl std::ops::Deref for MapView {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_ref()
    }
}

impl ReadMap {
    /// A view of bytes `[0, end)`, clamped to `published_len` and to the
    /// mapping as [`Self::bytes`] clamps them; `None` for an empty mapping.
    /// The caller guarantees `published_len` bytes of the file are written
    /// and will stay (contract rules 1 and 2).
    pub fn view_from_start(&self, end: usize, published_len: usize) -> Option<MapView> {
        let raw = self.raw.as_ref()?;
        let len = end.min(published_len).min(raw.len());
        Some(MapView(View { raw: Arc::clone(raw), start: 0, len }))
    }
}

impl std::fmt::Debug for ReadMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadMap").field("len", &self.len()).finish()
    }
}

/// The owner behind a [`Bytes`] from [`ReadMap::bytes`]: holds the mapping
/// and exposes only `[start, start + len)`, which was checked to lie within the
/// mapping and the published length.
struct View {
    raw: Arc<MmapRaw>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for View {
    #[expect(unsafe_code, reason = "a slice over a published range of a raw file mapping")]
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start + len <= raw.len()` (checked in `ReadMap::bytes`), so
        // the range lies inside one live mapping, kept alive by `self.raw` for
        // as long as the slice. It lies below the published length, i.e. in
        // written bytes of the file: by contract rule 2 the file is never cut
        // below them (no SIGBUS), by rule 1 they never change while this view
        // lives (no mutation behind a `&[u8]`), and by rule 4 no other process
        // rewrites them. Pages past the published length are never referenced.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(self.start), self.len) }
    }
}

fn out_of_bounds(path: &Path, op: &'static str, pos: usize, n: usize, len: usize) -> Error {
    let msg = format!("{n} bytes at {pos} are past the mapped length {len}");
    Error::io(op, path, std::io::Error::new(std::io::ErrorKind::UnexpectedEof, msg))
}

fn read_only(path: &Path, op: &'static str) -> Error {
    let e = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "index is read-only");
    Error::io(op, path, e)
}

/// The bytes of an index file: a writable map for the appender, a copy for a
/// read-only index (never a map: see [`IndexMap::open`]), empty when the
/// file is.
enum Mapping {
    Empty,
    Copy(Vec<u8>),
    Write(MmapMut),
}

/// A shared mapping of a whole index file. Reads copy bytes out
/// ([`IndexMap::read_at`]); writes need `&mut self` ([`IndexMap::write_at`]),
/// so an index holding it in a `RwLock` writes only under the write lock
/// (contract rule 3).
pub struct IndexMap {
    path: PathBuf,
    /// The file first mapped: [`IndexMap::resize`] reopens only it.
    id: FileId,
    writable: bool,
    map: Mapping,
    /// Bytes from the start of the file known to have blocks behind them:
    /// writes below it cannot fault. Zero after each (re)map; see
    /// [`IndexMap::ensure_allocated`].
    allocated: usize,
}

/// Index blocks are given in steps that double from one page up to this.
const MAX_ALLOCATION_STEP: u64 = 1 << 20;

impl IndexMap {
    /// Maps the whole of the index file at `path` read-write, or, read-only,
    /// copies it with positional reads (a read-only index is never mapped).
    /// The file is not kept open: [`IndexMap::resize`] reopens it, checking
    /// it is the same file (see [`identity`]).
    pub fn open(path: &Path, writable: bool) -> Result<IndexMap> {
        Self::open_checked(path, writable, None)
    }

    /// [`IndexMap::open`], where the file must be the one `expected` names: a
    /// different file at `path` is [`Error::Closed`].
    pub fn open_checked(path: &Path, writable: bool, expected: Option<FileId>) -> Result<IndexMap> {
        let file = if writable { file::open_rw(path)? } else { file::open_read(path)? };
        let id = identity::of(&file, path)?;
        if expected.is_some_and(|e| e != id) {
            return Err(Error::closed_file(path));
        }
        let mut map =
            IndexMap { path: path.to_path_buf(), id, writable, map: Mapping::Empty, allocated: 0 };
        map.map_file(&file)?;
        Ok(map)
    }

    /// The identity of the mapped file.
    pub fn id(&self) -> FileId {
        self.id
    }

    fn map_file(&mut self, file: &File) -> Result<()> {
        let len = map_len(&self.path, file::len(file, &self.path)?)?;
        self.map = Mapping::Empty;
        self.allocated = 0;
        if len == 0 {
            return Ok(());
        }
        if !self.writable {
            // A read-only index copies the file instead of mapping it: it may
            // sit beside a live writer (read-only open), whose active index is
            // preallocated and trimmed at roll, or cut by a restarted writer's
            // recovery. A copy cannot fault; a file that shrank under the read
            // is an `UnexpectedEof` error naming it. No index Kafka or strata
            // writes is past 2 GiB (`segment.index.bytes` is an int): a longer
            // one (sparse, it costs no disk) is refused, never copied.
            if len > i32::MAX as usize {
                return Err(Error::CorruptFile {
                    path: self.path.clone(),
                    reason: format!("length {len} is past the longest index file"),
                });
            }
            let mut buf = vec![0; len];
            file::read_exact_at(file, &self.path, &mut buf, 0)?;
            self.map = Mapping::Copy(buf);
            return Ok(());
        }
        fault::check(Op::Map, &self.path)?;
        let options = MmapOptions::new().len(len).clone();
        #[expect(unsafe_code, reason = "mapping an index file writable")]
        // SAFETY: the mapping covers exactly the file's current length, and
        // only this process touches the file (rule 4). Bytes are written
        // through `&mut self` only, i.e. under the index's write lock
        // (rule 3), and the file is resized only by `resize`, which drops
        // this mapping first, so no reference outlives a length change.
        // The file may be sparse: `write_at` gives a page blocks
        // (`ensure_allocated`) before it writes into it, so a full disk is
        // an error there and never a `SIGBUS` here. Reading a hole through
        // the map is a `SIGBUS` on a full tmpfs (its read fault allocates a
        // page), so the indexes read the map only below their entries, all
        // written, and count or check what lies past them by positional
        // reads of the file (`index::lazy`), which read holes as zeros.
        let mapped = unsafe { options.map_mut(file) }.map(Mapping::Write);
        self.map = mapped.map_err(|e| Error::io("mmap", &self.path, e))?;
        // Index pages are touched one entry at a time: read-ahead would fault in
        // (and zero-fill) megabytes of a preallocated file for each first write.
        // Advice only affects performance, so a refusal is ignored.
        let _ = match &self.map {
            Mapping::Empty | Mapping::Copy(_) => Ok(()),
            Mapping::Write(m) => m.advise(memmap2::Advice::Random),
        };
        Ok(())
    }

    /// The mapped bytes. Writes need `&mut self`, so they cannot change
    /// while this borrow lives.
    pub fn as_slice(&self) -> &[u8] {
        match &self.map {
            Mapping::Empty => &[],
            Mapping::Copy(bytes) => bytes,
            Mapping::Write(map) => map,
        }
    }

    /// The mapped length (the file's length when mapped or last resized).
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The path of the mapped file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the file was renamed (the mapping is unaffected).
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// Copies `buf.len()` bytes from `pos` into `buf`.
    pub fn read_at(&self, pos: usize, buf: &mut [u8]) -> Result<()> {
        let src = pos.checked_add(buf.len()).and_then(|end| self.as_slice().get(pos..end));
        let src =
            src.ok_or_else(|| out_of_bounds(&self.path, "read", pos, buf.len(), self.len()))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    /// Copies `buf` into the mapping at `pos`, first giving the pages it
    /// touches blocks ([`IndexMap::ensure_allocated`]).
    pub fn write_at(&mut self, pos: usize, buf: &[u8]) -> Result<()> {
        fault::check(Op::Write, &self.path)?;
        let len = self.len();
        let end = pos.checked_add(buf.len()).filter(|&end| end <= len);
        let Some(end) = end.filter(|_| matches!(self.map, Mapping::Write(_))) else {
            if !self.writable {
                return Err(read_only(&self.path, "write"));
            }
            return Err(out_of_bounds(&self.path, "write", pos, buf.len(), len));
        };
        self.ensure_allocated(end)?;
        match &mut self.map {
            Mapping::Write(map) => match map.get_mut(pos..end) {
                Some(dst) => {
                    dst.copy_from_slice(buf);
                    fault::done(Op::Write, &self.path, None);
                    Ok(())
                }
                None => Err(out_of_bounds(&self.path, "write", pos, buf.len(), len)),
            },
            Mapping::Empty | Mapping::Copy(_) => Err(read_only(&self.path, "write")),
        }
    }

    /// Gives the pages of the first `end` bytes of the file real blocks, so
    /// that writes below `end` through the map cannot fault. Index files are
    /// sized sparsely (`set_len`, as Kafka does): blocks come in steps ahead
    /// of the write position, doubling from one page up to 1 MiB, so an
    /// index costs disk in proportion to its entries, not its size. A full
    /// disk is an `ENOSPC` error here (the map is unchanged). A no-op below
    /// what was already allocated since the file was mapped.
    pub fn ensure_allocated(&mut self, end: usize) -> Result<()> {
        if self.is_allocated(end) {
            return Ok(());
        }
        let len = self.len();
        let page = super::sys::page_size();
        let (have, end, len) = (self.allocated as u64, end as u64, len as u64);
        let step = have.clamp(page, MAX_ALLOCATION_STEP);
        let target = end.max(have + step).next_multiple_of(page).min(len);
        let file = identity::reopen_rw(&self.path, self.id)?;
        match file::allocate_range(&file, &self.path, have, target) {
            Err(e) if file::is_unsupported(&e) => {
                // No `fallocate` here: writing the range's current bytes
                // (zeros where it is a hole) gives it blocks, changing nothing.
                let current = self.as_slice().get(have as usize..target as usize);
                let current = current.map(<[u8]>::to_vec).unwrap_or_default();
                file::write_all_at(&file, &self.path, &current, have)?;
            }
            other => other?,
        }
        self.allocated = usize::try_from(target).unwrap_or(usize::MAX);
        Ok(())
    }

    /// Whether the bytes below `end` have their blocks already (or the map
    /// is read-only): [`ensure_allocated`](Self::ensure_allocated) up to
    /// `end` would do nothing.
    pub fn is_allocated(&self, end: usize) -> bool {
        end <= self.allocated || !matches!(self.map, Mapping::Write(_))
    }

    /// `msync`: written entries are durable. A no-op for read-only maps.
    pub fn flush(&self) -> Result<()> {
        if let Mapping::Write(map) = &self.map {
            fault::check(Op::Sync, &self.path)?;
            map.flush().map_err(|e| Error::io("msync", &self.path, e))?;
            fault::done(Op::Sync, &self.path, None);
        }
        Ok(())
    }

    /// Unmaps, sets the file's length to `new_len` and maps it again. The
    /// bytes below `min(old, new)` length are kept; growth reads as zeros and
    /// is sparse: [`IndexMap::write_at`] gives pages blocks as entries reach
    /// them.
    pub fn resize(&mut self, new_len: u64) -> Result<()> {
        if !self.writable {
            return Err(read_only(&self.path, "resize"));
        }
        self.map = Mapping::Empty;
        let file = identity::reopen_rw(&self.path, self.id)?;
        file::set_len(&file, &self.path, new_len)?;
        self.map_file(&file)
    }
}

impl std::fmt::Debug for IndexMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexMap")
            .field("path", &self.path)
            .field("writable", &self.writable)
            .field("len", &self.len())
            .finish()
    }
}
