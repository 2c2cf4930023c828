//! Kafka's offset checkpoint files, byte for byte (`CheckpointFile.java`,
//! `OffsetCheckpointFile.java`).
//!
//! UTF-8 text, one item per line, `\n` line ends:
//!
//! | line      | content                         | meaning                          |
//! |-----------|---------------------------------|----------------------------------|
//! | 1         | `0`                             | format version                   |
//! | 2         | `<count>`                       | number of entry lines that follow |
//! | 3 ..      | `<topic> <partition> <offset>`  | one partition's offset           |
//!
//! ```text
//! 0
//! 2
//! orders 0 1520
//! orders 1 1488
//! ```
//!
//! Fields are separated by single spaces and read by splitting on
//! whitespace; topic names cannot contain whitespace. Entries are written
//! in (topic, partition) order; Kafka writes them in hash-map order and
//! reads any order, so the two are interchangeable.
//!
//! Reading, as Kafka's `CheckpointReadBuffer`: a missing or empty file, or
//! one holding only the version line, has no entries; another version, a
//! malformed line or a count that does not match the entry lines is
//! [`Error::CorruptFile`] naming the line. So is an entry repeated for the
//! same partition (Kafka keeps the last; no writer repeats one), and a last line without
//! its line end (Kafka reads it; every writer ends it, so a file cut short
//! mid-line, which could hold a prefix of the offset written, is refused).
//! A topic name that breaks Kafka's rules or
//! a negative partition is corrupt too. Unlike Kafka, reading never creates the
//! file.
//!
//! Writing replaces the file atomically ([`file::write_atomic`]: `<name>.tmp`,
//! write, fsync, rename, fsync the directory), so after a crash the file
//! holds the old or the new entries, never a mix.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

use crate::io::file;
use crate::{Error, Result};

/// Per log directory: the offset up to which each partition is flushed.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Per log directory: each partition's log start offset, for partitions
/// whose log start offset is above 0 (Kafka writes only those above their
/// first segment's base offset; see `Store::checkpoint_maps`).
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Per log directory: each compacted partition's first dirty offset.
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Per log directory: the clean-shutdown marker (JSON
/// `{"version":0,"brokerEpoch":<long>}`; older Kafka wrote it empty). Only
/// its presence matters. Not a checkpoint, but written beside them.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// The only version of the offset checkpoint format.
pub const VERSION: i32 = 0;

/// The longest checkpoint read: 64 MiB, a line for each of over 230,000
/// partitions of the longest names Kafka allows (249 bytes) in one log
/// directory, or over a million of 50-byte lines (Kafka writes a line per
/// partition of the directory). A longer file (a planted sparse one costs
/// no disk) is refused unread, naming it.
pub const MAX_FILE_LEN: u64 = 64 << 20;

/// Offsets by (topic, partition).
pub type Offsets = BTreeMap<(String, i32), i64>;

/// Reads an offset checkpoint file.
///
/// # Errors
/// [`Error::CorruptFile`] for bytes that are not a version-0 checkpoint (see
/// the module docs); [`Error::Io`] if the file exists but cannot be read.
pub fn read_offsets(path: &Path) -> Result<Offsets> {
    let bytes = match file::read_limited(path, MAX_FILE_LEN) {
        Ok(bytes) => bytes,
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Ok(Offsets::new());
        }
        Err(e) => return Err(e),
    };
    let corrupt = |reason: String| Error::CorruptFile { path: path.to_path_buf(), reason };
    let text = String::from_utf8(bytes).map_err(|e| corrupt(format!("not UTF-8: {e}")))?;
    decode(&text).map_err(corrupt)
}

/// Replaces an offset checkpoint file atomically with `offsets`, unless it
/// already holds exactly them (then nothing is written or synced).
///
/// # Errors
/// [`Error::InvalidTopic`] for a topic name that the format cannot hold
/// (empty or containing whitespace), before anything is written;
/// [`Error::Io`] if writing, syncing or renaming fails (the old file is
/// then intact).
pub fn write_offsets(path: &Path, offsets: &Offsets) -> Result<()> {
    for (topic, _) in offsets.keys() {
        if topic.is_empty() || topic.contains(char::is_whitespace) {
            return Err(Error::InvalidTopic {
                name: topic.clone(),
                reason: "a checkpoint file cannot hold an empty name or one with whitespace"
                    .to_owned(),
            });
        }
    }
    // A checkpoint that already says this stays as it is (its writer synced it).
    // A full disk is the retriable `NoSpace`: the old file stays whole (the
    // new bytes go to `.tmp`), so the next checkpoint simply writes it again.
    file::write_atomic_if_changed(path, encode(offsets).as_bytes())
        .map(drop)
        .map_err(Error::into_no_space)
}

