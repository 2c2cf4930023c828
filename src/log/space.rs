//! The free-space watermark (`strata.log.dir.min.free.bytes`): appends are
//! refused with a retriable [`Error::NoSpace`] before the disk is full, while
//! retention, compaction and DeleteRecords (which free space) keep running.
//!
//! Asking the file system for every append would cost a system call each, so
//! the answer is reused until a second has passed or the bytes appended since
//! could have used up the margin above the watermark it showed. The answer and
//! the bytes counted since belong to the file system, not to one log: a
//! store's logs of one log directory share them ([`FreeSpace`]), so the
//! margin is taken once by all of them together, not once by each.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::Log;
use crate::io::file;
use crate::{Error, Result};

/// How long a free-space answer is trusted, ms.
const RECHECK_MS: i64 = 1000;

#[derive(Debug, Default)]
pub(super) struct Space {
    /// This log's own until the store hands it its directory's.
    shared: Mutex<Arc<FreeSpace>>,
}

/// What the logs of one file system know of its free space: the watermark,
/// the file system's last answer and the bytes appended since by any of
/// them. A store keeps one per log directory.
#[derive(Debug, Default)]
pub(crate) struct FreeSpace {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The watermark in bytes; 0 turns the check off.
    min_free: u64,
    /// When the file system was last asked (`None`: never), and what it said.
    checked_ms: Option<i64>,
    free: u64,
    /// Bytes appended since.
    appended: u64,
}

impl Log {
    /// Sets the free-space watermark: appends that would leave less than
    /// `bytes` free on this log's file system fail with [`Error::NoSpace`].
    /// 0 (the default) turns the check off. The store sets it from
    /// `strata.log.dir.min.free.bytes`.
    pub fn set_min_free_bytes(&self, bytes: u64) {
        let shared = Arc::clone(&self.inner.space.shared.lock());
        let mut s = shared.state.lock();
        s.min_free = bytes;
        s.checked_ms = None;
        self.inner.watermark.store(bytes > 0, Ordering::Relaxed);
    }

    /// Sets the watermark as [`Log::set_min_free_bytes`] does, counted in
    /// `shared`, which the other logs of this log's directory count in too.
    pub(crate) fn share_free_space(&self, shared: &Arc<FreeSpace>, bytes: u64) {
        *self.inner.space.shared.lock() = Arc::clone(shared);
        self.set_min_free_bytes(bytes);
    }

    /// Refuses an append of `size` bytes that would go below the watermark.
    pub(super) fn check_free_space(&self, size: u64) -> Result<()> {
        if !self.inner.watermark.load(Ordering::Relaxed) {
            return Ok(());
        }
        let shared = Arc::clone(&self.inner.space.shared.lock());
        let mut s = shared.state.lock();
        if s.min_free == 0 {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let margin = s.free.saturating_sub(s.min_free);
        let stale = s.checked_ms.is_none_or(|at| now.saturating_sub(at) >= RECHECK_MS);
        if stale || s.appended.saturating_add(size) >= margin {
            s.free = file::free_space(&self.inner.dir)?;
            s.checked_ms = Some(now);
            s.appended = 0;
        }
        let left = s.free.saturating_sub(s.appended).saturating_sub(size);
        if left < s.min_free {
            return Err(Error::NoSpace {
                path: self.inner.dir.clone(),
                reason: format!(
                    "an append of {size} bytes would leave {left} bytes free, below \
                     strata.log.dir.min.free.bytes = {}",
                    s.min_free
                ),
            });
        }
        s.appended = s.appended.saturating_add(size);
        Ok(())
    }
}
