//! Compaction throughput: MiB of dirty input per second, at 100,000 and at
//! 100 distinct keys (the shape of strata's `benches/compaction.rs`).
//!
//! Each case is built once (not timed): about 32 MiB of 100-record batches of
//! 10-byte keys (`key-000123`, drawn at random from the key set) and 100-byte
//! values in 8 MiB segments, everything below the active segment dirty. Each
//! repetition copies the template into a fresh directory and opens it (not
//! timed), then times one pass:
//! - strata: one `Store::maintain` (the key-map pass, the recopy, the swap
//!   and its fsyncs) with the default 128 MiB key map (`log.cleaner.dedupe.buffer.size`);
//! - krabka-log: one `Log::compact` with `cleanup_policy = Compact`,
//!   `segment_size = 8 MiB`, the last stable offset at the log end.
//!
//! Each pass must shrink the log, so nothing is measured that did no work.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, anyhow, ensure};
use bytes::Bytes;
use krabka_log::{CleanupPolicy, CompactionContext};
use krabka_protocol::records::header::Attributes;
use krabka_protocol::records::{Record as KRecord, RecordBatch};
use krabka_units::prelude::mebibytes;
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::{Clock, ManualClock};
use tempfile::TempDir;

use crate::engines::{KRABKA, STRATA};
use crate::metrics::{COMPACT_100, COMPACT_100K, Sample};
use crate::workload::Rng;

const NOW: i64 = 1_700_000_000_000;
const LOG_BYTES: u64 = 32 << 20;
const SEGMENT_BYTES: u64 = 8 << 20;
const VALUE_BYTES: usize = 100;
const RECORDS_PER_BATCH: usize = 100;
const CASES: [(u64, &str); 2] = [(100_000, COMPACT_100K), (100, COMPACT_100)];

struct Case {
    keys: u64,
    metric: &'static str,
    /// Template directory and its dirty bytes (sealed `.log` files).
    strata: Option<(TempDir, u64)>,
    krabka: Option<(TempDir, u64)>,
}

pub struct Setup {
    cases: Vec<Case>,
}

/// The records of one batch: keys drawn from `keys` distinct ones.
fn batch_keys(rng: &mut Rng, keys: u64) -> Vec<Bytes> {
    (0..RECORDS_PER_BATCH).map(|_| Bytes::from(format!("key-{:06}", rng.next() % keys))).collect()
}

fn value() -> Bytes {
    (0..VALUE_BYTES).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>().into()
}

fn open_store(root: &Path) -> Result<Store> {
    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
    Ok(Store::open_with_clock(StoreConfig::new([root]).background_threads(false), clock)?)
}

/// Bytes of every `.log` file under `dir` but the one with the highest base (the active one).
fn sealed_log_bytes(dir: &Path) -> Result<u64> {
    let mut logs: Vec<(String, u64)> = Vec::new();
    visit(dir, &mut logs)?;
    logs.sort();
    logs.pop();
    Ok(logs.iter().map(|(_, n)| n).sum())
}

fn visit(dir: &Path, logs: &mut Vec<(String, u64)>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            visit(&p, logs)?;
        } else if p.extension().is_some_and(|x| x == "log") {
            logs.push((p.display().to_string(), e.metadata()?.len()));
        }
    }
    Ok(())
}

fn all_log_bytes(dir: &Path) -> Result<u64> {
    let mut logs = Vec::new();
    visit(dir, &mut logs)?;
    Ok(logs.iter().map(|(_, n)| n).sum())
}

fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

fn strata_template(keys: u64) -> Result<(TempDir, u64)> {
    let dir = tempfile::Builder::new().prefix("strata-compact-").tempdir_in("/tmp")?;
    let store = open_store(dir.path())?;
    let mut o = BTreeMap::new();
    o.insert("cleanup.policy".to_owned(), "compact".to_owned());
    o.insert("segment.bytes".to_owned(), SEGMENT_BYTES.to_string());
    store.create_topic("t", 1, &o)?;
    let log = store.partition("t", 0)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ keys);
    let value = value();
    while log.size_bytes() < LOG_BYTES {
        let batch: Vec<Record> = batch_keys(&mut rng, keys)
            .into_iter()
            .map(|k| Record::new(k, value.clone()).timestamp(NOW))
            .collect();
        log.append(&batch)?;
    }
    log.roll()?;
    log.append(&[Record::new("key-active", "v").timestamp(NOW)])?;
    drop(log);
    store.close()?;
    let dirty = sealed_log_bytes(dir.path())?;
    Ok((dir, dirty))
}

