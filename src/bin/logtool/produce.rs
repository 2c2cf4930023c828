//! `produce`: stdin lines to records, like `kafka-console-producer.sh`.
//!
//! Each line (its `\n`, and a `\r` before it, stripped, as Java's `readLine`
//! does) is one record. Records are gathered per partition and appended as
//! one client-built batch ([`BatchBuilder`] with the `--compression` codec,
//! then [`Log::append_batch`]) once the partition has `--batch-records` of
//! them, once the batch's first record has waited `--linger-ms` (Kafka's
//! `linger.ms`, 1000 ms as the console producer's `--timeout`), or when
//! stdin ends. A batch is cut earlier when one more record could push its
//! uncompressed size past the partition's `max.message.bytes` or
//! `segment.bytes`. stdin is read by a thread ([`super::produce_feed`]) so
//! the wait for a line ends at the next batch's linger.
//!
//! Batches are appended as they fill, while stdin is still read, as the
//! console producer does: a feed that does not end (`consume --follow |
//! produce`) is appended as it comes, and a batch is reported only once it
//! is appended (and, with `--flush`, synced). Each line is checked against
//! the partition's rules (a key in a compacted topic, `max.message.bytes`,
//! the CreateTime bounds) before its batch is appended. A refused line first
//! appends (and reports) the records read before it that wait in unfilled
//! batches, as the console producer sends what it read before a bad line,
//! then fails naming the line, why, and how many records stay; nothing from
//! that line on is appended. `--atomic` reads stdin to its end first and
//! checks every line and builds every batch before the first append, so a
//! refused line leaves the store as it was (the input is held in memory: for
//! files, not feeds). An append that still fails (an I/O error) is named
//! with its input lines, the count of records already appended, and every
//! input line read that was not appended.
//!
//! SIGINT, SIGTERM and SIGHUP end the input as its end would: every line read
//! is appended (checked as any other) and reported, stderr names the signal
//! and the lines read, and the exit status is 128 + the signal's number (130
//! for SIGINT, 143 for SIGTERM, 129 for SIGHUP), as the console producer's
//! JVM exits after its shutdown hook closed the producer, sending what
//! lingers: the input was cut short, so `produce < file && rm file` keeps the
//! file and `set -e` scripts stop. A signal ignored at start (`nohup`) stays
//! ignored. `--atomic` appends nothing after a signal and exits 128 + its
//! number. See [`super::produce_feed`].
//!
//! Partitioning without `--partition` is Kafka's default partitioner
//! ([`strata::internals::store::partitioner`]): keyed records by murmur2 of the key,
//! unkeyed ones sticky — they stay on one partition until its batch is
//! appended, then move to another, chosen at random.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use strata::Log;
use strata::Store;
use strata::internals::format::layout::BATCH_OVERHEAD;
use strata::internals::store::partitioner::{StickyPartitioner, partition_for_key};
use strata::{BatchBuilder, Compression, Header, Record};

use super::json::Json;
use super::produce_feed::{Feed, Next};
use super::{Failure, Out, store};

