//! The store's checkpoint files: recovery points, log start offsets and cleaner offsets of every log directory, and durable DeleteRecords.

use super::*;

impl Store {
    /// Writes the recovery-point, log-start-offset and cleaner-offset checkpoints of every log directory.
    ///
    /// # Errors
    /// I/O failures; [`Error::Closed`] once the store is closed (the
    /// directories may belong to another store by then).
    pub fn write_checkpoints(&self) -> Result<()> {
        self.ensure_open()?;
        self.write_checkpoints_unchecked()
    }

    /// [`write_checkpoints`](Self::write_checkpoints) for `close`, which holds
    /// the `closed` lock and still owns the directories.
    pub(super) fn write_checkpoints_unchecked(&self) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        let _one_writer = self.inner.checkpoints.lock();
        let logs = self.logs(None);
        for (i, dir) in self.inner.dirs.iter().enumerate() {
            if self.inner.offline_dirs.iter().any(|(p, _)| *p == dir.path) {
                continue;
            }
            let [recovery, starts, cleaner] = self.checkpoint_maps(i, &logs);
            checkpoint::write_offsets(&dir.path.join(RECOVERY_POINT_CHECKPOINT), &recovery)?;
            // Kafka's `checkpointLogRecoveryOffsetsInDir` then removes the producer
            // snapshots below what a recovery from the new checkpoint reads.
            for (_, log) in logs.iter().filter(|(d, _)| *d == i) {
                let key = (log.topic().to_owned(), log.partition());
                if let Some(&point) = recovery.get(&key) {
                    // What is not removed goes at the next checkpoint.
                    let _retried = log.delete_snapshots_after_recovery_checkpoint(point);
                }
            }
            checkpoint::write_offsets(&dir.path.join(LOG_START_OFFSET_CHECKPOINT), &starts)?;
            checkpoint::write_offsets(&dir.path.join(CLEANER_OFFSET_CHECKPOINT), &cleaner)?;
        }
        Ok(())
    }

    /// The recovery-point, log-start and cleaner checkpoints of log directory
    /// `i`, from `logs` (the store's open logs) and its offline partitions.
    pub(super) fn checkpoint_maps(
        &self,
        i: usize,
        logs: &[(usize, Log)],
    ) -> [checkpoint::Offsets; 3] {
        let mut recovery = BTreeMap::new();
        let mut starts = BTreeMap::new();
        let mut cleaner = BTreeMap::new();
        // An offline partition keeps what it had: it was never opened. One
        // whose directory is missing keeps its entries in the directory whose
        // files held them, until it is deleted (Kafka's log start offset
        // never moves backwards: `UnifiedLog.maybeIncrementLogStartOffset`).
        let offline = self.inner.offline_partitions.read().clone();
        for ((topic, p), o) in offline.iter().filter(|(_, o)| o.checkpoint_dir == Some(i)) {
            let key = (topic.clone(), *p);
            let [r, st, c] = o.checkpoints;
            for (map, value) in [(&mut recovery, r), (&mut starts, st), (&mut cleaner, c)] {
                if let Some(v) = value {
                    map.insert(key.clone(), v);
                }
            }
        }
        for (_, log) in logs.iter().filter(|(d, _)| *d == i) {
            let key = (log.topic().to_owned(), log.partition());
            recovery.insert(key.clone(), log.recovery_point());
            if let Some(dirty) = log.cleaner_checkpoint() {
                cleaner.insert(key.clone(), dirty);
            }
            // Kafka (`LogManager.checkpointLogStartOffsetsInDir`) checkpoints
            // only start offsets above the first segment's base, trusting that
            // segment's file to carry the start across a crash. A segment that
            // was created but not yet made durable does not: a crash can leave
            // the directory empty, and the log would restart at 0 and hand its
            // offsets out again. So every start above 0 is checkpointed; Kafka
            // reads such an entry as it reads its own (the larger of it and the
            // first base).
            if log.log_start_offset() > 0 {
                starts.insert(key, log.log_start_offset());
            }
        }
        [recovery, starts, cleaner]
    }

    /// Kafka's DeleteRecords on one partition, all or nothing: the new log
    /// start offset is made durable in `log-start-offset-checkpoint` before
    /// it moves in memory. An error leaves the start unchanged in memory and
    /// on disk: the checkpoint is written to a temporary file, synced and
    /// renamed over the old one; when the write fails after the rename (the
    /// directory sync), the old content is written back.
    pub(crate) fn delete_records_durably(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64> {
        self.ensure_open()?;
        let log = self.partition(topic, partition)?;
        // One checkpoint writer at a time: none may write the moved start
        // before it is durable, or the old one after.
        let _one_writer = self.inner.checkpoints.lock();
        let logs = self.logs(None);
        let Some(i) = logs.iter().find(|(_, l)| l.same_log(&log)).map(|(i, _)| *i) else {
            return Err(Error::UnknownPartition { topic: topic.to_owned(), partition });
        };
        let Some(dir) = self.inner.dirs.get(i) else {
            return Err(Error::UnknownPartition { topic: topic.to_owned(), partition });
        };
        let path = dir.path.join(LOG_START_OFFSET_CHECKPOINT);
        log.delete_records_durably(offset, |start| {
            let [_, old, _] = self.checkpoint_maps(i, &logs);
            let mut new = old.clone();
            new.insert((topic.to_owned(), partition), start);
            checkpoint::write_offsets(&path, &new).inspect_err(|_| {
                // Best effort: the rename may have happened before the failure.
                let _ = checkpoint::write_offsets(&path, &old);
            })
        })
    }
}
