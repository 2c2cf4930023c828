//! Reading verbs: `consume` (with `--group`, resuming from and committing to a
//! consumer group), `offsets`, `offset-for-time`, and `flush`.

use bytes::Bytes;
use clap::Args;
use strata::Store;
use strata::{BatchView, RecordRef};
use strata::{Log, OffsetSpec};

use super::json::{Json, base64};
use super::table::Table;
use super::{Failure, Out, dump, groups, store};

/// Bytes asked of one `Log::read` (at least one whole batch comes back regardless).
const READ_BYTES: usize = 1 << 20;

/// `consume NAME [--partition P] [--offset N | --from-beginning | --from-timestamp MS] [--max-records N] [--group G]`
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("position").args(["offset", "from_beginning", "from_timestamp"]))]
pub struct ConsumeArgs {
    /// The topic.
    pub topic: String,
    /// Only this partition (default: every partition, in order).
    #[arg(long, allow_negative_numbers = true)]
    pub partition: Option<i32>,
    /// Start at this offset (needs --partition).
    #[arg(long, requires = "partition", allow_negative_numbers = true)]
    pub offset: Option<i64>,
    /// Start at the log start offset (the default).
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at the first record whose timestamp is >= MS.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub from_timestamp: Option<i64>,
    /// Print at most N records in all.
    #[arg(long, value_name = "N")]
    pub max_records: Option<u64>,
    /// Consume as this consumer group: without a position flag, start at its committed offset
    /// (the beginning when none); after printing, commit the next offset of each partition read.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Keep printing new records as they are appended (by this or another process) until
    /// interrupted or --max-records is reached (the console consumer's default behaviour).
    #[arg(long, conflicts_with = "group")]
    pub follow: bool,
}

/// A key, value or header value: the UTF-8 string, `null`, or `{"base64":...}`.
fn bytes_json(b: Option<&Bytes>) -> Json {
    match b {
        None => Json::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => Json::from(s),
            Err(_) => Json::object().with("base64", base64(b)),
        },
    }
}

fn bytes_text(b: Option<&Bytes>) -> String {
    match b {
        None => "null".to_owned(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => format!("base64:{}", base64(b)),
        },
    }
}

fn record_line(topic: &str, partition: i32, batch: &BatchView, r: &RecordRef) -> (Json, String) {
    let headers: Vec<Json> = r
        .headers()
        .iter()
        .map(|h| {
            Json::object()
                .with("key", bytes_json(Some(&h.key)))
                .with("value", bytes_json(h.value.as_ref()))
        })
        .collect();
    let json = Json::object()
        .with("topic", topic)
        .with("partition", partition)
        .with("offset", r.offset())
        .with("timestamp", r.timestamp())
        .with("timestamp_type", dump::timestamp_type_name(batch))
        .with("key", bytes_json(r.key()))
        .with("value", bytes_json(r.value()))
        .with("headers", headers);
    let human = format!(
        "{partition:>4} {:>10} {:>13} {} {}",
        r.offset(),
        r.timestamp(),
        bytes_text(r.key()),
        bytes_text(r.value())
    );
    (json, human)
}

/// Where `consume` starts in `log`. A group's committed offset outside the log
/// is clamped into it (records below the log start are gone).
fn start_offset(st: &Store, log: &Log, args: &ConsumeArgs) -> Result<i64, Failure> {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    if let Some(group) = &args.group {
        let positioned =
            args.offset.is_some() || args.from_beginning || args.from_timestamp.is_some();
        if !positioned {
            let committed = groups::committed(st, group, log.topic(), log.partition())?;
            return Ok(committed.map_or(start, |c| c.clamp(start, end)));
        }
    }
    if let Some(offset) = args.offset {
        if !(start..=end).contains(&offset) {
            return Err(Failure::new(format!(
                "offset {offset} is out of range for {}: valid offsets are {start} (log start) \
                 to {end} (log end)",
                log.name()
            )));
        }
        return Ok(offset);
    }
    if let Some(ts) = args.from_timestamp {
        let found = log
            .offset_for_time(OffsetSpec::Timestamp(ts))
            .map_err(|e| Failure::lib(format!("cannot search {} by time", log.name()), &e))?;
        return Ok(found.map_or(end, |f| f.offset));
    }
    Ok(start)
}

