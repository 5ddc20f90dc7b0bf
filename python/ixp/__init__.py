"""ixp: an Intent Exchange Protocol (IXP) server whose hot paths are Rust."""

from ixp._core import IntentMatcher, LatencyHistogram, LruCache, normalize_message

__all__ = ["IntentMatcher", "LatencyHistogram", "LruCache", "__version__", "normalize_message"]

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ixp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
