//! Opening a partition directory, with recovery after an unclean shutdown
//! (Kafka's `LogLoader`).
//!
//! Steps:
//! 1. finish or undo an interrupted swap (`swap.rs`), then delete leftovers:
//!    `*.deleted`, `*.tmp`, and index files whose `.log` is gone;
//! 2. open every segment lazily (a `stat`, no reads, no maps);
//! 3. after a crash, recover every segment from the one holding the recovery
//!    point onwards (re-validate each batch, rebuild both indexes, cut a torn
//!    or corrupt tail) and, if bytes were cut or a hole opened, drop every
//!    later segment: they cannot follow a hole;
//!    After a clean shutdown, the active segment is recovered too when its
//!    data runs past the checkpointed recovery point, which the close set to
//!    the log end (`recovery_rules::recover_from`);
//! 4. trust the other segments (all of them after a clean shutdown) unless
//!    their files are missing or lie ([`crate::segment`]'s `damage`: index
//!    order and range, the last entry at a batch, the active tail framing);
//!    such a segment is rebuilt and cut where it is, and later segments stay
//!    (Kafka's `recoverSegment` at load);
//! 5. data that ends below the checkpointed log start offset is deleted and
//!    the log restarts empty there; no segment: create one at the log start
//!    offset;
//! 6. size the active segment's indexes back to `segment.index.bytes`
//!    (keeping every entry a rebuild wrote).

use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::config::LogConfig;
use crate::format::StopReason;
use crate::format::file_name::{FileKind, TempSuffix, parse_file_name, segment_file_name};
use crate::io::file;
use crate::segment::budget::Budget;
use crate::segment::{Recovery, Segment};
use crate::{Error, Result};

use super::producer_state::{
    ProducerState, load_snapshot, remove_stray_snapshots, snapshot_offsets,
};
use super::recovery_rules as rules;
use super::{Inner, Log, View, Writer, tail};

/// What the caller knows from the log directory's checkpoints.
///
/// Built from [`LoadOptions::default`] (an unclean shutdown, nothing
/// checkpointed: every segment is re-validated) or [`LoadOptions::clean`]
/// and the `with_*` setters, so that a new option never breaks a caller:
///
/// ```
/// use strata::LoadOptions;
///
/// // After a clean shutdown whose checkpoints hold an entry for the partition.
/// let options = LoadOptions::clean().with_recovery_point(1_000).with_log_start_offset(200);
/// assert!(options.clean_shutdown());
/// assert_eq!(options.recovery_point(), Some(1_000));
/// assert_eq!(LoadOptions::default().recovery_point(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The directory had a clean shutdown (`.kafka_cleanshutdown`).
    pub(crate) clean_shutdown: bool,
    /// Checkpointed recovery point (0 when unknown).
    pub(crate) recovery_point: i64,
    /// `recovery_point` was read from the checkpoint (an entry for this
    /// partition), not defaulted. After a clean shutdown it is then the log
    /// end offset that close recorded, and the open cuts a batch of the
    /// active segment that leaves a gap and would end exactly there had it
    /// followed the batch before it (a base offset raised by a flipped bit;
    /// `recovery_rules::recover_from`).
    pub(crate) recovery_point_known: bool,
    /// Checkpointed log start offset (0 when unknown).
    pub(crate) log_start_offset: i64,
    /// The cleaner checkpoint's entry, when the log was compacted at some
    /// time: a recovered segment ending below the next one's base may then
    /// be a gap compaction left, whatever `cleanup.policy` says now.
    pub(crate) cleaned_to: Option<i64>,
    /// `producer.id.expiration.ms`, when the caller knows it: the producers
    /// of the loaded snapshot idle that long are dropped (Kafka's
    /// `loadFromSnapshot` filter).
    pub(crate) producer_id_expiration_ms: Option<i64>,
}

impl LoadOptions {
    /// After a clean shutdown (`.kafka_cleanshutdown` was present), with
    /// nothing checkpointed for the partition yet.
    #[must_use]
    pub fn clean() -> Self {
        Self { clean_shutdown: true, ..Self::default() }
    }

    /// Whether the directory had a clean shutdown: then the segments are
    /// trusted (checked for damage, not re-validated batch by batch).
    #[must_use]
    pub fn with_clean_shutdown(self, clean_shutdown: bool) -> Self {
        Self { clean_shutdown, ..self }
    }

