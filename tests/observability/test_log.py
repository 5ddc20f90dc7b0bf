"""Request ids, structured logs and the slow-request log."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from ixp.http.routing import RouteSpec
from ixp.observability.log import JsonFormatter, RequestIdFilter, configure_logging
from tests._support import asgi_client


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/ixp/theme", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = [(await client.get("/ixp/theme")).headers["x-request-id"] for _ in range(3)]
    assert len(set(generated)) == 3
    unsafe = await client.get("/ixp/theme", headers={"x-request-id": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


async def test_every_error_body_carries_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/missing", headers={"x-request-id": "trace-7"})
    assert response.json()["error"]["requestId"] == "trace-7"


async def test_slow_requests_are_logged_with_the_guides_fields(
    make_app, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(slow_request_ms=50)

    async def slow(request: object) -> object:
        await asyncio.sleep(0.08)
        from ixp.http.types import Response

        return Response(200, [("content-type", "application/json; charset=utf-8")], b"{}")

    app.router.add(RouteSpec("GET", "/ixp/slow", slow))  # type: ignore[arg-type]
    async with asgi_client(app) as client:
        with caplog.at_level(logging.WARNING, logger="ixp"):
            await client.get("/ixp/theme")
            await client.get("/ixp/slow", headers={"user-agent": "probe/1", "x-request-id": "slow-1"})
    records = [r for r in caplog.records if r.getMessage().startswith("Slow request")]
    assert len(records) == 1
    record = records[0]
    assert (record.method, record.path, record.status) == ("GET", "/ixp/slow", 200)  # type: ignore[attr-defined]
    assert record.duration_ms >= 50  # type: ignore[attr-defined]
    assert record.user_agent == "probe/1"  # type: ignore[attr-defined]
    assert record.request_id == "slow-1"  # type: ignore[attr-defined]


async def test_request_timeout_is_a_504_envelope(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(request_timeout=0.05)

    async def hang(request: object) -> object:
        await asyncio.sleep(5)
        raise AssertionError("not reached")

    app.router.add(RouteSpec("GET", "/ixp/hang", hang))  # type: ignore[arg-type]
    async with asgi_client(app) as client:
        response = await client.get("/ixp/hang")
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "TIMEOUT_ERROR"
        assert response.json()["error"]["details"] == {"timeoutSeconds": 0.05}
        assert (await client.get("/ixp/theme")).status_code == 200


def test_json_lines_carry_the_request_id() -> None:
    from ixp.observability.log import request_id

    record = logging.LogRecord("ixp.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.extra_field = 5
    token = request_id.set("rid-9")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello world"
    assert line["request_id"] == "rid-9"
    assert line["extra_field"] == 5
    assert line["level"] == "info"


def test_configure_logging_formats() -> None:
    configure_logging("debug", "text")
    logger = logging.getLogger("ixp")
    assert logger.level == logging.DEBUG and not logger.propagate
    configure_logging("info", "json")
    assert isinstance(logger.handlers[0].formatter, JsonFormatter)
    logger.propagate = True  # leave caplog working for other tests
    logger.handlers.clear()
