//! Kafka's default partitioner (`strata::internals::store::partitioner`): the Java client's murmur2 test
//! vectors, agreement with kafka-python's `murmur2` and `DefaultPartitioner` on random keys, and the
//! sticky partitioner's rules.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use strata::internals::store::partitioner::{
    StickyPartitioner, murmur2, partition_for_key, to_positive,
};

/// `UtilsTest.testMurmur2` in apache/kafka (clients/src/test/java/org/apache/kafka/common/utils).
const JAVA_VECTORS: [(&[u8], i32); 6] = [
    (b"21", -973_932_308),
    (b"foobar", -790_332_482),
    (b"a-little-bit-long-string", -985_981_536),
    (b"a-little-bit-longer-string", -1_486_304_829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
    (b"abc", 479_470_107),
];

#[test]
fn murmur2_matches_kafka_utils_test_vectors() {
    for (key, expected) in JAVA_VECTORS {
        assert_eq!(murmur2(key), expected, "murmur2({:?})", String::from_utf8_lossy(key));
    }
}

#[test]
fn partition_for_key_is_to_positive_modulo() {
    // kafka-storage.md §8.5's worked example.
    assert_eq!(to_positive(-790_332_482), 1_357_151_166);
    assert_eq!(partition_for_key(b"foobar", 3), 0);
    // toPositive is a mask, not abs: i32::MIN maps to 0, -1 to i32::MAX.
    assert_eq!(to_positive(i32::MIN), 0);
    assert_eq!(to_positive(-1), i32::MAX);
    for (key, hash) in JAVA_VECTORS {
        for n in 1..=64 {
            let p = partition_for_key(key, n);
            assert_eq!(p, (hash & 0x7fff_ffff) % n);
            assert!((0..n).contains(&p));
        }
    }
    assert_eq!(partition_for_key(b"x", 0), 0, "no partitions: 0, not a panic");
}

#[test]
fn murmur2_tail_lengths_differ() {
    // Each tail length (0-3 trailing bytes) takes its own path through the fall-through switch.
    let hashes: BTreeSet<i32> = (0..=8).map(|n| murmur2(&b"abcdefgh"[..n])).collect();
    assert_eq!(hashes.len(), 9);
}

/// kafka-python 3.x: `murmur2` is `kafka.partitioner.default.murmur2` (it returns the unsigned
/// 32-bit value); `DefaultPartitioner.partition` picks `(murmur2(key) & 0x7fffffff) % n` from
/// the sorted partition list. The script reads `xHEXKEY PARTITIONS` lines and prints
/// `UNSIGNED_HASH PARTITION` lines.
const PYTHON: &str = r#"
import sys
from kafka.partitioner.default import DefaultPartitioner, murmur2

class Cluster:
    def __init__(self, n):
        self.n = n
    def topics(self):
        return {"t"}
    def partitions_for_topic(self, topic):
        return set(range(self.n))
    def available_partitions_for_topic(self, topic):
        return set(range(self.n))

partitioner = DefaultPartitioner()
out = []
for line in sys.stdin:
    hexkey, n = line.split()
    key = bytes.fromhex(hexkey[1:])
    p = partitioner.partition("t", key, key, None, None, Cluster(int(n)))
    out.append("%d %d" % (murmur2(key), p))
sys.stdout.write("\n".join(out) + "\n")
"#;

#[test]
fn murmur2_and_partition_agree_with_kafka_python() {
    let probe = Command::new("python3")
        .args(["-c", "from kafka.partitioner.default import murmur2, DefaultPartitioner"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            common::skip(&format!(
                "python3 cannot import kafka.partitioner.default (pip install kafka-python): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return;
        }
        Err(e) => {
            common::skip(&format!("cannot run python3: {e}"));
            return;
        }
    }

    let mut rng = common::Rng(0x5eed_2024);
    let mut cases: Vec<(Vec<u8>, i32)> = Vec::new();
    for i in 0..500 {
        // Every length 0..=80 (all tail cases), arbitrary bytes, some printable keys.
        let len = usize::try_from(rng.below(81)).unwrap();
        let key: Vec<u8> = if i % 3 == 0 {
            (0..len).map(|_| b'a' + u8::try_from(rng.below(26)).unwrap()).collect()
        } else {
            (0..len).map(|_| u8::try_from(rng.below(256)).unwrap()).collect()
        };
        let partitions = i32::try_from(1 + rng.below(200)).unwrap();
        cases.push((key, partitions));
    }
    // Each key is written as `x` + hex so an empty key is still a field; the script strips the `x`.
    let mut input = String::new();
    for (key, n) in &cases {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(input, "x{hex} {n}").unwrap();
    }

    let mut child = Command::new("python3")
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "one python line per key");

    let mut empty_keys = 0;
    for ((key, n), line) in cases.iter().zip(&lines) {
        empty_keys += usize::from(key.is_empty());
        let (hash, partition) = line.split_once(' ').unwrap();
        let py_hash: u32 = hash.parse().unwrap();
        let py_partition: i32 = partition.parse().unwrap();
        let ours = murmur2(key);
        assert_eq!(ours.cast_unsigned(), py_hash, "murmur2 of {key:02x?}");
        assert_eq!(partition_for_key(key, *n), py_partition, "partition of {key:02x?} over {n}");
    }
    assert!(empty_keys > 0, "the random keys include the empty key");
}

#[test]
fn sticky_partitioner_sticks_until_its_batch_completes() {
    let mut p = StickyPartitioner::with_seed(5, 42);
    assert_eq!(p.partitions(), 5);
    let first = p.partition();
    assert!((0..5).contains(&first));
    // Other partitions' batches do not move it.
    for other in (0..5).filter(|&o| o != first) {
        assert_eq!(p.batch_complete(other), first);
    }
    let second = p.batch_complete(first);
    assert_ne!(second, first, "a completed batch moves it to another partition");
    assert_eq!(p.partition(), second);
}

#[test]
fn sticky_partitioner_spreads_and_is_reproducible() {
    let run = |seed| {
        let mut p = StickyPartitioner::with_seed(4, seed);
        let mut seen = vec![p.partition()];
        for _ in 0..400 {
            let cur = p.partition();
            seen.push(p.batch_complete(cur));
        }
        seen
    };
    let a = run(7);
    assert_eq!(a, run(7), "the same seed gives the same choices");
    assert!(a.windows(2).all(|w| w[0] != w[1]), "never the same partition twice in a row");
    for part in 0..4 {
        let count = a.iter().filter(|&&x| x == part).count();
        assert!(count > 60, "partition {part} chosen {count} times of {}", a.len());
    }
    assert_ne!(run(7), run(8), "different seeds differ");
}

#[test]
fn sticky_partitioner_edge_cases() {
    let mut one = StickyPartitioner::with_seed(1, 0);
    assert_eq!(one.partition(), 0);
    assert_eq!(one.batch_complete(0), 0, "one partition: stays");
    let zero = StickyPartitioner::new(0);
    assert_eq!(zero.partitions(), 1, "below 1 is taken as 1");
    assert_eq!(zero.partition(), 0);

    let mut grow = StickyPartitioner::with_seed(3, 9);
    grow.set_partitions(10);
    assert!((0..10).contains(&grow.partition()));
    let mut shrink = StickyPartitioner::with_seed(10, 3);
    for _ in 0..20 {
        shrink.set_partitions(10);
        shrink.set_partitions(2);
        assert!((0..2).contains(&shrink.partition()));
        let cur = shrink.partition();
        shrink.batch_complete(cur);
    }
}
