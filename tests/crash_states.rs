//! Simulated power loss: the states a power cut could leave, not only kills.
//!
//! A SIGKILL keeps the page cache, so it cannot find a missing fsync. Here a
//! workload runs with an observer on the io gate ([`strata::internals::io::fault::observe`])
//! that records every write, sync, create, rename and remove strata issues,
//! with the file system as each left it. From that trace the test builds the
//! directory states a power cut at any point could leave:
//! - file data not fsynced is dropped, kept, or cut at any byte;
//! - creates, renames and removes in a directory are durable only once the
//!   directory was fsynced: each directory is rebuilt either as it was at its
//!   last fsync or as it was at the cut;
//!
//! then opens each and checks that every acknowledged-durable record (flushed
//! before the cut) is served, nothing served differs from what was appended,
//! no log start offset moved back below what was checkpointed, and a deleted
//! topic stays deleted. It also checks the rule of `src/io/file.rs` on the
//! trace itself: every create and rename is followed by an fsync of its
//! directory before the operation that acknowledged it returns.
//!
//! Prints the counts: states built, records checked, lost.
//! `STRATA_CRASH_STATES` sets the number of states (default 160).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use common::Rng;
use strata::ManualClock;
use strata::Record;
use strata::Store;
use strata::StoreConfig;
use strata::internals::io::fault::{self, Done, Op};

const NOW: i64 = 1_700_000_000_000;

/// A directory entry: a subdirectory or a file, by inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Dir(u64),
    File(u64),
}

type Listing = BTreeMap<OsString, Entry>;

/// One completed operation and what it left.
#[derive(Debug, Clone)]
struct Event {
    op: Op,
    path: PathBuf,
    /// Directories (by inode) as the operation left them.
    listings: Vec<(u64, Listing)>,
    /// The file's inode and bytes after a write, length change, create or sync.
    image: Option<(u64, Vec<u8>)>,
    /// Names this operation created (new in their directory), by directory inode.
    created: Vec<(u64, OsString)>,
}

#[derive(Debug, Default)]
struct Trace {
    root: PathBuf,
    root_ino: u64,
    events: Vec<Event>,
    /// The last listing seen of each directory, to tell creates from opens.
    last: BTreeMap<u64, Listing>,
    /// Directory inodes in the order first seen (inode numbers differ from run
    /// to run; this order does not).
    order: BTreeMap<u64, usize>,
}

fn listing(dir: &Path) -> Option<(u64, Listing)> {
    let ino = fs::metadata(dir).ok()?.ino();
    let mut out = Listing::new();
    for e in fs::read_dir(dir).ok()? {
        let e = e.unwrap();
        let Ok(md) = fs::symlink_metadata(e.path()) else { continue };
        let entry = if md.is_dir() { Entry::Dir(md.ino()) } else { Entry::File(md.ino()) };
        out.insert(e.file_name(), entry);
    }
    Some((ino, out))
}

fn parent(p: &Path) -> &Path {
    p.parent().unwrap()
}

impl Trace {
    fn record(&mut self, d: Done<'_>) {
        if !d.path.starts_with(&self.root) {
            return;
        }
        let mut dirs: Vec<&Path> = Vec::new();
        let mut image = false;
        match d.op {
            Op::Open => {
                dirs.push(parent(d.path));
                image = true;
            }
            Op::Write | Op::SetLen | Op::Sync => image = true,
            Op::SyncDir => dirs.push(d.path),
            Op::Rename => {
                dirs.push(parent(d.path));
                dirs.push(parent(d.to.unwrap()));
                // A renamed directory keeps its inode and its listing.
            }
            Op::Remove => dirs.push(parent(d.path)),
            Op::CreateDir => {
                let mut p = d.path;
                while p.starts_with(&self.root) && p != self.root {
                    dirs.push(p);
                    p = parent(p);
                }
                dirs.push(p);
            }
            _ => return,
        }
        let mut event = Event {
            op: d.op,
            path: d.path.to_path_buf(),
            listings: Vec::new(),
            image: None,
            created: Vec::new(),
        };
        for dir in dirs {
            let Some((ino, l)) = listing(dir) else { continue };
            let before = self.last.get(&ino);
            for name in l.keys() {
                if before.is_none_or(|b| b.get(name) != l.get(name)) {
                    event.created.push((ino, name.clone()));
                }
            }
            self.last.insert(ino, l.clone());
            let next = self.order.len();
            self.order.entry(ino).or_insert(next);
            event.listings.push((ino, l));
        }
        if image
            && let Ok(md) = fs::symlink_metadata(d.path)
            && md.is_file()
        {
            event.image = Some((md.ino(), fs::read(d.path).unwrap()));
        }
        self.events.push(event);
    }
}

