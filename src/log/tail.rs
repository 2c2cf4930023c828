//! Tailing readers: wait until an offset exists, blocking or as a future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Log;

/// Wakes blocked and async waiters after every append and at close.
#[derive(Debug, Default)]
pub(super) struct Notifier {
    generation: Mutex<u64>,
    cond: Condvar,
    wakers: Mutex<Vec<Waker>>,
}

impl Notifier {
    pub(super) fn notify(&self) {
        *self.generation.lock() += 1;
        self.cond.notify_all();
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for w in wakers {
            w.wake();
        }
    }
}

impl Log {
    /// Blocks until the log end offset passes `offset` (a record at `offset`
    /// exists) or `timeout` elapses. Returns whether it exists.
    pub fn wait_for(&self, offset: i64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let n = &self.inner.tail;
        let mut generation = n.generation.lock();
        loop {
            if self.log_end_offset() > offset {
                return true;
            }
            if n.cond.wait_until(&mut generation, deadline).timed_out() {
                return self.log_end_offset() > offset;
            }
        }
    }

    /// A future that resolves once a record at `offset` exists. Needs no
    /// particular async runtime: the appender wakes it.
    #[must_use]
    pub fn wait_for_async(&self, offset: i64) -> WaitFor {
        WaitFor { log: self.clone(), offset }
    }
}

/// Future returned by [`Log::wait_for_async`]; resolves to the log end offset.
#[derive(Debug)]
pub struct WaitFor {
    log: Log,
    offset: i64,
}

impl Future for WaitFor {
    type Output = i64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<i64> {
        let leo = self.log.log_end_offset();
        if leo > self.offset {
            return Poll::Ready(leo);
        }
        self.log.inner.tail.wakers.lock().push(cx.waker().clone());
        // Re-check after registering so an append in between is not missed.
        let leo = self.log.log_end_offset();
        if leo > self.offset { Poll::Ready(leo) } else { Poll::Pending }
    }
}
