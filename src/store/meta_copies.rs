//! The copies of `strata-topics`, one in every log directory, reconciled at
//! open, so that no log directory's partitions run under guessed configs
//! whichever directories the config lists and in whatever order (when the
//! file lived in the first directory only, a config leaving that one out
//! adopted the other directories' partitions with default configs: a
//! compacted topic ran with `cleanup.policy=delete`).
//!
//! - Every copy that names a store must name the same one: log directories
//!   of two stores configured together are refused.
//! - The copy with the highest generation is the store's record. A lower one
//!   is stale: its directory was left out of the config while the topics
//!   changed, or a crash came between the copies' writes (each write bumps
//!   the generation, and the copies are written one directory after the
//!   other). Two copies of the highest generation that differ are refused:
//!   the store was changed while opened with different subsets of its log
//!   directories, and which change is right cannot be told.
//! - A lower generation is stale only if it is an ancestor of the newest
//!   copy: each copy's `history` line lists the last generations it passed
//!   through with a digest of the topic section written at each (see
//!   `meta.rs`). A copy whose generation the newest copy's history holds
//!   with the copy's own digest is stale, and rewritten. One whose
//!   generation the history covers (not older than its first entry) with
//!   another digest, or skips, was changed apart: directory B opened alone
//!   and changed to generation 5, then directory A alone changed twice, to
//!   6, and A's copy would overwrite B's change (a `cleanup.policy=compact`
//!   set on B alone reverting to `delete`, the next retention pass deleting
//!   data). Such copies are refused naming both directories and
//!   generations, with the equal-generation refusal's advice.
//! - Where the lineage cannot be told, the higher generation wins as it did
//!   before histories, and a lower copy changed apart loses its changes:
//!   when either copy has no `history` line (written by a strata from
//!   before it; the open that rewrites the copies starts the lineage at the
//!   winner's generation), and when the lower generation is older than the
//!   newest copy's whole history (more than `HISTORY_LEN`, 64, writes of
//!   the topics since it).
//! - Copies of the older format (`strata-topics 1`, generation 0) were kept
//!   in the first log directory only: two that differ are refused (which is
//!   current cannot be told). One beside a newer copy must agree
//!   with it (every topic it lists listed with the same configs, or marked
//!   deleted), else the open is refused: the newer copy may come from an
//!   open that left the older one's directory out and adopted its topics
//!   with default configs, and a compacted topic would run as `delete`.
//! - A partition directory of a topic the chosen copy does not list (nor
//!   marks deleted) is refused at open, before anything is loaded or
//!   changed: only a store without any copy (a Kafka broker's directory, or
//!   a store that never had a topic) adopts such directories, with default
//!   configs, or an open asked to (`StoreConfig::adopt_unlisted_partitions`,
//!   retention off). A log directory without a copy cannot be told from one
//!   of the store whose copy was removed, so its partitions are not adopted
//!   under guessed configs unasked.
//! - A copy that cannot be read (an I/O error) takes its log directory
//!   offline; a damaged one is refused naming the file and line.
//!
//! A stale, missing or older-format copy is rewritten by the next open that
//! can write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::io::file;
use crate::{Error, Result};

use super::load::{classify_dir, is_deleted_dir};
use super::meta::{self, Copy, Metas, Stamp};
use super::topic_name::CLUSTER_METADATA_TOPIC;

/// What the copies say, reconciled.
pub(super) struct Chosen {
    /// The store's stamp (a fresh one when no copy has one).
    pub stamp: Stamp,
    pub metas: Metas,
    /// The log directory the chosen copy was read from; `None` when no
    /// directory holds a copy.
    pub from: Option<PathBuf>,
    /// Whether every readable log directory holds the chosen copy as it is
    /// (same stamp, same topics): otherwise the open writes them all.
    pub current: bool,
    /// Log directories (by index) whose copy could not be read: offline.
    pub unreadable: BTreeMap<usize, Error>,
}

fn conflict(path: &Path, reason: String) -> Error {
    Error::StoreMetadataConflict { path: path.to_path_buf(), reason }
}

