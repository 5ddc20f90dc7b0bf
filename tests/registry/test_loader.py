"""Loading and validating the registry files: every problem reported with file, entry and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ixp.base.errors import ConfigError, IXPError
from ixp.base.settings import Settings
from ixp.registry import load_registry
from ixp.render import RenderPlan
from tests._support import example_components, example_intents


def load(write_registry, intents: Any = None, components: Any = None):  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry(intents=intents, components=components)
    return load_registry(Settings(intents=str(intents_path), components=str(components_path))), intents_path


def problems(write_registry, intents: Any = None, components: Any = None) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        load(write_registry, intents, components)
    return info.value.problems


def test_bundled_examples_load_with_no_configuration() -> None:
    registry = load_registry(Settings())
    assert len(registry.intents) >= 6 and len(registry.components) >= 6
    assert {c.definition["framework"] for c in registry.components.values()} == {"react", "vue", "vanilla"}
    assert any(i.crawlable for i in registry.intents.values())
    assert any(not c.any_origin for c in registry.components.values())
    assert len(registry.matcher) > 0


def test_every_intent_problem_is_reported_with_file_entry_and_field(write_registry) -> None:  # type: ignore[no-untyped-def]
    intents = example_intents()
    intents["intents"][0]["description"] = ""
    intents["intents"][1]["parameters"] = {"type": "array"}
    intents["intents"][2]["crawlable"] = "yes"
    intents["intents"][3]["priority"] = "high"
    found = problems(write_registry, intents=intents)
    assert len(found) == 4
    assert (
        "intents.json: intents[0] ('show_welcome'): field 'description' must be a non-empty string"
        in found[0]
    )
    assert "intents[1] ('show_products')" in found[1] and "parameters" in found[1]
    assert "field 'crawlable' must be a boolean" in found[2]
    assert "field 'priority' must be an integer" in found[3]


def test_component_problems(write_registry) -> None:  # type: ignore[no-untyped-def]
    components = example_components()
    entry = components["components"]["WeatherCard"]
    entry["framework"] = "svelte"
    entry["allowedOrigins"] = "*"
    entry["performance"]["tti"] = "fast"
    entry["propsSchema"]["properties"]["city"]["type"] = "date"
    components["components"]["OrderTracker"]["securityPolicy"]["csp"] = {"script-src": ["'unsafe-eval'"]}
    found = problems(write_registry, components=components)
    text = "\n".join(found)
    assert (
        "components['WeatherCard']: field 'framework' must be one of react, vue, vanilla, got 'svelte'"
        in text
    )
    assert "field 'allowedOrigins' must be a list" in text
    assert "field 'performance.tti'" in text
    assert "field 'propsSchema.properties.city.type'" in text
    assert (
        "components['OrderTracker']: field 'securityPolicy.csp.script-src' must not allow 'unsafe-eval'"
        in text
    )


def test_integer_props_are_accepted_for_components(write_registry) -> None:  # type: ignore[no-untyped-def]
    registry, _ = load(write_registry)
    assert (
        registry.components["ProductGrid"].definition["propsSchema"]["properties"]["limit"]["type"]
        == "integer"
    )


def test_duplicate_intent_names_are_an_error(write_registry) -> None:  # type: ignore[no-untyped-def]
    intents = example_intents()
    intents["intents"].append(copy.deepcopy(intents["intents"][0]))
    assert any("duplicate intent name 'show_welcome'" in p for p in problems(write_registry, intents=intents))


def test_bad_pattern_names_the_intent_and_pattern(write_registry) -> None:  # type: ignore[no-untyped-def]
    intents = example_intents()
    intents["intents"][2]["patterns"] = ["weather in (?P<city"]
    found = problems(write_registry, intents=intents)
    assert "weather_forecast" in found[0] and "weather in (?P<city" in found[0]


def test_a_pattern_outside_the_linear_subset_stops_the_load_unless_python_checks_it(write_registry) -> None:  # type: ignore[no-untyped-def]
    intents = example_intents()
    intents["intents"][1]["parameters"]["properties"]["code"] = {"type": "string", "pattern": r"^(?!x)\w+$"}
    intents["intents"][3]["parameters"]["properties"]["ref"] = {"type": "string", "pattern": r"(a)\1"}
    intents["intents"][4]["priority"] = "high"
    intents_path, components_path = write_registry(intents=intents)
    with pytest.raises(ConfigError) as info:
        load_registry(Settings(intents=str(intents_path), components=str(components_path)))
    found = info.value.problems
    assert len(found) == 3  # in file order, with the other problems
    assert found[0].startswith(f"{intents_path}: intents[1] ('show_products'): ")
    assert r"parameters.properties.code.pattern '^(?!x)\\w+$': look-around" in found[0]
    assert "IXP_SCHEMA_PATTERNS=python" in found[0]
    assert (
        "intents[3]" in found[1] and r"parameters.properties.ref.pattern '(a)\\1': backreferences" in found[1]
    )
    assert "intents[4]" in found[2] and "field 'priority'" in found[2]
    del intents["intents"][4]["priority"]
    intents_path, components_path = write_registry(intents=intents)
    settings = Settings(intents=str(intents_path), components=str(components_path), schema_patterns="python")
    schemas = load_registry(settings).schemas
    assert schemas.validate("show_products", {"category": "books", "code": "ab"})["code"] == "ab"
    with pytest.raises(IXPError, match="Invalid at 'code'"):
        schemas.validate("show_products", {"category": "books", "code": "xb"})


def test_schema_patterns_setting() -> None:
    assert Settings().schema_patterns == "reject"
    assert Settings.from_env({"IXP_SCHEMA_PATTERNS": "python"}).schema_patterns == "python"
    with pytest.raises(ConfigError, match="IXP_SCHEMA_PATTERNS: expected reject or python"):
        Settings.from_env({"IXP_SCHEMA_PATTERNS": "re"})


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "invalid JSON"),
        ('{"intents": {}}', 'expected a JSON object with an "intents" array'),
        ("[]", 'expected a JSON object with an "intents" array'),
        ('{"intents": [{"name": "caf\udce9"}]}', "invalid JSON"),
    ],
)
def test_bad_intents_file(tmp_path: Path, write_registry, content: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    _, components_path = write_registry()
    path = tmp_path / "bad.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError) as info:
        load_registry(Settings(intents=str(path), components=str(components_path)))
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.json: intents file not found"):
        load_registry(Settings(intents=str(tmp_path / "missing.json")))


def test_components_as_array_use_inner_names(write_registry) -> None:  # type: ignore[no-untyped-def]
    entries = [{"name": n, **c} for n, c in example_components()["components"].items()]
    registry, _ = load(write_registry, components={"components": entries})
    assert "WeatherCard" in registry.components


def test_custom_theme_file(tmp_path: Path) -> None:
    theme = tmp_path / "theme.json"
    theme.write_text('{"name": "brand", "mode": "dark"}')
    registry = load_registry(Settings(theme=str(theme)))
    assert registry.theme == {"name": "brand", "mode": "dark"}
    assert registry.configured_theme == registry.theme
    theme.write_text("[1]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        load_registry(Settings(theme=str(theme)))


def test_each_load_is_a_new_version_with_its_own_render_envelopes(write_registry) -> None:  # type: ignore[no-untyped-def]
    first, intents_path = load(write_registry)
    components_path = intents_path.with_name("components.json")
    second = load_registry(Settings(intents=str(intents_path), components=str(components_path)), version=2)
    assert (first.version, second.version) == (1, 2)
    prefix, suffix = RenderPlan(first).envelopes["show_faq"]
    assert prefix.startswith(
        b'{"record":{"moduleUrl":"/ixp/public/components/faq.js","exportName":"FaqAccordion","props":'
    )
    assert suffix.endswith(b',"ttl":600}')
