//! Loading the partitions of every log directory at open, in parallel: each
//! directory on its own thread, each with `num.recovery.threads.per.data.dir`
//! workers (Kafka's `LogManager.loadLogs`). A directory that cannot be listed
//! goes offline alone; a partition that cannot be opened goes offline alone
//! (finer than Kafka, which takes its whole directory offline), keeping the
//! checkpointed offsets it had so they are written back unchanged.
//!
//! Names on disk are input: a directory that is not `<legal topic>-<N>` in
//! its canonical spelling is reported and left alone, never adopted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::Clock;
use crate::config::{LogConfig, StoreConfig};
use crate::format::file_name::parse_partition_dir_name;
use crate::io::file;
use crate::log::{LoadOptions, LoadReport, Log};
use crate::segment::budget::Budget;
use crate::{Error, Result};

use super::checkpoint::{
    self, CLEAN_SHUTDOWN_FILE, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
};
use super::topic_name;

use super::topic_name::{CLUSTER_METADATA_TOPIC, MAX_PARTITIONS};
use crate::format::file_name::partition_dir_name;

/// One partition loaded from disk.
pub(super) struct Loaded {
    pub topic: String,
    pub partition: i32,
    pub log: Log,
    pub report: LoadReport,
}

/// A partition that could not be opened.
#[derive(Debug, Clone)]
pub(super) struct Offline {
    pub topic: String,
    pub partition: i32,
    pub path: PathBuf,
    pub cause: String,
    /// Its checkpointed recovery point, log start offset and cleaner offset.
    pub checkpoints: [Option<i64>; 3],
}

/// What loading one log directory found.
#[derive(Default)]
pub(super) struct DirLoad {
    pub loaded: Vec<Loaded>,
    pub offline: Vec<Offline>,
    /// Entries left alone, with why (stray directories, reset checkpoints).
    pub ignored: Vec<(PathBuf, String)>,
    /// Checkpoint entries (recovery point, log start offset, cleaner
    /// offset) of partitions this directory does not hold: those of a
    /// partition whose directory went missing are carried over by the store
    /// until it comes back or is deleted.
    pub unclaimed: BTreeMap<(String, i32), [Option<i64>; 3]>,
}

