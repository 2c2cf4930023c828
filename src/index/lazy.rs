//! The lazily mapped, internally synchronized index file both index types
//! wrap (Kafka's `LazyIndex` and the life cycle of `AbstractIndex`):
//! preallocation, first-use mapping, resize, trim, reset, truncation,
//! release, rename, delete and the sanity check.
//!
//! Disk: files are preallocated sparsely (`set_len`, as Kafka does) and get
//! blocks in steps ahead of the entries ([`crate::io::IndexMap::ensure_allocated`],
//! [`Core::reserve`]): a new index costs one page of disk, not
//! `segment.index.bytes`, and a full disk is an `ENOSPC` error before a write,
//! never a `SIGBUS` in the map.
//!
//! Concurrency: the state lives in one `RwLock`. Lookups hold the read lock
//! while they copy entries out of the map; appends, truncation and resizes
//! hold the write lock. The first access maps the file under the write lock.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use super::check::{Checked, IndexFile, check_file};
use super::common::{Entry, Loaded, round_down};
use super::search;
use crate::io::identity::{self, FileId};
use crate::io::{IndexMap, file};
use crate::segment::budget::{self, Account};
use crate::{Error, Result};

/// The entries of the index file at `path` (the file `id` names, `len`
/// bytes long), counted by positional reads of the slots a binary search
/// asks about ([`IndexFile::count_entries`]). Not through the map: past its
/// entries an index is sparse (preallocated by `set_len`), and a read fault
/// on a hole of a tmpfs allocates a page, which on a full one is a
/// `SIGBUS`; a read of a hole returns zeros and allocates nothing.
fn count_in_file<E: Entry>(path: &Path, id: FileId, len: usize) -> Result<usize> {
    IndexFile::reopen(path, id)?.count_entries::<E>(len / E::SIZE)
}

/// The longest index file a check reads: Kafka's largest `segment.index.bytes`
/// (an int). A rebuild that grows past `segment.index.bytes` stays below it:
/// a 2 GiB `.log` holds fewer than 2^31 / 26 batches (a legacy message's
/// smallest size), 12 bytes of time index each.
const MAX_FILE_LEN: u64 = i32::MAX as u64;

/// Why an index file of `len` bytes is not checked entry by entry (nor read
/// or scanned: a sparse file of a terabyte costs no disk), if it is too long.
fn too_long(len: u64) -> Option<String> {
    (len > MAX_FILE_LEN)
        .then(|| format!("length {len} is past the longest index file ({MAX_FILE_LEN} bytes)"))
}

struct State<E> {
    path: PathBuf,
    loaded: Option<Loaded<E>>,
    /// The entry count, known once loaded: a reload after `release` uses it
    /// instead of counting again.
    known_entries: Option<usize>,
    /// The file length, known once loaded: whether the index is full is
    /// answered from it and `known_entries` without mapping the file again.
    known_len: Option<usize>,
    /// The file first mapped: a reload maps only it (see [`identity`]).
    id: Option<FileId>,
    /// Set by `delete` and `close`: later uses fail with `Closed` instead of
    /// recreating or reopening the file.
    closed: bool,
    /// Set by a `delete` whose removal has not succeeded yet: the next
    /// `delete` tries it again (a `close` clears it: the name is not ours).
    removing: bool,
}

/// A lazily mapped index file.
pub(crate) struct Core<E> {
    base_offset: i64,
    max_index_size: u64,
    writable: bool,
    state: RwLock<State<E>>,
    /// The segment's share of the store's budget: maps are counted there.
    account: OnceLock<Arc<Account>>,
    /// Entries were written since the last flush (they may sit in pages of
    /// a mapping that was released since).
    dirty: AtomicBool,
    /// Held by a flush from taking `dirty` to its sync's end: a second
    /// flush meanwhile waits for that sync rather than finding the index
    /// clean and returning before its entries are on disk.
    flushing: parking_lot::Mutex<()>,
}

