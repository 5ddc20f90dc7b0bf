"""The public extension API: plugins, and how they become part of the app.

A plugin is a plain Python object — a module, a class (instantiated with no arguments) or an
instance — that has any of the attributes of `Plugin`. Load plugins with `IXP_PLUGINS`
(comma-separated `module:attribute`), `ixp serve --plugin module:attribute`, or
`create_app(settings, plugins=[...])`. Every attribute is checked at start-up: an import error or a
wrong shape stops start-up with a message naming the plugin and what is wrong. See README.md,
"Extending ixp".
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ixp.base.errors import ConfigError, ErrorCode, IXPError
from ixp.features.contribution import Contribution
from ixp.features.crawler_sources import CrawlerPage, CrawlerQuery, CrawlerSource
from ixp.http.openapi import Operation
from ixp.http.routing import Handler, RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.render.providers import DataProvider, ProviderContext

__all__ = [
    "CrawlerPage",
    "CrawlerQuery",
    "ErrorCode",
    "IXPError",
    "Plugin",
    "ProviderContext",
    "Request",
    "Response",
    "Route",
    "json_response",
    "load_plugin",
]

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class Route(NamedTuple):
    """A route a plugin serves: `handler(request) -> Response` (sync or async); `doc` is what the
    OpenAPI description (`/ixp/api-docs.json`) says about it (`ixp.http.openapi.Operation`)."""

    method: str
    path: str
    handler: Handler
    doc: Operation | None = None


@runtime_checkable
class Plugin(Protocol):
    """What a plugin may provide. Every member is optional; a plugin has the ones it needs.

    - `name`: how logs, metrics and errors name it (default: its import path or class name).
    - `routes`: `Route`s (or `(method, path, handler)` tuples); they may not shadow built-in ones.
    - `on_startup()`, `on_shutdown()`: async hooks, run once per worker.
    - `health_checks`: `{name: async () -> {"status": "pass"|"warn"|"fail", "message": ...}}`,
      included in `/ixp/health`.
    - `metrics`: `{section: () -> dict}`, included in the `/ixp/metrics` JSON document.
    - `resolve_intent_data(intent, parameters, context)`: sync or async, returns a mapping merged
      into the rendered props after validation and before `options`; `intents` (a collection of
      intent names) limits it to those intents, so every other intent keeps the fast path.
    - `crawler_content(query)`: sync or async, returns a `CrawlerPage` (or a list of items) for
      `GET /ixp/crawler_content`.
    """

    name: str


def load_plugin(spec: str) -> Any:
    """`module:attribute` → the plugin object (a class is instantiated with no arguments)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"plugin '{spec}': expected 'module:attribute', e.g. 'my_plugins:Weather'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raised while importing
        raise ConfigError(f"plugin '{spec}': cannot import module '{module_name}': {exc!r}") from None
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"plugin '{spec}': module '{module_name}' has no attribute '{attribute}'") from None
    if inspect.isclass(target):
        try:
            return target()
        except Exception as exc:
            raise ConfigError(f"plugin '{spec}': {attribute}() failed: {exc!r}") from None
    return target


def load_plugins(plugins: Sequence[Any]) -> list[tuple[str, Any]]:
    """Plugin objects and `module:attribute` strings → (default name, plugin) pairs, in order."""
    return [(p, load_plugin(p)) if isinstance(p, str) else (default_name(p), p) for p in plugins]


def default_name(plugin: Any) -> str:
    """A plugin object's default name: its module's name, or its class's import path."""
    kind = plugin if isinstance(plugin, type) else type(plugin)
    if kind.__name__ == "module":
        return str(getattr(plugin, "__name__", "plugin"))
    return f"{kind.__module__}:{kind.__qualname__}"


def plugin_name(plugin: Any, default: str) -> str:
    name = getattr(plugin, "name", None)
    if name is None:
        return default
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"plugin '{default}': 'name' must be a non-empty string, got {name!r}")
    return name


