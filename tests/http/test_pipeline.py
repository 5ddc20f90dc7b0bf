"""The app core through ASGI: routing errors, bad input of every kind, lifecycle, HEAD/OPTIONS."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp
from ixp.features.contribution import Contribution
from ixp.http.routing import RouteSpec
from tests._support import asgi_client, render_body

JSON = {"content-type": "application/json"}


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["timestamp"].endswith("Z")
    assert "stack" not in response.text and "Traceback" not in response.text
    return error  # type: ignore[no-any-return]


async def test_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    error = assert_envelope(await client.get("/ixp/nothing-here"), 404, "NOT_FOUND")
    assert "/ixp/nothing-here" in error["message"]
    assert_envelope(await client.get("/nowhere"), 404, "NOT_FOUND")


async def test_root_is_a_json_404_without_the_demo(make_app: Callable[..., IXPApp]) -> None:
    async with asgi_client(make_app(demo=False)) as client:
        assert_envelope(await client.get("/"), 404, "NOT_FOUND")


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get("/ixp/render")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "OPTIONS, POST"
    response = await client.post("/ixp/intents", json={})
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


async def test_head_answers_every_get_route_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/ixp/intents")
    assert response.status_code == 200
    assert response.content == b""
    assert "etag" in response.headers


async def test_trailing_slash_reaches_the_route(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ixp/intents/")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"{'intent': 1}",
        b"null",
        b"42",
        b'"abc"',
        b"[]",
        b"\xff\xfe\x00garbage",
        b'{"intent": {"name": "\x80x"}}',
        b'{"intent": {"name": "show_faq", "parameters": {"query": "caf\xe9"}}}',
        b'{"intent": {"name": "show_faq"}} trailing',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"intent": "show_faq"}',
        b'{"intent": {"name": 5}}',
        b'{"intent": {"name": ["x"]}}',
        b'{"intent": {"name": "show_faq"}, "options": "dark"}',
        b'{"intent": {"name": "show_faq"}, "options": [1, 2]}',
    ],
)
async def test_garbage_bodies_get_a_400_envelope(client: httpx.AsyncClient, body: bytes) -> None:
    assert_envelope(await client.post("/ixp/render", content=body, headers=JSON), 400, "INVALID_REQUEST")


async def test_empty_and_whitespace_bodies_are_400(client: httpx.AsyncClient) -> None:
    for body in (b"", b"   \n"):
        error = assert_envelope(
            await client.post("/ixp/render", content=body, headers=JSON), 400, "INVALID_REQUEST"
        )
        assert "empty" in error["message"]


async def test_wrong_types_at_every_level_are_400(client: httpx.AsyncClient) -> None:
    for parameters in (None, [], "x", 1, True):
        response = await client.post(
            "/ixp/render", json={"intent": {"name": "show_faq", "parameters": parameters}}
        )
        assert_envelope(response, 400, "INVALID_REQUEST")
    nested = await client.post(
        "/ixp/render", json=render_body("show_products", {"category": {"nested": ["deep"]}, "limit": "5"})
    )
    error = assert_envelope(nested, 400, "INVALID_REQUEST")
    assert [i["path"] for i in error["details"]["validationErrors"]] == [["category"], ["limit"]]


async def test_huge_numbers_are_rejected_not_crashed(client: httpx.AsyncClient) -> None:
    for number in (b"1e400", b"-1e400", b"123456789012345678901234567890"):
        body = (
            b'{"intent": {"name": "show_products", "parameters": {"category": "books", "limit": '
            + number
            + b"}}}"
        )
        response = await client.post("/ixp/render", content=body, headers=JSON)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["code"] == "INVALID_REQUEST"


async def test_unicode_survives_the_round_trip(client: httpx.AsyncClient) -> None:
    response = await client.post("/ixp/render", json=render_body("weather_forecast", {"city": "Zürich 東京"}))
    assert response.json()["record"]["props"]["city"] == "Zürich 東京"


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        (None, "Content-Type header is required"),
        ("text/plain", "Unsupported Content-Type 'text/plain'"),
        ("application/x-www-form-urlencoded", "Unsupported Content-Type"),
        ("application/json; charset=utf-16", "Unsupported charset"),
    ],
)
async def test_unsupported_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None, fragment: str
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = await client.post("/ixp/render", content=b'{"intent":{"name":"show_faq"}}', headers=headers)
    error = assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert fragment in error["message"]


async def test_json_suffix_and_utf8_charset_are_accepted(client: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=UTF-8", "application/vnd.ixp+json"):
        response = await client.post(
            "/ixp/render", content=b'{"intent":{"name":"show_faq"}}', headers={"content-type": content_type}
        )
        assert response.status_code == 200, content_type


async def test_body_over_the_limit_is_413(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_body_bytes=64)
    async with asgi_client(app) as client:
        big = b'{"intent": {"name": "show_faq", "parameters": {"query": "' + b"x" * 100 + b'"}}}'
        error = assert_envelope(
            await client.post("/ixp/render", content=big, headers=JSON), 413, "PAYLOAD_TOO_LARGE"
        )
        assert "64 bytes" in error["message"]

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"x" * 20

        streamed = await client.post("/ixp/render", content=chunks(), headers=JSON)  # no Content-Length
        assert_envelope(streamed, 413, "PAYLOAD_TOO_LARGE")
        ok = await client.post("/ixp/render", content=b'{"intent":{"name":"show_faq"}}', headers=JSON)
        assert ok.status_code == 200


async def test_unexpected_exception_is_a_500_envelope_without_internals(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()

    def boom(request: object) -> None:
        raise RuntimeError("secret internal detail")

    app.router.add(RouteSpec("GET", "/ixp/boom", boom))  # type: ignore[arg-type]
    async with asgi_client(app) as client:
        response = await client.get("/ixp/boom")
        error = assert_envelope(response, 500, "INTERNAL_ERROR")
        assert "secret" not in response.text
        assert error["message"] == "Internal server error"


async def test_repeated_query_parameter_is_400(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/ixp/crawler_content?limit=1&limit=2"), 400, "INVALID_REQUEST")


async def test_asgi_lifespan_runs_startup_and_shutdown_hooks(make_app) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []

    async def up() -> None:
        calls.append("up")

    async def down() -> None:
        calls.append("down")

    app = make_app(extra=[Contribution("test", on_startup=[up], on_shutdown=[down])])
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert calls == ["up", "down"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# -- the fast lanes: the common case of a route without a Request, answered exactly the same -------


def count_calls(app: IXPApp, path: str, method: str) -> list[int]:
    """Counts the calls of the route's ordinary handler (the fast lane does not call it)."""
    route = app.router.static[path]
    original = route.handlers[method]
    calls = [0]

    def counting(request: Any) -> Any:
        calls[0] += 1
        return original(request)

    route.handlers[method] = counting
    return calls


