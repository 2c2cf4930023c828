//! A strata store that writes every feature of Kafka's on-disk format at once, for the tests
//! that hand strata's files to Kafka's own readers and to a real broker
//! (`tests/kafka_state_files.rs`, `tests/broker_to_strata/strata_to_broker.rs`).
//!
//! [`write`] makes five topics in one session of one store on a [`ManualClock`] (so segment.ms
//! rolls and time retention happen without waiting), then closes it cleanly:
//!
//! - `mix` (2 partitions): batches in every codec (none, gzip, snappy, lz4, zstd, rotating per
//!   batch), records with headers (empty and null header values, repeated names), null keys,
//!   null and empty values, CreateTime timestamps; an idempotent producer; two transactional
//!   producers whose transactions are committed and aborted with plain data between them
//!   (control batches); leader epochs raised twice by the embedder (3, then 7); segments rolled
//!   by size (`segment.bytes`) and by time (`segment.ms`, the clock moved 2 h); producer
//!   snapshots at every roll and at the close.
//! - `append-time` (1 partition): `message.timestamp.type=LogAppendTime` and
//!   `compression.type=lz4`: producer batches in other codecs are recompressed and restamped.
//! - `compacted` (1 partition): `cleanup.policy=compact` over keyed records, tombstones, an
//!   idempotent producer whose only batch the cleaner empties (kept as Kafka's empty batch: it
//!   holds the producer's state), transactions committed and aborted (the cleaner drops the
//!   aborted data); cleaned twice, the second time past `delete.retention.ms` of the first
//!   cleaning's tombstones and markers.
//! - `retained` (1 partition): segments rolled by time, the oldest deleted by `retention.ms`,
//!   then DeleteRecords moves the log start into the middle of a segment.
//! - `large` (1 partition): 256 KiB batches in every codec, at default and chosen levels, so
//!   each codec's stream spans many of its blocks (snappy's 32 KiB chunks, lz4's 64 KiB blocks).
//!
//! Every timestamp lies within the last day, so a broker's default retention keeps them all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::bytes::Bytes;
use strata::{
    BatchBuilder, Clock, Compression, Header, Log, ManualClock, Record, Store, StoreConfig,
    SystemClock, TxnMarker,
};

/// Every partition [`write`] makes, as (topic, partition).
pub(crate) const PARTITIONS: &[(&str, i32)] =
    &[("mix", 0), ("mix", 1), ("append-time", 0), ("compacted", 0), ("retained", 0), ("large", 0)];

/// `index.interval.bytes` of every topic.
pub(crate) const INDEX_INTERVAL: u64 = 512;

const HOUR: i64 = 3_600_000;

/// The codecs in the order batches rotate through them.
pub(crate) const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Record `i` of a batch: null keys, null and empty values, headers with empty and null values
/// and a repeated name, in a pattern that varies with `i`.
fn record(tag: &str, i: usize, ts: i64) -> Record {
    let key = if i % 4 == 3 { None } else { Some(Bytes::from(format!("{tag}-k{}", i % 6))) };
    let value = match i % 5 {
        4 => None,
        2 => Some(Bytes::new()),
        _ => Some(Bytes::from(format!("{tag}-value-{i}-").repeat(1 + i % 3))),
    };
    let headers = match i % 3 {
        0 => vec![
            Header::new("h", Some(format!("{tag}-{i}"))),
            Header::new("empty", Some("")),
            Header::new("h", Some("again")),
        ],
        1 => vec![Header::new("null", None::<Bytes>)],
        _ => Vec::new(),
    };
    Record { timestamp: ts, key, value, headers }
}

/// A batch of `records`, compressed with `codec`, from producer `(pid, epoch, seq)` when given.
fn batch(
    codec: Compression,
    producer: Option<(i64, i16, i32)>,
    transactional: bool,
    records: &[Record],
) -> Bytes {
    let mut b = BatchBuilder::new(0).compression(codec, None);
    if let Some((pid, epoch, seq)) = producer {
        b = b.producer(pid, epoch, seq).transactional(transactional);
    }
    for r in records {
        b.append(r).expect("a record");
    }
    b.build().expect("a batch")
}