fn mapped_len<E>(st: &State<E>) -> i64 {
    st.loaded.as_ref().map_or(0, |l| i64::try_from(l.map.len()).unwrap_or(i64::MAX))
}

impl<E: Entry> Core<E> {
    /// An index over `path`; nothing is read or mapped until first use.
    pub(crate) fn open(path: PathBuf, base: i64, max_index_size: u64, writable: bool) -> Self {
        let state = State {
            path,
            loaded: None,
            known_entries: None,
            known_len: None,
            id: None,
            closed: false,
            removing: false,
        };
        Core {
            base_offset: base,
            max_index_size,
            writable,
            state: RwLock::new(state),
            account: OnceLock::new(),
            dirty: AtomicBool::new(false),
            flushing: parking_lot::Mutex::new(()),
        }
    }

    /// Creates `path` (which must not exist), preallocated sparsely, maps it
    /// and gives its first page blocks: a full disk fails the creation (a
    /// roll), and the first entries and the final one written at roll need
    /// no further allocation.
    pub(crate) fn create(path: PathBuf, base: i64, max_index_size: u64) -> Result<Self> {
        let core = Self::open(path, base, max_index_size, true);
        {
            let mut st = core.state.write();
            let len = core.preallocated_len()?;
            let file = file::create_new(&st.path)?;
            file::set_len(&file, &st.path, len)?;
            st.id = Some(identity::of(&file, &st.path)?);
            st.known_entries = Some(0);
            core.ensure_loaded(&mut st)?.map.ensure_allocated(1)?;
        }
        Ok(core)
    }

    /// Gives blocks to the slots the next `extra` entries and the reserved
    /// ones will take, so that writing them cannot hit a full disk: the
    /// appender calls it before it writes the batch those entries index, so
    /// `ENOSPC` fails the append with nothing written.
    pub(crate) fn reserve(&self, extra: usize) -> Result<()> {
        // The slots after the last entry have their blocks ahead of it (in
        // steps): most appends need nothing, which the read lock tells
        // (the entry's write that follows records the use in the budget).
        {
            let st = self.state.read();
            if !st.closed
                && let Some(l) = &st.loaded
                && l.map.is_allocated(Self::reserved_end(l, extra))
            {
                return Ok(());
            }
        }
        let mut st = self.state.write();
        let before = mapped_len(&st);
        let reserved = self.ensure_loaded(&mut st).and_then(|l| {
            let end = Self::reserved_end(l, extra);
            let map = &mut l.map;
            budget::retrying(
                || self.account.get().is_some_and(|a| a.relieve()),
                || map.ensure_allocated(end),
            )
        });
        self.count(before, &st);
        reserved
    }

    /// Where the slots of `l`'s entries, `extra` more and the reserved ones
    /// end in its file (at most its length).
    fn reserved_end(l: &Loaded<E>, extra: usize) -> usize {
        let slots = l.entries.saturating_add(extra).saturating_add(E::RESERVED);
        slots.saturating_mul(E::SIZE).min(l.map.len())
    }

    /// `max_index_size` rounded down to whole entries (Kafka's
    /// `roundDownToExactMultiple`), but never fewer than the reserved slots:
    /// any `segment.index.bytes` Kafka accepts (down to 4) gives a working
    /// index. An offset index of 0 slots is full at once, so every append
    /// rolls (as in Kafka); a time index keeps its one slot for the final
    /// entry written at roll.
    fn preallocated_len(&self) -> Result<u64> {
        Ok(round_down(self.max_index_size, E::SIZE).max((E::RESERVED * E::SIZE) as u64))
    }

