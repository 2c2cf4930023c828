//! A v2 record's key, value or header value length below -1 is null, as Kafka's
//! `DefaultRecord.readFrom` reads it (a negative size gives a null buffer and covers no
//! bytes): a broker validates a client's batch with that reader and stores the client's bytes,
//! so its segments may hold -2 where a producer wrote it. strata reads such a batch as Kafka
//! does on every path (the batch's own readers, appends, scans, point reads, recovery on open,
//! compaction, `logtool dump`), and both checkers (kafka-python and Kafka's own Java reader)
//! read the same. A negative header key length or header count is still refused, naming it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use common::hand_batch::{self, F, record};
use strata::internals::format::layout;
use strata::{BatchView, Clock, Error, FormatError, Header, LoadOptions, Log, LogConfig};
use strata::{ManualClock, Record, Store, StoreConfig};

const NOW: i64 = 1_700_000_000_000;

/// A v2 batch at `base_offset` of `records` (offset deltas 0..n), every record stamped `NOW`.
fn batch(base_offset: i64, records: &[Vec<u8>]) -> Bytes {
    let last = i32::try_from(records.len()).unwrap() - 1;
    Bytes::from(hand_batch::v2_batch(base_offset, last, NOW, records))
}

/// The records of the batch under test: keys of length -2, values of length -5, header values
/// of length -3, each alone and all in one record, among plain fields.
fn negative_records() -> Vec<Vec<u8>> {
    use F::{Bytes as B, Int as I};
    vec![
        record(0, &[I(-2), B(b"v0"), I(0)]),
        record(1, &[B(b"k1"), I(-5), I(0)]),
        record(2, &[B(b"k2"), B(b"v2"), I(1), B(b"h"), I(-3)]),
        record(3, &[I(-2), I(-5), I(2), B(b"h3"), I(-3), B(b"g"), B(b"x")]),
        record(4, &[B(b"k4"), B(b"v4"), I(0)]),
    ]
}

/// A record as read: offset, key, value, headers.
type Read = (i64, Option<Bytes>, Option<Bytes>, Vec<Header>);

fn h(key: &'static str, value: Option<&'static str>) -> Header {
    Header::new(key, value)
}

fn s(v: &'static str) -> Option<Bytes> {
    Some(Bytes::from(v))
}

/// What Kafka's reader yields for [`negative_records`] at `base`: every negative length null.
fn as_kafka_reads_them(base: i64) -> Vec<Read> {
    vec![
        (base, None, s("v0"), vec![]),
        (base + 1, s("k1"), None, vec![]),
        (base + 2, s("k2"), s("v2"), vec![h("h", None)]),
        (base + 3, None, None, vec![h("h3", None), h("g", Some("x"))]),
        (base + 4, s("k4"), s("v4"), vec![]),
    ]
}

fn owned(r: &strata::RecordRef) -> Read {
    (r.offset(), r.key().cloned(), r.value().cloned(), r.headers().to_vec())
}

fn viewed(r: strata::RecordView<'_>) -> Read {
    let to = |b: &[u8]| Bytes::copy_from_slice(b);
    let headers = r.headers().map(|h| Header { key: to(h.key), value: h.value.map(to) });
    (r.offset(), r.key().map(to), r.value().map(to), headers.collect())
}

/// Every record of `log` by each public read path: the owned scan, the borrowed scan, the
/// iterator from an offset, and the point read at each offset. All must agree; returns it.
fn read_every_way(log: &Log) -> Vec<Read> {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let fetched = log.read(start, usize::MAX).unwrap();
    let scan: Vec<Read> = fetched.records().map(|r| owned(&r.unwrap())).collect();
    let mut borrowed = Vec::new();
    for b in fetched.record_batches() {
        borrowed.extend(b.unwrap().records().map(|r| viewed(r.unwrap())));
    }
    assert_eq!(borrowed, scan, "borrowed scan");
    let from: Vec<Read> = log.records_from(start).map(|r| owned(&r.unwrap())).collect();
    assert_eq!(from, scan, "records_from");
    // A point read lands on its record past the ones before it in its batch.
    let points: Vec<Read> =
        (start..end).filter_map(|o| log.read_record(o, viewed).unwrap()).collect();
    assert_eq!(points, scan, "point reads");
    scan
}

