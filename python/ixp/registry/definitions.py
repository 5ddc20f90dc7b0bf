"""Intent and component definitions in the SDK's file format (docs/protocol.md §3.1, §3.2).

Each definition is checked once, at load time, and compiled into what the request path needs: the
allowed-origin set, the flags of the TTL; the parameter schemas are compiled per version in Rust
(`registry/schema.py`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

SCHEMA_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
FRAMEWORKS = ("react", "vue", "vanilla")
DEFAULT_SECURITY_POLICY: Mapping[str, Any] = MappingProxyType(
    {"allowEval": False, "sandboxed": True, "maxBundleSize": "200KB"}
)
CSP_KEYS = frozenset(
    {
        "script-src",
        "style-src",
        "img-src",
        "connect-src",
        "font-src",
        "object-src",
        "media-src",
        "frame-src",
        "worker-src",
        "child-src",
    }
)
_TTI = re.compile(r"^\d+(\.\d+)?(ms|s)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)(KB|MB)$")


def js_type(value: Any) -> str:
    """The type name Zod reports as `received`."""
    kind = type(value)
    if kind is str:
        return "string"
    if kind is bool:
        return "boolean"
    if kind is int:
        return "number"
    if kind is float:
        return "nan" if math.isnan(value) else "number"
    if kind is dict:
        return "object"
    if kind is list:
        return "array"
    if value is None:
        return "null"
    return "unknown"


class Problems:
    """Collects every problem of a load, each prefixed with where it was found."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def insert(self, found: list[tuple[int, str, str]]) -> None:
        """Problems found later, as `(position, where, message)` in position order, each at the
        position `len(items)` had when its entry was checked."""
        for position, where, message in reversed(found):
            self.items.insert(position, f"{where}: {message}")


def _require_text(definition: dict[str, Any], field: str, where: str, problems: Problems) -> str | None:
    value = definition.get(field)
    if not isinstance(value, str) or not value.strip():
        got = "an empty string" if isinstance(value, str) else js_type(value)
        problems.add(where, f"field '{field}' must be a non-empty string, got {got}")
        return None
    return value


def _optional_bool(definition: dict[str, Any], field: str, where: str, problems: Problems) -> bool:
    value = definition.get(field, False)
    if type(value) is not bool:
        problems.add(where, f"field '{field}' must be a boolean, got {js_type(value)}")
        return False
    return value


class Component:
    """A registered component: its served definition and what rendering needs from it."""

    __slots__ = ("allowed_origins", "any_origin", "definition", "deprecated", "large_bundle", "name")

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        self.name = name
        self.definition = definition
        origins = definition["allowedOrigins"]
        self.any_origin = "*" in origins
        self.allowed_origins = frozenset(origins)
        self.deprecated = definition.get("deprecated") is True
        self.large_bundle = gzipped_kb(definition) > 50

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.allowed_origins


def gzipped_kb(definition: dict[str, Any]) -> float:
    """`performance.bundleSizeGzipped` in KB; decimals and MB read correctly (docs/protocol.md §4.4)."""
    performance = definition.get("performance")
    if not isinstance(performance, dict):
        return 0.0
    match = _SIZE.match(str(performance.get("bundleSizeGzipped", "")))
    if match is None:
        return 0.0
    size = float(match.group(1))
    return size * 1024 if match.group(2) == "MB" else size


