//! Opening a store: locking and loading its log directories, recovery, the background threads.

use std::path::Path;

use super::*;

impl Store {
    pub(super) fn open_inner(
        config: StoreConfig,
        clock: Arc<dyn Clock>,
        read_only: bool,
    ) -> Result<Store> {
        // Refuses, among others, a config listing no log directory (`log.dirs`).
        config.validate()?;
        let mut dirs = Vec::new();
        // Each directory once, whatever its name (`..`, a trailing `.`, a
        // symlink): Kafka's LogManager compares canonical paths ("Duplicate log
        // directory found"). One listed twice would otherwise be locked twice
        // and refused as held by another store, or loaded twice read-only.
        let mut seen: Vec<(crate::io::identity::FileId, &Path)> = Vec::new();
        for path in &config.log_dirs {
            let exists = file::check_dir("log directory", path, read_only)?;
            let lock = if read_only {
                refuse_listed_twice(&mut seen, path, &config.log_dirs)?;
                None
            } else {
                // A new log directory is durable in its parent before anything is put in it.
                let new_dir = !exists;
                file::create_dir_all(path)?;
                if new_dir {
                    file::fsync_dir(file::parent_dir(path))?;
                }
                refuse_listed_twice(&mut seen, path, &config.log_dirs)?;
                Some(DirLock::acquire(path)?)
            };
            dirs.push(LogDir {
                path: path.clone(),
                lock: Mutex::new(lock),
                free_space: Arc::default(),
            });
        }
        duplicates::refuse_duplicate_partitions(&config.log_dirs)?;
        let meta_copies::Chosen { stamp, mut metas, current, mut unreadable, from } = {
            let chosen = meta_copies::reconcile(&config.log_dirs)?;
            if !config.adopt_unlisted_partitions {
                meta_copies::refuse_unlisted_partitions(&config.log_dirs, &chosen)?;
            }
            chosen
        };
        let metas_on_disk = metas.clone();
        let budget = Budget::new(config.log_open_segments_max, config.log_mapped_bytes_max);
        let overrides: BTreeMap<String, BTreeMap<String, String>> =
            metas.topics.iter().map(|(n, m)| (n.clone(), m.overrides.clone())).collect();
        // Every directory loads on its own thread; one that fails goes offline alone.
        let per_dir: Vec<Result<load::DirLoad>> = std::thread::scope(|s| {
            let handles: Vec<_> = dirs
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    // A directory whose `strata-topics` could not be read is offline.
                    if let Some(e) = unreadable.remove(&i) {
                        return Err(e);
                    }
                    Ok(s.spawn(|| {
                        load::load_dir(
                            &d.path,
                            &config,
                            &overrides,
                            &metas.deleted,
                            &clock,
                            read_only,
                            &budget,
                        )
                    }))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.and_then(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::InvalidRequest("a loader thread panicked".into()))
                        })
                    })
                })
                .collect()
        });
        let mut topics: BTreeMap<String, Topic> = BTreeMap::new();
        let mut load_reports = Vec::new();
        let mut offline = Vec::new();
        let mut offline_partitions = BTreeMap::new();
        let mut ignored = Vec::new();
        let mut unclaimed = Vec::new();
        let topic_entry = |topics: &mut BTreeMap<String, Topic>, name: &str, idx: usize| {
            let t = topics.entry(name.to_owned()).or_insert_with(|| Topic {
                overrides: overrides.get(name).cloned().unwrap_or_else(|| {
                    groups::adopted_overrides(name, config.adopt_unlisted_partitions)
                }),
                partitions: Vec::new(),
            });
            if t.partitions.len() <= idx {
                t.partitions.resize(idx + 1, None);
            }
        };
        for (dir_index, result) in per_dir.into_iter().enumerate() {
            let loaded = match result {
                Ok(l) => l,
                Err(e @ Error::Io { .. })
                | Err(e @ Error::Corrupt { .. })
                | Err(e @ Error::CorruptFile { .. }) => {
                    let path = dirs.get(dir_index).map(|d| d.path.clone()).unwrap_or_default();
                    crate::events::dir_offline(&path, &e.to_string());
                    offline.push((path, e.to_string()));
                    continue;
                }
                Err(e) => return Err(e),
            };
            ignored.extend(loaded.ignored);
            unclaimed.push((dir_index, loaded.unclaimed));
            for o in loaded.offline {
                topic_entry(&mut topics, &o.topic, usize::try_from(o.partition).unwrap_or(0));
                let (path, cause, checkpoints) = (o.path, o.cause, o.checkpoints);
                offline_partitions.insert(
                    (o.topic, o.partition),
                    OfflinePartition {
                        dir_index: Some(dir_index),
                        path,
                        cause,
                        checkpoints,
                        checkpoint_dir: Some(dir_index),
                    },
                );
            }
            for l in loaded.loaded {
                load_reports.push((partition_dir_name(&l.topic, l.partition), l.report));
                let idx = usize::try_from(l.partition).unwrap_or(0);
                topic_entry(&mut topics, &l.topic, idx);
                if let Some(slot) = topics.get_mut(&l.topic).and_then(|t| t.partitions.get_mut(idx))
                {
                    *slot = Some(Partition { log: l.log, dir_index });
                }
            }
        }
        if !offline.is_empty() && offline.len() == dirs.len() {
            let (path, cause) = offline.swap_remove(0);
            return Err(Error::LogDirOffline { path, cause });
        }
        // A partition `strata-topics` counts that no directory holds is
        // offline, never recreated empty: it may be in a log directory left
        // out of the config (Kafka marks a partition of a missing directory
        // offline too), or its directory was removed. Only a creation the
        // file marks unfinished has partitions still to make, and only a
        // writable open with every log directory online makes them (below):
        // any other open lists them offline, naming the unfinished creation.
        let searched: Vec<String> =
            config.log_dirs.iter().map(|d| d.display().to_string()).collect();
        let finishes_creations = !read_only && offline.is_empty();
        for (name, meta) in &metas.topics {
            let creating = metas.creating.contains(name);
            if creating && finishes_creations {
                continue;
            }
            for p in 0..meta.partitions {
                let idx = usize::try_from(p).unwrap_or(0);
                let held = topics
                    .get(name)
                    .and_then(|t| t.partitions.get(idx))
                    .is_some_and(Option::is_some);
                if held || offline_partitions.contains_key(&(name.clone(), p)) {
                    continue;
                }
                topic_entry(&mut topics, name, idx);
                let dir_name = partition_dir_name(name, p);
                let cause = if creating {
                    unfinished_cause(name, &dir_name, read_only, &offline)
                } else {
                    missing_cause(&dir_name, &searched, &offline)
                };
                // Its checkpoint entries stay where they are, written back at
                // every checkpoint write, so a directory restored by hand
                // starts where it had, not at its first segment's base
                // (records below a DeleteRecords served again).
                let key = (name.clone(), p);
                let carried = unclaimed.iter().find_map(|(d, m): &(usize, BTreeMap<_, _>)| {
                    m.get(&key).map(|c: &[Option<i64>; 3]| (*d, *c))
                });
                offline_partitions.insert(
                    key,
                    OfflinePartition {
                        dir_index: None,
                        path: PathBuf::from(dir_name),
                        cause,
                        // Not its recovery point: restored by hand (from a
                        // backup, say), it is recovered whole after a crash,
                        // not trusted up to the old point.
                        checkpoints: carried.map_or([None; 3], |(_, c)| [None, c[1], c[2]]),
                        checkpoint_dir: carried.map(|(d, _)| d),
                    },
                );
            }
        }
        if !metas.topics.contains_key(OFFSETS_TOPIC)
            && let Some(t) = topics.get_mut(OFFSETS_TOPIC)
        {
            let n = groups::adopted_offsets_partitions(&config, t.partitions.len());
            t.partitions.resize(n, None);
        }
        for (name, meta) in &mut metas.topics {
            let t = topics.entry(name.clone()).or_insert_with(|| Topic {
                overrides: meta.overrides.clone(),
                partitions: Vec::new(),
            });
            meta.partitions =
                meta.partitions.max(i32::try_from(t.partitions.len()).unwrap_or(i32::MAX));
        }
        // Every directory was searched: deleted topics' directories are gone.
        if offline.is_empty() {
            metas.deleted.clear();
        }
        let cleaner = Cleaner::new(&config);
        let store = Store {
            inner: Arc::new(StoreInner {
                config,
                dirs,
                topics: RwLock::new(topics),
                clock,
                admin: Mutex::new(()),
                load_reports,
                offline_dirs: offline,
                offline_partitions: RwLock::new(offline_partitions),
                ignored,
                deleted: Mutex::new(metas.deleted.clone()),
                creating: Mutex::new(metas.creating.clone()),
                meta_stamp: Mutex::new(stamp),
                checkpoints: Mutex::new(()),
                closed: Mutex::new(false),
                scheduler: Mutex::new(None),
                background_errors: Mutex::new(Vec::new()),
                cleaner,
                groups: Mutex::new(None),
                read_only,
                flush_queue: Arc::new(flusher::FlushQueue::default()),
                sticky: produce::StickyState::default(),
                budget,
            }),
        };
        if read_only {
            return Ok(store);
        }
        // Topics adopted from directories `strata-topics` does not list, with
        // their partition counts (to the highest partition found).
        let adopted: Vec<(String, i32)> = store
            .inner
            .topics
            .read()
            .iter()
            .filter(|(name, _)| !metas.topics.contains_key(*name))
            .map(|(name, t)| (name.clone(), i32::try_from(t.partitions.len()).unwrap_or(0)))
            .collect();
        // Adopted on request while a log directory is offline:
        // their gaps cannot be made (one may hold them), and any write of
        // `strata-topics` would count partitions held nowhere, offline for
        // good after it. Refused until every directory is online.
        if let (Some((dir, why)), true) =
            (store.inner.offline_dirs.first(), store.inner.config.adopt_unlisted_partitions)
        {
            let named: Vec<&str> =
                adopted.iter().map(|(n, _)| n.as_str()).filter(|n| *n != OFFSETS_TOPIC).collect();
            if !named.is_empty() {
                return Err(Error::StoreMetadataConflict {
                    path: dir.clone(),
                    reason: format!(
                        "topics {named:?} are not listed in strata-topics and would be adopted \
                         while this log directory is offline ({why}), which may hold some of \
                         their partitions: bring it online first"
                    ),
                });
            }
        }
        for (_, log) in store.logs(None) {
            store.attach(&log);
        }
        // Recreating missing partitions is only safe when no directory is offline:
        // they may live there.
        if store.inner.offline_dirs.is_empty() {
            for (name, meta) in &metas.topics {
                store.ensure_partitions(name, meta.partitions)?;
            }
            // A topic adopted from directories `strata-topics` does not list
            // (a Kafka broker's log directory, which held only some of its
            // partitions) is counted to its highest partition found: the
            // gaps below it never held data here and are made now, as Kafka
            // makes a partition assigned to it. Left for later, they would
            // be counted in `strata-topics` at its next write and be offline
            // for good after it.
            for (name, count) in &adopted {
                store.ensure_partitions(name, *count)?;
            }
            // Every unfinished creation is finished.
            metas.creating.clear();
            store.inner.creating.lock().clear();
        }
        // Every topic's partitions carry its ID (older directories get one
        // now); one carrying another ID goes offline alone.
        let names: Vec<String> = store.inner.topics.read().keys().cloned().collect();
        for name in names {
            store.settle_topic_id_at_open(&name)?;
        }
        // Topics adopted on request beside a copy (`adopt_unlisted_partitions`)
        // go into every copy, once no directory is offline (their gaps are
        // made only then, above); left out, the next open would refuse them.
        // A store without any copy counts its adopted topics at its first
        // write, as before.
        if store.inner.config.adopt_unlisted_partitions
            && from.is_some()
            && store.inner.offline_dirs.is_empty()
        {
            for (name, meta) in store.metas() {
                metas.topics.entry(name).or_insert(meta);
            }
        }
        // Rewritten only when it changed, or a log directory's copy is
        // missing, stale or of the older format: an open that finds
        // everything in place writes and syncs nothing.
        if metas != metas_on_disk || !current {
            store.write_meta(&metas)?;
        }
        if store.inner.config.background_threads {
            let scheduler = Scheduler::start(&store)
                .map_err(|e| Error::io("spawn", "strata-maintenance", e))?;
            *store.inner.scheduler.lock() = Some(scheduler);
        }
        Ok(store)
    }
}

