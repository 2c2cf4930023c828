//! Runtime topic config (part of the `retention` tests).

use super::*;

fn describe(store: &Store, topic: &str, key: &str) -> (String, ConfigSource) {
    let entry = store
        .describe_topic_config(topic)
        .unwrap()
        .into_iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("no {key} in describe"));
    (entry.value, entry.source)
}

#[test]
fn set_topic_config_retention_ms_is_obeyed_by_the_next_maintain() {
    let env = Env::new();
    let log = env.topic("t", &[("segment.bytes", "1024"), ("file.delete.delay.ms", "0")]);
    append_records(&log, 10, env.now - 3 * DAY);
    append_records(&log, 5, env.now);
    assert_eq!(
        describe(&env.store, "t", "retention.ms"),
        ("604800000".into(), ConfigSource::Default)
    );
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0, "3 days < 7 days");

    env.store.set_topic_config("t", "retention.ms", &DAY.to_string()).unwrap();
    assert_eq!(describe(&env.store, "t", "retention.ms"), (DAY.to_string(), ConfigSource::Topic));
    assert!(env.store.maintain(None).unwrap().segments_deleted > 0);
    assert_eq!(log.log_start_offset(), segment_holding(&log.segment_base_offsets(), 10));
    assert_eq!(log.log_start_offset(), 10, "the fresh records started a segment (time roll)");
}

#[test]
fn remove_topic_config_restores_the_store_default() {
    let defaults = LogConfig::default().retention_ms(DAY);
    let env = Env::with_config(|c| c.topic_defaults(defaults));
    let log = env.topic(
        "t",
        &[("segment.bytes", "1024"), ("file.delete.delay.ms", "0"), ("retention.ms", "-1")],
    );
    append_records(&log, 10, env.now - 3 * DAY);
    append_records(&log, 5, env.now);
    assert_eq!(describe(&env.store, "t", "retention.ms"), ("-1".into(), ConfigSource::Topic));
    assert_eq!(
        describe(&env.store, "t", "segment.ms"),
        ("604800000".into(), ConfigSource::Default)
    );
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0, "unlimited");

    env.store.remove_topic_config("t", "retention.ms").unwrap();
    assert_eq!(describe(&env.store, "t", "retention.ms"), (DAY.to_string(), ConfigSource::Store));
    assert!(env.store.maintain(None).unwrap().segments_deleted > 0);
    assert_eq!(log.log_start_offset(), 10);
    // Nothing left to remove.
    assert!(matches!(
        env.store.remove_topic_config("t", "retention.ms"),
        Err(Error::InvalidConfig { .. })
    ));
    // The removal is persisted.
    let env = env.reopen();
    assert!(!env.store.topic_overrides("t").unwrap().contains_key("retention.ms"));
    assert_eq!(describe(&env.store, "t", "retention.ms"), (DAY.to_string(), ConfigSource::Store));
}

#[test]
fn an_invalid_topic_config_value_is_refused_and_changes_nothing() {
    let env = Env::new();
    let log = env.topic("t", &[("segment.bytes", "1024"), ("file.delete.delay.ms", "0")]);
    append_records(&log, 10, env.now - 3 * DAY);
    append_records(&log, 5, env.now);
    let before = env.store.describe_topic_config("t").unwrap();
    let overrides_before = env.store.topic_overrides("t").unwrap();
    for (key, value) in [
        ("retention.ms", "-2"),
        ("retention.ms", "one day"),
        ("retention.ms", ""),
        ("segment.bytes", "13"),
        ("cleanup.policy", "shred"),
        ("retention.msec", "1000"),
        ("log.retention.ms", "1000"),
    ] {
        let err = env.store.set_topic_config("t", key, value).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{key}={value}: {err:?}");
        assert_eq!(env.store.describe_topic_config("t").unwrap(), before, "{key}={value}");
        assert_eq!(env.store.topic_overrides("t").unwrap(), overrides_before);
    }
    assert_eq!(env.store.maintain(None).unwrap().segments_deleted, 0, "still 7 days");
    assert_eq!(log.log_start_offset(), 0);
    let env = env.reopen();
    assert_eq!(env.store.topic_overrides("t").unwrap(), overrides_before);
}
