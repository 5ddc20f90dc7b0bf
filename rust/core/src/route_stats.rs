//! One route's request metrics: a latency histogram and response counts by status class.
//!
//! The server records every response here with one call (`record`), so that the per-request
//! cost of metrics is a histogram increment and two counter increments, not several calls.

use std::sync::OnceLock;
use std::time::Instant;

use crate::LatencyHistogram;

/// Nanoseconds on a monotonic clock that starts at the first call in the process: what a
/// request's start is taken with, so that [`RouteStats::record_since`] reads the same clock.
pub fn monotonic_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let elapsed = BASE.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

/// Status classes counted: index `status / 100`, so 0 (unused), 1xx … 5xx.
pub const STATUS_CLASSES: usize = 6;

#[derive(Debug, Clone)]
pub struct RouteStats {
    histogram: LatencyHistogram,
    by_class: [u64; STATUS_CLASSES],
    errors: u64,
}

impl RouteStats {
    pub fn new(histogram: LatencyHistogram) -> Self {
        RouteStats {
            histogram,
            by_class: [0; STATUS_CLASSES],
            errors: 0,
        }
    }

    /// One response: its latency in nanoseconds and its status (>= 400 is an error; a status
    /// outside 100..=599 counts in the 5xx class).
    #[inline]
    pub fn record(&mut self, status: u16, elapsed_ns: u64) {
        self.histogram.record(elapsed_ns);
        let class = usize::from(status / 100);
        let class = if (1..STATUS_CLASSES).contains(&class) {
            class
        } else {
            5
        };
        self.by_class[class] = self.by_class[class].saturating_add(1);
        if !(100..400).contains(&status) {
            self.errors = self.errors.saturating_add(1);
        }
    }

    /// [`RouteStats::record`] of the time since `start_ns` (a [`monotonic_ns`] reading);
    /// returns that time. A start in the future counts as 0.
    pub fn record_since(&mut self, status: u16, start_ns: u64) -> u64 {
        let elapsed = monotonic_ns().saturating_sub(start_ns);
        self.record(status, elapsed);
        elapsed
    }

    pub fn histogram(&self) -> &LatencyHistogram {
        &self.histogram
    }

    /// Responses by status class (index = status / 100).
    pub fn by_class(&self) -> [u64; STATUS_CLASSES] {
        self.by_class
    }

    /// Responses with a status of 400 or more.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    pub fn count(&self) -> u64 {
        self.histogram.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> RouteStats {
        RouteStats::new(LatencyHistogram::new(1_000, 60_000_000_000, 2).unwrap())
    }

    #[test]
    fn counts_by_class_errors_and_latency() {
        let mut s = stats();
        s.record(200, 5_000);
        s.record(304, 2_000);
        s.record(404, 1_000_000);
        s.record(503, 7_000);
        assert_eq!(s.by_class(), [0, 0, 1, 1, 1, 1]);
        assert_eq!(s.errors(), 2);
        assert_eq!(s.count(), 4);
        // Within the histogram's resolution at its lowest bucket (1 µs units).
        assert!((1_000..=2_000).contains(&s.histogram().min()));
        assert!(s.histogram().max() >= 1_000_000);
    }

    #[test]
    fn record_since_measures_on_the_monotonic_clock() {
        let mut s = stats();
        let start = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let elapsed = s.record_since(200, start);
        assert!(elapsed >= 2_000_000, "{elapsed}");
        assert_eq!(s.count(), 1);
        assert_eq!(s.record_since(200, u64::MAX), 0); // a start in the future
        assert!(monotonic_ns() >= start);
    }

    #[test]
    fn out_of_range_status_is_a_server_error() {
        let mut s = stats();
        s.record(0, 1_000);
        s.record(999, 1_000);
        s.record(99, 1_000);
        assert_eq!(s.by_class(), [0, 0, 0, 0, 0, 3]);
        assert_eq!(s.errors(), 3);
    }
}
