//! `logtool`: the operator's command-line face of a strata store, in the
//! manner of Kafka's `kafka-topics.sh`, `kafka-console-*.sh`,
//! `kafka-consumer-groups.sh` and `kafka-dump-log.sh`.
//!
//! The verbs, flags and JSON fields are a contract (`shared/spec/logtool.md`):
//! scripts drive this tool by those names. Everything goes through the
//! library's public API; this file only parses arguments and prints.
//!
//! ```text
//! cargo run --release --example logtool -- [--dir DIR]... [--config FILE] [--json] COMMAND [ARGS]
//! cargo run --release --features cli --bin logtool -- ...    # the same tool as a binary
//! cargo install strata-log --features cli
//! ```
//!
//! `examples/logtool.rs` mounts this file as a module, so paths inside the tool are `super::`,
//! never `crate::` (the crate root is the example's there).
//!
//! `--dir` and `--json` may come anywhere; `--config FILE` (a `server.properties`) goes before
//! COMMAND, since `topic-create` has a `--config KEY=VALUE` of its own. Commands that change the
//! store open it, do their work and close it cleanly ([`store::with_store`]); commands that only
//! look (`topic-list`, `topic-describe`, `topic-config-describe`, `consume` without `--group`, `offsets`,
//! `offset-for-time`, `group-list`, `group-describe`) open it read-only
//! ([`store::with_store_read_only`]): no byte changes, no lock, safe beside a running writer.
//! `dump` and `verify` read files directly.

#![allow(clippy::print_stdout, reason = "a command-line tool prints")]
#![allow(unreachable_pub, missing_docs, reason = "a binary: pub only structures its modules")]

/// `eprintln!` that cannot panic: a stderr nobody reads any more (`2>&1 | head`) loses the
/// message, never the command's work or its exit status (`eprintln!` panics there: 101).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod configs;
mod data;
mod datetime;
mod dump;
mod dump_files;
mod dump_kraft;
mod groups;
mod handover;
mod handover_offsets;
mod json;
mod maint;
mod paths;
mod produce;
mod produce_feed;
mod progress;
mod store;
mod table;
mod topics;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use self::json::Json;

