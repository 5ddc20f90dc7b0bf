"""Intent-parameter validation (docs/protocol.md §2.3, §3.4), compiled once per intent at load time.

A schema becomes a tuple of per-field check functions; validating a request is then a loop over
those closures with no schema interpretation left on the hot path. Messages and issue objects are
Zod v3's, byte for byte, so clients that parse them keep working.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ixp._core import Pattern
from ixp.base.errors import ErrorCode, IXPError

Path = tuple[str, ...]
Issues = list[dict[str, Any]]
Check = Callable[[Any, Path, Issues], Any]

_INVALID: Any = object()  # a check's result when the value failed; never escapes this module
_MISSING: Any = object()

SCHEMA_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})


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


def _num(value: float | int) -> str:
    """Numbers in messages the way JavaScript prints them (`5`, not `5.0`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _type_issue(expected: str, value: Any, path: Path) -> dict[str, Any]:
    received = js_type(value)
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": received,
        "path": list(path),
        "message": f"Expected {expected}, received {received}",
    }


def _required_issue(expected: str, path: Path) -> dict[str, Any]:
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": "undefined",
        "path": list(path),
        "message": "Required",
    }


def _size_issue(code: str, kind: str, bound: float, path: Path) -> dict[str, Any]:
    key = "minimum" if code == "too_small" else "maximum"
    if kind == "number":
        relation = "greater than or equal to" if code == "too_small" else "less than or equal to"
        message = f"Number must be {relation} {_num(bound)}"
    else:
        unit = "character(s)" if kind == "string" else "element(s)"
        relation = "at least" if code == "too_small" else "at most"
        noun = "String" if kind == "string" else "Array"
        message = f"{noun} must contain {relation} {_num(bound)} {unit}"
    return {
        "code": code,
        key: bound,
        "type": kind,
        "inclusive": True,
        "exact": False,
        "message": message,
        "path": list(path),
    }


class SchemaError(ValueError):
    """A schema problem found at load time; the message names the field and what was expected."""


class ParameterValidator:
    """Validates an intent's `parameters` object against its compiled schema."""

    __slots__ = ("_check", "field_types", "warnings")

    def __init__(self, schema: Any) -> None:
        self.warnings: list[str] = []
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise SchemaError('parameters: must be a JSON-Schema object with "type": "object"')
        self._check = _compile_object(schema, "parameters", self.warnings)
        properties = schema.get("properties") or {}
        self.field_types: dict[str, Any] = {
            name: spec.get("type") for name, spec in properties.items() if isinstance(spec, dict)
        }

    def validate(self, parameters: Any) -> dict[str, Any]:
        """The validated parameters (declared keys only, schema order, defaults filled in).

        Raises the protocol's 400 with Zod-style issues when anything is wrong.
        """
        issues: Issues = []
        result = self._check(parameters, (), issues)
        if issues:
            raise validation_error(issues)
        return result  # type: ignore[no-any-return]


def validation_error(issues: Issues) -> IXPError:
    parts = []
    for issue in issues:
        path = issue["path"]
        parts.append(
            f"{issue['message']} at '{'.'.join(str(p) for p in path)}'" if path else issue["message"]
        )
    return IXPError(
        ErrorCode.INVALID_REQUEST,
        "Parameter validation failed: " + ", ".join(parts),
        {"validationErrors": issues},
    )


def _within(
    size: float, low: float | None, high: float | None, kind: str, path: Path, issues: Issues
) -> bool:
    """Zod's too_small / too_big issues for a length or value outside [low, high]; True if inside."""
    ok = True
    if low is not None and size < low:
        issues.append(_size_issue("too_small", kind, low, path))
        ok = False
    if high is not None and size > high:
        issues.append(_size_issue("too_big", kind, high, path))
        ok = False
    return ok


def _compile(spec: Any, where: str, warnings: list[str]) -> Check:
    if not isinstance(spec, dict):
        raise SchemaError(f"{where}: expected a JSON-Schema object, got {js_type(spec)}")
    kind = spec.get("type")
    if kind == "string":
        return _compile_string(spec, where)
    if kind in ("number", "integer"):
        return _compile_number(spec, where, integer=kind == "integer")
    if kind == "boolean":
        return _compile_boolean()
    if kind == "array":
        return _compile_array(spec, where)
    if kind == "object":
        return _compile_object(spec, where, warnings)
    warnings.append(f"{where}: type {kind!r} is not one of {sorted(SCHEMA_TYPES)}; any value is accepted")
    return _accept_anything


def _accept_anything(value: Any, path: Path, issues: Issues) -> Any:
    return value


