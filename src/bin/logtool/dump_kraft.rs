//! `logtool dump`'s words for a KRaft log's control records (`__cluster_metadata` and KRaft
//! snapshots): `DumpLogSegments` decodes each value, a flexible version-0 message of Kafka's
//! generated format (compact arrays and strings, tagged fields), and prints it as its JSON
//! converter writes it. Schemas: `LeaderChangeMessage.json`, `SnapshotHeaderRecord.json`,
//! `SnapshotFooterRecord.json`, `KRaftVersionRecord.json`, `VotersRecord.json`.

/// Kafka's `ControlRecordType` names, for the `controlType:` of records it
/// does not decode further.
pub fn control_type_name(id: i16) -> &'static str {
    match id {
        2 => "LEADER_CHANGE",
        3 => "SNAPSHOT_HEADER",
        4 => "SNAPSHOT_FOOTER",
        5 => "KRAFT_VERSION",
        6 => "KRAFT_VOTERS",
        _ => "UNKNOWN",
    }
}

/// `DumpLogSegments`' words for the KRaft control record of type `id` with `value`, as its JSON
/// converters print them; `None` when the value does not decode (the caller then prints the
/// `controlType:` words).
pub fn kraft_control(id: i16, value: &[u8]) -> Option<String> {
    let r = &mut Reader { b: value, pos: 0 };
    let version = r.i16()?;
    let text = match id {
        2 => {
            let leader = r.i32()?;
            let (all, granting) = (leader_voters(r)?, leader_voters(r)?);
            format!(
                "LeaderChange: {{\"version\":{version},\"leaderId\":{leader},\"voters\":[{all}],\
                 \"grantingVoters\":[{granting}]}}"
            )
        }
        3 => {
            let ts = r.i64()?;
            format!("SnapshotHeader {{\"version\":{version},\"lastContainedLogTimestamp\":{ts}}}")
        }
        4 => format!("SnapshotFooter {{\"version\":{version}}}"),
        5 => {
            let kraft_version = r.i16()?;
            format!("KRaftVersion {{\"version\":{version},\"kRaftVersion\":{kraft_version}}}")
        }
        6 => {
            let voters = r.array(|r| {
                let id = r.i32()?;
                let directory = uuid(r.bytes(16)?);
                let endpoints = r.array(|r| {
                    let (name, host) = (r.string()?, r.string()?);
                    let port = u16::from_be_bytes(r.bytes(2)?.try_into().ok()?);
                    r.tagged_fields()?;
                    Some(format!("{{\"name\":{name},\"host\":{host},\"port\":{port}}}"))
                })?;
                let (min, max) = (r.i16()?, r.i16()?);
                r.tagged_fields()?;
                r.tagged_fields()?;
                Some(format!(
                    "{{\"voterId\":{id},\"voterDirectoryId\":\"{directory}\",\"endpoints\":[{endpoints}],\
                     \"kRaftVersionFeature\":{{\"minSupportedVersion\":{min},\
                     \"maxSupportedVersion\":{max}}}}}"
                ))
            })?;
            format!("KRaftVoters {{\"version\":{version},\"voters\":[{voters}]}}")
        }
        _ => return None,
    };
    r.tagged_fields()?;
    Some(text)
}

/// A `LeaderChangeMessage` voter list: `{"voterId":N}` each.
fn leader_voters(r: &mut Reader) -> Option<String> {
    r.array(|r| {
        let id = r.i32()?;
        r.tagged_fields()?;
        Some(format!("{{\"voterId\":{id}}}"))
    })
}

/// Kafka's `Uuid.toString()`: URL-safe base64 without padding.
fn uuid(bytes: &[u8]) -> String {
    super::json::base64(bytes).replace('+', "-").replace('/', "_").replace('=', "")
}

/// `text` as a JSON string the way Jackson writes one: quote, backslash and control characters
/// escaped, everything else (non-ASCII too) as it is.
fn jackson_string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            c if u32::from(c) < 0x20 => s.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A cursor over a generated message's bytes; every read is `None` past the end.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.bytes(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.bytes(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.bytes(8)?.try_into().ok()?))
    }

    /// Kafka's unsigned varint (`ByteUtils.readUnsignedVarint`).
    fn uvarint(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for i in 0..5 {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A compact string (length + 1, then UTF-8), as a JSON string; a null one does not decode
    /// (none of these schemas has a nullable string).
    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.uvarint()?.checked_sub(1)?).ok()?;
        let text = std::str::from_utf8(self.bytes(n)?).ok()?;
        Some(jackson_string(text))
    }

    /// A compact array (length + 1) of `item`s, joined by commas.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<String>) -> Option<String> {
        let n = self.uvarint()?.checked_sub(1)?;
        let mut items = Vec::new();
        for _ in 0..n {
            items.push(item(self)?);
        }
        Some(items.join(","))
    }

    /// A tagged-field section, skipped: Kafka's JSON converters print no unknown tagged field.
    fn tagged_fields(&mut self) -> Option<()> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).ok()?;
            self.bytes(size)?;
        }
        Some(())
    }
}
