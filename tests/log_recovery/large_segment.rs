//! Recovery of a segment large enough that a helper thread sets up its
//! map's page-table entries beside the scan (`internals::io::populate`):
//! the cut falls where the damage is, as the batch layout read with the
//! format layer alone says, whichever thread populated each chunk; and the
//! helper is gone when the open returns, also when the scan stops early.

use super::*;
use strata::internals::io::populate;

/// The segment's size: past the helper's threshold, with chunks to spare
/// either side of the damage.
const LARGE: u64 = (populate::MIN_HELPED_LEN + 10 * populate::CHUNK) as u64;

/// Held by each test of this file: the helper-thread counts are the
/// process's, so no other large open may run while one is checked (the
/// other tests of this binary open segments far below the helper's size).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn large_config() -> LogConfig {
    LogConfig::default()
}

fn open_large(dir: &Path, options: LoadOptions) -> (Log, LoadReport) {
    Log::open(dir, "t", 0, large_config(), ManualClock::new(NOW), options).unwrap()
}

/// The value of record `i` of a batch.
fn value(i: usize) -> String {
    format!("{i:03}-{}", "v".repeat(96))
}

/// One segment of at least [`LARGE`] bytes of 100-record batches (as
/// clients send them), closed cleanly.
fn write_large(dir: &Path) {
    let mut b = BatchBuilder::new(0);
    for i in 0..100 {
        b.append(&Record::new(format!("key-{i:04}"), value(i)).timestamp(NOW)).unwrap();
    }
    let batch = b.build().unwrap();
    let (log, _) = open_large(dir, clean());
    while log.size_bytes() < LARGE {
        log.append_batch(batch.clone()).unwrap();
    }
    assert_eq!(log.segment_count(), 1);
    log.close().unwrap();
}

/// How a test damages the segment's `.log`, given its batches.
enum Damage {
    /// Flips a byte of the records of the batch at this index (its CRC fails).
    Crc(usize),
    /// Gives the batch at this index the base offset of the one before it
    /// (outside the CRC: the placement rules cut it).
    LowerBase(usize),
    /// Cuts the file in the middle of its last batch.
    TornTail,
    /// Nothing.
    None,
}

/// Opens a damaged copy of `image` uncleanly and checks the cut against
/// the batch layout: the `.log` ends at the first damaged batch, the log end
/// offset is that batch's base, every record before it reads back, and no
/// helper thread outlives the open.
fn recover_damaged(image: &Path, damage: Damage) {
    let (_tmp, dir) = copy_of(image);
    let log_path = dir.join(name(0, "log"));
    let batches = batches_of(&log_path);
    let mut bytes = fs::read(&log_path).unwrap();
    let whole = bytes.len() as u64;
    let cut_at = match damage {
        Damage::Crc(k) => {
            let (pos, _, size) = batches[k];
            bytes[pos + size - 10] ^= 0x40;
            Some(k)
        }
        Damage::LowerBase(k) => {
            let (pos, _, _) = batches[k];
            let lowered = batches[k - 1].1;
            bytes[pos..pos + 8].copy_from_slice(&lowered.to_be_bytes());
            Some(k)
        }
        Damage::TornTail => {
            let (pos, _, size) = *batches.last().unwrap();
            bytes.truncate(pos + size / 2);
            Some(batches.len() - 1)
        }
        Damage::None => None,
    };
    fs::write(&log_path, &bytes).unwrap();
    let (keep_len, log_end) = match cut_at {
        Some(k) => (batches[k].0 as u64, batches[k].1),
        None => (whole, batches.last().unwrap().1 + 100),
    };

    let started = populate::helpers_started();
    let (log, report) = open_large(&dir, unclean(0));
    assert_eq!(populate::helpers_running(), 0, "a helper thread outlived the open");
    if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
        assert!(populate::helpers_started() > started, "a large segment's scan had no helper");
    }
    assert_eq!(report.recovered_segments, 1, "{report:?}");
    assert_eq!(report.truncated_bytes, bytes.len() as u64 - keep_len, "{report:?}");
    assert_eq!(fs::metadata(&log_path).unwrap().len(), keep_len);
    assert_eq!(log.log_end_offset(), log_end);
    // Every kept offset reads back, in order, with its value.
    let mut next = 0;
    while next < log_end {
        let fetched = log.read(next, 1 << 20).unwrap();
        for r in fetched.records() {
            let r = r.unwrap();
            assert_eq!(r.offset(), next);
            let i = (next % 100) as usize;
            assert_eq!(r.value().map(|v| v.as_ref()), Some(value(i).as_bytes()));
            next += 1;
        }
    }
    assert_eq!(next, log_end);
    assert!(log.read(log_end, 1 << 20).unwrap().is_empty());
    log.close().unwrap();
}

