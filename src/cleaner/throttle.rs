//! The cleaner's I/O throttle (`log.cleaner.io.max.bytes.per.second`), shared
//! by all cleaner threads: bytes read and written are counted, and a thread
//! that gets ahead of the rate sleeps until it is back on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Limits bytes per second across threads.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: f64,
    window: Mutex<(Instant, u64)>,
    /// The cleaner is shutting down: sleeps end, cleanings stop.
    stopped: AtomicBool,
}

/// How long a measuring window lasts before it restarts.
const WINDOW: Duration = Duration::from_millis(300);

impl Throttle {
    /// A throttle at `bytes_per_second` (`f64::MAX` or non-finite: unlimited).
    #[must_use]
    pub fn new(bytes_per_second: f64) -> Self {
        Throttle {
            bytes_per_second,
            window: Mutex::new((Instant::now(), 0)),
            stopped: AtomicBool::new(false),
        }
    }

    /// Stops every cleaning that shares this throttle, for good: sleeps end
    /// at their next slice and cleanings in progress stop at their next
    /// batch, as Kafka's cleaner threads abort a cleaning when the cleaner
    /// shuts down (`CleanerThread.checkDone`: `ThreadShutdownException`).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// Whether [`stop`](Self::stop) was called.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Counts `bytes` and sleeps if the rate is exceeded, in slices of at
    /// most [`SLICE`], returning early once `stop` says the work should end
    /// (the log is closing: `Log::close` waits for the cleaning to let go).
    ///
    /// Any rate the config accepts is safe: a sleep too long for a
    /// [`Duration`] (a rate of 1e-300 bytes per second) saturates instead of
    /// panicking. Kafka's `Throttler` sleeps the whole time in one call.
    pub fn acquire(&self, bytes: u64, stop: &dyn Fn() -> bool) {
        if !self.bytes_per_second.is_finite()
            || self.bytes_per_second >= f64::MAX / 2.0
            || self.bytes_per_second <= 0.0
        {
            return;
        }
        let sleep = {
            let mut w = self.window.lock();
            w.1 = w.1.saturating_add(bytes);
            let elapsed = w.0.elapsed();
            let due = Duration::try_from_secs_f64(w.1 as f64 / self.bytes_per_second)
                .unwrap_or(Duration::MAX);
            let sleep = due.saturating_sub(elapsed);
            if elapsed >= WINDOW && sleep.is_zero() {
                *w = (Instant::now(), 0);
            }
            sleep
        };
        if sleep.is_zero() {
            return;
        }
        let until = Instant::now().checked_add(sleep);
        loop {
            if stop() || self.stopped() {
                return;
            }
            let left = until.map_or(SLICE, |t| t.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

/// The longest single sleep of a throttled thread before it checks whether
/// to stop.
pub const SLICE: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_rate_makes_the_caller_wait() {
        let t = Throttle::new(100_000.0);
        let start = Instant::now();
        t.acquire(20_000, &|| false); // 0.2 s worth
        // A sleep lasts at least as long as asked: this bound holds on any machine.
        assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
    }

    #[test]
    fn an_unlimited_throttle_never_counts() {
        let free = Throttle::new(f64::MAX);
        free.acquire(u64::MAX / 2, &|| false);
        assert_eq!(free.window.lock().1, 0);
    }

    #[test]
    fn a_rate_too_low_for_a_duration_saturates_and_stops_when_asked() {
        let t = Throttle::new(1e-300);
        let start = Instant::now();
        let calls = std::cell::Cell::new(0);
        t.acquire(1_000, &|| {
            calls.set(calls.get() + 1);
            calls.get() > 2
        });
        assert_eq!(calls.get(), 3);
        // Two slices slept, not the saturated Duration::MAX.
        assert!(start.elapsed() < Duration::from_secs(60), "{:?}", start.elapsed());
    }
}
