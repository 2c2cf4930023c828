//! Issue 12's targets, judged from this run's medians: each target's
//! threshold, what strata reached, and, where the machine caps the target,
//! the same ratio for the ceiling that caps it, measured in the same run.
//!
//! A ceiling is what an engine doing strictly less than strata must do
//! reaches: the raw file (the same bytes, one `write` per batch, nothing
//! else), or a floor row of the run that does only the part of strata's work
//! the format or the contract requires (a CRC the rules demand, the page
//! tables a mapping needs). A target above its ceiling cannot be met on this
//! machine by any engine that keeps strata's promises; the table says so.

use std::fmt::Write;

use crate::engines::{COMMITLOG, KRABKA, MEMORY, RAW, STRATA};
use crate::metrics;

/// Looks up the median of `metric` for `engine` in this run.
pub type Median<'a> = dyn Fn(&str, &str) -> Option<f64> + 'a;

/// How a target compares strata with its reference.
enum Goal {
    /// strata's rate ÷ the reference engine's rate on the metric, at least this.
    RateOver { metric: &'static str, engine: &'static str, at_least: f64 },
    /// strata's latency ÷ the reference engine's on the metric, at most this.
    LatencyUnder { metric: &'static str, engine: &'static str, at_most: f64 },
    /// strata's latency on the metric, at most this many µs.
    LatencyAtMost { metric: &'static str, micros: f64 },
    /// strata's rate on the metric, at least this.
    RateAtLeast { metric: &'static str, rate: f64 },
    /// strata ahead of the engine on every metric both measured.
    AheadEverywhere { engine: &'static str },
}

struct Target {
    label: &'static str,
    goal: Goal,
    /// What caps the target, and its value in this run in the target's own
    /// terms (the same ratio, or µs for a latency bound).
    ceiling: Option<(&'static str, fn(&Median<'_>) -> Option<String>)>,
}

fn times(r: f64) -> String {
    format!("{r:.2}×")
}

fn rate_ratio(m: &Median<'_>, metric: &str, a: &str, b: &str) -> Option<f64> {
    Some(m(a, metric)? / m(b, metric)?)
}

const TARGETS: &[Target] = &[
    Target {
        label: "append, page cache ≥ 1.5× commitlog",
        goal: Goal::RateOver { metric: metrics::APPEND, engine: COMMITLOG, at_least: 1.5 },
        // The page-cache class acknowledges an append once its bytes are in
        // the kernel: one `write` a batch, which is all the raw file does;
        // of the batch bytes strata stores (its append_batch row), which a
        // Kafka-format log must write.
        ceiling: Some(("raw file ÷ commitlog (writing strata's batch bytes)", |m| {
            let payload = rate_ratio(m, metrics::APPEND, RAW, COMMITLOG)?;
            let batches = m(RAW, metrics::APPEND_BATCH)? / m(COMMITLOG, metrics::APPEND)?;
            Some(format!("{} ({})", times(payload), times(batches)))
        })),
    },
    Target {
        label: "append, page cache ≥ 0.7× raw file",
        goal: Goal::RateOver { metric: metrics::APPEND, engine: RAW, at_least: 0.7 },
        // Kafka's format stores more bytes than the payload: the raw file
        // writing strata's encoded batches (its append_batch row).
        ceiling: Some(("raw file writing strata's batch bytes ÷ raw file", |m| {
            Some(times(m(RAW, metrics::APPEND_BATCH)? / m(RAW, metrics::APPEND)?))
        })),
    },
    Target {
        label: "append_batch ≥ 0.85× raw file",
        goal: Goal::RateOver { metric: metrics::APPEND_BATCH, engine: RAW, at_least: 0.85 },
        // The rules require the CRC check of every client batch.
        ceiling: Some(("raw file checking each batch's CRC ÷ raw file", |m| {
            Some(times(m(RAW, metrics::APPEND_BATCH_CRC)? / m(RAW, metrics::APPEND_BATCH)?))
        })),
    },
    Target {
        label: "append, one final fsync ≥ 0.85× raw file",
        goal: Goal::RateOver { metric: metrics::APPEND_FSYNC_END, engine: RAW, at_least: 0.85 },
        ceiling: Some(("raw file writing and syncing strata's batch bytes ÷ raw file", |m| {
            Some(times(
                m(RAW, metrics::APPEND_BATCH_FSYNC_END)? / m(RAW, metrics::APPEND_FSYNC_END)?,
            ))
        })),
    },
    Target {
        label: "durable append, fsync per batch ≥ 0.9× raw file",
        goal: Goal::RateOver { metric: metrics::APPEND_FSYNC_EACH, engine: RAW, at_least: 0.9 },
        ceiling: None,
    },
    Target {
        label: "full decode scan ≥ 2× commitlog",
        goal: Goal::RateOver { metric: metrics::SCAN, engine: COMMITLOG, at_least: 2.0 },
        // The raw file only reads the bytes and touches them: no framing, no CRC.
        ceiling: Some(("raw file ÷ commitlog", |m| {
            rate_ratio(m, metrics::SCAN, RAW, COMMITLOG).map(times)
        })),
    },
    Target {
        label: "batch views, CRC checked ≥ 0.8× crc32c in memory",
        goal: Goal::RateOver { metric: metrics::SCAN_CRC, engine: MEMORY, at_least: 0.8 },
        ceiling: None,
    },
    Target {
        label: "point read p50 ≤ 0.5× commitlog's",
        goal: Goal::LatencyUnder { metric: metrics::GET_P50, engine: COMMITLOG, at_most: 0.5 },
        // A read serves a record only after its batch's CRC (as Kafka's
        // consumer checks it): the CRC alone over each read's batch.
        ceiling: Some(("the batch's CRC alone ÷ commitlog's read", |m| {
            Some(times(m(STRATA, metrics::GET_CRC_P50)? / m(COMMITLOG, metrics::GET_P50)?))
        })),
    },
    Target {
        label: "point read p99 ≤ 2 µs",
        goal: Goal::LatencyAtMost { metric: metrics::GET_P99, micros: 2.0 },
        ceiling: Some(("the batch's CRC alone, p99", |m| {
            m(STRATA, metrics::GET_CRC_P99).map(|v| format!("{v:.2} µs"))
        })),
    },
    Target {
        label: "unclean recovery of 1 GiB ≥ 0.8× crc32c in memory",
        goal: Goal::RateOver { metric: metrics::RECOVERY, engine: MEMORY, at_least: 0.8 },
        // Mapping the page cache's small folios, before any CRC, on one
        // thread (strata's recovery shares it with a second thread).
        ceiling: Some(("one thread mapping and touching the segment, no CRC ÷ crc32c", |m| {
            Some(times(m(RAW, metrics::RECOVERY_FLOOR)? / m(MEMORY, metrics::RECOVERY)?))
        })),
    },
    Target {
        label: "compaction, 100k distinct keys ≥ 200 MiB/s",
        goal: Goal::RateAtLeast { metric: metrics::COMPACT_100K, rate: 200.0 },
        ceiling: None,
    },
    Target {
        label: "every row ahead of krabka-log",
        goal: Goal::AheadEverywhere { engine: KRABKA },
        ceiling: None,
    },
];

/// What strata reached on a goal (as the goal's ratio or value), and whether it meets it.
fn judge(goal: &Goal, m: &Median<'_>) -> Option<(String, bool)> {
    match *goal {
        Goal::RateOver { metric, engine, at_least } => {
            let r = rate_ratio(m, metric, STRATA, engine)?;
            Some((format!("{r:.2}×"), r >= at_least))
        }
        Goal::LatencyUnder { metric, engine, at_most } => {
            let (mine, theirs) = (m(STRATA, metric)?, m(engine, metric)?);
            let r = mine / theirs;
            Some((format!("{mine:.2} µs = {r:.2}× {engine}'s {theirs:.2} µs"), r <= at_most))
        }
        Goal::LatencyAtMost { metric, micros } => {
            let v = m(STRATA, metric)?;
            Some((format!("{v:.2} µs"), v <= micros))
        }
        Goal::RateAtLeast { metric, rate } => {
            let v = m(STRATA, metric)?;
            Some((format!("{v:.0}"), v >= rate))
        }
        Goal::AheadEverywhere { engine } => {
            let mut lowest: Option<(f64, &str)> = None;
            for metric in metrics::ALL {
                let (Some(s), Some(x)) = (m(STRATA, metric.id), m(engine, metric.id)) else {
                    continue;
                };
                let r = if metric.higher_is_better { s / x } else { x / s };
                if lowest.is_none_or(|(l, _)| r < l) {
                    lowest = Some((r, metric.id));
                }
            }
            let (r, id) = lowest?;
            Some((format!("lowest {r:.2}× ({id})"), r > 1.0))
        }
    }
}

/// The targets section of the report; empty when no target's rows ran.
pub fn render(m: &Median<'_>) -> String {
    let rows: Vec<(&Target, (String, bool))> =
        TARGETS.iter().filter_map(|t| judge(&t.goal, m).map(|j| (t, j))).collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "\n## Issue 12's targets in this run\n\n\
         | target | strata | met | ceiling in this run (same ratio) |\n|---|--:|:-:|---|\n",
    );
    for (t, (reached, met)) in rows {
        let ceiling = t
            .ceiling
            .and_then(|(what, f)| f(m).map(|v| format!("{what}: {v}")))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | {reached} | {} | {ceiling} |",
            t.label,
            if met { "yes" } else { "no" }
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table<'a>(pairs: &'a [(&'a str, &'a str, f64)]) -> impl Fn(&str, &str) -> Option<f64> + 'a {
        move |engine, metric| {
            pairs.iter().find(|(e, mm, _)| *e == engine && *mm == metric).map(|(_, _, v)| *v)
        }
    }

