//! A full disk off the append path: `ENOSPC` injected at every count of every file operation of
//! a roll, a flush, a store flush (the checkpoint files), a retention pass, a cleaning, a topic
//! creation and a close. After each fault:
//! - the error names a file under the log directory, and is the retriable `Error::NoSpace`
//!   unless the partition was poisoned or the fault hit an fsync;
//! - the partition is not poisoned, unless the case allows it (`Case::may_poison`: an fsync,
//!   whose state is then unknown; a rename of retention's or the swap's crash protocol; the
//!   sealed segment's own files, which a real full disk cannot fail; a close);
//! - the same call succeeds once space is back, and so does an append;
//! - no `.cleaned`/`.swap` file stays unless a poisoned swap left it for the next open;
//! - a reopen reads every acknowledged record at or above the log start (for a compacted
//!   topic, every key's latest value).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;

use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::{Error, Log, Record, Store, StoreConfig};

const TOPIC: &str = "side";

/// Operations a full disk can fail. Fsyncs are in: a failed fsync may poison, but must still
/// name its file and lose nothing acknowledged.
const OPS: [Op; 9] = [
    Op::Open,
    Op::Write,
    Op::Sync,
    Op::SyncDir,
    Op::SetLen,
    Op::Rename,
    Op::CreateDir,
    Op::Allocate,
    Op::Map,
];

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn open_store(root: &Path) -> Store {
    Store::open(StoreConfig::new([root]).background_threads(false)).unwrap()
}

/// Record `i`: key `k{i % keys}`, value `v{i}`.
fn record(i: i64, keys: i64) -> Record {
    Record::new(
        format!("k{}", i % keys).into_bytes(),
        format!("v{i}-{}", "x".repeat(60)).into_bytes(),
    )
}

/// Key -> (offset, value) of its latest record.
type Latest = BTreeMap<Vec<u8>, (i64, Vec<u8>)>;

/// The latest record of each key `log` reads from its start.
fn latest(log: &Log) -> Latest {
    let mut out = BTreeMap::new();
    for r in log.records_from(log.log_start_offset()) {
        let r = r.unwrap();
        out.insert(r.key().unwrap().to_vec(), (r.offset(), r.value().unwrap().to_vec()));
    }
    out
}

/// One operation off the append path, on a partition made by `prepare`.
struct Case {
    name: &'static str,
    config: &'static [(&'static str, &'static str)],
    keys: i64,
    /// Records appended (and acknowledged) before the operation.
    records: i64,
    /// Rolls the log after this many records (0: never).
    roll_every: i64,
    act: fn(&Store, &Log) -> Result<(), Error>,
    /// Whether `ENOSPC` at `op` may poison the partition (`cause` is the poison's text).
    may_poison: fn(Op, &str) -> bool,
}

/// A failed fsync leaves the file's state unknown: it poisons.
fn fsync(op: Op) -> bool {
    matches!(op, Op::Sync | Op::SyncDir)
}

fn prepare(root: &Path, case: &Case) -> (Store, Log, Latest) {
    let store = open_store(root);
    store.create_topic(TOPIC, 1, &overrides(case.config)).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    for i in 0..case.records {
        log.append(&[record(i, case.keys)]).unwrap();
        if case.roll_every > 0 && (i + 1) % case.roll_every == 0 {
            log.roll().unwrap();
        }
    }
    let acked = latest(&log);
    (store, log, acked)
}

fn leftovers(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

/// Runs `case.act` with `ENOSPC` at each count of each operation; returns the broken promises.
fn sweep(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    for op in OPS {
        let calls = {
            let root = tempfile::tempdir().unwrap();
            let (store, log, _) = prepare(root.path(), case);
            let guard = fault::arm(FaultPlan::new());
            (case.act)(&store, &log).unwrap();
            guard.calls(op)
        };
        for n in 1..=calls {
            let at = format!("{}: ENOSPC at {op:?} #{n} of {calls}", case.name);
            let root = tempfile::tempdir().unwrap();
            let (store, log, acked) = prepare(root.path(), case);
            let dir = log.dir().to_path_buf();
            let result = {
                let _full = fault::arm(FaultPlan::new().fail_nth(op, n).os_error(op, libc::ENOSPC));
                (case.act)(&store, &log)
            };
            if let Err(e) = &result {
                let text = e.to_string();
                if !text.contains(&*root.path().to_string_lossy()) {
                    problems.push(format!("{at}: the error names no file: {text}"));
                }
                // Opening a directory (to fsync it) takes no space: a real full disk cannot
                // fail it.
                let space_taking = !fsync(op) && !text.starts_with("open dir ");
                if space_taking && log.poisoned().is_none() && !matches!(e, Error::NoSpace { .. }) {
                    problems.push(format!("{at}: not the retriable NoSpace: {e:?}"));
                }
            }
            let poisoned = log.poisoned();
            if let Some(cause) = &poisoned
                && !(case.may_poison)(op, cause)
            {
                problems.push(format!("{at}: poisoned: {cause}"));
            }
            // A poisoned swap leaves its files for the next open to complete or undo.
            if poisoned.is_none() && !leftovers(&dir).is_empty() {
                problems.push(format!("{at}: left {:?}", leftovers(&dir)));
            }
            if poisoned.is_none() && case.name != "close" {
                if let Err(e) = (case.act)(&store, &log) {
                    problems.push(format!("{at}: the retry failed: {e}"));
                }
                if let Err(e) = log.append(&[record(case.records, case.keys)]) {
                    problems.push(format!("{at}: the append after failed: {e}"));
                }
            }
            // A close that failed for lack of space is retried as is, and shuts down clean
            // unless a partition could not be synced (then the next open recovers it).
            if case.name == "close" && !fsync(op) && matches!(result, Err(Error::NoSpace { .. })) {
                match store.close() {
                    Ok(())
                        if poisoned.is_none()
                            && !root.path().join(".kafka_cleanshutdown").exists() =>
                    {
                        problems.push(format!("{at}: the retried close left no marker"));
                    }
                    Ok(()) => {}
                    Err(e) => problems.push(format!("{at}: the retried close failed: {e}")),
                }
            }
            let _ = store.close();
            drop((log, store));
            let store = match Store::open(StoreConfig::new([root.path()]).background_threads(false))
            {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("{at}: the reopen failed: {e}"));
                    continue;
                }
            };
            let log = store.partition(TOPIC, 0).unwrap();
            let found = latest(&log);
            // Retention may have removed records below the log start; the append after the
            // retry may have replaced one key's value.
            let start = log.log_start_offset();
            let appended = record(case.records, case.keys);
            for (k, (offset, value)) in acked.iter().filter(|(_, (o, _))| *o >= start) {
                let got = found.get(k);
                let ok = got.is_some_and(|(o, v)| {
                    (o == offset && v == value) || Some(v.as_slice()) == appended.value.as_deref()
                });
                if !ok {
                    problems.push(format!(
                        "{at}: after a reopen key {k:?} (offset {offset}) reads {got:?}"
                    ));
                    break;
                }
            }
            if !leftovers(&dir).is_empty() {
                problems.push(format!("{at}: reopened with {:?}", leftovers(&dir)));
            }
            store.close().unwrap();
        }
    }
    problems
}

