//! Idempotent-producer state of one partition (Kafka's `ProducerStateManager`):
//! per producer id, its epoch and its last five batches' sequences, so a
//! retried batch is recognized and answered with the offsets it got the first
//! time, a gap in sequences is refused, and an older epoch is fenced.
//!
//! Rules for a batch with a producer id (§9.2 of the spec), in order:
//! 1. same epoch and the same `(first, last)` sequence as one of the last five
//!    batches: a **duplicate** — nothing is written, the cached offsets return;
//! 2. an epoch below the current one: `InvalidProducerEpoch`;
//! 3. a new epoch must start at sequence 0 (unless the producer is unknown);
//!    the same epoch must continue at last sequence + 1 (wrapping at
//!    `i32::MAX`), or at 0 when the producer has no batch in it (a marker
//!    bumped the epoch or was its first write): else `OutOfOrderSequence`.
//!    Unknown producers (new, or expired) are accepted at any sequence, as
//!    Kafka does since KIP-360;
//! 4. a non-transactional batch while the producer has an open transaction:
//!    `InvalidTxnState`.
//!
//! Transactions: a producer's first transactional batch opens its
//! transaction at that batch's offset; its COMMIT or ABORT marker completes
//! it (a control batch the cleaner emptied completes nothing). Every data
//! batch is one of the last five, one without a sequence (-1) too: 0 is the
//! sequence expected after it. The first offset of the earliest open transaction bounds the last
//! stable offset. A marker is checked by Kafka's rules
//! (`ProducerAppendInfo.appendEndTxnMarker`): a coordinator epoch below the
//! producer's is fenced; with transaction version 2 (KIP-890, where the
//! coordinator bumps the producer epoch for every marker) the marker's epoch
//! must be above the producer's, except a retry of the marker that already
//! ended the transaction (same epoch, nothing open); before version 2 it may
//! not be below it.
//!
//! The state is snapshotted in Kafka's `.snapshot` format at every roll and
//! at close, and rebuilt on open from the latest snapshot above the log
//! start plus the batches after it; with no such snapshot, from the batches
//! at and after the log start alone (Kafka's `rebuildProducerState`).
//! Producers idle for `producer.id.expiration.ms` are forgotten.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use super::snapshot_file;
use crate::format::file_name::{FileKind, parse_file_name, segment_file_name};
use crate::format::producer_snapshot::{self, SnapshotEntry};
use crate::format::{BatchView, ControlRecord, ControlType};
use crate::io::file;
use crate::{Error, Result};

/// Batches remembered per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`).
const BATCHES_TO_RETAIN: usize = 5;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    last_seq: i32,
    last_offset: i64,
    offset_delta: i32,
    timestamp: i64,
}

impl BatchMeta {
    fn first_seq(&self) -> i32 {
        let s = i64::from(self.last_seq) - i64::from(self.offset_delta);
        if s < 0 { (s + i64::from(i32::MAX) + 1) as i32 } else { s as i32 }
    }
}

#[derive(Debug, Clone)]
struct Producer {
    epoch: i16,
    coordinator_epoch: i32,
    last_timestamp: i64,
    txn_first_offset: Option<i64>,
    batches: VecDeque<BatchMeta>,
}

impl Producer {
    fn new() -> Self {
        Producer {
            epoch: crate::format::NO_PRODUCER_EPOCH,
            coordinator_epoch: -1,
            last_timestamp: crate::format::NO_TIMESTAMP,
            txn_first_offset: None,
            batches: VecDeque::new(),
        }
    }

    /// A batch of another epoch forgets the batches of the old one.
    fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.batches.clear();
            self.epoch = epoch;
        }
    }
}

/// A transaction its marker just completed (Kafka's `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// What compaction must keep of a producer still in the map (Kafka's
/// `LastRecord`): the batch ending at its last data offset or, when it has no
/// data batch in its current epoch, its markers of that epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LastRecord {
    pub last_data_offset: Option<i64>,
    pub epoch: i16,
}