#[derive(Parser, Debug)]
#[command(
    name = "logtool",
    version,
    about = "Operate a strata store: Kafka's log layer, embedded",
    after_help = EXIT_CODES
)]
struct Cli {
    /// A log directory; repeat to spread partitions over several disks (Kafka's `log.dirs`).
    /// Default: the config file's `log.dirs`, else `./strata-data`.
    #[arg(long = "dir", global = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// A Kafka `server.properties`-style file with the store's defaults (before COMMAND).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// One JSON object per line on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Adopt, with default configs, partition directories of topics the store's
    /// strata-topics does not list (a Kafka broker's log directory added to a store):
    /// refused otherwise, since their configs are unknown.
    #[arg(long = "adopt-unlisted", global = true)]
    adopt_unlisted: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a topic.
    TopicCreate(topics::CreateArgs),
    /// List topics (internal ones too) with their partition counts.
    TopicList,
    /// Every partition of a topic: log directory, offsets, segments and size.
    TopicDescribe {
        /// The topic.
        topic: String,
    },
    /// Delete a topic and all its data.
    TopicDelete {
        /// The topic.
        topic: String,
    },
    /// Grow a topic's partition count (shrinking is an error).
    TopicAlter(topics::AlterArgs),
    /// Set a topic-level config override (Kafka's name, e.g. `retention.ms`).
    ///
    /// Kafka's habit works too: `--add-config k=v[,k=v]...` sets several at once (all or none),
    /// `--delete-config k[,k]...` removes overrides (`kafka-configs --alter`).
    TopicConfigSet {
        /// The topic.
        topic: String,
        /// The config key (or use --add-config).
        #[arg(required_unless_present_any = ["add_config", "delete_config"])]
        key: Option<String>,
        /// Its value.
        #[arg(allow_hyphen_values = true, requires = "key")]
        value: Option<String>,
        /// `KEY=VALUE[,KEY=VALUE]...` to set (Kafka's `kafka-configs --add-config`).
        #[arg(long, value_name = "K=V[,K=V]", allow_hyphen_values = true)]
        add_config: Vec<String>,
        /// `KEY[,KEY]...` overrides to remove (Kafka's `kafka-configs --delete-config`).
        #[arg(long, value_name = "K[,K]")]
        delete_config: Vec<String>,
    },
    /// Remove a topic-level config override.
    TopicConfigRemove {
        /// The topic.
        topic: String,
        /// The config key.
        key: String,
    },
    /// Every effective log config of a topic and where it comes from (topic, store, default).
    TopicConfigDescribe {
        /// The topic.
        topic: String,
    },
    /// Append stdin lines as records, one line per record.
    ///
    /// Records are gathered per partition into batches; a batch is appended when it holds
    /// --batch-records records, when its first record has waited --linger-ms (1000 by default,
    /// so a slow feed such as `tail -f` is appended as it comes), or when stdin ends; each
    /// appended batch prints one line.
    /// A refused line (no key for a compacted topic, a record larger than max.message.bytes,
    /// a --timestamp out of bounds) first appends the lines read before it, then fails naming
    /// the line and why; nothing from it on is appended. With --atomic a refused line
    /// leaves the store as it was.
    ///
    /// Ctrl-C (SIGINT), SIGTERM or SIGHUP stops reading stdin and appends every line read
    /// (checked and reported as at the end of stdin), names the signal and the lines read on
    /// stderr, then exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM, 129 for
    /// SIGHUP): the input was cut short. A second signal ends the tool at once; a signal
    /// ignored when the tool starts (nohup, trap '' HUP) stays ignored. With --atomic
    /// a signal before stdin ends appends nothing and exits 128 + the signal's number.
    Produce(produce::ProduceArgs),
    /// Print records from the given position to the log end.
    Consume(data::ConsumeArgs),
    /// Earliest (log start) and latest (log end) offset of every partition.
    Offsets {
        /// The topic.
        topic: String,
    },
    /// Kafka's ListOffsets: the offset for a timestamp, `earliest`, `latest` or `max-timestamp`.
    ///
    /// `timestamp` is the found record's; -1 for `earliest`/`latest`, and -1 with `offset` null
    /// when no record qualifies (Kafka's answer then).
    OffsetForTime(data::OffsetForTimeArgs),
    /// Advance a partition's log start offset (`kafka-delete-records`); -1 means the log end.
    DeleteRecords {
        /// The topic.
        topic: String,
        /// The partition.
        #[arg(allow_negative_numbers = true)]
        partition: i32,
        /// The new log start offset.
        #[arg(allow_negative_numbers = true)]
        offset: i64,
    },
    /// fsync everything, or one topic.
    Flush {
        /// Only this topic.
        topic: Option<String>,
    },
    /// One pass of retention, the cleaner, the flush policy and checkpoints (or one topic's).
    Maintain {
        /// Only this topic.
        topic: Option<String>,
    },
    /// Consumer groups with committed offsets.
    GroupList,
    /// A group's committed offsets with log end offsets and lag.
    GroupDescribe {
        /// The consumer group.
        group: String,
    },
    /// Commit an offset for a group.
    GroupCommit {
        /// The consumer group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        #[arg(allow_negative_numbers = true)]
        partition: i32,
        /// The offset (the next record the group reads).
        #[arg(allow_negative_numbers = true)]
        offset: i64,
    },
    /// Plan (or with `--execute`, apply) moving a group's offsets on a topic, within the log.
    GroupReset(groups::ResetArgs),
    /// Forget a group and its offsets.
    GroupDelete {
        /// The consumer group.
        group: String,
    },
    /// Print what a partition's files hold, as `kafka-dump-log --deep-iteration` does.
    ///
    /// Each file is decoded by its name: `.log` (and KRaft `.checkpoint` snapshots) as batches
    /// and records, `.index` (offset: N position: P), `.timeindex` (timestamp: T offset: N),
    /// `.txnindex` (aborted transactions), `.snapshot` (producer state), and the checkpoint
    /// files (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
    /// `cleaner-offset-checkpoint`, `replication-offset-checkpoint`, `leader-epoch-checkpoint`,
    /// `partition.metadata`). A directory stands for its `.log` files (see --indexes,
    /// --all-files). A corrupt batch or file is named on stderr and the exit status is 1.
    /// A progress bar shows on a terminal (stderr), never with --json or when piped.
    Dump {
        /// Files, partition directories or log directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print keys and values too (`key:` and `payload:`).
        #[arg(long)]
        print_data_log: bool,
        /// For directories, dump each segment's `.index`, `.timeindex` and `.txnindex` too.
        #[arg(long)]
        indexes: bool,
        /// For directories, dump every file `dump` can decode: indexes, producer snapshots,
        /// checkpoint files and `partition.metadata` as well as segments.
        #[arg(long)]
        all_files: bool,
    },
    /// Give a topic to a stopped Kafka broker that created it (empty): segments, indexes and
    /// producer snapshots move into its partition directories, offsets unchanged; consumer
    /// groups' committed offsets go to a plan that `kafka-consumer-groups.sh` commits.
    HandOver(handover::HandOverArgs),
    /// Check partition directories' invariants without opening them for writing.
    ///
    /// A log directory stands for each partition directory in it; a directory that is neither
    /// is an error (`not a partition directory`).
    ///
    /// CRC, offsets increasing, index entries pointing at the right batches, time index
    /// monotonic. Exit status 1 when any is violated. A progress bar shows on a terminal.
    Verify {
        /// Partition directories or log directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also require offset-index entries to be more than this many bytes apart.
        #[arg(long)]
        index_interval: Option<u64>,
    },
}

