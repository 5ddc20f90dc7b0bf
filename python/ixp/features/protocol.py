"""The IXP protocol endpoints under `/ixp`: registry bodies, render, SDK config, menu and init
(docs/protocol.md §4, §5, §7)."""

from __future__ import annotations

import logging
from dataclasses import replace
from operator import attrgetter
from typing import Any, cast

import msgspec

from ixp.base.clock import utc_now_iso
from ixp.base.errors import ErrorCode, IXPError
from ixp.base.settings import Settings
from ixp.features.contribution import Contribution
from ixp.features.schemas import OBJECT, SHARED, STRING, query, render_request, stamped
from ixp.http.body import COMMON_JSON_CONTENT_TYPES, check_json_content_type, decode_json_body
from ixp.http.compression import Compressor
from ixp.http.cors import own_headers
from ixp.http.errors import LaneError
from ixp.http.openapi import Operation, Reply, ref
from ixp.http.routing import BodyOf, RouteSpec
from ixp.http.types import JSON_CONTENT_TYPE, HeaderMap, Request, Response, json_response
from ixp.registry.bodies import CachedBody
from ixp.registry.reference import RegistryRef
from ixp.registry.version import Registry
from ixp.render.renderer import Renderer, render_request_decoder

log = logging.getLogger("ixp")

SDK_CONFIG_VERSION = "1.1.0"  # what the SDK's /sdk/config reports (docs/protocol.md §7.1)
_encode = msgspec.json.Encoder().encode


def menu_body(registry: Registry) -> CachedBody:
    """`/ixp/menu`: every intent with `menuItems` (its parameter default), once per version."""
    body: CachedBody | None = registry.derived.get("menu")
    if body is None:
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
        body = registry.derived["menu"] = CachedBody.of({"menus": menus, "total": len(menus)})
    return body


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


