//! The append-path loops issue 12 measures, made for a profiler: 1,000,000
//! records of an 8-byte key and a 100-byte value, in batches of 100, into one
//! partition under `LogConfig::default()`.
//!
//! ```text
//! cargo build --release --example append_profile
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='append_profile::run*' \
//!     target/release/examples/append_profile MODE [RECORDS]
//! strace -f -c -e trace=fsync,fdatasync,msync,sync_file_range \
//!     target/release/examples/append_profile durable 100000
//! ```
//!
//! Modes (only `run` is timed or profiled; setup and close are not):
//! - `records`: `Log::append` of owned [`Record`]s whose key and value are
//!   copied out of borrowed slices (what an embedder without `Bytes` does),
//!   built and dropped in the loop;
//! - `shared`: `Log::append` of owned [`Record`]s whose key and value are
//!   `Bytes` slices of one shared buffer (what `benches/compare` does),
//!   built and dropped in the loop;
//! - `records_held`, `shared_held`: the same records built before the loop
//!   and dropped after it, so the loop times `Log::append` alone: `records`
//!   less `records_held` is what the caller pays to make and drop its
//!   records (two allocations, copies and frees a record; for `shared`, two
//!   reference-count increments and decrements), `records_held` less
//!   `borrowed` what strata pays for taking them owned;
//! - `borrowed`: `Log::append` of [`BorrowedRecord`]s over the same slices;
//! - `varied`: `borrowed` with values of 80 to 100 bytes (90 on average;
//!   its MB/s counts 100), a different length from one record to the next
//!   (no two neighbours share a shape: the encoder's worst case), the same
//!   slices cut short;
//! - `batch`: `Log::append_batch` of client batches, built in the loop;
//! - `client`: `Log::append_batch` of client batches built before the loop
//!   and still held by the caller (what `benches/compare` times: the log
//!   gets a shared `Bytes` it may not patch in place);
//! - `client_varied`: `client` with values of 80 to 100 bytes as in
//!   `varied` (no two neighbours of a batch share a record length);
//! - `durable`: `Log::append` of borrowed records then `Log::flush`, per batch;
//! - `fsync_end`: `borrowed`, then one `Log::flush` at the end (timed);
//! - `recover`: writes the records, drops the log without closing it, and
//!   profiles the unclean open that re-validates the segment;
//! - `raw`, `raw_client`: the ceilings `benches/compare` divides by, one
//!   `write` per batch to a plain file of the payload bytes or of the
//!   client batches;
//! - `raw_client_split`: `raw_client` written as strata writes a client
//!   batch: one `pwritev` of a 16-byte head (the assigned base offset and
//!   epoch, here the client's own bytes copied) and the rest of the batch,
//!   at the file's end;
//! - `raw_client_ahead`: `raw_client` through `pwrite`, with the file given
//!   blocks ahead of its writes as strata's `.log` is (`fallocate` with
//!   `FALLOC_FL_KEEP_SIZE`, as many bytes again as written, at most 1 MiB,
//!   from 256 KiB on);
//! - `raw_fsync_end`, `raw_client_fsync_end`: `raw` or `raw_client`, then
//!   one `File::sync_data` (fdatasync) at the end;
//! - `raw_client_crc`: `raw_client` with each batch's CRC-32C checked first,
//!   with strata's read-side CRC (crc-fast): the work Kafka's broker must do
//!   on a client batch before storing it.
//!
//! Setup runs the CRC-32C self-test (`format::crc::implementation`; once a
//! process) and prints its time and choice.
//!
//! The `fsync_end` modes also print how long the final sync took and how
//! many sectors the disk was sent meanwhile (`/sys/block/*/stat`, every
//! device: other writers on the machine count too).
//!
//! Each mode also prints the CPU time its loop took on the calling thread
//! (`/proc/thread-self/schedstat`: user and system, not time spent waiting
//! for a core), a steadier measure than wall time on a shared machine.
#![allow(clippy::print_stdout, reason = "a profiling tool prints what it measured")]
#![allow(clippy::indexing_slicing, reason = "fixed-size slices of its own buffer")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use strata::LogConfig;
use strata::{BatchBuilder, BorrowedRecord, Record};
use strata::{Clock, SystemClock};
use strata::{LoadOptions, Log};

