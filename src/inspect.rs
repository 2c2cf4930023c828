//! Read-only checks of a partition directory: what `logtool verify` runs.
//!
//! The same invariants the independent checker (`kafka_verify.py`) enforces,
//! computed by strata's own decoder: every batch frames, has a valid CRC and
//! decodes; offsets increase within and across segments and stay below the
//! next segment's base; every `.index` entry points at the start of the batch
//! whose last offset it names; `.timeindex` entries are monotonic and name the
//! batch carrying their timestamp. Nothing is opened for writing.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::Result;
use crate::format::file_name::{FileKind, parse_file_name, segment_file_name};
use crate::format::index_entry::{
    OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE, offset_entries, time_entries,
};
use crate::format::{BatchIter, StopReason, TimestampType};
use crate::io::file;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// File name inside the partition directory.
    pub file: String,
    /// Byte position in that file, when the problem has one.
    pub position: Option<u64>,
    /// Short name of the check (`crc`, `index-offset`, ...).
    pub check: &'static str,
    /// What is wrong, in a sentence.
    pub message: String,
}

/// What [`verify_partition_dir`] found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// The directory checked.
    pub path: PathBuf,
    /// Segments (`.log` files) found.
    pub segments: usize,
    /// Batches read.
    pub batches: usize,
    /// Records decoded.
    pub records: usize,
    /// Every broken invariant, in file order.
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Copy)]
struct BatchInfo {
    position: usize,
    base: i64,
    last: i64,
    max_ts: i64,
}

struct Checker {
    report: VerifyReport,
}

impl Checker {
    fn violation(
        &mut self,
        file: &str,
        position: Option<u64>,
        check: &'static str,
        message: String,
    ) {
        self.report.violations.push(Violation { file: file.to_owned(), position, check, message });
    }
}

/// Checks a partition directory's invariants without modifying anything.
///
/// `index_interval`, when given, also requires offset-index entries to be more
/// than that many bytes apart, as Kafka writes them.
///
/// # Errors
/// Only when the directory or a file cannot be read; broken invariants are
/// reported in [`VerifyReport::violations`].
pub fn verify_partition_dir(dir: &Path, index_interval: Option<u64>) -> Result<VerifyReport> {
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for path in file::read_dir(dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match parse_file_name(&name).filter(|p| p.temp.is_none()) {
            Some(p) if p.kind == FileKind::Log => bases.push(p.offset),
            Some(p) if matches!(p.kind, FileKind::Index | FileKind::TimeIndex) => {
                indexes.push((p.offset, name))
            }
            _ => {}
        }
    }
    bases.sort_unstable();
    let mut c = Checker {
        report: VerifyReport {
            path: dir.to_owned(),
            segments: bases.len(),
            ..VerifyReport::default()
        },
    };
    for (base, name) in indexes {
        if bases.binary_search(&base).is_err() {
            c.violation(&name, None, "orphan-index", "index file without a matching .log".into());
        }
    }
    let mut prev_last: Option<i64> = None;
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let batches = check_log(&mut c, dir, base, next_base, &mut prev_last)?;
        let index = dir.join(segment_file_name(base, FileKind::Index));
        if file::exists(&index)? {
            check_offset_index(&mut c, &index, base, &batches, index_interval)?;
        }
        let time_index = dir.join(segment_file_name(base, FileKind::TimeIndex));
        if file::exists(&time_index)? {
            check_time_index(&mut c, &time_index, base, &batches)?;
        }
    }
    Ok(c.report)
}