/// Reads the copy of every log directory in `dirs` and picks the store's.
///
/// # Errors
/// [`Error::CorruptFile`] for a damaged copy; [`Error::StoreMetadataConflict`]
/// for copies of two stores, two differing copies of the highest generation,
/// or a lower copy changed apart from the highest (not in its history).
pub(super) fn reconcile(dirs: &[PathBuf]) -> Result<Chosen> {
    let mut copies: Vec<(&PathBuf, Copy)> = Vec::new();
    let mut unreadable = BTreeMap::new();
    let mut missing = false;
    for (i, dir) in dirs.iter().enumerate() {
        match meta::read(dir) {
            Ok(Some(copy)) => copies.push((dir, copy)),
            Ok(None) => missing = true,
            Err(e @ Error::Io { .. }) => {
                unreadable.insert(i, e);
            }
            Err(e) => return Err(e),
        }
    }
    let mut named = copies.iter().filter_map(|(d, c)| c.stamp.as_ref().map(|s| (*d, &s.store)));
    if let Some((first_dir, first)) = named.next()
        && let Some((dir, other)) = named.find(|(_, s)| s != &first)
    {
        return Err(conflict(
            dir,
            format!(
                "its strata-topics belongs to store {other} and {}'s to store {first}: log \
                 directories of two stores are configured together",
                first_dir.display()
            ),
        ));
    }
    let Some(newest) = copies.iter().map(|(_, c)| c.generation()).max() else {
        let stamp = Stamp::fresh();
        return Ok(Chosen {
            stamp,
            metas: Metas::default(),
            from: None,
            current: true,
            unreadable,
        });
    };
    let mut at_newest = copies.iter().filter(|(_, c)| c.generation() == newest);
    let Some((from, chosen)) = at_newest.next() else {
        return Err(Error::InvalidRequest(
            "strata-topics: no copy at the highest generation".into(),
        ));
    };
    if let Some((dir, _)) = at_newest.find(|(_, c)| c.metas != chosen.metas) {
        if newest == 0 {
            // Both of the older format, which kept one file in whichever
            // directory was listed first when it was written.
            return Err(conflict(
                dir,
                format!(
                    "its strata-topics and {}'s are both of the older format (one file, in the \
                     log directory listed first when it was written) and list different topics \
                     or configs: the directories were listed in another order when one was \
                     written, and which is current cannot be told. Remove the one that is \
                     wrong (the one left is written into every log directory at the next open)",
                    from.display()
                ),
            ));
        }
        return Err(conflict(
            dir,
            format!(
                "its strata-topics and {}'s are both generation {newest} but list different \
                 topics or configs: the store was changed while opened with different subsets \
                 of its log directories, and which change is right cannot be told; remove the \
                 copy that is wrong (topics only it listed are then refused, unless the open \
                 adopts them, retention off, to set their configs again: \
                 StoreConfig::adopt_unlisted_partitions, logtool --adopt-unlisted)",
                from.display()
            ),
        ));
    }
    if newest > 0 {
        for (dir, old) in copies.iter().filter(|(_, c)| c.stamp.is_none()) {
            if let Some(reason) = disagreement(&old.metas, &chosen.metas) {
                return Err(conflict(
                    dir,
                    format!(
                        "its strata-topics is of the older format (one file, in the first log \
                         directory) and {reason} the newer copy in {} (generation {newest}): the \
                         store was opened without this log directory since, and that open may \
                         have adopted its topics with default configs. Remove the copy that is \
                         wrong (the one left is written into every log directory at the next \
                         open)",
                        from.display()
                    ),
                ));
            }
        }
    }
    for (dir, old) in copies.iter().filter(|(_, c)| c.generation() < newest) {
        if let Some(reason) = divergence(chosen, old) {
            let g = old.generation();
            return Err(conflict(
                dir,
                format!(
                    "its strata-topics (generation {g}) and {}'s (generation {newest}) were \
                     changed apart: the newer copy's history {reason}, so this log directory's \
                     copy was changed while the store was opened without that one, and that one \
                     since without this one; either copy overwriting the other would lose its \
                     changes. Open each directory alone, read-only, to see both, keep the copy \
                     that is right and remove the other, then make again the changes only the \
                     removed copy held (topics only it listed are then refused, unless the open \
                     adopts them, retention off, to set their configs again: \
                     StoreConfig::adopt_unlisted_partitions, logtool --adopt-unlisted)",
                    from.display()
                ),
            ));
        }
    }
    let current = !missing && chosen.stamp.is_some() && copies.iter().all(|(_, c)| c == chosen);
    let mut stamp = chosen.stamp.clone().unwrap_or_else(Stamp::fresh);
    if stamp.history.is_empty() {
        // Written before the `history` line: the lineage starts here.
        stamp.record(&chosen.metas);
    }
    Ok(Chosen {
        stamp,
        metas: chosen.metas.clone(),
        from: Some((*from).clone()),
        current,
        unreadable,
    })
}

