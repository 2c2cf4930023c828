//! The store's flusher thread: runs the sync passes that rolls and durable
//! appends ask for, off their threads (see [`crate::log::flush`]).
//!
//! Every log of the store hands itself to the flusher's queue when it needs a
//! pass. The thread takes the whole queue at once and runs one pass per
//! queued log — on up to [`MAX_PARALLEL`] threads when several are queued
//! (each takes the next log when it is done with one),
//! since fsyncs of different files proceed in parallel on most disks — then
//! wakes their waiters. Everything queued while a round runs is served by the
//! next round: that is the group commit. After a round in which a roll's
//! request moved a recovery point, the recovery points are checkpointed, so
//! an unclean open re-validates only what was written after the last roll.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{Store, StoreInner};
use crate::log::Log;
use crate::log::flush::{FlushHook, FlushOutcome};

/// Most passes a round runs at once.
pub(super) const MAX_PARALLEL: usize = 32;

#[derive(Debug, Default)]
struct Queue {
    logs: Vec<Log>,
    stopped: bool,
}

/// The flusher's queue; the hook of every log of the store pushes onto it.
#[derive(Debug, Default)]
pub(super) struct FlushQueue {
    queue: Mutex<Queue>,
    cond: Condvar,
}

impl FlushQueue {
    /// The hook a log calls: queues it, or declines once the flusher stopped
    /// (the log then syncs on the caller's thread).
    pub(super) fn hook(self: &Arc<Self>) -> FlushHook {
        let q = Arc::clone(self);
        Arc::new(move |log: &Log| {
            let mut g = q.queue.lock();
            if g.stopped {
                return false;
            }
            if !g.logs.iter().any(|l| l.same_log(log)) {
                g.logs.push(log.clone());
            }
            q.cond.notify_one();
            true
        })
    }

    /// Stops taking work; the thread finishes what is queued and exits.
    pub(super) fn stop(&self) {
        self.queue.lock().stopped = true;
        self.cond.notify_all();
    }

    /// Waits for work and returns it with whether the flusher is stopping;
    /// `None` once stopped with nothing left.
    fn take(&self) -> Option<(Vec<Log>, bool)> {
        let mut g = self.queue.lock();
        loop {
            if !g.logs.is_empty() {
                return Some((std::mem::take(&mut g.logs), g.stopped));
            }
            if g.stopped {
                return None;
            }
            // The timeout only guards against a lost wake-up.
            self.cond.wait_for(&mut g, Duration::from_millis(500));
        }
    }
}

/// Runs one pass on each log, in parallel when there are several: up to
/// [`MAX_PARALLEL`] threads, each taking the next log as it finishes one
/// (fsyncs of different files proceed in parallel, and the file system
/// batches them into shared journal commits).
fn round(logs: &[Log]) -> Vec<crate::Result<FlushOutcome>> {
    if logs.len() <= 1 {
        return logs.iter().map(Log::flush_pending).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(logs.len()));
    std::thread::scope(|s| {
        for _ in 0..logs.len().min(MAX_PARALLEL) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(log) = logs.get(i) else { break };
                    let r = log.flush_pending();
                    results.lock().push(r);
                }
            });
        }
    });
    results.into_inner()
}

/// Starts the flusher thread.
pub(super) fn start(
    queue: &Arc<FlushQueue>,
    store: Weak<StoreInner>,
) -> std::io::Result<JoinHandle<()>> {
    let queue = Arc::clone(queue);
    std::thread::Builder::new().name("strata-flusher".into()).spawn(move || {
        while let Some((logs, stopping)) = queue.take() {
            let results = round(&logs);
            let Some(inner) = store.upgrade() else { return };
            let store = Store { inner };
            let mut checkpoint = false;
            for r in results {
                match r {
                    Ok(o) => checkpoint |= o.after_roll && o.advanced,
                    Err(e) => store.record(super::BackgroundTask::Flush, Err(e)),
                }
            }
            // A stopping flusher leaves the checkpoints to the close that stops it.
            if checkpoint && !stopping {
                store.record(super::BackgroundTask::Checkpoints, store.write_checkpoints());
            }
        }
    })
}