fn marker(pid: i64, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 4,
        commit,
        transaction_version: 0,
    }
}

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let interval = INDEX_INTERVAL.to_string();
    let mut map: BTreeMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    map.entry("index.interval.bytes".to_owned()).or_insert(interval);
    map
}

/// A producer's next sequence number.
struct Producer {
    pid: i64,
    seq: i32,
}

impl Producer {
    fn next(&mut self, n: usize, codec: Compression, txn: bool, records: &[Record]) -> Bytes {
        let b = batch(codec, Some((self.pid, 0, self.seq)), txn, records);
        self.seq += i32::try_from(n).expect("a small batch");
        b
    }
}

fn records(tag: &str, n: usize, ts: i64) -> Vec<Record> {
    (0..n).map(|i| record(tag, i, ts + i as i64)).collect()
}

/// Partition `p` of `mix`: six rounds of plain, idempotent and transactional batches.
fn write_mix(log: &Log, p: i32, clock: &ManualClock) {
    let pid = |base: i64| base + i64::from(p);
    let (mut idem, mut a, mut b) = (
        Producer { pid: pid(1000), seq: 0 },
        Producer { pid: pid(2000), seq: 0 },
        Producer { pid: pid(3000), seq: 0 },
    );
    for round in 0..6usize {
        let codec = |k: usize| CODECS[(round + k + p as usize) % CODECS.len()];
        let ts = clock.now_ms();
        let tag = format!("mix{p}-r{round}");
        log.append_batch(batch(codec(0), None, false, &records(&format!("{tag}-plain"), 9, ts)))
            .expect("plain");
        let recs = records(&format!("{tag}-idem"), 5, ts + 10);
        log.append_batch(idem.next(5, codec(1), false, &recs)).expect("idempotent");
        let recs = records(&format!("{tag}-txa"), 3, ts + 20);
        log.append_batch(a.next(3, codec(2), true, &recs)).expect("txn a");
        let recs = records(&format!("{tag}-txb"), 2, ts + 30);
        log.append_batch(b.next(2, codec(3), true, &recs)).expect("txn b");
        log.append(&records(&format!("{tag}-between"), 4, ts + 40)).expect("plain between");
        log.append_marker(marker(a.pid, round % 2 == 0)).expect("marker a");
        let recs = records(&format!("{tag}-txa2"), 2, ts + 50);
        log.append_batch(a.next(2, codec(4), true, &recs)).expect("txn a again");
        log.append_marker(marker(b.pid, round % 3 != 0)).expect("marker b");
        log.append_marker(marker(a.pid, round % 3 == 1)).expect("marker a again");
        match round {
            1 | 3 => clock.advance(2 * HOUR), // the next append rolls by time
            2 => log.set_leader_epoch(3).expect("epoch 3"),
            4 => log.set_leader_epoch(7).expect("epoch 7"),
            _ => clock.advance(1_000),
        }
    }
}

/// `append-time`: producer batches of every codec, restamped and recompressed to lz4.
fn write_append_time(log: &Log, clock: &ManualClock) {
    let mut idem = Producer { pid: 4000, seq: 0 };
    for i in 0..12usize {
        let ts = clock.now_ms() - 50_000; // the producers' create times, replaced by the log's
        let recs = records(&format!("at{i}"), 6, ts);
        let codec = CODECS[i % CODECS.len()];
        let b = if i % 3 == 0 {
            idem.next(6, codec, false, &recs)
        } else {
            batch(codec, None, false, &recs)
        };
        log.append_batch(b).expect("append-time batch");
        clock.advance(7);
    }
}

