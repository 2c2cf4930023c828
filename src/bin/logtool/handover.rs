//! `hand-over`: gives a strata topic to a stopped Kafka broker without changing an offset.
//!
//! The procedure (README, "From strata to a Kafka cluster"):
//! 1. create the topic on the cluster with the same partition count (the broker assigns its
//!    topic ID and makes empty partition directories holding it in `partition.metadata`);
//! 2. stop the broker (and the strata service);
//! 3. `logtool --dir STRATA_DIR hand-over TOPIC --broker-dir BROKER_LOG_DIR`: strata's store is
//!    opened (recovering it if needed) and closed cleanly, so every index is trimmed and each
//!    partition's producer snapshot at its log end written; then each partition's segments,
//!    indexes (`.index`, `.timeindex`, `.txnindex`) and producer snapshots replace the broker's
//!    empty ones, and the broker's `recovery-point-offset-checkpoint` and
//!    `log-start-offset-checkpoint` get strata's log end and log start offsets. The broker's `partition.metadata` (its topic ID) and
//!    `leader-epoch-checkpoint` stay: the broker's metadata says who leads with which epoch;
//! 4. start the broker: it loads the segments (with its own recovery when it was not shut down
//!    cleanly) and serves every record at its original offset;
//! 5. when strata's consumer groups committed offsets on the topic: run the
//!    `kafka-consumer-groups.sh --reset-offsets --from-file FILE ... --execute` command the verb
//!    printed (`--offsets-file FILE` names where the plan goes): Kafka's group coordinator
//!    commits each offset into the cluster's `__consumer_offsets`, and the groups' consumers
//!    resume where they were in strata ([`super::handover_offsets`] says why through the API).
//!
//! Refused, changing nothing: a broker partition that holds data, a missing broker partition
//! directory or `partition.metadata` (the topic was not created there), a strata topic that does
//! not exist, a strata partition with no producer snapshot at its log end. The close writes none
//! for a producer state past the snapshot bound (1 GiB, about 23 million producers); strata's
//! next open rebuilds it from the log, but a Kafka broker started cleanly on a partition with no
//! snapshot takes it for one from before producer state existed (the upgrade shortcut of
//! `UnifiedLog.rebuildProducerState`) and skips the scan, forgetting every producer. The verb
//! cannot tell a running broker (Kafka's `.lock` is a POSIX record lock, invisible to strata's
//! `flock`): stop it first.
//! Not carried: topic configs; commit metadata strings of the groups' offsets (Kafka's reset
//! plan has no column for them: its `--from-file` parser builds each commit from the offset
//! alone). A transaction open in strata at the hand-over stays open on the cluster (no
//! coordinator knows its producer): the verb names its partition and first offset, where a
//! `kafka-transactions.sh abort` closes it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use strata::Store;
use strata::internals::format::file_name::{FileKind, segment_file_name};
use strata::internals::store::checkpoint::{
    self, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};

use super::handover_offsets::{self, GroupOffset, NotCarried};
use super::json::Json;
use super::{Failure, Out};

#[derive(Args, Debug)]
pub struct HandOverArgs {
    /// The strata topic (created on the broker beforehand, with as many partitions).
    pub topic: String,
    /// The stopped broker's log directory (`log.dirs`) holding the topic's partitions.
    #[arg(long, value_name = "DIR")]
    pub broker_dir: PathBuf,
    /// Where to write the consumer groups' committed offsets on the topic, as the CSV that
    /// `kafka-consumer-groups.sh --reset-offsets --from-file` commits on the running cluster
    /// (the verb prints the command). Required when groups committed offsets on the topic,
    /// unless `--without-group-offsets`.
    #[arg(long, value_name = "FILE")]
    pub offsets_file: Option<PathBuf>,
    /// Hand over without the consumer groups' committed offsets (they stay in strata only).
    #[arg(long, conflicts_with = "offsets_file")]
    pub without_group_offsets: bool,
}

/// One partition to move: strata's directory and offsets.
#[derive(Debug)]
pub struct Part {
    pub partition: i32,
    from: PathBuf,
    pub log_start: i64,
    pub log_end: i64,
    /// The last stable offset: below `log_end` while a transaction is open.
    pub last_stable: i64,
}

