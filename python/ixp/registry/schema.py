"""Intent-parameter schemas (docs/protocol.md §2.3, §3.4), compiled once per registry version, in Rust.

`compile_schemas` builds the version's `ixp._core.RenderTable` with every intent: it validates
parameters, fills defaults and reports Zod v3's issues byte for byte, for `/ixp/render` (the whole
request) and for `Schemas.validate` (parameters alone: the Python path, free-text processing).
Python keeps the load-time side: schema problems named by intent and field, the warnings, and the
`pattern` policy (`IXP_SCHEMA_PATTERNS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from ixp._core import Pattern, RenderTable
from ixp.base.errors import ErrorCode, IXPError
from ixp.registry.definitions import SCHEMA_TYPES, Component, Intent
from ixp.registry.envelope import render_envelope

PATTERN_POLICIES = ("reject", "python")
# IXP_SCHEMA_PATTERNS=python: longer strings fail a pattern `re` checks (its time grows with them).
PYTHON_PATTERN_MAX_CHARS = 1000

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

# (name, schema JSON, prefix | None, suffix | None, origins | None, component name, deprecated)
Row = tuple[str, str, bytes | None, bytes | None, list[str] | None, str, bool]


def schema_warnings(schema: Any, where: str = "parameters") -> list[str]:
    """Declared fields with a missing or unknown `type`: any value passes them."""
    warnings = []
    properties = schema.get("properties") if isinstance(schema, dict) else None
    for name, spec in properties.items() if isinstance(properties, dict) else ():
        if not isinstance(spec, dict):
            continue  # a problem, reported by `compile_schemas`
        kind = spec.get("type")
        if kind == "object":
            warnings.extend(schema_warnings(spec, f"{where}.properties.{name}"))
        elif not isinstance(kind, str) or kind not in SCHEMA_TYPES:
            warnings.append(
                f"{where}.properties.{name}: type {kind!r} is not one of {sorted(SCHEMA_TYPES)}; "
                "any value is accepted"
            )
    return warnings


class PythonPatterns:
    """`IXP_SCHEMA_PATTERNS=python`: the `pattern`s outside the linear-time subset of Rust's `regex`
    (look-around, back references), matched by Python's `re` on strings of at most
    `PYTHON_PATTERN_MAX_CHARS` characters; a longer string fails the pattern. The `check_pattern`
    callback of `RenderTable`."""

    __slots__ = ("compiled",)

    def __init__(self) -> None:
        self.compiled: dict[str, re.Pattern[str]] = {}

    def __call__(self, pattern: str, text: str) -> bool:
        return len(text) <= PYTHON_PATTERN_MAX_CHARS and self.compiled[pattern].search(text) is not None


class Schemas:
    """One registry version's compiled parameter schemas: the Rust table (with each intent's render
    envelope), its rows, the problems found per intent, and the pattern callback."""

    __slots__ = ("check_pattern", "envelopes", "problems", "rows", "table")

    def __init__(
        self,
        table: RenderTable,
        rows: list[Row],
        problems: dict[str, list[str]],
        check_pattern: PythonPatterns | None,
    ) -> None:
        self.table = table
        self.rows = rows
        self.problems = problems
        self.check_pattern = check_pattern
        self.envelopes = {r[0]: (r[2], r[3]) for r in rows if r[2] is not None and r[3] is not None}

    def validate(self, intent: str, parameters: Any) -> dict[str, Any]:
        """The validated parameters (declared keys only, schema order, defaults filled in), or the
        protocol's 400 with Zod's issues."""
        result = self.table.validate(intent, _encode(parameters), self.check_pattern)
        if isinstance(result, bytes):
            props: dict[str, Any] = _decode(result)
            return props
        if result is None:  # only numbers Rust does not hold: integers beyond 64 bits
            raise IXPError(
                ErrorCode.INVALID_REQUEST,
                "Parameter validation failed: integers beyond 64 bits are not supported",
            )
        message, issues = result
        raise IXPError(ErrorCode.INVALID_REQUEST, message, {"validationErrors": msgspec.Raw(issues)})

    def table_declining(self, intents: frozenset[str]) -> RenderTable:
        """The table again, with `intents` answered in Rust up to validation only: their success is
        declined (e.g. a data provider's data is fetched in Python)."""
        rows = [(*r[:6], True) if r[0] in intents and r[2] is not None else r for r in self.rows]
        return RenderTable(rows, patterns="external")


def _rows(intents: Iterable[Intent], components: Mapping[str, Component]) -> list[Row]:
    rows: list[Row] = []
    for intent in intents:
        schema = _encode(intent.definition.get("parameters")).decode()
        component = components.get(intent.component)
        if component is None:
            rows.append((intent.name, schema, None, None, None, intent.component, False))
            continue
        prefix, suffix = render_envelope(intent, component)
        origins = None if component.any_origin else sorted(component.allowed_origins)
        deprecated = intent.deprecated or component.deprecated
        rows.append((intent.name, schema, prefix, suffix, origins, component.name, deprecated))
    return rows


def compile_schemas(
    intents: Iterable[Intent], components: Mapping[str, Component], patterns: str = "reject"
) -> Schemas:
    """Every intent's schema compiled into one `RenderTable`; what cannot be compiled is a problem
    of its intent (`Schemas.problems`: an empty dict when all is well). `patterns`: a `pattern`
    outside the linear-time subset is a problem (`reject`) or checked by `re` (`python`)."""
    rows = _rows(intents, components)
    table = RenderTable(rows, patterns="external")  # fields outside the subset listed, not fatal
    check_pattern = PythonPatterns() if patterns == "python" else None
    problems: dict[str, list[str]] = {}
    for row in rows:
        name = row[0]
        found = []
        reason = table.fallback_reason(name)
        if reason is not None:
            found.append(reason)
        for at, pattern in table.external_patterns(name):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                found.append(f"{at}.pattern: invalid regular expression {pattern!r}: {exc}")
                continue
            if check_pattern is None:
                found.append(f"{at}.pattern {pattern!r}: {_unsupported(pattern)}")
            else:
                check_pattern.compiled[pattern] = compiled
        if found:
            problems[name] = found
    return Schemas(table, rows, problems, check_pattern)


def _unsupported(pattern: str) -> str:
    try:
        Pattern(pattern)
    except ValueError as exc:
        reason = str(exc)
    else:  # pragma: no cover - the table lists only patterns `Pattern` refuses
        reason = "outside the subset"
    return (
        f"{reason} (only patterns of the linear-time subset of Rust's regex are matched; "
        "IXP_SCHEMA_PATTERNS=python checks the others with Python's re)"
    )
