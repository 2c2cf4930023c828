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
}

impl Stamp {
    /// A new store's: a fresh identity, no write yet.
    pub(crate) fn fresh() -> Stamp {
        let store = file::random_bytes().iter().map(|b| format!("{b:02x}")).collect();
        Stamp { store, generation: 0 }
    }
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
    let text = String::from_utf8(file::read_limited(&path, MAX_FILE_LEN)?)
        .map_err(|_| Error::CorruptFile { path: path.clone(), reason: "not UTF-8".into() })?;
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
    let mut metas = Metas::default();
    for (i, line) in lines {
        let n = i + 1;
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
        (true, Some(store), Some(generation)) => Some(Stamp { store, generation }),
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
    for name in &metas.deleted {
        text.push_str(&format!("deleted {name}\n"));
    }
    for name in &metas.creating {
        text.push_str(&format!("creating {name}\n"));
    }
    for (name, meta) in &metas.topics {
        text.push_str(&format!("topic {name} {}\n", meta.partitions));
        for (k, v) in &meta.overrides {
            text.push_str(&format!("config {name} {k} {}\n", v.replace('\n', " ")));
        }
    }
    file::write_atomic(&dir.join(TOPICS_FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
