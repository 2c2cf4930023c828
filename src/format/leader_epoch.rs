//! Kafka's `leader-epoch-checkpoint` file, pure encoding
//! (`LeaderEpochCheckpointFile`, the shared `CheckpointFile` text format).
//!
//! | line  | content                  | meaning                               |
//! |-------|--------------------------|---------------------------------------|
//! | 1     | `0`                      | format version                        |
//! | 2     | `<count>`                | number of entry lines that follow     |
//! | 3 ..  | `<epoch> <startOffset>`  | the first offset written in the epoch |
//!
//! Entries are in ascending epoch (and start offset) order; each line ends
//! with `\n`. An empty file has no entries, as Kafka reads it.

use super::{FormatError, FormatResult};

/// File name in a partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// The only version of the format.
pub const LEADER_EPOCH_CHECKPOINT_VERSION: i32 = 0;

/// One epoch and the first offset its leader wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset written in it.
    pub start_offset: i64,
}

/// The file's bytes for `entries`.
#[must_use]
pub fn encode(entries: &[EpochEntry]) -> Vec<u8> {
    let mut s = format!("{LEADER_EPOCH_CHECKPOINT_VERSION}\n{}\n", entries.len());
    for e in entries {
        s.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
    }
    s.into_bytes()
}

const FILE: &str = LEADER_EPOCH_CHECKPOINT_FILE;

/// Reads the file's entries.
///
/// # Errors
/// Not UTF-8, another version, a malformed line ([`FormatError::BadLine`]
/// names its 1-based number and what it holds), a count that does not match
/// the lines, or entries out of order or negative.
pub fn decode(bytes: &[u8]) -> FormatResult<Vec<EpochEntry>> {
    let text = std::str::from_utf8(bytes).map_err(|_| FormatError::InvalidValue {
        field: FILE,
        value: 0,
        reason: "not UTF-8",
    })?;
    let bad = FormatError::bad_line;
    let mut lines = text.lines();
    let Some(version) = lines.next() else { return Ok(Vec::new()) };
    if version.trim().parse::<i32>().ok() != Some(LEADER_EPOCH_CHECKPOINT_VERSION) {
        return Err(bad(FILE, 1, version, "version is not 0"));
    }
    let Some(count_line) = lines.next() else { return Ok(Vec::new()) };
    let count: usize =
        count_line.trim().parse().map_err(|_| bad(FILE, 2, count_line, "count is not a number"))?;
    let mut out: Vec<EpochEntry> = Vec::with_capacity(count.min(1024));
    for (i, line) in lines.by_ref().take(count).enumerate() {
        let n = i + 3;
        let mut f = line.split_whitespace();
        let (Some(epoch), Some(offset), None) = (f.next(), f.next(), f.next()) else {
            return Err(bad(FILE, n, line, "not `<epoch> <startOffset>`"));
        };
        let epoch: i32 = epoch.parse().map_err(|_| bad(FILE, n, line, "epoch is not a number"))?;
        let start_offset: i64 =
            offset.parse().map_err(|_| bad(FILE, n, line, "offset is not a number"))?;
        if epoch < 0 || start_offset < 0 {
            return Err(bad(FILE, n, line, "negative epoch or offset"));
        }
        if out.last().is_some_and(|p| p.epoch >= epoch || p.start_offset > start_offset) {
            return Err(bad(FILE, n, line, "entries out of order"));
        }
        out.push(EpochEntry { epoch, start_offset });
    }
    if out.len() != count {
        return Err(bad(FILE, 2, count_line, "count is more than the entry lines that follow"));
    }
    if let Some((i, extra)) =
        text.lines().enumerate().skip(count + 2).find(|(_, l)| !l.trim().is_empty())
    {
        return Err(bad(FILE, i + 1, extra, "an entry line past the count"));
    }
    Ok(out)
}
