//! The cleaner's key map: key -> latest offset, in a fixed memory budget
//! (Kafka's `SkimpyOffsetMap`).
//!
//! An open-addressing table of 24-byte slots: a 128-bit hash of the key and
//! the offset. Keys are compared by hash only — two keys colliding in 128 bits
//! would be merged, a risk Kafka accepts with MD5 and we accept with two
//! independent 64-bit SipHashes. The table counts as full at
//! `slots × load_factor` entries (`log.cleaner.io.buffer.load.factor`); a
//! cleaning pass stops mapping there and the rest waits for the next pass.

use std::hash::{BuildHasher, Hasher};

/// Bytes per slot: 16 of hash, 8 of offset.
pub const SLOT_BYTES: usize = 24;

/// A fixed-capacity map from key hashes to the latest offset seen.
#[derive(Debug)]
pub struct OffsetMap {
    /// `[hash_hi, hash_lo, offset]`; a slot is empty when both hash words are 0.
    slots: Vec<[u64; 3]>,
    max_entries: usize,
    entries: usize,
    latest_offset: i64,
    hasher: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
}

impl OffsetMap {
    /// A map using about `memory_bytes`, full at `load_factor` of its slots.
    /// At least two slots, so one key always fits.
    #[must_use]
    pub fn new(memory_bytes: u64, load_factor: f64) -> Self {
        let slots = usize::try_from(memory_bytes / SLOT_BYTES as u64).unwrap_or(usize::MAX).max(2);
        let max_entries = ((slots as f64 * load_factor) as usize).clamp(1, slots - 1);
        OffsetMap {
            slots: vec![[0; 3]; slots],
            max_entries,
            entries: 0,
            latest_offset: -1,
            hasher: Default::default(),
        }
    }

    /// Empties the map for the next pass, keeping its memory.
    pub fn clear(&mut self) {
        if self.entries == 0 && self.latest_offset == -1 {
            return; // fresh: do not touch (and so commit) its pages
        }
        self.slots.fill([0; 3]);
        self.entries = 0;
        self.latest_offset = -1;
    }

    fn hash(&self, key: &[u8]) -> (u64, u64) {
        let mut a = self.hasher.build_hasher();
        a.write(key);
        let mut b = self.hasher.build_hasher();
        b.write_u64(0x9E37_79B9_7F4A_7C15);
        b.write(key);
        let (hi, lo) = (a.finish(), b.finish());
        // All-zero marks an empty slot.
        if hi == 0 && lo == 0 { (1, 0) } else { (hi, lo) }
    }

    /// Finds the slot of `h`, or the empty slot where it would go.
    fn probe(&self, (hi, lo): (u64, u64)) -> usize {
        let n = self.slots.len();
        let mut i = (hi % n as u64) as usize;
        loop {
            match self.slots.get(i) {
                Some(&[a, b, _]) if (a == hi && b == lo) || (a == 0 && b == 0) => return i,
                Some(_) => i = (i + 1) % n,
                None => return 0,
            }
        }
    }

    /// Records `offset` as the latest for `key`. Returns `false`, changing
    /// nothing, when the key is new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let h = self.hash(key);
        let i = self.probe(h);
        let Some(slot) = self.slots.get_mut(i) else { return false };
        let new = slot[0] == 0 && slot[1] == 0;
        if new {
            if self.entries >= self.max_entries {
                return false;
            }
            self.entries += 1;
        }
        *slot = [h.0, h.1, offset as u64];
        self.latest_offset = self.latest_offset.max(offset);
        true
    }

    /// The latest offset of `key`, if mapped.
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        let h = self.hash(key);
        let slot = self.slots.get(self.probe(h))?;
        (slot[0] == h.0 && slot[1] == h.1).then_some(slot[2] as i64)
    }

    /// Whether no new key fits.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    /// Keys mapped.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether nothing is mapped.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Most keys this map takes.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.max_entries
    }

    /// The last offset the mapping pass covered.
    #[must_use]
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Sets the last offset the pass covered (past gaps and keyless records).
    pub fn set_latest_offset(&mut self, offset: i64) {
        self.latest_offset = offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn later_offsets_overwrite_and_unknown_keys_are_absent() {
        let mut m = OffsetMap::new(24 * 100, 0.9);
        assert!(m.put(b"a", 1) && m.put(b"b", 2) && m.put(b"a", 7));
        assert_eq!((m.get(b"a"), m.get(b"b"), m.get(b"c")), (Some(7), Some(2), None));
        assert_eq!((m.len(), m.latest_offset()), (2, 7));
    }

    #[test]
    fn a_full_map_refuses_new_keys_but_updates_known_ones() {
        let mut m = OffsetMap::new(24 * 10, 0.5);
        let mut k = 0;
        while m.put(format!("k{k}").as_bytes(), k) {
            k += 1;
        }
        assert_eq!(m.len(), 5);
        assert!(m.is_full());
        assert!(m.put(b"k0", 99));
        assert_eq!(m.get(b"k0"), Some(99));
        m.clear();
        assert!(m.is_empty() && m.get(b"k0").is_none());
    }

    proptest! {
        #[test]
        fn matches_a_hashmap_while_not_full(ops in proptest::collection::vec((0u8..50, 0i64..1000), 0..200)) {
            let mut m = OffsetMap::new(24 * 128, 0.9);
            let mut model = std::collections::HashMap::new();
            for (k, off) in ops {
                prop_assert!(m.put(&[k], off));
                model.insert(k, off);
            }
            for k in 0u8..60 {
                prop_assert_eq!(m.get(&[k]), model.get(&k).copied());
            }
        }
    }
}
