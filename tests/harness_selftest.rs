#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
//! Proves the helpers in `tests/common` work: the fixtures are found, and the independent
//! checkers accept a good partition and reject a corrupted one. Each test skips with a printed
//! reason when `../shared`, kafka-python or the built Java reader is absent.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{
    copy_dir, fixture, fixture_dirs, kafka_verify, kafka_verify_available, kafka_verify_dump,
    kverify_dump, shared_dir, skip,
};

/// Written by Kafka's own client classes (kafka-clients 4.3.0); its first batch is uncompressed.
const CLIENTS_FIXTURE: &str = "independent/kafka-clients-4.3.0/test-0";
/// Size of a v2 batch header, from baseOffset to recordCount inclusive.
const V2_HEADER_SIZE: usize = 61;

fn clients_fixture() -> Option<PathBuf> {
    let dir = fixture(CLIENTS_FIXTURE);
    if dir.is_none() {
        skip(&format!("no ../shared/fixtures/{CLIENTS_FIXTURE}"));
    }
    dir
}

/// Flips one byte in the middle of the first batch's records (inside the CRC-covered range).
fn flip_a_record_byte(partition: &Path) {
    let log = partition.join("00000000000000000000.log");
    let mut bytes = fs::read(&log).unwrap();
    let batch_length = i32::from_be_bytes(bytes[8..12].try_into().unwrap());
    let batch_end = 12 + usize::try_from(batch_length).unwrap();
    assert!(batch_end > V2_HEADER_SIZE + 1, "first batch has no records");
    let at = (V2_HEADER_SIZE + batch_end) / 2;
    bytes[at] ^= 0xff;
    fs::write(&log, bytes).unwrap();
}

#[test]
fn fixture_dirs_finds_broker_and_independent_partitions() {
    let Some(shared) = shared_dir() else {
        return skip("no ../shared directory");
    };
    let dirs = fixture_dirs();
    let fixtures = shared.join("fixtures");
    let under = |group: &str| dirs.iter().filter(|d| d.starts_with(fixtures.join(group))).count();
    assert!(under("kafka-broker") > 0, "no broker-written partition found in {dirs:?}");
    assert!(under("independent") > 0, "no independent partition found in {dirs:?}");
    assert!(dirs.contains(&fixtures.join(CLIENTS_FIXTURE)), "{CLIENTS_FIXTURE} missing: {dirs:?}");
    assert!(dirs.windows(2).all(|w| w[0] < w[1]), "not sorted or not unique: {dirs:?}");
    for dir in &dirs {
        let has_log = fs::read_dir(dir)
            .unwrap()
            .any(|e| common::is_segment_log_name(&e.unwrap().file_name()));
        assert!(has_log, "{} has no segment .log", dir.display());
    }
}

#[test]
fn copy_dir_copies_a_fixture_writably() {
    let Some(src) = clients_fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("test-0");
    copy_dir(&src, &dst).unwrap();
    let name = "00000000000000000000.log";
    assert_eq!(fs::read(src.join(name)).unwrap(), fs::read(dst.join(name)).unwrap());
    assert!(!fs::metadata(dst.join(name)).unwrap().permissions().readonly());
}

#[test]
fn kafka_verify_accepts_an_independent_fixture() {
    if let Err(reason) = kafka_verify_available() {
        return skip(&reason);
    }
    let Some(dir) = clients_fixture() else { return };
    let outcome = kafka_verify(&dir, &[]);
    assert_eq!(outcome.status, 0, "{outcome}");
    assert!(outcome.stdout.contains("=> OK"), "{outcome}");
}

#[test]
fn kafka_verify_rejects_a_flipped_byte() {
    if let Err(reason) = kafka_verify_available() {
        return skip(&reason);
    }
    let Some(src) = clients_fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("test-0");
    copy_dir(&src, &dir).unwrap();
    flip_a_record_byte(&dir);
    let outcome = kafka_verify(&dir, &[]);
    assert_eq!(outcome.status, 1, "{outcome}");
    assert!(outcome.stdout.to_lowercase().contains("crc"), "{outcome}");
}

#[test]
fn kafka_verify_dump_prints_every_batch_and_record() {
    if let Err(reason) = kafka_verify_available() {
        return skip(&reason);
    }
    let Some(dir) = clients_fixture() else { return };
    let dump = kafka_verify_dump(&dir).unwrap();
    let batches = dump.lines().filter(|l| l.starts_with("{\"type\":\"batch\"")).count();
    let records = dump.lines().filter(|l| l.starts_with("{\"type\":\"record\"")).count();
    // The fixture's README: 21 batches, 113 records.
    assert_eq!((batches, records), (21, 113), "{dump}");
    assert_eq!(dump.lines().count(), batches + records);
}

#[test]
fn kverify_agrees_with_kafka_verify_dump() {
    let Some(dir) = clients_fixture() else { return };
    let Some(java) = kverify_dump(&dir) else {
        return skip("Kafka's Java reader not built (set STRATA_KVERIFY or run .ci/run)");
    };
    let java = java.unwrap();
    assert!(java.starts_with("{\"type\":\"batch\""), "{java}");
    if let Err(reason) = kafka_verify_available() {
        return skip(&reason);
    }
    let python = kafka_verify_dump(&dir).unwrap();
    assert_eq!(java, python);
}

#[test]
fn kverify_rejects_a_flipped_byte() {
    let Some(src) = clients_fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("test-0");
    copy_dir(&src, &dir).unwrap();
    flip_a_record_byte(&dir);
    let Some(java) = kverify_dump(&dir) else {
        return skip("Kafka's Java reader not built (set STRATA_KVERIFY or run .ci/run)");
    };
    let err = java.unwrap_err();
    assert!(err.contains("exit 1"), "{err}");
}
