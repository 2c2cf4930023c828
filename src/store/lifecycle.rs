//! Topic lifecycle: creating, growing the partition count and deleting a
//! topic (Kafka's `kafka-topics --create` / `--alter` / `--delete`).
//!
//! `strata-topics` is the commit point of each change, written before the
//! directories change, so a crash or failure at any step reopens to the
//! topic as it was or as it was asked to be, never in between:
//!
//! Creating:
//! 1. write `strata-topics` with the topic, its count, its overrides and a
//!    `creating` mark;
//! 2. create each partition directory (a crash here: the next open creates
//!    the missing ones with the topic's overrides — never adopts them with
//!    default configs); a failure removes what was created and rewrites
//!    `strata-topics` without the topic;
//! 3. write the new topic ID into each partition's `partition.metadata`
//!    (a crash before it: the next open draws the ID and writes it);
//! 4. rewrite `strata-topics` without the mark (a crash before it: the next
//!    open finds nothing to finish and drops it; a failure of it keeps the
//!    mark in memory as on disk, so later rewrites keep it until an open
//!    drops it). From here on a partition
//!    whose directory is missing at open is offline, never recreated empty.
//!
//! Growing (Kafka's `--alter --partitions`, one metadata change) follows
//! creating: `strata-topics` gets the new count with the `creating` mark,
//! then the new partitions are made, then the mark goes. A failure making
//! them closes and removes the ones made, then writes the old count back.
//!
//! Deleting (Kafka's `LogManager.asyncDelete`):
//! 1. write `strata-topics` with the topic marked `deleted` (a failure here
//!    changes nothing);
//! 2. close every partition (later appends through old handles fail with
//!    `Closed`; a poisoned partition's close error is ignored: its data is going);
//! 3. rename each partition directory to `topic-N.<32 hex>-delete`, fsync its
//!    parent, and remove it (a `-delete` directory a crash leaves behind goes
//!    on the next open);
//! 4. rewrite `strata-topics` without the mark.
//!
//! A crash or failure after step 1 leaves the mark: the next open (or
//! creating the topic again) removes the directories that remain, so a
//! deleted topic never comes back, neither with its data nor empty.
//!
//! Readers keep the `Bytes` they hold: mappings outlive the files.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;

use crate::config::LogConfig;
use crate::format::file_name::{parse_partition_dir_name, partition_dir_name};
use crate::io::file;
use crate::{Error, Result};

use super::topic_name::{self, CLUSTER_METADATA_TOPIC, MAX_PARTITIONS};
use super::{Store, Topic};

/// `topic-N.<32 hex>-delete`, capped at 255 bytes by shortening the topic part.
fn deleted_dir_name(topic: &str, partition: i32) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(topic.as_bytes());
    h.write_i32(partition);
    let a = h.finish();
    h.write_u64(a);
    let suffix = format!(".{:016x}{:016x}-delete", a, h.finish());
    let mut name = partition_dir_name(topic, partition);
    let keep = 255usize.saturating_sub(suffix.len());
    name.truncate(keep);
    name + &suffix
}

/// Refuses a partition count outside `1..=MAX_PARTITIONS`.
fn check_count(partitions: i32) -> Result<()> {
    if (1..=MAX_PARTITIONS).contains(&partitions) {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "a topic has from 1 to {MAX_PARTITIONS} partitions, not {partitions}"
        )))
    }
}

