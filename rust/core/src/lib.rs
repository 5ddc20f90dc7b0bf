//! `ixp-core`: the CPU-bound hot paths of the ixp server, in plain Rust (no Python).

pub mod clock;
pub mod error;
pub mod histogram;
pub mod lru;
pub mod matcher;
pub mod normalize;
pub mod process;
pub mod render;
pub mod route_stats;

pub use error::{CacheError, HistogramError, MatcherError};
pub use histogram::LatencyHistogram;
pub use lru::{CacheStats, Clock, Lookup, LruCache, ManualClock, MonotonicClock};
pub use matcher::{Capture, Engine, IntentMatcher, MatchResult, MatcherOptions, SpanMatch};
pub use normalize::{is_normalized, normalize};
pub use render::{
    ErrorCode, ExternalPattern, IntentSpec, IntentState, Issue, IssueKind, Issues, Pattern,
    PatternPolicy, RenderError, RenderOutcome, RenderTable, SchemaError, SchemaErrorKind,
    TableError, Validation, Wire,
};
pub use route_stats::{monotonic_ns, RouteStats};
