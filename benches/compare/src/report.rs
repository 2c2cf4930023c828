//! The markdown report: machine, medians, ratios against strata, and every sample.

use std::fmt::Write;
use std::process::Command;
use std::time::Duration;

use crate::Sample;
use crate::engines::{Durability, Spec};
use crate::workload::{
    KEY_BYTES, RANDOM_READS, RECORD_BYTES, RECORDS_PER_BATCH, SYNC_EVERY_BATCHES, VALUE_BYTES,
    Workload,
};

pub struct Context<'a> {
    pub specs: &'a [Spec],
    pub samples: &'a [Vec<Sample>],
    pub workload: &'a Workload,
    pub cold: bool,
    pub elapsed: Duration,
    pub command: String,
}

/// Median per engine of every metric.
struct Medians {
    append: f64,
    append_fsync: Option<f64>,
    encode_only: Option<f64>,
    seq_warm: f64,
    seq_warm_checked: Option<f64>,
    seq_cold: Option<f64>,
    random_us: f64,
    disk_bytes: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn median_opt(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Option<Vec<f64>> = v.collect();
    v.filter(|v| !v.is_empty()).map(median)
}

fn medians(s: &[Sample]) -> Medians {
    Medians {
        append: median(s.iter().map(|s| s.append).collect()),
        append_fsync: median_opt(s.iter().map(|s| s.append_fsync)),
        encode_only: median_opt(s.iter().map(|s| s.encode_only)),
        seq_warm: median(s.iter().map(|s| s.seq_warm).collect()),
        seq_warm_checked: median_opt(s.iter().map(|s| s.seq_warm_checked)),
        seq_cold: median_opt(s.iter().map(|s| s.seq_cold)),
        random_us: median(s.iter().map(|s| s.random_us).collect()),
        disk_bytes: median(s.iter().map(|s| s.disk_bytes as f64).collect()) as u64,
    }
}

fn mbps(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn us(v: f64) -> String {
    if v >= 10.0 { format!("{v:.1}") } else { format!("{v:.2}") }
}

fn ratio(r: f64) -> String {
    if r >= 10.0 { format!("{r:.0}×") } else { format!("{r:.2}×") }
}

/// `1000000` as `1,000,000`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
        .unwrap_or_else(|| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

pub fn render(c: &Context<'_>) -> String {
    let w = c.workload;
    let m: Vec<Medians> = c.samples.iter().map(|s| medians(s)).collect();
    let reps = c.samples.first().map_or(0, Vec::len);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dirty =
        !shell("git", &["-C", root, "status", "--porcelain", "--", "src", "Cargo.toml"]).is_empty();
    let mut o = String::new();
    let _ = writeln!(o, "# strata vs other Rust logs: one run\n");
    let _ = writeln!(o, "- Date: {}", shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]));
    let _ = writeln!(
        o,
        "- Machine: nproc {}, {}, kernel {}, /tmp on `{}`",
        std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        shell("findmnt", &["-no", "SOURCE,FSTYPE", "-T", "/tmp"]),
    );
    let _ = writeln!(
        o,
        "- strata: {}{}; {}",
        shell("git", &["-C", root, "rev-parse", "--short", "HEAD"]),
        if dirty { " + uncommitted changes" } else { "" },
        shell("rustc", &["--version"]),
    );
    let _ = writeln!(o, "- Command: `{}`", c.command);
    let _ = writeln!(o, "- Run time: {:.0} s in all", c.elapsed.as_secs_f64());
    let _ =
        writeln!(o, "\n`free -h` at the end of the run:\n\n```\n{}\n```\n", shell("free", &["-h"]));

    let _ = writeln!(
        o,
        "Workload, the same for every engine: {} records of a {KEY_BYTES}-byte key and a \
         {VALUE_BYTES}-byte incompressible value ({:.1} MB of payload, {RECORD_BYTES} B a \
         record), appended in batches of {RECORDS_PER_BATCH}; then a full sequential read \
         that sums one byte of every value; then {} random point reads by offset. \
         MB/s are payload bytes (10^6) per second; 1 MB/s = {:.0} records/s. Each number is \
         the median of {reps} runs; repetitions go round all engines in turn. The machine is \
         shared and noisy: compare ratios within this run, not absolute numbers across runs.\n",
        thousands(w.records),
        w.payload_bytes() as f64 / 1e6,
        thousands(RANDOM_READS),
        1e6 / RECORD_BYTES as f64,
    );

    let _ = writeln!(
        o,
        "| engine | append MB/s | append, fsync every {} batches, MB/s | \
         sequential read, warm, MB/s | sequential read, cold, MB/s | random read, µs | on disk, MB |",
        thousands(SYNC_EVERY_BATCHES)
    );
    let _ = writeln!(o, "|---|--:|--:|--:|--:|--:|--:|");
    for (spec, m) in c.specs.iter().zip(&m) {
        let fsync = match (m.append_fsync, spec.durability) {
            (Some(v), Durability::NotDurable) => format!("{} †", mbps(v)),
            (Some(v), _) => mbps(v),
            (None, _) => "n/a".into(),
        };
        let cold = match m.seq_cold {
            Some(v) => mbps(v),
            None if !spec.on_disk => "n/a".into(),
            None => "not run".into(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            spec.name,
            mbps(m.append),
            fsync,
            mbps(m.seq_warm),
            cold,
            us(m.random_us),
            if spec.on_disk { format!("{:.0}", m.disk_bytes as f64 / 1e6) } else { "-".into() },
        );
    }
    let encoders: Vec<String> = c
        .specs
        .iter()
        .zip(&m)
        .filter_map(|(spec, m)| {
            m.encode_only.map(|v| {
                format!("{} {} MB/s (append: {} MB/s)", spec.name, mbps(v), mbps(m.append))
            })
        })
        .collect();
    if !encoders.is_empty() {
        let _ = writeln!(
            o,
            "
Encoding the batches alone, no log (the record-format share of an append): {}.",
            encoders.join("; ")
        );
    }
    for (spec, m) in c.specs.iter().zip(&m) {
        if let Some(v) = m.seq_warm_checked {
            let _ = writeln!(
                o,
                "\n{} sequential read, warm, with each batch's CRC-32C checked first (what a \
                 Kafka consumer's `check.crcs=true` does; the plain read above does not check): \
                 {} MB/s.",
                spec.name,
                mbps(v)
            );
        }
    }
    if c.specs.iter().any(|s| s.durability == Durability::NotDurable) {
        let _ = writeln!(
            o,
            "\n† commitlog 0.2's `flush()` msyncs its index but calls `File::flush` on the \
             segment, a no-op: its segment data is never fsync'd, so this number is not a \
             durable append."
        );
    }
    if !c.cold {
        let _ = writeln!(o, "\nCold reads were not run: the page cache could not be dropped here.");
    }

    if let Some(si) = c.specs.iter().position(|s| s.name == "strata") {
        let s = &m[si];
        let _ = writeln!(
            o,
            "\n## strata against each (median ÷ median; above 1× means strata is faster)\n"
        );
        let _ = writeln!(
            o,
            "| strata vs | append | append, fsync'd | sequential read, warm | sequential read, cold | random read |"
        );
        let _ = writeln!(o, "|---|--:|--:|--:|--:|--:|");
        let both = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => ratio(a / b),
            _ => "n/a".into(),
        };
        for (spec, p) in c.specs.iter().zip(&m) {
            if spec.name == "strata" {
                continue;
            }
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                spec.name,
                ratio(s.append / p.append),
                both(s.append_fsync, p.append_fsync),
                ratio(s.seq_warm / p.seq_warm),
                both(s.seq_cold, p.seq_cold),
                ratio(p.random_us / s.random_us),
            );
        }
    }

