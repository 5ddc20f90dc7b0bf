"""Free-text intent processing: a message in, the matching intent and its descriptor out.

`POST /api/intents/process` and `/api/intents/process/batch`. Matching is one Rust call (one pass
over every pattern); its result is cached in the Rust `LruCache` under the normalized message, the
same normalization the matcher applies, so a cached answer is exactly what matching would give.
Captured strings are converted to the parameter schema's types (`captures.py`), then validated (by
the registry's Rust schemas) and rendered exactly as `/ixp/render` does (docs/protocol.md §9).

The fast lane: what a cached match answers depends on nothing but the registry version when the
request has no `options` and no data provider serves the intent; so that answer (the response
body, or the error) is remembered with the cache entry (`LruCache.remember`), and a request with a
message whose entry has one and no `userId` is answered by one Rust call (`ProcessLane`): body
parsed as msgspec would, message normalized, the entry looked up — a cache hit, counted as such —
and its answer sent. Whatever that call does not answer takes the ordinary path.
"""

from __future__ import annotations

from time import perf_counter_ns
from types import MappingProxyType
from typing import Any

import msgspec

from ixp._core import LruCache, ProcessLane, normalize_message
from ixp.base.errors import ConfigError, ErrorCode, IXPError
from ixp.base.settings import Settings
from ixp.features.captures import convert_captures
from ixp.features.contribution import Contribution
from ixp.features.schemas import SHARED
from ixp.features.users import parse_user_id
from ixp.http.access import AccessControl, Scope
from ixp.http.body import COMMON_JSON_CONTENT_TYPES, decode_json_body
from ixp.http.errors import LaneError, lane_error
from ixp.http.openapi import Operation, Reply, ref
from ixp.http.routing import RouteSpec
from ixp.http.types import JSON_CONTENT_TYPE, HeaderMap, Request, Response, json_response
from ixp.registry.reference import Commit, RegistryRef
from ixp.registry.version import Registry
from ixp.render.renderer import Renderer
from ixp.storage.service import StorageService

_encode = msgspec.json.Encoder().encode
_CACHED = (b',"cached":false,"descriptor":', b',"cached":true,"descriptor":')  # by `cached`
# Errors a cached match always answers the same way (for a registry version); the others depend
# on the request (its origin, its user) or on the moment (storage, data providers).
_REMEMBERED_ERRORS = frozenset(
    {ErrorCode.NO_INTENT_MATCHED, ErrorCode.INVALID_REQUEST, ErrorCode.COMPONENT_NOT_FOUND}
)
_NO_MATCH: tuple[str, dict[str, str]] = (
    "",
    {},
)  # cached for messages that match nothing, so garbage is not re-matched


class ProcessRequest(msgspec.Struct):
    message: str
    userId: str | int | None = None
    options: dict[str, Any] | None = None


class BatchRequest(msgspec.Struct):
    messages: list[str]
    userId: str | int | None = None
    options: dict[str, Any] | None = None


process_decoder = msgspec.json.Decoder(ProcessRequest)
batch_decoder = msgspec.json.Decoder(BatchRequest)