fn check_log(
    c: &mut Checker,
    dir: &Path,
    base: i64,
    next_base: Option<i64>,
    prev_last: &mut Option<i64>,
) -> Result<Vec<BatchInfo>> {
    let file = segment_file_name(base, FileKind::Log);
    let data = Bytes::from(file::read(&dir.join(&file))?);
    let mut batches = Vec::new();
    let mut iter = BatchIter::new(data);
    for (position, batch) in iter.by_ref() {
        let at = Some(position as u64);
        c.report.batches += 1;
        let info = BatchInfo {
            position,
            base: batch.base_offset(),
            last: batch.last_offset(),
            max_ts: batch.max_timestamp(),
        };
        // One decoding pass: the format's checks, the count and the max timestamp together.
        let mut max = None::<i64>;
        let mut records = 0;
        let checked = batch.validate().and_then(|()| {
            batch.check_records(
                |e| e,
                |r| {
                    records += 1;
                    max = Some(max.map_or(r.timestamp(), |m| m.max(r.timestamp())));
                    Ok(())
                },
            )
        });
        if let Err(e) = checked {
            c.violation(&file, at, "batch", format!("batch at offset {}: {e}", info.base));
        } else {
            c.report.records += records;
            if batch.timestamp_type() == TimestampType::CreateTime
                && max.is_some_and(|m| m != info.max_ts)
            {
                c.violation(
                    &file,
                    at,
                    "max-timestamp",
                    format!("maxTimestamp {} != largest record timestamp {max:?}", info.max_ts),
                );
            }
        }
        if info.base < base || info.last - base > i64::from(i32::MAX) {
            c.violation(
                &file,
                at,
                "relative-offset",
                format!(
                    "offsets {}..{} not representable relative to base {base}",
                    info.base, info.last
                ),
            );
        }
        if let Some(prev) = (*prev_last).filter(|&prev| info.base <= prev) {
            c.violation(
                &file,
                at,
                "offset-order",
                format!("baseOffset {} not above previous lastOffset {prev}", info.base),
            );
        }
        if next_base.is_some_and(|n| info.last >= n) {
            c.violation(
                &file,
                at,
                "segment-overlap",
                format!("lastOffset {} reaches the next segment's base {next_base:?}", info.last),
            );
        }
        *prev_last = Some(info.last);
        batches.push(info);
    }
    match iter.stop_reason() {
        Some(StopReason::End) | None => {}
        Some(StopReason::Corrupt { position, error }) => {
            c.violation(&file, Some(*position as u64), "batch-framing", error.to_string());
        }
        Some(StopReason::TornTail { position, needed, available }) => {
            c.violation(
                &file,
                Some(*position as u64),
                "truncated",
                format!("torn batch: needs {needed} bytes, {available} remain"),
            );
        }
        Some(StopReason::ZeroTail { position, len }) => {
            c.violation(
                &file,
                Some(*position as u64),
                "truncated",
                format!("{len} zero bytes after the last batch"),
            );
        }
    }
    Ok(batches)
}

fn check_offset_index(
    c: &mut Checker,
    path: &Path,
    base: i64,
    batches: &[BatchInfo],
    interval: Option<u64>,
) -> Result<()> {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let data = file::read(path)?;
    if data.len() % OFFSET_ENTRY_SIZE != 0 {
        c.violation(
            &file,
            None,
            "index-size",
            format!("length {} is not a multiple of {OFFSET_ENTRY_SIZE}", data.len()),
        );
    }
    let mut prev: Option<(i64, i32)> = None;
    for (slot, (offset, position)) in offset_entries(&data, base).into_iter().enumerate() {
        let at = Some((slot * OFFSET_ENTRY_SIZE) as u64);
        if prev.is_some_and(|(o, p)| offset <= o || position <= p) {
            c.violation(
                &file,
                at,
                "index-order",
                format!("slot {slot} ({offset} -> {position}) does not increase"),
            );
        }
        let prev_position = prev.map_or(0, |(_, p)| p);
        if interval
            .is_some_and(|limit| i64::from(position) - i64::from(prev_position) <= limit as i64)
        {
            c.violation(
                &file,
                at,
                "index-spacing",
                format!(
                    "slot {slot}: only {} bytes after the previous entry",
                    position - prev_position
                ),
            );
        }
        prev = Some((offset, position));
        match batches.iter().find(|b| b.position as i64 == i64::from(position)) {
            None => c.violation(
                &file,
                at,
                "index-position",
                format!("slot {slot}: no batch starts at position {position}"),
            ),
            Some(b) if b.last != offset => {
                c.violation(
                    &file,
                    at,
                    "index-offset",
                    format!(
                        "slot {slot}: batch at {position} ends at offset {}, not {offset}",
                        b.last
                    ),
                );
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_time_index(c: &mut Checker, path: &Path, base: i64, batches: &[BatchInfo]) -> Result<()> {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let data = file::read(path)?;
    if data.len() % TIME_ENTRY_SIZE != 0 {
        c.violation(
            &file,
            None,
            "timeindex-size",
            format!("length {} is not a multiple of {TIME_ENTRY_SIZE}", data.len()),
        );
    }
    let mut prev: Option<(i64, i64)> = None;
    for (slot, (ts, offset)) in time_entries(&data, base).into_iter().enumerate() {
        let at = Some((slot * TIME_ENTRY_SIZE) as u64);
        if prev.is_some_and(|(t, o)| ts < t || offset < o) {
            c.violation(
                &file,
                at,
                "timeindex-order",
                format!("slot {slot} ({ts} -> {offset}) goes backwards"),
            );
        }
        prev = Some((ts, offset));
        match batches.iter().find(|b| b.base <= offset && offset <= b.last) {
            None => c.violation(
                &file,
                at,
                "timeindex-offset",
                format!("slot {slot}: no batch holds offset {offset}"),
            ),
            Some(b) if b.max_ts != ts => {
                c.violation(
                    &file,
                    at,
                    "timeindex-timestamp",
                    format!(
                        "slot {slot}: batch {}..{} has maxTimestamp {}, not {ts}",
                        b.base, b.last, b.max_ts
                    ),
                );
            }
            Some(_) => {}
        }
    }
    Ok(())
}
