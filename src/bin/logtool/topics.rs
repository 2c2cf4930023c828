//! Topic verbs: `topic-create`, `topic-list`, `topic-describe`, `topic-delete` and
//! `topic-alter` (the `topic-config-*` verbs are in `configs.rs`).

use std::collections::BTreeMap;

use clap::Args;
use strata::LogConfig;
use strata::Store;

use super::json::Json;
use super::table::Table;
use super::{Failure, Out, store};

/// `topic-create NAME [--partitions N] [--config KEY=VALUE]...`
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The topic name (Kafka's rules: at most 249 of `[a-zA-Z0-9._-]`, not `.` or `..`).
    pub topic: String,
    /// Number of partitions. Default: the store's `num.partitions`.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// A topic-level config override with Kafka's name, e.g. `segment.bytes=16384`. Repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// Succeed without changing anything when the topic exists (`kafka-topics --if-not-exists`).
    #[arg(long)]
    pub if_not_exists: bool,
}

/// Parses `KEY=VALUE` overrides, checking each key and value on its own.
fn overrides(configs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut map = BTreeMap::new();
    for kv in configs {
        let Some((key, value)) = kv.split_once('=') else {
            return Err(Failure::new(format!(
                "--config {kv:?} is not KEY=VALUE (a server.properties file goes before the \
                 command: logtool --config FILE topic-create ...)"
            )));
        };
        let key = key.trim();
        LogConfig::validate_override(key, value)
            .map_err(|e| Failure::lib("bad topic config", &e))?;
        if map.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(Failure::new(format!("topic config {key} is given twice")));
        }
    }
    Ok(map)
}

/// `topic-create`: `{"topic","partitions"}`.
pub fn create(store: &Store, out: &mut Out, args: &CreateArgs) -> Result<(), Failure> {
    let overrides = overrides(&args.configs)?;
    let partitions = match args.partitions {
        Some(n) => n,
        None => i32::try_from(store.config().num_partitions).map_err(|_| {
            Failure::new(format!("num.partitions {} is too large", store.config().num_partitions))
        })?,
    };
    if partitions < 1 {
        return Err(Failure::new(format!(
            "a topic needs at least one partition, not {partitions}"
        )));
    }
    match store.create_topic(&args.topic, partitions, &overrides) {
        Err(strata::Error::TopicExists { .. }) if args.if_not_exists => {
            let existing = store.partition_count(&args.topic)?;
            let line = Json::object()
                .with("topic", args.topic.as_str())
                .with("partitions", existing)
                .with("created", false);
            out.line(&line, || {
                format!(
                    "topic {} already exists with {}",
                    args.topic,
                    super::count(existing, "partition")
                )
            });
            return Ok(());
        }
        Err(e) => return Err(Failure::lib(format!("cannot create topic {:?}", args.topic), &e)),
        Ok(()) => {}
    }
    let line = Json::object().with("topic", args.topic.as_str()).with("partitions", partitions);
    out.line(&line, || {
        format!("created topic {} with {}", args.topic, super::count(partitions, "partition"))
    });
    Ok(())
}

/// Internal topics the tool refuses to delete or re-partition, as `kafka-topics.sh` does:
/// the group coordinator finds a group's offsets by `hash(group) % partitions`.
fn refuse_internal(topic: &str, what: &str) -> Result<(), Failure> {
    if strata::internals::store::INTERNAL_TOPICS.contains(&topic) {
        return Err(Failure::new(format!(
            "topic {topic} is an internal topic: {what} it is not allowed"
        )));
    }
    Ok(())
}

/// `topic-list`: `{"topic","partitions"}` per topic, internal ones too.
pub fn list(st: &Store, out: &mut Out) -> Result<(), Failure> {
    let mut table = Table::new(&["TOPIC", "PARTITIONS"]);
    for (topic, partitions) in st.topics() {
        let json = Json::object().with("topic", topic.as_str()).with("partitions", partitions);
        table.row(json, vec![topic, partitions.to_string()]);
    }
    table.print(out);
    Ok(())
}