fn krabka_config() -> krabka_log::LogConfig {
    krabka_log::LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_size: mebibytes(8),
        ..krabka_log::LogConfig::default()
    }
}

fn krabka_template(keys: u64) -> Result<(TempDir, u64)> {
    let dir = tempfile::Builder::new().prefix("krabka-compact-").tempdir_in("/tmp")?;
    let mut log = krabka_log::Log::open(dir.path(), krabka_config()).map_err(|e| anyhow!("{e}"))?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ keys);
    let value = value();
    let mut size = 0u64;
    while size < LOG_BYTES {
        let records: Vec<KRecord> = batch_keys(&mut rng, keys)
            .into_iter()
            .enumerate()
            .map(|(i, k)| KRecord {
                attributes: 0,
                timestamp_delta: 0,
                offset_delta: i as i32,
                key: Some(k),
                value: Some(value.clone()),
                headers: Vec::new(),
            })
            .collect();
        let mut batch = RecordBatch {
            attributes: Attributes::default(),
            last_offset_delta: RECORDS_PER_BATCH as i32 - 1,
            base_timestamp: NOW,
            max_timestamp: NOW,
            records,
            ..RecordBatch::default()
        };
        size += batch.encoded_len() as u64;
        log.append(&mut batch).map_err(|e| anyhow!("{e}"))?;
    }
    log.sync().map_err(|e| anyhow!("{e}"))?;
    log.close();
    let dirty = sealed_log_bytes(dir.path())?;
    Ok((dir, dirty))
}

impl Setup {
    pub fn new(engines: &[&str]) -> Result<Self> {
        eprintln!("building the compaction templates...");
        let mut cases = Vec::new();
        for (keys, metric) in CASES {
            let strata =
                if engines.contains(&STRATA) { Some(strata_template(keys)?) } else { None };
            let krabka =
                if engines.contains(&KRABKA) { Some(krabka_template(keys)?) } else { None };
            cases.push(Case { keys, metric, strata, krabka });
        }
        Ok(Setup { cases })
    }

    /// strata's dirty input per case, bytes.
    pub fn dirty_bytes(&self) -> Vec<(u64, u64)> {
        self.cases.iter().filter_map(|c| c.strata.as_ref().map(|(_, d)| (c.keys, *d))).collect()
    }

    /// Times one pass per case for `engine` into `s` (engines without one are skipped).
    pub fn run(&self, engine: &str, s: &mut Sample) -> Result<()> {
        for c in &self.cases {
            let tpl = match engine {
                STRATA => &c.strata,
                KRABKA => &c.krabka,
                _ => return Ok(()),
            };
            let Some((tpl, dirty)) = tpl else { continue };
            crate::os_sync();
            let root = tempfile::Builder::new().prefix("compare-compact-").tempdir_in("/tmp")?;
            copy_dir(tpl.path(), root.path())?;
            let before = all_log_bytes(root.path())?;
            let d = if engine == STRATA {
                let store = open_store(root.path())?;
                let t = Instant::now();
                let report = store.maintain(None)?;
                let d = t.elapsed();
                ensure!(report.partitions_cleaned == 1, "strata cleaned nothing: {report:?}");
                store.close()?;
                d
            } else {
                let mut log = krabka_log::Log::open(root.path(), krabka_config())
                    .map_err(|e| anyhow!("{e}"))?;
                let ctx = CompactionContext {
                    now: std::time::SystemTime::now(),
                    last_stable_offset: log.log_end_offset(),
                };
                let t = Instant::now();
                log.compact(&ctx).map_err(|e| anyhow!("{e}"))?;
                let d = t.elapsed();
                log.close();
                d
            };
            let after = all_log_bytes(root.path())?;
            ensure!(after < before, "{engine}: compaction of {} keys kept every byte", c.keys);
            s.insert(c.metric, *dirty as f64 / (1 << 20) as f64 / d.as_secs_f64());
        }
        Ok(())
    }
}
