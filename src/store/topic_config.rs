//! Topic-level config overrides at run time (`kafka-configs --alter`): the
//! change is validated, persisted, and handed to every partition, so the next
//! append, roll and maintenance pass obey it.

use std::collections::BTreeMap;

use crate::config::{ConfigEntry, LogConfig};
use crate::{Error, Result};

use super::Store;

impl Store {
    /// Sets a topic-level override (Kafka's name, e.g. `retention.ms`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an unknown key or bad value (nothing changes),
    /// [`Error::UnknownPartition`] for an unknown topic.
    pub fn set_topic_config(&self, topic: &str, key: &str, value: &str) -> Result<()> {
        LogConfig::validate_override(key, value)?;
        self.change_overrides(topic, |o| {
            o.insert(key.to_owned(), value.to_owned());
        })
    }

    /// Removes a topic-level override; the store default (or Kafka's) applies again.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the topic has no such override,
    /// [`Error::UnknownPartition`] for an unknown topic.
    pub fn remove_topic_config(&self, topic: &str, key: &str) -> Result<()> {
        if !self.topic_overrides(topic)?.contains_key(key) {
            return Err(Error::InvalidConfig {
                key: key.to_owned(),
                value: String::new(),
                reason: format!("topic {topic} has no override for it"),
            });
        }
        self.change_overrides(topic, |o| {
            o.remove(key);
        })
    }

    /// Every effective log config of `topic` with where its value comes from.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic.
    pub fn describe_topic_config(&self, topic: &str) -> Result<Vec<ConfigEntry>> {
        let overrides = self.topic_overrides(topic)?;
        Ok(LogConfig::describe(&self.inner.config, &overrides))
    }

    pub(super) fn change_overrides(
        &self,
        topic: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<()> {
        let _admin = self.admin()?;
        let mut overrides = self.topic_overrides(topic)?;
        change(&mut overrides);
        // Cross-key rules (e.g. min lag <= max lag) are checked on the whole set.
        let cfg = LogConfig::resolve(&self.inner.config, &overrides)?;
        let previous = {
            let mut topics = self.inner.topics.write();
            let t = topics.get_mut(topic).ok_or_else(|| Error::UnknownPartition {
                topic: topic.to_owned(),
                partition: -1,
            })?;
            std::mem::replace(&mut t.overrides, overrides)
        };
        self.persist_meta_or_undo(|| {
            if let Some(t) = self.inner.topics.write().get_mut(topic) {
                t.overrides = previous;
            }
        })?;
        for (_, log) in self.logs(Some(topic)) {
            log.set_config(cfg.clone())?;
        }
        Ok(())
    }

    /// Kafka's DeleteRecords on one partition: advances its log start offset
    /// to `offset`. Returns the new log start offset.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] past the log end, [`Error::InvalidRequest`]
    /// on a topic without the `delete` policy, [`Error::InvalidTopic`] on an
    /// internal topic ([`INTERNAL_TOPICS`](super::INTERNAL_TOPICS): Kafka's
    /// `ReplicaManager` refuses them, whatever their policy, as the
    /// coordinators' state is read from them), [`Error::UnknownPartition`];
    /// I/O failures writing the checkpoint. All or nothing: when it returns
    /// an error, the log start offset is unchanged in memory and on disk.
    /// The new start is durable when it returns, except on a full disk:
    /// there the segments below it are removed first (to free the space the
    /// checkpoint needs) and a checkpoint that still cannot be written is
    /// left to the next checkpoint write, as Kafka always does.
    pub fn delete_records(&self, topic: &str, partition: i32, offset: i64) -> Result<i64> {
        if super::INTERNAL_TOPICS.contains(&topic) {
            return Err(Error::InvalidTopic {
                name: topic.to_owned(),
                reason: "records of an internal topic cannot be deleted".to_owned(),
            });
        }
        self.delete_records_durably(topic, partition, offset)
    }
}