fn open_log(dir: &Path, cfg: LogConfig) -> Log {
    let clock: Arc<dyn Clock> = ManualClock::new(NOW);
    Log::open(dir, "t", 0, cfg, clock, LoadOptions::default()).unwrap().0
}

#[test]
fn a_batch_with_negative_lengths_reads_them_as_null_through_its_own_readers() {
    let bytes = batch(0, &negative_records());
    let view = BatchView::new(bytes).unwrap();
    view.validate_records().unwrap();
    let records: Vec<Read> = view.records().unwrap().map(|r| owned(&r.unwrap())).collect();
    assert_eq!(records, as_kafka_reads_them(0));
    let decoded = view.decode().unwrap();
    let views: Vec<Read> = decoded.views().map(|r| viewed(r.unwrap())).collect();
    assert_eq!(views, as_kafka_reads_them(0));
    // Seeking past the first records lands on the one asked for.
    let mut views = decoded.views();
    views.seek(3);
    assert_eq!(views.next().map(|r| viewed(r.unwrap())), as_kafka_reads_them(0).get(3).cloned());
}

/// Kafka's validator (`LogValidator`, which decodes with `DefaultRecord.readFrom`) accepts the
/// batch and the broker stores the client's bytes; so does `append_batch`, and every read path
/// serves what Kafka's reader serves.
#[test]
fn an_appended_batch_with_negative_lengths_is_kept_as_sent_and_read_as_kafka_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open_log(tmp.path(), LogConfig::default());
    log.append(&[Record::new("before", "x").timestamp(NOW)]).unwrap();
    let sent = batch(0, &negative_records());
    let info = log.append_batch(sent.clone()).unwrap();
    assert_eq!((info.base_offset, log.log_end_offset()), (1, 6));
    let stored = log.read(1, usize::MAX).unwrap().batches().next().unwrap();
    assert_eq!(stored.as_bytes()[layout::RECORDS..], sent[layout::RECORDS..], "records as sent");
    let read = read_every_way(&log);
    assert_eq!(read[1..], as_kafka_reads_them(1)[..]);
}

