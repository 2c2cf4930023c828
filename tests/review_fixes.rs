//! Regressions from the review of the read-only open, handle identity and
//! store lifecycle work (each test names the defect it guards against).
//! Tests that could die of `SIGBUS` run their body in a child process, so a
//! signal fails the test instead of killing the suite.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use strata::Error;
use strata::Record;
use strata::Store;
use strata::StoreConfig;

/// Set to a test's name in the child process that runs its body.
const CHILD_ENV: &str = "STRATA_REVIEW_FIXES_CHILD";

/// True in the child running test `name`; in the parent, runs the child,
/// asserts it passed (a signal is a failure) and returns false.
fn in_child(name: &str) -> bool {
    common::in_child(CHILD_ENV, name, None)
}

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new([dir]).background_threads(false)
}

fn small_segments() -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    o.insert("segment.bytes".to_owned(), "1024".to_owned());
    o.insert("index.interval.bytes".to_owned(), "64".to_owned());
    o
}

/// A store with topic `t` (one partition, small segments) of `n` records, closed.
fn written(n: i64) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    store.create_topic("t", 1, &small_segments()).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..n {
        log.append(&[Record::new(format!("k{i}"), format!("value-{i}"))]).unwrap();
    }
    store.close().unwrap();
    tmp
}

/// A read-only store used to map index files; a writer beside it (trim at
/// roll, recovery's rebuild) cutting such a file made the next lookup fault
/// with `SIGBUS`. Now it reads a copy: cutting every index file to 0 bytes
/// under a loaded read-only index changes no answer.
#[test]
fn read_only_index_survives_a_writer_cutting_its_file() {
    if !in_child("read_only_index_survives_a_writer_cutting_its_file") {
        return;
    }
    let tmp = written(200);
    let ro = Store::open_read_only(config(tmp.path())).unwrap();
    let log = ro.partition("t", 0).unwrap();
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 3, "{bases:?}");
    // Lookups in every segment load its indexes.
    let mut before = Vec::new();
    for &b in &bases {
        let f = log.read(b + 1, 4096).unwrap();
        before.push(f.batches().next().map(|b| b.base_offset()));
    }
    for e in std::fs::read_dir(tmp.path().join("t-0")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".index") || name.ends_with(".timeindex") {
            std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(0).unwrap();
        }
    }
    let mut after = Vec::new();
    for &b in &bases {
        let f = log.read(b + 1, 4096).unwrap();
        after.push(f.batches().next().map(|b| b.base_offset()));
    }
    assert_eq!(before, after);
    ro.close().unwrap();
}

/// Every file under `dir` with its length and modification time.
fn snapshot(dir: &Path) -> BTreeMap<std::path::PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p, (m.len(), m.modified().unwrap()));
        }
    }
    out
}

/// A closed store wrote checkpoints when asked (or by a held handle's
/// caller), over files another store may own by then. Now it is `Closed` and
/// no file changes.
#[test]
fn a_closed_store_refuses_to_write_checkpoints() {
    let tmp = written(50);
    let first = Store::open(config(tmp.path())).unwrap();
    first.partition("t", 0).unwrap();
    first.close().unwrap();
    let second = Store::open(config(tmp.path())).unwrap();
    let before = snapshot(tmp.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(matches!(first.write_checkpoints(), Err(Error::Closed { .. })));
    assert!(matches!(first.flush(None), Err(Error::Closed { .. })));
    assert!(matches!(first.groups().commit("g", "t", 0, 5), Err(Error::Closed { .. })));
    assert_eq!(snapshot(tmp.path()), before);
    second.close().unwrap();
}

/// `close` did not wait for a `create_topic` in flight, which went on to
/// create partition files and rewrite the topic metadata after close had
/// written the clean-shutdown marker and released the directory. Now close
/// takes the `admin` lock first: once it returns, nothing changes.
#[test]
fn close_waits_for_a_create_topic_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    type Closer = std::thread::JoinHandle<strata::Result<()>>;
    let closer: std::sync::Arc<std::sync::Mutex<Option<Closer>>> = Default::default();
    let creator = {
        let store = store.clone();
        let closer = std::sync::Arc::clone(&closer);
        std::thread::spawn(move || {
            let s = store.clone();
            let _observe = strata::internals::io::fault::observe(move |done| {
                // At the create's first directory: start closing, give it time to finish.
                let mut c = closer.lock().unwrap();
                if done.op == strata::internals::io::fault::Op::CreateDir && c.is_none() {
                    let s = s.clone();
                    *c = Some(std::thread::spawn(move || s.close()));
                    drop(c);
                    std::thread::sleep(std::time::Duration::from_millis(300));
                }
            });
            store.create_topic("u", 2, &BTreeMap::new())
        })
    };
    creator.join().unwrap().unwrap();
    closer.lock().unwrap().take().expect("the create made no directory").join().unwrap().unwrap();
    let after_close = snapshot(tmp.path());
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(snapshot(tmp.path()), after_close);
    let reopened = Store::open(config(tmp.path())).unwrap();
    assert_eq!(reopened.partition_count("u").unwrap(), 2);
    assert!(reopened.recovery_report().is_empty(), "{:?}", reopened.recovery_report());
    reopened.close().unwrap();
}

