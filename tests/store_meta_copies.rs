//! `strata-topics` (the store's topics, partition counts and configs) has a
//! copy in every log directory, so no log directory's partitions run under
//! guessed configs, whatever directories the config lists and in whatever
//! order. The file lived in the first log directory only: a config leaving
//! that directory out (or putting another first) read no topics and adopted
//! the other directories' partitions with default configs, a compacted topic
//! then running with `cleanup.policy=delete`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata::internals::io::fault::{self, FaultPlan};
use strata::{Error, Record, Store, StoreConfig};

fn open(dirs: &[&PathBuf]) -> strata::Result<Store> {
    Store::open(StoreConfig::new(dirs.iter().copied()).background_threads(false))
}

fn compact() -> BTreeMap<String, String> {
    [("cleanup.policy".to_owned(), "compact".to_owned())].into()
}

/// Compacted topic `c` of 4 partitions over log directories `n1` and `n2`
/// (`c-0`, `c-2` in n1; `c-1`, `c-3` in n2), each holding one record; closed.
fn two_dir_store(root: &Path) -> (PathBuf, PathBuf) {
    let (n1, n2) = (root.join("n1"), root.join("n2"));
    let store = open(&[&n1, &n2]).unwrap();
    store.create_topic("c", 4, &compact()).unwrap();
    for p in 0..4 {
        store.partition("c", p).unwrap().append(&[Record::new("k", "v")]).unwrap();
    }
    store.close().unwrap();
    assert!(n1.join("c-0").is_dir() && n2.join("c-1").is_dir());
    (n1, n2)
}

/// What a topic adopted on request gets: retention off, so nothing is
/// deleted before its real configs are set.
fn retention_off() -> BTreeMap<String, String> {
    [("retention.ms", "-1"), ("retention.bytes", "-1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn topics_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("strata-topics")).unwrap()
}

fn assert_conflict(e: &Error, path: &Path, says: &str) {
    assert!(
        matches!(e, Error::StoreMetadataConflict { path: p, reason } if p == path && reason.contains(says)),
        "{e}"
    );
}

#[test]
fn a_store_opened_without_its_first_log_directory_keeps_its_topic_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    for dirs in [vec![&n2], vec![&n2, &n1]] {
        let store = open(&dirs).unwrap();
        assert_eq!(store.topics(), [("c".to_owned(), 4)]);
        assert_eq!(store.topic_overrides("c").unwrap(), compact(), "{dirs:?}");
        assert_eq!(store.partition("c", 1).unwrap().log_end_offset(), 1);
        let offline: Vec<i32> = store.offline_partitions().iter().map(|o| o.1).collect();
        assert_eq!(offline, if dirs.len() == 1 { vec![0, 2] } else { vec![] });
        store.close().unwrap();
    }
    let ro = Store::open_read_only(StoreConfig::new([&n2])).unwrap();
    assert_eq!(ro.topic_overrides("c").unwrap(), compact());
    ro.close().unwrap();
}

/// A crash between the copies' writes leaves one directory's copy a
/// generation behind: the newest wins in any order, and the open rewrites
/// the stale one.
#[test]
fn the_newest_copy_wins_in_any_order_and_a_stale_one_is_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    let before = topics_file(&n2);
    let store = open(&[&n1, &n2]).unwrap();
    store.set_topic_configs("c", &strata::TopicConfig::new().retention_unlimited()).unwrap();
    store.close().unwrap();
    // What a crash after n1's copy and before n2's leaves.
    std::fs::write(n2.join("strata-topics"), &before).unwrap();

    let store = open(&[&n2, &n1]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap()["retention.ms"], "-1");
    store.close().unwrap();
    assert_eq!(topics_file(&n2), topics_file(&n1), "the stale copy is rewritten");
    let store = open(&[&n2]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap()["retention.ms"], "-1");
    store.close().unwrap();
}

/// A creation whose write fails between the copies (n1's written, n2's not)
/// is undone by a newer write: the topic exists in no copy, in any order.
#[test]
fn a_creation_failing_between_the_copies_is_undone_in_every_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    let store = open(&[&n1, &n2]).unwrap();
    {
        let _guard = fault::arm(FaultPlan::new().fail_point("store::meta::between_copies"));
        let e = store.create_topic("x", 2, &compact()).unwrap_err();
        assert!(e.to_string().contains("injected fault"), "{e}");
    }
    assert!(store.partition_count("x").is_err());
    drop(store);
    for dirs in [vec![&n1, &n2], vec![&n2, &n1], vec![&n1], vec![&n2]] {
        let store = open(&dirs).unwrap();
        assert_eq!(store.topics(), [("c".to_owned(), 4)], "{dirs:?}");
        store.close().unwrap();
    }
}

