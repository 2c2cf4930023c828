//! Topic verbs: `topic-create`.

use std::collections::BTreeMap;

use clap::Args;
use strata::config::LogConfig;
use strata::store::Store;

use crate::json::Json;
use crate::{Failure, Out};

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
            .map_err(|e| Failure::new(format!("bad topic config: {e}")))?;
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
    store
        .create_topic(&args.topic, partitions, &overrides)
        .map_err(|e| Failure::new(format!("cannot create topic {:?}: {e}", args.topic)))?;
    let line = Json::object().with("topic", args.topic.as_str()).with("partitions", partitions);
    out.line(&line, || format!("created topic {} with {partitions} partitions", args.topic));
    Ok(())
}
