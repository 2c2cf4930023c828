//! Loading the partitions of every log directory at open, in parallel: each
//! directory on its own thread, each with `num.recovery.threads.per.data.dir`
//! workers (Kafka's `LogManager.loadLogs`). A directory whose loading fails
//! with an I/O error goes offline alone; the others open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::Clock;
use crate::config::{LogConfig, StoreConfig};
use crate::format::file_name::parse_partition_dir_name;
use crate::io::file;
use crate::log::{LoadOptions, LoadReport, Log};
use crate::{Error, Result};

use super::checkpoint::{
    self, CLEAN_SHUTDOWN_FILE, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
};
use super::topic_name;

/// The KRaft metadata log's directory prefix, skipped when loading.
const KRAFT_METADATA_TOPIC: &str = "__cluster_metadata";

/// One partition loaded from disk.
pub(super) struct Loaded {
    pub topic: String,
    pub partition: i32,
    pub log: Log,
    pub report: LoadReport,
}

/// Reads a checkpoint; a corrupt one counts as empty (every partition then
/// recovers from 0, as Kafka does), but an I/O failure is an error.
fn read_checkpoint_or_reset(path: &Path) -> Result<checkpoint::Offsets> {
    match checkpoint::read_offsets(path) {
        Err(Error::CorruptFile { .. }) => Ok(checkpoint::Offsets::new()),
        other => other,
    }
}

/// Whether a directory name marks a topic deleted but not yet removed.
pub(super) fn is_deleted_dir(name: &str) -> bool {
    name.ends_with("-delete")
}

/// Loads every partition of `dir`. Removes directories of deleted topics.
pub(super) fn load_dir(
    dir: &Path,
    config: &StoreConfig,
    overrides: &BTreeMap<String, BTreeMap<String, String>>,
    clock: &Arc<dyn Clock>,
    read_only: bool,
) -> Result<Vec<Loaded>> {
    // Kafka deletes the marker before loading, so a crash while loading counts as unclean.
    let marker = dir.join(CLEAN_SHUTDOWN_FILE);
    let clean = file::exists(&marker)?;
    if clean && !read_only {
        file::remove_file(&marker)?;
        file::fsync_dir(dir)?;
    }
    let recovery_points = read_checkpoint_or_reset(&dir.join(RECOVERY_POINT_CHECKPOINT))?;
    let start_offsets = read_checkpoint_or_reset(&dir.join(LOG_START_OFFSET_CHECKPOINT))?;
    let cleaner_offsets = read_checkpoint_or_reset(&dir.join(CLEANER_OFFSET_CHECKPOINT))?;
    let mut jobs: Vec<(PathBuf, String, i32)> = Vec::new();
    for sub in file::read_dir(dir)? {
        let Some(name) = sub.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !file::is_dir(&sub)? {
            continue;
        }
        if is_deleted_dir(&name) {
            if !read_only {
                file::remove_dir_all(&sub)?;
            }
            continue;
        }
        if let Some((topic, partition)) = parse_partition_dir_name(&name) {
            // KRaft's metadata log lives beside the topics but is not one (Kafka skips it too).
            if topic_name::validate(topic).is_ok() && topic != KRAFT_METADATA_TOPIC {
                jobs.push((sub.clone(), topic.to_owned(), partition));
            }
        }
    }
    let queue = Mutex::new(jobs);
    let results = Mutex::new(Vec::new());
    let threads = config.num_recovery_threads_per_data_dir.max(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some((path, topic, partition)) = queue.lock().pop() {
                    let key = (topic.clone(), partition);
                    let loaded = LogConfig::resolve(
                        config,
                        &overrides
                            .get(&topic)
                            .cloned()
                            .unwrap_or_else(|| super::groups::adopted_overrides(&topic)),
                    )
                    .and_then(|cfg| {
                        let options = LoadOptions {
                            clean_shutdown: clean,
                            recovery_point: recovery_points.get(&key).copied().unwrap_or(0),
                            log_start_offset: start_offsets.get(&key).copied().unwrap_or(0),
                        };
                        let clock = Arc::clone(clock);
                        if read_only {
                            Log::open_read_only(&path, &topic, partition, cfg, clock, options)
                        } else {
                            Log::open(&path, &topic, partition, cfg, clock, options)
                        }
                    });
                    let item = loaded.map(|(log, report)| {
                        log.set_cleaner_checkpoint(cleaner_offsets.get(&key).copied());
                        Loaded { topic, partition, log, report }
                    });
                    results.lock().push(item);
                }
            });
        }
    });
    let mut loaded: Vec<Loaded> = results.into_inner().into_iter().collect::<Result<_>>()?;
    loaded.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(loaded)
}
