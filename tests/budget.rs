//! The budget for open segments (`log.open.segments.max`, `log.mapped.bytes.max`): what a
//! store holds open stays bounded however many segments and partitions it has, evicted
//! segments reopen on demand (the same files), sealed segments are mapped at their exact
//! length and the active one in steps, views outlive eviction, and running out of
//! descriptors is survived by evicting instead of poisoning.
//!
//! Descriptor and map counts come from `/proc/self/fd` and `/proc/self/maps`. Tests that
//! count process-wide figures run in a child process (the test binary itself, started with
//! [`CHILD_ENV`] naming the test) so other tests' files do not disturb the count; the one
//! that lowers the open-file limit does so for its child only (`ulimit -n`).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use strata::Log;
use strata::Record;
use strata::Store;
use strata::StoreConfig;

const CHILD_ENV: &str = "STRATA_BUDGET_CHILD";

/// `index.interval.bytes` of the topics here.
const INTERVAL: u64 = 128;

/// Runs test `name` in a child (with `ulimit -n` set to `fd_limit` when given) and asserts it
/// passed; returns true in the child, which then runs the body.
fn in_child(name: &str, fd_limit: Option<u32>) -> bool {
    common::in_child(CHILD_ENV, name, fd_limit)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn maps_lines() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().count()
}

/// Mapped lengths of every mapping of a file under `dir`, by file name.
fn mapped_lengths(dir: &Path) -> BTreeMap<String, Vec<u64>> {
    let dir = dir.canonicalize().unwrap();
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in std::fs::read_to_string("/proc/self/maps").unwrap().lines() {
        let Some(path) = line.split_whitespace().nth(5) else { continue };
        let Some(name) = Path::new(path).strip_prefix(&dir).ok().and_then(|p| p.to_str()) else {
            continue;
        };
        let range = line.split_whitespace().next().unwrap();
        let (a, b) = range.split_once('-').unwrap();
        let len = u64::from_str_radix(b, 16).unwrap() - u64::from_str_radix(a, 16).unwrap();
        out.entry(name.to_owned()).or_default().push(len);
    }
    out
}

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new([dir]).background_threads(false)
}

fn overrides(segment_bytes: u64) -> BTreeMap<String, String> {
    [
        ("segment.bytes", segment_bytes.to_string()),
        ("segment.index.bytes", "4096".to_owned()),
        ("index.interval.bytes", INTERVAL.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn value(p: i32, i: i64) -> String {
    format!("p{p}-v{i:05}")
}

/// Checks every record of `log` is `value(p, offset)`, reading one batch at a time so every
/// segment is opened.
fn check_log(log: &Log, p: i32) {
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let fetched = log.read(next, 1).unwrap();
        for r in fetched.records() {
            let r = r.unwrap();
            assert_eq!(r.offset(), next);
            assert_eq!(r.value().unwrap().as_ref(), value(p, next).as_bytes());
            next += 1;
        }
    }
}

#[test]
fn three_hundred_rolls_grow_neither_descriptors_nor_maps_beyond_the_budget() {
    if !in_child("three_hundred_rolls_grow_neither_descriptors_nor_maps_beyond_the_budget", None) {
        return;
    }
    const BUDGET: usize = 16;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path()).log_open_segments_max(BUDGET as u32)).unwrap();
    store.create_topic("t", 1, &overrides(1 << 20)).unwrap();
    let log = store.partition("t", 0).unwrap();
    let (fds, maps) = (open_fds(), maps_lines());
    for i in 0..300 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
        log.roll().unwrap();
        // Reads map what they touch: the newest segments stay mapped until evicted.
        assert_eq!(log.read(i, 1 << 20).unwrap().records().count(), 1);
    }
    assert!(log.segment_count() > 300);
    check_log(&log, 0);
    let (fds_after, maps_after) = (open_fds(), maps_lines());
    let stats = store.resource_stats();
    eprintln!("fds {fds} -> {fds_after}, maps {maps} -> {maps_after}, {stats:?}");
    assert!(stats.open_segments <= BUDGET, "{stats:?}");
    assert!(stats.open_files <= BUDGET, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(fds_after <= fds + BUDGET, "descriptors grew from {fds} to {fds_after}");
    assert!(maps_after <= maps + 3 * BUDGET, "maps grew from {maps} to {maps_after}");
    let dir = store.partition_dir("t", 0).unwrap();
    store.close().unwrap();
    common::assert_kafka_valid(&dir, INTERVAL);
}

