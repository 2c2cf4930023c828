//! Legacy (magic 0/1) messages laid out by hand, as Kafka's `LegacyRecord` writes them and
//! kafka-python's `LegacyRecordBatchBuilder` reads them: for tests that put a pre-0.11 broker's
//! segment on disk without going through `legacy_log.py`.

/// One legacy message at `offset`: offset, size, CRC-32 of magic..end, magic, `attributes` (the
/// codec in bits 0-2), the timestamp `ts` (magic 1 only: magic 0 has none), key and value (each
/// length-prefixed; an empty one is written with length 0, not as null).
pub(crate) fn message(
    offset: i64,
    magic: u8,
    attributes: u8,
    ts: i64,
    key: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let mut body = vec![magic, attributes];
    if magic == 1 {
        body.extend_from_slice(&ts.to_be_bytes());
    }
    for field in [key, value] {
        body.extend_from_slice(&(field.len() as i32).to_be_bytes());
        body.extend_from_slice(field);
    }
    let crc = strata::internals::format::legacy::crc32(&body);
    let mut m = offset.to_be_bytes().to_vec();
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(&crc.to_be_bytes());
    m.extend_from_slice(&body);
    m
}

/// The CRC stored in a legacy `message` (bytes 12..16, after the offset and the size).
pub(crate) fn stored_crc(message: &[u8]) -> u32 {
    u32::from_be_bytes(message[12..16].try_into().unwrap())
}
