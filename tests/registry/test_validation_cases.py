"""The keyword table of tests/fixtures/validation_cases.json (and the requests of render_cases.json),
run here through the registry's compiled schemas as `cargo test -p ixp-core --test
validation_cases` runs them through the Rust crate: props with their key order and number types,
or Zod's issues byte for byte with the joined message."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ixp._core import RenderTable
from ixp.base.errors import IXPError
from ixp.http.errors import envelope_parts
from ixp.registry.definitions import Intent
from ixp.registry.schema import compile_schemas

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES: list[dict[str, Any]] = json.loads((FIXTURES / "validation_cases.json").read_text(encoding="utf-8"))
RENDER: dict[str, Any] = json.loads((FIXTURES / "render_cases.json").read_text(encoding="utf-8"))


def canon(data: bytes | str) -> Any:
    """JSON with key order and int/float kept apart (`{"a": 1}` != `{"a": 1.0}` here)."""
    return json.loads(
        data,
        object_pairs_hook=list,
        parse_int=lambda t: ("int", int(t)),
        parse_float=lambda t: ("float", float(t)),
    )


def test_the_table_is_large() -> None:
    assert len(CASES) > 100 and len(RENDER["cases"]) > 150


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_validation_case(case: dict[str, Any]) -> None:
    schemas = compile_schemas([Intent({"name": "t", "component": "C", "parameters": case["schema"]})], {})
    assert schemas.problems == {}
    # What the server validates: parameters as msgspec decodes them from the request.
    parameters = msgspec.json.decode(msgspec.json.encode(case["parameters"]))
    expected = case["expected"]
    if "props" in expected:
        props = schemas.validate("t", parameters)
        assert canon(msgspec.json.encode(props)) == canon(json.dumps(expected["props"]))
        return
    with pytest.raises(IXPError) as info:
        schemas.validate("t", parameters)
    assert (info.value.status, info.value.code.value) == (400, "INVALID_REQUEST")
    assert info.value.message == expected["message"]
    details = msgspec.json.encode(info.value.details).decode()
    assert details == '{"validationErrors":' + expected["issues_json"] + "}"


def render_rows() -> list[tuple[str, str, bytes | None, bytes | None, list[str] | None, str, bool]]:
    def text(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    return [
        (
            i["name"],
            i["schema"],
            text(i["prefix"]),
            text(i["suffix"]),
            i["origins"],
            i["component"],
            i["deprecated"],
        )
        for i in RENDER["intents"]
    ]


def test_render_cases_answered_by_render_outcome() -> None:
    table = RenderTable(render_rows(), patterns="external")
    deprecated = [i["name"] for i in RENDER["intents"] if i["deprecated"] and i["prefix"] is not None]

    def check_pattern(pattern: str, text: str) -> bool:
        return re.search(pattern, text) is not None

    for case in RENDER["cases"]:
        body, origin, expected = case["body"], case["origin"], case["expected"]
        got = table.render_outcome(body.encode(), origin, check_pattern)
        if got is None:  # Python's to answer: msgspec's errors, deprecated intents' success
            assert "decode_error" in expected or (
                "ok" in expected and any(f'"{name}"' in body for name in deprecated)
            ), case
        elif isinstance(got, bytes):
            assert got.decode() == expected["ok"], case
        else:
            status, code, message, details = got
            want = expected["error"]
            assert (status, code, message) == (want["status"], want["code"], want["message"]), case
            assert (None if details is None else details.decode()) == want["details_json"], case


def test_render_cases_on_the_wire() -> None:
    """`render_wire` (the render lane) sends `render_outcome`'s answer: the descriptor as it is,
    an error as the envelope `ixp.http.errors` writes around the timestamp, byte for byte."""
    table = RenderTable(render_rows(), patterns="external")

    def check_pattern(pattern: str, text: str) -> bool:
        return re.search(pattern, text) is not None

    errors = 0
    for case in RENDER["cases"]:
        body, origin = case["body"].encode(), case["origin"]
        outcome = table.render_outcome(body, origin, check_pattern)
        wire = table.render_wire(body, origin, check_pattern)
        if not isinstance(outcome, tuple):
            assert wire == outcome, case
            continue
        errors += 1
        status, code, message, details = outcome
        assert wire == (status, code, *envelope_parts(code, message, details)), case
        head, tail = envelope_parts(code, message, details)
        envelope = msgspec.json.decode(head + b"2025-01-01T12:00:00.000Z" + tail + b"}}")
        assert envelope["error"]["message"] == case["expected"]["error"]["message"], case
    assert errors > 50
