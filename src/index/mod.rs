//! Kafka's offset index (`.index`) and time index (`.timeindex`), byte for
//! byte.
//!
//! Both are arrays of fixed-size big-endian entries with no header, no count
//! and no checksum. Offsets are stored relative to the segment's base offset
//! (`offset - base_offset`, an int32 in `[0, i32::MAX]`).
//!
//! Offset index entry ([`OffsetIndex`], Kafka's `OffsetIndex`), 8 bytes:
//!
//! | offset | width | field          | meaning                                       |
//! |-------:|------:|----------------|-----------------------------------------------|
//! |      0 |     4 | relativeOffset | int32 BE: last offset of the batch, minus base |
//! |      4 |     4 | position       | int32 BE: byte position of the batch in `.log` |
//!
//! Time index entry ([`TimeIndex`], Kafka's `TimeIndex`), 12 bytes:
//!
//! | offset | width | field          | meaning                                          |
//! |-------:|------:|----------------|--------------------------------------------------|
//! |      0 |     8 | timestamp      | int64 BE: max timestamp so far, in ms            |
//! |      8 |     4 | relativeOffset | int32 BE: offset (minus base) where it was reached |
//!
//! The byte offsets are derived field by field in [`offset_index`] and
//! [`time_index`].
//!
//! Life cycle (Kafka's `AbstractIndex` and `LazyIndex`):
//! - a new index file is preallocated to `max_index_size` rounded down to
//!   whole entries (`segment.index.bytes`, 10 MiB by default) and entries are
//!   written through a shared writable map; the file is sparse and gets disk
//!   blocks in steps just ahead of its entries (one page when new), so a
//!   partition's indexes cost disk for what they hold;
//! - an existing file is opened lazily: nothing is read or mapped until first
//!   use, and [`OffsetIndex::release`] unmaps a sealed index until next use;
//! - its entries are the slots up to the first all-zero one (the tail of a
//!   preallocated file that was never trimmed);
//! - the segment trims the file to its entries on roll and close
//!   ([`OffsetIndex::trim_to_valid_size`]) and resizes the active segment's
//!   indexes back to `max_index_size` on load ([`OffsetIndex::resize`]).
//!
//! Both types are `Send + Sync`: a reader can `lookup` while the appender
//! appends (one `RwLock` each; readers copy entries out of the map).

pub(crate) mod cadence;
mod check;
mod common;
mod handle;
mod lazy;
pub mod offset_index;
pub(crate) mod search;
pub mod time_index;

pub use common::{Entry, relative_offset};
pub use handle::Index;
pub use offset_index::{OffsetIndex, OffsetPosition};
pub use time_index::{TimeIndex, TimestampOffset};
