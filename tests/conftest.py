"""Shared fixtures: apps built from settings, in-process ASGI clients, registry files in tmp dirs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp, create_app
from ixp.base.settings import Settings
from ixp.features.contribution import Contribution
from tests._support import asgi_client, example_components, example_intents


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., IXPApp]:
    """Apps on a throwaway SQLite file (opened on first use) unless the test says otherwise."""

    def build(extra: Sequence[Contribution] = (), **overrides: Any) -> IXPApp:
        overrides.setdefault("sqlite_path", str(tmp_path / "ixp.db"))
        # The in-process client is a loopback client: the users API is open to it unless a test
        # configures keys (tests/http/test_access.py covers every access rule).
        overrides.setdefault("users_api", "loopback")
        return create_app(Settings(**overrides), extra=extra)

    return build


@pytest.fixture
async def app(make_app: Callable[..., IXPApp]) -> AsyncIterator[IXPApp]:
    application = make_app()
    yield application
    await application.storage.stop()


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
