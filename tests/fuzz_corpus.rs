//! Replays every fuzz seed and regression through the fuzz targets' checks, so
//! their claims hold on each `cargo test` without cargo-fuzz or nightly.
//!
//! The checks live in `fuzz/checks/` and are compiled into both the fuzz
//! targets and this test. Inputs come from `fuzz/corpus/<target>/` (seeds,
//! written by [`regenerate_seed_corpus`] plus `.log` files copied from
//! `fixtures/independent/`) and `fuzz/regressions/<target>/` (crashes the
//! fuzzer found, minimized, kept forever). The legacy (magic 0/1) seeds,
//! `kafka-python-3.0.12-*` in `legacy_decode/` and `kafka-python-3.0.12-legacy.log`
//! in `batch_region/`, are messages kafka-python's `LegacyRecordBatchBuilder`
//! wrote through `tests/common/legacy_log.py`, some of them damaged by hand.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../fuzz/checks/batch_decode.rs"]
mod batch_decode;
#[path = "../fuzz/checks/batch_region.rs"]
mod batch_region;
#[path = "../fuzz/checks/decompress.rs"]
mod decompress;
#[path = "../fuzz/checks/index_files.rs"]
mod index_files;
#[path = "../fuzz/checks/legacy_decode.rs"]
mod legacy_decode;
#[path = "../fuzz/checks/partition_dir.rs"]
mod partition_dir;
#[path = "../fuzz/checks/state_files.rs"]
mod state_files;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata::internals::format::{
    BatchBuilder, BatchIter, Compression, ControlRecord, Header, Record, compression,
};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every seed and regression input of `target`, sorted by path.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { continue };
        for entry in dir {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no inputs for {target}");
    out
}

/// Runs `check` on every input of `target`, naming the input that fails.
fn replay<T>(target: &str, check: impl Fn(&[u8]) -> T) -> Vec<(PathBuf, T)> {
    inputs(target)
        .into_iter()
        .map(|(path, data)| match catch_unwind(AssertUnwindSafe(|| check(&data))) {
            Ok(outcome) => (path, outcome),
            Err(_) => panic!("{target} check failed on {}", path.display()),
        })
        .collect()
}

fn count<T: PartialEq>(results: &[(PathBuf, T)], outcome: &T) -> usize {
    results.iter().filter(|(_, o)| o == outcome).count()
}

#[test]
fn batch_decode_corpus_never_panics_and_reencodes_canonical_batches() {
    use batch_decode::Outcome;
    let results = replay("batch_decode", batch_decode::check);
    // The corpus reaches every depth: refused framing, refused validation,
    // field-by-field rebuilds (compressed) and byte-identical rebuilds.
    for outcome in [Outcome::Unframed, Outcome::Invalid, Outcome::Equivalent, Outcome::Identical] {
        assert!(count(&results, &outcome) > 0, "no seed ends {outcome:?}");
    }
    // Seeds named for what they are end where their name says; in particular
    // every uncompressed one, Kafka's own batches and control marker included,
    // rebuilds byte for byte.
    for (path, outcome) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        let expected = if name.ends_with("-truncated") {
            Outcome::Unframed
        } else if name.ends_with("-bad-record-length") {
            Outcome::Invalid
        } else if ["-gzip", "-snappy", "-lz4", "-zstd"].iter().any(|c| name.ends_with(c)) {
            Outcome::Equivalent
        } else {
            Outcome::Identical
        };
        if name.starts_with("builder-")
            || name.starts_with("control-")
            || name.starts_with("kafka-clients-")
        {
            assert_eq!(*outcome, expected, "{name}");
        }
    }
    // Nulls written -2, -3 and -5, as a client may send them (Kafka reads any
    // negative length as null): the same records rebuilt, with -1.
    let negative = results.iter().find(|(p, _)| p.ends_with("kafka-null-lengths-below-minus-one"));
    assert_eq!(negative.map(|(_, o)| *o), Some(Outcome::Equivalent));
}

#[test]
fn batch_region_corpus_never_panics_and_accounts_for_every_byte() {
    let results = replay("batch_region", batch_region::check);
    for (path, summary) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        if name.ends_with(".log") {
            // Whole segments from independent writers validate to the end.
            assert!(summary.validated_to_end && summary.validated > 0, "{name}: {summary:?}");
        }
    }
    assert!(results.iter().any(|(_, s)| s.validated < s.framed), "no seed fails validation");
}