class IntentProcessor:
    """Matches messages with the registry's `IntentMatcher`, through an LRU cache of match results."""

    def __init__(
        self,
        settings: Settings,
        registry: RegistryRef,
        renderer: Renderer,
        storage: StorageService,
        access: AccessControl,
    ) -> None:
        fallback = settings.fallback_intent
        if fallback is not None and fallback not in registry.current.intents:
            raise ConfigError(f"IXP_FALLBACK_INTENT: {fallback!r} is not a registered intent")
        self.registry = registry
        self.renderer = renderer
        self.storage = storage
        self.access = access
        self.cache = LruCache(settings.match_cache_size, settings.match_cache_ttl)
        self._answer = ProcessLane(self.cache, settings.max_message_chars).answer
        self.max_chars = settings.max_message_chars
        self.max_batch = settings.max_batch_messages
        self.fallback = settings.fallback_intent

    def on_registry_swap(self, registry: Registry) -> Commit:
        return self.cache.clear  # cached matches name intents of the old version

    def cache_stats(self) -> dict[str, Any]:
        stats = self.cache.stats()
        lookups = stats["hits"] + stats["misses"]
        return {**stats, "hitRatio": round(stats["hits"] / lookups, 4) if lookups else 0.0}

    def cache_series(self) -> list[tuple[str, str, str, float]]:
        """Prometheus counters of the match cache (a ratio is computed from them in PromQL)."""
        stats = self.cache.stats()
        return [
            ("ixp_match_cache_hits_total", "Free-text match cache hits.", "counter", stats["hits"]),
            ("ixp_match_cache_misses_total", "Free-text match cache misses.", "counter", stats["misses"]),
        ]

    def check_message(self, message: str) -> str:
        if len(message) > self.max_chars:
            raise IXPError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"Message is {len(message)} characters; the limit is {self.max_chars}",
            )
        key = normalize_message(message)
        if not key:
            raise IXPError(ErrorCode.INVALID_REQUEST, "Field 'message' must not be empty or only whitespace")
        return key

    def match(self, key: str) -> tuple[tuple[str, dict[str, str]], bool]:
        """The match for a normalized message, and whether it came from the cache."""
        hit = self.cache.get(key)
        if hit is not None:
            return hit, True  # type: ignore[return-value]
        result = self.registry.current.matcher.match(key) or _NO_MATCH
        self.cache.set(key, result)
        return result, False

    def lane(self, headers: HeaderMap, body: bytes, origin: str | None) -> Response | LaneError | None:
        """`POST /api/intents/process` answered from the match cache in one Rust call: the
        remembered response or error of the message's cached match (a cache hit), or None for
        the ordinary path (`process`): a rare content type, a `userId` or `options`, a body
        msgspec would read differently, a message not cached or whose answer is not remembered
        or does not hold for this `Origin`."""
        if headers.get("content-type") not in COMMON_JSON_CONTENT_TYPES:
            return None  # absent or a rare spelling: `process` checks it
        answer = self._answer(body, origin)
        if type(answer) is bytes:
            return Response(200, [("content-type", JSON_CONTENT_TYPE)], answer)
        return answer  # type: ignore[return-value]  # a remembered LaneError, or None

    async def respond(
        self,
        registry: Registry,
        message: str,
        found: tuple[str, dict[str, str]],
        options: dict[str, Any] | None,
        request: Request,
        user_id: int | None,
    ) -> tuple[bytes, bytes, str, dict[str, Any]]:
        """For one matched message: the start of the response body (intent and parameters), the
        descriptor, the intent and the validated parameters; raises the protocol error otherwise.
        The body is `start + _CACHED[cached] + descriptor + b"}"`."""
        name, captures = found
        if not name:
            if self.fallback is None:
                raise IXPError(ErrorCode.NO_INTENT_MATCHED, "No intent matches the message")
            name, parameters = self.fallback, {"message": message}
        else:
            parameters = convert_captures(registry, name, captures)
        validated, descriptor = await self.renderer.resolve_with_data(
            name, parameters, options, request.headers.get("origin"), request.request_id, user_id
        )
        start = b'{"intent":' + _encode(name) + b',"parameters":' + _encode(validated)
        return start, descriptor, name, validated

    async def process(self, request: Request) -> Response:
        started = perf_counter_ns()
        body = decode_json_body(request, process_decoder)
        user_id = await self.user_of(request, body.userId)
        key = self.check_message(body.message)
        registry = self.registry.current
        found, cached = self.match(key)
        remember, origins = self.remembers(registry, found) if not body.options else (False, None)
        try:
            start, descriptor, name, parameters = await self.respond(
                registry, body.message, found, body.options, request, user_id
            )
        except IXPError as exc:
            if remember and exc.code in _REMEMBERED_ERRORS:
                self.cache.remember(key, found, lane_error(exc), origins)
            raise
        encoded = start + _CACHED[cached] + descriptor + b"}"
        if remember:
            # What the next request with this message gets from the lane: a cache hit.
            hit = encoded if cached else start + _CACHED[True] + descriptor + b"}"
            self.cache.remember(key, found, hit, origins)
        if user_id is not None:
            await self.record(user_id, [(name, body.message, parameters)], started)
        return json_response(200, encoded)

    def remembers(
        self, registry: Registry, found: tuple[str, dict[str, str]]
    ) -> tuple[bool, frozenset[str] | None]:
        """Whether the answer of the match `found` (without `options`) is the same for every
        request with its message — not for a fallback (it renders the message as sent), nor when
        a data provider serves the intent (its data is fetched each time) — and the `Origin`
        values it holds for (None: any): those the intent's component allows, since the render
        checks them first."""
        name = found[0]
        if not name:
            return self.fallback is None, None
        providers = self.renderer.providers
        if providers is not None and providers.serving(name):
            return False, None
        component = registry.components.get(registry.intents[name].component)
        return True, None if component is None or component.any_origin else component.allowed_origins

    async def user_of(self, request: Request, raw: Any) -> int | None:
        """The `userId` of a request that may write that user's session (scope `sessions:write`)."""
        if raw is None:
            return None
        await self.access.require(request, Scope.SESSIONS_WRITE)
        return parse_user_id(raw, "userId")

    async def record(
        self, user_id: int, processed: list[tuple[str, str, dict[str, Any]]], started: int
    ) -> None:
        """Append to the user's session and the intent log (unknown user 404, storage down 503)."""
        latency_us = (perf_counter_ns() - started) // 1000
        await self.storage.record(user_id, processed, latency_us)

    async def process_batch(self, request: Request) -> Response:
        started = perf_counter_ns()
        body = decode_json_body(request, batch_decoder)
        user_id = await self.user_of(request, body.userId)
        if len(body.messages) > self.max_batch:
            raise IXPError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"Batch has {len(body.messages)} messages; the limit is {self.max_batch}",
            )
        registry = self.registry.current
        keys: list[str | IXPError] = []
        for message in body.messages:
            try:
                keys.append(self.check_message(message))
            except IXPError as exc:
                keys.append(exc)
        # One Rust call matches every message the cache does not know.
        results: dict[str, tuple[tuple[str, dict[str, str]], bool]] = {}
        misses: list[str] = []
        for key in keys:
            if isinstance(key, str) and key not in results:
                hit = self.cache.get(key)
                if hit is None:
                    misses.append(key)
                    results[key] = (_NO_MATCH, False)
                else:
                    results[key] = (hit, True)  # type: ignore[assignment]
        for key, found in zip(misses, registry.matcher.match_many(misses), strict=True):
            result = found or _NO_MATCH
            self.cache.set(key, result)
            results[key] = (result, False)
        parts: list[bytes] = []
        processed = []
        for message, key in zip(body.messages, keys, strict=True):
            try:
                if isinstance(key, IXPError):
                    raise key
                found, cached = results[key]
                start, descriptor, name, parameters = await self.respond(
                    registry, message, found, body.options, request, user_id
                )
                parts.append(start + _CACHED[cached] + descriptor + b"}")
                processed.append((name, message, parameters))
            except IXPError as exc:
                error: dict[str, Any] = {"status": exc.status, "code": exc.code.value, "message": exc.message}
                if exc.details is not None:
                    error["details"] = exc.details
                parts.append(_encode({"error": error}))
        if user_id is not None and processed:
            await self.record(user_id, processed, started)
        return json_response(
            200, b'{"results":[' + b",".join(parts) + b'],"count":' + str(len(parts)).encode() + b"}"
        )


