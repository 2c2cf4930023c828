//! What opening the store cut, in one report — and the one place that says
//! so on the process's log.

use std::io::Write as _;
use std::path::PathBuf;

use crate::log::{LoadReport, TailCut};

/// What recovery at open cut from the store's partitions, or — for a store
/// opened read-only — what a writer's open would cut and clean up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether this describes a dry run (a read-only open): nothing was cut.
    pub read_only: bool,
    /// Each cut with its partition (`topic-N`): a torn or corrupt tail, or a
    /// whole segment dropped after one.
    pub cuts: Vec<(String, TailCut)>,
    /// Read-only only: leftover files a writer's open would remove or finish.
    pub pending_cleanup: Vec<PathBuf>,
}

impl RecoveryReport {
    pub(crate) fn from_loads(read_only: bool, loads: &[(String, LoadReport)]) -> Self {
        let mut r = RecoveryReport { read_only, ..RecoveryReport::default() };
        for (partition, load) in loads {
            r.cuts.extend(load.cuts.iter().map(|c| (partition.clone(), c.clone())));
            r.pending_cleanup.extend(load.pending_cleanup.iter().cloned());
        }
        r
    }

    /// Whether nothing was (or would be) cut.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cuts.is_empty()
    }

    /// Bytes cut (or that would be) in all.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.cuts.iter().map(|(_, c)| c.bytes).sum()
    }
}

/// Says on stderr what recovery cut: data went, and an operator must be able
/// to see it without asking. The one logging point for recovery; it moves to
/// `tracing` when the crate takes that dependency.
pub(crate) fn log_cuts(report: &RecoveryReport) {
    for (partition, cut) in &report.cuts {
        // Never `eprintln!`: it panics on a closed stderr (`2>&1 | head`), in the middle of
        // opening the store.
        let _ = writeln!(std::io::stderr(), "strata: recovery of {partition} cut {cut}");
        crate::events::recovery_cut(partition, cut);
    }
}