def without_request_id(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k != "x-request-id"}


async def test_lanes_answer_the_common_case_and_the_handler_everything_else(
    app: IXPApp, client: httpx.AsyncClient
) -> None:
    render_calls = count_calls(app, "/ixp/render", "POST")
    intents_calls = count_calls(app, "/ixp/intents", "GET")
    body = json.dumps(render_body("show_products", {"category": "books", "limit": 5}))
    rare_type = {"content-type": "application/vnd.ixp-lane-test+json"}  # acceptable but rare
    first = await client.post("/ixp/render", content=body, headers=rare_type)
    second = await client.post("/ixp/render", content=body, headers=JSON)
    third = await client.post("/ixp/render", content=body, headers=JSON)
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.content == second.content == third.content
    assert without_request_id(second) == without_request_id(third)
    assert second.headers["x-request-id"] != third.headers["x-request-id"]
    assert render_calls == [1]  # the rare spelling was checked by the handler; the common one took the lane
    bad = json.dumps(render_body("show_products", {"category": "toys"}))
    invalid = await client.post("/ixp/render", content=bad, headers=JSON)
    assert invalid.status_code == 400
    assert render_calls == [1]  # an invalid render is answered by the lane too (Rust's outcome)
    by_handler = await client.post("/ixp/render", content=bad, headers=rare_type)
    assert render_calls == [2]

    def stable(response: httpx.Response) -> dict[str, Any]:
        error = dict(response.json()["error"])
        del error["timestamp"], error["requestId"]
        return error

    assert stable(invalid) == stable(by_handler)  # the same envelope either way
    assert without_request_id(invalid) == without_request_id(by_handler)

    async def chunks() -> AsyncIterator[bytes]:
        yield body.encode()

    chunked = await client.post("/ixp/render", content=chunks(), headers=JSON)
    assert chunked.status_code == 200 and chunked.content == first.content
    assert render_calls == [3]  # no declared length: read under the timeout, by the ordinary path
    for _ in range(3):
        assert (await client.get("/ixp/intents", headers={"x-request-id": "trace-7"})).headers[
            "x-request-id"
        ] == "trace-7"
    assert intents_calls == [0]
    head = await client.head("/ixp/intents")
    assert head.status_code == 200 and head.content == b""
    assert intents_calls == [1]
    metrics = (await client.get("/ixp/metrics")).json()
    assert metrics["routes"]["/ixp/render"]["count"] == 6
    assert metrics["routes"]["/ixp/render"]["errors"] == 2
    assert metrics["routes"]["/ixp/intents"]["count"] == 4
    assert metrics["errors"]["byType"] == {invalid.json()["error"]["code"]: 2}  # lane errors counted too


