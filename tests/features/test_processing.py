"""Free-text processing: `/api/intents/process` and its batch form (docs/protocol.md §9)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ixp.base.errors import ConfigError
from tests._support import asgi_client, example_intents


def intent(name: str, patterns: list[str], priority: int = 0, properties: dict[str, Any] | None = None,
           required: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    parameters: dict[str, Any] = {"type": "object", "properties": properties or {}}
    if required:
        parameters["required"] = required
    return {
        "name": name, "description": name, "component": "WelcomeMessage", "version": "1",
        "parameters": parameters, "patterns": patterns, "priority": priority,
    }  # fmt: skip


TYPED = intent(
    "typed",
    [
        r"^set (?P<count>\S+) (?P<ratio>\S+) (?P<flag>\S+) (?P<tags>\S+)"
        r" (?P<meta>\{.*\}) (?P<mode>\w+) (?P<name>.+)$"
    ],
    properties={
        "count": {"type": "integer", "minimum": 0},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "maxItems": 3},
        "meta": {"type": "object"},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "name": {"type": "string", "maxLength": 20},
    },
)


@pytest.fixture
async def custom(make_app, write_registry):  # type: ignore[no-untyped-def]
    async def build(intents: list[dict[str, Any]], **settings: Any) -> tuple[httpx.AsyncClient, Any]:
        intents_path, components_path = write_registry(intents={"intents": intents})
        app = make_app(intents=str(intents_path), components=str(components_path), **settings)
        return asgi_client(app), app

    return build


async def process(client: httpx.AsyncClient, message: str, **extra: Any) -> httpx.Response:
    return await client.post("/api/intents/process", json={"message": message, **extra})


async def test_named_groups_become_typed_parameters(client: httpx.AsyncClient) -> None:
    response = await process(client, "Top 5 Electronics please")
    assert response.status_code == 200
    body = response.json()
    assert body["intent"] == "show_products"
    assert body["parameters"] == {
        "category": "electronics",
        "limit": 5,
        "sort": "popular",
        "inStockOnly": False,
    }
    assert body["cached"] is False
    assert body["descriptor"]["record"]["exportName"] == "ProductGrid"
    assert body["descriptor"]["record"]["props"] == body["parameters"]
    assert body["descriptor"]["ttl"] == 900


async def test_pattern_without_groups_uses_defaults(client: httpx.AsyncClient) -> None:
    body = (await process(client, "I need some help")).json()
    assert body["intent"] == "support_chat"
    assert body["parameters"]["topic"] == "other"


async def test_unicode_and_case_insensitive_matching(client: httpx.AsyncClient) -> None:
    body = (await process(client, "WEATHER IN  São   Paulo")).json()
    assert body["intent"] == "weather_forecast"
    assert body["parameters"]["city"] == "São Paulo"  # whitespace collapsed, case kept


async def test_every_schema_type_is_converted(custom) -> None:  # type: ignore[no-untyped-def]
    client, _ = await custom([TYPED])
    async with client:
        body = (await process(client, 'set 7 0.25 YES a,b,,c {"k": [1]} FAST Ada Lovelace')).json()
        assert body["parameters"] == {
            "count": 7, "ratio": 0.25, "flag": True, "tags": ["a", "b", "c"], "meta": {"k": [1]},
            "mode": "fast", "name": "Ada Lovelace",
        }  # fmt: skip


@pytest.mark.parametrize(
    ("message", "field", "fragment"),
    [
        ("set ten 1 yes a {} fast x", "count", "Expected integer, received 'ten'"),
        ("set 1 abc yes a {} fast x", "ratio", "Expected number, received 'abc'"),
        ("set 1 1 maybe a {} fast x", "flag", "Expected boolean, received 'maybe'"),
        ("set 1 1 yes [1 {} fast x", "tags", "Expected array"),
        ("set 1 1 yes a {x} fast x", "meta", "Expected object"),
        ("set -1 1 yes a {} fast x", "count", "Number must be greater than or equal to 0"),
        ("set 1 1 yes a,b,c,d {} fast x", "tags", "Array must contain at most 3 element(s)"),
        (
            "set 1 1 yes a {} medium x",
            "mode",
            "Invalid enum value. Expected 'fast' | 'slow', received 'medium'",
        ),
        ("set 1 1 yes a {} fast " + "y" * 30, "name", "String must contain at most 20 character(s)"),
    ],
)
async def test_conversion_and_validation_failures_are_400(
    custom, message: str, field: str, fragment: str
) -> None:  # type: ignore[no-untyped-def]
    client, _ = await custom([TYPED])
    async with client:
        response = await process(client, message)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert error["message"].startswith("Parameter validation failed: ")
        assert fragment in error["message"] and f"at '{field}'" in error["message"]


async def test_highest_priority_wins_and_ties_go_to_the_first(custom) -> None:  # type: ignore[no-untyped-def]
    intents = [
        intent("low", [r"\border\b"], priority=1),
        intent("high", [r"\border\b"], priority=9),
        intent("tie_first", [r"\bpizza\b"], priority=3),
        intent("tie_second", [r"\bpizza\b"], priority=3),
    ]
    client, _ = await custom(intents)
    async with client:
        assert (await process(client, "order now")).json()["intent"] == "high"
        assert (await process(client, "a pizza")).json()["intent"] == "tie_first"


async def test_no_match_is_404_unless_a_fallback_is_configured(custom) -> None:  # type: ignore[no-untyped-def]
    fallback = intent("fallback", [], properties={"message": {"type": "string"}})
    client, _ = await custom([intent("greet", ["^hi$"]), fallback])
    async with client:
        response = await process(client, "what is this")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NO_INTENT_MATCHED"
    client, _ = await custom([intent("greet", ["^hi$"]), fallback], fallback_intent="fallback")
    async with client:
        body = (await process(client, "what is this")).json()
        assert body["intent"] == "fallback"
        assert body["parameters"] == {"message": "what is this"}


async def test_unknown_fallback_stops_start_up(custom) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="IXP_FALLBACK_INTENT"):
        await custom([intent("greet", ["^hi$"])], fallback_intent="missing")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"message": ""}, 400),
        ({"message": " \t\n "}, 400),
        ({}, 400),
        ({"message": 5}, 400),
        ({"message": "hi", "options": "x"}, 400),
        ({"message": "hi", "userId": [1]}, 400),
        ({"message": "x" * 4097}, 413),
    ],
)
async def test_bad_requests(client: httpx.AsyncClient, body: dict[str, Any], status: int) -> None:
    response = await client.post("/api/intents/process", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in ("INVALID_REQUEST", "PAYLOAD_TOO_LARGE")


async def test_message_limit_is_a_setting(make_app) -> None:  # type: ignore[no-untyped-def]
    async with asgi_client(make_app(max_message_chars=10)) as client:
        assert (await process(client, "show me books")).status_code == 413
        assert (await process(client, "deals")).status_code == 200


async def test_cache_hits_misses_and_metrics(client: httpx.AsyncClient) -> None:
    first = (await process(client, "show me books")).json()
    second = (await process(client, "  show   me books ")).json()  # same normalized key
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["parameters"] == first["parameters"]
    assert (await process(client, "zzz")).status_code == 404
    assert (await process(client, "zzz")).status_code == 404  # a cached no-match
    cache = (await client.get("/ixp/metrics")).json()["matchCache"]
    assert cache["hits"] == 2 and cache["misses"] == 2
    assert cache["hitRatio"] == 0.5
    text = (await client.get("/ixp/metrics?format=prometheus")).text
    assert "ixp_match_cache_hits_total 2\n" in text and "ixp_match_cache_misses_total 2\n" in text


async def test_options_and_origin_apply_as_in_render(client: httpx.AsyncClient) -> None:
    body = (await process(client, "show me books", options={"theme": "dark"})).json()
    assert body["descriptor"]["record"]["props"]["theme"] == "dark"
    assert "theme" not in body["parameters"]
    assert (await process(client, "track order AB123456")).status_code == 200
    denied = await client.post(
        "/api/intents/process",
        json={"message": "track order AB123456"},
        headers={"origin": "https://evil.example"},
    )
    assert denied.status_code == 403


async def test_reload_rebuilds_the_matcher_and_clears_the_cache(make_app, write_registry) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry()
    app = make_app(intents=str(intents_path), components=str(components_path))
    async with asgi_client(app) as client:
        assert (await process(client, "deals")).json()["intent"] == "show_promo"
        assert (await process(client, "deals")).json()["cached"] is True
        intents = example_intents()
        intents["intents"][-1]["patterns"] = [r"\bbargains\b"]
        intents_path.write_text(json.dumps(intents))
        from ixp.registry import load_registry

        app.registry.swap(load_registry(app.settings, app.registry.next_version()))
        assert len(app.processor.cache) == 0
        assert (await process(client, "deals")).status_code == 404
        assert (await process(client, "bargains")).json()["intent"] == "show_promo"


async def test_batch_keeps_input_order_with_per_item_errors(client: httpx.AsyncClient) -> None:
    messages = ["show me books", "", "zzz", "top 99 books", "deals", "show me books", "x" * 5000]
    response = await client.post("/api/intents/process/batch", json={"messages": messages})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(messages)
    results = body["results"]
    assert results[0]["intent"] == "show_products"
    assert results[1]["error"]["status"] == 400
    assert results[2]["error"]["code"] == "NO_INTENT_MATCHED"
    assert results[3]["error"]["details"]["validationErrors"][0]["path"] == ["limit"]
    assert results[4]["intent"] == "show_promo"
    assert results[5]["intent"] == "show_products"
    assert results[6]["error"]["code"] == "PAYLOAD_TOO_LARGE"
    again = (await client.post("/api/intents/process/batch", json={"messages": ["show me books"]})).json()
    assert again["results"][0]["cached"] is True


async def test_batch_matches_like_single_requests(client: httpx.AsyncClient) -> None:
    messages = [
        "hello I'm Bo",
        "weather in Oslo for 2 days",
        "book a visit on 2025-01-02",
        "faq",
        "billing issue",
    ]
    batch = (await client.post("/api/intents/process/batch", json={"messages": messages})).json()["results"]
    for message, item in zip(messages, batch, strict=True):
        single = (await process(client, message)).json()
        assert (item["intent"], item["parameters"]) == (single["intent"], single["parameters"])


async def test_batch_limits(make_app) -> None:  # type: ignore[no-untyped-def]
    async with asgi_client(make_app(max_batch_messages=3)) as client:
        too_many = await client.post("/api/intents/process/batch", json={"messages": ["a"] * 4})
        assert too_many.status_code == 413
        assert (await client.post("/api/intents/process/batch", json={"messages": []})).json() == {
            "results": [],
            "count": 0,
        }
        assert (await client.post("/api/intents/process/batch", json={"messages": "a"})).status_code == 400
        assert (await client.post("/api/intents/process/batch", json={"messages": [1]})).status_code == 400
