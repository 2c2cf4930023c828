//! Consumer-group verbs, like `kafka-consumer-groups.sh`: `group-list`,
//! `group-describe`, `group-commit`, `group-reset` and `group-delete`. The
//! offsets live in the store's own `__consumer_offsets` topic.

use clap::Args;
use strata::{ResetTo, Store, TopicPartition};

use super::json::Json;
use super::table::Table;
use super::{Failure, Out, datetime, store};

fn group_error(group: &str, what: &str) -> impl FnOnce(strata::Error) -> Failure {
    let msg = format!("cannot {what} of consumer group {group:?}");
    move |e| Failure::lib(&msg, &e)
}

fn check_group_id(group: &str) -> Result<(), Failure> {
    if group.is_empty() {
        return Err(Failure::new("a consumer group id cannot be empty"));
    }
    Ok(())
}

/// `group-list`: `{"group"}` per group with committed offsets.
pub fn list(st: &Store, out: &mut Out) -> Result<(), Failure> {
    let groups = st.groups().list().map_err(|e| Failure::lib("cannot list groups", &e))?;
    let mut table = Table::new(&["GROUP"]);
    for g in groups {
        table.row(Json::object().with("group", g.as_str()), vec![g]);
    }
    table.print(out);
    Ok(())
}

/// `group-describe G`: one line per committed partition, with its lag.
pub fn describe(st: &Store, out: &mut Out, group: &str) -> Result<(), Failure> {
    check_group_id(group)?;
    let lags = st.groups().describe(group).map_err(group_error(group, "describe the offsets"))?;
    if lags.is_empty() {
        return Err(Failure::new(format!(
            "consumer group {group:?} does not exist: it has no committed offsets in this store"
        )));
    }
    let mut table =
        Table::new(&["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]);
    for l in lags {
        let json = Json::object()
            .with("group", group)
            .with("topic", l.topic.as_str())
            .with("partition", l.partition)
            .with("current_offset", l.current_offset)
            .with("log_end_offset", l.log_end_offset.unwrap_or(-1))
            .with("lag", l.lag.unwrap_or(-1));
        // Kafka prints "-" for what it does not know.
        let known = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let cells = vec![
            group.to_owned(),
            l.topic,
            l.partition.to_string(),
            l.current_offset.to_string(),
            known(l.log_end_offset),
            known(l.lag),
        ];
        table.row(json, cells);
    }
    table.print(out);
    Ok(())
}

fn commit_line(group: &str, topic: &str, partition: i32, offset: i64) -> Json {
    Json::object()
        .with("group", group)
        .with("topic", topic)
        .with("partition", partition)
        .with("offset", offset)
}

/// `group-commit G NAME PARTITION OFFSET`: `{"group","topic","partition","offset"}`.
pub fn commit(
    st: &Store,
    out: &mut Out,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), Failure> {
    check_group_id(group)?;
    store::log(st, topic, partition)?;
    if offset < 0 {
        return Err(Failure::new(format!("cannot commit offset {offset}: it is negative")));
    }
    st.groups().commit(group, topic, partition, offset).map_err(group_error(group, "commit"))?;
    out.line(&commit_line(group, topic, partition, offset), || {
        format!("group {group}: committed {topic}-{partition} at offset {offset}")
    });
    Ok(())
}

/// `group-reset G NAME [--partition P] (--to-earliest | --to-latest | --to-offset N | --shift-by N | --to-datetime ISO8601)`
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("to").required(true)
    .args(["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime"]))]