/// What a power cut after the first `cut` events can leave; `rng` decides the
/// per-directory and per-file choices, `worst` makes every one of them the
/// least durable. Unless `names`, every directory is as at the cut (all its
/// creates, renames and removes durable) and only file data is lost.
fn build_state(trace: &Trace, cut: usize, rng: &mut Rng, worst: bool, names: bool, out: &Path) {
    let events = &trace.events[..cut];
    let mut current: BTreeMap<u64, Listing> = BTreeMap::new();
    let mut synced: BTreeMap<u64, Listing> = BTreeMap::new();
    let mut image: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut durable: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for e in events {
        for (ino, l) in &e.listings {
            current.insert(*ino, l.clone());
            if e.op == Op::SyncDir {
                synced.insert(*ino, l.clone());
            }
        }
        if let Some((ino, bytes)) = &e.image {
            image.insert(*ino, bytes.clone());
            if e.op == Op::Sync {
                durable.insert(*ino, bytes.clone());
            }
        }
    }
    // Each directory as at its last fsync or as at the cut.
    let mut chosen: BTreeMap<u64, Listing> = BTreeMap::new();
    let mut dirs: Vec<(&u64, &Listing)> = current.iter().collect();
    dirs.sort_by_key(|(ino, _)| trace.order[ino]);
    for (ino, l) in dirs {
        let old = synced.get(ino).cloned().unwrap_or_default();
        let keep_new = !names || (!worst && rng.below(3) != 0);
        chosen.insert(*ino, if keep_new { l.clone() } else { old });
    }
    let out = out.join("logs");
    fs::create_dir_all(&out).unwrap();
    let mut stack = vec![(trace.root_ino, out.clone())];
    let mut seen = BTreeSet::new();
    while let Some((ino, dir)) = stack.pop() {
        if !seen.insert(ino) {
            continue; // a directory linked twice in a mixed state: keep the first
        }
        let mut entries: Vec<(OsString, Entry)> =
            chosen.get(&ino).cloned().unwrap_or_default().into_iter().collect();
        // A deleted partition's directory has a random name: visit it last, so the
        // choices (and the states) are the same on every run.
        entries.sort_by_key(|(name, _)| !name.to_string_lossy().ends_with("-delete"));
        for (name, entry) in entries {
            let path = dir.join(&name);
            match entry {
                Entry::Dir(d) => {
                    fs::create_dir_all(&path).unwrap();
                    stack.push((d, path));
                }
                Entry::File(f) => {
                    let old = durable.get(&f).cloned().unwrap_or_default();
                    let new = image.get(&f).cloned().unwrap_or_default();
                    let bytes = if worst {
                        old
                    } else {
                        match rng.below(3) {
                            0 => old,
                            1 => new,
                            // Torn: the synced bytes, then part of what followed.
                            _ if new.starts_with(&old) => {
                                let extra = rng.below((new.len() - old.len()) as u64 + 1) as usize;
                                new[..old.len() + extra].to_vec()
                            }
                            _ => old,
                        }
                    };
                    fs::write(&path, bytes).unwrap();
                }
            }
        }
    }
}

