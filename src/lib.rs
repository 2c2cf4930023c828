//! # strata: Apache Kafka's log layer as an embeddable library
//!
//! strata keeps what a Kafka broker keeps on disk — topics of partitions,
//! each an append-only log of segments with offset and time indexes — and
//! does it in Kafka's exact on-disk format, so Kafka's own tools read what
//! strata writes and strata opens what a Kafka broker wrote.
//!
//! It **is**: segment rolling, time/size/log-start-offset retention, crash
//! recovery, zero-copy reads (views into memory-mapped segments, plus ranges
//! of the segment files for `sendfile`), Kafka's config names and defaults.
//! It **is not** a broker: no networking, no replication, no consumer-group
//! rebalancing. A service links it and serves the bytes it hands out.
//!
//! ## Quick start
//! ```
//! use std::collections::BTreeMap;
//! use strata::StoreConfig;
//! use strata::Record;
//! use strata::OffsetSpec;
//! use strata::Store;
//!
//! # let dir = tempfile::tempdir()?;
//! let store = Store::open(StoreConfig::new([dir.path()]))?;
//! store.create_topic("orders", 3, &BTreeMap::new())?;
//! let log = store.partition("orders", 0)?;
//!
//! let at = log.append(&[Record::new("key", "value").header("TABLE_ID", "t1").timestamp(1_700_000_000_000)])?;
//! let fetched = log.read(at.base_offset, 1 << 20)?;          // zero-copy, whole batches
//! for record in fetched.records() {                          // owned, sharing the map
//!     let r = record?;
//!     assert_eq!(r.value().map(|v| &v[..]), Some(&b"value"[..]));
//! }
//! for batch in fetched.record_batches() {                     // borrowed: the scan fast path
//!     for r in batch?.records() {
//!         assert_eq!(r?.value(), Some(&b"value"[..]));
//!     }
//! }
//! let found = log.offset_for_time(OffsetSpec::Timestamp(1_700_000_000_000))?;
//! assert_eq!(found.map(|f| f.offset), Some(at.base_offset));
//! log.flush()?;                                              // durable from here on
//! store.close()?;                                            // clean shutdown marker
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The public face
//! Everything an embedder names is at the crate root:
//!
//! | you want to | use |
//! |---|---|
//! | open, create topics, close | [`Store::open`], [`StoreConfig`], [`Store::create_topic`] (overrides by Kafka's names, a `BTreeMap<String, String>`) / [`Store::create_topic_if_absent`] (a typed [`TopicConfig`]), [`Store::close`] |
//! | produce by key | [`Store::produce`] (Kafka's default partitioner) returning [`RecordMetadata`] |
//! | one partition | [`Store::partition`] gives a [`Log`]: [`Log::append`] of [`Record`]s or [`BorrowedRecord`]s, [`Log::append_batch`] of client batches ([`BatchBuilder`]) |
//! | read | [`Log::read`] / [`Log::read_with`] ([`Isolation`]) give [`Fetched`] (zero-copy [`RecordRef`]s, [`FileSlice`]s to `sendfile` from the files [`FileSlice::file`] finds); [`Log::records_from`] iterates; [`Log::offset_for_time`] with [`OffsetSpec`] |
//! | durability | [`Log::flush`], [`Log::wait_synced`], the topic's [`Durability`] |
//! | consumer groups | [`Store::groups`] ([`Groups`], [`CommittedOffset`], [`PartitionLag`], [`ResetTo`]) |
//! | operate | [`Store::maintain`] ([`MaintainReport`]), [`Store::resource_stats`], [`Store::offline_partitions`], [`Error`] |
//! | check a partition directory | [`verify_partition_dir`] ([`VerifyReport`]): the invariants Kafka's files must keep (offsets, indexes, time indexes), without changing anything |
//!
//! The `bytes` crate is re-exported ([`bytes`]) so `Bytes` values need no
//! version match. Calls that may block on disk: appends that flush
//! (`flush.messages`, the `sync` class), reads of segments not in memory,
//! `flush`, `close` and `Store::open`; from async code run them in
//! `spawn_blocking`.
//!
//! ## Inside (for contributors)
//! The modules live in a hidden `internals` module (strata's own tests,
//! fuzz targets and `logtool` use it; it is not the API and changes freely):
//!
//! | layer | module | what |
//! |---|---|---|
//! | store | `store` | `Store`: log directories, topics, checkpoints, consumer groups, the background threads |
//! | cleaner | `cleaner` | log compaction: dirty-ratio selection, key map, recopy, crash-safe swap |
//! | log | `log` | `Log`: one partition — append, read, roll, flush, recovery, retention, producer state, transactions |
//! | index | `index` | Kafka's `.index` and `.timeindex` over memory maps |
//! | io | `io` | every file operation and every `unsafe` block; fault injection for tests |
//! | format | `format` | pure RecordBatch v2: batch views, the builder, codecs, file names, legacy magic 0/1 entries |
//! | config | `config` | `LogConfig` (topic) and `StoreConfig` (broker), Kafka's names |
//! | inspect | `inspect` | read-only checks of a partition directory (`logtool verify`), over `format` and `io` |
//! | clock | `clock` | the wall clock, replaceable in tests |
//!
//! Imports point down the table (`config`, `clock` and `format` are used at
//! every level above them). Policy decisions (should this segment
//! roll? which segments does retention delete?) are pure functions:
//! `log::roll::should_roll`, `log::retention::plan`.
//!
//! ## Durability contract
//! Each topic picks when an append is acknowledged with `strata.durability`
//! (strata's key; [`config::Durability`]):
//!
//! | class | an append returns once | a power loss can lose |
//! |---|---|---|
//! | `page_cache` (default, Kafka's) | the batch is in the page cache | acknowledged records not yet synced (by `flush.messages` / `flush.ms`, a roll, a flush or close) |
//! | `interval` | the batch is in the page cache | about the last `flush.ms` (default 1000 ms for this class) of them: the store syncs the partition that often |
//! | `sync` | the batch and all before it are fsynced | nothing acknowledged |
//!
//! - A record is **durable once flushed**: by [`log::Log::flush`], by the
//!   topic's `flush.messages` / `flush.ms`, by its class, or by a clean close.
//!   [`log::Log::wait_synced`] waits for a given offset in any class.
//! - `sync` appends are group-committed on the appenders' own threads: the
//!   first to take its partition's turn runs a sync pass, and the appends
//!   that arrived meanwhile are covered by the next one, so one fsync serves
//!   them all; partitions sync in parallel, one appender each (the file
//!   system joins concurrent fsyncs into shared journal commits).
//!   [`log::Log::wait_synced`] and rolls hand their passes to the store's
//!   flusher pool instead (up to 32 passes of different partitions at once).
//!   A process crash that the kernel survives loses nothing in any class.
//! - A roll syncs the sealed segment (its `.log` and indexes) off the append
//!   path and moves the recovery point to the new segment's base; a worker
//!   of the store's flusher pool runs that pass and then checkpoints it (without background threads,
//!   [`store::Store::maintain`] does both). After a crash only the segments
//!   from the one holding the checkpointed recovery point on are re-validated.
//! - After any crash a partition reopens to a valid prefix containing every
//!   flushed record. Torn or corrupt tails are truncated, counted and reported
//!   ([`store::Store::recovery_report`]: file, position, bytes; and a line on
//!   stderr), never served.
//! - **Looking changes nothing**: [`store::Store::open_read_only`] writes no
//!   byte, takes no lock and starts no thread; it serves what recovery would
//!   keep and reports what it would cut, also beside a running writer (whose
//!   index files it copies rather than maps, so the writer trimming them
//!   cannot fault the reader).
//! - A failed write or fsync **poisons** the partition: later appends and
//!   flushes fail with [`Error::Poisoned`] instead of retrying over unknown
//!   disk state. The exception is a **full disk** (`ENOSPC`, `EDQUOT`). At a write or a roll: the
//!   append fails with the retriable [`Error::NoSpace`], a partial write is
//!   cut back, and the partition takes appends again once space is freed.
//!   Index files are sparse at `segment.index.bytes` (as in Kafka) and get
//!   real blocks (`fallocate`) in steps just ahead of their entries, before
//!   the append that writes them: a new partition's indexes take a page of
//!   disk each, and a full disk is an `ENOSPC` error (the same retriable
//!   `NoSpace`, nothing written), never a `SIGBUS` in a mapping.
//! - A **full disk at an fsync** (or `msync` of an index) fails that sync
//!   pass, and the [`log::Log::flush`] or `sync` append waiting for it, with
//!   the retriable [`Error::NoSpace`]; the partition stays usable. The rule,
//!   and why: after a failed `fdatasync` Linux may have marked the unsynced
//!   pages clean without writing them, or dropped them, so what is on disk
//!   past the **last successful sync** is unknown, and a later fsync could
//!   succeed without them. So (1) the recovery point does not move: nothing
//!   past the last successful sync counts as durable; (2) the records
//!   written since stay in the log: they were acknowledged (at `page_cache`
//!   durability) and readers may have seen them, and cutting published bytes
//!   would break every view of them; a `sync` append that failed this way
//!   was written but not acknowledged, so a retry without idempotence writes
//!   it twice; (3) before its next fsync the segment reads the bytes since
//!   its last successful sync back, checks every batch (framing and CRC) and
//!   writes them again, so their pages are dirty and that fsync writes them
//!   (an index writes its entries again through its map after checking they
//!   are all still there); (4) bytes that no longer check (the kernel dropped
//!   them) poison the partition, and the next open's recovery keeps
//!   everything up to the last valid batch (every synced record). Any other
//!   fsync error poisons, as a failed fsync of unknown state must. A pass
//!   that cannot open a file it syncs (out of descriptors or memory, with
//!   nothing left for the budget to evict) ran no fsync of it: it fails with
//!   that error, the recovery point stays and the partition stays usable.
//! - Off the append path, a **full disk** at the store's checkpoint files, a
//!   topic's creation or the clean-shutdown marker is the same retriable
//!   [`Error::NoSpace`] naming the file (the old file stays whole; the same
//!   call succeeds once space is freed), and a cleaning that runs out of
//!   space is abandoned with its `.cleaned` files removed, the old segments
//!   serving on, and is retried by a later pass.
//! - The store-level watermark
//!   `strata.log.dir.min.free.bytes` refuses appends (same error) before the
//!   disk is full, while retention, compaction and DeleteRecords run on.
//! - [`bytes::Bytes`] handed out by reads stay valid after the segment rolls,
//!   is deleted by retention or the store closes: segment files are only
//!   appended to and replaced whole, never rewritten (the mmap contract:
//!   mapped bytes never change while a view exists).
//!
//! ## Handle contract
//! - A [`log::Log`] handle never reads or writes a file it did not open: the
//!   first open of each segment and index file records its `(device, inode)`
//!   (and birth time where reported), and every reopen by name must find the
//!   same file, still as long as what was published of it.
//! - Once its log is closed — [`log::Log::close`], [`store::Store::close`],
//!   [`store::Store::delete_topic`], or the last [`store::Store`] clone
//!   dropped without a close — every handle fails with [`Error::Closed`]
//!   (appends, reads, lookups, maintenance), whose `what` names the partition
//!   and its directory, and opens no file again; `Bytes` already handed out
//!   stay valid.
//! - Dropping a store without closing it is a crash for the files (nothing is
//!   flushed; the next open recovers) but not for the handles: its logs are
//!   fenced before its directories are unlocked, so no old handle writes
//!   beside the next store.
//! - One partition directory is open at most once per process (a second
//!   [`log::Log::open`] is [`Error::DirectoryLocked`]), one log directory is
//!   owned by one store (its `.lock`), and a partition found in two log
//!   directories is [`Error::DuplicatePartition`] at open, as Kafka refuses
//!   to start.
//! - Every log directory holds a copy of `strata-topics` (the topics, their
//!   partition counts and configs), stamped with the store's identity and a
//!   generation counted up at each write, so a store opened with any subset
//!   or order of its log directories runs each topic under its own configs.
//!   The newest copy wins (a stale one, an ancestor in the newest copy's
//!   `history` of generations and their topics' digests, is rewritten at
//!   open); copies of two stores, two differing copies of one generation or
//!   a lower copy not in the newest one's history (the store changed while
//!   opened with different subsets of its directories), and a partition
//!   directory of a topic the store's copy does not list are
//!   [`Error::StoreMetadataConflict`] at open, before anything changes. Only
//!   a store with no copy anywhere (a Kafka broker's log directory) adopts
//!   partitions with default configs, or an open asked to
//!   ([`StoreConfig::adopt_unlisted_partitions`]), with retention off. A
//!   file written before the copies
//!   (`strata-topics 1`, in the first directory only) is read in any order
//!   and rewritten into every directory at the next open; two such files
//!   that differ, or one that a newer copy contradicts (the store was opened
//!   without it since, adopting its topics with default configs), are
//!   refused, not overwritten.
//!
//! ## Recovery rules
//! What opening and reading do with damaged files, beside what Kafka does
//! ([`log::LoadReport`] reports each repair):
//!
//! | Situation at open or read | strata | Kafka |
//! |---|---|---|
//! | Unclean shutdown | every segment from the one holding the recovery point is re-validated (CRC, framing, offsets), its indexes rebuilt, the first bad batch and all after it cut; a cut drops every later segment | same (`LogLoader.recoverLog`) |
//! | A recovered segment now ends below the next one's base (no compaction) | later segments dropped: the log stays a prefix | not checked |
//! | Trusted segment (below the recovery point, or after a clean shutdown) with a missing `.index`/`.timeindex`, or an index that lies (length, order, entries past the `.log`, naming the next segment's offsets, last entry not at a batch), or a `.txnindex` that does not decode or has an entry past the segment's offsets | that segment alone is rebuilt on disk and cut at its first bad batch, the `.txnindex` files from it on rebuilt; later segments stay; reported in `LoadReport::repaired_segments` | missing `.index`: the same (`recoverSegment`); missing `.timeindex`: created empty; a `.txnindex` failing `sanityCheck`: recovered the same; other lying indexes: not checked at load |
//! | Clean shutdown, but the active segment's tail after its last index entry no longer frames (zeroed, cut) | the segment is rebuilt and cut there; the log end is the end of the valid data | `readNextOffset` may fall back to the segment base |
//! | All data ends below the checkpointed log start offset | every segment deleted, the log restarts empty at the checkpoint | same (`LogLoader.load`) |
//! | A rebuild needs more index entries than `segment.index.bytes` holds | the index grows; an active segment then rolls at its next append | the rebuild fails (index full) |
//! | Bytes that stop framing inside a segment, at read | `Error::Corrupt` naming the `.log` and byte position; never a skip to the next segment | `CorruptRecordException` |
//! | A batch whose CRC does not match, when records are decoded (`Fetched::records`, `Fetched::record_batches`, time lookups, the cleaner, `logtool consume`) | `Error::Corrupt` naming file and position, on every read; `Fetched::records_unchecked` opts out | consumers check CRCs (`check.crcs=true`) |
//! | An index entry whose position finds no batch at or below the target, at read | the scan starts at the segment start | reads from the wrong position |
//! | A sealed segment with an empty `.timeindex` | its max timestamp is read from the batch headers; with no timestamps, the file's mtime stands for it | mtime (`largestTimestamp`) |
//!
//! ## Transactions, topic IDs and leader epochs
//! Kept as a broker keeps them, in Kafka's files:
//! - each ABORT marker that ends a transaction writes its entry to the
//!   segment's `.txnindex` (Kafka's layout; [`AbortedTxn`] is one entry); recovery rebuilds the
//!   indexes of the segments it re-validates, the cleaner reads them;
//! - [`log::Log::last_stable_offset`] is the first offset of the earliest
//!   open transaction, else the log end; [`log::Log::read_with`] with
//!   [`log::Isolation::ReadCommitted`] stops there and lists, in
//!   [`log::Fetched::aborted_transactions`], the aborted transactions a Kafka
//!   fetch response carries for the range read
//!   ([`log::Fetched::committed_records`] applies them as a consumer does);
//! - [`log::Log::append_marker`] writes COMMIT/ABORT markers with Kafka 4.x's
//!   checks ([`log::TxnMarker`]: coordinator fencing, KIP-890's epoch rule);
//! - every partition's `partition.metadata` holds its topic's ID
//!   ([`store::Store::topic_id`], [`format::TopicId`]), drawn at create;
//! - `leader-epoch-checkpoint` ([`EpochEntry`]s, from [`log::Log::leader_epochs`]) records where each
//!   leader epoch began; appended batches carry the current epoch, which an
//!   embedding service that elects leaders sets with
//!   [`log::Log::set_leader_epoch`].
//!
//! Directories without these files (older brokers) open and get them.
//!
//! ```
//! use strata::SystemClock;
//! use strata::LogConfig;
//! use strata::{BatchBuilder, Record};
//! use strata::{Isolation, LoadOptions, Log, TxnMarker};
//!
//! # let dir = tempfile::tempdir()?;
//! let (log, _) = Log::open(dir.path(), "t", 0, LogConfig::default(),
//!     std::sync::Arc::new(SystemClock), LoadOptions::default())?;
//! let mut txn = BatchBuilder::new(0).producer(7, 0, 0).transactional(true);
//! txn.append(&Record::new("k", "aborted"))?;
//! log.append_batch(txn.build()?)?;
//! assert_eq!(log.last_stable_offset(), 0);                    // undecided
//! log.append_marker(TxnMarker { producer_id: 7, producer_epoch: 0,
//!     coordinator_epoch: 0, commit: false, transaction_version: 0 })?;
//! let fetched = log.read_with(0, 1 << 20, Isolation::ReadCommitted)?;
//! assert_eq!(fetched.aborted_transactions()[0].first_offset, 0); // a consumer skips it
//! assert_eq!(fetched.committed_records().count(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Bounded resources
//! A store keeps at most `log.open.segments.max` segments open (a segment
//! holds at most two descriptors, its own and its `.log` map's, and three
//! maps; a fetch a reader holds keeps none; by default a quarter of the
//! process's open-file limit, between 64 and 4,096: 256 under `ulimit -n
//! 1024`) and `log.mapped.bytes.max` bytes mapped (by default 64 MiB per
//! open segment, at least 16 GiB), however many
//! partitions and segments it has: past either, the least recently used
//! segments are closed and unmapped and reopen on their next use. Sealed
//! segments are mapped at exactly their length, the active one in doubling
//! steps from 1 MiB (never `segment.bytes` up front). An `open` or `mmap`
//! that fails with `EMFILE`/`ENFILE`/`ENOMEM` evicts and retries instead of
//! failing the partition. [`store::Store::resource_stats`] gives the figures.
//!
//! ## Compatibility
//! Batches are stored verbatim as Kafka's `LogValidator` would store them;
//! offset-index entries follow Kafka >= 4.1 (one per batch once
//! `index.interval.bytes` passed: the batch's last offset and its start
//! position), so a one-session log's indexes equal what Kafka rebuilds.
//! Two independent checkers prove it in the test suite: kafka-python's
//! record code and Kafka's own Java classes.

