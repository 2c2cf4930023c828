//! The consumer-group half of `hand-over`: strata's committed offsets for the handed-over topic,
//! carried into the cluster's `__consumer_offsets` by Kafka's own group coordinator.
//!
//! The verb writes them as a reset plan in the CSV that `kafka-consumer-groups.sh
//! --reset-offsets --from-file` reads (`group,topic,partition,offset`, one line per committed
//! partition) and prints the command; run once the broker serves the topic, that command commits
//! every offset through Kafka's `AlterConsumerGroupOffsets` API, and a consumer of the group then
//! resumes at strata's offset on every partition.
//!
//! Why not write `__consumer_offsets` records into the stopped broker's directory, as the
//! segments are written? That topic exists on a cluster only once a client asked for a group
//! coordinator, its partition count is the cluster's `offsets.topic.num.partitions`, and its
//! records are the coordinator's private state, whose schemas changed with Kafka 4's new group
//! coordinator (group, member and assignment records beside the offsets). Committing through
//! the coordinator's API works on every Kafka version that has the tool and validates what it
//! writes; logtool itself does no networking.
//!
//! Offsets outside the partition (below a log start offset that DeleteRecords or retention
//! moved after the commit, or past the log end) are moved into `[log start, log end]`, as Kafka's
//! tool would move them anyway (and as a consumer's `auto.offset.reset=earliest` would), and
//! reported. A commit for a partition the topic does not have (strata's `commit_many` does not
//! check that the partition exists) has nowhere to go on the cluster: it is not carried, and
//! reported as such. Commit metadata strings are not carried (the CSV has no column for them).
//!
//! Kafka's tool before 4.4 (4.0.2, 4.1.2, 4.2.2, 4.3.1 were run) first tries each plan as the
//! three-column single-group format and prints that parse's stack trace before it applies the
//! four-column lines; the NEW-OFFSET table it prints after is what it committed (4.4.0 prints no
//! trace).

use std::fs;
use std::io::Write as _;
use std::path::Path;

use strata::Store;
use strata::internals::io::file;

use super::handover::Part;
use super::json::Json;
use super::{Failure, Out};

/// One committed offset of one group on one partition of the handed-over topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    pub group: String,
    pub partition: i32,
    /// What the group committed in strata.
    pub committed: i64,
    /// What the cluster gets: `committed` moved into `[log start, log end]`.
    pub carried: i64,
}

/// A committed offset that is not carried: the topic has no such partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCarried {
    pub group: String,
    pub partition: i32,
    pub committed: i64,
}

/// Every strata group's committed offsets on `topic`, sorted by group and partition, each
/// moved into its partition's offsets as described in the module docs; and the commits for
/// partitions the topic does not have, which cannot be carried.
pub fn plan(
    st: &Store,
    topic: &str,
    parts: &[Part],
) -> Result<(Vec<GroupOffset>, Vec<NotCarried>), Failure> {
    let groups =
        st.groups().list().map_err(|e| Failure::new(format!("cannot list groups: {e}")))?;
    let (mut offsets, mut not_carried) = (Vec::new(), Vec::new());
    for group in groups {
        let committed = st.groups().offsets(&group).map_err(|e| {
            Failure::new(format!("cannot read the offsets of consumer group {group:?}: {e}"))
        })?;
        for c in committed.into_iter().filter(|c| c.topic == topic) {
            // A commit for a partition the topic does not have (yet) has nowhere to go: it is
            // reported, never dropped silently.
            let Some(part) = parts.iter().find(|p| p.partition == c.partition) else {
                not_carried.push(NotCarried {
                    group: group.clone(),
                    partition: c.partition,
                    committed: c.offset,
                });
                continue;
            };
            check_group_id(&group)?;
            offsets.push(GroupOffset {
                group: group.clone(),
                partition: c.partition,
                committed: c.offset,
                carried: c.offset.clamp(part.log_start, part.log_end),
            });
        }
    }
    Ok((offsets, not_carried))
}

/// A group id the reset plan can carry: Kafka's tool splits the file at `\n` before it parses
/// CSV, so a line break cannot be quoted.
fn check_group_id(group: &str) -> Result<(), Failure> {
    if group.contains(['\n', '\r']) {
        return Err(Failure::new(format!(
            "consumer group {group:?} has a line break in its id, which \
             kafka-consumer-groups.sh --from-file cannot read: pass --without-group-offsets and \
             commit its offsets on the cluster another way"
        )));
    }
    Ok(())
}

