//! Making appended bytes durable and moving the recovery point.
//!
//! A *sync pass* fsyncs, without the append lock, every segment that may
//! hold bytes between the recovery point and a target offset (the `.log`
//! and both indexes), then the partition directory if segments were created
//! since its last fsync, and only then moves the recovery point to the target.
//! Appends go on while a pass runs; whatever they write is left for the next
//! pass. Passes of one log run one at a time (the pass lock); the recovery
//! point only grows.
//!
//! Who runs passes:
//! - a roll asks for one up to the new segment's base (Kafka schedules
//!   `flushUptoOffsetExclusive` at roll): a worker of the store's flusher
//!   pool runs it off the append path, and the recovery points are then
//!   checkpointed, so an unclean open re-validates only what was written
//!   since the last checkpoint;
//! - `strata.durability=sync` appends run their passes on the appending
//!   threads (`Log::commit_durable`, group commit): one pass serves every
//!   append to the partition that arrived while the previous one ran;
//! - [`Log::flush`], `flush.messages` / `flush.ms`, and close.
//!
//! Without a flusher (a [`Log`] opened on its own, or a store with its
//! background threads off) a roll only records its request and
//! [`Log::flush_pending`] (which [`crate::store::Store::maintain`] calls)
//! runs it.
//!
//! Order of the state updates: a roll counts a new segment (`created`)
//! after its files exist and before it publishes the segment list that
//! holds it, and a pass reads `created` after it snapshots the segment
//! list. So every segment whose bytes a pass covers has its directory entry
//! synced by that pass or an earlier one, and no pass marks a directory
//! synced before the files it counted were in it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::Log;
use crate::io::file;
use crate::segment::Segment;
use crate::segment::budget;
use crate::{Error, Result};

/// Called with the log when it has a pass to run; returns whether it will
/// be run elsewhere (the store's flusher queued it) or must run on the
/// caller's thread.
pub type FlushHook = Arc<dyn Fn(&Log) -> bool + Send + Sync>;

/// What the flush bookkeeping knows; every field only grows.
#[derive(Debug, Default)]
struct State {
    /// Offset below which every byte is fsynced.
    recovery_point: i64,
    /// The highest offset a roll or a durable append asked a pass to cover.
    requested: i64,
    /// Whether a roll asked for the pending request (the flusher checkpoints after those).
    requested_by_roll: bool,
    /// Segments created, and how many of those had their directory fsynced.
    created: u64,
    dir_synced: u64,
    /// Wall clock of the last completed pass (`flush.ms`).
    last_flush_ms: i64,
    /// Passes completed that synced something (see [`Log::sync_passes`]).
    passes: u64,
    /// An appender of a durable append runs a pass ([`Log::commit_durable`]).
    committing: bool,
    /// Passes that failed without poisoning the log (see [`Log::fail_pass`]),
    /// and the last such failure: a waiter that sees the count grow gives
    /// up with that error.
    usable_failures: u64,
    last_usable_failure: Option<UsableFailure>,
}

/// A pass's failure that leaves the log usable, kept for the pass's waiters
/// (an [`Error`] is not `Clone`).
#[derive(Debug, Clone)]
enum UsableFailure {
    /// A full disk at a write or an fsync.
    NoSpace { path: std::path::PathBuf, reason: String },
    /// Out of descriptors or memory opening a file to sync, the budget
    /// having nothing left to evict: that file saw no fsync.
    Exhausted { op: &'static str, path: std::path::PathBuf, code: i32 },
}

impl UsableFailure {
    fn error(&self) -> Error {
        match self {
            UsableFailure::NoSpace { path, reason } => {
                Error::NoSpace { path: path.clone(), reason: reason.clone() }
            }
            UsableFailure::Exhausted { op, path, code } => {
                Error::io(op, path.clone(), std::io::Error::from_raw_os_error(*code))
            }
        }
    }
}

/// Per-log flush state: the bookkeeping, the pass lock and the waiters of durable appends.
pub(super) struct Flush {
    state: Mutex<State>,
    /// Held for the whole of a pass: passes of one log never overlap.
    pass: Mutex<()>,
    /// Taken by callers that sync on their own thread before they look at
    /// the recovery point, so that waiters queue up behind one pass.
    turn: Mutex<()>,
    /// Signalled after every pass and when the log is poisoned or closed.
    done: Condvar,
    hook: Mutex<Option<FlushHook>>,
}

impl std::fmt::Debug for Flush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flush").field("state", &*self.state.lock()).finish_non_exhaustive()
    }
}

