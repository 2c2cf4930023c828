//! File and directory names of a Kafka log directory.
//!
//! A segment with base offset B is `B.log`, `B.index`, `B.timeindex` (and
//! `B.txnindex`, `B.snapshot`), with B printed as 20 zero-padded decimal
//! digits (Kafka's `LogFileUtils.filenamePrefixFromOffset`). Temporary states
//! append a suffix: `.cleaned`, `.swap`, `.deleted`. A partition directory is
//! `topic-N` (Kafka's `LocalLog.logDirName`).

/// `.log`: record batches.
pub const LOG_SUFFIX: &str = ".log";
/// `.index`: offset index.
pub const INDEX_SUFFIX: &str = ".index";
/// `.timeindex`: time index.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// `.txnindex`: aborted-transaction index.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// `.snapshot`: producer-state snapshot.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// Scheduled for asynchronous deletion.
pub const DELETED_SUFFIX: &str = ".deleted";
/// Output of an in-progress compaction.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// A finished compaction output being swapped in.
pub const SWAP_SUFFIX: &str = ".swap";

/// The kind of a segment-related file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `.log`
    Log,
    /// `.index`
    Index,
    /// `.timeindex`
    TimeIndex,
    /// `.txnindex`
    TxnIndex,
    /// `.snapshot`
    Snapshot,
}

impl FileKind {
    /// The file suffix of this kind.
    #[must_use]
    pub fn suffix(self) -> &'static str {
        match self {
            FileKind::Log => LOG_SUFFIX,
            FileKind::Index => INDEX_SUFFIX,
            FileKind::TimeIndex => TIME_INDEX_SUFFIX,
            FileKind::TxnIndex => TXN_INDEX_SUFFIX,
            FileKind::Snapshot => SNAPSHOT_SUFFIX,
        }
    }
}

/// A temporary state suffix after the kind suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TempSuffix {
    /// `.deleted`
    Deleted,
    /// `.cleaned`
    Cleaned,
    /// `.swap`
    Swap,
}

impl TempSuffix {
    /// The suffix text.
    #[must_use]
    pub fn suffix(self) -> &'static str {
        match self {
            TempSuffix::Deleted => DELETED_SUFFIX,
            TempSuffix::Cleaned => CLEANED_SUFFIX,
            TempSuffix::Swap => SWAP_SUFFIX,
        }
    }
}

/// `offset` as Kafka's 20-digit file-name prefix.
#[must_use]
pub fn offset_prefix(offset: i64) -> String {
    format!("{offset:020}")
}

/// The file name of a segment file, e.g. `00000000000000000042.index`.
#[must_use]
pub fn segment_file_name(base_offset: i64, kind: FileKind) -> String {
    format!("{base_offset:020}{}", kind.suffix())
}

/// A parsed segment-related file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedFileName {
    /// The offset in the name.
    pub offset: i64,
    /// The kind.
    pub kind: FileKind,
    /// A temporary suffix, if any.
    pub temp: Option<TempSuffix>,
}

/// Parses `00000000000000000042.log[.swap]`-style names. Returns `None` for
/// anything else (checkpoint files, `partition.metadata`, ...).
#[must_use]
pub fn parse_file_name(name: &str) -> Option<ParsedFileName> {
    let (rest, temp) = [TempSuffix::Deleted, TempSuffix::Cleaned, TempSuffix::Swap]
        .into_iter()
        .find_map(|t| name.strip_suffix(t.suffix()).map(|r| (r, Some(t))))
        .unwrap_or((name, None));
    let (digits, kind) = [
        FileKind::Log,
        FileKind::Index,
        FileKind::TimeIndex,
        FileKind::TxnIndex,
        FileKind::Snapshot,
    ]
    .into_iter()
    .find_map(|k| rest.strip_suffix(k.suffix()).map(|d| (d, k)))?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset = digits.parse().ok()?;
    Some(ParsedFileName { offset, kind, temp })
}

/// The directory name of partition `partition` of `topic`.
#[must_use]
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Splits `topic-N` at the last `-` (Kafka's `parseTopicPartitionName`).
/// Returns `None` when the name is not a live partition directory (no `-`, a
/// non-numeric or negative partition, an empty topic, or a `-delete`,
/// `-future` or `-stray` suffix).
#[must_use]
pub fn parse_partition_dir_name(name: &str) -> Option<(&str, i32)> {
    if ["-delete", "-future", "-stray"].iter().any(|s| name.ends_with(s)) {
        return None;
    }
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic, partition.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_have_twenty_digits() {
        assert_eq!(segment_file_name(368769, FileKind::Log), "00000000000000368769.log");
        assert_eq!(segment_file_name(0, FileKind::TimeIndex), "00000000000000000000.timeindex");
    }

    #[test]
    fn names_parse_back_with_their_temp_suffix() {
        let p = parse_file_name("00000000000000000042.index.swap").unwrap();
        assert_eq!((p.offset, p.kind, p.temp), (42, FileKind::Index, Some(TempSuffix::Swap)));
        assert_eq!(parse_file_name("00000000000000000042.log").unwrap().temp, None);
        assert!(parse_file_name("42.log").is_none());
        assert!(parse_file_name("leader-epoch-checkpoint").is_none());
    }

    #[test]
    fn partition_dirs_split_at_the_last_dash() {
        assert_eq!(parse_partition_dir_name("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(
            parse_partition_dir_name("__consumer_offsets-0"),
            Some(("__consumer_offsets", 0))
        );
        assert_eq!(parse_partition_dir_name("topic"), None);
        assert_eq!(parse_partition_dir_name("t-0.abc-delete"), None);
        assert_eq!(parse_partition_dir_name("-3"), None);
    }
}
