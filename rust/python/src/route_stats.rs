//! Python wrapper of `ixp_core::RouteStats`: what the server records about each response.

use parking_lot::Mutex;
use pyo3::prelude::*;

use crate::histogram::{new_histogram, LatencyHistogram};

/// One route's latency histogram (ns) and response counts by status class; thread-safe.
#[pyclass(frozen, module = "ixp._core")]
pub struct RouteStats {
    inner: Mutex<ixp_core::RouteStats>,
}

#[pymethods]
impl RouteStats {
    #[new]
    #[pyo3(signature = (lowest = 1_000, highest = 60_000_000_000, significant_figures = 3))]
    fn new(lowest: i128, highest: i128, significant_figures: i64) -> PyResult<Self> {
        let histogram = new_histogram(lowest, highest, significant_figures)?;
        Ok(RouteStats {
            inner: Mutex::new(ixp_core::RouteStats::new(histogram)),
        })
    }

    /// One response: its status and its latency in nanoseconds.
    fn record(&self, status: u16, elapsed_ns: u64) {
        self.inner.lock().record(status, elapsed_ns);
    }

    /// One response that started at `start_ns` (a `monotonic_ns()` reading): records the time
    /// since then and returns it, in nanoseconds.
    fn record_since(&self, status: u16, start_ns: u64) -> u64 {
        self.inner.lock().record_since(status, start_ns)
    }

    /// A copy of the latency histogram.
    #[getter]
    fn histogram(&self) -> LatencyHistogram {
        LatencyHistogram::from_inner(self.inner.lock().histogram().clone())
    }

    /// Responses by status class (index = status // 100).
    #[getter]
    fn by_class(&self) -> Vec<u64> {
        self.inner.lock().by_class().to_vec()
    }

    /// Responses with a status of 400 or more.
    #[getter]
    fn errors(&self) -> u64 {
        self.inner.lock().errors()
    }

    #[getter]
    fn count(&self) -> u64 {
        self.inner.lock().count()
    }

    fn __repr__(&self) -> String {
        let s = self.inner.lock();
        format!("RouteStats(count={}, errors={})", s.count(), s.errors())
    }
}

/// Nanoseconds on the monotonic clock `RouteStats.record_since` reads (0 at its first use).
#[pyfunction]
pub fn monotonic_ns() -> u64 {
    ixp_core::monotonic_ns()
}