/// Why a partition `strata-topics` counts is offline when no log directory
/// holds its directory `dir_name`.
fn missing_cause(dir_name: &str, searched: &[String], offline: &[(PathBuf, String)]) -> String {
    let mut cause = format!(
        "its directory {dir_name} was not found in the configured log directories ({}); \
         it is not recreated empty: a log directory holding it may be missing from the \
         config, or the directory was removed",
        searched.join(", ")
    );
    for (path, why) in offline {
        cause.push_str(&format!("; log directory {} is offline ({why})", path.display()));
    }
    cause
}

/// Why a partition of `topic`, whose creation `strata-topics` marks
/// unfinished, is offline when its directory `dir_name` is not made yet: a
/// read-only open writes nothing, and a writable one does not make it while
/// a log directory that may hold it is offline.
fn unfinished_cause(
    topic: &str,
    dir_name: &str,
    read_only: bool,
    offline: &[(PathBuf, String)],
) -> String {
    let mut cause = format!(
        "topic {topic}'s creation did not finish (strata-topics marks it `creating`): \
         its directory {dir_name} is not made yet; "
    );
    cause.push_str(if read_only {
        "a writable open makes it (a read-only open writes nothing)"
    } else {
        "it is made once no log directory is offline (one may hold it)"
    });
    for (path, why) in offline {
        cause.push_str(&format!("; log directory {} is offline ({why})", path.display()));
    }
    cause
}

/// Records the directory at `path` in `seen`, or refuses it as one listed
/// before under another name.
fn refuse_listed_twice<'a>(
    seen: &mut Vec<(crate::io::identity::FileId, &'a Path)>,
    path: &'a Path,
    all: &[PathBuf],
) -> Result<()> {
    let (id, _) = crate::io::identity::stat(path)?;
    if let Some((_, first)) = seen.iter().find(|(other, _)| *other == id) {
        let listed: Vec<String> = all.iter().map(|d| d.display().to_string()).collect();
        return Err(Error::InvalidConfig {
            key: "log.dirs".into(),
            value: listed.join(","),
            reason: format!(
                "{} and {} are the same directory, listed twice",
                first.display(),
                path.display()
            ),
        });
    }
    seen.push((id, path));
    Ok(())
}
