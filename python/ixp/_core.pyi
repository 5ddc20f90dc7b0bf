"""Type stubs for ``ixp._core``, the Rust extension (crates ``ixp-core`` + ``ixp-python``)."""

from collections.abc import Callable, Sequence
from typing import Literal, final

from typing_extensions import Self

__all__ = [
    "IntentMatcher",
    "LatencyHistogram",
    "LruCache",
    "Pattern",
    "ProcessLane",
    "RenderTable",
    "RouteStats",
    "monotonic_ns",
    "normalize_message",
    "utc_timestamp",
]

def normalize_message(text: str) -> str:
    """Strip leading/trailing Unicode whitespace and collapse every inner run of it to one space."""

@final
class IntentMatcher:
    """Many regex patterns (Rust ``regex`` syntax) searched in one linear-time pass.

    The matching entry with the highest priority wins; ties go to the earlier entry.
    """

    def __new__(
        cls,
        entries: Sequence[tuple[str, str, int]],
        *,
        case_insensitive: bool = True,
        size_limit: int = 10485760,
    ) -> Self: ...
    def match(self, text: str) -> tuple[str, dict[str, str]] | None:
        """Normalize ``text``, then return ``(intent, {group: value})`` of the winner, or None."""

    def match_many(self, texts: Sequence[str]) -> list[tuple[str, dict[str, str]] | None]:
        """``[match(t) for t in texts]`` in one call; the GIL is released while matching."""

    def __len__(self) -> int: ...
    @property
    def intents(self) -> list[str]:
        """Distinct intent names in first-seen order."""

@final
class LruCache:
    """Bounded LRU cache with optional TTL in seconds; thread-safe."""

    def __new__(cls, capacity: int, ttl: float | None = None) -> Self: ...
    def get(self, key: str, default: object = None) -> object: ...
    def set(self, key: str, value: object, ttl: float | None = None) -> None: ...
    def delete(self, key: str) -> bool: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...
    @property
    def capacity(self) -> int: ...
    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def evictions(self) -> int: ...
    @property
    def expirations(self) -> int: ...
    def remember(
        self, key: str, value: object, answer: object, origins: frozenset[str] | None = None
    ) -> bool:
        """Attach ``answer`` to ``key``'s live entry if it still holds ``value`` (the same object),
        for ``recall``; ``origins``: the ``Origin`` values it holds for (None: any). Setting the key
        again drops it. Touches no counter and no recency; False if there is no such entry."""

    def recall(self, key: str, origin: str | None = None) -> object:
        """The answer remembered for ``key``'s live entry, if it holds for ``origin``: then a hit,
        made most recent, as ``get`` counts it. Otherwise None, with nothing counted or touched."""

    def stats(self) -> dict[str, int]:
        """``{"hits", "misses", "evictions", "expirations", "size", "capacity"}``."""

@final
class LatencyHistogram:
    """HDR histogram of latencies in integer nanoseconds; thread-safe."""

    def __new__(
        cls, lowest: int = 1000, highest: int = 60000000000, significant_figures: int = 3
    ) -> Self: ...
    def record(self, value: int | float) -> None: ...
    def record_n(self, value: int, count: int) -> None: ...
    @property
    def count(self) -> int: ...
    @property
    def min(self) -> int: ...
    @property
    def max(self) -> int: ...
    @property
    def mean(self) -> float: ...
    @property
    def lowest(self) -> int: ...
    @property
    def highest(self) -> int: ...
    @property
    def significant_figures(self) -> int: ...
    def percentile(self, q: float) -> int: ...
    def percentiles(self, qs: Sequence[float]) -> list[int]: ...
    def count_at_or_below(self, value: int) -> int: ...
    def merge(self, other: LatencyHistogram) -> None: ...
    def reset(self) -> None: ...
    def buckets(self) -> list[tuple[int, int]]:
        """Non-empty buckets, lowest first: (highest value equivalent to the bucket, count);
        ``record_n`` of each pair into an empty histogram of the same range rebuilds this one."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> LatencyHistogram: ...

@final
class Pattern:
    """A JSON-Schema ``pattern`` within the subset of regular expressions that Python's ``re`` and
    Rust's ``regex`` read the same way, matched by ``regex`` in linear time.

    Raises ``ValueError`` (with the reason) for a pattern outside the subset (look-around, back
    references, inline flags, ...) or one that does not compile.
    """

    def __new__(cls, pattern: str) -> Self: ...
    def is_match(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text`` (``re.search`` semantics)."""
    def search(self, text: str) -> bool | None:
        """``re.search(pattern, text) is not None`` where ``regex`` is sure to agree, else None."""
    @property
    def pattern(self) -> str: ...

@final
class RouteStats:
    """One route's latency histogram (ns) and response counts by status class; thread-safe."""

    def __new__(
        cls, lowest: int = 1000, highest: int = 60000000000, significant_figures: int = 3
    ) -> Self: ...
    def record(self, status: int, elapsed_ns: int) -> None:
        """One response; a status outside 100..599 counts as a 5xx error."""
    def record_since(self, status: int, start_ns: int) -> int:
        """``record`` of the time since ``start_ns`` (a ``monotonic_ns()`` reading); returns it."""
    @property
    def histogram(self) -> LatencyHistogram:
        """A copy of the latency histogram."""
    @property
    def by_class(self) -> list[int]:
        """Responses by status class (index = status // 100)."""
    @property
    def errors(self) -> int:
        """Responses with a status of 400 or more."""
    @property
    def count(self) -> int: ...

