//! The one workload every engine runs: fixed-size records laid out back to
//! back in memory, `KEY_BYTES` of key then `VALUE_BYTES` of value.

use bytes::Bytes;

pub const KEY_BYTES: usize = 8;
pub const VALUE_BYTES: usize = 100;
/// Payload per record: key + value. Throughput is reported in these bytes.
pub const RECORD_BYTES: usize = KEY_BYTES + VALUE_BYTES;
pub const RECORDS_PER_BATCH: usize = 100;
/// The durable workload (one fsync per batch) appends this many batches.
pub const DURABLE_BATCHES: usize = 1_000;
pub const RANDOM_READS: usize = 10_000;

/// xorshift64, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub struct Workload {
    /// `records * RECORD_BYTES` bytes: record `i` is `data[i * RECORD_BYTES..][..RECORD_BYTES]`.
    pub data: Bytes,
    pub records: usize,
    /// Offsets for the random point reads, the same for every engine.
    pub random_offsets: Vec<u64>,
    /// Sum of [`touch`] over every record: what a full scan must return.
    pub scan_sum: u64,
    /// Sum of the first value byte at each random offset.
    pub random_sum: u64,
}

/// What a full scan computes from each record: both lengths and the last
/// key byte, first and last value bytes, so every key and value is reached.
#[inline]
pub fn touch(key: &[u8], value: &[u8]) -> u64 {
    let k = key.last().copied().unwrap_or(0);
    let v0 = value.first().copied().unwrap_or(0);
    let v1 = value.last().copied().unwrap_or(0);
    (key.len() + value.len()) as u64 + u64::from(k) + u64::from(v0) + u64::from(v1)
}

impl Workload {
    pub fn new(records: usize) -> Self {
        assert!(
            records.is_multiple_of(RECORDS_PER_BATCH),
            "records must be a whole number of batches"
        );
        let mut data = Vec::with_capacity(records * RECORD_BYTES);
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        for i in 0..records {
            // 8-byte key, unique per record: the offset, big-endian.
            data.extend_from_slice(&(i as u64).to_be_bytes());
            // Incompressible value, so no engine gains from its default codec.
            let mut left = VALUE_BYTES;
            while left > 0 {
                let word = rng.next().to_le_bytes();
                let n = left.min(8);
                data.extend_from_slice(&word[..n]);
                left -= n;
            }
        }
        let data = Bytes::from(data);
        let scan_sum = (0..records)
            .map(|i| {
                let (k, v) = data[i * RECORD_BYTES..(i + 1) * RECORD_BYTES].split_at(KEY_BYTES);
                touch(k, v)
            })
            .sum::<u64>();
        let mut rng = Rng(42);
        let random_offsets: Vec<u64> =
            (0..RANDOM_READS).map(|_| rng.next() % records as u64).collect();
        let random_sum = random_offsets
            .iter()
            .map(|&o| u64::from(data[o as usize * RECORD_BYTES + KEY_BYTES]))
            .sum();
        Workload { data, records, random_offsets, scan_sum, random_sum }
    }

    pub fn batches(&self) -> usize {
        self.records / RECORDS_PER_BATCH
    }

    pub fn payload_bytes(&self) -> usize {
        self.records * RECORD_BYTES
    }

    /// Key and value of record `i`.
    pub fn record(&self, i: usize) -> (&[u8], &[u8]) {
        let r = &self.data[i * RECORD_BYTES..(i + 1) * RECORD_BYTES];
        r.split_at(KEY_BYTES)
    }

    /// Key + value of record `i` as one slice.
    pub fn record_bytes(&self, i: usize) -> &[u8] {
        &self.data[i * RECORD_BYTES..(i + 1) * RECORD_BYTES]
    }

    /// Record indexes in batch `b`.
    pub fn batch_range(&self, b: usize) -> std::ops::Range<usize> {
        b * RECORDS_PER_BATCH..(b + 1) * RECORDS_PER_BATCH
    }

    /// All payload bytes of batch `b`, contiguous.
    pub fn batch_bytes(&self, b: usize) -> &[u8] {
        let r = self.batch_range(b);
        &self.data[r.start * RECORD_BYTES..r.end * RECORD_BYTES]
    }
}
