"""ixp._core.RenderTable: the Rust success path of POST /ixp/render, against the real Python path.

Whenever Rust answers (bytes), the Python path must succeed with the same JSON (same key order,
same int/float types); whenever the Python path fails, Rust must answer None. Rust may also answer
None on valid requests (fallback intents, strings its regex subset cannot decide): the Python path
then runs, so that is never wrong, and the `*_renders_*` tests check that it stays rare.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ixp._core import RenderTable
from ixp.base.errors import ErrorCode, IXPError
from ixp.registry import Registry, RegistryRef, parse_components, parse_intents
from ixp.registry.definitions import Problems
from ixp.render import Renderer, RenderPlan, render_request_decoder
from tests._support import example_components, example_intents

# -- the registry under test ---------------------------------------------------------------------


def build_table(registry: Registry) -> RenderTable:
    """The table the app builds for a registry: every intent (deprecated ones and those without a
    component included: `render` declines them, the Python path answers them)."""
    return RenderPlan(registry).table


def make_registry(intents: list[dict[str, Any]], components: dict[str, Any]) -> Registry:
    problems = Problems()
    registry = Registry(
        parse_intents({"intents": intents}, "intents", problems),
        parse_components({"components": components}, "components", problems),
        {},
        patterns="python",  # the look-ahead pattern of `lookahead` is checked by Python's `re`
    )
    assert not problems.items, problems.items
    return registry


def component(origins: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "framework": "react",
        "remoteUrl": "https://cdn.example.com/c.js",
        "exportName": "C",
        "version": "1.0.0",
        "propsSchema": {"type": "object", "properties": {}},
        "allowedOrigins": origins,
        **extra,
    }


def intent(name: str, parameters: dict[str, Any], comp: str = "Any", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": name,
        "component": comp,
        "version": "1.0.0",
        "parameters": parameters,
        **extra,
    }


ALL_RULES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "choice": {"type": "string", "enum": ["a", "b", "ç", "x y"], "minLength": 9},
        "text": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+[0-9]?$"},
        "code": {"type": "string", "minLength": 3, "maxLength": 3},
        "count": {"type": "integer", "minimum": -3, "maximum": 10},
        "ratio": {"type": "number", "minimum": 0.5, "maximum": 100},
        "big": {"type": "integer"},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "minItems": 1, "maxItems": 3},
        "nested": {
            "type": "object",
            "properties": {
                "x": {"type": "integer"},
                "y": {"type": "string", "default": "yy"},
                "deeper": {"type": "object", "properties": {"z": {"type": "boolean", "default": True}}},
            },
            "required": ["x"],
        },
        "blob": {"type": "object"},
        "anything": {},
        "union": {"type": ["string", "null"]},
        "mystery": {"type": "mystery"},
        "withDefault": {"type": "integer", "default": 7},
        "nullDefault": {"type": "string", "default": None},
        "listDefault": {"type": "array", "default": [{"a": 1, "b": "é\n"}]},
        "requiredWithDefault": {"type": "string", "default": "ignored"},
    },
    "required": ["choice", "requiredWithDefault"],
}

PATTERNS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order": {"type": "string", "pattern": r"^[A-Z]{2}\d{6}$"},
        "word": {"type": "string", "pattern": r"\bfoo\b"},
        "nospace": {"type": "string", "pattern": r"^\S+$"},
        "dot": {"type": "string", "pattern": "^a.c$"},
        "notlower": {"type": "string", "pattern": "[^a-z]"},
        "color": {"type": "string", "pattern": "colou?r|hue{2,3}"},
        "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    },
}

BOUNDS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "i": {"type": "integer", "maximum": 9007199254740992.0},
        "n": {"type": "number", "minimum": 9007199254740993},
        "f": {"type": "number", "minimum": -0.1, "maximum": 0.1},
        "u": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615},
    },
}

RULES = make_registry(
    [
        intent("all_rules", ALL_RULES),
        intent("patterns", PATTERNS),
        intent("bounds", BOUNDS),
        intent("no_params", {"type": "object"}),
        intent("lookahead", {"type": "object", "properties": {"p": {"type": "string", "pattern": "^(?=x)"}}}),
        intent("restricted", {"type": "object", "properties": {"id": {"type": "string"}}}, "Shop"),
        intent("deprecated_intent", {"type": "object", "properties": {}}, deprecated=True),
        intent("deprecated_component", {"type": "object", "properties": {}}, "Old"),
        intent("orphan", {"type": "object"}, "Missing"),
    ],
    {
        "Any": component(["*"]),
        "Shop": component(["https://shop.example.com", "http://localhost:3000"]),
        "Old": component(["*"], deprecated=True),
    },
)
RULES_TABLE = build_table(RULES)
EXAMPLES = make_registry(example_intents()["intents"], example_components()["components"])
EXAMPLES_TABLE = build_table(EXAMPLES)
ORIGINS = [None, "https://shop.example.com", "http://localhost:3000", "https://evil.example.com", ""]

# -- the comparison ------------------------------------------------------------------------------


def python_answer(registry: Registry, body: bytes, origin: str | None) -> bytes | IXPError | None:
    """What the Python path answers: the descriptor, the error, or None for a decoding error."""
    try:
        request = render_request_decoder.decode(body)
    # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a decoded string (a 500 today).
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    if request.intent is None:
        return IXPError(ErrorCode.INVALID_REQUEST, "Missing required parameter 'intent.name'")
    try:
        return Renderer(RegistryRef(registry)).render(
            request.intent.name, request.intent.parameters, request.options, origin
        )
    except IXPError as exc:
        return exc


def python_path(registry: Registry, body: bytes, origin: str | None) -> bytes | None:
    """What the app answers with status 200, or None when it answers an error."""
    answer = python_answer(registry, body, origin)
    return answer if isinstance(answer, bytes) else None


def canon(data: bytes) -> Any:
    """JSON with key order and int/float kept apart (`{"a": 1}` != `{"a": 1.0}` here)."""
    return json.loads(
        data,
        object_pairs_hook=list,
        parse_int=lambda t: ("int", int(t)),
        parse_float=lambda t: ("float", float(t)),
    )


def check(table: RenderTable, registry: Registry, body: bytes, origin: str | None = None) -> bytes | None:
    """Assert parity for one request (`render`, and `render_outcome`'s answers and errors, against
    the Python path); return `render`'s answer."""
    fast = table.render(body, origin)
    answer = python_answer(registry, body, origin)
    slow = answer if isinstance(answer, bytes) else None
    if fast is not None:
        assert slow is not None, f"Rust rendered what Python refuses: {body!r} origin={origin!r}"
        assert canon(fast) == canon(slow), f"different bodies for {body!r}:\n{fast!r}\n{slow!r}"
    outcome = table.render_outcome(body, origin, registry.schemas.check_pattern)
    if isinstance(outcome, bytes):
        assert slow is not None and canon(outcome) == canon(slow), (body, origin, outcome, answer)
    elif outcome is not None:
        assert isinstance(answer, IXPError), (body, origin, outcome, answer)
        details = None if answer.details is None else msgspec.json.encode(answer.details)
        assert outcome == (answer.status, answer.code.value, answer.message, details), (body, origin)
    return fast


