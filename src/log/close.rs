//! Closing a log for good, and the checks every call makes of it.

use std::sync::Arc;

use super::{Log, Writer};
use crate::{Error, Result};

impl Log {
    /// Flushes, appends the final time-index entry and trims the indexes of the
    /// active segment, then closes the log for good: later appends, reads and
    /// maintenance through any handle fail with [`Error::Closed`], and no file
    /// of the directory is opened through it again (the directory may belong
    /// to another store by then). `Bytes` already handed out stay valid.
    ///
    /// The log is closed even when the flush fails (a poisoned log): the error
    /// is returned and the next open recovers. Any failure of the close
    /// poisons the log ([`Log::poisoned`] says why), so that a store, asked
    /// to close again, does not mark its directory cleanly shut down.
    ///
    /// # Errors
    /// I/O failures.
    pub fn close(&self) -> Result<()> {
        // Abort a cleaning in progress and wait for it to let go (Kafka's abortAndPauseCleaning).
        self.inner.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        let _cleaning = self.inner.cleaning.lock();
        let mut w = self.inner.writer.lock();
        if w.closed {
            return Ok(());
        }
        if self.inner.read_only {
            self.shut(&mut w);
            return Ok(());
        }
        let finished = self.check_poison().and_then(|()| {
            self.sync_to(self.log_end_offset())?;
            let active = self.active()?;
            active.seal()?;
            // A clean shutdown is trusted without recovery: the sealed indexes
            // must be on disk too, the active segment's and any a roll sealed
            // whose pass has not run (the pass above synced every `.log`; an
            // index written since its last sync is the only system call).
            active.flush().map_err(|e| self.poison(e))?;
            for seg in self.segments().iter().filter(|s| !Arc::ptr_eq(s, &active)) {
                seg.flush_indexes().map_err(|e| self.poison(e))?;
            }
            let leo = self.log_end_offset();
            if w.durable_snapshot == Some(leo) && w.producers.snapshot_matches(&self.inner.dir, leo)
            {
                return Ok(()); // an unchanged store leaves its snapshot as it is
            }
            if self.write_snapshot(&w, leo, true)? {
                w.durable_snapshot = Some(leo);
            }
            Ok(())
        });
        // A close that failed left the log short of a clean shutdown (unsynced, its active
        // segment unsealed or its snapshot unwritten), whether or not the failure was one
        // that leaves a live log usable: it is recorded as a poisoning, which a store's
        // retried close (finding the log closed) sees, so the directory is not marked clean
        // and the next open recovers (Kafka writes no clean-shutdown marker after a failed
        // shutdown either).
        let finished = finished.map_err(|e| match self.check_poison() {
            Ok(()) => self.poison(e),
            Err(_) => e,
        });
        self.shut(&mut w);
        finished
    }

    /// Closes the log without writing anything: what a crash leaves on disk,
    /// but every handle refuses work from now on (a dropped store fences its
    /// logs this way before it unlocks its directories).
    pub(crate) fn fence(&self) {
        self.inner.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        let _cleaning = self.inner.cleaning.lock();
        let mut w = self.inner.writer.lock();
        if !w.closed {
            self.shut(&mut w);
        }
    }

    /// Marks the log closed, closes every segment (pending deletes too: their
    /// `.deleted` files are removed by the next open) and gives back the claim
    /// on the directory. Called under the append lock.
    pub(super) fn shut(&self, w: &mut Writer) {
        w.closed = true;
        w.active = None;
        self.inner.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        for seg in self.view().segments.iter() {
            seg.close();
        }
        for (_, seg) in self.inner.pending_deletes.lock().iter() {
            seg.close();
        }
        self.inner.claim.lock().take();
        self.inner.tail.close_all();
        self.wake_sync_waiters();
    }

    /// [`Error::Closed`] naming this partition and its directory.
    pub(crate) fn closed_error(&self) -> Error {
        Error::closed_partition(&self.name(), &self.inner.dir)
    }

    /// [`Error::Closed`] once the log is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
            Err(self.closed_error())
        } else {
            Ok(())
        }
    }

    /// Whether the log is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}