#[test]
fn many_partitions_under_a_low_budget_keep_working() {
    if !in_child("many_partitions_under_a_low_budget_keep_working", None) {
        return;
    }
    const BUDGET: usize = 8;
    const PARTITIONS: i32 = 60;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path()).log_open_segments_max(BUDGET as u32);
    let store = Store::open(cfg.clone()).unwrap();
    store.create_topic("t", PARTITIONS, &overrides(1024)).unwrap();
    let fds = open_fds();
    for round in 0..20 {
        for p in 0..PARTITIONS {
            let log = store.partition("t", p).unwrap();
            let info = log.append(&[Record::new("k", value(p, round))]).unwrap();
            assert_eq!(info.base_offset, round);
        }
    }
    let stats = store.resource_stats();
    assert!(stats.open_segments <= BUDGET && stats.evictions > 0, "{stats:?}");
    assert!(open_fds() <= fds + BUDGET, "descriptors grew from {fds} to {}", open_fds());
    for p in 0..PARTITIONS {
        let log = store.partition("t", p).unwrap();
        assert!(log.poisoned().is_none());
        check_log(&log, p);
    }
    store.close().unwrap();
    let store = Store::open(cfg).unwrap();
    for p in 0..PARTITIONS {
        let log = store.partition("t", p).unwrap();
        assert_eq!(log.log_end_offset(), 20);
        check_log(&log, p);
    }
    assert!(store.resource_stats().open_segments <= BUDGET);
    let dirs: Vec<_> = (0..3).map(|p| store.partition_dir("t", p).unwrap()).collect();
    store.close().unwrap();
    common::assert_kafka_valid_many(&dirs, INTERVAL);
}

#[test]
fn sealed_segments_are_mapped_at_their_exact_length_and_the_active_one_in_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    // The default segment.bytes (1 GiB): the active segment's map must not reserve it.
    let mut o = overrides(1 << 30);
    o.remove("segment.bytes");
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    let dir = store.partition_dir("t", 0).unwrap();
    for i in 0..100 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
    }
    log.roll().unwrap();
    for i in 100..110 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
    }
    check_log(&log, 0);
    let maps = mapped_lengths(&dir);
    let sealed = "00000000000000000000.log";
    let page = 4096;
    let sealed_len = std::fs::metadata(dir.join(sealed)).unwrap().len();
    assert_eq!(maps[sealed], vec![sealed_len.div_ceil(page) * page], "{maps:?}");
    let active = "00000000000000000100.log";
    let biggest = maps[active].iter().max().copied().unwrap();
    assert!(biggest <= 1 << 20, "the active segment is mapped {biggest} bytes: {maps:?}");
    store.close().unwrap();
}

/// Eviction closes the least recently used segments: after reading 40 segments one by one
/// under a budget of 8, the 8 read last are the ones still mapped, and reading them again
/// reopens nothing. Every use once stamped 0 (the budget's clock never moved), so eviction
/// picked victims in hash order: it closed segments just read and kept ones untouched since
/// a flush, and reading the last 8 again evicted 8 times.
#[test]
fn the_budget_closes_the_least_recently_used_segments() {
    const BUDGET: i64 = 8;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path()).log_open_segments_max(BUDGET as u32)).unwrap();
    store.create_topic("t", 1, &overrides(1 << 20)).unwrap();
    let log = store.partition("t", 0).unwrap();
    let dir = store.partition_dir("t", 0).unwrap();
    for i in 0..40 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
        log.roll().unwrap();
    }
    log.flush().unwrap(); // syncs (so opens) segments in an order of its own
    for offset in 0..40 {
        drop(log.read(offset, 1).unwrap());
    }
    let mapped_logs = || -> Vec<String> {
        let maps = mapped_lengths(&dir);
        maps.keys().filter(|name| name.ends_with(".log")).cloned().collect()
    };
    let last_read: Vec<String> = (40 - BUDGET..40).map(|base| format!("{base:020}.log")).collect();
    assert_eq!(mapped_logs(), last_read);
    let evictions = store.resource_stats().evictions;
    for offset in 40 - BUDGET..40 {
        drop(log.read(offset, 1).unwrap());
    }
    assert_eq!(store.resource_stats().evictions, evictions, "rereading the last {BUDGET} evicted");
    assert_eq!(mapped_logs(), last_read);
    store.close().unwrap();
}

#[test]
fn views_held_by_readers_stay_valid_after_their_segment_is_evicted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path()).log_open_segments_max(2)).unwrap();
    store.create_topic("t", 1, &overrides(1 << 20)).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..20 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
        log.roll().unwrap();
    }
    let held = log.read(0, 1).unwrap();
    let before = store.resource_stats().evictions;
    check_log(&log, 0); // maps every other segment: segment 0 is evicted
    assert!(store.resource_stats().evictions > before);
    let r = held.records().next().unwrap().unwrap();
    assert_eq!(r.value().unwrap().as_ref(), value(0, 0).as_bytes());
    // And it reopens on demand, the same file.
    assert_eq!(log.read(0, 1).unwrap().records().next().unwrap().unwrap().offset(), 0);
    store.close().unwrap();
}

