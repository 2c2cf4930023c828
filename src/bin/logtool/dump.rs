//! `dump`: Kafka's `kafka-dump-log --deep-iteration` for a strata or Kafka
//! directory. Files are decoded by what their names say they are: segments
//! (and KRaft snapshots) as batches and records — with `--json`, the lines
//! `kafka_verify.py --dump` prints — and the other files by
//! [`super::dump_files`].

use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata::internals::format::file_name::parse_file_name;
use strata::internals::format::{
    BatchIter, BatchView, ControlRecord, ControlType, RecordRef, StopReason,
};

use super::dump_files::{self, Kind};
use super::dump_kraft::{control_type_name, kraft_control};
use super::json::{Json, base64};
use super::progress::Progress;
use super::{Failure, Out, paths};

/// `key_b64` (null when null) plus `key_utf8` when the bytes are UTF-8.
fn push_bytes(obj: &mut Json, name: &str, bytes: Option<&Bytes>) {
    match bytes {
        None => obj.push(&format!("{name}_b64"), Json::Null),
        Some(b) => {
            obj.push(&format!("{name}_b64"), base64(b));
            if let Ok(s) = std::str::from_utf8(b) {
                obj.push(&format!("{name}_utf8"), s);
            }
        }
    }
}

/// Kafka's name of a batch's timestamp type: magic 0 has none
/// (`TimestampType.NO_TIMESTAMP_TYPE`, as `AbstractLegacyRecordBatch.timestampType` says).
pub fn timestamp_type_name(b: &BatchView) -> &'static str {
    if b.magic() == 0 { "NoTimestampType" } else { b.timestamp_type().name() }
}

pub fn batch_json(file: &str, position: usize, b: &BatchView) -> Json {
    // A legacy entry has no count field (Kafka's `countOrNull` is null).
    let count = if b.is_legacy() { Json::Null } else { b.records_count().into() };
    Json::object()
        .with("type", "batch")
        .with("file", file)
        .with("position", position)
        .with("sizeInBytes", b.size())
        .with("magic", b.magic())
        .with("baseOffset", b.base_offset())
        .with("lastOffset", b.last_offset())
        .with("count", count)
        .with("maxTimestamp", b.max_timestamp())
        .with("timestampType", timestamp_type_name(b))
        .with(
            "compression",
            b.compression()
                .map_or_else(|_| b.compression_id().to_string(), |c| c.name().to_owned()),
        )
        .with("crc", b.crc())
        .with("partitionLeaderEpoch", b.partition_leader_epoch())
        .with("producerId", b.producer_id())
        .with("producerEpoch", b.producer_epoch())
        .with("baseSequence", b.base_sequence())
        .with("transactional", b.is_transactional())
        .with("control", b.is_control())
}

pub fn record_json(r: &RecordRef) -> Json {
    let mut obj = Json::object()
        .with("type", "record")
        .with("offset", r.offset())
        .with("timestamp", r.timestamp());
    push_bytes(&mut obj, "key", r.key());
    push_bytes(&mut obj, "value", r.value());
    let headers = r
        .headers()
        .iter()
        .map(|h| {
            let mut o = Json::object().with("key", String::from_utf8_lossy(&h.key).into_owned());
            push_bytes(&mut o, "value", h.value.as_ref());
            o
        })
        .collect::<Vec<_>>();
    obj.push("headers", headers);
    obj
}

/// The files a PATH argument stands for: the file itself, or a directory's
/// `.log` files in offset order — with `indexes` each segment's `.index`,
/// `.timeindex` and `.txnindex` after its `.log`, with `all` also the
/// producer snapshots and checkpoint files (directory state last).
fn expand(path: &Path, indexes: bool, all: bool) -> Result<Vec<(PathBuf, Kind)>, Failure> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(Failure::io(format!("cannot read {}: {e}", path.display())));
    }
    if !path.is_dir() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return Ok(vec![(path.to_owned(), Kind::of(&name))]);
    }
    // A log directory stands for its partition directories, in topic and partition order,
    // then (with --all-files) its own checkpoint files.
    let dirs = paths::partition_dirs(path)?;
    let mut files = Vec::new();
    for dir in dirs.iter().filter(|d| *d != path) {
        files.extend(partition_files(dir, indexes, all)?);
    }
    files.extend(partition_files(path, indexes, all)?);
    Ok(files)
}

