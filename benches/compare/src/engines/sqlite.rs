//! SQLite (bundled) as a log: `log("offset" INTEGER PRIMARY KEY, key BLOB,
//! value BLOB)`, `journal_mode=WAL`, `synchronous=NORMAL`, other defaults.
//! One transaction per 100-record batch with a cached prepared INSERT; a
//! single `SELECT ... ORDER BY "offset"` for the scan; a cached point SELECT.
//!
//! In WAL mode with NORMAL, commits do not fsync (checkpoints do: the WAL
//! before, the database after). For the fsync'd variant the commit that
//! closes each 1,000-batch group runs with `synchronous=FULL`, which fsyncs
//! the WAL and so makes every earlier commit durable too.

use std::path::Path;

use anyhow::{Result, bail};
use rusqlite::{Connection, params};

use super::Engine;
use crate::workload::{Workload, touch};

const INSERT: &str = r#"INSERT INTO log ("offset", key, value) VALUES (?1, ?2, ?3)"#;
const SCAN: &str = r#"SELECT key, value FROM log ORDER BY "offset""#;
const GET: &str = r#"SELECT value FROM log WHERE "offset" = ?1"#;

pub struct Sqlite {
    conn: Connection,
}

pub fn open(dir: &Path, _w: &Workload) -> Result<Box<dyn Engine>> {
    let conn = Connection::open(dir.join("log.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        r#"CREATE TABLE IF NOT EXISTS log ("offset" INTEGER PRIMARY KEY, key BLOB, value BLOB)"#,
    )?;
    Ok(Box::new(Sqlite { conn }))
}

impl Engine for Sqlite {
    fn append(&mut self, w: &Workload, b: usize) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for i in w.batch_range(b) {
                let (key, value) = w.record(i);
                insert.execute(params![i as i64, key, value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        // Under NORMAL a checkpoint fsyncs the WAL before copying it back.
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn append_durable(&mut self, w: &Workload, b: usize) -> Result<()> {
        // A FULL commit fsyncs the WAL, which holds every earlier commit too.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.append(w, b)?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let mut stmt = self.conn.prepare_cached(SCAN)?;
        let mut rows = stmt.query([])?;
        let (mut n, mut sum) = (0u64, 0u64);
        while let Some(row) = rows.next()? {
            let k = row.get_ref(0)?.as_blob()?;
            let v = row.get_ref(1)?.as_blob()?;
            sum += touch(k, v);
            n += 1;
        }
        Ok((n, sum))
    }

    fn get(&mut self, offset: u64) -> Result<u8> {
        let mut stmt = self.conn.prepare_cached(GET)?;
        let mut rows = stmt.query([offset as i64])?;
        match rows.next()? {
            Some(row) => Ok(row.get_ref(0)?.as_blob()?[0]),
            None => bail!("offset {offset} not found"),
        }
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}