const KEY: usize = 8;
const VALUE: usize = 100;
const PER_BATCH: usize = 100;

/// Deterministic, incompressible-looking payload: `records` keys and values back to back.
fn payload(records: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..records * (KEY + VALUE))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn slices(data: &[u8], i: usize) -> (&[u8], &[u8]) {
    let at = i * (KEY + VALUE);
    (&data[at..at + KEY], &data[at + KEY..at + KEY + VALUE])
}

fn open(dir: &std::path::Path, clean: bool) -> Log {
    let options = LoadOptions::default().with_clean_shutdown(clean);
    Log::open(dir, "p", 0, LogConfig::default(), Arc::new(SystemClock), options).expect("open").0
}

#[inline(never)]
fn run_records(log: &Log, data: &[u8], records: usize) {
    let mut batch = Vec::with_capacity(PER_BATCH);
    for b in 0..records / PER_BATCH {
        batch.clear();
        for i in b * PER_BATCH..(b + 1) * PER_BATCH {
            let (k, v) = slices(data, i);
            batch.push(Record::new(Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)));
        }
        black_box(log.append(&batch).expect("append"));
    }
}

#[inline(never)]
fn run_shared(log: &Log, data: &Bytes, records: usize) {
    let mut batch = Vec::with_capacity(PER_BATCH);
    for b in 0..records / PER_BATCH {
        batch.clear();
        for i in b * PER_BATCH..(b + 1) * PER_BATCH {
            let at = i * (KEY + VALUE);
            batch.push(Record::new(
                data.slice(at..at + KEY),
                data.slice(at + KEY..at + KEY + VALUE),
            ));
        }
        black_box(log.append(&batch).expect("append"));
    }
}

/// Every batch of `records_held` (`shared` false) or `shared_held` mode,
/// built before the profiled loop: the records of `records` or `shared`.
fn held_batches(data: &[u8], records: usize, shared: bool) -> Vec<Vec<Record>> {
    let buffer = Bytes::copy_from_slice(data);
    (0..records / PER_BATCH)
        .map(|b| {
            (b * PER_BATCH..(b + 1) * PER_BATCH)
                .map(|i| {
                    let at = i * (KEY + VALUE);
                    if shared {
                        Record::new(
                            buffer.slice(at..at + KEY),
                            buffer.slice(at + KEY..at + KEY + VALUE),
                        )
                    } else {
                        let (k, v) = slices(data, i);
                        Record::new(Bytes::copy_from_slice(k), Bytes::copy_from_slice(v))
                    }
                })
                .collect()
        })
        .collect()
}

#[inline(never)]
fn run_held(log: &Log, batches: &[Vec<Record>]) {
    for batch in batches {
        black_box(log.append(batch).expect("append"));
    }
}

#[inline(never)]
fn run_borrowed(log: &Log, data: &[u8], records: usize, flush: bool) {
    let mut batch = Vec::with_capacity(PER_BATCH);
    for b in 0..records / PER_BATCH {
        batch.clear();
        for i in b * PER_BATCH..(b + 1) * PER_BATCH {
            let (k, v) = slices(data, i);
            batch.push(BorrowedRecord::new(k, v));
        }
        black_box(log.append(&batch).expect("append"));
        if flush {
            log.flush().expect("flush");
        }
    }
}

/// The value length of record `i` in `varied` mode: 80 to 100 bytes, never
/// the same as its neighbour's.
fn varied_len(i: usize) -> usize {
    80 + (i * 13) % 21
}

#[inline(never)]
fn run_varied(log: &Log, data: &[u8], records: usize) {
    let mut batch = Vec::with_capacity(PER_BATCH);
    for b in 0..records / PER_BATCH {
        batch.clear();
        for i in b * PER_BATCH..(b + 1) * PER_BATCH {
            let (k, v) = slices(data, i);
            batch.push(BorrowedRecord::new(k, &v[..varied_len(i)]));
        }
        black_box(log.append(&batch).expect("append"));
    }
}