#[test]
fn a_large_segments_recovery_cuts_at_the_damage_and_leaves_no_helper_thread() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let image = tempfile::tempdir().unwrap();
    write_large(image.path());
    let n = batches_of(&image.path().join(name(0, "log"))).len();
    assert!(n > 1000, "{n} batches");
    // In turn, so that no other open's helper runs while one is checked.
    recover_damaged(image.path(), Damage::None);
    // At the first batch: the scan stops while the helper is just starting.
    recover_damaged(image.path(), Damage::Crc(0));
    // In the middle, with chunks populated (or claimed) past the cut.
    recover_damaged(image.path(), Damage::Crc(n / 2));
    recover_damaged(image.path(), Damage::LowerBase(n / 2 + 1));
    // In the map's last chunk.
    recover_damaged(image.path(), Damage::Crc(n - 2));
    recover_damaged(image.path(), Damage::TornTail);
}

#[test]
fn a_large_segment_cut_by_recovery_is_valid_for_kafka_and_reopens_cleanly() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let image = tempfile::tempdir().unwrap();
    write_large(image.path());
    let (_tmp, dir) = copy_of(image.path());
    let log_path = dir.join(name(0, "log"));
    let batches = batches_of(&log_path);
    let (pos, base, size) = batches[batches.len() / 3];
    let mut bytes = fs::read(&log_path).unwrap();
    bytes[pos + size - 1] ^= 0x01;
    fs::write(&log_path, &bytes).unwrap();
    let (log, report) = open_large(&dir, unclean(0));
    assert_eq!(log.log_end_offset(), base, "{report:?}");
    log.close().unwrap();
    let (log, report) = open_large(&dir, clean());
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(log.log_end_offset(), base);
    log.close().unwrap();
    common::assert_kafka_valid(&dir, 4096);
}

#[test]
fn a_large_segments_recovery_failing_mid_scan_returns_the_error_stops_its_helper_and_cuts_nothing()
{
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let image = tempfile::tempdir().unwrap();
    write_large(image.path());
    let (_tmp, dir) = copy_of(image.path());
    let log_path = dir.join(name(0, "log"));
    let before = fs::read(&log_path).unwrap();
    let batches = batches_of(&log_path);
    // Recovery gathers an index entry for about every batch (each is over
    // `index.interval.bytes`) and writes them a thousand at a time: the
    // first such write, a third of the way through the segment's batches,
    // fails. Which write that is, a traced open of another copy tells.
    let n = {
        let (_tmp, traced) = copy_of(image.path());
        let tracer = fault::arm(FaultPlan::new().trace());
        let (log, _) = open_large(&traced, unclean(0));
        let writes: Vec<_> =
            tracer.trace().into_iter().filter(|(op, _)| *op == Op::Write).collect();
        drop(tracer);
        log.close().unwrap();
        let first = writes.iter().position(|(_, p)| p.extension().is_some_and(|e| e == "index"));
        first.expect("recovery wrote no index entry") as u64 + 1
    };
    assert!(
        batches.len() > 2_500,
        "{} batches: the first index write is not mid-scan",
        batches.len()
    );
    let started = populate::helpers_started();
    let guard = fault::arm(FaultPlan::new().fail_nth(Op::Write, n));
    let err = Log::open(&dir, "t", 0, large_config(), ManualClock::new(NOW), unclean(0))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(guard.injected(), 1, "the fault did not fire: {err}");
    drop(guard);
    assert!(
        matches!(&err, Error::Io { source, .. } if source.to_string().starts_with("injected fault: ")),
        "{err}"
    );
    assert_eq!(populate::helpers_running(), 0, "a helper thread outlived the failed open");
    if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
        assert!(populate::helpers_started() > started, "a large segment's scan had no helper");
    }
    assert_eq!(fs::read(&log_path).unwrap(), before, "a failed recovery changed the .log");
    // Nothing was lost: the next open recovers every batch.
    let (log, report) = open_large(&dir, unclean(0));
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(log.log_end_offset(), batches.last().unwrap().1 + 100);
    log.close().unwrap();
}