def check_component(name: str, raw: Any, where: str, problems: Problems) -> Component | None:
    if not isinstance(raw, dict):
        problems.add(where, f"expected an object, got {js_type(raw)}")
        return None
    before = len(problems.items)
    if not name.strip():
        problems.add(where, "component name must be a non-empty string")
    framework = raw.get("framework")
    if framework not in FRAMEWORKS:
        problems.add(where, f"field 'framework' must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    _require_text(raw, "remoteUrl", where, problems)
    _require_text(raw, "exportName", where, problems)
    _require_text(raw, "version", where, problems)
    _check_props_schema(raw.get("propsSchema"), where, problems)
    origins = raw.get("allowedOrigins")
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        problems.add(where, f"field 'allowedOrigins' must be a list of origin strings, got {origins!r}")
    _optional_bool(raw, "deprecated", where, problems)
    _check_performance(raw.get("performance"), where, problems)
    _check_security_policy(raw.get("securityPolicy"), where, problems)
    if len(problems.items) != before:
        return None
    definition = {"name": name, **{k: v for k, v in raw.items() if k != "name"}}
    definition.setdefault("securityPolicy", dict(DEFAULT_SECURITY_POLICY))
    return Component(name, definition)


def _check_props_schema(schema: Any, where: str, problems: Problems) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        problems.add(where, 'field \'propsSchema\' must be an object schema with "type": "object"')
        return
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        problems.add(where, "field 'propsSchema.properties' must be an object")
        return
    if "required" in schema and not isinstance(schema["required"], list):
        problems.add(where, "field 'propsSchema.required' must be a list")
    for prop, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        # `integer` is accepted here as it is for intents (the SDK rejects it: docs/protocol.md §3.2).
        if kind not in SCHEMA_TYPES:
            problems.add(
                where,
                f"field 'propsSchema.properties.{prop}.type' must be one of "
                f"{', '.join(sorted(SCHEMA_TYPES))}, got {kind!r}",
            )


def _check_performance(performance: Any, where: str, problems: Problems) -> None:
    if performance is None:
        return
    if not isinstance(performance, dict):
        problems.add(where, "field 'performance' must be an object")
        return
    tti = performance.get("tti")
    if tti is not None and not (isinstance(tti, str) and _TTI.match(tti)):
        problems.add(where, f"field 'performance.tti' must look like '0.5s' or '300ms', got {tti!r}")
    size = performance.get("bundleSizeGzipped")
    if size is not None and not (isinstance(size, str) and _SIZE.match(size)):
        problems.add(
            where, f"field 'performance.bundleSizeGzipped' must look like '8KB' or '1.2MB', got {size!r}"
        )


def _check_security_policy(policy: Any, where: str, problems: Problems) -> None:
    if policy is None:
        return
    if not isinstance(policy, dict):
        problems.add(where, "field 'securityPolicy' must be an object")
        return
    for flag in ("allowEval", "sandboxed"):
        if flag in policy and type(policy[flag]) is not bool:
            problems.add(where, f"field 'securityPolicy.{flag}' must be a boolean")
    if "maxBundleSize" in policy and not isinstance(policy["maxBundleSize"], str):
        problems.add(where, "field 'securityPolicy.maxBundleSize' must be a string")
    csp = policy.get("csp")
    if csp is None:
        return
    if not isinstance(csp, dict):
        problems.add(where, "field 'securityPolicy.csp' must be an object")
        return
    for key, sources in csp.items():
        if key not in CSP_KEYS:
            problems.add(where, f"field 'securityPolicy.csp.{key}' is not an allowed CSP directive")
        elif not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            problems.add(where, f"field 'securityPolicy.csp.{key}' must be a list of strings")
        elif key == "script-src" and "'unsafe-eval'" in sources:
            problems.add(where, "field 'securityPolicy.csp.script-src' must not allow 'unsafe-eval'")


class Intent:
    """A registered intent: the served definition plus what is read from it. `source` says where it
    was defined (the file and entry, in load problems)."""

    __slots__ = (
        "component",
        "crawlable",
        "definition",
        "deprecated",
        "name",
        "patterns",
        "priority",
        "source",
    )

    def __init__(self, definition: dict[str, Any], source: str = "") -> None:
        self.definition = definition
        self.name: str = definition["name"]
        self.component: str = definition["component"]
        self.source = source or f"intent {self.name!r}"
        self.deprecated = definition.get("deprecated") is True
        self.crawlable = definition.get("crawlable") is True
        self.patterns: list[str] = list(definition.get("patterns", []))
        self.priority: int = definition.get("priority", 0)


def check_intent(raw: Any, where: str, problems: Problems) -> Intent | None:
    if not isinstance(raw, dict):
        problems.add(where, f"expected an object, got {js_type(raw)}")
        return None
    before = len(problems.items)
    for field in ("name", "description", "component", "version"):
        _require_text(raw, field, where, problems)
    _optional_bool(raw, "deprecated", where, problems)
    _optional_bool(raw, "crawlable", where, problems)
    patterns = raw.get("patterns", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        problems.add(where, f"field 'patterns' must be a list of non-empty regex strings, got {patterns!r}")
    priority = raw.get("priority", 0)
    if type(priority) is not int:
        problems.add(where, f"field 'priority' must be an integer, got {js_type(priority)}")
    # `parameters` is compiled with the registry's other schemas (`registry/schema.py`).
    if len(problems.items) != before:
        return None
    return Intent(raw, where)