/// Prints `log`'s records from `start` to its end, at most `*remaining`.
/// Returns the position reached: the offset of the next record to read.
fn consume_partition(
    out: &mut Out,
    log: &Log,
    start: i64,
    remaining: &mut u64,
) -> Result<i64, Failure> {
    let end = log.log_end_offset();
    let mut pos = start;
    while pos < end && *remaining > 0 {
        let fetched = log
            .read(pos, READ_BYTES)
            .map_err(|e| Failure::lib(format!("cannot read {} at {pos}", log.name()), &e))?;
        if fetched.is_empty() || fetched.next_offset() <= pos {
            break;
        }
        let batches = fetched.slices().iter().flat_map(|s| {
            strata::internals::format::BatchIter::new(s.bytes.clone())
                .map(move |(at, b)| (s, at, b))
        });
        for (slice, at, batch) in batches {
            // Damaged on-disk data is the storage's failure (exit 3), not the operator's input.
            let corrupt = |e: &dyn std::fmt::Display| {
                Failure::io(format!(
                    "corrupt batch in {} at byte {} (offset {}) of {}: {e}",
                    slice.path.display(),
                    slice.position + at as u64,
                    batch.base_offset(),
                    log.name()
                ))
            };
            // Kafka's consumers check CRCs (`check.crcs=true`): damaged bytes
            // are reported, never printed as records.
            batch.validate().map_err(|e| corrupt(&e))?;
            if batch.is_control() {
                continue;
            }
            for r in batch.records().map_err(|e| corrupt(&e))? {
                let r = r.map_err(|e| corrupt(&e))?;
                if r.offset() < pos || r.offset() >= end {
                    continue;
                }
                let (json, human) = record_line(log.topic(), log.partition(), &batch, &r);
                out.line(&json, || human);
                *remaining -= 1;
                if *remaining == 0 || out.is_closed() {
                    return Ok(r.offset() + 1);
                }
            }
        }
        pos = fetched.next_offset().min(end);
    }
    Ok(pos)
}

/// `consume`: one record line per record.
pub fn consume(st: &Store, out: &mut Out, args: &ConsumeArgs) -> Result<(), Failure> {
    let count = store::partition_count(st, &args.topic)?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) => vec![p],
        None => (0..count).collect(),
    };
    let logs = partitions
        .iter()
        .map(|&p| store::log(st, &args.topic, p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut remaining = args.max_records.unwrap_or(u64::MAX);
    let mut heading = false;
    let mut positions = Vec::new();
    for log in &logs {
        if remaining == 0 || out.is_closed() {
            break;
        }
        let start = start_offset(st, log, args)?;
        if !heading {
            out.human("PART     OFFSET     TIMESTAMP KEY VALUE");
            heading = true;
        }
        positions.push((log.partition(), consume_partition(out, log, start, &mut remaining)?));
    }
    if let Some(group) = &args.group {
        // What was printed must be out before it counts as consumed. A stdout closed on the
        // way (`| head`) took an unknown part of it: nothing counts, the group stays where it
        // was (at-least-once, as a consumer that dies before its commit).
        out.flush();
        if out.is_closed() {
            say!("logtool: stdout was closed: nothing committed for consumer group {group:?}");
            return Ok(());
        }
        groups::commit_positions(st, group, &args.topic, &positions)?;
    }
    Ok(())
}

/// One pass of `consume --follow` over a freshly opened (read-only) store: from where the
/// last pass stopped (`positions`), or from the start position on the first pass.
pub fn follow_pass(
    st: &Store,
    out: &mut Out,
    args: &ConsumeArgs,
    positions: &mut Option<Vec<(i32, i64)>>,
    remaining: &mut u64,
) -> Result<(), Failure> {
    let count = store::partition_count(st, &args.topic)?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) => vec![p],
        None => (0..count).collect(),
    };
    let first = positions.is_none();
    if first {
        out.human("PART     OFFSET     TIMESTAMP KEY VALUE");
    }
    let mut next = Vec::new();
    for p in partitions {
        let log = store::log(st, &args.topic, p)?;
        let known = positions.as_ref().and_then(|v| v.iter().find(|(q, _)| *q == p)).map(|x| x.1);
        let start = match known {
            Some(o) => o.max(log.log_start_offset()),
            None => start_offset(st, &log, args)?,
        };
        let reached =
            if *remaining > 0 { consume_partition(out, &log, start, remaining)? } else { start };
        next.push((p, reached));
    }
    *positions = Some(next);
    Ok(())
}

