//! One cleaning of one partition (Kafka's `Cleaner.doClean`).
//!
//! 1. **Map** the dirty section: every keyed record from the first dirty
//!    offset up to the first uncleanable one goes into the [`OffsetMap`]
//!    (key -> latest offset), until the map is full. The pass ends at a batch
//!    boundary; `end` is the first offset it did not cover.
//! 2. **Recopy** every segment holding offsets below `end` — the clean section
//!    too, so older duplicates superseded by newer keys go as well — in groups
//!    that fit one segment, keeping per record (Kafka's `shouldRetainRecord`):
//!    records past the mapped range; records whose offset is the latest for
//!    their key, tombstones only until their batch's delete horizon. Keyless
//!    records in the mapped range go.
//! 3. Per batch (Kafka's `filterTo`): all records kept and nothing to mark ->
//!    the original bytes, verbatim; some kept -> a rebuilt batch with the
//!    original offsets, producer fields and codec; a kept tombstone without a
//!    horizon gets one (`now + delete.retention.ms`, attribute bit 6); none
//!    kept -> dropped, except the last batch of a producer still in the
//!    producer-state map (not expired by `producer.id.expiration.ms`) and the
//!    batch just before the uncleanable section (and each group's last), which
//!    stay as 61-byte empty batches so offsets and live producers' sequences
//!    survive: a producer's with its maxTimestamp, as Kafka keeps it, the
//!    others (which Kafka drops) with none and without producer or
//!    transactional flag (offsets only), so a cleaned segment's largest
//!    timestamp and time index come from what it keeps. An expired
//!    producer keeps nothing, so a topic written by many short-lived
//!    producers does not grow by one header per producer forever.
//! 4. **Swap** each group in ([`crate::log`]'s crash-safe protocol) and move the
//!    cleaner checkpoint to `end`.
//!
//! Transactions follow Kafka's rules ([`super::txn`]): aborted data goes,
//! markers outlive their transaction's data by the delete horizon, and the
//! cleaned range never reaches an undecided transaction (Kafka's last stable
//! offset). The aborted transactions come from the `.txnindex` files, and a
//! kept ABORT marker's entry goes to the cleaned segment's index.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::LogConfig;
use crate::format::builder::set_max_timestamp;
use crate::format::file_name::CLEANED_SUFFIX;
use crate::format::index_entry::{OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE};
use crate::format::layout::MAX_TIMESTAMP;
use crate::format::legacy;
use crate::format::{BatchBuilder, BatchView, BorrowedHeader, NO_TIMESTAMP, TimestampType};
use crate::log::{LastRecord, Log};
use crate::segment::Segment;
use crate::{Error, Result};

use super::offset_map::{KeyHash, OffsetMap};
use super::select::{self, Cleanable, LogStat, SegmentStat};
use super::throttle::Throttle;
use super::txn::TxnTracker;

/// What one cleaning did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanOutcome {
    /// First dirty offset before the pass.
    pub first_dirty_offset: i64,
    /// First offset the pass did not cover: the next first dirty offset.
    pub end_offset: i64,
    /// Bytes read (mapping and recopying).
    pub bytes_read: u64,
    /// Bytes written to cleaned segments.
    pub bytes_written: u64,
    /// Records read while recopying.
    pub records_read: u64,
    /// Records removed.
    pub records_removed: u64,
    /// Source segments replaced.
    pub segments_replaced: usize,
}

fn corrupt(seg: &Segment, e: crate::format::FormatError) -> Error {
    Error::corrupt(seg.log_path(), 0, e)
}

/// The selection inputs of a log.
pub(crate) fn log_stat(
    log: &Log,
    segs: &[Arc<Segment>],
    cfg: &LogConfig,
    now: i64,
) -> Result<LogStat> {
    log.reset_stray_cleaner_checkpoint();
    let mut segments = Vec::with_capacity(segs.len());
    for s in segs {
        // The segment caches its first batch's max timestamp (time-based rolling uses it too).
        let first_batch_timestamp = s.rolling_base_timestamp()?.unwrap_or(-1);
        segments.push(SegmentStat {
            base_offset: s.base_offset(),
            size: s.len(),
            largest_timestamp: s.largest_timestamp()?,
            first_batch_timestamp,
        });
    }
    Ok(LogStat {
        segments,
        log_start_offset: log.log_start_offset(),
        checkpoint: log.cleaner_checkpoint(),
        log_end_offset: log.log_end_offset(),
        last_stable_offset: log.last_stable_offset(),
        min_compaction_lag_ms: cfg.min_compaction_lag_ms,
        max_compaction_lag_ms: cfg.max_compaction_lag_ms,
        min_cleanable_dirty_ratio: cfg.min_cleanable_dirty_ratio,
        now_ms: now,
    })
}

