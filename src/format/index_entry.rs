//! Entries of Kafka's `.index` and `.timeindex` files, pure encoding.
//!
//! | file         | entry | fields (big-endian)                                   |
//! |--------------|------:|-------------------------------------------------------|
//! | `.index`     |  8 B  | relativeOffset int32 (offset - base), position int32  |
//! | `.timeindex` | 12 B  | timestamp int64, relativeOffset int32                 |
//!
//! Files have no header and no count: a file preallocated and never trimmed
//! (crash) ends in zeros, so readers stop at the first all-zero entry, except
//! that slot 0 may be all-zero when slot 1 is not (a real entry for the
//! segment's first offset at position 0).

/// Size of an offset-index entry.
pub const OFFSET_ENTRY_SIZE: usize = 8;
/// Size of a time-index entry.
pub const TIME_ENTRY_SIZE: usize = 12;

/// Encodes an offset-index entry.
#[must_use]
pub fn encode_offset_entry(relative_offset: i32, position: i32) -> [u8; OFFSET_ENTRY_SIZE] {
    let mut e = [0u8; OFFSET_ENTRY_SIZE];
    let (a, b) = e.split_at_mut(4);
    a.copy_from_slice(&relative_offset.to_be_bytes());
    b.copy_from_slice(&position.to_be_bytes());
    e
}

/// Decodes an offset-index entry: `(relative offset, position)`.
#[must_use]
pub fn decode_offset_entry(e: [u8; OFFSET_ENTRY_SIZE]) -> (i32, i32) {
    let [a, b, c, d, w, x, y, z] = e;
    (i32::from_be_bytes([a, b, c, d]), i32::from_be_bytes([w, x, y, z]))
}

/// Encodes a time-index entry.
#[must_use]
pub fn encode_time_entry(timestamp: i64, relative_offset: i32) -> [u8; TIME_ENTRY_SIZE] {
    let mut e = [0u8; TIME_ENTRY_SIZE];
    let (a, b) = e.split_at_mut(8);
    a.copy_from_slice(&timestamp.to_be_bytes());
    b.copy_from_slice(&relative_offset.to_be_bytes());
    e
}

/// Decodes a time-index entry: `(timestamp, relative offset)`.
#[must_use]
pub fn decode_time_entry(e: [u8; TIME_ENTRY_SIZE]) -> (i64, i32) {
    let [a, b, c, d, e4, f, g, h, w, x, y, z] = e;
    (i64::from_be_bytes([a, b, c, d, e4, f, g, h]), i32::from_be_bytes([w, x, y, z]))
}

/// Number of meaningful entries in an index file's bytes: whole entries up to
/// the first all-zero one (see the module doc for slot 0).
#[must_use]
pub fn valid_entries(data: &[u8], entry_size: usize) -> usize {
    let mut chunks = data.chunks_exact(entry_size.max(1));
    let n = chunks.len();
    let is_zero = |c: &[u8]| c.iter().all(|&b| b == 0);
    let second_nonzero = data.get(entry_size..2 * entry_size).is_some_and(|c| !is_zero(c));
    chunks
        .by_ref()
        .enumerate()
        .find(|&(i, c)| is_zero(c) && !(i == 0 && second_nonzero))
        .map_or(n, |(i, _)| i)
}

/// Offset-index entries of `data` as absolute `(offset, position)`.
#[must_use]
pub fn offset_entries(data: &[u8], base_offset: i64) -> Vec<(i64, i32)> {
    let n = valid_entries(data, OFFSET_ENTRY_SIZE);
    data.chunks_exact(OFFSET_ENTRY_SIZE)
        .take(n)
        .filter_map(|c| c.try_into().ok())
        .map(|e| {
            let (rel, pos) = decode_offset_entry(e);
            (base_offset.wrapping_add(i64::from(rel)), pos)
        })
        .collect()
}

/// Time-index entries of `data` as absolute `(timestamp, offset)`.
#[must_use]
pub fn time_entries(data: &[u8], base_offset: i64) -> Vec<(i64, i64)> {
    let n = valid_entries(data, TIME_ENTRY_SIZE);
    data.chunks_exact(TIME_ENTRY_SIZE)
        .take(n)
        .filter_map(|c| c.try_into().ok())
        .map(|e| {
            let (ts, rel) = decode_time_entry(e);
            (ts, base_offset.wrapping_add(i64::from(rel)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_entry_bytes_are_big_endian() {
        assert_eq!(encode_offset_entry(5, 4100), [0, 0, 0, 5, 0, 0, 0x10, 0x04]);
        assert_eq!(decode_offset_entry(encode_offset_entry(-7, 9)), (-7, 9));
    }

    #[test]
    fn zero_tail_ends_the_entries_but_a_real_first_entry_survives() {
        let mut data = Vec::new();
        data.extend_from_slice(&encode_offset_entry(0, 0));
        data.extend_from_slice(&encode_offset_entry(3, 200));
        data.extend_from_slice(&[0u8; 16]);
        assert_eq!(offset_entries(&data, 10), vec![(10, 0), (13, 200)]);
        assert_eq!(valid_entries(&[0u8; 24], 8), 0);
    }
}