    #[test]
    fn a_rate_target_is_met_at_its_threshold_and_missed_below_it() {
        let at = table(&[(STRATA, metrics::SCAN, 200.0), (COMMITLOG, metrics::SCAN, 100.0)]);
        let goal = Goal::RateOver { metric: metrics::SCAN, engine: COMMITLOG, at_least: 2.0 };
        assert_eq!(judge(&goal, &at), Some(("2.00×".into(), true)));
        let below = table(&[(STRATA, metrics::SCAN, 199.0), (COMMITLOG, metrics::SCAN, 100.0)]);
        assert_eq!(judge(&goal, &below).map(|j| j.1), Some(false));
    }

    #[test]
    fn a_latency_target_compares_stratas_time_over_the_other_engines() {
        let m = table(&[(STRATA, metrics::GET_P50, 1.0), (COMMITLOG, metrics::GET_P50, 1.5)]);
        let goal = Goal::LatencyUnder { metric: metrics::GET_P50, engine: COMMITLOG, at_most: 0.5 };
        assert_eq!(judge(&goal, &m).map(|j| j.1), Some(false));
        let m = table(&[(STRATA, metrics::GET_P50, 0.7), (COMMITLOG, metrics::GET_P50, 1.5)]);
        assert_eq!(judge(&goal, &m).map(|j| j.1), Some(true));
    }

