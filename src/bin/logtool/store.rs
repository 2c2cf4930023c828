//! Opening and closing the store for one command, and looking up topics and
//! partitions with errors that name what was wrong.

use std::path::PathBuf;

use strata::Log;
use strata::Store;
use strata::{ConfigWarning, StoreConfig};

use super::Failure;

/// The default log directory when neither `--dir` nor the config file's `log.dirs` gives one.
pub const DEFAULT_DIR: &str = "./strata-data";

/// The global options that say which store to open.
#[derive(Debug)]
pub struct Globals {
    /// `--dir`, in order; empty when not given.
    pub dirs: Vec<PathBuf>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--adopt-unlisted`.
    pub adopt_unlisted: bool,
}

/// The store's config: the `server.properties` file when given (its unknown keys
/// are reported on stderr as warnings), with `--dir` overriding its `log.dirs`.
/// Without either, the directory is `./strata-data`.
pub fn config(g: &Globals) -> Result<StoreConfig, Failure> {
    let mut config = match &g.config {
        None => StoreConfig::new([PathBuf::from(DEFAULT_DIR)]),
        Some(path) => {
            let (mut config, warnings) = StoreConfig::from_properties_file(path).map_err(|e| {
                Failure::lib(format!("cannot load config file {}", path.display()), &e)
            })?;
            for w in &warnings {
                match w {
                    ConfigWarning::Unknown { .. } => {
                        say!("logtool: warning: {}: {w}", path.display());
                    }
                    ConfigWarning::Defaulted { key: "log.dirs", .. } => {
                        config.log_dirs = vec![PathBuf::from(DEFAULT_DIR)];
                    }
                    _ => {}
                }
            }
            config
        }
    };
    if !g.dirs.is_empty() {
        config.log_dirs.clone_from(&g.dirs);
    }
    // One command, then exit: retention and cleaning are `maintain`'s business.
    Ok(config.background_threads(false).adopt_unlisted_partitions(g.adopt_unlisted))
}

/// Opens the store, runs `f`, and closes the store cleanly whether `f`
/// succeeded or not (so the next command starts from a clean shutdown).
pub fn with_store(
    g: &Globals,
    f: &mut dyn FnMut(&Store) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let config = config(g)?;
    prepare_dirs(&config)?;
    let store = Store::open(config);
    super::progress::store_opened();
    let store = store.map_err(|e| Failure::lib("cannot open the store", &e))?;
    report_found(&store);
    let result = f(&store);
    report_background_errors(&store);
    let closed = store.close().map_err(|e| Failure::lib("cannot close the store cleanly", &e));
    match result {
        // `produce` stopped by a signal (status 128 + its number) appended all it read: a
        // close that failed is what the operator must hear of, with its status, after the
        // signal's summary (how many lines were appended), which is printed first.
        Err(f) if f.code > 128 => match closed {
            Ok(()) => Err(f),
            Err(close) => {
                say!("logtool: {}", f.msg);
                Err(close)
            }
        },
        result => result.and(closed),
    }
}

/// Opens the store read-only (it never writes, takes no lock, and works
/// beside a running writer), runs `f`, and lets go. What a writer's recovery
/// would cut is said on stderr: the command shows the data that would remain.
pub fn with_store_read_only(
    g: &Globals,
    f: &mut dyn FnMut(&Store) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let config = config(g)?;
    prepare_dirs(&config)?;
    let store = Store::open_read_only(config);
    super::progress::store_opened();
    let store = store.map_err(|e| Failure::lib("cannot open the store", &e))?;
    let report = store.recovery_report();
    for (partition, cut) in &report.cuts {
        say!("logtool: note: {partition} needs recovery; a writer's open would cut {cut}");
    }
    report_found(&store);
    let result = f(&store);
    report_background_errors(&store);
    let _ = store.close();
    result
}

/// Checks each log directory before the store opens, in the operator's words, and creates a
/// missing one, as the contract says of
/// `--dir` ("Created if missing"): a fresh directory is an empty store for every verb.
fn prepare_dirs(config: &StoreConfig) -> Result<(), Failure> {
    for dir in &config.log_dirs {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Failure::io(format!(
                    "log directory {} is not a directory",
                    dir.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Failure::io(format!("cannot create log directory {}: {e}", dir.display()))
                })?;
            }
            Err(e) => {
                return Err(Failure::io(format!(
                    "cannot read log directory {}: {e}",
                    dir.display()
                )));
            }
        }
    }
    Ok(())
}

/// One stderr line per partition the open left offline and per entry it ignored, naming it
/// and why: the rest of the store serves, so the command goes on, but nothing is silent.
fn report_found(store: &Store) {
    for (topic, partition, path, cause) in store.offline_partitions() {
        say!(
            "logtool: warning: partition {topic}-{partition} is offline ({}): {cause}",
            path.display()
        );
    }
    for (path, why) in store.ignored_entries() {
        say!("logtool: warning: ignored {}: {why}", path.display());
    }
}

/// One stderr line per error the store's background work recorded.
fn report_background_errors(store: &Store) {
    for e in store.background_errors() {
        say!("logtool: warning: background error: {e}");
    }
}

/// The offline partitions `topic` (or, for `None`, the whole store) has, as `topic-N` names.
pub fn offline_in(store: &Store, topic: Option<&str>) -> Vec<String> {
    store
        .offline_partitions()
        .into_iter()
        .filter(|(t, ..)| topic.is_none_or(|want| want == t))
        .map(|(t, p, ..)| format!("{t}-{p}"))
        .collect()
}

/// The error of a command that did its work on every online partition and had to skip
/// `offline` (exit 3: a partition offline is the storage's failure).
pub fn skipped_offline(done: &str, offline: &[String]) -> Failure {
    Failure::io(format!(
        "{done} the online partitions only: {} offline ({}), see the warnings above",
        super::count(offline.len(), "partition"),
        offline.join(", ")
    ))
}

/// The partition count of `topic`, or "unknown topic" naming it.
pub fn partition_count(store: &Store, topic: &str) -> Result<i32, Failure> {
    store.partition_count(topic).map_err(|_| {
        Failure::new(format!("topic {topic:?} does not exist in {}", dirs_text(store)))
    })
}

/// The log of `topic`'s `partition`, with an error naming the valid range.
pub fn log(store: &Store, topic: &str, partition: i32) -> Result<Log, Failure> {
    let count = partition_count(store, topic)?;
    if !(0..count).contains(&partition) {
        return Err(Failure::new(format!(
            "topic {topic:?} has no partition {partition} (it has {})",
            match count {
                1 => "only partition 0".to_owned(),
                n => format!("partitions 0 to {}", n - 1),
            }
        )));
    }
    store
        .partition(topic, partition)
        .map_err(|e| Failure::lib(format!("cannot open partition {topic}-{partition}"), &e))
}

fn dirs_text(store: &Store) -> String {
    let dirs: Vec<String> = store.log_dirs().iter().map(|d| d.display().to_string()).collect();
    dirs.join(", ")
}