/// A partition directory's files `dump` reads, in the order [`expand`] documents.
fn partition_files(path: &Path, indexes: bool, all: bool) -> Result<Vec<(PathBuf, Kind)>, Failure> {
    let entries = std::fs::read_dir(path)
        .map_err(|e| Failure::io(format!("cannot list directory {}: {e}", path.display())))?;
    let mut files: Vec<((u8, i64), usize, PathBuf, Kind)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kind = Kind::of(&name);
            // Leftovers of a roll or a cleaning are not the partition's data.
            if parse_file_name(&name).is_some_and(|p| p.temp.is_some()) {
                return None;
            }
            let order = kind.order(indexes, all)?;
            let rank = match kind {
                Kind::Log(_) => 0,
                Kind::Index(_) => 1,
                Kind::TimeIndex(_) => 2,
                Kind::TxnIndex(_) => 3,
                _ => 4,
            };
            Some((order, rank, e.path(), kind))
        })
        .collect();
    files.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    Ok(files.into_iter().map(|(_, _, p, k)| (p, k)).collect())
}

/// What `dump` reads and how.
pub struct DumpArgs<'a> {
    /// Files or directories.
    pub paths: &'a [PathBuf],
    /// `--print-data-log`.
    pub print_data: bool,
    /// `--indexes`: a directory's index files too.
    pub indexes: bool,
    /// `--all-files`: a directory's snapshots and checkpoints too.
    pub all: bool,
}

/// Dumps every PATH; returns the number of problems reported on stderr.
pub fn run(out: &mut Out, args: &DumpArgs) -> Result<usize, Failure> {
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in args.paths {
        // A file named twice (a partition and its log directory) is dumped once.
        files.extend(
            expand(path, args.indexes, args.all)?.into_iter().filter(|(p, _)| {
                seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            }),
        );
    }
    let total: u64 =
        files.iter().filter_map(|(p, _)| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let mut progress = Progress::new("dump", total, out.is_json());
    let mut problems = 0;
    let mut gaps = Vec::new();
    for (file, kind) in &files {
        let mut file_gaps = Vec::new();
        problems += dump_file(out, file, *kind, args.print_data, &mut file_gaps)?;
        if !file_gaps.is_empty() {
            gaps.push((file, file_gaps));
        }
        progress.advance(std::fs::metadata(file).map_or(0, |m| m.len()));
    }
    progress.finish();
    // Kafka's tool ends with each file's offset gaps on stderr (`DumpLogSegments.main`). They
    // are not problems: a compacted or legacy log has them by design, so the exit status
    // stays. Kafka lists a file's pairs newest first (it prepends them); these go in log order.
    for (file, pairs) in gaps {
        let shown = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        say!("Non-consecutive offsets in {}", shown.display());
        for (before, after) in pairs {
            say!("  {before} is followed by {after}");
        }
    }
    Ok(problems)
}

/// Dumps one file; a `.log` or KRaft snapshot's record offsets that do not follow on from the
/// record before (`(before, after)`) go to `gaps`.
fn dump_file(
    out: &mut Out,
    path: &Path,
    kind: Kind,
    print_data: bool,
    gaps: &mut Vec<(i64, i64)>,
) -> Result<usize, Failure> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if kind == Kind::Unknown {
        // Kafka's tool says so and goes on.
        say!("Ignoring unknown file {}", path.display());
        return Ok(0);
    }
    // The store's own read: a FIFO or device under a dumped name is an error naming it, not a
    // read that waits forever (it opens non-blocking and refuses what is not a regular file).
    let data = strata::internals::io::file::read_limited(path, longest(kind))
        .map_err(|e| Failure::io(format!("cannot read {}: {}", path.display(), io_cause(&e))))?;
    out.human(&format!("Dumping {}", path.display()));
    let heading = match kind {
        Kind::Log(base) => format!("Log starting offset: {base}"),
        Kind::KraftSnapshot(offset, epoch) => {
            format!("Snapshot end offset: {offset}, epoch: {epoch}")
        }
        Kind::KraftBootstrap => "KRaft bootstrap snapshot".to_owned(),
        other => return Ok(dump_files::dump(out, path, &name, other, &data)),
    };
    out.human(&heading);
    dump_log(out, path, &name, Bytes::from(data), print_data, gaps)
}

