//! Typed config values: Kafka's text form in, typed value out, and back.
//!
//! Parsing follows Kafka's `ConfigDef.parseType`: values are trimmed as
//! Java's `String.trim` does ([`java_trim`]), integers are decimal (an optional sign), booleans are `true` /
//! `false` in any case, lists are comma-separated with the blanks around the
//! commas ignored. Range rules are not here: they are the validators of the
//! key table ([`super::keys`]).

use std::fmt::Display;

use crate::format::{Compression, TimestampType};

use super::kinds::{CleanupPolicy, Durability, TopicCompression};

/// A value a config key can hold.
pub(crate) trait ConfigValue: Sized {
    /// Parses Kafka's text form; the error says what was expected.
    fn parse(text: &str) -> Result<Self, String>;
    /// The text form Kafka would print (`describe`).
    fn render(&self) -> String;
}

/// Kafka's `INT` upper bound, for the keys Kafka declares as `INT`.
pub(crate) const INT_MAX: u64 = i32::MAX as u64;

/// `text` trimmed as Java's `String.trim` trims it (Kafka's
/// `ConfigDef.parseType`): of every character up to U+0020, blanks and
/// control characters, and of no other white space (a no-break space stays).
pub(crate) fn java_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

/// The items of a list value: trimmed, then split at commas with Java's
/// `\s` around them (Kafka's `ConfigDef` `COMMA_WITH_WHITESPACE`).
pub(crate) fn list_items(text: &str) -> impl Iterator<Item = &str> {
    java_trim(text)
        .split(',')
        .map(|item| item.trim_matches(['\t', '\n', '\x0b', '\x0c', '\r', ' ']))
}

/// Parses a decimal integer (Kafka's `Long.parseLong` after trimming).
fn parse_integer(text: &str) -> Result<i64, String> {
    java_trim(text).parse::<i64>().map_err(|_| "expected a whole number".to_owned())
}

impl ConfigValue for i64 {
    fn parse(text: &str) -> Result<Self, String> {
        parse_integer(text)
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for i32 {
    fn parse(text: &str) -> Result<Self, String> {
        i32::try_from(parse_integer(text)?)
            .map_err(|_| format!("must be between {} and {}", i32::MIN, i32::MAX))
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for u64 {
    fn parse(text: &str) -> Result<Self, String> {
        u64::try_from(parse_integer(text)?).map_err(|_| "must not be negative".to_owned())
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for u32 {
    fn parse(text: &str) -> Result<Self, String> {
        u32::try_from(parse_integer(text)?)
            .map_err(|_| format!("must be between 0 and {}", u32::MAX))
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for f64 {
    fn parse(text: &str) -> Result<Self, String> {
        java_trim(text).parse::<f64>().map_err(|_| "expected a number".to_owned())
    }
    /// Java's `Double.toString` style: `0.5`, `1.0`, `1.7976931348623157e308`.
    fn render(&self) -> String {
        format!("{self:?}")
    }
}

impl ConfigValue for bool {
    fn parse(text: &str) -> Result<Self, String> {
        let text = java_trim(text);
        if text.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if text.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err("expected true or false".to_owned())
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for TimestampType {
    /// Exactly `CreateTime` or `LogAppendTime`, as Kafka's `ValidString` wants.
    fn parse(text: &str) -> Result<Self, String> {
        match java_trim(text) {
            "CreateTime" => Ok(TimestampType::CreateTime),
            "LogAppendTime" => Ok(TimestampType::LogAppendTime),
            _ => Err("expected CreateTime or LogAppendTime".to_owned()),
        }
    }
    fn render(&self) -> String {
        self.name().to_owned()
    }
}

impl ConfigValue for CleanupPolicy {
    /// A list of `delete` and `compact` (any case, any order, repeats allowed).
    /// An empty list parses; [`CleanupPolicy::check`] refuses it.
    fn parse(text: &str) -> Result<Self, String> {
        let text = java_trim(text);
        let mut policy = CleanupPolicy { delete: false, compact: false };
        if text.is_empty() {
            return Ok(policy);
        }
        for item in list_items(text) {
            if item.eq_ignore_ascii_case("delete") {
                policy.delete = true;
            } else if item.eq_ignore_ascii_case("compact") {
                policy.compact = true;
            } else {
                return Err(format!("{item:?} is not a policy (expected delete and/or compact)"));
            }
        }
        Ok(policy)
    }
    fn render(&self) -> String {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            (false, true) => "delete",
            (false, false) => "",
        }
        .to_owned()
    }
}

impl ConfigValue for TopicCompression {
    /// `producer`, `uncompressed`, `gzip`, `snappy`, `lz4` or `zstd`, lower
    /// case as Kafka's `ValidString` wants (`none` is a producer-side name and
    /// is refused here, as Kafka does).
    fn parse(text: &str) -> Result<Self, String> {
        match java_trim(text) {
            "producer" => Ok(TopicCompression::Producer),
            "uncompressed" => Ok(TopicCompression::Uncompressed),
            name => match Compression::from_name(name) {
                Some(codec) if codec != Compression::None => Ok(TopicCompression::Codec(codec)),
                _ => Err("expected producer, uncompressed, gzip, snappy, lz4 or zstd".to_owned()),
            },
        }
    }
    fn render(&self) -> String {
        match self {
            TopicCompression::Producer => "producer",
            TopicCompression::Uncompressed | TopicCompression::Codec(Compression::None) => {
                "uncompressed"
            }
            TopicCompression::Codec(codec) => codec.name(),
        }
        .to_owned()
    }
}

impl ConfigValue for Durability {
    fn parse(text: &str) -> Result<Self, String> {
        match java_trim(text) {
            "page_cache" => Ok(Durability::PageCache),
            "interval" => Ok(Durability::Interval),
            "sync" => Ok(Durability::Sync),
            _ => Err("expected page_cache, interval or sync".to_owned()),
        }
    }
    fn render(&self) -> String {
        self.name().to_owned()
    }
}

/// Validator: `value >= min` (false for NaN).
pub(crate) fn at_least<T: PartialOrd + Display>(value: T, min: T) -> Result<(), String> {
    if value >= min { Ok(()) } else { Err(format!("must be at least {min}")) }
}

/// Validator: `min <= value <= max` (false for NaN).
pub(crate) fn between<T: PartialOrd + Display>(value: T, min: T, max: T) -> Result<(), String> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(format!("must be between {min} and {max}"))
    }
}

/// Validator: `value > 0` (false for NaN).
pub(crate) fn above_zero(value: f64) -> Result<(), String> {
    if value > 0.0 { Ok(()) } else { Err("must be above 0".to_owned()) }
}

/// Validator that accepts every value of the type.
pub(crate) fn any<T>(_: &T) -> Result<(), String> {
    Ok(())
}

impl std::fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::fmt::Display for TopicCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}