/// Readers holding fetches that each span hundreds of segments (as a fetch of a compacted
/// partition's tiny segments does) hold no descriptors: the budget's open segments are all the
/// store has open. A `Fetched` used to keep the open `.log` of every segment it spanned for
/// `sendfile`, outside the budget, and each eviction and reopen between reads added another:
/// here 4 fetches over 200 segments held about 800. Each slice still finds its file on demand
/// (`FileSlice::file`), the very file its bytes are in, and that descriptor is the caller's
/// for as long as it holds it.
#[test]
fn fetches_held_across_many_segments_hold_no_descriptors_outside_the_budget() {
    const NAME: &str = "fetches_held_across_many_segments_hold_no_descriptors_outside_the_budget";
    if !in_child(NAME, None) {
        return;
    }
    const BUDGET: usize = 4;
    const SEGMENTS: i64 = 200;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path()).log_open_segments_max(BUDGET as u32)).unwrap();
    store.create_topic("t", 1, &overrides(1 << 20)).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..SEGMENTS {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
        log.roll().unwrap();
    }
    let fds = open_fds();
    // Each read maps all 200 segments again (the budget evicted them since the last one).
    let held: Vec<_> = (0..4).map(|_| log.read(0, 1 << 20).unwrap()).collect();
    let while_held = open_fds();
    let stats = store.resource_stats();
    eprintln!("fds {fds} -> {while_held} holding 4 fetches of {SEGMENTS} segments, {stats:?}");
    for fetched in &held {
        assert_eq!(fetched.slices().len(), SEGMENTS as usize);
    }
    assert!(stats.evictions as i64 >= 3 * SEGMENTS, "{stats:?}");
    assert!(stats.open_files <= 2 * BUDGET, "{stats:?}");
    assert!(
        while_held <= fds + 2 * BUDGET,
        "holding fetches took {} descriptors",
        while_held.saturating_sub(fds)
    );
    // Sending: every slice's file holds its bytes at its position.
    for s in held.iter().flat_map(|f| f.slices()) {
        let file = s.file().unwrap().expect("the segment's file is there");
        assert_eq!(common::sent_from(&file, s), s.bytes, "{}", s.path.display());
    }
    assert!(open_fds() <= fds + 2 * BUDGET, "sent files stayed open: {}", open_fds());
    drop(held);
    check_log(&log, 0);
    store.close().unwrap();
}

/// A server asking a slice for its file when the process is out of descriptors (its sockets
/// took the rest) and the budget closed the slice's segment: the budget closes another
/// segment and the open is retried, as any open of a segment's file is, instead of failing.
#[test]
fn a_slices_file_out_of_descriptors_evicts_a_segment_and_retries() {
    const NAME: &str = "a_slices_file_out_of_descriptors_evicts_a_segment_and_retries";
    if !in_child(NAME, Some(64)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path()).log_open_segments_max(8)).unwrap();
    store.create_topic("t", 1, &overrides(1 << 20)).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..40 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
        log.roll().unwrap();
    }
    let fetched = log.read(0, 1 << 20).unwrap();
    // A slice whose segment the budget closed (its `.log` open nowhere in the process), so
    // that `file()` must open it.
    let open: Vec<_> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .collect();
    let closed = fetched.slices().iter().find(|s| !open.iter().any(|p| *p == *s.path));
    let closed = closed.expect("the budget of 8 closed some of 40 segments");
    let held = take_every_descriptor();
    let evictions = store.resource_stats().evictions;
    let file = closed.file();
    let evicted = store.resource_stats().evictions - evictions;
    let sent = file.map(|f| common::sent_from(&f.expect("the segment's file is there"), closed));
    drop(held);
    assert_eq!(sent.unwrap(), closed.bytes);
    assert!(evicted > 0, "no segment was closed for the open");
}

#[test]
fn running_out_of_descriptors_evicts_and_retries_instead_of_poisoning() {
    if !in_child("running_out_of_descriptors_evicts_and_retries_instead_of_poisoning", Some(64)) {
        return;
    }
    const PARTITIONS: i32 = 100;
    let tmp = tempfile::tempdir().unwrap();
    // A budget far above the limit: only EMFILE itself can make room.
    let cfg = config(tmp.path()).log_open_segments_max(10_000);
    let store = Store::open(cfg).unwrap();
    store.create_topic("t", PARTITIONS, &overrides(1 << 20)).unwrap();
    for round in 0..3 {
        for p in 0..PARTITIONS {
            let log = store.partition("t", p).unwrap();
            let appended = log.append(&[Record::new("k", value(p, round))]);
            assert!(appended.is_ok(), "partition {p} round {round}: {appended:?}");
        }
    }
    let stats = store.resource_stats();
    assert!(stats.evictions > 0, "{stats:?}");
    for p in 0..PARTITIONS {
        let log = store.partition("t", p).unwrap();
        assert!(log.poisoned().is_none(), "partition {p}: {:?}", log.poisoned());
        check_log(&log, p);
    }
    store.close().unwrap();
}

#[test]
fn the_mapped_bytes_budget_bounds_what_a_store_keeps_mapped() {
    const LIMIT: u64 = 4 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path()).log_mapped_bytes_max(LIMIT)).unwrap();
    store.create_topic("t", 20, &overrides(1 << 30)).unwrap();
    for round in 0..3 {
        for p in 0..20 {
            let log = store.partition("t", p).unwrap();
            log.append(&[Record::new("k", value(p, round))]).unwrap();
            check_log(&log, p); // maps the active segment: a 1 MiB step each
        }
    }
    let stats = store.resource_stats();
    // One segment's step (1 MiB and two 4 KiB indexes) may sit on top while it is in use.
    assert!(stats.mapped_bytes <= LIMIT + (1 << 20) + 8192, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    store.close().unwrap();
}

