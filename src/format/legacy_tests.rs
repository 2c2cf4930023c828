//! Tests of [`super`]: legacy (magic 0 and 1) messages and wrappers.

use super::*;

#[test]
fn an_encoded_message_parses_back_with_a_valid_crc() {
    for (magic, lat) in [(0i8, false), (1, false), (1, true)] {
        let m = encode_message(7, magic, lat, 1_234, Some(b"key"), None).unwrap();
        let parsed = Message::parse(&m).unwrap();
        parsed.check_crc(&m).unwrap();
        assert_eq!((parsed.offset, parsed.size, parsed.magic), (7, m.len(), magic));
        assert_eq!(parsed.log_append_time(), lat);
        let buf = Bytes::from(m);
        let r = &records(&parsed, &buf, 1 << 20).unwrap()[0];
        assert_eq!((r.key(), r.value()), (Some(&Bytes::from_static(b"key")), None));
        assert_eq!(r.timestamp(), if magic == 1 { 1_234 } else { NO_TIMESTAMP });
    }
}

/// A rewritten wrapper reads back with the same offsets (gaps kept), keys, values and
/// timestamps, in its magic and codec; v1 CreateTime carries the largest inner timestamp.
#[test]
#[cfg(all(feature = "gzip", feature = "snappy", feature = "lz4"))]
fn an_encoded_wrapper_reads_back_its_records() {
    let kept: Vec<KeptRecord<'_>> = vec![
        (41, 1_010, Some(b"a".as_slice()), Some(b"x".as_slice())),
        (43, 1_030, None, Some(b"y".as_slice())),
        (44, 1_020, Some(b"c".as_slice()), None),
    ];
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        for (magic, lat) in [(0i8, false), (1, false), (1, true)] {
            let w = encode_wrapper(magic, codec, lat, &kept).unwrap();
            let m = Message::parse(&w).unwrap();
            m.check_crc(&w).unwrap();
            assert_eq!(
                (m.offset, m.magic, m.codec_id(), m.log_append_time()),
                (44, magic, codec.id(), lat)
            );
            if magic == 1 {
                assert_eq!(m.timestamp, 1_030, "the largest inner timestamp");
            }
            let buf = Bytes::from(w);
            let got: Vec<_> = records(&m, &buf, 1 << 20)
                .unwrap()
                .iter()
                .map(|r| (r.offset(), r.timestamp(), r.key().cloned(), r.value().cloned()))
                .collect();
            let want: Vec<_> = kept
                .iter()
                .map(|&(o, t, k, v)| {
                    let t = match (magic, lat) {
                        (0, _) => NO_TIMESTAMP,
                        (_, true) => 1_030,
                        _ => t,
                    };
                    (o, t, k.map(Bytes::copy_from_slice), v.map(Bytes::copy_from_slice))
                })
                .collect();
            assert_eq!(got, want, "{codec:?} magic {magic} lat {lat}");
        }
    }
    assert!(encode_wrapper(1, Compression::Gzip, false, &[]).is_err(), "no records");
    assert!(encode_wrapper(1, Compression::Zstd, false, &kept).is_err(), "zstd");
}

