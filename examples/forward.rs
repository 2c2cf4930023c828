//! Live forwarding from strata into a Kafka cluster: every record of one or
//! more strata topics is produced, through `rdkafka` (librdkafka), to the same
//! partition number of a Kafka topic, in offset order, with its key, value,
//! headers and timestamp, **exactly once** across crashes of the forwarder.
//!
//! ```text
//! cargo run --release --features forward --example forward -- \
//!     --dir /var/lib/strata --bootstrap broker1:9092 --group to-kafka \
//!     --topic orders --topic audit=audit-mirror [--follow] [-X linger.ms=20]
//! ```
//!
//! `--topic T` mirrors strata topic `T` into Kafka topic `T`; `--topic T=K`
//! into `K`. The Kafka topic must exist with at least as many partitions as
//! the strata topic (`kafka-topics.sh --create --topic K --partitions N`).
//! Without `--follow` the forwarder exits once every partition is caught up
//! (to its last stable offset when it looked); with it, it keeps waiting for
//! new records. It opens the store itself, so as its own process it forwards
//! a store no other process has open; a service that owns a live [`Store`]
//! runs [`Forwarder`] on one of its threads instead (`Forwarder::start` then
//! `Forwarder::run` with `follow`), and records it appends are forwarded as
//! they come.
//!
//! # What is forwarded
//! What a Kafka consumer with `isolation.level=read_committed` would read:
//! records of aborted transactions and control batches are skipped, and
//! nothing at or past the last stable offset is sent until its transaction
//! ends. Each record keeps its key (or null), value (or null: a tombstone),
//! headers (names must be UTF-8, as Kafka's are) and timestamp (sent as the
//! record's CreateTime; a Kafka topic with `message.timestamp.type=
//! LogAppendTime` replaces it, as it would any producer's). Strata partition
//! `p` goes to Kafka partition `p`, so the per-key order strata's partitioner
//! gave is kept; the Kafka offsets are dense (an idempotent producer writes no
//! control records), while strata's may have gaps (compaction, transactions).
//!
//! # Exactly once: how, and the crash window
//! The producer is idempotent (`enable.idempotence=true`, so `acks=all` and
//! at most 5 requests in flight per partition): librdkafka's retries never
//! duplicate or reorder a record within one run. `enable.gapless.guarantee`
//! makes any failure that could leave a gap fatal, and `message.timeout.ms=0`
//! lets no record time out (a broker outage stalls the forwarder rather than
//! dropping records). A failed delivery stops the forwarder.
//!
//! Progress is kept in strata's own consumer groups (`--group`), one commit
//! per partition, written **only after the broker acknowledged** every record
//! up to it. Each commit carries two positions in one record, so they are
//! never seen apart: the offset is the next strata offset to forward, and its
//! metadata (`kafka-next-offset=K kafka-topic=T`) is the Kafka offset that
//! next record gets. The forwarder checks every acknowledgement against that
//! pair: Kafka offset `K` must hold the record it expects (a record written
//! by anyone else into the partition stops it before it commits).
//! A position that does not move is committed again at every start and each
//! half of the store's `offsets.retention.minutes`: the store expires a
//! commit that old, and a partition without one starts as a first run (from
//! strata's log start). A store kept open that long with no forwarder
//! running on it still expires them: the next start then forwards again.
//!
//! A crash between the broker's acknowledgement and strata's commit (or
//! between a send and its acknowledgement) leaves Kafka holding records past
//! the committed pair `(C, K)`. On start the forwarder reads the partition's
//! high watermark `H`; the records at Kafka offsets `[K, H)` were written by
//! the previous run and are the strata records from `C` on, in order. It
//! reads them back with a consumer and walks strata from `C` beside them,
//! comparing key, value, headers and timestamp: each one that matches is
//! already delivered, and forwarding resumes after the last match. So, when
//! every offset of `[K, H)` is a readable record (limit 3 below), nothing is
//! sent twice and nothing is skipped. A Kafka record that does not match
//! strata's next record is reported (`unmatched=`) and passed over: a record
//! compacted away in strata since it was sent, or another writer's. The new
//! pair `(S, H)` is committed before anything new is sent.
//!
//! Three limits; the first two are made visible rather than silent: (1) a produce request
//! of the killed process that the broker received but had not yet appended
//! when the new run read `H` would be appended afterwards; the forwarder waits
//! until every partition's high watermark stays the same for `--settle-ms`
//! (default 1000) before reading, and if a late append still lands, the next
//! acknowledgement's Kafka offset is not the expected one and the forwarder
//! stops with an error naming it (the late record is a duplicate in Kafka that
//! no client can take back; the next start passes over it). (2) on a
//! replicated cluster `H` is the high watermark; the settle wait also lets it
//! catch up with the leader. The first run (no commit yet) commits
//! `(log start, H)` before sending: it appends after whatever the Kafka topic
//! already held. Records that strata's retention deleted before they were
//! forwarded are reported as an error, not skipped silently. (3) the restart
//! matching needs every Kafka offset in `[K, H)` to be a readable record. A
//! Kafka target topic that is compacted (the natural mirror of a compacted
//! strata topic), or that another, transactional writer appends to (its
//! control records take offsets no consumer reads), can leave gaps there: a
//! gap stops the start-up with an error naming the offsets, rather than
//! resuming by guess and sending records twice; unreadable offsets at the
//! window's end make the read-back time out after 300 s. Restarts resume
//! unattended only for a target topic that is neither compacted nor
//! written by anyone else in the window (a fix would carry the strata offset
//! in each forwarded record and resume after the highest one found).
//!
//! For tests, `STRATA_FORWARD_ABORT_AFTER_ACKS=N` aborts the process right
//! after the Nth acknowledgement is taken and before it is committed: the
//! crash window, on purpose (tests/forward.rs).
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, DeliveryResult, Header, Headers as _, OwnedHeaders};
use rdkafka::message::{Message as _, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use strata::{Isolation, Log, RecordRef, Store, StoreConfig, TopicPartition};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

/// Bytes read from a strata partition per step.
const FETCH_BYTES: usize = 256 << 10;
/// Records sent but not yet acknowledged, per partition, before reading more.
const MAX_PENDING: usize = 20_000;
/// How often acknowledged progress is committed.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// Timeout of one metadata, watermark or fetch call to the cluster.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the command line asks for.
#[derive(Debug, Clone)]
struct Options {
    dirs: Vec<PathBuf>,
    bootstrap: String,
    group: String,
    /// (strata topic, Kafka topic).
    topics: Vec<(String, String)>,
    follow: bool,
    settle: Duration,
    /// Records per second across all partitions (0: unlimited).
    rate: u64,
    /// librdkafka properties from `-X key=value`, applied last.
    extra: Vec<(String, String)>,
}

const USAGE: &str = "usage: forward --dir DIR [--dir DIR]... --bootstrap HOST:PORT --group GROUP \
     --topic STRATA[=KAFKA]... [--follow] [--settle-ms MS] [--rate RECORDS_PER_SEC] [-X KEY=VALUE]...";

fn parse_args(args: impl Iterator<Item = String>) -> Result<Options> {
    let mut o = Options {
        dirs: Vec::new(),
        bootstrap: String::new(),
        group: String::new(),
        topics: Vec::new(),
        follow: false,
        settle: Duration::from_millis(1000),
        rate: 0,
        extra: Vec::new(),
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next().ok_or_else(|| BoxError::from(format!("{name} needs a value\n{USAGE}")))
        };
        match flag.as_str() {
            "--dir" => o.dirs.push(PathBuf::from(value("--dir")?)),
            "--bootstrap" => o.bootstrap = value("--bootstrap")?,
            "--group" => o.group = value("--group")?,
            "--topic" => {
                let t = value("--topic")?;
                let (s, k) = t.split_once('=').unwrap_or((&t, &t));
                o.topics.push((s.to_owned(), k.to_owned()));
            }
            "--follow" => o.follow = true,
            "--settle-ms" => {
                let v = value("--settle-ms")?;
                let ms = v.parse().map_err(|e| format!("--settle-ms {v}: {e}"))?;
                o.settle = Duration::from_millis(ms);
            }
            "--rate" => {
                let v = value("--rate")?;
                o.rate = v.parse().map_err(|e| format!("--rate {v}: {e}"))?;
            }
            "-X" => {
                let kv = value("-X")?;
                let (k, v) =
                    kv.split_once('=').ok_or_else(|| format!("-X {kv}: expected KEY=VALUE"))?;
                o.extra.push((k.to_owned(), v.to_owned()));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}").into()),
        }
    }
    if o.dirs.is_empty() || o.bootstrap.is_empty() || o.group.is_empty() || o.topics.is_empty() {
        return Err(format!("--dir, --bootstrap, --group and --topic are required\n{USAGE}").into());
    }
    Ok(o)
}