/// Directories of `tmp` whose names start with `prefix`.
fn dirs_starting(tmp: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Three partitions of topic `d`, each with a few records.
fn store_with_topic_d(tmp: &Path) -> Store {
    let store = Store::open(config(tmp)).unwrap();
    store.create_topic("d", 3, &BTreeMap::new()).unwrap();
    for p in 0..3 {
        store.partition("d", p).unwrap().append(&[Record::new("k", "v")]).unwrap();
    }
    store
}

/// `delete_topic` stopped at a poisoned partition's close error: the later
/// partitions stayed open (a held handle could still append to a deleted
/// topic) and no directory was removed until the next open. Now the close
/// error is ignored: every partition closes and the directories go at once.
#[test]
fn delete_topic_completes_when_a_partition_is_poisoned() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_topic_d(tmp.path());
    let victim = store.partition("d", 1).unwrap();
    {
        let _faults = strata::internals::io::fault::arm(
            strata::internals::io::fault::FaultPlan::new()
                .fail_every(strata::internals::io::fault::Op::Sync),
        );
        assert!(victim.flush().is_err());
    }
    assert!(victim.poisoned().is_some());
    let last = store.partition("d", 2).unwrap();
    store.delete_topic("d").unwrap();
    assert!(matches!(last.append(&[Record::new("k", "v")]), Err(Error::Closed { .. })));
    assert!(store.partition_count("d").is_err());
    assert_eq!(dirs_starting(tmp.path(), "d-"), Vec::<String>::new());
    store.close().unwrap();
    let reopened = Store::open(config(tmp.path())).unwrap();
    assert!(reopened.partition_count("d").is_err());
    reopened.close().unwrap();
}

/// A magic-1 legacy message: `offset`, codec `attributes`, `value` (no key).
#[cfg(feature = "gzip")]
fn legacy_v1(offset: i64, attributes: u8, value: &[u8]) -> Vec<u8> {
    let mut body = vec![1u8, attributes];
    body.extend_from_slice(&1_000i64.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&i32::try_from(value.len()).unwrap().to_be_bytes());
    body.extend_from_slice(value);
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&i32::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(&strata::internals::format::legacy::crc32(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A v1 gzip wrapper at offset 5 whose inner message claims offset
/// `i64::MIN`: `wrapper.offset - last.offset` overflowed (a panic in a
/// debug build). Now it is an `InvalidValue`; the input is kept in
/// `fuzz/regressions/legacy_decode/` as well.
#[test]
#[cfg(feature = "gzip")]
fn legacy_wrapper_offset_minus_inner_offset_does_not_overflow() {
    let data = legacy_wrapper_overflow();
    let kept = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/legacy_decode/wrapper-offset-minus-inner-overflows-invalid"),
    )
    .unwrap();
    assert_eq!(kept, data);
    let view = strata::BatchView::new_stored(bytes::Bytes::from(data)).unwrap();
    assert!(view.is_legacy());
    view.validate().unwrap();
    let _ = (view.base_offset(), view.records_count(), view.last_offset());
    let Err(err) = view.records_with_limit(1 << 20) else { panic!("records must be refused") };
    assert!(err.to_string().contains("message.offset"), "{err}");
}

#[cfg(feature = "gzip")]
fn legacy_wrapper_overflow() -> Vec<u8> {
    let inner = legacy_v1(i64::MIN, 0, b"x");
    let gz =
        strata::internals::format::compression::compress(strata::Compression::Gzip, &inner, None)
            .unwrap();
    legacy_v1(5, 1, &gz)
}

/// A read racing `close` could find the segment's map already emptied and
/// return an empty fetch, which reads as "no data at this offset". Now every
/// read is the data or `Closed`. (A stress guard: the window is a few
/// instructions wide, so this did not catch the old code in practice.)
#[test]
fn a_read_racing_close_is_data_or_closed_never_empty() {
    let tmp = written(40);
    for round in 0..30 {
        let store = Store::open(config(tmp.path())).unwrap();
        let log = store.partition("t", 0).unwrap();
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut seen = 0;
                loop {
                    match log.read(0, 1 << 16) {
                        Ok(f) => {
                            assert!(!f.is_empty(), "round {round}: empty fetch after {seen} reads");
                            seen += 1;
                        }
                        Err(Error::Closed { .. }) => return seen,
                        Err(e) => panic!("round {round}: {e}"),
                    }
                }
            })
        };
        std::thread::sleep(std::time::Duration::from_micros(200 + round * 37));
        store.close().unwrap();
        reader.join().unwrap();
    }
}

