"""A deterministic benchmark registry in the SDK file format: N intents, one component each.

`write_registry(dir)` writes `intents.json` and `components.json`; one of the intents,
`bench_render`, has seven validated parameters of mixed types and `RENDER_BODY` is a valid
`POST /ixp/render` request for it (`INVALID_RENDER_BODY`: the same with an out-of-range integer,
a 400; `PROCESS_BODY`: a free-text message that matches it). The other intents are realistic filler for
the listing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RENDER_INTENT = "bench_render"
RENDER_COMPONENT = "BenchRender"

RENDER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "layout": {"type": "string", "enum": ["grid", "list", "carousel"], "default": "grid"},
        "query": {"type": "string", "minLength": 2, "maxLength": 64, "pattern": "^[a-z0-9 ]+$"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "maxPrice": {"type": "number", "minimum": 0},
        "inStockOnly": {"type": "boolean", "default": False},
        "tags": {"type": "array", "maxItems": 10},
        "filters": {
            "type": "object",
            "properties": {
                "brand": {"type": "string", "maxLength": 40},
                "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            },
        },
    },
    "required": ["query"],
}

# Every parameter given, values chosen so that any JSON encoder writes them back byte for byte.
RENDER_PROPS: dict[str, Any] = {
    "layout": "grid",
    "query": "wireless headphones",
    "limit": 24,
    "maxPrice": 199.5,
    "inStockOnly": True,
    "tags": ["audio", "bluetooth", "noise cancelling"],
    "filters": {"brand": "acme", "rating": 4},
}

RENDER_BODY: dict[str, Any] = {"intent": {"name": RENDER_INTENT, "parameters": RENDER_PROPS}}

# The same request with `limit` out of range: a 400 INVALID_REQUEST with one Zod issue.
INVALID_RENDER_BODY: dict[str, Any] = {
    "intent": {"name": RENDER_INTENT, "parameters": {**RENDER_PROPS, "limit": 500}}
}
INVALID_RENDER_MESSAGE = "Parameter validation failed: Number must be less than or equal to 100 at 'limit'"

# A free-text message `bench_render`'s pattern matches (`query`, and `maxPrice` converted to 200):
# `POST /api/intents/process` without a `userId`. Sent repeatedly, it hits the match cache.
PROCESS_MESSAGE = "search wireless headphones under 200"
PROCESS_BODY: dict[str, Any] = {"message": PROCESS_MESSAGE}
PROCESS_PARAMETERS: dict[str, Any] = {
    "layout": "grid",
    "query": "wireless headphones",
    "limit": 20,
    "maxPrice": 200,
    "inStockOnly": False,
}

_TOPICS = ("orders", "products", "weather", "support", "billing", "account", "shipping", "returns", "events")
_VIEWS = ("list", "detail", "search", "summary", "history")


def render_intent() -> dict[str, Any]:
    return {
        "name": RENDER_INTENT,
        "description": "Product search results rendered as a grid, list or carousel",
        "component": RENDER_COMPONENT,
        "version": "1.0.0",
        "category": "shopping",
        "parameters": RENDER_PARAMETERS,
        "patterns": [r"\b(?:search|find) (?P<query>[a-z0-9 ]+?)(?: under (?P<maxPrice>\d+))?$"],
        "priority": 5,
    }


def filler_intent(index: int) -> dict[str, Any]:
    topic = _TOPICS[index % len(_TOPICS)]
    view = _VIEWS[(index // len(_TOPICS)) % len(_VIEWS)]
    name = f"{view}_{topic}_{index:02d}"
    return {
        "name": name,
        "description": f"Show the {view} view of {topic} (#{index})",
        "component": component_name(index),
        "version": f"1.{index % 5}.0",
        "crawlable": index % 3 == 0,
        "parameters": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{6}$"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                "sort": {"type": "string", "enum": ["newest", "oldest", "popular"], "default": "newest"},
                "includeArchived": {"type": "boolean", "default": False},
            },
        },
        "patterns": [rf"\b{view} (?:my )?{topic}\b(?: #?(?P<id>[A-Z]{{2}}[0-9]{{6}}))?"],
        "priority": index % 7,
    }


def component_name(index: int) -> str:
    return f"Widget{index:02d}"


def component(export_name: str, index: int) -> dict[str, Any]:
    return {
        "framework": ("react", "vue", "vanilla")[index % 3],
        "remoteUrl": f"https://cdn.example.com/ui/{export_name.lower()}.esm.js",
        "exportName": export_name,
        "propsSchema": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "limit": {"type": "number"}},
        },
        "version": "1.0.0",
        "allowedOrigins": ["*"],
        "bundleSize": "24KB",
        "performance": {"tti": "0.3s", "bundleSizeGzipped": "9KB"},
        "securityPolicy": {"allowEval": False, "maxBundleSize": "100KB", "sandboxed": True},
    }


def build_registry(n_intents: int = 50) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two documents: `bench_render` first, then `n_intents - 1` filler intents."""
    if n_intents < 1:
        raise ValueError("n_intents must be at least 1")
    intents = [render_intent()] + [filler_intent(i) for i in range(1, n_intents)]
    components = {RENDER_COMPONENT: component(RENDER_COMPONENT, 0)}
    components[RENDER_COMPONENT]["propsSchema"] = {
        "type": "object",
        "properties": {k: {"type": v["type"]} for k, v in RENDER_PARAMETERS["properties"].items()},
    }
    for i in range(1, n_intents):
        components[component_name(i)] = component(component_name(i), i)
    return {"intents": intents}, {"components": components}


def write_registry(directory: str | Path, n_intents: int = 50) -> tuple[Path, Path]:
    """Write `intents.json` and `components.json` into `directory`; return their paths."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    intents, components = build_registry(n_intents)
    intents_path = root / "intents.json"
    components_path = root / "components.json"
    intents_path.write_text(json.dumps(intents, indent=2) + "\n", encoding="utf-8")
    components_path.write_text(json.dumps(components, indent=2) + "\n", encoding="utf-8")
    return intents_path, components_path


if __name__ == "__main__":
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "."
    for path in write_registry(target):
        print(path)
