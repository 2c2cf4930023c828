//! An async tail: [`Log::tail`], a [`futures_core::Stream`] of records
//! (feature `stream`).
//!
//! It reads as [`Log::records_from`] does and, at the log end, waits with
//! [`Log::wait_for_async`]: the appender wakes it, so it needs no particular
//! runtime and no timer. It ends (`None`) once the log is closed — store
//! closed, topic deleted — or, on a read-only log, at its log end; and
//! after yielding any other error once (an
//! [`Error::Closed`](crate::Error::Closed) on the live log included), as
//! [`Log::records_from`] does.
//!
//! The reads themselves are the same as [`Log::read`]: fast when the data
//! is in the page cache, a blocking disk read when it is not. A service that
//! tails far behind the log end on a slow disk reads those steps from
//! `spawn_blocking` (or accepts the short stalls).

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::Log;
use super::records::RecordsFrom;
use super::tail::WaitFor;
use crate::Result;
use crate::format::RecordRef;

/// The stream returned by [`Log::tail`].
#[derive(Debug)]
pub struct Tail {
    reader: RecordsFrom,
    waiting: Option<WaitFor>,
}

impl Log {
    /// Every record at and after `offset`, then each new one as it is
    /// appended, as a [`Stream`]; see the [module docs](crate::log::stream).
    ///
    /// ```
    /// # use strata::{Record, Store, StoreConfig};
    /// use std::task::{Context, Poll, Waker};
    /// use futures_core::Stream;
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Store::open(StoreConfig::new([dir.path()]))?;
    /// # store.create_topic("t", 1, &Default::default())?;
    /// let log = store.partition("t", 0)?;
    /// let mut tail = Box::pin(log.tail(0));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(tail.as_mut().poll_next(&mut cx).is_pending());  // nothing yet: waits
    /// log.append(&[Record::new("k", "v")])?;
    /// let Poll::Ready(Some(Ok(r))) = tail.as_mut().poll_next(&mut cx) else { panic!() };
    /// assert_eq!(r.offset(), 0);
    /// store.close()?;                                           // the stream ends
    /// assert!(matches!(tail.as_mut().poll_next(&mut cx), Poll::Ready(None)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn tail(&self, offset: i64) -> Tail {
        Tail { reader: self.records_from(offset).follow(), waiting: None }
    }
}

impl Tail {
    /// The offset of the next record it yields.
    #[must_use]
    pub fn position(&self) -> i64 {
        self.reader.position()
    }
}

impl Stream for Tail {
    type Item = Result<RecordRef>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<RecordRef>>> {
        let this = self.get_mut();
        loop {
            if let Some(wait) = this.waiting.as_mut() {
                match Pin::new(wait).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(outcome) => {
                        this.waiting = None;
                        if let Err(e) = outcome {
                            return Poll::Ready(this.reader.end(e));
                        }
                    }
                }
            }
            if let Some(item) = this.reader.take_buffered() {
                return Poll::Ready(item);
            }
            match this.reader.fill() {
                Ok(true) => {}
                Ok(false) if !this.reader.waits_at_end() => {
                    this.reader.mark_done();
                    return Poll::Ready(None);
                }
                Ok(false) => {
                    this.waiting =
                        Some(this.reader.log().wait_for_async(this.reader.next_offset()));
                }
                Err(e) => return Poll::Ready(this.reader.end(e)),
            }
        }
    }
}
