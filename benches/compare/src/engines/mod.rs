//! One adapter per engine, all behind [`Engine`]. Each adapter uses the
//! engine's own recommended fast path and its defaults unless noted.

use std::path::Path;

use anyhow::Result;

use crate::workload::Workload;

pub mod commitlog;
pub mod fjall;
pub mod raw;
pub mod sqlite;
pub mod strata;

/// A log under test: appends batches of records at increasing offsets
/// (0, 1, 2, ...) and reads them back by offset.
pub trait Engine {
    /// Appends batch `b` of the workload (records `b * 100 .. (b + 1) * 100`).
    fn append(&mut self, w: &Workload, b: usize) -> Result<()>;
    /// Makes everything appended so far durable (fsync or equivalent).
    fn sync(&mut self) -> Result<()>;
    /// Appends batch `b` and makes it and everything before it durable.
    fn append_durable(&mut self, w: &Workload, b: usize) -> Result<()> {
        self.append(w, b)?;
        self.sync()
    }
    /// Reads every record in offset order; returns (records, sum of each value's first byte).
    fn scan(&mut self) -> Result<(u64, u64)>;
    /// The first value byte of the record at `offset`.
    fn get(&mut self, offset: u64) -> Result<u8>;
    /// Time to encode every batch the way `append` does, without appending:
    /// how much of the append is the record format. `None` where encoding
    /// cannot be separated from the write.
    fn encode_only(&mut self, _w: &Workload) -> Option<Result<std::time::Duration>> {
        None
    }
    /// A scan that also verifies the engine's checksums where its default
    /// scan does not; `None` when the default scan already does (or has none).
    fn scan_checked(&mut self) -> Option<Result<(u64, u64)>> {
        None
    }
    /// Closes cleanly, so that the directory can be reopened.
    fn close(self: Box<Self>) -> Result<()>;
}

/// What `Engine::sync` really does, for the report.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// An fsync/fdatasync of the data.
    Fsync,
    /// `sync` returns but does not fsync the data; the number is shown with a mark.
    NotDurable,
    /// Nothing to sync (memory).
    None,
}

pub type OpenFn = fn(dir: &Path, reopen: bool) -> Result<Box<dyn Engine>>;

pub struct Spec {
    pub name: &'static str,
    pub open: OpenFn,
    pub durability: Durability,
    /// Lives in files, so a cold (page-cache-dropped) read means something.
    pub on_disk: bool,
}

pub fn all() -> Vec<Spec> {
    vec![
        Spec { name: "strata", open: strata::open, durability: Durability::Fsync, on_disk: true },
        Spec {
            name: "commitlog 0.2",
            open: commitlog::open,
            durability: Durability::NotDurable,
            on_disk: true,
        },
        Spec { name: "fjall 3", open: fjall::open, durability: Durability::Fsync, on_disk: true },
        Spec {
            name: "SQLite (rusqlite 0.41, bundled)",
            open: sqlite::open,
            durability: Durability::Fsync,
            on_disk: true,
        },
        Spec {
            name: "raw file (ceiling)",
            open: raw::open_file,
            durability: Durability::Fsync,
            on_disk: true,
        },
        Spec {
            name: "memory copy (ceiling)",
            open: raw::open_memory,
            durability: Durability::None,
            on_disk: false,
        },
    ]
}
