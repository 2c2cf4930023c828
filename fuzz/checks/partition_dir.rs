//! What the `partition_dir` fuzz target claims about [`Log::open`] and
//! [`Log::open_read_only`] over a whole partition directory of any files, as
//! a plain function so `tests/fuzz_corpus.rs` replays the corpus without
//! cargo-fuzz.
//!
//! The input builds the directory (in `/dev/shm` when there is one):
//!
//! - byte 0, the open's options: bit 0 a clean shutdown; bits 1-2 the
//!   recovery point (none, 0, 1, the second base offset); bits 4-7 the
//!   checkpointed log start offset (0 to 15);
//! - byte 1, the second segment's base offset (0 to 255);
//! - then files, each a tag byte, a length (two bytes, little-endian) and
//!   that many bytes. The tag's low three bits pick the file ([`KINDS`]:
//!   `.log`, `.index`, `.timeindex`, `.txnindex`, `.snapshot`,
//!   `leader-epoch-checkpoint`, `partition.metadata`, a stray file), bit 3
//!   the second base offset, bits 4-5 a suffix (none, `.deleted`,
//!   `.cleaned`, `.swap`; `.tmp` for the files not named by offset), and
//!   bit 7 on a `.log` makes its bytes valid batches ([`generated_log`])
//!   that the file's bytes then damage, so recovery gets past the first
//!   header often.
//!
//! For any input:
//!
//! 1. No open, read, append or close panics or hangs; a failure is an
//!    error whose message is not empty.
//! 2. A read-only open changes no byte and no name in the directory.
//! 3. Every read between the log start and end offsets returns records at
//!    or above the offset asked for and below the log end, or an error; a
//!    point read at each record served serves that record again when the
//!    open recovered every segment (unclean, recovery point 0), and a record
//!    at or above it otherwise. A segment an open trusts may hold batches
//!    whose base offsets (outside the CRC, as in Kafka's format) go
//!    backwards, so one offset sits in two batches: a read from the
//!    segment's start serves the first (and refuses the batch that goes
//!    back), a point read through the index the second. A Kafka broker
//!    trusts such a segment too; recovery cuts it.
//! 4. After one batch is appended, the log closed and opened again (as
//!    after a clean shutdown), the appended record is served unchanged at
//!    its offset, and so is every record the first open served when that
//!    open recovered every segment (unclean, recovery point 0). A clean
//!    open trusts its segments and may serve records past a damaged batch
//!    that a later open's recovery cuts (see `run`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use strata::{BatchBuilder, LoadOptions, Log, LogConfig, ManualClock, Record, RecordRef};

/// How far an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// The read-write open refused the directory.
    Refused,
    /// The log opened, was read, appended to, reopened and read again.
    Reopened,
}

/// The clock every open reads: record timestamps near it pass the log's
/// timestamp rules.
pub(crate) const NOW: i64 = 1_700_000_000_000;

/// The file kinds a tag's low three bits pick.
pub(crate) const KINDS: [&str; 8] = [
    ".log",
    ".index",
    ".timeindex",
    ".txnindex",
    ".snapshot",
    "leader-epoch-checkpoint",
    "partition.metadata",
    "stray",
];

/// Suffixes a tag's bits 4-5 pick for the files named by offset.
const SUFFIXES: [&str; 4] = ["", ".deleted", ".cleaned", ".swap"];

/// Reads per pass at most (offsets may jump anywhere; this bounds the walk).
const MAX_READS: usize = 256;
/// Point reads per pass at most.
const MAX_POINT_READS: usize = 64;
/// Bytes of files an input may write in all.
const MAX_FILE_BYTES: usize = 64 << 10;
/// Bytes one read asks for.
const FETCH_BYTES: usize = 2048;

/// Small segments and indexes, so rolls and index entries are frequent.
pub(crate) fn config() -> LogConfig {
    LogConfig::default().segment_bytes(1024).index_interval_bytes(64).segment_index_bytes(256)
}

/// A directory no other input, thread or process uses at the same time.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    root.join(format!("strata-fuzz-dir-{}-{n}", std::process::id())).join("t-0")
}

