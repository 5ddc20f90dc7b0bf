"""The IXP endpoints of ixp-protocol.md §1 under `/ixp`, registered on the app's router."""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec

from ixp._clock import utc_now_iso
from ixp._http import (
    ACCEPTED_CONTENT_TYPES,
    JSON_CONTENT_TYPE,
    HeaderMap,
    Request,
    Response,
    check_json_content_type,
    decode_json_body,
    json_response,
)
from ixp.compression import Compressor
from ixp.crawler import crawler_content
from ixp.errors import bad_request
from ixp.registry import PROTOCOL_VERSION, CachedBody, Registry
from ixp.render import render_intent, render_request_decoder
from ixp.routing import Router

if TYPE_CHECKING:
    from ixp.app import IXPApp

SDK_CONFIG_VERSION = "1.1.0"  # what the SDK's /sdk/config reports (§11.13)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_encoder = msgspec.json.Encoder()
_process_started = time.monotonic()


def cached(headers: HeaderMap, body: CachedBody, compressor: Compressor) -> Response:
    """A body encoded (and compressed) once per registry version; `If-None-Match` gets 304."""
    gzipped = headers.get("accept-encoding") is not None and compressor.wanted(headers, len(body.body))
    etag = body.gzip_etag if gzipped else body.etag
    match = headers.get("if-none-match")
    if match is not None:
        tags = _etags(match)
        if "*" in tags or body.etag in tags or body.gzip_etag in tags:
            return Response(304, [("etag", etag)], b"")
    if not gzipped:
        return Response(200, [("content-type", JSON_CONTENT_TYPE), ("etag", etag)], body.body)
    response = Response(
        200,
        [
            ("content-type", JSON_CONTENT_TYPE),
            ("etag", etag),
            ("content-encoding", "gzip"),
        ],
        body.gzipped(compressor.level),
    )
    response.encoded = True
    return response


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",")]


def _menu_body(registry: Registry) -> CachedBody:
    menus = []
    for intent in registry.intents.values():
        items = _default(intent.definition, "menuItems")
        if isinstance(items, list) and items:
            menus.append(
                {
                    "intentName": intent.name,
                    "description": intent.definition.get("description"),
                    "menuItems": items,
                }
            )
    return CachedBody.of({"menus": menus, "total": len(menus)})


def _default(definition: dict[str, Any], field: str) -> Any:
    properties = definition.get("parameters", {}).get("properties") or {}
    spec = properties.get(field)
    return spec.get("default") if isinstance(spec, dict) else None


