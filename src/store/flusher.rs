//! The store's flusher: runs the sync passes that rolls and durable appends
//! ask for, off their threads (see [`crate::log::flush`]).
//!
//! Every log of the store hands itself to the flusher's queue when it needs a
//! pass. A pool of worker threads (up to [`MAX_PARALLEL`], started as the
//! queue needs them and kept until the store closes) takes queued logs one
//! at a time, first come first served, and runs one pass on each; fsyncs of
//! different files proceed in parallel on most disks, and the file system
//! batches them into shared journal commits. There are no rounds: a log
//! queued while other passes run starts as soon as a worker is free, not
//! after the slowest pass of a round, and no thread is started per pass.
//! Within a log, one pass serves every append that arrived while the
//! previous pass ran (the log's pass covers everything requested when it
//! starts): that is the group commit.
//!
//! After a pass that a roll asked for moved a recovery point, the recovery
//! points are checkpointed, so an unclean open re-validates only what was
//! written after the last roll. The checkpoint writes are coalesced: one
//! worker at a time writes one, at most every [`ROLL_CHECKPOINT_EVERY`], and
//! it covers every pass completed before it. A worker that finds a
//! checkpoint due takes it before its next pass, so a queue that never runs
//! dry (many partitions rolling back to back) still checkpoints within about
//! that interval instead of waiting for the periodic checkpoint
//! (`log.flush.offset.checkpoint.interval.ms`); a queue that runs dry has an
//! idle worker write it when the interval is up. At 1,000 partitions rolling
//! at once that is one checkpoint write a second, not one per pass.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{Store, StoreInner};
use crate::log::Log;
use crate::log::flush::FlushHook;

/// Most passes that run at once (worker threads of the pool).
pub(super) const MAX_PARALLEL: usize = 32;

/// Shortest time between two checkpoint writes that passes after rolls ask
/// for: how long a roll's recovery point may wait to reach the checkpoint
/// file under sustained load.
pub(super) const ROLL_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What a worker does next.
enum Work {
    /// One sync pass of this log.
    Pass(Log),
    /// Write the checkpoints (this worker is the one writer).
    Checkpoint,
}

#[derive(Debug, Default)]
struct Queue {
    /// Logs waiting for a pass, oldest first; a log is queued at most once.
    logs: VecDeque<Log>,
    /// Workers started, and how many of them wait for work.
    workers: usize,
    idle: usize,
    /// A roll's pass moved a recovery point since the last checkpoint began.
    checkpoint_due: bool,
    /// A worker is writing the checkpoints (one writer at a time).
    checkpoint_writing: bool,
    /// When the last checkpoint write that passes asked for began.
    last_checkpoint: Option<Instant>,
    stopped: bool,
}

impl Queue {
    /// How long until a due checkpoint may be written (zero: now); `None`
    /// when none is due or another worker writes one. A stopping flusher
    /// leaves the checkpoints to the close that stops it.
    fn checkpoint_wait(&self, now: Instant) -> Option<Duration> {
        if !self.checkpoint_due || self.checkpoint_writing || self.stopped {
            return None;
        }
        let since = self.last_checkpoint.map_or(ROLL_CHECKPOINT_EVERY, |t| now - t);
        Some(ROLL_CHECKPOINT_EVERY.saturating_sub(since))
    }
}

/// The flusher's queue and pool; the hook of every log of the store pushes
/// onto it.
#[derive(Debug, Default)]
pub(super) struct FlushQueue {
    queue: Mutex<Queue>,
    cond: Condvar,
    /// The pool's threads, joined by [`FlushQueue::join`].
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// The store the workers record failures and write checkpoints for.
    store: Mutex<Weak<StoreInner>>,
}

impl FlushQueue {
    /// The hook a log calls: queues it, or declines once the flusher stopped
    /// (the log then syncs on the caller's thread).
    pub(super) fn hook(self: &Arc<Self>) -> FlushHook {
        let q = Arc::clone(self);
        Arc::new(move |log: &Log| q.push(log))
    }

    fn push(self: &Arc<Self>, log: &Log) -> bool {
        let mut g = self.queue.lock();
        if g.stopped {
            return false;
        }
        if !g.logs.iter().any(|l| l.same_log(log)) {
            g.logs.push_back(log.clone());
        }
        // A worker for every queued log, up to the cap: an idle one is woken,
        // else one more is started.
        if g.idle >= g.logs.len() || g.workers >= MAX_PARALLEL {
            self.cond.notify_one();
            return true;
        }
        let started = self.spawn_worker();
        if started {
            g.workers += 1;
        } else {
            self.cond.notify_one();
        }
        // No worker at all (the thread could not be started): the caller syncs.
        g.workers > 0
    }

    /// Starts one more worker; false if the thread could not be created.
    fn spawn_worker(self: &Arc<Self>) -> bool {
        let q = Arc::clone(self);
        let spawned =
            std::thread::Builder::new().name("strata-flusher".into()).spawn(move || q.work());
        match spawned {
            Ok(h) => {
                self.handles.lock().push(h);
                true
            }
            Err(_) => false,
        }
    }

    /// Stops taking work; the workers finish what is queued and exit.
    pub(super) fn stop(&self) {
        self.queue.lock().stopped = true;
        self.cond.notify_all();
    }

    /// Waits for every worker to exit (after [`stop`](Self::stop)).
    pub(super) fn join(&self) {
        loop {
            let handles = std::mem::take(&mut *self.handles.lock());
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }

    /// The next thing to do: a due checkpoint first (so a busy queue still
    /// gets one every [`ROLL_CHECKPOINT_EVERY`]), else the oldest queued
    /// log; waits for either. `None` once stopped with nothing left.
    fn take(&self) -> Option<Work> {
        let mut g = self.queue.lock();
        loop {
            let now = Instant::now();
            let checkpoint = g.checkpoint_wait(now);
            if checkpoint == Some(Duration::ZERO) {
                g.checkpoint_due = false;
                g.checkpoint_writing = true;
                g.last_checkpoint = Some(now);
                return Some(Work::Checkpoint);
            }
            if let Some(log) = g.logs.pop_front() {
                return Some(Work::Pass(log));
            }
            if g.stopped {
                return None;
            }
            g.idle += 1;
            // Until a due checkpoint may be written; else the timeout only
            // guards against a lost wake-up.
            let wait = checkpoint.unwrap_or(Duration::from_millis(500));
            self.cond.wait_for(&mut g, wait);
            g.idle -= 1;
        }
    }

    /// One worker: passes and checkpoints until the flusher stops and its
    /// queue is empty.
    fn work(&self) {
        while let Some(work) = self.take() {
            match work {
                Work::Pass(log) => {
                    let outcome = log.flush_pending();
                    drop(log);
                    if let Ok(o) = &outcome
                        && o.after_roll
                        && o.advanced
                    {
                        self.queue.lock().checkpoint_due = true;
                    }
                    if let Err(e) = outcome
                        && let Some(store) = self.store()
                    {
                        store.record(super::BackgroundTask::Flush, Err(e));
                    }
                }
                Work::Checkpoint => {
                    if let Some(store) = self.store() {
                        store.record(super::BackgroundTask::Checkpoints, store.write_checkpoints());
                    }
                    self.queue.lock().checkpoint_writing = false;
                }
            }
        }
    }

    fn store(&self) -> Option<Store> {
        self.store.lock().upgrade().map(|inner| Store { inner })
    }
}

/// Connects the pool to its store (workers start as logs are queued).
pub(super) fn start(queue: &Arc<FlushQueue>, store: Weak<StoreInner>) {
    *queue.store.lock() = store;
}