class Extensions(NamedTuple):
    """Everything the plugins add: their contributions, data providers and crawler sources."""

    contributions: list[Contribution]
    providers: list[DataProvider]
    sources: list[CrawlerSource]


def adapt(plugins: Sequence[tuple[str, Any]]) -> Extensions:
    """(default name, plugin) pairs → what the app builds from them; every shape checked."""
    extensions = Extensions([], [], [])
    seen: set[str] = set()
    for default, plugin in plugins:
        name = plugin_name(plugin, default)
        if name in seen:
            raise ConfigError(f"plugin '{name}': two plugins have this name")
        seen.add(name)
        problems: list[str] = []
        contribution = Contribution(f"plugin {name}")
        contribution.routes = _routes(getattr(plugin, "routes", None), problems)
        for attribute, target in (
            ("on_startup", contribution.on_startup),
            ("on_shutdown", contribution.on_shutdown),
        ):
            hook = getattr(plugin, attribute, None)
            if hook is not None:
                if not inspect.iscoroutinefunction(hook):
                    problems.append(f"'{attribute}' must be an async function")
                else:
                    target.append(hook)
        contribution.health_checks = _callables(
            getattr(plugin, "health_checks", None), "health_checks", problems
        )
        contribution.metrics_sections = _callables(getattr(plugin, "metrics", None), "metrics", problems)
        resolve = getattr(plugin, "resolve_intent_data", None)
        if resolve is not None:
            if not callable(resolve):
                problems.append("'resolve_intent_data' must be callable")
            else:
                extensions.providers.append(DataProvider(name, resolve, _intents(plugin, problems)))
        fetch = getattr(plugin, "crawler_content", None)
        if fetch is not None:
            if not callable(fetch):
                problems.append("'crawler_content' must be callable")
            else:
                extensions.sources.append(CrawlerSource(name, fetch))
        if problems:
            raise ConfigError([f"plugin '{name}': {problem}" for problem in problems])
        extensions.contributions.append(contribution)
    return extensions


def _routes(raw: Any, problems: list[str]) -> list[RouteSpec]:
    if raw is None:
        return []
    if callable(raw):
        raw = raw()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        problems.append(f"'routes' must be a list of Route(method, path, handler), got {type(raw).__name__}")
        return []
    routes = []
    for index, item in enumerate(raw):
        if not (isinstance(item, tuple) and len(item) in (3, 4)):
            problems.append(f"routes[{index}]: expected Route(method, path, handler), got {item!r}")
            continue
        method, path, handler = item[:3]
        doc = item[3] if len(item) == 4 else None
        if method not in _METHODS:
            problems.append(
                f"routes[{index}]: method must be one of {', '.join(sorted(_METHODS))}, got {method!r}"
            )
        elif not (isinstance(path, str) and path.startswith("/")):
            problems.append(f"routes[{index}]: path must start with '/', got {path!r}")
        elif not callable(handler):
            problems.append(f"routes[{index}]: handler must be callable, got {handler!r}")
        elif doc is not None and not isinstance(doc, Operation):
            problems.append(f"routes[{index}]: doc must be an ixp.http.openapi.Operation, got {doc!r}")
        else:
            routes.append(RouteSpec(method, path, handler, doc=doc))
    return routes


def _callables(raw: Any, attribute: str, problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and callable(v) for k, v in raw.items()):
        problems.append(f"'{attribute}' must be a mapping of names to functions, got {raw!r}")
        return {}
    if attribute == "health_checks":
        for key, check in raw.items():
            if not inspect.iscoroutinefunction(check):
                problems.append(f"health check '{key}' must be an async function")
    return dict(raw)


def _intents(plugin: Any, problems: list[str]) -> Collection[str] | None:
    intents = getattr(plugin, "intents", None)
    if intents is None:
        return None
    if isinstance(intents, str) or not isinstance(intents, Iterable):
        problems.append(f"'intents' must be a collection of intent names, got {intents!r}")
        return None
    names = frozenset(intents)
    if not all(isinstance(n, str) for n in names):
        problems.append(f"'intents' must be a collection of intent names, got {intents!r}")
    return names