/// Reads a checkpoint; a corrupt one counts as empty and is reported with
/// `consequence` (what reading it as empty does); `None` then. An I/O failure
/// is an error.
fn read_checkpoint_or_reset(
    path: &Path,
    consequence: &str,
    ignored: &mut Vec<(PathBuf, String)>,
) -> Result<Option<checkpoint::Offsets>> {
    match checkpoint::read_offsets(path) {
        Ok(offsets) => Ok(Some(offsets)),
        Err(e @ Error::CorruptFile { .. }) => {
            ignored.push((path.to_path_buf(), format!("{e}; read as empty: {consequence}")));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The partition a log-directory entry named `name` holds, or why it is not one.
pub(super) fn classify_dir(
    name: &str,
    listed: &BTreeMap<String, BTreeMap<String, String>>,
) -> std::result::Result<(String, i32), String> {
    let Some((topic, partition)) = parse_partition_dir_name(name) else {
        return Err("not a partition directory (`<topic>-<partition>`)".into());
    };
    topic_name::validate(topic).map_err(|e| e.to_string())?;
    if partition >= MAX_PARTITIONS {
        return Err(format!("partition {partition} is above the limit of {MAX_PARTITIONS}"));
    }
    if partition_dir_name(topic, partition) != name {
        return Err(format!("not the canonical name {}", partition_dir_name(topic, partition)));
    }
    // `plain--1` reads as topic `plain-`, partition 1, but is as likely
    // partition -1 of `plain`: adopt it only when the topics file names it.
    if topic.ends_with('-') && !listed.contains_key(topic) {
        return Err(format!(
            "ambiguous: topic {topic:?} is not in strata-topics and may be a negative partition number"
        ));
    }
    Ok((topic.to_owned(), partition))
}

/// Whether a directory name marks a topic deleted but not yet removed.
pub(super) fn is_deleted_dir(name: &str) -> bool {
    name.ends_with("-delete")
}

/// Loads every partition of `dir`. Removes directories of deleted topics
/// (`-delete` directories and those of topics in `deleted`).
pub(super) fn load_dir(
    dir: &Path,
    config: &StoreConfig,
    overrides: &BTreeMap<String, BTreeMap<String, String>>,
    deleted: &std::collections::BTreeSet<String>,
    clock: &Arc<dyn Clock>,
    read_only: bool,
    budget: &Arc<Budget>,
) -> Result<DirLoad> {
    let mut out = DirLoad::default();
    // Kafka deletes the marker before loading, so a crash while loading counts as unclean.
    let marker = dir.join(CLEAN_SHUTDOWN_FILE);
    let marked_clean = file::exists(&marker)?;
    if marked_clean && !read_only {
        file::remove_file(&marker)?;
        file::fsync_dir(dir)?;
    }
    let ignored = &mut out.ignored;
    let recovery_points = read_checkpoint_or_reset(
        &dir.join(RECOVERY_POINT_CHECKPOINT),
        "every partition of the directory is recovered from its first segment, as after a crash",
        ignored,
    )?;
    // The checkpoint is replaced whole (`checkpoint::write_offsets`), so one
    // that does not parse was damaged after its writer: the marker written
    // after it no longer vouches for the data. Kafka resets the recovery
    // points to 0 but still skips recovery when the marker is there
    // (`LogManager.loadLogs`); strata re-validates every segment.
    let clean = marked_clean && recovery_points.is_some();
    let recovery_points = recovery_points.unwrap_or_default();
    let start_offsets = read_checkpoint_or_reset(
        &dir.join(LOG_START_OFFSET_CHECKPOINT),
        "each log starts at its first segment",
        ignored,
    )?
    .unwrap_or_default();
    let cleaner_offsets = read_checkpoint_or_reset(
        &dir.join(CLEANER_OFFSET_CHECKPOINT),
        "each compacted log is cleaned again from its start, and a gap between segments is kept",
        ignored,
    )?;
    // Damaged, it no longer says which logs were compacted: any may have been,
    // so a recovery keeps a gap between segments as compaction's rather than
    // dropping the segments after it as after a lost tail.
    let maybe_compacted = cleaner_offsets.is_none();
    let cleaner_offsets = cleaner_offsets.unwrap_or_default();
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
        // A deleted topic's directory goes whatever classify_dir makes of its
        // name: one whose name ends in `-` (`plain--0`) is ambiguous unless
        // listed, and a deleted topic is no longer listed.
        if parse_partition_dir_name(&name)
            .is_some_and(|(t, p)| deleted.contains(t) && partition_dir_name(t, p) == name)
        {
            if !read_only {
                file::remove_dir_all(&sub)?;
            }
            continue;
        }
        match classify_dir(&name, overrides) {
            // KRaft's metadata log lives beside the topics but is not one (Kafka skips it too).
            Ok((topic, _)) if topic == CLUSTER_METADATA_TOPIC => {}
            Ok((topic, partition)) => jobs.push((sub.clone(), topic, partition)),
            Err(why) => out.ignored.push((sub.clone(), why)),
        }
    }
    let held: std::collections::BTreeSet<(String, i32)> =
        jobs.iter().map(|(_, t, p)| (t.clone(), *p)).collect();
    for (i, map) in [&recovery_points, &start_offsets, &cleaner_offsets].into_iter().enumerate() {
        for (key, &value) in map.iter().filter(|(key, _)| !held.contains(*key)) {
            if let Some(slot) = out.unclaimed.entry(key.clone()).or_default().get_mut(i) {
                *slot = Some(value);
            }
        }
    }
    let total = jobs.len();
    let loaded_count = std::sync::atomic::AtomicUsize::new(0);
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
                        &overrides.get(&topic).cloned().unwrap_or_else(|| {
                            super::groups::adopted_overrides(
                                &topic,
                                config.adopt_unlisted_partitions,
                            )
                        }),
                    )
                    .and_then(|cfg| {
                        // A partition.metadata that is not Kafka's format takes its
                        // partition offline, refused before the open: a writer's open
                        // would recover (cut, rebuild, write) a directory the store then
                        // takes offline.
                        crate::log::read_topic_id(&path)?;
                        let mut options = LoadOptions::default()
                            .with_clean_shutdown(clean)
                            .with_log_start_offset(start_offsets.get(&key).copied().unwrap_or(0))
                            .with_producer_id_expiration_ms(config.producer_id_expiration_ms);
                        if let Some(&cleaned) = cleaner_offsets.get(&key) {
                            options = options.with_cleaner_checkpoint(cleaned);
                        } else if maybe_compacted {
                            // Only the entry's presence counts at the open (`gaps_allowed`).
                            options = options.with_cleaner_checkpoint(0);
                        }
                        if let Some(&point) = recovery_points.get(&key) {
                            options = options.with_recovery_point(point);
                        }
                        let clock = Arc::clone(clock);
                        if read_only {
                            Log::open_read_only(&path, &topic, partition, cfg, clock, options)
                        } else {
                            let budget = Arc::clone(budget);
                            Log::open_in(&path, &topic, partition, cfg, clock, options, budget)
                        }
                    });
                    let item = match loaded {
                        Ok((log, report)) => {
                            log.set_cleaner_checkpoint(cleaner_offsets.get(&key).copied());
                            log.reset_stray_cleaner_checkpoint();
                            Ok(Loaded { topic, partition, log, report })
                        }
                        Err(e) => Err(Offline {
                            checkpoints: [
                                recovery_points.get(&key).copied(),
                                start_offsets.get(&key).copied(),
                                cleaner_offsets.get(&key).copied(),
                            ],
                            topic,
                            partition,
                            path,
                            cause: e.to_string(),
                        }),
                    };
                    results.lock().push(item);
                    let n = loaded_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    crate::events::partition_loaded(dir, n, total);
                }
            });
        }
    });
    for item in results.into_inner() {
        match item {
            Ok(l) => out.loaded.push(l),
            Err(o) => out.offline.push(o),
        }
    }
    out.loaded.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    out.offline.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(out)
}
