//! The partition's `partition.metadata` (Kafka's `PartitionMetadataFile`):
//! the topic ID of the topic the directory belongs to. The store assigns
//! one ID per topic and writes it into every partition; a directory without
//! the file (written by an older broker or an older strata) opens as before
//! and gets it from the store.

use crate::format::TopicId;
use crate::format::partition_metadata::{self, PARTITION_METADATA_FILE};
use crate::io::file;
use crate::{Error, Result};

use super::Log;

/// The longest `partition.metadata` read: Kafka's is two short lines (a
/// version and a 22-character topic ID); 64 KiB leaves room for any
/// whitespace a hand edit adds. A longer file is refused unread, naming it.
pub(crate) const MAX_FILE_LEN: u64 = 64 << 10;

impl Log {
    /// The topic ID in this partition's `partition.metadata`, `None` when
    /// the directory has none.
    ///
    /// # Errors
    /// [`Error::CorruptFile`] naming the file when it is not Kafka's format;
    /// I/O failures.
    pub fn topic_id(&self) -> Result<Option<TopicId>> {
        read_topic_id(self.dir())
    }

    /// Writes `partition.metadata` with `id`, crash-safe (a temporary file,
    /// fsynced, renamed over it, the directory fsynced). Writing the ID the
    /// file already holds changes nothing.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when the partition already belongs to
    /// another topic ID (Kafka refuses such a log as inconsistent);
    /// [`Error::ReadOnly`], [`Error::Closed`]; I/O failures.
    pub fn set_topic_id(&self, id: TopicId) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        self.check_open()?;
        match self.topic_id()? {
            Some(current) if current == id => Ok(()),
            Some(current) => Err(Error::InvalidRequest(format!(
                "{}: partition {} has topic ID {current}, not {id}",
                self.dir().join(PARTITION_METADATA_FILE).display(),
                self.name()
            ))),
            None => file::write_atomic(
                &self.dir().join(PARTITION_METADATA_FILE),
                &partition_metadata::encode(id),
            ),
        }
    }
}

/// The topic ID in the `partition.metadata` of partition directory `dir`,
/// `None` when it has none: [`Log::topic_id`] without an open log, so that a
/// store refuses a partition whose file is damaged before its open recovers
/// (and so changes) anything in the directory.
///
/// # Errors
/// As [`Log::topic_id`].
pub(crate) fn read_topic_id(dir: &std::path::Path) -> Result<Option<TopicId>> {
    let path = dir.join(PARTITION_METADATA_FILE);
    if !file::exists(&path)? {
        return Ok(None);
    }
    let bytes = file::read_limited(&path, MAX_FILE_LEN)?;
    partition_metadata::decode(&bytes)
        .map(Some)
        .map_err(|e| Error::CorruptFile { path, reason: e.to_string() })
}

/// A new random topic ID.
pub(crate) fn new_topic_id() -> TopicId {
    loop {
        if let Some(id) = TopicId::from_random(file::random_bytes()) {
            return id;
        }
    }
}
