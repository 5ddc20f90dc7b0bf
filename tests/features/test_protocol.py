"""The /ixp endpoints through the ASGI interface, in process (docs/protocol.md §4–§8)."""

from __future__ import annotations

import httpx
import pytest

from ixp.app import IXPApp
from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.features import protocol as protocol_module
from ixp.features.contribution import Contribution
from ixp.render import Renderer
from tests._support import asgi_client, example_intents, render_body


async def test_intents_lists_every_definition_as_stored(client: httpx.AsyncClient) -> None:
    response = await client.get("/ixp/intents")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["version"] == "1.0.0"
    assert body["timestamp"].endswith("Z")
    assert body["intents"] == example_intents()["intents"]


async def test_components_inject_name_and_default_security_policy(client: httpx.AsyncClient) -> None:
    components = {c["name"]: c for c in (await client.get("/ixp/components")).json()["components"]}
    assert len(components) == 8
    assert components["WeatherCard"]["securityPolicy"] == {
        "allowEval": False,
        "sandboxed": True,
        "maxBundleSize": "200KB",
    }
    assert components["OrderTracker"]["securityPolicy"]["maxBundleSize"] == "100KB"
    assert next(iter(components["WeatherCard"])) == "name"


async def test_theme_is_the_sdk_default_with_ordered_palette(client: httpx.AsyncClient) -> None:
    body = (await client.get("/ixp/theme")).json()
    assert body["version"] == "1.0.0"
    theme = body["theme"]
    assert theme["name"] == "default"
    assert list(theme["colors"]["primary"]) == [
        "50",
        "100",
        "200",
        "300",
        "400",
        "500",
        "600",
        "700",
        "800",
        "900",
    ]
    assert theme["colors"]["primary"]["500"] == "#3b82f6"


