//! Records of Kafka's `__consumer_offsets` topic, pure encoding (the
//! group coordinator's `OffsetCommitKey` / `OffsetCommitValue` schemas).
//!
//! Key: `int16` version, then by version:
//!
//! | key version | meaning        | fields                                            |
//! |------------:|----------------|---------------------------------------------------|
//! | 0, 1        | offset commit  | group string, topic string, partition int32       |
//! | 2           | group metadata | group string (value: [`GroupMetadataSummary`])    |
//! | 3 and up    | newer groups   | group string first (KIP-848, share, streams)      |
//!
//! Offset-commit value: `int16` version, then
//!
//! | field           | type   | versions |
//! |-----------------|--------|----------|
//! | offset          | int64  | 0+       |
//! | leaderEpoch     | int32  | 3+       |
//! | metadata        | string | 0+       |
//! | commitTimestamp | int64  | 0+       |
//! | expireTimestamp | int64  | 1 only   |
//!
//! Strings are `int16` length + UTF-8 (version 4, the first "flexible" one,
//! uses unsigned-varint length + 1 and ends with tagged fields). A null value
//! is a tombstone: the offset was deleted. strata writes key version 1 and
//! value version 3, as a Kafka 3.x broker does, and version 1 for a commit
//! carrying an explicit `expireTimestamp` (the only version that has one, as
//! Kafka's `MetadataVersion.offsetCommitValueVersion` picks it). A version-1 `expireTimestamp`
//! of -1 means none (Kafka's `Utils.ofSentinel`).

use bytes::{BufMut, Bytes};

use super::varint::read_varint;
use super::{FormatError, FormatResult};

/// A decoded `__consumer_offsets` key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    /// An offset commit of `group` for `topic`-`partition`.
    Offset {
        /// Consumer group id.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Group metadata (membership); strata reads of it only what offset
    /// expiry needs ([`GroupMetadataSummary`]).
    Metadata {
        /// Consumer group id.
        group: String,
    },
    /// A key version strata does not know (newer coordinator records).
    Other {
        /// The key version.
        version: i16,
    },
}

