//! The record encoders' tests: every encoder's bytes against [`reference_record`], Kafka's
//! layout written field by field.

use super::*;

type Header<'a> = (&'a [u8], Option<&'a [u8]>);

/// Value lengths stepping across every width change of the value's
/// length varint (64, 8,192 bytes) and of the record's length varint
/// (a body of 64, 8,192 and 2^20 bytes), up, down and back and forth,
/// and null among them: each neighbour either resizes the template
/// (`Template::resize`) or makes it anew, and the bytes are Kafka's.
#[test]
fn values_changing_length_across_every_varint_width_encode_to_the_reference_bytes() {
    let bytes = vec![5u8; PLAIN_MAX];
    for key in [None, Some(&b""[..]), Some(&b"8 bytes!"[..]), Some(&bytes[..300])] {
        // What a record holds besides its value (a 0-byte value's body).
        let rest = 5 + key.map_or(0, <[u8]>::len);
        let mut lens = Vec::new();
        for step in [64, 8_192, 64usize.saturating_sub(rest), 8_192 - rest, PLAIN_MAX - rest - 1] {
            let around = (step.saturating_sub(4)..(step + 4).min(PLAIN_MAX)).map(Some);
            lens.extend(around.clone());
            lens.extend(around.clone().rev());
            lens.extend(around.clone().step_by(2).chain(around.clone().skip(1).step_by(2)));
            lens.push(None);
            lens.extend(around.clone().rev().step_by(3));
        }
        let mut buf = RecordsBuf::reuse(Vec::new(), 0, 0);
        let records: Vec<PlainParts<'_>> =
            lens.iter().map(|n| (7, key, n.map(|n| &bytes[..n]), 0)).collect();
        let run = buf.encode_plain_run(0, 3, &records, |r| *r, |_, _| true);
        assert_eq!(run, Run { count: lens.len(), max_timestamp: 7 });
        let mut want = Vec::new();
        for (i, n) in lens.iter().enumerate() {
            let value = n.map(|n| &bytes[..n]);
            want.extend(reference_record(7, 3 + i as i32, key, value, &[]));
        }
        assert!(buf.as_slice() == &want[..], "key {:?}", key.map(<[u8]>::len));
    }
}

#[test]
fn encoded_records_equal_the_byte_by_byte_layout_at_every_varint_width() {
    let long = vec![7u8; 20_000]; // a three-byte length
    let mid = vec![9u8; 100]; // a two-byte length
    // Keys and values of 8 to 16 bytes are copied without memcpy.
    let (eight, thirteen, sixteen) = ([1u8, 2, 3, 4, 5, 6, 7, 8], *b"thirteen byte", [6u8; 16]);
    let keys: [Option<&[u8]>; 7] =
        [None, Some(b""), Some(b"k"), Some(&eight), Some(&thirteen), Some(&sixteen), Some(&mid)];
    let values: [Option<&[u8]>; 6] =
        [None, Some(b"v"), Some(&thirteen), Some(&mid), Some(&long), Some(b"seventeen bytes!!")];
    let header_sets: [&[Header<'_>]; 3] =
        [&[], &[(b"h", None)], &[(b"a", Some(b"x")), (b"", Some(&mid))]];
    for ts_delta in [0, 1, -1, 63, 64, i64::from(i32::MAX) * 3, i64::MIN, i64::MAX] {
        for offset_delta in [0, 63, 64, 8191, 8192, i32::MAX] {
            for key in keys {
                for value in values {
                    for (headers, reserve) in
                        header_sets.iter().flat_map(|h| [(h, 0), (h, 1 << 16)])
                    {
                        let mut buf = RecordsBuf::reuse(Vec::new(), 1, 0); // bytes already in the batch stay
                        // With room reserved, zeroing runs ahead of the records.
                        buf.reserve(reserve);
                        buf.encode_record(
                            ts_delta,
                            offset_delta,
                            key,
                            value,
                            headers.iter().copied(),
                        )
                        .unwrap();
                        let want = reference_record(ts_delta, offset_delta, key, value, headers);
                        buf.encode_record(1, 2, Some(b"k"), None, [].into_iter()).unwrap();
                        let second = reference_record(1, 2, Some(b"k"), None, &[]);
                        let buf = buf.into_vec();
                        assert_eq!(buf.first(), Some(&0));
                        assert_eq!(&buf[1..], [&want[..], &second[..]].concat());
                    }
                }
            }
        }
    }
}

/// A record as Kafka lays it out, written field by field with the general
/// varint writers: the reference the encoders' tests compare with, byte for
/// byte.
pub(crate) fn reference_record(
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], Option<&[u8]>)],
) -> Vec<u8> {
    let mut body = Vec::new();
    body.push(0);
    crate::format::varint::put_varlong(&mut body, ts_delta);
    crate::format::varint::put_varint(&mut body, offset_delta);
    for b in [key, value] {
        match b {
            None => crate::format::varint::put_varint(&mut body, -1),
            Some(b) => {
                crate::format::varint::put_varint(&mut body, b.len() as i32);
                body.extend_from_slice(b);
            }
        }
    }
    crate::format::varint::put_varint(&mut body, headers.len() as i32);
    for (k, v) in headers {
        crate::format::varint::put_varint(&mut body, k.len() as i32);
        body.extend_from_slice(k);
        match v {
            None => crate::format::varint::put_varint(&mut body, -1),
            Some(v) => {
                crate::format::varint::put_varint(&mut body, v.len() as i32);
                body.extend_from_slice(v);
            }
        }
    }
    let mut out = Vec::new();
    crate::format::varint::put_varint(&mut out, body.len() as i32);
    out.extend_from_slice(&body);
    out
}