/// A retried batch: where it was written the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

/// The producers of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, Producer>,
    /// Open transactions: first offset -> producer.
    ongoing: BTreeMap<i64, i64>,
}

/// The marker a control batch carries (`None`: an empty or unreadable one).
pub(crate) fn marker_of(b: &BatchView) -> Option<ControlRecord> {
    let r = b.records().ok()?.next()?.ok()?;
    ControlRecord::decode(r.key()?, r.value().map(|v| v.as_ref())).ok()
}

fn next_seq(s: i32) -> i32 {
    if s == i32::MAX { 0 } else { s + 1 }
}

impl ProducerState {
    /// Checks a client batch; `Ok(Some(_))` means it is a duplicate.
    pub(crate) fn check(&self, b: &BatchView) -> Result<Option<Duplicate>> {
        let pid = b.producer_id();
        if pid < 0 {
            return Ok(None);
        }
        let Some(p) = self.producers.get(&pid) else { return Ok(None) };
        let (first, last, epoch) = (b.base_sequence(), b.last_sequence(), b.producer_epoch());
        let cached = p.batches.iter().find(|m| m.first_seq() == first && m.last_seq == last);
        if let Some(d) = cached.filter(|_| epoch == p.epoch) {
            return Ok(Some(Duplicate {
                first_offset: d.last_offset - i64::from(d.offset_delta),
                last_offset: d.last_offset,
                timestamp: d.timestamp,
            }));
        }
        if epoch < p.epoch {
            return Err(Error::InvalidProducerEpoch { producer_id: pid, epoch, current: p.epoch });
        }
        // Kafka's `ProducerAppendInfo.checkSequence`: a producer whose epoch
        // is unknown (-1) may write any sequence; with no batch in its
        // epoch (a marker bumped it, or was its first write) the last
        // sequence counts as -1, so the next is 0.
        if p.epoch != crate::format::NO_PRODUCER_EPOCH {
            let expected = match p.batches.back() {
                Some(m) if epoch == p.epoch => next_seq(m.last_seq),
                _ => 0,
            };
            if first != expected {
                return Err(Error::OutOfOrderSequence { producer_id: pid, expected, found: first });
            }
        }
        if p.txn_first_offset.is_some() && !b.is_transactional() && !b.is_control() {
            return Err(Error::InvalidTxnState {
                producer_id: pid,
                reason: "a non-transactional batch while the producer's transaction is open".into(),
            });
        }
        Ok(None)
    }

