"""Intent → component descriptor: the resolution pipeline of `POST /ixp/render` (docs/protocol.md §4).

A `RenderPlan` is what one registry version needs to render: each intent's encoded envelope and
the Rust `RenderTable` (the success path: parse, validate, fill defaults, merge `options`, write
bytes). The `Renderer` service holds the plan of the version being served and replaces it with the
registry (a swap listener), so a request reads one plan and sees one version.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ixp._core import RenderTable
from ixp.base.errors import ConfigError, ErrorCode, IXPError
from ixp.registry.reference import Commit, RegistryRef
from ixp.registry.version import Registry
from ixp.render.descriptor import render_envelope

log = logging.getLogger("ixp.render")
_encode = msgspec.json.Encoder().encode


class IntentRef(msgspec.Struct):
    name: str = ""
    parameters: Any = msgspec.UNSET


class RenderRequest(msgspec.Struct):
    """The body of `POST /ixp/render`. `options` must be an object (docs/protocol.md §4.1)."""

    intent: IntentRef | None = None
    options: dict[str, Any] | None = None


render_request_decoder = msgspec.json.Decoder(RenderRequest)


class RenderPlan:
    """One registry version's render state: envelopes, the Rust table, and which deprecated intents
    have been warned about (once per intent and version: a log line per request would cost more
    than the render)."""

    __slots__ = ("deprecation_warned", "envelopes", "registry", "table")

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.envelopes: dict[str, tuple[bytes, bytes]] = {}
        for intent in registry.intents.values():
            component = registry.components.get(intent.component)
            if component is not None:
                self.envelopes[intent.name] = render_envelope(intent, component)
        self.table = _build_render_table(registry, self.envelopes)
        self.deprecation_warned: set[str] = set()


def _build_render_table(registry: Registry, envelopes: dict[str, tuple[bytes, bytes]]) -> RenderTable:
    """The Rust success path. Intents it must not answer are left out, so the Python path serves
    them: no component (404), deprecated (the warning is logged in Python)."""
    rows = []
    for intent in registry.intents.values():
        envelope = envelopes.get(intent.name)
        component = registry.components.get(intent.component)
        if envelope is None or component is None or intent.deprecated or component.deprecated:
            continue
        origins = None if component.any_origin else sorted(component.allowed_origins)
        schema = _encode(intent.definition["parameters"]).decode()
        rows.append((intent.name, schema, envelope[0], envelope[1], origins))
    try:
        return RenderTable(rows)
    except ValueError as exc:
        raise ConfigError(f"render table: {exc}") from None


class Renderer:
    """Renders intents of the registry being served."""

    __slots__ = ("plan",)

    def __init__(self, registry: RegistryRef) -> None:
        self.plan = RenderPlan(registry.current)
        registry.subscribe(self._prepare)

    def _prepare(self, registry: Registry) -> Commit:
        plan = RenderPlan(registry)

        def commit() -> None:
            self.plan = plan

        return commit

    def render_fast(self, body: bytes, origin: str | None) -> bytes | None:
        """The whole response body of a valid render request, in one Rust call; None for anything
        else (every error, intents the table leaves out), which `render` then answers exactly."""
        return self.plan.table.render(body, origin)

    def render(self, name: str, parameters: Any, options: dict[str, Any] | None, origin: str | None) -> bytes:
        """The encoded descriptor `{record, component, ttl}`, or the protocol's error."""
        return self.resolve(name, parameters, options, origin)[1]

    def resolve(
        self, name: str, parameters: Any, options: dict[str, Any] | None, origin: str | None
    ) -> tuple[dict[str, Any], bytes]:
        """`render`, also returning the validated parameters (before `options` are merged). Errors in
        the SDK's order: missing name 400, origin 403, unknown intent 404, parameters 400, missing
        component 404 (docs/protocol.md §4.2)."""
        plan = self.plan
        registry = plan.registry
        if not name:
            raise IXPError(ErrorCode.INVALID_REQUEST, "Missing required parameter 'intent.name'")
        intent = registry.intents.get(name)
        component = registry.components.get(intent.component) if intent is not None else None
        if origin is not None and component is not None and not component.allows(origin):
            raise IXPError(
                ErrorCode.ORIGIN_NOT_ALLOWED,
                f"Origin '{origin}' not allowed for component '{component.name}'",
                {"origin": origin, "componentName": component.name},
            )
        if intent is None:
            raise IXPError(ErrorCode.INTENT_NOT_SUPPORTED, f"Intent '{name}' not found")
        # Absent parameters mean "none given": intents without required fields render.
        props = intent.validator.validate({} if parameters is msgspec.UNSET else parameters)
        envelope = plan.envelopes.get(name)
        if envelope is None:
            raise IXPError(ErrorCode.COMPONENT_NOT_FOUND, f"Component '{intent.component}' not found")
        if (intent.deprecated or (component is not None and component.deprecated)) and (
            name not in plan.deprecation_warned
        ):
            plan.deprecation_warned.add(name)
            log.warning("intent %r (or its component) is deprecated; rendered with ttl capped at 60", name)
        prefix, suffix = envelope
        return props, prefix + _encode({**props, **options} if options else props) + suffix
