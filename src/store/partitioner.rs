//! Kafka's default partitioner, so that a record lands in the partition the
//! Java client (`KafkaProducer` with no `partitioner.class`) would pick.
//!
//! The rules (`KafkaProducer.partition`, `BuiltInPartitioner`, `Utils`):
//!
//! 1. A record with an explicit partition goes there (the caller's business).
//! 2. A record with a key goes to
//!    `toPositive(murmur2(keyBytes)) % numPartitions` ([`partition_for_key`]),
//!    where `toPositive(n) = n & 0x7fffffff` (not `abs`) and `numPartitions`
//!    counts **all** partitions of the topic. [`murmur2`] is Kafka's variant
//!    of MurmurHash2 (`Utils.murmur2`).
//! 3. A record without a key is partitioned "stickily" (KIP-480, KIP-794):
//!    the producer keeps sending to one partition until a batch for it is
//!    complete, then picks another ([`StickyPartitioner`]).
//!
//! The keyed rule is exact: the same key bytes and partition count give the
//! same partition as Kafka's Java client, librdkafka's `murmur2_random` and
//! kafka-python's `DefaultPartitioner`. The unkeyed rule is only the same in
//! spirit — Kafka itself makes no promise about which partition unkeyed
//! records land in.

/// Kafka's 32-bit MurmurHash2 of `data` (`org.apache.kafka.common.utils.Utils.murmur2`).
///
/// Seed `0x9747b28c`, `m = 0x5bd1e995`, `r = 24`; the input is read in
/// little-endian 4-byte blocks, the 1–3 trailing bytes are mixed in as
/// MurmurHash2 does (falling through from the third to the first), and the
/// result gets the final `h ^= h >>> 13; h *= m; h ^= h >>> 15`. All
/// arithmetic wraps modulo 2³², as Java's `int` does; the result is that
/// `int`, negative values included.
///
/// ```
/// use strata::internals::store::partitioner::murmur2;
/// // Kafka's UtilsTest.testMurmur2.
/// assert_eq!(murmur2(b"21"), -973_932_308);
/// assert_eq!(murmur2(b"abc"), 479_470_107);
/// ```
#[must_use]
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java's `int length` wraps too; keys longer than 2 GiB do not occur.
    #[allow(clippy::cast_possible_truncation, reason = "Java hashes the int length")]
    let mut h: u32 = SEED ^ (data.len() as u32);

    let mut blocks = data.chunks_exact(4);
    for block in blocks.by_ref() {
        let mut k = u32::from_le_bytes(block.try_into().unwrap_or([0; 4]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The switch with fall-through: case 3 mixes byte 2, then case 2 byte 1,
    // then case 1 byte 0 and the multiplication.
    let tail = blocks.remainder();
    if let Some(&b) = tail.get(2) {
        h ^= u32::from(b) << 16;
    }
    if let Some(&b) = tail.get(1) {
        h ^= u32::from(b) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h.cast_signed()
}

/// Kafka's `Utils.toPositive`: clears the sign bit (`n & 0x7fffffff`), so
/// `i32::MIN` becomes 0 rather than overflowing as `abs` would.
#[must_use]
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's default partitioner gives a record with key `key`
/// on a topic of `partitions` partitions:
/// `toPositive(murmur2(key)) % partitions` (`BuiltInPartitioner.partitionForKey`).
///
/// An empty key is a key (it hashes); only a null key is partitioned
/// stickily. A non-positive `partitions` (which no topic has) gives 0.
///
/// ```
/// use strata::internals::store::partitioner::partition_for_key;
/// // (-790332482 & 0x7fffffff) % 3 = 1357151166 % 3 = 0
/// assert_eq!(partition_for_key(b"foobar", 3), 0);
/// ```
#[must_use]
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    if partitions <= 0 {
        return 0;
    }
    to_positive(murmur2(key)) % partitions
}

/// Sticky partitioning of records without a key, after Kafka's
/// `BuiltInPartitioner` (KIP-480, KIP-794): every unkeyed record goes to the
/// current sticky partition until the caller reports that a batch for that
/// partition is complete ([`batch_complete`](Self::batch_complete)); then a
/// new partition is drawn.
///
/// The draw is **uniformly random among the other partitions** (never the
/// one just used, when there is more than one), from a small xorshift
/// generator: seeded from the clock and process id by [`new`](Self::new), or
/// fixed by [`with_seed`](Self::with_seed) for reproducible runs. Kafka draws
/// among partitions with a leader (all of them, in a store) and may redraw
/// the same partition; avoiding that spreads consecutive batches. Kafka's
/// adaptive mode (weighting by queue size) has no meaning here.
#[derive(Debug, Clone)]
pub struct StickyPartitioner {
    partitions: i32,
    current: i32,
    state: u64,
}

impl StickyPartitioner {
    /// A partitioner over `partitions` partitions (values below 1 are taken
    /// as 1), seeded from the clock and the process id.
    #[must_use]
    pub fn new(partitions: i32) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        #[allow(clippy::cast_possible_truncation, reason = "only mixing bits into a seed")]
        let seed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
        Self::with_seed(partitions, seed)
    }

    /// A partitioner whose choices are fixed by `seed`.
    #[must_use]
    pub fn with_seed(partitions: i32, seed: u64) -> Self {
        let mut p = StickyPartitioner {
            partitions: partitions.max(1),
            current: 0,
            // splitmix64 of the seed: any seed, 0 included, gives a non-zero state.
            state: splitmix64(seed) | 1,
        };
        p.current = p.draw(None);
        p
    }

    /// Number of partitions it chooses among.
    #[must_use]
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The partition of the next unkeyed record.
    #[must_use]
    pub fn partition(&self) -> i32 {
        self.current
    }

    /// Reports that the batch of `partition` is complete (full, or sent). When
    /// that is the sticky partition, a new one is drawn; other partitions'
    /// batches do not move it. Returns the partition for the next record.
    pub fn batch_complete(&mut self, partition: i32) -> i32 {
        if partition == self.current {
            self.current = self.draw(Some(self.current));
        }
        self.current
    }

    /// Updates the partition count (a topic that grew); redraws when the
    /// current partition no longer exists.
    pub fn set_partitions(&mut self, partitions: i32) {
        self.partitions = partitions.max(1);
        if self.current >= self.partitions {
            self.current = self.draw(None);
        }
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64: cheap and good enough to spread batches.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// A uniformly random partition, other than `avoid` when there is a choice.
    fn draw(&mut self, avoid: Option<i32>) -> i32 {
        let n = u64::try_from(self.partitions).unwrap_or(1).max(1);
        match avoid {
            Some(a) if n > 1 => {
                let pick = i32::try_from(self.next_u64() % (n - 1)).unwrap_or(0);
                if pick >= a { pick + 1 } else { pick }
            }
            _ => i32::try_from(self.next_u64() % n).unwrap_or(0),
        }
    }
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
