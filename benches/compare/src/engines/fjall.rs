//! fjall 3 as a log: one keyspace, key = big-endian u64 offset, value = the
//! record's key and value back to back. Defaults throughout (64 MiB memtable,
//! 32 MiB block cache, LZ4 on the last level only). One `WriteBatch` per 100
//! records; `Database::persist(SyncData)` for the fsync'd variant (strata and
//! the raw file also use fdatasync).

use std::path::Path;

use anyhow::{Result, bail};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::Engine;
use crate::workload::{KEY_BYTES, Workload, touch};

pub struct Fjall {
    // Field order: the keyspace handle drops before the database.
    ks: Keyspace,
    db: Database,
}

pub fn open(dir: &Path, _w: &Workload) -> Result<Box<dyn Engine>> {
    let db = Database::builder(dir).open()?;
    let ks = db.keyspace("log", KeyspaceCreateOptions::default)?;
    Ok(Box::new(Fjall { ks, db }))
}

impl Engine for Fjall {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        let mut batch = self.db.batch();
        for i in w.batch_range(b) {
            batch.insert(&self.ks, (i as u64).to_be_bytes(), w.record_bytes(i));
        }
        batch.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(self.db.persist(PersistMode::SyncData)?)
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let (mut n, mut sum) = (0u64, 0u64);
        for kv in self.ks.iter() {
            let (k, v) = kv.into_inner()?;
            if k.len() != 8 {
                bail!("bad key");
            }
            let (key, value) = v.split_at(KEY_BYTES);
            sum += touch(key, value);
            n += 1;
        }
        Ok((n, sum))
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        match self.ks.get(offset.to_be_bytes())? {
            Some(v) => Ok(v[KEY_BYTES]),
            None => bail!("offset {offset} not found"),
        }
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
