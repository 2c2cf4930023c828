//! Closing a store cleanly (the close half of the protocol in the module
//! docs of [`super`]).

use crate::io::file;
use crate::log::Log;
use crate::{Error, Result};

use super::checkpoint::CLEAN_SHUTDOWN_FILE;
use super::{Store, parallel};

impl Store {
    /// Closes the store cleanly: flushes and closes every partition, writes the
    /// checkpoints and then the clean-shutdown marker, so the next open trusts
    /// the files without recovery.
    ///
    /// # Errors
    /// I/O failures; the marker is then not written in the log directory
    /// concerned and the next open recovers it. A close retried after a
    /// failure fails again for every partition the first one left unsynced
    /// or poisoned (it is shut and cannot sync any more).
    pub fn close(&self) -> Result<()> {
        // `admin` before `closed` (the order `Store::admin` takes them in): a
        // metadata change in flight finishes before the logs are snapshot.
        let _admin = self.inner.admin.lock();
        // The threads first, without the `closed` lock: their checkpoint
        // writes check it. A cleaning in progress stops rather than being
        // waited out (it may be throttled for hours), as Kafka's cleaner
        // threads abort theirs at shutdown (`CleanerThread.checkDone`).
        self.inner.cleaner.stop();
        if let Some(mut s) = self.inner.scheduler.lock().take() {
            s.shutdown();
        }
        let mut closed = self.inner.closed.lock();
        if *closed {
            return Ok(());
        }
        if self.inner.read_only {
            // Nothing was written, so there is nothing to flush or mark;
            // closing a read-only log only lets go of its maps.
            for (_, log) in self.logs(None) {
                log.close()?;
            }
            *closed = true;
            return Ok(());
        }
        // Closing writes snapshots and checkpoints: free the idle descriptors first.
        self.inner.budget.evict_all();
        let logs = self.logs(None);
        let mut failed_dirs = vec![false; self.inner.dirs.len()];
        let mut first_error = None;
        // In parallel: each close waits on the fsyncs of its partition. A log
        // closed already (by an earlier close that failed, or through its own
        // handle) closes again without error, so what counts is what it left:
        // records it never synced, or a poisoning, keep its directory
        // unclean (Kafka writes the marker only in a directory without failures).
        let closed_logs =
            parallel::map(logs, |(d, log)| (d, log.close().and_then(|()| closed_synced(&log))));
        for (d, result) in closed_logs {
            if let Err(e) = result {
                if let Some(f) = failed_dirs.get_mut(d) {
                    *f = true;
                }
                first_error.get_or_insert(e);
            }
        }
        for o in self.inner.offline_partitions.read().values() {
            // Never opened, never recovered: the next open must not trust it.
            if let Some(f) = o.dir_index.and_then(|d| failed_dirs.get_mut(d)) {
                *f = true;
            }
        }
        for (f, dir) in failed_dirs.iter_mut().zip(&self.inner.dirs) {
            *f |= self.inner.offline_dirs.iter().any(|(p, _)| *p == dir.path);
        }
        self.write_checkpoints_unchecked()?;
        for (dir, failed) in self.inner.dirs.iter().zip(&failed_dirs) {
            if !failed {
                // A full disk is the retriable `NoSpace`: the store stays open
                // (its locks held), and a later close writes the marker.
                file::write_atomic(
                    &dir.path.join(CLEAN_SHUTDOWN_FILE),
                    b"{\"version\":0,\"brokerEpoch\":-1}",
                )
                .map_err(Error::into_no_space)?;
            }
        }
        // Last step of a clean shutdown: another store may now open the directories.
        for dir in &self.inner.dirs {
            dir.lock.lock().take();
        }
        *closed = true;
        first_error.map_or(Ok(()), Err)
    }
}

/// Whether `log`, closed, left every record synced and was never poisoned:
/// only then may its directory be marked cleanly shut down. A log whose
/// close failed is shut all the same, so a second close finds it closed
/// and must look at what it left rather than at its own result.
fn closed_synced(log: &Log) -> Result<()> {
    let (synced, end) = (log.recovery_point(), log.log_end_offset());
    let mut unclean = Vec::new();
    if synced < end {
        unclean.push(format!("records {synced}..{end} never synced"));
    }
    // A close that failed poisons its log too (see `Log::close`).
    if let Some(cause) = log.poisoned() {
        unclean.push(format!("the log poisoned ({cause})"));
    }
    if unclean.is_empty() {
        return Ok(());
    }
    let why = format!("closed with {}; the next open recovers it", unclean.join(" and "));
    Err(Error::io("close", log.dir(), std::io::Error::other(why)))
}
