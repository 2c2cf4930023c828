//! What a directory given to `dump` or `verify` is: a partition directory, a
//! log directory (then its partition directories stand for it), or neither.

use std::path::{Path, PathBuf};

use strata::internals::format::file_name::{parse_file_name, parse_partition_dir_name};

use super::Failure;

/// Files only a log directory holds (a store's with no topic yet is still one).
const LOG_DIR_FILES: [&str; 5] = [
    "recovery-point-offset-checkpoint",
    "log-start-offset-checkpoint",
    "cleaner-offset-checkpoint",
    "replication-offset-checkpoint",
    "meta.properties",
];

/// A directory argument, by what it holds.
pub enum DirKind {
    /// Segment files, or named `TOPIC-N`: one partition.
    Partition,
    /// Partition directories (`TOPIC-N`), in topic then partition order (none for a log
    /// directory without topics).
    Log(Vec<PathBuf>),
    /// Neither: no segment file, no partition directory.
    Neither,
}

/// Sorts `dir` into a [`DirKind`] by its entries' names (nothing is opened).
pub fn classify(dir: &Path) -> Result<DirKind, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::io(format!("cannot list directory {}: {e}", dir.display())))?;
    let mut segments = false;
    let mut log_dir_files = false;
    let mut partitions: Vec<((String, i32), PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else { continue };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Some((topic, partition)) = parse_partition_dir_name(&name) {
                partitions.push(((topic.to_owned(), partition), entry.path()));
            }
        } else if parse_file_name(&name).is_some() {
            segments = true;
        } else if LOG_DIR_FILES.contains(&name.as_str()) {
            log_dir_files = true;
        }
    }
    // `.` or `orders-0/` name themselves only once resolved.
    let named_partition = std::fs::canonicalize(dir).ok().is_some_and(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| parse_partition_dir_name(n).is_some())
    });
    if segments || (named_partition && partitions.is_empty()) {
        return Ok(DirKind::Partition);
    }
    if partitions.is_empty() && !log_dir_files {
        return Ok(DirKind::Neither);
    }
    partitions.sort();
    Ok(DirKind::Log(partitions.into_iter().map(|(_, p)| p).collect()))
}

/// The partition directories `path` stands for: itself, or those of a log
/// directory; anything else is an error naming it.
pub fn partition_dirs(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    match std::fs::metadata(path) {
        Err(e) => return Err(Failure::io(format!("cannot read {}: {e}", path.display()))),
        Ok(m) if !m.is_dir() => {
            return Err(Failure::new(format!("not a partition directory: {}", path.display())));
        }
        Ok(_) => {}
    }
    match classify(path)? {
        DirKind::Partition => Ok(vec![path.to_owned()]),
        DirKind::Log(dirs) => Ok(dirs),
        DirKind::Neither => Err(Failure::new(format!(
            "not a partition directory: {} (no segment files, no TOPIC-N directories)",
            path.display()
        ))),
    }
}
