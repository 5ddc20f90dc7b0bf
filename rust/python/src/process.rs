//! The fast lane of `POST /api/intents/process`: a request body to the answer remembered in the
//! match cache (`ixp_core::process` decides which bodies, and their key).

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::cache::LruCache;
use crate::render::origin_str;

/// Answers free-text requests from a match cache's remembered answers.
#[pyclass(frozen, module = "ixp._core")]
pub struct ProcessLane {
    cache: Py<LruCache>,
    max_chars: usize,
}

#[pymethods]
impl ProcessLane {
    #[new]
    fn new(cache: Py<LruCache>, max_chars: usize) -> Self {
        ProcessLane { cache, max_chars }
    }

    /// The answer remembered for the body's normalized message (a hit of the cache), when the
    /// body is one the lane may answer and the answer holds for `origin`; else None, with
    /// nothing counted (take the ordinary path).
    #[pyo3(signature = (body, origin))]
    fn answer(
        &self,
        py: Python<'_>,
        body: &[u8],
        origin: Option<&Bound<'_, PyString>>,
    ) -> Option<PyObject> {
        let origin = origin_str(origin)?;
        let cache = self.cache.get();
        ixp_core::process::with_lane_key(body, self.max_chars, |key| {
            cache.recall_str(py, key, origin)
        })
        .flatten()
    }

    /// The cache it answers from.
    #[getter]
    fn cache(&self, py: Python<'_>) -> Py<LruCache> {
        self.cache.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        format!("ProcessLane(max_chars={})", self.max_chars)
    }
}