/// One acknowledgement (or failure) from librdkafka, in the order it came.
struct Delivery {
    stream: usize,
    strata_offset: i64,
    outcome: std::result::Result<(i32, i64), String>,
}

/// Collects delivery reports while `BaseProducer::poll` runs.
#[derive(Default)]
struct Reports {
    deliveries: Mutex<Vec<Delivery>>,
    fatal: Mutex<Option<String>>,
}

impl ClientContext for Reports {
    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka: {error}: {reason}");
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            let mut fatal = self.fatal.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            fatal.get_or_insert_with(|| format!("{error}: {reason}"));
        }
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<(usize, i64)>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (stream, strata_offset) = *opaque;
        let outcome = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        self.deliveries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Delivery {
            stream,
            strata_offset,
            outcome,
        });
    }
}

/// One strata partition and its Kafka twin.
struct Stream {
    topic: String,
    kafka_topic: String,
    partition: i32,
    log: Log,
    /// Next strata offset to read and send.
    next_read: i64,
    /// Strata offsets sent, not yet acknowledged, in send order.
    pending: VecDeque<i64>,
    /// Next strata offset after the last acknowledged record, and after the records not
    /// forwarded that follow it once nothing is in flight (what is committed).
    acked: i64,
    /// The Kafka offset the next acknowledged record must have.
    kafka_next: i64,
    /// The pair last committed.
    committed: (i64, i64),
    /// When (store clock) this partition's pair was last committed: `None` before this
    /// run committed it.
    committed_at_ms: Option<i64>,
    forwarded: u64,
}

