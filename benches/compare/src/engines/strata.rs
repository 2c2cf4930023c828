//! strata with `LogConfig::default()` (1 GiB segments, Kafka's defaults).
//! Producer path: `Log::append(&[BorrowedRecord])` over slices of the
//! workload's buffer (strata's copy-once path: no `Bytes` reference count per
//! key and value), strata building the batch; client
//! path: `Log::append_batch` of v2 batches built with `BatchBuilder` before the
//! timed loop; scans are 1 MiB `Log::read` fetches decoded as borrowed views
//! with `Fetched::record_batches()` (CRC checked per batch); the CRC-only walk is
//! `Fetched::batches()` + `BatchView::validate`; point reads `Log::read_record`
//! (the record's borrowed view, its batch's CRC checked);
//! their floor, the CRC-32C alone (strata's own `crc32c`, after the prefetch a
//! point read asks for) of each read's batch from the segment's map, in the
//! same order.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use strata::LogConfig;
use strata::SystemClock;
use strata::internals::format::crc::crc32c;
use strata::internals::format::layout::ATTRIBUTES;
use strata::internals::io::hint;
use strata::{BatchBuilder, BorrowedRecord};
use strata::{LoadOptions, Log};

use super::Engine;
use crate::workload::{KEY_BYTES, RECORD_BYTES, Workload, touch};

const FETCH_BYTES: usize = 1 << 20;
/// A fixed record timestamp, so every built batch is the same bytes.
pub const TIMESTAMP: i64 = 1_700_000_000_000;

pub struct Strata {
    log: Log,
    client: Vec<Bytes>,
}

/// Batch `b` as a client-built, uncompressed v2 batch; keys and values are
/// slices of the workload's buffer.
pub fn build_batch(w: &Workload, b: usize) -> Result<Bytes> {
    let mut builder = BatchBuilder::new(0);
    for (delta, i) in w.batch_range(b).enumerate() {
        let at = i * RECORD_BYTES;
        let key: Bytes = w.data.slice(at..at + KEY_BYTES);
        let value: Bytes = w.data.slice(at + KEY_BYTES..at + RECORD_BYTES);
        builder.append_raw(delta as i32, TIMESTAMP, Some(&key), Some(&value), &[])?;
    }
    Ok(builder.build()?)
}

/// Every batch of the workload as strata stores it (offsets aside).
pub fn all_batches(w: &Workload) -> Result<Vec<Bytes>> {
    (0..w.batches()).map(|b| build_batch(w, b)).collect()
}

pub fn open(dir: &Path, _w: &Workload) -> Result<Box<dyn Engine>> {
    Ok(Box::new(Strata { log: open_log(dir, false)?, client: Vec::new() }))
}

/// `Log::open` of `dir` as partition `t-0`; `clean` says whether the last
/// shutdown was clean (an unclean open re-validates from offset 0).
pub fn open_log(dir: &Path, clean: bool) -> Result<Log> {
    let options = LoadOptions::default().with_clean_shutdown(clean);
    let (log, _) = Log::open(dir, "t", 0, LogConfig::default(), Arc::new(SystemClock), options)?;
    Ok(log)
}

impl Engine for Strata {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        let records: Vec<BorrowedRecord<'_>> = w
            .batch_bytes(b)
            .chunks_exact(RECORD_BYTES)
            .map(|r| {
                let (key, value) = r.split_at(KEY_BYTES);
                BorrowedRecord::new(key, value).timestamp(TIMESTAMP)
            })
            .collect();
        self.log.append(&records)?;
        Ok(())
    }

    fn prepare_client_batches(&mut self, w: &Workload) -> Result<bool> {
        self.client = all_batches(w)?;
        Ok(true)
    }

    fn append_client_batch(&mut self, b: usize) -> Result<()> {
        let batch = self.client.get(b).context("no such batch")?.clone();
        self.log.append_batch(batch)?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(self.log.flush()?)
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let end = self.log.log_end_offset();
        let (mut offset, mut n, mut sum) = (0i64, 0u64, 0u64);
        while offset < end {
            let f = self.log.read(offset, FETCH_BYTES)?;
            // Borrowed views: no reference count per record (`Fetched::records`
            // gives owned `RecordRef`s instead). Each batch's CRC is checked once.
            for batch in f.record_batches() {
                for r in batch?.records() {
                    let r = r?;
                    sum += touch(r.key().unwrap_or_default(), r.value().unwrap_or_default());
                    n += 1;
                }
            }
            offset = f.next_offset();
        }
        Ok((n, sum))
    }

    fn scan_crc(&mut self) -> Option<Result<u64>> {
        let run = || -> Result<u64> {
            let end = self.log.log_end_offset();
            let (mut offset, mut n) = (0i64, 0u64);
            while offset < end {
                let f = self.log.read(offset, FETCH_BYTES)?;
                for b in f.batches() {
                    b.validate()?;
                    n += 1;
                }
                offset = f.next_offset();
            }
            Ok(n)
        };
        Some(run())
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        // The point read: the record at the offset as a borrowed view (no
        // copy, no reference count), its batch's CRC checked as
        // `Fetched::records` checks it.
        let first =
            self.log.read_record(offset as i64, |r| r.value().map(|v| v.first().copied()))?;
        first.context("offset not found")?.context("null value")?.context("empty value")
    }

    fn get_crc_floor(&mut self, offsets: &[u64]) -> Option<Result<Vec<f64>>> {
        let run = || -> Result<Vec<f64>> {
            // The batch each point read serves, found before the clock runs:
            // slices of the segment's memory map, as `get` reads them (no copy).
            let mut batches = Vec::with_capacity(offsets.len());
            for &o in offsets {
                let f = self.log.read(o as i64, 1)?;
                let b = f.batches().next().context("offset not found")?;
                batches.push((b.as_bytes().clone(), b.crc()));
            }
            let mut lat = Vec::with_capacity(batches.len());
            for (bytes, stored) in &batches {
                let t = Instant::now();
                // The prefetch a point read asks for before its CRC
                // (`segment::read::prefetch_batch`: the batch's first 24
                // lines and the first line of each 4 KiB page), so that no
                // point read beats its floor by it; then strata's read-path
                // CRC over what the stored CRC covers.
                hint::prefetch_lines(bytes, 24);
                hint::prefetch_page_heads(bytes);
                let crc = crc32c(bytes.get(ATTRIBUTES..).unwrap_or_default());
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                ensure!(crc == *stored, "CRC mismatch");
            }
            Ok(lat)
        };
        Some(run())
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(self.log.close()?)
    }
}