/// The soft `Max open files` of this process, from `/proc/self/limits` (`None` if unlimited).
fn soft_open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace().nth(3).unwrap().parse().ok()
}

#[test]
fn the_default_open_segment_budget_is_a_quarter_of_the_open_file_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([tmp.path()])).unwrap();
    let stats = store.resource_stats();
    let expected = soft_open_file_limit().map_or(4_096, |n| (n / 4).clamp(64, 4_096));
    assert_eq!(stats.max_open_segments as u64, expected, "limit {:?}", soft_open_file_limit());
    // The byte limit never evicts first: 64 MiB per open segment (two 10 MiB indexes and a map).
    assert_eq!(stats.max_mapped_bytes, (expected << 26).max(16 << 30));
    store.close().unwrap();
    // An explicit budget is kept as given.
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([tmp.path()]).log_open_segments_max(7)).unwrap();
    assert_eq!(store.resource_stats().max_open_segments, 7);
    store.close().unwrap();
}

/// Files of `dir` this process holds a descriptor or a mapping of.
fn held_files(dir: &Path) -> std::collections::BTreeSet<String> {
    let dir = dir.canonicalize().unwrap();
    let mut held: std::collections::BTreeSet<String> = mapped_lengths(&dir).into_keys().collect();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(target) = std::fs::read_link(fd.unwrap().path()) else { continue };
        if let Ok(name) = target.strip_prefix(&dir) {
            held.insert(name.to_string_lossy().trim_end_matches(" (deleted)").to_owned());
        }
    }
    held
}

/// Segments retention removed give their files back at once, also on a partition that
/// appends nothing afterwards: after the removal no descriptor or mapping of the process
/// points at any file but the log's remaining segments (the appender keeps its cached
/// segment list weakly, so a list the log replaced frees its segments).
#[test]
fn segments_retention_removed_are_released_while_their_partition_stays_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let mut o = overrides(1024);
    o.insert("retention.bytes".to_owned(), "2048".to_owned());
    o.insert("file.delete.delay.ms".to_owned(), "0".to_owned());
    store.create_topic("t", 1, &o).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..200 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
    }
    check_log(&log, 0);
    let before = log.segment_count();
    store.maintain(None).unwrap();
    assert!(log.segment_count() < before, "retention removed nothing: {before} segments");
    check_log(&log, 0);
    let live: std::collections::BTreeSet<String> = log
        .segment_base_offsets()
        .iter()
        .flat_map(|b| ["log", "index", "timeindex"].map(|ext| format!("t-0/{b:020}.{ext}")))
        .collect();
    let held = held_files(tmp.path());
    // The store's directory lock aside.
    let stale: Vec<_> =
        held.iter().filter(|f| f.starts_with("t-0/") && !live.contains(*f)).collect();
    assert!(stale.is_empty(), "held after retention: {stale:?} (live: {live:?})");
    assert!(held.iter().any(|f| live.contains(f)), "nothing held at all: {held:?}");
    store.close().unwrap();
}

/// A read maps a segment and counts the map in the budget; an eviction of that segment right
/// after the map is installed (another reader's read, over the limit) must find it counted.
/// When the count came after the install's lock was released, an eviction in between
/// subtracted the map from a count that did not hold it yet (clamped at zero), and the count
/// then kept bytes no map held: the segment stayed "open" for good, over a limit of one, and a
/// later read over the limit spun in the budget's enforcement forever (seen in `read_races`
/// with the process stalled at random moments). Fault point `segment::bytes::installed` runs
/// the other read at exactly that moment.
#[test]
fn an_eviction_right_after_a_read_installs_its_map_leaves_no_phantom_open_segment() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = Store::open(config(tmp.path())).unwrap();
        store.create_topic("t", 1, &overrides(1 << 20)).unwrap();
        let log = store.partition("t", 0).unwrap();
        for i in 0..60 {
            log.append(&[Record::new("k", value(0, i))]).unwrap();
            if i % 20 == 19 {
                log.roll().unwrap();
            }
        }
        store.close().unwrap();
    }
    // Reopened with room for one open segment; the active segment takes five records (its
    // descriptor and index maps are open, counted in the budget) and nothing is mapped to read.
    let store = Store::open(config(tmp.path()).log_open_segments_max(1)).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 20, 40, 60]);
    for i in 60..65 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
    }
    let (other, other_store) = (log.clone(), store.clone());
    let after_eviction = std::rc::Rc::new(std::cell::Cell::new(None));
    let seen = std::rc::Rc::clone(&after_eviction);
    let hook = strata::internals::io::fault::on_point("segment::bytes::installed", move || {
        // The active segment's map for reading is installed: this read maps segment 20, over
        // the limit, and evicts the active segment, map and all.
        let r = other.read(25, 1).unwrap().records().next().unwrap().unwrap();
        assert_eq!(r.value().unwrap().as_ref(), value(0, 25).as_bytes());
        seen.set(Some(other_store.resource_stats()));
    });
    let fetched = log.read(62, 1).unwrap();
    assert!(hook.ran());
    drop(hook);
    let r =
        fetched.records().find(|r| r.as_ref().is_ok_and(|r| r.offset() == 62)).unwrap().unwrap();
    assert_eq!(r.value().unwrap().as_ref(), value(0, 62).as_bytes());
    // The active segment's read map is a megabyte (its capacity: segment.bytes here); the
    // other maps (a sealed segment's bytes, index files) are a few KiB. Once the map is evicted
    // it is not counted: the phantom was exactly that megabyte, on a segment whose eviction
    // then released nothing, forever.
    let read_map = 1 << 20;
    let evicted = after_eviction.take().unwrap();
    assert!(evicted.evictions > 0 && evicted.open_segments == 1, "{evicted:?}");
    assert!(evicted.mapped_bytes < read_map, "{evicted:?}");
    let stats = store.resource_stats();
    assert!(stats.mapped_bytes < read_map, "the evicted read map is still counted: {stats:?}");
    // Every segment again, one at a time over the limit of one: each read evicts the last.
    check_log(&log, 0);
    assert_eq!(store.resource_stats().open_segments, 1, "{:?}", store.resource_stats());
    store.close().unwrap();
}

