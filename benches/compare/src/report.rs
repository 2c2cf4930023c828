//! The markdown report: machine, the table of medians with strata's ratios,
//! how each engine is driven, and every sample.

use std::fmt::Write;
use std::process::Command;
use std::time::Duration;

use crate::engines::{COMMITLOG, Durability, KRABKA, MEMORY, RAW, STRATA, Spec};
use crate::metrics::{self, Sample};
use crate::workload::{
    DURABLE_BATCHES, KEY_BYTES, RANDOM_READS, RECORD_BYTES, RECORDS_PER_BATCH, VALUE_BYTES,
    Workload,
};

pub struct Context<'a> {
    pub specs: &'a [Spec],
    pub samples: &'a [Vec<Sample>],
    pub workload: &'a Workload,
    /// Size of the recovered segment, when recovery ran.
    pub recovery_bytes: Option<u64>,
    /// (distinct keys, dirty bytes) per compaction case, when compaction ran.
    pub compaction_bytes: Option<Vec<(u64, u64)>>,
    pub elapsed: Duration,
    pub command: String,
    /// Untimed repetitions run before the timed ones.
    pub warmup: usize,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Median of `metric` over one engine's samples; `None` unless every sample has it.
fn median_of(samples: &[Sample], metric: &str) -> Option<f64> {
    let v: Option<Vec<f64>> = samples.iter().map(|s| s.get(metric).copied()).collect();
    v.and_then(median)
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
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
    shell_in(".", cmd, args)
}

