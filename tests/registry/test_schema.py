"""Parameter validation (docs/protocol.md §2.3): Zod's messages and issue objects, compiled once (in
Rust, with the registry: `ixp.registry.schema`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import msgspec
import pytest

from ixp.base.errors import IXPError
from ixp.registry.definitions import Intent
from ixp.registry.schema import compile_schemas, schema_warnings


class SchemaError(ValueError):
    """The load problems of one schema."""


class ParameterValidator:
    """One intent's schema as the registry compiles it (`compile_schemas`), validated through it."""

    def __init__(self, schema: Any, patterns: str = "reject") -> None:
        intent = Intent({"name": "t", "component": "C", "parameters": schema})
        self.schemas = compile_schemas([intent], {}, patterns)
        if self.schemas.problems:
            raise SchemaError("; ".join(self.schemas.problems["t"]))
        self.warnings = schema_warnings(schema)

    def validate(self, parameters: Any) -> dict[str, Any]:
        return self.schemas.validate("t", parameters)


def schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required is not None:
        out["required"] = required
    return out


def failure(validator: ParameterValidator, params: Any) -> IXPError:
    with pytest.raises(IXPError) as info:
        validator.validate(params)
    assert info.value.status == 400
    assert info.value.code == "INVALID_REQUEST"
    # The issues come as JSON from Rust (`msgspec.Raw`), written into the envelope as they are.
    info.value.details = msgspec.json.decode(msgspec.json.encode(info.value.details))
    return info.value


def test_sdk_example_message_and_issues_byte_for_byte() -> None:
    validator = ParameterValidator(
        schema({"name": {"type": "string"}, "theme": {"type": "string", "enum": ["light", "dark"]}}, ["name"])
    )
    error = failure(validator, {"theme": "blue"})
    assert error.message == (
        "Parameter validation failed: Required at 'name', "
        "Invalid enum value. Expected 'light' | 'dark', received 'blue' at 'theme'"
    )
    assert error.details == {
        "validationErrors": [
            {
                "code": "invalid_type",
                "expected": "string",
                "received": "undefined",
                "path": ["name"],
                "message": "Required",
            },
            {
                "received": "blue",
                "code": "invalid_enum_value",
                "options": ["light", "dark"],
                "path": ["theme"],
                "message": "Invalid enum value. Expected 'light' | 'dark', received 'blue'",
            },
        ]
    }


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        ({"type": "number"}, "5", "Expected number, received string"),
        ({"type": "number"}, True, "Expected number, received boolean"),
        ({"type": "string"}, None, "Expected string, received null"),
        ({"type": "string"}, [1], "Expected string, received array"),
        ({"type": "boolean"}, 1, "Expected boolean, received number"),
        ({"type": "object"}, [], "Expected object, received array"),
        ({"type": "array"}, {}, "Expected array, received object"),
        ({"type": "integer"}, 1.5, "Expected integer, received float"),
        ({"type": "string", "minLength": 3}, "ab", "String must contain at least 3 character(s)"),
        ({"type": "string", "maxLength": 2}, "abc", "String must contain at most 2 character(s)"),
        ({"type": "number", "minimum": 1}, 0, "Number must be greater than or equal to 1"),
        ({"type": "integer", "maximum": 50}, 100, "Number must be less than or equal to 50"),
        ({"type": "array", "minItems": 1}, [], "Array must contain at least 1 element(s)"),
        ({"type": "array", "maxItems": 1}, [1, 2], "Array must contain at most 1 element(s)"),
        ({"type": "string", "pattern": "^[A-Z]+$"}, "abc", "Invalid"),
        # (No `float("inf")` case: parameters reach the validator as JSON, which has no infinity;
        # msgspec refuses an overflowing literal first, tests/http/test_pipeline.py.)
    ],
)
def test_each_rule_reports_zods_message(spec: dict[str, Any], value: Any, message: str) -> None:
    error = failure(ParameterValidator(schema({"x": spec})), {"x": value})
    assert error.message == f"Parameter validation failed: {message} at 'x'"


def test_valid_values_pass_and_unknown_keys_are_dropped_in_schema_order() -> None:
    validator = ParameterValidator(
        schema({"b": {"type": "integer", "minimum": 0}, "a": {"type": "string", "pattern": "^x"}})
    )
    assert list(validator.validate({"a": "xy", "zzz": 1, "b": 3})) == ["b", "a"]
    assert validator.validate({"a": "xy", "zzz": 1, "b": 3}) == {"b": 3, "a": "xy"}
    assert validator.validate({"b": 2.0}) == {"b": 2.0}  # a float with no fraction is an integer


def test_defaults_fill_missing_optional_fields_only() -> None:
    validator = ParameterValidator(
        schema({"limit": {"type": "integer", "default": 12}, "q": {"type": "string", "default": "x"}}, ["q"])
    )
    assert validator.validate({"q": "given"}) == {"limit": 12, "q": "given"}
    assert failure(validator, {}).message == "Parameter validation failed: Required at 'q'"