/// A topic deleted while a log directory holding one of its partitions was
/// left out of the config: that directory came back adopted, with default
/// configs. Only a store without any copy adopts unlisted partitions; here
/// the open is refused, before anything changes, naming the directory.
#[test]
fn a_partition_of_a_topic_no_copy_lists_is_refused_not_adopted() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    let store = open(&[&n1]).unwrap();
    store.delete_topic("c").unwrap();
    store.close().unwrap();
    let e = open(&[&n1, &n2]).unwrap_err();
    assert_conflict(&e, &n2.join("c-1"), "which strata-topics");
    assert!(n2.join(".kafka_cleanshutdown").exists(), "nothing changed");
    let e = Store::open_read_only(StoreConfig::new([&n1, &n2])).unwrap_err();
    assert_conflict(&e, &n2.join("c-1"), "not opened under guessed");
    // Once the leftovers are removed, the store opens.
    for p in [1, 3] {
        std::fs::remove_dir_all(n2.join(format!("c-{p}"))).unwrap();
    }
    let store = open(&[&n1, &n2]).unwrap();
    assert!(store.topics().is_empty());
    store.close().unwrap();
}

#[test]
fn log_directories_of_two_stores_are_refused_together() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (dir, topic) in [(&a, "t"), (&b, "u")] {
        let store = open(&[dir]).unwrap();
        store.create_topic(topic, 1, &BTreeMap::new()).unwrap();
        store.close().unwrap();
    }
    let e = open(&[&a, &b]).unwrap_err();
    assert_conflict(&e, &b, "two stores");
}

/// Two subsets of the log directories opened apart and changed apart reach
/// the same generation with different topics: which is right cannot be told.
#[test]
fn copies_of_one_generation_that_differ_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    for (dir, topic) in [(&n1, "x"), (&n2, "y")] {
        let store = open(&[dir]).unwrap();
        store.create_topic(topic, 1, &BTreeMap::new()).unwrap();
        store.close().unwrap();
    }
    let e = open(&[&n1, &n2]).unwrap_err();
    assert_conflict(&e, &n2, "both generation");
}

/// A store written before the copies (`strata-topics 1` in its first log
/// directory only) opens in any order with its configs, and the open writes
/// a copy of the new format into every directory.
#[test]
fn a_store_of_the_older_format_opens_reordered_and_gains_a_copy_in_every_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    std::fs::write(
        n1.join("strata-topics"),
        "strata-topics 1\ntopic c 4\nconfig c cleanup.policy compact\n",
    )
    .unwrap();
    std::fs::remove_file(n2.join("strata-topics")).unwrap();
    let store = open(&[&n2, &n1]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap(), compact());
    assert!(store.offline_partitions().is_empty());
    store.close().unwrap();
    for dir in [&n1, &n2] {
        let text = topics_file(dir);
        assert!(
            text.starts_with("strata-topics 2\nstore ")
                && text.contains("config c cleanup.policy compact"),
            "{text}"
        );
    }
    assert_eq!(topics_file(&n1), topics_file(&n2));
}

/// A log directory added to the config gets its copy at the next open, so
/// opened alone later it still knows the topics (its partitions elsewhere offline).
#[test]
fn a_log_directory_added_to_the_config_gets_a_copy_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = (tmp.path().join("n1"), tmp.path().join("n2"));
    let store = open(&[&n1]).unwrap();
    store.create_topic("c", 1, &compact()).unwrap();
    store.close().unwrap();
    let store = open(&[&n1, &n2]).unwrap();
    store.close().unwrap();
    assert_eq!(topics_file(&n1), topics_file(&n2));
    // An open that finds every copy in place writes none.
    let written = std::fs::metadata(n2.join("strata-topics")).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    open(&[&n1, &n2]).unwrap().close().unwrap();
    assert_eq!(std::fs::metadata(n2.join("strata-topics")).unwrap().modified().unwrap(), written);
    let store = open(&[&n2]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap(), compact());
    assert_eq!(store.offline_partitions().len(), 1);
    store.close().unwrap();
}