/// A magic-0 lz4 wrapper's frame has the header checksum Kafka (and kafka-python's
/// `lz4_encode_old_kafka`) write for magic 0: `0x1A` for FLG 0x60, BD 0x40, where the
/// standard checksum is `0x82`.
#[test]
#[cfg(feature = "lz4")]
fn a_magic_0_lz4_wrapper_has_kafkas_old_header_checksum() {
    let kept: Vec<KeptRecord<'_>> = vec![(3, 0, None, Some(b"v".as_slice()))];
    for (magic, hc) in [(0i8, 0x1A), (1, 0x82)] {
        let w = encode_wrapper(magic, Compression::Lz4, false, &kept).unwrap();
        let m = Message::parse(&w).unwrap();
        let value = &w[m.value.clone().unwrap()];
        assert_eq!(&value[..7], &[0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, hc], "magic {magic}");
    }
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

/// A message as Kafka's `LegacyRecord.write` lays it out.
fn message(offset: i64, magic: i8, attributes: i8, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend_from_slice(&1_000i64.to_be_bytes());
    }
    match key {
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(k) => {
            body.extend_from_slice(&(k.len() as i32).to_be_bytes());
            body.extend_from_slice(k);
        }
    }
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A gzip wrapper at `offset` around `inner` messages.
#[cfg(feature = "gzip")]
fn wrapper(offset: i64, magic: i8, inner: &[u8]) -> Bytes {
    let packed = crate::format::compression::compress(Compression::Gzip, inner, None).unwrap();
    Bytes::from(message(offset, magic, 1, None, &packed))
}

#[cfg(feature = "gzip")]
fn offsets(buf: &Bytes) -> FormatResult<Vec<i64>> {
    let m = Message::parse(buf)?;
    Ok(records(&m, buf, 1 << 20)?.iter().map(RecordRef::offset).collect())
}

#[test]
#[cfg(feature = "gzip")]
fn v1_inner_offsets_are_relative_to_the_wrapper_and_v0_absolute() {
    let inner = [message(0, 1, 0, None, b"a"), message(1, 1, 0, None, b"b")].concat();
    assert_eq!(offsets(&wrapper(41, 1, &inner)).unwrap(), vec![40, 41]);
    // Some librdkafka versions left a produced wrapper's offset at 0: base 0, as Kafka
    // reads it; stored (a broker sets the offset), such an entry ends at offset 0, and
    // its second record would lie past it.
    let one = message(0, 1, 0, None, b"a");
    assert_eq!(offsets(&wrapper(0, 1, &one)).unwrap(), vec![0]);
    assert!(offsets(&wrapper(0, 1, &inner)).is_err());
    let inner = [message(7, 0, 0, None, b"a"), message(9, 0, 0, None, b"b")].concat();
    assert_eq!(offsets(&wrapper(9, 0, &inner)).unwrap(), vec![7, 9]);
}

/// Inner offsets that go back, repeat, or pass the wrapper's own offset
/// (CRCs intact) are refused, not served at offsets the entry does not
/// cover.
#[test]
#[cfg(feature = "gzip")]
fn inner_offsets_that_do_not_increase_up_to_the_wrapper_are_refused() {
    let misplaced = |r: FormatResult<Vec<i64>>| {
        matches!(r, Err(FormatError::InvalidValue { field: "message.offset", reason, .. })
            if reason.starts_with("inner offsets must increase"))
    };
    let v1 = |rel: &[i64]| -> Vec<u8> {
        rel.iter().flat_map(|&o| message(o, 1, 0, None, b"v")).collect()
    };
    let v0 = |abs: &[i64]| -> Vec<u8> {
        abs.iter().flat_map(|&o| message(o, 0, 0, None, b"v")).collect()
    };
    assert!(misplaced(offsets(&wrapper(41, 1, &v1(&[0, 0, 1])))), "v1, repeated");
    assert!(misplaced(offsets(&wrapper(41, 1, &v1(&[0, 2, 1])))), "v1, going back");
    assert!(misplaced(offsets(&wrapper(41, 1, &v1(&[0, 5, 3])))), "v1, past the wrapper");
    assert!(misplaced(offsets(&wrapper(9, 0, &v0(&[7, 12, 9])))), "v0, past the wrapper");
    assert!(misplaced(offsets(&wrapper(9, 0, &v0(&[7, 7, 9])))), "v0, repeated");
    assert_eq!(offsets(&wrapper(5, 0, &v0(&[3, 4]))).unwrap(), vec![3, 4], "v0 below its wrapper");
    assert_eq!(offsets(&wrapper(43, 1, &v1(&[0, 2, 3]))).unwrap(), vec![40, 42, 43], "gaps");
}

#[test]
#[cfg(feature = "gzip")]
fn malformed_wrappers_are_refused() {
    let two = [message(0, 1, 0, None, b"a"), message(5, 1, 0, None, b"b")].concat();
    let below = offsets(&wrapper(3, 1, &two)).unwrap_err();
    assert!(matches!(below, FormatError::InvalidValue { field: "message.offset", .. }));
    assert!(offsets(&wrapper(3, 1, &[])).is_err(), "an empty message set");
    let nested = message(0, 1, 1, None, b"x");
    assert!(offsets(&wrapper(3, 1, &nested)).is_err(), "a compressed inner message");
    let mut bad_inner = message(0, 1, 0, None, b"abc");
    let last = bad_inner.len() - 1;
    bad_inner[last] ^= 1;
    let err = offsets(&wrapper(0, 1, &bad_inner)).unwrap_err();
    assert!(matches!(err, FormatError::LegacyCrcMismatch { .. }), "{err}");
    let zstd = Bytes::from(message(0, 1, 4, None, b"x"));
    assert!(offsets(&zstd).is_err(), "zstd is not a magic 0/1 codec");
    let torn = [message(0, 1, 0, None, b"a"), message(1, 1, 0, None, b"b")].concat();
    let torn = &torn[..torn.len() - 1];
    assert!(matches!(offsets(&wrapper(1, 1, torn)).unwrap_err(), FormatError::Truncated { .. }));
}

#[test]
fn lengths_are_checked_against_the_message() {
    let good = message(3, 0, 0, Some(b"key"), b"value");
    assert!(Message::parse(&good).is_ok());
    let mut long_key = good.clone();
    long_key[18..22].copy_from_slice(&100i32.to_be_bytes());
    assert!(Message::parse(&long_key).is_err());
    let mut short_value = good.clone();
    short_value[25..29].copy_from_slice(&1i32.to_be_bytes());
    assert!(matches!(Message::parse(&short_value).unwrap_err(), FormatError::TrailingBytes { .. }));
    let mut small = good;
    small[8..12].copy_from_slice(&13i32.to_be_bytes());
    assert!(Message::parse(&small).is_err(), "below the v0 overhead of 14");
}

#[test]
fn xxh32_matches_reference_values() {
    // Reference: xxHash32("", 0) and the LZ4 descriptor of Kafka's frames.
    assert_eq!(xxh32(b""), 0x02CC_5D05);
    assert_eq!((xxh32(&[0x60, 0x40]) >> 8) as u8, 0x82);
}
