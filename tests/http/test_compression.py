"""gzip by the guide's rules: level 6, over 1 KB, when allowed, unless `x-no-compression`."""

from __future__ import annotations

import gzip

import httpx
import pytest

from ixp.http.compression import accepts_gzip
from tests._support import asgi_client, render_body

GZIP = {"accept-encoding": "gzip"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("*;q=0", False),
        ("br", False),
        ("gzip;q=abc", False),
    ],
)
def test_accept_encoding_negotiation(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


async def test_registry_bodies_are_compressed_once_and_tagged(client: httpx.AsyncClient) -> None:
    plain = await client.get("/ixp/intents", headers={"accept-encoding": "identity"})
    first = await client.get("/ixp/intents", headers=GZIP)
    second = await client.get("/ixp/intents", headers=GZIP)
    assert first.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in first.headers["vary"]
    assert first.content == plain.content  # httpx decodes: same JSON
    assert first.headers["etag"] != plain.headers["etag"]  # a representation of its own
    assert first.headers["etag"] == second.headers["etag"]
    assert client.__class__  # keep the client alive in the assertion scope
    app = client._transport.app  # type: ignore[attr-defined]
    assert app.registry.current.intents_body.gzipped is not None  # kept for the registry version
    not_modified = await client.get("/ixp/intents", headers={**GZIP, "if-none-match": first.headers["etag"]})
    assert not_modified.status_code == 304


async def test_dynamic_responses_over_the_threshold_are_compressed(client: httpx.AsyncClient) -> None:
    small = await client.post(
        "/ixp/render", json=render_body("show_products", {"category": "books"}), headers=GZIP
    )
    assert len(small.content) < 1024 and "content-encoding" not in small.headers
    big = render_body("show_products", {"category": "books"}, {"blurb": "lorem ipsum " * 200})
    response = await client.post("/ixp/render", json=big, headers=GZIP)
    assert len(response.content) > 1024
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["record"]["props"]["blurb"].startswith("lorem ipsum")
    assert int(response.headers["content-length"]) < len(gzip.compress(response.content, 1)) + 64


async def test_small_bodies_and_opt_outs_stay_plain(client: httpx.AsyncClient) -> None:
    small = await client.get("/ixp/health", headers=GZIP)
    assert len(small.content) < 1024 and "content-encoding" not in small.headers
    opted_out = await client.get("/ixp/intents", headers={**GZIP, "x-no-compression": "1"})
    assert "content-encoding" not in opted_out.headers
    refused = await client.get("/ixp/intents", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


async def test_compression_settings(make_app) -> None:  # type: ignore[no-untyped-def]
    async with asgi_client(make_app(compression=False)) as client:
        response = await client.get("/ixp/intents", headers=GZIP)
        assert "content-encoding" not in response.headers
        assert response.headers["vary"] == "Origin"
    async with asgi_client(make_app(compression_min_bytes=10)) as client:
        assert (await client.get("/ixp/health", headers=GZIP)).headers["content-encoding"] == "gzip"