def rules(body: Any, origin: str | None = None) -> bytes | None:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return check(RULES_TABLE, RULES, raw, origin)


def props(rendered: bytes | None) -> Any:
    assert rendered is not None
    return json.loads(rendered)["record"]["props"]


BASE = {"choice": "a", "requiredWithDefault": "r"}


def all_rules(**params: Any) -> bytes | None:
    return rules({"intent": {"name": "all_rules", "parameters": {**BASE, **params}}})


# -- explicit cases ------------------------------------------------------------------------------


def test_table_shape() -> None:
    assert len(RULES_TABLE) == 9  # every intent: the orphan (no envelope) and deprecated ones too
    # Rendered in Rust when valid (`lookahead` too: `render` declines only the strings its
    # Python-checked pattern must see, i.e. every string given to it).
    assert RULES_TABLE.fast_intents == [
        "all_rules",
        "patterns",
        "bounds",
        "no_params",
        "lookahead",
        "restricted",
    ]
    assert EXAMPLES_TABLE.fast_intents == [i for i in EXAMPLES.intents if i != "show_promo"]
    assert "9 intents, 6 fast" in repr(RULES_TABLE)
    assert RULES_TABLE.external_patterns("lookahead") == [("parameters.properties.p", "^(?=x)")]


def test_valid_request_fills_defaults_in_schema_order() -> None:
    rendered = rules(
        {"intent": {"name": "all_rules", "parameters": {"requiredWithDefault": "r", "choice": "ç"}}}
    )
    assert list(props(rendered).items()) == [
        ("choice", "ç"),
        ("withDefault", 7),
        ("nullDefault", None),
        ("listDefault", [{"a": 1, "b": "é\n"}]),
        ("requiredWithDefault", "r"),
    ]
    envelope = RenderPlan(RULES).envelopes["all_rules"]
    assert rendered is not None and rendered.startswith(envelope[0]) and rendered.endswith(envelope[1])
    assert props(rules({"intent": {"name": "no_params"}})) == {}
    assert props(rules({"intent": {"name": "no_params", "parameters": {"x": 1}}, "options": None})) == {}


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({"choice": "b"}, True),
        ({"choice": "x y"}, True),
        ({"choice": "c"}, False),
        ({"choice": "A"}, False),
        ({"choice": None}, False),
        ({"text": "ab"}, True),
        ({"text": "abcd5"}, True),
        ({"text": "a"}, False),
        ({"text": "abcdef"}, False),
        ({"text": "AB"}, False),
        ({"text": 5}, False),
        ({"text": None}, False),
        ({"count": -3}, True),
        ({"count": 10}, True),
        ({"count": 11}, False),
        ({"count": -4}, False),
        ({"count": 2.0}, True),
        ({"count": 2.5}, False),
        ({"count": True}, False),
        ({"count": "2"}, False),
        ({"ratio": 0.5}, True),
        ({"ratio": 100}, True),
        ({"ratio": 0.49}, False),
        ({"ratio": 100.5}, False),
        ({"flag": False}, True),
        ({"flag": 0}, False),
        ({"flag": None}, False),
        ({"tags": [1, "x", None]}, True),
        ({"tags": []}, False),
        ({"tags": [1, 2, 3, 4]}, False),
        ({"tags": {}}, False),
        ({"nested": {"x": 1, "z": 2}}, True),
        ({"nested": {"x": 1, "deeper": {"z": False, "q": 1}}}, True),
        ({"nested": {"x": 1, "deeper": {"z": 1}}}, False),
        ({"nested": {"y": "q"}}, False),
        ({"nested": []}, False),
        ({"nested": None}, False),
        ({"blob": {"k": [1, {"a": 1}]}}, True),
        ({"blob": []}, False),
        ({"blob": None}, False),
        ({"anything": None}, True),
        ({"anything": [{"x": []}]}, True),
        ({"union": 5}, True),
        ({"mystery": "x"}, True),
        ({"withDefault": None}, False),
        ({"undeclared": {"deep": [1, 2]}}, True),
    ],
)
def test_each_rule(params: dict[str, Any], ok: bool) -> None:
    # `rules` asserts parity with the Python path; this pins which way each case goes.
    assert (all_rules(**params) is not None) is ok


