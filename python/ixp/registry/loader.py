"""Reading the registry files (or the bundled examples) into a `Registry`, every problem reported
together with its file, entry and field (the parameter schemas' too: they are compiled here, once)."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.registry.definitions import Component, Intent, Problems, check_component, check_intent
from ixp.registry.schema import compile_schemas, schema_warnings
from ixp.registry.version import Registry

log = logging.getLogger("ixp.registry")


def default_theme() -> dict[str, Any]:
    data = resources.files("ixp").joinpath("data/default_theme.json").read_bytes()
    theme: dict[str, Any] = msgspec.json.decode(data)
    return theme


def _read_json(path: Path, what: str) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} file: {exc.strerror}") from None
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None


def _bundled(name: str) -> tuple[Any, str]:
    resource = resources.files("ixp").joinpath(f"examples/{name}")
    return msgspec.json.decode(resource.read_bytes()), f"<bundled examples/{name}>"


def parse_intents(
    document: Any, label: str, problems: Problems, positions: dict[str, int] | None = None
) -> list[Intent]:
    """The intents whose definitions are right (their schemas are compiled with the registry);
    `positions` receives, per intent, where its schema problems go in `problems`."""
    if not isinstance(document, dict) or not isinstance(document.get("intents"), list):
        problems.add(label, 'expected a JSON object with an "intents" array')
        return []
    intents: list[Intent] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["intents"]):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"{label}: intents[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")
        intent = check_intent(raw, where, problems)
        if intent is None:
            continue
        if intent.name in seen:
            problems.add(where, f"duplicate intent name {intent.name!r}")
            continue
        seen.add(intent.name)
        for warning in schema_warnings(raw.get("parameters")):
            log.warning("%s: %s", where, warning)
        if positions is not None:
            positions[intent.name] = len(problems.items)
        intents.append(intent)
    return intents


def parse_components(document: Any, label: str, problems: Problems) -> list[Component]:
    raw_components = document.get("components") if isinstance(document, dict) else None
    if isinstance(raw_components, list):
        items = [
            (str(c.get("name", i)) if isinstance(c, dict) else str(i), c)
            for i, c in enumerate(raw_components)
        ]
    elif isinstance(raw_components, dict):
        items = list(raw_components.items())
    else:
        problems.add(label, 'expected a JSON object with a "components" object keyed by name')
        return []
    components = []
    for name, raw in items:
        component = check_component(name, raw, f"{label}: components[{name!r}]", problems)
        if component is not None:
            components.append(component)
    return components


def load_registry(settings: Settings, version: int = 1) -> Registry:
    """Read, validate and build a registry; every problem found is reported together. `version`
    numbers it (the next number when hot reload replaces a version)."""
    problems = Problems()
    positions: dict[str, int] = {}
    intents_path = Path(settings.intents).resolve() if settings.intents else None
    components_path = Path(settings.components).resolve() if settings.components else None
    theme_path = Path(settings.theme).resolve() if settings.theme else None

    document, label = (
        (_read_json(intents_path, "intents"), str(intents_path)) if intents_path else _bundled("intents.json")
    )
    intents = parse_intents(document, label, problems, positions)
    document, label = (
        (_read_json(components_path, "components"), str(components_path))
        if components_path
        else _bundled("components.json")
    )
    components = parse_components(document, label, problems)
    theme = None
    if theme_path is not None:
        theme = _read_json(theme_path, "theme")
        if not isinstance(theme, dict):
            problems.add(str(theme_path), "expected a JSON object (the theme)")
    schemas = compile_schemas(intents, {c.name: c for c in components}, settings.schema_patterns)
    problems.insert(
        [(positions[i.name], i.source, p) for i in intents for p in schemas.problems.get(i.name, ())]
    )
    if problems.items:
        raise ConfigError(problems.items)
    return Registry(
        intents,
        components,
        theme if theme is not None else default_theme(),
        theme,
        (intents_path, components_path, theme_path),
        version,
        schemas,
    )