#[test]
fn decompress_corpus_never_panics_stays_bounded_and_round_trips() {
    use decompress::Outcome;
    let results = replay("decompress", decompress::check);
    assert!(count(&results, &Outcome::Decompressed) >= 4, "every codec decodes a seed");
    assert!(count(&results, &Outcome::Refused) > 0, "no seed is refused");
}

#[test]
fn legacy_decode_corpus_never_panics_and_reencodes_plain_messages() {
    use legacy_decode::Outcome;
    let results = replay("legacy_decode", legacy_decode::check);
    for (path, outcome) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        let expected = if name.ends_with("-truncated") || name.ends_with("-bad-key-length") {
            Outcome::Unframed
        } else if name.ends_with("-bad-crc") || name.ends_with("-invalid") {
            Outcome::Invalid
        } else if name.ends_with("-equivalent") {
            Outcome::Equivalent
        } else if name.contains("-none") {
            Outcome::Identical
        } else {
            Outcome::Decoded
        };
        assert_eq!(*outcome, expected, "{name}");
    }
}

#[test]
fn state_files_corpus_never_panics_and_reaches_every_decoder() {
    use state_files::{DECODERS, Outcome};
    let results = replay("state_files", state_files::check);
    // Every decoder accepts a seed (its encoder's output, or a Kafka spelling it reads).
    for name in DECODERS {
        assert!(count(&results, &Outcome::Accepted(name)) > 0, "no seed reaches {name}");
    }
    // Seeds named `-damaged` are refused by the decoder their first byte picks.
    for (path, outcome) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        if name.ends_with("-damaged") {
            assert!(matches!(outcome, Outcome::Refused(_)), "{name}: {outcome:?}");
        }
    }
}

#[test]
fn index_files_corpus_never_panics_and_checked_indexes_answer_as_a_scan() {
    use index_files::Outcome;
    let results = replay("index_files", index_files::check);
    for (path, outcome) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        let expected = if name.ends_with("-damaged") { Outcome::Refused } else { Outcome::Checked };
        assert_eq!(*outcome, expected, "{name}");
    }
}

#[test]
fn partition_dir_corpus_never_panics_and_keeps_every_record_served_across_a_reopen() {
    use partition_dir::Outcome;
    let results = replay("partition_dir", partition_dir::check);
    // Strata-written directories open, serve, take an append and reopen;
    // seeds named `-refused` are directories the open must refuse.
    for (path, outcome) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        let expected =
            if name.ends_with("-refused") { Outcome::Refused } else { Outcome::Reopened };
        assert_eq!(*outcome, expected, "{name}");
    }
}

