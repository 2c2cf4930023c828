//! strata with `LogConfig::default()` (1 GiB segments, Kafka's defaults):
//! one client-built v2 batch per 100 records, `Log::append_batch`, 1 MiB
//! fetches with `Log::read` for scans, `Log::read(offset, 1)` for point reads.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use strata::clock::{Clock, SystemClock};
use strata::config::LogConfig;
use strata::format::BatchBuilder;
use strata::log::{LoadOptions, Log};

use super::Engine;
use crate::workload::{KEY_BYTES, RECORD_BYTES, Workload};

const FETCH_BYTES: usize = 1 << 20;

pub struct Strata {
    log: Log,
    clock: SystemClock,
    /// Check each fetched batch's CRC-32C before decoding (a Kafka consumer's `check.crcs`).
    verify_crc: bool,
}

/// Batch `b` as a client-built, uncompressed v2 batch; keys and values are
/// slices of the workload's buffer.
fn build_batch(w: &Workload, b: usize, now: i64) -> Result<Bytes> {
    let mut builder = BatchBuilder::new(0);
    for (delta, i) in w.batch_range(b).enumerate() {
        let at = i * RECORD_BYTES;
        let key: Bytes = w.data.slice(at..at + KEY_BYTES);
        let value: Bytes = w.data.slice(at + KEY_BYTES..at + RECORD_BYTES);
        builder.append_raw(delta as i32, now, Some(&key), Some(&value), &[])?;
    }
    Ok(builder.build()?)
}

pub fn open(dir: &Path, reopen: bool) -> Result<Box<dyn Engine>> {
    // A reopen follows `Log::close`, so the directory is cleanly shut down.
    let options = LoadOptions { clean_shutdown: reopen, ..LoadOptions::default() };
    let (log, _) = Log::open(dir, "t", 0, LogConfig::default(), Arc::new(SystemClock), options)?;
    Ok(Box::new(Strata { log, clock: SystemClock, verify_crc: false }))
}

impl Engine for Strata {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        self.log.append_batch(build_batch(w, b, self.clock.now_ms())?)?;
        Ok(())
    }

    fn encode_only(&mut self, w: &Workload) -> Option<Result<Duration>> {
        let t = Instant::now();
        for b in 0..w.batches() {
            match build_batch(w, b, self.clock.now_ms()) {
                Ok(batch) => drop(black_box(batch)),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(t.elapsed()))
    }

    fn sync(&mut self) -> Result<()> {
        Ok(self.log.flush()?)
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let end = self.log.log_end_offset();
        let (mut offset, mut n, mut sum) = (0i64, 0u64, 0u64);
        while offset < end {
            let f = self.log.read(offset, FETCH_BYTES)?;
            if self.verify_crc {
                for b in f.batches() {
                    b.validate()?;
                }
            }
            for r in f.records() {
                let r = r?;
                let v = r.value().context("null value")?;
                sum += u64::from(v[0]);
                n += 1;
            }
            offset = f.next_offset();
        }
        Ok((n, sum))
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        let f = self.log.read(offset as i64, 1)?;
        let r = f.records().next().context("offset not found")??;
        if r.offset() != offset as i64 {
            bail!("asked for {offset}, got {}", r.offset());
        }
        Ok(r.value().context("null value")?[0])
    }

    fn scan_checked(&mut self) -> Option<Result<(u64, u64)>> {
        self.verify_crc = true;
        let r = self.scan();
        self.verify_crc = false;
        Some(r)
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(self.log.close()?)
    }
}
