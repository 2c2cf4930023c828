//! The model test (part of the `compaction` tests).

use super::*;

/// One step of a model workload.
#[derive(Debug, Clone)]
enum Step {
    /// One batch: (key index, value length or `None` for a tombstone).
    Append(Vec<(u8, Option<u8>)>),
    Roll,
    Maintain,
    /// Moves the clock (sometimes past the delete retention).
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => prop::collection::vec((0u8..10, prop::option::weighted(0.8, 0u8..60)), 1..6)
            .prop_map(Step::Append),
        1 => Just(Step::Roll),
        3 => Just(Step::Maintain),
        2 => (0i64..2_500).prop_map(Step::Advance),
    ]
}

/// What the model knows: every record written, by offset, and each key's latest offset.
#[derive(Default)]
struct Model {
    written: BTreeMap<i64, Rec>,
    latest: BTreeMap<Bytes, i64>,
}

impl Model {
    /// Appends `records` as one batch and remembers where they landed.
    fn append(&mut self, log: &Log, records: &[Record]) {
        let info = log.append(records).unwrap();
        let log_append_time = log.config().message_timestamp_type == TimestampType::LogAppendTime;
        for (i, r) in records.iter().enumerate() {
            let offset = info.base_offset + i as i64;
            let key = r.key.clone().unwrap();
            let rec = Rec {
                offset,
                key: Some(key.clone()),
                value: r.value.clone(),
                timestamp: if log_append_time { info.max_timestamp } else { r.timestamp },
                headers: r.headers.clone(),
            };
            self.written.insert(offset, rec);
            self.latest.insert(key, offset);
        }
    }

    /// Checks the log against the model after a maintain (see the test's doc); returns how many
    /// keys whose latest record is a tombstone have no record left.
    fn check(&self, log: &Log, context: &str) -> usize {
        let recs = read_all(log);
        let mut prev = -1;
        for r in &recs {
            assert!(r.offset > prev, "{context}: offsets not increasing at {}", r.offset);
            prev = r.offset;
            let written = self.written.get(&r.offset).unwrap_or_else(|| {
                panic!("{context}: offset {} was never written", r.offset);
            });
            assert_eq!(r, written, "{context}: the record read back differs from the one written");
        }
        let last = last_by_key(&recs);
        let mut tombstones_gone = 0;
        for (key, &offset) in &self.latest {
            let value = &self.written[&offset].value;
            match (last.get(key), value) {
                (Some((o, v)), _) => assert_eq!(
                    (*o, v),
                    (offset, value),
                    "{context}: key {key:?} reads back an older record"
                ),
                // A tombstone may be gone once its delete horizon passed; a value never.
                (None, None) => tombstones_gone += 1,
                (None, Some(_)) => panic!("{context}: latest value of {key:?} at {offset} lost"),
            }
        }
        assert_unique_below(&recs, log.cleaner_checkpoint().unwrap_or(0));
        tombstones_gone
    }
}

/// What one model case did.
#[derive(Debug, Default)]
struct CaseSummary {
    snapshots: Vec<PathBuf>,
    cleanings: usize,
    records_removed: u64,
    tombstones_gone: usize,
}

