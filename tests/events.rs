//! With the `tracing` feature, what an operator must know comes out as structured events:
//! segments deleted by retention, cleaning passes, recovery cuts, a CRC
//! self-test that found `crc-fast` wrong.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata::Record;
use strata::Store;
use strata::{CleanupPolicy, StoreConfig, TopicConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Metadata, Subscriber};

/// Collects every event as `target: field=value ...`.
#[derive(Default, Clone)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &SpanRecord<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().target().to_owned() + ":");
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn retention_deletes_and_cleaning_passes_are_events_naming_the_partition() {
    let collect = Collect::default();
    tracing::subscriber::with_default(collect.clone(), || {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new([tmp.path()]).background_threads(false)).unwrap();
        let hourly = TopicConfig::new().retention(Duration::from_secs(3600));
        store.create_topic_if_absent("events", 1, &hourly).unwrap();
        let log = store.partition("events", 0).unwrap();
        let old = store.clock().now_ms() - 2 * 3600 * 1000;
        log.append(&[Record::new("k", "old").timestamp(old)]).unwrap();
        log.roll().unwrap();
        let table = TopicConfig::new()
            .cleanup_policy(CleanupPolicy::COMPACT)
            .min_cleanable_dirty_ratio(0.01);
        store.create_topic_if_absent("users", 1, &table).unwrap();
        let users = store.partition("users", 0).unwrap();
        users.append(&[Record::new("u", "a"), Record::new("u", "b")]).unwrap();
        users.roll().unwrap();
        store.maintain(None).unwrap();
        store.close().unwrap();
    });
    let lines = collect.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("strata::retention:")
            && l.contains("partition=\"events-0\"")
            && l.contains("base_offset=0")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("strata::internals::cleaner:")
            && l.contains("partition=\"users-0\"")
            && l.contains("records_removed=1")),
        "{lines:#?}"
    );
}

#[test]
fn a_crc_self_test_that_finds_crc_fast_wrong_is_one_warning_naming_where() {
    use strata::internals::format::crc::{Implementation, choose, crc32c_reference};
    // Right everywhere but on 300 bytes: the fold-free path past 256.
    let wrong = |s: &[u8]| crc32c_reference(s) ^ u32::from(s.len() == 300);
    let collect = Collect::default();
    let chosen = tracing::subscriber::with_default(collect.clone(), || {
        assert_eq!(choose(crc32c_reference, crc32c_reference), Implementation::Fast);
        choose(wrong, crc32c_reference)
    });
    assert_eq!(chosen, Implementation::Reference);
    let lines = collect.0.lock().unwrap().clone();
    let crc: Vec<_> = lines.iter().filter(|l| l.contains("format::crc")).collect();
    assert_eq!(crc.len(), 1, "{lines:?}");
    assert!(crc[0].starts_with("strata::internals::format::crc:"), "{crc:?}");
    assert!(crc[0].contains("len=300"), "{crc:?}");
    assert!(crc[0].contains("crc32c crate"), "{crc:?}");
}
