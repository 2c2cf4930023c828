//! Topic lifecycle beyond creation: growing the partition count and deleting
//! a topic (Kafka's `kafka-topics --alter` / `--delete`).
//!
//! Deleting, in order (Kafka's `LogManager.asyncDelete`):
//! 1. close every partition (later appends through old handles fail with `Closed`);
//! 2. rename each partition directory to `topic-N.<32 hex>-delete` and fsync its parent;
//! 3. forget the topic and rewrite `strata-topics`;
//! 4. remove the renamed directories — now, and on the next open for any a
//!    crash left behind.
//!
//! Readers keep the `Bytes` they hold: mappings outlive the files.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use crate::format::file_name::partition_dir_name;
use crate::io::file;
use crate::{Error, Result};

use super::Store;

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

impl Store {
    /// Grows `topic` to `partitions` partitions. Partitions only grow:
    /// asking for the same or fewer is refused, as Kafka does.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when `partitions` is not larger,
    /// [`Error::UnknownPartition`] for an unknown topic.
    pub fn add_partitions(&self, topic: &str, partitions: i32) -> Result<()> {
        self.ensure_open()?;
        let _admin = self.inner.admin.lock();
        let current = self.partition_count(topic)?;
        if partitions <= current {
            return Err(Error::InvalidRequest(format!(
                "topic {topic} has {current} partitions; the count can only grow, and {partitions} would not be an increase"
            )));
        }
        self.ensure_partitions(topic, partitions)?;
        self.persist_meta()
    }

    /// Deletes `topic` and all its data (see the module doc for the steps).
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an unknown topic; I/O failures.
    pub fn delete_topic(&self, topic: &str) -> Result<()> {
        self.ensure_open()?;
        let _admin = self.inner.admin.lock();
        self.partition_count(topic)?;
        let logs = self.logs(Some(topic));
        let mut renamed: Vec<PathBuf> = Vec::new();
        for (_, log) in &logs {
            log.close()?;
            let dir = log.dir().to_path_buf();
            let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
            let target = parent.join(deleted_dir_name(log.topic(), log.partition()));
            file::rename(&dir, &target)?;
            renamed.push(target);
        }
        self.inner.topics.write().remove(topic);
        self.persist_meta()?;
        self.write_checkpoints()?;
        for dir in renamed {
            // A failure here is finished on the next open.
            let _ = file::remove_dir_all(&dir);
        }
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