    /// The recovery point the checkpoint file holds for the partition
    /// (`recovery-point-offset-checkpoint`). After an unclean shutdown
    /// recovery re-validates from the segment holding it; after a clean one
    /// it is the log end the close recorded, and the open checks the active
    /// segment's data against it. Leave it unset when the checkpoint has no
    /// entry for the partition.
    #[must_use]
    pub fn with_recovery_point(self, recovery_point: i64) -> Self {
        Self { recovery_point, recovery_point_known: true, ..self }
    }

    /// The log start offset the checkpoint file holds for the partition
    /// (`log-start-offset-checkpoint`).
    #[must_use]
    pub fn with_log_start_offset(self, log_start_offset: i64) -> Self {
        Self { log_start_offset, ..self }
    }

    /// The cleaner checkpoint's entry for the partition
    /// (`cleaner-offset-checkpoint`), when it has one: the log was compacted.
    /// Without compaction a log has no gaps, so after a crash a recovered
    /// segment that ends below the next segment's base lost its tail and
    /// every later segment is dropped (the log stays a prefix of what was
    /// written). A log compacted before its topic's policy became `delete`
    /// keeps such gaps as data, wherever they are: the checkpoint file may
    /// lag the cleaning by its write interval, so the offset cannot bound
    /// them (Kafka keeps the segments after any gap).
    #[must_use]
    pub fn with_cleaner_checkpoint(self, cleaned_to: i64) -> Self {
        Self { cleaned_to: Some(cleaned_to), ..self }
    }

    /// `producer.id.expiration.ms` (a store passes its own): the open (a
    /// read-only one too, in memory only) drops
    /// the producers of the snapshot it loads whose last write is that long
    /// before the clock's now and that have no open transaction, as Kafka's
    /// `ProducerStateManager.loadFromSnapshot` filters them
    /// (`isProducerExpired`). Producers the batches after the snapshot
    /// write are kept, as Kafka keeps them until its next expiration check
    /// ([`Log::expire_producers`]). Unset, nothing is dropped at the open;
    /// negative, the open fails with [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    #[must_use]
    pub fn with_producer_id_expiration_ms(self, expiration_ms: i64) -> Self {
        Self { producer_id_expiration_ms: Some(expiration_ms), ..self }
    }

    /// Refuses options no open may use (a negative producer expiration),
    /// before anything is touched.
    pub(crate) fn validate(&self) -> Result<()> {
        self.producer_id_expiration_ms.map_or(Ok(()), super::refuse_negative_expiration)
    }

    /// Whether a gap between segments may be compaction's: the log is
    /// compacted now, or was at some time.
    pub(crate) fn gaps_allowed(&self, compact: bool) -> bool {
        compact || self.cleaned_to.is_some()
    }

    /// Whether the directory had a clean shutdown.
    #[must_use]
    pub fn clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    /// The checkpointed recovery point, if one was given.
    #[must_use]
    pub fn recovery_point(&self) -> Option<i64> {
        self.recovery_point_known.then_some(self.recovery_point)
    }

    /// The checkpointed log start offset (0 when none was given).
    #[must_use]
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
}

/// What opening a log found and did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Segments in the log after loading.
    pub segments: usize,
    /// Segments re-validated.
    pub recovered_segments: usize,
    /// Bytes cut from torn or corrupt tails.
    pub truncated_bytes: u64,
    /// Later segments dropped after a cut.
    pub dropped_segments: usize,
    /// Leftover temporary files removed.
    pub removed_temp_files: usize,
    /// Why each cut happened: `.log` file and the reason.
    pub truncations: Vec<(std::path::PathBuf, StopReason)>,
    /// Leftover `.swap` files that failed their checks and were removed,
    /// keeping the segments they would have replaced, with why.
    pub rejected_swaps: Vec<(std::path::PathBuf, String)>,
    /// Holes found after a crash in a log that allows none (no compaction):
    /// `(offset where a segment's data ends, base of the segment after it)`.
    /// The segments after a hole are dropped, so the log stays a prefix.
    pub offset_gaps: Vec<(i64, i64)>,
    /// Every cut with its file, position and size: the tails cut and the
    /// whole segments dropped after them (read-only: what a writer would cut).
    pub cuts: Vec<super::TailCut>,
    /// Read-only opens only: leftover files a writer's open would remove or
    /// finish (`.deleted`, `.cleaned`, `.swap`, `.tmp`, orphan indexes).
    pub pending_cleanup: Vec<std::path::PathBuf>,
    /// Legacy segments whose offsets overflowed their base, each split into
    /// several (Kafka's `splitOverflowedSegment`) instead of being cut.
    pub split_segments: usize,
    /// Segments whose trusted files were missing or damaged (an index gone
    /// or lying, a tail that no longer frames) and were rebuilt in place:
    /// `.log` file and what was wrong. Later segments are kept.
    pub repaired_segments: Vec<(std::path::PathBuf, String)>,
    /// Set when every segment ended below the checkpointed log start offset
    /// and the log restarted empty there (Kafka's `LogLoader` rule).
    pub restarted_at: Option<i64>,
    /// Set after a crash when the checkpointed recovery point (the value)
    /// lay past the end of the data: it cannot be what a flush recorded, so
    /// every segment was re-validated, not only those from the one holding it.
    pub distrusted_recovery_point: Option<i64>,
}

