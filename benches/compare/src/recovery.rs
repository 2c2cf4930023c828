//! Unclean recovery of one large segment (1 GiB by default, `--recovery-mib`).
//!
//! Built once before the repetitions (not timed): strata's log by
//! `Log::append_batch` and krabka's by its verbatim append, both of the
//! workload's batches, repeated until the segment holds the asked size.
//! Each repetition then times:
//! - strata: `Log::open` with `clean_shutdown: false` and recovery point 0,
//!   which re-validates every batch of the segment and rebuilds its indexes
//!   (the open must report the segment recovered);
//! - krabka: `Log::open` (it CRCs every batch of the active segment and
//!   rebuilds its indexes on every open: `validate_on_open`);
//! - raw file: 1 MiB `pread`s of strata's segment file with crc32c over each;
//! - memory: crc32c over strata's segment bytes held in memory;
//! - and, in the raw file's column of its own row, the page-table floor:
//!   strata's segment mapped and every 4 KiB page of it touched on one
//!   thread, no CRC ([`Setup::floor`]), what the kernel charges a
//!   one-thread recovery through a map before it checks a byte.
//!
//! Throughput is the segment file's bytes (MiB) per second; the files stay
//! in the page cache (warm recovery), so this measures CPU, not the disk.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use strata::LogConfig;
use strata::SystemClock;
use strata::{LoadOptions, Log};
use tempfile::TempDir;

use crate::engines::{KRABKA, MEMORY, RAW, STRATA, krabka, strata::all_batches};
use crate::metrics::{RECOVERY, RECOVERY_FLOOR, Sample};
use crate::workload::Workload;

pub struct Setup {
    strata: TempDir,
    krabka: Option<TempDir>,
    /// strata's segment file.
    segment: PathBuf,
    /// Its bytes, for the memory ceiling.
    bytes: Vec<u8>,
}

/// The only `.log` file in `dir`.
fn segment_file(dir: &Path) -> Result<PathBuf> {
    let mut logs = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "log") {
            logs.push(p);
        }
    }
    ensure!(logs.len() == 1, "expected one segment in {}, found {logs:?}", dir.display());
    Ok(logs.remove(0))
}

impl Setup {
    pub fn new(w: &Workload, mib: u64, engines: &[&str]) -> Result<Self> {
        let target = (mib << 20).saturating_sub(1 << 20);
        eprintln!("building the {mib} MiB recovery segments...");
        let batches = all_batches(w)?;
        let strata = tempfile::Builder::new().prefix("strata-recovery-").tempdir_in("/tmp")?;
        let (log, _) = Log::open(
            strata.path(),
            "t",
            0,
            LogConfig::default(),
            Arc::new(SystemClock),
            LoadOptions::default(),
        )?;
        for b in batches.iter().cycle() {
            if log.size_bytes() >= target {
                break;
            }
            log.append_batch(b.clone())?;
        }
        log.close()?;
        let segment = segment_file(strata.path())?;
        let bytes = std::fs::read(&segment)?;

        let krabka = if engines.contains(&KRABKA) {
            let dir = tempfile::Builder::new().prefix("krabka-recovery-").tempdir_in("/tmp")?;
            let mut log = krabka::open_log(dir.path())?;
            let mut size = 0u64;
            for b in batches.iter().cycle() {
                if size >= target {
                    break;
                }
                krabka::append_verbatim(&mut log, b)?;
                size += b.len() as u64;
            }
            log.close();
            segment_file(dir.path())?;
            Some(dir)
        } else {
            None
        };
        crate::os_sync();
        Ok(Setup { strata, krabka, segment, bytes })
    }

    /// Size of strata's segment in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Times one recovery for `engine` into `s` (engines without one are skipped).
    pub fn run(&self, engine: &str, s: &mut Sample) -> Result<()> {
        if engine == RAW {
            self.floor(s)?;
        }
        let t = Instant::now();
        let len = match engine {
            STRATA => {
                let options = LoadOptions::default();
                let (log, report) = Log::open(
                    self.strata.path(),
                    "t",
                    0,
                    LogConfig::default(),
                    Arc::new(SystemClock),
                    options,
                )?;
                let d = t.elapsed();
                ensure!(report.recovered_segments == 1, "strata did not recover: {report:?}");
                ensure!(report.truncated_bytes == 0, "strata cut a valid segment: {report:?}");
                log.close()?;
                return record(s, self.bytes(), d);
            }
            KRABKA => {
                let dir = self.krabka.as_ref().context("no krabka segment")?;
                let log = krabka::open_log(dir.path())?;
                let d = t.elapsed();
                let size = std::fs::metadata(segment_file(dir.path())?)?.len();
                log.close();
                return record(s, size, d);
            }
            RAW => {
                let f = File::open(&self.segment)?;
                let mut buf = vec![0u8; 1 << 20];
                let (mut pos, mut crc) = (0u64, 0u32);
                loop {
                    let got = f.read_at(&mut buf, pos)?;
                    if got == 0 {
                        break;
                    }
                    crc = crc32c::crc32c_append(crc, &buf[..got]);
                    pos += got as u64;
                }
                std::hint::black_box(crc);
                pos
            }
            MEMORY => {
                std::hint::black_box(crc32c::crc32c(&self.bytes));
                self.bytes()
            }
            _ => return Ok(()),
        };
        record(s, len, t.elapsed())
    }
}

impl Setup {
    /// Times the page-table floor into `s`: strata's segment mapped (as its
    /// recovery maps it, `ReadMap`), its page-table entries set up at once
    /// (`MADV_POPULATE_READ`, the cheapest way the kernel offers) and one
    /// byte of every 4 KiB page read, all on one thread. The unmapping is
    /// not timed: strata's open keeps its map too.
    fn floor(&self, s: &mut Sample) -> Result<()> {
        let f = File::open(&self.segment)?;
        let len = f.metadata()?.len();
        let t = Instant::now();
        let map = strata::internals::io::ReadMap::map(&f, &self.segment, len)?;
        map.populate_read(0, len as usize);
        let view = map.bytes(0, len as usize, len as usize);
        let touched = view.iter().step_by(4096).fold(0u8, |a, b| a ^ b);
        let d = t.elapsed();
        std::hint::black_box(touched);
        drop(view);
        drop(map);
        s.insert(RECOVERY_FLOOR, len as f64 / (1 << 20) as f64 / d.as_secs_f64());
        Ok(())
    }
}

fn record(s: &mut Sample, bytes: u64, d: std::time::Duration) -> Result<()> {
    s.insert(RECOVERY, bytes as f64 / (1 << 20) as f64 / d.as_secs_f64());
    Ok(())
}