/// `cmd args` run in `dir` (rustup picks the toolchain of the directory it runs in).
fn shell_in(dir: &str, cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .current_dir(dir)
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
    let reps = c.samples.first().map_or(0, Vec::len);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dirty =
        !shell("git", &["-C", root, "status", "--porcelain", "--", "src", "Cargo.toml"]).is_empty();
    let mut o = String::from(PREAMBLE);
    let _ = writeln!(o, "## Machine and command\n");
    let _ = writeln!(o, "- Date: {}", shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]));
    let _ = writeln!(
        o,
        "- Machine: nproc {}, {}, kernel {}, /tmp on `{}`; shared with other builds and \
         benchmarks while this ran (load average at the end: {})",
        std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        shell("findmnt", &["-no", "SOURCE,FSTYPE", "-T", "/tmp"]),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    );
    let _ = writeln!(
        o,
        "- strata: {}{}; {}",
        shell("git", &["-C", root, "rev-parse", "--short", "HEAD"]),
        if dirty { " + uncommitted changes" } else { "" },
        shell_in(concat!(env!("CARGO_MANIFEST_DIR")), "rustc", &["--version"]),
    );
    let _ = writeln!(o, "- Command: `{}`", c.command);
    let _ = writeln!(o, "- Run time: {:.0} s in all", c.elapsed.as_secs_f64());

    let _ = writeln!(
        o,
        "\nWorkload: {} records of a {KEY_BYTES}-byte key and a {VALUE_BYTES}-byte \
         incompressible value ({:.1} MB of payload), in batches of {RECORDS_PER_BATCH}; the \
         durable row appends the first {} batches with one fsync each, every engine that \
         syncs in turn, batch by batch (`--durable-chunk` batches at a time where the command \
         says so); {} random point reads. \
         MB/s are payload bytes (10^6) per second; recovery and compaction are MiB (2^20) of \
         segment bytes per second{}{}. Each number is the median of {reps} runs, after {} untimed \
         warm-up repetitions of every engine (recovery included); repetitions go round all \
         engines in turn. Ratios are strata's speed over the other's (above 1× \
         strata is faster; for latencies the other's time over strata's). \
         **The machine is shared and noisy**: compare ratios within this run, not absolute \
         numbers across runs.\n",
        thousands(w.records),
        w.payload_bytes() as f64 / 1e6,
        thousands(DURABLE_BATCHES),
        thousands(RANDOM_READS),
        c.recovery_bytes
            .map(|b| format!(" (recovered segment: {:.0} MiB)", b as f64 / (1 << 20) as f64))
            .unwrap_or_default(),
        c.compaction_bytes
            .as_ref()
            .map(|v| {
                let cases: Vec<String> = v
                    .iter()
                    .map(|(k, d)| {
                        format!(
                            "{:.1} MiB at {} keys",
                            *d as f64 / (1 << 20) as f64,
                            thousands(*k as usize)
                        )
                    })
                    .collect();
                format!(" (strata's dirty input: {})", cases.join(", "))
            })
            .unwrap_or_default(),
        c.warmup,
    );

    // The table.
    let col = |name: &str| c.specs.iter().position(|s| s.name == name);
    let meds: Vec<Vec<Option<f64>>> = metrics::ALL
        .iter()
        .map(|m| c.samples.iter().map(|s| median_of(s, m.id)).collect())
        .collect();
    let refs: Vec<(&str, &str)> =
        [(COMMITLOG, "commitlog"), (RAW, "raw"), (KRABKA, "krabka"), (MEMORY, "memory")]
            .into_iter()
            .filter(|(n, _)| col(n).is_some())
            .collect();
    let _ = write!(o, "| workload | unit |");
    for s in c.specs {
        let _ = write!(o, " {} |", s.name);
    }
    for (_, short) in &refs {
        let _ = write!(o, " strata ÷ {short} |");
    }
    let _ = writeln!(o);
    let _ = write!(o, "|---|---|");
    for _ in c.specs.iter().map(|_| ()).chain(refs.iter().map(|_| ())) {
        let _ = write!(o, "--:|");
    }
    let _ = writeln!(o);
    for (m, med) in metrics::ALL.iter().zip(&meds) {
        if med.iter().all(Option::is_none) {
            continue;
        }
        let _ = write!(o, "| {} | {} |", m.label, m.unit);
        for (s, v) in c.specs.iter().zip(med) {
            let mark = if s.durability == Durability::NotDurable
                && (m.id == metrics::APPEND_FSYNC_END || m.id == metrics::APPEND_FSYNC_EACH)
            {
                " †"
            } else {
                ""
            };
            let _ = write!(o, " {}{mark} |", v.map_or("—".into(), num));
        }
        // A ceiling row compares strata's own row with it (‡, §).
        let strata_id = match m.id {
            metrics::APPEND_BATCH_CRC => metrics::APPEND_BATCH,
            metrics::APPEND_BATCH_FSYNC_END => metrics::APPEND_FSYNC_END,
            id => id,
        };
        let strata = metrics::ALL
            .iter()
            .position(|x| x.id == strata_id)
            .and_then(|a| meds.get(a))
            .and_then(|v| col(STRATA).and_then(|i| v.get(i)))
            .copied()
            .flatten();
        for (name, _) in &refs {
            let other = col(name).and_then(|i| med.get(i).copied().flatten());
            let cell = match (strata, other) {
                (Some(s), Some(x)) if m.higher_is_better => ratio(s / x),
                (Some(s), Some(x)) => ratio(x / s),
                _ => "—".into(),
            };
            let _ = write!(o, " {cell} |");
        }
        let _ = writeln!(o);
    }
    if meds
        .iter()
        .zip(metrics::ALL)
        .any(|(v, m)| m.id == metrics::APPEND_BATCH_CRC && v.iter().any(Option::is_some))
    {
        let _ = writeln!(
            o,
            "\n‡ The raw file checks each client batch's CRC-32C (crc-fast, as strata does; \
             over attributes to the end, against the stored field) before its `write`: Kafka's \
             broker must make this check before it stores a client batch \
             (`UnifiedLog.analyzeAndValidateRecords` calls `ensureValid`). Its ratio is \
             strata's `append_batch` over this ceiling."
        );
    }
    if meds
        .iter()
        .zip(metrics::ALL)
        .any(|(v, m)| m.id == metrics::APPEND_BATCH_FSYNC_END && v.iter().any(Option::is_some))
    {
        let _ = writeln!(
            o,
            "\n§ The raw file writes strata's encoded batches (the bytes any log in Kafka's \
             format stores: batch headers and record framing add about 9% to the payload here), \
             one `write` each, then one fdatasync. Its ratio is strata's final-fsync row over \
             this ceiling."
        );
    }
    if c.specs.iter().any(|s| s.durability == Durability::NotDurable) {
        let _ = writeln!(
            o,
            "\n† commitlog 0.2's `flush()` msyncs its index but calls `File::flush` on the \
             segment, a no-op: its segment data is never fsync'd, so these are not durable appends."
        );
    }

    let median = |engine: &str, metric: &str| {
        col(engine).and_then(|i| c.samples.get(i)).and_then(|s| median_of(s, metric))
    };
    o.push_str(&crate::targets::render(&median));

    let _ = writeln!(o, "\n## How each engine is driven\n");
    for line in NOTES {
        let _ = writeln!(o, "- {line}");
    }

    let _ = writeln!(o, "\n## Every sample\n");
    let _ = write!(o, "| workload | engine |");
    for i in 0..reps {
        let _ = write!(o, " run {} |", i + 1);
    }
    let _ = writeln!(o);
    let _ = write!(o, "|---|---|");
    for _ in 0..reps {
        let _ = write!(o, "--:|");
    }
    let _ = writeln!(o);
    for m in metrics::ALL {
        for (spec, ss) in c.specs.iter().zip(c.samples) {
            if ss.iter().all(|s| !s.contains_key(m.id)) {
                continue;
            }
            let _ = write!(o, "| {} ({}) | {} |", m.id, m.unit, spec.name);
            for s in ss {
                let _ = write!(o, " {} |", s.get(m.id).map_or("—".into(), |v| num(*v)));
            }
            let _ = writeln!(o);
        }
    }
    let _ = writeln!(
        o,
        "\n{RECORD_BYTES} B of payload a record; 1 MB/s = {:.0} records/s.",
        1e6 / RECORD_BYTES as f64
    );
    o
}

