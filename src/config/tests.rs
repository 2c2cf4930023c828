//! Invariants of the key table.

use std::collections::BTreeSet;

use super::keys::{BROKER_KEYS, IGNORED_TOPIC_KEYS, Key, TOPIC_KEYS, is_non_log_broker_key};
use super::{LogConfig, StoreConfig};

fn assert_fields_named_after_keys<C>(table: &[Key<C>]) {
    for key in table {
        assert_eq!(key.field, key.name.replace('.', "_"), "field of {}", key.name);
    }
}

#[test]
fn every_field_is_named_after_its_kafka_key() {
    assert_fields_named_after_keys(TOPIC_KEYS);
    assert_fields_named_after_keys(BROKER_KEYS);
}

#[test]
fn every_key_is_documented_with_its_default() {
    for key in TOPIC_KEYS
        .iter()
        .map(|k| (k.name, k.doc))
        .chain(BROKER_KEYS.iter().map(|k| (k.name, k.doc)))
    {
        assert!(key.1.contains("Default:"), "{} does not document its default", key.0);
    }
}

#[test]
fn defaults_pass_validation_and_print_in_kafkas_form() {
    LogConfig::default().validate().unwrap();
    StoreConfig::new(["/data"]).validate().unwrap();
    let config = LogConfig::default();
    let shown =
        |name: &str| TOPIC_KEYS.iter().find(|k| k.name == name).map(|k| (k.show)(&config)).unwrap();
    assert_eq!(shown("cleanup.policy"), "delete");
    assert_eq!(shown("compression.type"), "producer");
    assert_eq!(shown("min.cleanable.dirty.ratio"), "0.5");
    assert_eq!(shown("message.timestamp.type"), "CreateTime");
    assert_eq!(shown("segment.bytes"), "1073741824");
    assert_eq!(shown("max.message.bytes"), "1048588");
}

#[test]
fn every_default_reparses_to_itself() {
    let config = LogConfig::default();
    for key in TOPIC_KEYS {
        let mut copy = config.clone();
        (key.apply)(&mut copy, &(key.show)(&config)).unwrap();
        assert_eq!(copy, config, "{}", key.name);
    }
    let store = StoreConfig::new(["/data"]);
    for key in BROKER_KEYS {
        let mut copy = store.clone();
        (key.apply)(&mut copy, &(key.show)(&store)).unwrap();
        assert_eq!(copy, store, "{}", key.name);
    }
}

#[test]
fn no_name_is_claimed_twice() {
    let mut names = BTreeSet::new();
    let all = TOPIC_KEYS
        .iter()
        .map(|k| k.name)
        .chain(TOPIC_KEYS.iter().flat_map(|k| k.synonyms.iter().map(|s| s.name)))
        .chain(BROKER_KEYS.iter().map(|k| k.name))
        .chain(IGNORED_TOPIC_KEYS.iter().copied());
    // A topic key may share its name with its own synonym (compression.type)
    // and a broker key may double as a synonym (log.flush.scheduler.interval.ms).
    let shared = [
        "compression.type",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.zstd.level",
        "log.flush.scheduler.interval.ms",
    ];
    for name in all {
        assert!(names.insert(name) || shared.contains(&name), "{name} is claimed twice");
    }
}

#[test]
fn no_log_layer_key_is_mistaken_for_a_non_log_broker_key() {
    for key in BROKER_KEYS
        .iter()
        .map(|k| k.name)
        .chain(TOPIC_KEYS.iter().flat_map(|k| k.synonyms.iter().map(|s| s.name)))
    {
        // The offsets.* keys strata reads are matched exactly before prefixes are tried.
        if !key.starts_with("offsets.") {
            assert!(!is_non_log_broker_key(key), "{key}");
        }
    }
}