impl Log {
    /// Opens (or creates) the partition directory `dir` for `topic`-`partition`.
    /// Its segments count against the budget every log opened without a
    /// store shares (the default `log.open.segments.max` and
    /// `log.mapped.bytes.max`).
    ///
    /// # Errors
    /// [`Error::Io`] naming a `dir` that is not a directory, and for I/O
    /// failures; [`Error::InvalidConfig`] for an invalid config;
    /// [`Error::DirectoryLocked`] when this process has `dir` open already;
    /// [`Error::InvalidRequest`] for a negative `partition`;
    /// [`Error::InvalidTopic`] for a `topic` name breaking Kafka's rules.
    pub fn open(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        clock: Arc<dyn Clock>,
        options: LoadOptions,
    ) -> Result<(Log, LoadReport)> {
        refuse_invalid_partition(topic, partition)?;
        Self::open_in(dir, topic, partition, config, clock, options, Budget::process_default())
    }

    /// [`Log::open`] with the store's budget of open segments.
    pub(crate) fn open_in(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        clock: Arc<dyn Clock>,
        options: LoadOptions,
        budget: Arc<Budget>,
    ) -> Result<(Log, LoadReport)> {
        config.validate()?;
        options.validate()?;
        // The segment list is never empty where it is read (a load creates one): named anyway.
        let closed = || Error::closed_partition(&format!("{topic}-{partition}"), dir);
        // A new file is durable only once its directory is fsynced (the rule
        // of `io::file`): the partition directory in its parent here, and
        // every create and unlink below before the log is handed out.
        let new_dir = !file::check_dir("partition directory", dir, false)?;
        file::create_dir_all(dir)?;
        if new_dir {
            file::fsync_dir(file::parent_dir(dir))?;
        }
        let claim = super::claim::DirClaim::take(dir)?;
        let (mut epochs, had_epochs) = super::leader_epoch::EpochCache::load(dir)?;
        let now = clock.now_ms();
        let limits = Log::limits_with(&config, &budget);
        let mut report = LoadReport::default();
        // Swaps first: one refused with the segments it replaces gone fails the
        // open before anything is removed, and those segments' `.deleted` files
        // (the last copy of their records) stay for the operator.
        let (swaps_done, rejected_swaps) =
            super::swap::recover_swaps(dir, config.cleanup_policy.compact)?;
        report.removed_temp_files += swaps_done;
        report.rejected_swaps = rejected_swaps;
        for path in file::read_dir(dir)? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let deleted =
                parse_file_name(name).is_some_and(|p| p.temp == Some(TempSuffix::Deleted));
            if deleted || name.ends_with(".tmp") {
                file::remove_file_if_exists(&path)?;
                report.removed_temp_files += 1;
            }
        }
        let mut bases = Vec::new();
        let mut names = Vec::new();
        for path in file::read_dir(dir)? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if let Some(p) =
                parse_file_name(&name).filter(|p| p.temp.is_none() && p.kind == FileKind::Log)
            {
                bases.push(p.offset);
            }
            names.push(name);
        }
        bases.sort_unstable();
        for name in &names {
            let orphan = parse_file_name(name).is_some_and(|p| {
                p.temp.is_none()
                    && matches!(p.kind, FileKind::Index | FileKind::TimeIndex | FileKind::TxnIndex)
                    && bases.binary_search(&p.offset).is_err()
            });
            if orphan {
                file::remove_file_if_exists(&dir.join(name))?;
                report.removed_temp_files += 1;
            }
        }
        // Kafka draws a roll jitter for every segment object, the reopened active one too.
        let mut jitter_seed = seed(dir, now);
        let mut jitter = || {
            super::roll::draw_jitter(&mut jitter_seed, config.segment_jitter_ms, config.segment_ms)
        };
        let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(bases.len());
        for &base in &bases {
            segments.push(Segment::open(dir, base, limits.clone(), now, jitter())?);
        }
        let rules::Plan { from: recover_from, ceiling, distrusted } =
            rules::recover_from(&segments, &options);
        report.distrusted_recovery_point = distrusted;
        let mut read_by_recovery = super::txn_recover::ReadByRecovery::new();
        let mut i = 0;
        // The first segment whose `.txnindex` recovery must rebuild.
        let mut txn_rebuild_from: Option<i64> = None;
        // Segments before this index are parts of a split segment but its last.
        let mut split_end = 0;
        while i < segments.len() {
            let seg = Arc::clone(segments.get(i).ok_or_else(closed)?);
            let next_base = segments.get(i + 1).map(|s| s.base_offset());
            let verdict = rules::judge_segment(&seg, next_base, i >= recover_from)?;
            if verdict.recovers() {
                // Rebuilt in files of its own, never through a planted link.
                for link in rules::symlinked_indexes(&seg)? {
                    file::remove_file_if_exists(&link)?;
                    report.removed_temp_files += 1;
                }
                // One pass over the data: the scan stops, changing nothing,
                // at a batch past the reach of the segment's base, and only
                // then is the segment checked for a legacy one to split.
                let gaps_allowed =
                    options.gaps_allowed(config.cleanup_policy.compact) || i + 1 < split_end;
                let rules = rules::place_rules(next_base, ceiling);
                let outcome = match seg.recover(next_base, rules)? {
                    Recovery::Done(outcome) => outcome,
                    Recovery::Overflows(claims) => {
                        if let Some(parts) =
                            super::split::split_overflowed(dir, &seg, &limits, now, next_base)?
                        {
                            report.split_segments += 1;
                            // The parts take its place and are checked like any segment;
                            // the offsets between them were never there, so no hole.
                            split_end = i + parts.len();
                            segments.splice(i..=i, parts);
                            continue;
                        }
                        seg.recover_unsplit(next_base, rules, claims)?
                    }
                };
                if outcome.producer_batches == 0 {
                    // Validated just now and found without producers: the
                    // producer-state and leader-epoch rebuilds need not read it again.
                    read_by_recovery.insert(seg.base_offset(), outcome.epoch_changes.clone());
                }
                txn_rebuild_from =
                    Some(txn_rebuild_from.unwrap_or(i64::MAX).min(seg.base_offset()));
                let after = rules::aftermath(
                    &verdict,
                    gaps_allowed,
                    next_base,
                    outcome.truncated_bytes,
                    outcome.next_offset,
                );
                rules::record(
                    &mut report,
                    &seg,
                    &verdict,
                    seg.len(),
                    outcome.truncated_bytes,
                    outcome.stop.as_ref(),
                    &after,
                );
                if after.drop_later {
                    for later in segments.drain(i + 1..) {
                        rules::record_dropped(&mut report, &seg, &later);
                        later.delete_files()?;
                    }
                }
                if i + 1 < segments.len() {
                    seg.seal()?;
                }
            }
            if i + 1 < segments.len() {
                seg.release();
            }
            i += 1;
        }
        let mut created = false;
        let checkpointed_start = options.log_start_offset.max(0);
        let end_of_data = match segments.last() {
            Some(active) => active.read_next_offset()?,
            None => checkpointed_start,
        };
        if rules::restarts(end_of_data, &options) {
            // Kafka's `LogLoader`: data ending below the checkpointed log start
            // offset (files deleted, or a `delete_records` checkpoint made
            // durable before the data) is dropped whole and the log restarts at
            // the checkpoint, so no offset below it is handed out again.
            for seg in segments.drain(..) {
                seg.delete_files()?;
                report.dropped_segments += 1;
            }
            for offset in snapshot_offsets(dir)? {
                file::remove_file_if_exists(
                    &dir.join(segment_file_name(offset, FileKind::Snapshot)),
                )?;
            }
            report.restarted_at = Some(checkpointed_start);
        }
        if segments.is_empty() {
            let base = checkpointed_start;
            segments.push(Segment::create(dir, base, limits.clone(), now, jitter())?);
            created = true;
        }
        let active = segments.last().cloned().ok_or_else(closed)?;
        let log_end_offset = active.read_next_offset()?;
        active.reopen_for_append()?;
        let first_base = segments.first().map_or(0, |s| s.base_offset());
        let log_start_offset = options.log_start_offset.max(first_base).min(log_end_offset);
        let recovery_point = if options.clean_shutdown {
            log_end_offset
        } else {
            options.recovery_point.clamp(0, log_end_offset)
        };
        let bases: Vec<i64> = segments.iter().map(|s| s.base_offset()).collect();
        remove_stray_snapshots(dir, &bases)?;
        // A directory without a leader-epoch checkpoint was written before
        // strata kept `.txnindex` files either: both are rebuilt from every
        // batch once (a new partition has nothing to read).
        if !had_epochs && log_end_offset > first_base {
            txn_rebuild_from = Some(first_base);
        }
        if let Some(from) = txn_rebuild_from {
            super::txn_recover::rebuild_txn_indexes(
                dir,
                &segments,
                from,
                &mut epochs,
                &read_by_recovery,
            )?;
        }
        let expiry = options.producer_id_expiration_ms.map(|ms| (now, ms));
        let (producers, snapshot_at) = rebuild_producers(
            dir,
            &segments,
            (log_start_offset, log_end_offset),
            &read_by_recovery,
            expiry,
        )?;
        // After a clean shutdown, a snapshot at the log end was written durably by that close.
        let durable_snapshot =
            snapshot_at.filter(|&o| options.clean_shutdown && o == log_end_offset);
        let first_unstable_offset = producers.first_unstable_offset();
        let leader_epoch =
            epochs.settle_at_open(&segments, had_epochs, log_start_offset, log_end_offset)?;
        if created
            || report.removed_temp_files > 0
            || report.dropped_segments > 0
            || report.recovered_segments > 0
        {
            file::fsync_dir(dir)?;
        }
        report.segments = segments.len();
        let log = Log {
            clock,
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                topic: topic.to_owned(),
                partition,
                settings: RwLock::new(super::append::AppendSettings::of(&config)),
                config: RwLock::new(Arc::new(config)),
                writer: Mutex::new(Writer {
                    jitter_seed,
                    leader_epoch,
                    epochs,
                    closed: false,
                    producers,
                    durable_snapshot,
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
                closing: std::sync::atomic::AtomicBool::new(false),
                closed: std::sync::atomic::AtomicBool::new(false),
                claim: Mutex::new(Some(claim)),
                read_only: false,
                budget,
            }),
        };
        Ok((log, report))
    }
}

