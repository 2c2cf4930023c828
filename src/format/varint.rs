//! Zig-zag varints (int32) and varlongs (int64), Kafka's `ByteUtils`.
//!
//! Encoding: zig-zag (`(n << 1) ^ (n >> 31)`), then unsigned LEB128 — seven
//! data bits per byte, least significant group first, high bit set on every
//! byte but the last. A varint takes at most 5 bytes, a varlong at most 10; a
//! longer encoding is an error, never a silent wrap.

use bytes::BufMut;

use super::{FormatError, FormatResult};

/// Longest encoding of a varint (int32).
pub const MAX_VARINT_LEN: usize = 5;
/// Longest encoding of a varlong (int64).
pub const MAX_VARLONG_LEN: usize = 10;

/// Appends the zig-zag varint encoding of `value`.
pub fn put_varint(buf: &mut impl BufMut, value: i32) {
    put_unsigned(buf, u64::from(((value << 1) ^ (value >> 31)).cast_unsigned()));
}

/// Appends the zig-zag varlong encoding of `value`.
pub fn put_varlong(buf: &mut impl BufMut, value: i64) {
    put_unsigned(buf, ((value << 1) ^ (value >> 63)).cast_unsigned());
}

fn put_unsigned(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Bytes the varint encoding of `value` takes.
#[must_use]
pub fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(((value << 1) ^ (value >> 31)).cast_unsigned()))
}

/// Bytes the varlong encoding of `value` takes.
#[must_use]
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(((value << 1) ^ (value >> 63)).cast_unsigned())
}

fn unsigned_len(v: u64) -> usize {
    // One byte per started group of 7 bits, at least one.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a varint from the front of `input`, returning the value and the bytes consumed.
///
/// # Errors
/// [`FormatError::Truncated`] if `input` ends mid-varint,
/// [`FormatError::VarintTooLong`] after 5 bytes with the continuation bit set.
pub fn read_varint(input: &[u8], field: &'static str) -> FormatResult<(i32, usize)> {
    let (raw, used) = read_unsigned(input, field, MAX_VARINT_LEN)?;
    // Five groups carry 35 bits; Kafka keeps the low 32 (it shifts into an int).
    let raw = raw as u32;
    Ok((((raw >> 1) as i32) ^ -((raw & 1) as i32), used))
}

/// Reads a varlong from the front of `input`, returning the value and the bytes consumed.
///
/// # Errors
/// [`FormatError::Truncated`] if `input` ends mid-varlong,
/// [`FormatError::VarintTooLong`] after 10 bytes with the continuation bit set.
pub fn read_varlong(input: &[u8], field: &'static str) -> FormatResult<(i64, usize)> {
    let (raw, used) = read_unsigned(input, field, MAX_VARLONG_LEN)?;
    Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), used))
}

fn read_unsigned(input: &[u8], field: &'static str, max: usize) -> FormatResult<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in input.iter().take(max).enumerate() {
        // Bits past 64 (only possible in a 10th byte) are dropped, as Kafka does.
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32).unwrap_or(0);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if input.len() < max {
        Err(FormatError::Truncated { field, needed: input.len() + 1, available: input.len() })
    } else {
        Err(FormatError::VarintTooLong { field, max_bytes: max })
    }
}

/// Reads an unsigned LEB128 value of one to three bytes at `pos` (below
/// 2^21), the common record lengths and deltas: its raw value and length;
/// `None` when longer or cut short, which sends the record decoder and the
/// append-side walk to their general paths (which also name what is wrong).
#[inline(always)]
pub(crate) fn short_unsigned_at(src: &[u8], pos: usize) -> Option<(u64, usize)> {
    let b0 = u64::from(*src.get(pos)?);
    if b0 < 0x80 {
        return Some((b0, 1));
    }
    let b1 = u64::from(*src.get(pos + 1)?);
    if b1 < 0x80 {
        return Some(((b0 & 0x7f) | (b1 << 7), 2));
    }
    let b2 = u64::from(*src.get(pos + 2)?);
    if b2 < 0x80 {
        return Some(((b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14), 3));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    }

    #[test]
    fn zigzag_examples_match_kafka() {
        assert_eq!(enc32(-1), [0x01]);
        assert_eq!(enc32(0), [0x00]);
        assert_eq!(enc32(1), [0x02]);
        assert_eq!(enc32(8), [0x10]);
        assert_eq!(enc32(63), [0x7e]);
        assert_eq!(enc32(64), [0x80, 0x01]);
        assert_eq!(enc32(i32::MIN).len(), MAX_VARINT_LEN);
    }

    #[test]
    fn sixth_continuation_byte_is_refused() {
        let err = read_varint(&[0xff; 6], "record.length").unwrap_err();
        assert_eq!(err, FormatError::VarintTooLong { field: "record.length", max_bytes: 5 });
    }

    #[test]
    fn varint_cut_short_names_its_field() {
        let err = read_varint(&[0x80, 0x80], "record.keyLength").unwrap_err();
        assert!(matches!(err, FormatError::Truncated { field: "record.keyLength", .. }));
        assert!(read_varlong(&[], "x").is_err());
    }

    proptest! {
        #[test]
        fn varint_round_trips(v in any::<i32>()) {
            let b = enc32(v);
            prop_assert_eq!(b.len(), varint_len(v));
            prop_assert_eq!(read_varint(&b, "v").unwrap(), (v, b.len()));
        }

        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            prop_assert_eq!(b.len(), varlong_len(v));
            prop_assert_eq!(read_varlong(&b, "v").unwrap(), (v, b.len()));
        }

        #[test]
        fn varint_decoding_never_panics(b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = read_varint(&b, "v");
            let _ = read_varlong(&b, "v");
        }
    }
}
