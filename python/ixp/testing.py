"""Test helpers for plugin authors: the whole app in process, no server, no ports.

    from ixp.testing import client, render_body

    async def test_forecast_is_in_the_props():
        async with client(
            plugins=[WeatherPlugin()], intents="intents.json", components="components.json"
        ) as c:
            body = render_body("weather_forecast", {"city": "Lisbon"})
            response = await c.post("/ixp/render", json=body)
        assert response.status_code == 200
        assert "forecast" in response.json()["record"]["props"]

`client` needs httpx, which comes with ixp's test extra: `pip install 'ixp[test]'`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import msgspec

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ixp.testing needs httpx, which comes with ixp's test extra: pip install 'ixp[test]'"
    ) from exc

from ixp.app import IXPApp, create_app
from ixp.base.settings import Settings

__all__ = ["BASE_URL", "client", "render_body", "running_app"]

BASE_URL = "http://testserver"
_DEFAULTS = Settings()


def _settings(settings: Settings | None, overrides: Mapping[str, Any], scratch: Path) -> Settings:
    base = settings if settings is not None else Settings()
    unknown = sorted(set(overrides) - set(Settings.__struct_fields__))
    if unknown:
        raise TypeError(
            f"ixp.testing: unknown setting(s) {', '.join(map(repr, unknown))}; see ixp.base.settings"
        )
    values = dict(overrides)
    storage_chosen = (
        "sqlite_path" in values
        or values.get("database_url") is not None
        or base.database_url is not None
        or base.sqlite_path != _DEFAULTS.sqlite_path
    )
    if not storage_chosen:
        values["sqlite_path"] = str(scratch / "ixp.db")
    return msgspec.structs.replace(base, **values) if values else base


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings | None = None, *, plugins: Sequence[Any] = (), **setting_overrides: Any
) -> AsyncIterator[IXPApp]:
    """An app built like `client`'s, started and yielded; shut down on exit.

    async with running_app(plugins=[MyPlugin()]) as app:
        assert "my_intent" in app.registry.current.intents
    """
    with tempfile.TemporaryDirectory(prefix="ixp-test-") as scratch:
        app = create_app(_settings(settings, setting_overrides, Path(scratch)), plugins=plugins)
        await app.startup()
        try:
            yield app
        finally:
            await app.shutdown()


@contextlib.asynccontextmanager
async def client(
    settings: Settings | None = None, *, plugins: Sequence[Any] = (), **setting_overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An `httpx.AsyncClient` on an in-process app (base URL `http://testserver`).

    The app is built from `settings` (default: `Settings()`, the production defaults, not the
    `IXP_*` environment) with `setting_overrides` applied — any `Settings` field, e.g.
    `intents="intents.json"` — and `plugins` (plugin objects or `"module:attribute"` strings).
    Its start-up hooks (plugins' `on_startup` included) run before the client is handed out and its
    shutdown hooks after the block. Storage is a throwaway SQLite file in a temporary directory
    unless `sqlite_path` or `database_url` is given.

        async with client(plugins=[MyPlugin()], intents="intents.json") as c:
            response = await c.get("/ixp/health")
            assert response.json()["checks"]["my_check"]["status"] == "pass"
    """
    async with (
        running_app(settings, plugins=plugins, **setting_overrides) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url=BASE_URL) as http,
    ):
        yield http


def render_body(
    name: str, parameters: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON body of `POST /ixp/render` for intent `name`:

    >>> render_body("weather_forecast", {"city": "Lisbon"})
    {'intent': {'name': 'weather_forecast', 'parameters': {'city': 'Lisbon'}}}
    """
    intent: dict[str, Any] = {"name": name}
    if parameters is not None:
        intent["parameters"] = dict(parameters)
    body: dict[str, Any] = {"intent": intent}
    if options is not None:
        body["options"] = dict(options)
    return body