/// `batches` batches of `per_batch` records from `base`: what a writer
/// leaves, for the input's bytes to damage.
pub(crate) fn generated_log(base: i64, batches: u8, per_batch: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = base;
    for _ in 0..batches.clamp(1, 8) {
        let mut b = BatchBuilder::new(offset);
        for _ in 0..per_batch.clamp(1, 8) {
            let r = Record::new(format!("k{offset}"), "v").timestamp(NOW - 1000 + offset % 1000);
            if b.append(&r).is_err() {
                return out;
            }
            offset = offset.saturating_add(1);
        }
        match b.build() {
            Ok(batch) => out.extend_from_slice(&batch),
            Err(_) => return out,
        }
    }
    out
}

/// The bytes of a generated `.log`: `data` is the batch count, records a
/// batch, bytes to cut off the end, then (position: two bytes LE, xor
/// mask) triples.
fn damaged_log(base: i64, data: &[u8]) -> Vec<u8> {
    let byte = |i: usize| data.get(i).copied().unwrap_or(1);
    let mut log = generated_log(base, byte(0), byte(1));
    let cut = usize::from(data.get(2).copied().unwrap_or(0));
    log.truncate(log.len().saturating_sub(cut));
    for m in data.get(3..).unwrap_or_default().chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([m[0], m[1]]));
        if let Some(b) = log.get_mut(at) {
            *b ^= m[2];
        }
    }
    log
}

/// The name of the file a tag picks.
fn file_name(tag: u8, base: i64) -> String {
    let kind = KINDS[usize::from(tag & 7)];
    let suffix = SUFFIXES[usize::from((tag >> 4) & 3)];
    match kind {
        "leader-epoch-checkpoint" | "partition.metadata" | "stray" => {
            let name = if kind == "stray" { "notes.txt" } else { kind };
            if suffix.is_empty() { name.to_owned() } else { format!("{name}.tmp") }
        }
        _ => format!("{base:020}{kind}{suffix}"),
    }
}

/// Writes the directory the input describes; returns the options byte and
/// the second base offset.
pub(crate) fn build(dir: &Path, data: &[u8]) -> (u8, i64) {
    std::fs::create_dir_all(dir).expect("create the scratch directory");
    let flags = data.first().copied().unwrap_or(0);
    let second = i64::from(data.get(1).copied().unwrap_or(0));
    let mut rest = data.get(2..).unwrap_or_default();
    let mut written = 0;
    while let [tag, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let base = if tag & 8 == 0 { 0 } else { second };
        let file = if tag & 0x87 == 0x80 { damaged_log(base, bytes) } else { bytes.to_vec() };
        written += file.len();
        if written > MAX_FILE_BYTES {
            break;
        }
        std::fs::write(dir.join(file_name(*tag, base)), file).expect("write a scratch file");
    }
    (flags, second)
}

/// The options byte's open options.
pub(crate) fn options(flags: u8, second: i64) -> LoadOptions {
    let o = LoadOptions::default()
        .with_clean_shutdown(flags & 1 == 1)
        .with_log_start_offset(i64::from(flags >> 4));
    match (flags >> 1) & 3 {
        0 => o,
        1 => o.with_recovery_point(0),
        2 => o.with_recovery_point(1),
        _ => o.with_recovery_point(second),
    }
}

/// Every file's name and bytes, sorted.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("list the scratch directory")
        .flatten()
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    v.sort();
    v
}

fn clear(e: &strata::Error) {
    assert!(!e.to_string().is_empty(), "an error without a message: {e:?}");
}

/// What a record served holds, copied out of the log's mapped bytes: a view
/// of the first open's map must not be read once another open has the files.
type Served = (i64, Option<Vec<u8>>, Option<Vec<u8>>, usize);

fn owned(r: &RecordRef) -> Served {
    (r.timestamp(), r.key().map(|k| k.to_vec()), r.value().map(|v| v.to_vec()), r.headers().len())
}