    #[test]
    fn ahead_everywhere_names_the_row_strata_leads_least() {
        let m = table(&[
            (STRATA, metrics::SCAN, 300.0),
            (KRABKA, metrics::SCAN, 100.0),
            (STRATA, metrics::GET_P99, 3.0),
            (KRABKA, metrics::GET_P99, 2.0),
        ]);
        let (text, met) = judge(&Goal::AheadEverywhere { engine: KRABKA }, &m).unwrap();
        assert!(!met);
        assert!(text.contains(metrics::GET_P99), "{text}");
    }

    #[test]
    fn a_ceiling_is_printed_in_its_targets_terms_beside_the_verdict() {
        let m = table(&[
            (STRATA, metrics::GET_P99, 3.18),
            (STRATA, metrics::GET_CRC_P99, 2.10),
            (RAW, metrics::SCAN, 6000.0),
            (STRATA, metrics::SCAN, 5000.0),
            (COMMITLOG, metrics::SCAN, 3000.0),
        ]);
        let out = render(&m);
        assert!(
            out.contains(
                "| point read p99 ≤ 2 µs | 3.18 µs | no | the batch's CRC alone, p99: 2.10 µs |"
            ),
            "{out}"
        );
        assert!(out.contains("| 1.67× | no | raw file ÷ commitlog: 2.00× |"), "{out}");
    }

    #[test]
    fn targets_whose_rows_did_not_run_are_left_out() {
        let none = table(&[]);
        assert!(render(&none).is_empty());
    }
}