/// Exit status: the data `dump` or `verify` read is damaged (as Kafka's tools exit 1).
pub const EXIT_DAMAGED: u8 = 1;
/// Exit status: the command line or a value in it is wrong (unknown topic or partition, a
/// bad config value, an offset outside the log, ...; clap's usage errors exit 2 too).
pub const EXIT_INPUT: u8 = 2;
/// Exit status: the store or a file could not be read or written (I/O error, no space,
/// directory locked by another process or offline, on-disk state that does not decode).
pub const EXIT_STORAGE: u8 = 3;

/// The exit statuses, for `--help` and the README.
const EXIT_CODES: &str = "Exit status:
  0  success
  1  dump or verify found damaged data (named on stderr: file, position, what is wrong)
  2  the command line or a value in it is wrong (unknown topic or partition, bad config, ...)
  3  the store or a file could not be read or written (I/O, no space, locked, offline, corrupt)";

/// A failed command: one sentence for stderr, naming what was wrong, and its exit status.
#[derive(Debug)]
pub struct Failure {
    msg: String,
    code: u8,
}

impl Failure {
    /// Something the operator asked for is wrong: exit status 2.
    pub fn new(msg: impl Into<String>) -> Self {
        Failure { msg: msg.into(), code: EXIT_INPUT }
    }

    /// A file or the store could not be read or written: exit status 3.
    pub fn io(msg: impl Into<String>) -> Self {
        Failure { msg: msg.into(), code: EXIT_STORAGE }
    }

    /// `context: error`, with the exit status the library error calls for.
    pub fn lib(context: impl std::fmt::Display, e: &strata::Error) -> Self {
        Failure { msg: format!("{context}: {e}"), code: exit_code_of(e) }
    }
}

/// Whether a library error is the operator's input (2) or the storage's (3).
fn exit_code_of(e: &strata::Error) -> u8 {
    use strata::Error as E;
    match e {
        E::InvalidBatch { .. }
        | E::InvalidRecord { .. }
        | E::RecordTooLarge { .. }
        | E::InvalidTimestamp { .. }
        | E::OffsetOutOfRange { .. }
        | E::InvalidConfig { .. }
        | E::InvalidTopic { .. }
        | E::TopicExists { .. }
        | E::UnknownPartition { .. }
        | E::InvalidRequest(_)
        | E::OutOfOrderSequence { .. }
        | E::InvalidProducerEpoch { .. }
        | E::TransactionCoordinatorFenced { .. }
        | E::InvalidTxnState { .. }
        | E::ReadOnly => EXIT_INPUT,
        _ => EXIT_STORAGE,
    }
}

impl From<strata::Error> for Failure {
    fn from(e: strata::Error) -> Self {
        Failure { code: exit_code_of(&e), msg: e.to_string() }
    }
}

