//! Client batches for benches and profiles of whole segments (included with
//! `#[path]` by `benches/recovery.rs` and `examples/recovery_profile.rs`):
//! `count` distinct v2 batches of 100 records, each an 8-byte key and a
//! 100-byte value of incompressible-looking bytes, the issue 12 workload.

use bytes::Bytes;
use strata::BatchBuilder;

/// Records per batch.
const PER_BATCH: usize = 100;
const KEY: usize = 8;
const VALUE: usize = 100;

/// `count` distinct batches (xorshift bytes, one fixed seed).
pub(crate) fn client_batches(count: usize) -> Vec<Bytes> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.to_le_bytes()[0]
    };
    (0..count)
        .map(|_| {
            let mut b = BatchBuilder::new(0);
            for delta in 0..PER_BATCH {
                let key: Bytes = (0..KEY).map(|_| next()).collect();
                let value: Bytes = (0..VALUE).map(|_| next()).collect();
                b.append_raw(delta as i32, 1_700_000_000_000, Some(&key), Some(&value), &[])
                    .expect("a batch of small records builds");
            }
            b.build().expect("a batch of small records builds")
        })
        .collect()
}
