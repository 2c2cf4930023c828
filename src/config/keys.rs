//! The one table of config keys: every Kafka name strata reads, its typed
//! field, its default, its validator, its documentation and (for topic keys)
//! its broker-level synonyms in Kafka's order of precedence.
//!
//! [`LogConfig`] (topic level) and [`StoreConfig`] (broker level) are
//! generated from the table, together with their builder setters and the
//! runtime tables that `resolve`, `describe`, `validate` and the
//! `server.properties` loader walk. Adding a key is adding one entry here.
//!
//! Each field is named after its Kafka key with `.` replaced by `_`
//! (`segment.bytes` is `segment_bytes`); a unit test keeps it that way.
//!
//! Names, defaults and ranges are Kafka's 3.x baseline (`LogConfig.java`,
//! `ServerLogConfigs.java`, `CleanerConfig.java`,
//! `ServerTopicConfigSynonyms.java`); where strata differs, the entry says so.

// Maintainer notes: the generated setters share their field's name (fields and
// methods live in different namespaces), so `LogConfig::default().segment_bytes(n)`
// builds and `config.segment_bytes` reads. The doc comment of an entry is used
// three times: on the field, on the setter and in the runtime table.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::format::TimestampType;

use super::kinds::{CleanupPolicy, Durability, TopicCompression};
use super::value::{ConfigValue, INT_MAX, above_zero, any, at_least, between};

/// One entry of a key table, for the config struct `C` it reads and writes.
pub(crate) struct Key<C: 'static> {
    /// Kafka's name of the key.
    pub(crate) name: &'static str,
    /// The Rust field holding it (checked against `name` by a test).
    #[cfg(test)]
    pub(crate) field: &'static str,
    /// Its documentation (the entry's doc comment).
    pub(crate) doc: &'static str,
    /// Broker-level names, highest priority first (topic keys only).
    pub(crate) synonyms: &'static [Synonym],
    /// Parses `text`, validates it and stores it in the field.
    pub(crate) apply: fn(&mut C, &str) -> Result<(), String>,
    /// Validates the value the field holds.
    pub(crate) check: fn(&C) -> Result<(), String>,
    /// The field's value in Kafka's text form.
    pub(crate) show: fn(&C) -> String,
}

/// A broker-level name of a topic key (`log.retention.hours` for `retention.ms`).
pub(crate) struct Synonym {
    /// The broker key.
    pub(crate) name: &'static str,
    /// Milliseconds per unit of the broker key (1 unless it is in minutes or hours).
    pub(crate) scale_ms: i64,
    /// A negative broker value means "unlimited" (-1), as for `log.retention.*`.
    pub(crate) negative_is_unlimited: bool,
}

impl Synonym {
    /// A broker key in the topic key's own unit.
    const fn same(name: &'static str) -> Self {
        Synonym { name, scale_ms: 1, negative_is_unlimited: false }
    }

    /// A broker key counting `scale_ms`-millisecond units. Kafka declares
    /// every such key (`log.retention.minutes`, `log.retention.hours`,
    /// `log.roll.hours`, `log.roll.jitter.hours`) as `INT`, so its value must
    /// fit 32 bits.
    const fn scaled(name: &'static str, scale_ms: i64) -> Self {
        Synonym { name, scale_ms, negative_is_unlimited: false }
    }

    /// The same key, with negative values meaning unlimited (-1).
    const fn negative_is_unlimited(self) -> Self {
        Synonym { negative_is_unlimited: true, ..self }
    }

