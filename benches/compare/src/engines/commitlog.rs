//! commitlog 0.2 with `LogOptions::new` defaults (1 GB segments): its batch
//! append (`CommitLog::append` of a `MessageBuf`, the key as message metadata),
//! 1 MiB `read`s for scans (its read checks every message's CRC) and a one-message `read` for point reads.
//!
//! `CommitLog::flush` msyncs the index but only calls `File::flush` on the
//! segment, which is a no-op: segment data is never fsync'd. Its "fsync'd"
//! number is therefore not durable and is reported with a mark.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use commitlog::message::{HEADER_SIZE, MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};

use super::Engine;
use crate::workload::{KEY_BYTES, VALUE_BYTES, Workload, touch};

const FETCH_BYTES: usize = 1 << 20;
const MESSAGE_BYTES: usize = HEADER_SIZE + KEY_BYTES + VALUE_BYTES;

pub struct Commitlog {
    log: CommitLog,
    buf: MessageBuf,
}

/// Batch `b` as 100 messages in `buf` (key as metadata), offsets left for the log.
fn encode(buf: &mut MessageBuf, w: &Workload, b: usize) -> Result<()> {
    buf.clear();
    for i in w.batch_range(b) {
        let (key, value) = w.record(i);
        buf.push_with_metadata(key, value).map_err(|e| anyhow!("{e:?}"))?;
    }
    Ok(())
}

pub fn open(dir: &Path, _w: &Workload) -> Result<Box<dyn Engine>> {
    let log = CommitLog::new(LogOptions::new(dir))?;
    Ok(Box::new(Commitlog { log, buf: MessageBuf::default() }))
}

impl Engine for Commitlog {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        encode(&mut self.buf, w, b)?;
        self.log.append(&mut self.buf).map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(self.log.flush()?)
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let end = self.log.next_offset();
        let (mut offset, mut n, mut sum) = (0u64, 0u64, 0u64);
        while offset < end {
            let buf = self
                .log
                .read(offset, ReadLimit::max_bytes(FETCH_BYTES))
                .map_err(|e| anyhow!("{e}"))?;
            let mut last = None;
            for m in buf.iter() {
                sum += touch(m.metadata(), m.payload());
                n += 1;
                last = Some(m.offset());
            }
            offset = last.ok_or_else(|| anyhow!("empty read at {offset}"))? + 1;
        }
        Ok((n, sum))
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        let buf = self
            .log
            .read(offset, ReadLimit::max_bytes(MESSAGE_BYTES))
            .map_err(|e| anyhow!("{e}"))?;
        let m = buf.iter().next().ok_or_else(|| anyhow!("offset {offset} not found"))?;
        if m.offset() != offset {
            bail!("asked for {offset}, got {}", m.offset());
        }
        Ok(m.payload()[0])
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
