//! Turning a client batch into the bytes the log stores (Kafka's
//! `LogValidator`, §1.11 of the spec): validate, assign offsets by patching
//! the base offset, and rewrite only what must change.
//!
//! Rules, in order:
//! 1. the batch frames, its CRC matches, its records decode, and it is a
//!    producer batch: `recordsCount == lastOffsetDelta + 1 > 0`, not a
//!    control batch, and a producer id implies a base sequence `>= 0`;
//! 2. its size is at most `max.message.bytes`;
//! 3. compacted topics refuse records without a key;
//! 4. CreateTime topics refuse record timestamps (other than -1) further than
//!    `message.timestamp.before.max.ms` in the past or
//!    `message.timestamp.after.max.ms` in the future;
//! 5. a batch whose codec differs from the topic's `compression.type` (unless
//!    `producer`) is rebuilt with the topic's codec; otherwise its bytes are
//!    kept verbatim;
//! 6. the base offset becomes the log end offset and the partition leader
//!    epoch is stamped (both outside the CRC); LogAppendTime topics set the
//!    timestamp type and maxTimestamp to now, CreateTime topics set
//!    maxTimestamp to the largest record timestamp; the CRC is recomputed only
//!    when attributes or maxTimestamp changed.
//!
//! Client batches are checked in one pass that builds nothing (the CRC, then
//! [`summarize`] measures every record and gathers the few facts the rules
//! judge; a batch it cannot vouch for is walked record by record with
//! [`walk_records`], which names the first record that breaks a rule). Batches the log builds itself
//! from records ([`build`]) apply rules 2-4 and 6 while they are encoded
//! (and refuse a timestamp below -1, as Kafka's producer does) and
//! are never validated again: their CRC is computed once, by the builder.

use std::cell::Cell;

use bytes::{Bytes, BytesMut};

use crate::config::LogConfig;
use crate::format::builder::{set_base_offset_and_epoch, set_max_timestamp};
use crate::format::walk::{summarize, walk_records};
use crate::format::{
    BatchBuilder, BatchView, Compression, NO_TIMESTAMP, RecordParts, TimestampType,
};
use crate::{Error, Result};

/// A batch ready to be written at its final offsets.
#[derive(Debug)]
pub(crate) struct PreparedBatch {
    /// The batch; with `head`, its header fields hold the assigned base
    /// offset and epoch while its bytes still hold the client's.
    pub batch: BatchView,
    pub records: i64,
    /// The batch's first [`ASSIGNED_HEAD`] bytes as they are to be written
    /// (base offset, length, partition leader epoch), when the rest of the
    /// client's bytes are written as they came, without a copy.
    pub head: Option<[u8; ASSIGNED_HEAD]>,
}

/// The header bytes an append reassigns: baseOffset, batchLength (kept) and
/// partitionLeaderEpoch, all before the magic byte and outside the CRC.
pub(crate) const ASSIGNED_HEAD: usize = 16;

/// The timestamp bounds of `CreateTime` topics the rules apply, and
/// whether each came from the deprecated `message.timestamp.difference.max.ms`
/// (the key a refusal names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimestampBounds {
    pub before: i64,
    pub after: i64,
    pub before_is_difference: bool,
    pub after_is_difference: bool,
}

impl TimestampBounds {
    /// Timestamps in `lo..=hi` pass both bounds at `now` ([`check_timestamp`]);
    /// one outside may still pass and is to be checked exactly. With a bound
    /// below zero none is taken on trust (`lo > hi`).
    pub(crate) fn surely_accepted(&self, now: i64) -> (i64, i64) {
        if self.before < 0 || self.after < 0 {
            return (i64::MAX, i64::MIN);
        }
        // `now - ts > before` means `ts < now - before`: where that
        // difference saturates at i64::MIN no timestamp lies below it
        // anyway, and likewise above `now + after`.
        (now.saturating_sub(self.before), now.saturating_add(self.after))
    }

    pub(crate) fn of(cfg: &LogConfig) -> TimestampBounds {
        TimestampBounds {
            before: cfg.effective_timestamp_before_max_ms(),
            after: cfg.effective_timestamp_after_max_ms(),
            before_is_difference: cfg.message_timestamp_before_max_ms == i64::MAX,
            after_is_difference: cfg.message_timestamp_after_max_ms == i64::MAX,
        }
    }
}

