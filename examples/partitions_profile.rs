//! The append loop of `benches/compare -- --partitions`, made for a profiler:
//! single-record appends (8-byte key, 100-byte value, `page_cache`
//! durability) from one thread, round-robin over P partitions of one store,
//! so each append lands on a different partition than the one before: the
//! worst case for anything kept per partition (issue 11, item 6).
//!
//! ```text
//! cargo build --release --example partitions_profile
//! valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no \
//!     --toggle-collect='partitions_profile::run*' \
//!     target/release/examples/partitions_profile 1000 200000
//! ```
//!
//! Arguments: partitions (default 1,000), appends (default 200,000) and
//! records per append (default 1; `--partitions` in benches/compare also
//! runs 100, with 8-byte keys and 100-byte values as here).
//! Only `run` is timed or profiled; it prints appends per second.
#![allow(clippy::print_stdout, reason = "a profiling tool prints what it measured")]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use strata::{BorrowedRecord, Log, Store, StoreConfig};

const KEY: &[u8] = b"key-0001";
const VALUE: [u8; 100] = [b'v'; 100];

#[inline(never)]
fn run(logs: &[Log], appends: usize, records: &[BorrowedRecord<'_>]) -> strata::Result<()> {
    for i in 0..appends {
        let Some(log) = logs.get(i % logs.len()) else { continue };
        black_box(log.append(records)?);
    }
    Ok(())
}

/// One append per partition, outside the profiled `run`.
#[inline(never)]
fn warm(logs: &[Log], records: &[BorrowedRecord<'_>]) -> strata::Result<()> {
    for log in logs {
        log.append(records)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let partitions: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let appends: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let per_append: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let records = vec![BorrowedRecord::new(KEY, &VALUE); per_append.max(1)];
    let dir = tempfile::Builder::new().prefix("strata-partitions-profile-").tempdir_in("/tmp")?;
    let store = Store::open(StoreConfig::new([dir.path()]))?;
    store.create_topic("p", i32::try_from(partitions)?, &BTreeMap::new())?;
    let logs = (0..partitions)
        .map(|p| store.partition("p", i32::try_from(p).unwrap_or(i32::MAX)))
        .collect::<strata::Result<Vec<_>>>()?;
    // One warm-up append per partition: every partition has its files and maps.
    warm(&logs, &records)?;
    let t = Instant::now();
    run(&logs, appends, &records)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{partitions} partitions: {appends} appends of {} records in {secs:.3} s, {:.0} appends/s",
        records.len(),
        appends as f64 / secs
    );
    store.close()?;
    Ok(())
}