_USER_ID = MappingProxyType(
    {"oneOf": [{"type": "integer"}, {"type": "string"}], "description": "a positive integer id"}
)
_RENDER_ERRORS = ("ORIGIN_NOT_ALLOWED", "COMPONENT_NOT_FOUND", "DATA_PROVIDER_ERROR", "TIMEOUT_ERROR")
PROCESS_DOC = Operation(
    "Match a free-text message to an intent and render it",
    ("processing",),
    description="With `userId`, the intent is appended to the user's session (docs/protocol.md §9.1).",
    request={
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}, "userId": _USER_ID, "options": {"type": "object"}},
    },
    responses={200: Reply("The matched intent and its descriptor", ref("Processed"))},
    errors=("NO_INTENT_MATCHED", "USER_NOT_FOUND", "STORAGE_UNAVAILABLE", *_RENDER_ERRORS),
    example=MappingProxyType({"message": "weather in Lisbon for 5 days"}),
    auth=True,
    schemas=SHARED,
)
BATCH_DOC = Operation(
    "Match many messages in one call; failed items carry their error",
    ("processing",),
    request={
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {"type": "array", "items": {"type": "string"}},
            "userId": _USER_ID,
            "options": {"type": "object"},
        },
    },
    responses={
        200: Reply(
            "One result per message, in input order",
            {
                "type": "object",
                "required": ["results", "count"],
                "properties": {
                    "count": {"type": "integer"},
                    "results": {
                        "type": "array",
                        "items": {
                            "anyOf": [
                                ref("Processed"),
                                {
                                    "type": "object",
                                    "required": ["error"],
                                    "properties": {
                                        "error": {"type": "object", "required": ["status", "code", "message"]}
                                    },
                                },
                            ]
                        },
                    },
                },
            },
        )
    },
    errors=("USER_NOT_FOUND", "STORAGE_UNAVAILABLE", "DATA_PROVIDER_ERROR", "TIMEOUT_ERROR"),
    example=MappingProxyType({"messages": ["weather in Lisbon", "top 3 books", "hello"]}),
    auth=True,
    schemas=SHARED,
)


def processing(processor: IntentProcessor) -> Contribution:
    return Contribution(
        "processing",
        routes=[
            RouteSpec(
                "POST", "/api/intents/process", processor.process, lane=processor.lane, doc=PROCESS_DOC
            ),
            RouteSpec("POST", "/api/intents/process/batch", processor.process_batch, doc=BATCH_DOC),
        ],
        metrics_sections={"matchCache": processor.cache_stats},
        registry_listeners=[processor.on_registry_swap],
    )
