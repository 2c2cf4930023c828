//! Opening a partition directory read-only, and what recovery cuts.
//!
//! [`Log::open_read_only`] takes the decisions of [`Log::open`] from the same
//! functions (`recovery_rules`) — which segments a crash recovery
//! re-validates, which trusted segments are damaged and rebuilt, where a torn
//! or corrupt tail starts, which later segments a cut or a hole would drop,
//! whether the log restarts at its checkpointed start — but as a dry
//! run: it creates, renames, truncates, syncs and removes nothing, takes no
//! lock and maps indexes read-only. It serves the data a writer's recovery
//! would keep and reports the rest as [`TailCut`]s. Its producer state is
//! the one a writer's open rebuilds (snapshots at or below the log start
//! skipped, idle producers expired), read without removing a snapshot. It
//! can run beside a live writer (in this process or another): the writer
//! only appends, and bytes past a published batch are never read. A batch the writer is writing at
//! that moment shows up as a torn tail in the report; that is not damage.
//!
//! A file that vanishes or is replaced between the directory listing and its
//! open (the writer rolled, cleaned or deleted meanwhile) makes the load list
//! the directory again, a bounded number of times; then it is an error naming
//! the file.
//!
//! A read-only log refuses every change ([`Error::ReadOnly`]) and its tailing
//! waits end at once: nothing will append to this view of the directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::config::LogConfig;
use crate::format::StopReason;
use crate::format::file_name::{FileKind, SWAP_SUFFIX, TempSuffix, parse_file_name};
use crate::io::file;
use crate::segment::Segment;
use crate::{Error, Result};

use super::recovery_rules as rules;
use super::{Inner, LoadOptions, LoadReport, Log, View, Writer, tail};

/// Bytes that recovery cut — or, read-only, would cut — from a `.log` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailCut {
    /// The `.log` file.
    pub file: PathBuf,
    /// Where the cut starts: the file's valid length (0: the whole file goes).
    pub position: u64,
    /// Bytes from `position` to the end of the file.
    pub bytes: u64,
    /// Why: the torn or corrupt batch, or the cut or hole this segment follows.
    pub reason: String,
}

impl std::fmt::Display for TailCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} bytes from position {} ({})",
            self.file.display(),
            self.bytes,
            self.position,
            self.reason
        )
    }
}

/// Why a scan stopped, in words.
pub(crate) fn describe_stop(stop: Option<&StopReason>) -> String {
    match stop {
        Some(StopReason::TornTail { position, needed, available }) => {
            format!("torn batch at {position}: needs {needed} bytes, {available} there")
        }
        Some(StopReason::ZeroTail { position, len }) => {
            format!("{len} zero bytes from {position}")
        }
        Some(StopReason::Corrupt { position, error }) => {
            format!("bad batch at {position}: {error}")
        }
        Some(StopReason::End) | None => "offsets do not reach the next segment's base".into(),
    }
}