/// Creates and renames not followed by an fsync of their directory before
/// the acknowledgement at event index `ack`.
fn undurable_names(trace: &Trace, ack: usize) -> Vec<String> {
    let mut out = Vec::new();
    let events = &trace.events[..ack];
    for (i, e) in events.iter().enumerate() {
        if !matches!(e.op, Op::Open | Op::Rename | Op::CreateDir) {
            continue;
        }
        for (dir, name) in &e.created {
            // The lock file need not survive a crash, nor producer snapshots (written
            // without fsync by design: a lost one only makes recovery rebuild state).
            let n = name.to_string_lossy();
            if n == ".lock" || n.contains(".snapshot") {
                continue;
            }
            let synced = events[i + 1..].iter().any(|later| {
                later.op == Op::SyncDir && later.listings.iter().any(|(d, _)| d == dir)
            });
            if !synced {
                out.push(format!("{:?} {} ({:?} created)", e.op, e.path.display(), name));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The workload and what it acknowledged.

/// What the workload promised, from an event index on.
#[derive(Debug, Clone)]
enum Promise {
    /// Records durable: partition → offset → value.
    Records(String, i64, String),
    /// The log start offset of a partition is at least this.
    Start(String, i64),
    /// The topic exists (with its partitions).
    Exists(String),
    /// The topic is deleted.
    Deleted(String),
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

struct Workload {
    store: Store,
    trace: Rc<RefCell<Trace>>,
    /// `(event index, promise)`: holds for a cut at or after the index.
    promises: Vec<(usize, Promise)>,
    /// Records appended since the last flush, per partition.
    pending: Vec<(String, i64, String)>,
    /// Every value ever appended: partition → offset → value.
    history: BTreeMap<String, BTreeMap<i64, String>>,
    /// `(event index of the append, partition, offset, key)` of every record.
    keys: Vec<(usize, String, i64, String)>,
    /// `(event index, partition, offset)`: from the index on, records below the
    /// offset may be gone (a delete-records or topic delete started).
    forgotten: Vec<(usize, String, i64)>,
    seq: u64,
}

impl Workload {
    fn now(&self) -> usize {
        self.trace.borrow().events.len()
    }

    fn append(&mut self, topic: &str, p: i32, n: usize, rng: &mut Rng) {
        let log = self.store.partition(topic, p).unwrap();
        let mut batch = Vec::new();
        let mut values = Vec::new();
        for _ in 0..n {
            self.seq += 1;
            let v = format!("{}:{topic}-{p}:{}", self.seq, "x".repeat(rng.below(90) as usize));
            let key = format!("k{}", self.seq % 5);
            batch.push(Record::new(key.clone(), v.clone()));
            values.push((key, v));
        }
        let info = log.append(&batch).unwrap();
        let part = format!("{topic}-{p}");
        let at = self.now();
        for (i, (key, v)) in values.into_iter().enumerate() {
            let o = info.base_offset + i as i64;
            self.history.entry(part.clone()).or_default().insert(o, v.clone());
            self.keys.push((at, part.clone(), o, key));
            self.pending.push((part.clone(), o, v));
        }
    }

    fn flush(&mut self) {
        self.store.flush(None).unwrap();
        let at = self.now();
        for (part, o, v) in self.pending.drain(..) {
            self.promises.push((at, Promise::Records(part, o, v)));
        }
    }

    fn promise(&mut self, p: Promise) {
        let at = self.now();
        self.promises.push((at, p));
    }
}

fn run_workload(root: &Path, rng: &mut Rng) -> Workload {
    // The log directory exists (durably) before the store first opens it.
    let logs = root.join("logs");
    fs::create_dir_all(&logs).unwrap();
    let trace = Rc::new(RefCell::new(Trace {
        root: logs.clone(),
        root_ino: fs::metadata(&logs).unwrap().ino(),
        ..Trace::default()
    }));
    let recorder = Rc::clone(&trace);
    let guard = fault::observe(move |d| recorder.borrow_mut().record(d));
    let config = StoreConfig::new([logs]).background_threads(false);
    // A fixed clock: the same trace on every run.
    let store = Store::open_with_clock(config, ManualClock::new(NOW)).unwrap();
    let mut w = Workload {
        store,
        trace,
        promises: Vec::new(),
        pending: Vec::new(),
        history: BTreeMap::new(),
        keys: Vec::new(),
        forgotten: Vec::new(),
        seq: 0,
    };
    let small =
        [("segment.bytes", "700"), ("index.interval.bytes", "100"), ("segment.index.bytes", "400")];
    w.store.create_topic("t", 2, &overrides(&small)).unwrap();
    w.promise(Promise::Exists("t".into()));
    let mut compact = small.to_vec();
    compact.extend([("cleanup.policy", "compact"), ("min.cleanable.dirty.ratio", "0.01")]);
    w.store.create_topic("c", 1, &overrides(&compact)).unwrap();
    w.promise(Promise::Exists("c".into()));
    for round in 0..10 {
        for _ in 0..3 {
            let p = rng.below(2) as i32;
            let n = 1 + rng.below(4) as usize;
            w.append("t", p, n, rng);
        }
        w.append("c", 0, 1 + rng.below(5) as usize, rng);
        if matches!(round, 3 | 5 | 8) {
            w.store.maintain(None).unwrap();
        }
        if round == 2 {
            w.store.create_topic("u", 1, &overrides(&small)).unwrap();
            w.promise(Promise::Exists("u".into()));
        }
        if (2..6).contains(&round) {
            w.append("u", 0, 3, rng);
        }
        if round == 4 {
            w.store.partition("t", 1).unwrap().roll().unwrap();
        }
        if round == 6 {
            let at = w.store.partition("t", 0).unwrap().log_end_offset() / 2;
            w.forgotten.push((w.now(), "t-0".into(), at));
            let start = w.store.delete_records("t", 0, at).unwrap();
            w.promise(Promise::Start("t-0".into(), start));
        }
        if round == 7 {
            w.forgotten.push((w.now(), "u-0".into(), i64::MAX));
            w.store.delete_topic("u").unwrap();
            w.promise(Promise::Deleted("u".into()));
        }
        if round != 8 {
            w.flush();
        }
    }
    w.store.close().unwrap();
    let at = w.now();
    for (part, o, v) in w.pending.drain(..) {
        w.promises.push((at, Promise::Records(part, o, v)));
    }
    drop(guard);
    w
}

#[derive(Default)]
struct Counts {
    states: usize,
    records_checked: usize,
    lost: Vec<String>,
    wrong: Vec<String>,
    /// Partitions whose tail below the log end was empty.
    gaps: usize,
}

/// Opens the state at `dir` (a power cut after `cut` events) and checks the promises.
fn check_state(w: &Workload, cut: usize, dir: &Path, what: &str, counts: &mut Counts) {
    counts.states += 1;
    let config = StoreConfig::new([dir.join("logs")]).background_threads(false);
    let store = match Store::open_with_clock(config, ManualClock::new(NOW)) {
        Ok(s) => s,
        Err(e) => {
            counts.wrong.push(format!("{what}: the store did not open: {e}"));
            return;
        }
    };
    let mut served: BTreeMap<String, BTreeMap<i64, String>> = BTreeMap::new();
    let mut starts = BTreeMap::new();
    for (topic, n) in store.topics() {
        for p in 0..n {
            let part = format!("{topic}-{p}");
            let log = match store.partition(&topic, p) {
                Ok(l) => l,
                Err(e) => {
                    counts.wrong.push(format!("{what}: {part}: {e}"));
                    continue;
                }
            };
            starts.insert(part.clone(), log.log_start_offset());
            let mut next = log.log_start_offset();
            while next < log.log_end_offset() {
                let f = match log.read(next, 1 << 20) {
                    Ok(f) if !f.is_empty() => f,
                    // Nothing left below the log end: the tail of a segment that was not
                    // synced before a later (empty) segment was created. Kafka serves such
                    // a gap the same way; the offsets are not handed out again.
                    Ok(_) => {
                        counts.gaps += 1;
                        break;
                    }
                    other => {
                        counts.wrong.push(format!("{what}: {part}: read({next}): {other:?}"));
                        break;
                    }
                };
                for r in f.records() {
                    match r {
                        Ok(r) if r.offset() >= next => {
                            let v = String::from_utf8_lossy(r.value().unwrap()).into_owned();
                            served.entry(part.clone()).or_default().insert(r.offset(), v);
                        }
                        Ok(_) => {}
                        Err(e) => counts.wrong.push(format!("{what}: {part}: {e}")),
                    }
                }
                next = f.next_offset();
            }
        }
    }
    drop(store);
    // Nothing served differs from what was appended.
    for (part, recs) in &served {
        for (o, v) in recs {
            if w.history.get(part).and_then(|h| h.get(o)) != Some(v) {
                counts
                    .wrong
                    .push(format!("{what}: {part} offset {o} serves {v:?}, never appended there"));
            }
        }
    }
    let topics: BTreeSet<String> =
        served.keys().chain(starts.keys()).map(|p| p[..p.rfind('-').unwrap()].to_owned()).collect();
    let forgotten = |part: &str, o: i64| {
        w.forgotten.iter().any(|(at, p, below)| *at <= cut && p == part && o < *below)
    };
    // In the compacted topic, a record with a later value of its key (appended
    // before the cut) may be cleaned away.
    let superseded = |part: &str, o: i64| {
        let key = w.keys.iter().find(|(_, p, off, _)| p == part && *off == o).map(|k| &k.3);
        part.starts_with("c-")
            && w.keys
                .iter()
                .any(|(at, p, off, k)| *at <= cut && p == part && *off > o && Some(k) == key)
    };
    for (at, promise) in &w.promises {
        if *at > cut {
            continue;
        }
        match promise {
            Promise::Records(part, o, v) => {
                if forgotten(part, *o) || superseded(part, *o) {
                    continue;
                }
                counts.records_checked += 1;
                match served.get(part).and_then(|s| s.get(o)) {
                    Some(got) if got == v => {}
                    _ => counts
                        .lost
                        .push(format!("{what}: {part} offset {o} (flushed at event {at})")),
                }
            }
            Promise::Start(part, s) => {
                if starts.get(part).is_some_and(|got| got < s) {
                    counts.wrong.push(format!(
                        "{what}: {part} log start {:?} below the checkpointed {s}",
                        starts[part]
                    ));
                }
            }
            Promise::Exists(t) => {
                let deleted = w
                    .promises
                    .iter()
                    .any(|(a, p)| *a <= cut && matches!(p, Promise::Deleted(d) if d == t))
                    || w.forgotten
                        .iter()
                        .any(|(a, p, _)| *a <= cut && p.starts_with(&format!("{t}-")));
                if !deleted && !topics.contains(t) {
                    counts.lost.push(format!("{what}: topic {t} (created at event {at}) is gone"));
                }
            }
            Promise::Deleted(t) => {
                if topics.contains(t) {
                    counts
                        .wrong
                        .push(format!("{what}: topic {t} (deleted at event {at}) came back"));
                }
            }
        }
    }
}

fn states() -> usize {
    std::env::var("STRATA_CRASH_STATES").ok().and_then(|v| v.parse().ok()).unwrap_or(160)
}

#[test]
fn power_cuts_lose_no_flushed_record_and_serve_nothing_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("run");
    fs::create_dir_all(&root).unwrap();
    let mut rng = Rng(0xc0ffee);
    let w = run_workload(&root, &mut rng);
    let trace = w.trace.borrow();
    let n = trace.events.len();
    // Cuts: right after every acknowledgement (worst case: nothing unsynced
    // survives), then random cuts with random choices.
    let mut cuts: Vec<(usize, bool)> = w.promises.iter().map(|(at, _)| (*at, true)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    while cuts.len() < states() {
        cuts.push((rng.below(n as u64 + 1) as usize, rng.below(4) == 0));
    }
    let mut counts = Counts::default();
    for (i, &(cut, worst)) in cuts.iter().enumerate() {
        let dir = tmp.path().join(format!("state-{i}"));
        build_state(&trace, cut, &mut rng, worst, true, &dir);
        let what = format!(
            "state {i} (cut after event {cut} of {n}{})",
            if worst { ", worst" } else { "" }
        );
        check_state(&w, cut, &dir, &what, &mut counts);
        fs::remove_dir_all(&dir).unwrap();
    }
    // What depends on a new name: the next flush (or close), which promises every
    // record appended so far, in whichever file it lies.
    let acks: BTreeSet<usize> = w
        .promises
        .iter()
        .filter(|(_, p)| matches!(p, Promise::Records(..)))
        .map(|(at, _)| *at)
        .collect();
    let mut unsynced: BTreeSet<String> = BTreeSet::new();
    for &ack in &acks {
        unsynced.extend(undurable_names(&trace, ack));
    }
    println!(
        "power cuts: {n} events traced, {} states built, {} records checked, {} lost, {} wrong, {} empty tails, {} creates/renames not followed by a directory fsync",
        counts.states,
        counts.records_checked,
        counts.lost.len(),
        counts.wrong.len(),
        counts.gaps,
        unsynced.len()
    );
    let show = |v: &[String]| v.iter().take(20).cloned().collect::<Vec<_>>().join("\n");
    assert!(counts.lost.is_empty(), "lost:\n{}", show(&counts.lost));
    assert!(counts.wrong.is_empty(), "wrong:\n{}", show(&counts.wrong));
    let unsynced: Vec<String> = unsynced.into_iter().collect();
    assert!(unsynced.is_empty(), "not durable before acknowledged:\n{}", show(&unsynced));
}