def test_nested_objects_drop_unknown_keys_and_fill_defaults() -> None:
    out = props(all_rules(nested={"x": 1, "junk": 2, "deeper": {"junk": 3}}))
    assert out["nested"] == {"x": 1, "y": "yy", "deeper": {"z": True}}
    assert list(out) == [
        "choice",
        "nested",
        "withDefault",
        "nullDefault",
        "listDefault",
        "requiredWithDefault",
    ]


def test_numbers_like_msgspec() -> None:
    assert props(all_rules(big=18446744073709551615))["big"] == 18446744073709551615
    assert props(all_rules(big=-9223372036854775808))["big"] == -9223372036854775808
    # msgspec decodes these to Python ints, which Rust leaves to Python.
    assert all_rules(big=18446744073709551616) is None
    assert all_rules(big=-9223372036854775809) is None
    raw = b'{"intent":{"name":"all_rules","parameters":{"choice":"a","requiredWithDefault":"r",%s}}}'
    # Floats that overflow: msgspec refuses them ("Number out of range").
    for literal in [
        b'"anything":1e400',
        b'"anything":-1e400',
        b'"undeclared":[1e999]',
        b'"big":1.7976931348623159e308',
    ]:
        assert rules(raw % literal) is None
        assert python_path(RULES, raw % literal, None) is None
    for literal in [
        b'"anything":1e-400',
        b'"anything":-0',
        b'"count":1E1',
        b'"anything":1.7976931348623158e308',
    ]:
        assert rules(raw % literal) is not None
    # A float with a zero fraction passes as an integer and stays a float.
    assert ("count", ("float", 2.0)) in canon(rules(raw % b'"count":2.0') or b"")[0][1][2][1]
    assert rules(b'{"x":1e400,"intent":{"name":"no_params"}}') is None  # stricter than msgspec: fine