/// Producer state at `log_end_offset` (Kafka's `rebuildProducerState`): the
/// newest snapshot above `log_start` plus a replay of the batches after it;
/// snapshots at or below the log start are removed, as Kafka's
/// `truncateAndReload` removes them, and with none left the state starts
/// empty at the log start (batches below it, still in the first segment
/// after DeleteRecords, are not replayed). Segments recovery just validated
/// and found without producer batches (`read_by_recovery`) are not read
/// again: a log without producers is read once.
///
/// Also after a clean shutdown: Kafka's `rebuildProducerState` skips the scan
/// there, taking a clean directory without snapshots for one written before
/// producer state existed (an upgrade), but strata's close leaves none when
/// the state was too long to snapshot (`ProducerState::write_snapshot`), and
/// skipping would forget every producer.
/// With `expiry` (now, `producer.id.expiration.ms`), the snapshot's producers
/// idle that long, without an open transaction, are dropped before the replay
/// (Kafka's `loadFromSnapshot` reads a snapshot through `isProducerExpired`).
/// Returns the state and the offset of the snapshot it started from.
fn rebuild_producers(
    dir: &Path,
    segments: &[Arc<Segment>],
    (log_start, log_end_offset): (i64, i64),
    read_by_recovery: &super::txn_recover::ReadByRecovery,
    expiry: Option<(i64, i64)>,
) -> Result<(ProducerState, Option<i64>)> {
    let loaded = load_snapshot(dir, log_start, log_end_offset)?;
    let snapshot_at = loaded.as_ref().map(|&(_, offset)| offset);
    let (mut state, from) = super::txn_recover::start_at(loaded, log_start);
    if let Some((now, expiration_ms)) = expiry {
        state.expire(now, expiration_ms);
    }
    let state = super::txn_recover::replay_producers((state, from), segments, read_by_recovery)?;
    Ok((state, snapshot_at))
}

/// A per-log seed for segment jitter.
fn seed(dir: &Path, now: i64) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    dir.hash(&mut h);
    now.hash(&mut h);
    h.finish() | 1
}

/// A partition number is never negative (as [`crate::Store::partition`]
/// refuses one), and a topic name keeps Kafka's rules (as
/// [`crate::Store::create_topic`] refuses one breaking them, with the same
/// [`Error::InvalidTopic`]): refused before anything is read or created.
pub(super) fn refuse_invalid_partition(topic: &str, partition: i32) -> Result<()> {
    crate::store::topic_name::validate(topic)?;
    if partition < 0 {
        return Err(Error::InvalidRequest(format!(
            "partition {partition} of topic {topic} is negative"
        )));
    }
    Ok(())
}
