"""Plugins: loading and shape errors, data providers, crawler sources, routes, health, metrics — in
process and through real Granian (RSGI and ASGI)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp, create_app
from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from tests import _plugins
from tests._servers import free_port, granian_command, running
from tests._support import asgi_client, render_body

ROOT = Path(__file__).resolve().parents[1]
WEATHER = render_body("weather_forecast", {"city": "Oslo"})


def props(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["record"]["props"]  # type: ignore[no-any-return]


# -- loading and shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("tests._broken_plugin:Plugin", "cannot import module 'tests._broken_plugin'"),
        ("tests._plugins:Nope", "module 'tests._plugins' has no attribute 'Nope'"),
        ("no_colon", "expected 'module:attribute'"),
    ],
)
def test_a_plugin_that_cannot_be_loaded_stops_start_up(spec: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"plugin '{spec}'") as error:
        create_app(Settings(sqlite_path=str(tmp_path / "db"), plugins=(spec,)))
    assert problem in str(error.value)


class WrongShapes:
    name = "wrong"
    routes = [("FETCH", "/x", print), ("GET", "no-slash", print), "nonsense"]
    on_startup = print  # not async
    health_checks = {"x": lambda: None}  # not async
    intents = "weather_forecast"  # a string, not a collection

    def resolve_intent_data(self, intent: str, parameters: Any, context: Any) -> dict[str, Any]:
        return {}


def test_every_wrong_shape_is_reported_with_the_plugins_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        create_app(Settings(sqlite_path=str(tmp_path / "db")), plugins=[WrongShapes()])
    problems = error.value.problems
    assert all(p.startswith("plugin 'wrong': ") for p in problems)
    text = "\n".join(problems)
    for expected in (
        "routes[0]: method must be one of",
        "routes[1]: path must start with '/'",
        "routes[2]: expected Route(method, path, handler)",
        "'on_startup' must be an async function",
        "health check 'x' must be an async function",
        "'intents' must be a collection of intent names",
    ):
        assert expected in text


def test_plugin_routes_cannot_shadow_built_in_ones(tmp_path: Path) -> None:
    class Shadow:
        name = "shadow"
        routes = [("GET", "/ixp/intents", lambda request: None)]

    with pytest.raises(ConfigError, match=r"'plugin shadow': route GET /ixp/intents is already registered"):
        create_app(Settings(sqlite_path=str(tmp_path / "db")), plugins=[Shadow()])


# -- in process ----------------------------------------------------------------------------------------


@pytest.fixture
def plugin_app(make_app: Callable[..., IXPApp]) -> IXPApp:
    return make_app(
        plugins=("tests._plugins:Weather", "tests._plugins:Raising", "tests._plugins:Hanging"),
        provider_timeout=0.3,
    )


def test_only_the_served_intents_leave_the_fast_path(plugin_app: IXPApp) -> None:
    fast = set(plugin_app.renderer.plan.table.fast_intents)
    assert not fast & {"weather_forecast", "track_order", "book_appointment"}
    assert {"show_products", "show_faq"} <= fast


async def test_provider_data_goes_between_validation_and_options(plugin_app: IXPApp) -> None:
    _plugins.SEEN.clear()
    async with asgi_client(plugin_app) as client:
        body = render_body("weather_forecast", {"city": "Oslo"}, {"units": "options"})
        response = await client.post(
            "/ixp/render", json=body, headers={"origin": "http://localhost:3000", "x-request-id": "trace-1"}
        )
        got = props(response)
        # validated parameters (with defaults), then provider data, then options (each wins)
        assert got["city"] == "Oslo" and got["forecast"] == "sunny in Oslo"
        assert got["units"] == "options" and got["requestId"] == "trace-1"
        context = _plugins.SEEN[-1]
        assert (context.request_id, context.origin, context.user_id) == (
            "trace-1",
            "http://localhost:3000",
            None,
        )
        assert context.intent["name"] == "weather_forecast" and context.component["name"] == "WeatherCard"
        processed = await client.post("/api/intents/process", json={"message": "weather in Bergen"})
        assert processed.json()["descriptor"]["record"]["props"]["forecast"] == "sunny in Bergen"


async def test_failing_providers_are_omitted_and_counted(plugin_app: IXPApp) -> None:
    async with asgi_client(plugin_app) as client:
        raising = await client.post("/ixp/render", json=render_body("track_order", {"orderId": "AB123456"}))
        assert props(raising)["orderId"] == "AB123456"  # rendered, without the failed provider's data
        # Answered without the data: the 0.3 s timeout fired (the metrics below count it), not the
        # provider's 30 s sleep.
        hanging = await client.post("/ixp/render", json=render_body("book_appointment", {}))
        assert "never" not in props(hanging)
        stats = (await client.get("/ixp/metrics")).json()["dataProviders"]
        assert stats["raising"] == {"calls": 1, "error": 1, "timeout": 0}
        assert stats["hanging"] == {"calls": 1, "error": 0, "timeout": 1}


async def test_fail_mode_answers_502(make_app: Callable[..., IXPApp]) -> None:
    app = make_app(plugins=("tests._plugins:Raising",), provider_errors="fail")
    async with asgi_client(app) as client:
        response = await client.post("/ixp/render", json=render_body("track_order", {"orderId": "AB123456"}))
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "DATA_PROVIDER_ERROR"
        assert error["details"] == {"provider": "raising", "intent": "track_order"}
        assert "upstream exploded" in error["message"]


async def test_crawler_sources_page_under_one_cursor_and_report_failures(
    make_app: Callable[..., IXPApp],
) -> None:
    app = make_app(
        plugins=("tests._plugins:Articles", "tests._plugins:BrokenSource", "tests._plugins:Products")
    )
    async with asgi_client(app) as client:
        seen: list[str] = []
        url = "/ixp/crawler_content?limit=3"
        failures = {}
        for _ in range(10):
            body = (await client.get(url)).json()
            seen += [item["id"] for item in body["contents"]]
            failures.update(body.get("metadata", {}).get("sourceErrors", {}))
            if not body["pagination"]["hasMore"]:
                break
            url = f"/ixp/crawler_content?limit=3&cursor={body['pagination']['nextCursor']}"
        registry_ids = [
            i["id"] for i in (await client.get("/ixp/crawler_content?limit=1000")).json()["contents"]
        ]
        articles = [a["id"] for a in _plugins.ARTICLES]
        assert seen == registry_ids[: len(seen) - 8] + articles + ["p0", "p1", "p2"]
        assert failures == {
            "broken-source": {"status": "error", "message": "ConnectionError: CMS unreachable"}
        }
        typed = (await client.get("/ixp/crawler_content?type=product")).json()
        assert [i["id"] for i in typed["contents"]] == ["p0", "p1", "p2"]


async def test_routes_health_and_metrics_of_a_plugin(plugin_app: IXPApp) -> None:
    async with asgi_client(plugin_app) as client:
        assert (await client.get("/weather/ping")).json() == {"pong": True}
        health = (await client.get("/ixp/health")).json()
        assert health["checks"]["weather"]["message"] == "weather upstream reachable"
        await client.post("/ixp/render", json=WEATHER)
        assert (await client.get("/ixp/metrics")).json()["weather"] == {"served": 1}


# -- through real Granian ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    port = free_port()
    env = {
        "PYTHONPATH": str(ROOT),
        "IXP_SQLITE_PATH": str(tmp_path_factory.mktemp("db") / "ixp.db"),
        "IXP_PLUGINS": ",".join(f"tests._plugins:{n}" for n in ("Weather", "Raising", "Hanging", "Articles")),
        "IXP_PROVIDER_TIMEOUT": "0.3",
        "IXP_LOG_FORMAT": "text",
    }
    with running(granian_command(port, request.param), port, env=env) as process:
        yield f"http://127.0.0.1:{port}", process


def test_hooks_through_granian(server: tuple[str, Any]) -> None:
    base, _ = server
    with httpx.Client(base_url=base, timeout=5) as client:
        assert props(client.post("/ixp/render", json=WEATHER))["forecast"] == "sunny in Oslo"
        assert "forecast" not in props(
            client.post("/ixp/render", json=render_body("show_products", {"category": "books"}))
        )
        raising = client.post(
            "/ixp/render",
            json=render_body("track_order", {"orderId": "AB123456"}),
            headers={"x-request-id": "rid-raise"},
        )
        assert props(raising)["orderId"] == "AB123456"
        # The client's 5 s timeout would fail this if ixp waited for the provider's 30 s sleep.
        assert "never" not in props(client.post("/ixp/render", json=render_body("book_appointment", {})))
        assert client.get("/weather/ping").json() == {"pong": True}
        assert client.get("/ixp/health").json()["checks"]["weather"]["status"] == "pass"
        feed = client.get("/ixp/crawler_content?type=article").json()
        assert [i["id"] for i in feed["contents"]] == [a["id"] for a in _plugins.ARTICLES]
        providers = client.get("/ixp/metrics").json()["dataProviders"]
        assert providers["raising"]["error"] >= 1 and providers["hanging"]["timeout"] >= 1


def test_the_failed_provider_is_logged_with_the_request_id(server: tuple[str, Any]) -> None:
    base, process = server
    with httpx.Client(base_url=base, timeout=5) as client:
        client.post(
            "/ixp/render",
            json=render_body("track_order", {"orderId": "AB123456"}),
            headers={"x-request-id": "rid-log"},
        )
    process.terminate()
    output = process.stdout.read().decode(errors="replace")
    assert "data provider 'raising' failed for intent 'track_order'" in output
    assert "[rid-log]" in output


@pytest.mark.parametrize("interface", ["rsgi", "asgi"])
def test_a_plugin_that_fails_to_import_stops_granian(interface: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "IXP_PLUGINS": "tests._broken_plugin:Plugin",
        "IXP_SQLITE_PATH": str(tmp_path / "db"),
    }
    result = subprocess.run(
        granian_command(port, interface), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert (
        "plugin 'tests._broken_plugin:Plugin': cannot import module 'tests._broken_plugin'"
        in result.stderr + result.stdout
    )
    assert sys.executable  # the same interpreter as the tests