/// Reads the log from its start to its end (claim 3); the records served.
/// `validated`: the open recovered every segment.
fn scan(log: &Log, validated: bool) -> BTreeMap<i64, Served> {
    let end = log.log_end_offset();
    let mut at = log.log_start_offset();
    let mut served = BTreeMap::new();
    for _ in 0..MAX_READS {
        if at >= end {
            break;
        }
        let fetched = match log.read(at, FETCH_BYTES) {
            Ok(f) => f,
            Err(e) => {
                clear(&e);
                at += 1;
                continue;
            }
        };
        // After an error the walk goes on one offset past the last record
        // served, not past the whole fetch: what follows a damaged batch
        // may still be served from an index entry beyond it.
        let mut next = fetched.next_offset();
        for r in fetched.records() {
            match r {
                Ok(r) => {
                    let o = r.offset();
                    assert!(o >= at && o < end, "read at {at} served offset {o} (end {end})");
                    served.insert(o, owned(&r));
                }
                Err(e) => {
                    clear(&e);
                    next = served.range(at..).next_back().map_or(at, |(o, _)| *o) + 1;
                    break;
                }
            }
        }
        at = if next > at { next } else { at + 1 };
    }
    for (&o, r) in served.iter().take(MAX_POINT_READS) {
        match log.read(o, 1) {
            Ok(f) => match f.records().next() {
                Some(Ok(again)) if validated => {
                    assert_eq!(&owned(&again), r, "a point read at {o}")
                }
                Some(Ok(again)) => {
                    assert!(again.offset() >= o, "a point read at {o} served {}", again.offset())
                }
                Some(Err(e)) => clear(&e),
                None => panic!("a point read at {o} served nothing"),
            },
            Err(e) => clear(&e),
        }
    }
    served
}

/// Runs the claims of the module docs on `data`; panics if one fails.
pub(crate) fn check(data: &[u8]) -> Outcome {
    let dir = scratch_dir();
    let (flags, second) = build(&dir, data);
    let outcome = run(&dir, options(flags, second));
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir_all(parent);
    }
    outcome
}

fn run(dir: &Path, options: LoadOptions) -> Outcome {
    let clock = ManualClock::new(NOW);
    // A clean open or one recovering from a later point trusts segments it
    // did not validate, and serves what follows a damaged batch in them; a
    // later open that finds the damage (a sealed segment's first batch
    // reaching into the next) recovers the segment and cuts those records,
    // as Kafka's recovery would. Only the append is then claimed.
    let validated = !options.clean_shutdown() && options.recovery_point().unwrap_or(0) == 0;
    let before = contents(dir);
    match Log::open_read_only(dir, "t", 0, config(), clock.clone(), options) {
        Ok((log, _)) => {
            scan(&log, validated);
            if let Err(e) = log.close() {
                clear(&e);
            }
        }
        Err(e) => clear(&e),
    }
    assert!(contents(dir) == before, "a read-only open changed the directory");

    let log = match Log::open(dir, "t", 0, config(), clock.clone(), options) {
        Ok((log, _)) => log,
        Err(e) => {
            clear(&e);
            return Outcome::Refused;
        }
    };
    let mut served = scan(&log, validated);
    let mut appended = None;
    match log.append(&[Record::new("appended", "v").timestamp(NOW)]) {
        Ok(info) => {
            let again = log.read(info.base_offset, 1).map(|f| f.records().next());
            match again {
                Ok(Some(Ok(r))) => {
                    served.insert(info.base_offset, owned(&r));
                    appended = Some(info.base_offset);
                }
                other => {
                    panic!("the appended record at {} is not served: {other:?}", info.base_offset)
                }
            }
        }
        Err(e) => clear(&e),
    }
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    if let Err(e) = log.close() {
        // Nothing acknowledged may be lost; a close that fails says why.
        clear(&e);
        return Outcome::Refused;
    }
    drop(log);

    let reopen = LoadOptions::clean().with_log_start_offset(start).with_recovery_point(end);
    let log = match Log::open(dir, "t", 0, config(), clock, reopen) {
        Ok((log, _)) => log,
        Err(e) => panic!("a log closed cleanly does not open again: {e}"),
    };
    scan(&log, validated);
    for (o, r) in &served {
        if !validated && Some(*o) != appended {
            continue;
        }
        // A point read, not the walk: the walk may spend its reads on a
        // damaged stretch before reaching an offset far past it.
        let again =
            log.read(*o, 1).map(|f| f.records().next().map(|r| r.map(|r| (r.offset(), owned(&r)))));
        match again {
            Ok(Some(Ok((at, again)))) => {
                assert_eq!((at, &again), (*o, r), "record {o} changed across the reopen");
            }
            other => panic!("record {o} was served before the reopen, not after: {other:?}"),
        }
    }
    if let Err(e) = log.close() {
        clear(&e);
    }
    Outcome::Reopened
}