#[inline(never)]
fn run_batch(log: &Log, data: &[u8], records: usize) {
    let clock = SystemClock;
    for b in 0..records / PER_BATCH {
        let mut builder = BatchBuilder::new(0);
        let now = clock.now_ms();
        for (delta, i) in (b * PER_BATCH..(b + 1) * PER_BATCH).enumerate() {
            let (k, v) = slices(data, i);
            builder.append_slices(delta as i32, now, Some(k), Some(v), &[]).expect("encode");
        }
        black_box(log.append_batch(builder.build().expect("build")).expect("append"));
    }
}

/// Every batch of `client` mode (or `client_varied`, when `varied`), built
/// before the profiled loop.
fn client_batches(data: &[u8], records: usize, varied: bool) -> Vec<Bytes> {
    (0..records / PER_BATCH)
        .map(|b| {
            let mut builder = BatchBuilder::new(0);
            for (delta, i) in (b * PER_BATCH..(b + 1) * PER_BATCH).enumerate() {
                let (k, v) = slices(data, i);
                let v = if varied { &v[..varied_len(i)] } else { v };
                builder
                    .append_slices(delta as i32, 1_700_000_000_000, Some(k), Some(v), &[])
                    .expect("encode");
            }
            builder.build().expect("build")
        })
        .collect()
}

#[inline(never)]
fn run_client(log: &Log, batches: &[Bytes]) {
    for batch in batches {
        black_box(log.append_batch(batch.clone()).expect("append"));
    }
}

#[inline(never)]
fn run_raw(file: &mut std::fs::File, data: &[u8], records: usize) {
    use std::io::Write as _;
    for chunk in data.chunks_exact(PER_BATCH * (KEY + VALUE)).take(records / PER_BATCH) {
        file.write_all(chunk).expect("write");
    }
}

#[inline(never)]
fn run_raw_client(file: &mut std::fs::File, batches: &[Bytes]) {
    use std::io::Write as _;
    for batch in batches {
        file.write_all(batch).expect("write");
    }
}

/// [`run_raw_client`], checking each batch's stored CRC-32C first (over
/// attributes..end, as Kafka's `DefaultRecordBatch.isValid` does).
#[inline(never)]
fn run_raw_client_crc(file: &mut std::fs::File, batches: &[Bytes]) {
    use std::io::Write as _;
    for batch in batches {
        let stored = u32::from_be_bytes(batch[17..21].try_into().expect("4 bytes"));
        assert_eq!(strata::internals::format::crc::crc32c(&batch[21..]), stored, "CRC");
        file.write_all(batch).expect("write");
    }
}

/// [`run_raw_client`] as strata's segment writes a client batch: one
/// `pwritev` of the head and the rest, at an explicit position.
#[inline(never)]
fn run_raw_client_split(file: &std::fs::File, path: &std::path::Path, batches: &[Bytes]) {
    let mut pos = 0u64;
    for batch in batches {
        let mut head = [0u8; 16];
        head.copy_from_slice(&batch[..16]);
        strata::internals::io::file::write_all_at_split(file, path, &head, &batch[16..], pos)
            .expect("pwritev");
        pos += batch.len() as u64;
    }
}

/// [`run_raw_client`] through `pwrite`, the file given blocks ahead of its
/// writes as strata's segment gives its `.log` (`Segment::allocate_ahead`).
#[inline(never)]
fn run_raw_client_ahead(file: &std::fs::File, path: &std::path::Path, batches: &[Bytes]) {
    use std::os::unix::fs::FileExt as _;
    let (mut pos, mut ahead) = (0u64, 0u64);
    for batch in batches {
        let end = pos + batch.len() as u64;
        if end > ahead && end >= 256 << 10 {
            let to = end + end.min(1 << 20);
            let _advice = strata::internals::io::file::preallocate(file, path, pos.max(ahead), to);
            ahead = to;
        }
        file.write_all_at(batch, pos).expect("pwrite");
        pos = end;
    }
}