    let _ = writeln!(o, "\n## How each engine is driven\n");
    for line in ENGINE_NOTES {
        let _ = writeln!(o, "- {line}");
    }

    let _ = writeln!(o, "\n## Every sample\n");
    let _ = writeln!(
        o,
        "| engine | run | append | encode only | append, fsync'd | seq warm | seq warm + CRC | seq cold | random µs |"
    );
    let _ = writeln!(o, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let opt = |v: Option<f64>| v.map_or("-".into(), mbps);
    for (spec, ss) in c.specs.iter().zip(c.samples) {
        for (i, s) in ss.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                spec.name,
                i + 1,
                mbps(s.append),
                opt(s.encode_only),
                opt(s.append_fsync),
                mbps(s.seq_warm),
                opt(s.seq_warm_checked),
                opt(s.seq_cold),
                us(s.random_us),
            );
        }
    }
    o
}

const ENGINE_NOTES: &[&str] = &[
    "**strata**: `LogConfig::default()` (1 GiB segments, Kafka's defaults, no tuning). Each \
     batch is built with `BatchBuilder` (100 records, uncompressed v2) and written with \
     `Log::append_batch`; the batch build is timed. Scans are 1 MiB `Log::read` fetches \
     decoded with `Fetched::records()` (values are slices of the memory map); a point read is \
     `Log::read(offset, 1)`, which returns the whole batch holding the offset, then decodes up \
     to it. fsync'd variant: `Log::flush()` (fdatasync of the segment, msync of the indexes).",
    "**commitlog 0.2**: `LogOptions::new` defaults (1 GB segments). Batch append: one \
     `MessageBuf` of 100 messages (key as metadata) per `CommitLog::append`. Scans are 1 MiB \
     `read`s (a `pread` into a fresh buffer, with every message's CRC checked); a point read \
     is a one-message `read`. Its `flush()` does not fsync the segment (†).",
    "**fjall 3**: defaults (64 MiB memtables, 32 MiB block cache, journal LZ4 above 4 KiB, \
     leveled compaction with background workers). Key = big-endian u64 offset, value = the \
     record's key and value back to back; one `WriteBatch` per 100 records. Scans are \
     `Keyspace::iter()`; point reads `Keyspace::get`. fsync'd variant: \
     `Database::persist(PersistMode::SyncData)`. Memtable flushes and compactions run in the \
     background and may overlap the read phases, as they would in use.",
    "**SQLite** (rusqlite, bundled): `log(\"offset\" INTEGER PRIMARY KEY, key BLOB, value BLOB)`, \
     `journal_mode=WAL`, `synchronous=NORMAL`, default page cache (about 2 MB) and automatic \
     checkpoints (every 1,000 pages, each one fsyncs, so the plain append already pays some \
     fsyncs). One transaction per batch with a cached prepared INSERT. Scan: one \
     `SELECT value ... ORDER BY \"offset\"`; point read: a cached `SELECT ... WHERE \"offset\" = ?`. \
     fsync'd variant: the commit closing each 1,000-batch group runs under \
     `synchronous=FULL`, which fsyncs the WAL.",
    "**raw file (ceiling)**: the same payload bytes, one `write` per batch to a plain \
     `std::fs::File`, no framing, no index, no checksum (record i sits at byte i × 116). Scan: \
     1 MiB `pread`s; point read: one 116-byte `pread`. fsync'd variant: `File::sync_data`.",
    "**memory copy (ceiling)**: the same bytes copied into a pre-sized `Vec<u8>` and read \
     back from it. Its append pays a page fault on first touch of every 4 KiB of the new \
     buffer, so it can come out below the raw file's append, whose writes land in page-cache \
     pages.",
    "Each run uses a fresh directory under /tmp. `sync` runs before every append phase so \
     earlier engines' dirty pages are not written back during it. Cold reads: close, \
     `sync; echo 3 > /proc/sys/vm/drop_caches`, reopen (not timed), then the timed scan. \
     On-disk size is allocated blocks after a clean close. fluvio-storage was not included: \
     see README.md.",
];