/// `produce NAME [--partition P] [--key-separator SEP] ...`
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// The topic.
    pub topic: String,
    /// Write every record to this partition (default: Kafka's default partitioner).
    #[arg(long, allow_negative_numbers = true)]
    pub partition: Option<i32>,
    /// Text before the first SEP is the key, the rest the value; a line without SEP has a null key.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// A key, value or header value equal to TOKEN is stored as null (Kafka's `null.marker`).
    #[arg(long, value_name = "TOKEN")]
    pub null_marker: Option<String>,
    /// A header added to every record. Repeatable.
    #[arg(long = "header", value_name = "K=V")]
    pub headers: Vec<String>,
    /// CreateTime of every record in ms since the epoch (default: the time the line is read).
    /// Not negative, as Kafka's `ProducerRecord` requires: a batch's maxTimestamp cannot say a
    /// negative one (-1 is "none"). Negative values are parsed to be named in the error.
    #[arg(long, value_name = "MS", allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub timestamp: Option<i64>,
    /// Records per batch, per partition.
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_records: u32,
    /// The codec batches are built with.
    #[arg(long, value_name = "CODEC", default_value = "none", value_parser = parse_codec)]
    pub compression: Compression,
    /// fsync every batch before reporting it.
    #[arg(long)]
    pub flush: bool,
    /// Append each batch as it fills, while stdin is still read (the default; accepted
    /// for scripts that name it).
    #[arg(long, conflicts_with = "atomic")]
    pub stream: bool,
    /// Read stdin to its end and check every line and build every batch before the first
    /// append, so a refused line leaves the store as it was. The input is held in memory.
    #[arg(long)]
    pub atomic: bool,
    /// Append a partition's batch once its first record has waited MS, full or not (Kafka's
    /// `linger.ms`; 1000 as the console producer's `--timeout`). With 0 a batch holds the
    /// lines read together with its first. Not with --atomic, which appends when stdin ends.
    #[arg(long, value_name = "MS", default_value_t = 1000, conflicts_with = "atomic")]
    pub linger_ms: u64,
}

fn parse_codec(name: &str) -> Result<Compression, String> {
    Compression::from_name(name)
        .ok_or_else(|| format!("unknown codec {name:?} (none, gzip, snappy, lz4 or zstd)"))
}

/// Upper bound of the bytes a record adds to a batch beyond its key, value
/// and header bytes: varints for the length, timestamp and offset deltas,
/// key and value lengths and header count, plus the attributes byte.
const RECORD_OVERHEAD: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
/// The same per header (key and value lengths).
const HEADER_OVERHEAD: usize = 10;

/// Records waiting to be appended to one partition, with their input line numbers.
#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    lines: Vec<u64>,
    size: usize,
    /// When its first record was read: `--linger-ms` counts from here.
    since: Option<Instant>,
}

struct Producer<'a> {
    store: &'a Store,
    args: &'a ProduceArgs,
    logs: Vec<Log>,
    pending: BTreeMap<i32, Pending>,
    /// Batches cut, in the order they are to be appended.
    ready: Vec<(i32, Pending)>,
    /// When each pending batch got its first record, oldest first (an entry whose batch was
    /// cut since is skipped): the next batch whose linger ends is at the front.
    started: VecDeque<(Instant, i32)>,
    sticky: StickyPartitioner,
}