/// The `generated-two-logs` seed opens with both its segments: its second `.log` starts at 20,
/// where the first one's generated batches end, so the unclean open that re-validates both finds
/// no hole. It started at 40 before: in a log without compaction a segment ending below the
/// next one's base lost its tail (`recovery_rules::aftermath`), so the open dropped the second
/// segment and the seed exercised one.
#[test]
fn the_generated_two_logs_seed_opens_with_both_segments() {
    use strata::{Log, ManualClock};
    let seed = std::fs::read(fuzz_dir().join("corpus/partition_dir/generated-two-logs")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let (flags, second) = partition_dir::build(&dir, &seed);
    let options = partition_dir::options(flags, second);
    assert_eq!(options.recovery_point(), Some(0), "both segments are re-validated");
    let clock = ManualClock::new(partition_dir::NOW);
    let (log, report) = Log::open(&dir, "t", 0, partition_dir::config(), clock, options).unwrap();
    assert_eq!(log.segment_base_offsets(), [0, second], "{report:?}");
    assert!(report.offset_gaps.is_empty() && report.dropped_segments == 0, "{report:?}");
    assert_eq!(log.log_end_offset(), second + 9);
    assert_eq!(log.read(second, 1 << 10).unwrap().records().count(), 9);
    log.close().unwrap();
}

/// Writes the `partition_dir` seeds into `fuzz/corpus/partition_dir/`: directories
/// strata wrote (one and two segments, producer snapshots, epochs, a topic id),
/// each file as a tag, a length and its bytes (see `fuzz/checks/partition_dir.rs`),
/// and a few damaged on purpose.
#[test]
#[ignore = "writes fuzz/corpus; run by hand after changing the seeds"]
fn regenerate_partition_dir_seeds() {
    use strata::{LoadOptions, Log, ManualClock, TopicId};
    let out = fuzz_dir().join("corpus/partition_dir");
    std::fs::create_dir_all(&out).unwrap();
    // A tag for a file name of the directory (base offset `second` for bit 3).
    let tag = |name: &str, second: i64| -> Option<u8> {
        let (stem, kind) = match name.find('.') {
            Some(i) if name.as_bytes()[0].is_ascii_digit() => name.split_at(i),
            _ => ("", name),
        };
        let k = partition_dir::KINDS.iter().position(|k| *k == kind)? as u8;
        let base = if stem.is_empty() { 0 } else { stem.parse::<i64>().ok()? };
        match base {
            0 => Some(k),
            b if b == second => Some(k | 8),
            _ => None,
        }
    };
    let encode = |dir: &Path, flags: u8, second: i64| -> Vec<u8> {
        let mut input = vec![flags, second as u8];
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            let Some(t) = tag(&name, second) else { continue };
            input.push(t);
            input.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            input.extend_from_slice(&bytes);
        }
        input
    };
    // A directory strata wrote: `batches` appends of `per` records, with
    // idempotent producers, a leader epoch and a topic id.
    let written = |batches: i64, per: i64| -> (tempfile::TempDir, i64) {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(partition_dir::NOW);
        let (log, _) =
            Log::open(tmp.path(), "t", 0, partition_dir::config(), clock, LoadOptions::default())
                .unwrap();
        log.set_leader_epoch(2).unwrap();
        log.set_topic_id(TopicId::from_random([0x5a; 16]).unwrap()).unwrap();
        for b in 0..batches {
            let records: Vec<_> = (0..per)
                .map(|i| {
                    Record::new(format!("key-{b}-{i}"), format!("value-{b}-{i}"))
                        .timestamp(partition_dir::NOW - 500 + b)
                })
                .collect();
            log.append(&records).unwrap();
        }
        let bases = log.segment_base_offsets();
        log.close().unwrap();
        (tmp, bases.get(1).copied().unwrap_or(0))
    };
    let (one, _) = written(3, 4);
    let one_input = encode(one.path(), 1, 0);
    std::fs::write(out.join("one-segment-clean"), &one_input).unwrap();
    std::fs::write(out.join("one-segment-unclean"), encode(one.path(), 2, 0)).unwrap();
    let (two, second) = written(12, 5);
    assert!(second > 0 && second < 256, "a second segment at {second}");
    std::fs::write(out.join("two-segments-clean"), encode(two.path(), 1, second)).unwrap();
    std::fs::write(out.join("two-segments-recover-from-second"), encode(two.path(), 6, second))
        .unwrap();
    // Damaged: a flipped byte in the first segment's last batch, recovered unclean.
    let mut flipped = encode(two.path(), 2, second);
    let at = flipped.len() / 3;
    flipped[at] ^= 0x40;
    std::fs::write(out.join("two-segments-flipped-unclean"), &flipped).unwrap();
    // Generated batches (tag bit 7), cut and damaged by the file's bytes; a
    // second `.log` (tag bit 3) at base offset `second`.
    let generated = |name: &str, flags: u8, second: u8, files: &[(u8, &[u8])]| {
        let mut input = vec![flags, second];
        for (t, bytes) in files {
            input.push(*t);
            input.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            input.extend_from_slice(bytes);
        }
        std::fs::write(out.join(name), input).unwrap();
    };
    // The second segment starts where the first one's 4 batches of 5 records
    // end: a log without compaction has no hole between segments, and an
    // unclean open drops the segments after one (`recovery_rules::aftermath`).
    generated("generated-two-logs", 2, 20, &[(0x80, &[4, 5, 0]), (0x88, &[3, 3, 0])]);
    generated("generated-torn-tail", 2, 40, &[(0x80, &[6, 4, 17])]);
    generated("generated-flipped-crc", 0, 40, &[(0x80, &[5, 2, 0, 20, 0, 0x10])]);
    generated(
        "generated-with-deleted-and-swap",
        2,
        40,
        &[(0x80, &[2, 2, 0]), (0x98, &[2, 2, 0]), (0x31, &[0; 16]), (0x20, &[0; 8])],
    );
    generated(
        "generated-stray-and-tmp",
        2,
        40,
        &[(0x80, &[2, 2, 0]), (0x07, b"hi"), (0x15, b"0\n1\n0 0\n")],
    );
    // A leader-epoch checkpoint the open cannot read.
    let mut bad_epochs = one_input.clone();
    let text = b"0\n2\n3 5\n2 9\n";
    bad_epochs.push(5);
    bad_epochs.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bad_epochs.extend_from_slice(text);
    std::fs::write(out.join("one-segment-epochs-out-of-order-refused"), bad_epochs).unwrap();
}

