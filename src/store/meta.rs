//! The store's own record of its topics: partition counts and topic-level
//! config overrides. Kafka keeps these in its metadata log; strata keeps them
//! in one small text file, `strata-topics`, a copy in **every** log
//! directory, each rewritten atomically (temporary file, fsync, rename,
//! directory fsync):
//!
//! ```text
//! strata-topics 2
//! store <32 hex digits>
//! generation <N>
//! history <G>:<digest> <G>:<digest> ...
//! topic <name> <partitions>
//! config <name> <key> <value...>
//! deleted <name>
//! creating <name>
//! ```
//!
//! `store` names the store the copy belongs to (drawn at random at its first
//! write); `generation` counts the writes, so the newest copy wins at open
//! (see `meta_copies.rs`). A file of the older format (`strata-topics 1`,
//! without both lines, kept in the first log directory only) reads as
//! generation 0 of no named store, and is rewritten in the new format into
//! every log directory at the next open.
//!
//! `history` is the copy's lineage: the last [`HISTORY_LEN`] generations it
//! passed through, oldest first, each with the CRC-32C (8 hex digits) of the
//! topic section written at it (the `deleted`, `creating`, `topic` and
//! `config` lines as [`write`] lays them out), its own generation last. It
//! tells a stale copy (an ancestor of the newest) from one changed apart
//! (see `meta_copies.rs`). The line is optional: copies written before it
//! have none, and read as before. The digest tells apart topic sections, it
//! does not authenticate them.
//!
//! A partition directory on disk without an entry here (a Kafka broker's data
//! directory opened by strata) is adopted with no overrides, but only when no
//! log directory holds a copy of the file at all (see `meta_copies.rs`).
//!
//! `deleted` marks a topic whose deletion is committed but whose partition
//! directories may still exist: the next open removes them instead of
//! adopting them (see `lifecycle.rs`).
//!
//! `creating` marks a topic whose creation is committed but whose partition
//! directories may not all exist yet: the next open creates the missing ones.
//! Every other partition the file counts must be found on disk: a missing
//! one is offline, never recreated empty (its directory may be in a log
//! directory left out of the config, or removed by hand).
//!
//! The file is input like any other: every name must be a legal topic name,
//! every count within [`MAX_PARTITIONS`] and every override a valid config,
//! or reading fails naming the file, the line and the topic (a name such as
//! `../x` would otherwise become a directory outside the log directory).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::config::LogConfig;
use crate::io::file;
use crate::{Error, Result};

use super::topic_name::{self, MAX_PARTITIONS};

/// File name, in every log directory.
pub(crate) const TOPICS_FILE: &str = "strata-topics";
/// The header of the format written, with `store` and `generation` lines.
const HEADER: &str = "strata-topics 2";
/// The header of the older format, kept in the first log directory only.
const HEADER_V1: &str = "strata-topics 1";
/// How many generations a written `history` line keeps. A log directory
/// left out of the config is told apart from one changed apart only while
/// the newest copy's history still reaches its generation, that is for 64
/// writes of the topics (a topic created, deleted, reconfigured or grown,
/// an open rewriting the copies): a maintenance window's worth of admin
/// calls, where 16 could pass in one script creating topics. The line costs
/// at most 64 entries of 30 bytes (under 2 KiB) in a file written only when
/// the topics change, beside an fsync of it in every log directory.
pub(crate) const HISTORY_LEN: usize = 64;
/// The most `history` entries read: a later strata may keep more than
/// [`HISTORY_LEN`], and a longer line (hostile or damaged) is refused.
const HISTORY_READ_MAX: usize = 1024;
/// The longest `strata-topics` read: 64 MiB, a line per topic and per
/// config override of each, past any store's. A longer file (a planted
/// sparse one costs no disk) is refused unread, naming it.
const MAX_FILE_LEN: u64 = 64 << 20;

/// What the metadata file says about one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub partitions: i32,
    pub overrides: BTreeMap<String, String>,
}

/// Everything the file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Metas {
    pub topics: BTreeMap<String, TopicMeta>,
    /// Topics deleted whose directories may remain.
    pub deleted: BTreeSet<String>,
    /// Topics being created whose directories may not all exist yet.
    pub creating: BTreeSet<String>,
}

/// Which store a copy belongs to and how many writes it has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// 32 lowercase hex digits, drawn at random at the store's first write.
    pub store: String,
    /// Counts the writes: the newest copy has the highest.
    pub generation: u64,
    /// The generations this copy passed through, increasing, each with the
    /// [`digest`] of the topic section written at it; empty for a copy
    /// written before the `history` line.
    pub history: Vec<(u64, u32)>,
}