@final
class RenderTable:
    """``POST /ixp/render`` in Rust: compiled parameter schemas and envelopes.

    ``render`` returns the response body of a valid request, else None: the caller then takes the
    Python path, which produces the exact result or error. ``render_outcome`` answers every
    request the protocol's way (the descriptor, or the exact error: missing name 400, origin 403,
    unknown intent 404, parameters 400 with Zod issues, missing component 404), declining (None)
    only what Python must answer itself (msgspec's decoding errors, numbers msgspec reads
    differently, deprecated intents' success, fallback intents from validation on). An intent
    whose schema Rust cannot reproduce exactly, or a schema that is not a JSON-Schema object
    (e.g. ``"null"``), is registered as *fallback* (``fallback_reason``); ixp's registry refuses to
    load such a schema (``ixp.registry.schema.compile_schemas``).

    ``patterns`` says what a ``pattern`` outside the subset Rust's ``regex`` matches exactly as
    ``re`` (look-around, back references, ...) does: ``"fallback"`` makes its intent a fallback,
    ``"reject"`` raises ValueError (naming the intent and the field), ``"external"`` leaves the
    field's pattern to the ``check_pattern(pattern, text) -> bool`` callable given to
    ``render_outcome``/``validate`` (see ``external_patterns``; without it, such requests are
    declined).
    """

    def __new__(
        cls,
        intents: Sequence[
            tuple[str, str, bytes, bytes, Sequence[str] | None]
            | tuple[str, str, bytes | None, bytes | None, Sequence[str] | None, str, bool]
        ],
        *,
        patterns: Literal["fallback", "reject", "external"] = "fallback",
    ) -> Self:
        """Per intent, either ``(name, parameters schema as JSON text, envelope prefix, envelope
        suffix, allowed origins or None for any)`` (component registered, not deprecated), or
        ``(name, schema, prefix or None, suffix or None, origins, component name, deprecated)``
        (no envelope: the component is not registered). ValueError on malformed schema JSON, a
        duplicate name, an unknown ``patterns``, or (``patterns="reject"``) an unsupported
        pattern."""

    def render(self, body: bytes, origin: str | None) -> bytes | None:
        """``prefix + compact JSON of the props + suffix`` for a valid request, else None."""

    def render_outcome(
        self,
        body: bytes,
        origin: str | None,
        check_pattern: Callable[[str, str], bool] | None = None,
    ) -> bytes | tuple[int, str, str, bytes | None] | None:
        """The descriptor; or the error as ``(status, code, message, details as JSON or None)``;
        or None (take the Python path). Exceptions of ``check_pattern`` propagate."""

    def render_wire(
        self,
        body: bytes,
        origin: str | None,
        check_pattern: Callable[[str, str], bool] | None = None,
    ) -> bytes | tuple[int, str, bytes, bytes] | None:
        """``render_outcome`` as the render lane sends it: the descriptor; or the error as
        ``(status, code, envelope up to its timestamp, envelope after it up to the request id)``,
        the envelope of ``ixp.http.errors`` byte for byte; or None."""

    def validate(
        self,
        intent: str,
        parameters: bytes,
        check_pattern: Callable[[str, str], bool] | None = None,
    ) -> bytes | tuple[str, bytes] | None:
        """Validation of the JSON text ``parameters`` alone (``ixp.registry.schema.Schemas.validate``):
        the props (declared keys, schema order, defaults) as JSON; or ``(message, validationErrors
        as JSON)``; or None (a number beyond 64 bits, a fallback intent). KeyError for an
        unknown intent."""

    def external_patterns(self, intent: str) -> list[tuple[str, str]]:
        """``(schema location, pattern)`` of the fields ``check_pattern`` checks. KeyError for an
        unknown intent."""

    def fallback_reason(self, intent: str) -> str | None:
        """Why ``intent`` is a fallback (declined from validation on), or None."""

    def __len__(self) -> int: ...
    @property
    def fast_intents(self) -> list[str]:
        """Intents whose valid requests render in Rust (ready, not fallback), in registration order."""

@final
class ProcessLane:
    """The fast lane of ``POST /api/intents/process``: answers a request body from the answers
    ``cache`` remembers (``LruCache.remember``) for normalized messages."""

    def __new__(cls, cache: LruCache, max_chars: int) -> Self: ...
    def answer(self, body: bytes, origin: str | None) -> object:
        """The answer remembered for the body's normalized message, when the body is
        ``{"message": str}`` as msgspec decodes it (other members ignored; ``userId`` only null,
        ``options`` only null or ``{}``), the message is at most ``max_chars`` characters and not
        blank, and the answer holds for ``origin`` (a cache hit); else None, nothing counted."""

    @property
    def cache(self) -> LruCache:
        """The cache it answers from."""

def utc_timestamp() -> bytes:
    """Now, ``2025-01-01T12:00:00.000Z`` (UTC, milliseconds), as bytes."""

def monotonic_ns() -> int:
    """Nanoseconds on the monotonic clock ``RouteStats.record_since`` reads (0 at its first use)."""