def test_bounds_compare_exactly_like_python() -> None:
    def bounds(**params: Any) -> bytes | None:
        return rules({"intent": {"name": "bounds", "parameters": params}})

    assert bounds(i=9007199254740992) is not None
    assert bounds(i=9007199254740993) is None  # rounds to 2**53 as a float; Python compares exactly
    assert bounds(n=9007199254740993) is not None
    assert bounds(n=9007199254740992) is None
    assert bounds(n=9007199254740992.0) is None
    assert bounds(f=0.1) is not None
    assert bounds(f=0.10000000000000002) is None
    assert bounds(u=18446744073709551615) is not None


def test_duplicate_keys_last_value_first_position() -> None:
    body = (
        b'{"intent":{"name":"all_rules","parameters":{"choice":"b","requiredWithDefault":"r",'
        b'"withDefault":1,"choice":"a","withDefault":2,"blob":{"k":1,"j":2,"k":3}}}}'
    )
    out = props(rules(body))
    assert list(out.items())[:3] == [("choice", "a"), ("blob", {"k": 3, "j": 2}), ("withDefault", 2)]
    assert list(out["blob"]) == ["k", "j"]
    good, bad = b'"count":99,"count":2', b'"count":2,"count":99'
    raw = b'{"intent":{"name":"all_rules","parameters":{"choice":"a","requiredWithDefault":"r",%s}}}'
    assert rules(raw % good) is not None
    assert rules(raw % bad) is None
    # msgspec type-checks every occurrence of a struct field; the last one wins.
    assert rules(b'{"intent":null,"intent":{"name":"no_params"}}') is not None
    assert rules(b'{"intent":{"name":"no_params"},"intent":null}') is None
    assert rules(b'{"intent":{"name":5,"name":"no_params"}}') is None
    assert rules(b'{"intent":{"name":"nope","name":"no_params"}}') is not None
    assert rules(b'{"options":5,"options":null,"intent":{"name":"no_params"}}') is None
    assert rules(b'{"intent":{"name":"no_params","parameters":5,"parameters":{}}}') is not None


def test_options_merge_like_a_dict_spread() -> None:
    body = (
        b'{"intent":{"name":"all_rules","parameters":{"choice":"a","requiredWithDefault":"r"}},'
        b'"options":{"new":1,"withDefault":"over","new":2,"choice":{"k":"v"},"count":3}}'
    )
    assert list(props(rules(body)).items()) == [
        ("choice", {"k": "v"}),
        ("withDefault", "over"),
        ("nullDefault", None),
        ("listDefault", [{"a": 1, "b": "é\n"}]),
        ("requiredWithDefault", "r"),
        ("new", 2),
        ("count", 3),
    ]
    assert rules({"intent": {"name": "no_params"}, "options": {}}) is not None
    for options in [[], "x", 5, True]:
        assert rules({"intent": {"name": "no_params"}, "options": options}) is None


def test_request_shape() -> None:
    assert rules({"intent": {"name": "no_params"}}) is not None
    for body in [
        {"intent": {"name": ""}},
        {"intent": {}},
        {"intent": None},
        {},
        [],
        "x",
        {"intent": "no_params"},
        {"intent": {"name": "unknown"}},
        {"intent": {"name": "no_params", "parameters": None}},
        {"intent": {"name": "no_params", "parameters": []}},
        {"intent": {"name": "all_rules"}},  # required parameters missing
    ]:
        assert rules(body) is None, body
    for raw in [b"", b" ", b"{", b'{"intent":{"name":"no_params"}} x', b'{"intent":{"name":"no_params"},}']:
        assert rules(raw) is None
    for raw in [
        b'\xef\xbb\xbf{"intent":{"name":"no_params"}}',
        b'{"intent":{"name":"no_params","x":"\\ud800"}}',
        b'{"intent":{"name":"no_params","x":"\\q"}}',
        b'{"intent":{"name":"no_params","x":"\x01"}}',
        b'{"intent":{"name":"no_params","x":01}}',
        b'{"intent":{"name":"no_params","x":NaN}}',
        b'{"intent":{"name":"no_params","x":"\xff"}}',  # msgspec skips it; refusing is still right
    ]:
        assert rules(raw) is None
    assert rules(b' \t\r\n{"intent" : {"name":"no_params"}}\n') is not None


