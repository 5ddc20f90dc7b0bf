"""`ixp.testing`: an in-process app with plugins, its lifecycle run around the client, throwaway
storage, setting overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ixp.base.settings import Settings
from ixp.plugins import ProviderContext, Request, Response, Route, json_response
from ixp.testing import client, render_body, running_app
from tests._support import asgi_client


class GreeterPlugin:
    """A small plugin: a route, a data provider for one intent, lifecycle hooks and a health check."""

    name = "greeter"
    intents = frozenset({"weather_forecast"})

    def __init__(self) -> None:
        self.events: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.routes = [Route("GET", "/greet", self.greet)]
        self.health_checks = {"greeter": self.check}

    def greet(self, request: Request) -> Response:
        return json_response(200, msgspec.json.encode({"hello": request.query_param("name") or "world"}))

    def resolve_intent_data(
        self, intent: str, parameters: dict[str, Any], context: ProviderContext
    ) -> dict[str, Any]:
        self.calls.append((intent, parameters))
        return {"forecast": f"sunny in {parameters['city']}", "source": "greeter"}

    async def on_startup(self) -> None:
        self.events.append("startup")

    async def on_shutdown(self) -> None:
        self.events.append("shutdown")

    async def check(self) -> dict[str, str]:
        return {"status": "pass", "message": f"{len(self.calls)} calls"}


async def test_client_serves_a_plugin_route_and_runs_its_lifecycle() -> None:
    plugin = GreeterPlugin()
    async with client(plugins=[plugin]) as c:
        assert plugin.events == ["startup"]  # started before the client is handed out
        response = await c.get("/greet", params={"name": "Ada"})
        assert response.status_code == 200
        assert response.json() == {"hello": "Ada"}
        health = (await c.get("/ixp/health")).json()
        assert health["checks"]["greeter"] == {"status": "pass", "message": "0 calls"}
        assert str(c.base_url) == "http://testserver"
    assert plugin.events == ["startup", "shutdown"]


async def test_provider_data_is_in_the_props() -> None:
    plugin = GreeterPlugin()
    async with client(plugins=[plugin]) as c:
        response = await c.post("/ixp/render", json=render_body("weather_forecast", {"city": "Lisbon"}))
        assert response.status_code == 200, response.text
        props = response.json()["record"]["props"]
        assert props["city"] == "Lisbon"
        assert props["forecast"] == "sunny in Lisbon"
        assert props["source"] == "greeter"
        # `intents` limits the provider: another intent renders without it.
        other = await c.post("/ixp/render", json=render_body("show_welcome", {"name": "Ada"}))
        assert other.status_code == 200, other.text
        assert "forecast" not in other.json()["record"]["props"]
    assert [intent for intent, _ in plugin.calls] == ["weather_forecast"]
    assert plugin.calls[0][1]["city"] == "Lisbon"


async def test_plugins_by_import_path() -> None:
    async with client(plugins=["tests.test_testing:GreeterPlugin"]) as c:
        response = await c.get("/greet")
        assert response.json() == {"hello": "world"}


async def test_storage_is_a_throwaway_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default ./ixp.db would land here
    async with running_app() as app, asgi_client(app) as c:
        database = Path(app.settings.sqlite_path)
        assert database.is_absolute() and database.parent != tmp_path
        health = (await c.get("/ixp/health")).json()
        assert health["checks"]["storage"]["status"] == "pass"
        assert database.exists()
    assert not database.parent.exists()  # the temporary directory is gone
    assert not (tmp_path / "ixp.db").exists()


async def test_storage_given_is_kept(tmp_path: Path) -> None:
    async with running_app(sqlite_path=str(tmp_path / "mine.db")) as app:
        assert app.settings.sqlite_path == str(tmp_path / "mine.db")
    async with running_app(Settings(sqlite_path=str(tmp_path / "other.db"))) as app:
        assert app.settings.sqlite_path == str(tmp_path / "other.db")


async def test_settings_and_overrides(tmp_path: Path, write_registry: Any) -> None:
    intents, components = write_registry()
    async with client(
        Settings(metrics_enabled=False), intents=str(intents), components=str(components), max_body_bytes=64
    ) as c:
        assert (await c.get("/ixp/metrics")).status_code == 404  # from the Settings object
        big = render_body("weather_forecast", {"city": "x" * 100})
        assert (await c.post("/ixp/render", json=big)).status_code == 413  # from the overrides
        assert (await c.get("/ixp/intents")).status_code == 200


async def test_unknown_settings_are_refused() -> None:
    with pytest.raises(TypeError, match=r"unknown setting.*'intent_file'"):
        async with client(intent_file="intents.json"):
            pass


def test_render_body() -> None:
    assert render_body("a") == {"intent": {"name": "a"}}
    assert render_body("a", {"x": 1}, {"theme": "dark"}) == {
        "intent": {"name": "a", "parameters": {"x": 1}},
        "options": {"theme": "dark"},
    }


def test_missing_httpx_is_explained() -> None:
    code = "import sys; sys.modules['httpx'] = None; import ixp.testing"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "pip install 'ixp[test]'" in result.stderr
