//! Java `.properties` text, as Kafka reads `server.properties` (and
//! `meta.properties`): Java's `Properties.load` rules, then Kafka's trimming
//! of values.
//!
//! - Lines end at `\n`, `\r\n` or `\r`; leading blanks (space, tab, form
//!   feed) are skipped; blank lines are skipped.
//! - A line whose first non-blank character is `#` or `!` is a comment.
//! - A line ending in an odd number of backslashes continues on the next
//!   line (that line's leading blanks skipped; a comment line never continues).
//!   A logical line still empty (a line holding only a backslash) starts
//!   afresh on the next line, which may then be blank or a comment.
//! - The key ends at the first unescaped `=`, `:` or blank; the separator is
//!   `=` or `:` with blanks around it, or just blanks. So `key=value`,
//!   `key: value` and `key value` are the same.
//! - Escapes in keys and values: `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\`
//!   before any other character stands for that character. `\uXXXX` escapes
//!   are UTF-16 units, as in Java: an escaped surrogate pair is one
//!   character. [`parse_checked`] refuses a malformed `\u` escape (Java's
//!   `Properties.load` throws, so Kafka does not start) and a lone
//!   surrogate (a Rust string cannot hold one); [`parse`] never fails: it
//!   keeps a malformed escape's `u` as a plain letter and turns a lone
//!   surrogate into U+FFFD.
//! - Values are trimmed as Kafka trims every config value before parsing
//!   it (Java's `String.trim`: characters up to U+0020).
//!
//! A key that appears twice keeps its last value when collected into a map.

/// Parses properties text into `(key, value)` pairs in file order, leniently
/// (see the module docs).
#[must_use]
pub fn parse(text: &str) -> Vec<(String, String)> {
    logical_lines(text).iter().map(|line| split_pair(line).pair).collect()
}

/// A `\u` escape that Java's `Properties.load` refuses, or that no Rust string holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeError {
    /// The key of the line, its escapes resolved leniently (as [`parse`] does).
    pub key: String,
    /// The value of the line as written, escapes unresolved.
    pub raw_value: String,
    /// What is wrong with the escape.
    pub reason: &'static str,
}

/// Parses properties text into `(key, value)` pairs in file order, as Java
/// does (see the module docs).
///
/// # Errors
/// [`EscapeError`] for the first line holding a malformed `\uXXXX` escape or
/// a lone surrogate.
pub fn parse_checked(text: &str) -> Result<Vec<(String, String)>, EscapeError> {
    logical_lines(text)
        .iter()
        .map(|line| {
            let split = split_pair(line);
            match split.problem {
                None => Ok(split.pair),
                Some(reason) => Err(EscapeError {
                    key: split.pair.0,
                    raw_value: split.raw_value.to_owned(),
                    reason,
                }),
            }
        })
        .collect()
}

/// Java's "blank" characters of a properties file.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Whether `line` ends in an odd number of backslashes (a continuation).
fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Joins continued lines and drops blank and comment lines. Escapes are
/// still in place; the continuation backslash is removed.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    let naturals = text.split('\n').flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'));
    for natural in naturals {
        let trimmed = natural.trim_start_matches(is_blank);
        let mut logical = match current.take() {
            Some(open) => open,
            None if trimmed.is_empty() || trimmed.starts_with(['#', '!']) => continue,
            None => String::new(),
        };
        logical.push_str(trimmed);
        if continues(&logical) {
            logical.pop();
            // Still empty: the next line starts afresh, blank or comment
            // included (Java's `LineReader`, which checks `len == 0`).
            current = (!logical.is_empty()).then_some(logical);
        } else {
            lines.push(logical);
        }
    }
    lines.extend(current);
    lines
}

/// A logical line split: its unescaped key and trimmed, unescaped value.
struct Split<'a> {
    pair: (String, String),
    /// The value as written.
    raw_value: &'a str,
    /// An escape Java would refuse (or a lone surrogate), in the key or value.
    problem: Option<&'static str>,
}

/// Splits a logical line into its unescaped key and trimmed, unescaped value.
fn split_pair(line: &str) -> Split<'_> {
    let mut chars = line.char_indices().peekable();
    let mut key_end = line.len();
    let mut value_start = line.len();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
            continue;
        }
        if c == '=' || c == ':' || is_blank(c) {
            key_end = i;
            let mut seen_separator = c == '=' || c == ':';
            value_start = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if is_blank(d) || (!seen_separator && (d == '=' || d == ':')) {
                    seen_separator |= d == '=' || d == ':';
                    chars.next();
                    value_start = j + d.len_utf8();
                } else {
                    break;
                }
            }
            break;
        }
    }
    let key = line.get(..key_end).unwrap_or_default();
    let raw_value = line.get(value_start..).unwrap_or_default();
    let (key, key_problem) = unescape(key);
    let (value, value_problem) = unescape(raw_value);
    Split {
        pair: (key, super::value::java_trim(&value).to_owned()),
        raw_value,
        problem: key_problem.or(value_problem),
    }
}

const MALFORMED_U: &str = "malformed \\uXXXX escape (Java's Properties.load refuses it)";
const LONE_SURROGATE: &str = "\\uXXXX escape of a lone UTF-16 surrogate";

/// The four hex digits after a `\u`, as Java reads them.
fn hex4(chars: &std::str::Chars<'_>) -> Option<u32> {
    let hex: String = chars.clone().take(4).collect();
    let well_formed = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
    u32::from_str_radix(&hex, 16).ok().filter(|_| well_formed)
}

/// Resolves Java properties escapes; the first escape Java refuses, or a
/// lone surrogate, is reported beside the lenient result.
fn unescape(text: &str) -> (String, Option<&'static str>) {
    let mut out = String::with_capacity(text.len());
    let mut problem = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let Some(unit) = hex4(&chars) else {
                    problem = problem.or(Some(MALFORMED_U));
                    out.push('u');
                    continue;
                };
                chars.nth(3);
                // A high surrogate escaped right before a low one is one
                // character, as the two UTF-16 units are in a Java string.
                let mut after = chars.clone();
                let low = (0xD800..0xDC00).contains(&unit)
                    && after.next() == Some('\\')
                    && after.next() == Some('u');
                let low =
                    low.then(|| hex4(&after)).flatten().filter(|l| (0xDC00..0xE000).contains(l));
                let code = match low {
                    Some(low) => {
                        chars.nth(5);
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    None => unit,
                };
                out.push(char::from_u32(code).unwrap_or_else(|| {
                    problem = problem.or(Some(LONE_SURROGATE));
                    char::REPLACEMENT_CHARACTER
                }));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    (out, problem)
}