/// Topic settings of one model case: `compression.type`, `delete.retention.ms`,
/// `message.timestamp.type`.
type Knobs = (&'static str, &'static str, &'static str);

/// Runs one workload, with snapshots of the partition directory taken after each maintain.
fn run_model_case(steps: &[Step], knobs: Knobs, snapshots: &Path, case: usize) -> CaseSummary {
    let (codec, delete_retention_ms, timestamp_type) = knobs;
    let env = Env::new();
    let log = env.topic(
        "m",
        &[
            ("delete.retention.ms", delete_retention_ms),
            ("compression.type", codec),
            ("message.timestamp.type", timestamp_type),
            ("file.delete.delay.ms", "0"),
        ],
    );
    let dir = env.store.partition_dir("m", 0).unwrap();
    let mut model = Model::default();
    let mut summary = CaseSummary::default();
    let mut counter = 0u32;
    let mut maintain = |model: &Model, i: usize| {
        let end = log.log_end_offset();
        let report = env.store.maintain(None).unwrap();
        assert_eq!(report.cleaner_failures, 0, "{:?}", env.store.cleaner_stats());
        assert_eq!(log.log_end_offset(), end, "maintain moved the log end");
        summary.tombstones_gone = model.check(&log, &format!("case {case} step {i} {knobs:?}"));
        summary.cleanings += report.partitions_cleaned;
        summary.records_removed += report.records_removed;
        let snap = snapshots.join(format!("case{case}-step{i}")).join("m-0");
        common::copy_dir(&dir, &snap).unwrap();
        summary.snapshots.push(snap);
    };
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Append(rs) => {
                let now = env.now();
                let records: Vec<Record> = rs
                    .iter()
                    .map(|&(k, v)| {
                        counter += 1;
                        let key = format!("key-{k}");
                        match v {
                            Some(len) => {
                                let pad = "x".repeat(usize::from(len));
                                let r = Record::new(key, format!("v{counter}-{pad}"));
                                if len % 3 == 0 { r.header("h", format!("{counter}")) } else { r }
                            }
                            None => Record::tombstone(key),
                        }
                        .timestamp(now)
                    })
                    .collect();
                model.append(&log, &records);
            }
            Step::Roll => log.roll().unwrap(),
            Step::Maintain => maintain(&model, i),
            Step::Advance(ms) => env.clock.advance(*ms),
        }
    }
    // Drain: two cleanings, each past the delete retention, after which every key whose
    // latest record is a tombstone must be gone entirely.
    for round in 0..2 {
        env.clock.advance(2_500);
        let r = Record::new(format!("drain-{round}"), "d").timestamp(env.now());
        model.append(&log, &[r]);
        log.roll().unwrap();
        maintain(&model, steps.len() + round);
    }
    let deleted_keys = model.latest.values().filter(|o| model.written[o].value.is_none()).count();
    assert_eq!(
        summary.tombstones_gone, deleted_keys,
        "case {case}: tombstones outlived 2 cleanings"
    );
    env.store.close().unwrap();
    summary
}

/// Random overwrite and tombstone workloads over 10 keys on a compacted topic with ~1 KiB
/// segments, a 0.01 dirty ratio, a delete retention of 0 or 1 s, every codec and both timestamp
/// types, with rolls, clock moves and maintain passes interleaved (32 cases), then two "drain"
/// cleanings each past the
/// delete retention. After each maintain: the log end is unchanged; every record read is the one
/// written at its offset; each key's last record read is its latest one (a latest tombstone may be
/// gone, a latest value never); no key appears twice below the cleaner checkpoint. After the
/// drain every key whose latest record is a tombstone is gone. Each snapshot of the directory
/// (checked at the end, one checker process for all) passes kafka_verify.py and Kafka's reader.
#[test]
fn compaction_keeps_the_latest_record_of_every_key_of_random_workloads() {
    let snapshots = tempfile::tempdir().unwrap();
    let config = Config {
        cases: 32,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let case = std::cell::Cell::new(0usize);
    let all = std::cell::RefCell::new(Vec::new());
    let totals = std::cell::Cell::new((0usize, 0u64, 0usize));
    let strategy = (
        prop::collection::vec(step(), 10..60),
        prop::sample::select(vec!["producer", "gzip", "snappy", "lz4", "zstd"]),
        prop::sample::select(vec!["0", "1000"]),
        prop::sample::select(vec!["CreateTime", "LogAppendTime"]),
    );
    runner
        .run(&strategy, |(steps, codec, retention, timestamps)| {
            case.set(case.get() + 1);
            let knobs = (codec, retention, timestamps);
            let s = run_model_case(&steps, knobs, snapshots.path(), case.get());
            let (c, r, t) = totals.get();
            totals.set((c + s.cleanings, r + s.records_removed, t + s.tombstones_gone));
            all.borrow_mut().extend(s.snapshots);
            Ok(())
        })
        .unwrap();
    let all = all.into_inner();
    let (cleanings, removed, tombstones_gone) = totals.get();
    eprintln!(
        "model: {} cases, {cleanings} cleanings removed {removed} records, {tombstones_gone} \
         deleted keys gone after the drain, {} snapshots, in {:?}",
        case.get(),
        all.len(),
        started.elapsed()
    );
    assert!(cleanings > 64 && removed > 0 && tombstones_gone > 0, "the workloads are too tame");
    let started = std::time::Instant::now();
    common::assert_kafka_valid_many(&all, INDEX_INTERVAL);
    eprintln!("model: snapshots verified in {:?}", started.elapsed());
}
