"""`GET /ixp/crawler_content`: bounded limit, a cursor that pages, filters applied (docs/protocol.md §6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests._support import asgi_client


def many_intents(n: int) -> dict[str, Any]:
    return {
        "intents": [
            {
                "name": f"page_{i:03d}",
                "description": f"Page {i}",
                "component": "WelcomeMessage",
                "version": "1",
                "crawlable": True,
                "lastUpdated": f"2025-01-{1 + i % 28:02d}T00:00:00.000Z",
                "parameters": {"type": "object", "properties": {}},
            }
            for i in range(n)
        ]
    }


async def test_default_feed_lists_crawlable_intents_and_components(client: httpx.AsyncClient) -> None:
    body = (await client.get("/ixp/crawler_content")).json()
    assert [(c["type"], c["id"]) for c in body["contents"]] == [
        ("intent", "show_welcome"),
        ("intent", "show_products"),
        ("intent", "show_faq"),
        ("component", "FaqAccordion"),
    ]
    first = body["contents"][0]
    assert first == {
        "type": "intent",
        "id": "show_welcome",
        "title": "show_welcome",
        "description": "Greet the visitor, by name when they give it",
        "lastUpdated": body["lastUpdated"],
    }
    assert body["pagination"] == {"nextCursor": None, "hasMore": False, "total": 4}
    again = (await client.get("/ixp/crawler_content")).json()
    assert again["contents"] == body["contents"]  # stable per version (protocol.md §6.3)


async def test_cursor_pages_through_everything_exactly_once(make_app, write_registry) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry(intents=many_intents(25))
    async with asgi_client(make_app(intents=str(intents_path), components=str(components_path))) as client:
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            url = "/ixp/crawler_content?type=intent&limit=10" + (f"&cursor={cursor}" if cursor else "")
            body = (await client.get(url)).json()
            seen += [c["id"] for c in body["contents"]]
            pages += 1
            assert body["pagination"]["total"] == 25
            if not body["pagination"]["hasMore"]:
                assert body["pagination"]["nextCursor"] is None
                break
            cursor = body["pagination"]["nextCursor"]
        assert pages == 3
        assert seen == [f"page_{i:03d}" for i in range(25)]


async def test_type_and_last_updated_filters_are_applied(make_app, write_registry) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry(intents=many_intents(28))
    async with asgi_client(make_app(intents=str(intents_path), components=str(components_path))) as client:
        recent = (
            await client.get("/ixp/crawler_content?type=intent&lastUpdated=2025-01-20T00:00:00Z")
        ).json()
        assert sorted(c["lastUpdated"][:10] for c in recent["contents"])[0] == "2025-01-20"
        assert recent["pagination"]["total"] == 9
        components = (await client.get("/ixp/crawler_content?type=component")).json()
        assert [c["id"] for c in components["contents"]] == ["FaqAccordion"]
        intents = (await client.get("/ixp/crawler_content?type=intent&includeMetadata=true")).json()
        assert intents["pagination"]["total"] == 28
        assert intents["metadata"] == {"types": ["intent"], "totalItems": 28}


@pytest.mark.parametrize("limit", ["0", "-5", "1001", "abc", "10.9", ""])
async def test_bad_limit_is_400(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get(f"/ixp/crawler_content?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["message"]


async def test_limit_bounds_are_inclusive(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ixp/crawler_content?limit=1")).json()["pagination"]["hasMore"] is True
    assert (await client.get("/ixp/crawler_content?limit=1000")).status_code == 200


@pytest.mark.parametrize("cursor", ["garbage!", "AAAA", "bm90LWpzb24", "WzEsLTEsIngiXQ"])
async def test_forged_cursor_is_400(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get(f"/ixp/crawler_content?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["message"]


async def test_cursor_with_changed_filters_is_rejected(client: httpx.AsyncClient) -> None:
    first = (await client.get("/ixp/crawler_content?limit=1")).json()
    cursor = first["pagination"]["nextCursor"]
    response = await client.get(f"/ixp/crawler_content?limit=1&type=intent&cursor={cursor}")
    assert response.status_code == 400
    assert "stale" in response.json()["error"]["message"]


@pytest.mark.parametrize("query", ["lastUpdated=yesterday", "format=xml"])
async def test_bad_filters_are_400(client: httpx.AsyncClient, query: str) -> None:
    assert (await client.get(f"/ixp/crawler_content?{query}")).status_code == 400