/// A decoded offset-commit value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The committed offset (the next record the group will read).
    pub offset: i64,
    /// Leader epoch of the committed record, -1 when unknown.
    pub leader_epoch: i32,
    /// Free-form metadata from the committer.
    pub metadata: String,
    /// When the commit happened, ms since the epoch.
    pub commit_timestamp: i64,
    /// The explicit expiry time, ms since the epoch, of a version-1 value
    /// (an old client's `OffsetCommit` retention time); `None` for the other
    /// versions and for a version-1 value holding -1. When set, the offset
    /// expires at this time whatever `offsets.retention.minutes` says
    /// (Kafka's `OffsetExpirationConditionImpl`).
    pub expire_timestamp: Option<i64>,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> FormatResult<&[u8]> {
        let available = self.b.len().saturating_sub(self.pos);
        let s = self.b.get(self.pos..self.pos + n).ok_or(FormatError::Truncated {
            field,
            needed: n,
            available,
        })?;
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> FormatResult<[u8; N]> {
        let s = self.take(N, field)?;
        s.try_into().map_err(|_| FormatError::Truncated { field, needed: N, available: s.len() })
    }
    fn i16(&mut self, field: &'static str) -> FormatResult<i16> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }
    fn i32(&mut self, field: &'static str) -> FormatResult<i32> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }
    fn i64(&mut self, field: &'static str) -> FormatResult<i64> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }
    fn string(&mut self, field: &'static str) -> FormatResult<String> {
        let len = self.i16(field)?;
        let len = usize::try_from(len).map_err(|_| FormatError::InvalidValue {
            field,
            value: len.into(),
            reason: "a string length cannot be negative",
        })?;
        self.utf8(len, field)
    }
    fn compact_string(&mut self, field: &'static str) -> FormatResult<String> {
        // Unsigned varint of length + 1; read as a zig-zag-free varint.
        let (raw, n) = read_unsigned_varint(self.b.get(self.pos..).unwrap_or_default(), field)?;
        self.pos += n;
        let len = raw.checked_sub(1).ok_or(FormatError::InvalidValue {
            field,
            value: 0,
            reason: "null string",
        })?;
        self.utf8(len as usize, field)
    }
    /// A nullable string, compact when `flexible`; `None` is null.
    fn nullable(&mut self, flexible: bool, field: &'static str) -> FormatResult<Option<String>> {
        let len = if flexible {
            let (raw, n) = read_unsigned_varint(self.b.get(self.pos..).unwrap_or_default(), field)?;
            self.pos += n;
            match raw.checked_sub(1) {
                Some(len) => len as usize,
                None => return Ok(None),
            }
        } else {
            match usize::try_from(self.i16(field)?) {
                Ok(len) => len,
                Err(_) => return Ok(None),
            }
        };
        self.utf8(len, field).map(Some)
    }
    fn utf8(&mut self, len: usize, field: &'static str) -> FormatResult<String> {
        let s = self.take(len, field)?;
        String::from_utf8(s.to_vec()).map_err(|_| FormatError::InvalidValue {
            field,
            value: len as i64,
            reason: "not UTF-8",
        })
    }
}

fn read_unsigned_varint(b: &[u8], field: &'static str) -> FormatResult<(u32, usize)> {
    // Reuse the zig-zag reader's bounds by undoing zig-zag: raw = (v << 1) ^ (v >> 31).
    let (v, n) = read_varint(b, field)?;
    Ok((((v << 1) ^ (v >> 31)).cast_unsigned(), n))
}

fn put_string(buf: &mut Vec<u8>, s: &str) -> FormatResult<()> {
    let len = i16::try_from(s.len())
        .map_err(|_| FormatError::TooLarge { field: "string", size: s.len() })?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

impl GroupKey {
    /// Decodes a key.
    ///
    /// # Errors
    /// A key cut short or a string that is not UTF-8.
    pub fn decode(b: &[u8]) -> FormatResult<GroupKey> {
        let mut r = Reader { b, pos: 0 };
        match r.i16("groupKey.version")? {
            0 | 1 => Ok(GroupKey::Offset {
                group: r.string("groupKey.group")?,
                topic: r.string("groupKey.topic")?,
                partition: r.i32("groupKey.partition")?,
            }),
            2 => Ok(GroupKey::Metadata { group: r.string("groupKey.group")? }),
            version => Ok(GroupKey::Other { version }),
        }
    }

    /// Encodes a key (version 1 for offsets, 2 for metadata).
    ///
    /// # Errors
    /// A string over 32767 bytes; [`GroupKey::Other`] cannot be encoded.
    pub fn encode(&self) -> FormatResult<Bytes> {
        let mut buf = Vec::new();
        match self {
            GroupKey::Offset { group, topic, partition } => {
                buf.put_i16(1);
                put_string(&mut buf, group)?;
                put_string(&mut buf, topic)?;
                buf.put_i32(*partition);
            }
            GroupKey::Metadata { group } => {
                buf.put_i16(2);
                put_string(&mut buf, group)?;
            }
            GroupKey::Other { version } => {
                return Err(FormatError::InvalidValue {
                    field: "groupKey.version",
                    value: (*version).into(),
                    reason: "unknown",
                });
            }
        }
        Ok(buf.into())
    }
}

impl OffsetCommit {
    /// Decodes an offset-commit value of any version 0-4.
    ///
    /// # Errors
    /// A value cut short, an unknown version, or bad UTF-8.
    pub fn decode(b: &[u8]) -> FormatResult<OffsetCommit> {
        let mut r = Reader { b, pos: 0 };
        let version = r.i16("offsetCommit.version")?;
        if !(0..=4).contains(&version) {
            return Err(FormatError::InvalidValue {
                field: "offsetCommit.version",
                value: version.into(),
                reason: "known versions are 0-4",
            });
        }
        let offset = r.i64("offsetCommit.offset")?;
        let leader_epoch = if version >= 3 { r.i32("offsetCommit.leaderEpoch")? } else { -1 };
        let metadata = if version >= 4 {
            r.compact_string("offsetCommit.metadata")?
        } else {
            r.string("offsetCommit.metadata")?
        };
        let commit_timestamp = r.i64("offsetCommit.commitTimestamp")?;
        // Kafka's OffsetAndMetadata.fromRecord: ofSentinel(expireTimestamp), -1 is none.
        let expire_timestamp = if version == 1 {
            Some(r.i64("offsetCommit.expireTimestamp")?).filter(|&t| t != -1)
        } else {
            None
        };
        Ok(OffsetCommit { offset, leader_epoch, metadata, commit_timestamp, expire_timestamp })
    }

    /// Encodes as value version 3, or as version 1 when
    /// [`expire_timestamp`](Self::expire_timestamp) is set (version 1 has no
    /// leader epoch: it is not written).
    ///
    /// # Errors
    /// Metadata over 32767 bytes.
    pub fn encode(&self) -> FormatResult<Bytes> {
        let mut buf = Vec::with_capacity(34 + self.metadata.len());
        buf.put_i16(if self.expire_timestamp.is_some() { 1 } else { 3 });
        buf.put_i64(self.offset);
        if self.expire_timestamp.is_none() {
            buf.put_i32(self.leader_epoch);
        }
        put_string(&mut buf, &self.metadata)?;
        buf.put_i64(self.commit_timestamp);
        if let Some(t) = self.expire_timestamp {
            buf.put_i64(t);
        }
        Ok(buf.into())
    }
}

/// What offset expiry needs of a classic group's `GroupMetadataValue` (key
/// version 2), value versions 0-4 (4 is flexible: compact strings and
/// arrays): whether it has a protocol type, when it entered its state, and
/// how many members it has. The rest of the value is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMetadataSummary {
    /// A protocol type is set: neither null nor empty, as Kafka's
    /// `GroupMetadataManager.replay` reads it (`protocolType == null ||
    /// protocolType.isEmpty()` is none, a simple consumer group).
    pub has_protocol_type: bool,
    /// `currentStateTimestamp` (value version 2+), ms since the epoch; `None`
    /// for older versions and for -1.
    pub current_state_timestamp: Option<i64>,
    /// The number of members (a null array counts none).
    pub members: u32,
}

impl GroupMetadataSummary {
    /// Decodes the fields before and the length of `members` of a
    /// `GroupMetadataValue`.
    ///
    /// # Errors
    /// A value cut short, an unknown version, or bad UTF-8.
    pub fn decode(b: &[u8]) -> FormatResult<GroupMetadataSummary> {
        let mut r = Reader { b, pos: 0 };
        let version = r.i16("groupMetadata.version")?;
        if !(0..=4).contains(&version) {
            return Err(FormatError::InvalidValue {
                field: "groupMetadata.version",
                value: version.into(),
                reason: "known versions are 0-4",
            });
        }
        let flexible = version >= 4;
        let protocol_type = r.nullable(flexible, "groupMetadata.protocolType")?;
        r.i32("groupMetadata.generation")?;
        r.nullable(flexible, "groupMetadata.protocol")?;
        r.nullable(flexible, "groupMetadata.leader")?;
        let current_state_timestamp = if version >= 2 {
            Some(r.i64("groupMetadata.currentStateTimestamp")?).filter(|&t| t != -1)
        } else {
            None
        };
        let members = if flexible {
            let rest = r.b.get(r.pos..).unwrap_or_default();
            read_unsigned_varint(rest, "groupMetadata.members")?.0.saturating_sub(1)
        } else {
            let n = r.i32("groupMetadata.members")?;
            u32::try_from(n).unwrap_or(0)
        };
        Ok(GroupMetadataSummary {
            has_protocol_type: protocol_type.is_some_and(|t| !t.is_empty()),
            current_state_timestamp,
            members,
        })
    }
}

/// The group id of a `__consumer_offsets` key of version 3 or above (the
/// records of KIP-848's consumer groups and of share and streams groups,
/// each key an `int16` version then the group id), `None` for the classic
/// versions 0-2 and for a key that does not decode.
#[must_use]
pub fn modern_group_of(key: &[u8]) -> Option<String> {
    let mut r = Reader { b: key, pos: 0 };
    match r.i16("groupKey.version") {
        Ok(v) if v >= 3 => r.string("groupKey.group").ok(),
        _ => None,
    }
}

/// The `__consumer_offsets` partition of `group`: `abs(hashCode) % partitions`,
/// with Java's `String.hashCode` over UTF-16 code units and Kafka's `Utils.abs`
/// (which maps `i32::MIN` to 0).
#[must_use]
pub fn partition_for_group(group: &str, partitions: i32) -> i32 {
    let h = group.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    if partitions <= 0 { 0 } else { abs % partitions }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn decodes_a_commit_written_by_a_kafka_3_8_broker() {
        // From a real broker's __consumer_offsets-0 (fixture fuzibotond-*, offset 1).
        let key = GroupKey::decode(&hex(
            "0001000c73656e736f722d67726f7570001173656e736f722d646174612d746f70696300000000",
        ))
        .unwrap();
        assert_eq!(
            key,
            GroupKey::Offset {
                group: "sensor-group".into(),
                topic: "sensor-data-topic".into(),
                partition: 0
            }
        );
        let value =
            OffsetCommit::decode(&hex("00030000000000000000ffffffff0000000001927200a040")).unwrap();
        assert_eq!(
            value,
            OffsetCommit {
                offset: 0,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 0x0192_7200_a040,
                expire_timestamp: None,
            }
        );
        assert_eq!(
            value.encode().unwrap().as_ref(),
            hex("00030000000000000000ffffffff0000000001927200a040")
        );
        assert_eq!(
            key.encode().unwrap().as_ref(),
            hex("0001000c73656e736f722d67726f7570001173656e736f722d646174612d746f70696300000000")
        );
    }

    #[test]
    fn group_partition_matches_where_kafka_put_them() {
        // The fixture's groups live in these __consumer_offsets partitions.
        assert_eq!(partition_for_group("sensor-group", 50), 0);
        assert_eq!(partition_for_group("sensor-consumer-group", 50), 39);
        assert_eq!(partition_for_group("console-consumer-10214", 50), 19);
        assert_eq!(partition_for_group("console-consumer-81154", 50), 20);
        assert_eq!(partition_for_group("console-consumer-47759", 50), 3);
    }

    #[test]
    fn older_and_flexible_value_versions_decode() {
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&42i64.to_be_bytes());
        v1.extend_from_slice(&[0, 2, b'm', b'd']);
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&9i64.to_be_bytes());
        assert_eq!(
            OffsetCommit::decode(&v1).unwrap(),
            OffsetCommit {
                offset: 42,
                leader_epoch: -1,
                metadata: "md".into(),
                commit_timestamp: 7,
                expire_timestamp: Some(9),
            }
        );
        let decoded = OffsetCommit::decode(&v1).unwrap();
        assert_eq!(decoded.encode().unwrap().as_ref(), v1, "a v1 value encodes back as v1");
        let mut none = v1.clone();
        let at = none.len() - 8;
        none[at..].copy_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(OffsetCommit::decode(&none).unwrap().expire_timestamp, None, "-1 is none");
        let mut v4 = vec![0, 4];
        v4.extend_from_slice(&5i64.to_be_bytes());
        v4.extend_from_slice(&3i32.to_be_bytes());
        v4.extend_from_slice(&[3, b'a', b'b']);
        v4.extend_from_slice(&8i64.to_be_bytes());
        v4.push(0); // no tagged fields
        assert_eq!(
            OffsetCommit::decode(&v4).unwrap(),
            OffsetCommit {
                offset: 5,
                leader_epoch: 3,
                metadata: "ab".into(),
                commit_timestamp: 8,
                expire_timestamp: None,
            }
        );
        assert!(OffsetCommit::decode(&[0, 3, 1]).is_err());
        assert!(GroupKey::decode(&[0, 1, 0, 9, b'x']).is_err());
    }

    #[test]
    fn group_metadata_values_give_protocol_type_state_time_and_member_count() {
        // Version 3: "consumer", generation 4, protocol "range", leader null,
        // currentStateTimestamp 77, one member (only its count is read).
        let mut v3 = vec![0, 3, 0, 8];
        v3.extend_from_slice(b"consumer");
        v3.extend_from_slice(&4i32.to_be_bytes());
        v3.extend_from_slice(&[0, 5, b'r', b'a', b'n', b'g', b'e', 0xff, 0xff]);
        v3.extend_from_slice(&77i64.to_be_bytes());
        v3.extend_from_slice(&1i32.to_be_bytes());
        v3.extend_from_slice(&[0, 1, b'm']); // the member, cut short: not read
        let summary = GroupMetadataSummary::decode(&v3).unwrap();
        assert_eq!(
            summary,
            GroupMetadataSummary {
                has_protocol_type: true,
                current_state_timestamp: Some(77),
                members: 1
            }
        );
        // Version 4 (flexible): empty protocol type is none (Kafka's replay),
        // -1 is no state time, an empty compact array no members.
        let mut v4 = vec![0, 4, 1];
        v4.extend_from_slice(&0i32.to_be_bytes());
        v4.extend_from_slice(&[0, 0]); // protocol, leader: null
        v4.extend_from_slice(&(-1i64).to_be_bytes());
        v4.push(1);
        assert_eq!(
            GroupMetadataSummary::decode(&v4).unwrap(),
            GroupMetadataSummary {
                has_protocol_type: false,
                current_state_timestamp: None,
                members: 0
            }
        );
        // Version 0 has no state time.
        let mut v0 = vec![0, 0, 0, 1, b'x'];
        v0.extend_from_slice(&1i32.to_be_bytes());
        v0.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        v0.extend_from_slice(&2i32.to_be_bytes());
        let summary = GroupMetadataSummary::decode(&v0).unwrap();
        assert_eq!((summary.current_state_timestamp, summary.members), (None, 2));
        assert!(GroupMetadataSummary::decode(&v3[..12]).is_err());
        assert!(GroupMetadataSummary::decode(&[0, 5, 0, 0]).is_err());
        assert_eq!(modern_group_of(&[0, 3, 0, 1, b'g']), Some("g".into()));
        assert_eq!(modern_group_of(&[0, 2, 0, 1, b'g']), None);
    }
}
