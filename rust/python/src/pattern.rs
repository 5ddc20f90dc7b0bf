//! Python wrapper of `ixp_core::Pattern`: a JSON-Schema `pattern` matched in linear time.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A `pattern` within the subset of regular expressions that Python's `re` and Rust's `regex`
/// read the same way; matched by `regex` (linear time: no input can make it backtrack).
#[pyclass(frozen, module = "ixp._core")]
pub struct Pattern {
    inner: ixp_core::Pattern,
    source: String,
}

#[pymethods]
impl Pattern {
    /// ValueError (with the reason) for a pattern outside the subset, or one that does not compile.
    #[new]
    fn new(pattern: &str) -> PyResult<Self> {
        let inner = ixp_core::Pattern::new(pattern).map_err(PyValueError::new_err)?;
        Ok(Pattern {
            inner,
            source: pattern.to_owned(),
        })
    }

    /// Whether the pattern matches anywhere in `text` (like `re.search(...) is not None`).
    fn is_match(&self, text: &str) -> bool {
        self.inner.is_match(text)
    }

    /// `re.search(pattern, text) is not None` where `regex` is sure to agree with `re`, else None.
    fn search(&self, text: &str) -> Option<bool> {
        self.inner.search(text)
    }

    #[getter]
    fn pattern(&self) -> &str {
        &self.source
    }

    fn __repr__(&self) -> String {
        format!("Pattern({:?})", self.source)
    }
}