/// Files a writer's open would remove or finish: leftovers of an
/// interrupted delete, clean or swap, temporary files, orphan indexes
/// (indexes of none of `bases`, the segments loaded), indexes planted as
/// symlinks.
fn leftovers(dir: &Path, bases: &[i64]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in file::read_dir(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let parsed = parse_file_name(name);
        let temp = parsed.is_some_and(|p| p.temp.is_some()) || name.ends_with(".tmp");
        let orphan = parsed.is_some_and(|p| {
            p.temp.is_none()
                && matches!(p.kind, FileKind::Index | FileKind::TimeIndex | FileKind::TxnIndex)
                && bases.binary_search(&p.offset).is_err()
        });
        let planted = parsed.is_some_and(|p| {
            matches!(p.kind, FileKind::Index | FileKind::TimeIndex | FileKind::TxnIndex)
        }) && file::is_symlink(&path)?;
        if temp || orphan || planted {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The segments a writer's open would load, as `(base, suffix)`: the
/// ordinary `.log` files, except that an interrupted swap the writer would
/// finish (the rules of `swap::recover_swaps`) puts its `.swap` segments in
/// place of the ordinary ones they cover.
fn segments_to_load(dir: &Path, compact: bool) -> Result<Vec<(i64, &'static str)>> {
    let mut plain = Vec::new();
    let mut swaps = Vec::new();
    let mut min_cleaned: Option<i64> = None;
    for path in file::read_dir(dir)? {
        let Some(p) = path.file_name().and_then(|n| n.to_str()).and_then(parse_file_name) else {
            continue;
        };
        match p.temp {
            None if p.kind == FileKind::Log => plain.push(p.offset),
            Some(TempSuffix::Swap) if p.kind == FileKind::Log => swaps.push((p.offset, path)),
            Some(TempSuffix::Cleaned) => {
                min_cleaned = Some(min_cleaned.map_or(p.offset, |m| m.min(p.offset)));
            }
            _ => {}
        }
    }
    // A `.swap` at or above a `.cleaned` is from a swap whose first step never finished.
    swaps.retain(|(base, _)| min_cleaned.is_none_or(|m| *base < m));
    let mut out: Vec<(i64, &'static str)> = Vec::new();
    if let Some(lo) = swaps.iter().map(|(b, _)| *b).min() {
        let bases: std::collections::BTreeSet<i64> = swaps.iter().map(|(b, _)| *b).collect();
        let plain_set = plain.iter().copied().collect();
        // A `.swap` the writer would reject leaves the old segments in place.
        if let Ok(hi) = super::swap::judge_swaps(dir, &bases, &plain_set, compact)? {
            plain.retain(|b| *b < lo || *b >= hi);
            out.extend(swaps.iter().map(|(b, _)| (*b, SWAP_SUFFIX)));
        }
    }
    out.extend(plain.into_iter().map(|b| (b, "")));
    out.sort_unstable();
    Ok(out)
}

/// Listings a read-only open tries before a race with a writer is an error.
const LOAD_ATTEMPTS: usize = 5;

/// Whether `e` is a file that vanished or was replaced between the listing
/// and its open: a writer's roll, clean or delete, not damage.
fn is_race(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// What one pass of the read-only load found.
struct Loaded {
    segments: Vec<Arc<Segment>>,
    report: LoadReport,
    log_end_offset: i64,
    /// The base of the first segment a writer's recovery would re-validate.
    recovered_from: Option<i64>,
}

/// One pass of the read-only load.
fn load_once(
    dir: &Path,
    config: &LogConfig,
    limits: &crate::segment::SegmentLimits,
    now: i64,
    options: &LoadOptions,
) -> Result<Loaded> {
    let mut report = LoadReport::default();
    let to_load = segments_to_load(dir, config.cleanup_policy.compact)?;
    let bases: Vec<i64> = to_load.iter().map(|(b, _)| *b).collect();
    report.pending_cleanup = leftovers(dir, &bases)?;
    let mut segments = Vec::with_capacity(bases.len());
    for &(base, suffix) in &to_load {
        segments.push(Segment::open_read_only(dir, base, limits.clone(), now, suffix)?);
    }
    // The decisions of `Log::open` (`recovery_rules`), without their writes.
    let rules::Plan { from: recover_from, ceiling, distrusted } =
        rules::recover_from(&segments, options);
    report.distrusted_recovery_point = distrusted;
    let mut recovered_from = None;
    let mut i = 0;
    while let Some(seg) = segments.get(i).cloned() {
        let next_base = segments.get(i + 1).map(|s| s.base_offset());
        let verdict = rules::judge_segment(&seg, next_base, i >= recover_from)?;
        if verdict.recovers() {
            recovered_from.get_or_insert(seg.base_offset());
            let gaps_allowed = options.gaps_allowed(config.cleanup_policy.compact);
            let run = seg.recover_dry_run(next_base, rules::place_rules(next_base, ceiling))?;
            report.split_segments += usize::from(run.splits);
            // A split's parts follow each other without holes, and its last
            // part ends where the whole segment does: judged as one segment.
            let cut = run.physical - run.valid;
            let after = rules::aftermath(&verdict, gaps_allowed, next_base, cut, run.next_offset);
            rules::record(&mut report, &seg, &verdict, run.valid, cut, run.stop.as_ref(), &after);
            if after.drop_later {
                for later in segments.drain(i + 1..) {
                    rules::record_dropped(&mut report, &seg, &later);
                }
            }
        }
        i += 1;
    }
    let end_of_data = match segments.last() {
        Some(active) => active.read_next_offset()?,
        None => options.log_start_offset.max(0),
    };
    let log_end_offset = if rules::restarts(end_of_data, options) {
        // The writer drops every segment and restarts at the checkpoint.
        report.dropped_segments += segments.len();
        segments.clear();
        report.restarted_at = Some(options.log_start_offset.max(0));
        options.log_start_offset.max(0)
    } else {
        end_of_data
    };
    Ok(Loaded { segments, report, log_end_offset, recovered_from })
}

impl Log {
    /// Opens the partition directory `dir` for reading only, without
    /// changing a byte of it (see the module doc). The report tells what a
    /// writer's open would do: `cuts` it would make, `dropped_segments` it
    /// would delete, `pending_cleanup` files it would remove or finish.
    ///
    /// # Errors
    /// [`Error::Io`] naming a `dir` that is missing or not a directory; I/O
    /// failures, or an invalid config; [`Error::InvalidRequest`] for a
    /// negative `partition`; [`Error::InvalidTopic`] for a `topic` name
    /// breaking Kafka's rules; [`Error::InvalidConfig`] for a negative
    /// producer expiration in `options`.
    pub fn open_read_only(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        clock: Arc<dyn Clock>,
        options: LoadOptions,
    ) -> Result<(Log, LoadReport)> {
        super::load::refuse_invalid_partition(topic, partition)?;
        options.validate()?;
        file::check_dir("partition directory", dir, true)?;
        let now = clock.now_ms();
        let budget = crate::segment::budget::Budget::process_default();
        let limits = Log::limits_with(&config, &budget);
        // A writer beside us may roll, clean or delete between the listing
        // and the opens: a file gone or replaced since it was listed means
        // "list again", a bounded number of times.
        let mut attempt = 0;
        let Loaded { segments, mut report, log_end_offset, recovered_from } = loop {
            attempt += 1;
            match load_once(dir, &config, &limits, now, &options) {
                Err(e) if attempt < LOAD_ATTEMPTS && is_race(&e) => continue,
                other => break other?,
            }
        };
        let first_base = segments.first().map_or(log_end_offset, |s| s.base_offset());
        let log_start_offset = options.log_start_offset.max(first_base).min(log_end_offset);
        let recovery_point = if options.clean_shutdown {
            log_end_offset
        } else {
            options.recovery_point.clamp(0, log_end_offset)
        };
        report.segments = segments.len();
        // Read as it is (nothing is rewritten): a damaged file fails the open.
        let (epochs, had_epochs) = super::leader_epoch::EpochCache::load(dir)?;
        let leader_epoch = epochs.latest_epoch().unwrap_or(0);
        // The `.txnindex` files a writer's open rebuilds (`Log::open`: the
        // segments it re-validates, every one in a directory from before
        // strata kept them) are rebuilt in memory: read as they lie, they
        // may lack aborts a crash lost, and a read-committed read would
        // serve those transactions' records.
        let rebuild_from = if !had_epochs && log_end_offset > first_base {
            Some(first_base)
        } else {
            recovered_from
        };
        if let Some(from) = rebuild_from.filter(|_| !segments.is_empty()) {
            super::txn_recover::rebuild_txn_indexes_in_memory(dir, &segments, from)?;
        }
        let expiry = options.producer_id_expiration_ms.map(|ms| (now, ms));
        let producers = super::txn_recover::replay_read_only(
            dir,
            &segments,
            log_start_offset,
            log_end_offset,
            expiry,
        )?;
        let first_unstable_offset = producers.first_unstable_offset();
        let log = Log {
            clock,
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                topic: topic.to_owned(),
                partition,
                settings: RwLock::new(super::append::AppendSettings::of(&config)),
                config: RwLock::new(Arc::new(config)),
                writer: Mutex::new(Writer {
                    jitter_seed: 1,
                    leader_epoch,
                    epochs,
                    closed: false,
                    producers,
                    durable_snapshot: None,
                    active: None,
                }),
                view: RwLock::new(View {
                    segments: Arc::new(segments),
                    log_start_offset,
                    log_end_offset,
                    first_unstable_offset,
                    waiters: 0,
                }),
                flush: super::flush::Flush::new(recovery_point, now),
                space: super::space::Space::default(),
                poison: Mutex::new(None),
                poisoned: std::sync::atomic::AtomicBool::new(false),
                watermark: std::sync::atomic::AtomicBool::new(false),
                tail: tail::Notifier::default(),
                pending_deletes: Mutex::new(Vec::new()),
                cleaning: Mutex::new(()),
                cleaner_checkpoint: Mutex::new(None),
                closing: std::sync::atomic::AtomicBool::new(true),
                closed: std::sync::atomic::AtomicBool::new(false),
                // No claim: a read-only log may sit beside this process's writer.
                claim: Mutex::new(None),
                read_only: true,
                budget,
            }),
        };
        log.inner.tail.close_all();
        Ok((log, report))
    }

    /// Whether this log was opened read-only.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }
}
