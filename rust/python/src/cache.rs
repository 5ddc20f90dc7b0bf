//! Python wrapper of `ixp_core::LruCache`, holding Python objects.
//!
//! Locking: one `parking_lot::Mutex` per cache. Nothing under the lock calls Python code:
//! values the cache lets go of are returned from the critical section and dropped (decref'd,
//! possibly running `__del__`, which may use this cache again) only after the lock is released.
//!
//! An entry may carry an *answer* besides its value (`remember`): what a caller computed from
//! the value once and hands out again (`recall`) while the entry lives — the fast lane of free
//! text keeps the finished response of a cached match there.

use std::collections::HashSet;

use ixp_core::lru::{ttl_from_secs, Lookup};
use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// A cached value, and the answer remembered with it.
struct Entry {
    value: PyObject,
    answer: Option<Box<Answer>>,
}

struct Answer {
    answer: PyObject,
    /// The `Origin` values it holds for (`None`: any, or none given).
    origins: Option<HashSet<String>>,
}

impl Answer {
    fn holds_for(&self, origin: Option<&str>) -> bool {
        match (origin, &self.origins) {
            (Some(origin), Some(origins)) => origins.contains(origin),
            _ => true,
        }
    }
}

/// Bounded LRU cache with optional TTL (seconds) and hit/miss/eviction/expiration counters.
#[pyclass(frozen, module = "ixp._core")]
pub struct LruCache {
    inner: Mutex<ixp_core::LruCache<Entry>>,
}

impl LruCache {
    /// `recall` of a key given as `&str`: the answer remembered for `key`'s live entry, if it
    /// holds for `origin` (then a hit); otherwise `None`, and nothing counted or touched.
    pub(crate) fn recall_str(
        &self,
        py: Python<'_>,
        key: &str,
        origin: Option<&str>,
    ) -> Option<PyObject> {
        let mut cache = self.inner.lock();
        let entry = cache.get_if(key, |e| {
            e.answer.as_ref().is_some_and(|a| a.holds_for(origin))
        })?;
        entry.answer.as_ref().map(|a| a.answer.clone_ref(py))
    }
}

fn value_error(e: impl ToString) -> PyErr {
    PyValueError::new_err(e.to_string())
}

#[pymethods]
impl LruCache {
    #[new]
    #[pyo3(signature = (capacity, ttl = None))]
    fn new(capacity: i64, ttl: Option<f64>) -> PyResult<Self> {
        if capacity < 1 {
            return Err(PyValueError::new_err(format!(
                "capacity must be >= 1, got {capacity}"
            )));
        }
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        let inner = ixp_core::LruCache::new(capacity, ttl).map_err(value_error)?;
        Ok(LruCache {
            inner: Mutex::new(inner),
        })
    }

    /// The value for `key`, or `default`. Counts a hit or a miss.
    #[pyo3(signature = (key, default = None))]
    fn get(&self, py: Python<'_>, key: &str, default: Option<PyObject>) -> PyObject {
        let mut expired = None;
        let found = {
            let mut cache = self.inner.lock();
            match cache.get(key) {
                Lookup::Hit(e) => Some(e.value.clone_ref(py)),
                Lookup::Miss => None,
                Lookup::Expired(v) => {
                    expired = Some(v);
                    None
                }
            }
        };
        drop(expired); // after the lock is released
        found.or(default).unwrap_or_else(|| py.None())
    }

    /// Stores `value` under `key` (most recent); `ttl` overrides the cache's default TTL.
    #[pyo3(signature = (key, value, ttl = None))]
    fn set(&self, key: &str, value: PyObject, ttl: Option<f64>) -> PyResult<()> {
        let ttl = ttl.map(ttl_from_secs).transpose().map_err(value_error)?;
        let entry = Entry {
            value,
            answer: None,
        };
        let released = self.inner.lock().insert(key, entry, ttl);
        drop(released);
        Ok(())
    }

    /// Attaches `answer` to `key`'s live entry if it still holds `value` (the same object), for
    /// `recall`; `origins`: the `Origin` values it holds for (None: any). Replacing the value
    /// drops the answer. Touches no counter and no recency; False if there is no such entry.
    #[pyo3(signature = (key, value, answer, origins = None))]
    fn remember(
        &self,
        key: &str,
        value: &Bound<'_, PyAny>,
        answer: PyObject,
        origins: Option<HashSet<String>>,
    ) -> bool {
        let answer = Box::new(Answer { answer, origins });
        let released = {
            let mut cache = self.inner.lock();
            match cache.peek_mut(key) {
                Some(entry) if entry.value.is(value) => Ok(entry.answer.replace(answer)),
                _ => Err(answer),
            }
        };
        let remembered = released.is_ok();
        drop(released);
        remembered
    }

    /// The answer remembered for `key`'s live entry, if it holds for `origin` (None: no
    /// `Origin`): then a hit, made most recent, as `get` counts it. Otherwise None, with
    /// nothing counted or touched (a `get` that follows has the effects it has alone).
    #[pyo3(signature = (key, origin = None))]
    fn recall(&self, py: Python<'_>, key: &str, origin: Option<&str>) -> Option<PyObject> {
        self.recall_str(py, key, origin)
    }

    /// Removes `key`; True if a live entry was removed.
    fn delete(&self, key: &str) -> bool {
        let (live, released) = self.inner.lock().remove(key);
        drop(released);
        live
    }

    fn clear(&self) {
        let released = self.inner.lock().clear();
        drop(released);
    }

    fn __len__(&self) -> usize {
        self.inner.lock().len()
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        match key.downcast::<PyString>() {
            Ok(s) => match s.to_str() {
                Ok(k) => self.inner.lock().contains(k),
                Err(_) => false,
            },
            Err(_) => false,
        }
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.inner.lock().capacity()
    }

    #[getter]
    fn hits(&self) -> u64 {
        self.inner.lock().stats().hits
    }

    #[getter]
    fn misses(&self) -> u64 {
        self.inner.lock().stats().misses
    }

    #[getter]
    fn evictions(&self) -> u64 {
        self.inner.lock().stats().evictions
    }

    #[getter]
    fn expirations(&self) -> u64 {
        self.inner.lock().stats().expirations
    }

    /// {"hits", "misses", "evictions", "expirations", "size", "capacity"}
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.lock().stats();
        let d = PyDict::new(py);
        d.set_item("hits", s.hits)?;
        d.set_item("misses", s.misses)?;
        d.set_item("evictions", s.evictions)?;
        d.set_item("expirations", s.expirations)?;
        d.set_item("size", s.size)?;
        d.set_item("capacity", s.capacity)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = self.inner.lock().stats();
        format!("LruCache(capacity={}, size={})", s.capacity, s.size)
    }
}
