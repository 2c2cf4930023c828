//! The cleaner's I/O throttle (`log.cleaner.io.max.bytes.per.second`), shared
//! by all cleaner threads: bytes read and written are counted, and a thread
//! that gets ahead of the rate sleeps until it is back on it.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Limits bytes per second across threads.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: f64,
    window: Mutex<(Instant, u64)>,
}

/// How long a measuring window lasts before it restarts.
const WINDOW: Duration = Duration::from_millis(300);

impl Throttle {
    /// A throttle at `bytes_per_second` (`f64::MAX` or non-finite: unlimited).
    #[must_use]
    pub fn new(bytes_per_second: f64) -> Self {
        Throttle { bytes_per_second, window: Mutex::new((Instant::now(), 0)) }
    }

    /// Counts `bytes` and sleeps if the rate is exceeded.
    pub fn acquire(&self, bytes: u64) {
        if !self.bytes_per_second.is_finite()
            || self.bytes_per_second >= f64::MAX / 2.0
            || self.bytes_per_second <= 0.0
        {
            return;
        }
        let sleep = {
            let mut w = self.window.lock();
            w.1 += bytes;
            let elapsed = w.0.elapsed();
            let due = Duration::from_secs_f64(w.1 as f64 / self.bytes_per_second);
            let sleep = due.saturating_sub(elapsed);
            if elapsed >= WINDOW && sleep.is_zero() {
                *w = (Instant::now(), 0);
            }
            sleep
        };
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_rate_makes_the_caller_wait() {
        let t = Throttle::new(100_000.0);
        let start = Instant::now();
        t.acquire(20_000); // 0.2 s worth
        // A sleep lasts at least as long as asked: this bound holds on any machine.
        assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
    }

    #[test]
    fn an_unlimited_throttle_never_counts() {
        let free = Throttle::new(f64::MAX);
        free.acquire(u64::MAX / 2);
        assert_eq!(free.window.lock().1, 0);
    }
}