impl Store {
    /// Creates `topic` with `partitions` partitions and topic-level config
    /// overrides (Kafka's names, e.g. `retention.ms`). See the module doc for
    /// the steps.
    ///
    /// # Errors
    /// [`Error::InvalidTopic`] for an illegal, reserved or colliding name,
    /// [`Error::TopicExists`], [`Error::InvalidConfig`] for a bad override,
    /// [`Error::InvalidRequest`] for a partition count outside
    /// `1..=`[`MAX_PARTITIONS`]; I/O failures, after which the topic does not exist
    /// (a full disk is the retriable [`Error::NoSpace`]: the same call succeeds once
    /// space is freed).
    pub fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        overrides: &BTreeMap<String, String>,
    ) -> Result<()> {
        // `__consumer_offsets` is created by a commit, under the groups' lock.
        let created = if topic == super::OFFSETS_TOPIC {
            self.create_topic_dirs_and_meta(topic, partitions, overrides)
        } else {
            self.groups().then_forget_offsets(topic, "creating", || {
                self.create_topic_dirs_and_meta(topic, partitions, overrides)
            })
        };
        created.map_err(Error::into_no_space)
    }

    /// [`create_topic`](Self::create_topic) but for the groups' offsets.
    fn create_topic_dirs_and_meta(
        &self,
        topic: &str,
        partitions: i32,
        overrides: &BTreeMap<String, String>,
    ) -> Result<()> {
        let _admin = self.admin()?;
        topic_name::validate(topic)?;
        if topic == CLUSTER_METADATA_TOPIC {
            return Err(Error::InvalidTopic {
                name: topic.to_owned(),
                reason: "reserved for Kafka's KRaft metadata log".into(),
            });
        }
        check_count(partitions)?;
        {
            let topics = self.inner.topics.read();
            if topics.contains_key(topic) {
                return Err(Error::TopicExists { topic: topic.to_owned() });
            }
            if let Some(other) = topics.keys().find(|t| topic_name::collides(t, topic)) {
                return Err(Error::InvalidTopic {
                    name: topic.to_owned(),
                    reason: format!(
                        "collides with existing topic {other} ('.' and '_' are treated alike)"
                    ),
                });
            }
        }
        LogConfig::resolve(&self.inner.config, overrides)?;
        // A deletion that did not finish leaves directories a new topic must not adopt.
        if self.inner.deleted.lock().contains(topic) {
            self.remove_topic_dirs(topic)?;
        }
        let count = usize::try_from(partitions).unwrap_or(0);
        self.inner.topics.write().insert(
            topic.to_owned(),
            Topic { overrides: overrides.clone(), partitions: vec![None; count] },
        );
        let was_deleted = self.inner.deleted.lock().remove(topic);
        self.inner.creating.lock().insert(topic.to_owned());
        // Step 1: the commit point.
        self.persist_meta_or_undo(|| {
            self.inner.creating.lock().remove(topic);
            self.inner.topics.write().remove(topic);
            if was_deleted {
                self.inner.deleted.lock().insert(topic.to_owned());
            }
        })?;
        // Step 2.
        let made =
            self.ensure_partitions(topic, partitions).and_then(|()| self.settle_topic_id(topic));
        if let Err(e) = made {
            // Undo: the topic never existed. If even that fails, the next open
            // finishes the creation from `strata-topics`.
            for (_, log) in self.logs(Some(topic)) {
                let _ = log.close();
            }
            self.inner.topics.write().remove(topic);
            self.inner.creating.lock().remove(topic);
            self.inner.deleted.lock().insert(topic.to_owned());
            if self.persist_meta().is_ok() && self.remove_topic_dirs(topic).is_ok() {
                self.inner.deleted.lock().remove(topic);
                let _ = self.persist_meta();
            }
            return Err(e);
        }
        // Step 4. The topic is whole: a failure here leaves the mark, which
        // the next open drops, having nothing left to create. The mark goes
        // back in memory too (and into any copy the failed write reached),
        // so a later write of `strata-topics` keeps it: the next open then
        // finds what it would find right after this failure.
        self.inner.creating.lock().remove(topic);
        let _ = self.persist_meta_or_undo(|| {
            self.inner.creating.lock().insert(topic.to_owned());
        });
        Ok(())
    }

    /// Renames every directory of `topic` in the log directories to a
    /// `-delete` name and removes it. Returns an error if a directory could
    /// not be searched or renamed (the `deleted` mark then stays).
    fn remove_topic_dirs(&self, topic: &str) -> Result<()> {
        self.remove_partition_dirs(topic, 0)
    }

    /// [`remove_topic_dirs`](Self::remove_topic_dirs) for the partitions
    /// numbered `from` and up. Only a whole topic's removal (`from` 0) stops
    /// at an offline log directory: a growth's undo searches every one (new
    /// partitions may be placed in any).
    fn remove_partition_dirs(&self, topic: &str, from: i32) -> Result<()> {
        let mut renamed = Vec::new();
        for dir in &self.inner.dirs {
            if from == 0 && self.inner.offline_dirs.iter().any(|(p, _)| *p == dir.path) {
                return Err(Error::LogDirOffline {
                    path: dir.path.clone(),
                    cause: format!("it may hold partitions of the deleted topic {topic}"),
                });
            }
            for sub in file::read_dir(&dir.path)? {
                let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let Some((t, p)) = parse_partition_dir_name(name) else { continue };
                if t != topic
                    || p < from
                    || partition_dir_name(t, p) != name
                    || !file::is_dir(&sub)?
                {
                    continue;
                }
                let target = dir.path.join(deleted_dir_name(t, p));
                file::rename(&sub, &target)?;
                renamed.push(target);
            }
        }
        for dir in renamed {
            // A failure here is finished on the next open (`-delete` directories go).
            let _ = file::remove_dir_all(&dir);
        }
        Ok(())
    }

    /// Grows `topic` to `partitions` partitions. Partitions only grow:
    /// asking for the same or fewer is refused, as Kafka does.
    ///
    /// Kafka commits a partition-count increase as one metadata change: the
    /// topic has the old count or the new one. So, as in creating (module
    /// doc), `strata-topics` first gets the new count with a `creating`
    /// mark (a crash from there reopens to the new count, the missing
    /// partitions made), then the partitions are made, then the mark goes.
    /// A failure making them closes and removes the ones this call made and
    /// rewrites the old count: the topic is as it was, open and reopened.
    ///
    /// `__consumer_offsets` keeps the count it was created with: groups are
    /// placed over it by a hash of their id modulo the count, so a new count
    /// would write a group's later commits to another partition than its
    /// earlier ones, and the next open could serve an earlier one. Kafka's
    /// coordinator places groups over the count it read at startup, and its
    /// `kafka-topics` refused to change an internal topic's count.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when `partitions` is not larger, or for
    /// `__consumer_offsets`; [`Error::UnknownPartition`] for an unknown
    /// topic; I/O failures, after which the topic has its old count.
    pub fn add_partitions(&self, topic: &str, partitions: i32) -> Result<()> {
        let _admin = self.admin()?;
        let current = self.partition_count(topic)?;
        if topic == super::OFFSETS_TOPIC {
            return Err(Error::InvalidRequest(format!(
                "the partition count of {topic} ({current}) cannot be changed: consumer groups \
                 are placed over it by a hash of their id, and a new count would split a \
                 group's commits over two partitions"
            )));
        }
        check_count(partitions)?;
        if partitions <= current {
            return Err(Error::InvalidRequest(format!(
                "topic {topic} has {current} partitions; the count can only grow, and {partitions} would not be an increase"
            )));
        }
        self.ensure_open()?;
        // A mark an unfinished creation left stays until an open drops it.
        let was_creating = !self.inner.creating.lock().insert(topic.to_owned());
        let unmark = || {
            if !was_creating {
                self.inner.creating.lock().remove(topic);
            }
        };
        // Step 1: the commit point, the new count with the mark.
        let mut topics = self.metas();
        if let Some(t) = topics.get_mut(topic) {
            t.partitions = partitions;
        }
        let deleted = self.inner.deleted.lock().clone();
        let creating = self.inner.creating.lock().clone();
        self.write_meta(&super::meta::Metas { topics, deleted, creating }).inspect_err(|_| {
            unmark();
            // Best effort, as in `persist_meta_or_undo`.
            let _ = self.persist_meta();
        })?;
        // Step 2.
        let made =
            self.ensure_partitions(topic, partitions).and_then(|()| self.settle_topic_id(topic));
        if let Err(e) = made {
            // Undo, directories first: gone before the old count is written,
            // the next open cannot adopt them (it counts a listed topic to
            // its highest partition found). If removing fails, `strata-topics`
            // keeps the new count and the mark: the next open makes the rest.
            let old = usize::try_from(current).unwrap_or(0);
            let logs: Vec<_> = self
                .inner
                .topics
                .write()
                .get_mut(topic)
                .map(|t| t.partitions.drain(old.min(t.partitions.len())..).flatten().collect())
                .unwrap_or_default();
            for p in logs {
                let _ = p.log.close();
            }
            if self.remove_partition_dirs(topic, current).is_ok() {
                unmark();
                let _ = self.persist_meta_or_undo(|| {
                    self.inner.creating.lock().insert(topic.to_owned());
                });
            }
            return Err(e);
        }
        // Step 3: a failure here leaves the mark, which the next open drops.
        unmark();
        let _ = self.persist_meta_or_undo(|| {
            self.inner.creating.lock().insert(topic.to_owned());
        });
        Ok(())
    }

    /// Deletes `topic` and all its data (see the module doc for the steps).
    /// Once `strata-topics` records the deletion the topic is gone; a later
    /// failure (closing, removing directories) is reported in
    /// [`background_errors`](Self::background_errors) and finished on the next open.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic; a failure to write
    /// `strata-topics`, after which nothing has changed.
    pub fn delete_topic(&self, topic: &str) -> Result<()> {
        self.groups()
            .then_forget_offsets(topic, "deleting", || self.delete_topic_dirs_and_meta(topic))
    }

    /// [`delete_topic`](Self::delete_topic) but for the groups' offsets.
    fn delete_topic_dirs_and_meta(&self, topic: &str) -> Result<()> {
        let _admin = self.admin()?;
        self.partition_count(topic)?;
        let logs = self.logs(Some(topic));
        // Step 1: the commit point.
        let Some(previous) = self.inner.topics.write().remove(topic) else {
            return Err(Error::UnknownPartition { topic: topic.to_owned(), partition: -1 });
        };
        self.inner.deleted.lock().insert(topic.to_owned());
        self.persist_meta_or_undo(|| {
            self.inner.deleted.lock().remove(topic);
            self.inner.topics.write().insert(topic.to_owned(), previous);
        })?;
        self.inner.offline_partitions.write().retain(|(t, _), _| t != topic);
        // Steps 2 to 5. The deletion is committed: a failure from here on is
        // finished by the next open (or by creating the topic again).
        let finish = (|| {
            for (_, log) in &logs {
                // The data is going: a poisoned log's close error (it is
                // closed all the same) must not leave the other partitions
                // open or the directories in place.
                let _ = log.close();
            }
            self.write_checkpoints()?;
            self.remove_topic_dirs(topic)?;
            self.inner.deleted.lock().remove(topic);
            self.persist_meta().inspect_err(|_| {
                self.inner.deleted.lock().insert(topic.to_owned());
            })
        })();
        self.record(
            super::BackgroundTask::TopicDeletion,
            finish.map_err(|e| {
                Error::InvalidRequest(format!(
                    "deleting topic {topic}: {e}; its directories are removed on the next open"
                ))
            }),
        );
        Ok(())
    }

    /// Log directories that failed at open, with why. Their partitions are
    /// offline; everything else works.
    #[must_use]
    pub fn offline_dirs(&self) -> &[(PathBuf, String)] {
        &self.inner.offline_dirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_dir_names_are_kafkas_shape_and_capped() {
        let n = deleted_dir_name("orders", 3);
        assert!(
            n.starts_with("orders-3.")
                && n.ends_with("-delete")
                && n.len() == "orders-3.".len() + 32 + 7,
            "{n}"
        );
        assert!(deleted_dir_name(&"t".repeat(249), 12345).len() <= 255);
        assert!(super::super::load::is_deleted_dir(&n));
    }
}
