"""The component descriptor a render answers with: its cache TTL and its encoded envelope
(docs/protocol.md §4.4, §4.5), computed once per registry version with the compiled schemas."""

from __future__ import annotations

import msgspec

from ixp.registry.definitions import Component, Intent

_encode = msgspec.json.Encoder().encode

DEFAULT_TTL = 300
DEPRECATED_TTL_CAP = 60
CRAWLABLE_TTL_FLOOR = 600
LARGE_BUNDLE_TTL_FLOOR = 900


def ttl_seconds(intent: Intent, component: Component) -> int:
    """The descriptor's cache hint: 300, capped at 60 when deprecated, raised for crawlable intents
    (600) and bundles over 50 KB gzipped (900)."""
    ttl = DEFAULT_TTL
    if intent.deprecated or component.deprecated:
        ttl = min(ttl, DEPRECATED_TTL_CAP)
    if intent.crawlable:
        ttl = max(ttl, CRAWLABLE_TTL_FLOOR)
    if component.large_bundle:
        ttl = max(ttl, LARGE_BUNDLE_TTL_FLOOR)
    return ttl


def render_envelope(intent: Intent, component: Component) -> tuple[bytes, bytes]:
    """The render response around its props, encoded once: `prefix + props + suffix` is the body."""
    definition = component.definition
    prefix = (
        b'{"record":{"moduleUrl":'
        + _encode(definition["remoteUrl"])
        + b',"exportName":'
        + _encode(definition["exportName"])
        + b',"props":'
    )
    suffix = (
        b'},"component":'
        + _encode(definition)
        + b',"ttl":'
        + str(ttl_seconds(intent, component)).encode()
        + b"}"
    )
    return prefix, suffix
