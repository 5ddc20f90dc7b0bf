//! Python wrapper of `ixp_core::RenderTable`: the Rust success path of `POST /ixp/render`.

use std::cell::RefCell;

use ixp_core::render::{
    ErrorCode, IntentSpec, IntentState, PatternPolicy, RenderOutcome, Validation, Wire,
};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// `(name, parameters schema JSON, envelope prefix, envelope suffix, allowed origins or None)`:
/// an intent whose component is registered and not deprecated.
type ReadyRow<'py> = (
    String,
    String,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Option<Vec<String>>,
);

/// `(name, schema, prefix or None, suffix or None, origins, component name, deprecated)`: any
/// intent; no envelope means no registered component.
type FullRow<'py> = (
    String,
    String,
    Option<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    Option<Vec<String>>,
    String,
    bool,
);

fn intent_spec(row: &Bound<'_, PyAny>) -> PyResult<IntentSpec> {
    if let Ok((name, schema, prefix, suffix, origins, component, deprecated)) =
        row.extract::<FullRow<'_>>()
    {
        let state = match (&prefix, deprecated) {
            (None, _) => IntentState::NoComponent,
            (Some(_), true) => IntentState::Deprecated,
            (Some(_), false) => IntentState::Ready,
        };
        let bytes =
            |b: Option<Bound<'_, PyBytes>>| b.map_or_else(Vec::new, |b| b.as_bytes().to_vec());
        return Ok(IntentSpec {
            name,
            schema,
            prefix: bytes(prefix),
            suffix: bytes(suffix),
            origins,
            component,
            state,
        });
    }
    let (name, schema, prefix, suffix, origins) = row.extract::<ReadyRow<'_>>()?;
    Ok(IntentSpec {
        name,
        schema,
        prefix: prefix.as_bytes().to_vec(),
        suffix: suffix.as_bytes().to_vec(),
        origins,
        ..IntentSpec::default()
    })
}

fn pattern_policy(patterns: &str) -> PyResult<PatternPolicy> {
    match patterns {
        "fallback" => Ok(PatternPolicy::Fallback),
        "reject" => Ok(PatternPolicy::Reject),
        "external" => Ok(PatternPolicy::External),
        other => Err(PyValueError::new_err(format!(
            "patterns must be 'fallback', 'reject' or 'external', got {other:?}"
        ))),
    }
}