/// A copy that cannot be read (here a directory in its place) takes its log
/// directory offline: its partitions are not opened under configs it may
/// hold newer than the other copies; the rest of the store serves.
#[test]
fn a_copy_that_cannot_be_read_takes_its_log_directory_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    std::fs::remove_file(n2.join("strata-topics")).unwrap();
    std::fs::create_dir(n2.join("strata-topics")).unwrap();
    let store = open(&[&n2, &n1]).unwrap();
    assert_eq!(store.offline_dirs().len(), 1);
    assert_eq!(store.offline_dirs()[0].0, n2);
    assert_eq!(store.topic_overrides("c").unwrap(), compact());
    assert_eq!(store.partition("c", 0).unwrap().log_end_offset(), 1);
    assert!(matches!(store.partition("c", 1).unwrap_err(), Error::LogDirOffline { .. }));
    store.close().unwrap();
    assert!(n2.join("strata-topics").is_dir(), "left alone");
}

/// A store of the older format (its file in n1 only) opened with n2 alone
/// adopts n2's partitions with default configs and, at its next write, gives
/// n2 a newer copy saying so. Opened whole, that copy must not silently
/// outrank n1's: the compacted topic would run as `delete` for good.
#[test]
fn an_older_format_copy_the_newer_one_contradicts_is_refused_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = (tmp.path().join("n1"), tmp.path().join("n2"));
    let store = open(&[&n1, &n2]).unwrap();
    store.create_topic("a", 1, &BTreeMap::new()).unwrap();
    store.create_topic("c", 2, &compact()).unwrap();
    store.delete_topic("a").unwrap();
    store.close().unwrap();
    // c-0 in n2, so n2 alone adopts a whole topic of one partition.
    assert!(n2.join("c-0").is_dir() && n1.join("c-1").is_dir());
    let old = "strata-topics 1\ntopic c 2\nconfig c cleanup.policy compact\n";
    std::fs::write(n1.join("strata-topics"), old).unwrap();
    std::fs::remove_file(n2.join("strata-topics")).unwrap();
    let store = open(&[&n2]).unwrap();
    assert!(store.topic_overrides("c").unwrap().is_empty(), "adopted with default configs");
    store.create_topic("other", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    for dirs in [vec![&n1, &n2], vec![&n2, &n1]] {
        let e = open(&dirs).unwrap_err();
        assert_conflict(&e, &n1, "older format");
        assert!(e.to_string().contains("topic c"), "{e}");
    }
    assert_eq!(topics_file(&n1), old, "the older copy is left as it was");
    // The operator removes the copy that is wrong, and the topic only it
    // listed (refused otherwise): the older one is upgraded.
    std::fs::remove_file(n2.join("strata-topics")).unwrap();
    std::fs::remove_dir_all(n2.join("other-0")).unwrap();
    let store = open(&[&n2, &n1]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap(), compact());
    store.close().unwrap();
    // One that agrees (every topic listed with its configs) is upgraded.
    let store = open(&[&n1]).unwrap();
    store.create_topic("more", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    std::fs::write(n2.join("strata-topics"), old).unwrap();
    let store = open(&[&n1, &n2]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap(), compact());
    store.close().unwrap();
    assert_eq!(topics_file(&n1), topics_file(&n2));
}

/// The older format kept one file, in whichever log directory was listed
/// first when it was written: a store whose order changed may have two. Two
/// that differ are refused, naming both, and neither is rewritten: which is
/// current cannot be told (the one read would have overwritten the other's
/// configs in every directory).
#[test]
fn older_format_copies_that_differ_are_refused_and_left_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    let compacted = "strata-topics 1\ntopic c 4\nconfig c cleanup.policy compact\n";
    std::fs::write(n1.join("strata-topics"), "strata-topics 1\ntopic c 4\n").unwrap();
    std::fs::write(n2.join("strata-topics"), compacted).unwrap();
    for dirs in [vec![&n1, &n2], vec![&n2, &n1]] {
        let e = open(&dirs).unwrap_err();
        assert!(e.to_string().contains("both of the older format"), "{e}");
    }
    assert_eq!(topics_file(&n2), compacted);
    // Identical ones are one file twice: the store opens and is upgraded.
    std::fs::write(n1.join("strata-topics"), compacted).unwrap();
    let store = open(&[&n1, &n2]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap(), compact());
    store.close().unwrap();
    assert_eq!(topics_file(&n1), topics_file(&n2));
}