/// Writes the `index_files` seeds into `fuzz/corpus/index_files/`: a kind byte (even: offset
/// index, odd: time index), the base offset in 8 bytes, the file.
#[test]
#[ignore = "writes fuzz/corpus; run by hand after changing the seeds"]
fn regenerate_index_files_seeds() {
    use strata::internals::format::index_entry::{encode_offset_entry, encode_time_entry};
    let dir = fuzz_dir().join("corpus/index_files");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |kind: u8, base: i64, name: &str, file: &[u8]| {
        std::fs::write(dir.join(name), [&[kind][..], &base.to_be_bytes(), file].concat()).unwrap();
    };
    let offsets = |e: &[(i32, i32)]| -> Vec<u8> {
        e.iter().flat_map(|&(o, p)| encode_offset_entry(o, p)).collect()
    };
    let times = |e: &[(i64, i32)]| -> Vec<u8> {
        e.iter().flat_map(|&(t, o)| encode_time_entry(t, o)).collect()
    };
    write(0, 100, "offset-index", &offsets(&[(0, 0), (5, 4096), (9, 8000)]));
    let preallocated = [offsets(&[(0, 0), (5, 4096)]), vec![0; 64]].concat();
    write(0, 100, "offset-index-preallocated-tail", &preallocated);
    write(0, 0, "offset-index-empty", &[]);
    write(0, 100, "offset-index-position-falls-damaged", &offsets(&[(0, 4096), (5, 10)]));
    write(0, 100, "offset-index-torn-entry-damaged", &offsets(&[(0, 0), (5, 4096)])[..13]);
    let ts = 1_700_000_000_000;
    write(1, 100, "time-index", &times(&[(ts, 0), (ts + 500, 4), (ts + 500, 6), (ts + 900, 9)]));
    write(1, 100, "time-index-preallocated-tail", &[times(&[(ts, 3)]), vec![0; 48]].concat());
    write(1, 100, "time-index-timestamp-falls-damaged", &times(&[(ts, 0), (ts - 1, 4)]));
}

