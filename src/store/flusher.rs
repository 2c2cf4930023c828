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
//! checkpoint due takes it without waiting for the queue to run dry, so a
//! queue that never does (many partitions rolling back to back) still
//! checkpoints within about that interval instead of waiting for the
//! periodic checkpoint (`log.flush.offset.checkpoint.interval.ms`); a queue
//! that runs dry has an idle worker write it when the interval is up. At
//! 1,000 partitions rolling at once that is one checkpoint write a second,
//! not one per pass.
//!
//! A queued pass never waits for a checkpoint write (three file fsyncs and a
//! directory fsync per log directory), since someone may be blocked on it
//! ([`Log::wait_synced`]): before the worker starts the write, every queued
//! log gets another worker (an idle one is woken, or one more is started).
//! Only a pool at its cap, every worker busy, lends one worker to the write;
//! the queued passes then wait for a busy worker's pass to end, as they
//! would have anyway. A worker that cannot be started leaves the checkpoint
//! due and the pass is run first.
//!
//! A pass that panics (a bug) poisons its log, as a failed fsync does, and
//! its waiters return that; a checkpoint write that panics is recorded as
//! the write's failure. Either way the worker goes on with the queue.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
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
    /// Workers started, how many of them wait for work, and how many were
    /// started and have not looked at the queue yet.
    workers: usize,
    idle: usize,
    starting: usize,
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
        if g.logs.iter().any(|l| l.same_log(log)) {
            // Queued already, with its worker arranged: one pass serves both.
            return true;
        }
        g.logs.push_back(log.clone());
        // A worker for every queued log, up to the cap: an idle one is woken,
        // else one more is started.
        if g.idle + g.starting >= g.logs.len() || g.workers >= MAX_PARALLEL {
            self.cond.notify_one();
            return true;
        }
        if !self.spawn_worker(&mut g) {
            self.cond.notify_one();
        }
        // No worker at all (the thread could not be started): the caller syncs.
        g.workers > 0
    }

    /// Starts one more worker and counts it; false if the thread could not
    /// be created.
    fn spawn_worker(self: &Arc<Self>, g: &mut Queue) -> bool {
        let q = Arc::clone(self);
        let spawned =
            std::thread::Builder::new().name("strata-flusher".into()).spawn(move || q.work());
        match spawned {
            Ok(h) => {
                self.handles.lock().push(h);
                g.workers += 1;
                g.starting += 1;
                true
            }
            Err(_) => false,
        }
    }

    /// Before a worker writes the checkpoints: gives every queued log
    /// another worker (idle ones are woken, more are started up to the
    /// cap), so no pass waits for the write. True when the write may start:
    /// every queued log has a worker, or the pool is at its cap (the queued
    /// logs then wait for a busy worker's pass to end, as they would
    /// anyway). False when a worker could not be started: run a pass first.
    fn hand_off_queue(self: &Arc<Self>, g: &mut Queue) -> bool {
        let queued = g.logs.len();
        // Woken for the queue by push, or woken here: either way each idle
        // worker gets a notification for a queued log.
        for _ in 0..queued.min(g.idle) {
            self.cond.notify_one();
        }
        while g.idle + g.starting < queued && g.workers < MAX_PARALLEL {
            if !self.spawn_worker(g) {
                return false;
            }
        }
        true
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

    /// The next thing to do: a due checkpoint once the queued logs have
    /// other workers (so a busy queue still gets one every
    /// [`ROLL_CHECKPOINT_EVERY`], and no queued pass waits for it), else the
    /// oldest queued log; waits for either. `None` once stopped with nothing
    /// left. `first`: this worker's first look at the queue since it started.
    fn take(self: &Arc<Self>, first: bool) -> Option<Work> {
        let mut g = self.queue.lock();
        if first {
            g.starting = g.starting.saturating_sub(1);
        }
        loop {
            let now = Instant::now();
            let checkpoint = g.checkpoint_wait(now);
            if checkpoint == Some(Duration::ZERO) && self.hand_off_queue(&mut g) {
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
    fn work(self: &Arc<Self>) {
        let mut first = true;
        while let Some(work) = self.take(std::mem::take(&mut first)) {
            match work {
                Work::Pass(log) => {
                    // A pass that panics (a bug) must not take the worker with
                    // it and leave the log's waiters polling until close: what
                    // reached the disk is unknown, so the log is poisoned,
                    // which wakes them with the reason.
                    let outcome =
                        std::panic::catch_unwind(AssertUnwindSafe(|| log.flush_pending()))
                            .unwrap_or_else(|panic| {
                                Err(log.poison_after_panic(panic_text(&*panic)))
                            });
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
                        // A panic here (a bug) is recorded as the write's
                        // failure; the next checkpoint is still taken.
                        let written = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            store.write_checkpoints()
                        }))
                        .unwrap_or_else(|panic| {
                            let cause = std::io::Error::other(format!(
                                "the checkpoint write panicked: {}",
                                panic_text(&*panic)
                            ));
                            let dir = store.log_dirs().into_iter().next().unwrap_or_default();
                            Err(crate::Error::io("write checkpoints", dir, cause))
                        });
                        store.record(super::BackgroundTask::Checkpoints, written);
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

/// The message a panic carried (`panic!` with a literal or a format).
pub(super) fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => text,
        (None, Some(text)) => text,
        (None, None) => "a panic without a message",
    }
}

/// Connects the pool to its store (workers start as logs are queued).
pub(super) fn start(queue: &Arc<FlushQueue>, store: Weak<StoreInner>) {
    *queue.store.lock() = store;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{FlushQueue, Work};
    use crate::clock::SystemClock;
    use crate::config::LogConfig;
    use crate::format::record::Record;
    use crate::log::{LoadOptions, Log};

    /// The pool's one worker was idle when a log was queued (so the queue
    /// counted on it and started no other), and finds on waking that a
    /// checkpoint is due. The test thread plays that worker: if `take` hands
    /// it the checkpoint, the queued pass must still run while the write
    /// would be in progress (another worker was started for it); the old
    /// order (checkpoint first, the pass after the write) leaves the waiter
    /// of that pass blocked until the worker is done writing.
    #[test]
    fn a_pass_queued_while_a_checkpoint_is_due_does_not_wait_for_the_checkpoint_write() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = Log::open(
            &dir.path().join("t-0"),
            "t",
            0,
            LogConfig::default(),
            Arc::new(SystemClock),
            LoadOptions::default(),
        )
        .unwrap();
        log.append(&[Record::new("k", "v")]).unwrap();
        let queue = Arc::new(FlushQueue::default());
        log.set_flush_hook(Some(queue.hook()));
        {
            let mut g = queue.queue.lock();
            g.workers = 1;
            g.idle = 1;
        }
        let waiter = {
            let log = log.clone();
            std::thread::spawn(move || log.wait_synced(1))
        };
        // The waiter's pass is queued, counted against the idle worker.
        let deadline = Instant::now() + Duration::from_secs(60);
        while queue.queue.lock().logs.is_empty() {
            assert!(Instant::now() < deadline, "the waiter never queued its pass");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(queue.queue.lock().workers, 1, "push started a worker it did not need");
        {
            // The idle worker wakes, and a roll's pass has asked for a checkpoint.
            let mut g = queue.queue.lock();
            g.idle = 0;
            g.checkpoint_due = true;
        }
        match queue.take(false) {
            Some(Work::Checkpoint) => {
                // Writing: the queued pass runs meanwhile, on another worker.
                while !waiter.is_finished() {
                    assert!(
                        Instant::now() < deadline,
                        "the queued pass waited for the checkpoint write"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                queue.queue.lock().checkpoint_writing = false;
            }
            Some(Work::Pass(l)) => {
                assert!(l.same_log(&log));
                l.flush_pending().unwrap();
            }
            None => panic!("the worker stopped with a pass queued"),
        }
        waiter.join().unwrap().unwrap();
        assert_eq!(log.recovery_point(), 1);
        queue.stop();
        queue.join();
        log.close().unwrap();
    }

    /// A bug that panics inside a pass on a worker: the log is poisoned, a
    /// caller waiting for that pass returns the poisoning instead of
    /// waiting until close, and the worker survives to run the next queued
    /// log's pass. The test thread plays the pool's one worker.
    #[test]
    fn a_pass_that_panics_poisons_its_log_fails_its_waiter_and_the_worker_runs_the_next_pass() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            let (log, _) = Log::open(
                &dir.path().join(format!("{name}-0")),
                name,
                0,
                LogConfig::default(),
                Arc::new(SystemClock),
                LoadOptions::default(),
            )
            .unwrap();
            log.append(&[Record::new("k", "v")]).unwrap();
            log
        };
        let (log, next) = (open("t"), open("u"));
        let queue = Arc::new(FlushQueue::default());
        log.set_flush_hook(Some(queue.hook()));
        next.set_flush_hook(Some(queue.hook()));
        {
            let mut g = queue.queue.lock();
            g.workers = super::MAX_PARALLEL; // a full pool: a push starts no thread
            g.idle = 1;
        }
        let wait = |log: &Log| {
            let waiting = log.clone();
            let thread = std::thread::spawn(move || waiting.wait_synced(1));
            let deadline = Instant::now() + Duration::from_secs(60);
            while !queue.queue.lock().logs.iter().any(|l| l.same_log(log)) {
                assert!(Instant::now() < deadline, "the waiter never queued its pass");
                std::thread::sleep(Duration::from_millis(1));
            }
            thread
        };
        let waiter = wait(&log);
        let next_waiter = wait(&next); // queued behind the log whose pass panics
        let hook = crate::io::fault::on_point("log::flush::pass_after_view", || {
            panic!("a bug inside the pass");
        });
        queue.stop();
        queue.work(); // runs both queued passes, then returns: stopped and empty
        assert!(hook.ran());
        let cause = log.poisoned().expect("the log is poisoned");
        assert!(cause.contains("a bug inside the pass"), "{cause}");
        let err = waiter.join().unwrap().unwrap_err();
        assert!(matches!(err, crate::Error::Poisoned { .. }), "{err}");
        assert_eq!(log.recovery_point(), 0);
        next_waiter.join().unwrap().unwrap();
        assert_eq!(next.recovery_point(), 1, "the worker did not go on to the next pass");
        assert!(next.poisoned().is_none());
    }
}