/// The sections of `log` now.
pub(crate) fn sections(log: &Log) -> Result<Cleanable> {
    let cfg = log.config();
    let segs = log.segments();
    Ok(select::cleanable(&log_stat(log, &segs, &cfg, log.now_ms())?))
}

/// Cleans `log` once if it has a cleanable section. `None` when another
/// pass or retention holds it, or nothing is cleanable.
pub(crate) fn clean(
    log: &Log,
    map: &mut OffsetMap,
    throttle: &Throttle,
) -> Result<Option<CleanOutcome>> {
    let Some(_guard) = log.try_cleaning_guard() else { return Ok(None) };
    if stopping(log, throttle) {
        return Ok(None);
    }
    let cfg = log.config();
    let now = log.now_ms();
    let segs = log.segments();
    // The section ends before an undecided transaction (see `select::cleanable`).
    let c = select::cleanable(&log_stat(log, &segs, &cfg, now)?);
    if c.cleanable_bytes == 0 || c.first_uncleanable_offset <= c.first_dirty_offset {
        return Ok(None);
    }
    let mut out =
        CleanOutcome { first_dirty_offset: c.first_dirty_offset, ..CleanOutcome::default() };
    let from = segs.first().map_or(c.first_dirty_offset, |s| s.base_offset());
    let aborted = log.aborted_transactions(from, c.first_uncleanable_offset)?;
    // The section holds at most one key per offset: a map sized for that
    // maps the same keys as the whole budget, touching far less memory.
    let span = c.first_uncleanable_offset.saturating_sub(c.first_dirty_offset);
    map.clear_for(u64::try_from(span).unwrap_or(0));
    // The map pass reads batches from the first dirty offset on, so it takes
    // the aborted transactions from there too (Kafka's `buildOffsetMap`
    // collects them over `[firstDirty, firstUncleanable)`): an abort whose
    // marker lies in the clean section would never be closed in this pass,
    // and the same producer's later committed batches (a tombstone, say)
    // would be taken for aborted data and left out of the map.
    let map_aborted = log.aborted_transactions(c.first_dirty_offset, c.first_uncleanable_offset)?;
    let mut map_txns = TxnTracker::new(map_aborted);
    out.end_offset =
        build_map(&|| stopping(log, throttle), &segs, &c, map, &mut map_txns, throttle, &mut out)?;
    if out.end_offset <= c.first_dirty_offset {
        return Err(Error::InvalidRequest(format!(
            "{}: one batch at offset {} has more keys than the cleaner's map holds ({}); raise log.cleaner.dedupe.buffer.size",
            log.name(),
            c.first_dirty_offset,
            map.capacity()
        )));
    }
    // Legacy (magic 0/1) tombstones have no delete horizon of their own:
    // Kafka's `Cleaner.doClean` dates one from the last segment of the clean
    // section, delete.retention.ms before its modification time, and drops
    // them from a source segment modified no later (with no clean section,
    // the horizon is 0 and they all stay).
    let legacy_horizon =
        match segs.iter().take_while(|s| s.base_offset() < c.first_dirty_offset).last() {
            Some(s) => s.modified_ms()?.saturating_sub(cfg.delete_retention_ms),
            None => 0,
        };
    let ctx = Retain {
        map,
        now,
        delete_retention_ms: cfg.delete_retention_ms,
        legacy_horizon,
        retain_legacy_deletes: true,
        first_uncleanable: c.first_uncleanable_offset,
        last_of_producer: &log.last_records_of_active_producers(),
        group_last_offset: -1,
    };
    let count = segs.partition_point(|s| s.base_offset() < out.end_offset);
    let sources = segs.get(..count).unwrap_or_default();
    let mut txns = TxnTracker::new(aborted);
    for group in group_by_size(sources, &segs, &cfg, c.first_uncleanable_offset)? {
        recopy_group(log, &cfg, group, &ctx, &mut txns, throttle, &mut out)?;
    }
    log.set_cleaner_checkpoint(Some(out.end_offset));
    Ok(Some(out))
}