/// Writes the `state_files` seeds into `fuzz/corpus/state_files/`: each a
/// decoder's byte (see `fuzz/checks/state_files.rs`) and a file or record.
#[test]
#[ignore = "writes fuzz/corpus; run by hand after changing the seeds"]
fn regenerate_state_files_seeds() {
    use strata::internals::format::group_record::{GroupKey, OffsetCommit};
    use strata::internals::format::index_entry::{encode_offset_entry, encode_time_entry};
    use strata::internals::format::leader_epoch::{self, EpochEntry};
    use strata::internals::format::producer_snapshot::{self, SnapshotEntry};
    use strata::internals::format::txn_index::AbortedTxn;
    use strata::internals::format::{TopicId, partition_metadata};
    let dir = fuzz_dir().join("corpus/state_files");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |pick: u8, name: &str, data: &[u8]| {
        std::fs::write(dir.join(name), [&[pick], data].concat()).unwrap();
    };
    let string = |s: &str| [&(s.len() as i16).to_be_bytes()[..], s.as_bytes()].concat();

    let key = GroupKey::Offset { group: "g".into(), topic: "orders".into(), partition: 3 };
    write(0, "group-key-offset-v1", &key.encode().unwrap());
    write(0, "group-key-metadata-v2", &GroupKey::Metadata { group: "g".into() }.encode().unwrap());
    let v0 = [&0i16.to_be_bytes()[..], &string("g"), &string("t"), &7i32.to_be_bytes()].concat();
    write(0, "group-key-offset-v0", &v0);
    write(0, "group-key-offset-v1-damaged", &key.encode().unwrap()[..6]);

    let commit = OffsetCommit {
        offset: 42,
        leader_epoch: 5,
        metadata: "meta".into(),
        commit_timestamp: 1_700_000_000_000,
        expire_timestamp: None,
    };
    write(1, "offset-commit-v3", &commit.encode().unwrap());
    let ts = 1_700_000_000_000i64.to_be_bytes();
    let v1 = [&1i16.to_be_bytes()[..], &42i64.to_be_bytes(), &string("m"), &ts, &ts].concat();
    write(1, "offset-commit-v1", &v1);
    // Version 4: compact string (unsigned varint length + 1), then an empty tagged-field section.
    let v4 = [
        &4i16.to_be_bytes()[..],
        &42i64.to_be_bytes(),
        &5i32.to_be_bytes(),
        &[3, b'm', b'e'],
        &ts,
        &[0],
    ]
    .concat();
    write(1, "offset-commit-v4", &v4);
    write(1, "offset-commit-v9-damaged", &[&9i16.to_be_bytes()[..], &[0; 24]].concat());

    let producer = SnapshotEntry {
        producer_id: 4242,
        epoch: 3,
        last_sequence: 9,
        last_offset: 100,
        offset_delta: 4,
        timestamp: 1_700_000_000_000,
        coordinator_epoch: -1,
        current_txn_first_offset: 97,
    };
    let snapshot =
        producer_snapshot::encode(&[producer, SnapshotEntry { producer_id: 7, ..producer }]);
    write(2, "producer-snapshot", &snapshot);
    let mut damaged = snapshot.clone();
    damaged[20] ^= 1;
    write(2, "producer-snapshot-crc-damaged", &damaged);

    let epochs =
        [EpochEntry { epoch: 0, start_offset: 0 }, EpochEntry { epoch: 3, start_offset: 17 }];
    write(3, "leader-epoch-checkpoint", &leader_epoch::encode(&epochs));
    write(3, "leader-epoch-checkpoint-order-damaged", b"0\n2\n3 5\n2 9\n");

    let id = TopicId::from_random([0x5a; 16]).unwrap();
    write(4, "partition-metadata", &partition_metadata::encode(id));
    write(4, "partition-metadata-version-damaged", b"version: 1\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ");

    let txn =
        AbortedTxn { producer_id: 9, first_offset: 10, last_offset: 14, last_stable_offset: 15 };
    let later = AbortedTxn { first_offset: 12, last_offset: 20, last_stable_offset: 21, ..txn };
    let txns = [&10i64.to_be_bytes()[..], &txn.encode(), &later.encode()].concat();
    write(5, "txn-index-base-10", &txns);
    let below = [&15i64.to_be_bytes()[..], &txn.encode()].concat();
    write(5, "txn-index-below-base-damaged", &below);

    let index = [encode_offset_entry(0, 0), encode_offset_entry(3, 4096), [0; 8]].concat();
    write(6, "offset-index", &index);
    let times =
        [encode_time_entry(1_700_000_000_000, 0), encode_time_entry(1_700_000_000_500, 9)].concat();
    write(6, "time-index", &times);
}

