//! Verbs that remove data: `delete-records` (`kafka-delete-records.sh`) and
//! `maintain` (one pass of the background threads: retention, cleaner, flush,
//! checkpoints).

use strata::Store;

use super::json::Json;
use super::{Failure, Out, store};

/// `delete-records NAME PARTITION OFFSET`: `{"partition","log_start_offset"}`.
///
/// OFFSET -1 means the log end (Kafka's "delete everything"); any other
/// offset must lie between the current log start and the log end.
pub fn delete_records(
    st: &Store,
    out: &mut Out,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), Failure> {
    let log = store::log(st, topic, partition)?;
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    if offset < -1 {
        return Err(Failure::new(format!(
            "OFFSET {offset} is negative: give an offset of {topic}-{partition} ({start} to \
             {end}) or -1 for the log end"
        )));
    }
    if offset > end {
        return Err(Failure::new(format!(
            "cannot delete records of {topic}-{partition} before offset {offset}: it is past \
             the log end {end} ({}; -1 means the log end)",
            holds(start, end)
        )));
    }
    let lso = st.delete_records(topic, partition, offset).map_err(|e| {
        Failure::lib(format!("cannot delete records of {topic}-{partition} before {offset}"), &e)
    })?;
    let line = Json::object().with("partition", partition).with("log_start_offset", lso);
    out.line(&line, || format!("partition {partition}: log start offset is now {lso}"));
    Ok(())
}

/// What a log of `[start, end)` holds, in words (the log end is the next offset, not a record's).
fn holds(start: i64, end: i64) -> String {
    match end - start {
        n if n <= 0 => format!("the log is empty, its start and end at {end}"),
        1 => format!("the log holds offset {start} only"),
        _ => format!("the log holds offsets {start} to {}", end - 1),
    }
}

/// `maintain [NAME]`: `{"segments_deleted","bytes_deleted","partitions_cleaned","bytes_read","bytes_written"}`.
pub fn maintain(st: &Store, out: &mut Out, topic: Option<&str>) -> Result<(), Failure> {
    if let Some(t) = topic {
        store::partition_count(st, t)?;
    }
    let r = st.maintain(topic).map_err(|e| Failure::lib("maintenance failed", &e))?;
    let offline = store::offline_in(st, topic);
    if !offline.is_empty() {
        return Err(store::skipped_offline("maintained", &offline));
    }
    if r.cleaner_failures > 0 {
        // A partition the cleaner could not clean is a pass that did not do its work, as an
        // offline one is: named with its cause, exit 3 (the cleaning changed nothing there).
        let failed: Vec<String> = st
            .cleaner_stats()
            .into_iter()
            .filter(|(_, s)| s.failures > 0)
            .map(|(tp, s)| format!("{tp}: {}", s.last_error.unwrap_or_default()))
            .collect();
        return Err(Failure::io(format!(
            "the cleaner failed on {} ({}); retention and the other partitions were done",
            super::count(r.cleaner_failures, "partition"),
            failed.join("; ")
        )));
    }
    let line = Json::object()
        .with("segments_deleted", r.segments_deleted)
        .with("bytes_deleted", r.bytes_deleted)
        .with("partitions_cleaned", r.partitions_cleaned)
        .with("bytes_read", r.bytes_read)
        .with("bytes_written", r.bytes_written);
    out.line(&line, || {
        format!(
            "retention deleted {} segments ({} bytes); the cleaner compacted {} partitions \
             (read {} bytes, wrote {} bytes, removed {} records)",
            r.segments_deleted,
            r.bytes_deleted,
            r.partitions_cleaned,
            r.bytes_read,
            r.bytes_written,
            r.records_removed
        )
    });
    Ok(())
}