impl Stream {
    fn name(&self) -> String {
        format!("{}-{} -> {}-{}", self.topic, self.partition, self.kafka_topic, self.partition)
    }

    fn metadata(&self) -> String {
        format!("kafka-next-offset={} kafka-topic={}", self.kafka_next, self.kafka_topic)
    }
}

/// `kafka-next-offset=K kafka-topic=T` back into (K, T).
fn parse_metadata(metadata: &str) -> Option<(i64, &str)> {
    let mut next = None;
    let mut topic = None;
    for field in metadata.split_whitespace() {
        match field.split_once('=') {
            Some(("kafka-next-offset", v)) => next = v.parse().ok(),
            Some(("kafka-topic", v)) => topic = Some(v),
            _ => {}
        }
    }
    Some((next?, topic?))
}

/// Whether the Kafka record `m` is the strata record `r`, as forwarded.
/// A LogAppendTime topic's timestamps are the broker's: only CreateTime is compared.
fn same_record(m: &BorrowedMessage<'_>, r: &RecordRef) -> bool {
    if m.key() != r.key().map(|k| &k[..]) || m.payload() != r.value().map(|v| &v[..]) {
        return false;
    }
    if let Timestamp::CreateTime(t) = m.timestamp()
        && t != r.timestamp()
    {
        return false;
    }
    let theirs: Vec<(&[u8], Option<&[u8]>)> = m
        .headers()
        .map(|hs| hs.iter().map(|h| (h.key.as_bytes(), h.value)).collect())
        .unwrap_or_default();
    let ours: Vec<(&[u8], Option<&[u8]>)> =
        r.headers().iter().map(|h| (&h.key[..], h.value.as_deref())).collect();
    theirs == ours
}

/// The forwarder: the store, the producer, and one [`Stream`] per partition.
struct Forwarder<'s> {
    store: &'s Store,
    options: Options,
    producer: BaseProducer<Reports>,
    streams: Vec<Stream>,
    acks_seen: u64,
    abort_after_acks: Option<u64>,
}

