//! One adapter per engine, all behind [`Engine`]. Each adapter uses the
//! engine's own recommended fast path and its defaults unless noted.

use std::path::Path;

use anyhow::Result;

use crate::workload::Workload;

pub mod commitlog;
pub mod fjall;
pub mod krabka;
pub mod raw;
pub mod sqlite;
pub mod strata;

/// A log under test: appends batches of records at increasing offsets
/// (0, 1, 2, ...) and reads them back by offset.
pub trait Engine {
    /// Appends batch `b` of the workload (records `b * 100 .. (b + 1) * 100`),
    /// the engine encoding the records itself (its producer-facing path).
    fn append(&mut self, w: &Workload, b: usize) -> Result<()>;
    /// Makes everything appended so far durable (fsync or equivalent).
    fn sync(&mut self) -> Result<()>;
    /// Appends batch `b` and makes it and everything before it durable.
    fn append_durable(&mut self, w: &Workload, b: usize) -> Result<()> {
        self.append(w, b)?;
        self.sync()
    }
    /// Encodes every batch the way a client would send it (Kafka's v2 wire
    /// batches), outside the timed loop; `false` where the engine takes no
    /// client-built batches.
    fn prepare_client_batches(&mut self, _w: &Workload) -> Result<bool> {
        Ok(false)
    }
    /// Appends client-built batch `b` (after [`Self::prepare_client_batches`]).
    fn append_client_batch(&mut self, _b: usize) -> Result<()> {
        anyhow::bail!("no client batches")
    }
    /// Whether the engine also runs the ceiling rows (the raw file): client
    /// batches with [`Self::append_client_batch_crc`] (the ceiling for
    /// `append_batch` with the CRC check Kafka's broker makes on every client
    /// batch before storing it), and client batches then one sync (the
    /// ceiling for one final fsync of Kafka-format bytes).
    fn runs_ceiling_rows(&self) -> bool {
        false
    }
    /// [`Self::append_client_batch`] after checking the batch's stored CRC-32C.
    fn append_client_batch_crc(&mut self, _b: usize) -> Result<()> {
        anyhow::bail!("no CRC-checked client batches")
    }
    /// Reads every record in offset order, touching every key and value;
    /// returns (records, sum of [`crate::workload::touch`]).
    fn scan(&mut self) -> Result<(u64, u64)>;
    /// Walks every stored batch checking its CRC, decoding no record; returns
    /// the batches checked. `None` where the engine has no such path.
    fn scan_crc(&mut self) -> Option<Result<u64>> {
        None
    }
    /// The first value byte of the record at `offset`.
    fn get(&mut self, offset: u64) -> Result<u8>;
    /// The floor under [`Self::get`]: for each offset, in order, the time
    /// (µs) of the checksum alone over the stored batch that holds it,
    /// read where `get` reads it. `None` where the engine has no such floor.
    fn get_crc_floor(&mut self, _offsets: &[u64]) -> Option<Result<Vec<f64>>> {
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

pub type OpenFn = fn(dir: &Path, w: &Workload) -> Result<Box<dyn Engine>>;

pub struct Spec {
    /// Short column name.
    pub name: &'static str,
    pub open: OpenFn,
    pub durability: Durability,
}

pub const STRATA: &str = "strata";
pub const COMMITLOG: &str = "commitlog 0.2";
pub const KRABKA: &str = "krabka-log 1.0.8";
pub const RAW: &str = "raw file";
pub const MEMORY: &str = "memory";

pub fn all() -> Vec<Spec> {
    vec![
        Spec { name: STRATA, open: strata::open, durability: Durability::Fsync },
        Spec { name: COMMITLOG, open: commitlog::open, durability: Durability::NotDurable },
        Spec { name: KRABKA, open: krabka::open, durability: Durability::Fsync },
        Spec { name: "fjall 3", open: fjall::open, durability: Durability::Fsync },
        Spec { name: "SQLite", open: sqlite::open, durability: Durability::Fsync },
        Spec { name: RAW, open: raw::open_file, durability: Durability::Fsync },
        Spec { name: MEMORY, open: raw::open_memory, durability: Durability::None },
    ]
}
