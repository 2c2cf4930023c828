//! The cleaner's key map: key -> latest offset, in a fixed memory budget
//! (Kafka's `SkimpyOffsetMap`).
//!
//! An open-addressing table of 24-byte slots: a 128-bit hash of the key and
//! the offset. Keys are compared by hash only — two keys colliding in 128 bits
//! would be merged, a risk Kafka accepts with MD5 and we accept with two
//! independently seeded 64-bit lanes of a wyhash-style multiply-mix hash
//! (see [`hash128`]). The hash is keyed by secrets chosen at random once per
//! process: with the public constants it once used, keys crafted to collide
//! made compaction delete a live record of another key. The table counts as full at `slots × load_factor`
//! entries (`log.cleaner.io.buffer.load.factor`); a cleaning pass stops
//! mapping there and the rest waits for the next pass.
//!
//! Speed (issue 12): a pass that can hold at most `n` distinct keys (its
//! dirty section spans `n` offsets) uses only the first `2n` slots of the
//! table ([`OffsetMap::clear_for`]), so a small dirty section neither faults
//! in nor clears the whole budget, and its probes stay in a table the caches
//! and the TLB can hold. The outcome is the same as with the whole table: a
//! map that cannot fill before the section ends maps the same keys.

/// Bytes per slot: 16 of hash, 8 of offset.
pub const SLOT_BYTES: usize = 24;

/// The fewest slots a pass uses (96 KiB) when the budget allows.
const MIN_ACTIVE_SLOTS: usize = 4096;

/// A fixed-capacity map from key hashes to the latest offset seen.
#[derive(Debug)]
pub struct OffsetMap {
    /// `[hash_hi, hash_lo, offset]`; a slot is empty when both hash words are
    /// 0. Allocated zeroed at the full budget: pages never used this pass are
    /// never touched.
    slots: Vec<[u64; 3]>,
    /// Slots in use this pass: a prefix of `slots`.
    active: usize,
    /// Entries at which the active table counts as full.
    active_max_entries: usize,
    /// Entries at which the whole table counts as full.
    max_entries: usize,
    entries: usize,
    /// Slots the last pass may have written (cleared by the next pass).
    dirty: usize,
    latest_offset: i64,
    load_factor: f64,
}

/// The entries `slots` slots hold at `load_factor` (at least one, and never
/// every slot, so a probe always ends at an empty one).
fn entries_for(slots: usize, load_factor: f64) -> usize {
    ((slots as f64 * load_factor) as usize).clamp(1, slots.saturating_sub(1).max(1))
}

impl OffsetMap {
    /// A map using about `memory_bytes`, full at `load_factor` of its slots.
    /// At least two slots, so one key always fits.
    #[must_use]
    pub fn new(memory_bytes: u64, load_factor: f64) -> Self {
        let slots = usize::try_from(memory_bytes / SLOT_BYTES as u64).unwrap_or(usize::MAX).max(2);
        let max_entries = entries_for(slots, load_factor);
        OffsetMap {
            slots: vec![[0; 3]; slots],
            active: slots,
            active_max_entries: max_entries,
            max_entries,
            entries: 0,
            dirty: 0,
            latest_offset: -1,
            load_factor,
        }
    }

    /// Empties the map for the next pass, keeping its memory.
    pub fn clear(&mut self) {
        self.clear_for(u64::MAX);
    }

    /// Empties the map for a pass that will put at most `max_keys` distinct
    /// keys, and uses only as much of the table as that needs (twice as many
    /// slots, at most the whole table). Putting more keys than promised is
    /// safe: the map then reports full early, as a smaller budget would.
    pub fn clear_for(&mut self, max_keys: u64) {
        if let Some(used) = self.slots.get_mut(..self.dirty) {
            used.fill([0; 3]);
        }
        let total = self.slots.len();
        let wanted =
            usize::try_from(max_keys.saturating_mul(2)).unwrap_or(usize::MAX).max(MIN_ACTIVE_SLOTS);
        self.active = wanted.min(total);
        self.active_max_entries = if self.active == total {
            self.max_entries
        } else {
            entries_for(self.active, self.load_factor).min(self.max_entries)
        };
        self.entries = 0;
        self.dirty = 0;
        self.latest_offset = -1;
    }

    /// The slot where the probe for `hi` starts.
    #[inline]
    fn home(&self, hi: u64) -> usize {
        // Lemire's multiply-shift: a uniform index in [0, n) without a division.
        ((u128::from(hi) * self.active as u128) >> 64) as usize
    }