/// `offsets`: `{"partition","earliest","latest"}` per partition.
pub fn offsets(st: &Store, out: &mut Out, topic: &str) -> Result<(), Failure> {
    let count = store::partition_count(st, topic)?;
    let mut table = Table::new(&["TOPIC", "PARTITION", "EARLIEST", "LATEST"]);
    for p in 0..count {
        let log = store::log(st, topic, p)?;
        let (earliest, latest) = (log.log_start_offset(), log.log_end_offset());
        let line =
            Json::object().with("partition", p).with("earliest", earliest).with("latest", latest);
        let cells = [topic.to_owned(), p.to_string(), earliest.to_string(), latest.to_string()];
        table.row(line, cells.to_vec());
    }
    table.print(out);
    Ok(())
}

/// `offset-for-time NAME PARTITION TIME`
#[derive(Args, Debug)]
pub struct OffsetForTimeArgs {
    /// The topic.
    pub topic: String,
    /// The partition.
    #[arg(allow_negative_numbers = true)]
    pub partition: i32,
    /// A timestamp in ms (the first offset whose timestamp is >= it), `earliest`, `latest` or
    /// `max-timestamp` (Kafka's -2, -1 and -3 are accepted too).
    #[arg(allow_hyphen_values = true)]
    pub time: String,
}

fn parse_time(time: &str) -> Result<OffsetSpec, Failure> {
    match time {
        "earliest" | "-2" => Ok(OffsetSpec::Earliest),
        "latest" | "-1" => Ok(OffsetSpec::Latest),
        "max-timestamp" | "-3" => Ok(OffsetSpec::MaxTimestamp),
        _ => match time.parse::<i64>() {
            Ok(ms) if ms >= 0 => Ok(OffsetSpec::Timestamp(ms)),
            _ => Err(Failure::new(format!(
                "TIME {time:?} is not a timestamp in ms, earliest, latest or max-timestamp"
            ))),
        },
    }
}

/// `offset-for-time`: `{"partition","timestamp","offset"}`.
///
/// `timestamp` is the found record's timestamp; -1 for `earliest` and `latest`
/// (which name no record), and -1 with `offset` null when no record qualifies —
/// what Kafka's ListOffsets answers then (offset -1, timestamp -1).
pub fn offset_for_time(st: &Store, out: &mut Out, args: &OffsetForTimeArgs) -> Result<(), Failure> {
    let spec = parse_time(&args.time)?;
    let log = store::log(st, &args.topic, args.partition)?;
    let found = log
        .offset_for_time(spec)
        .map_err(|e| Failure::lib(format!("cannot search {} by time", log.name()), &e))?;
    // Kafka's ListOffsets answers -1 for "no timestamp"; the JSON contract keeps it.
    let (offset, timestamp) =
        found.map_or((None, -1), |f| (Some(f.offset), f.timestamp.unwrap_or(-1)));
    let line = Json::object()
        .with("partition", args.partition)
        .with("timestamp", timestamp)
        .with("offset", offset);
    out.line(&line, || match offset {
        Some(o) => format!("partition {}: offset {o} (timestamp {timestamp})", args.partition),
        None => format!("partition {}: no offset for {}", args.partition, args.time),
    });
    Ok(())
}

/// `flush [NAME]`: `{"flushed":true}`.
pub fn flush(st: &Store, out: &mut Out, topic: Option<&str>) -> Result<(), Failure> {
    if let Some(t) = topic {
        store::partition_count(st, t)?;
    }
    st.flush(topic).map_err(|e| Failure::lib("cannot flush", &e))?;
    let offline = store::offline_in(st, topic);
    if !offline.is_empty() {
        return Err(store::skipped_offline("flushed", &offline));
    }
    out.line(&Json::object().with("flushed", true), || "flushed".to_owned());
    Ok(())
}