def test_strings_unicode_and_escapes() -> None:
    assert props(all_rules(code="\u00e9t\u00e9"))["code"] == "été"  # 3 code points, 5 bytes
    assert props(all_rules(code="a\U0001f600b"))["code"] == "a\U0001f600b"
    assert all_rules(code="ab") is None
    assert all_rules(code="abcd") is None
    assert all_rules(text="ab\U0001f600") is None  # pattern [a-z]
    raw = (
        b'{"intent":{"name":"all_rules","parameters":{"choice":"a","requiredWithDefault":"r","anything":%s}}}'
    )
    escaped = b'"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u00e9\\ud83d\\ude00\xc3\xa9"'
    assert props(rules(raw % escaped))["anything"] == '"\\/\b\f\n\r\t\x01é\U0001f600é'


@pytest.mark.parametrize(
    ("field", "value", "decided"),
    [
        ("order", "AB123456", True),
        ("order", "AB12345", True),
        ("order", "AB123456\n", False),  # Python's $ matches before a final newline
        ("order", "AB12345\u0663", False),  # \d: Unicode digit tables are not compared
        ("word", "a foo b", True),
        ("word", "afoo", True),
        ("word", "é foo", False),  # \b on non-ASCII text
        ("nospace", "abc", True),
        ("nospace", "a c", True),
        ("nospace", "a\x1cc", False),  # Python's \s matches \x1c-\x1f
        ("dot", "abc", True),
        ("dot", "a\nc", True),
        ("dot", "aéc", True),
        ("notlower", "abc", True),
        ("notlower", "abC", True),
        ("color", "my colour", True),
        ("color", "hueee", True),
        ("date", "2024-01-02", True),
    ],
)
def test_patterns(field: str, value: str, decided: bool) -> None:
    body = {"intent": {"name": "patterns", "parameters": {field: value}}}
    rendered = rules(body)
    python_ok = python_path(RULES, json.dumps(body).encode(), None) is not None
    assert (rendered is not None) == (decided and python_ok)


def test_fallback_intents_and_origins(caplog: pytest.LogCaptureFixture) -> None:
    assert rules({"intent": {"name": "lookahead", "parameters": {"p": "x"}}}) is None
    assert python_path(RULES, b'{"intent":{"name":"lookahead","parameters":{"p":"x"}}}', None) is not None
    with caplog.at_level(logging.WARNING, logger="ixp.render"):
        for name in ["deprecated_intent", "deprecated_component"]:
            assert rules({"intent": {"name": name}}) is None
            assert python_path(RULES, json.dumps({"intent": {"name": name}}).encode(), None) is not None
    assert "deprecated" in caplog.text
    assert rules({"intent": {"name": "orphan"}}) is None  # no component: 404 in Python
    body = {"intent": {"name": "restricted", "parameters": {"id": "1"}}}
    assert rules(body) is not None
    assert rules(body, "https://shop.example.com") is not None
    assert rules(body, "http://localhost:3000") is not None
    assert rules(body, "https://shop.example.com/") is None
    assert rules(body, "https://evil.example.com") is None
    assert rules(body, "") is None
    assert rules({"intent": {"name": "no_params"}}, "https://evil.example.com") is not None
    assert RULES_TABLE.render(b'{"intent":{"name":"no_params"}}', "\ud800") is None


def test_constructor() -> None:
    table = RenderTable(
        [("x", '{"type":"object","properties":{"p":{"type":"string","pattern":"(?=a)"}}}', b"", b"", None)]
    )
    assert len(table) == 1 and table.fast_intents == []
    assert RenderTable([("x", "null", b"<", b">", ["o"])]).fast_intents == []
    assert (
        RenderTable([("x", '{"type":"object"}', b"<", b">", ["o"])]).render(b'{"intent":{"name":"x"}}', "o")
        == b"<{}>"
    )
    with pytest.raises(ValueError, match="broken"):
        RenderTable([("broken", "{", b"", b"", None)])
    with pytest.raises(ValueError, match="twice"):
        RenderTable([("d", "null", b"", b"", None), ("d", "null", b"", b"", None)])
    deep = "[" * 1000 + "]" * 1000  # valid JSON, too deep to reproduce: fallback, not an error
    assert RenderTable([("deep", deep, b"", b"", None)]).fast_intents == []
    with pytest.raises(TypeError):
        RenderTable([("x", "null", "not bytes", b"", None)])  # type: ignore[list-item]