def test_nested_objects_recurse_with_dotted_paths() -> None:
    validator = ParameterValidator(
        schema({"filter": {"type": "object", "properties": {"min": {"type": "number"}}, "required": ["min"]}})
    )
    assert validator.validate({"filter": {"min": 1, "junk": 2}}) == {"filter": {"min": 1}}
    error = failure(validator, {"filter": {"min": "1"}})
    assert error.message == "Parameter validation failed: Expected number, received string at 'filter.min'"
    assert error.details is not None
    assert error.details["validationErrors"][0]["path"] == ["filter", "min"]


def test_parameters_must_be_an_object() -> None:
    validator = ParameterValidator(schema({}))
    assert failure(validator, None).message == "Parameter validation failed: Expected object, received null"
    assert failure(validator, []).message == "Parameter validation failed: Expected object, received array"


def test_all_string_rules_are_reported_together() -> None:
    validator = ParameterValidator(schema({"s": {"type": "string", "minLength": 5, "pattern": "^z"}}))
    error = failure(validator, {"s": "ab"})
    assert error.details is not None
    assert [i["code"] for i in error.details["validationErrors"]] == ["too_small", "invalid_string"]


def test_unknown_or_missing_type_accepts_anything_with_a_warning() -> None:
    validator = ParameterValidator(
        schema({"any": {"description": "no type"}, "u": {"type": ["string", "null"]}})
    )
    assert validator.validate({"any": [1], "u": None}) == {"any": [1], "u": None}
    assert len(validator.warnings) == 2


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ({"type": "array"}, 'must be a JSON-Schema object with "type": "object"'),
        (None, 'must be a JSON-Schema object with "type": "object"'),
        ({"type": "object", "properties": []}, "parameters.properties: expected an object"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}, "not declared"),
        (
            {"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}},
            "invalid regular expression",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "enum": []}}},
            "non-empty list of strings",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "number", "minimum": "1"}}},
            "expected a finite number",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "minLength": -1}}},
            "non-negative integer",
        ),
        (
            {"type": "object", "properties": {"a": 5}},
            "parameters.properties.a: expected a JSON-Schema object",
        ),
    ],
)
def test_schema_problems_are_caught_at_load_time_with_the_field(bad: Any, fragment: str) -> None:
    with pytest.raises(SchemaError, match="parameters") as info:
        ParameterValidator(bad)
    assert fragment in str(info.value)


def test_missing_properties_means_no_declared_parameters() -> None:
    # The SDK crashed with a 500 on every render of such an intent (docs/protocol-deviations.md).
    assert ParameterValidator({"type": "object"}).validate({"x": 1}) == {}


# -- patterns: linear time for whatever a client sends -----------------------------------------------

CATASTROPHIC = textwrap.dedent(
    """
    from ixp.base.errors import IXPError
    from ixp.registry.definitions import Intent
    from ixp.registry.schema import compile_schemas

    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    schemas = compile_schemas([Intent({"name": "t", "component": "C", "parameters": schema})], {})
    try:
        schemas.validate("t", {"code": "a" * 64 + "!"})  # 2**64 paths for a backtracking engine
    except IXPError as exc:
        print(exc.message)
    """
)


def test_a_catastrophic_pattern_cannot_stall_the_worker() -> None:
    # In a subprocess, bounded: Python's `re` would backtrack for ages on this value (and hold the GIL).
    done = subprocess.run(
        [sys.executable, "-c", CATASTROPHIC], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Invalid" in done.stdout


def test_patterns_outside_the_linear_subset_are_refused_unless_python_checks_them() -> None:
    lookahead = schema({"s": {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]+$"}})
    with pytest.raises(SchemaError) as info:
        ParameterValidator(lookahead)
    assert "parameters.properties.s.pattern '^(?=.*[0-9])[a-z0-9]+$': look-around" in str(info.value)
    assert "IXP_SCHEMA_PATTERNS=python" in str(info.value)
    validator = ParameterValidator(lookahead, patterns="python")  # the operator's opt-in
    assert validator.validate({"s": "abc1"}) == {"s": "abc1"}
    failure(validator, {"s": "abcd"})
    # `re` sees at most 1,000 characters: a longer string fails the pattern.
    assert validator.validate({"s": "a" * 999 + "1"}) == {"s": "a" * 999 + "1"}
    assert (
        failure(validator, {"s": "a" * 1000 + "1"}).message == "Parameter validation failed: Invalid at 's'"
    )
    with pytest.raises(SchemaError, match="invalid regular expression"):
        ParameterValidator(schema({"s": {"type": "string", "pattern": "(?<=a)("}}), patterns="python")


def test_dollar_does_not_match_before_a_final_newline() -> None:
    # As in the SDK's JavaScript (and Rust's regex); Python's `re` alone would accept "abc\n".
    validator = ParameterValidator(schema({"s": {"type": "string", "pattern": "^abc$"}}))
    assert validator.validate({"s": "abc"}) == {"s": "abc"}
    failure(validator, {"s": "abc\n"})
