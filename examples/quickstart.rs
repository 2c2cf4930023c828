//! strata's quick start: open a store, create a topic, append keyed records
//! with headers, read them back through the zero-copy path, look one up by
//! timestamp, flush and close.
//!
//! ```text
//! cargo run --release --example quickstart [DIR]
//! ```
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::collections::BTreeMap;

use strata::OffsetSpec;
use strata::Record;
use strata::Store;
use strata::StoreConfig;

fn main() -> Result<(), strata::Error> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "./strata-data".to_owned());
    let store = Store::open(StoreConfig::new([&dir]))?;
    println!("opened store in {dir}");

    if store.partition("orders", 0).is_err() {
        let mut overrides = BTreeMap::new();
        overrides.insert("segment.bytes".to_owned(), (1 << 20).to_string());
        store.create_topic("orders", 3, &overrides)?;
        println!("created topic orders with 3 partitions (segment.bytes = 1 MiB)");
    }
    let log = store.partition("orders", 0)?;

    // The current time: default retention (7 days) keeps these records; a fixed
    // date in the past would be deleted by the first maintenance pass.
    let t0 = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| strata::Error::InvalidRequest(format!("clock before 1970: {e}")))?
            .as_millis(),
    )
    .map_err(|_| strata::Error::InvalidRequest("clock out of range".into()))?;
    let records: Vec<Record> = (0..5)
        .map(|i| {
            Record::new(format!("order-{i}"), format!("{{\"amount\": {}}}", 10 * i))
                .timestamp(t0 + i * 1_000)
                .header("source", "quickstart")
        })
        .collect();
    let at = log.append(&records)?;
    println!("appended 5 records at offsets {}..={}", at.base_offset, at.last_offset);

    let fetched = log.read(at.base_offset, 1 << 20)?;
    // A server sends each slice with sendfile(socket, file, slice.position, len), the
    // file from `slice.file()`: the very file the bytes are in, never one it would open
    // by `slice.path`, which compaction may give to another file.
    for slice in fetched.slices() {
        println!(
            "read {} bytes at position {} of the open file (fd {:?}) named {}",
            slice.bytes.len(),
            slice.position,
            // None for a segment whose file is gone since: send `bytes` then.
            slice.file()?.as_deref().map(std::os::fd::AsRawFd::as_raw_fd),
            slice.path.display()
        );
    }
    for record in fetched.records() {
        let r = record?;
        let key = r.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
        let value = r.value().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
        println!(
            "  offset {} ts {} key {key} value {value} headers {}",
            r.offset(),
            r.timestamp(),
            r.headers().len()
        );
    }

    if let Some(found) = log.offset_for_time(OffsetSpec::Timestamp(t0 + 2_500))? {
        println!("first record at or after t0+2.5s: {found}");
    }
    log.flush()?;
    println!("flushed: recovery point is now {}", log.recovery_point());
    store.close()?;
    println!("closed cleanly; log end offset of orders-0 was {}", log.log_end_offset());
    Ok(())
}