/// A Kafka broker's log directory added to a store that already holds a
/// copy is refused, not adopted: a directory without a copy cannot be told
/// from one of the store whose copy was removed by hand. The error names
/// the way out.
#[test]
fn a_kafka_log_directory_added_beside_a_copy_is_refused_naming_the_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (k1, k2) = (tmp.path().join("k1"), tmp.path().join("k2"));
    let store = open(&[&k1, &k2]).unwrap();
    store.create_topic("x", 1, &BTreeMap::new()).unwrap();
    store.create_topic("y", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    assert!(k1.join("x-0").is_dir() && k2.join("y-0").is_dir());
    // As a broker leaves them: no strata-topics in either directory.
    std::fs::remove_file(k1.join("strata-topics")).unwrap();
    std::fs::remove_file(k2.join("strata-topics")).unwrap();
    let store = open(&[&k1]).unwrap();
    store.create_topic("z", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    let e = open(&[&k1, &k2]).unwrap_err();
    assert_conflict(&e, &k2.join("y-0"), "open it as a store of its own");
    assert!(e.to_string().contains("adopt_unlisted_partitions"), "{e}");
    // A read-only open asked to adopt them lists them and writes nothing.
    let looking = StoreConfig::new([&k1, &k2]).adopt_unlisted_partitions(true);
    let ro = Store::open_read_only(looking).unwrap();
    assert_eq!(ro.topics().len(), 3, "{:?}", ro.topics());
    ro.close().unwrap();
    assert!(!k2.join("strata-topics").exists());
    // Asked to, the open adopts them with default configs and writes them
    // into every copy: the next open needs no asking.
    let adopting = StoreConfig::new([&k1, &k2]).background_threads(false);
    let store = Store::open(adopting.adopt_unlisted_partitions(true)).unwrap();
    assert_eq!(store.topics().len(), 3, "{:?}", store.topics());
    assert_eq!(store.topic_overrides("y").unwrap(), retention_off());
    store.close().unwrap();
    assert!(topics_file(&k1).contains("topic y 1") && topics_file(&k1) == topics_file(&k2));
    let store = open(&[&k1, &k2]).unwrap();
    assert_eq!(store.partition("y", 0).unwrap().log_end_offset(), 0);
    store.close().unwrap();
}

/// Settling a conflict between two copies of one generation by removing
/// one leaves the topics only it listed refused; adopting them on request
/// keeps their data (their configs to set again), where the refusal's
/// advice alone would have their directories removed.
#[test]
fn topics_only_a_removed_copy_listed_are_adopted_on_request_with_their_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    for (dir, topic) in [(&n1, "p"), (&n2, "q")] {
        let store = open(&[dir]).unwrap();
        store.create_topic(topic, 1, &compact()).unwrap();
        store.partition(topic, 0).unwrap().append(&[Record::new("k", "v")]).unwrap();
        store.close().unwrap();
    }
    assert_conflict(&open(&[&n1, &n2]).unwrap_err(), &n2, "adopt_unlisted_partitions");
    std::fs::remove_file(n2.join("strata-topics")).unwrap();
    assert_conflict(&open(&[&n1, &n2]).unwrap_err(), &n2.join("q-0"), "does not list");
    let config = StoreConfig::new([&n1, &n2]).background_threads(false);
    let store = Store::open(config.adopt_unlisted_partitions(true)).unwrap();
    assert_eq!(store.topic_overrides("p").unwrap(), compact());
    assert_eq!(store.topic_overrides("q").unwrap(), retention_off(), "nothing deleted yet");
    assert_eq!(store.partition("q", 0).unwrap().log_end_offset(), 1);
    store.set_topic_config("q", "cleanup.policy", "compact").unwrap();
    store.close().unwrap();
    let store = open(&[&n2, &n1]).unwrap();
    let q = store.topic_overrides("q").unwrap();
    assert_eq!(q.get("cleanup.policy").map(String::as_str), Some("compact"), "{q:?}");
    store.close().unwrap();
}