/// How `old`, of a lower generation than `newest`, was changed apart from
/// it, if it was: `newest`'s history passed through `old`'s generation with
/// another topic section, or skipped it. `None` when `old` is an ancestor
/// (stale), and when that cannot be told: either copy has no history
/// (written by an older strata), or `old`'s generation is older than all of
/// `newest`'s history; such a copy is taken as stale, as before histories.
fn divergence(newest: &Copy, old: &Copy) -> Option<String> {
    let (Some(new), Some(stale)) = (&newest.stamp, &old.stamp) else { return None };
    let &(oldest, _) = new.history.first()?;
    let g = stale.generation;
    if stale.history.is_empty() || g < oldest {
        return None;
    }
    match new.digest_at(g) {
        Some(d) if d == meta::digest(&old.metas) => None,
        Some(_) => Some(format!("passed through generation {g} with other topics or configs")),
        None => Some(format!("goes from generation {oldest} without passing through {g}")),
    }
}

/// How an older-format copy's topics disagree with a newer copy's, if they
/// do: a topic the newer one neither lists nor marks deleted, or lists with
/// other configs. Topics the newer copy adds are changes made since.
fn disagreement(old: &Metas, new: &Metas) -> Option<String> {
    for (name, meta) in &old.topics {
        match new.topics.get(name) {
            None if new.deleted.contains(name) => {}
            None => return Some(format!("lists topic {name}, which is not in")),
            Some(n) if n.overrides != meta.overrides => {
                return Some(format!(
                    "gives topic {name} the configs {:?}, not the {:?} of",
                    meta.overrides, n.overrides
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// [`Error::StoreMetadataConflict`] for the first partition directory in
/// `dirs` whose topic `chosen` neither lists nor marks deleted, when some
/// log directory holds a copy (or may: one could not be read). Directories
/// that cannot be listed are skipped: loading takes them offline.
pub(super) fn refuse_unlisted_partitions(dirs: &[PathBuf], chosen: &Chosen) -> Result<()> {
    let Some(from) =
        chosen.from.as_ref().or_else(|| chosen.unreadable.keys().next().and_then(|&i| dirs.get(i)))
    else {
        return Ok(());
    };
    let listed: BTreeMap<String, BTreeMap<String, String>> = chosen
        .metas
        .topics
        .iter()
        .map(|(name, meta)| (name.clone(), meta.overrides.clone()))
        .collect();
    for (i, dir) in dirs.iter().enumerate() {
        if chosen.unreadable.contains_key(&i) {
            continue;
        }
        let Ok(entries) = file::read_dir(dir) else { continue };
        for sub in entries {
            let Some(name) = sub.file_name().and_then(|n| n.to_str()) else { continue };
            if is_deleted_dir(name) || !file::is_dir(&sub).unwrap_or(false) {
                continue;
            }
            // Not a partition directory: reported and left alone by the load.
            let Ok((topic, _)) = classify_dir(name, &listed) else { continue };
            if topic == CLUSTER_METADATA_TOPIC
                || listed.contains_key(&topic)
                || chosen.metas.deleted.contains(&topic)
            {
                continue;
            }
            let read = match &chosen.from {
                Some(_) => format!(
                    "strata-topics (generation {}, read from {})",
                    chosen.stamp.generation,
                    from.display()
                ),
                None => format!("strata-topics (in {}, which could not be read)", from.display()),
            };
            return Err(conflict(
                &sub,
                format!(
                    "partition {name} belongs to topic {topic}, which {read} does not list: its \
                     configs are unknown, and it is not opened under guessed ones. If the topic \
                     was deleted while this log directory was left out of the config, remove the \
                     directory; if the directory belongs to another store or is a Kafka \
                     broker's, take its log directory out of the config and open it as a store of \
                     its own, or adopt its topics, retention off, and set their configs \
                     (StoreConfig::adopt_unlisted_partitions; logtool --adopt-unlisted)"
                ),
            ));
        }
    }
    Ok(())
}