/// What an append reads of its log's config, copied out of it whenever the
/// config is set and kept where the log's other hot fields are (see
/// `Inner` in the log's module): an append reads one cache line or two
/// there, not the config's reference count and the lines its fields are
/// spread over (on a store whose appends go round-robin over many
/// partitions, each a miss per append).
///
/// `repr(C)` and 64 bytes: it fills the rest of the line after the lock
/// that guards it and the next one's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct AppendSettings {
    /// `max.message.bytes`.
    pub max_message_bytes: u64,
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// `flush.messages`.
    pub flush_messages: i64,
    /// [`LogConfig::max_segment_ms`].
    pub max_segment_ms: i64,
    /// [`TimestampBounds::before`] and [`TimestampBounds::after`].
    pub timestamp_before: i64,
    pub timestamp_after: i64,
    /// The level of `codec`.
    pub level: Option<i32>,
    /// The codec of batches the log builds (`compression.type`; none for
    /// `producer`, as there is no producer codec to keep).
    pub codec: Compression,
    /// `message.timestamp.type` is `LogAppendTime`.
    pub log_append_time: bool,
    /// `cleanup.policy` includes `compact`.
    pub compact: bool,
    /// The `sync` durability class: an append returns once it is on disk.
    pub acknowledge_synced: bool,
    pub timestamp_before_is_difference: bool,
    pub timestamp_after_is_difference: bool,
    /// `compression.type` is `producer`: a client batch keeps its codec
    /// (otherwise it is rebuilt with `codec` when its codec differs).
    pub producer_codec: bool,
}

impl AppendSettings {
    pub(crate) fn of(cfg: &LogConfig) -> AppendSettings {
        let codec = cfg.compression_type.target(Compression::None);
        let bounds = TimestampBounds::of(cfg);
        AppendSettings {
            max_message_bytes: cfg.max_message_bytes,
            segment_bytes: cfg.segment_bytes,
            flush_messages: cfg.flush_messages,
            max_segment_ms: cfg.max_segment_ms(),
            timestamp_before: bounds.before,
            timestamp_after: bounds.after,
            level: cfg.compression_level_for(codec),
            codec,
            log_append_time: cfg.message_timestamp_type == TimestampType::LogAppendTime,
            compact: cfg.cleanup_policy.compact,
            acknowledge_synced: cfg.strata_durability == crate::config::Durability::Sync,
            timestamp_before_is_difference: bounds.before_is_difference,
            timestamp_after_is_difference: bounds.after_is_difference,
            producer_codec: cfg.compression_type == crate::config::TopicCompression::Producer,
        }
    }