/// Whether a cleaning of `log` must stop: the log is closing, or the
/// cleaner is shutting down ([`Throttle::stop`]).
fn stopping(log: &Log, throttle: &Throttle) -> bool {
    log.is_closing() || throttle.stopped()
}

/// Pass 1: maps keys of `[first dirty, first uncleanable)`; returns the end offset.
fn build_map(
    closing: &dyn Fn() -> bool,
    segs: &[Arc<Segment>],
    c: &Cleanable,
    map: &mut OffsetMap,
    txns: &mut TxnTracker,
    throttle: &Throttle,
    out: &mut CleanOutcome,
) -> Result<i64> {
    let from = segs.partition_point(|s| s.base_offset() <= c.first_dirty_offset).saturating_sub(1);
    let mut keys = Vec::new();
    for (i, seg) in segs.iter().enumerate().skip(from) {
        if seg.base_offset() >= c.first_uncleanable_offset {
            break;
        }
        // Only the first segment starts mid-way; the others are read whole.
        let start = if i == from {
            u64::from(seg.offset_index().lookup(c.first_dirty_offset)?.position)
        } else {
            0
        };
        // Validated: a key from a flipped byte must not decide what is kept.
        for item in seg.valid_batches_from(start)? {
            let (_, batch) = item?;
            if batch.base_offset() >= c.first_uncleanable_offset {
                break;
            }
            out.bytes_read += batch.size() as u64;
            throttle.acquire(batch.size() as u64, closing);
            if closing() {
                return Err(seg.closed());
            }
            // Every batch feeds the transaction tracker, even those below the
            // dirty section, so markers there close their transactions.
            let discard = txns.can_discard(&batch);
            if batch.last_offset() < c.first_dirty_offset {
                continue;
            }
            // Keys of aborted transactions never enter the map.
            if !batch.is_control() && !discard {
                // Borrowed views: no refcount or allocation per record. The
                // batch's keys are hashed and their slots prefetched first, so
                // the map's cache misses overlap.
                let decoded = batch.decode().map_err(|e| corrupt(seg, e))?;
                keys.clear();
                for r in decoded.views() {
                    let r = r.map_err(|e| corrupt(seg, e))?;
                    if let Some(key) = r.key().filter(|_| r.offset() >= c.first_dirty_offset) {
                        let h = KeyHash::of(key);
                        map.prefetch(h);
                        keys.push((h, r.offset()));
                    }
                }
                for &(h, offset) in &keys {
                    if !map.put_hashed(h, offset) {
                        // Full mid-batch: the map covers exactly the records put so far.
                        return Ok(map.latest_offset().max(c.first_dirty_offset - 1) + 1);
                    }
                }
            }
            map.set_latest_offset(batch.last_offset());
        }
        // A whole segment mapped: cover the gap up to the next one.
        let next = segs.get(i + 1).map_or(c.first_uncleanable_offset, |s| s.base_offset());
        map.set_latest_offset(next.min(c.first_uncleanable_offset) - 1);
    }
    Ok(map.latest_offset() + 1)
}

