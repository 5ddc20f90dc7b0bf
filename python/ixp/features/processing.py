"""Free-text intent processing: a message in, the matching intent and its descriptor out.

`POST /api/intents/process` and `/api/intents/process/batch`. Matching is one Rust call (one pass
over every pattern); its result is cached in the Rust `LruCache` under the normalized message, the
same normalization the matcher applies, so a cached answer is exactly what matching would give.
Captured strings are converted to the parameter schema's types, then validated (by the registry's
Rust schemas) and rendered exactly as `/ixp/render` does (docs/protocol.md §9).
"""

from __future__ import annotations

import math
import re
from time import perf_counter_ns
from types import MappingProxyType
from typing import Any

import msgspec

from ixp._core import LruCache, normalize_message
from ixp.base.errors import ConfigError, ErrorCode, IXPError
from ixp.base.settings import Settings
from ixp.features.contribution import Contribution
from ixp.features.schemas import SHARED
from ixp.features.users import parse_user_id
from ixp.http.access import AccessControl, Scope
from ixp.http.body import decode_json_body
from ixp.http.openapi import Operation, Reply, ref
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.registry.reference import Commit, RegistryRef
from ixp.registry.version import Registry
from ixp.render.renderer import Renderer
from ixp.storage.service import StorageService

_encode = msgspec.json.Encoder().encode
_INTEGER = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
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


def convert_captures(registry: Registry, intent_name: str, captures: dict[str, str]) -> dict[str, Any]:
    """Captured strings → the parameter schema's types ("10" → 10, "yes" → true, enums by case).

    A capture that cannot be converted is a 400 in the validation format, naming the field.
    """
    intent = registry.intents[intent_name]
    properties = intent.definition["parameters"].get("properties") or {}
    out: dict[str, Any] = {}
    issues: list[dict[str, Any]] = []
    for name, text in captures.items():
        spec = properties.get(name)
        if not isinstance(spec, dict):
            continue  # undeclared group: dropped, as undeclared render parameters are
        kind = spec.get("type")
        try:
            out[name] = _convert(text, kind, spec)
        except ValueError:
            issues.append(
                {
                    "code": "invalid_conversion",
                    "expected": kind,
                    "received": text,
                    "path": [name],
                    "message": f"Expected {kind}, received '{text}'",
                }
            )
    if issues:
        parts = ", ".join(f"{issue['message']} at '{issue['path'][0]}'" for issue in issues)
        raise IXPError(
            ErrorCode.INVALID_REQUEST, "Parameter validation failed: " + parts, {"validationErrors": issues}
        )
    return out


def _convert(text: str, kind: Any, spec: dict[str, Any]) -> Any:
    if kind == "integer":
        if not _INTEGER.fullmatch(text.strip()):
            raise ValueError(text)
        return int(text)
    if kind == "number":
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return int(value) if _INTEGER.fullmatch(text.strip()) else value
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(text)
    if kind == "array":
        stripped = text.strip()
        if stripped.startswith("["):
            value = msgspec.json.decode(stripped)
            if not isinstance(value, list):
                raise ValueError(text)
            return value
        return [part.strip() for part in stripped.split(",") if part.strip()]
    if kind == "object":
        value = msgspec.json.decode(text)
        if not isinstance(value, dict):
            raise ValueError(text)
        return value
    enum = spec.get("enum")
    if isinstance(enum, list) and text not in enum:
        # Patterns match case-insensitively; map "Books" onto the canonical "books".
        folded = text.casefold()
        for option in enum:
            if isinstance(option, str) and option.casefold() == folded:
                return option
    return text


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

    async def respond(
        self,
        registry: Registry,
        message: str,
        found: tuple[str, dict[str, str]],
        cached: bool,
        options: dict[str, Any] | None,
        request: Request,
        user_id: int | None,
    ) -> tuple[bytes, str, dict[str, Any]]:
        """The encoded result for one matched message; raises the protocol error otherwise."""
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
        body = (
            b'{"intent":'
            + _encode(name)
            + b',"parameters":'
            + _encode(validated)
            + (b',"cached":true,"descriptor":' if cached else b',"cached":false,"descriptor":')
            + descriptor
            + b"}"
        )
        return body, name, validated

    async def process(self, request: Request) -> Response:
        started = perf_counter_ns()
        body = decode_json_body(request, process_decoder)
        user_id = await self.user_of(request, body.userId)
        key = self.check_message(body.message)
        registry = self.registry.current
        found, cached = self.match(key)
        encoded, name, parameters = await self.respond(
            registry, body.message, found, cached, body.options, request, user_id
        )
        if user_id is not None:
            await self.record(user_id, [(name, body.message, parameters)], started)
        return json_response(200, encoded)

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
                encoded, name, parameters = await self.respond(
                    registry, message, found, cached, body.options, request, user_id
                )
                parts.append(encoded)
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
            RouteSpec("POST", "/api/intents/process", processor.process, doc=PROCESS_DOC),
            RouteSpec("POST", "/api/intents/process/batch", processor.process_batch, doc=BATCH_DOC),
        ],
        metrics_sections={"matchCache": processor.cache_stats},
        registry_listeners=[processor.on_registry_swap],
    )
