//! Making a topic's missing partitions: each placed in the online log
//! directory holding the fewest, its directory made and synced, its log
//! opened and attached.

use std::path::PathBuf;
use std::sync::Arc;

use crate::Result;
use crate::config::LogConfig;
use crate::format::file_name::partition_dir_name;
use crate::io::file;
use crate::log::{LoadOptions, Log};

use super::checkpoint::{
    self, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};
use super::{Partition, Store, Topic, parallel};

impl Store {
    /// The log directory with the fewest partitions (Kafka's placement rule).
    /// Picks log directories for new partitions, one per call: each time the
    /// one holding the fewest partitions, counting those picked so far.
    fn dir_picker(&self) -> impl FnMut() -> usize {
        // An offline directory holds no open partition, so it would look the
        // emptiest: it is never picked while one is online (Kafka places new
        // partitions in live log directories only, `LogManager.nextLogDirs`).
        let mut counts: Vec<usize> = self
            .inner
            .dirs
            .iter()
            .map(|d| {
                let offline = self.inner.offline_dirs.iter().any(|(p, _)| *p == d.path);
                if offline { usize::MAX } else { 0 }
            })
            .collect();
        for t in self.inner.topics.read().values() {
            for p in t.partitions.iter().flatten() {
                if let Some(c) = counts.get_mut(p.dir_index) {
                    *c += 1;
                }
            }
        }
        move || {
            let i = counts.iter().enumerate().min_by_key(|&(i, c)| (*c, i)).map_or(0, |(i, _)| i);
            if let Some(c) = counts.get_mut(i) {
                *c = c.saturating_add(1);
            }
            i
        }
    }

    /// Creates missing partitions `0..count` of `topic`.
    /// The caller holds the `admin` lock ([`Store::admin`]).
    pub(super) fn ensure_partitions(&self, topic: &str, count: i32) -> Result<()> {
        self.ensure_open()?;
        let overrides =
            self.inner.topics.read().get(topic).map(|t| t.overrides.clone()).unwrap_or_default();
        let mut missing = Vec::new();
        let mut pick_dir = self.dir_picker();
        for p in 0..count {
            let idx = usize::try_from(p).unwrap_or(0);
            let exists = self
                .inner
                .topics
                .read()
                .get(topic)
                .and_then(|t| t.partitions.get(idx).cloned().flatten())
                .is_some();
            let offline = self.inner.offline_partitions.read().contains_key(&(topic.to_owned(), p));
            if !(exists || offline) {
                missing.push((p, pick_dir()));
            }
        }
        let dir_of = |p: i32, dir_index: usize| {
            let base = self.inner.dirs.get(dir_index).map(|d| d.path.clone()).unwrap_or_default();
            base.join(partition_dir_name(topic, p))
        };
        // Entries that a deleted partition of the same name left in the
        // checkpoint files (its deletion's checkpoint write failed, or a crash
        // came first) would be read as the new partition's at the next open:
        // a log start above its data restarts it empty there, a recovery point
        // above its synced data trusts its unsynced segments. They are dropped
        // (the files rewritten from the open logs) before it takes a record.
        if missing.is_empty() {
            // Nothing to make: a topic whose configs no longer resolve (its
            // partitions went offline at load, naming why) stops nothing.
            return Ok(());
        }
        let cfg = LogConfig::resolve(&self.inner.config, &overrides)?;
        let names: Vec<i32> = missing.iter().map(|&(p, _)| p).collect();
        if !names.is_empty() && self.checkpoints_name(topic, &names) {
            self.write_checkpoints()?;
        }
        // The directories first, then one fsync of each log directory for
        // all of them (instead of one per partition, in `Log::open_in`).
        let made = parallel::map(missing.clone(), |(p, d)| file::create_dir_all(&dir_of(p, d)));
        made.into_iter().collect::<Result<Vec<()>>>()?;
        let mut used: Vec<usize> = missing.iter().map(|&(_, d)| d).collect();
        used.sort_unstable();
        used.dedup();
        for d in used {
            if let Some(dir) = self.inner.dirs.get(d) {
                file::fsync_dir(&dir.path)?;
            }
        }
        // Opened in parallel: each waits on the fsync of its new directory.
        let created = parallel::map(missing, |(p, dir_index)| {
            let dir = dir_of(p, dir_index);
            let log = Log::open_in(
                &dir,
                topic,
                p,
                cfg.clone(),
                Arc::clone(&self.inner.clock),
                LoadOptions::default(),
                Arc::clone(&self.inner.budget),
            );
            (p, dir_index, log)
        });
        let mut first_error = None;
        for (p, dir_index, log) in created {
            let log = match log {
                Ok((log, _)) => log,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            let idx = usize::try_from(p).unwrap_or(0);
            self.attach(&log);
            let mut topics = self.inner.topics.write();
            let t = topics
                .entry(topic.to_owned())
                .or_insert_with(|| Topic { overrides: overrides.clone(), partitions: Vec::new() });
            if t.partitions.len() <= idx {
                t.partitions.resize(idx + 1, None);
            }
            if let Some(slot) = t.partitions.get_mut(idx) {
                *slot = Some(Partition { log, dir_index });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Whether a checkpoint file of an online log directory holds an entry
    /// for one of `partitions` of `topic` (a file that cannot be read counts:
    /// rewriting it does no harm).
    fn checkpoints_name(&self, topic: &str, partitions: &[i32]) -> bool {
        let files =
            [RECOVERY_POINT_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, CLEANER_OFFSET_CHECKPOINT];
        let offline = |path: &PathBuf| self.inner.offline_dirs.iter().any(|(p, _)| p == path);
        self.inner.dirs.iter().filter(|d| !offline(&d.path)).any(|dir| {
            files.iter().any(|name| {
                checkpoint::read_offsets(&dir.path.join(name)).map_or(true, |entries| {
                    partitions.iter().any(|&p| entries.contains_key(&(topic.to_owned(), p)))
                })
            })
        })
    }
}