/// Groups consecutive segments that fit one cleaned segment (Kafka's `groupSegmentsBySize`).
fn group_by_size<'a>(
    sources: &'a [Arc<Segment>],
    all: &[Arc<Segment>],
    cfg: &LogConfig,
    first_uncleanable: i64,
) -> Result<Vec<&'a [Arc<Segment>]>> {
    let last_offset_estimate =
        |k: usize| all.get(k + 1).map_or(first_uncleanable, |s| s.base_offset()) - 1;
    let mut groups = Vec::new();
    let mut i = 0;
    while i < sources.len() {
        let Some(first) = sources.get(i) else { break };
        let mut bytes = first.len();
        let mut index_bytes = first.offset_index().entries()? as u64 * OFFSET_ENTRY_SIZE as u64;
        let mut time_bytes = first.time_index().entries()? as u64 * TIME_ENTRY_SIZE as u64;
        let mut j = i + 1;
        while let Some(next) = sources.get(j) {
            let nb = next.offset_index().entries()? as u64 * OFFSET_ENTRY_SIZE as u64;
            let nt = next.time_index().entries()? as u64 * TIME_ENTRY_SIZE as u64;
            let fits = bytes + next.len() <= cfg.segment_bytes
                && index_bytes + nb <= cfg.segment_index_bytes
                && time_bytes + nt <= cfg.segment_index_bytes
                && (next.len() == 0
                    || last_offset_estimate(j) - first.base_offset() <= i64::from(i32::MAX));
            if !fits {
                break;
            }
            bytes += next.len();
            index_bytes += nb;
            time_bytes += nt;
            j += 1;
        }
        groups.push(sources.get(i..j).unwrap_or_default());
        i = j;
    }
    Ok(groups)
}

/// What deciding record retention needs.
struct Retain<'a> {
    map: &'a OffsetMap,
    now: i64,
    delete_retention_ms: i64,
    first_uncleanable: i64,
    last_of_producer: &'a HashMap<i64, LastRecord>,
    /// The legacy delete horizon (ms): a legacy tombstone in a source segment
    /// modified at or before it goes.
    legacy_horizon: i64,
    /// Whether the legacy tombstones of the segment being copied stay (its
    /// modification time is past `legacy_horizon`; Kafka's
    /// `retainLegacyDeletesAndTxnMarkers`).
    retain_legacy_deletes: bool,
    /// Last offset of the current group's last batch: that batch stays (empty
    /// if need be), so the cleaned segment reaches as far as its sources and a
    /// crash mid-swap can tell exactly which old segments it replaces.
    group_last_offset: i64,
}

fn recopy_group(
    log: &Log,
    cfg: &LogConfig,
    group: &[Arc<Segment>],
    ctx: &Retain<'_>,
    txns: &mut TxnTracker,
    throttle: &Throttle,
    out: &mut CleanOutcome,
) -> Result<()> {
    let (Some(first), Some(last)) = (group.first(), group.last()) else { return Ok(()) };
    let ctx = &Retain { group_last_offset: last.read_next_offset()? - 1, ..*ctx };
    let cleaned = Segment::create_with_suffix(
        log.dir(),
        first.base_offset(),
        log.limits(cfg),
        ctx.now,
        0,
        CLEANED_SUFFIX,
    )?;
    let result = (|| {
        for src in group {
            let ctx =
                &Retain { retain_legacy_deletes: src.modified_ms()? > ctx.legacy_horizon, ..*ctx };
            // Validated: the cleaner writes new CRCs, so a flipped byte it
            // copied would become valid-looking data.
            for item in src.valid_batches_from(0)? {
                let (_, batch) = item?;
                out.bytes_read += batch.size() as u64;
                throttle.acquire(batch.size() as u64, &|| log.is_closing());
                if stopping(log, throttle) {
                    return Err(log.closed_error());
                }
                // A legacy wrapper may become several entries (see `filter_legacy`).
                let (kept, more) = if batch.is_legacy() {
                    txns.can_discard(&batch);
                    let mut entries =
                        filter_legacy(&batch, ctx, out).map_err(|e| corrupt(src, e))?.into_iter();
                    (entries.next(), entries)
                } else {
                    let kept = filter_batch(&batch, ctx, txns, out).map_err(|e| corrupt(src, e))?;
                    (kept, Vec::new().into_iter())
                };
                for bytes in kept.into_iter().chain(more) {
                    let kept = BatchView::new_stored(bytes).map_err(|e| corrupt(src, e))?;
                    cleaned.append(&kept)?;
                    if let Some(t) = txns.take_kept_abort() {
                        cleaned.txn_index().append(t)?;
                    }
                    out.bytes_written += kept.size() as u64;
                    throttle.acquire(kept.size() as u64, &|| log.is_closing());
                }
            }
        }
        cleaned.seal()?;
        cleaned.flush()?;
        if let Some(last) = group.last() {
            cleaned.set_modified(last.modified()?)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = cleaned.delete_files();
        return Err(e);
    }
    log.replace_segments(vec![cleaned], group)?;
    out.segments_replaced += group.len();
    Ok(())
}

/// The header of `batch` on a new builder: same offsets, producer fields,
/// flags, leader epoch and timestamp type.
fn same_header(batch: &BatchView) -> BatchBuilder {
    let mut b = BatchBuilder::new(batch.base_offset())
        .partition_leader_epoch(batch.partition_leader_epoch())
        .producer(batch.producer_id(), batch.producer_epoch(), batch.base_sequence())
        .transactional(batch.is_transactional())
        .control(batch.is_control())
        .last_offset_delta(batch.last_offset_delta());
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        b = b.log_append_time(batch.max_timestamp());
    }
    b
}

/// Why a batch left without records stays in the cleaned segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeepEmpty {
    /// It goes.
    No,
    /// Kafka keeps it too: the last batch of a live producer
    /// (`LogCleaner`'s `checkBatchRetention` answers `RETAIN_EMPTY` for it
    /// alone). Kafka writes it with the original maxTimestamp and counts
    /// that in the cleaned segment's largest timestamp
    /// (`FilterResult.updateRetainedBatchMetadata`, then `Cleaner.cleanInto`
    /// appends with the result's maxTimestamp): so does strata.
    Kafka,
    /// Only strata keeps it (Kafka's `DELETE_EMPTY`): it holds the cleaning
    /// group's last offset, so the cleaned segment reaches as far as its
    /// sources (a crash mid-swap can tell which old segments it replaces),
    /// or it ends right below the first uncleanable offset. It carries no
    /// maxTimestamp (-1), so the cleaned segment's largest timestamp and time
    /// index come from the records it keeps, as Kafka's do, live and when
    /// recovery rebuilds them: no record carries the original one. Nor does
    /// it carry the original's producer or its transactional and control
    /// flags: it holds offsets only, and as a batch of the transaction
    /// every later cleaning would count it as that transaction's data, and
    /// keep the transaction's marker (kept while its data is seen) for good,
    /// where Kafka drops the data and then the marker after its horizon.
    Strata,
}