impl Producer<'_> {
    fn log(&self, partition: i32) -> Result<&Log, Failure> {
        usize::try_from(partition)
            .ok()
            .and_then(|i| self.logs.get(i))
            .ok_or_else(|| Failure::new(format!("no partition {partition}")))
    }

    /// The largest batch (uncompressed) that `partition` accepts.
    fn limit(&self, partition: i32) -> Result<usize, Failure> {
        let cfg = self.log(partition)?.config();
        let limit = cfg.max_message_bytes.min(cfg.segment_bytes);
        Ok(usize::try_from(limit).unwrap_or(usize::MAX))
    }

    fn partition_of(&self, record: &Record) -> i32 {
        match (self.args.partition, &record.key) {
            (Some(p), _) => p,
            (None, Some(key)) => {
                let count = i32::try_from(self.logs.len()).unwrap_or(i32::MAX);
                partition_for_key(key, count)
            }
            (None, None) => self.sticky.partition(),
        }
    }

    /// Places `record` (input line `line`, read at `now`) in its partition's pending batch,
    /// cutting the batch (into `ready`) when it is full; nothing is appended yet.
    fn add(&mut self, line: u64, record: Record, now: Instant) -> Result<(), Failure> {
        let partition = self.partition_of(&record);
        self.check(partition, line, &record)?;
        let size = RECORD_OVERHEAD
            + record.key.as_ref().map_or(0, Bytes::len)
            + record.value.as_ref().map_or(0, Bytes::len)
            + record
                .headers
                .iter()
                .map(|h| HEADER_OVERHEAD + h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
                .sum::<usize>();
        let limit = self.limit(partition)?;
        // `size` is an upper bound: only a batch of this record alone (in the codec asked
        // for) says whether the append would refuse it.
        if BATCH_OVERHEAD + size > limit {
            let alone =
                Pending { records: vec![record.clone()], lines: vec![line], size, since: None };
            let bytes = self.build(partition, &alone)?.len();
            if bytes > limit {
                return Err(Failure::new(format!(
                    "line {line}: its record makes a batch of {bytes} bytes, more than {} \
                     accepts (max.message.bytes and segment.bytes: {limit})",
                    self.log(partition)?.name()
                )));
            }
        }
        let pending = self.pending.entry(partition).or_default();
        if !pending.records.is_empty() && BATCH_OVERHEAD + pending.size + size > limit {
            self.cut(partition);
        }
        let pending = self.pending.entry(partition).or_default();
        if pending.since.is_none() {
            pending.since = Some(now);
            self.started.push_back((now, partition));
        }
        pending.records.push(record);
        pending.lines.push(line);
        pending.size += size;
        let full = pending.records.len() >= usize::try_from(self.args.batch_records).unwrap_or(1);
        if full {
            self.cut(partition);
        }
        Ok(())
    }

    /// What the append would refuse of this record, said before anything is appended (Kafka's
    /// `LogValidator`: a compacted topic needs keys; a CreateTime topic bounds timestamps).
    fn check(&self, partition: i32, line: u64, record: &Record) -> Result<(), Failure> {
        let log = self.log(partition)?;
        let cfg = log.config();
        if cfg.cleanup_policy.compact && record.key.is_none() {
            return Err(Failure::new(format!(
                "line {line}: {} is compacted (cleanup.policy={}) and refuses a record without \
                 a key",
                log.name(),
                cfg.cleanup_policy
            )));
        }
        let create_time = cfg.message_timestamp_type == strata::TimestampType::CreateTime;
        if create_time && let Some(ts) = self.args.timestamp {
            let now = self.store.clock().now_ms();
            let (before, after) =
                (cfg.effective_timestamp_before_max_ms(), cfg.effective_timestamp_after_max_ms());
            if ts != -1 && (now.saturating_sub(ts) > before || ts.saturating_sub(now) > after) {
                return Err(Failure::new(format!(
                    "line {line}: --timestamp {ts} is outside what {} accepts (at most {before} \
                     ms before now, {after} ms after)",
                    log.name()
                )));
            }
        }
        Ok(())
    }

    /// Moves `partition`'s pending records to `ready` as one batch.
    fn cut(&mut self, partition: i32) {
        if let Some(pending) = self.pending.remove(&partition)
            && !pending.records.is_empty()
        {
            self.ready.push((partition, pending));
            self.sticky.batch_complete(partition);
        }
    }

    /// Builds the batch of `pending`, for `partition`.
    fn build(&self, partition: i32, pending: &Pending) -> Result<Bytes, Failure> {
        let log = self.log(partition)?;
        let codec = self.args.compression;
        let first = pending.lines.first().copied().unwrap_or_default();
        let cannot = |e: &dyn std::fmt::Display| {
            Failure::new(format!(
                "cannot build a batch for {} from line {first} on: {e}",
                log.name()
            ))
        };
        let mut builder =
            BatchBuilder::new(0).compression(codec, log.config().compression_level_for(codec));
        for record in &pending.records {
            builder.append(record).map_err(|e| cannot(&e))?;
        }
        builder.build().map_err(|e| cannot(&e))
    }

    /// Appends (and with `--flush` fsyncs) a built batch, then reports it. `appended` counts
    /// the records earlier batches appended, for the error that names what stays. A failure
    /// says whether the batch was appended (the fsync failed) or not.
    fn append(
        &self,
        out: &mut Out,
        partition: i32,
        pending: &Pending,
        batch: Bytes,
        appended: u64,
    ) -> Result<u64, (Failure, bool)> {
        let log = self.log(partition).map_err(|f| (f, false))?;
        let lines = match (pending.lines.first(), pending.lines.last()) {
            (Some(a), Some(b)) if a != b => format!("lines {a} to {b}"),
            (Some(a), _) => format!("line {a}"),
            _ => "no line".to_owned(),
        };
        let already = match appended {
            0 => "no record was appended".to_owned(),
            1 => "1 record of earlier lines was appended and stays".to_owned(),
            n => format!("{n} records of earlier lines were appended and stay"),
        };
        let failed = |what: &str, e: &strata::Error| {
            Failure::lib(format!("cannot {what} {} (input {lines}; {already})", log.name()), e)
        };
        let info = log.append_batch(batch).map_err(|e| (failed("append to", &e), false))?;
        if self.args.flush {
            log.flush().map_err(|e| (failed("fsync", &e), true))?;
        }
        let line = Json::object()
            .with("partition", partition)
            .with("base_offset", info.base_offset)
            .with("last_offset", info.last_offset)
            .with("records", info.records);
        out.line(&line, || {
            let (n, first, last) = (info.records, info.base_offset, info.last_offset);
            match n {
                1 => format!("partition {partition}: 1 record at offset {first}"),
                _ => format!("partition {partition}: {n} records at offsets {first} to {last}"),
            }
        });
        out.flush();
        Ok(u64::try_from(info.records).unwrap_or_default())
    }
}

