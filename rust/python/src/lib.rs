//! `ixp._core`: the Python extension module. Registration only; the wrappers live in the
//! sibling modules and all logic in the `ixp-core` crate.

use pyo3::prelude::*;

mod cache;
mod clock;
mod histogram;
mod matcher;
mod pattern;
mod process;
mod render;
mod route_stats;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(matcher::normalize_message, m)?)?;
    m.add_class::<matcher::IntentMatcher>()?;
    m.add_class::<cache::LruCache>()?;
    m.add_class::<histogram::LatencyHistogram>()?;
    m.add_class::<render::RenderTable>()?;
    m.add_class::<pattern::Pattern>()?;
    m.add_class::<route_stats::RouteStats>()?;
    m.add_class::<process::ProcessLane>()?;
    m.add_function(wrap_pyfunction!(route_stats::monotonic_ns, m)?)?;
    m.add_function(wrap_pyfunction!(clock::utc_timestamp, m)?)?;
    Ok(())
}
