"""The same two endpoints as a typical FastAPI service would write them (the comparison baseline).

- `GET /ixp/intents`: the intents file's definitions, `version` and a per-request `timestamp`.
- `POST /ixp/render`: a pydantic request model, the `bench_render` parameters validated by a
  pydantic model written for that intent, and the `{record, component, ttl}` descriptor.

Reads the same `IXP_INTENTS` / `IXP_COMPONENTS` files as ixp. Bodies are ixp's JSON (compact,
same key order); the headers are FastAPI's defaults (no CORS or security headers, which makes the
comparison favour FastAPI). Serve with
`uvicorn bench.baselines.fastapi_app:app --workers 1 --log-level warning --no-access-log`.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field, ValidationError

PROTOCOL_VERSION = "1.0.0"
DEFAULT_SECURITY_POLICY = {"allowEval": False, "sandboxed": True, "maxBundleSize": "200KB"}


def _load(variable: str, key: str) -> Any:
    with open(os.environ[variable], encoding="utf-8") as file:
        return json.load(file)[key]


INTENTS: list[dict[str, Any]] = _load("IXP_INTENTS", "intents")
INTENTS_BY_NAME = {intent["name"]: intent for intent in INTENTS}
COMPONENTS: dict[str, dict[str, Any]] = {
    name: {"name": name, **{k: v for k, v in spec.items() if k != "name"}}
    for name, spec in _load("IXP_COMPONENTS", "components").items()
}
for _component in COMPONENTS.values():
    _component.setdefault("securityPolicy", dict(DEFAULT_SECURITY_POLICY))


class Filters(BaseModel):
    brand: str | None = Field(default=None, max_length=40)
    rating: int | None = Field(default=None, ge=1, le=5)


class BenchRenderParameters(BaseModel):
    """`bench_render`'s seven parameters (bench/registry_gen.py, RENDER_PARAMETERS)."""

    layout: Literal["grid", "list", "carousel"] = "grid"
    query: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9 ]+$")
    limit: int = Field(default=20, ge=1, le=100)
    maxPrice: float | None = Field(default=None, ge=0)
    inStockOnly: bool = False
    tags: list[Any] | None = Field(default=None, max_length=10)
    filters: Filters | None = None


PARAMETER_MODELS: dict[str, type[BaseModel]] = {"bench_render": BenchRenderParameters}


class IntentRef(BaseModel):
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class RenderRequest(BaseModel):
    intent: IntentRef
    options: dict[str, Any] | None = None


def utc_now_iso() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def ttl_seconds(intent: dict[str, Any], component: dict[str, Any]) -> int:
    ttl = 300
    if intent.get("deprecated") or component.get("deprecated"):
        ttl = 60
    if intent.get("crawlable"):
        ttl = max(ttl, 600)
    return ttl


app = FastAPI(title="IXP (FastAPI baseline)", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/ixp/intents")
async def list_intents() -> dict[str, Any]:
    return {"intents": INTENTS, "version": PROTOCOL_VERSION, "timestamp": utc_now_iso()}


@app.post("/ixp/render")
async def render(request: RenderRequest) -> dict[str, Any]:
    intent = INTENTS_BY_NAME.get(request.intent.name)
    if intent is None:
        raise HTTPException(404, f"Intent '{request.intent.name}' not found")
    component = COMPONENTS.get(intent["component"])
    if component is None:
        raise HTTPException(404, f"Component '{intent['component']}' not found")
    props = request.intent.parameters
    model = PARAMETER_MODELS.get(intent["name"])
    if model is not None:
        try:
            props = model.model_validate(props).model_dump(exclude_none=True)
        except ValidationError as exc:
            raise HTTPException(400, exc.errors(include_url=False)) from None
    if request.options:
        props = {**props, **request.options}
    return {
        "record": {
            "moduleUrl": component["remoteUrl"],
            "exportName": component["exportName"],
            "props": props,
        },
        "component": component,
        "ttl": ttl_seconds(intent, component),
    }
