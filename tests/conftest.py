"""Shared fixtures: apps built from settings, in-process ASGI clients, registry files in tmp dirs."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp, create_app
from ixp.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[1] / "python" / "ixp" / "examples"


def example_intents() -> dict[str, Any]:
    return json.loads((EXAMPLES / "intents.json").read_text())


def example_components() -> dict[str, Any]:
    return json.loads((EXAMPLES / "components.json").read_text())


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., IXPApp]:
    """Apps on a throwaway SQLite file (opened on first use) unless the test says otherwise."""

    def build(**overrides: Any) -> IXPApp:
        overrides.setdefault("sqlite_path", str(tmp_path / "ixp.db"))
        return create_app(Settings(**overrides))

    return build


@pytest.fixture
async def app(make_app: Callable[..., IXPApp]) -> AsyncIterator[IXPApp]:
    application = make_app()
    yield application
    await application.persistence.stop()


def asgi_client(app: IXPApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(app: IXPApp) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


@pytest.fixture
def write_registry(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Write intents/components files (defaults: the bundled examples) and return their paths."""

    def write(intents: Any = None, components: Any = None) -> tuple[Path, Path]:
        intents_path = tmp_path / "intents.json"
        components_path = tmp_path / "components.json"
        intents_path.write_text(json.dumps(example_intents() if intents is None else intents))
        components_path.write_text(json.dumps(example_components() if components is None else components))
        return intents_path, components_path

    return write


def service_settings() -> dict[str, Any]:
    """Settings for the real PostgreSQL and Redis that scripts/test.sh starts (never skipped)."""
    database_url = os.environ.get("IXP_TEST_DATABASE_URL")
    redis_url = os.environ.get("IXP_TEST_REDIS_URL")
    assert database_url and redis_url, "IXP_TEST_DATABASE_URL/IXP_TEST_REDIS_URL unset: run scripts/test.sh"
    return {"database_url": database_url, "redis_url": redis_url, "db_pool_min": 1, "db_pool_max": 4}


def render_body(name: str, parameters: Any = None, options: Any = None) -> dict[str, Any]:
    intent: dict[str, Any] = {"name": name}
    if parameters is not None:
        intent["parameters"] = parameters
    body: dict[str, Any] = {"intent": intent}
    if options is not None:
        body["options"] = options
    return body
