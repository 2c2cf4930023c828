//! The value types of topic keys: [`CleanupPolicy`], [`Durability`],
//! [`TopicCompression`].
//!
//! The config layer imports in one direction: `kinds` (these types) <-
//! `value` (parsing and validators) <- `keys` (the table of every key) <-
//! `topic` ([`LogConfig`](super::LogConfig): resolve, describe) <- `store`
//! ([`StoreConfig`](super::StoreConfig): `server.properties`). Their
//! `Display` is their config text, so it lives with the parsing in `value`.

use crate::format::Compression;

/// `cleanup.policy`: what happens to a partition's old segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    /// Retention deletes segments past `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// The cleaner keeps only the latest record of each key.
    pub compact: bool,
}

impl CleanupPolicy {
    /// `delete` (Kafka's default).
    pub const DELETE: CleanupPolicy = CleanupPolicy { delete: true, compact: false };
    /// `compact`.
    pub const COMPACT: CleanupPolicy = CleanupPolicy { delete: false, compact: true };
    /// `compact,delete`: compaction plus time and size retention.
    pub const COMPACT_DELETE: CleanupPolicy = CleanupPolicy { delete: true, compact: true };

    /// The validator of `cleanup.policy`: at least one policy.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if self.delete || self.compact {
            Ok(())
        } else {
            Err("must list delete, compact or both".to_owned())
        }
    }
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy::DELETE
    }
}

/// `strata.durability`: what an acknowledged append promises about the disk.
///
/// Whatever the class, a crash never serves a torn record and the log
/// reopens to a prefix holding every record that was synced; the classes
/// differ in which acknowledged records that prefix is sure to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// `page_cache`: an append returns once its batch is in the page cache
    /// (Kafka's behaviour). It is on disk after the next sync: by
    /// `flush.messages` / `flush.ms` when set, by the pass a roll runs for
    /// the sealed segment, by an explicit flush or at close. A power loss
    /// can lose acknowledged records of the active segment; a process crash
    /// (the kernel survives) loses none.
    #[default]
    PageCache,
    /// `interval`: as `page_cache`, and the store syncs the partition at
    /// least every `flush.ms` (1000 ms when `flush.ms` is not set), so a
    /// power loss loses at most about that window of acknowledged records.
    Interval,
    /// `sync`: an append returns only once its batch (and every batch
    /// before it) is fsynced, with the directory entries of new segments.
    /// A power loss loses no acknowledged record. Appends to one partition
    /// that arrive while its sync pass runs share the next one (group
    /// commit), run on the appending threads; partitions sync in parallel.
    Sync,
}

impl Durability {
    /// The `strata.durability` text of the class.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Durability::PageCache => "page_cache",
            Durability::Interval => "interval",
            Durability::Sync => "sync",
        }
    }
}

/// `compression.type`: the codec a topic stores batches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TopicCompression {
    /// `producer`: keep each batch's codec as produced (no recompression).
    #[default]
    Producer,
    /// `uncompressed`: store records uncompressed, decompressing if needed.
    Uncompressed,
    /// `gzip`, `snappy`, `lz4` or `zstd`: recompress batches with another
    /// codec. `Codec(Compression::None)` means the same as `Uncompressed`.
    Codec(Compression),
}

impl TopicCompression {
    /// The codec a batch produced with `producer_codec` is stored with.
    #[must_use]
    pub fn target(self, producer_codec: Compression) -> Compression {
        match self {
            TopicCompression::Producer => producer_codec,
            TopicCompression::Uncompressed => Compression::None,
            TopicCompression::Codec(codec) => codec,
        }
    }
}