/// Segments that `delete_records` (or retention, or the cleaner) took out of the log stay
/// readable for `file.delete.delay.ms` (60 s) for readers that listed them: out of the budget,
/// their maps must keep no descriptor, or 250 retired segments hold 250 descriptors that
/// nothing counts or closes, and under `ulimit -n 128` appends and `create_topic` then fail
/// with "Too many open files" (and the append poisons its partition).
#[test]
fn retired_segments_hold_no_descriptors_and_appends_go_on_under_ulimit_128() {
    const NAME: &str = "retired_segments_hold_no_descriptors_and_appends_go_on_under_ulimit_128";
    if !in_child(NAME, Some(128)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let cfg: BTreeMap<String, String> =
        [("segment.bytes".to_owned(), "1400".to_owned())].into_iter().collect();
    store.create_topic("t", 1, &cfg).unwrap();
    let log = store.partition("t", 0).unwrap();
    for o in 0..2000 {
        log.append(&[Record::new(format!("k{o}"), vec![b'v'; 100])]).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments >= 250, "{segments} segments");
    let before = open_fds();
    let end = log.log_end_offset();
    store.delete_records("t", 0, end - 1).unwrap();
    let after = open_fds();
    let stats = store.resource_stats();
    eprintln!("{segments} segments retired: fds {before} -> {after}, {stats:?}");
    assert!(after <= before + 4, "retired segments hold {} descriptors", after - before);
    // What the segments hold is what the budget counts: at most two each.
    assert!(stats.open_files <= 2 * stats.open_segments, "{stats:?}");
    for o in 0..200 {
        log.append(&[Record::new(format!("k{o}"), vec![b'v'; 100])]).unwrap();
    }
    store.create_topic("u", 1, &BTreeMap::new()).unwrap();
    assert_eq!(log.read(end - 1, 1 << 20).unwrap().records().count(), 201);
}

/// Opens `/dev/null` until the process is out of descriptors (`EMFILE`), as an embedding
/// server whose sockets took the rest of its open-file limit: nothing the budget can evict
/// frees one. Dropping the files gives them back.
fn take_every_descriptor() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
    }
}

/// A sync pass that cannot open what it syncs (the sealed segment's `.log`, which the seal
/// closed, or the directory) because the process is out of descriptors and the budget has
/// nothing to evict ran no fsync: nothing about the disk is unknown, so it fails that pass
/// with the descriptor error and the partition stays usable, as an append or a roll out of
/// descriptors does. It poisoned the partition (offline until the store reopened), as a
/// failed fsync must.
#[test]
fn a_sync_pass_out_of_descriptors_fails_without_poisoning_and_the_next_pass_syncs() {
    const NAME: &str =
        "a_sync_pass_out_of_descriptors_fails_without_poisoning_and_the_next_pass_syncs";
    if !in_child(NAME, Some(64)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    store.create_topic("t", 1, &overrides(1 << 20)).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..10 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
    }
    // Seals the first segment (its descriptor closed) and creates one: the pass below must
    // reopen the sealed `.log` and fsync the directory. No flusher: nothing synced yet.
    log.roll().unwrap();
    assert_eq!(log.recovery_point(), 0);
    let held = take_every_descriptor();
    let failed = log.flush().unwrap_err();
    let waited = log.wait_synced(10).unwrap_err();
    drop(held);
    eprintln!("flush: {failed}; wait_synced: {waited}");
    for e in [&failed, &waited] {
        assert!(
            matches!(e, strata::Error::Io { source, .. } if source.raw_os_error() == Some(libc::EMFILE)),
            "{e}"
        );
    }
    assert!(log.poisoned().is_none(), "poisoned: {:?}", log.poisoned());
    assert_eq!(log.recovery_point(), 0);
    // Descriptors back: the next pass syncs, and the partition takes appends.
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 10);
    log.append(&[Record::new("k", value(0, 10))]).unwrap();
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 11);
    check_log(&log, 0);
    store.close().unwrap();

    // With the store's flusher, a caller of wait_synced waits for a pass on a worker: the pass
    // that failed so must end its wait with that failure (it waited for good once nothing
    // poisoned the log). No roll here: the checkpoint write a roll's pass is followed by opens
    // files on a worker, and one it closes after the descriptors are taken lets the pass open.
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new([tmp.path()]).log_open_segments_max(1)).unwrap();
    store.create_topic("t", 2, &overrides(1 << 20)).unwrap();
    let (log, other) = (store.partition("t", 0).unwrap(), store.partition("t", 1).unwrap());
    for i in 0..10 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
    }
    other.append(&[Record::new("k", value(1, 0))]).unwrap();
    // The other partition's read maps its segment, and the budget (one open segment) closes
    // this one's descriptor; a server sending the read's slice holds that map's descriptor,
    // so evicting the other segment frees none.
    let fetched = other.read(0, 1 << 20).unwrap();
    let sending: Vec<_> = fetched.slices().iter().map(|s| s.file().unwrap().unwrap()).collect();
    let held = take_every_descriptor();
    let waited = log.wait_synced(10).unwrap_err();
    drop(held);
    eprintln!("wait_synced with a flusher: {waited}");
    assert!(
        matches!(&waited, strata::Error::Io { source, .. } if source.raw_os_error() == Some(libc::EMFILE)),
        "{waited}"
    );
    assert!(log.poisoned().is_none(), "poisoned: {:?}", log.poisoned());
    assert_eq!(log.recovery_point(), 0);
    drop(sending);
    log.wait_synced(10).unwrap();
    assert_eq!(log.recovery_point(), 10);
    check_log(&log, 0);
    store.close().unwrap();
}

