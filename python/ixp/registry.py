"""The intent and component registries: loaded from files, validated whole, swapped atomically.

A `Registry` is immutable once built. Everything that only changes when the registry changes —
the `/ixp/intents`, `/ixp/components` and `/ixp/theme` bodies, their ETags, each intent's render
envelope, the pattern matcher — is computed here, once per registry version.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import logging
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from ixp._clock import iso_ms
from ixp._core import IntentMatcher, RenderTable
from ixp.definitions import (
    Component,
    Intent,
    Problems,
    check_component,
    check_intent,
    render_envelope,
)
from ixp.errors import ConfigError
from ixp.settings import Settings

log = logging.getLogger("ixp.registry")

PROTOCOL_VERSION = "1.0.0"  # the constant `version` of /intents, /components, /theme, /health (§11.13)
_encoder = msgspec.json.Encoder()
_versions = itertools.count(1)


class CachedBody:
    """A response body encoded once per registry version, with its strong ETag; the gzip variant
    is compressed on first demand and kept, with an ETag of its own."""

    __slots__ = ("_gzipped", "body", "etag", "gzip_etag")

    def __init__(self, body: bytes) -> None:
        self.body = body
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        self.etag = f'"{digest}"'
        self.gzip_etag = f'"{digest}-gz"'
        self._gzipped: bytes | None = None

    @classmethod
    def of(cls, value: Any) -> CachedBody:
        return cls(_encoder.encode(value))

    def gzipped(self, level: int) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, level, mtime=0)
        return self._gzipped


class Registry:
    """One consistent version of intents, components and theme, plus what is derived from them."""

    def __init__(
        self,
        intents: list[Intent],
        components: list[Component],
        theme: dict[str, Any] | None,
        sources: tuple[Path | None, Path | None, Path | None] = (None, None, None),
    ) -> None:
        self.version = next(_versions)
        self.loaded_at = datetime.now(timezone.utc)
        self.loaded_iso = iso_ms(self.loaded_at)
        self.sources = sources
        self.intents: dict[str, Intent] = {i.name: i for i in intents}
        self.components: dict[str, Component] = {c.name: c for c in components}
        self.configured_theme = theme
        self.theme = theme if theme is not None else default_theme()
        stamp = {"version": PROTOCOL_VERSION, "timestamp": self.loaded_iso}
        self.intents_body = CachedBody.of({"intents": [i.definition for i in intents], **stamp})
        self.components_body = CachedBody.of({"components": [c.definition for c in components], **stamp})
        self.theme_body = CachedBody.of({"theme": self.theme, **stamp})
        self.derived: dict[str, Any] = {}  # other bodies, computed on first use for this version
        self.envelopes: dict[str, tuple[bytes, bytes]] = {}
        for intent in intents:
            component = self.components.get(intent.component)
            if component is None:
                log.warning(
                    "intent %r names component %r, which is not registered: /ixp/render answers "
                    "404 COMPONENT_NOT_FOUND for it",
                    intent.name,
                    intent.component,
                )
            else:
                self.envelopes[intent.name] = render_envelope(intent, component)
        self.matcher = _build_matcher(intents)
        self.render_table = _build_render_table(intents, self.components, self.envelopes)


def _build_matcher(intents: list[Intent]) -> IntentMatcher:
    entries = [(i.name, pattern, i.priority) for i in intents for pattern in i.patterns]
    try:
        return IntentMatcher(entries)
    except ValueError as exc:
        raise ConfigError(f"intent patterns: {exc}") from None


def _build_render_table(
    intents: list[Intent], components: dict[str, Component], envelopes: dict[str, tuple[bytes, bytes]]
) -> RenderTable:
    """The Rust success path of `/ixp/render`. Intents it must not answer are left out, so the
    Python path serves them: no component (404), deprecated (the warning is logged in Python)."""
    rows = []
    for intent in intents:
        envelope = envelopes.get(intent.name)
        component = components.get(intent.component)
        if envelope is None or component is None or intent.deprecated or component.deprecated:
            continue
        origins = None if component.any_origin else sorted(component.allowed_origins)
        schema = _encoder.encode(intent.definition["parameters"]).decode()
        rows.append((intent.name, schema, envelope[0], envelope[1], origins))
    return RenderTable(rows)


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


def parse_intents(document: Any, label: str, problems: Problems) -> list[Intent]:
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
        for warning in intent.validator.warnings:
            log.warning("%s: %s", where, warning)
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


def load_registry(settings: Settings) -> Registry:
    """Read, validate and build a registry; every problem found is reported together."""
    problems = Problems()
    intents_path = Path(settings.intents).resolve() if settings.intents else None
    components_path = Path(settings.components).resolve() if settings.components else None
    theme_path = Path(settings.theme).resolve() if settings.theme else None

    document, label = (
        (_read_json(intents_path, "intents"), str(intents_path)) if intents_path else _bundled("intents.json")
    )
    intents = parse_intents(document, label, problems)
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
    if problems.items:
        raise ConfigError(problems.items)
    return Registry(intents, components, theme, (intents_path, components_path, theme_path))