/// One CSV field: quoted (with `""` for a quote) when it holds a comma, quote or space.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', ' ', '\t']) || s.is_empty() {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A word for a POSIX shell: single-quoted unless it is plain.
fn shell_word(s: &str) -> String {
    let plain =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.,:/=@+%".contains(&b));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

/// The reset plan's text: `group,topic,partition,offset` per line.
pub fn csv(topic: &str, offsets: &[GroupOffset]) -> String {
    let mut text = String::new();
    for o in offsets {
        text.push_str(&format!("{},{topic},{},{}\n", csv_field(&o.group), o.partition, o.carried));
    }
    text
}

/// Writes the reset plan to `path` through a temporary name: the file is fsynced, renamed into
/// place and its directory fsynced, so the plan is durable before the printed command and the
/// broker's changes depend on it. A failure removes the temporary file.
pub fn write_plan(path: &Path, topic: &str, offsets: &[GroupOffset]) -> Result<(), Failure> {
    let fail = |e: &dyn std::fmt::Display| {
        Failure::new(format!("cannot write the group offsets to {}: {e}", path.display()))
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    let written = fs::File::create(tmp)
        .and_then(|mut f| f.write_all(csv(topic, offsets).as_bytes()).map(|()| f))
        .map_err(|e| fail(&e))
        .and_then(|f| file::sync_all(&f, tmp).map_err(|e| fail(&e)))
        // Renames, then fsyncs the directory the plan is in.
        .and_then(|()| file::rename(tmp, path).map_err(|e| fail(&e)));
    if written.is_err() {
        // Best effort: the failure reported is the write's, not this cleanup's.
        let _ = fs::remove_file(tmp);
    }
    written
}

/// The command that commits the plan on the cluster, once the broker runs.
pub fn command(path: &Path, offsets: &[GroupOffset]) -> String {
    let mut groups: Vec<&str> = offsets.iter().map(|o| o.group.as_str()).collect();
    groups.dedup();
    let mut cmd = format!(
        "kafka-consumer-groups.sh --bootstrap-server BROKER:PORT --reset-offsets --from-file {}",
        shell_word(&path.display().to_string())
    );
    for g in groups {
        cmd.push_str(&format!(" --group {}", shell_word(g)));
    }
    cmd.push_str(" --execute");
    cmd
}

/// Prints each commit that is not carried because the topic has no such partition.
pub fn report_not_carried(out: &mut Out, topic: &str, not_carried: &[NotCarried]) {
    for n in not_carried {
        let line = Json::object()
            .with("group", n.group.as_str())
            .with("topic", topic)
            .with("partition", n.partition)
            .with("committed_offset", n.committed)
            .with("not_carried", "the topic has no such partition");
        out.line(&line, || {
            format!(
                "group {}: {topic}-{} at offset {} not carried: {topic} has no partition {}",
                n.group, n.partition, n.committed, n.partition
            )
        });
    }
}

/// Prints each carried offset, then where the plan is and the command to run.
pub fn report(out: &mut Out, topic: &str, offsets: &[GroupOffset], file: Option<&Path>) {
    for o in offsets {
        let line = Json::object()
            .with("group", o.group.as_str())
            .with("topic", topic)
            .with("partition", o.partition)
            .with("committed_offset", o.committed)
            .with("offset", o.carried)
            .with("moved", o.carried != o.committed);
        out.line(&line, || {
            let moved = if o.carried == o.committed {
                String::new()
            } else {
                format!(" (committed {}, outside the partition's offsets)", o.committed)
            };
            format!("group {}: {topic}-{} at offset {}{moved}", o.group, o.partition, o.carried)
        });
    }
    let Some(path) = file else { return };
    let mut groups: Vec<&str> = offsets.iter().map(|o| o.group.as_str()).collect();
    groups.dedup();
    let cmd = command(path, offsets);
    let line = Json::object()
        .with("offsets_file", path.display().to_string())
        .with("groups", groups.len())
        .with("offsets", offsets.len())
        .with("command", cmd.as_str());
    out.line(&line, || {
        format!(
            "{} offsets of {} groups written to {}; once the broker serves the topic, commit \
             them on the cluster (the groups must have no active member) and check the \
             NEW-OFFSET table it prints:\n  {cmd}",
            offsets.len(),
            groups.len(),
            path.display()
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(group: &str, partition: i32, carried: i64) -> GroupOffset {
        GroupOffset { group: group.to_owned(), partition, committed: carried, carried }
    }

    #[test]
    fn the_plan_quotes_group_ids_as_kafkas_csv_reader_expects() {
        let plan = [off("billing", 0, 7), off("a,b \"x\"", 1, 9)];
        assert_eq!(csv("orders", &plan), "billing,orders,0,7\n\"a,b \"\"x\"\"\",orders,1,9\n");
    }

    #[test]
    fn the_command_names_each_group_once_and_quotes_for_the_shell() {
        let plan = [off("billing", 0, 7), off("billing", 1, 8), off("it's", 0, 1)];
        assert_eq!(
            command(Path::new("/tmp/o.csv"), &plan),
            "kafka-consumer-groups.sh --bootstrap-server BROKER:PORT --reset-offsets \
             --from-file /tmp/o.csv --group billing --group 'it'\\''s' --execute"
        );
    }

    #[test]
    fn a_group_id_with_a_line_break_is_refused() {
        assert!(check_group_id("a\nb").is_err());
        assert!(check_group_id("a b").is_ok());
    }
}