/// The first append to a segment the store reopened reads the segment's largest timestamp
/// from its time index, which the budget may have unmapped since the open (a store reopening
/// many partitions evicts most of them). It read it after writing the batch, so running out of
/// descriptors there (the eviction it tries finding nothing to close) failed the append with
/// its batch already in the `.log` and poisoned the partition: a write that needed nothing
/// more to be whole, refused, and served after the next open (recovery keeps every whole batch).
/// Now it is read before the write: the append fails as any append out of descriptors does,
/// with nothing written, and the partition takes the retry at the same offset.
#[test]
fn an_append_out_of_descriptors_for_the_time_index_writes_nothing_and_does_not_poison() {
    use strata::internals::io::fault::{self, FaultPlan, Op};
    let tmp = tempfile::tempdir().unwrap();
    let cfg = || config(tmp.path()).log_open_segments_max(1);
    let store = Store::open(cfg()).unwrap();
    store.create_topic("t", 2, &overrides(1 << 20)).unwrap();
    for p in 0..2 {
        let log = store.partition("t", p).unwrap();
        for i in 0..5 {
            log.append(&[Record::new("k", value(p, i))]).unwrap();
        }
    }
    store.close().unwrap();
    let store = Store::open(cfg()).unwrap();
    let (log, other) = (store.partition("t", 0).unwrap(), store.partition("t", 1).unwrap());
    // The other partition's append evicts this one (one open segment); a read maps this
    // one's `.log` and its offset index again, not its time index.
    other.append(&[Record::new("k", value(1, 5))]).unwrap();
    assert_eq!(log.read(0, 1 << 20).unwrap().records().count(), 5);
    // The append opens its `.log` for writing (open 1), then the time index (open 2), which
    // fails as it does when the process is out of descriptors.
    let guard = fault::arm(
        FaultPlan::new().fail_from_nth(Op::Open, 2).os_error(Op::Open, libc::EMFILE).trace(),
    );
    let failed = log.append(&[Record::new("k", value(0, 5))]).unwrap_err();
    let opens: Vec<_> = guard.trace().into_iter().filter(|(op, _)| *op == Op::Open).collect();
    drop(guard);
    eprintln!("{failed}; opens {opens:?}");
    let timeindex = opens.get(1).map(|(_, path)| path.extension().unwrap().to_owned());
    assert_eq!(timeindex.as_deref(), Some("timeindex".as_ref()), "{opens:?}");
    assert!(
        matches!(&failed, strata::Error::Io { source, .. } if source.raw_os_error() == Some(libc::EMFILE)),
        "{failed}"
    );
    assert!(log.poisoned().is_none(), "poisoned: {:?}", log.poisoned());
    assert_eq!(log.log_end_offset(), 5);
    // The retry takes offset 5; after a reopen the log holds exactly what was acknowledged.
    assert_eq!(log.append(&[Record::new("k", value(0, 5))]).unwrap().base_offset, 5);
    store.close().unwrap();
    let store = Store::open(cfg()).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    check_log(&log, 0);
    store.close().unwrap();
}

