//! Topic IDs (Kafka's topic `Uuid`): one per topic, drawn at random when the
//! topic is created, kept in every partition's `partition.metadata`, and read
//! back from there on open. A topic whose directories carry none (an older
//! broker's, or an older strata's) gets a new one at its first writable open;
//! a partition that carries another topic's ID is refused, as Kafka refuses
//! a log whose ID is inconsistent with its topic.

use crate::format::TopicId;
use crate::log::{Log, new_topic_id};
use crate::{Error, Result};

use super::Store;

impl Store {
    /// The ID of `topic`, from its partitions' `partition.metadata`: `None`
    /// only for a read-only store over directories that have none.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic; a damaged
    /// `partition.metadata` ([`Error::CorruptFile`]); I/O failures.
    pub fn topic_id(&self, topic: &str) -> Result<Option<TopicId>> {
        let logs = self.topic_logs(topic)?;
        for log in &logs {
            if let Some(id) = log.topic_id()? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The online partitions of `topic`, by partition number.
    fn topic_logs(&self, topic: &str) -> Result<Vec<Log>> {
        let mut logs: Vec<Log> = self.logs(Some(topic)).into_iter().map(|(_, l)| l).collect();
        if logs.is_empty() && !self.inner.topics.read().contains_key(topic) {
            return Err(Error::UnknownPartition { topic: topic.to_owned(), partition: -1 });
        }
        logs.sort_by_key(Log::partition);
        Ok(logs)
    }

    /// Gives every online partition of `topic` the topic's ID, drawing one
    /// when no partition has any.
    pub(super) fn settle_topic_id(&self, topic: &str) -> Result<()> {
        let logs = self.topic_logs(topic)?;
        let mut id = None;
        let mut missing = Vec::new();
        for log in logs {
            match (log.topic_id()?, id) {
                (None, _) => missing.push(log),
                (Some(found), None) => id = Some(found),
                (Some(found), Some(first)) if found != first => {
                    return Err(Error::CorruptFile {
                        path: log
                            .dir()
                            .join(crate::format::partition_metadata::PARTITION_METADATA_FILE),
                        reason: format!(
                            "topic ID {found}, but other partitions of {topic} have {first}"
                        ),
                    });
                }
                (Some(_), Some(_)) => {}
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let id = id.unwrap_or_else(new_topic_id);
        for log in missing {
            log.set_topic_id(id)?;
        }
        Ok(())
    }
}