    /// Starts loading the slot where `h`'s probe begins, so that the
    /// `put_hashed`/`get_hashed` that follows does not wait for memory. The
    /// table is far larger than the caches: hashing a batch's keys and
    /// prefetching their slots first lets the cache misses of a whole batch
    /// overlap instead of paying them one by one.
    #[inline]
    pub fn prefetch(&self, h: KeyHash) {
        if let Some(slot) = self.slots.get(self.home(h.0)) {
            crate::io::hint::prefetch(slot);
        }
    }

    /// Finds the slot of `h` in the active table, or the empty slot where it
    /// would go.
    fn probe(&self, (hi, lo): (u64, u64)) -> usize {
        let n = self.active;
        let mut i = self.home(hi);
        loop {
            match self.slots.get(i) {
                Some(&[a, b, _]) if (a == hi && b == lo) || (a == 0 && b == 0) => return i,
                Some(_) => {
                    i += 1;
                    if i >= n {
                        i = 0;
                    }
                }
                None => return 0,
            }
        }
    }

    /// Records `offset` as the latest for `key`. Returns `false`, changing
    /// nothing, when the key is new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_hashed(KeyHash::of(key), offset)
    }

    /// [`put`](Self::put) of a key hashed with [`KeyHash::of`].
    pub fn put_hashed(&mut self, KeyHash(hi, lo): KeyHash, offset: i64) -> bool {
        let h = (hi, lo);
        let i = self.probe(h);
        let Some(slot) = self.slots.get_mut(i) else { return false };
        let new = slot[0] == 0 && slot[1] == 0;
        if new {
            if self.entries >= self.active_max_entries {
                return false;
            }
            self.entries += 1;
            self.dirty = self.active;
        }
        *slot = [h.0, h.1, offset as u64];
        self.latest_offset = self.latest_offset.max(offset);
        true
    }

    /// The latest offset of `key`, if mapped.
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.get_hashed(KeyHash::of(key))
    }

    /// [`get`](Self::get) of a key hashed with [`KeyHash::of`].
    #[must_use]
    pub fn get_hashed(&self, KeyHash(hi, lo): KeyHash) -> Option<i64> {
        let h = (hi, lo);
        let slot = self.slots.get(self.probe(h))?;
        (slot[0] == h.0 && slot[1] == h.1).then_some(slot[2] as i64)
    }

    /// Whether no new key fits.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.entries >= self.active_max_entries
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

    /// Most keys this map takes (its whole budget).
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

/// A key's 128-bit hash, computed once for a prefetch and the probe after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(u64, u64);

impl KeyHash {
    /// The hash of `key`.
    #[inline]
    #[must_use]
    pub fn of(key: &[u8]) -> Self {
        let (hi, lo) = hash128(key);
        KeyHash(hi, lo)
    }
}

/// The hash's key, chosen at random once per process ([`hash_key`]).
///
/// With constants in the source (wyhash's published secrets), a word of the
/// key equal to a known secret zeroes a multiply and drops everything hashed
/// before it, so keys differing only there collided in all 128 bits at no
/// cost, and compaction deleted a live record of one for the other. Kafka's
/// MD5 makes such keys expensive to find; random secrets make them unknown.
#[derive(Debug)]
struct HashKey {
    /// wyhash's four secrets (odd, as the published ones are).
    secret: [u64; 4],
    /// Seeds of the two lanes.
    seeds: [u64; 2],
    /// What each lane XORs into its first word before the final multiply.
    /// They differ so that no single word value zeroes the product in both
    /// lanes: a key whose word equals one lane's mask loses its other word in
    /// that lane only, and the other lane still tells such keys apart.
    masks: [u64; 2],
}

/// The process's [`HashKey`]: the standard library's `RandomState` (SipHash
/// keyed from the operating system's random source) hashes 0..8. The map
/// lives in memory only, so the key never needs to outlive the process.
fn hash_key() -> &'static HashKey {
    static KEY: std::sync::OnceLock<HashKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let w = |i: u64| state.hash_one(i) | 1;
        let (m0, mut m1) = (w(6), w(7));
        if m1 == m0 {
            m1 = !m0 | 1;
        }
        HashKey { secret: [w(0), w(1), w(2), w(3)], seeds: [w(4), w(5)], masks: [m0, m1] }
    })
}

/// The 128-bit product of `a` and `b`, folded to 64 bits (wyhash's `wymix`).
#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn read8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

#[inline]
fn read4(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u64::from(u32::from_le_bytes(w))
}

