//! Python wrapper of `ixp_core::clock`: the timestamp of every error envelope.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Now, `2025-01-01T12:00:00.000Z` (UTC, milliseconds), as bytes.
#[pyfunction]
pub fn utc_timestamp(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &ixp_core::clock::iso_now())
}
