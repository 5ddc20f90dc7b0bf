"""The composition root: contributions are collected; nothing a feature adds can shadow another."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest

import ixp
from ixp.app import IXPApp
from ixp.base.errors import ConfigError
from ixp.features.contribution import Contribution
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from tests._support import asgi_client


def hello(request: Request) -> Response:
    return json_response(200, b'{"hello":"world"}')


async def test_an_extra_contribution_adds_routes_checks_and_metrics(make_app: Callable[..., IXPApp]) -> None:
    async def check() -> dict[str, str]:
        return {"status": "pass", "message": "extra reachable"}

    extra = Contribution(
        "extra",
        routes=[RouteSpec("GET", "/extra/hello", hello)],
        health_checks={"extra": check},
        metrics_sections={"extra": lambda: {"answered": 1}},
    )
    app = make_app(extra=[extra])
    async with asgi_client(app) as client:
        assert (await client.get("/extra/hello")).json() == {"hello": "world"}
        assert (await client.get("/ixp/health")).json()["checks"]["extra"]["message"] == "extra reachable"
        assert (await client.get("/ixp/metrics")).json()["extra"] == {"answered": 1}
        assert (await client.post("/extra/hello")).status_code == 405


def test_a_contribution_cannot_shadow_a_built_in_route(make_app: Callable[..., IXPApp]) -> None:
    extra = Contribution("shadow", routes=[RouteSpec("POST", "/ixp/render", hello)])
    with pytest.raises(ConfigError, match=r"feature 'shadow': route POST /ixp/render is already registered"):
        make_app(extra=[extra])


def test_no_module_keeps_mutable_state() -> None:
    """Per-process state belongs to the app or to a registry version, never to a module."""
    found = []
    for info in pkgutil.walk_packages(ixp.__path__, "ixp."):
        if info.name == "ixp._core":
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.startswith("__"):
                continue
            if isinstance(value, (dict, list, set, bytearray, itertools.count)) or _is_own_instance(value):
                found.append(f"{info.name}.{name}")
    assert found == []


def _is_own_instance(value: Any) -> bool:
    """An instance of one of ixp's classes that can change (frozen dataclasses and structs, tuples cannot)."""
    kind = type(value)
    if not kind.__module__.startswith("ixp.") or isinstance(value, (type, tuple)) or callable(value):
        return False
    config = getattr(kind, "__struct_config__", None)  # msgspec
    if config is not None:
        return not config.frozen
    params = getattr(kind, "__dataclass_params__", None)
    return params is None or not params.frozen
