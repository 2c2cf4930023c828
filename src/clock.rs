//! Wall-clock time, replaceable in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of "now" in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// `CLOCK_REALTIME` truncated to the millisecond, as Kafka's
    /// `System.currentTimeMillis()`; 0 before the epoch.
    fn now_ms(&self) -> i64 {
        crate::io::realtime_ms()
    }
}

/// A clock that moves only when told to: for tests of time-based rolling,
/// retention and flushing.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    #[must_use]
    pub fn new(now_ms: i64) -> Arc<Self> {
        Arc::new(ManualClock { now: AtomicI64::new(now_ms) })
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now_ms: i64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::{Clock, SystemClock};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn std_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    #[test]
    fn the_system_clock_reads_the_same_milliseconds_as_std_system_time() {
        // Read between two std readings, it falls between them (the same
        // clock, truncated to the millisecond the same way).
        for _ in 0..1000 {
            let before = std_ms();
            let now = SystemClock.now_ms();
            let after = std_ms();
            assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
        }
    }
}