/// `compacted`: rounds over twelve keys with tombstones, producers and transactions; two
/// cleanings, the second past the first one's delete horizon.
fn write_compacted(store: &Store, log: &Log, clock: &ManualClock) {
    let (mut idem, mut empty, mut ta, mut tb) = (
        Producer { pid: 5000, seq: 0 },
        Producer { pid: 5001, seq: 0 },
        Producer { pid: 6000, seq: 0 },
        Producer { pid: 6001, seq: 0 },
    );
    let keyed = |round: usize, keys: std::ops::Range<usize>, tag: &str, ts: i64| -> Vec<Record> {
        keys.map(|k| {
            let key = format!("key-{k}");
            let mut r = if (round == 2 || round == 5) && k % 4 == 0 {
                Record::tombstone(key)
            } else {
                Record::new(key, format!("{tag}-r{round}-{k}"))
            };
            if k % 3 == 0 {
                r = r.header("round", format!("{round}"));
            }
            r.timestamp(ts + k as i64)
        })
        .collect()
    };
    for round in 0..7usize {
        let ts = clock.now_ms();
        let codec = CODECS[round % CODECS.len()];
        log.append_batch(batch(codec, None, false, &keyed(round, 0..12, "plain", ts)))
            .expect("plain");
        if round == 0 {
            // Its keys are overwritten in round 1: the cleaner empties this, the producer's only
            // batch, and keeps it empty for the producer's state.
            let recs = keyed(round, 0..2, "emptied", ts + 20);
            log.append_batch(empty.next(2, codec, false, &recs)).expect("emptied");
        }
        let recs = keyed(round, 12..14, "idem", ts + 30);
        log.append_batch(idem.next(2, CODECS[(round + 2) % 5], false, &recs)).expect("idem");
        let recs = keyed(round, 2..5, "committed", ts + 40);
        log.append_batch(ta.next(3, CODECS[(round + 3) % 5], true, &recs)).expect("txn a");
        let recs = keyed(round, 5..8, "aborted", ts + 50);
        log.append_batch(tb.next(3, CODECS[(round + 4) % 5], true, &recs)).expect("txn b");
        log.append_marker(marker(ta.pid, true)).expect("commit a");
        log.append_marker(marker(tb.pid, false)).expect("abort b");
        log.roll().expect("roll");
        clock.advance(60_000);
        if round == 3 {
            store.maintain(Some("compacted")).expect("first cleaning");
            clock.advance(2 * HOUR);
        }
    }
    store.maintain(Some("compacted")).expect("second cleaning");
    log.append(&keyed(9, 0..3, "active", clock.now_ms())).expect("active segment");
}

/// `retained`: three segments an hour and a half apart; retention deletes the oldest, then
/// DeleteRecords moves the log start into the middle of the next.
fn write_retained(store: &Store, log: &Log, clock: &ManualClock) -> i64 {
    let mut idem = Producer { pid: 7000, seq: 0 };
    let mut middle = 0;
    for round in 0..3usize {
        for b in 0..4usize {
            let recs = records(&format!("ret{round}-{b}"), 5, clock.now_ms());
            let at = log
                .append_batch(idem.next(5, CODECS[(round + b) % 5], false, &recs))
                .expect("retained batch");
            if round == 1 && b == 2 {
                middle = at.base_offset + 2;
            }
        }
        if round < 2 {
            clock.advance(HOUR + HOUR / 2);
        }
    }
    store.maintain(Some("retained")).expect("retention");
    assert!(log.log_start_offset() > 0, "retention deleted the oldest segment");
    store.delete_records("retained", 0, middle).expect("DeleteRecords");
    middle
}

/// `large`: batches of 256 KiB of records in every codec, at Kafka's default and at chosen
/// levels: many gzip deflate blocks, snappy's 32 KiB xerial chunks, lz4's 64 KiB frame blocks
/// (and its high-compression mode), zstd's blocks; values half text, half random hex.
fn write_large(log: &Log, clock: &ManualClock) {
    let codecs = [
        (Compression::None, None),
        (Compression::Gzip, Some(9)),
        (Compression::Snappy, None),
        (Compression::Lz4, Some(17)),
        (Compression::Zstd, Some(9)),
        (Compression::Gzip, None),
        (Compression::Lz4, None),
        (Compression::Zstd, None),
    ];
    let mut state: u64 = 0x5eed;
    for (i, (codec, level)) in codecs.into_iter().enumerate() {
        let mut b = BatchBuilder::new(0).compression(codec, level);
        for n in 0..160usize {
            let mut value = format!("large-{i}-{n}-").repeat(40);
            while value.len() < 1_600 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                value.push_str(&format!("{:016x}", state >> 1));
            }
            let mut r = record(&format!("large{i}"), n, clock.now_ms() + n as i64);
            r.value = Some(Bytes::from(value));
            b.append(&r).expect("a large record");
        }
        log.append_batch(b.build().expect("a large batch")).expect("append a large batch");
        clock.advance(10);
    }
}