impl Stamp {
    /// A new store's: a fresh identity, no write yet.
    pub(crate) fn fresh() -> Stamp {
        let store = file::random_bytes().iter().map(|b| format!("{b:02x}")).collect();
        Stamp { store, generation: 0, history: Vec::new() }
    }

    /// Records a write of `metas`: the next generation, its digest added
    /// to the history, which keeps the newest [`HISTORY_LEN`].
    pub(crate) fn advance(&mut self, metas: &Metas) {
        self.generation = self.generation.saturating_add(1);
        self.record(metas);
    }

    /// Puts the current generation's digest of `metas` last in the history
    /// (replacing an entry of the same generation), the oldest dropped past
    /// [`HISTORY_LEN`].
    pub(crate) fn record(&mut self, metas: &Metas) {
        let entry = (self.generation, digest(metas));
        self.history.retain(|(g, _)| *g < entry.0);
        self.history.push(entry);
        let excess = self.history.len().saturating_sub(HISTORY_LEN);
        self.history.drain(..excess);
    }

    /// The digest the history holds for generation `g`, if it holds `g`.
    pub(crate) fn digest_at(&self, g: u64) -> Option<u32> {
        self.history.iter().find(|(h, _)| *h == g).map(|(_, d)| *d)
    }
}

/// The topic section of a copy, as [`write`] lays it out: the lines after
/// the stamp. A line break in a config value (`\n`, or `\r`, which `lines()`
/// drops before a `\n`) is written as a space, so that a copy read back has
/// the [`digest`] it was written with.
fn topic_lines(metas: &Metas) -> String {
    let mut text = String::new();
    for name in &metas.deleted {
        text.push_str(&format!("deleted {name}\n"));
    }
    for name in &metas.creating {
        text.push_str(&format!("creating {name}\n"));
    }
    for (name, meta) in &metas.topics {
        text.push_str(&format!("topic {name} {}\n", meta.partitions));
        for (k, v) in &meta.overrides {
            text.push_str(&format!("config {name} {k} {}\n", v.replace(['\n', '\r'], " ")));
        }
    }
    text
}

/// CRC-32C of the topic section `metas` is written as: what a `history`
/// entry holds. Two copies listing the same topics, configs and marks have
/// the same digest.
pub(crate) fn digest(metas: &Metas) -> u32 {
    crate::format::crc::crc32c(topic_lines(metas).as_bytes())
}

/// Reads the entries of a `history` line (`rest`, after the word), line `n`.
fn read_history(
    rest: &str,
    n: usize,
    corrupt: impl Fn(usize, &str) -> Error,
) -> Result<Vec<(u64, u32)>> {
    let mut history: Vec<(u64, u32)> = Vec::new();
    for entry in rest.split(' ') {
        if history.len() == HISTORY_READ_MAX {
            return Err(corrupt(n, &format!("history holds more than {HISTORY_READ_MAX} entries")));
        }
        let parsed = entry.split_once(':').and_then(|(g, d)| {
            let digits = |s: &str, hex: bool| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&b)))
            };
            let ok = digits(g, false) && d.len() == 8 && digits(d, true);
            ok.then(|| Some((g.parse::<u64>().ok()?, u32::from_str_radix(d, 16).ok()?))).flatten()
        });
        let Some((g, d)) = parsed else {
            return Err(corrupt(
                n,
                &format!(
                    "history entry {entry:?} is not GENERATION:DIGEST (a number from 0 to {}, \
                     8 lowercase hex digits)",
                    u64::MAX
                ),
            ));
        };
        if let Some((prev, _)) = history.last()
            && *prev >= g
        {
            return Err(corrupt(
                n,
                &format!("history lists generation {g} after {prev}: generations must increase"),
            ));
        }
        history.push((g, d));
    }
    Ok(history)
}

/// One log directory's copy of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Copy {
    /// `None` for the older format (read as generation 0).
    pub stamp: Option<Stamp>,
    pub metas: Metas,
}

impl Copy {
    pub(crate) fn generation(&self) -> u64 {
        self.stamp.as_ref().map_or(0, |s| s.generation)
    }
}