/// `n` and the noun, plural unless `n` is 1: `1 partition`, `3 partitions`.
pub fn count(n: impl std::fmt::Display, noun: &str) -> String {
    let n = n.to_string();
    match (n.as_str(), noun.ends_with(['s', 'h'])) {
        ("1", _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

/// Output in JSON lines or for people.
///
/// A stdout nobody reads any more (`| head -1`) is not an error worth a message. A command
/// that only looks stops there (exit 0); one that changes something must not stop midway
/// (stdin read but not appended, a store left unclosed, a hand-over half done): its output
/// is dropped from then on and it finishes its work ([`Out::is_closed`] tells it).
pub struct Out {
    json: bool,
    stdout: std::io::BufWriter<std::io::StdoutLock<'static>>,
    /// Whether a closed stdout ends the process (only for commands that change nothing).
    exit_when_closed: bool,
    closed: bool,
}

impl Out {
    /// Whether output is JSON lines (then no progress bar either).
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Whether stdout was found closed: nothing printed from then on reaches anyone.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Pushes what was printed to stdout now (a line that must be visible before the next step).
    pub fn flush(&mut self) {
        if !self.closed && self.stdout.flush().is_err() {
            self.stdout_closed();
        }
    }

    fn stdout_closed(&mut self) {
        if self.exit_when_closed {
            std::process::exit(0);
        }
        self.closed = true;
    }

    /// Prints `value` as a JSON line, or `human()` for people.
    pub fn line(&mut self, value: &Json, human: impl FnOnce() -> String) {
        let text = if self.json { value.encode() } else { human() };
        self.write(&text);
    }

    /// Prints a line for people only (headings).
    pub fn human(&mut self, text: &str) {
        if !self.json {
            self.write(text);
        }
    }

    fn write(&mut self, text: &str) {
        if !self.closed && writeln!(self.stdout, "{text}").is_err() {
            self.stdout_closed();
        }
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.stdout.flush();
        }
    }
}

impl Command {
    /// Whether the command changes a store or a broker's directory (then a closed stdout must
    /// not end it midway). Anything not listed as only looking changes something.
    fn changes_something(&self) -> bool {
        match self {
            Command::TopicList
            | Command::TopicDescribe { .. }
            | Command::TopicConfigDescribe { .. }
            | Command::Offsets { .. }
            | Command::OffsetForTime(_)
            | Command::GroupList
            | Command::GroupDescribe { .. }
            | Command::Dump { .. }
            | Command::Verify { .. } => false,
            Command::Consume(args) => args.group.is_some(),
            Command::GroupReset(args) => args.execute,
            _ => true,
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    progress::watch_store_open(cli.json);
    let mut out = Out {
        json: cli.json,
        stdout: std::io::BufWriter::new(std::io::stdout().lock()),
        exit_when_closed: !cli.command.changes_something(),
        closed: false,
    };
    let globals =
        store::Globals { dirs: cli.dirs, config: cli.config, adopt_unlisted: cli.adopt_unlisted };
    let with_store = |f: &mut dyn FnMut(&strata::Store) -> Result<(), Failure>| {
        store::with_store(&globals, f).map(|()| ExitCode::SUCCESS)
    };
    // Verbs that only look open the store read-only: they change no byte, so
    // they are safe on a damaged directory and beside a running service.
    let look = |f: &mut dyn FnMut(&strata::Store) -> Result<(), Failure>| {
        store::with_store_read_only(&globals, f).map(|()| ExitCode::SUCCESS)
    };
    match cli.command {
        Command::TopicCreate(args) => with_store(&mut |s| topics::create(s, &mut out, &args)),
        Command::TopicList => look(&mut |s| topics::list(s, &mut out)),
        Command::TopicDescribe { topic } => look(&mut |s| topics::describe(s, &mut out, &topic)),
        Command::TopicDelete { topic } => with_store(&mut |s| topics::delete(s, &mut out, &topic)),
        Command::TopicAlter(args) => with_store(&mut |s| topics::alter(s, &mut out, &args)),
        Command::TopicConfigSet { topic, key, value, add_config, delete_config } => {
            let change = configs::Change::parse(key, value, &add_config, &delete_config)?;
            with_store(&mut |s| configs::alter(s, &mut out, &topic, &change))
        }
        Command::TopicConfigRemove { topic, key } => {
            with_store(&mut |s| configs::remove(s, &mut out, &topic, &key))
        }
        Command::TopicConfigDescribe { topic } => {
            look(&mut |s| configs::describe(s, &mut out, &topic))
        }
        Command::Produce(args) => with_store(&mut |s| produce::run(s, &mut out, &args)),
        Command::Consume(args) if args.follow => {
            // Each pass opens the store read-only again, so it sees what a writer in another
            // process appended since; interrupting the tool (Ctrl-C) ends it.
            let mut positions = None;
            let mut remaining = args.max_records.unwrap_or(u64::MAX);
            loop {
                look(&mut |s| {
                    data::follow_pass(s, &mut out, &args, &mut positions, &mut remaining)
                })?;
                out.flush();
                if remaining == 0 {
                    return Ok(ExitCode::SUCCESS);
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
        Command::Consume(args) if args.group.is_some() => {
            // With a group it commits the positions it read: a write.
            with_store(&mut |s| data::consume(s, &mut out, &args))
        }
        Command::Consume(args) => look(&mut |s| data::consume(s, &mut out, &args)),
        Command::Offsets { topic } => look(&mut |s| data::offsets(s, &mut out, &topic)),
        Command::OffsetForTime(args) => look(&mut |s| data::offset_for_time(s, &mut out, &args)),
        Command::Flush { topic } => with_store(&mut |s| data::flush(s, &mut out, topic.as_deref())),
        Command::DeleteRecords { topic, partition, offset } => {
            with_store(&mut |s| maint::delete_records(s, &mut out, &topic, partition, offset))
        }
        Command::Maintain { topic } => {
            with_store(&mut |s| maint::maintain(s, &mut out, topic.as_deref()))
        }
        Command::GroupList => look(&mut |s| groups::list(s, &mut out)),
        Command::GroupDescribe { group } => look(&mut |s| groups::describe(s, &mut out, &group)),
        Command::GroupCommit { group, topic, partition, offset } => {
            with_store(&mut |s| groups::commit(s, &mut out, &group, &topic, partition, offset))
        }
        Command::GroupReset(args) => {
            let to = args.target()?;
            if args.execute {
                with_store(&mut |s| groups::reset(s, &mut out, &args, to))
            } else {
                // A dry run only looks.
                look(&mut |s| groups::reset(s, &mut out, &args, to))
            }
        }
        Command::GroupDelete { group } => with_store(&mut |s| groups::delete(s, &mut out, &group)),
        Command::HandOver(args) => {
            // The store is closed (indexes trimmed, snapshots written) before files move.
            let (mut parts, mut offsets, mut not_carried) = (Vec::new(), Vec::new(), Vec::new());
            with_store(&mut |s| {
                parts = handover::plan(s, &args.topic)?;
                (offsets, not_carried) = handover_offsets::plan(s, &args.topic, &parts)?;
                Ok(())
            })?;
            handover::execute(&mut out, &args, &parts, &offsets, &not_carried)
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Dump { paths, print_data_log, indexes, all_files } => {
            let args = dump::DumpArgs {
                paths: &paths,
                print_data: print_data_log,
                indexes,
                all: all_files,
            };
            let problems = dump::run(&mut out, &args)?;
            Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGED) })
        }
        Command::Verify { paths, index_interval } => {
            // A log directory stands for each partition directory in it; anything else that
            // is not a partition directory is an error, not "0 segments".
            let mut dirs = Vec::new();
            for path in &paths {
                dirs.extend(paths::partition_dirs(path)?);
            }
            let mut failed = false;
            let mut progress =
                progress::Progress::items("verify", dirs.len() as u64, "partitions", out.is_json());
            for path in &dirs {
                let r = strata::internals::inspect::verify_partition_dir(path, index_interval)
                    .map_err(|e| Failure::lib(format!("cannot verify {}", path.display()), &e))?;
                progress.advance(1);
                failed |= !r.violations.is_empty();
                let violations: Vec<Json> = r
                    .violations
                    .iter()
                    .map(|v| {
                        Json::object()
                            .with("file", v.file.as_str())
                            .with("position", v.position)
                            .with("check", v.check)
                            .with("message", v.message.as_str())
                    })
                    .collect();
                let line = Json::object()
                    .with("path", path.display().to_string())
                    .with("segments", r.segments)
                    .with("batches", r.batches)
                    .with("records", r.records)
                    .with("violations", violations);
                out.line(&line, || {
                    let mut s = format!(
                        "{}: {}, {}, {}, {}",
                        path.display(),
                        count(r.segments, "segment"),
                        count(r.batches, "batch"),
                        count(r.records, "record"),
                        count(r.violations.len(), "violation")
                    );
                    for v in &r.violations {
                        let at = v.position.map(|p| format!(" @{p}")).unwrap_or_default();
                        s.push_str(&format!("\n  {}{at} [{}] {}", v.file, v.check, v.message));
                    }
                    s
                });
            }
            progress.finish();
            Ok(if failed { ExitCode::from(EXIT_DAMAGED) } else { ExitCode::SUCCESS })
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Failure { msg, code }) => {
            say!("logtool: {msg}");
            ExitCode::from(code)
        }
    }
}