    fn ensure_loaded<'a>(&self, st: &'a mut State<E>) -> Result<&'a mut Loaded<E>> {
        if st.closed {
            return Err(Error::closed_file(&st.path));
        }
        if st.loaded.is_none() {
            // Only a first use may create the file: once one was mapped, a
            // missing file means the index is gone, not new.
            if self.writable && st.id.is_none() && !file::exists(&st.path)? {
                // Kafka's `createNewFile` on first use of a missing index.
                let len = self.preallocated_len()?;
                let created = file::create_rw(&st.path)?;
                file::set_len(&created, &st.path, len)?;
                st.id = Some(identity::of(&created, &st.path)?);
                st.known_entries = Some(0);
            }
            let (path, writable, id) = (&st.path, self.writable, st.id);
            let map = budget::retrying(
                || self.account.get().is_some_and(|a| a.relieve()),
                || IndexMap::open_checked(path, writable, id),
            )?;
            st.id = Some(map.id());
            let mut loaded = Loaded { map, entries: 0, last: None, base: self.base_offset };
            loaded.entries = match st.known_entries {
                Some(n) => n.min(loaded.max_entries()),
                None => {
                    let (path, id, len) = (loaded.map.path(), loaded.map.id(), loaded.map.len());
                    budget::retrying(
                        || self.account.get().is_some_and(|a| a.relieve()),
                        || count_in_file::<E>(path, id, len),
                    )?
                }
            };
            loaded.last = loaded.entries.checked_sub(1).map(|i| loaded.entry(i)).transpose()?;
            st.known_entries = Some(loaded.entries);
            st.known_len = Some(loaded.map.len());
            st.loaded = Some(loaded);
        }
        // (Not `ok_or`: an `Error` built and dropped on every use.)
        match st.loaded.as_mut() {
            Some(loaded) => Ok(loaded),
            None => Err(Error::closed_file(&st.path)),
        }
    }

    /// Runs `f` on the loaded index under the read lock (the write lock on
    /// first use, which maps the file).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Loaded<E>) -> Result<R>) -> Result<R> {
        {
            let st = self.state.read();
            if let Some(loaded) = &st.loaded {
                self.touch();
                return f(loaded);
            }
        }
        let mut st = self.state.write();
        let before = mapped_len(&st);
        let loaded = self.ensure_loaded(&mut st).map(drop);
        self.count(before, &st);
        loaded?;
        let out = f(st.loaded.as_ref().ok_or_else(|| Error::closed_file(&st.path))?);
        // A retired segment (a reader that listed it before it left) has left the budget,
        // which would neither count nor evict this map: it goes with the read, not when
        // `file.delete.delay.ms` deletes the file.
        if self.account.get().is_some_and(|a| a.is_detached()) {
            st.loaded = None;
        }
        out
    }

    /// Runs `f` on the loaded index under the write lock.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Loaded<E>) -> Result<R>) -> Result<R> {
        let mut st = self.state.write();
        let before = mapped_len(&st);
        let result = self.ensure_loaded(&mut st).and_then(|l| {
            self.dirty.store(true, Ordering::Release);
            f(l)
        });
        if let Some(l) = &st.loaded
            && l.map.len() < l.entries * E::SIZE
        {
            // A failed remap left the entries unmapped: map again on next use.
            st.loaded = None;
        }
        st.known_entries = st.loaded.as_ref().map(|l| l.entries).or(st.known_entries);
        st.known_len = st.loaded.as_ref().map(|l| l.map.len()).or(st.known_len);
        self.count(before, &st);
        result
    }

    /// [`write`](Self::write) for an entry's append, which writes into the
    /// map and never remaps it: on a loaded index the mapped length, and so
    /// the budget's count, stay as they were (`write` would find no failed
    /// remap and no change to report); the counts are recorded and the use
    /// touched as `write` does.
    pub(crate) fn write_entry<R>(&self, f: impl FnOnce(&mut Loaded<E>) -> Result<R>) -> Result<R> {
        {
            let mut st = self.state.write();
            if !st.closed
                && let Some(l) = st.loaded.as_mut()
            {
                self.dirty.store(true, Ordering::Release);
                let result = f(l);
                let (entries, len) = (l.entries, l.map.len());
                st.known_entries = Some(entries);
                st.known_len = Some(len);
                self.touch();
                return result;
            }
        }
        self.write(f)
    }

    /// Whether the index has no free slot (beyond the reserved ones). An
    /// index unmapped by the budget answers from what it knew when mapped:
    /// an append to an evicted segment maps its indexes only when it writes
    /// an entry.
    /// Asked before every append (the roll check): one read lock, and no
    /// use recorded in the budget (the append that follows records it).
    pub(crate) fn is_full(&self) -> Result<bool> {
        {
            let st = self.state.read();
            if let Some(loaded) = &st.loaded {
                return Ok(loaded.is_full());
            }
            if !st.closed
                && let (Some(entries), Some(len)) = (st.known_entries, st.known_len)
            {
                return Ok(entries >= (len / E::SIZE).saturating_sub(E::RESERVED));
            }
        }
        self.read(|l| Ok(l.is_full()))
    }

    /// Reports to the budget that the mapping went from `before` bytes to
    /// what `st` holds now, and records a use.
    fn count(&self, before: i64, st: &State<E>) {
        if let Some(account) = self.account.get() {
            let delta = mapped_len(st) - before;
            if delta != 0 {
                account.adjust(0, delta);
            }
            account.touch();
        }
    }

    fn touch(&self) {
        if let Some(account) = self.account.get() {
            account.touch();
        }
    }

    /// Counts this index's maps in `account` from now on.
    pub(crate) fn set_account(&self, account: Arc<Account>) {
        let st = self.state.read();
        if self.account.set(account).is_ok() {
            self.count(0, &st);
        }
    }

    /// Unmaps unless the index is in use right now (the budget's eviction,
    /// which never waits); whether it is unmapped.
    pub(crate) fn try_release(&self) -> bool {
        let Some(mut st) = self.state.try_write() else { return false };
        let before = mapped_len(&st);
        st.loaded = None;
        self.count(before, &st);
        true
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub(crate) fn max_index_size(&self) -> u64 {
        self.max_index_size
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.state.read().path.clone()
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.state.read().loaded.is_some()
    }

    /// Unmaps the file (the entry count is kept); the next use maps it again.
    pub(crate) fn release(&self) {
        let mut st = self.state.write();
        let before = mapped_len(&st);
        st.loaded = None;
        self.count(before, &st);
    }

    /// Sets the file length to `round_down(new_size)` and remaps, keeping the
    /// entries that still fit. Returns whether the length changed.
    pub(crate) fn resize(&self, new_size: u64) -> Result<bool> {
        self.write(|l| self.resize_loaded(l, new_size))
    }

    fn resize_loaded(&self, l: &mut Loaded<E>, new_size: u64) -> Result<bool> {
        let len = round_down(new_size, E::SIZE);
        if l.map.len() as u64 == len {
            return Ok(false);
        }
        let keep = usize::try_from(len).map_or(l.entries, |len| l.entries.min(len / E::SIZE));
        l.truncate_to_entries(keep)?;
        self.resize_map(&mut l.map, len)?;
        Ok(true)
    }

    /// Sizes the file to `new_size` rounded down to whole entries, but never
    /// below its entries plus the reserved slots: an index written under a
    /// larger `segment.index.bytes`, or grown by a rebuild, keeps every entry
    /// (it is then full and the segment rolls at its next append).
    pub(crate) fn resize_keeping_entries(&self, new_size: u64) -> Result<bool> {
        self.write(|l| {
            let floor = ((l.entries + E::RESERVED) * E::SIZE) as u64;
            self.resize_loaded(l, round_down(new_size, E::SIZE).max(floor))
        })
    }

    /// Makes room for `n` more entries beyond the reserved slots, to the
    /// length that making room for one more at a time would reach: the file
    /// doubled (or grown to the slots needed, when more) at each entry that
    /// does not fit, under the write lock. A rebuild uses it: the entries a
    /// segment's data needs always fit, whatever `segment.index.bytes` says
    /// now.
    fn grow_for(&self, l: &mut Loaded<E>, n: usize) -> Result<()> {
        let Some(slots) = grown_slots(l.entries, l.max_entries(), n, E::RESERVED) else {
            return Ok(());
        };
        let len = slots.checked_mul(E::SIZE).and_then(|len| u64::try_from(len).ok());
        let Some(len) = len else {
            let why = format!("{n} more entries after {} overflow the index's length", l.entries);
            return Err(Error::io("grow", l.map.path(), std::io::Error::other(why)));
        };
        self.resize_loaded(l, len).map(drop)
    }

    /// A rebuild's entries written in one go, under one write lock: `admit`
    /// judges each item in order against the index as it is and the last
    /// entry kept so far (the index's own last one at first), answering the
    /// entry to write, `None` to skip the item, or the error that stops
    /// there; the entries admitted before it then get room
    /// ([`Self::grow_for`]) and are written into the map in a few copies
    /// ([`Loaded::push_all`]), and the error, if any, is returned. The same
    /// entries and file length as growing and pushing item by item, without
    /// a map write (its fault gate, bounds and block checks) per entry. No
    /// items, no write (the index stays as it was, clean or dirty).
    pub(crate) fn write_rebuilt<T>(
        &self,
        items: &[T],
        mut admit: impl FnMut(&Loaded<E>, Option<E>, &T) -> Result<Option<E>>,
    ) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.write(|l| {
            let mut kept = Vec::with_capacity(items.len());
            let mut last = l.last;
            let mut stop = Ok(());
            for item in items {
                match admit(l, last, item) {
                    Ok(Some(entry)) => {
                        kept.push(entry);
                        last = Some(entry);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        stop = Err(e);
                        break;
                    }
                }
            }
            self.grow_for(l, kept.len())?;
            l.push_all(&kept)?;
            stop
        })
    }

    /// [`IndexMap::resize`], evicting other segments and retrying when out of
    /// descriptors or memory.
    fn resize_map(&self, map: &mut IndexMap, len: u64) -> Result<()> {
        budget::retrying(|| self.account.get().is_some_and(|a| a.relieve()), || map.resize(len))
    }

    /// Cuts the file to its entries (Kafka's `trimToValidSize`).
    pub(crate) fn trim_to_valid_size(&self) -> Result<()> {
        self.write(|l| self.resize_loaded(l, (l.entries * E::SIZE) as u64).map(drop))
    }

    /// Drops every entry and preallocates the file again.
    pub(crate) fn reset(&self) -> Result<()> {
        self.write(|l| {
            l.entries = 0;
            l.last = None;
            self.resize_map(&mut l.map, 0)?;
            self.resize_map(&mut l.map, self.preallocated_len()?)
        })
    }

    /// Drops the entries whose offset is `>= offset`.
    pub(crate) fn truncate_to(&self, offset: i64) -> Result<()> {
        self.write(|l| {
            let keep = match offset.checked_sub(1) {
                None => 0,
                Some(below) => {
                    let warm = search::warm_entries(E::SIZE);
                    let last = search::largest_le(l.entries, warm, below, |i| {
                        l.key(i, &|e: &E| e.offset())
                    });
                    last.map_or(0, |i| i + 1)
                }
            };
            l.truncate_to_entries(keep)
        })
    }

    /// Makes written entries durable: `msync` of the mapping, or, when the
    /// map was released after a write, an `fsync` of the (same) file.
    pub(crate) fn flush(&self) -> Result<()> {
        let _one = self.flushing.lock();
        let st = self.state.read();
        let dirty = self.dirty.swap(false, Ordering::AcqRel);
        let flushed = match (&st.loaded, st.id) {
            // Every write of the map goes through `write` or `write_entry`,
            // which mark the index dirty first: a clean one has nothing to sync.
            (Some(l), _) if dirty => l.map.flush(),
            (Some(_), _) => Ok(()),
            (None, Some(id)) if dirty && !st.closed => {
                identity::reopen_rw(&st.path, id).and_then(|f| file::sync_data(&f, &st.path))
            }
            (None, _) => Ok(()),
        };
        if flushed.is_err() && dirty {
            self.dirty.store(true, Ordering::Release);
        }
        drop(st);
        match flushed.map_err(Error::into_no_space) {
            Err(Error::NoSpace { path, reason }) => {
                self.rewrite_after_failed_sync()?;
                Err(Error::NoSpace { path, reason })
            }
            other => other,
        }
    }

    /// After a sync that failed for lack of space, the kernel may have marked
    /// the index's pages clean without writing them, or dropped them. Checks
    /// that the map still shows every entry (the count found in the bytes is
    /// the count kept in memory) and writes the entries again, so their
    /// pages are dirty for the next sync. Entries that are gone are an error
    /// that poisons the log (the next open rebuilds the index).
    fn rewrite_after_failed_sync(&self) -> Result<()> {
        self.write(|l| {
            let end = l.entries * E::SIZE;
            let found = count_in_file::<E>(l.map.path(), l.map.id(), l.map.len())?;
            let entries = l.map.as_slice().get(..end).map(<[u8]>::to_vec);
            match entries.filter(|_| found == l.entries) {
                Some(bytes) => l.map.write_at(0, &bytes),
                None => {
                    let msg = format!(
                        "after a sync failed for lack of space, {found} of {} entries are left \
                         (the kernel dropped their pages)",
                        l.entries
                    );
                    Err(Error::io("msync", l.map.path(), std::io::Error::other(msg)))
                }
            }
        })
    }

    /// Unmaps for good: every later use fails with `Closed` and no file is
    /// touched again (the directory may belong to another store by then).
    pub(crate) fn close(&self) {
        let mut st = self.state.write();
        let before = mapped_len(&st);
        st.loaded = None;
        st.closed = true;
        st.removing = false;
        self.count(before, &st);
    }

    /// Whether the file at the index's path is the one it mapped (or, never
    /// mapped, whether there is one).
    fn ours_at_path(st: &State<E>) -> Result<bool> {
        match st.id {
            Some(id) => identity::still_at(&st.path, id),
            None => file::exists(&st.path),
        }
    }

    /// Renames the file; the mapping stays valid. The rename is durable once
    /// the caller fsyncs the directory.
    pub(crate) fn rename_to(&self, new_path: PathBuf) -> Result<()> {
        let mut st = self.state.write();
        if st.closed {
            return Err(Error::closed_file(&st.path));
        }
        // An index that was never created (a foreign log without one) has nothing to move.
        if Self::ours_at_path(&st)? {
            file::rename_unsynced(&st.path, &new_path)?;
        }
        if let Some(l) = &mut st.loaded {
            l.map.set_path(new_path.clone());
        }
        st.path = new_path;
        Ok(())
    }

    /// Unmaps and removes the file; returns whether it existed. A closed
    /// index, or a path now holding another file, is left alone. A removal
    /// that failed is tried again by the next call (the index stays closed).
    pub(crate) fn delete(&self) -> Result<bool> {
        let mut st = self.state.write();
        let before = mapped_len(&st);
        st.loaded = None;
        self.count(before, &st);
        st.known_entries = None;
        if st.closed && !st.removing {
            return Ok(false);
        }
        st.closed = true;
        st.removing = true;
        let removed = Self::ours_at_path(&st)? && file::remove_file_if_exists(&st.path)?;
        st.removing = false;
        Ok(removed)
    }

    /// Checks the index file with [`check_file`], in bounded memory: the
    /// file is read as it is, without mapping it (a log checks every
    /// trusted segment's indexes at open; mapping them all would be a map
    /// per index file for nothing), and its entries are read again from it
    /// when the caller asks ([`Checked::entries`], [`Checked::largest_le`]).
    pub(crate) fn check(
        &self,
        pair: impl Fn(usize, &E, &E) -> Option<String>,
        whole: impl Fn(&E, &E) -> Option<String>,
    ) -> Result<Checked<E>> {
        let mut st = self.state.write();
        if st.closed {
            return Err(Error::closed_file(&st.path));
        }
        // Read from the file even when mapped: the check reads every byte past the entries,
        // and the active index is sparse there. A read fault on a hole of a full tmpfs is a
        // `SIGBUS` (the fault must allocate a page; `pread` of a hole reads zeros), so the
        // map is read below the entries only (see `count_in_file`).
        // The first open records the file's identity, as a first map does.
        let f = match st.id {
            Some(id) => identity::reopen_read(&st.path, id)?,
            None => {
                let f = file::open_read(&st.path)?;
                st.id = Some(identity::of(&f, &st.path)?);
                f
            }
        };
        let len = file::len(&f, &st.path)?;
        // No index Kafka or strata writes is longer than `segment.index.bytes`
        // allows (an int) nor than a rebuild of a 2 GiB segment needs: a
        // longer file (a sparse one costs no disk) is not read at all.
        if let Some(problem) = too_long(len) {
            return Ok(Checked::refused(self.base_offset, problem));
        }
        let len = usize::try_from(len).map_err(|_| Error::CorruptFile {
            path: st.path.clone(),
            reason: format!("length {len} does not fit a usize"),
        })?;
        // Under the lock: appends and truncation wait for the check.
        check_file(IndexFile::new(f, st.path.clone()), len, self.base_offset, pair, whole)
    }
}