RENDER_CASES: list[tuple[dict[str, Any] | bytes, dict[str, str]]] = [
    (render_body("show_products", {"category": "books", "limit": 5}), {}),
    (render_body("show_products", {"category": "toys", "limit": 500, "sort": 3}), {}),  # three issues
    (render_body("show_products", {"category": 'b\u0001o"oks\u00e9'}), {}),  # escaped in message and details
    (render_body("show_products", "not an object"), {}),
    (render_body("track_order", {"orderId": "AB123456"}), {"origin": "https://evil.example"}),  # 403
    (render_body("track_order", {"orderId": "AB123456"}), {"origin": "https://shop.example.com"}),
    (render_body("track_order", {"orderId": "ab"}), {"origin": "https://shop.example.com"}),
    (render_body('no "such" intent\n'), {}),  # 404, quotes and a newline in the message
    (render_body(""), {}),  # 400, missing name
    ({"intent": None}, {}),
    ({"intent": {"name": "show_faq"}, "options": {"x": 1}}, {}),
    (render_body("show_promo"), {}),  # deprecated: Python's to answer, the lane declines it
    (b'{"intent": {"name": 5}}', {}),  # msgspec's message: the lane declines it
    (b'{"intent": ', {}),
]


async def test_render_lane_and_ordinary_path_send_the_same_bytes(make_app) -> None:  # type: ignore[no-untyped-def]
    laned, plain = make_app(), make_app()
    plain.pipeline._lanes = {}
    by_handler = count_calls(laned, "/ixp/render", "POST")
    stamp = re.compile(rb'"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"')
    async with asgi_client(laned) as a, asgi_client(plain) as b:
        for index, (body, headers) in enumerate(RENDER_CASES):
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent = {**JSON, "x-request-id": f"r-{index}", **headers}
            got, want = [await c.post("/ixp/render", content=content, headers=sent) for c in (a, b)]
            assert got.status_code == want.status_code, (index, got.text, want.text)
            assert sorted(got.headers.multi_items()) == sorted(want.headers.multi_items()), index
            assert stamp.sub(b"", got.content) == stamp.sub(b"", want.content), index
            assert (got.status_code >= 400) == (b'"timestamp"' in got.content)
        assert by_handler == [3]  # the deprecated intent and msgspec's two errors; the lane the rest
        metrics = [(await c.get("/ixp/metrics")).json() for c in (a, b)]
        assert metrics[0]["errors"] == metrics[1]["errors"]
        assert metrics[0]["routes"]["/ixp/render"]["errors"] == metrics[1]["routes"]["/ixp/render"]["errors"]


async def test_rate_limiting_turns_the_lanes_off(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit="2/60s")
    assert app.pipeline._lanes == {}
    body = render_body("show_products", {"category": "books"})
    async with asgi_client(app) as client:
        statuses = [(await client.post("/ixp/render", json=body)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


class RSGIScope:
    """Granian's HTTP scope, as far as the app reads it."""

    proto = "http"
    query_string = ""
    client = "127.0.0.1"

    def __init__(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.method, self.path, self.headers = method, path, headers


class RSGIWebsocketScope(RSGIScope):
    proto = "websocket"


class RSGIProto:
    def __init__(self, body: bytes = b"") -> None:
        self.body = body
        self.sent: tuple[int, list[tuple[str, str]], bytes] | None = None
        self.closed: int | None = None

    async def __call__(self) -> bytes:
        return self.body

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent = (status, headers, body)

    def close(self, code: int) -> None:
        self.closed = code


async def test_rsgi_serves_http_and_closes_websockets_after_http(app: IXPApp) -> None:
    listing = RSGIProto()
    await app.__rsgi__(RSGIScope("GET", "/ixp/intents", {}), listing)
    assert listing.sent is not None and listing.sent[0] == 200
    body = json.dumps(render_body("show_products", {"category": "books"})).encode()
    render = RSGIProto(body)
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    await app.__rsgi__(RSGIScope("POST", "/ixp/render", headers), render)
    assert render.sent is not None and render.sent[0] == 200
    assert json.loads(render.sent[2])["record"]["props"]["category"] == "books"
    websocket = RSGIProto()
    await app.__rsgi__(RSGIWebsocketScope("GET", "/ixp/intents", {}), websocket)
    assert websocket.closed == 403 and websocket.sent is None
