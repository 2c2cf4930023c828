//! Control records: transaction markers (Kafka's `ControlRecordType`,
//! `EndTransactionMarker`).
//!
//! Key (4 bytes): version int16 (0), type int16. Value of a COMMIT/ABORT
//! marker (6 bytes): version int16 (0), coordinatorEpoch int32.

use bytes::{BufMut, Bytes};

use super::{FormatError, FormatResult};

/// The type of a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// Transaction aborted (type 0).
    Abort,
    /// Transaction committed (type 1).
    Commit,
    /// KRaft and future types, kept by id and ignored (types 2-6 and anything else).
    Other(i16),
}

impl ControlType {
    /// Kafka's id of the type.
    #[must_use]
    pub fn id(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
            ControlType::Other(id) => id,
        }
    }
}

/// A decoded control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRecord {
    /// Marker type.
    pub kind: ControlType,
    /// Coordinator epoch of a COMMIT/ABORT marker (0 for other types).
    pub coordinator_epoch: i32,
}

impl ControlRecord {
    /// A COMMIT marker.
    #[must_use]
    pub fn commit(coordinator_epoch: i32) -> Self {
        ControlRecord { kind: ControlType::Commit, coordinator_epoch }
    }

    /// An ABORT marker.
    #[must_use]
    pub fn abort(coordinator_epoch: i32) -> Self {
        ControlRecord { kind: ControlType::Abort, coordinator_epoch }
    }

    /// The (key, value) bytes of this control record.
    #[must_use]
    pub fn encode(&self) -> (Bytes, Bytes) {
        let mut key = Vec::with_capacity(4);
        key.put_i16(0);
        key.put_i16(self.kind.id());
        let mut value = Vec::with_capacity(6);
        value.put_i16(0);
        value.put_i32(self.coordinator_epoch);
        (key.into(), value.into())
    }

    /// Decodes a control record's key and value.
    ///
    /// # Errors
    /// A key shorter than 4 bytes or with a negative version; a COMMIT/ABORT
    /// value shorter than 6 bytes.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> FormatResult<Self> {
        let (version, kind) = match key {
            [a, b, c, d, ..] => (i16::from_be_bytes([*a, *b]), i16::from_be_bytes([*c, *d])),
            _ => {
                return Err(FormatError::Truncated {
                    field: "control.key",
                    needed: 4,
                    available: key.len(),
                });
            }
        };
        if version < 0 {
            return Err(FormatError::InvalidValue {
                field: "control.key.version",
                value: version.into(),
                reason: "negative",
            });
        }
        let kind = match kind {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            other => {
                return Ok(ControlRecord { kind: ControlType::Other(other), coordinator_epoch: 0 });
            }
        };
        let value = value.unwrap_or_default();
        let coordinator_epoch = match value {
            [_, _, a, b, c, d, ..] => i32::from_be_bytes([*a, *b, *c, *d]),
            _ => {
                return Err(FormatError::Truncated {
                    field: "control.value",
                    needed: 6,
                    available: value.len(),
                });
            }
        };
        Ok(ControlRecord { kind, coordinator_epoch })
    }
}
