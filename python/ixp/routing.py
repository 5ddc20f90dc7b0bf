"""Method + path → handler. Static paths are one dict lookup; `{name}` segments are the fallback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ixp._core import RouteStats
from ixp._http import Request, Response

Handler = Callable[[Request], "Response | Awaitable[Response]"]
# A route's fast lane: (headers, body, origin) -> the response, or None to take the ordinary path. It runs
# without a Request object, a request-id context or the timeout watchdog, so it must be synchronous,
# quick, log nothing and raise nothing: whatever it does not answer, the ordinary path does.
Lane = Callable[[Any, bytes, "str | None"], "Response | None"]


@dataclass
class Route:
    """One path and the handlers of its methods. `name` keys the route's metrics series."""

    name: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    async_methods: set[str] = field(default_factory=set)
    allow: str = ""
    stats: RouteStats | None = None  # this route's metrics series, bound by the app
    lane: Lane | None = None
    lane_method: str = ""
    # A GET route that serves a body encoded once per registry version: registry -> CachedBody.
    # The app resolves it once per version and answers it without calling `handlers`.
    body_of: Callable[[Any], Any] | None = None

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

    def add_body(self, path: str, body_of: Callable[[Any], Any], handler: Handler, *, name: str = "") -> None:
        """A GET route whose body is `body_of(registry)`, a `CachedBody`; `handler` serves the same
        response through the ordinary path (HEAD, rate-limited apps, direct calls)."""
        self.add("GET", path, handler, name=name)
        self.static[path].body_of = body_of

    def body_routes(self) -> dict[str, Route]:
        """Path -> route, for the routes that serve a registry body."""
        return {path: route for path, route in self.static.items() if route.body_of is not None}

    def add_lane(self, method: str, path: str, lane: Lane) -> None:
        """Give the static route `method path` (already added) a fast lane; see `Lane`."""
        route = self.static[path]
        if method not in route.handlers:
            raise ValueError(f"no {method} handler on '{path}' to give a lane")
        route.lane, route.lane_method = lane, method

    def lanes(self) -> dict[str, Route]:
        """Path -> route, for the static routes that have a fast lane."""
        return {path: route for path, route in self.static.items() if route.lane is not None}

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
