//! A partition lives in one log directory. Finding it in two (a disk moved
//! back after its partitions were re-created elsewhere, or a copy left by
//! hand) is refused at open, before anything is loaded or changed, as Kafka's
//! `LogManager` refuses to start ("Duplicate log directories ... are found in
//! both ..."): serving either copy would hide or fork the other.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::format::file_name::parse_partition_dir_name;
use crate::io::file;
use crate::{Error, Result};

use super::topic_name;

/// [`Error::DuplicatePartition`] for the first partition directory found in
/// two of `dirs`. A directory that cannot be listed is skipped here: loading
/// takes it offline with its own error.
pub(super) fn refuse_duplicate_partitions(dirs: &[PathBuf]) -> Result<()> {
    let mut seen: BTreeMap<(String, i32), PathBuf> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = file::read_dir(dir) else { continue };
        for sub in entries {
            let Some(name) = sub.file_name().and_then(|n| n.to_str()) else { continue };
            let Some((topic, partition)) = parse_partition_dir_name(name) else { continue };
            if topic_name::validate(topic).is_err() || !file::is_dir(&sub).unwrap_or(false) {
                continue;
            }
            if let Some(first) = seen.insert((topic.to_owned(), partition), sub.clone()) {
                return Err(Error::DuplicatePartition {
                    partition: name.to_owned(),
                    first,
                    second: sub,
                });
            }
        }
    }
    Ok(())
}
