//! A segment's `.txnindex` (Kafka's `TransactionIndex`): the aborted
//! transactions whose ABORT marker lies in the segment, in the format of
//! [`crate::format::txn_index`].
//!
//! Unlike the offset and time indexes it is neither preallocated nor mapped,
//! and the file exists only once an entry is written (a segment without
//! aborted transactions has none, as in Kafka). Entries are read once, on
//! first use, and kept in memory; aborts are rare, so each append opens,
//! writes and closes the file rather than holding a descriptor. A flush
//! fsyncs what was written since the last one (and the directory, when the
//! file is new).

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::format::txn_index::{self, AbortedTxn, ENTRY_SIZE};
use crate::io::file;
use crate::{Error, Result};

#[derive(Debug)]
struct State {
    path: PathBuf,
    /// The longest file that can be this index (see
    /// [`txn_index::max_file_len`]): a longer one is refused unread.
    max_len: u64,
    /// The entries, once read (a new segment starts with none).
    entries: Option<Arc<Vec<AbortedTxn>>>,
    /// Entries were written since the last flush.
    unsynced: bool,
    /// The file was created since the last flush: its directory entry too.
    created: bool,
    /// Deleted or closed: the name is not ours any more.
    closed: bool,
    /// Deleted, but the removal has not succeeded yet: the next `delete`
    /// tries it again (a `close` clears it).
    removing: bool,
    /// An fsync failed for lack of space: the kernel may have marked the
    /// written pages clean without writing them, so the next flush writes
    /// every entry again (from memory) before it fsyncs.
    rewrite: bool,
    /// Held in memory only, the file left as it is (a read-only open's
    /// rebuild, see [`TxnIndex::reset_detached`]).
    detached: bool,
}

/// A segment's transaction index.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    base_offset: i64,
    state: Mutex<State>,
}

impl TxnIndex {
    /// The index of an existing segment whose `.log` is `log_len` bytes
    /// long; read on first use.
    pub(crate) fn open(path: PathBuf, base_offset: i64, log_len: u64) -> Self {
        let state = State {
            path,
            max_len: txn_index::max_file_len(log_len),
            entries: None,
            unsynced: false,
            created: false,
            closed: false,
            removing: false,
            rewrite: false,
            detached: false,
        };
        TxnIndex { base_offset, state: Mutex::new(state) }
    }

    /// The index of a new segment (any stray file of that name is already gone).
    pub(crate) fn create(path: PathBuf, base_offset: i64) -> Self {
        let index = Self::open(path, base_offset, 0); // never read: it starts empty
        index.state.lock().entries = Some(Arc::new(Vec::new()));
        index
    }

    /// The file's path (it may not exist).
    pub(crate) fn path(&self) -> PathBuf {
        self.state.lock().path.clone()
    }

    fn load(&self, st: &mut State) -> Result<Arc<Vec<AbortedTxn>>> {
        if let Some(e) = &st.entries {
            return Ok(Arc::clone(e));
        }
        if st.closed {
            return Err(Error::closed_file(&st.path));
        }
        let entries = if file::exists(&st.path)? {
            let bytes = file::read_limited(&st.path, st.max_len)?;
            txn_index::decode(&bytes, self.base_offset)
                .map_err(|(at, e)| Error::corrupt(&st.path, at as u64, e))?
        } else {
            Vec::new()
        };
        let entries = Arc::new(entries);
        st.entries = Some(Arc::clone(&entries));
        Ok(entries)
    }

    /// Every entry, in marker order.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file and the entry's position for an
    /// entry that breaks the format's rules; I/O failures.
    pub(crate) fn entries(&self) -> Result<Arc<Vec<AbortedTxn>>> {
        let mut st = self.state.lock();
        self.load(&mut st)
    }

    /// Appends an entry whose marker follows every entry's (called by the
    /// appender, the recovery and the cleaner, never concurrently).
    pub(crate) fn append(&self, entry: AbortedTxn) -> Result<()> {
        let mut st = self.state.lock();
        let entries = self.load(&mut st)?;
        if entries.last().is_some_and(|p| p.last_offset >= entry.last_offset)
            || entry.last_offset < self.base_offset
        {
            return Err(Error::InvalidRequest(format!(
                "{}: an aborted transaction ending at {} does not follow the index's entries",
                st.path.display(),
                entry.last_offset
            )));
        }
        let at = (entries.len() * ENTRY_SIZE) as u64;
        // Not held past here: unshared, the entries grow in place (`push`).
        drop(entries);
        if st.detached {
            Self::push(&mut st, entry);
            return Ok(());
        }
        let existed = file::exists(&st.path)?;
        let f = file::create_rw(&st.path)?;
        // A torn entry left by a crash is overwritten, never followed.
        file::write_all_at(&f, &st.path, &entry.encode(), at)?;
        if file::len(&f, &st.path)? > at + ENTRY_SIZE as u64 {
            file::set_len(&f, &st.path, at + ENTRY_SIZE as u64)?;
        }
        Self::push(&mut st, entry);
        st.unsynced = true;
        st.created |= !existed;
        Ok(())
    }