/// Nanoseconds the calling thread has run on a CPU (user and system).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Sectors written to every block device so far (field 7 of `/sys/block/*/stat`).
fn sectors_written() -> u64 {
    let Ok(devices) = std::fs::read_dir("/sys/block") else { return 0 };
    devices
        .filter_map(|d| std::fs::read_to_string(d.ok()?.path().join("stat")).ok())
        .filter_map(|s| s.split_whitespace().nth(6)?.parse::<u64>().ok())
        .sum()
}

/// Runs `sync`, printing its wall time and the sectors written meanwhile.
fn timed_sync(sync: impl FnOnce()) {
    let (t, sectors) = (Instant::now(), sectors_written());
    sync();
    let (took, sectors) = (t.elapsed(), sectors_written().saturating_sub(sectors));
    println!("final sync: {took:?}, {sectors} sectors written meanwhile");
}

#[inline(never)]
fn run_flush(log: &Log) {
    log.flush().expect("flush");
}

#[inline(never)]
fn run_recover(dir: &std::path::Path) -> Log {
    open(dir, false)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "borrowed".into());
    let records: usize = args.next().map_or(1_000_000, |n| n.parse().expect("RECORDS"));
    let data = payload(records);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), false);
    // The CRC-32C self-test runs once a process, on first use: here, untimed.
    let t = Instant::now();
    let crc = strata::internals::format::crc::implementation();
    println!("CRC-32C: {crc:?} (chosen by the self-test in {:?})", t.elapsed());
    let shared = if mode == "shared" { Bytes::from(data.clone()) } else { Bytes::new() };
    let client = if mode.starts_with("client") || mode.starts_with("raw_client") {
        client_batches(&data, records, mode == "client_varied")
    } else {
        Vec::new()
    };
    let held = match mode.as_str() {
        "records_held" => held_batches(&data, records, false),
        "shared_held" => held_batches(&data, records, true),
        _ => Vec::new(),
    };
    let mut raw = std::fs::File::create(dir.path().join("raw.log")).expect("raw file");
    let cpu = cpu_ns();
    let t = Instant::now();
    match mode.as_str() {
        "records" => run_records(&log, &data, records),
        "shared" => run_shared(&log, &shared, records),
        "records_held" | "shared_held" => run_held(&log, &held),
        "borrowed" => run_borrowed(&log, &data, records, false),
        "durable" => run_borrowed(&log, &data, records, true),
        "varied" => run_varied(&log, &data, records),
        "fsync_end" => {
            run_borrowed(&log, &data, records, false);
            timed_sync(|| run_flush(&log));
        }
        "batch" => run_batch(&log, &data, records),
        "client" | "client_varied" => run_client(&log, &client),
        "raw" => run_raw(&mut raw, &data, records),
        "raw_client" => run_raw_client(&mut raw, &client),
        "raw_client_crc" => run_raw_client_crc(&mut raw, &client),
        "raw_client_split" => run_raw_client_split(&raw, &dir.path().join("raw.log"), &client),
        "raw_client_ahead" => run_raw_client_ahead(&raw, &dir.path().join("raw.log"), &client),
        "raw_fsync_end" => {
            run_raw(&mut raw, &data, records);
            timed_sync(|| raw.sync_data().expect("fdatasync"));
        }
        "raw_client_fsync_end" => {
            run_raw_client(&mut raw, &client);
            timed_sync(|| raw.sync_data().expect("fdatasync"));
        }
        "recover" => {
            run_borrowed(&log, &data, records, false);
            drop(log);
            let t = Instant::now();
            let log = run_recover(dir.path());
            println!("recover: {:?}, log end offset {}", t.elapsed(), log.log_end_offset());
            log.close().expect("close");
            return;
        }
        other => panic!("unknown mode {other}"),
    }
    let took = t.elapsed();
    let cpu = cpu_ns().saturating_sub(cpu);
    let mb = (records * (KEY + VALUE)) as f64 / 1e6;
    println!(
        "{mode}: {records} records in {took:?}, {:.1} MB/s of payload; CPU {:.1} ms, {:.2} us a batch",
        mb / took.as_secs_f64(),
        cpu as f64 / 1e6,
        cpu as f64 / 1e3 / (records / PER_BATCH) as f64
    );
    log.close().expect("close");
}
