//! Structured events for what an operator must know, through `tracing`
//! (feature `tracing`): recovery that cut data, segments deleted by
//! retention, cleaning passes, poisoned partitions, offline log
//! directories and slow fsyncs.
//!
//! Without the feature these functions are empty and inlined away; with it,
//! an event costs a relaxed atomic load when no subscriber listens.
//!
//! | target | level | fields |
//! |---|---|---|
//! | `strata::recovery` | WARN | `partition`, `cut` (file, position, bytes, why) |
//! | `strata::retention` | INFO | `partition`, `base_offset`, `bytes` |
//! | `strata::internals::cleaner` | INFO / WARN | `partition`, `bytes_read`, `bytes_written`, `records_removed` / `error` |
//! | `strata::poison` | ERROR | `partition`, `error` |
//! | `strata::internals::store` | ERROR | `log_dir`, `cause` (a directory gone offline) |
//! | `strata::internals::io` | WARN | `path`, `elapsed_ms` (an fsync slower than [`SLOW_FSYNC`]) |
//! | `strata::internals::format::crc` | WARN | `len`, `align` (where `crc-fast` disagreed with the `crc32c` crate; the crate then sums every CRC, once a process) |
//! | `strata::load` | DEBUG | `log_dir`, `loaded`, `total` (partitions of the directory loaded so far, at open: progress) |
//! | `strata::producer_state` | WARN | `partition`, `offset`, `bytes`, `limit` (a producer snapshot not written: past the longest one read back) |
//! | `strata::producer_state` | WARN | `path`, `why` (a producer snapshot refused at open and removed: damaged, cut or too long) |

#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use std::path::Path;
use std::time::Duration;

/// An fsync slower than this is reported.
pub const SLOW_FSYNC: Duration = Duration::from_secs(1);

/// Recovery cut `cut` from `partition`.
#[inline]
pub(crate) fn recovery_cut(partition: &str, cut: &dyn std::fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "strata::recovery", partition, cut = %cut, "recovery cut data");
}

/// Retention deleted the segment at `base_offset` of `partition`.
#[inline]
pub(crate) fn retention_deleted(partition: &str, base_offset: i64, bytes: u64) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "strata::retention", partition, base_offset, bytes, "segment deleted");
}

/// A cleaning pass over `partition` finished.
#[inline]
pub(crate) fn cleaned(partition: &str, bytes_read: u64, bytes_written: u64, records_removed: u64) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "strata::internals::cleaner",
        partition,
        bytes_read,
        bytes_written,
        records_removed,
        "cleaned"
    );
}

/// A cleaning pass over `partition` failed (it is retried).
#[inline]
pub(crate) fn cleaning_failed(partition: &str, error: &crate::Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "strata::internals::cleaner", partition, error = %error, "cleaning failed");
}

/// `partition` is poisoned by `error`: it takes no more writes.
#[inline]
pub(crate) fn poisoned(partition: &str, error: &crate::Error) {
    #[cfg(feature = "tracing")]
    tracing::error!(target: "strata::poison", partition, error = %error, "partition poisoned");
}

/// The producer snapshot of `partition` at `offset` was not written: it would
/// have been `bytes` long, past `limit`, the longest one an open reads back.
/// The next open starts from an older snapshot or replays the log.
#[inline]
pub(crate) fn snapshot_too_long(partition: &str, offset: i64, bytes: u64, limit: u64) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "strata::producer_state",
        partition,
        offset,
        bytes,
        limit,
        "producer snapshot not written: too long to be read back"
    );
}

/// The producer snapshot `path` was refused at open (`why`: damaged, cut,
/// too long) and removed; the state is rebuilt from an older snapshot or the
/// log.
#[inline]
pub(crate) fn snapshot_refused(path: &Path, why: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "strata::producer_state",
        path = %path.display(),
        why,
        "producer snapshot refused and removed"
    );
}

/// The log directory `dir` went offline.
#[inline]
pub(crate) fn dir_offline(dir: &Path, cause: &str) {
    #[cfg(feature = "tracing")]
    tracing::error!(target: "strata::internals::store", log_dir = %dir.display(), cause, "log directory offline");
}

/// An fsync of `path` took `elapsed`; reported past [`SLOW_FSYNC`].
#[inline]
pub(crate) fn fsync_took(path: &Path, elapsed: Duration) {
    #[cfg(feature = "tracing")]
    if elapsed >= SLOW_FSYNC {
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        tracing::warn!(target: "strata::internals::io", path = %path.display(), elapsed_ms, "slow fsync");
    }
}

/// `crc-fast` disagreed with the `crc32c` crate in the CRC self-test (on
/// `len` bytes starting at an address `align` past a 64-byte boundary): the
/// crate sums every CRC of this process. See `format::crc`.
#[inline]
pub(crate) fn crc_fallback(len: usize, align: usize) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "strata::internals::format::crc",
        len,
        align,
        "crc-fast disagreed with the crc32c crate; every CRC is summed with the crc32c crate"
    );
}

/// Opening the store: `loaded` of the `total` partitions of `dir` are loaded
/// (recovered where needed). For progress displays.
#[inline]
pub(crate) fn partition_loaded(dir: &Path, loaded: usize, total: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "strata::load", log_dir = %dir.display(), loaded, total, "partition loaded");
}