/// Reads and validates `strata-topics` in `dir` (`None`: no file).
///
/// # Errors
/// [`Error::CorruptFile`] naming the line (and topic) of the first bad entry.
pub(crate) fn read(dir: &Path) -> Result<Option<Copy>> {
    let path = dir.join(TOPICS_FILE);
    if !file::exists(&path)? {
        return Ok(None);
    }
    let text = String::from_utf8(file::read_limited(&path, MAX_FILE_LEN)?).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let line = e.as_bytes().iter().take(bad).filter(|b| **b == b'\n').count() + 1;
        let reason = format!("line {line}: not UTF-8 (byte {bad} of the file)");
        Error::CorruptFile { path: path.clone(), reason }
    })?;
    let corrupt = |n: usize, why: &str| Error::CorruptFile {
        path: path.clone(),
        reason: format!("line {n}: {why}"),
    };
    let mut lines = text.lines().enumerate();
    let stamped = match lines.next() {
        Some((_, HEADER)) => true,
        Some((_, HEADER_V1)) => false,
        _ => return Err(corrupt(1, "expected the header `strata-topics 2` or `strata-topics 1`")),
    };
    let (mut store, mut generation) = (None, None);
    // The `history` line's entries and line number.
    let mut history: Option<(Vec<(u64, u32)>, usize)> = None;
    let mut metas = Metas::default();
    for (i, line) in lines {
        let n = i + 1;
        if stamped && (line == "history" || line.starts_with("history ")) {
            if history.is_some() {
                return Err(corrupt(n, "a second `history` line"));
            }
            let rest = line.strip_prefix("history ").unwrap_or_default();
            history = Some((read_history(rest, n, corrupt)?, n));
            continue;
        }
        let mut parts = line.splitn(4, ' ');
        let entry = (parts.next(), parts.next(), parts.next(), parts.next());
        let named = |name: &str| {
            topic_name::validate(name)
                .map_err(|e| corrupt(n, &format!("topic {name:?}: {e}")))
                .map(|()| name.to_owned())
        };
        match entry {
            (Some("topic"), Some(name), Some(count), None) => {
                let name = named(name)?;
                let partitions = count
                    .parse::<i32>()
                    .ok()
                    .filter(|c| (0..=MAX_PARTITIONS).contains(c))
                    .ok_or_else(|| {
                        corrupt(
                            n,
                            &format!(
                                "topic {name}: partition count {count:?} is not a number from 0 to {MAX_PARTITIONS}"
                            ),
                        )
                    })?;
                metas.topics.entry(name).or_default().partitions = partitions;
            }
            (Some("config"), Some(name), Some(key), Some(value)) => {
                let name = named(name)?;
                LogConfig::validate_override(key, value)
                    .map_err(|e| corrupt(n, &format!("topic {name}: {e}")))?;
                metas
                    .topics
                    .entry(name)
                    .or_default()
                    .overrides
                    .insert(key.to_owned(), value.to_owned());
            }
            (Some("deleted"), Some(name), None, None) => {
                metas.deleted.insert(named(name)?);
            }
            (Some("creating"), Some(name), None, None) => {
                metas.creating.insert(named(name)?);
            }
            (Some("store"), Some(id), None, None) if stamped && store.is_none() => {
                if id.len() != 32
                    || !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(corrupt(
                        n,
                        &format!("store {id:?} is not 32 lowercase hex digits"),
                    ));
                }
                store = Some(id.to_owned());
            }
            (Some("generation"), Some(g), None, None) if stamped && generation.is_none() => {
                let g = g.parse::<u64>().map_err(|_| {
                    corrupt(n, &format!("generation {g:?} is not a number from 0 to {}", u64::MAX))
                })?;
                generation = Some(g);
            }
            (Some(""), None, None, None) => {}
            _ => {
                return Err(corrupt(
                    n,
                    "expected `topic NAME N`, `config NAME KEY VALUE`, `deleted NAME` or `creating NAME`",
                ));
            }
        }
    }
    if let Some(name) = metas.deleted.iter().find(|d| metas.topics.contains_key(*d)) {
        return Err(Error::CorruptFile {
            path,
            reason: format!("topic {name} is listed both live and deleted"),
        });
    }
    let stamp = match (stamped, store, generation) {
        (false, ..) => None,
        (true, Some(store), Some(generation)) => {
            let (history, n) = history.unwrap_or_default();
            if let Some((g, _)) = history.last().filter(|(g, _)| *g > generation) {
                return Err(corrupt(
                    n,
                    &format!(
                        "history lists generation {g}, past the copy's generation {generation}"
                    ),
                ));
            }
            Some(Stamp { store, generation, history })
        }
        (true, ..) => {
            return Err(Error::CorruptFile {
                path,
                reason: "a `strata-topics 2` file needs one `store` and one `generation` line"
                    .into(),
            });
        }
    };
    Ok(Some(Copy { stamp, metas }))
}