def _init_entry(definition: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": definition["name"], "description": definition["description"]}
    category = _default(definition, "category")
    if category is not None:
        entry["category"] = category
    entry["featured"] = _default(definition, "featured") is True
    entry["menuItems"] = _default(definition, "menuItems") or []
    icon = _default(definition, "icon")
    if icon is not None:
        entry["icon"] = icon
    entry["quickActions"] = _default(definition, "quickActions") or []
    return entry


def register(router: Router, app: IXPApp) -> None:
    settings = app.settings

    def serve_cached(path: str, body_of: Callable[[Registry], CachedBody], name: str = "") -> None:
        """A GET route whose body is encoded once per registry version (ETag, 304, gzip variant).
        The app answers GET itself; this handler serves HEAD and rate-limited apps."""

        def handler(request: Request) -> Response:
            return cached(request.headers, body_of(app.registry), app.compressor)

        router.add_body(path, body_of, handler, name=name)

    def render_lane(headers: HeaderMap, body: bytes, origin: str | None) -> Response | None:
        # The success path in Rust; anything it does not answer (every error, fallback intents)
        # takes the Python path of `render`, which produces the exact result or error.
        if headers.get("content-type") not in ACCEPTED_CONTENT_TYPES:
            return None  # absent, never seen, or not acceptable: `render` checks it
        fast = app.registry.render_table.render(body, origin)
        return None if fast is None else Response(200, [("content-type", JSON_CONTENT_TYPE)], fast)

    def render(request: Request) -> Response:
        headers = request.headers
        check_json_content_type(headers.get("content-type"))
        fast = render_lane(headers, request.body, headers.get("origin"))
        if fast is not None:
            return fast
        body = decode_json_body(request, render_request_decoder)
        intent = body.intent
        if intent is None:
            raise bad_request("Missing required parameter 'intent.name'")
        descriptor = render_intent(
            app.registry, intent.name, intent.parameters, body.options, request.headers.get("origin")
        )
        return json_response(200, descriptor)

    def crawler(request: Request) -> Response:
        return json_response(200, crawler_content(app.registry, request))

    def sdk_config(request: Request) -> Response:
        registry = app.registry
        body = {
            "theme": registry.configured_theme or {},
            "version": SDK_CONFIG_VERSION,
            # The paths really served (the SDK advertised /ixp/ixp/... and /metrics: §12.1–2).
            "endpoints": {
                "intents": "/ixp/intents",
                "components": "/ixp/components",
                "render": "/ixp/render",
                "menu": "/ixp/menu",
                "init": "/ixp/init",
                "health": "/ixp/health",
                "metrics": "/ixp/metrics",
                "crawlerContent": "/ixp/crawler_content",
            },
            "cors": {"origins": list(settings.cors_origins)},
        }
        response = json_response(200, _encoder.encode(body), [("cache-control", "public, max-age=300")])
        response.public = True
        return response

    def menu_body(registry: Registry) -> CachedBody:
        body: CachedBody | None = registry.derived.get("menu")
        if body is None:
            body = registry.derived["menu"] = _menu_body(registry)
        return body

    def init(request: Request) -> Response:
        featured_only = request.query_param("featured") == "true"
        raw_limit = request.query_param("limit")
        limit = 0
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                raise bad_request(f"Query parameter 'limit' must be an integer, got '{raw_limit}'") from None
        entries = [_init_entry(i.definition) for i in app.registry.intents.values()]
        if featured_only:
            entries = [e for e in entries if e["featured"]]
        if limit > 0:
            entries = entries[:limit]
        body = {
            "intents": entries,
            "total": len(entries),
            "featured": featured_only,
            "timestamp": utc_now_iso(),
        }
        return json_response(200, _encoder.encode(body))

    async def health(request: Request) -> Response:
        registry = app.registry
        checks: dict[str, dict[str, Any]] = {}
        for name, count in (("intents", len(registry.intents)), ("components", len(registry.components))):
            checks[name] = {"status": "pass" if count else "warn", "message": f"{count} {name} loaded"}
        for name, check in app.health_checks.items():
            checks[name] = await check()
        statuses = {c["status"] for c in checks.values()}
        status = "unhealthy" if "fail" in statuses else "degraded" if "warn" in statuses else "healthy"
        body = {
            "status": status,
            "service": "IXP Server",
            "version": PROTOCOL_VERSION,
            "timestamp": utc_now_iso(),
            "uptime": round(time.monotonic() - _process_started, 3),
            "checks": checks,
        }
        return json_response(503 if status == "unhealthy" else 200, _encoder.encode(body))

    def metrics(request: Request) -> Response:
        registry = app.registry
        counts = (len(registry.intents), len(registry.components))
        output = request.query_param("format")
        if output not in (None, "json", "prometheus"):
            raise bad_request(f"Query parameter 'format' must be 'json' or 'prometheus', got '{output}'")
        accept = request.headers.get("accept") or ""
        if output == "prometheus" or (output is None and "text/plain" in accept):
            return Response(
                200, [("content-type", PROMETHEUS_CONTENT_TYPE)], app.metrics.to_prometheus(counts)
            )
        return json_response(200, app.metrics.to_json(counts))

    for path, body_of in (
        ("/ixp/intents", attrgetter("intents_body")),
        ("/ixp/components", attrgetter("components_body")),
        ("/ixp/theme", attrgetter("theme_body")),
    ):
        serve_cached(path, body_of)
    router.add("POST", "/ixp/render", render)
    router.add_lane("POST", "/ixp/render", render_lane)
    router.add("GET", "/ixp/crawler_content", crawler)
    router.add("GET", "/ixp/sdk/config", sdk_config)
    for prefix in ("/ixp", "/ixp/ixp"):  # the SDK served these at /ixp/ixp/... (§12.1): answer both
        serve_cached(f"{prefix}/menu", menu_body, name="/ixp/menu")
        router.add("GET", f"{prefix}/init", init, name="/ixp/init")
    router.add("GET", "/ixp/health", health, is_async=True)
    if settings.metrics_enabled:
        router.add("GET", "/ixp/metrics", metrics)