    /// Removes every entry and the file (a segment being rebuilt).
    pub(crate) fn reset(&self) -> Result<()> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::closed_file(&st.path));
        }
        if file::remove_file_if_exists(&st.path)? {
            st.created = true; // the removal is made durable with the next flush
        }
        st.entries = Some(Arc::new(Vec::new()));
        st.unsynced = false;
        Ok(())
    }

    /// Adds `entry` to the entries in memory: in place, unless a reader still
    /// holds them (then they are copied once), so a segment's appends cost
    /// linear time in its aborts, not quadratic (a rebuild of a segment of
    /// 20,000 aborts copied about 6 GB).
    fn push(st: &mut State, entry: AbortedTxn) {
        match &mut st.entries {
            Some(entries) => Arc::make_mut(entries).push(entry),
            None => st.entries = Some(Arc::new(vec![entry])),
        }
    }

    /// Forgets every entry without touching the file, and keeps the entries
    /// appended from now on in memory only: a read-only open rebuilds the
    /// index of a segment recovery would re-validate (the file may have
    /// lost entries with a crash, or hold some for cut markers) and changes
    /// nothing on disk.
    pub(crate) fn reset_detached(&self) {
        let mut st = self.state.lock();
        st.entries = Some(Arc::new(Vec::new()));
        st.detached = true;
    }

    /// fsyncs entries written since the last flush.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut st = self.state.lock();
        if st.closed || !(st.unsynced || st.created) {
            return Ok(());
        }
        if st.unsynced && file::exists(&st.path)? {
            let f = file::open_rw(&st.path)?;
            if st.rewrite {
                let entries = self.load(&mut st)?;
                let bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
                file::write_all_at(&f, &st.path, &bytes, 0)?;
                st.rewrite = false;
            }
            if let Err(e) = file::sync_data(&f, &st.path) {
                let e = e.into_no_space();
                st.rewrite = matches!(e, Error::NoSpace { .. });
                return Err(e);
            }
        }
        if st.created {
            file::fsync_dir(file::parent_dir(&st.path))?;
        }
        st.unsynced = false;
        st.created = false;
        Ok(())
    }

    /// Renames the file, if there is one (the segment's suffix changes); the
    /// caller fsyncs the directory.
    pub(crate) fn rename_to(&self, new_path: PathBuf) -> Result<()> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::closed_file(&st.path));
        }
        if file::exists(&st.path)? {
            file::rename_unsynced(&st.path, &new_path)?;
        }
        st.path = new_path;
        Ok(())
    }

    /// Removes the file; later uses fail with [`Error::Closed`] (entries
    /// already read stay readable). A removal that failed is tried again by
    /// the next call.
    pub(crate) fn delete(&self) -> Result<()> {
        let mut st = self.state.lock();
        if st.closed && !st.removing {
            return Ok(());
        }
        // A reader that listed the segment before it went may still ask.
        let _ = self.load(&mut st);
        st.closed = true;
        // Until the removal succeeds, the next call tries it again.
        st.removing = true;
        file::remove_file_if_exists(&st.path)?;
        st.removing = false;
        Ok(())
    }

    /// The segment closed: the name is no longer ours.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        st.removing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::TxnIndex;
    use crate::format::txn_index::AbortedTxn;

    fn abort(i: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: i,
            first_offset: 2 * i,
            last_offset: 2 * i + 1,
            last_stable_offset: 2 * i + 2,
        }
    }

    /// The entries a reader took stay as they were while appends go on (the
    /// entries grow in place only while no reader holds them), and every
    /// append is in the file and in memory, in order.
    #[test]
    fn entries_a_reader_holds_stay_as_they_were_while_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let index = TxnIndex::create(path.clone(), 0);
        let mut held = Vec::new();
        for i in 0..2_000 {
            if i % 500 == 0 {
                held.push((i, index.entries().unwrap()));
            }
            index.append(abort(i)).unwrap();
        }
        for (n, entries) in held {
            assert_eq!(entries.len(), n as usize);
            assert!(entries.iter().zip(0..).all(|(e, i)| *e == abort(i)));
        }
        let all: Vec<AbortedTxn> = (0..2_000).map(abort).collect();
        assert_eq!(*index.entries().unwrap(), all);
        index.flush().unwrap();
        let reread = TxnIndex::open(path, 0, u64::MAX);
        assert_eq!(*reread.entries().unwrap(), all);
    }
}
