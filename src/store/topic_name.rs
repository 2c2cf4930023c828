//! Kafka's topic name rules (`org.apache.kafka.common.internals.Topic`).
//!
//! A name is 1..=249 ASCII characters from `[a-zA-Z0-9._-]`, and not `.` or
//! `..`. Two names that become equal once `.` is read as `_` collide (Kafka's
//! metric names cannot tell them apart), so the second is refused.

use crate::{Error, Result};

/// Longest legal topic name (255 minus room for a `-NNNNN` partition suffix).
pub const MAX_NAME_LENGTH: usize = 249;

/// Most partitions a topic may have: partition directory names
/// (`<topic>-<N>`) leave five digits for `N` next to the longest topic name.
/// Counts read from disk are held to it too, so a damaged file cannot make an
/// open create directories without end.
pub const MAX_PARTITIONS: i32 = 100_000;

/// Kafka's KRaft metadata log directory name: never a topic.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Checks `name` against Kafka's rules.
///
/// # Errors
/// [`Error::InvalidTopic`] naming the rule that failed.
pub fn validate(name: &str) -> Result<()> {
    let refuse = |reason: String| Err(Error::InvalidTopic { name: name.to_owned(), reason });
    if name.is_empty() {
        return refuse("the name is empty".into());
    }
    if name == "." || name == ".." {
        return refuse("`.` and `..` are not topic names".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return refuse(format!("{} characters, the limit is {MAX_NAME_LENGTH}", name.len()));
    }
    if let Some(c) =
        name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return refuse(format!(
            "{c:?} is not allowed: use ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// `name` with `.` mapped to `_`: two topics with the same unified name collide.
#[must_use]
pub fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// Whether `a` and `b` are different names that collide.
#[must_use]
pub fn collides(a: &str, b: &str) -> bool {
    a != b && unify_collision_chars(a) == unify_collision_chars(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_names_pass_and_illegal_ones_say_why() {
        assert!(validate("orders.v1_a-b").is_ok());
        assert!(validate(&"a".repeat(249)).is_ok());
        for bad in ["", ".", "..", "has space", "ümlaut", "a/b"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        let msg = validate(&"a".repeat(250)).unwrap_err().to_string();
        assert!(msg.contains("250 characters"), "{msg}");
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert!(collides("a.b", "a_b"));
        assert!(!collides("a.b", "a.b"));
        assert!(!collides("a.b", "a-b"));
    }
}
