"""Helpers shared by the tests (imported as `_support`; fixtures live in the conftest files)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp

EXAMPLES = Path(__file__).resolve().parents[1] / "python" / "ixp" / "examples"


def example_intents() -> dict[str, Any]:
    return json.loads((EXAMPLES / "intents.json").read_text())


def example_components() -> dict[str, Any]:
    return json.loads((EXAMPLES / "components.json").read_text())


def asgi_client(app: IXPApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@contextlib.asynccontextmanager
async def started(app: IXPApp) -> AsyncIterator[tuple[IXPApp, httpx.AsyncClient]]:
    """`app` started (its start-up hooks run) with its in-process client; shut down on exit."""
    await app.startup()
    try:
        async with asgi_client(app) as client:
            yield app, client
    finally:
        await app.shutdown()


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


HOW_TO_START = (
    "start the test services first: `bash .ci/services.sh start && "
    "source ${IXP_SERVICES_DIR:-/tmp/ixp-services}/env` (storage tests never skip)"
)


def service_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: {HOW_TO_START}", pytrace=False)
    return value


class Services:
    """Stops and restarts the real test servers through the commands .ci/services.sh exports."""

    def run(self, variable: str) -> None:
        command = service_env(variable)
        result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{variable} ({command}) failed: {result.stderr.strip()}")

    @contextlib.contextmanager
    def stopped(self, service: str) -> Iterator[None]:
        """`service` is "PG" or "REDIS"; it is restarted on exit, whatever happens."""
        self.run(f"IXP_TEST_{service}_STOP")
        try:
            yield
        finally:
            self.run(f"IXP_TEST_{service}_START")

    def start(self, service: str) -> None:
        self.run(f"IXP_TEST_{service}_START")


ROOT = Path(__file__).resolve().parents[1]


def artefacts(kind: str) -> Path:
    """A git-ignored directory for a test run's artefacts (screenshots, fuzzing reports)."""
    path = ROOT / ".ci" / "tmp" / "artefacts" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def api_key(
    name: str = "tests", scopes: str = "users:read,users:write,sessions:write,metrics:read"
) -> tuple[str, str]:
    """A fresh API key and its `IXP_API_KEYS` line."""
    from ixp.http.access import digest_of, new_key

    key = new_key()
    return key, f"{name} {digest_of(key)} {scopes}"
