//! Configuration: Kafka's names, defaults and precedence; `server.properties`
//! loading; validation; describe.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use strata::Error;
use strata::internals::config::{
    CleanupPolicy, ConfigSource, ConfigWarning, LogConfig, StoreConfig, TopicCompression,
    properties,
};
use strata::{Compression, TimestampType};

fn store(text: &str) -> StoreConfig {
    StoreConfig::from_properties_str(text).unwrap().0
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// The `(key, value, reason)` of an `InvalidConfig`, or a panic.
fn invalid<T: std::fmt::Debug>(result: strata::Result<T>) -> (String, String, String) {
    match result {
        Err(Error::InvalidConfig { key, value, reason }) => (key, value, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn retention_ms_overrides_minutes_overrides_hours() {
    let dirs = "log.dirs=/d\n";
    assert_eq!(store(dirs).topic_defaults.retention_ms, 168 * 3_600_000);
    let hours = store(&format!("{dirs}log.retention.hours=2\n"));
    assert_eq!(hours.topic_defaults.retention_ms, 7_200_000);
    let minutes = store(&format!("{dirs}log.retention.hours=2\nlog.retention.minutes=3\n"));
    assert_eq!(minutes.topic_defaults.retention_ms, 180_000);
    let ms = store(&format!(
        "{dirs}log.retention.ms=1234\nlog.retention.hours=2\nlog.retention.minutes=3\n"
    ));
    assert_eq!(ms.topic_defaults.retention_ms, 1234);
}

#[test]
fn roll_and_jitter_hours_are_fallbacks_of_their_ms_keys() {
    let config = store("log.dirs=/d\nlog.roll.hours=1\nlog.roll.jitter.hours=2\n");
    assert_eq!(config.topic_defaults.segment_ms, 3_600_000);
    assert_eq!(config.topic_defaults.segment_jitter_ms, 7_200_000);
    let config = store("log.dirs=/d\nlog.roll.hours=1\nlog.roll.ms=99\nlog.roll.jitter.ms=5\n");
    assert_eq!(config.topic_defaults.segment_ms, 99);
    assert_eq!(config.topic_defaults.segment_jitter_ms, 5);
    let (key, value, _) = invalid(StoreConfig::from_properties_str("log.roll.hours=0\n"));
    assert_eq!((key.as_str(), value.as_str()), ("log.roll.hours", "0"));
}

#[test]
fn flush_ms_falls_back_to_the_flush_scheduler_interval() {
    let config = store("log.dirs=/d\nlog.flush.scheduler.interval.ms=2000\n");
    assert_eq!(config.topic_defaults.flush_ms, 2000);
    assert_eq!(config.log_flush_scheduler_interval_ms, 2000);
    let config =
        store("log.dirs=/d\nlog.flush.scheduler.interval.ms=2000\nlog.flush.interval.ms=500\n");
    assert_eq!(config.topic_defaults.flush_ms, 500);
    assert_eq!(config.log_flush_scheduler_interval_ms, 2000);
}

/// Kafka declares the minute and hour keys `INT` (`ServerLogConfigs`, `LogConfig.SERVER_CONFIG_DEF`):
/// a value past 32 bits is refused, naming the key. Before, strata took it as a 64-bit count
/// (`log.retention.hours=2147483648` loaded as 7730941132800000 ms).
#[test]
fn hour_and_minute_broker_keys_must_fit_kafkas_int() {
    for key in
        ["log.retention.minutes", "log.retention.hours", "log.roll.hours", "log.roll.jitter.hours"]
    {
        for value in ["2147483648", "-2147483649"] {
            let (k, v, reason) =
                invalid(StoreConfig::from_properties_str(&format!("{key}={value}\n")));
            assert_eq!((k.as_str(), v.as_str()), (key, value));
            assert!(reason.contains("2147483647"), "{key}: {reason}");
        }
    }
    let max = store("log.retention.hours=2147483647\n");
    assert_eq!(max.topic_defaults.retention_ms, 2_147_483_647 * 3_600_000);
}

#[test]
fn negative_broker_retention_means_unlimited() {
    for line in ["log.retention.ms=-5", "log.retention.minutes=-1", "log.retention.hours=-10"] {
        let config = store(&format!("log.dirs=/d\n{line}\n"));
        assert_eq!(config.topic_defaults.retention_ms, -1, "{line}");
        assert_eq!(config.topic_defaults.retention_ms_limit(), None);
    }
    // At topic level, Kafka's validator allows only -1.
    let (key, value, reason) = invalid(LogConfig::validate_override("retention.ms", "-2"));
    assert_eq!((key.as_str(), value.as_str()), ("retention.ms", "-2"));
    assert!(reason.contains("at least -1"), "{reason}");
}

#[test]
fn topic_override_beats_store_beats_default() {
    let store = store("log.dirs=/d\nlog.segment.bytes=5000\nlog.retention.bytes=100\n");
    let topic = LogConfig::resolve(&store, &overrides(&[("segment.bytes", "777")])).unwrap();
    assert_eq!(topic.segment_bytes, 777); // topic
    assert_eq!(topic.retention_bytes, 100); // store
    assert_eq!(topic.segment_index_bytes, 10 << 20); // default
    assert_eq!(LogConfig::resolve(&store, &BTreeMap::new()).unwrap().segment_bytes, 5000);

    // The same through the typed API.
    let store = StoreConfig::new(["/d"]).topic_defaults(LogConfig::default().retention_bytes(9));
    let topic = LogConfig::resolve(&store, &overrides(&[("retention.bytes", "-1")])).unwrap();
    assert_eq!(topic.retention_bytes, -1);
    assert_eq!(LogConfig::resolve(&store, &BTreeMap::new()).unwrap().retention_bytes, 9);
}

#[test]
fn describe_reports_the_source_of_every_key() {
    // log.segment.bytes is set to Kafka's default: still reported as the store's.
    let store = store("log.dirs=/d\nlog.segment.bytes=1073741824\nlog.retention.hours=1\n");
    let topic =
        overrides(&[("cleanup.policy", " Compact , delete "), ("min.insync.replicas", "2")]);
    let entries = LogConfig::describe(&store, &topic);
    let find = |key: &str| entries.iter().find(|e| e.key == key).unwrap();

    assert_eq!(find("cleanup.policy").value, "compact,delete");
    assert_eq!(find("cleanup.policy").source, ConfigSource::Topic);
    assert_eq!(find("retention.ms").value, "3600000");
    assert_eq!(find("retention.ms").source, ConfigSource::Store);
    assert_eq!(find("segment.bytes").source, ConfigSource::Store);
    assert_eq!(find("segment.ms").value, "604800000");
    assert_eq!(find("segment.ms").source, ConfigSource::Default);
    assert_eq!(find("min.insync.replicas").value, "2");
    assert_eq!(find("min.insync.replicas").source, ConfigSource::Topic);
    assert_eq!(ConfigSource::Store.to_string(), "store");

    // Every key of the effective config is described exactly once.
    let mut keys: Vec<_> = entries.iter().map(|e| e.key).collect();
    keys.dedup();
    assert_eq!(keys.len(), entries.len());
    for key in [
        "cleanup.policy",
        "compression.type",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "index.interval.bytes",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "preallocate",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
    ] {
        assert!(!find(key).doc.is_empty(), "{key}");
    }

    // A typed store value that differs from Kafka's default is the store's.
    let typed = StoreConfig::new(["/d"]).topic_defaults(LogConfig::default().preallocate(true));
    assert_eq!(typed.topic_default("preallocate"), Some(("true".to_owned(), ConfigSource::Store)));
    assert_eq!(typed.topic_default("segment.ms").unwrap().1, ConfigSource::Default);
    assert_eq!(typed.topic_default("log.segment.bytes"), None);
}

#[test]
fn unknown_topic_key_is_refused_by_name() {
    let store = StoreConfig::new(["/d"]);
    let (key, value, reason) =
        invalid(LogConfig::resolve(&store, &overrides(&[("retention.msec", "5")])));
    assert_eq!((key.as_str(), value.as_str()), ("retention.msec", "5"));
    assert!(reason.contains("unknown topic config"), "{reason}");

    let (key, _, reason) = invalid(LogConfig::validate_override("log.retention.ms", "5"));
    assert_eq!(key, "log.retention.ms");
    assert!(reason.contains("store-level name of retention.ms"), "{reason}");
}

#[test]
fn replication_only_topic_keys_are_accepted_and_ignored() {
    let store = StoreConfig::new(["/d"]);
    let topic = overrides(&[
        ("min.insync.replicas", "2"),
        ("unclean.leader.election.enable", "true"),
        ("message.format.version", "2.8"),
        ("message.downconversion.enable", "false"),
    ]);
    assert_eq!(LogConfig::resolve(&store, &topic).unwrap(), LogConfig::default());
}

#[test]
fn invalid_value_names_key_and_value() {
    for (key, value, why) in [
        ("segment.bytes", "13", "between 14 and"),
        ("segment.bytes", "2147483648", "between 14 and 2147483647"),
        ("segment.ms", "abc", "whole number"),
        ("min.cleanable.dirty.ratio", "1.5", "between 0 and 1"),
        ("cleanup.policy", "compact,purge", "\"purge\""),
        ("cleanup.policy", "", "delete, compact or both"),
        ("compression.type", "none", "expected producer"),
        ("compression.gzip.level", "0", "or -1"),
        ("compression.zstd.level", "23", "between -131072 and 22"),
        ("message.timestamp.type", "createtime", "CreateTime"),
        ("preallocate", "yes", "true or false"),
        ("flush.messages", "0", "at least 1"),
    ] {
        let (k, v, reason) = invalid(LogConfig::validate_override(key, value));
        assert_eq!((k.as_str(), v.as_str()), (key, value));
        assert!(reason.contains(why), "{key}={value}: {reason}");
        let message = Error::InvalidConfig { key: k, value: v, reason }.to_string();
        assert!(message.starts_with(&format!("config {key}={value}: ")), "{message}");
    }
    let (key, value, _) =
        invalid(StoreConfig::from_properties_str("log.dirs=/d\nlog.cleaner.threads=many\n"));
    assert_eq!((key.as_str(), value.as_str()), ("log.cleaner.threads", "many"));
    let (key, value, _) = invalid(StoreConfig::from_properties_str("log.retention.hours=1.5\n"));
    assert_eq!((key.as_str(), value.as_str()), ("log.retention.hours", "1.5"));
}

#[test]
fn min_compaction_lag_above_max_is_refused() {
    let store = StoreConfig::new(["/d"]);
    let topic = overrides(&[("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "5")]);
    let (key, value, reason) = invalid(LogConfig::resolve(&store, &topic));
    assert_eq!((key.as_str(), value.as_str()), ("min.compaction.lag.ms", "10"));
    assert!(reason.contains("max.compaction.lag.ms (5)"), "{reason}");
    // Alone, each override is fine.
    LogConfig::validate_override("min.compaction.lag.ms", "10").unwrap();
    // The same rule guards the store's defaults and typed configs.
    let typed = LogConfig::default().min_compaction_lag_ms(10).max_compaction_lag_ms(5);
    assert!(typed.validate().is_err());
    let text =
        "log.dirs=/d\nlog.cleaner.min.compaction.lag.ms=10\nlog.cleaner.max.compaction.lag.ms=5\n";
    assert_eq!(invalid(StoreConfig::from_properties_str(text)).0, "min.compaction.lag.ms");
}

#[test]
fn server_properties_with_broker_only_keys_loads_and_reports_unknown_ones() {
    let text = r"
# A Kafka 3.x KRaft broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
num.network.threads=3
socket.send.buffer.bytes=102400
log.dirs=/var/lib/kafka/a, /var/lib/kafka/b
num.partitions=3
num.recovery.threads.per.data.dir=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.min.isr=1
log.retention.hours=72
log.segment.bytes=104857600
log.retention.check.interval.ms=1000
log.cleaner.threads : 2
log.cleaner.enable   false
zookeeper.connect=localhost:2181
log.retension.ms=5
retention.bytes=5
";
    let (config, warnings) = StoreConfig::from_properties_str(text).unwrap();
    assert_eq!(
        config.log_dirs,
        vec![PathBuf::from("/var/lib/kafka/a"), PathBuf::from("/var/lib/kafka/b")]
    );
    assert_eq!(config.num_partitions, 3);
    assert_eq!(config.num_recovery_threads_per_data_dir, 4);
    assert_eq!(config.offsets_topic_num_partitions, 10);
    assert_eq!(config.log_retention_check_interval_ms, 1000);
    assert_eq!(config.log_cleaner_threads, 2);
    assert!(!config.log_cleaner_enable);
    assert_eq!(config.topic_defaults.retention_ms, 72 * 3_600_000);
    assert_eq!(config.topic_defaults.segment_bytes, 100 << 20);
    assert!(config.background_threads);

    let unknown: Vec<_> =
        warnings.iter().filter(|w| matches!(w, ConfigWarning::Unknown { .. })).collect();
    assert_eq!(
        unknown.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        [
            "log.retension.ms: unknown key",
            "retention.bytes: unknown key (a topic-level name; \
             the store-level key is log.retention.bytes)",
        ]
    );
    let ignored: Vec<_> = warnings
        .iter()
        .filter(|w| matches!(w, ConfigWarning::Ignored { .. }))
        .map(ConfigWarning::key)
        .collect();
    assert_eq!(
        ignored,
        [
            "controller.quorum.voters",
            "listener.security.protocol.map",
            "listeners",
            "node.id",
            "num.network.threads",
            "offsets.topic.replication.factor",
            "process.roles",
            "socket.send.buffer.bytes",
            "transaction.state.log.min.isr",
            "zookeeper.connect",
        ]
    );
    assert_eq!(warnings.len(), unknown.len() + ignored.len());
}

#[test]
fn log_dir_is_the_fallback_and_kafkas_default_is_reported() {
    let (config, warnings) = StoreConfig::from_properties_str("log.dir=/one\n").unwrap();
    assert_eq!(config.log_dirs, [PathBuf::from("/one")]);
    assert!(warnings.is_empty());

    let (config, warnings) = StoreConfig::from_properties_str("").unwrap();
    assert_eq!(config.log_dirs, [PathBuf::from(strata::internals::config::KAFKA_DEFAULT_LOG_DIR)]);
    assert_eq!(warnings[0].to_string(), "log.dirs: not set, using Kafka's default /tmp/kafka-logs");

    for bad in ["log.dirs=/a,/a", "log.dirs=/a,,/b", "log.dirs="] {
        assert_eq!(invalid(StoreConfig::from_properties_str(bad)).0, "log.dirs", "{bad}");
    }
    assert!(StoreConfig::new(Vec::<PathBuf>::new()).validate().is_err());
}

#[test]
fn cleaner_memory_must_hold_a_key_per_thread() {
    let text = "log.dirs=/d\nlog.cleaner.threads=4\nlog.cleaner.dedupe.buffer.size=96\n";
    let (key, value, _) = invalid(StoreConfig::from_properties_str(text));
    assert_eq!((key.as_str(), value.as_str()), ("log.cleaner.dedupe.buffer.size", "96"));
    // With the cleaner off the buffer is never allocated.
    StoreConfig::from_properties_str(&format!("{text}log.cleaner.enable=false\n")).unwrap();
}

#[test]
fn properties_file_is_read_as_utf8_or_latin1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.properties");
    std::fs::write(&path, b"log.dirs=/d\xe9\nnum.partitions=2\n").unwrap();
    let (config, _) = StoreConfig::from_properties_file(&path).unwrap();
    assert_eq!(config.log_dirs, [PathBuf::from("/d\u{e9}")]);
    assert_eq!(config.num_partitions, 2);
    let missing = StoreConfig::from_properties_file(dir.path().join("nope")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
}

#[test]
fn typed_setters_build_what_the_keys_would() {
    let typed = LogConfig::default()
        .segment_bytes(1 << 20)
        .retention(Duration::from_secs(3600))
        .segment_age(Duration::from_secs(60))
        .cleanup_policy(CleanupPolicy::COMPACT_DELETE)
        .compression_type(TopicCompression::Codec(Compression::Zstd))
        .message_timestamp_type(TimestampType::LogAppendTime);
    let store = StoreConfig::new(["/d"]);
    let from_keys = LogConfig::resolve(
        &store,
        &overrides(&[
            ("segment.bytes", "1048576"),
            ("retention.ms", "3600000"),
            ("segment.ms", "60000"),
            ("cleanup.policy", "delete,compact"),
            ("compression.type", "zstd"),
            ("message.timestamp.type", "LogAppendTime"),
        ]),
    )
    .unwrap();
    assert_eq!(typed, from_keys);
    assert_eq!(LogConfig::default().unlimited_retention().retention_ms, -1);
    assert_eq!(LogConfig::default().retention(Duration::MAX).retention_ms, i64::MAX);
}

#[test]
fn compacted_topics_roll_by_max_compaction_lag() {
    let config = LogConfig::default().segment_ms(1000).max_compaction_lag_ms(300);
    assert_eq!(config.max_segment_ms(), 1000);
    assert_eq!(config.clone().cleanup_policy(CleanupPolicy::COMPACT).max_segment_ms(), 300);
    let config = config.cleanup_policy(CleanupPolicy::COMPACT).max_compaction_lag_ms(5000);
    assert_eq!(config.max_segment_ms(), 1000);
}

#[test]
fn compression_levels_follow_the_codec() {
    let config = LogConfig::default().compression_zstd_level(7);
    assert_eq!(config.compression_level_for(Compression::Gzip), Some(-1));
    assert_eq!(config.compression_level_for(Compression::Lz4), Some(9));
    assert_eq!(config.compression_level_for(Compression::Zstd), Some(7));
    assert_eq!(config.compression_level_for(Compression::Snappy), None);
    assert_eq!(TopicCompression::Producer.target(Compression::Lz4), Compression::Lz4);
    assert_eq!(TopicCompression::Uncompressed.target(Compression::Lz4), Compression::None);
}

#[test]
fn deprecated_timestamp_difference_fills_in_bounds_left_at_default() {
    let config = LogConfig::default().message_timestamp_difference_max_ms(1000);
    assert_eq!(config.effective_timestamp_before_max_ms(), 1000);
    assert_eq!(config.effective_timestamp_after_max_ms(), 1000);
    let config = config.message_timestamp_after_max_ms(50);
    assert_eq!(config.effective_timestamp_before_max_ms(), 1000);
    assert_eq!(config.effective_timestamp_after_max_ms(), 50);
    assert_eq!(LogConfig::default().effective_timestamp_after_max_ms(), i64::MAX);
}

#[test]
fn properties_accept_every_separator_comment_and_continuation() {
    let text = "# comment\n! also a comment\n\n  a=1\nb: 2\nc 3\nd = 4 \ne\t:\t5\nf=\n\
                g=one \\\n    two\nh=x\\\\\ni=\\u0041\\t\\=\nj\\ k=v\r\nl=last";
    assert_eq!(
        properties::parse(text),
        [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "4"),
            ("e", "5"),
            ("f", ""),
            ("g", "one two"),
            ("h", "x\\"),
            ("i", "A\t="),
            ("j k", "v"),
            ("l", "last"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    // A continued line may end in \r\n; a comment never continues.
    assert_eq!(
        properties::parse("a=1\\\r\n 2\r\n#x\\\nb=3"),
        [("a".to_owned(), "12".to_owned()), ("b".to_owned(), "3".to_owned())]
    );
}

/// `\uXXXX` escapes are UTF-16 units, as in Java: an escaped surrogate pair (how Java's
/// `native2ascii` and `Properties.store` write a character beyond U+FFFF) is that one character.
/// Before, each half became U+FFFD.
#[test]
fn an_escaped_surrogate_pair_is_one_character() {
    let pairs = properties::parse("log.dirs=/data/\\uD83D\\uDE00x\nk\\uD83D\\uDE00=v\n");
    assert_eq!(
        pairs,
        [("log.dirs", "/data/\u{1F600}x"), ("k\u{1F600}", "v")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let (config, _) = StoreConfig::from_properties_str("log.dirs=/data/\\ud83d\\ude00\n").unwrap();
    assert_eq!(config.log_dirs, [PathBuf::from("/data/\u{1F600}")]);
}

/// Java's `Properties.load` throws on a malformed `\uXXXX` escape, so Kafka does not start on
/// such a `server.properties`: strata refuses it too, naming the key and the value as written.
/// Before, the escape's backslash was dropped: `log.dirs=C:\users\kafka` (a Windows path
/// written without doubled backslashes) loaded as the relative directory `C:userskafka`. A
/// lone surrogate, which no Rust string holds, is refused the same way.
#[test]
fn a_malformed_unicode_escape_in_server_properties_is_refused_naming_the_key() {
    let (key, value, reason) =
        invalid(StoreConfig::from_properties_str("num.partitions=2\nlog.dirs=C:\\users\\kafka\n"));
    assert_eq!((key.as_str(), value.as_str()), ("log.dirs", "C:\\users\\kafka"));
    assert!(reason.contains("malformed \\uXXXX escape"), "{reason}");
    for text in [
        "log.dirs=/d\\u12\n",
        "log.dirs=/d\\u12G4\n",
        "log.dirs=/d\\uD800\n",
        "log.dirs=/d\\uDE00\\uD83D\n",
    ] {
        let (key, _, _) = invalid(StoreConfig::from_properties_str(text));
        assert_eq!(key, "log.dirs", "{text}");
    }
    // The lenient parser still never fails.
    assert_eq!(properties::parse("a=C:\\users")[0].1, "C:users");
}

/// Kafka trims a config value with Java's `String.trim` (`ConfigDef.parseType`), which strips
/// the characters up to U+0020 (blanks and control characters) and nothing else, and splits a
/// list at commas with Java's `\\s` around them. Before, strata trimmed Unicode white space: a
/// trailing no-break space was dropped (`log.dirs=/data\u{a0}` loaded as `/data`, another
/// directory; `log.segment.bytes=1048576\u{a0}`, which Kafka refuses, loaded), and a trailing
/// control character was kept (`num.partitions=3\u{1}`, which Kafka reads as 3, was refused).
#[test]
fn values_are_trimmed_as_kafka_trims_them() {
    let (config, _) = StoreConfig::from_properties_str("log.dirs=/data\u{a0}\n").unwrap();
    assert_eq!(config.log_dirs, [PathBuf::from("/data\u{a0}")]);
    let (config, _) = StoreConfig::from_properties_str("log.dirs=/a\u{2003},\t/b\n").unwrap();
    assert_eq!(config.log_dirs, [PathBuf::from("/a\u{2003}"), PathBuf::from("/b")]);
    let (key, value, _) =
        invalid(StoreConfig::from_properties_str("log.segment.bytes=1048576\u{a0}\n"));
    assert_eq!((key.as_str(), value.as_str()), ("log.segment.bytes", "1048576\u{a0}"));
    assert_eq!(store("num.partitions=3\u{1}\n").num_partitions, 3);
    invalid(LogConfig::validate_override("segment.bytes", "1048576\u{2003}"));
    invalid(LogConfig::validate_override("cleanup.policy", "\u{a0}compact"));
    LogConfig::validate_override("retention.ms", "\u{b}1000\u{1f}").unwrap();
    LogConfig::validate_override("preallocate", "\u{0}false").unwrap();
}

/// Java's `Properties.load` (JDK 9 and later) starts a logical line afresh while it is still
/// empty: after a line holding only a backslash, the next line may be blank or a comment. Before,
/// strata read a commented-out setting after such a line as a key (`#log.retention.hours`, an
/// unknown key) and the backslash line before a blank one as an empty key. (Java's answers
/// checked with `Properties.load` on the same text: `{a=1, b=2, c=3#d}`.)
#[test]
fn a_line_holding_only_a_continuation_starts_no_entry() {
    let text = "a=1\n\\\n#log.retention.hours=1\nb=2\n \\\n\n\\\r\n!x\nc=3\\\n\\\n#d\n";
    assert_eq!(
        properties::parse(text),
        [("a", "1"), ("b", "2"), ("c", "3#d")].map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let (_, warnings) =
        StoreConfig::from_properties_str("log.dirs=/d\n\\\n#log.retention.hours=1\n").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

proptest! {
    #[test]
    fn properties_parsing_never_panics(text in "(?s).{0,200}") {
        let _ = properties::parse(&text);
        let _ = StoreConfig::from_properties_str(&text);
    }

    #[test]
    fn properties_parsing_never_panics_on_escape_heavy_text(
        text in proptest::collection::vec(
            prop_oneof![
                Just("\\"), Just("\\u"), Just("\\u00"), Just("="), Just(":"), Just(" "),
                Just("\n"), Just("\r"), Just("#"), Just("a"), Just("\u{e9}"), Just("\\uD800"),
            ],
            0..40,
        ).prop_map(|parts| parts.concat())
    ) {
        let _ = properties::parse(&text);
    }

    #[test]
    fn written_pairs_parse_back(
        pairs in proptest::collection::vec(("[a-z][a-z.]{0,12}", "[ -\\[\\]-~]{0,20}"), 0..8)
    ) {
        let text: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let parsed = properties::parse(&text);
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.trim().to_owned()))
            .collect();
        prop_assert_eq!(parsed, expected);
    }
}

#[test]
fn describe_carries_each_keys_documentation() {
    let entries = LogConfig::describe(&StoreConfig::new(["/d"]), &BTreeMap::new());
    let doc = &entries.iter().find(|e| e.key == "segment.bytes").unwrap().doc;
    assert!(doc.starts_with("The size at which a segment rolls"), "{doc}");
    assert!(doc.contains("\n\nDefault: 1073741824 (1 GiB)"), "{doc}");
}