/// `K=V` → a header; the null marker makes the value null.
fn parse_header(kv: &str, null_marker: Option<&str>) -> Result<Header, Failure> {
    match kv.split_once('=') {
        Some((k, v)) if !k.is_empty() => {
            let value = (Some(v) != null_marker).then(|| Bytes::copy_from_slice(v.as_bytes()));
            Ok(Header::new(Bytes::copy_from_slice(k.as_bytes()), value))
        }
        _ => Err(Failure::new(format!("--header {kv:?} is not KEY=VALUE with a non-empty KEY"))),
    }
}

/// One line (newline stripped) to a record.
fn parse_line(line: &[u8], args: &ProduceArgs, headers: &[Header], timestamp: i64) -> Record {
    let null = args.null_marker.as_deref().map(str::as_bytes);
    let field = |b: &[u8]| (Some(b) != null).then(|| Bytes::copy_from_slice(b));
    let (key, value) = match args.key_separator.as_deref().map(str::as_bytes) {
        Some(sep) => match find(line, sep) {
            Some(at) => (
                field(line.get(..at).unwrap_or_default()),
                field(line.get(at + sep.len()..).unwrap_or_default()),
            ),
            None => (None, field(line)),
        },
        None => (None, field(line)),
    };
    Record { timestamp, key, value, headers: headers.to_vec() }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `produce`: one `{"partition","base_offset","last_offset","records"}` line per batch.
pub fn run(st: &Store, out: &mut Out, args: &ProduceArgs) -> Result<(), Failure> {
    if args.key_separator.as_deref() == Some("") {
        return Err(Failure::new("--key-separator must not be empty"));
    }
    let headers = args
        .headers
        .iter()
        .map(|kv| parse_header(kv, args.null_marker.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let count = store::partition_count(st, &args.topic)?;
    if let Some(p) = args.partition {
        store::log(st, &args.topic, p)?;
    }
    let logs = (0..count).map(|p| store::log(st, &args.topic, p)).collect::<Result<_, _>>()?;
    let mut producer = Producer {
        store: st,
        args,
        logs,
        pending: BTreeMap::new(),
        ready: Vec::new(),
        started: VecDeque::new(),
        sticky: StickyPartitioner::new(count),
    };

    let feed =
        Feed::spawn().map_err(|e| Failure::io(format!("cannot start reading stdin: {e}")))?;
    // `--atomic` appends nothing before stdin ends, so nothing lingers.
    let linger = (!args.atomic).then(|| Duration::from_millis(args.linger_ms));
    let mut number = 0_u64;
    let mut appended = 0_u64;
    let mut stopped = None;
    loop {
        let lines = match feed.next(linger.and_then(|l| producer.deadline(l))) {
            Next::Lines(lines) => lines,
            Next::Timeout => Vec::new(),
            Next::End => break,
            // `--atomic` takes the whole input or nothing: an input cut short by a signal is
            // not the input it was given.
            Next::Signal(signal) if args.atomic => {
                return Err(Failure {
                    msg: format!(
                        "{} before stdin ended: nothing was appended (--atomic appends the \
                         whole input or nothing)",
                        signal.name()
                    ),
                    code: signal.exit_status(),
                });
            }
            // A signal ends the input as its end would (after the lines read by now), as the
            // console producer's shutdown hook closes its producer, sending what lingers.
            Next::Signal(signal) => {
                stopped = Some(signal);
                feed.read_by_now()
            }
            Next::Failed(e) => {
                let f = Failure::io(format!("cannot read line {} of stdin: {e}", number + 1));
                return Err(producer.refuse(out, f, number + 1, appended));
            }
        };
        // Lines that arrive together are read at one time: a batch whose linger passed is cut
        // before they can join it, and they may all join one batch (with --linger-ms 0 too,
        // as Kafka batches what accumulates while its sender is busy).
        let now = Instant::now();
        if let Some(l) = linger {
            producer.cut_expired(now, l);
        }
        for line in lines {
            number += 1;
            let timestamp = args.timestamp.unwrap_or_else(|| st.clock().now_ms());
            let record = parse_line(&line, args, &headers, timestamp);
            if let Err(f) = producer.add(number, record, now) {
                return Err(producer.refuse(out, f, number, appended));
            }
            if !args.atomic {
                appended += producer.append_ready(out, appended).map_err(|f| after(f, number))?;
            }
        }
        // What the linger cut, when no line came.
        if !args.atomic {
            appended += producer.append_ready(out, appended).map_err(|f| after(f, number))?;
        }
        if stopped.is_some() {
            break;
        }
    }
    producer.cut_all();
    appended += producer.append_ready(out, appended)?;
    // Every line read is appended, yet the input was cut short: the status is 128 + the
    // signal's number, as the console producer's JVM exits after its shutdown hook ran
    // (java.lang.Terminator's handler: `Shutdown.exit(sig.getNumber() + 0200)`), so that
    // `produce < file && rm file` keeps a file not wholly appended and `set -e` stops.
    match stopped {
        Some(signal) => Err(Failure {
            msg: format!(
                "{}: stopped reading stdin after {}; {} appended in all",
                signal.name(),
                super::count(number, "line"),
                super::count(appended, "record"),
            ),
            code: signal.exit_status(),
        }),
        None => Ok(()),
    }
}

/// A refusal, with what stays of the input in the store.
fn stays(mut f: Failure, appended: u64) -> Failure {
    f.msg.push_str(&match appended {
        0 => "; nothing was appended".to_owned(),
        1 => "; 1 record of earlier lines was appended and stays".to_owned(),
        n => format!("; {n} records of earlier lines were appended and stay"),
    });
    f
}

/// A failure while stdin is still read, after input line `number`.
fn after(mut f: Failure, number: u64) -> Failure {
    f.msg.push_str(&format!("; nothing after line {number} was appended either"));
    f
}

/// `lines` (any order) as `4 to 9, 12 and 15`.
fn line_ranges(mut lines: Vec<u64>) -> String {
    lines.sort_unstable();
    lines.dedup();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for n in lines {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => ranges.push((n, n)),
        }
    }
    let words: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a} to {b}") })
        .collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

impl Producer<'_> {
    /// Builds every batch cut so far, then appends them in order: a batch that cannot be
    /// built is refused before any of them is appended. Returns the records appended. A
    /// failure names the input lines read so far that were not appended: the failed batch's,
    /// the batches after it and every record still pending.
    fn append_ready(&mut self, out: &mut Out, before: u64) -> Result<u64, Failure> {
        let ready = std::mem::take(&mut self.ready);
        let batches = ready
            .iter()
            .map(|(p, pending)| self.build(*p, pending))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|f| self.not_appended(stays(f, before), &ready))?;
        let mut appended = 0;
        for (i, ((p, pending), batch)) in ready.iter().zip(batches).enumerate() {
            appended += self.append(out, *p, pending, batch, before + appended).map_err(
                |(f, was_appended)| {
                    let from = if was_appended { i + 1 } else { i };
                    self.not_appended(f, ready.get(from..).unwrap_or_default())
                },
            )?;
        }
        Ok(appended)
    }

    /// `f`, naming the lines of `unappended` and of the pending records, which stay out of
    /// the store.
    fn not_appended(&self, mut f: Failure, unappended: &[(i32, Pending)]) -> Failure {
        let lines: Vec<u64> = unappended
            .iter()
            .map(|(_, pending)| pending)
            .chain(self.pending.values())
            .flat_map(|pending| pending.lines.iter().copied())
            .collect();
        if !lines.is_empty() {
            let s = if lines.len() == 1 { "" } else { "s" };
            f.msg.push_str(&format!("; not appended: line{s} {}", line_ranges(lines)));
        }
        f
    }

    /// When the oldest pending batch's `linger` ends (`None`: no batch, or never).
    fn deadline(&mut self, linger: Duration) -> Option<Instant> {
        self.drop_stale_starts();
        self.started.front().and_then(|&(at, _)| at.checked_add(linger))
    }

    /// Cuts every pending batch whose first record has waited `linger` at `now`, as Kafka's
    /// `RecordAccumulator.ready` sends a batch once `waitedTimeMs >= lingerMs`, full or not.
    fn cut_expired(&mut self, now: Instant, linger: Duration) {
        loop {
            self.drop_stale_starts();
            match self.started.front() {
                Some(&(at, p)) if now.saturating_duration_since(at) >= linger => {
                    self.started.pop_front();
                    self.cut(p);
                }
                _ => return,
            }
        }
    }

    /// Pops the front entries of `started` whose batch was cut since.
    fn drop_stale_starts(&mut self) {
        while let Some(&(at, p)) = self.started.front() {
            if self.pending.get(&p).and_then(|q| q.since) == Some(at) {
                return;
            }
            self.started.pop_front();
        }
    }

    /// Moves every pending record to `ready`, partition by partition.
    fn cut_all(&mut self) {
        let partitions: Vec<i32> = self.pending.keys().copied().collect();
        for p in partitions {
            self.cut(p);
        }
    }

    /// The failure for input line `number`, refused with `f` after `appended` records of
    /// earlier lines were appended. By default the records read before it that wait in
    /// unfilled batches are appended first (and reported), as `kafka-console-producer.sh`
    /// does: its exit runs the shutdown hook `producer::close`, which sends what it was
    /// given before the failure (`ConsoleProducer.start`). `--atomic` appends nothing.
    fn refuse(&mut self, out: &mut Out, f: Failure, number: u64, appended: u64) -> Failure {
        if self.args.atomic {
            return stays(f, 0);
        }
        self.cut_all();
        match self.append_ready(out, appended) {
            Ok(more) => {
                let mut f = stays(f, appended + more);
                if appended + more > 0 {
                    f.msg.push_str(&format!("; nothing from line {number} on was appended"));
                }
                f
            }
            Err(mut failed) => {
                failed.msg.push_str(&format!(
                    "; before that, line {number} was refused ({}) and nothing from it on was \
                     appended",
                    f.msg.strip_prefix(&format!("line {number}: ")).unwrap_or(&f.msg)
                ));
                failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_ranges;

    #[test]
    fn line_ranges_names_runs_of_lines_in_order() {
        assert_eq!(line_ranges(vec![]), "");
        assert_eq!(line_ranges(vec![7]), "7");
        assert_eq!(line_ranges(vec![3, 4]), "3 to 4");
        assert_eq!(line_ranges(vec![15, 4, 5, 6, 12, 5]), "4 to 6, 12 and 15");
    }
}
