"""OpenAPI 3.1 from the app's real routes: each route may carry an `Operation` (declared by the
feature next to the route), and `build_spec` walks the router, adding what every route shares —
the error envelope, the statuses the pipeline itself answers, the optional bearer scheme.

Routes without an `Operation` still appear, with a generic 200 and the error envelope. Schemas that
depend on the registry (the render request: a oneOf over intents) are callables of the registry
version, so the spec is rebuilt per version (`ixp.features.web`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import msgspec

from ixp.base.errors import ErrorCode
from ixp.registry.version import Registry

Schema = Mapping[str, Any]  # a JSON schema; module-level ones are read-only (MappingProxyType)
# A schema that depends on the registry version; it may add named schemas to the second argument
# (`components.schemas`) and refer to them with `ref(name)`.
SchemaOf = Callable[[Registry, dict[str, Schema]], Schema]

# What a protected operation may answer besides its own errors (README, "Security").
AUTH_CODES = (ErrorCode.UNAUTHORIZED.value, ErrorCode.FORBIDDEN.value)
_BODY_ERRORS = ("INVALID_REQUEST", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
_REASONS = MappingProxyType({
    200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    413: "Payload Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
})  # fmt: skip


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


class Reply(NamedTuple):
    """A documented success response: its description, body schema and media type."""

    description: str
    schema: Schema | SchemaOf | None = None
    media: str = "application/json"
    more: tuple[tuple[str, Schema], ...] = ()  # other media types: (media type, schema)
    links: tuple[tuple[str, Schema], ...] = ()  # OpenAPI links: (name, link object)


@dataclass(frozen=True)
class Operation:
    """What the spec says about one route (method + path); the feature declares it on its RouteSpec.

    `errors`: the error codes the operation may answer (their statuses come from the codes; body
    errors are added to every operation with a request body); `auth`: optional bearer auth (401,
    403 and `security: [{}, {bearerAuth: []}]`); `schemas`: named schemas the operation refers to.
    """

    summary: str
    tags: tuple[str, ...] = ()
    description: str = ""
    request: Schema | SchemaOf | None = None
    responses: Mapping[int, Reply] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    parameters: tuple[Schema, ...] = ()
    auth: bool = False
    deprecated: bool = False
    schemas: Mapping[str, Schema] = field(default_factory=dict)
    example: Any = None  # a request body, shown by the docs page and tried first by API fuzzers


def error_statuses() -> dict[str, int]:
    """Every error code and its status."""
    return {code.value: code.status for code in ErrorCode}


def error_envelope_schema(codes: list[str]) -> Schema:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "timestamp"],
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "requestId": {"type": "string"},
                    "details": {"type": "object"},
                },
            }
        },
    }


def _resolve(schema: Schema | SchemaOf | None, registry: Registry, named: dict[str, Schema]) -> Any:
    return schema(registry, named) if callable(schema) else schema


@dataclass(frozen=True)
class RouteDoc:
    """One (method, path) the router serves, as the spec builder sees it."""

    method: str
    path: str
    operation: Operation | None
    cached_body: bool  # a registry body: ETag, If-None-Match → 304


def build_spec(
    routes: list[RouteDoc],
    registry: Registry,
    *,
    title: str,
    version: str,
    description: str = "",
    common_errors: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for these routes and this registry version.

    `common_errors`: codes any operation may answer with the current settings (e.g. 429 with a
    rate limit, 403 ORIGIN_NOT_ALLOWED with an origin allow-list).
    """
    statuses = error_statuses()
    named: dict[str, Schema] = {"Error": error_envelope_schema(sorted(statuses))}
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: (r.path, r.method)):
        op = route.operation or Operation(summary=f"{route.method} {route.path}")
        named.update(op.schemas)
        entry: dict[str, Any] = {
            "operationId": _operation_id(route.method, route.path),
            "summary": op.summary,
        }
        if op.tags:
            entry["tags"] = list(op.tags)
        if op.description:
            entry["description"] = op.description
        if op.deprecated:
            entry["deprecated"] = True
        parameters = [*op.parameters]
        parameters += [
            {"name": name[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.path.split("/")
            if name.startswith("{") and not any(p.get("name") == name[1:-1] for p in op.parameters)
        ]
        if route.cached_body:
            parameters.append({"name": "If-None-Match", "in": "header", "schema": {"type": "string"}})
        if parameters:
            entry["parameters"] = parameters
        errors = list(op.errors) + list(common_errors)
        if "{" in route.path:  # a segment the router cannot take (e.g. an encoded slash): no endpoint
            errors.append("NOT_FOUND")
        if op.request is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _resolve(op.request, registry, named)}},
            }
            if op.example is not None:
                entry["requestBody"]["content"]["application/json"]["example"] = op.example
            errors += _BODY_ERRORS
        if op.auth:
            entry["security"] = [{}, {"bearerAuth": []}]
            errors += list(AUTH_CODES)
        responses: dict[str, Any] = {}
        replies = dict(op.responses) or {200: Reply("OK", {})}
        for status, reply in sorted(replies.items()):
            body = _resolve(reply.schema, registry, named)
            responses[str(status)] = {"description": reply.description}
            if body is not None:
                content = {reply.media: {"schema": body}}
                content.update((media, {"schema": schema}) for media, schema in reply.more)
                responses[str(status)]["content"] = content
            if reply.links:
                responses[str(status)]["links"] = dict(reply.links)
        if route.cached_body:
            responses["304"] = {"description": "Not Modified: the ETag matched If-None-Match"}
        by_status: dict[int, list[str]] = {}
        for code in dict.fromkeys(errors):
            by_status.setdefault(statuses[code], []).append(code)
        if route.operation is None:
            responses["default"] = _error_response("Error", named["Error"], None)
        for status, codes in sorted(by_status.items()):
            responses[str(status)] = _error_response(
                f"{_REASONS.get(status, 'Error')}: {', '.join(codes)}", ref("Error"), codes
            )
        entry["responses"] = responses
        paths.setdefault(route.path, {})[route.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": named,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _error_response(description: str, schema: Schema, codes: list[str] | None) -> dict[str, Any]:
    body = schema
    if codes is not None:  # the envelope, with the codes this status carries here
        body = {
            "allOf": [
                schema,
                {"properties": {"error": {"properties": {"code": {"type": "string", "enum": codes}}}}},
            ]
        }
    return {"description": description, "content": {"application/json": {"schema": body}}}


def _operation_id(method: str, path: str) -> str:
    words = [method.lower()]
    for part in path.strip("/").split("/"):
        words.append("by_" + part[1:-1] if part.startswith("{") else part.replace("-", "_").replace(".", "_"))
    return "_".join(w for w in words if w)


def _plain(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_plain)


def encode_spec(spec: dict[str, Any]) -> bytes:
    """The spec as JSON (read-only schemas encoded as objects)."""
    return _encoder.encode(spec)