/// A reopen checked only `(device, inode)`, and inode numbers are reused: a
/// file at the segment's name with its inode but fewer bytes than were
/// published was mapped past its end, and reading it faulted (`SIGBUS`). Here
/// the same inode is cut below its published length before its first map:
/// the read is an error naming the file.
#[test]
fn reopen_refuses_a_file_shorter_than_its_published_length() {
    if !in_child("reopen_refuses_a_file_shorter_than_its_published_length") {
        return;
    }
    let tmp = written(200);
    let ro = Store::open_read_only(config(tmp.path())).unwrap();
    let log = ro.partition("t", 0).unwrap();
    let first = tmp.path().join("t-0").join("00000000000000000000.log");
    let len = std::fs::metadata(&first).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&first).unwrap().set_len(len / 4).unwrap();
    let err = match log.read(0, 1 << 20) {
        Ok(f) => {
            let n: usize = f.batches().map(|b| b.size()).sum();
            panic!("read {n} bytes of a cut file")
        }
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(msg.contains("00000000000000000000.log") && msg.contains("published"), "{msg}");
    ro.close().unwrap();
}

/// Runs `f` on a thread; fails if it takes longer than 60 s (it hangs: the bound allows for a
/// loaded machine).
fn within_time<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} hung (a blocking open of a FIFO)"))
}

/// An `O_RDONLY` open of a FIFO waits for a writer: a FIFO planted under a
/// `.log`, `.swap`, `strata-topics` or checkpoint name hung a read-only open
/// forever. Now every store file is opened non-blocking and anything but a
/// regular file is refused with an error naming it.
#[test]
fn a_fifo_planted_as_a_store_file_is_refused_not_waited_on() {
    let victims = [
        "t-0/00000000000000000000.log",
        "t-0/00000000000000009999.log.swap",
        "strata-topics",
        "recovery-point-offset-checkpoint",
    ];
    for victim in victims {
        let tmp = written(20);
        let path = tmp.path().join(victim);
        let _ = std::fs::remove_file(&path);
        let ok = Command::new("mkfifo").arg(&path).status().unwrap().success();
        assert!(ok, "mkfifo {}", path.display());
        let dir = tmp.path().to_path_buf();
        let opened = within_time(victim, move || {
            Store::open_read_only(config(&dir)).and_then(|s| {
                let log = s.partition("t", 0)?;
                log.read(0, 1 << 16).map(drop)
            })
        });
        let msg = opened.expect_err(victim).to_string();
        let name = Path::new(victim).file_name().unwrap().to_string_lossy().into_owned();
        assert!(msg.contains(&name) && msg.contains("FIFO"), "{victim}: {msg}");
    }
}

/// A read-only open beside a live writer failed when a segment it had just
/// listed was deleted (retention, compaction) before it opened it. Now a
/// file gone since the listing makes it list again: here the oldest segment
/// is removed right after the first listing, and the open serves the rest.
#[test]
fn read_only_open_lists_again_when_a_listed_segment_vanishes() {
    let tmp = written(200);
    let part = tmp.path().join("t-0");
    let first = part.join("00000000000000000000");
    let mut removed = false;
    let target = part.clone();
    let _observe = strata::internals::io::fault::observe(move |done| {
        if !removed && done.op == strata::internals::io::fault::Op::ReadDir && done.path == target {
            removed = true;
            for ext in ["log", "index", "timeindex"] {
                std::fs::remove_file(first.with_extension(ext)).unwrap();
            }
        }
    });
    let (log, _) = strata::Log::open_read_only(
        &part,
        "t",
        0,
        strata::LogConfig::default().segment_bytes(1024),
        std::sync::Arc::new(strata::SystemClock),
        strata::LoadOptions::default(),
    )
    .unwrap();
    assert!(log.log_start_offset() > 0);
    assert_eq!(log.log_end_offset(), 200);
    log.close().unwrap();
}
