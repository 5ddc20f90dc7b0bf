"""Crawler sources: plugin functions that add items to `GET /ixp/crawler_content`
(docs/protocol.md §6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec


class CrawlerQuery(msgspec.Struct, frozen=True, kw_only=True):
    """One page's worth of a crawler source's items: at most `limit`, continuing from `cursor` (the
    source's own `next_cursor` of the previous page, None at the start), filtered by `type` and
    `last_updated` when given (ixp filters again, so a source may ignore them)."""

    limit: int
    cursor: str | None = None
    type: str | None = None
    last_updated: str | None = None


class CrawlerPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of items (`type`, `id`, `title`, `description`, `lastUpdated`, and any other fields)
    and the cursor of the next page (None when the source has no more)."""

    items: Sequence[Mapping[str, Any]]
    next_cursor: str | None = None
    total: int | None = None


Fetch = Callable[[CrawlerQuery], "CrawlerPage | Sequence[Mapping[str, Any]] | Awaitable[Any]"]


@dataclass
class CrawlerSource:
    name: str
    fetch: Fetch
    calls: int = 0
    failures: dict[str, int] = field(default_factory=lambda: {"error": 0, "timeout": 0})
