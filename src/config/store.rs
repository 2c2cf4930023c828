//! Store-level (broker-level) configuration: [`StoreConfig`], and loading it
//! from a Kafka `server.properties`.
//!
//! Loading follows Kafka's broker: each topic key takes its value from the
//! first of its `log.*` synonyms that is set (`log.retention.ms`, else
//! `log.retention.minutes`, else `log.retention.hours`), converted to
//! milliseconds, a negative retention meaning unlimited (-1); unset keys keep
//! Kafka's default. A value that does not parse or is out of range is an
//! error naming the key and the value. Keys the log layer does not use are
//! not errors: a broker's `server.properties` is mostly networking, security
//! and replication. They come back as [`ConfigWarning`]s, the well-known
//! Kafka ones as [`ConfigWarning::Ignored`] and the rest (typos included)
//! as [`ConfigWarning::Unknown`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::Result;
use crate::io::file;

use super::keys::{BROKER_KEYS, Key, TOPIC_KEYS, is_non_log_broker_key, topic_key};
use super::properties;
use super::topic::{ConfigSource, LogConfig, check_fields, invalid};

pub use super::keys::StoreConfig;

/// Kafka's `log.dir` default, used when a `server.properties` sets neither
/// `log.dirs` nor `log.dir`.
pub const KAFKA_DEFAULT_LOG_DIR: &str = "/tmp/kafka-logs";

/// Bytes per entry of the cleaner's key map (a 16-byte MD5 of the key and an
/// 8-byte offset; Kafka's `SkimpyOffsetMap`).
const KEY_MAP_BYTES_PER_ENTRY: u64 = 24;

/// A `server.properties` key that was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// A Kafka broker key outside the log layer (`broker.id`, `listeners`,
    /// `zookeeper.connect`, ...): ignored.
    Ignored {
        /// The key.
        key: String,
    },
    /// A key strata does not know (a typo, or a key of another Kafka
    /// version): ignored.
    Unknown {
        /// The key.
        key: String,
        /// For a topic-level name, the broker-level key meant.
        did_you_mean: Option<&'static str>,
    },
    /// A required key was missing and Kafka's default was used.
    Defaulted {
        /// The key.
        key: &'static str,
        /// The value used.
        value: String,
    },
}

impl ConfigWarning {
    /// The key the warning is about.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            ConfigWarning::Ignored { key } | ConfigWarning::Unknown { key, .. } => key,
            ConfigWarning::Defaulted { key, .. } => key,
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::Ignored { key } => write!(f, "{key}: ignored (not a log-layer setting)"),
            ConfigWarning::Unknown { key, did_you_mean: None } => write!(f, "{key}: unknown key"),
            ConfigWarning::Unknown { key, did_you_mean: Some(meant) } => {
                write!(f, "{key}: unknown key (a topic-level name; the store-level key is {meant})")
            }
            ConfigWarning::Defaulted { key, value } => {
                write!(f, "{key}: not set, using Kafka's default {value}")
            }
        }
    }
}