async def test_registry_bodies_carry_an_etag_and_answer_304(client: httpx.AsyncClient) -> None:
    for path in ("/ixp/intents", "/ixp/components", "/ixp/theme", "/ixp/menu"):
        first = await client.get(path)
        etag = first.headers["etag"]
        again = await client.get(path, headers={"if-none-match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        other = await client.get(path, headers={"if-none-match": '"something-else"'})
        assert other.status_code == 200
        assert other.content == first.content  # encoded once per registry version


async def test_render_returns_the_descriptor(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/ixp/render", json=render_body("show_products", {"category": "books", "limit": 5}, {"theme": "dark"})
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record"] == {
        "moduleUrl": "https://cdn.example.com/ui/product-grid.esm.js",
        "exportName": "ProductGrid",
        # validated (schema order, defaults filled) < options
        "props": {"category": "books", "limit": 5, "sort": "popular", "inStockOnly": False, "theme": "dark"},
    }
    assert body["component"]["name"] == "ProductGrid"
    assert body["ttl"] == 900  # crawlable (600) and a 64KB gzipped bundle (900)


@pytest.mark.parametrize(
    ("intent", "ttl"),
    [("show_welcome", 600), ("weather_forecast", 300), ("show_promo", 60)],
)
async def test_render_ttl_rules(client: httpx.AsyncClient, intent: str, ttl: int) -> None:
    parameters = {"city": "Oslo"} if intent == "weather_forecast" else {}
    response = await client.post("/ixp/render", json=render_body(intent, parameters))
    assert response.json()["ttl"] == ttl


async def test_render_options_override_validated_props(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/ixp/render", json=render_body("weather_forecast", {"city": "Oslo", "days": 2}, {"days": 9, "x": 1})
    )
    assert response.json()["record"]["props"] == {"city": "Oslo", "days": 9, "units": "metric", "x": 1}


async def test_render_without_parameters_renders_intents_with_no_required_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/ixp/render", json={"intent": {"name": "show_faq"}})
    assert response.status_code == 200
    assert response.json()["record"]["props"]["menuItems"][0]["id"] == "shipping"


@pytest.mark.parametrize(
    "body",
    [{}, {"intent": {}}, {"intent": {"name": ""}}, {"intent": None}],
)
async def test_render_missing_intent_name_is_400(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/ixp/render", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error == {
        "code": "INVALID_REQUEST",
        "message": "Missing required parameter 'intent.name'",
        "timestamp": error["timestamp"],
        "requestId": response.headers["x-request-id"],
    }


async def test_render_unknown_intent_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/ixp/render", json=render_body("nope", {}))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "INTENT_NOT_SUPPORTED"
    assert response.json()["error"]["message"] == "Intent 'nope' not found"
    assert "details" not in response.json()["error"]


async def test_render_invalid_parameters_is_400_with_issues(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/ixp/render", json=render_body("show_products", {"category": "toys", "limit": 100})
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == (
        "Parameter validation failed: Invalid enum value. "
        "Expected 'electronics' | 'books' | 'clothing' | 'home', received 'toys' at 'category', "
        "Number must be less than or equal to 50 at 'limit'"
    )
    assert [i["code"] for i in error["details"]["validationErrors"]] == ["invalid_enum_value", "too_big"]


async def test_render_errors_are_answered_by_rust_without_the_python_path(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def python_path(*args: object) -> None:
        raise AssertionError("the Python render path ran")

    monkeypatch.setattr(Renderer, "prepare", python_path)
    monkeypatch.setattr(protocol_module, "render_request_decoder", None)  # decoding would fail
    cases = [
        (render_body("show_products", {"category": "books", "limit": 500}), 400, "INVALID_REQUEST"),
        (render_body("weather_forecast", {}), 400, "INVALID_REQUEST"),
        (render_body("nope", {}), 404, "INTENT_NOT_SUPPORTED"),
        ({"intent": {"parameters": {}}}, 400, "INVALID_REQUEST"),
    ]
    for body, status, code in cases:
        response = await client.post("/ixp/render", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
        assert response.json()["error"]["requestId"] == response.headers["x-request-id"]
    response = await client.post(
        "/ixp/render", json=render_body("show_products", {"category": "books", "limit": 500})
    )
    assert response.json()["error"]["message"] == (
        "Parameter validation failed: Number must be less than or equal to 50 at 'limit'"
    )
    assert response.json()["error"]["details"] == {
        "validationErrors": [
            {
                "code": "too_big",
                "maximum": 50,
                "type": "number",
                "inclusive": True,
                "exact": False,
                "message": "Number must be less than or equal to 50",
                "path": ["limit"],
            }
        ]
    }


async def test_render_origin_rules(client: httpx.AsyncClient) -> None:
    body = render_body("track_order", {"orderId": "AB123456"})
    allowed = await client.post("/ixp/render", json=body, headers={"origin": "https://shop.example.com"})
    assert allowed.status_code == 200
    denied = await client.post("/ixp/render", json=body, headers={"origin": "https://evil.example"})
    assert denied.status_code == 403
    assert denied.json()["error"] == {
        "code": "ORIGIN_NOT_ALLOWED",
        "message": "Origin 'https://evil.example' not allowed for component 'OrderTracker'",
        "timestamp": denied.json()["error"]["timestamp"],
        "details": {"origin": "https://evil.example", "componentName": "OrderTracker"},
        "requestId": denied.headers["x-request-id"],
    }
    # The origin check comes before parameter validation (docs/protocol.md §4.2).
    bad_params = await client.post(
        "/ixp/render", json=render_body("track_order", {}), headers={"origin": "https://evil.example"}
    )
    assert bad_params.status_code == 403
    wildcard = await client.post(
        "/ixp/render", json=render_body("show_faq", {}), headers={"origin": "https://anywhere.example"}
    )
    assert wildcard.status_code == 200


async def test_render_component_missing_is_404_after_validation(make_app, write_registry) -> None:  # type: ignore[no-untyped-def]
    intents = {
        "intents": [
            {
                "name": "orphan",
                "description": "names a component that is not registered",
                "component": "Ghost",
                "version": "1",
                "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
            }
        ]
    }
    intents_path, components_path = write_registry(intents=intents)
    app = make_app(intents=str(intents_path), components=str(components_path))
    async with asgi_client(app) as client:
        invalid = await client.post("/ixp/render", json=render_body("orphan", {}))
        assert invalid.status_code == 400
        missing = await client.post("/ixp/render", json=render_body("orphan", {"n": 1}))
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "COMPONENT_NOT_FOUND"
        assert missing.json()["error"]["message"] == "Component 'Ghost' not found"


async def test_sdk_config_advertises_the_real_paths(client: httpx.AsyncClient) -> None:
    response = await client.get("/ixp/sdk/config")
    body = response.json()
    assert body["version"] == "1.1.0"
    assert body["theme"] == {}
    assert body["endpoints"]["metrics"] == "/ixp/metrics"
    assert body["endpoints"]["menu"] == "/ixp/menu"
    assert body["cors"] == {"origins": ["http://localhost:3000"]}
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    for path in (
        "/ixp/intents",
        "/ixp/menu",
        "/ixp/init",
        "/ixp/health",
        "/ixp/metrics",
        "/ixp/crawler_content",
    ):
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize("prefix", ["/ixp", "/ixp/ixp"])
async def test_menu_lists_intents_with_menu_items(client: httpx.AsyncClient, prefix: str) -> None:
    body = (await client.get(f"{prefix}/menu")).json()
    assert body["total"] == 2
    assert [m["intentName"] for m in body["menus"]] == ["support_chat", "show_faq"]
    assert body["menus"][0]["menuItems"][0] == {"id": "faq", "label": "FAQ"}


@pytest.mark.parametrize("prefix", ["/ixp", "/ixp/ixp"])
async def test_init_reads_the_metadata_convention(client: httpx.AsyncClient, prefix: str) -> None:
    everything = (await client.get(f"{prefix}/init")).json()
    assert everything["total"] == 8
    assert everything["featured"] is False
    welcome = everything["intents"][0]
    assert welcome == {
        "name": "show_welcome",
        "description": "Greet the visitor, by name when they give it",
        "category": "general",
        "featured": True,
        "menuItems": [],
        "icon": "wave",
        "quickActions": [{"label": "Browse products", "intent": "show_products"}],
    }
    assert "category" not in everything["intents"][2]  # no default: key omitted
    featured = (await client.get(f"{prefix}/init?featured=true")).json()
    assert [i["name"] for i in featured["intents"]] == ["show_welcome"]
    limited = (await client.get(f"{prefix}/init?limit=3")).json()
    assert limited["total"] == 3
    bad = await client.get(f"{prefix}/init?limit=abc")
    assert bad.status_code == 400


async def test_health_reports_checks(client: httpx.AsyncClient) -> None:
    body = (await client.get("/ixp/health")).json()
    assert body["status"] == "healthy"
    assert body["service"] == "IXP Server"
    assert body["version"] == "1.0.0"
    assert body["checks"]["intents"] == {"status": "pass", "message": "8 intents loaded"}
    assert body["checks"]["components"] == {"status": "pass", "message": "8 components loaded"}


async def test_health_empty_registry_is_degraded_and_failing_check_is_503(make_app, write_registry) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry(intents={"intents": []}, components={"components": {}})
    database = {"status": "pass", "message": "database reachable"}

    async def check() -> dict[str, str]:
        return database

    app = make_app(
        intents=str(intents_path),
        components=str(components_path),
        extra=[Contribution("database", health_checks={"database": check})],
    )
    async with asgi_client(app) as client:
        response = await client.get("/ixp/health")
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        assert response.json()["checks"]["intents"]["status"] == "warn"
        assert response.json()["checks"]["database"] == database
        database.update(status="fail", message="database unreachable")
        response = await client.get("/ixp/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unhealthy"


async def test_metrics_are_disabled_by_setting() -> None:
    app = IXPApp(Settings(metrics_enabled=False))
    async with asgi_client(app) as client:
        assert (await client.get("/ixp/metrics")).status_code == 404


async def test_the_mount_path_moves_every_protocol_route(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(mount_path="/v1/ixp")
    async with asgi_client(app) as client:
        for path in (
            "intents",
            "components",
            "theme",
            "menu",
            "init",
            "health",
            "metrics",
            "crawler_content",
            "ixp/menu",
        ):
            assert (await client.get(f"/v1/ixp/{path}")).status_code == 200, path
            assert (await client.get(f"/ixp/{path}")).status_code == 404, path
        render = await client.post("/v1/ixp/render", json=render_body("show_products", {"category": "books"}))
        assert render.status_code == 200
        config = (await client.get("/v1/ixp/sdk/config")).json()
        assert config["endpoints"]["render"] == "/v1/ixp/render"
        assert (await client.get("/api/users")).status_code == 200  # /api stays where it is


def test_a_mount_path_must_be_a_path_outside_api() -> None:
    for bad in ("ixp", "/api/ixp", "/ixp/", "/i x p"):
        with pytest.raises(ConfigError, match="IXP_MOUNT_PATH"):
            Settings.from_env({"IXP_MOUNT_PATH": bad})
    assert Settings.from_env({"IXP_MOUNT_PATH": "/v1/ixp"}).mount_path == "/v1/ixp"
