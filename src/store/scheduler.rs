//! The store's background threads: `log.cleaner.threads` cleaner threads
//! (see [`crate::cleaner`]) and one maintenance thread running retention every
//! `log.retention.check.interval.ms` (after `log.initial.task.delay.ms`), the
//! `flush.ms` check and removal of expired `.deleted` files every second (or
//! every `log.flush.scheduler.interval.ms` if shorter), the checkpoints
//! every `log.flush.offset.checkpoint.interval.ms`, and the expiry of idle
//! producers every `producer.id.expiration.check.interval.ms` (retention
//! expires them too), and the expiry of committed offsets every
//! `offsets.retention.check.interval.ms`; and the flusher pool
//! ([`super::flusher`]), whose workers sync what rolls and `flush.ms` ask for.
//!
//! The thread holds only a weak reference to the store, wakes at once when the
//! store closes, and records failures instead of dying: an embedder reads them
//! with [`Store::background_errors`]. A task that panics (a bug, or the
//! embedder's clock) is recorded as its failure and the thread goes on, as
//! Kafka's scheduler logs a task's uncaught exception and runs it again at
//! its next period (`KafkaScheduler`). Turn it off with
//! `StoreConfig::background_threads(false)` and call [`Store::maintain`].

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{Store, StoreInner};

const MAX_ERRORS: usize = 100;

#[derive(Debug, Default)]
pub(super) struct Stop {
    stopped: Mutex<bool>,
    cond: Condvar,
}

/// Handle of the running threads.
#[derive(Debug)]
pub(super) struct Scheduler {
    stop: Arc<Stop>,
    flush_queue: Arc<super::flusher::FlushQueue>,
    handles: Vec<JoinHandle<()>>,
}

/// Sleeps until `deadline` or until stopped; returns whether stopped.
fn sleep_until(stop: &Stop, deadline: Instant) -> bool {
    let mut stopped = stop.stopped.lock();
    while !*stopped && Instant::now() < deadline {
        stop.cond.wait_until(&mut stopped, deadline);
    }
    *stopped
}

/// A cleaner thread: cleans the dirtiest partition, or sleeps `log.cleaner.backoff.ms`.
fn cleaner_loop(weak: &Weak<StoreInner>, stop: &Stop, backoff: Duration) {
    let mut map = None;
    loop {
        if *stop.stopped.lock() {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        let store = Store { inner };
        let map = map.get_or_insert_with(|| store.inner.cleaner.new_map());
        let cleaned = std::panic::catch_unwind(AssertUnwindSafe(|| store.clean_filthiest(map)))
            .unwrap_or_else(|panic| {
                store.record(BackgroundTask::Cleaner, Err(panicked(&store, "clean", &*panic)));
                false
            });
        drop(store);
        if !cleaned && sleep_until(stop, Instant::now() + backoff) {
            return;
        }
    }
}

/// Runs one background task and records its failure; a panic is recorded
/// as its failure (see the module docs), so the thread lives on.
fn guarded(
    store: &Store,
    task: BackgroundTask,
    op: &'static str,
    f: impl FnOnce() -> crate::Result<()>,
) {
    let result = std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(panicked(store, op, &*panic)));
    store.record(task, result);
}

/// The error a background task's panic is recorded as: `op` failed in the
/// first log directory, with the panic's message.
fn panicked(store: &Store, op: &'static str, panic: &(dyn std::any::Any + Send)) -> crate::Error {
    let text = super::flusher::panic_text(panic);
    let dir = store.log_dirs().into_iter().next().unwrap_or_default();
    crate::Error::io(op, dir, std::io::Error::other(format!("the task panicked: {text}")))
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.clamp(1, i64::from(u32::MAX)).unsigned_abs())
}

