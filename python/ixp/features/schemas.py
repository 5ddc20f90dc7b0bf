"""JSON schemas of the protocol's bodies, for the OpenAPI description (`ixp.http.openapi`): the
shapes several features share (the descriptor, the user) and the render request, built per registry
version as a oneOf over its intents, discriminated by `intent.name` (docs/protocol.md §4, §9, §10).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from ixp.http.openapi import Schema, ref
from ixp.registry.version import Registry

STRING: Schema = MappingProxyType({"type": "string"})
INTEGER: Schema = MappingProxyType({"type": "integer"})
OBJECT: Schema = MappingProxyType({"type": "object"})

DESCRIPTOR: Schema = MappingProxyType(
    {
        "type": "object",
        "required": ["record", "component", "ttl"],
        "properties": {
            "record": {
                "type": "object",
                "required": ["moduleUrl", "exportName", "props"],
                "properties": {"moduleUrl": STRING, "exportName": STRING, "props": OBJECT},
            },
            "component": {"type": "object", "required": ["name"], "properties": {"name": STRING}},
            "ttl": INTEGER,
        },
    }
)

USER: Schema = MappingProxyType(
    {
        "type": "object",
        "required": ["id", "email", "name", "createdAt"],
        "properties": {"id": INTEGER, "email": STRING, "name": STRING, "createdAt": STRING},
    }
)

PROCESSED: Schema = MappingProxyType(
    {
        "type": "object",
        "required": ["intent", "parameters", "cached", "descriptor"],
        "properties": {
            "intent": STRING,
            "parameters": OBJECT,
            "cached": {"type": "boolean"},
            "descriptor": ref("Descriptor"),
        },
    }
)

SHARED: Schema = MappingProxyType({"Descriptor": DESCRIPTOR, "User": USER, "Processed": PROCESSED})


def stamped(key: str, item: Schema) -> dict[str, Any]:
    """`{<key>: ..., version, timestamp}`: the registry bodies (docs/protocol.md §5)."""
    return {
        "type": "object",
        "required": [key, "version", "timestamp"],
        "properties": {key: item, "version": STRING, "timestamp": STRING},
    }


def query(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def parameters_schema(schema: Any) -> dict[str, Any]:
    """An intent's parameter schema (our JSON-Schema subset, docs/protocol.md §3.4) as an OpenAPI 3.1
    schema: the subset is JSON Schema already; `description` and unknown keywords pass through."""
    return dict(schema) if isinstance(schema, dict) else {"type": "object"}


def render_request(registry: Registry, named: dict[str, Schema]) -> Schema:
    """`{"intent": {"name", "parameters"}, "options"}`: `intent` is a oneOf over this version's
    intents, discriminated by `name`, each with its own parameter schema."""
    variants: list[dict[str, Any]] = []
    mapping: dict[str, str] = {}
    for intent in registry.intents.values():
        key = _UNSAFE.sub("_", intent.name)
        named[f"Parameters.{key}"] = parameters_schema(intent.definition.get("parameters"))
        named[f"RenderIntent.{key}"] = {
            "type": "object",
            "title": intent.name,
            "description": str(intent.definition.get("description") or ""),
            "required": ["name"],
            "properties": {"name": {"const": intent.name}, "parameters": ref(f"Parameters.{key}")},
        }
        variants.append(ref(f"RenderIntent.{key}"))
        mapping[intent.name] = f"#/components/schemas/RenderIntent.{key}"
    intent_schema: Schema = (
        {"oneOf": variants, "discriminator": {"propertyName": "name", "mapping": mapping}}
        if variants
        else {"type": "object", "required": ["name"], "properties": {"name": STRING, "parameters": OBJECT}}
    )
    named["RenderIntent"] = intent_schema
    return {
        "type": "object",
        "required": ["intent"],
        "properties": {
            "intent": ref("RenderIntent"),
            "options": {"type": "object", "description": "props that override the validated parameters"},
        },
    }
