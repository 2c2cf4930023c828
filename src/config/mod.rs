//! Configuration with Kafka's names, defaults and precedence, so a Kafka
//! `server.properties` and a topic's `kafka-configs` overrides carry over.
//!
//! - [`LogConfig`]: the effective topic-level config of one topic's logs
//!   (`segment.bytes`, `retention.ms`, `cleanup.policy`, ...), typed.
//! - [`StoreConfig`]: the store-level (Kafka broker-level) config: log
//!   directories, the store-level defaults of every topic key (resolved from
//!   Kafka's `log.*` synonyms) and the broker-only settings of the log layer
//!   (`log.retention.check.interval.ms`, `log.cleaner.threads`, ...).
//! - [`properties`]: Java `.properties` parsing, for `server.properties`.
//!
//! Precedence: a topic override beats the store's value, which beats Kafka's
//! default ([`LogConfig::resolve`]); [`LogConfig::describe`] reports for each
//! key which of the three it is ([`ConfigSource`]).
//!
//! Every key strata knows is one entry of one table (`keys.rs`): its Kafka
//! name, typed field, default, validator, documentation and broker synonyms.
//! The structs, their setters, `resolve`, `describe`, `validate` and the
//! `server.properties` loader are all driven by that table, and each struct
//! has exactly one `validate()`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use strata::{ConfigSource, LogConfig, StoreConfig};
//!
//! let (store, warnings) = StoreConfig::from_properties_str(
//!     "broker.id=0\nlog.dirs=/data/a,/data/b\nlog.retention.hours=24\n",
//! )?;
//! assert_eq!(store.log_dirs.len(), 2);
//! assert_eq!(warnings[0].to_string(), "broker.id: ignored (not a log-layer setting)");
//!
//! let overrides = BTreeMap::from([("segment.bytes".to_owned(), "1048576".to_owned())]);
//! let topic = LogConfig::resolve(&store, &overrides)?;
//! assert_eq!(topic.retention_ms, 86_400_000); // from the store
//! assert_eq!(topic.segment_bytes, 1 << 20); // from the topic
//!
//! let described = LogConfig::describe(&store, &overrides);
//! let source = |key| described.iter().find(|e| e.key == key).map(|e| e.source);
//! assert_eq!(source("segment.bytes"), Some(ConfigSource::Topic));
//! assert_eq!(source("retention.ms"), Some(ConfigSource::Store));
//! assert_eq!(source("segment.ms"), Some(ConfigSource::Default));
//! # Ok::<(), strata::Error>(())
//! ```
//!
//! Where strata's defaults or ranges differ from Kafka's current release,
//! the key's documentation says so: `segment.bytes` keeps Kafka 3.x's
//! minimum of 14 bytes (4.0 requires 1 MiB), and
//! `message.timestamp.after.max.ms` keeps 3.x's unbounded default (4.0 uses
//! one hour).

mod builder;
mod keys;
mod kinds;
pub mod properties;
mod store;
mod topic;
mod value;

#[cfg(test)]
mod tests;

pub use builder::TopicConfig;
pub use kinds::{CleanupPolicy, Durability, TopicCompression};
pub use store::{ConfigWarning, KAFKA_DEFAULT_LOG_DIR, StoreConfig};
pub use topic::{ConfigEntry, ConfigSource, LogConfig};
