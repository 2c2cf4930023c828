//! The store's own record of its topics: partition counts and topic-level
//! config overrides. Kafka keeps these in its metadata log; strata keeps them
//! in one small text file in the first log directory, rewritten atomically:
//!
//! ```text
//! strata-topics 1
//! topic <name> <partitions>
//! config <name> <key> <value...>
//! ```
//!
//! A partition directory on disk without an entry here (a Kafka broker's data
//! directory opened by strata) is adopted with no overrides.

use std::collections::BTreeMap;
use std::path::Path;

use crate::io::file;
use crate::{Error, Result};

/// File name, in the first log directory.
pub(crate) const TOPICS_FILE: &str = "strata-topics";
const HEADER: &str = "strata-topics 1";

/// What the metadata file says about one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub partitions: i32,
    pub overrides: BTreeMap<String, String>,
}

pub(crate) fn read(dir: &Path) -> Result<BTreeMap<String, TopicMeta>> {
    let path = dir.join(TOPICS_FILE);
    if !file::exists(&path)? {
        return Ok(BTreeMap::new());
    }
    let text = String::from_utf8(file::read(&path)?)
        .map_err(|_| Error::CorruptFile { path: path.clone(), reason: "not UTF-8".into() })?;
    let corrupt = |n: usize, why: &str| Error::CorruptFile {
        path: path.clone(),
        reason: format!("line {n}: {why}"),
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => return Err(corrupt(1, "expected the header `strata-topics 1`")),
    }
    let mut topics: BTreeMap<String, TopicMeta> = BTreeMap::new();
    for (i, line) in lines {
        let n = i + 1;
        let mut parts = line.splitn(4, ' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("topic"), Some(name), Some(count), None) => {
                let partitions =
                    count.parse().map_err(|_| corrupt(n, "partition count is not a number"))?;
                topics.entry(name.to_owned()).or_default().partitions = partitions;
            }
            (Some("config"), Some(name), Some(key), Some(value)) => {
                topics
                    .entry(name.to_owned())
                    .or_default()
                    .overrides
                    .insert(key.to_owned(), value.to_owned());
            }
            (Some(""), None, None, None) => {}
            _ => return Err(corrupt(n, "expected `topic NAME N` or `config NAME KEY VALUE`")),
        }
    }
    Ok(topics)
}

pub(crate) fn write(dir: &Path, topics: &BTreeMap<String, TopicMeta>) -> Result<()> {
    let mut text = format!("{HEADER}\n");
    for (name, meta) in topics {
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
        meta.overrides.insert("x".into(), "a b".into());
        topics.insert("orders".to_owned(), meta);
        write(dir.path(), &topics).unwrap();
        assert_eq!(read(dir.path()).unwrap(), topics);
    }

    #[test]
    fn missing_topics_file_reads_as_no_topics() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
    }
}
