//! Tailing readers: wait until an offset exists, blocking or as a future.
//!
//! A wait ends in one of three ways: the offset exists (`Ok`), the log was
//! closed — by [`Log::close`], a store close or a topic delete — or was
//! poisoned (`Err`): no append can come after either, so waiting on would
//! hang forever. A closed log's handles refuse all work, so its waits end
//! with [`Error::Closed`](crate::Error::Closed) even for offsets it holds.
//!
//! # Waker bookkeeping
//! Each pending [`WaitFor`] owns at most one slot in the notifier, keyed by an
//! id it draws at its first pending poll: a later poll replaces the waker in
//! place, resolving or dropping the future frees the slot. So the slots held
//! equal the futures pending, however often an idle partition is polled.
//!
//! # No waiter, no notifier
//! An append with nobody waiting does not touch the notifier (its lock and
//! waker map: cache lines an append on a store whose appends go round-robin
//! over many partitions would miss). The view counts the waiters: a waiter
//! counts itself in under the view's lock before it looks at the log end
//! offset, and the appender reads the count under the same lock as it
//! publishes the new end offset; so either the appender sees the waiter and
//! wakes it, or the waiter sees the new end offset.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Log;
use crate::Result;

#[derive(Debug, Default)]
struct State {
    /// Set once, by [`Notifier::close_all`]; never cleared.
    closed: bool,
    next_id: u64,
    wakers: HashMap<u64, Waker>,
}

/// Wakes blocked and async waiters after every append, at poison and at close.
#[derive(Debug, Default)]
pub(super) struct Notifier {
    state: Mutex<State>,
    cond: Condvar,
}

impl Notifier {
    /// Wakes every waiter to look at the log again.
    pub(super) fn notify(&self) {
        // Woken outside the lock: a waker may poll its future inline.
        let wakers: Vec<Waker> = self.state.lock().wakers.values().cloned().collect();
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Ends every wait, present and future, with [`Error::Closed`](crate::Error::Closed). Called
    /// where the log becomes closed; idempotent.
    pub(super) fn close_all(&self) {
        self.state.lock().closed = true;
        self.notify();
    }

    fn is_closed(&self) -> bool {
        self.state.lock().closed
    }
}

impl Log {
    /// Counts a waiter in, before it looks at the log (see the module docs).
    fn enter_wait(&self) {
        let mut v = self.inner.view.write();
        v.waiters = v.waiters.saturating_add(1);
    }

    /// Counts a waiter out.
    fn leave_wait(&self) {
        let mut v = self.inner.view.write();
        v.waiters = v.waiters.saturating_sub(1);
    }

    /// Whether a wait for `offset` is over: the offset exists, or it never
    /// will. A closed log answers nothing else (its handles refuse all work);
    /// a poisoned one still serves what it has.
    fn wait_outcome(&self, offset: i64, closed: bool) -> Option<Result<i64>> {
        if closed {
            return Some(Err(self.closed_error()));
        }
        let leo = self.log_end_offset();
        if leo > offset {
            return Some(Ok(leo));
        }
        self.check_poison().err().map(Err)
    }

    /// Blocks until the log end offset passes `offset` (a record at `offset`
    /// exists) or `timeout` elapses. Returns whether it exists. A timeout
    /// too long to add to the clock (`Duration::MAX`) waits without one.
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed) once the log is closed (store closed, topic
    /// deleted), and [`Error::Poisoned`](crate::Error::Poisoned) once it is poisoned while the
    /// offset does not exist: no append can bring it any more.
    pub fn wait_for(&self, offset: i64, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now().checked_add(timeout);
        let n = &self.inner.tail;
        let mut state = n.state.lock();
        self.enter_wait();
        let outcome = self.wait_locked(offset, deadline, &mut state);
        self.leave_wait();
        outcome
    }

    /// [`wait_for`](Self::wait_for) once counted in, under the notifier's lock.
    fn wait_locked(
        &self,
        offset: i64,
        deadline: Option<Instant>,
        state: &mut parking_lot::MutexGuard<'_, State>,
    ) -> Result<bool> {
        let n = &self.inner.tail;
        loop {
            if let Some(outcome) = self.wait_outcome(offset, state.closed) {
                return outcome.map(|_| true);
            }
            let Some(deadline) = deadline else {
                n.cond.wait(state);
                continue;
            };
            if n.cond.wait_until(state, deadline).timed_out() {
                return match self.wait_outcome(offset, state.closed) {
                    Some(outcome) => outcome.map(|_| true),
                    None => Ok(false),
                };
            }
        }
    }

    /// A future that resolves once a record at `offset` exists, to the log end
    /// offset, or to an error as [`wait_for`](Self::wait_for) does. Needs no
    /// particular async runtime: the appender wakes it.
    #[must_use]
    pub fn wait_for_async(&self, offset: i64) -> WaitFor {
        WaitFor { log: self.clone(), offset, slot: None }
    }

    /// Waiters counted on this log: each thread inside
    /// [`wait_for`](Self::wait_for) and each pending [`WaitFor`] that has been
    /// polled. A thread counted here is blocked, or about to block, on the
    /// log's notifier: an append, a poisoning or a close from then on wakes it.
    #[must_use]
    pub fn waiters(&self) -> usize {
        self.inner.view.read().waiters
    }

    /// Async waiters registered on this log: one per pending [`WaitFor`] that
    /// has been polled.
    #[must_use]
    pub fn registered_wakers(&self) -> usize {
        self.inner.tail.state.lock().wakers.len()
    }
}

/// Future returned by [`Log::wait_for_async`].
#[derive(Debug)]
pub struct WaitFor {
    log: Log,
    offset: i64,
    /// This future's waker slot in the notifier, once it has been pending.
    slot: Option<u64>,
}

impl WaitFor {
    fn release(&mut self) {
        if let Some(id) = self.slot.take() {
            let removed = self.log.inner.tail.state.lock().wakers.remove(&id).is_some();
            if removed {
                self.log.leave_wait();
            }
        }
    }
}

impl Future for WaitFor {
    type Output = Result<i64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<i64>> {
        let this = self.get_mut();
        let closed = this.log.inner.tail.is_closed();
        if let Some(outcome) = this.log.wait_outcome(this.offset, closed) {
            this.release();
            return Poll::Ready(outcome);
        }
        let closed = {
            let mut state = this.log.inner.tail.state.lock();
            let id = *this.slot.get_or_insert_with(|| {
                state.next_id += 1;
                state.next_id
            });
            match state.wakers.get_mut(&id) {
                Some(w) => w.clone_from(cx.waker()),
                None => {
                    state.wakers.insert(id, cx.waker().clone());
                    this.log.enter_wait();
                }
            }
            state.closed
        };
        // Re-check after registering so an append or close in between is not missed.
        match this.log.wait_outcome(this.offset, closed) {
            Some(outcome) => {
                this.release();
                Poll::Ready(outcome)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for WaitFor {
    fn drop(&mut self) {
        self.release();
    }
}
