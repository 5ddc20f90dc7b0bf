"""Captured strings of a free-text match → the intent's parameter types (docs/protocol.md §9.3):
`"10"` → 10 (integer), `"2.5"` → 2.5 (number), `yes/no/true/false/on/off/1/0` → boolean, `a,b,c`
or a JSON array → array, a JSON object → object, an enum value matched case-insensitively → its
canonical spelling. The result is then validated and rendered exactly as `/ixp/render` does.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from ixp.base.errors import ErrorCode, IXPError
from ixp.registry.version import Registry

_INTEGER = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def convert_captures(registry: Registry, intent_name: str, captures: dict[str, str]) -> dict[str, Any]:
    """Captured strings → the parameter schema's types ("10" → 10, "yes" → true, enums by case).

    A capture that cannot be converted is a 400 in the validation format, naming the field.
    """
    intent = registry.intents[intent_name]
    properties = intent.definition["parameters"].get("properties") or {}
    out: dict[str, Any] = {}
    issues: list[dict[str, Any]] = []
    for name, text in captures.items():
        spec = properties.get(name)
        if not isinstance(spec, dict):
            continue  # undeclared group: dropped, as undeclared render parameters are
        kind = spec.get("type")
        try:
            out[name] = _convert(text, kind, spec)
        except ValueError:
            issues.append(
                {
                    "code": "invalid_conversion",
                    "expected": kind,
                    "received": text,
                    "path": [name],
                    "message": f"Expected {kind}, received '{text}'",
                }
            )
    if issues:
        parts = ", ".join(f"{issue['message']} at '{issue['path'][0]}'" for issue in issues)
        raise IXPError(
            ErrorCode.INVALID_REQUEST, "Parameter validation failed: " + parts, {"validationErrors": issues}
        )
    return out


def _convert(text: str, kind: Any, spec: dict[str, Any]) -> Any:
    if kind == "integer":
        if not _INTEGER.fullmatch(text.strip()):
            raise ValueError(text)
        return int(text)
    if kind == "number":
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return int(value) if _INTEGER.fullmatch(text.strip()) else value
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(text)
    if kind == "array":
        stripped = text.strip()
        if stripped.startswith("["):
            value = msgspec.json.decode(stripped)
            if not isinstance(value, list):
                raise ValueError(text)
            return value
        return [part.strip() for part in stripped.split(",") if part.strip()]
    if kind == "object":
        value = msgspec.json.decode(text)
        if not isinstance(value, dict):
            raise ValueError(text)
        return value
    enum = spec.get("enum")
    if isinstance(enum, list) and text not in enum:
        # Patterns match case-insensitively; map "Books" onto the canonical "books".
        folded = text.casefold()
        for option in enum:
            if isinstance(option, str) and option.casefold() == folded:
                return option
    return text