/// The top of BENCHMARKS.md, the same on every run.
const PREAMBLE: &str = "# Benchmarks

strata against other Rust logs and against the machine's ceilings, all in one run of
`benches/compare` (a separate cargo project: its peers never enter strata's dependency
graph). This file is written by that run; rerun it with

```sh
cd benches/compare && cargo run --release -- --reps 5   # writes ../../BENCHMARKS.md
cargo run --release -- --durable                        # durable appends at 1/100/1,000 partitions
```

`benches/compare` pins its own toolchain (`rust-toolchain.toml`: rustc 1.99.1) because
krabka-log 1.0.8 builds only with rustc >= 1.99.1; strata itself keeps its MSRV (1.95).
Each component's own speed is measured by the criterion benches in `benches/*.rs`
(`cargo bench --bench NAME`).

**The machine is shared and noisy**: up to eight builds and test suites ran beside this
benchmark on 2 cores, so absolute numbers move between runs by 2x and more. Only the
ratios between engines within one run mean something, and each is a median of
interleaved repetitions (every engine runs once per round); every sample is listed at
the end.

";

const NOTES: &[&str] = &[
    "**strata** (this repository): `LogConfig::default()` (1 GiB segments, Kafka's defaults). \
     append: `Log::append(&[BorrowedRecord])` of 100 records whose keys and values are \
     slices of the workload's buffer (strata builds the batch, copying each byte once). append_batch: `Log::append_batch` of v2 \
     batches built with `BatchBuilder` before the timed loop (strata validates them as \
     Kafka's broker does). fsync: `Log::flush()`. Scan: 1 MiB `Log::read` fetches decoded with \
     `Fetched::record_batches()` as borrowed `RecordView`s (each batch's CRC checked once). CRC walk: `Fetched::batches()` + \
     `BatchView::validate()`. Point read: `Log::read_record(offset, f)`, which hands `f` the record at the \
     offset as a borrowed `RecordView` once its batch is checked (CRC and structure, as `Fetched::records`). \
     Point read's floor: after the point reads, strata's read-path CRC-32C alone (the \
     `crc32c` its reads run, after the prefetch a point read asks for: the batch's first 24 \
     lines and each 4 KiB page's first line) over the stored batch holding each random \
     offset, a slice of the segment's memory map, timed one by one in the same order: every \
     read checks that batch's CRC (Kafka's `check.crcs`), so no point read can be faster.",
    "**commitlog 0.2**: `LogOptions::new` defaults (1 GB segments). Append: one `MessageBuf` \
     of 100 messages (key as metadata) per `CommitLog::append`. Scans are 1 MiB `read`s (a \
     `pread` into a fresh buffer, every message's CRC checked); a point read is a one-message \
     `read`. Its `flush()` does not fsync the segment (†). It takes no Kafka-format client \
     batches and has no CRC-only walk.",
    "**krabka-log 1.0.8** (crates.io; needs rustc >= 1.99.1, hence this crate's \
     `rust-toolchain.toml`): `LogConfig::default()`. append: `Log::append` of an owned \
     `RecordBatch` of 100 records (`Bytes` slices). append_batch: its produce passthrough, \
     `validate_one_v2_batch` + `validate_records` (the checks its docs ask of a caller) then \
     `Log::append_verbatim` of the same bytes strata takes. fsync: `Log::sync()`. Scan: 1 MiB \
     `Log::read` (decoded owned batches). CRC walk: 1 MiB `Log::read_raw` + \
     `validate_one_v2_batch` per batch. Point read: `Log::read(offset, 32 KiB)` (its read stops that many bytes past the index entry before the offset, so a smaller limit can return nothing). Recovery: \
     `Log::open` (it CRCs the active segment on every open). Compaction: `Log::compact`.",
    "**fjall 3**: defaults. Key = big-endian u64 offset, value = the record's key and value; \
     one `WriteBatch` per 100 records; `Keyspace::iter()` scans, `Keyspace::get` point reads; \
     fsync: `Database::persist(PersistMode::SyncData)`. Background flushes and compactions \
     may overlap later phases, as they would in use.",
    "**SQLite** (rusqlite 0.41, bundled): `log(\"offset\" INTEGER PRIMARY KEY, key BLOB, value \
     BLOB)`, WAL, `synchronous=NORMAL`; one transaction per batch with a cached INSERT. \
     Final fsync: `wal_checkpoint(PASSIVE)`; fsync per batch: that batch's commit under \
     `synchronous=FULL`.",
    "**raw file** (ceiling): the same payload bytes, one `write` per batch to a plain \
     `std::fs::File`, no framing, no index, no checksum; append_batch writes the very batch \
     bytes strata is given, and its ‡ ceiling checks each batch's CRC-32C (crc-fast, as \
     strata does) before the `write`. Scan: 1 MiB `pread`s; CRC walk: 1 MiB `pread`s + \
     crc32c; point read: one `pread`; syncs: `File::sync_data` (fdatasync), so the durable row is one \
     fdatasync per batch. Recovery: 1 MiB `pread`s of strata's segment + crc32c. \
     Recovery's page-table floor (its own row, in this column): strata's segment mapped, \
     `MADV_POPULATE_READ` over it and one byte of every 4 KiB page read, on one thread, \
     no CRC; the unmapping is not timed (strata's open keeps its map too).",
    "**memory** (ceiling): append is a memcpy into a pre-sized `Vec` (it pays a page fault \
     per new 4 KiB, so it can trail the raw file's page-cache writes); the CRC walk is \
     the crc32c crate over strata's own encoded batches held in memory, one call per batch \
     over exactly the bytes its stored CRC covers (strata checks the same ranges, with \
     crc-fast); recovery is the crc32c crate over the whole segment in memory, on one \
     thread, with no page-table work. strata maps the segment's page cache (in small folios \
     after appends: about 95 ms of kernel CPU a GiB, the floor row) and overlaps that \
     page-table setup with its CRC pass on a second thread (`io::populate`): its recovery \
     uses two cores where the crc32c figure uses one, and on a loaded machine it gets \
     what the scheduler gives it (README, known gaps).",
    "Every append phase starts in a fresh directory under /tmp after a `sync`. Scans, CRC \
     walks and point reads follow the page-cache append (warm). Recovery and compaction \
     inputs are built once, before the runs; each run times one recovery (files warm in the \
     page cache) and one compaction pass of a fresh copy. Scans and point reads are checked \
     against sums computed from the workload, so nothing is optimized away.",
];
