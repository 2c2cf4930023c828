//! Topics as an embedding service wants them: created if absent with a typed
//! [`TopicConfig`], and their overrides changed in one call.

use crate::config::{LogConfig, TopicConfig};
use crate::{Error, Result};

use super::Store;

impl Store {
    /// Creates `topic` with `partitions` partitions and `config`'s overrides
    /// unless it exists; returns whether it was created. An existing topic
    /// is left as it is (its partition count and configs are not compared:
    /// use [`set_topic_configs`](Self::set_topic_configs) and
    /// [`add_partitions`](Self::add_partitions) to change them).
    ///
    /// ```
    /// # use strata::{CleanupPolicy, Store, StoreConfig, TopicConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new([dir.path()]))?;
    /// let compacted = TopicConfig::new().cleanup_policy(CleanupPolicy::COMPACT);
    /// assert!(store.create_topic_if_absent("users", 3, &compacted)?);
    /// assert!(!store.create_topic_if_absent("users", 3, &compacted)?); // already there
    /// store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`create_topic`](Self::create_topic), except [`Error::TopicExists`].
    pub fn create_topic_if_absent(
        &self,
        topic: &str,
        partitions: i32,
        config: &TopicConfig,
    ) -> Result<bool> {
        if self.partition_count(topic).is_ok() {
            return Ok(false);
        }
        match self.create_topic(topic, partitions, config.overrides()) {
            Ok(()) => Ok(true),
            Err(Error::TopicExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets every override of `config` on `topic` at once (other overrides
    /// stay): all are checked first, and either all apply or none.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad key or value (nothing
    /// changes), [`Error::UnknownPartition`] for an unknown topic.
    pub fn set_topic_configs(&self, topic: &str, config: &TopicConfig) -> Result<()> {
        for (key, value) in config.overrides() {
            LogConfig::validate_override(key, value)?;
        }
        self.change_overrides(topic, |o| {
            for (key, value) in config.overrides() {
                o.insert(key.clone(), value.clone());
            }
        })
    }
}