def _non_negative_int(spec: dict[str, Any], key: str, where: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise SchemaError(f"{where}.{key}: expected a non-negative integer, got {value!r}")
    return value


def _compile_string(spec: dict[str, Any], where: str) -> Check:
    enum = spec.get("enum")
    if enum is not None:
        if not isinstance(enum, list) or not enum or not all(type(o) is str for o in enum):
            raise SchemaError(f"{where}.enum: expected a non-empty list of strings, got {enum!r}")
        options = tuple(enum)
        allowed = frozenset(options)
        listing = " | ".join(f"'{o}'" for o in options)

        def check_enum(value: Any, path: Path, issues: Issues) -> Any:
            if type(value) is str and value in allowed:
                return value
            if type(value) is not str:
                issues.append(_type_issue(listing, value, path))
            else:
                issues.append(
                    {
                        "received": value,
                        "code": "invalid_enum_value",
                        "options": list(options),
                        "path": list(path),
                        "message": f"Invalid enum value. Expected {listing}, received '{value}'",
                    }
                )
            return _INVALID

        return check_enum

    min_len = _non_negative_int(spec, "minLength", where)
    max_len = _non_negative_int(spec, "maxLength", where)
    pattern = spec.get("pattern")
    regex = None
    if pattern is not None:
        if not isinstance(pattern, str):
            raise SchemaError(f"{where}.pattern: expected a regular expression string, got {pattern!r}")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise SchemaError(f"{where}.pattern: invalid regular expression {pattern!r}: {exc}") from None
    search = _searcher(pattern, regex) if regex is not None and pattern is not None else None

    def check_string(value: Any, path: Path, issues: Issues) -> Any:
        if type(value) is not str:
            issues.append(_type_issue("string", value, path))
            return _INVALID
        ok = _within(len(value), min_len, max_len, "string", path, issues)
        if search is not None and not search(value):
            issues.append(
                {"validation": "regex", "code": "invalid_string", "message": "Invalid", "path": list(path)}
            )
            ok = False
        return value if ok else _INVALID

    return check_string


def _searcher(pattern: str, regex: re.Pattern[str]) -> Callable[[str], bool]:
    """`re.search(...) is not None` in linear time: Rust's `regex` for every pattern of the subset
    both engines read the same way (client strings can never make it backtrack), Python's `re`
    only for patterns outside it (look-around, back references: the operator's choice)."""
    try:
        return Pattern(pattern).is_match
    except ValueError:
        return lambda text: regex.search(text) is not None


def _bound(spec: dict[str, Any], key: str, where: str) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise SchemaError(f"{where}.{key}: expected a finite number, got {value!r}")
    return value  # type: ignore[no-any-return]


def _compile_number(spec: dict[str, Any], where: str, integer: bool) -> Check:
    low = _bound(spec, "minimum", where)
    high = _bound(spec, "maximum", where)

    def check_number(value: Any, path: Path, issues: Issues) -> Any:
        kind = type(value)
        if kind is not int and kind is not float:
            issues.append(_type_issue("number", value, path))
            return _INVALID
        if kind is float:
            if not math.isfinite(value):
                # JSON has no NaN/Infinity; a decoder that overflowed to inf must not pass as a number.
                issues.append(
                    {
                        "code": "not_finite",
                        "path": list(path),
                        "message": "Number must be finite",
                    }
                )
                return _INVALID
            if integer and not value.is_integer():
                issue = _type_issue("integer", value, path)
                issue["received"] = "float"
                issue["message"] = "Expected integer, received float"
                issues.append(issue)
                return _INVALID
        return value if _within(value, low, high, "number", path, issues) else _INVALID

    return check_number


def _compile_boolean() -> Check:
    def check_boolean(value: Any, path: Path, issues: Issues) -> Any:
        if type(value) is bool:
            return value
        issues.append(_type_issue("boolean", value, path))
        return _INVALID

    return check_boolean


def _compile_array(spec: dict[str, Any], where: str) -> Check:
    min_items = _non_negative_int(spec, "minItems", where)
    max_items = _non_negative_int(spec, "maxItems", where)

    def check_array(value: Any, path: Path, issues: Issues) -> Any:
        if type(value) is not list:
            issues.append(_type_issue("array", value, path))
            return _INVALID
        return value if _within(len(value), min_items, max_items, "array", path, issues) else _INVALID

    return check_array


def _compile_object(spec: dict[str, Any], where: str, warnings: list[str]) -> Check:
    properties = spec.get("properties")
    if properties is None:
        if where != "parameters":

            def check_any_object(value: Any, path: Path, issues: Issues) -> Any:
                if type(value) is dict:
                    return value
                issues.append(_type_issue("object", value, path))
                return _INVALID

            return check_any_object
        properties = {}
    if not isinstance(properties, dict):
        raise SchemaError(f"{where}.properties: expected an object, got {js_type(properties)}")
    required = spec.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError(f"{where}.required: expected a list of property names, got {required!r}")
    unknown = [r for r in required if r not in properties]
    if unknown:
        raise SchemaError(f"{where}.required: {unknown} not declared in properties")
    needed = frozenset(required)
    fields: list[tuple[str, Check, bool, bool, Any, str]] = []
    for name, prop in properties.items():
        check = _compile(prop, f"{where}.properties.{name}", warnings)
        expected = prop.get("type") if isinstance(prop.get("type"), str) else "unknown"
        if isinstance(prop.get("enum"), list) and prop.get("type") == "string":
            expected = " | ".join(f"'{o}'" for o in prop["enum"])
        has_default = "default" in prop and name not in needed
        fields.append((name, check, name in needed, has_default, prop.get("default"), expected))
    frozen_fields = tuple(fields)

    def check_object(value: Any, path: Path, issues: Issues) -> Any:
        if type(value) is not dict:
            issues.append(_type_issue("object", value, path))
            return _INVALID
        out: dict[str, Any] = {}
        ok = True
        for name, check, is_required, has_default, default, expected in frozen_fields:
            item = value.get(name, _MISSING)
            if item is _MISSING:
                if is_required:
                    issues.append(_required_issue(expected, (*path, name)))
                    ok = False
                elif has_default:
                    out[name] = default
                continue
            checked = check(item, (*path, name), issues)
            if checked is _INVALID:
                ok = False
            else:
                out[name] = checked
        return out if ok else _INVALID

    return check_object
