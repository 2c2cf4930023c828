//! The ceilings. `raw file`: one `write` of each batch's payload bytes to a
//! plain `std::fs::File` (no framing, no index: record `i` sits at
//! `i * 116`), 1 MiB `read`s for scans, one `pread` per point read,
//! `sync_data` for the fsync'd variant. `memory copy`: the same bytes copied
//! into a `Vec` and read back from it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Result, bail};

use super::Engine;
use crate::workload::{KEY_BYTES, RECORD_BYTES, Workload};

/// A whole number of records close to 1 MiB.
const READ_BYTES: usize = (1 << 20) / RECORD_BYTES * RECORD_BYTES;

pub struct RawFile {
    file: File,
}

pub fn open_file(dir: &Path, reopen: bool) -> Result<Box<dyn Engine>> {
    let file =
        OpenOptions::new().read(true).append(true).create(!reopen).open(dir.join("raw.log"))?;
    Ok(Box::new(RawFile { file }))
}

impl Engine for RawFile {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        self.file.write_all(w.batch_bytes(b))?;
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
                sum += u64::from(r[KEY_BYTES]);
                n += 1;
            }
            pos += whole as u64;
        }
        Ok((n, sum))
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
}

pub fn open_memory(_dir: &Path, _reopen: bool) -> Result<Box<dyn Engine>> {
    Ok(Box::new(Memory { data: Vec::new() }))
}

impl Engine for Memory {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        if self.data.capacity() == 0 {
            self.data.reserve_exact(w.payload_bytes());
        }
        self.data.extend_from_slice(w.batch_bytes(b));
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let (mut n, mut sum) = (0u64, 0u64);
        for r in self.data.chunks_exact(RECORD_BYTES) {
            sum += u64::from(r[KEY_BYTES]);
            n += 1;
        }
        Ok((n, sum))
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        Ok(self.data[offset as usize * RECORD_BYTES + KEY_BYTES])
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
