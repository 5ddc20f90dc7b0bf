"""Plugins used by the tests, imported by real Granian workers as `tests._plugins:<name>`."""

from __future__ import annotations

import asyncio
from typing import Any

from ixp.plugins import CrawlerPage, CrawlerQuery, ProviderContext, Request, Response, Route, json_response

SEEN: list[ProviderContext] = []  # test-side record of the contexts a provider saw (in-process only)


class Weather:
    """A data provider for `weather_forecast` only, a route, a health check and a metrics section."""

    name = "weather"
    intents = {"weather_forecast"}

    def __init__(self) -> None:
        self.served = 0

    async def resolve_intent_data(
        self, intent: str, parameters: dict[str, Any], context: ProviderContext
    ) -> dict[str, Any]:
        self.served += 1
        SEEN.append(context)
        return {
            "forecast": f"sunny in {parameters['city']}",
            "units": "provider",
            "requestId": context.request_id,
        }

    @property
    def routes(self) -> list[Route]:
        return [Route("GET", "/weather/ping", self.ping)]

    def ping(self, request: Request) -> Response:
        return json_response(200, b'{"pong":true}')

    @property
    def health_checks(self) -> dict[str, Any]:
        async def upstream() -> dict[str, str]:
            return {"status": "pass", "message": "weather upstream reachable"}

        return {"weather": upstream}

    @property
    def metrics(self) -> dict[str, Any]:
        return {"weather": lambda: {"served": self.served}}


class Raising:
    name = "raising"
    intents = {"track_order"}

    def resolve_intent_data(
        self, intent: str, parameters: dict[str, Any], context: ProviderContext
    ) -> dict[str, Any]:
        raise RuntimeError("upstream exploded")


class Hanging:
    name = "hanging"
    intents = {"book_appointment"}

    async def resolve_intent_data(
        self, intent: str, parameters: dict[str, Any], context: ProviderContext
    ) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {"never": True}


ARTICLES = [
    {
        "type": "article",
        "id": f"article-{n}",
        "title": f"Article {n}",
        "description": "",
        "lastUpdated": "2026-01-01",
    }
    for n in range(5)
]


class Articles:
    """A crawler source that pages itself with its own cursor (an index into ARTICLES)."""

    name = "articles"

    def crawler_content(self, query: CrawlerQuery) -> CrawlerPage:
        start = int(query.cursor or 0)
        end = start + query.limit
        return CrawlerPage(
            items=ARTICLES[start:end], next_cursor=str(end) if end < len(ARTICLES) else None, total=5
        )


class BrokenSource:
    name = "broken-source"

    async def crawler_content(self, query: CrawlerQuery) -> list[dict[str, Any]]:
        raise ConnectionError("CMS unreachable")


class Products:
    """A crawler source answering with a plain list (paged by ixp)."""

    name = "products"

    def crawler_content(self, query: CrawlerQuery) -> list[dict[str, Any]]:
        return [
            {
                "type": "product",
                "id": f"p{n}",
                "title": f"P{n}",
                "description": "",
                "lastUpdated": "2026-02-01",
            }
            for n in range(3)
        ]
