"""One registry version: intents, components and theme, validated whole and immutable once built.

What only changes when the registry changes is computed here, once per version: the
`/ixp/intents`, `/ixp/components` and `/ixp/theme` bodies with their ETags, the pattern matcher and
the parameter schemas compiled in Rust with the render envelopes (`schemas`).
Layers above derive their own per-version state through the swap listeners of `RegistryRef`
(the render plan) or `derived` (bodies computed on first use).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ixp._core import IntentMatcher
from ixp.base.clock import iso_ms
from ixp.base.errors import ConfigError
from ixp.registry.bodies import CachedBody
from ixp.registry.definitions import Component, Intent
from ixp.registry.schema import Schemas, compile_schemas

log = logging.getLogger("ixp.registry")

PROTOCOL_VERSION = "1.0.0"  # the constant `version` of /intents, /components, /theme, /health


class Registry:
    """One consistent version of intents, components and theme, plus what is derived from them.

    `version` numbers the versions a process has served (1, 2, … as hot reload swaps them in).
    `schemas` are compiled here when not given (`patterns`: the `IXP_SCHEMA_PATTERNS` policy); a
    schema that does not compile is a `ConfigError`.
    """

    def __init__(
        self,
        intents: list[Intent],
        components: list[Component],
        theme: dict[str, Any],
        configured_theme: dict[str, Any] | None = None,
        sources: tuple[Path | None, Path | None, Path | None] = (None, None, None),
        version: int = 1,
        schemas: Schemas | None = None,
        *,
        patterns: str = "reject",
    ) -> None:
        self.version = version
        self.loaded_at = datetime.now(timezone.utc)
        self.loaded_iso = iso_ms(self.loaded_at)
        self.sources = sources
        self.intents: dict[str, Intent] = {i.name: i for i in intents}
        self.components: dict[str, Component] = {c.name: c for c in components}
        self.configured_theme = configured_theme
        self.theme = theme
        stamp = {"version": PROTOCOL_VERSION, "timestamp": self.loaded_iso}
        self.intents_body = CachedBody.of({"intents": [i.definition for i in intents], **stamp})
        self.components_body = CachedBody.of({"components": [c.definition for c in components], **stamp})
        self.theme_body = CachedBody.of({"theme": self.theme, **stamp})
        # Values computed on first use for this version (menu body, crawler items), by key.
        self.derived: dict[str, Any] = {}
        for intent in intents:
            if intent.component not in self.components:
                log.warning(
                    "intent %r names component %r, which is not registered: /ixp/render answers "
                    "404 COMPONENT_NOT_FOUND for it",
                    intent.name,
                    intent.component,
                )
        self.matcher = _build_matcher(intents)
        if schemas is None:
            schemas = compile_schemas(intents, self.components, patterns)
            found = [f"{i.source}: {p}" for i in intents for p in schemas.problems.get(i.name, ())]
            if found:
                raise ConfigError(found)
        self.schemas = schemas

    def bodies(self) -> tuple[CachedBody, ...]:
        """The bodies encoded at build time (compressed ahead of traffic at start-up)."""
        return (self.intents_body, self.components_body, self.theme_body)


def _build_matcher(intents: list[Intent]) -> IntentMatcher:
    entries = [(i.name, pattern, i.priority) for i in intents for pattern in i.patterns]
    try:
        return IntentMatcher(entries)
    except ValueError as exc:
        raise ConfigError(f"intent patterns: {exc}") from None