/// Phase 1, inside the writable store (which is then closed cleanly): the partitions, their
/// directories and offsets.
pub fn plan(st: &Store, topic: &str) -> Result<Vec<Part>, Failure> {
    let count = st.partition_count(topic).map_err(|e| Failure::new(format!("{topic}: {e}")))?;
    let mut parts = Vec::new();
    for partition in 0..count {
        let log = st.partition(topic, partition)?;
        log.flush()?;
        parts.push(Part {
            partition,
            from: log.dir().to_path_buf(),
            log_start: log.log_start_offset(),
            log_end: log.log_end_offset(),
            last_stable: log.last_stable_offset(),
        });
    }
    Ok(parts)
}

/// Whether `name` is one of a segment's files that moves: `<20 digits>.log|index|timeindex|
/// txnindex|snapshot`.
fn is_segment_file(name: &str) -> bool {
    let Some((stem, ext)) = name.split_once('.') else { return false };
    stem.len() == 20
        && stem.bytes().all(|b| b.is_ascii_digit())
        && matches!(ext, "log" | "index" | "timeindex" | "txnindex" | "snapshot")
}

fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries = fs::read_dir(dir)
        .map_err(|e| Failure::new(format!("cannot list {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Failure::new(format!("cannot list {}: {e}", dir.display())))?;
        if e.file_name().to_str().is_some_and(is_segment_file) {
            files.push(e.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Checks the broker's side before anything changes: a Kafka log directory with the topic's
/// partitions, each empty.
fn check_broker(broker_dir: &Path, topic: &str, parts: &[Part]) -> Result<(), Failure> {
    if !broker_dir.join("meta.properties").is_file() {
        return Err(Failure::new(format!(
            "{} is not a Kafka log directory (no meta.properties)",
            broker_dir.display()
        )));
    }
    for p in parts {
        let to = broker_dir.join(format!("{topic}-{}", p.partition));
        if !to.join("partition.metadata").is_file() {
            return Err(Failure::new(format!(
                "{} has no partition.metadata: create topic {topic} with {} partitions on the \
                 broker first (it assigns the topic ID), then stop it",
                to.display(),
                parts.len()
            )));
        }
        for f in segment_files(&to)? {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let len = fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            if name.ends_with(".log") && len > 0 {
                return Err(Failure::new(format!(
                    "{} holds data ({len} bytes): hand-over only fills an empty partition",
                    f.display()
                )));
            }
        }
    }
    Ok(())
}

/// Checks strata's side before anything changes: each partition has its producer snapshot at its
/// log end, which a broker started cleanly needs to know strata's producers (with none, Kafka's
/// `UnifiedLog.rebuildProducerState` takes a cleanly shut down partition for one upgraded from
/// before producer state existed and skips the log scan).
fn check_snapshots(topic: &str, parts: &[Part]) -> Result<(), Failure> {
    for p in parts {
        let snapshot = p.from.join(segment_file_name(p.log_end, FileKind::Snapshot));
        if !snapshot.is_file() {
            return Err(Failure::new(format!(
                "{topic}-{}: no producer snapshot at its log end ({} is missing): its producer \
                 state was too long to snapshot, and a Kafka broker would start on the partition \
                 without its producers (nothing was changed)",
                p.partition,
                snapshot.display()
            )));
        }
    }
    Ok(())
}

/// Copies `from` to `to` through a temporary name and fsyncs it.
fn copy_file(from: &Path, to: &Path) -> Result<(), Failure> {
    let tmp = to.with_extension("handover-tmp");
    let fail = |e: std::io::Error| {
        Failure::new(format!("cannot copy {} to {}: {e}", from.display(), to.display()))
    };
    fs::copy(from, &tmp).map_err(fail)?;
    fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(fail)?;
    fs::rename(&tmp, to).map_err(fail)
}

/// Phase 2, after strata's store is closed: the files move into the broker's directories and its
/// checkpoints take the offsets.
pub fn execute(
    out: &mut Out,
    args: &HandOverArgs,
    parts: &[Part],
    offsets: &[GroupOffset],
    not_carried: &[NotCarried],
) -> Result<(), Failure> {
    let topic = args.topic.as_str();
    let broker = args.broker_dir.as_path();
    check_broker(broker, topic, parts)?;
    check_snapshots(topic, parts)?;
    // The groups' offsets are written first: a failure there leaves the broker untouched.
    let offsets_file = match (&args.offsets_file, offsets.is_empty()) {
        (Some(path), false) => {
            handover_offsets::write_plan(path, topic, offsets)?;
            Some(path.as_path())
        }
        (None, false) if !args.without_group_offsets => {
            let mut groups: Vec<&str> = offsets.iter().map(|o| o.group.as_str()).collect();
            groups.dedup();
            return Err(Failure::new(format!(
                "consumer groups {groups:?} committed offsets on {topic}: pass --offsets-file \
                 FILE to carry them to the cluster, or --without-group-offsets to leave them \
                 behind (nothing was changed)"
            )));
        }
        _ => None,
    };
    let mut recovery: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut starts: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for p in parts {
        let to = broker.join(format!("{topic}-{}", p.partition));
        for old in segment_files(&to)? {
            fs::remove_file(&old)
                .map_err(|e| Failure::new(format!("cannot remove {}: {e}", old.display())))?;
        }
        let files = segment_files(&p.from)?;
        for f in &files {
            let name = f.file_name().map(PathBuf::from).unwrap_or_default();
            copy_file(f, &to.join(name))?;
        }
        fs::File::open(&to)
            .and_then(|d| d.sync_all())
            .map_err(|e| Failure::new(format!("cannot sync {}: {e}", to.display())))?;
        recovery.insert((topic.to_owned(), p.partition), p.log_end);
        starts.insert((topic.to_owned(), p.partition), p.log_start);
        let topic_id = fs::read_to_string(to.join("partition.metadata"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("topic_id: ").map(str::trim).map(str::to_owned))
            })
            .unwrap_or_default();
        let line = Json::object()
            .with("partition", p.partition)
            .with("dir", to.display().to_string())
            .with("topic_id", topic_id.as_str())
            .with("files", files.len())
            .with("log_start_offset", p.log_start)
            .with("log_end_offset", p.log_end);
        out.line(&line, || {
            format!(
                "{topic}-{}: {} files into {} (topic ID {topic_id}), offsets {} to {}",
                p.partition,
                files.len(),
                to.display(),
                p.log_start,
                p.log_end
            )
        });
        if p.last_stable < p.log_end {
            let open = Json::object()
                .with("partition", p.partition)
                .with("warning", "open transaction")
                .with("last_stable_offset", p.last_stable);
            out.line(&open, || {
                format!(
                    "warning: {topic}-{}: a transaction is open from offset {} (the last stable \
                     offset): the cluster's coordinator never knew it, so it stays open there and \
                     read_committed consumers stop at {} until it is aborted, e.g. \
                     kafka-transactions.sh --bootstrap-server BROKER:PORT find-hanging \
                     --broker-id ID, then abort --topic {topic} --partition {} --start-offset {}",
                    p.partition, p.last_stable, p.last_stable, p.partition, p.last_stable
                )
            });
        }
    }
    for (name, values) in
        [(RECOVERY_POINT_CHECKPOINT, recovery), (LOG_START_OFFSET_CHECKPOINT, starts)]
    {
        let path = broker.join(name);
        let mut offsets =
            if path.is_file() { checkpoint::read_offsets(&path)? } else { BTreeMap::new() };
        offsets.extend(values);
        checkpoint::write_offsets(&path, &offsets)?;
    }
    if args.without_group_offsets {
        out.human(&format!(
            "{} committed offsets of consumer groups on {topic} not carried \
             (--without-group-offsets)",
            offsets.len()
        ));
    } else if offsets.is_empty() {
        out.human(&format!("no consumer group committed offsets on {topic}: none to carry"));
    } else {
        handover_offsets::report(out, topic, offsets, offsets_file);
    }
    handover_offsets::report_not_carried(out, topic, not_carried);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(from: &Path, log_end: i64) -> Part {
        Part { partition: 1, from: from.to_path_buf(), log_start: 0, log_end, last_stable: log_end }
    }

    #[test]
    fn a_partition_without_a_producer_snapshot_at_its_log_end_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A snapshot at an older offset only (a roll's) is not the one a broker reads at start.
        fs::write(dir.path().join(format!("{:020}.snapshot", 5)), b"").unwrap();
        let refused = check_snapshots("orders", &[part(dir.path(), 10)]);
        let message = refused.err().unwrap().msg;
        assert!(message.contains("orders-1: no producer snapshot at its log end"), "{message}");
        assert!(message.contains("00000000000000000010.snapshot"), "{message}");
        fs::write(dir.path().join(format!("{:020}.snapshot", 10)), b"").unwrap();
        assert!(check_snapshots("orders", &[part(dir.path(), 10)]).is_ok());
    }
}