/// Writes the generated seeds into `fuzz/corpus/`. The copied segments in
/// `fuzz/corpus/batch_region/*.log` must be there first: single-batch and
/// codec seeds are cut from them.
#[test]
#[ignore = "writes fuzz/corpus; run by hand after changing the seeds"]
fn regenerate_seed_corpus() {
    let corpus = fuzz_dir().join("corpus");
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };

    // batch_decode: one batch per file.
    let plain = mixed_batch(BatchBuilder::new(40).partition_leader_epoch(3));
    write("batch_decode", "builder-none", &plain);
    for codec in &Compression::ALL[1..] {
        let b = mixed_batch(BatchBuilder::new(7).compression(*codec, None));
        write("batch_decode", &format!("builder-{}", codec.name()), &b);
    }
    let idempotent = mixed_batch(BatchBuilder::new(0).producer(7, 1, i32::MAX - 1));
    write("batch_decode", "builder-idempotent-wrapping-sequence", &idempotent);
    let txn = mixed_batch(
        BatchBuilder::new(5).producer(8, 0, 0).transactional(true).log_append_time(1_700_000_999),
    );
    write("batch_decode", "builder-transactional-log-append-time", &txn);
    let horizon = mixed_batch(BatchBuilder::new(9).delete_horizon(1_700_100_000_000));
    write("batch_decode", "builder-delete-horizon", &horizon);
    let mut sparse = BatchBuilder::new(100);
    sparse.append_raw(2, 1_000, Some(&Bytes::from("a")), None, &[]).unwrap();
    sparse.append_raw(7, 900, None, Some(&Bytes::from("b")), &[]).unwrap();
    let sparse = sparse.last_offset_delta(12).build().unwrap();
    write("batch_decode", "builder-cleaned-sparse-deltas", &sparse);
    let empty =
        BatchBuilder::new(200).empty_batch_timestamps(5, 6).last_offset_delta(4).build().unwrap();
    write("batch_decode", "builder-cleaned-empty", &empty);
    let commit =
        BatchBuilder::control_batch(10, 1_700_000_000_000, 1000, 2, 3, &ControlRecord::commit(5))
            .unwrap();
    write("batch_decode", "control-commit", &commit);
    let abort = BatchBuilder::control_batch(11, 1, 1000, 2, 3, &ControlRecord::abort(0)).unwrap();
    write("batch_decode", "control-abort", &abort);
    let mut bad_length = plain.to_vec();
    bad_length[61] = 0x7f; // the first record's length varint: -64
    write("batch_decode", "builder-none-bad-record-length", &bad_length);
    write("batch_decode", "builder-none-truncated", &plain[..plain.len() - 3]);
    let log = std::fs::read(corpus.join("batch_region/kafka-clients-4.3.0.log")).unwrap();
    let mut codec_sections = Vec::new();
    for (i, (_, batch)) in BatchIter::validating(log.into()).enumerate() {
        let codec = batch.compression().unwrap();
        let name = format!("kafka-clients-4.3.0-batch{i:02}-{}", codec.name());
        write("batch_decode", &name, batch.as_bytes());
        if codec != Compression::None {
            codec_sections.push((codec, batch.records_section()));
        }
    }

    // batch_region: concatenated batches, whole and damaged.
    let region: Vec<u8> = [&plain[..], &idempotent, &commit, &horizon].concat();
    write("batch_region", "builder-concat", &region);
    write("batch_region", "builder-concat-torn", &[&region[..], &plain[..30]].concat());
    write("batch_region", "builder-concat-zero-tail", &[&region[..], &[0u8; 64]].concat());
    let mut corrupt_middle = region.clone();
    corrupt_middle[plain.len() + 30] ^= 0x80;
    write("batch_region", "builder-concat-corrupt-middle", &corrupt_middle);

    // decompress: a codec byte, then a stream of that codec (or raw bytes).
    let text = b"the quick brown fox jumps over the lazy dog; ".repeat(8);
    for codec in &Compression::ALL[1..] {
        let packed = compression::compress(*codec, &text, None).unwrap();
        write(
            "decompress",
            &format!("{}-stream", codec.name()),
            &[&[codec.id()], &packed[..]].concat(),
        );
        write(
            "decompress",
            &format!("{}-raw", codec.name()),
            &[&[codec.id()], &text[..64]].concat(),
        );
    }
    codec_sections.dedup_by_key(|(codec, _)| *codec);
    for (codec, section) in codec_sections {
        let name = format!("kafka-clients-4.3.0-{}-records", codec.name());
        write("decompress", &name, &[&[codec.id()], &section[..]].concat());
    }
}

/// Three records covering null keys, tombstones, headers and a negative
/// timestamp delta.
fn mixed_batch(mut b: BatchBuilder) -> Bytes {
    b.append(&Record::new("key-1", "value-1").timestamp(1_700_000_000_000)).unwrap();
    b.append(
        &Record::unkeyed(vec![0xffu8, 0, 0x80]).timestamp(1_699_999_999_000).header("trace", "abc"),
    )
    .unwrap();
    let mut tombstone = Record::tombstone("key-1").timestamp(1_700_000_000_500);
    tombstone.headers.push(Header::new("nullable", None::<Bytes>));
    b.append(&tombstone).unwrap();
    b.build().unwrap()
}