pub mod events;
#[doc(hidden)]
pub mod internals;
#[allow(unused_imports)]
use internals::{cleaner, clock, config, error, format, index, inspect, io, log, segment, store};

// The public face. Everything an embedder names is here, at the root; the modules behind it are
// in `internals` (hidden from the docs, free to change). Start with `Store::open`.
pub use bytes;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    CleanupPolicy, ConfigEntry, ConfigSource, ConfigWarning, Durability, LogConfig, StoreConfig,
    TopicCompression, TopicConfig,
};
pub use error::{Error, Result};
pub use format::{
    BatchBuilder, BatchView, BorrowedHeader, BorrowedRecord, Compression, ControlRecord,
    ControlType, DecodedBatch, FormatError, Header, HeaderView, HeaderViews, Record, RecordParts,
    RecordRef, RecordView, RecordViews, TimestampType, TopicId,
};
// Returned by `Log::leader_epochs` and `Log::aborted_transactions`.
pub use format::{leader_epoch::EpochEntry, txn_index::AbortedTxn};
pub use inspect::{VerifyReport, verify_partition_dir};
#[cfg(feature = "stream")]
pub use log::Tail;
pub use log::{
    AbortedTransaction, AppendInfo, DeleteOutcome, Fetched, FetchedBatch, FetchedRecords,
    FileSlice, Isolation, LoadOptions, LoadReport, Log, OffsetSpec, RecordsFrom, TailCut,
    TimestampedOffset, TxnMarker, WaitFor,
};
pub use store::{
    BackgroundError, BackgroundTask, CommittedOffset, Groups, MaintainReport, PartitionInfo,
    PartitionLag, RecordMetadata, RecoveryReport, ResetTo, ResourceStats, Store, TopicPartition,
};