/// Replaces `strata-topics` in `dir` atomically, stamped with `stamp`.
pub(crate) fn write(dir: &Path, stamp: &Stamp, metas: &Metas) -> Result<()> {
    let mut text = format!("{HEADER}\nstore {}\ngeneration {}\n", stamp.store, stamp.generation);
    if !stamp.history.is_empty() {
        text.push_str("history");
        for (g, d) in &stamp.history {
            text.push_str(&format!(" {g}:{d:08x}"));
        }
        text.push('\n');
    }
    text.push_str(&topic_lines(metas));
    file::write_atomic(&dir.join(TOPICS_FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topics_file_that_is_not_utf8_is_refused_naming_the_line_and_byte() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOPICS_FILE), b"strata-topics 1\ntopic \xff 1\n").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 2: not UTF-8 (byte 22 of the file)"), "{e}");
    }

    #[test]
    fn topics_file_round_trips_overrides_with_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let mut topics = BTreeMap::new();
        let mut meta = TopicMeta { partitions: 3, ..TopicMeta::default() };
        meta.overrides.insert("cleanup.policy".into(), "compact,delete".into());
        meta.overrides.insert("cleanup.policy".into(), "compact, delete".into());
        topics.insert("orders".to_owned(), meta);
        let metas = Metas {
            topics,
            deleted: ["gone".to_owned()].into(),
            creating: ["orders".to_owned()].into(),
        };
        let stamp = Stamp { generation: 7, ..Stamp::fresh() };
        write(dir.path(), &stamp, &metas).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(Copy { stamp: Some(stamp), metas }));
    }

    #[test]
    fn the_history_keeps_the_newest_generations_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut metas = Metas::default();
        let mut stamp = Stamp::fresh();
        for count in 1..=HISTORY_LEN + 3 {
            let partitions = i32::try_from(count).unwrap();
            metas.topics.insert("t".into(), TopicMeta { partitions, ..TopicMeta::default() });
            stamp.advance(&metas);
        }
        let first: u64 = 4;
        assert_eq!(stamp.history.len(), HISTORY_LEN);
        assert_eq!(stamp.history.first().map(|e| e.0), Some(first));
        assert_eq!(stamp.digest_at(stamp.generation), Some(digest(&metas)));
        assert_eq!(stamp.digest_at(first - 1), None);
        write(dir.path(), &stamp, &metas).unwrap();
        let text = std::fs::read_to_string(dir.path().join(TOPICS_FILE)).unwrap();
        assert!(text.lines().nth(3).unwrap().starts_with("history 4:"), "{text}");
        assert_eq!(read(dir.path()).unwrap(), Some(Copy { stamp: Some(stamp.clone()), metas }));
        // At the last generation, a write replaces its entry.
        stamp.generation = u64::MAX;
        stamp.advance(&Metas::default());
        stamp.advance(&Metas::default());
        assert_eq!(stamp.history.iter().filter(|e| e.0 == u64::MAX).count(), 1);
    }

    #[test]
    fn a_bad_history_line_is_refused_naming_the_line() {
        let id = "0123456789abcdef0123456789abcdef";
        let many: String = (0..=1024).map(|g| format!(" {g}:00000000")).collect();
        for (history, names) in [
            ("history", "line 4: history entry \"\""),
            ("history ", "line 4: history entry \"\""),
            ("history 3", "line 4: history entry \"3\""),
            ("history 3:0000000g", "line 4"),
            ("history 3:0000000A", "line 4"),
            ("history 3:000000000", "line 4"),
            ("history +3:00000000", "line 4"),
            ("history 18446744073709551616:00000000", "line 4"),
            ("history 3:00000000  4:00000000", "line 4"),
            ("history 4:00000000 3:00000000", "generation 3 after 4"),
            ("history 3:00000000 3:00000000", "generation 3 after 3"),
            ("history 10:00000000", "line 4: history lists generation 10, past"),
            ("history 3:00000000\nhistory 3:00000000", "line 5: a second"),
            (&format!("history{many}"), "more than 1024 entries"),
        ] {
            let msg = read_error(&format!("store {id}\ngeneration 9\n{history}\n"));
            assert!(msg.contains(names), "{history:?}: {msg}");
        }
        // The older format has no stamp, and no history.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOPICS_FILE), "strata-topics 1\nhistory 0:00000000\n")
            .unwrap();
        assert!(read(dir.path()).unwrap_err().to_string().contains("line 2"));
    }

    #[test]
    fn a_copy_without_a_history_line_reads_with_an_empty_history() {
        let id = "0123456789abcdef0123456789abcdef";
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{HEADER}\nstore {id}\ngeneration 9\ntopic t 1\n");
        std::fs::write(dir.path().join(TOPICS_FILE), text).unwrap();
        let stamp = read(dir.path()).unwrap().unwrap().stamp.unwrap();
        assert_eq!((stamp.generation, stamp.history), (9, Vec::new()));
    }

    /// A history entry holds the digest of the topics as written; the copy
    /// read back must give the same one, or an ancestor would be taken for
    /// a copy changed apart. Line breaks in a value (an ignored key takes
    /// any) are written as spaces, a `\r` too: `lines()` drops one before
    /// the `\n`.
    #[test]
    fn a_copy_read_back_has_the_digest_it_was_written_with() {
        let dir = tempfile::tempdir().unwrap();
        let mut meta = TopicMeta { partitions: 1, ..TopicMeta::default() };
        for (key, value) in [("min.insync.replicas", "2\r"), ("message.format.version", "a\r\nb\n")]
        {
            meta.overrides.insert(key.into(), value.into());
        }
        let metas = Metas { topics: [("t".to_owned(), meta)].into(), ..Metas::default() };
        let mut stamp = Stamp::fresh();
        stamp.advance(&metas);
        write(dir.path(), &stamp, &metas).unwrap();
        let copy = read(dir.path()).unwrap().unwrap();
        assert_eq!(stamp.digest_at(1), Some(digest(&copy.metas)), "{:?}", copy.metas);
        write(dir.path(), &stamp, &copy.metas).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap(), copy, "a second round trip changes nothing");
    }

    #[test]
    fn missing_topics_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
    }

    #[test]
    fn an_older_topics_file_reads_as_generation_zero_of_no_named_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOPICS_FILE), "strata-topics 1\ntopic t 2\n").unwrap();
        let copy = read(dir.path()).unwrap().unwrap();
        assert_eq!(
            (copy.generation(), copy.stamp, copy.metas.topics["t"].partitions),
            (0, None, 2)
        );
        // Its format has no stamp lines.
        std::fs::write(dir.path().join(TOPICS_FILE), "strata-topics 1\ngeneration 3\n").unwrap();
        assert!(read(dir.path()).unwrap_err().to_string().contains("line 2"));
    }

    #[test]
    fn a_stamp_must_be_whole_and_well_formed() {
        let id = "0123456789abcdef0123456789abcdef";
        for (body, names) in [
            (format!("store {id}\n"), "needs one `store` and one `generation`"),
            ("generation 1\n".to_owned(), "needs one `store` and one `generation`"),
            (format!("store {id}\ngeneration -1\n"), "line 3: generation \"-1\""),
            (format!("store {id}\ngeneration 1\ngeneration 2\n"), "line 4"),
            ("store 0123\ngeneration 1\n".to_owned(), "line 2: store \"0123\""),
            (format!("store {}\ngeneration 1\n", id.to_uppercase()), "line 2"),
        ] {
            let msg = read_error(&body);
            assert!(msg.contains(names), "{body:?}: {msg}");
        }
    }

    fn read_error(body: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOPICS_FILE), format!("{HEADER}\n{body}")).unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(matches!(err, Error::CorruptFile { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(TOPICS_FILE), "{msg}");
        msg
    }

    #[test]
    fn topic_names_read_from_disk_are_validated_naming_file_and_line() {
        for name in ["../escaped", "/abs/path", "a/b", "..", "."] {
            let msg = read_error(&format!("topic ok 1\ntopic {name} 1\n"));
            assert!(msg.contains("line 3") && msg.contains(name), "{msg}");
            let msg = read_error(&format!("config {name} retention.ms 5\n"));
            assert!(msg.contains("line 2"), "{msg}");
            let msg = read_error(&format!("deleted {name}\n"));
            assert!(msg.contains("line 2"), "{msg}");
        }
    }

    #[test]
    fn partition_counts_read_from_disk_are_bounded() {
        for count in ["100000000", "-1", "x", "2147483648"] {
            let msg = read_error(&format!("topic plain {count}\n"));
            assert!(msg.contains("line 2") && msg.contains("topic plain"), "{msg}");
        }
    }

    #[test]
    fn a_bad_override_in_the_topics_file_names_line_and_topic() {
        let msg = read_error("topic t 1\nconfig t retention.ms soon\n");
        assert!(
            msg.contains("line 3") && msg.contains("topic t") && msg.contains("retention.ms"),
            "{msg}"
        );
    }
}