def test_examples_render_like_python() -> None:
    for body in [
        {"intent": {"name": "show_products", "parameters": {"category": "books", "limit": 5}}},
        {"intent": {"name": "show_products", "parameters": {"category": "books"}}, "options": {"sort": "x"}},
        {"intent": {"name": "weather_forecast", "parameters": {"city": "Paris", "days": 14}}},
        {"intent": {"name": "track_order", "parameters": {"orderId": "AB123456"}}},
        {"intent": {"name": "book_appointment", "parameters": {"date": "2024-05-01", "time": "9:30"}}},
        {"intent": {"name": "show_welcome"}},
        {"intent": {"name": "support_chat", "parameters": {"topic": "billing"}}},
        {"intent": {"name": "show_faq", "parameters": {"query": "x" * 200}}},
    ]:
        raw = json.dumps(body).encode()
        assert check(EXAMPLES_TABLE, EXAMPLES, raw) is not None, body
    raw = b'{"intent":{"name":"track_order","parameters":{"orderId":"AB123456"}}}'
    assert check(EXAMPLES_TABLE, EXAMPLES, raw, "https://shop.example.com") is not None
    assert check(EXAMPLES_TABLE, EXAMPLES, raw, "https://evil.example.com") is None
    assert check(EXAMPLES_TABLE, EXAMPLES, b'{"intent":{"name":"show_promo"}}') is None


def test_deep_nesting() -> None:
    for depth in [100, 124, 125, 126, 1000, 100_000]:
        raw = b'{"intent":{"name":"no_params","parameters":{"a":%s1%s}}}' % (b"[" * depth, b"]" * depth)
        rendered = RULES_TABLE.render(raw, None)
        assert (rendered is not None) == (depth + 3 <= 128)
    assert RULES_TABLE.render(b'{"a":' * 100_000, None) is None


# -- generated requests ----------------------------------------------------------------------------


class Lit:
    """Raw JSON text inside a generated document (number spellings, escapes)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Lit({self.text!r})"


class Pairs:
    """A JSON object that may repeat keys."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"Pairs({self.pairs!r})"


def encode(value: Any, ascii_only: bool) -> str:
    if isinstance(value, Lit):
        return value.text
    if isinstance(value, Pairs):
        return (
            "{" + ",".join(f"{encode(k, ascii_only)}:{encode(v, ascii_only)}" for k, v in value.pairs) + "}"
        )
    if isinstance(value, dict):
        return encode(Pairs(list(value.items())), ascii_only)
    if isinstance(value, list):
        return "[" + ",".join(encode(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


NUMBER_LITERALS = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(
        [
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "9223372036854775808",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.79769313486231580793728971405301e308",
            "1.7976931348623159e308",
            "2.4703282292062327e-324",
            "-0",
            "-0.0",
            "1E2",
            "2.0",
            "1e400",
            "0e0",
        ]
    ),
).map(Lit)

STRING_LITERALS = st.sampled_from(
    ['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\u00e9"', '"a\\/b"', '"\\"q\\""', '"\\u0000"']
).map(Lit)

TEXT = st.one_of(
    st.text(max_size=8), st.sampled_from(["a", "b", "ç", "x y", "ab", "abcd5", "foo", "AB123456"])
)
KEYS = st.one_of(
    st.sampled_from([*ALL_RULES["properties"], "x", "y", "z", "deeper", ""]), st.text(max_size=3)
)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-20, max_value=20),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    NUMBER_LITERALS,
    STRING_LITERALS,
)
JSON = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(st.tuples(KEYS, inner), max_size=5).map(Pairs),
    ),
    max_leaves=12,
)


