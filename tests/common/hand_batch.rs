//! v2 batches written byte by byte, for tests of what no builder writes: records with
//! negative lengths, offset deltas that break Kafka's rule. Each batch gets its true length
//! and CRC-32C, so the damage a test plants is the only one.

use strata::internals::format::layout;
use strata::internals::format::varint::put_varlong;

/// A field of a hand-written record body: bytes after their length, or a bare varint (a
/// negative length, or a header count).
#[derive(Clone, Copy)]
pub(crate) enum F<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

/// A record (attributes 0, timestamp delta 0) at `offset_delta` whose fields after the offset
/// delta are `fields` as written, framed by its length.
pub(crate) fn record(offset_delta: i64, fields: &[F<'_>]) -> Vec<u8> {
    let mut body = vec![0u8, 0];
    put_varlong(&mut body, offset_delta);
    for f in fields {
        match f {
            F::Bytes(b) => {
                put_varlong(&mut body, i64::try_from(b.len()).expect("short field"));
                body.extend_from_slice(b);
            }
            F::Int(v) => put_varlong(&mut body, *v),
        }
    }
    let mut out = Vec::new();
    put_varlong(&mut out, i64::try_from(body.len()).expect("short record"));
    out.extend_from_slice(&body);
    out
}

/// A v2 batch at `base_offset` of `records` whose header says `lastOffsetDelta` is
/// `last_offset_delta`: CreateTime, base and max timestamps `timestamp`, no producer,
/// uncompressed, with its length and CRC-32C.
pub(crate) fn v2_batch(
    base_offset: i64,
    last_offset_delta: i32,
    timestamp: i64,
    records: &[Vec<u8>],
) -> Vec<u8> {
    let count = i32::try_from(records.len()).expect("few records");
    let mut b = Vec::new();
    b.extend_from_slice(&base_offset.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // batchLength, below
    b.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, below
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes()); // baseTimestamp
    b.extend_from_slice(&timestamp.to_be_bytes()); // maxTimestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    b.extend_from_slice(&count.to_be_bytes()); // recordsCount
    assert_eq!(b.len(), layout::RECORDS);
    for r in records {
        b.extend_from_slice(r);
    }
    let length = i32::try_from(b.len() - layout::LOG_OVERHEAD).expect("small batch");
    b[layout::LENGTH..layout::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&b[layout::ATTRIBUTES..]);
    b[layout::CRC..layout::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}