/// Adopting on request while a log directory is offline is refused: that
/// directory may hold the adopted topics' other partitions, and a write of
/// `strata-topics` would count partitions held nowhere, offline for good.
#[test]
fn adopting_while_a_log_directory_is_offline_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    let k = tmp.path().join("k");
    let store = open(&[&k]).unwrap();
    store.create_topic("x", 3, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    std::fs::remove_file(k.join("strata-topics")).unwrap();
    std::fs::remove_dir_all(k.join("x-1")).unwrap();
    std::fs::remove_file(n2.join("strata-topics")).unwrap();
    std::fs::create_dir(n2.join("strata-topics")).unwrap();
    let config = StoreConfig::new([&n1, &n2, &k]).background_threads(false);
    let e = Store::open(config.adopt_unlisted_partitions(true)).unwrap_err();
    assert_conflict(&e, &n2, "bring it online first");
    assert!(!k.join("strata-topics").exists() && !k.join("x-1").exists(), "nothing written");
}

/// The generation line of `dir`'s copy.
fn generation(dir: &Path) -> u64 {
    let text = topics_file(dir);
    let line = text.lines().find_map(|l| l.strip_prefix("generation ")).unwrap();
    line.parse().unwrap()
}

/// Rewrites `dir`'s copy without its `history` line, as a strata from
/// before the line wrote it.
fn drop_history(dir: &Path) {
    let text = topics_file(dir);
    assert!(text.contains("\nhistory "), "{text}");
    let kept: String =
        text.lines().filter(|l| !l.starts_with("history")).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("strata-topics"), kept).unwrap();
}

/// Topic `t` (default configs) over n1 and n2; then n2 alone sets
/// `cleanup.policy=compact` on it (one write), and n1 alone makes two
/// changes: n1's copy reaches a higher generation than n2's without ever
/// holding n2's change.
fn changed_apart(root: &Path) -> (PathBuf, PathBuf) {
    let (n1, n2) = (root.join("n1"), root.join("n2"));
    let store = open(&[&n1, &n2]).unwrap();
    store.create_topic("t", 2, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    let store = open(&[&n2]).unwrap();
    store.set_topic_config("t", "cleanup.policy", "compact").unwrap();
    store.close().unwrap();
    let store = open(&[&n1]).unwrap();
    store.set_topic_config("t", "retention.ms", "3600000").unwrap();
    store.create_topic("x", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    assert!(generation(&n1) > generation(&n2));
    (n1, n2)
}

/// A copy changed while its log directory was opened alone, beside a copy
/// changed more often while the other was opened alone: the higher
/// generation is not a newer version of the lower one, and overwriting the
/// lower one lost its change (here `cleanup.policy=compact`, and the next
/// retention pass deleted the topic's data). Refused, naming both
/// directories and generations, and nothing is written.
#[test]
fn a_copy_changed_apart_from_a_newer_one_is_refused_naming_both_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = changed_apart(tmp.path());
    let (g1, g2) = (generation(&n1), generation(&n2));
    let (before1, before2) = (topics_file(&n1), topics_file(&n2));
    for dirs in [vec![&n1, &n2], vec![&n2, &n1]] {
        let e = open(&dirs).unwrap_err();
        assert_conflict(&e, &n2, "changed apart");
        let msg = e.to_string();
        for named in [
            n1.display().to_string(),
            n2.display().to_string(),
            format!("generation {g1}"),
            format!("generation {g2}"),
            "adopt_unlisted_partitions".to_owned(),
        ] {
            assert!(msg.contains(&named), "{named}: {msg}");
        }
        // One sentence: the source's line breaks are not in it.
        assert!(!msg.contains("  "), "a run of spaces: {msg:?}");
        let e = Store::open_read_only(StoreConfig::new(dirs.iter().copied())).unwrap_err();
        assert_conflict(&e, &n2, "changed apart");
    }
    assert_eq!((topics_file(&n1), topics_file(&n2)), (before1, before2), "nothing written");
    // Each directory alone still opens with its own copy.
    let store = open(&[&n2]).unwrap();
    assert_eq!(store.topic_overrides("t").unwrap(), compact());
    store.close().unwrap();
    // The operator keeps n1's copy and sets n2's change again.
    std::fs::remove_file(n2.join("strata-topics")).unwrap();
    let store = open(&[&n1, &n2]).unwrap();
    store.set_topic_config("t", "cleanup.policy", "compact").unwrap();
    store.close().unwrap();
    assert_eq!(topics_file(&n1), topics_file(&n2));
}

/// A log directory left out while the others' copies changed twice holds
/// an ancestor of the newest copy: the store opens with the newest, and the
/// stale copy is rewritten with it (history included).
#[test]
fn a_copy_left_out_while_the_others_changed_is_stale_and_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    let store = open(&[&n1]).unwrap();
    store.set_topic_config("c", "retention.ms", "-1").unwrap();
    store.create_topic("x", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    assert!(generation(&n1) > generation(&n2) + 1);
    for dirs in [vec![&n2, &n1], vec![&n1, &n2]] {
        let store = open(&dirs).unwrap();
        assert_eq!(store.topic_overrides("c").unwrap()["retention.ms"], "-1");
        assert_eq!(store.partition_count("x").unwrap(), 1);
        store.close().unwrap();
        assert_eq!(topics_file(&n1), topics_file(&n2), "the stale copy is rewritten");
    }
    assert!(topics_file(&n2).contains("\nhistory "));
}

/// A copy written before the `history` line, beside one with it, opens as
/// before: the higher generation wins, even over a copy changed apart,
/// whichever of the two lacks the line (no lineage to tell them apart).
#[test]
fn a_copy_without_history_beside_one_with_history_opens_as_before() {
    for stripped in [0, 1] {
        let tmp = tempfile::tempdir().unwrap();
        let (n1, n2) = changed_apart(tmp.path());
        drop_history(if stripped == 0 { &n1 } else { &n2 });
        let store = open(&[&n2, &n1]).unwrap();
        let t = store.topic_overrides("t").unwrap();
        assert_eq!(t.get("cleanup.policy"), None, "n1's copy wins: {t:?}");
        assert_eq!(store.partition_count("x").unwrap(), 1);
        store.close().unwrap();
        assert_eq!(topics_file(&n1), topics_file(&n2));
        assert!(topics_file(&n2).contains("\nhistory "), "the lineage starts again");
    }
}

/// The downgrade path the CHANGELOG gives: a strata from before the `history`
/// line refuses a copy holding it, so the operator removes the line from
/// every copy by hand. Such a store still opens here, with its topics and
/// configs, and the lineage starts again at its next change.
#[test]
fn a_store_whose_copies_all_lost_the_history_line_by_hand_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    drop_history(&n1);
    drop_history(&n2);
    let store = open(&[&n1, &n2]).unwrap();
    assert_eq!(store.topic_overrides("c").unwrap(), compact());
    assert_eq!(store.partition_count("c").unwrap(), 4);
    // The next change writes the line again: the lineage starts there.
    store.create_topic("x", 1, &BTreeMap::new()).unwrap();
    store.close().unwrap();
    assert!(topics_file(&n1).contains("\nhistory "), "the lineage starts again");
}