/// Segments that DeleteRecords (or retention) takes out of the log are retired: mapped whole
/// for the readers that listed them, renamed `.deleted` and the directory fsynced. Out of
/// descriptors (the budget having nothing to evict), that map or the directory's open failed,
/// and the failure poisoned the partition, offline until the store reopened, although the
/// segments had left the log already and nothing about the disk was unknown. The request
/// succeeds (the log start moves, as Kafka's DeleteRecords moves it), the segments below it
/// stay as they are, and the next retention pass removes them (Kafka's log-start rule).
#[test]
fn delete_records_out_of_descriptors_removes_the_segments_without_poisoning() {
    const NAME: &str = "delete_records_out_of_descriptors_removes_the_segments_without_poisoning";
    if !in_child(NAME, Some(64)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    store.create_topic("t", 1, &overrides(1024)).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..40 {
        log.append(&[Record::new("k", value(0, i))]).unwrap();
    }
    // The last segment sealed too (its descriptor closed): nothing holds a descriptor.
    log.roll().unwrap();
    let segments = log.segment_count();
    assert!(segments > 3, "{segments} segments");
    let end = log.log_end_offset();
    let held = take_every_descriptor();
    let deleted = log.delete_records(end);
    drop(held);
    eprintln!("delete_records: {deleted:?}; poisoned: {:?}", log.poisoned());
    assert!(log.poisoned().is_none(), "poisoned: {:?}", log.poisoned());
    assert_eq!(deleted.unwrap(), end);
    assert_eq!(log.log_start_offset(), end);
    let dir = tmp.path().join("t-0");
    assert_eq!(log.segment_count(), segments, "out of descriptors, the segments stay");
    assert_eq!(live_segment_files(&dir).len(), segments);
    // Descriptors back: the next retention pass removes the segments below the log start.
    assert_eq!(log.delete_old_segments().unwrap().segments_deleted, segments - 1);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(live_segment_files(&dir).len(), 1);
    log.append(&[Record::new("k", value(0, end))]).unwrap();
    check_log(&log, 0);
    store.close().unwrap();
    // The log starts where it did.
    let store = Store::open(config(tmp.path())).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(log.log_end_offset(), end + 1);
    check_log(&log, 0);
    store.close().unwrap();
}

/// A close that fails after its sync (here the seal's final time-index entry: the index,
/// unmapped by the close's eviction, cannot be mapped again out of descriptors) leaves the
/// active segment unsealed, its time index without the entry for its newest records. The
/// close fails and the directory is not marked clean; a second close (the retry an embedder
/// makes) found the log closed, synced and not poisoned, and marked it clean, so the next open
/// trusted the unsealed segment: its largest timestamp read from the last entry there, a time
/// lookup for the newest records found nothing (and time retention judged the segment by that
/// older timestamp).
#[test]
fn a_close_retried_after_its_seal_failed_leaves_the_directory_unclean() {
    use strata::OffsetSpec;
    use strata::internals::io::fault::{self, FaultPlan, Op};
    let tmp = tempfile::tempdir().unwrap();
    let topic: BTreeMap<String, String> = BTreeMap::new(); // index.interval.bytes 4096
    let store = Store::open(config(tmp.path())).unwrap();
    store.create_topic("t", 1, &topic).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..100 {
        log.append(&[Record::new("k", value(0, i)).timestamp(1_000 + i)]).unwrap();
    }
    {
        // The close reopens the `.log` to sync it (open 1), then maps the time index to seal
        // the segment (open 2), which fails as it does out of descriptors.
        let _guard = fault::arm(
            FaultPlan::new().fail_from_nth(Op::Open, 2).os_error(Op::Open, libc::EMFILE),
        );
        let failed = store.close().unwrap_err();
        eprintln!("first close: {failed}");
    }
    let retried = store.close().unwrap_err();
    eprintln!("second close: {retried}");
    assert!(retried.to_string().contains("t-0"), "{retried}");
    let store = Store::open(config(tmp.path())).unwrap();
    let log = store.partition("t", 0).unwrap();
    let newest = log.offset_for_time(OffsetSpec::Timestamp(1_099)).unwrap();
    assert_eq!(newest.map(|t| t.offset), Some(99), "the newest record's time finds nothing");
    let max = log.offset_for_time(OffsetSpec::MaxTimestamp).unwrap();
    assert_eq!(max.map(|t| (t.offset, t.timestamp)), Some((99, Some(1_099))));
    check_log(&log, 0);
    store.close().unwrap();
}

/// The cleaner's swap (the `.cleaned` segment renamed `.swap`, the old segments retired and
/// renamed `.deleted`, the new one renamed into place, each step made durable by an fsync of
/// the directory) needs descriptors: the directory's open for each fsync, the old segments'
/// `.log` for the map retiring them. A process out of descriptors there, the budget having
/// nothing left to evict, poisoned the partition (offline until the store reopened) at the
/// first fsync, before anything was published. It fails that cleaning as any cleaning fails,
/// retried by the next, and the partition stays usable.
#[test]
fn a_cleaners_swap_out_of_descriptors_fails_the_cleaning_without_poisoning() {
    const NAME: &str = "a_cleaners_swap_out_of_descriptors_fails_the_cleaning_without_poisoning";
    if !in_child(NAME, Some(64)) {
        return;
    }
    use std::cell::RefCell;
    use std::rc::Rc;
    use strata::internals::io::fault;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let mut topic = overrides(1024);
    topic.insert("cleanup.policy".to_owned(), "compact".to_owned());
    topic.insert("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned());
    store.create_topic("t", 1, &topic).unwrap();
    let log = store.partition("t", 0).unwrap();
    let key = |i: i64| format!("k{}", i % 4);
    for i in 0..40 {
        log.append(&[Record::new(key(i), value(0, i))]).unwrap();
    }
    log.roll().unwrap();
    let held = Rc::new(RefCell::new(Vec::new()));
    let taken = Rc::clone(&held);
    let hook = fault::on_point("swap::before_swap_rename", move || {
        *taken.borrow_mut() = take_every_descriptor();
    });
    let first = store.maintain(Some("t"));
    assert!(hook.ran(), "no swap");
    drop(hook);
    held.borrow_mut().clear();
    eprintln!("maintain out of descriptors: {first:?}; poisoned: {:?}", log.poisoned());
    assert!(log.poisoned().is_none(), "poisoned: {:?}", log.poisoned());
    assert_eq!(first.unwrap().cleaner_failures, 1);
    let names: Vec<String> = std::fs::read_dir(tmp.path().join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".cleaned") || n.contains(".swap")), "{names:?}");
    // Descriptors back: the next pass cleans, and the partition takes appends.
    let report = store.maintain(Some("t")).unwrap();
    assert_eq!(report.cleaner_failures, 0, "{report:?}");
    let latest = |log: &Log| {
        let mut got = BTreeMap::new();
        for r in log.records_from(0) {
            let r = r.unwrap();
            got.insert(r.key().cloned().unwrap(), (r.offset(), r.value().cloned().unwrap()));
        }
        got
    };
    let want: BTreeMap<_, _> = (36..40)
        .map(|i| (bytes::Bytes::from(key(i)), (i, bytes::Bytes::from(value(0, i)))))
        .collect();
    assert_eq!(latest(&log), want);
    assert!(log.records_from(0).count() < 40, "nothing cleaned");
    log.append(&[Record::new("k0", value(0, 40))]).unwrap();
    store.close().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), 41);
    let mut want = want;
    want.insert(bytes::Bytes::from("k0"), (40, bytes::Bytes::from(value(0, 40))));
    assert_eq!(latest(&log), want);
    store.close().unwrap();
}