    /// Checks a transaction marker written at `offset` by Kafka's rules
    /// (see the module doc); `transaction_version` is the coordinator's
    /// (0 and 1: legacy, 2: KIP-890).
    pub(crate) fn check_marker(
        &self,
        b: &BatchView,
        marker: &ControlRecord,
        transaction_version: i16,
    ) -> Result<()> {
        let pid = b.producer_id();
        let Some(p) = self.producers.get(&pid) else { return Ok(()) };
        let epoch = b.producer_epoch();
        let fenced = if transaction_version >= 2 {
            // A retry of the marker that already ended the transaction is written again.
            epoch < p.epoch || (epoch == p.epoch && p.txn_first_offset.is_some())
        } else {
            epoch < p.epoch
        };
        if fenced {
            return Err(Error::InvalidProducerEpoch { producer_id: pid, epoch, current: p.epoch });
        }
        if marker.coordinator_epoch < p.coordinator_epoch {
            return Err(Error::TransactionCoordinatorFenced {
                producer_id: pid,
                coordinator_epoch: marker.coordinator_epoch,
                current: p.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// The first offset of the earliest open transaction.
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Records an appended batch (client append, recovery or replay: no
    /// checks); a COMMIT or ABORT marker that ends an open transaction
    /// returns it.
    pub(crate) fn update(&mut self, b: &BatchView) -> Option<CompletedTxn> {
        let pid = b.producer_id();
        if pid < 0 {
            return None;
        }
        let p = self.producers.entry(pid).or_insert_with(Producer::new);
        if b.is_control() {
            // Kafka's `ProducerAppendInfo.append` reads a control batch's
            // marker only when it holds a record: one the cleaner emptied (or
            // a file's unreadable or unknown one) ends no transaction and
            // changes nothing.
            let marker = marker_of(b)?;
            let aborted = match marker.kind {
                ControlType::Abort => true,
                ControlType::Commit => false,
                ControlType::Other(_) => return None,
            };
            p.set_epoch(b.producer_epoch());
            p.last_timestamp = b.max_timestamp();
            p.coordinator_epoch = marker.coordinator_epoch;
            let first = p.txn_first_offset.take();
            if let Some(f) = first {
                self.ongoing.remove(&f);
            }
            return first.map(|first_offset| CompletedTxn {
                producer_id: pid,
                first_offset,
                last_offset: b.base_offset(),
                aborted,
            });
        }
        p.set_epoch(b.producer_epoch());
        p.last_timestamp = b.max_timestamp();
        if b.is_transactional() && p.txn_first_offset.is_none() {
            p.txn_first_offset = Some(b.base_offset());
            self.ongoing.insert(b.base_offset(), pid);
        }
        // Every data batch is recorded, one without a sequence too (Kafka's
        // `appendDataBatch`, e.g. a coordinator's offset commit): its last
        // sequence, -1, makes 0 the next one expected.
        p.batches.push_back(BatchMeta {
            last_seq: b.last_sequence(),
            last_offset: b.last_offset(),
            offset_delta: b.last_offset_delta(),
            timestamp: b.max_timestamp(),
        });
        while p.batches.len() > BATCHES_TO_RETAIN {
            p.batches.pop_front();
        }
        None
    }

    /// Forgets producers with no open transaction idle since `now - expiration_ms`.
    pub(crate) fn expire(&mut self, now: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, p| {
            p.txn_first_offset.is_some() || now.saturating_sub(p.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// The last record of every producer not expired (Kafka's
    /// `lastRecordsOfActiveProducers`): an expired producer keeps nothing.
    pub(crate) fn last_records(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .iter()
            .map(|(&pid, p)| {
                let last_data_offset = p.batches.back().map(|m| m.last_offset);
                (pid, LastRecord { last_data_offset, epoch: p.epoch })
            })
            .collect()
    }

    /// Number of producers known.
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    /// The state's snapshot entries in the order the file holds them (by
    /// producer id), made one at a time, and their number: what is held
    /// meanwhile is one reference a producer (16 bytes), not the entries.
    pub(super) fn snapshot_entries(&self) -> (usize, impl Iterator<Item = SnapshotEntry> + '_) {
        let mut v: Vec<(i64, &Producer)> = self.producers.iter().map(|(&id, p)| (id, p)).collect();
        // Producer ids are unique: an unstable sort orders them the same every time.
        v.sort_unstable_by_key(|&(id, _)| id);
        (v.len(), v.into_iter().map(|(producer_id, p)| entry_of(producer_id, p)))
    }

    /// The state's snapshot entries, all at once.
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<SnapshotEntry> {
        self.snapshot_entries().1.collect()
    }

    /// An empty state with room for `count` producers, for a snapshot's
    /// reader (`count` is bounded by the file's length, itself bounded by
    /// [`SNAPSHOT_LIMIT`]).
    ///
    /// # Errors
    /// [`Error::Io`] (`OutOfMemory`) naming `path` when the room cannot be had.
    pub(super) fn with_capacity(count: usize, path: &Path) -> Result<Self> {
        let mut producers = HashMap::new();
        producers.try_reserve(count).map_err(|e| {
            let reason = format!("cannot allocate room for {count} producers: {e}");
            Error::io("read", path, std::io::Error::new(std::io::ErrorKind::OutOfMemory, reason))
        })?;
        Ok(ProducerState { producers, ongoing: BTreeMap::new() })
    }

    /// Adds an entry read from the snapshot at offset `at` (a later entry of
    /// the same producer id replaces an earlier one). [`Self::finish_read`]
    /// must follow the last.
    ///
    /// # Errors
    /// Why no state at `at` holds the entry (see [`entry_fault`]): the caller
    /// refuses the file, as for a CRC mismatch.
    pub(super) fn insert_entry(
        &mut self,
        e: SnapshotEntry,
        at: i64,
    ) -> std::result::Result<(), String> {
        if let Some(why) = entry_fault(&e, at) {
            return Err(format!("producer {}: {why}", e.producer_id));
        }
        let mut batches = VecDeque::new();
        if e.last_offset >= 0 {
            // Room for the one batch a snapshot keeps, not the four a first push reserves
            // (96 bytes): a snapshot's millions of producers are mostly idle ones.
            batches.reserve_exact(1);
            batches.push_back(BatchMeta {
                last_seq: e.last_sequence,
                last_offset: e.last_offset,
                offset_delta: e.offset_delta,
                timestamp: e.timestamp,
            });
        }
        let p = Producer {
            epoch: e.epoch,
            coordinator_epoch: e.coordinator_epoch,
            last_timestamp: e.timestamp,
            txn_first_offset: (e.current_txn_first_offset >= 0)
                .then_some(e.current_txn_first_offset),
            batches,
        };
        self.producers.insert(e.producer_id, p);
        Ok(())
    }

    /// The room a producer's batch list holds, in batches.
    #[cfg(test)]
    pub(super) fn batch_capacity(&self, producer_id: i64) -> Option<usize> {
        self.producers.get(&producer_id).map(|p| p.batches.capacity())
    }

    /// Lists the open transactions of the producers read.
    ///
    /// # Errors
    /// Two transactions opened at one offset (one batch opens one): the
    /// caller refuses the file. Listed, one would hide the other, and the
    /// LSO would pass it once the first ended.
    pub(super) fn finish_read(&mut self) -> std::result::Result<(), String> {
        self.ongoing = BTreeMap::new();
        for (&pid, p) in &self.producers {
            if let Some(f) = p.txn_first_offset
                && let Some(other) = self.ongoing.insert(f, pid)
            {
                return Err(format!("producers {other} and {pid} both open a transaction at {f}"));
            }
        }
        Ok(())
    }

    /// Whether the snapshot file at `offset` in `dir` holds exactly this state.
    pub(crate) fn snapshot_matches(&self, dir: &Path, offset: i64) -> bool {
        let path = dir.join(segment_file_name(offset, FileKind::Snapshot));
        snapshot_file::matches(&path, self)
    }

    /// Writes `<offset>.snapshot`, also when no producer is known: as in
    /// Kafka, a snapshot at every roll bounds what a crash recovery replays
    /// to the segments after it. `durable` fsyncs it (at close); the roll
    /// snapshot is not synced, as Kafka's is not — a torn one fails its CRC
    /// and the previous one is used.
    ///
    /// A state that encodes past [`SNAPSHOT_LIMIT`] (1 GiB, about 23 million
    /// producers) is not written, as the next open would refuse it. strata's
    /// next open then starts from an older snapshot or, with none, replays the
    /// whole log (`load::rebuild_producers`), after a clean shutdown too.
    /// Kafka does not: after a clean shutdown with no snapshot its
    /// `rebuildProducerState` takes the directory for one written before
    /// producer state existed (an upgrade) and skips the scan, so a broker
    /// adopting such a partition forgets every producer (`logtool hand-over`
    /// refuses one). And producers that only records below the log start
    /// held, past the newest snapshot above it, are forgotten by strata too:
    /// a snapshot at or below the log start is not loaded, and the replay
    /// starts at the log start.
    pub(crate) fn write_snapshot(
        &self,
        dir: &Path,
        offset: i64,
        durable: bool,
    ) -> Result<SnapshotWrite> {
        let path = dir.join(segment_file_name(offset, FileKind::Snapshot));
        let (len, limit) =
            (producer_snapshot::encoded_len(self.producers.len()), max_snapshot_len());
        // Nothing at `offset` to remove: a file there holds a state this same limit let
        // through (written under it, or read under it: a longer one is removed as corrupt
        // when read), and the state at one offset never grows past the one written or read
        // there (an append moves the offset; expiration only drops producers). So a state
        // past the limit never meets an older file at its own offset.
        if len > limit {
            return Ok(SnapshotWrite::TooLong { len, limit });
        }
        snapshot_file::write(&path, self, durable)?;
        Ok(SnapshotWrite::Written)
    }
}

/// Why no producer state at offset `at` holds `e`, if so: the state after
/// the batches below `at` holds batches and transactions below it, and a
/// batch's first offset (its last less its delta) is not below 0. Kafka's
/// reader trusts these fields, but its writer never writes them otherwise;
/// trusted, they answer a new batch as a duplicate at offsets never written,
/// overflow that answer's first offset, or keep the LSO at a transaction that
/// is not there.
fn entry_fault(e: &SnapshotEntry, at: i64) -> Option<String> {
    if e.last_offset >= 0 {
        if e.last_offset >= at {
            return Some(format!("its last batch ends at {}, not below {at}", e.last_offset));
        }
        if e.offset_delta < 0 || i64::from(e.offset_delta) > e.last_offset {
            return Some(format!(
                "offset delta {} does not fit its last batch ending at {}",
                e.offset_delta, e.last_offset
            ));
        }
    }
    (e.current_txn_first_offset >= at)
        .then(|| format!("its transaction opens at {}, not below {at}", e.current_txn_first_offset))
}

/// A producer's snapshot entry: its last batch, if any (Kafka keeps one).
fn entry_of(producer_id: i64, p: &Producer) -> SnapshotEntry {
    let last = p.batches.back();
    SnapshotEntry {
        producer_id,
        epoch: p.epoch,
        last_sequence: last.map_or(-1, |m| m.last_seq),
        last_offset: last.map_or(-1, |m| m.last_offset),
        offset_delta: last.map_or(0, |m| m.offset_delta),
        timestamp: p.last_timestamp,
        coordinator_epoch: p.coordinator_epoch,
        current_txn_first_offset: p.txn_first_offset.unwrap_or(-1),
    }
}

/// What [`ProducerState::write_snapshot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum SnapshotWrite {
    Written,
    /// Nothing: the state encodes to `len` bytes, past `limit` ([`SNAPSHOT_LIMIT`]).
    TooLong {
        len: u64,
        limit: u64,
    },
}

/// Snapshot offsets in `dir`, ascending.
pub(crate) fn snapshot_offsets(dir: &Path) -> Result<Vec<i64>> {
    let mut v: Vec<i64> = file::read_dir(dir)?
        .iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).and_then(parse_file_name))
        .filter(|p| p.kind == FileKind::Snapshot && p.temp.is_none())
        .map(|p| p.offset)
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// The newest readable snapshot above `above` and at or below `up_to`, and
/// its offset, removing nothing (corrupt ones are skipped).
pub(crate) fn read_snapshot(
    dir: &Path,
    above: i64,
    up_to: i64,
) -> Result<Option<(ProducerState, i64)>> {
    for o in snapshot_offsets(dir)?.into_iter().rev().filter(|&o| above < o && o <= up_to) {
        let path = dir.join(segment_file_name(o, FileKind::Snapshot));
        if let Ok(state) = snapshot_file::read(&path, max_snapshot_len(), o)? {
            return Ok(Some((state, o)));
        }
    }
    Ok(None)
}

/// Loads the newest readable snapshot above `log_start` and at or below
/// `up_to`; removes the snapshots outside that range and corrupt ones, as
/// Kafka's `ProducerStateManager.truncateAndReload` does (one at or below the
/// log start holds producers of records no longer in the log). Returns the
/// state and the snapshot's offset.
///
/// One exception: a snapshot at the log start holding no producer is kept,
/// and loaded when none above it is. It is the empty state the replay would
/// start from anyway, and keeping it lets an empty log (whose log start is
/// its log end) close without rewriting the snapshot its last close wrote,
/// where Kafka deletes it at every open and writes it back at every close.
/// Once a newer one is loaded it stays too, unread, until the log start
/// moves past it (or the pruning after a checkpoint takes it), so an open
/// that changes nothing removes nothing.
pub(crate) fn load_snapshot(
    dir: &Path,
    log_start: i64,
    up_to: i64,
) -> Result<Option<(ProducerState, i64)>> {
    let offsets = snapshot_offsets(dir)?;
    let (kept, out): (Vec<i64>, Vec<i64>) =
        offsets.into_iter().partition(|&o| log_start <= o && o <= up_to);
    for o in out {
        file::remove_file_if_exists(&dir.join(segment_file_name(o, FileKind::Snapshot)))?;
    }
    let mut loaded = None;
    for &o in kept.iter().rev() {
        if loaded.is_some() {
            break; // the older ones stay, unread
        }
        let path = dir.join(segment_file_name(o, FileKind::Snapshot));
        match snapshot_file::read(&path, max_snapshot_len(), o)? {
            Ok(state) if o > log_start || state.len() == 0 => loaded = Some((state, o)),
            Ok(_) => {
                file::remove_file_if_exists(&path)?;
            }
            // Kafka deletes a corrupt snapshot and tries the next older one.
            Err(why) => {
                crate::events::snapshot_refused(&path, &why);
                file::remove_file_if_exists(&path)?;
            }
        }
    }
    Ok(loaded)
}

/// The longest producer snapshot written or read: 1 GiB, about 23 million
/// producers of Kafka's 46-byte entries. A partition keeps a producer until
/// `producer.id.expiration.ms` (a day by default) after its last write, and
/// short-lived idempotent producers reach millions of ids in a day, so the
/// bound sits far above them; it stays below 2^31 - 1 bytes, Kafka's own
/// ceiling (a planted file that long is refused by its length, before
/// anything is allocated). Refusing a longer one costs a rebuild from the
/// log, as for a corrupt one; the writer never writes one (see
/// [`ProducerState::write_snapshot`] for what is then lost).
const SNAPSHOT_LIMIT: u64 = 1 << 30;

/// [`SNAPSHOT_LIMIT`], unless a test lowered it (`FaultPlan::lower_limit`,
/// `"producer snapshot"`): the writer and every reader ask here alike.
pub(crate) fn max_snapshot_len() -> u64 {
    crate::io::fault::limit("producer snapshot", SNAPSHOT_LIMIT)
}

/// Removes snapshots that match no segment base, except the newest one
/// (Kafka's `removeStraySnapshots`): left by compaction merging segments.
pub(crate) fn remove_stray_snapshots(dir: &Path, segment_bases: &[i64]) -> Result<()> {
    let offsets = snapshot_offsets(dir)?;
    let newest = offsets.last().copied();
    for o in offsets
        .into_iter()
        .filter(|o| Some(*o) != newest && segment_bases.binary_search(o).is_err())
    {
        file::remove_file_if_exists(&dir.join(segment_file_name(o, FileKind::Snapshot)))?;
    }
    Ok(())
}

/// Removes snapshots below `keep_from` except the newest one (still needed to rebuild).
pub(crate) fn remove_snapshots_below(dir: &Path, keep_from: i64) -> Result<()> {
    let offsets = snapshot_offsets(dir)?;
    let newest = offsets.last().copied();
    for o in offsets.into_iter().filter(|&o| o < keep_from && Some(o) != newest) {
        file::remove_file_if_exists(&dir.join(segment_file_name(o, FileKind::Snapshot)))?;
    }
    Ok(())
}
