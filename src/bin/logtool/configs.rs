//! Topic-level config verbs (`kafka-configs.sh --entity-type topics`):
//! `topic-config-set`, `topic-config-remove` and `topic-config-describe`.

use strata::Store;

use crate::json::Json;
use crate::table::Table;
use crate::{Failure, Out, store};

/// `topic-config-set NAME KEY VALUE`: `{"topic","key","value"}`.
pub fn set(st: &Store, out: &mut Out, topic: &str, key: &str, value: &str) -> Result<(), Failure> {
    store::partition_count(st, topic)?;
    st.set_topic_config(topic, key, value)
        .map_err(|e| Failure::new(format!("cannot set {key} on topic {topic:?}: {e}")))?;
    let line = Json::object().with("topic", topic).with("key", key).with("value", value);
    out.line(&line, || format!("topic {topic}: {key}={value}"));
    Ok(())
}

/// `topic-config-remove NAME KEY`: `{"topic","key"}`.
pub fn remove(st: &Store, out: &mut Out, topic: &str, key: &str) -> Result<(), Failure> {
    store::partition_count(st, topic)?;
    if !st.topic_overrides(topic).map_err(Failure::from)?.contains_key(key) {
        return Err(Failure::new(format!("topic {topic:?} has no override for {key}")));
    }
    st.remove_topic_config(topic, key)
        .map_err(|e| Failure::new(format!("cannot remove {key} from topic {topic:?}: {e}")))?;
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
        .map_err(|e| Failure::new(format!("cannot describe the configs of {topic:?}: {e}")))?;
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