impl KeepEmpty {
    /// A batch left without records: Kafka's 61-byte empty batch (the
    /// original header, no records, baseTimestamp -1, no delete horizon),
    /// with the original maxTimestamp for [`KeepEmpty::Kafka`] and -1 for
    /// [`KeepEmpty::Strata`]; `None` for [`KeepEmpty::No`]. An empty batch
    /// that is so already is copied as it is.
    fn empty(self, batch: &BatchView) -> crate::format::FormatResult<Option<Bytes>> {
        let (stamp, header) = match self {
            KeepEmpty::No => return Ok(None),
            KeepEmpty::Kafka => (batch.max_timestamp(), same_header(batch)),
            KeepEmpty::Strata => {
                let offsets_only = BatchBuilder::new(batch.base_offset())
                    .partition_leader_epoch(batch.partition_leader_epoch())
                    .last_offset_delta(batch.last_offset_delta());
                (NO_TIMESTAMP, offsets_only)
            }
        };
        let holds_producer =
            batch.producer_id() >= 0 || batch.is_transactional() || batch.is_control();
        if batch.records_count() == 0
            && batch.max_timestamp() == stamp
            && (self == KeepEmpty::Kafka || !holds_producer)
        {
            return Ok(Some(batch.as_bytes().clone()));
        }
        let built = header.empty_batch_timestamps(-1, stamp).build()?;
        if built.get(MAX_TIMESTAMP..MAX_TIMESTAMP + 8) == Some(&stamp.to_be_bytes()[..]) {
            return Ok(Some(built));
        }
        // A LogAppendTime header carries the append time as maxTimestamp.
        let mut bytes = built.to_vec();
        set_max_timestamp(&mut bytes, batch.timestamp_type(), stamp);
        Ok(Some(Bytes::from(bytes)))
    }
}

