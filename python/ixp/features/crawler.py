"""`GET /ixp/crawler_content`: the crawlable intents and components, paged by an opaque cursor
(docs/protocol.md §6).

Unlike the SDK, `limit` is bounded 1–1000, the cursor really pages, and the `type` and
`lastUpdated` filters are applied. Items are computed once per registry version, so their
`lastUpdated` does not change on every call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ixp.base.clock import parse_iso
from ixp.base.errors import ErrorCode, IXPError
from ixp.base.tasks import call_with_timeout
from ixp.features.contribution import Contribution
from ixp.features.crawler_sources import CrawlerPage, CrawlerQuery, CrawlerSource
from ixp.features.schemas import OBJECT, query
from ixp.http.openapi import Operation, Reply
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.registry.reference import RegistryRef
from ixp.registry.version import Registry

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_encoder = msgspec.json.Encoder()
log = logging.getLogger("ixp.crawler")


class Cursor(msgspec.Struct, array_like=True):
    """Where the next page starts: in the registry's items (`source` 0, at `offset`) or in plugin
    source `source` (1-based), at its own cursor `state` (or at `offset` of a list it returned)."""

    version: int
    offset: int
    filters: str
    source: int = 0
    state: str | None = None


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


@dataclass
class FeedQuery:
    """The parsed query of one feed request."""

    limit: int
    kind: str | None
    since_raw: str | None
    since: Any
    filters: str
    cursor: Cursor | None
    metadata: bool


def parse_query(registry: Registry, request: Request) -> FeedQuery:
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
    cursor = None
    raw_cursor = request.query_param("cursor")
    if raw_cursor:
        cursor = decode_cursor(raw_cursor)
        if cursor.version != registry.version or cursor.filters != filters:
            raise IXPError(
                ErrorCode.INVALID_REQUEST,
                "Query parameter 'cursor' is stale: the registry or the filters changed since it was "
                "issued; start again without a cursor",
            )
    metadata = request.query_param("includeMetadata") == "true"
    return FeedQuery(limit, kind, since_raw, since, filters, cursor, metadata)


def _filtered(items: Sequence[Mapping[str, Any]], query: FeedQuery) -> list[Mapping[str, Any]]:
    if query.kind is not None:
        items = [item for item in items if item.get("type") == query.kind]
    if query.since is not None:
        since = query.since
        items = [item for item in items if (parse_iso(str(item.get("lastUpdated", ""))) or since) >= since]
    return list(items)


def registry_page(registry: Registry, query: FeedQuery) -> dict[str, Any]:
    """A page of the registry's own items (no plugin sources): the whole feed computed in place."""
    items = _filtered(crawlable_items(registry), query)
    offset = query.cursor.offset if query.cursor is not None else 0
    page = items[offset : offset + query.limit]
    has_more = offset + query.limit < len(items)
    cursor = Cursor(registry.version, offset + query.limit, query.filters) if has_more else None
    return _body(registry, query, page, cursor, len(items), items, {})


def _body(
    registry: Registry,
    query: FeedQuery,
    page: list[Mapping[str, Any]],
    cursor: Cursor | None,
    total: int,
    known: list[Mapping[str, Any]],
    failures: dict[str, dict[str, str]],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contents": page,
        "pagination": {
            "nextCursor": encode_cursor(cursor) if cursor is not None else None,
            "hasMore": cursor is not None,
            "total": total,
        },
        "lastUpdated": registry.loaded_iso,
    }
    if query.metadata or failures:
        metadata: dict[str, Any] = {}
        if query.metadata:
            metadata = {"types": sorted({str(item.get("type")) for item in known}), "totalItems": total}
        if failures:
            metadata["sourceErrors"] = failures
        body["metadata"] = metadata
    return body