/// The key's two input words per 16-byte step, as wyhash reads them: short
/// keys in one step (overlapping reads cover 4..=16 bytes, three bytes spread
/// cover 1..=3), longer keys in 16-byte steps with the last 16 bytes read again.
#[inline]
fn words(key: &[u8]) -> (u64, u64) {
    let n = key.len();
    if n >= 4 {
        let q = (n >> 3) << 2;
        let a = (read4(key, 0) << 32) | read4(key, q);
        let b = (read4(key, n - 4) << 32) | read4(key, n - 4 - q);
        (a, b)
    } else if n > 0 {
        let at = |i: usize| u64::from(key.get(i).copied().unwrap_or(0));
        ((at(0) << 16) | (at(n >> 1) << 8) | at(n - 1), 0)
    } else {
        (0, 0)
    }
}

/// One lane of the key's hash: wyhash (final 4) of `key` under `seed`, its
/// first final word masked with `mask`.
#[inline]
fn lane(key: &[u8], seed: u64, mask: u64, secret: &[u64; 4]) -> u64 {
    let n = key.len();
    let mut seed = seed ^ mix(seed ^ secret[0], secret[1]);
    // Per-lane secrets for the long-key loop: a word equal to a shared secret
    // zeroes wyhash's multiply and drops everything hashed before it, so with
    // one set of secrets for both lanes, keys built around that word collided
    // in all 128 bits. With a salt per lane, such a word can zero one lane only.
    let salt = mask.rotate_left(29);
    let (k1, k2, k3) = (secret[1] ^ salt, secret[2] ^ salt, secret[3] ^ salt);
    let (a, b) = if n <= 16 {
        words(key)
    } else {
        let mut i = n;
        let mut at = 0;
        if i > 48 {
            let (mut s1, mut s2) = (seed, seed);
            while i > 48 {
                seed = mix(read8(key, at) ^ k1, read8(key, at + 8) ^ seed);
                s1 = mix(read8(key, at + 16) ^ k2, read8(key, at + 24) ^ s1);
                s2 = mix(read8(key, at + 32) ^ k3, read8(key, at + 40) ^ s2);
                at += 48;
                i -= 48;
            }
            seed ^= s1 ^ s2;
        }
        while i > 16 {
            seed = mix(read8(key, at) ^ k1, read8(key, at + 8) ^ seed);
            i -= 16;
            at += 16;
        }
        (read8(key, n - 16), read8(key, n - 8))
    };
    let r = u128::from(a ^ mask) * u128::from(b ^ seed);
    mix((r as u64) ^ secret[0] ^ n as u64, ((r >> 64) as u64) ^ secret[1])
}