/// The longest file of `kind` read: the store's own limit for the state
/// files it reads whole (a longer one, such as a planted sparse file, is
/// refused by its length before anything is allocated), the longest file
/// of any kind otherwise (segments and indexes reach 2 GiB).
fn longest(kind: Kind) -> u64 {
    use strata::internals::log::read_limits;
    match kind {
        Kind::PartitionMetadata => read_limits::PARTITION_METADATA,
        Kind::LeaderEpochCheckpoint => read_limits::LEADER_EPOCH_CHECKPOINT,
        Kind::ProducerSnapshot => read_limits::producer_snapshot(),
        Kind::OffsetCheckpoint => read_limits::OFFSET_CHECKPOINT,
        _ => strata::internals::io::file::MAX_READ,
    }
}

fn dump_log(
    out: &mut Out,
    path: &Path,
    name: &str,
    data: Bytes,
    print_data: bool,
    gaps: &mut Vec<(i64, i64)>,
) -> Result<usize, Failure> {
    let mut problems = 0;
    let mut last_offset: Option<i64> = None;
    let len = data.len();
    let mut iter = BatchIter::new(data);
    for (position, batch) in iter.by_ref() {
        let valid = batch.validate();
        let is_valid = valid.is_ok();
        out.line(&batch_json(name, position, &batch), || human_batch(position, &batch, is_valid));
        // A batch that fails its checks still shows the records that decode, as Kafka's
        // `DumpLogSegments.dumpLog` and `kafka_verify.py --dump` iterate them whatever the CRC:
        // the two dumps stay diffable, and the operator sees what the damaged bytes hold.
        if let Err(e) = valid {
            say!("{}: corrupt batch at position {position}: {e}", path.display());
            problems += 1;
        }
        let records = match batch.records() {
            Ok(r) => r,
            Err(e) => {
                say!("{}: batch at position {position}: {e}", path.display());
                problems += 1;
                continue;
            }
        };
        // Kafka's legacy record lines end with the message's `isValid:` and `crc:`: an
        // uncompressed entry's own (its CRC is the entry's), each inner message's of a
        // compressed wrapper (checked as they decode, so valid once they do).
        let crcs = batch.legacy_record_crcs().and_then(Result::ok).unwrap_or_default();
        let plain = batch.compression_id() == 0;
        for (i, r) in records.enumerate() {
            let legacy = crcs.get(i).map(|&crc| (is_valid || !plain, crc));
            match r {
                Ok(r) => {
                    if let Some(before) =
                        last_offset.filter(|&o| o.checked_add(1) != Some(r.offset()))
                    {
                        gaps.push((before, r.offset()));
                    }
                    last_offset = Some(r.offset());
                    out.line(&record_json(&r), || human_record(&batch, &r, legacy, print_data));
                }
                Err(e) => {
                    say!("{}: record in batch at position {position}: {e}", path.display());
                    problems += 1;
                    break;
                }
            }
        }
    }
    let invalid_from = match iter.stop_reason() {
        Some(StopReason::TornTail { position, .. })
        | Some(StopReason::ZeroTail { position, .. })
        | Some(StopReason::Corrupt { position, .. }) => Some(*position),
        Some(StopReason::End) | None => None,
    };
    if let Some(at) = invalid_from {
        // Kafka's `printTrailingBytes`.
        out.human(&format!("Found {} invalid bytes at the end of {name}", len.saturating_sub(at)));
    }
    match iter.stop_reason() {
        Some(StopReason::End) | None => {}
        Some(StopReason::TornTail { position, needed, available }) => {
            say!(
                "{}: torn batch at position {position}: needs {needed} bytes, {available} remain",
                path.display()
            );
            problems += 1;
        }
        Some(StopReason::ZeroTail { position, len }) => {
            say!(
                "{}: {len} zero bytes at position {position} (preallocated tail, not batches)",
                path.display()
            );
            problems += 1;
        }
        Some(StopReason::Corrupt { position, error }) => {
            say!("{}: corrupt batch at position {position}: {error}", path.display());
            problems += 1;
        }
    }
    Ok(problems)
}