impl Scheduler {
    pub(super) fn start(store: &Store) -> std::io::Result<Scheduler> {
        let stop = Arc::new(Stop::default());
        let weak: Weak<StoreInner> = Arc::downgrade(&store.inner);
        let cfg = &store.inner.config;
        let retention_every = ms(cfg.log_retention_check_interval_ms);
        let flush_every = ms(cfg.log_flush_scheduler_interval_ms).min(Duration::from_secs(1));
        // None: both checkpoint intervals are 0, so the checkpoints are written once, after the
        // initial delay, and then at close (Kafka's `KafkaScheduler.schedule` repeats a task only
        // for a period above 0). It was a loop every millisecond over every partition.
        let checkpoint_every = [
            cfg.log_flush_offset_checkpoint_interval_ms,
            cfg.log_flush_start_offset_checkpoint_interval_ms,
        ]
        .into_iter()
        .filter(|&v| v > 0)
        .map(ms)
        .min();
        // Kafka's periodic producer-expiration task: its first run one interval in.
        let expire_every = ms(cfg.producer_id_expiration_check_interval_ms);
        // Kafka's coordinator schedules its offsets expiry one interval after it loads.
        let offsets_every = ms(cfg.offsets_retention_check_interval_ms);
        let initial = ms(cfg.log_initial_task_delay_ms);
        let thread_stop = Arc::clone(&stop);
        let handle =
            std::thread::Builder::new().name("strata-maintenance".into()).spawn(move || {
                let start = Instant::now();
                let mut next_retention = start + initial;
                let mut next_flush = start + flush_every;
                let mut next_expiry = start + expire_every;
                let mut next_offsets = start + offsets_every;
                let mut next_checkpoint = Some(start + checkpoint_every.unwrap_or(initial));
                loop {
                    let mut wake =
                        next_retention.min(next_flush).min(next_expiry).min(next_offsets);
                    if let Some(at) = next_checkpoint {
                        wake = wake.min(at);
                    }
                    if sleep_until(&thread_stop, wake) {
                        return;
                    }
                    let Some(inner) = weak.upgrade() else { return };
                    let store = Store { inner };
                    let now = Instant::now();
                    if now >= next_retention {
                        guarded(&store, BackgroundTask::Retention, "retention", || {
                            store.retention_all().map(drop)
                        });
                        next_retention = now + retention_every;
                    }
                    if now >= next_flush {
                        guarded(&store, BackgroundTask::Flush, "flush", || store.flush_due_all());
                        next_flush = now + flush_every;
                    }
                    if now >= next_expiry {
                        guarded(&store, BackgroundTask::Retention, "expire producers", || {
                            store.expire_producers_all();
                            Ok(())
                        });
                        next_expiry = now + expire_every;
                    }
                    if now >= next_offsets {
                        guarded(&store, BackgroundTask::OffsetExpiry, "expire offsets", || {
                            store.expire_committed_offsets().map(drop)
                        });
                        next_offsets = now + offsets_every;
                    }
                    if next_checkpoint.is_some_and(|at| now >= at) {
                        guarded(&store, BackgroundTask::Checkpoints, "write checkpoints", || {
                            store.write_checkpoints()
                        });
                        next_checkpoint = checkpoint_every.map(|every| now + every);
                    }
                }
            })?;
        let flush_queue = Arc::clone(&store.inner.flush_queue);
        super::flusher::start(&flush_queue, Arc::downgrade(&store.inner));
        let mut handles = vec![handle];
        if cfg.log_cleaner_enable {
            let backoff = ms(cfg.log_cleaner_backoff_ms);
            for n in 0..cfg.log_cleaner_threads {
                let weak = Arc::downgrade(&store.inner);
                let stop = Arc::clone(&stop);
                let h = std::thread::Builder::new()
                    .name(format!("strata-cleaner-{n}"))
                    .spawn(move || cleaner_loop(&weak, &stop, backoff))?;
                handles.push(h);
            }
        }
        Ok(Scheduler { stop, flush_queue, handles })
    }

    /// Stops the threads and waits for them.
    pub(super) fn shutdown(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.cond.notify_all();
        self.flush_queue.stop();
        self.flush_queue.join();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.cond.notify_all();
        self.flush_queue.stop();
    }
}

/// The background work that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackgroundTask {
    /// Time, size and log-start-offset retention, and the expiry of idle producers.
    Retention,
    /// The `flush.ms` / `flush.messages` policy and the flusher's sync passes.
    Flush,
    /// Writing the recovery-point, log-start and cleaner checkpoints.
    Checkpoints,
    /// A cleaning pass.
    Cleaner,
    /// Finishing a topic deletion (its directories).
    TopicDeletion,
    /// Expiring committed offsets past `offsets.retention.minutes`.
    OffsetExpiry,
}

impl std::fmt::Display for BackgroundTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackgroundTask::Retention => "retention",
            BackgroundTask::Flush => "flush",
            BackgroundTask::Checkpoints => "checkpoints",
            BackgroundTask::Cleaner => "cleaner",
            BackgroundTask::TopicDeletion => "topic deletion",
            BackgroundTask::OffsetExpiry => "offset expiry",
        })
    }
}

/// One failure of background work: what ran, when, and the error.
#[derive(Debug, Clone)]
pub struct BackgroundError {
    /// The work that failed.
    pub task: BackgroundTask,
    /// When, in ms since the epoch (the store's clock).
    pub at_ms: i64,
    /// The error (shared: the list is handed out by copy).
    pub error: Arc<crate::Error>,
}

impl std::fmt::Display for BackgroundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.task, self.error)
    }
}

impl Store {
    pub(super) fn record(&self, task: BackgroundTask, r: crate::Result<()>) {
        if let Err(e) = r {
            let at_ms = self.inner.clock.now_ms();
            let mut errors = self.inner.background_errors.lock();
            if errors.len() >= MAX_ERRORS {
                errors.remove(0);
            }
            errors.push(BackgroundError { task, at_ms, error: Arc::new(e) });
        }
    }

    /// Failures of background work since the store opened (the last 100),
    /// oldest first.
    #[must_use]
    pub fn background_errors(&self) -> Vec<BackgroundError> {
        self.inner.background_errors.lock().clone()
    }
}
