//! krabka-log 1.0.8 (crates.io: another Rust crate writing Kafka's on-disk
//! format) with `LogConfig::default()`. Producer path: `Log::append` of an
//! owned `RecordBatch` (100 records, keys and values `Bytes` slices of the
//! workload); client path: its produce passthrough, `validate_one_v2_batch` +
//! `validate_records` (what its docs require of a caller before accepting
//! producer bytes) then `Log::append_verbatim`; scans are 1 MiB `Log::read`
//! fetches (decoded owned batches); the CRC-only walk is 1 MiB `Log::read_raw`
//! fetches checked with `validate_one_v2_batch`; point reads `Log::read(o, 32 KiB)` (see `get`).
//! `Log::sync` fsyncs. Needs rustc >= 1.99.1 (see rust-toolchain.toml).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use krabka_compression::RecordDecompressionPolicy;
use krabka_log::{Log, LogConfig, Offset, VerbatimBatch};
use krabka_protocol::records::header::Attributes;
use krabka_protocol::records::{Record, RecordBatch, validate_one_v2_batch};
use krabka_units::prelude::{kibibytes, mebibytes};

use super::Engine;
use super::strata::{TIMESTAMP, all_batches};
use crate::workload::{KEY_BYTES, RECORD_BYTES, RECORDS_PER_BATCH, Workload, touch};

pub struct Krabka {
    log: Option<Log>,
    client: Vec<Bytes>,
}

pub fn open(dir: &Path, _w: &Workload) -> Result<Box<dyn Engine>> {
    Ok(Box::new(Krabka { log: Some(open_log(dir)?), client: Vec::new() }))
}

/// `Log::open` with defaults (its open CRCs every batch of the active segment
/// and rebuilds its indexes: `validate_on_open`).
pub fn open_log(dir: &Path) -> Result<Log> {
    Log::open(dir, LogConfig::default()).map_err(|e| anyhow!("krabka open: {e}"))
}

/// Batch `b` as krabka's owned batch.
pub fn batch(w: &Workload, b: usize) -> RecordBatch {
    let records = w
        .batch_range(b)
        .enumerate()
        .map(|(delta, i)| {
            let at = i * RECORD_BYTES;
            Record {
                attributes: 0,
                timestamp_delta: 0,
                offset_delta: delta as i32,
                key: Some(w.data.slice(at..at + KEY_BYTES)),
                value: Some(w.data.slice(at + KEY_BYTES..at + RECORD_BYTES)),
                headers: Vec::new(),
            }
        })
        .collect();
    RecordBatch {
        attributes: Attributes::default(),
        last_offset_delta: RECORDS_PER_BATCH as i32 - 1,
        base_timestamp: TIMESTAMP,
        max_timestamp: TIMESTAMP,
        records,
        ..RecordBatch::default()
    }
}

/// Kafka's produce-path checks on producer bytes, then the verbatim append.
pub fn append_verbatim(log: &mut Log, bytes: &Bytes) -> Result<()> {
    let v = validate_one_v2_batch(bytes).map_err(|e| anyhow!("{e}"))?;
    v.validate_records(RecordDecompressionPolicy::default()).map_err(|e| anyhow!("{e}"))?;
    let batch = VerbatimBatch::from_header(v.header, bytes.clone());
    log.append_verbatim(&batch).map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

impl Krabka {
    fn log(&mut self) -> Result<&mut Log> {
        self.log.as_mut().context("closed")
    }
}

impl Engine for Krabka {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        let mut batch = batch(w, b);
        self.log()?.append(&mut batch).map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }

    fn prepare_client_batches(&mut self, w: &Workload) -> Result<bool> {
        self.client = all_batches(w)?;
        Ok(true)
    }

    fn append_client_batch(&mut self, b: usize) -> Result<()> {
        let bytes = self.client.get(b).context("no such batch")?.clone();
        append_verbatim(self.log()?, &bytes)
    }

    fn sync(&mut self) -> Result<()> {
        self.log()?.sync().map_err(|e| anyhow!("{e}"))
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let log = self.log()?;
        let end = log.log_end_offset().0;
        let (mut offset, mut n, mut sum) = (0i64, 0u64, 0u64);
        while offset < end {
            let out = log.read(Offset(offset), mebibytes(1)).map_err(|e| anyhow!("{e}"))?;
            let mut next = offset;
            for b in &out.batches {
                for r in &b.records {
                    if b.base_offset + i64::from(r.offset_delta) < offset {
                        continue;
                    }
                    let k = r.key.as_deref().unwrap_or(&[]);
                    let v = r.value.as_deref().unwrap_or(&[]);
                    sum += touch(k, v);
                    n += 1;
                }
                next = b.base_offset + i64::from(b.last_offset_delta) + 1;
            }
            if next == offset {
                bail!("empty read at {offset}");
            }
            offset = next;
        }
        Ok((n, sum))
    }

    fn scan_crc(&mut self) -> Option<Result<u64>> {
        let mut run = || -> Result<u64> {
            let log = self.log()?;
            let end = log.log_end_offset();
            let (mut offset, mut n) = (0i64, 0u64);
            while offset < end.0 {
                let raw =
                    log.read_raw(Offset(offset), end, mebibytes(1)).map_err(|e| anyhow!("{e}"))?;
                let mut rest = &raw.bytes[..];
                while !rest.is_empty() {
                    let v = validate_one_v2_batch(rest).map_err(|e| anyhow!("{e}"))?;
                    rest = &rest[v.total_len..];
                    n += 1;
                }
                offset = raw.last_offset.context("empty raw read")?.0 + 1;
            }
            Ok(n)
        };
        Some(run())
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        // Its read stops `max_size` bytes past the index entry before the
        // offset, so a smaller limit can return nothing: 32 KiB always covers
        // the entry's distance (4 KiB index interval) plus one batch.
        let out =
            self.log()?.read(Offset(offset as i64), kibibytes(32)).map_err(|e| anyhow!("{e}"))?;
        for b in &out.batches {
            for r in &b.records {
                if b.base_offset + i64::from(r.offset_delta) == offset as i64 {
                    return Ok(r.value.as_ref().context("null value")?[0]);
                }
            }
        }
        bail!("offset {offset} not found")
    }

    fn close(mut self: Box<Self>) -> Result<()> {
        if let Some(log) = self.log.take() {
            log.close();
        }
        Ok(())
    }
}
