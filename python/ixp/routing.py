"""Method + path → handler. Static paths are one dict lookup; `{name}` segments are the fallback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ixp._http import Request, Response
from ixp.metrics import RouteStats

Handler = Callable[[Request], "Response | Awaitable[Response]"]


@dataclass
class Route:
    """One path and the handlers of its methods. `name` keys the route's metrics series."""

    name: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    async_methods: set[str] = field(default_factory=set)
    allow: str = ""
    stats: RouteStats | None = None  # this route's metrics series, bound by the app
    # For GET routes that serve a body encoded once per registry version: registry -> CachedBody.
    # The app answers them directly (ETag, 304, gzip variant), without building a Request.
    cached_body: Callable[[Any], Any] | None = None

    def add(self, method: str, handler: Handler, is_async: bool) -> None:
        self.handlers[method] = handler
        if is_async:
            self.async_methods.add(method)
        methods = set(self.handlers)
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        self.allow = ", ".join(sorted(methods))


class Router:
    def __init__(self) -> None:
        self.static: dict[str, Route] = {}
        self.dynamic: list[tuple[tuple[str, ...], Route]] = []

    def add_cached(
        self, path: str, body_of: Callable[[Any], Any], handler: Handler, *, name: str = ""
    ) -> None:
        """A GET route whose body is `body_of(registry)`, a `CachedBody`; `handler` serves the same
        response through the ordinary path (used when called directly)."""
        self.add("GET", path, handler, name=name)
        self.static[path].cached_body = body_of

    def add(
        self, method: str, path: str, handler: Handler, *, is_async: bool = False, name: str = ""
    ) -> None:
        if "{" in path:
            parts = tuple(path.strip("/").split("/"))
            for existing_parts, route in self.dynamic:
                if existing_parts == parts:
                    route.add(method, handler, is_async)
                    return
            route = Route(name or path)
            route.add(method, handler, is_async)
            self.dynamic.append((parts, route))
            return
        static = self.static.get(path)
        if static is None:
            static = self.static[path] = Route(name or path)
        static.add(method, handler, is_async)

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route of a path (one trailing slash ignored) and its path parameters."""
        route = self.static.get(path)
        if route is not None:
            return route, {}
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
            trimmed = self.static.get(path)
            if trimmed is not None:
                return trimmed, {}
        segments = path.strip("/").split("/")
        for parts, candidate in self.dynamic:
            if len(parts) != len(segments):
                continue
            params: dict[str, str] = {}
            for pattern, segment in zip(parts, segments, strict=True):
                if pattern.startswith("{"):
                    if not segment:
                        break
                    params[pattern[1:-1]] = segment
                elif pattern != segment:
                    break
            else:
                return candidate, params
        return None

    def names(self) -> list[str]:
        return [r.name for r in self.static.values()] + [r.name for _, r in self.dynamic]
