"""Intent → component descriptor: the resolution pipeline of `POST /ixp/render` (§1.4, §4)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ixp.errors import (
    COMPONENT_NOT_FOUND,
    INTENT_NOT_SUPPORTED,
    ORIGIN_NOT_ALLOWED,
    IXPError,
    bad_request,
)
from ixp.registry import Registry

log = logging.getLogger("ixp.render")
_encode = msgspec.json.Encoder().encode


class IntentRef(msgspec.Struct):
    name: str = ""
    parameters: Any = msgspec.UNSET


class RenderRequest(msgspec.Struct):
    """The body of `POST /ixp/render`. `options` must be an object (the SDK spread strings: §4.1)."""

    intent: IntentRef | None = None
    options: dict[str, Any] | None = None


render_request_decoder = msgspec.json.Decoder(RenderRequest)
_deprecation_warned: set[tuple[int, str]] = set()


def render_intent(
    registry: Registry,
    name: str,
    parameters: Any,
    options: dict[str, Any] | None,
    origin: str | None,
) -> bytes:
    """The encoded descriptor `{record, component, ttl}`, or the protocol's error, in the SDK's order:
    missing name 400, origin 403, unknown intent 404, parameters 400, missing component 404."""
    return resolve_intent(registry, name, parameters, options, origin)[1]


def resolve_intent(
    registry: Registry,
    name: str,
    parameters: Any,
    options: dict[str, Any] | None,
    origin: str | None,
) -> tuple[dict[str, Any], bytes]:
    """`render_intent`, also returning the validated parameters (before `options` are merged)."""
    if not name:
        raise bad_request("Missing required parameter 'intent.name'")
    intent = registry.intents.get(name)
    component = registry.components.get(intent.component) if intent is not None else None
    if origin is not None and component is not None and not component.allows(origin):
        raise IXPError(
            403,
            ORIGIN_NOT_ALLOWED,
            f"Origin '{origin}' not allowed for component '{component.name}'",
            {"origin": origin, "componentName": component.name},
        )
    if intent is None:
        raise IXPError(404, INTENT_NOT_SUPPORTED, f"Intent '{name}' not found")
    # Absent parameters mean "none given": intents without required fields render (the SDK said Required).
    props = intent.validator.validate({} if parameters is msgspec.UNSET else parameters)
    envelope = registry.envelopes.get(name)
    if envelope is None:
        raise IXPError(404, COMPONENT_NOT_FOUND, f"Component '{intent.component}' not found")
    if intent.deprecated or (component is not None and component.deprecated):
        _warn_deprecated(registry, intent.name)
    prefix, suffix = envelope
    return props, prefix + _encode({**props, **options} if options else props) + suffix


def _warn_deprecated(registry: Registry, name: str) -> None:
    # Once per intent and registry version: a log line per request would cost more than the render.
    key = (registry.version, name)
    if key not in _deprecation_warned:
        _deprecation_warned.add(key)
        log.warning("intent %r (or its component) is deprecated; rendered with ttl capped at 60", name)