impl Flush {
    pub(super) fn new(recovery_point: i64, now_ms: i64) -> Flush {
        let state = State {
            recovery_point,
            requested: recovery_point,
            last_flush_ms: now_ms,
            ..State::default()
        };
        Flush {
            state: Mutex::new(state),
            pass: Mutex::new(()),
            turn: Mutex::new(()),
            done: Condvar::new(),
            hook: Mutex::new(None),
        }
    }

    pub(super) fn recovery_point(&self) -> i64 {
        self.state.lock().recovery_point
    }

    /// Counts a segment whose files were just created (before it is listed).
    pub(super) fn segment_created(&self) {
        self.state.lock().created += 1;
    }

    pub(super) fn last_flush_ms(&self) -> i64 {
        self.state.lock().last_flush_ms
    }
}

/// An appender leading a group commit's pass; when it ends (or unwinds),
/// the waiters are woken and one it did not cover leads the next.
struct Leading<'a>(&'a Flush);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state.lock();
        s.committing = false;
        self.0.done.notify_all();
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// The recovery point after the pass.
    pub recovery_point: i64,
    /// Whether the recovery point moved.
    pub advanced: bool,
    /// Whether a roll had asked for it (the recovery-point checkpoint should follow).
    pub after_roll: bool,
}

impl Log {
    /// Offset below which everything is fsynced.
    #[must_use]
    pub fn recovery_point(&self) -> i64 {
        self.inner.flush.recovery_point()
    }

    /// Sync passes this log completed since it was opened, each an
    /// `fdatasync` of the `.log` files holding its unsynced bytes (and at a
    /// roll their indexes and the directory); a flush that found everything
    /// synced already runs none, and a pass whose bytes an earlier pass's
    /// fsync happened to cover counts none. Appends over passes is how many appends a
    /// pass served: group commit's sharing.
    #[must_use]
    pub fn sync_passes(&self) -> u64 {
        self.inner.flush.state.lock().passes
    }

    /// Sets the function a roll or a durable append calls to have a pass run
    /// off its thread (the store's flusher). Without one, passes run when
    /// [`flush_pending`](Self::flush_pending) is called, or inline for
    /// durable appends.
    pub fn set_flush_hook(&self, hook: Option<FlushHook>) {
        *self.inner.flush.hook.lock() = hook;
    }

    /// Asks for a pass up to `offset` (exclusive) and hands the log to the
    /// flush hook; returns whether a hook took it.
    pub(super) fn request_flush(&self, offset: i64, by_roll: bool) -> bool {
        {
            let mut s = self.inner.flush.state.lock();
            if offset > s.requested {
                s.requested = offset;
            }
            s.requested_by_roll |= by_roll;
        }
        let hook = self.inner.flush.hook.lock().clone();
        hook.is_some_and(|h| h(self))
    }

    /// Runs the pass that rolls and durable appends asked for, if any: what
    /// the store's flusher calls. A closing log is left to its close.
    ///
    /// # Errors
    /// An fsync failure, which poisons the log.
    pub fn flush_pending(&self) -> Result<FlushOutcome> {
        let (target, after_roll) = {
            let mut s = self.inner.flush.state.lock();
            (s.requested, std::mem::take(&mut s.requested_by_roll))
        };
        if self.is_closing() || self.poisoned().is_some() {
            return Ok(FlushOutcome {
                recovery_point: self.recovery_point(),
                ..Default::default()
            });
        }
        let outcome = self.sync_to(target)?;
        Ok(FlushOutcome { after_roll, ..outcome })
    }