/// A transaction marker: kept while its transaction's data may still be read;
/// once discardable it gets a delete horizon, and a cleaning after the
/// horizon removes it (Kafka's `containsMarkerForEmptyTxn` path).
fn filter_marker(
    batch: &BatchView,
    ctx: &Retain<'_>,
    can_discard: bool,
    keep_empty: KeepEmpty,
) -> crate::format::FormatResult<Option<Bytes>> {
    let verbatim = Ok(Some(batch.as_bytes().clone()));
    if !can_discard {
        return verbatim;
    }
    if batch.records_count() == 0 {
        return keep_empty.empty(batch);
    }
    match batch.delete_horizon_ms() {
        Some(h) if ctx.now >= h => keep_empty.empty(batch),
        Some(_) => verbatim,
        None => {
            let mut b =
                same_header(batch).delete_horizon(ctx.now.saturating_add(ctx.delete_retention_ms));
            for r in batch.records()? {
                let r = r?;
                let ts = batch.base_timestamp().wrapping_add(r.timestamp_delta());
                b.append_raw(r.offset_delta(), ts, r.key(), r.value(), r.headers())?;
            }
            b.build().map(Some)
        }
    }
}

/// Whether `batch` holds a live producer's last state (Kafka's
/// `isBatchLastRecordOfProducer`): the batch ending at its last data offset,
/// or — when its current epoch has no data — a marker of that epoch, which
/// carries the epoch that fences older producers.
fn is_last_of_live_producer(batch: &BatchView, live: &HashMap<i64, LastRecord>) -> bool {
    if batch.producer_id() < 0 {
        return false;
    }
    live.get(&batch.producer_id()).is_some_and(|last| match last.last_data_offset {
        Some(o) => batch.last_offset() == o,
        None => batch.is_control() && batch.producer_epoch() == last.epoch,
    })
}

/// A legacy (magic 0/1) entry under Kafka's record retention (its
/// `MemoryRecords.filterTo` treats each shallow entry as a batch): records
/// are kept by key as v2 records are. An entry that keeps all its records is
/// copied as it is, one that keeps none goes. A compressed wrapper that keeps
/// some is rewritten with only those, as Kafka rewrites it: one wrapper of
/// the same magic and codec ([`legacy::encode_wrapper`]), each record at its
/// own offset with the timestamp it was served with (a superseded record
/// copied along would come back once the tombstone that superseded it is
/// gone; one uncompressed message per record would grow a well-compressed
/// segment many times over). Only when the codec is compiled out are the
/// records written as one uncompressed message each.
/// Legacy entries have no delete horizon: their tombstones stay while the
/// source segment is younger than the legacy horizon
/// ([`Retain::retain_legacy_deletes`]), as in Kafka. When the
/// entry holds the group's last offset (or ends where the uncleanable
/// section begins) and its record there goes, a 61-byte empty v2 batch at
/// that offset, without maxTimestamp, keeps the cleaned segment's end, as
/// for v2 batches (no empty legacy entry exists).
fn filter_legacy(
    batch: &BatchView,
    ctx: &Retain<'_>,
    out: &mut CleanOutcome,
) -> crate::format::FormatResult<Vec<Bytes>> {
    let mut read = 0u64;
    let mut kept = Vec::new();
    for r in batch.records()? {
        let r = r?;
        read += 1;
        let latest = r.key().is_some_and(|k| r.offset() >= ctx.map.get(k).unwrap_or(-1));
        // Kafka's `Cleaner.shouldRetainRecord` for magic < 2.
        let retained = latest && (r.value().is_some() || ctx.retain_legacy_deletes);
        if r.offset() > ctx.map.latest_offset() || retained {
            kept.push(r);
        }
    }
    out.records_read += read;
    out.records_removed += read - kept.len() as u64;
    if kept.len() as u64 == read {
        return Ok(vec![batch.as_bytes().clone()]);
    }
    let log_append_time = batch.timestamp_type() == TimestampType::LogAppendTime;
    let records: Vec<legacy::KeptRecord<'_>> = kept
        .iter()
        .map(|r| {
            (r.offset(), r.timestamp(), r.key().map(|k| k.as_ref()), r.value().map(|v| v.as_ref()))
        })
        .collect();
    let mut entries = Vec::with_capacity(2);
    if !records.is_empty() {
        match legacy::encode_wrapper(batch.magic(), batch.compression()?, log_append_time, &records)
        {
            Ok(wrapper) => entries.push(Bytes::from(wrapper)),
            // A codec compiled out: the same records as one uncompressed message each.
            Err(crate::format::FormatError::CodecNotEnabled { .. }) => {
                for &(offset, ts, key, value) in &records {
                    let m = legacy::encode_message(
                        offset,
                        batch.magic(),
                        log_append_time,
                        ts,
                        key,
                        value,
                    )?;
                    entries.push(Bytes::from(m));
                }
            }
            Err(e) => return Err(e),
        }
    }
    let holds_end = batch.last_offset() == ctx.group_last_offset
        || batch.next_offset() == ctx.first_uncleanable;
    if holds_end && kept.last().is_none_or(|r| r.offset() != batch.last_offset()) {
        // No maxTimestamp, as the empty v2 batches only strata keeps
        // ([`KeepEmpty::Strata`]): the segment's largest timestamp is its records'.
        let end = BatchBuilder::new(batch.last_offset())
            .empty_batch_timestamps(-1, NO_TIMESTAMP)
            .build()?;
        entries.push(end);
    }
    Ok(entries)
}

