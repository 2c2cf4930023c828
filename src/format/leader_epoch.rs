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

fn bad(reason: &'static str, line: usize) -> FormatError {
    FormatError::InvalidValue { field: "leader-epoch-checkpoint", value: line as i64, reason }
}

/// Reads the file's entries.
///
/// # Errors
/// Not UTF-8, another version, a malformed line (the error's value is its
/// 1-based line number), a count that does not match the lines, or entries
/// out of order or negative.
pub fn decode(bytes: &[u8]) -> FormatResult<Vec<EpochEntry>> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8", 0))?;
    let mut lines = text.lines();
    let Some(version) = lines.next() else { return Ok(Vec::new()) };
    if version.trim().parse::<i32>().ok() != Some(LEADER_EPOCH_CHECKPOINT_VERSION) {
        return Err(bad("version is not 0", 1));
    }
    let Some(count) = lines.next() else { return Ok(Vec::new()) };
    let count: usize = count.trim().parse().map_err(|_| bad("count is not a number", 2))?;
    let mut out: Vec<EpochEntry> = Vec::with_capacity(count.min(1024));
    for (i, line) in lines.by_ref().take(count).enumerate() {
        let n = i + 3;
        let mut f = line.split_whitespace();
        let (Some(epoch), Some(offset), None) = (f.next(), f.next(), f.next()) else {
            return Err(bad("not `<epoch> <startOffset>`", n));
        };
        let epoch: i32 = epoch.parse().map_err(|_| bad("epoch is not a number", n))?;
        let start_offset: i64 = offset.parse().map_err(|_| bad("offset is not a number", n))?;
        if epoch < 0 || start_offset < 0 {
            return Err(bad("negative epoch or offset", n));
        }
        if out.last().is_some_and(|p| p.epoch >= epoch || p.start_offset > start_offset) {
            return Err(bad("entries out of order", n));
        }
        out.push(EpochEntry { epoch, start_offset });
    }
    if out.len() != count || lines.any(|l| !l.trim().is_empty()) {
        return Err(bad("count does not match the entry lines", 2));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_is_kafkas_text_and_reads_back() {
        let e =
            [EpochEntry { epoch: 0, start_offset: 0 }, EpochEntry { epoch: 3, start_offset: 17 }];
        assert_eq!(encode(&e), b"0\n2\n0 0\n3 17\n");
        assert_eq!(decode(&encode(&e)).unwrap(), e);
        assert_eq!(decode(b"").unwrap(), vec![]);
        assert_eq!(decode(b"0\n0\n").unwrap(), vec![]);
    }

    #[test]
    fn damaged_checkpoints_are_refused() {
        assert!(decode(b"1\n0\n").is_err());
        assert!(decode(b"0\n2\n0 0\n").is_err(), "count");
        assert!(decode(b"0\n1\n0 x\n").is_err());
        assert!(decode(b"0\n2\n3 5\n2 9\n").is_err(), "order");
        assert!(decode(b"0\n1\n-1 0\n").is_err());
    }
}
