//! Errors of the core types. Each message is written for the end user: the Python layer
//! turns them into `ValueError(str(err))` unchanged.

use std::fmt;

/// Why an [`crate::IntentMatcher`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatcherError {
    /// One pattern does not parse.
    BadPattern {
        intent: String,
        pattern: String,
        message: String,
    },
    /// One pattern alone compiles to a program larger than the size limit.
    PatternTooBig {
        intent: String,
        pattern: String,
        limit: usize,
    },
    /// Every pattern fits on its own, but all of them together do not.
    SetTooBig { patterns: usize, limit: usize },
    /// Anything else the regex engine refused (should not happen).
    Build { message: String },
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatcherError::BadPattern {
                intent,
                pattern,
                message,
            } => {
                write!(
                    f,
                    "intent {intent:?}: invalid pattern {pattern:?}: {message}"
                )
            }
            MatcherError::PatternTooBig {
                intent,
                pattern,
                limit,
            } => write!(
                f,
                "intent {intent:?}: pattern {pattern:?} compiles to a program larger than the \
                 size limit of {limit} bytes (raise size_limit or simplify the pattern)"
            ),
            MatcherError::SetTooBig { patterns, limit } => write!(
                f,
                "the {patterns} patterns together compile to a program larger than the size \
                 limit of {limit} bytes (raise size_limit or use fewer/simpler patterns)"
            ),
            MatcherError::Build { message } => write!(f, "could not build the matcher: {message}"),
        }
    }
}

impl std::error::Error for MatcherError {}

/// Invalid arguments given to [`crate::LruCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    ZeroCapacity,
    BadTtl(String),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::ZeroCapacity => write!(f, "capacity must be >= 1"),
            CacheError::BadTtl(v) => {
                write!(
                    f,
                    "ttl must be a finite number of seconds > 0 (or None), got {v}"
                )
            }
        }
    }
}

impl std::error::Error for CacheError {}

/// Invalid arguments given to [`crate::LatencyHistogram`] or corrupt serialized data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistogramError {
    /// Bad (lowest, highest, significant_figures) combination.
    Config(String),
    /// A value that is not a non-negative number.
    BadValue(String),
    /// A percentile outside [0, 100].
    BadQuantile(String),
    /// `from_bytes` input that is not a histogram written by `to_bytes`.
    Decode(String),
}

impl fmt::Display for HistogramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistogramError::Config(m) => write!(f, "invalid histogram configuration: {m}"),
            HistogramError::BadValue(m) => write!(f, "invalid value: {m}"),
            HistogramError::BadQuantile(m) => write!(f, "percentile must be in [0, 100], got {m}"),
            HistogramError::Decode(m) => write!(f, "cannot decode histogram bytes: {m}"),
        }
    }
}

impl std::error::Error for HistogramError {}
