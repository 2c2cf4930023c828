//! `dump` and its JSON: the lines `kafka_verify.py --dump` prints.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata::internals::format::file_name::{FileKind, parse_file_name};
use strata::internals::format::index_entry::{offset_entries, time_entries};
use strata::internals::format::{BatchIter, BatchView, RecordRef, StopReason};

use crate::json::{Json, base64};
use crate::{Failure, Out};

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
/// (`TimestampType.NO_TIMESTAMP_TYPE`).
fn timestamp_type_name(b: &BatchView) -> &'static str {
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

fn text(b: Option<&Bytes>) -> String {
    b.map_or_else(|| "null".to_owned(), |b| String::from_utf8_lossy(b).into_owned())
}

/// The files a PATH argument stands for: the file itself, or a directory's
/// `.log` files in offset order (plus index files with `with_indexes`).
fn expand(path: &Path, with_indexes: bool) -> Result<Vec<PathBuf>, Failure> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| Failure::new(format!("cannot list {}: {e}", path.display())))?;
    let mut files: Vec<(i64, u8, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let p = parse_file_name(&name).filter(|p| p.temp.is_none())?;
            let order = match p.kind {
                FileKind::Log => 0,
                FileKind::Index if with_indexes => 1,
                FileKind::TimeIndex if with_indexes => 2,
                _ => return None,
            };
            Some((p.offset, order, e.path()))
        })
        .collect();
    files.sort();
    Ok(files.into_iter().map(|(_, _, p)| p).collect())
}

/// Dumps every PATH; returns the number of problems reported on stderr.
pub fn run(
    out: &mut Out,
    paths: &[PathBuf],
    print_data: bool,
    with_indexes: bool,
) -> Result<usize, Failure> {
    let mut problems = 0;
    for path in paths {
        for file in expand(path, with_indexes)? {
            problems += dump_file(out, &file, print_data)?;
        }
    }
    Ok(problems)
}

fn dump_file(out: &mut Out, path: &Path, print_data: bool) -> Result<usize, Failure> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let data = std::fs::read(path)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
    let parsed = parse_file_name(&name);
    let base = parsed.map_or(0, |p| p.offset);
    match parsed.map(|p| p.kind) {
        Some(FileKind::Index) => {
            out.human(&format!("Dumping {}", path.display()));
            for (offset, position) in offset_entries(&data, base) {
                let line = Json::object()
                    .with("type", "index")
                    .with("file", name.as_str())
                    .with("offset", offset)
                    .with("position", position);
                out.line(&line, || format!("offset: {offset} position: {position}"));
            }
            Ok(0)
        }
        Some(FileKind::TimeIndex) => {
            out.human(&format!("Dumping {}", path.display()));
            for (timestamp, offset) in time_entries(&data, base) {
                let line = Json::object()
                    .with("type", "timeindex")
                    .with("file", name.as_str())
                    .with("timestamp", timestamp)
                    .with("offset", offset);
                out.line(&line, || format!("timestamp: {timestamp} offset: {offset}"));
            }
            Ok(0)
        }
        _ => dump_log(out, path, &name, Bytes::from(data), base, print_data),
    }
}

fn dump_log(
    out: &mut Out,
    path: &Path,
    name: &str,
    data: Bytes,
    base: i64,
    print_data: bool,
) -> Result<usize, Failure> {
    out.human(&format!("Dumping {}\nLog starting offset: {base}", path.display()));
    let mut problems = 0;
    let mut iter = BatchIter::new(data);
    for (position, batch) in iter.by_ref() {
        let valid = batch.validate();
        out.line(&batch_json(name, position, &batch), || {
            human_batch(position, &batch, valid.is_ok())
        });
        if let Err(e) = valid {
            eprintln!("{}: corrupt batch at position {position}: {e}", path.display());
            problems += 1;
            continue;
        }
        let records = match batch.records() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{}: batch at position {position}: {e}", path.display());
                problems += 1;
                continue;
            }
        };
        for r in records {
            match r {
                Ok(r) => out.line(&record_json(&r), || human_record(&r, print_data)),
                Err(e) => {
                    eprintln!("{}: record in batch at position {position}: {e}", path.display());
                    problems += 1;
                    break;
                }
            }
        }
    }
    match iter.stop_reason() {
        Some(StopReason::End) | None => {}
        Some(StopReason::TornTail { position, needed, available }) => {
            eprintln!(
                "{}: torn batch at position {position}: needs {needed} bytes, {available} remain",
                path.display()
            );
            problems += 1;
        }
        Some(StopReason::ZeroTail { position, len }) => {
            eprintln!(
                "{}: {len} zero bytes at position {position} (preallocated tail, not batches)",
                path.display()
            );
            problems += 1;
        }
        Some(StopReason::Corrupt { position, error }) => {
            eprintln!("{}: corrupt batch at position {position}: {error}", path.display());
            problems += 1;
        }
    }
    Ok(problems)
}

fn human_batch(position: usize, b: &BatchView, valid: bool) -> String {
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} \
         partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {} position: {position} {}: {} \
         size: {} magic: {} compresscodec: {} crc: {} isvalid: {valid}",
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
        b.delete_horizon_ms().map_or_else(|| "OptionalLong.empty".to_owned(), |h| h.to_string()),
        timestamp_type_name(b),
        b.max_timestamp(),
        b.size(),
        b.magic(),
        b.compression().map_or("invalid", |c| c.name()),
        b.crc(),
    )
}

fn human_record(r: &RecordRef, print_data: bool) -> String {
    let keys: Vec<String> =
        r.headers().iter().map(|h| String::from_utf8_lossy(&h.key).into_owned()).collect();
    let mut s = format!(
        "| offset: {} timestamp: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
        r.offset(),
        r.timestamp(),
        r.key().map_or(-1, |k| k.len() as i64),
        r.value().map_or(-1, |v| v.len() as i64),
        r.sequence(),
        keys.join(","),
    );
    if print_data {
        s.push_str(&format!(" key: {} payload: {}", text(r.key()), text(r.value())));
    }
    s
}
