//! Consecutive reads as an iterator: [`Log::records_from`].
//!
//! Each step reads up to [`RecordsFrom::fetch_bytes`] of whole batches at the
//! next offset (a [`Log::read`]) and hands out their records one by one,
//! CRC-checked, as [`super::Fetched::records`] does: transaction markers
//! (control batches) are skipped, as a Kafka consumer skips them. The
//! iterator ends:
//! - at the log end, for [`Log::records_from`] (what exists now);
//! - never while the log lives, for [`RecordsFrom::follow`]: at the log end
//!   it blocks until the next record is appended (a read-only log, which
//!   nothing appends to, ends there);
//! - cleanly (`None`) once the log is closed: by [`Log::close`], a store
//!   close or the topic's deletion. Another error (a corrupt batch, a poisoned
//!   log with nothing more to serve, an offset retention has deleted, an
//!   [`Error::Closed`] on the live log: a segment file no longer the one
//!   its handle opened) is yielded once, and then the iterator ends.
//!
//! Records below the log start offset are gone: an iterator that falls
//! behind retention yields [`Error::OffsetOutOfRange`].

use std::collections::VecDeque;
use std::time::Duration;

use super::Log;
use crate::format::RecordRef;
use crate::{Error, Result};

/// Default bytes read per step (Kafka's `max.partition.fetch.bytes`, 1 MiB).
pub const DEFAULT_FETCH_BYTES: usize = 1 << 20;

/// How long one blocking wait of a following iterator lasts before it looks
/// at the log again (a close ends the wait at once; this only bounds it).
const FOLLOW_WAIT: Duration = Duration::from_secs(1);

/// Iterator over a partition's records from an offset: [`Log::records_from`].
#[derive(Debug)]
pub struct RecordsFrom {
    log: Log,
    next: i64,
    fetch_bytes: usize,
    follow: bool,
    buffered: VecDeque<RecordRef>,
    /// An error met after the buffered records: handed out after them.
    failed: Option<Error>,
    done: bool,
}

impl Log {
    /// The records at and after `offset` that exist now, read in steps of
    /// [`DEFAULT_FETCH_BYTES`]. Blocks on a read that finds its segment
    /// closed by the open-segment budget (it reopens the file) or cold in
    /// the page cache; call it from `spawn_blocking` in async code, or use
    /// the async `Log::tail` (feature `stream`).
    ///
    /// ```
    /// # use strata::{Record, Store, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Store::open(StoreConfig::new([dir.path()]))?;
    /// # store.create_topic("t", 1, &Default::default())?;
    /// let log = store.partition("t", 0)?;
    /// log.append(&[Record::new("k", "a"), Record::new("k", "b")])?;
    /// let values: Vec<_> = log
    ///     .records_from(0)
    ///     .map(|r| r.map(|r| r.value().cloned()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(values, [Some("a".into()), Some("b".into())]);
    /// # store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn records_from(&self, offset: i64) -> RecordsFrom {
        RecordsFrom {
            log: self.clone(),
            next: offset,
            fetch_bytes: DEFAULT_FETCH_BYTES,
            follow: false,
            buffered: VecDeque::new(),
            failed: None,
            done: false,
        }
    }
}

impl RecordsFrom {
    /// Bytes read per step (at least one whole batch is read however small).
    #[must_use]
    pub fn fetch_bytes(mut self, bytes: usize) -> Self {
        self.fetch_bytes = bytes.max(1);
        self
    }

    /// Keep going at the log end: block until more records are appended,
    /// and end only when the log is closed (store closed, topic deleted). A
    /// read-only log (nothing appends to it) ends at its log end, as without
    /// `follow`.
    #[must_use]
    pub fn follow(mut self) -> Self {
        self.follow = true;
        self
    }

    /// The offset the next read starts at.
    #[must_use]
    pub fn position(&self) -> i64 {
        self.buffered.front().map_or(self.next, RecordRef::offset)
    }

    /// Whether the log end is a wait, not the end: following, on a log that
    /// can grow. A read-only log's waits end at once with
    /// [`Error::Closed`] (nothing appends to it), which on that open,
    /// readable log is no error: following it ends at its log end, quietly.
    pub(super) fn waits_at_end(&self) -> bool {
        self.follow && !self.log.is_read_only()
    }

    /// One read at `next` into the buffer. `Ok(false)` at the log end. A
    /// record that fails to decode is kept in `failed`, after the good ones.
    pub(super) fn fill(&mut self) -> Result<bool> {
        let fetched = self.log.read(self.next, self.fetch_bytes)?;
        for r in fetched.records() {
            match r {
                Ok(r) => self.buffered.push_back(r),
                Err(e) => {
                    self.failed = Some(e);
                    return Ok(true);
                }
            }
        }
        let advanced = fetched.next_offset() > self.next;
        if advanced {
            self.next = fetched.next_offset();
        } else if fetched.is_empty() && fetched.log_end_offset() > self.next {
            // No batch between here and the log end (a compacted-away end of
            // a segment before an empty active one): nothing can be appended
            // below the log end, so the next record is at or past it, as
            // Kafka's `LocalLog.read` answers with the log end. Waiting at
            // `next` would end at once, round and round.
            self.next = fetched.log_end_offset();
        }
        Ok(advanced)
    }

    /// The next buffered record, or the error met after the buffered ones.
    pub(super) fn take_buffered(&mut self) -> Option<Option<Result<RecordRef>>> {
        if let Some(r) = self.buffered.pop_front() {
            return Some(Some(Ok(r)));
        }
        if let Some(e) = self.failed.take() {
            return Some(self.end(e));
        }
        if self.done { Some(None) } else { None }
    }

    /// Ends the iteration on `e`: quietly when the log itself is closed, with
    /// `e` otherwise. A `Closed` does not say which: a segment's file or
    /// index answers it too on a live log (a reopen finding another file
    /// under the segment's name), and the records past it exist, so ending
    /// quietly there would be a silent early end. The log's flag is set
    /// before its segments close (`Log::shut`): a `Closed` a close caused is
    /// seen with the flag set.
    pub(super) fn end(&mut self, e: Error) -> Option<Result<RecordRef>> {
        self.done = true;
        match e {
            Error::Closed { .. } if self.log.is_closed() => None,
            e => Some(Err(e)),
        }
    }
}

/// What the async tail ([`super::stream`]) drives.
#[cfg(feature = "stream")]
impl RecordsFrom {
    pub(super) fn next_offset(&self) -> i64 {
        self.next
    }

    pub(super) fn log(&self) -> &Log {
        &self.log
    }

    pub(super) fn mark_done(&mut self) {
        self.done = true;
    }
}

impl Iterator for RecordsFrom {
    type Item = Result<RecordRef>;

    fn next(&mut self) -> Option<Result<RecordRef>> {
        loop {
            if let Some(item) = self.take_buffered() {
                return item;
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) if !self.waits_at_end() => {
                    self.done = true;
                    return None;
                }
                Ok(false) => {
                    if let Err(e) = self.log.wait_for(self.next, FOLLOW_WAIT) {
                        return self.end(e);
                    }
                }
                Err(e) => return self.end(e),
            }
        }
    }
}
