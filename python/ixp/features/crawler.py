"""`GET /ixp/crawler_content`: the crawlable intents and components, paged by an opaque cursor
(docs/protocol.md §6).

Unlike the SDK, `limit` is bounded 1–1000, the cursor really pages, and the `type` and
`lastUpdated` filters are applied. Items are computed once per registry version, so their
`lastUpdated` does not change on every call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import msgspec

from ixp.base.clock import parse_iso
from ixp.base.errors import ErrorCode, IXPError
from ixp.features.contribution import Contribution
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.registry.reference import RegistryRef
from ixp.registry.version import Registry

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_encoder = msgspec.json.Encoder()


class Cursor(msgspec.Struct, array_like=True):
    version: int
    offset: int
    filters: str


def crawlable_items(registry: Registry) -> list[dict[str, Any]]:
    """Content items for a registry version, computed once per version (and kept by it)."""
    items: list[dict[str, Any]] | None = registry.derived.get("crawler")
    if items is None:
        items = []
        for intent in registry.intents.values():
            if intent.crawlable:
                items.append(_item("intent", intent.name, intent.definition, registry.loaded_iso))
        for component in registry.components.values():
            if component.definition.get("crawlable") is True:
                items.append(_item("component", component.name, component.definition, registry.loaded_iso))
        registry.derived["crawler"] = items
    return items


def _item(kind: str, name: str, definition: dict[str, Any], loaded_iso: str) -> dict[str, Any]:
    updated = definition.get("lastUpdated")
    return {
        "type": kind,
        "id": name,
        "title": definition.get("title") if isinstance(definition.get("title"), str) else name,
        "description": definition.get("description", ""),
        "lastUpdated": updated if isinstance(updated, str) and parse_iso(updated) else loaded_iso,
    }


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise IXPError(
            ErrorCode.INVALID_REQUEST,
            f"Query parameter 'limit' must be an integer from 1 to {MAX_LIMIT}, got '{raw}'",
        ) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise IXPError(
            ErrorCode.INVALID_REQUEST,
            f"Query parameter 'limit' must be an integer from 1 to {MAX_LIMIT}, got {limit}",
        )
    return limit


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(_encoder.encode(cursor)).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor:
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        cursor = msgspec.json.decode(data, type=Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise IXPError(
            ErrorCode.INVALID_REQUEST, "Query parameter 'cursor' is not a cursor this server issued"
        ) from None
    if cursor.offset < 0:
        raise IXPError(
            ErrorCode.INVALID_REQUEST, "Query parameter 'cursor' is not a cursor this server issued"
        )
    return cursor


def crawler_content(registry: Registry, request: Request) -> bytes:
    limit = _parse_limit(request.query_param("limit"))
    kind = request.query_param("type")
    since_raw = request.query_param("lastUpdated")
    output_format = request.query_param("format")
    if output_format is not None and output_format != "json":
        raise IXPError(
            ErrorCode.INVALID_REQUEST, f"Query parameter 'format' must be 'json', got '{output_format}'"
        )
    since = None
    if since_raw is not None:
        since = parse_iso(since_raw)
        if since is None:
            raise IXPError(
                ErrorCode.INVALID_REQUEST,
                f"Query parameter 'lastUpdated' must be an ISO-8601 date, got '{since_raw}'",
            )
    filters = hashlib.blake2b(f"{kind}\x00{since_raw}".encode(), digest_size=6).hexdigest()
    offset = 0
    raw_cursor = request.query_param("cursor")
    if raw_cursor:
        cursor = decode_cursor(raw_cursor)
        if cursor.version != registry.version or cursor.filters != filters:
            raise IXPError(
                ErrorCode.INVALID_REQUEST,
                "Query parameter 'cursor' is stale: the registry or the filters changed since it was "
                "issued; start again without a cursor",
            )
        offset = cursor.offset

    items = crawlable_items(registry)
    if kind is not None:
        items = [item for item in items if item["type"] == kind]
    if since is not None:
        items = [item for item in items if (parse_iso(item["lastUpdated"]) or since) >= since]
    page = items[offset : offset + limit]
    has_more = offset + limit < len(items)
    next_cursor = encode_cursor(Cursor(registry.version, offset + limit, filters)) if has_more else None
    body: dict[str, Any] = {
        "contents": page,
        "pagination": {"nextCursor": next_cursor, "hasMore": has_more, "total": len(items)},
        "lastUpdated": registry.loaded_iso,
    }
    if request.query_param("includeMetadata") == "true":
        body["metadata"] = {"types": sorted({item["type"] for item in items}), "totalItems": len(items)}
    return _encoder.encode(body)


def crawler(registry: RegistryRef) -> Contribution:
    def content(request: Request) -> Response:
        return json_response(200, crawler_content(registry.current, request))

    return Contribution("crawler", routes=[RouteSpec("GET", "/ixp/crawler_content", content)])