/// Kafka's per-batch and per-record retention; `None` drops the batch.
fn filter_batch(
    batch: &BatchView,
    ctx: &Retain<'_>,
    txns: &mut TxnTracker,
    out: &mut CleanOutcome,
) -> crate::format::FormatResult<Option<Bytes>> {
    let can_discard = txns.can_discard(batch);
    let keep_empty = if is_last_of_live_producer(batch, ctx.last_of_producer) {
        KeepEmpty::Kafka
    } else if batch.last_offset() == ctx.group_last_offset
        || batch.next_offset() == ctx.first_uncleanable
    {
        KeepEmpty::Strata
    } else {
        KeepEmpty::No
    };
    let horizon = batch.delete_horizon_ms();
    if batch.is_control() {
        return filter_marker(batch, ctx, can_discard, keep_empty);
    }
    let decoded = batch.decode()?;
    // Hash every key and prefetch its slot before the first lookup, so the
    // map's cache misses overlap (see `build_map`).
    // Never sized from the header: its recordsCount is input (a crafted
    // i32::MAX would abort the process on allocation).
    let mut records = Vec::new();
    for r in decoded.views() {
        let r = r?;
        let h = r.key().map(KeyHash::of);
        if let Some(h) = h {
            ctx.map.prefetch(h);
        }
        records.push((r, h));
    }
    let mut kept = Vec::new();
    let mut read = 0u64;
    let mut tombstone = false;
    for (r, h) in records {
        read += 1;
        let latest = h.is_some_and(|h| r.offset() >= ctx.map.get_hashed(h).unwrap_or(-1));
        let alive = r.value().is_some() || horizon.is_none_or(|h| ctx.now < h);
        // Records of an aborted transaction all go (Kafka's discardBatchRecords).
        if !can_discard && (r.offset() > ctx.map.latest_offset() || (latest && alive)) {
            tombstone |= r.value().is_none();
            kept.push(r);
        }
    }
    out.records_read += read;
    out.records_removed += read - kept.len() as u64;
    let new_horizon =
        horizon.or_else(|| tombstone.then(|| ctx.now.saturating_add(ctx.delete_retention_ms)));
    if kept.is_empty() {
        // Also an already-empty batch: kept only while it still has a reason to be.
        return keep_empty.empty(batch);
    }
    if kept.len() as u64 == read && new_horizon == horizon {
        return Ok(Some(batch.as_bytes().clone()));
    }
    // The kept records never outgrow the original batch: one allocation.
    let mut b =
        same_header(batch).compression(batch.compression()?, None).with_capacity(batch.size());
    if let Some(h) = new_horizon {
        b = b.delete_horizon(h);
    }
    let mut headers = Vec::new();
    for r in &kept {
        // The stored create time, also for LogAppendTime batches.
        let ts = batch.base_timestamp().wrapping_add(r.timestamp_delta());
        headers.clear();
        headers.extend(r.headers().map(|h| BorrowedHeader { key: h.key, value: h.value }));
        b.append_slices(r.offset_delta(), ts, r.key(), r.value(), &headers)?;
    }
    b.build().map(Some)
}
