//! strata reads every fixture in `../shared/fixtures/` exactly as the
//! independent checkers dump it, and re-encodes kafka-python's uncompressed
//! batches byte for byte.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use bytes::Bytes;
use strata::internals::format::{BatchBuilder, BatchIter, StopReason, TimestampType};

#[test]
fn logtool_dump_json_matches_kafka_verify_dump_for_every_fixture() {
    if common::shared_dir().is_none() {
        return common::skip("../shared is absent");
    }
    if let Err(why) = common::kafka_verify_available() {
        return common::skip(&why);
    }
    let dirs = common::fixture_dirs();
    assert!(dirs.len() >= 20, "expected the broker and independent fixtures, found {}", dirs.len());
    for dir in dirs {
        let expected = common::kafka_verify_dump(&dir).unwrap();
        let out = Command::new(common::logtool_bin())
            .args(["dump", "--json"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = String::from_utf8(out.stdout).unwrap();
        for (i, (a, b)) in expected.lines().zip(ours.lines()).enumerate() {
            assert_eq!(a, b, "{} line {}", dir.display(), i + 1);
        }
        assert_eq!(expected.lines().count(), ours.lines().count(), "{}", dir.display());
    }
}

#[test]
fn logtool_dump_json_matches_kafkas_own_reader() {
    let Some(dir) = common::fixture("independent/kafka-clients-4.3.0/test-0") else {
        return common::skip("../shared is absent");
    };
    let Some(kafka) = common::kverify_dump(&dir) else {
        return common::skip("kverify (Kafka's Java reader) is not built; .ci/run builds it");
    };
    let kafka = kafka.unwrap();
    let out =
        Command::new(common::logtool_bin()).args(["dump", "--json"]).arg(&dir).output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), kafka.trim_end());
}

#[test]
fn verify_finds_no_violation_in_any_fixture() {
    if common::shared_dir().is_none() {
        return common::skip("../shared is absent");
    }
    for dir in common::fixture_dirs() {
        let report = strata::internals::inspect::verify_partition_dir(&dir, Some(4096)).unwrap();
        assert!(report.violations.is_empty(), "{}: {:?}", dir.display(), report.violations);
    }
}

#[test]
fn kafka_python_uncompressed_batches_reencode_byte_for_byte() {
    let Some(dir) = common::fixture("independent/kafka-python-3.0.12/topic-0") else {
        return common::skip("../shared is absent");
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let data = Bytes::from(std::fs::read(&path).unwrap());
        let mut iter = BatchIter::validating(data);
        for (_, batch) in iter.by_ref() {
            if batch.compression_id() != 0 {
                continue;
            }
            let mut b = BatchBuilder::new(batch.base_offset())
                .partition_leader_epoch(batch.partition_leader_epoch())
                .producer(batch.producer_id(), batch.producer_epoch(), batch.base_sequence());
            if batch.timestamp_type() == TimestampType::LogAppendTime {
                b = b.log_append_time(batch.max_timestamp());
            }
            for r in batch.records().unwrap() {
                let r = r.unwrap();
                // LogAppendTime readers see maxTimestamp; the stored delta keeps the CreateTime.
                let ts = batch.base_timestamp() + r.timestamp_delta();
                b.append_raw(r.offset_delta(), ts, r.key(), r.value(), r.headers()).unwrap();
            }
            assert_eq!(
                b.build().unwrap(),
                *batch.as_bytes(),
                "batch at offset {}",
                batch.base_offset()
            );
            checked += 1;
        }
        assert_eq!(iter.stop_reason(), Some(&StopReason::End));
    }
    assert!(checked > 50, "only {checked} uncompressed batches re-encoded");
}

#[test]
fn corrupted_fixture_copy_makes_dump_exit_1_naming_file_and_position() {
    let Some(src) = common::fixture("independent/kafka-python-3.0.12/topic-0") else {
        return common::skip("../shared is absent");
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("topic-0");
    common::copy_dir(&src, &dir).unwrap();
    let log = dir.join("00000000000000000000.log");
    let mut data = std::fs::read(&log).unwrap();
    // Inside the second batch's CRC-covered bytes.
    let first = 12 + i32::from_be_bytes(data[8..12].try_into().unwrap()) as usize;
    data[first + 30] ^= 0x55;
    std::fs::write(&log, &data).unwrap();
    let out =
        Command::new(common::logtool_bin()).args(["dump", "--json"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("00000000000000000000.log") && err.contains(&format!("position {first}")),
        "{err}"
    );
    assert!(err.contains("crc"), "{err}");

    let verify =
        Command::new(common::logtool_bin()).args(["verify", "--json"]).arg(&dir).output().unwrap();
    assert_eq!(verify.status.code(), Some(1));
}

#[test]
fn torn_fixture_tail_makes_dump_exit_1() {
    let Some(src) = common::fixture("independent/kafka-python-3.0.12/all-codecs-0") else {
        return common::skip("../shared is absent");
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("all-codecs-0");
    common::copy_dir(&src, &dir).unwrap();
    let log = dir.join("00000000000000000367.log");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(len - 7).unwrap();
    let out = Command::new(common::logtool_bin()).args(["dump"]).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("torn batch at position"));
}