/// The text of a checkpoint holding `offsets` (pure; see [`write_offsets`]).
#[must_use]
pub fn encode(offsets: &Offsets) -> String {
    let mut text = format!("{VERSION}\n{}\n", offsets.len());
    for ((topic, partition), offset) in offsets {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Parses checkpoint text (pure; see [`read_offsets`]).
///
/// # Errors
/// What is wrong, naming the 1-based line.
pub fn decode(text: &str) -> std::result::Result<Offsets, String> {
    // Every writer ends each line: a last line without its end was cut short
    // (a torn copy) and may be a prefix of the number written, so it is not read.
    if !text.is_empty() && !text.ends_with('\n') {
        let line = text.lines().count();
        return Err(format!(
            "line {line}: cut short (no line end after {:?})",
            text.lines().last().unwrap_or_default()
        ));
    }
    let mut lines = text.lines();
    let Some(version) = lines.next() else { return Ok(Offsets::new()) };
    let version: i32 = version
        .parse()
        .map_err(|_| format!("line 1: expected the version number, found {version:?}"))?;
    if version != VERSION {
        return Err(format!(
            "line 1: unsupported checkpoint version {version} (expected {VERSION})"
        ));
    }
    let Some(count) = lines.next() else { return Ok(Offsets::new()) };
    let expected: i32 =
        count.parse().map_err(|_| format!("line 2: expected the entry count, found {count:?}"))?;

    let mut offsets = Offsets::new();
    let mut found: i64 = 0;
    for (index, line) in lines.enumerate() {
        let line_number = index + 3;
        let (topic, partition, offset) = parse_entry(line).ok_or_else(|| {
            format!("line {line_number}: expected `<topic> <partition> <offset>`, found {line:?}")
        })?;
        // Names and numbers from disk obey the rules of those a caller gives.
        super::topic_name::validate(topic).map_err(|e| format!("line {line_number}: {e}"))?;
        if !(0..super::topic_name::MAX_PARTITIONS).contains(&partition) {
            return Err(format!(
                "line {line_number}: partition {partition} of {topic} is out of range"
            ));
        }
        // Every writer (Kafka's from a map) names a partition once: a repeat is damage.
        if offsets.insert((topic.to_owned(), partition), offset).is_some() {
            return Err(format!(
                "line {line_number}: partition {partition} of {topic} is named twice"
            ));
        }
        found += 1;
    }
    if found != i64::from(expected) {
        return Err(format!("line 2: expected {expected} entries, found {found}"));
    }
    Ok(offsets)
}

/// One entry line: exactly three whitespace-separated fields.
fn parse_entry(line: &str) -> Option<(&str, i32, i64)> {
    let mut fields = line.split_whitespace();
    let (topic, partition, offset) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() {
        return None;
    }
    Some((topic, partition.parse().ok()?, offset.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn offsets(entries: &[(&str, i32, i64)]) -> Offsets {
        entries.iter().map(|&(t, p, o)| ((t.to_owned(), p), o)).collect()
    }

    fn corrupt_reason(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        std::fs::write(&path, text).unwrap();
        match read_offsets(&path) {
            Err(Error::CorruptFile { path: p, reason }) => {
                assert_eq!(p, path);
                reason
            }
            other => panic!("expected CorruptFile for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn checkpoint_round_trips_in_kafkas_text_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        let written = offsets(&[("orders", 1, 1488), ("orders", 0, 1520), ("a.b-c_d", 7, 0)]);
        write_offsets(&path, &written).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0\n3\na.b-c_d 7 0\norders 0 1520\norders 1 1488\n"
        );
        assert_eq!(read_offsets(&path).unwrap(), written);
        assert!(!file::with_suffix(&path, ".tmp").exists());

        write_offsets(&path, &Offsets::new()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n0\n");
        assert_eq!(read_offsets(&path).unwrap(), Offsets::new());
    }

    #[test]
    fn checkpoint_reads_any_order_and_kafkas_whitespace() {
        let text = "0\r\n2\r\nt\t1   9\r\nt 0 -1\r\n";
        assert_eq!(decode(text).unwrap(), offsets(&[("t", 0, -1), ("t", 1, 9)]));
    }

    #[test]
    fn checkpoint_with_wrong_count_is_corrupt() {
        let reason = corrupt_reason("0\n3\nt 0 5\nt 1 6\n");
        assert!(reason.contains("expected 3 entries, found 2"), "{reason}");
        let reason = corrupt_reason("0\n1\nt 0 5\nt 1 6\n");
        assert!(reason.contains("expected 1 entries, found 2"), "{reason}");
    }

    #[test]
    fn checkpoint_with_a_malformed_line_is_corrupt_naming_the_line() {
        for (text, line) in [
            ("0\n2\nt 0 5\nt 1\n", "line 4"),
            ("0\n1\nt x 5\n", "line 3"),
            ("0\n1\nt 0 5 extra\n", "line 3"),
            ("0\n2\nt 0 5\n\n", "line 4"),
            ("0\nmany\n", "line 2"),
            ("0\n1\n../escaped 0 5\n", "line 3"),
            ("0\n1\nt -1 5\n", "line 3"),
            ("zero\n", "line 1"),
            ("0\n1\nt 0 1", "line 3"),
            ("0", "line 1"),
            ("0\n1\nt 0 5\nt 0 6\n", "line 4"),
        ] {
            let reason = corrupt_reason(text);
            assert!(reason.starts_with(line), "{text:?}: {reason}");
        }
    }

    #[test]
    fn checkpoint_of_another_version_is_corrupt() {
        let reason = corrupt_reason("1\n0\n");
        assert!(reason.contains("unsupported checkpoint version 1"), "{reason}");
    }

    #[test]
    fn missing_checkpoint_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_START_OFFSET_CHECKPOINT);
        assert_eq!(read_offsets(&path).unwrap(), Offsets::new());
        assert!(!path.exists(), "reading must not create the file");
    }

    #[test]
    fn empty_or_version_only_checkpoint_reads_as_empty() {
        assert_eq!(decode("").unwrap(), Offsets::new());
        assert_eq!(decode("0\n").unwrap(), Offsets::new());
        assert_eq!(decode("0\n0\n").unwrap(), Offsets::new());
    }

    #[test]
    fn topic_names_the_format_cannot_hold_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CLEANER_OFFSET_CHECKPOINT);
        for bad in ["", "a b"] {
            let err = write_offsets(&path, &offsets(&[(bad, 0, 1)])).unwrap_err();
            assert!(matches!(err, Error::InvalidTopic { .. }), "{err:?}");
        }
        assert!(!path.exists());
    }

    /// Every `*-checkpoint` file of the shared real-broker fixtures walked
    /// recursively (never copied): the offset checkpoints parse, and writing
    /// what was read back gives a file that reads the same.
    #[test]
    fn real_broker_checkpoints_read_and_round_trip() {
        let shared = match std::env::var_os("STRATA_SHARED") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        };
        let root = shared.join("fixtures/kafka-broker");
        if !root.is_dir() {
            eprintln!("skipped: no {} (set STRATA_SHARED to the shared dir)", root.display());
            return;
        }
        let mut found = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if path.is_dir() {
                    stack.push(path);
                } else if [
                    RECOVERY_POINT_CHECKPOINT,
                    LOG_START_OFFSET_CHECKPOINT,
                    CLEANER_OFFSET_CHECKPOINT,
                ]
                .contains(&name)
                {
                    found.push(path);
                }
            }
        }
        assert!(
            found.iter().any(|p| p.ends_with(RECOVERY_POINT_CHECKPOINT)),
            "no recovery-point-offset-checkpoint under the fixtures"
        );
        let out = tempfile::tempdir().unwrap();
        let mut entries = 0;
        for path in &found {
            let read = read_offsets(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            entries += read.len();
            let copy = out.path().join("copy");
            write_offsets(&copy, &read).unwrap();
            assert_eq!(read_offsets(&copy).unwrap(), read, "{}", path.display());
        }
        assert!(entries > 0, "the fixtures' checkpoints should hold entries");
        println!("read {} checkpoint files, {entries} entries", found.len());
    }
}
