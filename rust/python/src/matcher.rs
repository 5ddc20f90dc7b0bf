//! Python wrapper of `ixp_core::IntentMatcher` and `normalize`.

use std::borrow::Cow;

use ixp_core::matcher::{MatcherOptions, SpanMatch};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

/// normalize_message(text) -> str: strip, and collapse runs of Unicode whitespace to one space.
#[pyfunction]
pub fn normalize_message<'py>(text: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyString>> {
    let s = text.to_str()?;
    Ok(match ixp_core::normalize(s) {
        Cow::Borrowed(_) => text.clone(),
        Cow::Owned(o) => PyString::new(text.py(), &o),
    })
}

/// Messages matched per GIL-free section in `match_many`.
const MATCH_MANY_CHUNK: usize = 256;

/// Many regex patterns searched in one pass; highest priority wins, ties by entry order.
#[pyclass(frozen, module = "ixp._core")]
pub struct IntentMatcher {
    inner: ixp_core::IntentMatcher,
    /// Interned Python strings for intent names and group names, built once.
    intents: Vec<Py<PyString>>,
    groups: Vec<Py<PyString>>,
}

impl IntentMatcher {
    /// `(intent, {group: value})` for a match, `None` otherwise.
    fn to_python<'py>(
        &self,
        py: Python<'py>,
        m: Option<SpanMatch<'_>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(m) = m else {
            return Ok(py.None().into_bound(py));
        };
        let dict = PyDict::new(py);
        for c in &m.captures {
            dict.set_item(self.groups[c.name].bind(py), PyString::new(py, m.value(c)))?;
        }
        let intent = self.intents[m.intent].bind(py).clone().into_any();
        Ok(PyTuple::new(py, [intent, dict.into_any()])?.into_any())
    }
}

#[pymethods]
impl IntentMatcher {
    #[new]
    #[pyo3(signature = (entries, *, case_insensitive = true, size_limit = 10_485_760))]
    fn new(
        py: Python<'_>,
        entries: Vec<(String, String, i64)>,
        case_insensitive: bool,
        size_limit: usize,
    ) -> PyResult<Self> {
        let options = MatcherOptions {
            case_insensitive,
            size_limit,
            ..MatcherOptions::default()
        };
        let inner = py
            .allow_threads(|| ixp_core::IntentMatcher::new(entries, &options))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let intern = |s: &String| PyString::intern(py, s).unbind();
        let intents = inner.intents().iter().map(intern).collect();
        let groups = inner.group_names().iter().map(intern).collect();
        Ok(IntentMatcher {
            inner,
            intents,
            groups,
        })
    }

    /// Normalizes `text`, then returns (intent, {group: value}) of the winner, or None.
    #[pyo3(name = "match")]
    fn match_<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        self.to_python(py, self.inner.find_spans(text))
    }

    /// `[match(t) for t in texts]` in one call, without the GIL while matching.
    fn match_many<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
    ) -> PyResult<Bound<'py, PyList>> {
        // Borrow each str's UTF-8 buffer: `texts` holds strong references for the whole call,
        // so the buffers outlive the GIL-free section.
        let strs = texts
            .iter()
            .map(|t| t.to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        // Chunks keep the intermediate results small and cache-hot; releasing and taking
        // back the GIL once per chunk costs well under a nanosecond per message.
        let mut items = Vec::with_capacity(strs.len());
        for chunk in strs.chunks(MATCH_MANY_CHUNK) {
            let results = py.allow_threads(|| self.inner.find_many(chunk));
            for r in results {
                items.push(self.to_python(py, r)?);
            }
        }
        PyList::new(py, items)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Distinct intent names in first-seen order.
    #[getter]
    fn intents(&self, py: Python<'_>) -> Vec<Py<PyString>> {
        self.intents.iter().map(|s| s.clone_ref(py)).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "IntentMatcher(<{} entries, {} intents>)",
            self.inner.len(),
            self.intents.len()
        )
    }
}
