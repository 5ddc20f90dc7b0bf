//! Python wrapper of `ixp_core::LatencyHistogram` (values in integer nanoseconds).

use ixp_core::histogram::checked_f64;
use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyInt};

/// HDR latency histogram in nanoseconds; thread-safe.
#[pyclass(frozen, module = "ixp._core")]
pub struct LatencyHistogram {
    inner: Mutex<ixp_core::LatencyHistogram>,
}

fn value_error(e: impl ToString) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// int or float nanoseconds -> u64. Negative, NaN, inf -> ValueError; ints beyond u64 saturate
/// (and are then clamped to `highest` by the histogram).
fn nanos(value: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(f) = value.downcast::<PyFloat>() {
        return checked_f64(f.value()).map_err(value_error);
    }
    if let Ok(v) = value.extract::<u64>() {
        return Ok(v);
    }
    if value.downcast::<PyInt>().is_ok() {
        return if value.lt(0)? {
            Err(PyValueError::new_err(format!(
                "invalid value: {value} is negative"
            )))
        } else {
            Ok(u64::MAX)
        };
    }
    Err(PyTypeError::new_err(format!(
        "value must be an int or a float (nanoseconds), not {}",
        value.get_type().name()?
    )))
}

/// Like `nanos` but negative values mean "below everything" (0) instead of an error.
fn threshold(value: &Bound<'_, PyAny>) -> PyResult<u64> {
    match nanos(value) {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyValueError>(value.py()) => {
            if let Ok(f) = value.downcast::<PyFloat>() {
                if f.value().is_nan() {
                    return Err(e);
                }
                if f.value() == f64::INFINITY {
                    return Ok(u64::MAX);
                }
            }
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// `ixp_core::LatencyHistogram::new` with Python's argument types and errors.
pub(crate) fn new_histogram(
    lowest: i128,
    highest: i128,
    significant_figures: i64,
) -> PyResult<ixp_core::LatencyHistogram> {
    let lowest = u64::try_from(lowest).map_err(|_| {
        PyValueError::new_err(format!(
            "lowest must be between 1 and 2**64 - 1, got {lowest}"
        ))
    })?;
    let highest = u64::try_from(highest).map_err(|_| {
        PyValueError::new_err(format!(
            "highest must be between 2 and 2**64 - 1, got {highest}"
        ))
    })?;
    let sig = u32::try_from(significant_figures).unwrap_or(u32::MAX);
    ixp_core::LatencyHistogram::new(lowest, highest, sig).map_err(value_error)
}

impl LatencyHistogram {
    pub(crate) fn from_inner(inner: ixp_core::LatencyHistogram) -> Self {
        LatencyHistogram {
            inner: Mutex::new(inner),
        }
    }
}

#[pymethods]
impl LatencyHistogram {
    #[new]
    #[pyo3(signature = (lowest = 1_000, highest = 60_000_000_000, significant_figures = 3))]
    fn new(lowest: i128, highest: i128, significant_figures: i64) -> PyResult<Self> {
        Ok(Self::from_inner(new_histogram(
            lowest,
            highest,
            significant_figures,
        )?))
    }

    /// Records one value in nanoseconds (above `highest`: clamped).
    fn record(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = nanos(value)?;
        self.inner.lock().record(v);
        Ok(())
    }

    /// Records `count` occurrences of `value`.
    fn record_n(&self, value: &Bound<'_, PyAny>, count: i128) -> PyResult<()> {
        let v = nanos(value)?;
        let count = u64::try_from(count)
            .map_err(|_| PyValueError::new_err(format!("count must be >= 0, got {count}")))?;
        self.inner.lock().record_n(v, count);
        Ok(())
    }

    #[getter]
    fn count(&self) -> u64 {
        self.inner.lock().count()
    }

    #[getter]
    fn min(&self) -> u64 {
        self.inner.lock().min()
    }

    #[getter]
    fn max(&self) -> u64 {
        self.inner.lock().max()
    }

    #[getter]
    fn mean(&self) -> f64 {
        self.inner.lock().mean()
    }

    #[getter]
    fn lowest(&self) -> u64 {
        self.inner.lock().lowest()
    }

    #[getter]
    fn highest(&self) -> u64 {
        self.inner.lock().highest()
    }

    #[getter]
    fn significant_figures(&self) -> u32 {
        self.inner.lock().significant_figures()
    }

    /// Value at percentile `q` in [0, 100]; 0 when empty.
    fn percentile(&self, q: f64) -> PyResult<u64> {
        self.inner.lock().percentile(q).map_err(value_error)
    }

    fn percentiles(&self, qs: Vec<f64>) -> PyResult<Vec<u64>> {
        let h = self.inner.lock();
        qs.into_iter()
            .map(|q| h.percentile(q).map_err(value_error))
            .collect()
    }

    /// Cumulative count of values <= `value` (Prometheus buckets).
    fn count_at_or_below(&self, value: &Bound<'_, PyAny>) -> PyResult<u64> {
        let v = threshold(value)?;
        Ok(self.inner.lock().count_at_or_below(v))
    }

    /// Adds all of `other` into this histogram.
    fn merge(&self, other: &Bound<'_, LatencyHistogram>) {
        // Copy `other` first so that two locks are never held at once (no lock-order deadlock,
        // and `h.merge(h)` works).
        let snapshot = other.get().inner.lock().clone();
        self.inner.lock().merge(&snapshot);
    }

    fn reset(&self) {
        self.inner.lock().reset();
    }

    /// Non-empty buckets, lowest first: (highest value equivalent to the bucket, count).
    fn buckets(&self) -> Vec<(u64, u64)> {
        self.inner.lock().buckets()
    }

    /// b"IXPH" + version byte + HdrHistogram V2 encoding.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = self.inner.lock().to_bytes();
        PyBytes::new(py, &bytes)
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let inner = ixp_core::LatencyHistogram::from_bytes(data).map_err(value_error)?;
        Ok(LatencyHistogram {
            inner: Mutex::new(inner),
        })
    }

    fn __repr__(&self) -> String {
        let h = self.inner.lock();
        format!(
            "LatencyHistogram(lowest={}, highest={}, significant_figures={}, count={})",
            h.lowest(),
            h.highest(),
            h.significant_figures(),
            h.count()
        )
    }
}
