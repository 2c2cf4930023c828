//! The rows of the table: each workload, its unit, and which way is better.

use std::collections::BTreeMap;

/// One measured quantity (a row of the report).
pub struct Metric {
    pub id: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    /// Throughput (higher is better) or latency (lower is better).
    pub higher_is_better: bool,
}

pub const APPEND: &str = "append";
pub const APPEND_BATCH: &str = "append_batch";
pub const APPEND_BATCH_CRC: &str = "append_batch_crc";
pub const APPEND_BATCH_FSYNC_END: &str = "append_batch_fsync_end";
pub const APPEND_FSYNC_END: &str = "append_fsync_end";
pub const APPEND_FSYNC_EACH: &str = "append_fsync_each";
pub const SCAN: &str = "scan";
pub const SCAN_CRC: &str = "scan_crc";
pub const GET_P50: &str = "get_p50";
pub const GET_P99: &str = "get_p99";
pub const GET_CRC_P50: &str = "get_crc_p50";
pub const GET_CRC_P99: &str = "get_crc_p99";
pub const RECOVERY: &str = "recovery";
pub const RECOVERY_FLOOR: &str = "recovery_floor";
pub const COMPACT_100K: &str = "compact_100k";
pub const COMPACT_100: &str = "compact_100";

pub const ALL: &[Metric] = &[
    Metric {
        id: APPEND,
        label: "append, page cache (engine encodes the records)",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        id: APPEND_BATCH,
        label: "append of client-built batches (`append_batch`)",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        id: APPEND_BATCH_CRC,
        label: "ceiling for `append_batch` with the CRC check Kafka requires (raw: CRC-32C + `write`) ‡",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        id: APPEND_FSYNC_END,
        label: "append, one fsync at the end",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        id: APPEND_BATCH_FSYNC_END,
        label: "ceiling for one final fsync of Kafka-format bytes (raw: strata's batches, one `write` each, one fdatasync) §",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        id: APPEND_FSYNC_EACH,
        label: "durable append, fsync per batch",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        id: SCAN,
        label: "full decode scan (every key and value touched)",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        id: SCAN_CRC,
        label: "batch views, CRC checked (memory: crc32c over the same bytes)",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric { id: GET_P50, label: "point read, p50", unit: "µs", higher_is_better: false },
    Metric { id: GET_P99, label: "point read, p99", unit: "µs", higher_is_better: false },
    Metric {
        id: GET_CRC_P50,
        label: "point read's floor: its batch's prefetch and CRC alone, p50",
        unit: "µs",
        higher_is_better: false,
    },
    Metric {
        id: GET_CRC_P99,
        label: "point read's floor: its batch's prefetch and CRC alone, p99",
        unit: "µs",
        higher_is_better: false,
    },
    Metric {
        id: RECOVERY,
        label: "unclean recovery of a 1 GiB segment (memory: crc32c over it)",
        unit: "MiB/s",
        higher_is_better: true,
    },
    Metric {
        id: RECOVERY_FLOOR,
        label: "recovery's page-table floor: map strata's segment, touch each 4 KiB page, no CRC, \
                one thread (raw file column)",
        unit: "MiB/s",
        higher_is_better: true,
    },
    Metric {
        id: COMPACT_100K,
        label: "compaction, dirty input, 100k distinct keys",
        unit: "MiB/s",
        higher_is_better: true,
    },
    Metric {
        id: COMPACT_100,
        label: "compaction, dirty input, 100 distinct keys",
        unit: "MiB/s",
        higher_is_better: true,
    },
];

/// One repetition's numbers for one engine, by metric id.
pub type Sample = BTreeMap<&'static str, f64>;
