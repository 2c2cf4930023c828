//! Topic-level configuration: [`LogConfig`] and its value types.
//!
//! Precedence (Kafka's `LogConfig.fromProps`): a topic's override wins over
//! the store's (broker's) value, which wins over Kafka's default. The store's
//! values are already resolved from their `log.*` synonyms in
//! [`StoreConfig::topic_defaults`], so resolving a topic is applying its
//! overrides to a copy of them and validating the result.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::format::Compression;
use crate::{Error, Result};

use super::keys::{
    IGNORED_TOPIC_KEYS, Key, StoreConfig, TOPIC_KEYS, topic_key, topic_key_of_synonym,
};
use super::kinds::Durability;

pub use super::keys::LogConfig;

/// Where a described value comes from (logtool's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// The topic overrides the key.
    Topic,
    /// The store sets it: from `server.properties` (a `log.*` synonym), or
    /// a [`StoreConfig::topic_defaults`] value that differs from Kafka's default.
    Store,
    /// Kafka's default.
    Default,
}

impl ConfigSource {
    /// `topic`, `store` or `default`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigSource::Topic => "topic",
            ConfigSource::Store => "store",
            ConfigSource::Default => "default",
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of [`LogConfig::describe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Kafka's name of the key.
    pub key: &'static str,
    /// The effective value, in Kafka's text form.
    pub value: String,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// What the key does, its default and its range (the field's doc, as
    /// Markdown).
    pub doc: String,
}

/// An [`Error::InvalidConfig`].
pub(crate) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig { key: key.to_owned(), value: value.to_owned(), reason: reason.into() }
}

/// Applies one topic-level override to `config`, validating it alone.
fn apply_override(config: &mut LogConfig, key: &str, value: &str) -> Result<()> {
    if let Some(entry) = topic_key(key) {
        return (entry.apply)(config, value).map_err(|reason| invalid(key, value, reason));
    }
    if IGNORED_TOPIC_KEYS.contains(&key) {
        return Ok(());
    }
    let reason = match topic_key_of_synonym(key) {
        Some(entry) => {
            format!("unknown topic config ({key} is the store-level name of {})", entry.name)
        }
        None => "unknown topic config".to_owned(),
    };
    Err(invalid(key, value, reason))
}

impl Default for LogConfig {
    /// Kafka's defaults (each field's doc says which).
    fn default() -> Self {
        LogConfig::table_defaults()
    }
}

impl LogConfig {
    /// The effective config of a topic: its `overrides` (Kafka's topic-level
    /// names) over the store's values over Kafka's defaults, validated.
    ///
    /// Keys of Kafka's replication and format conversion
    /// (`min.insync.replicas`, `unclean.leader.election.enable`,
    /// `message.format.version`, `message.downconversion.enable`, the
    /// throttled-replica lists) are accepted and ignored.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the key and value: an unknown key, an
    /// unparsable or out-of-range value, or a broken cross-key rule.
    pub fn resolve(store: &StoreConfig, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
        let mut config = store.topic_defaults.clone();
        for (key, value) in overrides {
            apply_override(&mut config, key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks one override on its own (for `topic-config-set`): the key is
    /// a topic-level key and the value parses and is in range. Rules across
    /// keys (`min.compaction.lag.ms` <= `max.compaction.lag.ms`) are checked
    /// by [`LogConfig::resolve`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the key and value.
    pub fn validate_override(key: &str, value: &str) -> Result<()> {
        apply_override(&mut LogConfig::default(), key, value)
    }

    /// The one place the rules live: every key's range, then the rules
    /// across keys (`min.compaction.lag.ms` <= `max.compaction.lag.ms`, as
    /// Kafka's `LogConfig.validateValues`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first key that breaks a rule.
    pub fn validate(&self) -> Result<()> {
        check_fields(self, TOPIC_KEYS)?;
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(invalid(
                "min.compaction.lag.ms",
                &self.min_compaction_lag_ms.to_string(),
                format!("must not exceed max.compaction.lag.ms ({})", self.max_compaction_lag_ms),
            ));
        }
        Ok(())
    }

    /// Every topic-level key with its effective value and where that value
    /// comes from, in key order; then the accepted-but-ignored keys the
    /// topic overrides. An override that does not parse is shown as given.
    #[must_use]
    pub fn describe(store: &StoreConfig, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
        let mut entries: Vec<ConfigEntry> = TOPIC_KEYS
            .iter()
            .map(|key| {
                let (value, source) = match overrides.get(key.name) {
                    Some(text) => (normalized(key, text), ConfigSource::Topic),
                    None => store.topic_default_of(key),
                };
                ConfigEntry { key: key.name, value, source, doc: clean_doc(key.doc) }
            })
            .collect();
        entries.extend(IGNORED_TOPIC_KEYS.iter().filter_map(|&key| {
            overrides.get(key).map(|value| ConfigEntry {
                key,
                value: super::value::java_trim(value).to_owned(),
                source: ConfigSource::Topic,
                doc: "A Kafka replication or format-conversion setting: accepted, not used."
                    .to_owned(),
            })
        }));
        entries
    }

    /// Sets `retention.ms` from a duration (saturating at the maximum).
    /// See [`LogConfig::retention_ms`] for the default and range.
    #[must_use]
    pub fn retention(self, retention: Duration) -> Self {
        self.retention_ms(duration_ms(retention))
    }

    /// Sets `retention.ms` to -1: no time-based retention.
    #[must_use]
    pub fn unlimited_retention(self) -> Self {
        self.retention_ms(-1)
    }

    /// Sets `segment.ms` from a duration (saturating at the maximum).
    /// See [`LogConfig::segment_ms`] for the default and range.
    #[must_use]
    pub fn segment_age(self, age: Duration) -> Self {
        self.segment_ms(duration_ms(age))
    }

    /// The age at which the active segment rolls: `segment.ms`, or for a
    /// compacted topic `min(segment.ms, max.compaction.lag.ms)` so that
    /// records become cleanable in time (Kafka's `LogConfig.maxSegmentMs`).
    #[must_use]
    pub fn max_segment_ms(&self) -> i64 {
        if self.cleanup_policy.compact && self.max_compaction_lag_ms > 0 {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }

    /// The configured level for `codec` (`compression.gzip.level`,
    /// `compression.lz4.level`, `compression.zstd.level`); `None` for codecs
    /// without levels. Suits `format::compression::compress`.
    #[must_use]
    pub fn compression_level_for(&self, codec: Compression) -> Option<i32> {
        match codec {
            Compression::Gzip => Some(self.compression_gzip_level),
            Compression::Lz4 => Some(self.compression_lz4_level),
            Compression::Zstd => Some(self.compression_zstd_level),
            Compression::None | Compression::Snappy => None,
        }
    }

    /// The bound on how old a `CreateTime` timestamp may be:
    /// `message.timestamp.before.max.ms`, or while that is at its default,
    /// `message.timestamp.difference.max.ms` (Kafka 3.x).
    #[must_use]
    pub fn effective_timestamp_before_max_ms(&self) -> i64 {
        self.with_difference_fallback(self.message_timestamp_before_max_ms)
    }

    /// How long a partition may go between syncs by time: `flush.ms`, or
    /// 1000 ms for the `interval` durability class while `flush.ms` is not set.
    #[must_use]
    pub fn effective_flush_ms(&self) -> i64 {
        if self.strata_durability == Durability::Interval && self.flush_ms == i64::MAX {
            1000
        } else {
            self.flush_ms
        }
    }

    /// The bound on how far ahead a `CreateTime` timestamp may be:
    /// `message.timestamp.after.max.ms`, or while that is at its default,
    /// `message.timestamp.difference.max.ms` (Kafka 3.x).
    #[must_use]
    pub fn effective_timestamp_after_max_ms(&self) -> i64 {
        self.with_difference_fallback(self.message_timestamp_after_max_ms)
    }

    /// `bound`, unless it is at its default and the deprecated difference is set.
    fn with_difference_fallback(&self, bound: i64) -> i64 {
        if bound == i64::MAX { self.message_timestamp_difference_max_ms } else { bound }
    }

    /// `retention.ms` as a limit: `None` when unlimited (negative).
    #[must_use]
    pub fn retention_ms_limit(&self) -> Option<i64> {
        (self.retention_ms >= 0).then_some(self.retention_ms)
    }

    /// `retention.bytes` as a limit: `None` when unlimited (negative).
    #[must_use]
    pub fn retention_bytes_limit(&self) -> Option<u64> {
        u64::try_from(self.retention_bytes).ok()
    }
}

/// A doc comment's text without the space after each `///`.
fn clean_doc(raw: &str) -> String {
    let lines: Vec<&str> = raw.lines().map(|line| line.strip_prefix(' ').unwrap_or(line)).collect();
    lines.join("\n").trim().to_owned()
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `text` as the key would print it once parsed, or as given if it does not parse.
fn normalized(key: &Key<LogConfig>, text: &str) -> String {
    let mut scratch = LogConfig::default();
    match (key.apply)(&mut scratch, text) {
        Ok(()) => (key.show)(&scratch),
        Err(_) => text.to_owned(),
    }
}

/// Runs every key's validator of `table` over `config`.
pub(crate) fn check_fields<C>(config: &C, table: &[Key<C>]) -> Result<()> {
    for key in table {
        (key.check)(config).map_err(|reason| invalid(key.name, &(key.show)(config), reason))?;
    }
    Ok(())
}
