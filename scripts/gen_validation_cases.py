"""Writes the fixtures of the Rust validator and render pipeline, with the outcome of the Python
reference as the expected one:

- tests/fixtures/validation_cases.json: keyword cases of `ixp.validation.ParameterValidator`.
  Each case: {"name", "schema", "parameters", "expected"}, where `expected` is either
  {"props": ...} or {"issues": [...], "issues_json": "<msgspec encoding>", "message": "..."}.
- tests/fixtures/render_cases.json: {"intents": [...], "cases": [...]}: a registry's intents as
  `RenderTable` takes them, and requests (body text, origin) with what `ixp.render` answers:
  {"ok": descriptor} | {"error": {status, code, message, details_json}} | {"decode_error": msg}.

`cargo test -p ixp-core --test validation_cases` checks the Rust side against them.

Run from the repository root, with the extension built (`maturin develop`):
    .venv/bin/python scripts/gen_validation_cases.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from ixp.definitions import Problems
from ixp.errors import IXPError
from ixp.registry import Registry, parse_components, parse_intents
from ixp.render import render_request_decoder, resolve_intent
from ixp.validation import ParameterValidator

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
OUT = FIXTURES / "validation_cases.json"
RENDER_OUT = FIXTURES / "render_cases.json"

ALL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "s": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
        "e": {"type": "string", "enum": ["red", "green", "blue"]},
        "i": {"type": "integer", "minimum": 1, "maximum": 10},
        "n": {"type": "number", "minimum": 0.5, "maximum": 99.5},
        "b": {"type": "boolean"},
        "a": {"type": "array", "minItems": 1, "maxItems": 3},
        "o": {
            "type": "object",
            "properties": {
                "x": {"type": "integer"},
                "y": {"type": "string", "default": "yy"},
                "deep": {
                    "type": "object",
                    "properties": {"z": {"type": "boolean"}, "w": {"type": "string", "maxLength": 1}},
                    "required": ["z"],
                },
            },
            "required": ["x"],
        },
        "any": {},
        "anyobj": {"type": "object"},
        "d": {"type": "integer", "default": 7},
        "dn": {"type": "string", "default": None},
        "dl": {"type": "array", "default": [{"k": "é\n"}, 1.5]},
        "u": {"type": ["string", "null"]},
        "mystery": {"type": "mystery"},
    },
    "required": ["s", "e"],
}
OK = {"s": "abc", "e": "red"}

REQUIRED_KINDS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "str": {"type": "string"},
        "int": {"type": "integer"},
        "num": {"type": "number"},
        "bool": {"type": "boolean"},
        "arr": {"type": "array"},
        "obj": {"type": "object", "properties": {"q": {"type": "string"}}},
        "en": {"type": "string", "enum": ["a'b", 'q"t', "é"]},
        "enumNotString": {"type": "integer", "enum": ["x"]},
        "untyped": {"description": "no type"},
        "mystery": {"type": "mystery"},
        "union": {"type": ["string", "null"]},
        "withDefault": {"type": "string", "default": "ignored when required"},
    },
    "required": ["str", "int", "num", "bool", "arr", "obj", "en", "enumNotString", "untyped", "mystery", "union", "withDefault"],
}

BOUNDS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tiny": {"type": "number", "minimum": 1e-7},
        "small": {"type": "number", "minimum": 0.00001},
        "third": {"type": "number", "maximum": 0.3333333333333333},
        "neg": {"type": "number", "minimum": -0.5, "maximum": -0.25},
        "whole": {"type": "number", "minimum": 2.0, "maximum": 3.0},
        "huge": {"type": "number", "maximum": 1e16},
        "huger": {"type": "number", "minimum": 1e20},
        "max": {"type": "number", "minimum": 1.7976931348623157e308},
        "int64": {"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807},
        "u64": {"type": "integer", "minimum": 18446744073709551615},
        "lenMax": {"type": "string", "minLength": 18446744073709551615},
        "zero": {"type": "integer", "minimum": 0, "maximum": 0},
        "intFloat": {"type": "integer", "maximum": 2.5},
        "exact": {"type": "number", "minimum": 9007199254740993},
    },
}

PATTERNS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{4}$"},
        "word": {"type": "string", "pattern": r"^\w+$"},
        "digits": {"type": "string", "pattern": r"\d"},
        "dollar": {"type": "string", "pattern": "^ab$"},
        "both": {"type": "string", "minLength": 3, "maxLength": 4, "pattern": "^x"},
        "enumIgnoresRest": {"type": "string", "enum": ["long"], "maxLength": 1, "pattern": "^z"},
    },
}

NAMES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "with.dot": {"type": "integer"},
        "ünï": {"type": "object", "properties": {"k\"ey": {"type": "string"}}, "required": ["k\"ey"]},
        "": {"type": "boolean"},
    },
    "required": ["with.dot"],
}

EMPTY: dict[str, Any] = {"type": "object"}
NULL_PROPS: dict[str, Any] = {"type": "object", "properties": None}

VALUES: list[Any] = ["text", 5, 2.5, True, None, [1], {"k": 1}]


def cases() -> list[tuple[str, dict[str, Any], Any]]:
    out: list[tuple[str, dict[str, Any], Any]] = []

    def add(name: str, schema: dict[str, Any], parameters: Any) -> None:
        out.append((name, schema, parameters))

    add("all: minimal valid, defaults filled in", ALL, OK)
    add("all: every field valid, extra keys dropped", ALL, {
        **OK, "i": 10, "n": 0.5, "b": False, "a": [1, "x", None], "extra": 1,
        "o": {"x": -3, "deep": {"z": True, "extra": [1]}, "dropped": {}},
        "any": [1, {"k": None}], "anyobj": {"kept": {"as": "is"}}, "d": 0, "dn": "x", "u": None,
        "mystery": {"any": "thing"}, "dl": [],
    })
    add("all: integer given as 2.0 passes", ALL, {**OK, "i": 2.0})
    add("all: number given an integer", ALL, {**OK, "n": 42})
    add("all: optional fields null", ALL, {**OK, "i": None, "o": None, "dn": None, "a": None})
    add("all: absent required", ALL, {})
    for field in ("s", "e", "i", "n", "b", "a", "o", "anyobj"):
        for value in VALUES:
            add(f"all: {field} = {value!r}", ALL, {**OK, field: value})
    add("all: enum wrong value with quotes", ALL, {**OK, "e": "it's \"red\"\n"})
    add("all: enum case", ALL, {**OK, "e": "Red"})
    add("all: string too short, and pattern", ALL, {**OK, "s": "A"})
    add("all: string too long", ALL, {**OK, "s": "abcdef"})
    add("all: string length in code points", ALL, {**OK, "s": "éé"})
    add("all: pattern only", ALL, {**OK, "s": "ab1"})
    add("all: integer below, above", ALL, {**OK, "i": 0})
    add("all: integer above", ALL, {**OK, "i": 11})
    add("all: integer as fraction", ALL, {**OK, "i": 2.5})
    add("all: integer as fraction out of range", ALL, {**OK, "i": 99.5})
    add("all: integer as big float", ALL, {**OK, "i": 1e300})
    add("all: number below", ALL, {**OK, "n": 0.49})
    add("all: number above", ALL, {**OK, "n": 100})
    add("all: array too short", ALL, {**OK, "a": []})
    add("all: array too long", ALL, {**OK, "a": [1, 2, 3, 4]})
    add("all: nested required missing", ALL, {**OK, "o": {}})
    add("all: nested wrong types", ALL, {**OK, "o": {"x": "1", "y": 2, "deep": {"z": 1, "w": "ab"}}})
    add("all: nested deep missing", ALL, {**OK, "o": {"x": 1, "deep": {}}})
    add("all: nested deep not an object", ALL, {**OK, "o": {"x": 1, "deep": []}})
    add("all: several issues at once", ALL, {
        "s": "TOO LONG!", "e": 1, "i": 0.5, "n": -1, "b": "yes", "a": [1, 2, 3, 4, 5],
        "o": {"x": 1.5, "deep": {"w": "long"}}, "anyobj": [], "d": "seven",
    })
    add("all: parameters is a string", ALL, "x")
    add("all: parameters is null", ALL, None)
    add("all: parameters is an array", ALL, [OK])
    add("all: parameters is a number", ALL, 1)
    add("required: everything absent", REQUIRED_KINDS, {})
    add("required: everything present", REQUIRED_KINDS, {
        "str": "", "int": 0, "num": 0, "bool": False, "arr": [], "obj": {}, "en": "é",
        "enumNotString": 1, "untyped": None, "mystery": None, "union": 1, "withDefault": "given",
    })
    add("required: enum quoting", REQUIRED_KINDS, {"en": "x"})
    add("required: enum wrong type", REQUIRED_KINDS, {"en": 5})
    add("bounds: all valid", BOUNDS, {
        "tiny": 1e-7, "small": 1e-5, "third": 0.1, "neg": -0.3, "whole": 2, "huge": 1e16,
        "huger": 1e20, "max": 1.7976931348623157e308, "int64": -9223372036854775808,
        "u64": 18446744073709551615, "zero": 0, "intFloat": 2, "exact": 9007199254740993,
    })
    add("bounds: all below", BOUNDS, {
        "tiny": 0, "small": 0.000009, "neg": -1, "whole": 1.5, "huger": 99999999999999999999.0,
        "max": 1e308, "u64": 18446744073709551614, "zero": -1, "exact": 9007199254740992,
    })
    add("bounds: all above", BOUNDS, {
        "third": 0.33333333333333337, "neg": 0, "whole": 3.5, "huge": 1e17, "zero": 1,
        "intFloat": 3, "int64": 9223372036854775807,
    })
    add("bounds: exact float vs int", BOUNDS, {"exact": 9007199254740992.0, "intFloat": 2.0})
    add("bounds: huge length", BOUNDS, {"lenMax": "abc"})
    add("patterns: valid", PATTERNS, {
        "code": "AB1234", "word": "héllo_1", "digits": "a1", "dollar": "ab", "both": "xyz",
        "enumIgnoresRest": "long",
    })
    add("patterns: invalid", PATTERNS, {
        "code": "ab1234", "word": "a b", "digits": "abc", "dollar": "ab\n", "both": "yy",
        "enumIgnoresRest": "z",
    })
    add("patterns: unicode word and digits", PATTERNS, {"word": "日本語", "digits": "٣"})
    add("names: paths with dots and quotes", NAMES, {"ünï": {}, "": "no"})
    add("names: missing", NAMES, {})
    add("names: valid", NAMES, {"with.dot": 1, "ünï": {"k\"ey": "v"}, "": True})
    add("empty schema drops everything", EMPTY, {"a": 1})
    add("empty schema, not an object", EMPTY, [])
    add("null properties", NULL_PROPS, {"a": 1})
    return out


# -- render: the decision order of `ixp.render.resolve_intent` ------------------------------------


def _component(origins: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "framework": "react",
        "remoteUrl": "https://cdn.example.com/c.js",
        "exportName": "C",
        "version": "1.0.0",
        "propsSchema": {"type": "object", "properties": {}},
        "allowedOrigins": origins,
        **extra,
    }


def _intent(name: str, parameters: dict[str, Any], comp: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": name,
        "component": comp,
        "version": "1.0.0",
        "parameters": parameters,
        **extra,
    }


SEARCH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "q": {"type": "string", "minLength": 2},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 12},
        "sort": {"type": "string", "enum": ["price", "rating"]},
    },
    "required": ["q"],
}


def render_registry() -> Registry:
    problems = Problems()
    registry = Registry(
        parse_intents(
            {
                "intents": [
                    _intent("search", SEARCH, "Grid"),
                    _intent("shop", SEARCH, "Shop"),
                    _intent("old_intent", SEARCH, "Grid", deprecated=True),
                    _intent("old_component", SEARCH, "Old"),
                    _intent("orphan", SEARCH, "Missing"),
                    _intent("lookahead", {"type": "object", "properties": {"p": {"type": "string", "pattern": "^(?=x)"}}}, "Shop"),
                ]
            },
            "intents",
            problems,
        ),
        parse_components(
            {
                "components": {
                    "Grid": _component(["*"]),
                    "Shop": _component(["https://shop.example.com", "http://localhost:3000"]),
                    "Old": _component(["https://shop.example.com"], deprecated=True),
                }
            },
            "components",
            problems,
        ),
        None,
    )
    assert not problems.items, problems.items
    return registry


def table_rows(registry: Registry) -> list[dict[str, Any]]:
    """Every intent, as the 7-tuples of `RenderTable` (no envelope: no component)."""
    rows = []
    for name, intent in registry.intents.items():
        envelope = registry.envelopes.get(name)
        component = registry.components.get(intent.component)
        rows.append(
            {
                "name": name,
                "schema": msgspec.json.encode(intent.definition["parameters"]).decode(),
                "prefix": None if envelope is None else envelope[0].decode(),
                "suffix": None if envelope is None else envelope[1].decode(),
                "origins": None if component is None or component.any_origin else sorted(component.allowed_origins),
                "component": intent.component,
                "deprecated": intent.deprecated or (component is not None and component.deprecated),
            }
        )
    return rows


SHOP = "https://shop.example.com"
EVIL = "https://evil.example.com"


def render_requests() -> list[tuple[str, str | None]]:
    ok = '"parameters":{"q":"shoes"}'
    out: list[tuple[str, str | None]] = []
    # Missing name, whatever else is wrong.
    for body in ["{}", '{"intent":null}', '{"intent":{}}', '{"intent":{"name":""}}',
                 '{"intent":{"name":"","parameters":5},"options":{"a":1}}', '{"other":1,"intent":{"parameters":{}}}']:
        out += [(body, None), (body, EVIL)]
    # Origin: only with an Origin header, only when the component exists; before everything else.
    for name in ["search", "shop", "old_intent", "old_component", "orphan", "lookahead", "nope"]:
        for params in [ok, '"parameters":{"q":1,"limit":0}', '"parameters":null', ""]:
            body = f'{{"intent":{{"name":"{name}"{"," if params else ""}{params}}}}}'
            for origin in [None, SHOP, EVIL, "", "http://localhost:3000"]:
                out.append((body, origin))
    # Names and origins with characters to escape.
    out.append((r"""{"intent":{"name":"n\u00e9\"x'"}}""", None))
    out.append(('{"intent":{"name":"shop","parameters":{}}}', "https://e\"v\\il'é"))
    # Options merged like a dict spread; validation of what they replace.
    out.append(('{"intent":{"name":"search","parameters":{"q":"ab","sort":"price"}},"options":{"limit":99,"sort":"x","new":[1]}}', None))
    out.append(('{"intent":{"name":"search","parameters":{"q":"a"}},"options":{"q":"ok"}}', None))
    out.append(('{"intent":{"name":"search","parameters":{"q":"ab"}},"options":null}', None))
    out.append(('{"intent":{"name":"search","parameters":{"q":"ab"}},"options":{}}', None))
    # Duplicate keys: msgspec keeps the last.
    out.append(('{"intent":{"name":"nope","name":"search","parameters":{"q":"x"},"parameters":{"q":"xy"}}}', None))
    # Parameters of every type.
    for params in ['"x"', "1", "2.5", "true", "[]", "[1]"]:
        out.append((f'{{"intent":{{"name":"search","parameters":{params}}}}}', None))
    # msgspec's errors (declined by Rust).
    for body in ["", "[]", "{", '{"intent":5}', '{"intent":{"name":5}}', '{"intent":{"name":null}}',
                 '{"intent":{"name":"search"},"options":"dark"}', '{"intent":{"name":"search"},"options":[]}']:
        out.append((body, None))
    return out


def render_cases() -> dict[str, Any]:
    registry = render_registry()
    cases = []
    for body, origin in render_requests():
        expected: dict[str, Any]
        try:
            request = render_request_decoder.decode(body.encode())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            expected = {"decode_error": str(exc)}
        else:
            try:
                if request.intent is None:
                    raise IXPError(400, "INVALID_REQUEST", "Missing required parameter 'intent.name'")
                descriptor = resolve_intent(
                    registry, request.intent.name, request.intent.parameters, request.options, origin
                )[1]
                expected = {"ok": descriptor.decode()}
            except IXPError as exc:
                expected = {
                    "error": {
                        "status": exc.status,
                        "code": exc.code,
                        "message": exc.message,
                        "details_json": None if exc.details is None else msgspec.json.encode(exc.details).decode(),
                    }
                }
        cases.append({"body": body, "origin": origin, "expected": expected})
    return {"intents": table_rows(registry), "cases": cases}


def main() -> None:
    encode = msgspec.json.encode
    result = []
    for name, schema, parameters in cases():
        # What the server does: parameters decoded by msgspec from the request's JSON.
        params = msgspec.json.decode(encode(parameters))
        validator = ParameterValidator(msgspec.json.decode(encode(schema)))
        try:
            props = validator.validate(params)
            expected: dict[str, Any] = {"props": props}
        except IXPError as exc:
            assert exc.status == 400 and exc.code == "INVALID_REQUEST", exc
            assert exc.details is not None
            issues = exc.details["validationErrors"]
            expected = {
                "issues": issues,
                "issues_json": encode(issues).decode(),
                "message": exc.message,
            }
        result.append({"name": name, "schema": schema, "parameters": parameters, "expected": expected})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(result)} cases written to {OUT}", file=sys.stderr)
    render = render_cases()
    RENDER_OUT.write_text(json.dumps(render, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(render['cases'])} cases written to {RENDER_OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
