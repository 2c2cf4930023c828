//! [`TopicConfig`]: a topic's overrides as a typed builder, beside Kafka's
//! string names.
//!
//! Each typed setter writes the Kafka key it stands for, so the overrides a
//! builder makes are exactly what `kafka-configs --alter --add-config` would
//! set, persist as such and show in `describe_topic_config` with their
//! Kafka names. [`TopicConfig::set`] takes any key by name; values are
//! checked when the topic is created or changed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::kinds::{CleanupPolicy, Durability, TopicCompression};

/// Topic-level overrides, typed. Every key left unset takes the store's
/// value (which defaults to Kafka's).
///
/// ```
/// use std::time::Duration;
/// use strata::{CleanupPolicy, TopicConfig};
///
/// let config = TopicConfig::new()
///     .cleanup_policy(CleanupPolicy::COMPACT)
///     .retention(Duration::from_secs(3600))
///     .segment_bytes(16 << 20)
///     .set("min.cleanable.dirty.ratio", "0.1");
/// assert_eq!(config.overrides()["cleanup.policy"], "compact");
/// assert_eq!(config.overrides()["retention.ms"], "3600000");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl TopicConfig {
    /// No overrides.
    pub fn new() -> Self {
        TopicConfig::default()
    }

    /// Any topic-level key by Kafka's name (`retention.ms`,
    /// `message.timestamp.type`, ...). Checked when applied.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.insert(key.into(), value.into());
        self
    }

    /// `cleanup.policy`: delete, compact or both.
    pub fn cleanup_policy(self, policy: CleanupPolicy) -> Self {
        self.set("cleanup.policy", policy.to_string())
    }

    /// `retention.ms`: segments whose newest record is older are deleted.
    pub fn retention(self, age: Duration) -> Self {
        self.set("retention.ms", millis(age).to_string())
    }

    /// `retention.ms = -1`: no time retention.
    pub fn retention_unlimited(self) -> Self {
        self.set("retention.ms", "-1")
    }

    /// `retention.bytes`: a partition larger than this loses its oldest segments.
    pub fn retention_bytes(self, bytes: u64) -> Self {
        self.set("retention.bytes", bytes.to_string())
    }

    /// `segment.bytes`: the size at which the active segment rolls.
    pub fn segment_bytes(self, bytes: u64) -> Self {
        self.set("segment.bytes", bytes.to_string())
    }

    /// `segment.ms`: the age at which the active segment rolls.
    pub fn segment_age(self, age: Duration) -> Self {
        self.set("segment.ms", millis(age).to_string())
    }

    /// `min.cleanable.dirty.ratio`: how dirty a compacted log gets before cleaning.
    pub fn min_cleanable_dirty_ratio(self, ratio: f64) -> Self {
        self.set("min.cleanable.dirty.ratio", ratio.to_string())
    }

    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub fn min_compaction_lag(self, lag: Duration) -> Self {
        self.set("min.compaction.lag.ms", millis(lag).to_string())
    }

    /// `max.compaction.lag.ms`: records older than this make the log cleanable.
    pub fn max_compaction_lag(self, lag: Duration) -> Self {
        self.set("max.compaction.lag.ms", millis(lag).to_string())
    }

    /// `delete.retention.ms`: how long tombstones survive compaction.
    pub fn delete_retention(self, age: Duration) -> Self {
        self.set("delete.retention.ms", millis(age).to_string())
    }

    /// `compression.type`: the codec batches are stored with.
    pub fn compression(self, compression: TopicCompression) -> Self {
        self.set("compression.type", compression.to_string())
    }

    /// `max.message.bytes`: the largest batch an append takes.
    pub fn max_message_bytes(self, bytes: u32) -> Self {
        self.set("max.message.bytes", bytes.to_string())
    }

    /// `strata.durability`: when an append is acknowledged (strata's key).
    pub fn durability(self, durability: Durability) -> Self {
        self.set("strata.durability", durability.name())
    }

    /// `flush.messages`: fsync after this many appended records.
    pub fn flush_messages(self, records: u64) -> Self {
        self.set("flush.messages", records.to_string())
    }

    /// `flush.ms`: fsync at least this often.
    pub fn flush_interval(self, every: Duration) -> Self {
        self.set("flush.ms", millis(every).to_string())
    }

    /// The overrides by Kafka's names, as
    /// [`Store::create_topic`](crate::store::Store::create_topic) takes them.
    #[must_use]
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// Whether no key is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty()
    }
}

impl From<BTreeMap<String, String>> for TopicConfig {
    fn from(overrides: BTreeMap<String, String>) -> Self {
        TopicConfig { overrides }
    }
}

impl From<TopicConfig> for BTreeMap<String, String> {
    fn from(config: TopicConfig) -> Self {
        config.overrides
    }
}
