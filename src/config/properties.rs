//! Java `.properties` text, as Kafka reads `server.properties` (and
//! `meta.properties`): Java's `Properties.load` rules, then Kafka's trimming
//! of values.
//!
//! - Lines end at `\n`, `\r\n` or `\r`; leading blanks (space, tab, form
//!   feed) are skipped; blank lines are skipped.
//! - A line whose first non-blank character is `#` or `!` is a comment.
//! - A line ending in an odd number of backslashes continues on the next
//!   line (that line's leading blanks skipped; a comment line never continues).
//! - The key ends at the first unescaped `=`, `:` or blank; the separator is
//!   `=` or `:` with blanks around it, or just blanks. So `key=value`,
//!   `key: value` and `key value` are the same.
//! - Escapes in keys and values: `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\`
//!   before any other character stands for that character. A malformed
//!   `\u` escape (Java throws) is kept as the plain letter `u`, and a lone
//!   surrogate becomes U+FFFD, so parsing never fails.
//! - Values are trimmed (Kafka trims every config value before parsing it).
//!
//! A key that appears twice keeps its last value when collected into a map.

/// Parses properties text into `(key, value)` pairs in file order.
#[must_use]
pub fn parse(text: &str) -> Vec<(String, String)> {
    logical_lines(text).iter().map(|line| split_pair(line)).collect()
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
            current = Some(logical);
        } else {
            lines.push(logical);
        }
    }
    lines.extend(current);
    lines
}

/// Splits a logical line into its unescaped key and trimmed, unescaped value.
fn split_pair(line: &str) -> (String, String) {
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
    let value = line.get(value_start..).unwrap_or_default();
    (unescape(key), unescape(value).trim().to_owned())
}

/// Resolves Java properties escapes.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
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
                let hex: String = chars.clone().take(4).collect();
                let well_formed = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
                match u32::from_str_radix(&hex, 16).ok().filter(|_| well_formed) {
                    Some(code) => {
                        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                        chars.nth(3);
                    }
                    None => out.push('u'),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