/// `topic-describe NAME`: one line per partition, offline ones too (`"state":"offline"`, the
/// cause in `"error"`, offsets, segments and size `null`: unknown).
pub fn describe(st: &Store, out: &mut Out, topic: &str) -> Result<(), Failure> {
    store::partition_count(st, topic)?;
    let infos = st
        .describe_topic(topic)
        .map_err(|e| Failure::lib(format!("cannot describe topic {topic:?}"), &e))?;
    let mut rows: Vec<(Json, Vec<String>)> = Vec::new();
    for p in infos {
        let log_dir = p.log_dir.display().to_string();
        let (json, cells) = match &p.offline {
            None => (
                Json::object()
                    .with("topic", p.topic.as_str())
                    .with("partition", p.partition)
                    .with("log_dir", log_dir.as_str())
                    .with("log_start_offset", p.log_start_offset)
                    .with("log_end_offset", p.log_end_offset)
                    .with("segments", p.segments)
                    .with("size_bytes", p.size_bytes)
                    .with("state", "online"),
                [
                    "online".to_owned(),
                    p.log_start_offset.to_string(),
                    p.log_end_offset.to_string(),
                    p.segments.to_string(),
                    p.size_bytes.to_string(),
                ],
            ),
            // The library's -1 and 0 stand for "unknown": null here, `-` for people.
            Some(cause) => {
                let none: Option<i64> = None;
                let json = Json::object()
                    .with("topic", p.topic.as_str())
                    .with("partition", p.partition)
                    .with("log_dir", log_dir.as_str())
                    .with("log_start_offset", none)
                    .with("log_end_offset", none)
                    .with("segments", none)
                    .with("size_bytes", none)
                    .with("state", "offline")
                    .with("error", cause.as_str());
                // The cause is on stderr's warning line and in the JSON's `error`.
                let unknown = || "-".to_owned();
                (json, ["offline".to_owned(), unknown(), unknown(), unknown(), unknown()])
            }
        };
        let mut row = vec![p.topic, p.partition.to_string()];
        row.extend(cells);
        row.push(log_dir);
        rows.push((json, row));
    }
    let mut table = Table::new(&[
        "TOPIC",
        "PARTITION",
        "STATE",
        "LOG-START-OFFSET",
        "LOG-END-OFFSET",
        "SEGMENTS",
        "SIZE-BYTES",
        "LOG-DIR",
    ]);
    for (json, cells) in rows {
        table.row(json, cells);
    }
    table.print(out);
    Ok(())
}

/// `topic-delete NAME`: `{"topic","deleted":true}`.
pub fn delete(st: &Store, out: &mut Out, topic: &str) -> Result<(), Failure> {
    store::partition_count(st, topic)?;
    refuse_internal(topic, "deleting")?;
    st.delete_topic(topic)
        .map_err(|e| Failure::lib(format!("cannot delete topic {topic:?}"), &e))?;
    out.line(&Json::object().with("topic", topic).with("deleted", true), || {
        format!("deleted topic {topic}")
    });
    Ok(())
}

/// `topic-alter NAME --partitions N`
#[derive(Args, Debug)]
pub struct AlterArgs {
    /// The topic.
    pub topic: String,
    /// The new partition count: larger than the current one (partitions only grow).
    #[arg(long, allow_negative_numbers = true)]
    pub partitions: i32,
}

/// `topic-alter`: `{"topic","partitions"}`.
pub fn alter(st: &Store, out: &mut Out, args: &AlterArgs) -> Result<(), Failure> {
    let topic = args.topic.as_str();
    let current = store::partition_count(st, topic)?;
    refuse_internal(topic, "changing the partition count of")?;
    let n = args.partitions;
    if n <= current {
        return Err(Failure::new(format!(
            "topic {topic:?} has {current} partitions and partitions can only be added: \
             --partitions must be more than {current}, not {n}"
        )));
    }
    st.add_partitions(topic, n)
        .map_err(|e| Failure::lib(format!("cannot add partitions to {topic:?}"), &e))?;
    let line = Json::object().with("topic", topic).with("partitions", n);
    out.line(&line, || {
        format!("topic {topic} now has {} (was {current})", super::count(n, "partition"))
    });
    Ok(())
}
