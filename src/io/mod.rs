//! The I/O gate: every file operation of the crate, and every `unsafe` block.
//!
//! Nothing outside this module touches `std::fs` or maps a file. Keeping all
//! file operations behind one narrow gate lets tests fail any of them on
//! purpose ([`fault`]): the Nth write, every fsync, or a named step of a
//! crash protocol. Keeping every `unsafe` block here (in [`mmap`], `sys` and [`hint`], each
//! with `#[expect(unsafe_code, reason = ...)]` and a `// SAFETY:` paragraph)
//! keeps the memory-map contract written down in one place.
//!
//! - [`file`](mod@file): open, read, write, sync, rename, remove, list, atomic rewrite;
//! - [`mmap`]: [`ReadMap`] (zero-copy views of `.log` files) and [`IndexMap`]
//!   (writable maps of index files), with the mmap contract;
//! - [`populate`]: a map's page-table entries set up ahead of a reader, on a
//!   helper thread where a core is free (recovery's scan);
//! - [`ahead`]: the same for readers of large fetches (consumers, scans), on
//!   one background worker for the process;
//! - [`identity`]: `(device, inode)` checks, so a reopen by name never gets another file;
//! - [`lock`]: [`DirLock`], one owner per log directory;
//! - [`fault`]: fault injection and an observer of completed operations
//!   (traces for power-cut tests), for tests, free when off;
//! - `sys`: the system calls std lacks (`fallocate`, `statvfs`, `getrlimit`),
//!   and `clock_gettime` read without std's conversions;
//! - [`hint`]: a CPU prefetch hint (the cleaner's key map).

pub mod ahead;
pub mod fault;
pub mod file;
pub mod hint;
pub mod identity;
pub mod lock;
pub mod mmap;
pub mod populate;
mod sys;

pub use lock::DirLock;

/// The process's soft limit on open files (`RLIMIT_NOFILE`), or `None` when
/// unlimited or unknown: what the default open-segment budget is sized from.
#[must_use]
pub fn open_file_limit() -> Option<u64> {
    sys::open_file_limit()
}

/// The wall clock in milliseconds since the Unix epoch, 0 before it: what
/// [`SystemClock`](crate::SystemClock) reads.
pub(crate) fn realtime_ms() -> i64 {
    sys::realtime_ms()
}
pub use mmap::{IndexMap, MapView, ReadMap};