    fn timestamps(&self) -> TimestampBounds {
        TimestampBounds {
            before: self.timestamp_before,
            after: self.timestamp_after,
            before_is_difference: self.timestamp_before_is_difference,
            after_is_difference: self.timestamp_after_is_difference,
        }
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidRecord { reason: reason.into() }
}

/// Validates `bytes` as a client batch and returns it with offsets assigned
/// from `next_offset`, under the log's `cfg` (what it reads of its config,
/// kept beside its other hot fields: no config reference counted per append).
pub(crate) fn prepare(
    bytes: Bytes,
    cfg: &AppendSettings,
    next_offset: i64,
    leader_epoch: i32,
    now: i64,
) -> Result<PreparedBatch> {
    let size = bytes.len();
    if size as u64 > cfg.max_message_bytes {
        return Err(Error::RecordTooLarge {
            size,
            limit_name: "max.message.bytes",
            limit: cfg.max_message_bytes,
        });
    }
    let batch = BatchView::new(bytes).map_err(|source| Error::InvalidBatch { source })?;
    batch.validate().map_err(|source| Error::InvalidBatch { source })?;
    let count = batch.records_count();
    if count <= 0 || i64::from(count) != i64::from(batch.last_offset_delta()) + 1 {
        return Err(invalid(format!(
            "a producer batch holds offsets 0..n-1: recordsCount {count}, lastOffsetDelta {}",
            batch.last_offset_delta()
        )));
    }
    if batch.is_control() {
        return Err(invalid("control batches are written by the log, not appended"));
    }
    if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
        return Err(invalid(format!(
            "producer id {} without a base sequence",
            batch.producer_id()
        )));
    }
    if cfg.log_append_time && batch.timestamp_type() == TimestampType::LogAppendTime {
        // Kafka answers INVALID_TIMESTAMP: the producer may not pick the append time.
        return Err(Error::InvalidTimestamp {
            timestamp: batch.max_timestamp(),
            now,
            reason: "set by the producer as LogAppendTime, which only the log may stamp".into(),
        });
    }
    if batch.base_offset() != 0 {
        // Kafka's rule for producer batches: offsets are the log's to assign.
        return Err(invalid(format!(
            "a producer batch starts at base offset 0, not {}",
            batch.base_offset()
        )));
    }
    // One pass that builds nothing: the format's record checks and the log's rules together.
    let mut max_record_ts = NO_TIMESTAMP;
    let base_timestamp = batch.base_timestamp();
    // The rules' settings once per batch; `check_timestamp` only to name a refusal.
    let compact = cfg.compact;
    let create_time = !cfg.log_append_time;
    let bounds = cfg.timestamps();
    let (before, after) = (bounds.before, bounds.after);
    if create_time && batch.timestamp_type() == TimestampType::LogAppendTime {
        // Kafka reads every record of a LogAppendTime batch as its
        // maxTimestamp, and `LogValidator.validateTimestamp` judges that
        // on a CreateTime topic: out of bounds it is refused, and -1 skips
        // the bounds so the producer's flag is refused (INVALID_TIMESTAMP).
        // The stored maxTimestamp is still the records' largest below.
        let stamped = batch.max_timestamp();
        if stamped == NO_TIMESTAMP {
            return Err(Error::InvalidTimestamp {
                timestamp: stamped,
                now,
                reason: "set by the producer as LogAppendTime without a maxTimestamp".into(),
            });
        }
        check_timestamp(stamped, now, &bounds)?;
    }
    let mut check = |r: crate::format::walk::RecordFacts| {
        if compact && r.key_is_null {
            return Err(keyless(r.offset_delta));
        }
        // Readers of a LogAppendTime batch see maxTimestamp; the producer's time is in the delta.
        let ts = base_timestamp.wrapping_add(r.timestamp_delta);
        if create_time && (now.saturating_sub(ts) > before || ts.saturating_sub(now) > after) {
            check_timestamp(ts, now, &bounds)?;
        }
        max_record_ts = max_record_ts.max(ts);
        Ok(())
    };
    let summary = if batch.is_legacy() { None } else { summarize(&batch) };
    let within = |ts: i64| now.saturating_sub(ts) <= before && ts.saturating_sub(now) <= after;
    if let Some(s) = summary.filter(|s| {
        !(compact && s.any_null_key)
            && (!create_time || (within(s.min_timestamp) && within(s.max_timestamp)))
    }) {
        // The common batch: every rule holds for every record (the bounds
        // are monotone in the timestamp, so its extremes decide them all).
        max_record_ts = max_record_ts.max(s.max_timestamp);
    } else if batch.is_legacy() {
        batch.check_records(
            |source| Error::InvalidBatch { source },
            |r| {
                check(crate::format::walk::RecordFacts {
                    offset_delta: r.offset_delta(),
                    timestamp_delta: r.timestamp_delta(),
                    key_is_null: r.key().is_none(),
                })
            },
        )?;
    } else {
        walk_records(&batch, |source| Error::InvalidBatch { source }, check)?;
    }
    let codec = batch.compression().map_err(|source| Error::InvalidBatch { source })?;
    // (`compression.type`'s target: the batch's own codec for `producer`.)
    let batch = if cfg.producer_codec || codec == cfg.codec {
        batch
    } else {
        recompress(&batch, cfg.codec, cfg.level)?
    };
    if batch.size() as u64 > cfg.max_message_bytes {
        return Err(Error::RecordTooLarge {
            size: batch.size(),
            limit_name: "max.message.bytes",
            limit: cfg.max_message_bytes,
        });
    }
    let (ts_type, max_ts) = if cfg.log_append_time {
        (TimestampType::LogAppendTime, now)
    } else {
        (TimestampType::CreateTime, max_record_ts)
    };
    let restamp = ts_type != batch.timestamp_type() || max_ts != batch.max_timestamp();
    if !restamp && !batch.is_legacy() {
        // The bytes stay the client's (which the caller may still hold): the
        // segment writes the assigned header fields ahead of them.
        let mut head = [0u8; ASSIGNED_HEAD];
        head.copy_from_slice(batch.as_bytes().get(..ASSIGNED_HEAD).unwrap_or(&[0; ASSIGNED_HEAD]));
        set_base_offset_and_epoch(&mut head, next_offset, leader_epoch);
        let batch = batch.with_assigned_offsets(next_offset, leader_epoch);
        return Ok(PreparedBatch { batch, records: i64::from(count), head: Some(head) });
    }
    // Patched in place when the caller handed over the only reference (no copy).
    let mut buf = BytesMut::from(batch.into_bytes());
    set_base_offset_and_epoch(&mut buf, next_offset, leader_epoch);
    if restamp {
        set_max_timestamp(&mut buf, ts_type, max_ts);
    }
    let batch = BatchView::new(buf.freeze()).map_err(|source| Error::InvalidBatch { source })?;
    Ok(PreparedBatch { batch, records: i64::from(count), head: None })
}

