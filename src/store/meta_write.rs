//! Writing `strata-topics` after a change of the store's topics: every
//! online log directory's copy, at the next generation.

use std::collections::BTreeMap;

use crate::Result;

use super::meta::{self, TopicMeta};
use super::{LogDir, Store};

impl Store {
    pub(super) fn metas(&self) -> BTreeMap<String, TopicMeta> {
        self.inner
            .topics
            .read()
            .iter()
            .map(|(name, t)| {
                let partitions = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX);
                (name.clone(), TopicMeta { partitions, overrides: t.overrides.clone() })
            })
            .collect()
    }

    pub(super) fn persist_meta(&self) -> Result<()> {
        let deleted = self.inner.deleted.lock().clone();
        let creating = self.inner.creating.lock().clone();
        self.write_meta(&meta::Metas { topics: self.metas(), deleted, creating })
    }

    /// Writes `metas` into the `strata-topics` copy of every online log
    /// directory, in config order, at the next generation. A generation is
    /// never reused, not even after a failed write (a copy may hold it): two
    /// copies of one generation always agree. The first copy written is the
    /// commit point (the next open picks the highest generation); a crash
    /// before the last leaves stale copies, which that open rewrites.
    pub(super) fn write_meta(&self, metas: &meta::Metas) -> Result<()> {
        let mut stamp = self.inner.meta_stamp.lock();
        stamp.advance(metas);
        let online: Vec<&LogDir> = self
            .inner
            .dirs
            .iter()
            .filter(|d| !self.inner.offline_dirs.iter().any(|(p, _)| *p == d.path))
            .collect();
        for (i, dir) in online.iter().enumerate() {
            if i > 0 {
                crate::io::fault::point("store::meta::between_copies")?;
            }
            meta::write(&dir.path, &stamp, metas)?;
        }
        Ok(())
    }

    /// Writes `strata-topics` after an in-memory change; if that fails, runs
    /// `undo` and writes the old state back (the failed write may have got as
    /// far as the rename), so an error leaves the file as it was.
    pub(super) fn persist_meta_or_undo(&self, undo: impl FnOnce()) -> Result<()> {
        self.persist_meta().inspect_err(|_| {
            undo();
            // Best effort: if this fails too the file may hold the change,
            // which the next successful write (or open) reconciles.
            let _ = self.persist_meta();
        })
    }
}