def protocol(
    settings: Settings, registry: RegistryRef, renderer: Renderer, compressor: Compressor
) -> Contribution:
    mount = settings.mount_path
    public = own_headers(settings, any_origin=True)  # /sdk/config: readable from any origin

    def registry_body(path: str, body_of: BodyOf, name: str = "", doc: Operation | None = None) -> RouteSpec:
        """A GET route whose body is encoded once per registry version. The pipeline answers GET
        itself (`answer_body`); this handler serves HEAD and rate-limited apps."""

        def handler(request: Request) -> Response:
            return compressor.cached_response(request.headers, body_of(registry.current))

        return RouteSpec("GET", path, handler, name=name, body_of=body_of, doc=doc)

    def render_lane(headers: HeaderMap, body: bytes, origin: str | None) -> Response | LaneError | None:
        # One Rust call answers a valid render and an invalid one alike, without Python decoding
        # or validation: the descriptor, an error with its envelope written up to the timestamp
        # and request id (the pipeline adds them), or None for what only Python answers
        # (msgspec's decoding errors, deprecated intents, provider data).
        if headers.get("content-type") not in COMMON_JSON_CONTENT_TYPES:
            return None  # absent or a rare spelling: `render` checks it
        plan = renderer.plan
        outcome = plan.table.render_wire(body, origin, plan.registry.schemas.check_pattern)
        if isinstance(outcome, bytes):
            return Response(200, [("content-type", JSON_CONTENT_TYPE)], outcome)
        return outcome

    def decode_render(request: Request) -> tuple[Response | None, Any]:
        """Rust's answer to a render (the error raised), or the decoded body for the Python path."""
        headers = request.headers
        check_json_content_type(headers.get("content-type"))
        plan = renderer.plan
        outcome = plan.table.render_outcome(
            request.body, headers.get("origin"), plan.registry.schemas.check_pattern
        )
        if isinstance(outcome, bytes):
            return Response(200, [("content-type", JSON_CONTENT_TYPE)], outcome), None
        if outcome is not None:
            _, code, message, details = outcome
            raise IXPError(
                ErrorCode[code],
                message,
                None if details is None else cast(dict[str, Any], msgspec.Raw(details)),
            )
        body = decode_json_body(request, render_request_decoder)
        if body.intent is None:
            raise IXPError(ErrorCode.INVALID_REQUEST, "Missing required parameter 'intent.name'")
        return None, body

    def render(request: Request) -> Response:
        fast, body = decode_render(request)
        if fast is not None:
            return fast
        intent = body.intent
        descriptor = renderer.render(
            intent.name, intent.parameters, body.options, request.headers.get("origin")
        )
        return json_response(200, descriptor)

    async def render_with_data(request: Request) -> Response:
        """`render` when plugins provide data: their intents are fetched here, under the timeout."""
        fast, body = decode_render(request)
        if fast is not None:
            return fast
        intent = body.intent
        origin = request.headers.get("origin")
        _, descriptor = await renderer.resolve_with_data(
            intent.name, intent.parameters, body.options, origin, request.request_id
        )
        return json_response(200, descriptor)

    def sdk_config(request: Request) -> Response:
        body = {
            "theme": registry.current.configured_theme or {},
            "version": SDK_CONFIG_VERSION,
            # The paths really served (the SDK advertised some it did not serve).
            "endpoints": {
                "intents": f"{mount}/intents",
                "components": f"{mount}/components",
                "render": f"{mount}/render",
                "menu": f"{mount}/menu",
                "init": f"{mount}/init",
                "health": f"{mount}/health",
                "metrics": f"{mount}/metrics",
                "crawlerContent": f"{mount}/crawler_content",
            },
            "cors": {"origins": list(settings.cors_origins)},
        }
        response = json_response(200, _encode(body), [("cache-control", "public, max-age=300")])
        response.own_headers = public
        return response

    def init(request: Request) -> Response:
        featured_only = request.query_param("featured") == "true"
        raw_limit = request.query_param("limit")
        limit = 0
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                raise IXPError(
                    ErrorCode.INVALID_REQUEST,
                    f"Query parameter 'limit' must be an integer, got '{raw_limit}'",
                ) from None
        entries = [_init_entry(i.definition) for i in registry.current.intents.values()]
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
        return json_response(200, _encode(body))

    async def warm_bodies() -> None:
        """Compress the registry bodies before the first request asks for them."""
        warmed = compressor.warm(registry.current.bodies())
        log.info("registry bodies compressed ahead of traffic: %d", warmed, extra={"warmedBodies": warmed})

    tags = ("registry",)
    routes = [
        registry_body(
            f"{mount}/{key}",
            attrgetter(f"{key}_body"),
            doc=Operation(summary, tags, responses={200: Reply(reply, stamped(key, item))}),
        )
        for key, summary, reply, item in (
            ("intents", "Every intent definition, as stored", "The intents", {"type": "array"}),
            (
                "components",
                "Every component, with its name and default security policy",
                "The components",
                {"type": "array"},
            ),
            ("theme", "The configured theme (or the default one)", "The theme", OBJECT),
        )
    ]
    routes += [
        RouteSpec(
            "POST",
            f"{mount}/render",
            render_with_data if renderer.providers else render,
            lane=render_lane,
            doc=Operation(
                "Render an intent: its component descriptor",
                ("render",),
                description="`intent.name` selects the intent; `intent.parameters` are validated against "
                "its parameter schema (docs/protocol.md §4).",
                request=render_request,
                responses={200: Reply("The component descriptor", ref("Descriptor"))},
                errors=(
                    "ORIGIN_NOT_ALLOWED", "INTENT_NOT_SUPPORTED", "COMPONENT_NOT_FOUND",
                    *(("DATA_PROVIDER_ERROR", "TIMEOUT_ERROR") if renderer.providers else ()),
                ),
                schemas=SHARED,
            ),
        ),
        RouteSpec(
            "GET",
            f"{mount}/sdk/config",
            sdk_config,
            doc=Operation(
                "Client bootstrap: endpoints, CORS origins, theme", ("bootstrap",),
                responses={200: Reply("The configuration", {
                    "type": "object",
                    "required": ["theme", "version", "endpoints", "cors"],
                    "properties": {"theme": OBJECT, "version": STRING, "endpoints": OBJECT, "cors": OBJECT},
                })},
            ),
        ),
    ]  # fmt: skip
    menu_doc = Operation(
        "Intents with menu items (chat bootstrap)",
        ("bootstrap",),
        responses={
            200: Reply(
                "The menus",
                {
                    "type": "object",
                    "required": ["menus", "total"],
                    "properties": {"menus": {"type": "array"}, "total": {"type": "integer"}},
                },
            )
        },
    )
    init_doc = Operation(
        "Intents for a chat's first screen",
        ("bootstrap",),
        parameters=(
            query("featured", {"enum": ["true", "false"]}, "`true`: featured intents only"),
            query("limit", {"type": "integer", "minimum": 0}, "at most this many (0: all)"),
        ),
        responses={
            200: Reply(
                "The intents",
                {
                    "type": "object",
                    "required": ["intents", "total", "featured", "timestamp"],
                    "properties": {"intents": {"type": "array"}, "total": {"type": "integer"}},
                },
            )
        },
        errors=("INVALID_REQUEST",),
    )
    for prefix in (mount, f"{mount}/ixp"):  # the SDK served these at /ixp/ixp/... (docs/protocol.md §7.2)
        alias = prefix != mount
        menu = replace(menu_doc, deprecated=alias)
        init_alias = replace(init_doc, deprecated=alias)
        routes.append(registry_body(f"{prefix}/menu", menu_body, name=f"{mount}/menu", doc=menu))
        routes.append(RouteSpec("GET", f"{prefix}/init", init, name=f"{mount}/init", doc=init_alias))
    return Contribution("protocol", routes=routes, on_startup=[warm_bodies])
