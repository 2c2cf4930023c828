//! Kafka's `partition.metadata` file and topic IDs, pure encoding
//! (`PartitionMetadataFile`, `PartitionMetadata`, `Uuid`).
//!
//! The file is two text lines, the second without a line end:
//!
//! ```text
//! version: 0
//! topic_id: <topic ID>
//! ```
//!
//! A topic ID is 16 bytes (a random UUID) written in URL-safe base64 without
//! padding: 22 characters. The all-zero ID is Kafka's "no ID" and invalid
//! here; Kafka never hands out an ID whose text starts with `-`.

use super::{FormatError, FormatResult};

/// File version strata reads and writes.
pub const PARTITION_METADATA_VERSION: i32 = 0;
/// The file's name in a partition directory.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Characters of an encoded ID.
const ENCODED_LEN: usize = 22;

/// A topic's ID (Kafka's `Uuid`): fixed when the topic is created, kept in
/// every partition's `partition.metadata`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicId([u8; 16]);

impl TopicId {
    /// The ID with these 16 bytes (most significant first, as Kafka's
    /// `getMostSignificantBits` then `getLeastSignificantBits`).
    ///
    /// # Errors
    /// The all-zero ID, which Kafka reserves for "none".
    pub fn from_bytes(bytes: [u8; 16]) -> FormatResult<Self> {
        if bytes == [0; 16] {
            return Err(FormatError::InvalidValue {
                field: "topic_id",
                value: 0,
                reason: "the zero UUID means no topic ID",
            });
        }
        Ok(TopicId(bytes))
    }

    /// A random ID from 16 random bytes, shaped as a version-4 UUID (as
    /// Java's `UUID.randomUUID`); `None` for the few Kafka never hands out
    /// (zero, the reserved metadata-topic ID 1, text starting with `-`).
    #[must_use]
    pub fn from_random(mut bytes: [u8; 16]) -> Option<Self> {
        if let Some(b) = bytes.get_mut(6) {
            *b = (*b & 0x0f) | 0x40;
        }
        if let Some(b) = bytes.get_mut(8) {
            *b = (*b & 0x3f) | 0x80;
        }
        let mut one = [0u8; 16];
        one[15] = 1;
        let id = TopicId::from_bytes(bytes).ok().filter(|id| id.0 != one)?;
        (!id.to_string().starts_with('-')).then_some(id)
    }

    /// The 16 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses Kafka's 22-character text form.
    ///
    /// # Errors
    /// Not 22 URL-safe base64 characters, or the zero ID.
    pub fn parse(text: &str) -> FormatResult<Self> {
        let bad = |reason| FormatError::InvalidValue {
            field: "topic_id",
            value: text.len() as i64,
            reason,
        };
        if text.len() != ENCODED_LEN {
            return Err(bad("not 22 characters of URL-safe base64"));
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut out = Vec::with_capacity(16);
        for c in text.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).ok_or(bad("not URL-safe base64"))?;
            bits = (bits << 6) | v as u32;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                out.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        // 22 characters carry 132 bits: the last 4 must be zero (canonical form).
        if bits != 0 {
            return Err(bad("not the canonical encoding of 16 bytes"));
        }
        let bytes: [u8; 16] = out.try_into().map_err(|_| bad("not 16 bytes"))?;
        TopicId::from_bytes(bytes)
    }
}

impl std::fmt::Display for TopicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut s = String::with_capacity(ENCODED_LEN);
        let mut put = |v: u32| s.push(char::from(*ALPHABET.get(v as usize & 63).unwrap_or(&b'A')));
        for &b in &self.0 {
            bits = (bits << 8) | u32::from(b);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                put(bits >> nbits);
                bits &= (1 << nbits) - 1;
            }
        }
        if nbits > 0 {
            put(bits << (6 - nbits));
        }
        f.write_str(&s)
    }
}

impl std::fmt::Debug for TopicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TopicId({self})")
    }
}

/// The file's bytes for `id`.
#[must_use]
pub fn encode(id: TopicId) -> Vec<u8> {
    format!("version: {PARTITION_METADATA_VERSION}\ntopic_id: {id}").into_bytes()
}

/// Reads the file: its topic ID.
///
/// # Errors
/// Not UTF-8, a missing or malformed line, a version other than 0, or an
/// invalid topic ID.
pub fn decode(bytes: &[u8]) -> FormatResult<TopicId> {
    const FILE: &str = "partition.metadata";
    let text = std::str::from_utf8(bytes).map_err(|_| FormatError::InvalidValue {
        field: FILE,
        value: 0,
        reason: "not UTF-8",
    })?;
    let mut lines = text.lines();
    let mut number = 0;
    let mut field = |name: &'static str| -> FormatResult<(usize, &str)> {
        number += 1;
        let bad = |found, reason| FormatError::bad_line(FILE, number, found, reason);
        let line = lines.next().ok_or_else(|| match name {
            "version" => bad("", "empty file, not `version: 0`"),
            _ => bad("", "line missing, not `topic_id: <id>`"),
        })?;
        let (key, value) = line.split_once(':').ok_or_else(|| match name {
            "version" => bad(line, "not `version: 0`"),
            _ => bad(line, "not `topic_id: <id>`"),
        })?;
        if key.trim() != name {
            return Err(match name {
                "version" => bad(line, "not `version: 0` (the first line)"),
                _ => bad(line, "not `topic_id: <id>` (the second line)"),
            });
        }
        Ok((number, value.trim()))
    };
    let (n, version) = field("version")?;
    if version.parse::<i32>().ok() != Some(PARTITION_METADATA_VERSION) {
        return Err(FormatError::bad_line(FILE, n, version, "only version 0 exists"));
    }
    let id = TopicId::parse(field("topic_id")?.1)?;
    if let Some((i, extra)) = text.lines().enumerate().skip(2).find(|(_, l)| !l.trim().is_empty()) {
        return Err(FormatError::bad_line(FILE, i + 1, extra, "text after the topic_id line"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafkas_url_safe_base64_without_padding() {
        // Kafka: new Uuid(0x0123456789abcdefL, 0xfedcba9876543210L).toString()
        let id = TopicId::from_bytes([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ])
        .unwrap();
        assert_eq!(id.to_string(), "ASNFZ4mrze_-3LqYdlQyEA");
        assert_eq!(TopicId::parse("ASNFZ4mrze_-3LqYdlQyEA").unwrap(), id);
    }

    #[test]
    fn the_file_is_two_lines_and_reads_back() {
        let id = TopicId::from_random([7; 16]).unwrap();
        let bytes = encode(id);
        assert_eq!(bytes, format!("version: 0\ntopic_id: {id}").into_bytes());
        assert_eq!(decode(&bytes).unwrap(), id);
        assert_eq!(decode(format!("version: 0\ntopic_id: {id}\n").as_bytes()).unwrap(), id);
    }

    #[test]
    fn bad_files_and_ids_are_refused() {
        assert!(decode(b"version: 1\ntopic_id: ASNFZ4mrze_-3LqYdlQyEA").is_err());
        assert!(decode(b"version: 0\n").is_err());
        assert!(decode(b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA").is_err(), "zero ID");
        assert!(decode(b"version: 0\ntopic_id: ASNFZ4mrze_-3LqYdlQyE").is_err(), "21 chars");
        assert!(decode(b"version: 0\ntopic_id: ASNFZ4mrze_-3LqYdlQyE+").is_err(), "not URL-safe");
        assert!(decode(b"version: 0\ntopic_id: ASNFZ4mrze_-3LqYdlQyEB").is_err(), "not canonical");
        assert!(decode(&[0xff, 0xfe]).is_err());
    }
}