/// The slots an index of `slots` slots holding `entries` entries grows to
/// for `n` more beyond `reserved` slots ([`Core::grow_for`]), or `None`
/// when they fit. Growing one entry at a time doubles the file (or grows it
/// to the slots needed, when more) at the first entry that does not fit,
/// and doubles it again at each later entry that does not: the first growth
/// is `max(needed, 2 * slots)`, then doublings until the last entry's slots
/// fit. An `usize::MAX` when that overflows (no file is that long).
fn grown_slots(entries: usize, slots: usize, n: usize, reserved: usize) -> Option<usize> {
    let last_needed = entries.saturating_add(n).saturating_add(reserved);
    if n == 0 || last_needed <= slots {
        return None;
    }
    let first_needed = entries.saturating_add(1).saturating_add(reserved);
    // At least 1: `first_needed` is, and a file that already fits the
    // first entry has a slot.
    let first =
        if first_needed > slots { first_needed.max(slots.saturating_mul(2)) } else { slots };
    let doublings = last_needed.div_ceil(first).checked_next_power_of_two();
    Some(doublings.and_then(|d| first.checked_mul(d)).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::grown_slots;

    /// `Core::grow_for`'s loop before it computed the length: the growth
    /// one entry at a time, skipping the entries that fit.
    fn grown_by_the_old_loop(entries: usize, slots: usize, n: usize, reserved: usize) -> usize {
        let last_needed = entries.saturating_add(n).saturating_add(reserved);
        let mut slots = slots;
        if n == 0 || last_needed <= slots {
            return slots;
        }
        let mut next = entries.saturating_add(1 + reserved);
        while next <= last_needed {
            if next > slots {
                slots = next.max(slots.saturating_mul(2));
            }
            next = slots.saturating_add(1);
        }
        slots
    }

    #[test]
    fn growing_for_n_entries_at_once_reaches_the_length_growing_one_at_a_time_does() {
        for reserved in 0..3 {
            for slots in 0..40 {
                for entries in 0..=slots + 3 {
                    for n in 0..300 {
                        let want = grown_by_the_old_loop(entries, slots, n, reserved);
                        let got = grown_slots(entries, slots, n, reserved).unwrap_or(slots);
                        assert_eq!(got, want, "{entries} entries, {slots} slots, {n} more");
                    }
                }
            }
        }
    }

    #[test]
    fn growth_past_what_a_usize_counts_saturates_instead_of_panicking() {
        assert_eq!(grown_slots(0, 1 << 62, usize::MAX - 1, 1), Some(usize::MAX));
        assert_eq!(grown_slots(usize::MAX - 1, 0, 5, 1), Some(usize::MAX));
    }
}
