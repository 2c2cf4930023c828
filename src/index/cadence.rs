//! When a batch gets index entries: Kafka's `index.interval.bytes` rule, in
//! the one place both the live append ([`crate::segment`]'s `append`) and
//! recovery's rebuild (`recover`) take it from, so a rebuilt index equals the
//! one written live.
//!
//! Kafka's `LogSegment.append` and `LogSegment.recover` both keep
//! `bytesSinceLastIndexEntry`: a batch gets an offset-index entry (and a
//! time-index entry, when the max timestamp rose) when *more than*
//! `index.interval.bytes` were appended since the start of the batch that got
//! the last entry; the counter then restarts from that batch. The first batch
//! of a segment never gets one (nothing was appended before it).
//!
//! A segment's batches lie end to end, so the count is a difference of
//! positions: the next batch's position minus the position the last entry
//! points at (0 when the index is empty). That is how a reopened segment
//! resumes the count from its index without replaying its batches.

/// The position the last index entry points at: what decides whether the
/// batch at a later position gets the next entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct EntryCadence {
    last_entry_position: u64,
}

impl EntryCadence {
    /// Counting from the batch at `position` that holds the last entry (0 for
    /// an empty index: the segment start).
    pub(crate) fn from_last_entry(position: u64) -> Self {
        EntryCadence { last_entry_position: position }
    }

    /// Whether the batch starting at `position` gets index entries under
    /// `index.interval.bytes` = `interval` (without recording it).
    pub(crate) fn due_at(&self, position: u64, interval: u64) -> bool {
        position.saturating_sub(self.last_entry_position) > interval
    }

    /// Whether the batch starting at `position` gets index entries; when it
    /// does, the count restarts from it. Call once per batch, in order, and
    /// write the entries when it says so.
    pub(crate) fn batch_at(&mut self, position: u64, interval: u64) -> bool {
        let due = self.due_at(position, interval);
        if due {
            self.last_entry_position = position;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's counter: `if (since > interval) { entry; since = 0 }; since += size`.
    fn kafka_counter(sizes: &[u64], interval: u64) -> Vec<bool> {
        let mut since = 0u64;
        sizes
            .iter()
            .map(|&size| {
                let due = since > interval;
                if due {
                    since = 0;
                }
                since += size;
                due
            })
            .collect()
    }

    fn by_position(sizes: &[u64], interval: u64) -> Vec<bool> {
        let mut cadence = EntryCadence::default();
        let mut position = 0;
        sizes
            .iter()
            .map(|&size| {
                let due = cadence.batch_at(position, interval);
                position += size;
                due
            })
            .collect()
    }

    #[test]
    fn position_difference_picks_the_batches_kafkas_byte_counter_picks() {
        let sizes: Vec<u64> = (0..500u64).map(|i| 61 + (i * 7919) % 3000).collect();
        for interval in [0, 1, 60, 61, 100, 4096, 10_000] {
            assert_eq!(
                by_position(&sizes, interval),
                kafka_counter(&sizes, interval),
                "{interval}"
            );
        }
    }

    #[test]
    fn the_first_batch_never_gets_an_entry_and_exactly_more_than_the_interval_is_needed() {
        let mut c = EntryCadence::default();
        assert!(!c.batch_at(0, 0));
        assert!(!c.batch_at(100, 100), "100 bytes are not more than 100");
        assert!(c.batch_at(101, 100));
        assert!(!c.due_at(201, 100));
        assert!(c.due_at(202, 100));
    }

    #[test]
    fn a_reopened_segment_resumes_from_its_last_entry() {
        let c = EntryCadence::from_last_entry(5000);
        assert!(!c.due_at(9096, 4096));
        assert!(c.due_at(9097, 4096));
    }
}