/// Adds topic `crashed` (1 partition, `mix`'s settings and content) to the closed store at `dir`
/// and copies its partition directory to `image` while the store is still open: the files as a
/// crash of the process leaves them (everything written is in the page cache; the active
/// segment's indexes are still preallocated, untrimmed, and no snapshot is at the log end).
/// Then a torn batch is appended to the image's last segment (the first 40 bytes of its last
/// batch: a write a power cut cut short), and the store is closed.
pub(crate) fn write_crash_image(dir: &Path, image: &Path) {
    let clock = ManualClock::new(SystemClock.now_ms() - 10 * HOUR);
    let store = Store::open_with_clock(
        StoreConfig::new([dir]).background_threads(false),
        Arc::clone(&clock) as Arc<dyn Clock>,
    )
    .expect("reopen the store");
    let hour = HOUR.to_string();
    store
        .create_topic("crashed", 1, &configs(&[("segment.bytes", "2000"), ("segment.ms", &hour)]))
        .expect("crashed");
    write_mix(&store.partition("crashed", 0).expect("crashed"), 0, &clock);
    super::copy_dir(&dir.join("crashed-0"), image).expect("copy the crashed partition");
    store.close().expect("close");
    let (path, bytes) = super::segment_logs(image).pop().expect("a segment");
    let mut pos = 0;
    let mut last = 0;
    while let Some(len) = bytes.get(pos + 8..pos + 12) {
        let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
        last = pos;
        pos += 12 + usize::try_from(len).expect("a batch length");
    }
    let torn = bytes.get(last..last + 40).expect("a batch of more than 40 bytes").to_vec();
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open the image");
    std::io::Write::write_all(&mut f, &torn).expect("append the torn batch");
}

/// What [`write`] did that the tests check the files against.
pub(crate) struct Written {
    /// The log start DeleteRecords set on `retained-0`.
    pub(crate) retained_start: i64,
}

/// Writes the five topics into a new store at `dir` and closes it cleanly.
pub(crate) fn write(dir: &Path) -> Written {
    let clock = ManualClock::new(SystemClock.now_ms() - 20 * HOUR);
    let store = Store::open_with_clock(
        StoreConfig::new([dir]).background_threads(false),
        Arc::clone(&clock) as Arc<dyn Clock>,
    )
    .expect("open the store");
    let hour = HOUR.to_string();
    store
        .create_topic("mix", 2, &configs(&[("segment.bytes", "2000"), ("segment.ms", &hour)]))
        .expect("mix");
    store
        .create_topic(
            "append-time",
            1,
            &configs(&[
                ("message.timestamp.type", "LogAppendTime"),
                ("compression.type", "lz4"),
                ("segment.bytes", "3000"),
            ]),
        )
        .expect("append-time");
    store
        .create_topic(
            "compacted",
            1,
            &configs(&[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "100000"),
                ("min.cleanable.dirty.ratio", "0.01"),
                ("delete.retention.ms", &hour),
            ]),
        )
        .expect("compacted");
    store
        .create_topic(
            "retained",
            1,
            &configs(&[
                ("segment.ms", &hour),
                ("retention.ms", &(2 * HOUR).to_string()),
                ("segment.bytes", "100000"),
            ]),
        )
        .expect("retained");
    store.create_topic("large", 1, &configs(&[])).expect("large");
    for p in 0..2 {
        write_mix(&store.partition("mix", p).expect("mix"), p, &clock);
    }
    write_append_time(&store.partition("append-time", 0).expect("append-time"), &clock);
    write_compacted(&store, &store.partition("compacted", 0).expect("compacted"), &clock);
    let retained_start =
        write_retained(&store, &store.partition("retained", 0).expect("retained"), &clock);
    write_large(&store.partition("large", 0).expect("large"), &clock);
    store.close().expect("close");
    Written { retained_start }
}