/// The `.log` base offsets of the live (unsuffixed) segment files in `dir`.
fn live_segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

/// A retention pass takes the expired segments out of the log, then retires each (mapped
/// whole for the readers that listed it, renamed `.deleted`, the directory fsynced). Out of
/// descriptors (the budget having nothing to evict) the retirement failed after the segments
/// had left the log: their files kept their live names, the pass reported them deleted, and a
/// reopen before the pending deletes removed them loaded them again (a standalone log without
/// a checkpointed start served the deleted records). Now the pass needs its descriptors
/// before it changes anything: out of them it fails with the descriptor error and leaves the
/// log as it was, and the next pass deletes the segments whole.
#[test]
fn a_retention_pass_out_of_descriptors_deletes_nothing_and_the_next_pass_deletes_all() {
    const NAME: &str =
        "a_retention_pass_out_of_descriptors_deletes_nothing_and_the_next_pass_deletes_all";
    if !in_child(NAME, Some(64)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let mut topic = overrides(1024);
    topic.insert("retention.ms".to_owned(), "1000".to_owned());
    store.create_topic("t", 1, &topic).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..40 {
        log.append(&[Record::new("k", value(0, i)).timestamp(1_000 + i)]).unwrap();
    }
    // The last segment sealed too (its descriptor closed): nothing holds a descriptor.
    log.roll().unwrap();
    let segments = log.segment_count();
    assert!(segments > 3, "{segments} segments");
    let dir = tmp.path().join("t-0");
    let files = live_segment_files(&dir);
    assert_eq!(files.len(), segments);
    let held = take_every_descriptor();
    let first = log.delete_old_segments();
    drop(held);
    eprintln!("retention out of descriptors: {first:?}; files {:?}", live_segment_files(&dir));
    assert!(log.poisoned().is_none(), "poisoned: {:?}", log.poisoned());
    // Every segment of the log has its live files, and no live file is outside the log.
    assert_eq!(live_segment_files(&dir).len(), log.segment_count(), "segments out of the log");
    let failed = first.unwrap_err();
    assert!(
        matches!(&failed, strata::Error::Io { source, .. } if source.raw_os_error() == Some(libc::EMFILE)),
        "{failed}"
    );
    assert_eq!(log.segment_count(), segments, "the log is as it was");
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(live_segment_files(&dir), files);
    check_log(&log, 0);
    // Descriptors back: the next pass deletes every expired segment, renamed `.deleted`.
    let outcome = log.delete_old_segments().unwrap();
    assert_eq!(outcome.segments_deleted, segments - 1);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 40);
    assert_eq!(live_segment_files(&dir).len(), 1);
    let deleted = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log.deleted"))
        .count();
    assert_eq!(deleted, segments - 1);
    log.append(&[Record::new("k", value(0, 40))]).unwrap();
    store.close().unwrap();
    let store = Store::open(config(tmp.path())).unwrap();
    let log = store.partition("t", 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (40, 41));
    check_log(&log, 0);
    store.close().unwrap();
}