    /// Turns the broker value into the topic key's text: scaled to
    /// milliseconds and, where negative means unlimited, clamped to -1.
    pub(crate) fn to_topic_value(&self, raw: &str) -> Result<String, String> {
        if self.scale_ms == 1 && !self.negative_is_unlimited {
            return Ok(raw.to_owned());
        }
        let units = if self.scale_ms == 1 { i64::parse(raw)? } else { i32::parse(raw)?.into() };
        let ms = units
            .checked_mul(self.scale_ms)
            .ok_or_else(|| format!("{units} x {} ms does not fit in 64 bits", self.scale_ms))?;
        Ok(if self.negative_is_unlimited && ms < 0 { -1 } else { ms }.to_string())
    }
}

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Generates a config struct from its key table (see the module docs).
macro_rules! config_table {
    (@synonyms) => { &[] };
    (@synonyms $broker:expr) => { $broker };
    (
        $(#[$struct_meta:meta])*
        pub struct $name:ident, table $table:ident {
            $(
                $(#[$plain_meta:meta])*
                $plain_vis:vis $plain:ident : $plain_ty:ty = $plain_default:expr,
            )*
        }
        keys {
            $(
                $(#[doc = $doc:literal])*
                $key:literal => $field:ident : $ty:ty = $default:expr,
                    check $check:expr $(, broker $broker:expr)? ;
            )*
        }
    ) => {
        $(#[$struct_meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $( $(#[$plain_meta])* $plain_vis $plain: $plain_ty, )*
        }

        impl $name {
            /// Every key at its default.
            pub(crate) fn table_defaults() -> Self {
                $name { $( $field: $default, )* $( $plain: $plain_default, )* }
            }

            $(
                #[doc = concat!("Sets `", $key, "`.")]
                #[doc = ""]
                $(#[doc = $doc])*
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }

        pub(crate) static $table: &[Key<$name>] = &[
            $(
                Key {
                    name: $key,
                    #[cfg(test)]
                    field: stringify!($field),
                    doc: concat!($($doc, "\n",)*),
                    synonyms: config_table!(@synonyms $($broker)?),
                    apply: |config, text| {
                        let check: fn(&$ty) -> Result<(), String> = $check;
                        let value = <$ty as ConfigValue>::parse(text)?;
                        check(&value)?;
                        config.$field = value;
                        Ok(())
                    },
                    check: |config| {
                        let check: fn(&$ty) -> Result<(), String> = $check;
                        check(&config.$field)
                    },
                    show: |config| config.$field.render(),
                },
            )*
        ];
    };
}

config_table! {
    /// The effective configuration of one topic's logs (Kafka's topic-level
    /// configs, `LogConfig`).
    ///
    /// Every field is named after its Kafka key and documents its default
    /// and valid range. Build one with [`LogConfig::default`] and the
    /// setters, or resolve it from a store's defaults and a topic's
    /// overrides with [`LogConfig::resolve`]. Setters never fail or panic:
    /// [`LogConfig::validate`] is the one place the rules are checked, and
    /// `resolve` (and the store, when a topic is created) calls it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use strata::{CleanupPolicy, LogConfig};
    ///
    /// let config = LogConfig::default()
    ///     .segment_bytes(1 << 20)
    ///     .retention(Duration::from_secs(3600))
    ///     .cleanup_policy(CleanupPolicy::COMPACT);
    /// config.validate()?;
    /// assert_eq!(config.retention_ms, 3_600_000);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub struct LogConfig, table TOPIC_KEYS {}
    keys {
        /// What happens to old segments: `delete` (retention by time and
        /// size), `compact` (keep the latest record per key) or both.
        ///
        /// Default: `delete`. Must name at least one policy.
        "cleanup.policy" => cleanup_policy: CleanupPolicy = CleanupPolicy::DELETE,
            check CleanupPolicy::check,
            broker &[Synonym::same("log.cleanup.policy")];
        /// The gzip level used when strata (re)compresses with gzip.
        ///
        /// Default: -1 (zlib's default, 6). Valid: 1 to 9, or -1.
        "compression.gzip.level" => compression_gzip_level: i32 = -1,
            check |v| if *v == -1 { Ok(()) } else { between(*v, 1, 9).map_err(|e| e + ", or -1") },
            broker &[Synonym::same("compression.gzip.level")];
        /// The lz4 level used when strata (re)compresses with lz4.
        ///
        /// Default: 9. Valid: 1 to 17.
        "compression.lz4.level" => compression_lz4_level: i32 = 9,
            check |v| between(*v, 1, 17),
            broker &[Synonym::same("compression.lz4.level")];
        /// The codec batches are stored with: `producer` keeps the producer's
        /// codec; anything else recompresses batches whose codec differs.
        ///
        /// Default: `producer`.
        "compression.type" => compression_type: TopicCompression = TopicCompression::Producer,
            check any,
            broker &[Synonym::same("compression.type")];
        /// The zstd level used when strata (re)compresses with zstd.
        ///
        /// Default: 3. Valid: -131072 to 22.
        "compression.zstd.level" => compression_zstd_level: i32 = 3,
            check |v| between(*v, -131_072, 22),
            broker &[Synonym::same("compression.zstd.level")];
        /// How long the cleaner keeps tombstones (and transaction markers)
        /// of a compacted topic, in ms, so readers can see deletions.
        ///
        /// Default: 86400000 (1 day). Minimum: 0.
        "delete.retention.ms" => delete_retention_ms: i64 = 86_400_000,
            check |v| at_least(*v, 0),
            broker &[Synonym::same("log.cleaner.delete.retention.ms")];
        /// How long a deleted or replaced segment's files linger (renamed
        /// `.deleted`) before they are removed, in ms. Readers that listed
        /// the segment before it went keep reading its bytes whatever the
        /// delay, 0 included (it keeps a map of its whole file until they
        /// drop it); the delay is for other programs reading the files.
        ///
        /// Default: 60000. Minimum: 0.
        "file.delete.delay.ms" => file_delete_delay_ms: i64 = 60_000,
            check |v| at_least(*v, 0),
            broker &[Synonym::same("log.segment.delete.delay.ms")];
        /// Fsync once this many records have been appended since the last flush.
        ///
        /// Default: 9223372036854775807 (never by count). Minimum: 1.
        "flush.messages" => flush_messages: i64 = i64::MAX,
            check |v| at_least(*v, 1),
            broker &[Synonym::same("log.flush.interval.messages")];
        /// Fsync once this many ms have passed since the last flush (checked
        /// every `log.flush.scheduler.interval.ms`).
        ///
        /// Default: 9223372036854775807 (never by time). Minimum: 0.
        "flush.ms" => flush_ms: i64 = i64::MAX,
            check |v| at_least(*v, 0),
            broker &[
                Synonym::same("log.flush.interval.ms"),
                Synonym::same("log.flush.scheduler.interval.ms"),
            ];
        /// Bytes of batches appended between two offset-index entries.
        ///
        /// Default: 4096. Valid: 0 to 2147483647.
        "index.interval.bytes" => index_interval_bytes: u64 = 4096,
            check |v| between(*v, 0, INT_MAX),
            broker &[Synonym::same("log.index.interval.bytes")];
        /// The longest a record stays uncompacted, in ms: a compacted
        /// partition whose oldest dirty record is older is cleaned regardless
        /// of its dirty ratio, and its segments roll at least this often.
        ///
        /// Default: 9223372036854775807. Minimum: 1; at least `min.compaction.lag.ms`.
        "max.compaction.lag.ms" => max_compaction_lag_ms: i64 = i64::MAX,
            check |v| at_least(*v, 1),
            broker &[Synonym::same("log.cleaner.max.compaction.lag.ms")];
        /// The largest batch (after compression, with its 12-byte log
        /// overhead) an append accepts.
        ///
        /// Default: 1048588 (1 MiB + 12). Valid: 0 to 2147483647.
        "max.message.bytes" => max_message_bytes: u64 = 1_048_588,
            check |v| between(*v, 0, INT_MAX),
            broker &[Synonym::same("message.max.bytes")];
        /// How far in the future (ms after the log's clock) a `CreateTime`
        /// timestamp may be.
        ///
        /// Default: 9223372036854775807 (unbounded), Kafka 3.x's default.
        /// Kafka 4.0 changed it to 3600000; strata keeps the 3.x value so
        /// data written with skewed producer clocks stays appendable. When at
        /// this default, `message.timestamp.difference.max.ms` applies
        /// instead (see [`LogConfig::effective_timestamp_after_max_ms`]).
        /// Minimum: 0.
        "message.timestamp.after.max.ms" => message_timestamp_after_max_ms: i64 = i64::MAX,
            check |v| at_least(*v, 0),
            broker &[Synonym::same("log.message.timestamp.after.max.ms")];
        /// How far in the past (ms before the log's clock) a `CreateTime`
        /// timestamp may be.
        ///
        /// Default: 9223372036854775807 (unbounded). When at this default,
        /// `message.timestamp.difference.max.ms` applies instead (see
        /// [`LogConfig::effective_timestamp_before_max_ms`]). Minimum: 0.
        "message.timestamp.before.max.ms" => message_timestamp_before_max_ms: i64 = i64::MAX,
            check |v| at_least(*v, 0),
            broker &[Synonym::same("log.message.timestamp.before.max.ms")];
        /// Deprecated (removed in Kafka 4.0): the largest difference, either
        /// way, between a `CreateTime` timestamp and the log's clock. Used
        /// only for a `before`/`after` bound left at its default.
        ///
        /// Default: 9223372036854775807. Minimum: 0.
        "message.timestamp.difference.max.ms"
            => message_timestamp_difference_max_ms: i64 = i64::MAX,
            check |v| at_least(*v, 0),
            broker &[Synonym::same("log.message.timestamp.difference.max.ms")];
        /// Whether batch timestamps are the producer's (`CreateTime`) or the
        /// log's clock at append (`LogAppendTime`).
        ///
        /// Default: `CreateTime`.
        "message.timestamp.type"
            => message_timestamp_type: TimestampType = TimestampType::CreateTime,
            check any,
            broker &[Synonym::same("log.message.timestamp.type")];
        /// The share of a compacted partition's bytes that must be dirty
        /// (written since the last cleaning) before the cleaner picks it.
        ///
        /// Default: 0.5. Valid: 0 to 1.
        "min.cleanable.dirty.ratio" => min_cleanable_dirty_ratio: f64 = 0.5,
            check |v| between(*v, 0.0, 1.0),
            broker &[Synonym::same("log.cleaner.min.cleanable.ratio")];
        /// The shortest time a record stays uncompacted, in ms.
        ///
        /// Default: 0. Minimum: 0; at most `max.compaction.lag.ms`.
        "min.compaction.lag.ms" => min_compaction_lag_ms: i64 = 0,
            check |v| at_least(*v, 0),
            broker &[Synonym::same("log.cleaner.min.compaction.lag.ms")];
        /// Whether a new segment's `.log` file is created at full
        /// `segment.bytes` length (and trimmed when it rolls). strata does
        /// not (its files' lengths grow as they are written), so only
        /// `false` is accepted rather than `true` being silently ignored.
        /// What it does instead, always: a growing `.log` past 256 KiB is
        /// given blocks up to 1 MiB ahead of its end without changing its
        /// length (`fallocate` keeping the size), given back when the
        /// segment is sealed.
        ///
        /// Default: false.
        "preallocate" => preallocate: bool = false,
            check |v| if *v { Err("strata does not preallocate segment files; only false is accepted".to_owned()) } else { Ok(()) },
            broker &[Synonym::same("log.preallocate")];
        /// The most bytes a partition keeps before retention deletes its
        /// oldest segments; negative means unlimited. Applies per partition.
        ///
        /// Default: -1 (unlimited). Any value.
        "retention.bytes" => retention_bytes: i64 = -1,
            check any,
            broker &[Synonym::same("log.retention.bytes")];
        /// How long a segment is kept after its newest record, in ms,
        /// before retention deletes it; -1 means unlimited.
        ///
        /// Default: 604800000 (7 days). Minimum: -1. The broker default
        /// comes from `log.retention.ms`, else `log.retention.minutes`, else
        /// `log.retention.hours` (168); a negative broker value means -1.
        "retention.ms" => retention_ms: i64 = 604_800_000,
            check |v| at_least(*v, -1),
            broker &[
                Synonym::same("log.retention.ms").negative_is_unlimited(),
                Synonym::scaled("log.retention.minutes", MINUTE_MS).negative_is_unlimited(),
                Synonym::scaled("log.retention.hours", HOUR_MS).negative_is_unlimited(),
            ];
        /// The size at which a segment rolls: an append that would make the
        /// active `.log` larger starts a new segment.
        ///
        /// Default: 1073741824 (1 GiB). Valid: 14 to 2147483647. The minimum
        /// is Kafka 3.x's; Kafka 4.0 raised it to 1048576, but strata keeps
        /// 14 so tests and small embedders can roll tiny segments.
        "segment.bytes" => segment_bytes: u64 = 1 << 30,
            check |v| between(*v, 14, INT_MAX),
            broker &[Synonym::same("log.segment.bytes")];
        /// The size of the offset index preallocated for the active segment;
        /// a full index rolls the segment.
        ///
        /// Default: 10485760 (10 MiB). Valid: 4 to 2147483647 (Kafka's
        /// minimum; a size below 8 holds no 8-byte entry, so every append
        /// then rolls a new segment, as in Kafka).
        "segment.index.bytes" => segment_index_bytes: u64 = 10 << 20,
            check |v| between(*v, 4, INT_MAX),
            broker &[Synonym::same("log.index.size.max.bytes")];
        /// The most random jitter subtracted from `segment.ms` per segment,
        /// so that partitions created together do not roll together.
        ///
        /// Default: 0. Minimum: 0.
        "segment.jitter.ms" => segment_jitter_ms: i64 = 0,
            check |v| at_least(*v, 0),
            broker &[
                Synonym::same("log.roll.jitter.ms"),
                Synonym::scaled("log.roll.jitter.hours", HOUR_MS),
            ];
        /// The age (by record time) at which a non-empty active segment rolls.
        ///
        /// Default: 604800000 (7 days). Minimum: 1. The broker default comes
        /// from `log.roll.ms`, else `log.roll.hours` (168).
        "segment.ms" => segment_ms: i64 = 604_800_000,
            check |v| at_least(*v, 1),
            broker &[Synonym::same("log.roll.ms"), Synonym::scaled("log.roll.hours", HOUR_MS)];
        /// When an append is acknowledged, relative to the disk (strata's
        /// key, not Kafka's; see [`Durability`] and the durability contract
        /// in the crate docs): `page_cache` (Kafka's behaviour: in the page
        /// cache; synced by `flush.messages` / `flush.ms`, at roll and at
        /// close), `interval` (in the page cache; the store syncs it within
        /// `flush.ms`, 1000 ms when `flush.ms` is not set) or `sync` (the
        /// append returns once its bytes are fsynced; concurrent appends
        /// share one sync pass).
        ///
        /// Default: `page_cache`.
        "strata.durability" => strata_durability: Durability = Durability::PageCache,
            check any,
            broker &[Synonym::same("strata.log.durability")];
    }
}

config_table! {
    /// The configuration of a store: Kafka's broker-level settings of the
    /// log layer.
    ///
    /// Build one with [`StoreConfig::new`] and the setters, or load a
    /// Kafka `server.properties` with [`StoreConfig::from_properties_str`]
    /// / [`StoreConfig::from_properties_file`]. The broker-level defaults of
    /// the topic keys (`log.retention.hours`, `log.segment.bytes`, ...) are
    /// held, already resolved, in [`StoreConfig::topic_defaults`]; the other
    /// fields are the broker-only settings, each named after its Kafka key.
    /// [`StoreConfig::validate`] is the one place the rules are checked.
    ///
    /// ```
    /// use strata::{LogConfig, StoreConfig};
    ///
    /// let config = StoreConfig::new(["/var/lib/strata"])
    ///     .topic_defaults(LogConfig::default().segment_bytes(64 << 20))
    ///     .log_cleaner_threads(2)
    ///     .background_threads(false);
    /// config.validate()?;
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub struct StoreConfig, table BROKER_KEYS {
        /// The log directories (Kafka's `log.dirs`, else `log.dir`); each
        /// holds whole partitions and its own checkpoint files.
        ///
        /// Default: the directories given to [`StoreConfig::new`]; a
        /// `server.properties` without either key gets Kafka's
        /// `/tmp/kafka-logs`. Must not be empty or repeat a directory.
        pub log_dirs: Vec<PathBuf> = Vec::new(),
        /// Whether the store runs retention, the cleaner, flushes and
        /// checkpoints on its own threads. Turned off, the embedder calls
        /// `maintain()` when it wants that work done. Not a Kafka key.
        ///
        /// Default: true.
        pub background_threads: bool = true,
        /// Whether an open adopts, with default configs, partition
        /// directories of topics that no copy of `strata-topics` lists,
        /// when some log directory holds a copy: a Kafka broker's log
        /// directory added to an existing store, or a topic left in a
        /// directory whose copy was removed to settle a conflict. Off, such
        /// an open is [`crate::Error::StoreMetadataConflict`], since their
        /// configs are unknown (a compacted topic would run as `delete`).
        /// An adopted topic gets retention off (`retention.ms` and
        /// `retention.bytes` -1), so nothing is deleted before its configs
        /// are set; a writable open records it in every copy. It also brings
        /// back the partitions of a topic deleted while their log directory
        /// was left out of the config. Refused while a log directory is
        /// offline (it may hold the topics' other partitions). A store
        /// without any copy adopts always, with default configs, as Kafka's
        /// directories are opened. Not a Kafka key.
        ///
        /// Default: false.
        pub adopt_unlisted_partitions: bool = false,
        /// The broker-level defaults of every topic key, already resolved
        /// from their `log.*` synonyms; a topic's overrides apply on top
        /// ([`LogConfig::resolve`]).
        ///
        /// Default: [`LogConfig::default`] (Kafka's defaults).
        pub topic_defaults: LogConfig = LogConfig::table_defaults(),
        /// The topic keys a `server.properties` set (through a synonym),
        /// reported as source `store` even when equal to Kafka's default.
        pub(super) set_in_properties: BTreeSet<&'static str> = BTreeSet::new(),
    }
    keys {
        /// How long a cleaner thread sleeps when no partition needs
        /// cleaning, in ms.
        ///
        /// Default: 15000. Minimum: 0.
        "log.cleaner.backoff.ms" => log_cleaner_backoff_ms: i64 = 15_000,
            check |v| at_least(*v, 0);
        /// Memory for the cleaner's key-to-offset maps, in bytes, shared by
        /// all cleaner threads (each map holds 24 bytes per key).
        ///
        /// Default: 134217728 (128 MiB). Each thread's share must fit at
        /// least one key at the load factor, as Kafka's `LogCleaner` requires.
        "log.cleaner.dedupe.buffer.size" => log_cleaner_dedupe_buffer_size: u64 = 128 << 20,
            check any;
        /// Whether compacted topics are cleaned at all.
        ///
        /// Default: true.
        "log.cleaner.enable" => log_cleaner_enable: bool = true,
            check any;
        /// How full a cleaner key map may get before a cleaning pass stops
        /// adding segments to it (despite its name, not an I/O setting).
        ///
        /// Default: 0.9. Valid: above 0, at most 1 (Kafka does not check it;
        /// strata does, since 0 would let no key in).
        "log.cleaner.io.buffer.load.factor" => log_cleaner_io_buffer_load_factor: f64 = 0.9,
            check |v| above_zero(*v).and_then(|()| between(*v, 0.0, 1.0));
        /// Kafka's memory for the cleaner's read and write buffers, in bytes.
        /// Accepted and checked, with no effect: strata's cleaner reads
        /// segments through their memory maps and appends each kept batch
        /// to the cleaned segment, holding no such buffers.
        ///
        /// Default: 524288. Valid: 0 to 2147483647.
        "log.cleaner.io.buffer.size" => log_cleaner_io_buffer_size: u64 = 512 << 10,
            check |v| between(*v, 0, INT_MAX);
        /// The cleaner's I/O throttle, in bytes per second over all threads.
        ///
        /// Default: 1.7976931348623157e308 (unthrottled). Must be above 0
        /// (Kafka does not check it; strata does, since 0 would stall cleaning).
        /// Any accepted rate is honoured, however low: a cleaning throttled to
        /// a few bytes per second waits accordingly (and `maintain` with it),
        /// sleeping in 50 ms slices, and stops as soon as its log is closed.
        "log.cleaner.io.max.bytes.per.second"
            => log_cleaner_io_max_bytes_per_second: f64 = f64::MAX,
            check |v| above_zero(*v);
        /// The number of cleaner threads.
        ///
        /// Default: 1. Valid: 0 to 2147483647.
        "log.cleaner.threads" => log_cleaner_threads: u32 = 1,
            check |v| between(u64::from(*v), 0, INT_MAX);
        /// How often the recovery points are written to
        /// `recovery-point-offset-checkpoint`, in ms.
        /// 0 writes it once, `log.initial.task.delay.ms` after the open, then
        /// at close, as Kafka's scheduler runs a task whose period is 0 (with
        /// the other checkpoint's interval above 0, both follow that one).
        ///
        /// Default: 60000. Valid: 0 to 2147483647.
        "log.flush.offset.checkpoint.interval.ms"
            => log_flush_offset_checkpoint_interval_ms: i64 = 60_000,
            check |v| between(*v, 0, i64::from(i32::MAX));
        /// How often the flusher checks every partition against `flush.ms`,
        /// in ms; also the broker default of `flush.ms` when
        /// `log.flush.interval.ms` is not set. strata's maintenance thread
        /// checks at least once a second whatever this says (Kafka's flusher
        /// does not run at the default), so a topic's `flush.ms` and the
        /// `interval` durability class hold.
        ///
        /// Default: 9223372036854775807 (the check runs every second).
        /// Minimum: 0 (Kafka does not check it; a negative period means
        /// nothing).
        "log.flush.scheduler.interval.ms" => log_flush_scheduler_interval_ms: i64 = i64::MAX,
            check |v| at_least(*v, 0);
        /// How often the log start offsets are written to
        /// `log-start-offset-checkpoint`, in ms.
        /// 0 writes it once, `log.initial.task.delay.ms` after the open, then
        /// at close, as Kafka's scheduler runs a task whose period is 0 (with
        /// the other checkpoint's interval above 0, both follow that one).
        ///
        /// Default: 60000. Valid: 0 to 2147483647.
        "log.flush.start.offset.checkpoint.interval.ms"
            => log_flush_start_offset_checkpoint_interval_ms: i64 = 60_000,
            check |v| between(*v, 0, i64::from(i32::MAX));
        /// The delay before the periodic background tasks first run, in ms
        /// (Kafka's internal, testing-only key).
        ///
        /// Default: 30000. Minimum: 0.
        "log.initial.task.delay.ms" => log_initial_task_delay_ms: i64 = 30_000,
            check |v| at_least(*v, 0);
        /// The most bytes of `.log` and index files the store's segments keep
        /// mapped at once (address space, not memory: pages come and go with
        /// the page cache). Past it, the least recently used segments are
        /// unmapped and mapped again on their next use; `Bytes` a reader
        /// holds keep their own map. A strata key: Kafka maps every index
        /// and never the `.log`.
        ///
        /// Default: 0, which sizes it from `log.open.segments.max`: 64 MiB
        /// per open segment, at least 16 GiB (an active segment maps both
        /// indexes at `segment.index.bytes`). Minimum: 0.
        "log.mapped.bytes.max" => log_mapped_bytes_max: u64 = 0,
            check |v| at_least(*v, 0);
        /// The most segments that hold files open at once across the store:
        /// a segment is open while it holds its `.log` descriptor or a map of
        /// its `.log` or index files (at most two descriptors, its own and the
        /// one its `.log` map keeps, one when they are the same, and three
        /// maps each: so the store's segments hold at most twice this many
        /// descriptors; a fetch readers hold keeps none, and a file
        /// `FileSlice::file` hands out is the caller's until dropped). Past
        /// it, the least recently used segments are closed and
        /// unmapped, and reopened on their next use (checked to be the same
        /// files), so a store of many partitions stays under the process's
        /// open-file limit (Kafka's "too many open files"). A strata key.
        ///
        /// Default: 0, which sizes it from the process's open-file limit
        /// (`RLIMIT_NOFILE`) when the store opens: a quarter of it, between
        /// 64 and 4096 (256 under `ulimit -n 1024`). Valid: 0 to 2147483647.
        "log.open.segments.max" => log_open_segments_max: u32 = 0,
            check |v| between(u64::from(*v), 0, INT_MAX);
        /// How often retention checks every partition, in ms.
        ///
        /// Default: 300000 (5 minutes). Minimum: 1.
        "log.retention.check.interval.ms" => log_retention_check_interval_ms: i64 = 300_000,
            check |v| at_least(*v, 1);
        /// The partition count of a topic created without one.
        ///
        /// Default: 1. Valid: 1 to 2147483647.
        "num.partitions" => num_partitions: u32 = 1,
            check |v| between(u64::from(*v), 1, INT_MAX);
        /// Threads per log directory that load partitions at open and
        /// flush them at close.
        ///
        /// Default: 2 (Kafka 4.0's default; 3.x used 1). Valid: 1 to 2147483647.
        "num.recovery.threads.per.data.dir" => num_recovery_threads_per_data_dir: u32 = 2,
            check |v| between(u64::from(*v), 1, INT_MAX);
        /// How often committed offsets are checked against
        /// `offsets.retention.minutes`, in ms: the store's maintenance thread
        /// expires them every interval (the first time one interval after
        /// the open), as Kafka's coordinator schedules its
        /// `cleanupGroupMetadata`; `Store::maintain` and
        /// `Store::expire_committed_offsets` expire them at once.
        ///
        /// Default: 600000 (10 minutes). Minimum: 1.
        "offsets.retention.check.interval.ms"
            => offsets_retention_check_interval_ms: i64 = 600_000,
            check |v| at_least(*v, 1);
        /// How long a committed offset is kept, in minutes: an offset is
        /// expired (a tombstone written for it in `__consumer_offsets`, so
        /// fetching it answers none and compaction removes it) once this
        /// long has passed since its commit, as Kafka expires the offsets of
        /// a group without members; a commit carrying an explicit expiry time
        /// (value version 1, from an old client) expires at that time
        /// instead. A group adopted from a Kafka broker counts as Kafka's
        /// coordinator counts it: from when it became empty, never while its
        /// state does not decode (see `Groups` in the README). One loaded
        /// with members counts from the load: Kafka counts from when the
        /// group becomes empty, once its members' session timeouts (and the
        /// rebalance they start) have run with no heartbeat, so strata,
        /// which serves no heartbeats and writes no group state, expires such
        /// offsets up to those timeouts sooner, and starts the count again at
        /// each open (a store reopened more often than the retention keeps
        /// them). A group whose offsets all expired is deleted with them.
        ///
        /// Default: 10080 (7 days). Valid: 1 to 2147483647 (Kafka's `INT`,
        /// at least 1).
        "offsets.retention.minutes" => offsets_retention_minutes: i64 = 7 * 24 * 60,
            check |v| between(*v, 1, i64::from(i32::MAX));
        /// The partition count of the internal topic holding consumer
        /// groups' committed offsets (`__consumer_offsets`), used when strata
        /// creates it (at the first commit). An existing topic keeps its
        /// count; one found in a Kafka broker's data directory counts as
        /// Kafka's 50 partitions (or this value, when set above 1), so
        /// commits land where Kafka looks for them.
        ///
        /// Default: 1 (strata's: one partition, four files, for an embedded
        /// store; Kafka's default is 50). Valid: 1 to 2147483647.
        "offsets.topic.num.partitions" => offsets_topic_num_partitions: u32 = 1,
            check |v| between(u64::from(*v), 1, INT_MAX);
        /// How often idle producer ids are expired, in ms.
        ///
        /// Default: 600000 (10 minutes). Valid: 1 to 2147483647.
        "producer.id.expiration.check.interval.ms"
            => producer_id_expiration_check_interval_ms: i64 = 600_000,
            check |v| between(*v, 1, i64::from(i32::MAX));
        /// How long a producer id's state is kept after its last write, in ms.
        ///
        /// Default: 86400000 (1 day). Valid: 1 to 2147483647.
        "producer.id.expiration.ms" => producer_id_expiration_ms: i64 = 86_400_000,
            check |v| between(*v, 1, i64::from(i32::MAX));
        /// The free-space watermark (strata's key, not Kafka's): an append
        /// that would leave fewer bytes free on its log directory's file
        /// system fails with the retriable `Error::NoSpace`, while retention,
        /// compaction and DeleteRecords keep running to free space. Keep it
        /// above a few `segment.index.bytes` so a roll still finds room.
        ///
        /// Default: 0 (off; a full disk is then met as `ENOSPC`, which fails
        /// the append with the same retriable error). Minimum: 0.
        "strata.log.dir.min.free.bytes" => strata_log_dir_min_free_bytes: u64 = 0,
            check any;
    }
}

/// Topic-level keys of Kafka's replication, message-format conversion and
/// throttling: accepted in a topic's overrides (so configs copied from Kafka
/// load) and otherwise ignored, since strata has no replicas or old clients.
pub(crate) const IGNORED_TOPIC_KEYS: &[&str] = &[
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.downconversion.enable",
    "message.format.version",
    "min.insync.replicas",
    "unclean.leader.election.enable",
];

/// Broker keys outside the log layer (networking, security, replication,
/// the controller, groups, ...): reported as ignored, not as unknown.
const NON_LOG_BROKER_KEYS: &[&str] = &[
    "alter.config.policy.class.name",
    "authorizer.class.name",
    "background.threads",
    "create.topic.policy.class.name",
    "default.replication.factor",
    "delete.records.purgatory.purge.interval.requests",
    "delete.topic.enable",
    "early.start.listeners",
    "host.name",
    "inter.broker.listener.name",
    "inter.broker.protocol.version",
    "listener.security.protocol.map",
    "listeners",
    "log.dir.failure.timeout.ms",
    "log.local.retention.bytes",
    "log.local.retention.ms",
    "log.message.downconversion.enable",
    "log.message.format.version",
    "min.insync.replicas",
    "node.id",
    "num.io.threads",
    "num.network.threads",
    "num.replica.alter.log.dirs.threads",
    "num.replica.fetchers",
    "port",
    "principal.builder.class",
    "process.roles",
    "producer.purgatory.purge.interval.requests",
    "request.timeout.ms",
    "reserved.broker.max.id",
    "super.users",
    "unclean.leader.election.enable",
];

/// Prefixes of broker key families outside the log layer.
const NON_LOG_BROKER_PREFIXES: &[&str] = &[
    "advertised.",
    "allow.everyone.",
    "auto.",
    "broker.",
    "client.quota.",
    "confluent.",
    "connection",
    "controlled.shutdown.",
    "controller.",
    "delegation.token.",
    "eligible.leader.replicas.",
    "fetch.",
    "group.",
    "kafka.metrics.",
    "leader.imbalance.",
    "listener.name.",
    "max.connection",
    "max.incremental.fetch.",
    "metadata.",
    "metric.",
    "metrics.",
    "offsets.",
    "password.encoder.",
    "queued.max.",
    "quota.",
    "remote.log.",
    "replica.",
    "sasl.",
    "security.",
    "share.",
    "socket.",
    "ssl.",
    "telemetry.",
    "transaction.",
    "transactional.id.",
    "unstable.",
    "zookeeper.",
];

/// Whether `key` is a known Kafka broker key outside the log layer.
pub(crate) fn is_non_log_broker_key(key: &str) -> bool {
    NON_LOG_BROKER_KEYS.contains(&key) || NON_LOG_BROKER_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The topic key `name`, if it is one.
pub(crate) fn topic_key(name: &str) -> Option<&'static Key<LogConfig>> {
    TOPIC_KEYS.iter().find(|key| key.name == name)
}

/// The topic key that broker key `name` is a synonym of, if any.
pub(crate) fn topic_key_of_synonym(name: &str) -> Option<&'static Key<LogConfig>> {
    TOPIC_KEYS.iter().find(|key| key.synonyms.iter().any(|s| s.name == name))
}