async def feed_page(
    registry: Registry, query: FeedQuery, sources: Sequence[CrawlerSource], timeout: float
) -> dict[str, Any]:
    """The registry's items, then each plugin source's, under one cursor. A source that fails or
    times out is skipped and named in `metadata.sourceErrors`; the feed itself never fails."""
    cursor = query.cursor or Cursor(registry.version, 0, query.filters)
    source, offset, state = cursor.source, cursor.offset, cursor.state
    page: list[Mapping[str, Any]] = []
    registry_items = _filtered(crawlable_items(registry), query)
    total = len(registry_items)
    failures: dict[str, dict[str, str]] = {}
    following: Cursor | None = None
    if source == 0:
        page = registry_items[offset : offset + query.limit]
        if offset + query.limit < len(registry_items):
            following = Cursor(registry.version, offset + query.limit, query.filters)
        source, offset, state = 1, 0, None
    while following is None and source <= len(sources):
        need = query.limit - len(page)
        if need <= 0:
            following = Cursor(registry.version, offset, query.filters, source, state)
            break
        plugin = sources[source - 1]
        plugin.calls += 1
        request = CrawlerQuery(limit=need, cursor=state, type=query.kind, last_updated=query.since_raw)
        try:
            result = await call_with_timeout(plugin.fetch, timeout, request)
            items, next_state, reported = _page_of(result, offset, need)
        except asyncio.TimeoutError:
            plugin.failures["timeout"] += 1
            failures[plugin.name] = {"status": "timeout", "message": f"no answer within {timeout:g} s"}
            source, offset, state = source + 1, 0, None
            continue
        except Exception as exc:
            plugin.failures["error"] += 1
            log.warning("crawler source %r failed: %r", plugin.name, exc)
            failures[plugin.name] = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
            source, offset, state = source + 1, 0, None
            continue
        page.extend(_filtered(items, query))
        if reported is not None:
            total += reported
        if next_state is None:
            source, offset, state = source + 1, 0, None
        elif next_state.startswith("#"):  # a list source: our offset into its list
            offset, state = int(next_state[1:]), None
        else:
            offset, state = 0, next_state
        if len(page) >= query.limit and source <= len(sources):
            following = Cursor(registry.version, offset, query.filters, source, state)
    return _body(registry, query, page, following, total, page, failures)


def _page_of(result: Any, offset: int, need: int) -> tuple[list[Mapping[str, Any]], str | None, int | None]:
    """A source's answer as (items, its next state, its total): a `CrawlerPage` pages itself; a
    list is the whole set, paged here by offset (a state of `#<offset>`)."""
    if isinstance(result, CrawlerPage):
        items = [item for item in result.items if isinstance(item, Mapping)]
        return items[:need], result.next_cursor, result.total
    if isinstance(result, Sequence) and not isinstance(result, (str, bytes)):
        items = [item for item in result if isinstance(item, Mapping)]
        page = items[offset : offset + need]
        more = offset + need < len(items)
        return page, f"#{offset + need}" if more else None, len(items) if offset == 0 else None
    raise TypeError(f"crawler_content returned {type(result).__name__}, expected a CrawlerPage or a list")


def crawler(
    registry: RegistryRef, sources: Sequence[CrawlerSource] = (), timeout: float = 2.0, mount: str = "/ixp"
) -> Contribution:
    path = f"{mount}/crawler_content"
    doc = Operation(
        "Crawlable intents and components, paged",
        ("crawler",),
        parameters=(
            query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "default 100"),
            query("cursor", {"type": "string"}, "the previous page's `pagination.nextCursor`"),
            query("type", {"enum": ["intent", "component"]}),
            query("lastUpdated", {"type": "string"}, "ISO-8601: items updated since then"),
            query("format", {"enum": ["json"]}),
            query("includeMetadata", {"enum": ["true", "false"]}, "`true`: add a `metadata` object"),
        ),
        responses={
            200: Reply(
                "One page",
                {
                    "type": "object",
                    "required": ["contents", "pagination", "lastUpdated"],
                    "properties": {"contents": {"type": "array", "items": OBJECT}, "pagination": OBJECT},
                },
            )
        },
        errors=("INVALID_REQUEST",),
    )
    if not sources:

        def content(request: Request) -> Response:
            current = registry.current
            return json_response(200, _encoder.encode(registry_page(current, parse_query(current, request))))

        return Contribution("crawler", routes=[RouteSpec("GET", path, content, doc=doc)])

    async def merged(request: Request) -> Response:
        current = registry.current
        body = await feed_page(current, parse_query(current, request), sources, timeout)
        return json_response(200, _encoder.encode(body))

    def stats() -> dict[str, Any]:
        return {s.name: {"calls": s.calls, **s.failures} for s in sources}

    return Contribution(
        "crawler",
        routes=[RouteSpec("GET", path, merged, doc=doc)],
        metrics_sections={"crawlerSources": stats},
    )
