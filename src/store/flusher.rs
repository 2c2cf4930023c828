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
//! starts): that is the group commit. When the queue runs dry after a pass
//! that a roll asked for moved a recovery point, the worker that finds it
//! dry checkpoints the recovery points, so an unclean open re-validates only
//! what was written after the last roll.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{Store, StoreInner};
use crate::log::Log;
use crate::log::flush::FlushHook;

/// Most passes that run at once (worker threads of the pool).
pub(super) const MAX_PARALLEL: usize = 32;

#[derive(Debug, Default)]
struct Queue {
    /// Logs waiting for a pass, oldest first; a log is queued at most once.
    logs: VecDeque<Log>,
    /// Workers started, and how many of them wait for work.
    workers: usize,
    idle: usize,
    /// A roll's pass moved a recovery point since the last checkpoint.
    checkpoint_due: bool,
    stopped: bool,
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

    /// Waits for the next queued log; `None` once stopped with nothing left.
    fn take(&self) -> Option<Log> {
        let mut g = self.queue.lock();
        loop {
            if let Some(log) = g.logs.pop_front() {
                return Some(log);
            }
            if g.stopped {
                return None;
            }
            g.idle += 1;
            // The timeout only guards against a lost wake-up.
            self.cond.wait_for(&mut g, Duration::from_millis(500));
            g.idle -= 1;
        }
    }

    /// One worker: passes until the flusher stops and its queue is empty.
    fn work(&self) {
        while let Some(log) = self.take() {
            let outcome = log.flush_pending();
            drop(log);
            let Some(inner) = self.store.lock().upgrade() else { continue };
            let store = Store { inner };
            let checkpoint = {
                let mut g = self.queue.lock();
                if let Ok(o) = &outcome {
                    g.checkpoint_due |= o.after_roll && o.advanced;
                }
                // A stopping flusher leaves the checkpoints to the close that stops it.
                let now = g.checkpoint_due && g.logs.is_empty() && !g.stopped;
                if now {
                    g.checkpoint_due = false;
                }
                now
            };
            if let Err(e) = outcome {
                store.record(super::BackgroundTask::Flush, Err(e));
            }
            if checkpoint {
                store.record(super::BackgroundTask::Checkpoints, store.write_checkpoints());
            }
        }
    }
}

/// Connects the pool to its store (workers start as logs are queued).
pub(super) fn start(queue: &Arc<FlushQueue>, store: Weak<StoreInner>) {
    *queue.store.lock() = store;
}