    /// fsyncs everything up to the log end offset and advances the recovery point.
    ///
    /// # Errors
    /// [`Error::Poisoned`], [`Error::Closed`]; an fsync failure, which poisons the log.
    pub fn flush(&self) -> Result<()> {
        drop(self.writer()?);
        self.sync_to(self.log_end_offset()).map(drop)
    }

    /// Flushes when `flush.ms` (see [`LogConfig::effective_flush_ms`]) has
    /// passed since the last pass: the periodic check. With a flusher the
    /// pass is queued there, so due partitions are synced in parallel.
    /// Returns whether a pass was run or queued.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    ///
    /// [`LogConfig::effective_flush_ms`]: crate::config::LogConfig::effective_flush_ms
    pub fn flush_if_due(&self) -> Result<bool> {
        drop(self.writer()?);
        let cfg = self.config();
        let now = self.clock.now_ms();
        let leo = self.log_end_offset();
        if now.saturating_sub(self.inner.flush.last_flush_ms()) < cfg.effective_flush_ms()
            || leo <= self.recovery_point()
        {
            return Ok(false);
        }
        if !self.request_flush(leo, false) {
            self.sync_to(leo)?;
        }
        Ok(true)
    }

    /// Blocks until every offset below `offset` is fsynced: queued for the
    /// flusher when there is one (one pass serves every waiter), else
    /// group-committed on the callers' threads as `sync` appends are (one
    /// caller runs a pass, those that arrive meanwhile share the next).
    ///
    /// # Errors
    /// [`Error::Poisoned`] when the pass failed, [`Error::Closed`];
    /// [`Error::OffsetOutOfRange`] for an offset above the log end offset
    /// (no pass can cover it: it would wait for records not yet appended);
    /// [`Error::ReadOnly`] on a read-only log whose records are not known
    /// synced (it never writes, and so never syncs either).
    pub fn wait_synced(&self, offset: i64) -> Result<()> {
        if self.recovery_point() >= offset {
            return Ok(());
        }
        self.check_open()?;
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        let v = self.view();
        if offset > v.log_end_offset {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: v.log_start_offset,
                log_end_offset: v.log_end_offset,
            });
        }
        drop(v);
        let f = &self.inner.flush;
        // Counted before the pass is requested: a pass that fails for lack of space (or of
        // descriptors) between the request and the wait below must still end this wait
        // (nothing queues another pass).
        let failures = f.state.lock().usable_failures;
        if !self.request_flush(offset, false) {
            // No flusher: the waiters group-commit on their own threads.
            return self.commit_durable(offset);
        }
        let mut s = f.state.lock();
        while s.recovery_point < offset {
            if s.usable_failures > failures
                && let Some(failure) = &s.last_usable_failure
            {
                // The disk is full (or the process out of descriptors): the pass will be
                // retried, this caller need not wait for it.
                return Err(failure.error());
            }
            drop(s);
            self.check_poison()?;
            self.check_open()?;
            if self.is_closing() {
                // The flusher leaves a closing log alone; close syncs everything.
                self.sync_covering(offset)?;
                return self.check_synced(offset);
            }
            s = f.state.lock();
            if s.recovery_point >= offset {
                break;
            }
            // Passes, poisoning and close notify; the timeout only guards a lost wake-up.
            f.done.wait_for(&mut s, Duration::from_millis(100));
        }
        Ok(())
    }

    /// Group commit on the appenders' own threads, for appends acknowledged
    /// only once on disk (`strata.durability=sync`): an appender that finds
    /// no pass of another appender running leads one up to the log end
    /// offset on its thread; the appenders that arrive meanwhile wait for
    /// it, and all whose records it covered return together when it ends
    /// (one wake-up for all, not a lock handed on one waiter at a time,
    /// which let a returning appender's next pass start before the covered
    /// ones had left); one of those it did not cover leads the next. So one
    /// fsync serves every append that arrived while the previous one ran.
    /// Appends to different partitions sync in parallel on their own
    /// threads, as many at once as there are appenders (the file system
    /// joins concurrent fsyncs into shared journal commits). Handing the pass
    /// to the flusher instead would cost two thread switches per append and,
    /// once no two waiting appends share a partition, save no fsync.
    ///
    /// # Errors
    /// As [`wait_synced`](Self::wait_synced).
    pub(super) fn commit_durable(&self, offset: i64) -> Result<()> {
        if self.recovery_point() >= offset {
            return Ok(());
        }
        let f = &self.inner.flush;
        loop {
            self.check_poison()?;
            self.check_open()?;
            if self.is_closing() {
                // Close syncs everything; sync here rather than wait for it.
                self.sync_covering(offset)?;
                return self.check_synced(offset);
            }
            let mut s = f.state.lock();
            if s.recovery_point >= offset {
                return Ok(());
            }
            if s.committing {
                // Another appender's pass runs: it or the next one covers
                // this append. Passes, poisoning and close notify; the
                // timeout only guards a lost wake-up.
                f.done.wait_for(&mut s, Duration::from_millis(100));
                continue;
            }
            s.committing = true;
            drop(s);
            let leading = Leading(f);
            let synced = self.sync_to(self.log_end_offset());
            drop(leading);
            synced?;
            // The pass covered the log end, so this caller's records (an
            // offset past the log end is never covered: wait_synced's).
            return self.check_synced(offset);
        }
    }

    /// A pass up to the log end offset unless, once this caller's turn
    /// comes, an earlier pass already covered `offset`.
    fn sync_covering(&self, offset: i64) -> Result<()> {
        let _turn = self.inner.flush.turn.lock();
        if self.recovery_point() >= offset {
            return Ok(());
        }
        self.sync_to(self.log_end_offset()).map(drop)
    }

    fn check_synced(&self, offset: i64) -> Result<()> {
        self.check_poison()?;
        if self.recovery_point() >= offset { Ok(()) } else { Err(self.closed_error()) }
    }

    /// Poisons the log after a sync pass panicked on a store's worker (a
    /// bug): what the pass got to the disk is unknown, as after a failed
    /// fsync. Wakes the pass's waiters; returns the poisoning error.
    pub(crate) fn poison_after_panic(&self, panic: &str) -> Error {
        let cause = std::io::Error::other(format!("a sync pass panicked: {panic}"));
        self.poison(Error::io("sync pass", &self.inner.dir, cause));
        self.check_poison().err().unwrap_or_else(|| self.closed_error())
    }

    /// Wakes waiters of durable appends (after a poisoning or at close).
    pub(super) fn wake_sync_waiters(&self) {
        let _s = self.inner.flush.state.lock();
        self.inner.flush.done.notify_all();
    }

    /// One sync pass up to `target` (capped at the log end offset).
    pub(super) fn sync_to(&self, target: i64) -> Result<FlushOutcome> {
        let f = &self.inner.flush;
        let _pass = f.pass.lock();
        // A poisoned log runs no pass: after a failed fsync, a second one of
        // the same file reports success for pages whose write-back was lost,
        // and the recovery point must not move past them.
        self.check_poison()?;
        let v = self.view();
        let (start, created, dir_synced) = {
            let s = f.state.lock();
            (s.recovery_point, s.created, s.dir_synced)
        };
        let target = target.min(v.log_end_offset);
        if target <= start && dir_synced >= created {
            return Ok(FlushOutcome { recovery_point: start, ..FlushOutcome::default() });
        }
        // A test's hook may append here (under the pass lock: not a durable append).
        // An injected failure fails the pass as a failed fsync would.
        crate::io::fault::point("log::flush::pass_after_view").map_err(|e| self.fail_pass(e))?;
        // From the segment holding the recovery point, or the one ending at
        // it: a segment the recovery point reached while it was active had
        // only its `.log` synced (see below), and once a roll sealed it, it
        // lies below the recovery point, trusted at the next open with its
        // indexes (the seal's final entries, the `.txnindex`) as they are.
        // Their flush below costs no system call once they are synced.
        let first = v.segments.partition_point(|s| s.base_offset() < start).saturating_sub(1);
        let mut segments = v.segments.iter().skip(first).peekable();
        // Whether this pass ran an fsync: an earlier pass may have synced
        // bytes appended after it took its view, leaving this one nothing.
        let mut synced_any = false;
        // The segment whose `.log` alone this pass synced (it held the
        // target, active when looked at).
        let mut log_only = None;
        while let Some(seg) = segments.next() {
            if seg.base_offset() >= target && seg.base_offset() > start {
                break; // holds nothing below the target
            }
            // The segment holding the new recovery point is re-validated and
            // re-indexed by recovery anyway: its indexes need no sync, unless
            // a roll sealed it since this pass took its view (it is then
            // below the recovery point this pass sets). One ending at the
            // pass's start has its `.log` synced already: only its indexes.
            let next_base = segments.peek().map(|next| next.base_offset());
            let holds_target = next_base.is_none_or(|base| base > target);
            let synced = if next_base.is_some_and(|base| base <= start) {
                seg.flush_indexes().map(|()| false)
            } else if holds_target && !seg.is_sealed() {
                log_only = Some(seg);
                seg.flush_log()
            } else {
                seg.flush()
            };
            match synced {
                Ok(ran) => synced_any |= ran,
                // A segment that retention or the cleaner removed meanwhile has nothing to keep.
                Err(e) if self.still_listed(seg) => return Err(self.fail_pass(e)),
                Err(_) => {}
            }
        }
        if dir_synced < created {
            file::fsync_dir(&self.inner.dir).map_err(|e| self.fail_pass(e))?;
            synced_any = true;
        }
        let mut s = f.state.lock();
        // A roll that sealed the segment meanwhile read the recovery point
        // before this lock, below the target: its indexes are this pass's
        // to sync before the recovery point passes the segment (the roll
        // reads it under this lock after its seal, so one of the two does).
        if let Some(seg) = log_only.filter(|seg| seg.is_sealed()) {
            drop(s);
            match seg.flush_indexes() {
                Err(e) if self.still_listed(seg) => return Err(self.fail_pass(e)),
                _ => {}
            }
            s = f.state.lock();
        }
        s.dir_synced = s.dir_synced.max(created);
        let advanced = target > s.recovery_point;
        if advanced {
            s.recovery_point = target;
        }
        s.last_flush_ms = self.clock.now_ms();
        s.passes += u64::from(synced_any);
        let recovery_point = s.recovery_point;
        f.done.notify_all();
        Ok(FlushOutcome { recovery_point, advanced, after_roll: false })
    }

    fn still_listed(&self, seg: &Arc<Segment>) -> bool {
        self.view().segments.iter().any(|s| Arc::ptr_eq(s, seg))
    }

    /// A failed pass: a full disk is the retriable [`Error::NoSpace`] (the
    /// recovery point stays, the segment rewrites its unsynced bytes before
    /// its next fsync, see [`Segment::flush_log`]); running out of
    /// descriptors or memory to open a file to sync (the budget evicted what
    /// it could) fails the pass as it is, since that file saw no fsync and
    /// nothing about the disk is unknown, as an append or a roll out of them
    /// does; any other failure poisons the log, since what is on disk past
    /// the last good sync is unknown. Waiters are woken either way.
    pub(super) fn fail_pass(&self, e: Error) -> Error {
        let usable = match e.into_no_space() {
            Error::NoSpace { path, reason } => Ok(UsableFailure::NoSpace { path, reason }),
            Error::Io { op, path, source } if budget::is_exhaustion_opening(op, &source) => {
                let code = source.raw_os_error().unwrap_or_default();
                Ok(UsableFailure::Exhausted { op, path, code })
            }
            e => Err(self.poison(e)),
        };
        let e = match usable {
            Ok(failure) => {
                let mut s = self.inner.flush.state.lock();
                s.usable_failures += 1;
                let e = failure.error();
                s.last_usable_failure = Some(failure);
                e
            }
            Err(e) => e,
        };
        self.inner.flush.done.notify_all();
        e
    }
}