fn keyless(offset_delta: i32) -> Error {
    invalid(format!("compacted topic refuses record at offset delta {offset_delta} without a key"))
}

/// The most [`build`] reserves up front for one batch (larger batches grow).
const MAX_RESERVE: usize = 16 << 20;

/// Builds one batch from `records` for the log to write as it is, applying
/// the rules a client batch is checked by (max.message.bytes, keys on
/// compacted topics, timestamp bounds or LogAppendTime) to each record as
/// it is encoded, and stamping timestamp -1 with `now`. Returns the batch at
/// base offset 0 (the caller patches offsets in place) and its record count.
pub(crate) fn build<R: RecordParts>(
    records: &[R],
    cfg: &AppendSettings,
    now: i64,
) -> Result<(Vec<u8>, i64)> {
    if records.is_empty() {
        return Err(invalid("an append needs at least one record"));
    }
    let codec = cfg.codec;
    let log_append_time = cfg.log_append_time;
    // The bounds once per batch, as the range of timestamps neither bound
    // can refuse; `check_timestamp` judges any other exactly (and names a refusal).
    let bounds = cfg.timestamps();
    // No negative timestamp, on either timestamp type: Kafka's producer
    // never sends one (`ProducerRecord` refuses it, and
    // `MemoryRecordsBuilder.appendWithOffset` any below -1), and a batch of
    // them would keep maxTimestamp -1, below its records' largest. A record's
    // -1 is stamped with `now` before it is judged (a clock before 1970
    // stamps a negative time, which is let through).
    let floor = if now >= 0 { 0 } else { i64::MIN };
    let (lo, hi) = if log_append_time {
        (floor, i64::MAX)
    } else {
        let (lo, hi) = bounds.surely_accepted(now);
        (lo.max(floor), hi)
    };
    let compact = cfg.compact;
    // The rules are applied to each record as it is encoded (a refusal
    // drops the batch, so nothing of it is kept): `surely` vouches for the
    // common record in two compares, `exact` judges any other and names
    // what it breaks.
    let surely = |ts: i64, key_is_null: bool| !(compact && key_is_null) && lo <= ts && ts <= hi;
    let exact = |i: usize, ts: i64, key_is_null: bool| {
        if compact && key_is_null {
            return Err(keyless(i32::try_from(i).unwrap_or(i32::MAX)));
        }
        if ts < floor {
            return Err(Error::InvalidTimestamp {
                timestamp: ts,
                now,
                reason: "negative: a record's timestamp counts milliseconds since the epoch, \
                         or is -1 for the time of the append"
                    .into(),
            });
        }
        if log_append_time { Ok(()) } else { check_timestamp(ts, now, &bounds) }
    };
    // Room for the batch at once, sized from the first record as if every
    // record were its size (the batch regrows, doubling, when they are
    // larger), and never more than the largest batch the log accepts.
    let first = records.first().map_or(0, |r| {
        let headers: usize =
            r.headers().map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len) + 10).sum();
        r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len) + headers + 36
    });
    let limit = usize::try_from(cfg.max_message_bytes).unwrap_or(usize::MAX).min(MAX_RESERVE);
    let estimate = first.saturating_mul(records.len()).min(limit);
    let capacity = if codec == Compression::None { estimate } else { 0 };
    let mut b = BatchBuilder::sized_in(0, spare(), capacity).compression(codec, cfg.level);
    if log_append_time {
        b = b.log_append_time(now);
    }
    b.append_all_checked(records, now, surely, exact, |source| Error::InvalidBatch { source })?;
    let count = i64::from(b.count());
    let batch = b.build_vec().map_err(|source| Error::InvalidBatch { source })?;
    if batch.len() as u64 > cfg.max_message_bytes {
        return Err(Error::RecordTooLarge {
            size: batch.len(),
            limit_name: "max.message.bytes",
            limit: cfg.max_message_bytes,
        });
    }
    Ok((batch, count))
}

/// The largest buffer a thread keeps for its next [`build`]; a larger one
/// (a rare big batch) goes back to the allocator.
const SPARE_MAX: usize = 256 << 10;

