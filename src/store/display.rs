//! `Display` of the store's reports: one line (or one line per entry) for a
//! service's log or an operator's terminal.

use std::fmt;

use super::{MaintainReport, RecoveryReport, ResourceStats};
use crate::cleaner::CleanerStats;

impl fmt::Display for MaintainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retention deleted {} segments ({} bytes); the cleaner compacted {} partitions \
             (read {} bytes, wrote {} bytes, removed {} records, {} failed); {} partitions \
             flushed, {} skipped as poisoned; {} committed offsets expired",
            self.segments_deleted,
            self.bytes_deleted,
            self.partitions_cleaned,
            self.bytes_read,
            self.bytes_written,
            self.records_removed,
            self.cleaner_failures,
            self.partitions_flushed,
            self.partitions_skipped,
            self.offsets_expired
        )
    }
}

/// One line per cut, after a summary line.
impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.read_only { "would cut" } else { "cut" };
        write!(f, "recovery {verb} {} bytes in {} places", self.bytes(), self.cuts.len())?;
        for (partition, cut) in &self.cuts {
            write!(f, "\n  {partition}: {cut}")?;
        }
        for path in &self.pending_cleanup {
            write!(f, "\n  left to clean up: {}", path.display())?;
        }
        Ok(())
    }
}

impl fmt::Display for ResourceStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} segments open ({} files), {}/{} bytes mapped, {} evictions",
            self.open_segments,
            self.max_open_segments,
            self.open_files,
            self.mapped_bytes,
            self.max_mapped_bytes,
            self.evictions
        )
    }
}

impl fmt::Display for CleanerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dirty ratio {:.3}, {} cleanings (read {} bytes, wrote {} bytes, removed {} records), \
             {} failures",
            self.dirty_ratio,
            self.cleanings,
            self.bytes_read,
            self.bytes_written,
            self.records_removed,
            self.failures
        )?;
        if let Some(e) = &self.last_error {
            write!(f, " (last: {e})")?;
        }
        Ok(())
    }
}
