"""Method + path → what to do: a typed resolution the pipeline acts on (found, not found, method not
allowed, OPTIONS). Static paths are one dict lookup; `{name}` segments are the fallback."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ixp._core import RouteStats
from ixp.http.errors import LaneError
from ixp.http.openapi import Operation, RouteDoc
from ixp.http.types import HeaderMap, Request, Response
from ixp.registry.bodies import CachedBody
from ixp.registry.version import Registry

Handler = Callable[[Request], "Response | Awaitable[Response]"]
# A route's fast lane: (headers, body, origin) -> the response, an error as a `LaneError` tuple
# (status, code, its envelope around the timestamp; the pipeline adds timestamp and request id and
# counts it), or None to take the ordinary path. It runs without a Request object, a request-id
# context or the timeout watchdog, so it must be synchronous, quick, log nothing and raise nothing:
# whatever it does not answer, the ordinary path does.
Lane = Callable[[Any, bytes, "str | None"], "Response | LaneError | None"]
# A GET route whose body is encoded once per registry version: registry -> its CachedBody. The
# pipeline answers GET from it without calling the handler (docs/protocol.md §5.4).
BodyOf = Callable[[Registry], CachedBody]


@dataclass(frozen=True)
class RouteSpec:
    """One route a feature (or plugin) contributes. `name` keys its metrics series (default: the
    path); `rate_limited=False` exempts it from the per-client limit (load-balancer probes); `doc`
    is what the OpenAPI description says about it (`ixp.http.openapi`), `documented=False` leaves
    it out of that description (pages, static files)."""

    method: str
    path: str
    handler: Handler
    name: str = ""
    lane: Lane | None = None
    body_of: BodyOf | None = None
    rate_limited: bool = True
    doc: Operation | None = None
    documented: bool = True


@dataclass
class Route:
    """One path and the handlers of its methods."""

    name: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    async_methods: set[str] = field(default_factory=set)
    allow: str = "OPTIONS"
    stats: RouteStats | None = None  # this route's metrics series, bound by the pipeline on first use
    lane: Lane | None = None
    lane_method: str = ""
    body_of: BodyOf | None = None
    rate_limited: bool = True
    docs: dict[str, Operation | None] = field(default_factory=dict)  # method -> its doc, if documented

    def add(self, spec: RouteSpec, where: str) -> None:
        if spec.method in self.handlers:
            raise ValueError(f"route {spec.method} {where} is already registered")
        self.handlers[spec.method] = spec.handler
        if spec.documented:
            self.docs[spec.method] = spec.doc
        # Detected once here, so the pipeline knows without a per-request check which handlers to
        # await (and to run under the timeout watchdog).
        if inspect.iscoroutinefunction(spec.handler):
            self.async_methods.add(spec.method)
        if spec.lane is not None:
            self.lane, self.lane_method = spec.lane, spec.method
        if spec.body_of is not None:
            self.body_of = spec.body_of
        if not spec.rate_limited:
            self.rate_limited = False
        methods = set(self.handlers) | {"OPTIONS"}
        if "GET" in methods:
            methods.add("HEAD")
        self.allow = ", ".join(sorted(methods))


class Found(NamedTuple):
    route: Route
    handler: Handler
    params: dict[str, str]


class NotFound(NamedTuple):
    route: None  # no route, so every unknown path shares one metrics series


class MethodNotAllowed(NamedTuple):
    route: Route


class Options(NamedTuple):
    """OPTIONS on a known path: a CORS preflight when `preflight`, else a plain method listing."""

    route: Route
    preflight: bool


Resolution = Found | NotFound | MethodNotAllowed | Options
_NOT_FOUND = NotFound(None)


class Router:
    def __init__(self, specs: list[RouteSpec] | None = None) -> None:
        self.static: dict[str, Route] = {}
        self.dynamic: list[tuple[tuple[str, ...], Route]] = []
        for spec in specs or ():
            self.add(spec)

    def add(self, spec: RouteSpec) -> None:
        """Register a route; registering the same method and path twice is an error."""
        if "{" in spec.path:
            if spec.lane is not None or spec.body_of is not None:
                raise ValueError(f"route {spec.method} {spec.path}: fast lanes are for static paths only")
            parts = tuple(spec.path.strip("/").split("/"))
            for existing_parts, route in self.dynamic:
                if existing_parts == parts:
                    route.add(spec, spec.path)
                    return
            route = Route(spec.name or spec.path)
            route.add(spec, spec.path)
            self.dynamic.append((parts, route))
            return
        static = self.static.get(spec.path)
        if static is None:
            static = self.static[spec.path] = Route(spec.name or spec.path)
        static.add(spec, spec.path)

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

    def resolve(self, method: str, path: str, headers: HeaderMap) -> Resolution:
        """What a request is: its handler (HEAD served by GET's), or why there is none."""
        found = self.match(path)
        if found is None:
            return _NOT_FOUND
        route, params = found
        handler = route.handlers.get("GET" if method == "HEAD" else method)
        if handler is not None:
            return Found(route, handler, params)
        if method == "OPTIONS":
            return Options(route, headers.get("access-control-request-method") is not None)
        return MethodNotAllowed(route)

    def lanes(self) -> dict[str, Route]:
        """Path -> route, for the static routes that have a fast lane."""
        return {path: route for path, route in self.static.items() if route.lane is not None}

    def body_routes(self) -> dict[str, Route]:
        """Path -> route, for the routes that serve a registry body."""
        return {path: route for path, route in self.static.items() if route.body_of is not None}

    def documented(self) -> list[RouteDoc]:
        """Every documented (method, path) with its operation, for the OpenAPI description."""
        routes = [(path, route) for path, route in self.static.items()]
        routes += [("/" + "/".join(parts), route) for parts, route in self.dynamic]
        return [
            RouteDoc(method, path, doc, route.body_of is not None and method == "GET")
            for path, route in routes
            for method, doc in route.docs.items()
        ]

    def names(self) -> list[str]:
        return [r.name for r in self.static.values()] + [r.name for _, r in self.dynamic]