def property_values(name: str, spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values near and across the rules of one declared property (valid ones included)."""
    kind = spec.get("type")
    near: st.SearchStrategy[Any]
    if kind == "string" and "enum" in spec:
        near = st.one_of(st.sampled_from(spec["enum"]), TEXT)
    elif kind == "string":
        near = TEXT
    elif kind in ("integer", "number"):
        near = st.one_of(
            st.integers(min_value=-5, max_value=12),
            st.floats(min_value=-5, max_value=120),
            st.sampled_from([2.0, 0.5, 100, 100.5, -3, 10, 11, 2**53 + 1]),
            NUMBER_LITERALS,
        )
    elif kind == "boolean":
        near = st.booleans()
    elif kind == "array":
        near = st.lists(JSON, max_size=4)
    elif kind == "object" and "properties" in spec:
        fields = spec["properties"]
        near = st.lists(
            st.one_of(
                *(st.tuples(st.just(k), property_values(k, v)) for k, v in fields.items()),
                st.tuples(KEYS, JSON),
            ),
            max_size=4,
        ).map(Pairs)
    else:
        near = JSON
    return st.one_of(near, near, JSON)


# JSON that msgspec decodes to i64/u64/finite floats only: every valid request with it renders.
SAFE_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        TEXT,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=10,
)


VALID_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "choice": st.sampled_from(ALL_RULES["properties"]["choice"]["enum"]),
    "text": st.from_regex(r"[a-z]{2,4}[0-9]?", fullmatch=True),
    "code": st.text(min_size=3, max_size=3),
    "count": st.one_of(st.integers(-3, 10), st.integers(-3, 10).map(float)),
    "ratio": st.one_of(st.floats(min_value=0.5, max_value=100), st.integers(1, 100)),
    "big": st.integers(-(2**63), 2**64 - 1),
    "flag": st.booleans(),
    "tags": st.lists(SAFE_JSON, min_size=1, max_size=3),
    "nested": st.fixed_dictionaries(
        {"x": st.integers(-5, 5)},
        optional={"y": TEXT, "deeper": st.fixed_dictionaries({}, optional={"z": st.booleans()})},
    ),
    "blob": st.dictionaries(TEXT, SAFE_JSON, max_size=3),
    "anything": SAFE_JSON,
    "union": SAFE_JSON,
    "mystery": SAFE_JSON,
    "withDefault": st.integers(-5, 5),
    "nullDefault": TEXT,
    "listDefault": st.lists(SAFE_JSON, max_size=3),
    "requiredWithDefault": TEXT,
}
assert set(VALID_VALUES) == set(ALL_RULES["properties"])


@st.composite
def perturbed_parameters(draw: st.DrawFn) -> Pairs:
    """A valid parameters object (random subset, random order), then 0-3 perturbations: a value
    replaced by a near or arbitrary one, a field deleted, duplicated, or an unknown key added."""
    names = draw(st.lists(st.sampled_from(list(VALID_VALUES)), unique=True))
    names = [
        "choice",
        "requiredWithDefault",
        *(n for n in names if n not in ("choice", "requiredWithDefault")),
    ]
    pairs: list[tuple[str, Any]] = [(n, draw(VALID_VALUES[n])) for n in draw(st.permutations(names))]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.integers(0, 3))
        name = draw(st.sampled_from(list(VALID_VALUES)))
        value = draw(property_values(name, ALL_RULES["properties"][name]))
        if op == 0:  # replace (or add)
            pairs = (
                [(k, value if k == name else v) for k, v in pairs]
                if any(k == name for k, _ in pairs)
                else [*pairs, (name, value)]
            )
        elif op == 1:  # delete
            pairs = [(k, v) for k, v in pairs if k != name]
        elif op == 2:  # duplicate, before or after
            pairs = draw(st.sampled_from([[*pairs, (name, value)], [(name, value), *pairs]]))
        else:  # unknown key
            pairs = [*pairs, (draw(KEYS), draw(JSON))]
    return Pairs(pairs)


PARAMETERS = st.tuples(
    st.booleans(),
    st.lists(
        st.one_of(
            *(st.tuples(st.just(k), property_values(k, v)) for k, v in ALL_RULES["properties"].items()),
            st.tuples(KEYS, JSON),
        ),
        max_size=10,
    ),
    # With the required fields first most of the time, the other rules decide.
).map(lambda t: Pairs([*(BASE.items() if t[0] else []), *t[1]]))

OPTIONS = st.one_of(st.none(), st.lists(st.tuples(KEYS, JSON), max_size=4).map(Pairs), JSON)
NAMES = st.sampled_from(
    [
        "all_rules",
        "patterns",
        "bounds",
        "no_params",
        "lookahead",
        "restricted",
        "deprecated_intent",
        "orphan",
        "",
        "unknown",
    ]
)


@st.composite
def request_bodies(draw: st.DrawFn) -> bytes:
    name = draw(NAMES)
    if name == "patterns":
        parameters: Any = draw(
            st.lists(
                st.tuples(st.sampled_from(list(PATTERNS["properties"])), st.one_of(TEXT, JSON)), max_size=4
            ).map(Pairs)
        )
    elif name == "bounds":
        parameters = draw(
            st.lists(
                st.tuples(st.sampled_from(["i", "n", "f", "u"]), property_values("", {"type": "number"})),
                max_size=3,
            ).map(Pairs)
        )
    else:
        parameters = draw(st.one_of(perturbed_parameters(), perturbed_parameters(), PARAMETERS))
    intent: list[tuple[str, Any]] = [("name", draw(st.one_of(st.just(name), st.just(name), JSON)))]
    if draw(st.booleans()):
        intent.append(("parameters", draw(st.one_of(st.just(parameters), st.just(parameters), JSON))))
    if draw(st.integers(0, 5)) == 0:
        intent.append((draw(st.sampled_from(["name", "parameters", "extra"])), draw(JSON)))
    intent = draw(st.permutations(intent))
    top: list[tuple[str, Any]] = [
        ("intent", draw(st.one_of(st.just(Pairs(intent)), st.just(Pairs(intent)), JSON)))
    ]
    if draw(st.booleans()):
        top.append(("options", draw(OPTIONS)))
    if draw(st.integers(0, 5)) == 0:
        top.append((draw(st.sampled_from(["intent", "options", "other"])), draw(JSON)))
    top = draw(st.permutations(top))
    text = encode(Pairs(top), draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=request_bodies(), origin=st.sampled_from(ORIGINS))
def test_generated_requests_match_python(body: bytes, origin: str | None) -> None:
    check(RULES_TABLE, RULES, body, origin)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=request_bodies(), position=st.integers(min_value=0), byte=st.integers(0, 255), op=st.integers(0, 2)
)
def test_mutated_requests_match_python(body: bytes, position: int, byte: int, op: int) -> None:
    i = position % (len(body) + 1)
    mutated = [body[:i] + bytes([byte]) + body[i:], body[:i] + body[i + 1 :], body[:i]][op]
    check(RULES_TABLE, RULES, mutated, None)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes(data: bytes) -> None:
    check(RULES_TABLE, RULES, data, None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    choice=st.sampled_from(ALL_RULES["properties"]["choice"]["enum"]),
    text=st.from_regex(r"[a-z]{2,4}[0-9]?", fullmatch=True),
    count=st.one_of(st.integers(-3, 10), st.integers(-3, 10).map(float)),
    ratio=st.floats(min_value=0.5, max_value=100),
    tags=st.lists(SAFE_JSON, min_size=1, max_size=3),
    nested_x=st.integers(-(2**63), 2**64 - 1),
    anything=SAFE_JSON,
    options=st.dictionaries(TEXT, SAFE_JSON, max_size=3),
    ascii_only=st.booleans(),
)
def test_valid_requests_render_in_rust(
    choice: str,
    text: str,
    count: float,
    ratio: float,
    tags: list[Any],
    nested_x: int,
    anything: Any,
    options: dict[str, Any],
    ascii_only: bool,
) -> None:
    params = {
        **BASE,
        "choice": choice,
        "text": text,
        "count": count,
        "ratio": ratio,
        "tags": tags,
        "nested": {"x": nested_x},
        "anything": anything,
        "flag": True,
    }
    raw = encode({"intent": {"name": "all_rules", "parameters": params}, "options": options}, ascii_only)
    assert check(RULES_TABLE, RULES, raw.encode()) is not None, raw


def ascii_decidable(text: str) -> bool:
    return text.isascii() and not any("\x1c" <= c <= "\x1f" for c in text) and not text.endswith("\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(list(PATTERNS["properties"])), data=st.data())
def test_pattern_values_match_python(field: str, data: st.DataObject) -> None:
    pattern = PATTERNS["properties"][field]["pattern"]
    value = data.draw(
        st.one_of(st.from_regex(pattern), st.from_regex(pattern, fullmatch=True), st.text(max_size=6))
    )
    raw = json.dumps({"intent": {"name": "patterns", "parameters": {field: value}}}).encode()
    fast = check(RULES_TABLE, RULES, raw)
    if python_path(RULES, raw, None) is not None and ascii_decidable(value):
        assert fast is not None, value