/// A segment a broker wrote holding such a batch is recovered whole by an unclean open (which
/// checks each batch's CRC, as Kafka's `LogSegment.recover`) and every read path serves it;
/// strata's checks find nothing wrong, and `logtool dump --json` prints it exactly as
/// kafka-python and Kafka's own Java reader dump it: they read -2 as null too.
#[test]
fn a_segment_holding_negative_lengths_is_recovered_whole_and_dumped_as_kafka_dumps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    std::fs::create_dir(&dir).unwrap();
    let segment = [batch(0, &negative_records()), batch(5, &negative_records())].concat();
    let file = dir.join("00000000000000000000.log");
    std::fs::write(&file, &segment).unwrap();
    let log = open_log(&dir, LogConfig::default());
    assert_eq!(log.log_end_offset(), 10, "recovery kept every batch");
    assert_eq!(read_every_way(&log), [as_kafka_reads_them(0), as_kafka_reads_them(5)].concat());
    log.close().unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), segment, "the segment is as the broker wrote it");
    let report = strata::verify_partition_dir(&dir, None).unwrap();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    if let Err(why) = common::kafka_verify_available() {
        return common::skip(&why);
    }
    let python = common::kafka_verify_dump(&dir).unwrap();
    assert!(python.contains("\"key_b64\":null"), "{python}");
    let out = Command::new(common::logtool_bin_built())
        .args(["dump", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours = String::from_utf8(out.stdout).unwrap();
    let records = |dump: &str| -> Vec<String> {
        dump.lines().filter(|l| l.starts_with("{\"type\":\"record\"")).map(str::to_owned).collect()
    };
    assert_eq!(records(&ours), records(&python), "logtool against kafka-python");
    assert_eq!(records(&ours).len(), 10);
    match common::kverify_dump(&dir) {
        None => common::skip("kverify (Kafka's Java reader) is not built; .ci/run builds it"),
        Some(java) => assert_eq!(records(&java.unwrap()), records(&python), "Kafka's reader"),
    }
}

/// Compaction matches Kafka's cleaner (`Cleaner.shouldRetainRecord`): a record whose key
/// length is negative has no key and is dropped (below the map's last offset); the rest of
/// its batch is rebuilt with -1 for null. A batch kept whole is copied as it is, its -3 header
/// value length with it. strata and both checkers read the cleaned log.
#[test]
fn compaction_drops_records_with_a_negative_key_length_and_keeps_the_rest_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let config = StoreConfig::new([tmp.path()]).background_threads(false);
    let store = Store::open_with_clock(config.clone(), clock.clone()).unwrap();
    let overrides: BTreeMap<String, String> =
        [("index.interval.bytes", "128"), ("min.cleanable.dirty.ratio", "0.01")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    store.create_topic("t", 1, &overrides).unwrap();
    let log = store.partition("t", 0).unwrap();
    // Appended while the topic is not compacted (a compacted one refuses a null key, as Kafka).
    log.append_batch(batch(0, &negative_records())).unwrap();
    let kept_whole = [F::Bytes(b"k6"), F::Bytes(b"v6"), F::Int(1), F::Bytes(b"h6"), F::Int(-3)];
    let kept_whole = batch(0, &[record(0, &kept_whole)]);
    log.append_batch(kept_whole).unwrap();
    let stored = log.read(5, usize::MAX).unwrap().batches().next().unwrap();
    log.append(&[Record::new("k4", "v4b").timestamp(NOW)]).unwrap();
    log.roll().unwrap();
    store.set_topic_config("t", "cleanup.policy", "compact").unwrap();
    let err = log.append_batch(batch(0, &negative_records())).unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err:?}");
    let report = store.maintain(None).unwrap();
    assert_eq!(report.partitions_cleaned, 1, "{report:?}");
    let want: Vec<Read> = vec![
        (1, s("k1"), None, vec![]),
        (2, s("k2"), s("v2"), vec![h("h", None)]),
        (5, s("k6"), s("v6"), vec![h("h6", None)]),
        (6, s("k4"), s("v4b"), vec![]),
    ];
    assert_eq!(read_every_way(&log), want);
    let copied = log.read(5, usize::MAX).unwrap().batches().next().unwrap();
    assert_eq!(copied.as_bytes(), stored.as_bytes(), "a batch kept whole is copied as it is");
    let dir = store.partition_dir("t", 0).unwrap();
    drop(log);
    store.close().unwrap();
    common::assert_kafka_valid(&dir, 128);
    let store = Store::open_with_clock(config, clock).unwrap();
    assert_eq!(read_every_way(&store.partition("t", 0).unwrap()), want);
    store.close().unwrap();
}

/// Kafka refuses a negative header key length ("Invalid negative header key size") and a
/// negative header count ("Found invalid number of record headers"): so do strata's readers
/// and its append, naming the field. A segment holding one keeps it through recovery (its CRC
/// is right: Kafka's `LogSegment.recover` keeps it too) and a read of it fails, naming it.
#[test]
fn a_negative_header_key_length_or_header_count_is_refused_naming_the_field() {
    use F::{Bytes as B, Int as I};
    let null_header_key = record(0, &[B(b"k"), B(b"v"), I(1), I(-1), B(b"x")]);
    let negative_count = record(0, &[B(b"k"), B(b"v"), I(-1)]);
    for (rec, field) in
        [(null_header_key, "record.header.keyLength"), (negative_count, "record.headerCount")]
    {
        let bytes = batch(0, &[rec]);
        let view = BatchView::new(bytes.clone()).unwrap();
        let refused = |e: &FormatError| matches!(e, FormatError::InvalidValue { field: f, value: -1, .. } if *f == field);
        let e = view.validate_records().unwrap_err();
        assert!(refused(&e), "{field}: {e:?}");
        let e = view.records().unwrap().next().unwrap().unwrap_err();
        assert!(refused(&e), "{field}: {e:?}");
        let tmp = tempfile::tempdir().unwrap();
        let log = open_log(tmp.path(), LogConfig::default());
        let e = log.append_batch(bytes.clone()).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
        assert_eq!(log.log_end_offset(), 0);
        log.close().unwrap();
        std::fs::write(tmp.path().join("00000000000000000000.log"), &bytes).unwrap();
        let log = open_log(tmp.path(), LogConfig::default());
        assert_eq!(log.log_end_offset(), 1, "{field}");
        let e = log.read(0, usize::MAX).unwrap().records().next().unwrap().unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
        let e = log.read_record(0, |_| ()).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
}