/// Runs `f` with the Python callable `check` (if any) as the core's pattern hook. An exception
/// raised by `check` (or a result that is not a bool) is re-raised once `f` returns.
fn with_hook<R>(
    check: Option<&Bound<'_, PyAny>>,
    f: impl FnOnce(Option<&mut ixp_core::render::PatternHook<'_>>) -> R,
) -> PyResult<R> {
    let Some(check) = check else {
        return Ok(f(None));
    };
    let mut failure: Option<PyErr> = None;
    let mut hook = |pattern: &str, text: &str| -> Option<bool> {
        if failure.is_some() {
            return None;
        }
        match check
            .call1((pattern, text))
            .and_then(|r| r.extract::<bool>())
        {
            Ok(matched) => Some(matched),
            Err(e) => {
                failure = Some(e);
                None
            }
        }
    };
    let result = f(Some(&mut hook));
    match failure {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

/// Responses are built here, then copied into the `bytes` object (no allocation per call).
/// A buffer grown past this by an unusually large response is given back.
const KEEP_BUFFER: usize = 1 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `f` with this thread's buffer (a fresh one if it is in use: a pattern hook re-entering).
fn with_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            let result = f(&mut buffer);
            if buffer.capacity() > KEEP_BUFFER {
                *buffer = Vec::new();
            }
            result
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// The `Origin` header as `&str` (`Some(None)` when absent); `None` for a str that is not valid
/// UTF-8 (lone surrogates): not ours to judge, the request is declined.
pub(crate) fn origin_str<'a>(origin: Option<&'a Bound<'_, PyString>>) -> Option<Option<&'a str>> {
    match origin {
        Some(o) => o.to_str().ok().map(Some),
        None => Some(None),
    }
}

/// The code as an interned Python string (no allocation per error).
fn code_str(py: Python<'_>, code: ErrorCode) -> &Bound<'_, PyString> {
    match code {
        ErrorCode::InvalidRequest => intern!(py, "INVALID_REQUEST"),
        ErrorCode::OriginNotAllowed => intern!(py, "ORIGIN_NOT_ALLOWED"),
        ErrorCode::IntentNotSupported => intern!(py, "INTENT_NOT_SUPPORTED"),
        ErrorCode::ComponentNotFound => intern!(py, "COMPONENT_NOT_FOUND"),
    }
}

/// Intents with compiled parameter schemas and pre-encoded envelopes; immutable, thread-safe.
#[pyclass(frozen, module = "ixp._core")]
pub struct RenderTable {
    inner: ixp_core::RenderTable,
}

#[pymethods]
impl RenderTable {
    #[new]
    #[pyo3(signature = (intents, *, patterns = "fallback"))]
    fn new(intents: Vec<Bound<'_, PyAny>>, patterns: &str) -> PyResult<Self> {
        let policy = pattern_policy(patterns)?;
        let specs = intents
            .iter()
            .map(intent_spec)
            .collect::<PyResult<Vec<_>>>()?;
        let inner = ixp_core::RenderTable::with_policy(specs, policy)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
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
        let origin = origin_str(origin)?;
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

    /// What `POST /ixp/render` answers: the descriptor (bytes), the protocol's error as
    /// `(status, code, message, details JSON or None)`, or None (take the Python path).
    #[pyo3(signature = (body, origin, check_pattern = None))]
    fn render_outcome<'py>(
        &self,
        py: Python<'py>,
        body: &[u8],
        origin: Option<&Bound<'py, PyString>>,
        check_pattern: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyObject> {
        let Some(origin) = origin_str(origin) else {
            return Ok(py.None());
        };
        let outcome = with_hook(check_pattern, |hook| {
            self.inner.render_outcome(body, origin, hook)
        })?;
        Ok(match outcome {
            RenderOutcome::Ok(bytes) => PyBytes::new(py, &bytes).into_any().unbind(),
            RenderOutcome::Err(e) => {
                let details = e.details.map(|d| PyBytes::new(py, &d));
                (e.status, e.code.as_str(), e.message, details)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
            RenderOutcome::Decline => py.None(),
        })
    }

    /// `render_outcome` as the lane sends it: the descriptor (bytes), the error as
    /// `(status, code, envelope up to its timestamp, envelope after it up to the request id)`,
    /// or None (take the Python path). The envelope is `ixp.http.errors`'s, byte for byte.
    #[pyo3(signature = (body, origin, check_pattern = None))]
    fn render_wire<'py>(
        &self,
        py: Python<'py>,
        body: &[u8],
        origin: Option<&Bound<'py, PyString>>,
        check_pattern: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyObject> {
        let Some(origin) = origin_str(origin) else {
            return Ok(py.None());
        };
        with_buffer(|buffer| {
            let wire = with_hook(check_pattern, |hook| {
                self.inner.render_wire(body, origin, hook, buffer)
            })?;
            Ok(match wire {
                Wire::Body => PyBytes::new(py, buffer).into_any().unbind(),
                Wire::Error {
                    status,
                    code,
                    timestamp_at,
                } => {
                    let (head, tail) = buffer.split_at(timestamp_at);
                    let parts = (PyBytes::new(py, head), PyBytes::new(py, tail));
                    (status, code_str(py, code), parts.0, parts.1)
                        .into_pyobject(py)?
                        .into_any()
                        .unbind()
                }
                Wire::Decline => py.None(),
            })
        })
    }

    /// `intent`'s validation of the JSON text `parameters`: the props as JSON (bytes), or
    /// `(message, validationErrors JSON)`, or None (take the Python path). KeyError for an
    /// unknown intent.
    #[pyo3(signature = (intent, parameters, check_pattern = None))]
    fn validate<'py>(
        &self,
        py: Python<'py>,
        intent: &str,
        parameters: &[u8],
        check_pattern: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyObject> {
        let validation = with_hook(check_pattern, |hook| {
            self.inner.validate(intent, parameters, hook)
        })?
        .ok_or_else(|| PyKeyError::new_err(intent.to_owned()))?;
        Ok(match validation {
            Validation::Props(props) => PyBytes::new(py, &props).into_any().unbind(),
            Validation::Invalid(issues) => (issues.message(), PyBytes::new(py, &issues.to_json()))
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            Validation::Decline => py.None(),
        })
    }

    /// `(schema location, pattern)` of the fields whose patterns `check_pattern` checks
    /// (`patterns="external"`). KeyError for an unknown intent.
    fn external_patterns(&self, intent: &str) -> PyResult<Vec<(String, String)>> {
        let external = self
            .inner
            .external_patterns(intent)
            .ok_or_else(|| PyKeyError::new_err(intent.to_owned()))?;
        Ok(external
            .iter()
            .map(|e| (e.at.clone(), e.pattern.clone()))
            .collect())
    }

    /// Why `intent` is declined from validation on (its schema is not reproduced here), or None.
    fn fallback_reason(&self, intent: &str) -> Option<String> {
        self.inner.fallback_reason(intent).map(|e| e.to_string())
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