fn assert_sweep(case: &Case) {
    let problems = sweep(case);
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn enospc_at_any_write_of_a_roll_fails_it_retriably_and_loses_nothing() {
    assert_sweep(&Case {
        name: "roll",
        config: &[],
        keys: 1000,
        records: 12,
        roll_every: 5,
        act: |_, log| log.roll(),
        // Sealing the active segment (base 10) reopens, shrinks, maps and writes the reserved
        // slot of its existing index files: none of that takes blocks, so a real full disk
        // cannot fail it, and a failure there leaves a half-sealed segment, which poisons.
        may_poison: |op, cause| {
            fsync(op)
                || cause.contains("00000000000000000010.time")
                || cause.contains("00000000000000000010.index")
        },
    });
}

#[test]
fn enospc_at_any_write_of_a_flush_fails_it_retriably_and_loses_nothing() {
    assert_sweep(&Case {
        name: "flush",
        config: &[],
        keys: 1000,
        records: 12,
        roll_every: 5,
        act: |_, log| log.flush(),
        may_poison: |op, _| fsync(op),
    });
}

#[test]
fn enospc_at_any_write_of_the_store_checkpoints_fails_them_retriably_and_loses_nothing() {
    assert_sweep(&Case {
        name: "checkpoints",
        config: &[],
        keys: 1000,
        records: 12,
        roll_every: 5,
        act: |store, _| store.write_checkpoints(),
        may_poison: |op, _| fsync(op),
    });
}

#[test]
fn enospc_at_any_write_of_a_retention_pass_fails_it_retriably_and_loses_nothing() {
    assert_sweep(&Case {
        name: "retention",
        config: &[("retention.bytes", "400"), ("file.delete.delay.ms", "0")],
        keys: 1000,
        records: 12,
        roll_every: 3,
        act: |store, _| store.maintain(None).map(|_| ()),
        // Renaming expired segments `.deleted` is past the point of no return (Kafka's
        // `deleteSegments` takes the log directory offline on any I/O error there).
        may_poison: |op, _| fsync(op) || op == Op::Rename,
    });
}

#[test]
fn enospc_at_any_write_of_a_cleaning_abandons_it_and_a_later_one_succeeds() {
    assert_sweep(&Case {
        name: "clean",
        config: &[
            ("cleanup.policy", "compact"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("file.delete.delay.ms", "0"),
            ("index.interval.bytes", "128"),
        ],
        keys: 4,
        records: 16,
        roll_every: 4,
        act: |store, _| store.maintain(None).map(|_| ()),
        // The swap's renames are its crash protocol (`src/log/swap.rs`): a failed one poisons,
        // and the next open completes or undoes the swap (Kafka's `replaceSegments` takes the
        // log directory offline).
        may_poison: |op, _| fsync(op) || op == Op::Rename,
    });
}

#[test]
fn enospc_at_any_write_of_a_topic_creation_fails_it_retriably() {
    assert_sweep(&Case {
        name: "create_topic",
        config: &[],
        keys: 1000,
        records: 3,
        roll_every: 0,
        act: |store, _| {
            store.create_topic_if_absent("other", 2, &strata::TopicConfig::new()).map(|_| ())
        },
        may_poison: |op, _| fsync(op),
    });
}

#[test]
fn enospc_at_any_write_of_a_close_names_the_file_and_loses_nothing() {
    assert_sweep(&Case {
        name: "close",
        config: &[],
        keys: 1000,
        records: 12,
        roll_every: 5,
        act: |store, _| store.close(),
        // The partition is closed either way; what matters is the error and the reopen.
        may_poison: |_, _| true,
    });
}
