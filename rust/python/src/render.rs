//! Python wrapper of `ixp_core::RenderTable`: the Rust success path of `POST /ixp/render`.

use std::cell::RefCell;

use ixp_core::render::IntentSpec;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// `(name, parameters schema JSON, envelope prefix, envelope suffix, allowed origins or None)`.
type IntentTuple<'py> = (
    String,
    String,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Option<Vec<String>>,
);

/// Responses are built here, then copied into the `bytes` object (no allocation per call).
/// A buffer grown past this by an unusually large response is given back.
const KEEP_BUFFER: usize = 1 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Intents with compiled parameter schemas and pre-encoded envelopes; immutable, thread-safe.
#[pyclass(frozen, module = "ixp._core")]
pub struct RenderTable {
    inner: ixp_core::RenderTable,
}

#[pymethods]
impl RenderTable {
    #[new]
    #[pyo3(signature = (intents))]
    fn new(intents: Vec<IntentTuple<'_>>) -> PyResult<Self> {
        let specs = intents
            .into_iter()
            .map(|(name, schema, prefix, suffix, origins)| IntentSpec {
                name,
                schema,
                prefix: prefix.as_bytes().to_vec(),
                suffix: suffix.as_bytes().to_vec(),
                origins,
            });
        let inner =
            ixp_core::RenderTable::new(specs).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(RenderTable { inner })
    }

    /// The full response body of a valid request, else None (take the Python path).
    /// Holds the GIL: a call takes about a microsecond.
    #[pyo3(signature = (body, origin))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        body: &[u8],
        origin: Option<&Bound<'py, PyString>>,
    ) -> Option<Bound<'py, PyBytes>> {
        // A str that is not valid UTF-8 (lone surrogates): not ours to judge.
        let origin = match origin {
            Some(o) => Some(o.to_str().ok()?),
            None => None,
        };
        BUFFER.with_borrow_mut(|buffer| {
            let rendered = self
                .inner
                .render_into(body, origin, buffer)
                .then(|| PyBytes::new(py, buffer));
            if buffer.capacity() > KEEP_BUFFER {
                *buffer = Vec::new();
            }
            rendered
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Intents rendered in Rust (not fallback), in registration order.
    #[getter]
    fn fast_intents(&self) -> Vec<&str> {
        self.inner.fast_intents().collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "RenderTable(<{} intents, {} fast>)",
            self.inner.len(),
            self.inner.fast_intents().count()
        )
    }
}
