"""CORS and the security header set (docs/protocol.md §11.1, §11.2)."""

from __future__ import annotations

import httpx

from ixp.http.cors import SECURITY_HEADERS
from tests._support import asgi_client


async def test_security_headers_on_every_response_including_errors(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/ixp/intents"),
        await client.get("/nope"),
        await client.get("/ixp/render"),
    ):
        for name, value in SECURITY_HEADERS:
            assert response.headers[name] == value
        assert "x-powered-by" not in response.headers


async def test_security_headers_can_be_turned_off(make_app) -> None:  # type: ignore[no-untyped-def]
    async with asgi_client(make_app(security_headers=False)) as client:
        response = await client.get("/ixp/intents")
        assert "content-security-policy" not in response.headers
        assert "x-frame-options" not in response.headers


async def test_allowed_origin_is_echoed_with_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/ixp/intents", headers={"origin": "http://localhost:3000"})
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin, Accept-Encoding"


async def test_other_origin_gets_no_allow_origin_but_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/ixp/intents", headers={"origin": "https://other.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin, Accept-Encoding"


async def test_star_allows_every_origin(make_app) -> None:  # type: ignore[no-untyped-def]
    async with asgi_client(make_app(cors_origins=("*",))) as client:
        response = await client.get("/ixp/intents", headers={"origin": "https://any.example"})
        assert response.headers["access-control-allow-origin"] == "https://any.example"
    async with asgi_client(make_app(cors_origins=("*",), cors_credentials=False)) as client:
        response = await client.get("/ixp/intents", headers={"origin": "https://any.example"})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


async def test_preflight_is_204_with_methods_headers_and_max_age(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/ixp/render",
        headers={"origin": "http://localhost:3000", "access-control-request-method": "POST"},
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert response.headers["access-control-allow-methods"] == "GET,POST,PUT,DELETE,OPTIONS"
    assert response.headers["access-control-allow-headers"] == "Content-Type,Authorization"
    assert response.headers["access-control-max-age"] == "600"


async def test_plain_options_lists_allowed_methods(client: httpx.AsyncClient) -> None:
    response = await client.options("/ixp/intents")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


async def test_cors_settings_are_applied(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(
        cors_origins=("https://a.example",), cors_methods=("GET", "POST"), cors_headers=("X-Custom",)
    )
    async with asgi_client(app) as client:
        response = await client.options(
            "/ixp/render", headers={"origin": "https://a.example", "access-control-request-method": "POST"}
        )
        assert response.headers["access-control-allow-methods"] == "GET,POST"
        assert response.headers["access-control-allow-headers"] == "X-Custom"
        denied = await client.get("/ixp/intents", headers={"origin": "http://localhost:3000"})
        assert "access-control-allow-origin" not in denied.headers


async def test_allowed_origins_refuse_every_other_origin_on_every_path(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(allowed_origins=("https://shop.example",), cors_origins=("https://shop.example",))
    body = {"intent": {"name": "show_products", "parameters": {"category": "books"}}}
    async with asgi_client(app) as client:
        for origin in ("https://evil.example", "null"):
            headers = {"origin": origin}
            for response in (
                await client.get("/ixp/intents", headers=headers),  # the registry-body lane
                await client.post("/ixp/render", json=body, headers=headers),  # the render lane
                await client.get("/api/users", headers=headers),
            ):
                assert response.status_code == 403
                assert response.json()["error"]["code"] == "ORIGIN_NOT_ALLOWED"
                assert response.json()["error"]["details"] == {"origin": origin}
        preflight = {"origin": "https://evil.example", "access-control-request-method": "POST"}
        response = await client.options("/ixp/render", headers=preflight)
        assert response.status_code == 204  # preflights pass, as in the SDK (no allow-origin for it)
        assert "access-control-allow-origin" not in response.headers
        allowed = {"origin": "https://shop.example"}
        assert (await client.get("/ixp/intents", headers=allowed)).status_code == 200
        assert (await client.post("/ixp/render", json=body, headers=allowed)).status_code == 200
        assert (await client.get("/ixp/intents")).status_code == 200  # no Origin: not a browser request
    async with asgi_client(make_app(allowed_origins=("*",))) as client:
        assert (
            await client.get("/ixp/intents", headers={"origin": "https://any.example"})
        ).status_code == 200


async def test_security_headers_are_configurable(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(
        content_security_policy="default-src 'none'", strict_transport_security="", frame_options="DENY"
    )
    async with asgi_client(app) as client:
        for response in (await client.get("/ixp/intents"), await client.get("/ixp/sdk/config")):
            assert response.headers["content-security-policy"] == "default-src 'none'"
            assert response.headers["x-frame-options"] == "DENY"
            assert "strict-transport-security" not in response.headers
            assert response.headers["x-content-type-options"] == "nosniff"  # the rest of the set stays


async def test_security_headers_off(make_app) -> None:  # type: ignore[no-untyped-def]
    async with asgi_client(make_app(security_headers=False)) as client:
        response = await client.get("/ixp/intents")
        assert "content-security-policy" not in response.headers
        assert "x-content-type-options" not in response.headers


def test_own_headers_replace_csp_and_corp_and_keep_the_rest() -> None:
    from ixp.base.settings import Settings
    from ixp.http.cors import own_headers

    defaults = dict(SECURITY_HEADERS)
    page = dict(own_headers(Settings(), content_security_policy="default-src 'self'"))
    assert page["content-security-policy"] == "default-src 'self'"
    assert page["x-content-type-options"] == defaults["x-content-type-options"]
    assert page["cross-origin-resource-policy"] == "same-origin"
    assert "access-control-allow-origin" not in page
    script = dict(own_headers(Settings(), any_origin=True, resource_policy="cross-origin"))
    assert script["access-control-allow-origin"] == "*"
    assert script["cross-origin-resource-policy"] == "cross-origin"
    assert script["content-security-policy"] == defaults["content-security-policy"]
    assert dict(own_headers(Settings(security_headers=False), any_origin=True)) == {
        "access-control-allow-origin": "*",
        "vary": "Accept-Encoding",
    }