/// The key's 128-bit hash: two wyhash lanes under different seeds (one read
/// of a short key serves both), keyed by the process's random `HashKey`:
/// the same key hashes alike within a process, not across processes. Never
/// all zero: that marks an empty slot.
#[must_use]
pub fn hash128(key: &[u8]) -> (u64, u64) {
    let HashKey { secret, seeds, masks } = hash_key();
    let (hi, lo) = if key.len() <= 16 {
        // Both lanes over the same two words: the key is read once.
        let (a, b) = words(key);
        let n = key.len() as u64;
        let one = |seed: u64, mask: u64| {
            let seed = seed ^ mix(seed ^ secret[0], secret[1]);
            let r = u128::from(a ^ mask) * u128::from(b ^ seed);
            mix((r as u64) ^ secret[0] ^ n, ((r >> 64) as u64) ^ secret[1])
        };
        (one(seeds[0], masks[0]), one(seeds[1], masks[1]))
    } else {
        (lane(key, seeds[0], masks[0], secret), lane(key, seeds[1], masks[1], secret))
    };
    if hi == 0 && lo == 0 { (1, 0) } else { (hi, lo) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_built_around_a_secret_word_do_not_collide_in_both_lanes() {
        // 8 bytes equal to the loop's secret, then words that differ, then a shared tail: this
        // zeroed the multiply of both lanes and made the two keys one (a reviewer's finding).
        let HashKey { secret, masks, .. } = hash_key();
        for word in [
            secret[1],
            masks[0],
            masks[1],
            secret[1] ^ masks[0].rotate_left(29),
            secret[2] ^ masks[1].rotate_left(29),
        ] {
            let key = |middle: &[u8; 8]| {
                let mut k = word.to_le_bytes().to_vec();
                k.extend_from_slice(middle);
                k.extend_from_slice(b"same-tail-16-byt");
                k
            };
            assert_ne!(hash128(&key(b"AAAAAAAA")), hash128(&key(b"BBBBBBBB")), "word {word:x}");
        }
    }

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

    #[test]
    fn a_pass_sized_for_few_keys_touches_only_its_share_of_the_table() {
        let mut m = OffsetMap::new(24 << 20, 0.9);
        m.clear_for(100);
        assert_eq!(m.active, MIN_ACTIVE_SLOTS);
        for k in 0..100i64 {
            assert!(m.put(format!("k{k}").as_bytes(), k));
        }
        assert!(
            m.slots.get(MIN_ACTIVE_SLOTS..).is_some_and(|rest| rest.iter().all(|s| *s == [0; 3]))
        );
        assert_eq!(m.capacity(), entries_for(1 << 20, 0.9), "capacity stays the whole budget");
        m.clear_for(u64::MAX);
        assert_eq!(m.active, 1 << 20);
        assert!(
            m.is_empty() && m.get(b"k7").is_none(),
            "the next pass sees none of the last one's keys"
        );
    }

    #[test]
    fn more_keys_than_promised_fill_the_map_early_and_never_spin() {
        let mut m = OffsetMap::new(24 << 20, 0.9);
        m.clear_for(10);
        let mut k = 0i64;
        while m.put(format!("k{k}").as_bytes(), k) {
            k += 1;
        }
        assert_eq!(k as usize, entries_for(MIN_ACTIVE_SLOTS, 0.9));
        assert!(m.is_full());
        assert!(m.put(b"k0", 99), "a known key still updates");
        assert_eq!((m.get(b"k0"), m.get(b"k1"), m.get(b"new")), (Some(99), Some(1), None));
    }

    #[test]
    fn the_hash_tells_apart_a_million_keys_of_every_length_and_shape() {
        let mut seen = std::collections::HashSet::new();
        let mut n = 0;
        for len in 0..=64usize {
            // Every key of length 0 and 1, 16,000 of each longer length.
            let count = if len < 2 { 1u64 << (8 * len) } else { 16_000 };
            for i in 0..count {
                let mut key = vec![0u8; len];
                for (j, b) in key.iter_mut().enumerate() {
                    *b = (i >> (8 * (j % 8))) as u8 ^ (j as u8);
                }
                // Keys with the same bytes but different lengths stay apart too.
                assert!(seen.insert(hash128(&key)), "collision at len {len}, i {i}");
                n += 1;
            }
        }
        assert!(n > 1_000_000, "{n} keys");
        for i in 0..100_000u64 {
            assert!(seen.insert(hash128(format!("key-{i:06}").as_bytes())));
        }
    }

    #[test]
    fn a_word_equal_to_a_lane_constant_does_not_merge_keys() {
        // Such a word zeroes one lane's final product, so that lane no longer
        // sees the key's other word; the other lane must.
        for &mask in &hash_key().masks {
            let w = mask.to_le_bytes();
            // 8-byte keys read as (first 4 bytes << 32 | last 4 bytes) twice.
            let mut a = [w[4], w[5], w[6], w[7], w[0], w[1], w[2], w[3]].to_vec();
            let mut b = a.clone();
            a.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
            b.extend_from_slice(&[8, 7, 6, 5, 4, 3, 2, 1]);
            assert_ne!(hash128(&a), hash128(&b));
        }
    }

    #[test]
    fn the_hash_key_is_random_and_its_lane_masks_differ() {
        let k = hash_key();
        assert_ne!(k.masks[0], k.masks[1]);
        // The published wyhash secrets, which keyed the hash before.
        assert_ne!(k.secret[0], 0x2d35_8dcc_aa6c_78a5);
        assert!(k.secret.iter().chain(&k.seeds).chain(&k.masks).all(|w| w & 1 == 1));
    }

    proptest! {
        #[test]
        fn a_sized_pass_matches_a_hashmap(
            promised in 1u64..5000,
            ops in proptest::collection::vec((0u16..3000, 0i64..1_000_000), 0..400),
        ) {
            let mut m = OffsetMap::new(24 << 16, 0.9);
            m.put(b"stale", 1);
            m.clear_for(promised);
            let mut model = std::collections::HashMap::new();
            for (k, off) in ops {
                let key = k.to_be_bytes();
                if m.put(&key, off) {
                    model.insert(k, off);
                } else {
                    prop_assert!(m.is_full() && !model.contains_key(&k));
                }
            }
            for k in 0u16..3100 {
                prop_assert_eq!(m.get(&k.to_be_bytes()), model.get(&k).copied());
            }
            prop_assert_eq!(m.get(b"stale"), None);
        }

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
