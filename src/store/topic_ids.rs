//! Topic IDs (Kafka's topic `Uuid`): one per topic, drawn at random when the
//! topic is created, kept in every partition's `partition.metadata`, and read
//! back from there on open. A topic whose directories carry none (an older
//! broker's, or an older strata's) gets a new one at its first writable open;
//! a partition that carries another topic's ID is refused, as Kafka refuses
//! a log whose ID is inconsistent with its topic: at open it goes offline
//! alone (the ID most of the topic's partitions carry is the topic's), as
//! Kafka fails only that partition (`Partition.checkOrSetTopicId`,
//! `InconsistentTopicIdException`).

use std::collections::HashMap;

use crate::format::TopicId;
use crate::log::{Log, new_topic_id};
use crate::{Error, Result};

use super::{OfflinePartition, Store};

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

    /// At open: takes offline every online partition of `topic` whose
    /// `partition.metadata` names another ID than the one most of its
    /// partitions carry (on a tie, the lowest partition's), then gives that
    /// ID (or a new one, when none carries any) to the partitions without
    /// one. Each file is read once. An offlined log is closed without
    /// writing anything and its files are left as they are; its
    /// checkpointed offsets are kept, as for any offline partition.
    pub(super) fn settle_topic_id_at_open(&self, topic: &str) -> Result<()> {
        let mut carried: Vec<(Log, TopicId)> = Vec::new();
        let mut missing = Vec::new();
        for log in self.topic_logs(topic)? {
            match log.topic_id()? {
                Some(id) => carried.push((log, id)),
                None => missing.push(log),
            }
        }
        let mut counts: HashMap<TopicId, usize> = HashMap::new();
        for (_, id) in &carried {
            *counts.entry(*id).or_default() += 1;
        }
        // First in partition order among the most carried: the tie's winner.
        let mut chosen: Option<(TopicId, usize)> = None;
        for (_, id) in &carried {
            let n = counts.get(id).copied().unwrap_or(0);
            if chosen.is_none_or(|(_, best)| n > best) {
                chosen = Some((*id, n));
            }
        }
        let (id, n) = chosen.unwrap_or_else(|| (new_topic_id(), 0));
        for (log, other) in carried.iter().filter(|(_, c)| *c != id) {
            let file = log.dir().join(crate::format::partition_metadata::PARTITION_METADATA_FILE);
            let cause = format!(
                "{} names topic ID {other}, but {n} other partition(s) of {topic} carry {id}: \
                 the directory belongs to another topic (copied in from elsewhere?); it is left \
                 as it is",
                file.display()
            );
            log.fence();
            let partition = log.partition();
            let mut topics = self.inner.topics.write();
            let slot = topics.get_mut(topic).and_then(|t| {
                usize::try_from(partition).ok().and_then(|i| t.partitions.get_mut(i))
            });
            let Some(held) = slot.and_then(Option::take) else { continue };
            let start = log.log_start_offset();
            self.inner.offline_partitions.write().insert(
                (topic.to_owned(), partition),
                OfflinePartition {
                    dir_index: Some(held.dir_index),
                    path: log.dir().to_path_buf(),
                    cause,
                    checkpoints: [
                        Some(log.recovery_point()),
                        (start > 0).then_some(start),
                        log.cleaner_checkpoint(),
                    ],
                    checkpoint_dir: Some(held.dir_index),
                },
            );
        }
        for log in missing {
            log.set_topic_id(id)?;
        }
        Ok(())
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