thread_local! {
    /// The buffer of the last batch this thread built and wrote (its bytes
    /// kept, to be written over), for [`build`] to encode the next one in:
    /// an append of records then costs no allocation and no free of its
    /// batch (a ~1 KiB one is past the allocator's per-thread cache, some
    /// 600 instructions both), nor the zeroing of its room, and a thread
    /// holds one buffer of at most [`SPARE_MAX`] bytes.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The buffer [`recycle`] kept on this thread, or a new (empty) one.
fn spare() -> Vec<u8> {
    SPARE.try_with(Cell::take).unwrap_or_default()
}

/// Keeps the allocation of a batch [`build`] made, once written, for this
/// thread's next [`build`]: only when nothing else holds the bytes (no
/// copy is ever made) and it is at most [`SPARE_MAX`] bytes.
pub(crate) fn recycle(batch: Bytes) {
    let Ok(spent) = batch.try_into_mut() else { return };
    if spent.capacity() > SPARE_MAX {
        return;
    }
    // Its bytes are kept: the next build writes over them instead of
    // zeroing its room anew (`RecordsBuf::reuse`). The view starts at the
    // allocation's start, so taking the vector back moves none of them.
    let spent = Vec::from(spent);
    // During the thread's teardown nothing is kept.
    let _kept = SPARE.try_with(|s| s.set(spent));
}

fn check_timestamp(ts: i64, now: i64, bounds: &TimestampBounds) -> Result<()> {
    if ts == NO_TIMESTAMP {
        return Ok(());
    }
    // Named by the key the bound came from (the difference key while the other is unset).
    let key = |is_difference: bool, own: &'static str| {
        if is_difference { "message.timestamp.difference.max.ms" } else { own }
    };
    if now.saturating_sub(ts) > bounds.before {
        return Err(Error::InvalidTimestamp {
            timestamp: ts,
            now,
            reason: format!(
                "older than {} = {}",
                key(bounds.before_is_difference, "message.timestamp.before.max.ms"),
                bounds.before
            ),
        });
    }
    if ts.saturating_sub(now) > bounds.after {
        return Err(Error::InvalidTimestamp {
            timestamp: ts,
            now,
            reason: format!(
                "newer than {} = {}",
                key(bounds.after_is_difference, "message.timestamp.after.max.ms"),
                bounds.after
            ),
        });
    }
    Ok(())
}

/// Rebuilds a batch with another codec, keeping producer state, the
/// transactional flag and every record's timestamp (Kafka's
/// `buildRecordsAndAssignOffsets`).
fn recompress(batch: &BatchView, codec: Compression, level: Option<i32>) -> Result<BatchView> {
    let mut b = BatchBuilder::new(0)
        .compression(codec, level)
        .producer(batch.producer_id(), batch.producer_epoch(), batch.base_sequence())
        .transactional(batch.is_transactional());
    for r in batch.records().map_err(|source| Error::InvalidBatch { source })? {
        let r = r.map_err(|source| Error::InvalidBatch { source })?;
        let ts = batch.base_timestamp().wrapping_add(r.timestamp_delta());
        b.append_raw(r.offset_delta(), ts, r.key(), r.value(), r.headers())
            .map_err(|source| Error::InvalidBatch { source })?;
    }
    let bytes = b.build().map_err(|source| Error::InvalidBatch { source })?;
    BatchView::new(bytes).map_err(|source| Error::InvalidBatch { source })
}

#[cfg(test)]
mod tests {
    use super::{TimestampBounds, check_timestamp};

    #[test]
    fn a_timestamp_in_the_surely_accepted_range_passes_both_bounds_exactly() {
        let edges = [i64::MIN, i64::MIN + 1, -1_000, -1, 0, 1, 1_000, i64::MAX - 1, i64::MAX];
        let nows = [i64::MIN, -5, 0, 1_700_000_000_000, i64::MAX];
        let limits = [-1, 0, 1, 3_600_000, i64::MAX - 1, i64::MAX];
        let mut trusted = 0;
        for &now in &nows {
            for &before in &limits {
                for &after in &limits {
                    let bounds = TimestampBounds {
                        before,
                        after,
                        before_is_difference: false,
                        after_is_difference: false,
                    };
                    let (lo, hi) = bounds.surely_accepted(now);
                    let near = [lo, hi, now]
                        .into_iter()
                        .flat_map(|x| [x.saturating_sub(1), x, x.saturating_add(1)]);
                    for ts in edges.into_iter().chain(near) {
                        if (lo..=hi).contains(&ts) {
                            trusted += 1;
                            assert!(
                                check_timestamp(ts, now, &bounds).is_ok(),
                                "ts {ts} trusted at now {now}, before {before}, after {after}"
                            );
                        }
                    }
                }
            }
        }
        assert!(trusted > 100, "the range must trust the ordinary timestamps ({trusted})");
        // A negative bound trusts nothing.
        let negative = TimestampBounds {
            before: -1,
            after: 0,
            before_is_difference: false,
            after_is_difference: false,
        };
        let (lo, hi) = negative.surely_accepted(0);
        assert!(lo > hi);
    }
}