impl StoreConfig {
    /// A store over `dirs` with every other setting at Kafka's default.
    pub fn new<I, P>(dirs: I) -> StoreConfig
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        StoreConfig {
            log_dirs: dirs.into_iter().map(Into::into).collect(),
            ..StoreConfig::table_defaults()
        }
    }

    /// Sets [`StoreConfig::background_threads`].
    ///
    /// Default: true.
    #[must_use]
    pub fn background_threads(mut self, on: bool) -> Self {
        self.background_threads = on;
        self
    }

    /// Sets [`StoreConfig::adopt_unlisted_partitions`].
    ///
    /// Default: false.
    #[must_use]
    pub fn adopt_unlisted_partitions(mut self, on: bool) -> Self {
        self.adopt_unlisted_partitions = on;
        self
    }

    /// Sets [`StoreConfig::topic_defaults`], the store-level value of every
    /// topic key.
    ///
    /// Default: [`LogConfig::default`].
    #[must_use]
    pub fn topic_defaults(mut self, defaults: LogConfig) -> Self {
        self.topic_defaults = defaults;
        self
    }

    /// Loads a Kafka `server.properties` text (see the module docs for what
    /// is read, ignored and refused), then [`validate`](Self::validate)s it.
    ///
    /// # Errors
    /// [`crate::Error::InvalidConfig`] naming the key and value that does
    /// not parse, is out of range or breaks a rule across keys, or whose
    /// line holds a `\uXXXX` escape Java refuses
    /// ([`properties::parse_checked`]).
    pub fn from_properties_str(text: &str) -> Result<(StoreConfig, Vec<ConfigWarning>)> {
        let props: BTreeMap<String, String> = properties::parse_checked(text)
            .map_err(|e| invalid(&e.key, &e.raw_value, e.reason))?
            .into_iter()
            .collect();
        let mut config = StoreConfig::table_defaults();
        let mut used: BTreeSet<&str> = BTreeSet::new();

        for key in TOPIC_KEYS {
            // Lowest priority first: the highest-priority synonym set is applied last.
            for synonym in key.synonyms.iter().rev() {
                let Some(raw) = props.get(synonym.name) else { continue };
                synonym
                    .to_topic_value(raw)
                    .and_then(|text| (key.apply)(&mut config.topic_defaults, &text))
                    .map_err(|reason| invalid(synonym.name, raw, reason))?;
                config.set_in_properties.insert(key.name);
                used.insert(synonym.name);
            }
        }
        for key in BROKER_KEYS {
            if let Some(raw) = props.get(key.name) {
                (key.apply)(&mut config, raw).map_err(|reason| invalid(key.name, raw, reason))?;
                used.insert(key.name);
            }
        }

        let mut warnings = Vec::new();
        let (dirs_key, dirs) = match (props.get("log.dirs"), props.get("log.dir")) {
            (Some(dirs), _) => ("log.dirs", dirs.as_str()),
            (None, Some(dir)) => ("log.dir", dir.as_str()),
            (None, None) => {
                warnings.push(ConfigWarning::Defaulted {
                    key: "log.dirs",
                    value: KAFKA_DEFAULT_LOG_DIR.to_owned(),
                });
                ("log.dirs", KAFKA_DEFAULT_LOG_DIR)
            }
        };
        config.log_dirs = parse_dir_list(dirs_key, dirs)?;
        used.extend(["log.dirs", "log.dir"]);

        warnings.extend(props.keys().filter(|key| !used.contains(key.as_str())).map(|key| {
            if is_non_log_broker_key(key) {
                ConfigWarning::Ignored { key: key.clone() }
            } else {
                let did_you_mean =
                    topic_key(key).and_then(|k| k.synonyms.first()).map(|synonym| synonym.name);
                ConfigWarning::Unknown { key: key.clone(), did_you_mean }
            }
        }));

        config.validate()?;
        Ok((config, warnings))
    }

    /// [`StoreConfig::from_properties_str`] over a file. The file is read as
    /// UTF-8, or as ISO-8859-1 (Java's `Properties` encoding) if it is not
    /// valid UTF-8.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the file cannot be read; otherwise as
    /// [`StoreConfig::from_properties_str`].
    pub fn from_properties_file(
        path: impl AsRef<Path>,
    ) -> Result<(StoreConfig, Vec<ConfigWarning>)> {
        let bytes = file::read_any(path.as_ref())?;
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| e.into_bytes().into_iter().map(char::from).collect());
        StoreConfig::from_properties_str(&text)
    }

    /// The store's value of topic key `key` and whether it comes from the
    /// store or is Kafka's default; `None` if `key` is not a topic-level key.
    ///
    /// The source is [`ConfigSource::Store`] when `server.properties` set
    /// the key (through any synonym) or [`StoreConfig::topic_defaults`]
    /// holds a value other than Kafka's default.
    #[must_use]
    pub fn topic_default(&self, key: &str) -> Option<(String, ConfigSource)> {
        topic_key(key).map(|key| self.topic_default_of(key))
    }

    /// [`StoreConfig::topic_default`] for a table entry.
    pub(crate) fn topic_default_of(&self, key: &Key<LogConfig>) -> (String, ConfigSource) {
        let value = (key.show)(&self.topic_defaults);
        let set =
            self.set_in_properties.contains(key.name) || value != (key.show)(&LogConfig::default());
        (value, if set { ConfigSource::Store } else { ConfigSource::Default })
    }

    /// The one place the store's rules live: at least one log directory and
    /// none repeated, every topic default valid ([`LogConfig::validate`]),
    /// every broker key in range, and (with the cleaner on) each cleaner
    /// thread's share of `log.cleaner.dedupe.buffer.size` holding at least
    /// one key at `log.cleaner.io.buffer.load.factor`, as Kafka's
    /// `LogCleaner` requires.
    ///
    /// # Errors
    /// [`crate::Error::InvalidConfig`] naming the first key that breaks a rule.
    pub fn validate(&self) -> Result<()> {
        let dirs = self.log_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>();
        check_dir_list("log.dirs", &dirs.join(","), &self.log_dirs)?;
        self.topic_defaults.validate()?;
        check_fields(self, BROKER_KEYS)?;
        if self.log_cleaner_enable && self.log_cleaner_threads > 0 {
            let per_thread =
                self.log_cleaner_dedupe_buffer_size / u64::from(self.log_cleaner_threads);
            let entries = (per_thread / KEY_MAP_BYTES_PER_ENTRY) as f64;
            if entries * self.log_cleaner_io_buffer_load_factor <= 1.0 {
                return Err(invalid(
                    "log.cleaner.dedupe.buffer.size",
                    &self.log_cleaner_dedupe_buffer_size.to_string(),
                    format!(
                        "too small to hold a key per cleaner thread ({} threads, \
                         {KEY_MAP_BYTES_PER_ENTRY} bytes per key, load factor {})",
                        self.log_cleaner_threads, self.log_cleaner_io_buffer_load_factor
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Parses a comma-separated directory list (`log.dirs` / `log.dir`).
fn parse_dir_list(key: &str, text: &str) -> Result<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> = super::value::list_items(text).map(PathBuf::from).collect();
    check_dir_list(key, text, &dirs)?;
    Ok(dirs)
}

/// A directory list must be non-empty, without empty names or repeats.
fn check_dir_list(key: &str, text: &str, dirs: &[PathBuf]) -> Result<()> {
    if dirs.is_empty() {
        return Err(invalid(key, text, "at least one log directory is required"));
    }
    let mut seen = BTreeSet::new();
    for dir in dirs {
        if dir.as_os_str().is_empty() {
            return Err(invalid(key, text, "empty directory name"));
        }
        if !seen.insert(dir) {
            return Err(invalid(key, text, format!("{} is listed twice", dir.display())));
        }
    }
    Ok(())
}