pub struct ResetArgs {
    /// The consumer group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// Only this partition (default: every partition of the topic).
    #[arg(long, allow_negative_numbers = true)]
    pub partition: Option<i32>,
    /// To the log start offset.
    #[arg(long)]
    pub to_earliest: bool,
    /// To the log end offset.
    #[arg(long)]
    pub to_latest: bool,
    /// To this offset (clamped into the log).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub to_offset: Option<i64>,
    /// By N from the committed offset (refused when there is none); negative moves back.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// To the first offset whose timestamp is at or after this time:
    /// `YYYY-MM-DDTHH:mm:SS.sss`, optionally with `Z` or `+hh:mm`; without a zone it is UTC.
    #[arg(long, value_name = "ISO8601")]
    pub to_datetime: Option<String>,
    /// Apply the plan. Without it the reset is a dry run that prints the new offsets and
    /// commits nothing (`kafka-consumer-groups --reset-offsets` without `--execute`).
    #[arg(long)]
    pub execute: bool,
    /// Print the plan only (the default; Kafka's `--dry-run`).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
}

impl ResetArgs {
    /// Where to, checked before the store is opened.
    pub fn target(&self) -> Result<ResetTo, Failure> {
        Ok(if self.to_earliest {
            ResetTo::Earliest
        } else if self.to_latest {
            ResetTo::Latest
        } else if let Some(n) = self.to_offset {
            ResetTo::Offset(n)
        } else if let Some(n) = self.shift_by {
            ResetTo::ShiftBy(n)
        } else if let Some(t) = &self.to_datetime {
            // Before 1970 everything qualifies: time 0 finds the same first offset.
            ResetTo::Datetime(datetime::parse_ms(t).map_err(Failure::new)?.max(0))
        } else {
            return Err(Failure::new(
                "say where to: --to-earliest, --to-latest, --to-offset, --shift-by or --to-datetime",
            ));
        })
    }
}

/// `group-reset`: one `{"group","topic","partition","offset"}` per partition moved.
pub fn reset(st: &Store, out: &mut Out, args: &ResetArgs, to: ResetTo) -> Result<(), Failure> {
    let (group, topic) = (args.group.as_str(), args.topic.as_str());
    check_group_id(group)?;
    match args.partition {
        Some(p) => drop(store::log(st, topic, p)?),
        None => drop(store::partition_count(st, topic)?),
    }
    let groups = st.groups();
    let moved = if args.execute {
        groups.reset(group, topic, args.partition, to)
    } else {
        groups.plan_reset(group, topic, args.partition, to)
    }
    .map_err(group_error(group, "reset the offsets"))?;
    if !args.execute {
        out.human("dry run: nothing committed (add --execute to apply)");
    }
    let mut table = Table::new(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    for (p, offset) in moved {
        let cells = vec![group.to_owned(), topic.to_owned(), p.to_string(), offset.to_string()];
        table.row(commit_line(group, topic, p, offset), cells);
    }
    table.print(out);
    Ok(())
}

/// `group-delete G`: `{"group","deleted":true}`.
pub fn delete(st: &Store, out: &mut Out, group: &str) -> Result<(), Failure> {
    check_group_id(group)?;
    if !st.groups().delete(group).map_err(group_error(group, "delete the offsets"))? {
        return Err(Failure::new(format!(
            "consumer group {group:?} does not exist: it has no committed offsets in this store"
        )));
    }
    out.line(&Json::object().with("group", group).with("deleted", true), || {
        format!("deleted consumer group {group}")
    });
    Ok(())
}

/// Where `consume --group` starts on `topic`-`partition` when no position is
/// given: the committed offset, or `None` (the beginning) when there is none.
pub fn committed(
    st: &Store,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, Failure> {
    check_group_id(group)?;
    st.groups().fetch(group, topic, partition).map_err(group_error(group, "read the offsets"))
}

/// After `consume --group`: commits the next offset of every partition read.
pub fn commit_positions(
    st: &Store,
    group: &str,
    topic: &str,
    positions: &[(i32, i64)],
) -> Result<(), Failure> {
    let offsets: Vec<(TopicPartition, i64)> =
        positions.iter().map(|&(p, o)| (TopicPartition::new(topic, p), o)).collect();
    st.groups().commit_many(group, &offsets).map_err(group_error(group, "commit the positions"))
}
