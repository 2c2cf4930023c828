//! The ceilings.
//!
//! `raw file`: one `write` of each batch's payload bytes to a plain
//! `std::fs::File` (no framing, no index: record `i` sits at `i * 108`);
//! client batches are written as the very bytes strata stores (its encoded v2
//! batches), and a second timing checks each one's CRC-32C (crc-fast, which
//! strata checks client batches with) before its `write` (Kafka's broker checks every client batch's CRC before
//! it stores it: `UnifiedLog.analyzeAndValidateRecords` calls
//! `ensureValid`), and a third writes them then makes one `sync_data` (the
//! final fsync of the bytes a Kafka-format log must store); 1 MiB `pread`s for scans, crc32c over each 1 MiB read for the
//! CRC walk, one `pread` per point read, `sync_data` (fdatasync) for syncs.
//!
//! `memory`: the same bytes copied into a pre-sized `Vec` (memcpy) and read
//! back from it; its CRC walk is the crc32c crate over each of strata's
//! encoded batches held in memory, one call per batch over exactly the bytes
//! its stored CRC covers (attributes to the end): the work strata's CRC walk
//! does, with nothing else.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use bytes::Bytes;

use super::Engine;
use super::strata::all_batches;
use crate::workload::{KEY_BYTES, RECORD_BYTES, Workload, touch};

/// A whole number of records close to 1 MiB.
const READ_BYTES: usize = (1 << 20) / RECORD_BYTES * RECORD_BYTES;

pub struct RawFile {
    file: File,
    client: Vec<Bytes>,
}

pub fn open_file(dir: &Path, _w: &Workload) -> Result<Box<dyn Engine>> {
    let file = OpenOptions::new().read(true).append(true).create(true).open(dir.join("raw.log"))?;
    Ok(Box::new(RawFile { file, client: Vec::new() }))
}

impl Engine for RawFile {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        self.file.write_all(w.batch_bytes(b))?;
        Ok(())
    }

    fn prepare_client_batches(&mut self, w: &Workload) -> Result<bool> {
        self.client = all_batches(w)?;
        Ok(true)
    }

    fn append_client_batch(&mut self, b: usize) -> Result<()> {
        self.file.write_all(self.client.get(b).context("no such batch")?)?;
        Ok(())
    }

    fn runs_ceiling_rows(&self) -> bool {
        true
    }

    fn append_client_batch_crc(&mut self, b: usize) -> Result<()> {
        let batch = self.client.get(b).context("no such batch")?;
        let stored = batch.get(CRC_COVERS_FROM - 4..CRC_COVERS_FROM).context("no CRC field")?;
        let covered = batch.get(CRC_COVERS_FROM..).context("short batch")?;
        // CRC-32/ISCSI is CRC-32C; the result fits the low 32 bits.
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, covered) as u32;
        if crc.to_be_bytes() != stored {
            bail!("CRC mismatch in client batch {b}");
        }
        self.file.write_all(batch)?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(self.file.sync_data()?)
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let mut buf = vec![0u8; READ_BYTES];
        let (mut n, mut sum, mut pos) = (0u64, 0u64, 0u64);
        loop {
            let got = self.file.read_at(&mut buf, pos)?;
            if got == 0 {
                break;
            }
            // A short read may end mid-record: the next read starts over at that record.
            let whole = got / RECORD_BYTES * RECORD_BYTES;
            if whole == 0 {
                bail!("file ends inside a record at byte {pos}");
            }
            for r in buf[..whole].chunks_exact(RECORD_BYTES) {
                let (k, v) = r.split_at(KEY_BYTES);
                sum += touch(k, v);
                n += 1;
            }
            pos += whole as u64;
        }
        Ok((n, sum))
    }

    fn scan_crc(&mut self) -> Option<Result<u64>> {
        let run = || -> Result<u64> {
            let mut buf = vec![0u8; 1 << 20];
            let (mut pos, mut crc) = (0u64, 0u32);
            loop {
                let got = self.file.read_at(&mut buf, pos)?;
                if got == 0 {
                    break;
                }
                crc = crc32c::crc32c_append(crc, &buf[..got]);
                pos += got as u64;
            }
            Ok(u64::from(crc) | 1)
        };
        Some(run())
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        let mut r = [0u8; RECORD_BYTES];
        self.file.read_exact_at(&mut r, offset * RECORD_BYTES as u64)?;
        Ok(r[KEY_BYTES])
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

pub struct Memory {
    data: Vec<u8>,
    client: Vec<Bytes>,
    /// strata's encoded batches, back to back, for the CRC walk.
    encoded: Vec<u8>,
    /// The range of `encoded` each batch's CRC covers.
    crc_ranges: Vec<std::ops::Range<usize>>,
}

/// Where a v2 batch's CRC-32C coverage starts: the attributes field, after
/// baseOffset (8), batchLength (4), partitionLeaderEpoch (4), magic (1) and
/// the CRC itself (4) (Kafka's `DefaultRecordBatch`).
const CRC_COVERS_FROM: usize = 8 + 4 + 4 + 1 + 4;

pub fn open_memory(_dir: &Path, w: &Workload) -> Result<Box<dyn Engine>> {
    let batches = all_batches(w)?;
    let mut crc_ranges = Vec::with_capacity(batches.len());
    let mut at = 0;
    for b in &batches {
        crc_ranges.push(at + CRC_COVERS_FROM..at + b.len());
        at += b.len();
    }
    let encoded = batches.concat();
    Ok(Box::new(Memory { data: Vec::new(), client: Vec::new(), encoded, crc_ranges }))
}

impl Engine for Memory {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        if self.data.capacity() == 0 {
            self.data.reserve_exact(w.payload_bytes());
        }
        self.data.extend_from_slice(w.batch_bytes(b));
        Ok(())
    }

    fn prepare_client_batches(&mut self, w: &Workload) -> Result<bool> {
        self.client = all_batches(w)?;
        Ok(true)
    }

    fn append_client_batch(&mut self, b: usize) -> Result<()> {
        if self.data.capacity() == 0 {
            self.data.reserve_exact(self.encoded.len());
        }
        self.data.extend_from_slice(self.client.get(b).context("no such batch")?);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let (mut n, mut sum) = (0u64, 0u64);
        for r in self.data.chunks_exact(RECORD_BYTES) {
            let (k, v) = r.split_at(KEY_BYTES);
            sum += touch(k, v);
            n += 1;
        }
        Ok((n, sum))
    }

    fn scan_crc(&mut self) -> Option<Result<u64>> {
        let run = || -> Result<u64> {
            let mut checked = 0u64;
            for r in &self.crc_ranges {
                let stored = self.encoded.get(r.start - 4..r.start).context("no CRC field")?;
                let crc = crc32c::crc32c(self.encoded.get(r.clone()).context("short batch")?);
                if crc.to_be_bytes() != stored {
                    bail!("CRC mismatch in the batch whose CRC covers from byte {}", r.start);
                }
                checked += 1;
            }
            Ok(checked)
        };
        Some(run())
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        Ok(self.data[offset as usize * RECORD_BYTES + KEY_BYTES])
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