/// A copy changed apart whose generation is older than the newest copy's
/// whole history cannot be told from an ancestor: it is taken as stale, as
/// before the history (the documented limit).
#[test]
fn a_copy_changed_apart_past_the_newest_copys_history_is_taken_as_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = changed_apart(tmp.path());
    let store = open(&[&n1]).unwrap();
    for ms in 0..64 {
        store.set_topic_config("t", "retention.ms", &format!("{}", 3_600_000 + ms)).unwrap();
    }
    store.close().unwrap();
    let store = open(&[&n1, &n2]).unwrap();
    assert_eq!(store.topic_overrides("t").unwrap().get("cleanup.policy"), None);
    store.close().unwrap();
}

/// A damaged `history` line is refused naming the file and the line, and
/// the store is left as it was.
#[test]
fn a_corrupt_history_line_is_refused_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (n1, n2) = two_dir_store(tmp.path());
    let text = topics_file(&n2);
    let g = generation(&n2);
    for bad in [
        format!("history {g}:zz"),
        format!("history {g}:0123456789"),
        format!("history {g}:01234567 {g}:01234567"),
        format!("history {}:01234567", g + 1),
        "history".to_owned(),
    ] {
        let damaged: String = text
            .lines()
            .map(|l| if l.starts_with("history ") { bad.clone() } else { l.to_owned() } + "\n")
            .collect();
        assert!(damaged.contains(&bad));
        std::fs::write(n2.join("strata-topics"), &damaged).unwrap();
        let e = open(&[&n1, &n2]).unwrap_err();
        assert!(
            matches!(&e, Error::CorruptFile { path, reason }
                if *path == n2.join("strata-topics") && reason.starts_with("line 4: ")),
            "{bad}: {e}"
        );
        assert_eq!(topics_file(&n2), damaged, "left as it was");
    }
}
