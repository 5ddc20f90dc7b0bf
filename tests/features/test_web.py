"""What a front-end developer looks at: the OpenAPI description (valid OpenAPI 3.1, built from the
real routes, rebuilt on reload), the docs page and its CSP, ixp.js, the bundled components, the demo."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from openapi_spec_validator import validate

from ixp.app import IXPApp
from ixp.base.settings import Settings
from ixp.features.contribution import Contribution
from ixp.features.web import PAGE_CSP
from ixp.http.cors import SECURITY_HEADERS
from ixp.http.openapi import Operation, Reply
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.registry.loader import load_registry
from tests._support import asgi_client, example_intents, render_body

DEFAULT_CSP = dict(SECURITY_HEADERS)["content-security-policy"]


async def spec_of(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/ixp/api-docs.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    spec: dict[str, Any] = response.json()
    validate(spec)  # openapi-spec-validator: a valid OpenAPI 3.1 document
    return spec


async def test_spec_is_valid_openapi_31_with_every_route(client: httpx.AsyncClient, app: IXPApp) -> None:
    spec = await spec_of(client)
    assert spec["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    served = {(r.method, r.path) for r in app.router.documented()}
    assert documented == served
    for path in ("/ixp/render", "/api/intents/process", "/api/users/{id}", "/ixp/ixp/menu", "/ixp/metrics"):
        assert path in spec["paths"]
    assert not any(p.startswith(("/ixp/static", "/ixp/api-docs")) or p == "/" for p in spec["paths"])
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


async def test_render_request_is_a_oneof_over_intents_by_name(client: httpx.AsyncClient) -> None:
    spec = await spec_of(client)
    schemas = spec["components"]["schemas"]
    intent = schemas["RenderIntent"]
    assert intent["discriminator"]["propertyName"] == "name"
    names = [i["name"] for i in example_intents()["intents"]]
    assert sorted(intent["discriminator"]["mapping"]) == sorted(names)
    assert len(intent["oneOf"]) == len(names)
    weather = schemas["RenderIntent.weather_forecast"]
    assert weather["properties"]["name"] == {"const": "weather_forecast"}
    parameters = schemas["Parameters.weather_forecast"]
    assert parameters["required"] == ["city"]
    assert parameters["properties"]["days"] == {"type": "integer", "minimum": 1, "maximum": 14, "default": 3}
    render = spec["paths"]["/ixp/render"]["post"]
    assert set(render["responses"]) >= {"200", "400", "403", "404", "413", "415"}
    assert "INTENT_NOT_SUPPORTED" in render["responses"]["404"]["description"]


async def test_errors_auth_and_codes(client: httpx.AsyncClient) -> None:
    spec = await spec_of(client)
    codes = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert {"UNAUTHORIZED", "FORBIDDEN", "INVALID_REQUEST", "USER_NOT_FOUND", "TIMEOUT_ERROR"} <= set(codes)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    protected = [
        ("/api/users", "post"), ("/api/users", "get"), ("/api/users/{id}", "get"),
        ("/api/users/{id}/session", "get"), ("/ixp/metrics", "get"), ("/api/intents/process", "post"),
        ("/api/intents/process/batch", "post"),
    ]  # fmt: skip
    for path, method in protected:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{}, {"bearerAuth": []}], path
        assert {"401", "403"} <= set(operation["responses"]), path
    assert "security" not in spec["paths"]["/ixp/render"]["post"]
    users = spec["paths"]["/api/users"]["post"]["responses"]
    assert users["409"]["content"]["application/json"]["schema"]["allOf"][0] == {
        "$ref": "#/components/schemas/Error"
    }


async def test_spec_follows_the_registry_on_reload(make_app: Callable[..., IXPApp], write_registry) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry()
    app = make_app(intents=str(intents_path), components=str(components_path))
    async with asgi_client(app) as client:
        first = await client.get("/ixp/api-docs.json")
        assert (
            await client.get("/ixp/api-docs.json", headers={"if-none-match": first.headers["etag"]})
        ).status_code == 304
        intents = example_intents()
        intents["intents"][0]["parameters"]["properties"]["mood"] = {"type": "string", "enum": ["calm"]}
        intents["intents"].pop()  # show_promo goes away
        intents_path.write_text(json.dumps(intents))
        settings = Settings(intents=str(intents_path), components=str(components_path))
        app.registry.swap(load_registry(settings, version=app.registry.next_version()))
        second = await client.get("/ixp/api-docs.json")
        assert second.headers["etag"] != first.headers["etag"]
        schemas = second.json()["components"]["schemas"]
        assert "RenderIntent.show_promo" not in schemas
        assert schemas["Parameters.show_welcome"]["properties"]["mood"] == {
            "type": "string",
            "enum": ["calm"],
        }
        validate(second.json())
    await app.storage.stop()


async def test_routes_without_metadata_appear_with_generic_responses(make_app: Callable[..., IXPApp]) -> None:
    def hello(request: Request) -> Response:
        return json_response(200, b'{"hello":"world"}')

    doc = Operation("Say hello", ("extra",), responses={200: Reply("A greeting", {"type": "object"})})
    extra = Contribution(
        "extra",
        routes=[
            RouteSpec("GET", "/extra/plain", hello),
            RouteSpec("POST", "/extra/hello", hello, doc=doc),
            RouteSpec("GET", "/extra/hidden", hello, documented=False),
        ],
    )
    app = make_app(extra=[extra])
    async with asgi_client(app) as client:
        paths = (await spec_of(client))["paths"]
    await app.storage.stop()
    assert set(paths["/extra/plain"]["get"]["responses"]) == {"200", "default"}
    assert paths["/extra/hello"]["post"]["summary"] == "Say hello"
    assert "/extra/hidden" not in paths


async def test_docs_page_runs_under_its_own_csp(client: httpx.AsyncClient) -> None:
    page = await client.get("/ixp/api-docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == PAGE_CSP
    assert "'unsafe-inline'" not in PAGE_CSP.split("script-src ")[1].split(";")[0]
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r'src="([^"]+)"', page.text)
    assert any("swagger-ui-bundle." in s for s in scripts)
    assert all(s.startswith("/ixp/api-docs/") for s in scripts)  # served here, no CDN
    for url in [*scripts, *re.findall(r'href="([^"]+\.css)"', page.text)]:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Everything else keeps the strict default.
    assert (await client.get("/ixp/intents")).headers["content-security-policy"] == DEFAULT_CSP


async def test_an_operators_csp_still_wins(make_app: Callable[..., IXPApp]) -> None:
    app = make_app(content_security_policy="default-src 'none'")
    async with asgi_client(app) as client:
        page = await client.get("/ixp/api-docs")
    await app.storage.stop()
    assert page.headers["content-security-policy"] == "default-src 'none'"


async def test_ixp_js_loads_cross_origin_with_a_strong_etag(client: httpx.AsyncClient) -> None:
    response = await client.get("/ixp/sdk/ixp.js", headers={"origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["cache-control"].startswith("public, max-age=")
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}(-gz)?"', etag)  # strong: no W/
    assert "export function createClient" in response.text
    again = await client.get("/ixp/sdk/ixp.js", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag


async def test_demo_page_and_components(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == PAGE_CSP
    config = json.loads(re.search(r'id="ixp-config">(.*?)</script>', page.text).group(1))  # type: ignore[union-attr]
    assert config["mount"] == "/ixp"
    assert set(config["modules"]) >= {"WeatherCard", "ProductGrid", "FaqAccordion", "WelcomeMessage"}
    for name, url in config["modules"].items():
        assert re.fullmatch(r"/ixp/static/components/[a-z-]+\.[0-9a-f]{12}\.js", url), url
        module = await client.get(url)
        assert module.status_code == 200
        assert f"export function {name}(" in module.text
        assert module.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert module.headers["access-control-allow-origin"] == "*"
        for helper in re.findall(r'from "\./([^"]+)"', module.text):
            assert re.fullmatch(r"_[a-z]+\.[0-9a-f]{12}\.js", helper)
            assert (await client.get(f"/ixp/static/components/{helper}")).status_code == 200
    # The demo uses the real processing endpoint: the descriptor names the component it mounts.
    processed = await client.post("/api/intents/process", json={"message": "weather in Lisbon"})
    assert processed.json()["descriptor"]["component"]["name"] in config["modules"]


async def test_demo_is_off_with_a_configured_registry(
    make_app: Callable[..., IXPApp], write_registry
) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry()
    for overrides, status in (({}, 404), ({"demo": True}, 200)):
        app = make_app(intents=str(intents_path), components=str(components_path), **overrides)
        async with asgi_client(app) as client:
            assert (await client.get("/")).status_code == status
            assert (await client.post("/ixp/render", json=render_body("show_faq"))).status_code == 200
        await app.storage.stop()


async def test_plugin_routes_carry_their_operation(tmp_path: Path) -> None:
    from ixp.app import create_app
    from ixp.plugins import Route

    class Hello:
        name = "hello"
        routes = [
            Route("GET", "/hello", _hello, Operation("Greet", ("hello",), responses={200: Reply("Hi")})),
            Route("GET", "/hello/plain", _hello),
        ]

    app = create_app(Settings(sqlite_path=str(tmp_path / "ixp.db")), plugins=[Hello()])
    async with asgi_client(app) as client:
        paths = (await spec_of(client))["paths"]
    await app.storage.stop()
    assert paths["/hello"]["get"]["summary"] == "Greet"
    assert "default" in paths["/hello/plain"]["get"]["responses"]


def _hello(request: Request) -> Response:
    return json_response(200, b"{}")