impl<'s> Forwarder<'s> {
    /// Connects, checks the Kafka topics, and finds where each partition resumes
    /// (committing that position before anything is sent).
    fn start(store: &'s Store, options: Options) -> Result<Forwarder<'s>> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &options.bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("enable.gapless.guarantee", "true")
            .set("message.timeout.ms", "0")
            .set("linger.ms", "5");
        for (k, v) in &options.extra {
            config.set(k, v);
        }
        let producer: BaseProducer<Reports> = config.create_with_context(Reports::default())?;
        let abort_after_acks = std::env::var("STRATA_FORWARD_ABORT_AFTER_ACKS")
            .ok()
            .map(|v| {
                v.parse::<u64>().map_err(|e| format!("STRATA_FORWARD_ABORT_AFTER_ACKS={v}: {e}"))
            })
            .transpose()?;
        let mut forwarder = Forwarder {
            store,
            options,
            producer,
            streams: Vec::new(),
            acks_seen: 0,
            abort_after_acks,
        };
        forwarder.open_streams()?;
        forwarder.settle()?;
        forwarder.resume()?;
        Ok(forwarder)
    }

    fn open_streams(&mut self) -> Result<()> {
        for (topic, kafka_topic) in self.options.topics.clone() {
            let partitions = self.store.partition_count(&topic)?;
            let md = self.producer.client().fetch_metadata(Some(&kafka_topic), CLUSTER_TIMEOUT)?;
            let kafka_partitions = match md.topics().first() {
                Some(t) if t.error().is_none() => t.partitions().len(),
                Some(t) => {
                    return Err(format!(
                        "Kafka topic {kafka_topic}: {:?} (create it with {partitions} partitions)",
                        t.error()
                    )
                    .into());
                }
                None => return Err(format!("Kafka topic {kafka_topic}: no metadata").into()),
            };
            if kafka_partitions < usize::try_from(partitions)? {
                return Err(format!(
                    "Kafka topic {kafka_topic} has {kafka_partitions} partitions, strata topic \
                     {topic} has {partitions}: partition p goes to partition p, so it needs at \
                     least {partitions}"
                )
                .into());
            }
            for partition in 0..partitions {
                let log = self.store.partition(&topic, partition)?;
                self.streams.push(Stream {
                    topic: topic.clone(),
                    kafka_topic: kafka_topic.clone(),
                    partition,
                    next_read: log.log_start_offset(),
                    log,
                    pending: VecDeque::new(),
                    acked: 0,
                    kafka_next: 0,
                    committed: (-1, -1),
                    committed_at_ms: None,
                    forwarded: 0,
                });
            }
        }
        Ok(())
    }

    fn high_watermarks(&self) -> Result<Vec<(i64, i64)>> {
        let client = self.producer.client();
        self.streams
            .iter()
            .map(|s| Ok(client.fetch_watermarks(&s.kafka_topic, s.partition, CLUSTER_TIMEOUT)?))
            .collect()
    }

