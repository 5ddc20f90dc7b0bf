"""The fast lane of `POST /api/intents/process` (`IntentProcessor.lane`): the answer of a cached
match, remembered with the cache entry, sent by one Rust call — byte for byte what the ordinary
path sends, with the same effects on the match cache and the metrics."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ixp.app import IXPApp, create_app
from ixp.base.settings import Settings
from ixp.registry import load_registry
from tests._support import asgi_client, example_intents

PATH = "/api/intents/process"
JSON = "application/json"


def count_handler_calls(app: IXPApp) -> list[int]:
    """Counts the calls of the ordinary handler (the lane does not call it)."""
    route = app.router.static[PATH]
    original = route.handlers["POST"]
    calls = [0]

    def counting(request: Any) -> Any:
        calls[0] += 1
        return original(request)  # a coroutine: the route's POST is awaited

    route.handlers["POST"] = counting
    return calls


def lanes_off(app: IXPApp) -> IXPApp:
    app.pipeline._lanes = {}
    return app


Exchange = tuple[int, list[tuple[str, str]], bytes]


async def exchange(client: httpx.AsyncClient, body: bytes, headers: dict[str, str], rid: str) -> Exchange:
    response = await client.post(PATH, content=body, headers={"x-request-id": rid, **headers})
    # Everything but the moment: same status, same headers (the request id is the one sent), same
    # bytes once the error envelope's timestamp is blanked.
    stable = re.sub(
        rb'"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"', b'"timestamp":""', response.content
    )
    return response.status_code, sorted(response.headers.multi_items()), stable


def case(
    message: Any, laned: bool, headers: dict[str, str] | None = None, **extra: Any
) -> tuple[bytes, dict[str, str], bool]:
    body = json.dumps({"message": message, **extra}).encode()
    return body, {"content-type": JSON, **(headers or {})}, laned


def raw(
    body: bytes, laned: bool, content_type: str | None = JSON, **headers: str
) -> tuple[bytes, dict[str, str], bool]:
    return body, ({"content-type": content_type} if content_type else {}) | headers, laned


SHOP = {"origin": "https://shop.example.com"}  # allowed by OrderTracker (allowedOrigins)
EVIL = {"origin": "https://evil.example"}

# (body, headers, answered by the lane?) in order: whether the lane answers depends on what the
# requests before it left in the match cache.
CASES = [
    case("show me books", False),  # a miss: matched, rendered, the answer remembered
    case("show me books", True),  # a hit: the remembered answer
    case("  show   me\tbooks ", True),  # the same normalized message
    raw(b'{"mess\\u0061ge":"show me books"}', True),  # as msgspec decodes it
    raw(b'{"message":"zzz","message":"show me books"}', True),  # the last duplicate wins
    case("show me books", True, userId=None, options={}),  # the same as neither given
    case("show me books", True, headers={"content-type": "application/json; charset=utf-8"}),
    case(
        "show me books", False, headers={"content-type": "application/vnd.ixp+json"}
    ),  # rare: `process` checks it
    case("show me books", False, options={"theme": "dark"}),  # options are merged: not remembered
    case("show me books", False, userId=1),  # a session to write (404: no such user)
    case("show me books", False, userId=5, extra=1),
    raw(b'{"message":"show me books","extra":1e999}', False),  # skipped by msgspec, refused by the lane
    raw(b'{"message":"show me books","userId":5,"userId":null}', False),
    case("top 5 books", False),
    case("top 5 books", True),
    case("top 500 books", False),  # 400: over the maximum, an error that is remembered too
    case("top 500 books", True),
    case("weather in Lisbon for 99 days", False),
    case("weather in Lisbon for 99 days", True, headers={"origin": "http://localhost:3000"}),
    case("zzz", False),  # 404 NO_INTENT_MATCHED, remembered
    case("zzz", True),
    case("zzz", True, headers=EVIL),  # no render: whatever the origin
    case("track order AB123456", False, headers=SHOP),
    case("track order AB123456", True),
    case("track order AB123456", True, headers=SHOP),
    case("track order AB123456", False, headers=EVIL),  # 403: the remembered answer is not this one's
    case("track order AB123456", True, headers={"origin": "http://localhost:3000"}),
    case("deals", False),  # a deprecated component: warned about once, then remembered
    case("deals", True),
    case("", False),  # 400
    case(" \t ", False),  # 400
    case("x" * 4097, False),  # 413
    case(5, False),  # 400, msgspec's message
    raw(b'{"messages":["show me books"]}', False),
    raw(b'{"message":"show me books"', False),  # malformed
    raw(b"", False),
    raw(b"[]", False),
    raw(b'{"message":"show me books"}', False, "text/plain"),  # 415
    raw(b'{"message":"show me books"}', False, None),  # 415: no content type
]


async def run_cases(
    laned_app: IXPApp, plain_app: IXPApp, cases: list[tuple[bytes, dict[str, str], bool]]
) -> None:
    calls = count_handler_calls(laned_app)
    async with asgi_client(laned_app) as laned, asgi_client(plain_app) as plain:
        expected_calls = 0
        for index, (body, headers, by_lane) in enumerate(cases):
            rid = f"case-{index}"
            got, want = await exchange(laned, body, headers, rid), await exchange(plain, body, headers, rid)
            assert got == want, (index, body, headers)
            expected_calls += not by_lane
            assert calls[0] == expected_calls, (
                "answered by the lane" if by_lane else "by `process`",
                index,
                body,
            )
        # The lane's hits are the cache's hits: the same counters, the same metrics.
        metrics = [(await c.get("/ixp/metrics")).json() for c in (laned, plain)]
        for key in ("matchCache", "errors"):
            assert metrics[0][key] == metrics[1][key], key
        for key in ("count", "errors"):
            assert metrics[0]["routes"][PATH][key] == metrics[1]["routes"][PATH][key], key
        assert metrics[0]["matchCache"]["hits"] >= sum(by_lane for _, _, by_lane in cases)


async def compare(make_app: Callable[..., IXPApp], tmp_path: Path, cases: list[Any], **settings: Any) -> None:
    """`cases` through an app and through the same app without lanes, side by side."""
    laned = make_app(sqlite_path=str(tmp_path / "laned.db"), **settings)
    plain = lanes_off(make_app(sqlite_path=str(tmp_path / "plain.db"), **settings))
    try:
        await run_cases(laned, plain, cases)
    finally:
        await laned.storage.stop()
        await plain.storage.stop()


async def test_lane_and_ordinary_path_send_the_same_bytes(
    make_app: Callable[..., IXPApp], tmp_path: Path
) -> None:
    await compare(make_app, tmp_path, CASES)


def intent(name: str, component: str, patterns: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name, "description": name, "component": component, "version": "1",
        "parameters": {"type": "object", "properties": properties}, "patterns": patterns,
    }  # fmt: skip


async def test_conversion_errors_and_missing_components_are_remembered_exactly(
    make_app: Callable[..., IXPApp], write_registry: Callable[..., tuple[Path, Path]], tmp_path: Path
) -> None:
    typed = intent(
        "typed", "WelcomeMessage", [r"^set (?P<count>\S+) (?P<mode>\w+)$"],
        {"count": {"type": "integer", "maximum": 9}, "mode": {"type": "string", "enum": ["fast", "slow"]}},
    )  # fmt: skip
    orphan = intent("orphan", "NoSuchComponent", [r"^orphan (?P<q>\w+)$"], {"q": {"type": "string"}})
    intents_path, components_path = write_registry(intents={"intents": [typed, orphan]})
    cases = [
        case("set ten FAST", False),  # 400: 'ten' is not an integer (conversion)
        case("set ten FAST", True, headers={"origin": "https://anywhere.example"}),
        case("set 10 Slow", False),  # 400: over the maximum (validation), 'Slow' → 'slow'
        case("set 10 Slow", True),
        case("set 3 Slow", False),
        case("set   3 Slow", True),
        case("orphan x", False),  # 404 COMPONENT_NOT_FOUND
        case("orphan x", True, headers=EVIL),  # no component: no origin check
    ]
    await compare(make_app, tmp_path, cases, intents=str(intents_path), components=str(components_path))


async def test_what_differs_per_request_is_never_remembered(
    make_app: Callable[..., IXPApp], write_registry: Callable[..., tuple[Path, Path]]
) -> None:
    # A fallback renders the message as sent; a data provider's data is fetched for every request.
    intents = example_intents()
    intents["intents"].append(intent("echo", "WelcomeMessage", [], {"message": {"type": "string"}}))
    intents_path, components_path = write_registry(intents=intents)
    app = make_app(
        intents=str(intents_path),
        components=str(components_path),
        fallback_intent="echo",
        plugins=("tests._plugins:Weather",),
    )
    calls = count_handler_calls(app)
    async with asgi_client(app) as client:
        sent = ["what is this", "what  is this", "what is this"]
        unmatched = [await client.post(PATH, json={"message": m}) for m in sent]
        assert [r.json()["parameters"] for r in unmatched] == [{"message": m} for m in sent]
        assert [r.json()["cached"] for r in unmatched] == [False, True, True]
        weather = [await client.post(PATH, json={"message": "weather in Oslo"}) for _ in range(3)]
        assert len({r.json()["descriptor"]["record"]["props"]["requestId"] for r in weather}) == 3
        assert [r.json()["cached"] for r in weather] == [False, True, True]
        assert calls[0] == 6  # all by `process`
        for _ in range(2):
            assert (await client.post(PATH, json={"message": "show me books"})).status_code == 200
        assert calls[0] == 7  # an intent without a provider: the second time, by the lane
    await app.storage.stop()


async def test_expired_and_replaced_entries_take_the_ordinary_path(
    make_app: Callable[..., IXPApp], write_registry: Callable[..., tuple[Path, Path]]
) -> None:
    intents_path, components_path = write_registry()
    app = make_app(intents=str(intents_path), components=str(components_path), match_cache_ttl=0.05)
    calls = count_handler_calls(app)
    async with asgi_client(app) as client:

        async def deals() -> httpx.Response:
            return await client.post(PATH, json={"message": "deals"})

        assert [(await deals()).json()["cached"] for _ in range(2)] == [False, True]
        assert calls[0] == 1
        await asyncio.sleep(0.1)  # past the entry's TTL: the lane leaves it for `get` to count
        assert (await deals()).json()["cached"] is False
        assert calls[0] == 2
        stats = app.processor.cache.stats()
        assert (stats["hits"], stats["misses"], stats["expirations"]) == (1, 2, 1)
        # A new registry version: the remembered answers go with the cache.
        intents = example_intents()
        intents["intents"][-1]["patterns"] = [r"\bbargains\b"]
        intents_path.write_text(json.dumps(intents))
        app.registry.swap(load_registry(app.settings, app.registry.next_version()))
        assert (await deals()).status_code == 404
        assert calls[0] == 3
    await app.storage.stop()


# -- generated requests: the lane against the ordinary path ------------------------------------------

MESSAGES = st.sampled_from(
    ["show me books", "top 5 books", "top 500 books", "zzz", "track order AB123456", "deals", "hello",
     "weather in Lisbon for 99 days", "how do I return", "", " "]
)  # fmt: skip
SPACES = st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0", "\u2003"])


@st.composite
def process_bodies(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=60))
    words = draw(MESSAGES).split(" ")
    message = draw(SPACES) + "".join(w + draw(SPACES) for w in words)
    if draw(st.booleans()):
        message = draw(st.text(max_size=12))
    members = [("message", json.dumps(message if draw(st.integers(0, 9)) else draw(st.integers())))]
    for name, values in (
        ("userId", ["null", "7", '"7"', "true"]),
        ("options", ["null", "{}", '{"theme":"dark"}', "[]"]),
        ("extra", ["1", "1e999", "123456789012345678901234567890", '{"a":[1,2]}']),
    ):
        if draw(st.integers(0, 3)) == 0:
            members.append((name, draw(st.sampled_from(values))))
    if draw(st.integers(0, 5)) == 0:
        members.append(("message", json.dumps(draw(MESSAGES))))  # a duplicate: the last wins
    order = draw(st.permutations(members))
    return ("{" + ",".join(f'"{k}":{v}' for k, v in order) + "}").encode()


@pytest.fixture(scope="module")
def app_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[IXPApp, IXPApp]:
    # Without keys, a `userId` is refused (403) before any storage is used.
    def build(name: str) -> IXPApp:
        return create_app(Settings(sqlite_path=str(tmp_path_factory.mktemp(name) / "ixp.db")))

    return build("laned"), lanes_off(build("plain"))


@settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    body=process_bodies(),
    content_type=st.sampled_from([JSON, "application/json; charset=UTF-8", "application/x+json", None]),
    origin=st.sampled_from(
        [None, "https://shop.example.com", "https://evil.example", "http://localhost:3000"]
    ),
)
def test_generated_requests_get_the_same_bytes_either_way(
    app_pair: tuple[IXPApp, IXPApp], body: bytes, content_type: str | None, origin: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    if origin:
        headers["origin"] = origin

    async def both() -> tuple[Exchange, Exchange]:
        async with asgi_client(app_pair[0]) as laned, asgi_client(app_pair[1]) as plain:
            return (await exchange(laned, body, headers, "gen"), await exchange(plain, body, headers, "gen"))

    got, want = asyncio.run(both())
    assert got == want
    assert app_pair[0].processor.cache.stats() == app_pair[1].processor.cache.stats()