/// Kafka's batch line (`DumpLogSegments.printBatchLevel`): v2 batches lead
/// with their header fields, legacy entries with `offset:` alone.
fn human_batch(position: usize, b: &BatchView, valid: bool) -> String {
    let head = if b.magic() >= 2 {
        format!(
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
             producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {}",
            b.base_offset(),
            b.last_offset(),
            b.records_count(),
            b.base_sequence(),
            b.last_sequence(),
            b.producer_id(),
            b.producer_epoch(),
            b.partition_leader_epoch(),
            b.is_transactional(),
            b.is_control(),
            optional_long(b.delete_horizon_ms()),
        )
    } else {
        format!("offset: {}", b.last_offset())
    };
    format!(
        "{head} position: {position} {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {valid}",
        timestamp_type_name(b),
        b.max_timestamp(),
        b.size(),
        b.magic(),
        b.compression().map_or("invalid", |c| c.name()),
        b.crc(),
    )
}

/// Java's `OptionalLong.toString()`, as Kafka's tool prints it.
pub fn optional_long(v: Option<i64>) -> String {
    v.map_or_else(|| "OptionalLong.empty".to_owned(), |v| format!("OptionalLong[{v}]"))
}

/// Kafka's record line (`printRecordMetadata` and `printRecordContents`):
/// `| offset: N CreateTime: T keySize: K valueSize: V`, then for v2
/// `sequence:` and `headerKeys:`, for legacy `isValid:` and `crc:` (`legacy`:
/// the message's validity and stored CRC), for control records the marker,
/// and with `--print-data-log` the key and value that are present (never a
/// control record's).
fn human_record(
    b: &BatchView,
    r: &RecordRef,
    legacy: Option<(bool, u32)>,
    print_data: bool,
) -> String {
    let mut s = format!(
        "| offset: {} {}: {} keySize: {} valueSize: {}",
        r.offset(),
        timestamp_type_name(b),
        r.timestamp(),
        r.key().map_or(-1, |k| k.len() as i64),
        r.value().map_or(-1, |v| v.len() as i64),
    );
    if b.magic() >= 2 {
        let keys: Vec<String> =
            r.headers().iter().map(|h| String::from_utf8_lossy(&h.key).into_owned()).collect();
        s.push_str(&format!(" sequence: {} headerKeys: [{}]", r.sequence(), keys.join(",")));
    } else if let Some((valid, crc)) = legacy {
        s.push_str(&format!(" isValid: {valid} crc: {crc}"));
    }
    if b.is_control() {
        let key = r.key().map_or(&[][..], |k| &k[..]);
        match ControlRecord::decode(key, r.value().map(|v| &v[..])) {
            Ok(ControlRecord { kind: ControlType::Abort, coordinator_epoch }) => {
                s.push_str(&format!(" endTxnMarker: ABORT coordinatorEpoch: {coordinator_epoch}"));
            }
            Ok(ControlRecord { kind: ControlType::Commit, coordinator_epoch }) => {
                s.push_str(&format!(" endTxnMarker: COMMIT coordinatorEpoch: {coordinator_epoch}"));
            }
            Ok(ControlRecord { kind: ControlType::Other(id), .. }) => {
                match r.value().and_then(|v| kraft_control(id, v)) {
                    Some(text) => s.push_str(&format!(" {text}")),
                    None => s.push_str(&format!(" controlType: {}({id})", control_type_name(id))),
                }
            }
            Err(e) => s.push_str(&format!(" controlType: unreadable ({e})")),
        }
    } else if print_data {
        if let Some(k) = r.key() {
            s.push_str(&format!(" key: {}", String::from_utf8_lossy(k)));
        }
        if let Some(v) = r.value() {
            s.push_str(&format!(" payload: {}", String::from_utf8_lossy(v)));
        }
    }
    s
}

/// The cause of a library I/O error without the path and call it already names.
pub fn io_cause(e: &strata::Error) -> String {
    match e {
        strata::Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}