    /// Waits until no partition's high watermark moves for `--settle-ms`: a
    /// killed forwarder's last requests are appended, and followers caught up.
    fn settle(&self) -> Result<()> {
        let mut last = self.high_watermarks()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            std::thread::sleep(self.options.settle);
            let now = self.high_watermarks()?;
            if now == last {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the Kafka topics' high watermarks kept moving for 120 s: another \
                            producer writes to them"
                    .into());
            }
            last = now;
        }
    }

    /// Finds each partition's resume point from its commit and the Kafka
    /// records past it, and commits it.
    fn resume(&mut self) -> Result<()> {
        let commits: BTreeMap<(String, i32), (i64, String)> = self
            .store
            .groups()
            .offsets(&self.options.group)?
            .into_iter()
            .map(|c| ((c.topic, c.partition), (c.offset, c.metadata)))
            .collect();
        let watermarks = self.high_watermarks()?;
        for (i, (low, high)) in watermarks.into_iter().enumerate() {
            let Some(s) = self.streams.get_mut(i) else { continue };
            let start = s.log.log_start_offset();
            let Some((committed, metadata)) = commits.get(&(s.topic.clone(), s.partition)) else {
                // First run: append after whatever the Kafka partition holds.
                s.next_read = start;
                s.acked = start;
                s.kafka_next = high;
                println!("start {}: first run: strata from {start}, kafka-end={high}", s.name());
                continue;
            };
            let (kafka_committed, kafka_topic) = parse_metadata(metadata).ok_or_else(|| {
                format!(
                    "group {} has an offset for {}-{} without the forwarder's metadata \
                     ({metadata:?}): another consumer uses this group",
                    self.options.group, s.topic, s.partition
                )
            })?;
            if kafka_topic != s.kafka_topic {
                return Err(format!(
                    "group {} forwarded {}-{} to Kafka topic {kafka_topic}, not {}: use another \
                     group for a new mapping",
                    self.options.group, s.topic, s.partition, s.kafka_topic
                )
                .into());
            }
            if high < kafka_committed {
                return Err(format!(
                    "{}: Kafka's end offset {high} is below the committed {kafka_committed}: the \
                     Kafka topic was deleted, recreated or truncated; not resuming",
                    s.name()
                )
                .into());
            }
            if kafka_committed < low && high > kafka_committed {
                return Err(format!(
                    "{}: Kafka's log start {low} is past the committed {kafka_committed}: the \
                     records written after the last commit are gone, so what was delivered \
                     cannot be checked",
                    s.name()
                )
                .into());
            }
            if *committed < start {
                return Err(format!(
                    "{}: strata's retention deleted records {committed}..{start} before they \
                     were forwarded",
                    s.name()
                )
                .into());
            }
            let (from, matched, unmatched) = if high > kafka_committed {
                match_window(s, *committed, kafka_committed, high, &self.options)?
            } else {
                (*committed, 0, 0)
            };
            s.next_read = from;
            s.acked = from;
            s.kafka_next = high;
            s.committed = (*committed, kafka_committed);
            println!(
                "resume {}: committed={committed} kafka-committed={kafka_committed} \
                 kafka-end={high} window={} matched={matched} unmatched={unmatched} from={from}",
                s.name(),
                high - kafka_committed
            );
        }
        self.commit()
    }

    /// Sends what each partition has, up to its pending limit and the rate.
    /// Each partition gets an equal share of the rate's budget, so none waits
    /// behind another.
    fn send_some(&mut self, budget: &mut u64) -> Result<()> {
        let count = u64::try_from(self.streams.len()).unwrap_or(u64::MAX).max(1);
        let share = (*budget / count).max(1);
        for (i, s) in self.streams.iter_mut().enumerate() {
            if s.pending.len() >= MAX_PENDING || *budget == 0 {
                continue;
            }
            let mut allowance = share.min(*budget);
            let lso = s.log.last_stable_offset();
            if s.next_read >= lso {
                continue;
            }
            let fetched = s.log.read_with(s.next_read, FETCH_BYTES, Isolation::ReadCommitted)?;
            let mut stopped_early = false;
            for r in fetched.committed_records() {
                let r = r?;
                if allowance == 0 || s.pending.len() >= MAX_PENDING {
                    stopped_early = true;
                    break;
                }
                send(&self.producer, s, i, &r)?;
                s.next_read = r.offset() + 1;
                allowance -= 1;
                *budget -= 1;
            }
            if !stopped_early {
                s.next_read = s.next_read.max(fetched.next_offset());
            }
        }
        Ok(())
    }

    /// Takes the delivery reports: each must be the next expected record at
    /// the next Kafka offset.
    fn take_deliveries(&mut self) -> Result<()> {
        self.producer.poll(Duration::ZERO);
        let reports = std::mem::take(
            &mut *self
                .producer
                .context()
                .deliveries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for d in reports {
            let s = self
                .streams
                .get_mut(d.stream)
                .ok_or_else(|| format!("a delivery report for unknown stream {}", d.stream))?;
            let expected = s.pending.front().copied();
            if expected != Some(d.strata_offset) {
                return Err(format!(
                    "{}: acknowledgement of strata offset {} while {expected:?} was next",
                    s.name(),
                    d.strata_offset
                )
                .into());
            }
            let (partition, offset) = d.outcome.map_err(|e| {
                format!("{}: delivery of strata offset {} failed: {e}", s.name(), d.strata_offset)
            })?;
            if partition != s.partition || offset != s.kafka_next {
                return Err(format!(
                    "{}: strata offset {} landed at Kafka {}-{partition} offset {offset}, \
                     expected offset {}: another producer (or a killed forwarder's late request) \
                     wrote to the partition; stopping before committing past it",
                    s.name(),
                    d.strata_offset,
                    s.kafka_topic,
                    s.kafka_next
                )
                .into());
            }
            s.pending.pop_front();
            s.acked = d.strata_offset + 1;
            s.kafka_next = offset + 1;
            s.forwarded += 1;
            self.acks_seen += 1;
            if self.abort_after_acks == Some(self.acks_seen) {
                eprintln!(
                    "STRATA_FORWARD_ABORT_AFTER_ACKS: aborting after {} acks",
                    self.acks_seen
                );
                std::process::abort();
            }
        }
        let fatal = self
            .producer
            .context()
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match fatal {
            Some(e) => Err(format!("the producer failed: {e}").into()),
            None => Ok(()),
        }
    }

    /// Commits every partition whose acknowledged position moved, or that this
    /// run has not committed for half of `offsets.retention.minutes`: one
    /// batch, offset = next strata offset, metadata = next Kafka offset.
    ///
    /// The store expires a commit that long after it was written (a strata
    /// group has no members to keep it, as Kafka keeps an active consumer's),
    /// and a partition without a commit starts as a first run, from strata's
    /// log start: an idle partition's unchanged position is written again, as
    /// a Kafka consumer's auto-commit writes its unchanged positions.
    fn commit(&mut self) -> Result<()> {
        for s in &mut self.streams {
            // Nothing in flight: every offset below `next_read` was acknowledged or is
            // not forwarded (a transaction marker, an aborted record), so the position
            // passes them. Left at them, retention removing them would read, at the next
            // start, as records deleted before they were forwarded.
            if s.pending.is_empty() {
                s.acked = s.acked.max(s.next_read);
            }
        }
        let now = self.store.clock().now_ms();
        let refresh_ms = self.store.config().offsets_retention_minutes.saturating_mul(60_000) / 2;
        let due = |s: &Stream| {
            s.committed != (s.acked, s.kafka_next)
                || s.committed_at_ms.is_none_or(|at| now.saturating_sub(at) >= refresh_ms)
        };
        let batch: Vec<_> = self
            .streams
            .iter()
            .filter(|s| due(s))
            .map(|s| (TopicPartition::new(&s.topic, s.partition), s.acked, s.metadata()))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        self.store.groups().commit_many_with_metadata(&self.options.group, &batch)?;
        for s in self.streams.iter_mut().filter(|s| due(s)) {
            s.committed = (s.acked, s.kafka_next);
            s.committed_at_ms = Some(now);
        }
        Ok(())
    }

    fn caught_up(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.pending.is_empty() && s.next_read >= s.log.last_stable_offset())
    }

    /// Forwards until caught up (or forever with `follow`), committing as it goes.
    fn run(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut last_commit = Instant::now();
        let mut sent_budget_at = Instant::now();
        let rate = self.options.rate;
        let mut budget = if rate == 0 { u64::MAX } else { rate / 10 };
        loop {
            if rate > 0 && sent_budget_at.elapsed() >= Duration::from_millis(100) {
                budget = (rate / 10).max(1);
                sent_budget_at = Instant::now();
            }
            self.send_some(&mut budget)?;
            self.producer.poll(Duration::from_millis(10));
            self.take_deliveries()?;
            if last_commit.elapsed() >= COMMIT_EVERY {
                self.commit()?;
                last_commit = Instant::now();
            }
            if self.caught_up() {
                self.commit()?;
                if !self.options.follow {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        for s in &self.streams {
            println!(
                "caught-up {}: strata-next={} kafka-next={} forwarded={}",
                s.name(),
                s.acked,
                s.kafka_next,
                s.forwarded
            );
        }
        let total: u64 = self.streams.iter().map(|s| s.forwarded).sum();
        println!("forwarded {total} records in {:.1} s", started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// Hands one record to the producer (waiting while its queue is full).
fn send(producer: &BaseProducer<Reports>, s: &mut Stream, i: usize, r: &RecordRef) -> Result<()> {
    let mut headers = OwnedHeaders::new_with_capacity(r.headers().len());
    for h in r.headers() {
        let key = std::str::from_utf8(&h.key).map_err(|_| {
            format!(
                "{}: strata offset {} has a header name that is not UTF-8 ({:?}); Kafka \
                 header names are strings",
                s.name(),
                r.offset(),
                h.key
            )
        })?;
        headers = headers.insert(Header { key, value: h.value.as_deref() });
    }
    loop {
        let mut record = BaseRecord::<[u8], [u8], Box<(usize, i64)>>::with_opaque_to(
            &s.kafka_topic,
            Box::new((i, r.offset())),
        )
        .partition(s.partition)
        .timestamp(r.timestamp())
        .headers(headers.clone());
        if let Some(k) = r.key() {
            record = record.key(&k[..]);
        }
        if let Some(v) = r.value() {
            record = record.payload(&v[..]);
        }
        match producer.send(record) {
            Ok(()) => {
                s.pending.push_back(r.offset());
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => {
                return Err(
                    format!("{}: cannot send strata offset {}: {e}", s.name(), r.offset()).into()
                );
            }
        }
    }
}

/// Reads Kafka offsets `[kafka_from, kafka_end)` of `s`'s partition and walks
/// strata from `strata_from` beside them. Returns (resume offset, matched, unmatched).
fn match_window(
    s: &Stream,
    strata_from: i64,
    kafka_from: i64,
    kafka_end: i64,
    options: &Options,
) -> Result<(i64, u64, u64)> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.bootstrap)
        .set("group.id", format!("{}.forward-check", options.group))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_uncommitted");
    let consumer: BaseConsumer = config.create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&s.kafka_topic, s.partition, Offset::Offset(kafka_from))?;
    consumer.assign(&tpl)?;

    let mut strata = StrataCursor { log: &s.log, next: strata_from, buffered: VecDeque::new() };
    let mut current = strata.next_record()?;
    let (mut matched, mut unmatched) = (0u64, 0u64);
    let mut resume = strata_from;
    let mut kafka_at = kafka_from;
    let deadline = Instant::now() + Duration::from_secs(300);
    while kafka_at < kafka_end {
        if Instant::now() > deadline {
            return Err(format!(
                "{}: could not read Kafka offsets {kafka_at}..{kafka_end} back within 300 s",
                s.name()
            )
            .into());
        }
        let Some(m) = consumer.poll(Duration::from_millis(500)) else { continue };
        let m = m?;
        if m.offset() < kafka_at {
            continue;
        }
        if m.offset() > kafka_at {
            // Offsets no consumer reads (compacted away, another writer's
            // transaction markers): what this forwarder delivered there cannot
            // be confirmed, and resuming by guess could send records twice.
            return Err(format!(
                "{}: Kafka offsets {kafka_at}..{} of the unconfirmed window cannot be read back \
                 (compacted, or another writer's transaction markers); stopping rather than \
                 risk sending records twice",
                s.name(),
                m.offset()
            )
            .into());
        }
        kafka_at = m.offset() + 1;
        match &current {
            Some(r) if same_record(&m, r) => {
                matched += 1;
                resume = r.offset() + 1;
                current = strata.next_record()?;
            }
            _ => {
                unmatched += 1;
                eprintln!(
                    "{}: Kafka offset {} is not strata's next record ({}): passed over",
                    s.name(),
                    m.offset(),
                    current.as_ref().map_or("none left".to_owned(), |r| r.offset().to_string())
                );
            }
        }
    }
    Ok((resume, matched, unmatched))
}

/// Strata's committed records from an offset, one at a time.
struct StrataCursor<'a> {
    log: &'a Log,
    next: i64,
    buffered: VecDeque<RecordRef>,
}

impl StrataCursor<'_> {
    fn next_record(&mut self) -> Result<Option<RecordRef>> {
        while self.buffered.is_empty() {
            if self.next >= self.log.last_stable_offset() {
                return Ok(None);
            }
            let fetched = self.log.read_with(self.next, FETCH_BYTES, Isolation::ReadCommitted)?;
            for r in fetched.committed_records() {
                self.buffered.push_back(r?);
            }
            let after = self.buffered.back().map_or(self.next, |r| r.offset() + 1);
            self.next = after.max(fetched.next_offset()).max(self.next + 1);
        }
        Ok(self.buffered.pop_front())
    }
}

fn main() {
    let result = parse_args(std::env::args().skip(1)).and_then(|options| {
        let store = Store::open(StoreConfig::new(options.dirs.clone()))?;
        let outcome = Forwarder::start(&store, options).and_then(|mut f| {
            let run = f.run();
            // Whatever happened, commit what the broker acknowledged.
            let _ = f.take_deliveries();
            f.commit().and(run)
        });
        store.close()?;
        outcome
    });
    if let Err(e) = result {
        eprintln!("forward: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
#[path = "forward/tests.rs"]
mod tests;
