//! Topic-level config verbs (`kafka-configs.sh --entity-type topics`):
//! `topic-config-set`, `topic-config-remove` and `topic-config-describe`.

use strata::{Store, TopicConfig};

use super::json::Json;
use super::table::Table;
use super::{Failure, Out, store};

/// What `topic-config-set` changes: overrides to set, then overrides to remove.
#[derive(Debug, Default)]
pub struct Change {
    set: Vec<(String, String)>,
    delete: Vec<String>,
}

impl Change {
    /// From `KEY VALUE`, `--add-config k=v[,k=v]...` and `--delete-config k[,k]...`.
    pub fn parse(
        key: Option<String>,
        value: Option<String>,
        add: &[String],
        delete: &[String],
    ) -> Result<Change, Failure> {
        let mut change = Change::default();
        match (key, value) {
            (Some(k), Some(v)) => change.set.push((k, v)),
            (Some(k), None) => {
                return Err(Failure::new(format!("topic-config-set: no value for {k}")));
            }
            _ => {}
        }
        for item in add.iter().flat_map(|a| a.split(',')).filter(|s| !s.is_empty()) {
            let Some((k, v)) = item.split_once('=') else {
                return Err(Failure::new(format!("--add-config {item:?} is not KEY=VALUE")));
            };
            change.set.push((k.trim().to_owned(), v.to_owned()));
        }
        for k in delete.iter().flat_map(|d| d.split(',')).filter(|s| !s.is_empty()) {
            change.delete.push(k.trim().to_owned());
        }
        if let Some((k, _)) = change.set.iter().find(|(k, _)| change.delete.contains(k)) {
            return Err(Failure::new(format!("{k} is both added and deleted")));
        }
        Ok(change)
    }
}

/// `topic-config-set`: one `{"topic","key","value"}` per key set (all checked first: all or
/// none are set), then one `{"topic","key"}` per override removed.
pub fn alter(st: &Store, out: &mut Out, topic: &str, change: &Change) -> Result<(), Failure> {
    store::partition_count(st, topic)?;
    let overrides = st.topic_overrides(topic).map_err(Failure::from)?;
    if let Some(k) = change.delete.iter().find(|k| !overrides.contains_key(*k)) {
        return Err(Failure::new(format!("topic {topic:?} has no override for {k}")));
    }
    if !change.set.is_empty() {
        let config =
            change.set.iter().fold(TopicConfig::new(), |c, (k, v)| c.set(k.clone(), v.clone()));
        st.set_topic_configs(topic, &config)
            .map_err(|e| Failure::lib(format!("cannot set configs on topic {topic:?}"), &e))?;
    }
    for (key, value) in &change.set {
        let line = Json::object()
            .with("topic", topic)
            .with("key", key.as_str())
            .with("value", value.as_str());
        out.line(&line, || format!("topic {topic}: {key}={value}"));
    }
    for key in &change.delete {
        remove(st, out, topic, key)?;
    }
    Ok(())
}

/// `topic-config-remove NAME KEY`: `{"topic","key"}`.
pub fn remove(st: &Store, out: &mut Out, topic: &str, key: &str) -> Result<(), Failure> {
    store::partition_count(st, topic)?;
    if !st.topic_overrides(topic).map_err(Failure::from)?.contains_key(key) {
        return Err(Failure::new(format!("topic {topic:?} has no override for {key}")));
    }
    st.remove_topic_config(topic, key)
        .map_err(|e| Failure::lib(format!("cannot remove {key} from topic {topic:?}"), &e))?;
    out.line(&Json::object().with("topic", topic).with("key", key), || {
        format!("topic {topic}: {key} override removed")
    });
    Ok(())
}

/// `topic-config-describe NAME`: one `{"key","value","source"}` per effective key;
/// `source` is `topic` (an override), `store` (the store's config) or `default` (Kafka's).
pub fn describe(st: &Store, out: &mut Out, topic: &str) -> Result<(), Failure> {
    store::partition_count(st, topic)?;
    let entries = st
        .describe_topic_config(topic)
        .map_err(|e| Failure::lib(format!("cannot describe the configs of {topic:?}"), &e))?;
    let mut table = Table::new(&["KEY", "VALUE", "SOURCE"]);
    for e in entries {
        let json = Json::object()
            .with("key", e.key)
            .with("value", e.value.as_str())
            .with("source", e.source.as_str());
        table.row(json, vec![e.key.to_owned(), e.value, e.source.as_str().to_owned()]);
    }
    table.print(out);
    Ok(())
}
