"""Intent → component descriptor: the resolution pipeline of `POST /ixp/render` (docs/protocol.md §4).

A `RenderPlan` is what one registry version needs to render: each intent's encoded envelope and
the Rust `RenderTable` compiled with the registry (`registry/schema.py`): it answers a request
whole — the descriptor, or the protocol's error with Zod's issues — and validates the parameters of
the Python path. The `Renderer` service holds the plan of the version being served and replaces it with the
registry (a swap listener), so a request reads one plan and sees one version.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ixp._core import RenderTable
from ixp.base.errors import ConfigError, ErrorCode, IXPError
from ixp.registry.definitions import Component, Intent
from ixp.registry.reference import Commit, RegistryRef
from ixp.registry.version import Registry
from ixp.render.providers import DataProviders, ProviderContext

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
    than the render).

    The table is the registry's own, except with intents a data provider serves (`with_data`):
    their errors are answered in Rust, their success is declined (the data is fetched in Python).
    """

    __slots__ = ("deprecation_warned", "envelopes", "registry", "table")

    def __init__(self, registry: Registry, with_data: frozenset[str] = frozenset()) -> None:
        self.registry = registry
        schemas = registry.schemas
        self.envelopes: dict[str, tuple[bytes, bytes]] = schemas.envelopes
        self.table: RenderTable = schemas.table
        if with_data:
            try:
                self.table = schemas.table_declining(with_data)
            except ValueError as exc:
                raise ConfigError(f"render table: {exc}") from None
        self.deprecation_warned: set[str] = set()


class Prepared(msgspec.Struct, gc=False):
    """A validated render, before its props are encoded: the validated parameters and what
    encoding and data providers need."""

    props: dict[str, Any]
    envelope: tuple[bytes, bytes]
    intent: Intent
    component: Component


class Renderer:
    """Renders intents of the registry being served, with the plugins' data where they provide it."""

    __slots__ = ("plan", "providers")

    def __init__(self, registry: RegistryRef, providers: DataProviders | None = None) -> None:
        self.providers = providers
        self.plan = self._plan(registry.current)
        registry.subscribe(self._prepare)

    def _plan(self, registry: Registry) -> RenderPlan:
        with_data = self.providers.served_intents(registry.intents) if self.providers else frozenset()
        return RenderPlan(registry, with_data)

    def _prepare(self, registry: Registry) -> Commit:
        plan = self._plan(registry)

        def commit() -> None:
            self.plan = plan

        return commit

    def render(self, name: str, parameters: Any, options: dict[str, Any] | None, origin: str | None) -> bytes:
        """The encoded descriptor `{record, component, ttl}` (without provider data), or the
        protocol's error."""
        return self.encode(self.prepare(name, parameters, origin), options)

    def resolve(
        self, name: str, parameters: Any, options: dict[str, Any] | None, origin: str | None
    ) -> tuple[dict[str, Any], bytes]:
        """`render`, also returning the validated parameters (before `options` are merged)."""
        prepared = self.prepare(name, parameters, origin)
        return prepared.props, self.encode(prepared, options)

    async def resolve_with_data(
        self,
        name: str,
        parameters: Any,
        options: dict[str, Any] | None,
        origin: str | None,
        request_id: str,
        user_id: int | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """`resolve`, with the data of the providers that serve the intent merged into the props
        after validation and before `options`."""
        prepared = self.prepare(name, parameters, origin)
        data = None
        if self.providers is not None and self.providers.serving(prepared.intent.name):
            context = ProviderContext(
                request_id=request_id,
                origin=origin,
                user_id=user_id,
                intent=prepared.intent.definition,
                component=prepared.component.definition,
            )
            data = await self.providers.data(prepared.intent.name, prepared.props, context)
        return prepared.props, self.encode(prepared, options, data)

    def prepare(self, name: str, parameters: Any, origin: str | None) -> Prepared:
        """Validate a render. Errors in the SDK's order: missing name 400, origin 403, unknown
        intent 404, parameters 400, missing component 404 (docs/protocol.md §4.2)."""
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
        props = registry.schemas.validate(name, {} if parameters is msgspec.UNSET else parameters)
        envelope = plan.envelopes.get(name)
        if envelope is None or component is None:
            raise IXPError(ErrorCode.COMPONENT_NOT_FOUND, f"Component '{intent.component}' not found")
        if (intent.deprecated or component.deprecated) and name not in plan.deprecation_warned:
            plan.deprecation_warned.add(name)
            log.warning("intent %r (or its component) is deprecated; rendered with ttl capped at 60", name)
        return Prepared(props, envelope, intent, component)

    @staticmethod
    def encode(
        prepared: Prepared, options: dict[str, Any] | None, data: dict[str, Any] | None = None
    ) -> bytes:
        """The response body: validated props, then provider data, then `options` (each wins over
        the one before)."""
        props = prepared.props
        if data:
            props = {**props, **data}
        if options:
            props = {**props, **options}
        prefix, suffix = prepared.envelope
        return prefix + _encode(props) + suffix
