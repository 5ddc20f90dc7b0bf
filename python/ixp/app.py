"""The application object: one interface-agnostic core behind an ASGI and an RSGI adapter.

`granian ixp.app` serves `app` over RSGI (Granian's default), `granian --interface asgi ixp.app`
over ASGI. Both adapters only translate; `IXPApp.handle` does the work.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ixp import persistence, processing, protocol, users
from ixp._core import RouteStats, monotonic_ns
from ixp._http import BODY_METHODS, JSON_CONTENT_TYPE, HeaderMap, Request, Response, declared_length
from ixp._interfaces import ASGI, RSGI, Interface, lower_header_dict
from ixp._tasks import Watchdog
from ixp.compression import Compressor
from ixp.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    RATE_LIMIT_EXCEEDED,
    TIMEOUT_ERROR,
    ConfigError,
    IXPError,
)
from ixp.headers import SECURITY_HEADERS, CorsPolicy
from ixp.log import configure_logging, request_id
from ixp.metrics import Metrics
from ixp.protocol import cached
from ixp.ratelimit import ClientAddress, Decision, LocalRateLimiter, RedisRateLimiter, parse_rate
from ixp.registry import CachedBody, Registry, load_registry
from ixp.reload import RegistryWatcher
from ixp.routing import Route, Router
from ixp.settings import Settings

log = logging.getLogger("ixp")

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
_NO_BODY = frozenset({204, 304})
_SMALL_BODY = 65536  # declared bodies up to this size are read without the timeout watchdog
_UNLIMITED = frozenset({"/ixp/health"})  # load balancers' health checks are never rate limited
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class IXPApp:
    """The IXP server. Build one with `create_app(settings)`; `ixp.app:app` is built from the environment."""

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else load_registry(settings)
        self.cors = CorsPolicy(settings)
        self._public_headers = (
            ("access-control-allow-origin", "*"),
            *(SECURITY_HEADERS if settings.security_headers else ()),
        )
        self.router = Router()
        self.health_checks: dict[str, HealthCheck] = {}
        self.startup_hooks: list[Callable[[], Awaitable[None]]] = []
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        self.registry_listeners: list[Callable[[Registry], None]] = []
        protocol.register(self.router, self)
        self.metrics = Metrics(self.router.names())  # routes bind their series on first use
        self.persistence = persistence.register(self)
        users.register(self)
        self.processor = processing.register(self)
        self._watcher = RegistryWatcher(self) if settings.reload else None
        self._started = False
        self.compressor = Compressor(settings)
        self.watchdog = Watchdog(settings.request_timeout)
        self._max_body = settings.max_body_bytes
        self._lane_body_max = min(self._max_body, _SMALL_BODY)
        self._compress_min = settings.compression_min_bytes if settings.compression else 1 << 62
        self._slow_ns = int(settings.slow_request_ms * 1_000_000)
        self._id_prefix = os.urandom(4).hex() + "-"
        self._id_counter = itertools.count(1)
        self.client_address = ClientAddress(settings.trusted_proxies)
        self.rate_limiter: LocalRateLimiter | RedisRateLimiter | None = None
        self._rate_window = ""
        self._rate_window_seconds = 0.0
        if settings.rate_limit:
            limit, window = parse_rate(settings.rate_limit)
            self._rate_window = f"{window:g}s"
            self._rate_window_seconds = window
            self.rate_limiter = LocalRateLimiter(limit, window)
            if settings.redis_url:
                self.startup_hooks.append(self._share_rate_limit)
        # Rate limiting counts every request, so it turns the fast lanes off.
        lanes_on = self.rate_limiter is None
        self._lanes = self.router.lanes() if lanes_on else {}
        self._body_routes = self.router.body_routes() if lanes_on else {}
        self._bodies = self._resolve_bodies(self.registry)
        self._rsgi_http_scope: type | None = None

    # -- the core ---------------------------------------------------------------------------------

    async def handle(
        self, method: str, path: str, headers: HeaderMap, scope: Any, source: Any, interface: Interface
    ) -> Response:
        """(method, path, headers, the rest through `interface`) → response, whatever the interface.

        `interface` reads the query string and client address from `scope` and the body from
        `source` (the RSGI protocol, the ASGI `receive`), each only when the request needs it.
        """
        start = monotonic_ns()
        rid = headers.get("x-request-id")
        if rid is None or not _VALID_REQUEST_ID.fullmatch(rid):
            rid = self._id_prefix + hex(next(self._id_counter))
        origin = headers.get("origin")
        route = response = body = None
        # The render lane: a valid render answered without a Request, a request-id context or the
        # watchdog (empty when rate limiting is on). Registry bodies: `answer_body`.
        if method != "GET":
            route = self._lanes.get(path)
            if route is not None and method == route.lane_method:
                raw = headers.get("content-length")
                # Only a small declared body: it is already in Granian's buffer (no timeout needed).
                if raw is not None and len(raw) < 6 and raw.isdecimal() and int(raw) <= self._lane_body_max:
                    body = await interface.read_declared(source)
                    response = route.lane(headers, body, origin)  # type: ignore[misc]
        error_code = limit_headers = None
        if response is None:
            route, response, error_code, limit_headers = await self._dispatch(
                method, path, headers, scope, source, interface, rid, body
            )
        out = response.headers
        if response.public:
            out.extend(self._public_headers)
        else:
            out.extend(self.cors.base if origin is None else self.cors.headers(origin))
        out.append(("x-request-id", rid))
        if limit_headers is not None:
            out.extend(limit_headers)
        if method == "HEAD" or response.status in _NO_BODY:
            response.body = b""
        elif len(response.body) >= self._compress_min:
            self.compressor.apply(response, headers)
        if error_code is not None:
            self.metrics.count_error(error_code)
        stats = self.metrics.unmatched if route is None else route.stats or self._bind_stats(route)
        elapsed = stats.record_since(response.status, start)
        if elapsed > self._slow_ns:
            self._log_slow(method, path, response.status, elapsed, headers, rid)
        return response

    def answer_body(self, path: str, headers: HeaderMap) -> Response | None:
        """`GET path` when it is a registry body (`/ixp/intents`, `/components`, `/theme`, `/menu`):
        the finished response, else None (then `handle` it). The adapters call this first for GET:
        the commonest request costs no coroutine and no Request. Off when rate limiting is on."""
        found = self._bodies.get(path)
        if found is None:
            return None
        start = monotonic_ns()
        rid = headers.get("x-request-id")
        if rid is None or not _VALID_REQUEST_ID.fullmatch(rid):
            rid = self._id_prefix + hex(next(self._id_counter))
        origin = headers.get("origin")
        # Of `handle`'s tail only CORS, the request id and the metrics apply: the response is never
        # public, carries no rate-limit headers and is already in its final encoding.
        response = cached(headers, found[1], self.compressor)
        out = response.headers
        out.extend(self.cors.base if origin is None else self.cors.headers(origin))
        out.append(("x-request-id", rid))
        route = found[0]
        elapsed = (route.stats or self._bind_stats(route)).record_since(response.status, start)
        if elapsed > self._slow_ns:
            self._log_slow("GET", path, response.status, elapsed, headers, rid)
        return response

    async def respond(
        self, method: str, path: str, headers: HeaderMap, scope: Any, source: Any, interface: Interface
    ) -> Response:
        """`answer_body` for GET, else `handle`: what both adapters do (and embedding, tests)."""
        if method == "GET":
            response = self.answer_body(path, headers)
            if response is not None:
                return response
        return await self.handle(method, path, headers, scope, source, interface)

    def _bind_stats(self, route: Route) -> RouteStats:
        """A route's metrics series, bound on its first request."""
        route.stats = self.metrics.stats_for(route.name)
        return route.stats

    async def _dispatch(
        self,
        method: str,
        path: str,
        headers: HeaderMap,
        scope: Any,
        source: Any,
        interface: Interface,
        rid: str,
        body: bytes | None,
    ) -> tuple[Route | None, Response, str | None, list[tuple[str, str]] | None]:
        """The ordinary path: rate limit, route, method, body, handler, errors.

        Returns the route (None when no path matched), the response, the error code of an error
        response and the rate-limit headers. `body` is the body when the fast lane already read it.
        """
        query_string, client = interface.details(scope)
        token = None
        route = None
        error_code = None
        limit_headers = None
        guarded = None
        try:
            found = self.router.match(path)
            if found is not None:
                route = found[0]
            if self.rate_limiter is not None and (route is None or route.name not in _UNLIMITED):
                decision = await self._rate_limit(client, headers)
                limit_headers = decision.headers()
                if not decision.allowed:
                    raise IXPError(
                        429,
                        RATE_LIMIT_EXCEEDED,
                        f"Rate limit exceeded: {decision.limit} requests per {self._rate_window}",
                        {"limit": decision.limit, "windowSeconds": self._rate_window_seconds},
                    )
            if found is None:
                raise IXPError(404, NOT_FOUND, f"No endpoint at '{path}'")
            route, params = found
            handler = route.handlers.get("GET" if method == "HEAD" else method)
            if handler is None:
                if method != "OPTIONS":
                    raise IXPError(
                        405,
                        METHOD_NOT_ALLOWED,
                        f"Method {method} not allowed on '{path}'. Allowed: {route.allow}",
                        headers=[("allow", route.allow)],
                    )
                response = self._options(route.allow, headers)
            else:
                token = request_id.set(rid)  # every log line of the handler carries the id
                request = Request(method, path, query_string, headers, b"", client)
                request.request_id = rid
                if params:
                    request.path_params = params
                if body is not None:
                    request.body = body
                elif method in BODY_METHODS:
                    limit = self._max_body
                    # A body that may take long to arrive (chunked or large) runs under the timeout;
                    # a small declared one is already in Granian's buffer.
                    length = declared_length(headers, limit)
                    if length is None or length > _SMALL_BODY:
                        guarded = self.watchdog.enter()
                    request.body = await interface.read_body(source, length, limit)
                if method in route.async_methods:
                    if guarded is None:
                        guarded = self.watchdog.enter()
                    response = await handler(request)  # type: ignore[misc]
                else:
                    response = handler(request)  # type: ignore[assignment]
        except IXPError as exc:
            error_code = exc.code
            response = self._error(exc, rid)
        except asyncio.CancelledError:
            if guarded is None or not self.watchdog.leave(guarded):
                raise
            if hasattr(guarded, "uncancel"):  # Python >= 3.11: this cancellation is handled here
                guarded.uncancel()
            guarded = None
            error_code = TIMEOUT_ERROR
            response = self._error(self._timeout_error(), rid)
        except Exception:
            log.exception("unhandled error on %s %s", method, path, extra={"request_id": rid})
            error_code = INTERNAL_ERROR
            response = self._error(IXPError(500, INTERNAL_ERROR, "Internal server error"), rid)
        finally:
            if guarded is not None:
                self.watchdog.leave(guarded)
            if token is not None:
                request_id.reset(token)
        return route, response, error_code, limit_headers

    def _error(self, exc: IXPError, rid: str) -> Response:
        response = Response(exc.status, [("content-type", JSON_CONTENT_TYPE)], exc.body(rid))
        if exc.headers:
            response.headers.extend(exc.headers)
        return response

    def _timeout_error(self) -> IXPError:
        seconds = self.settings.request_timeout
        return IXPError(
            504, TIMEOUT_ERROR, f"Request timed out after {seconds:g} s", {"timeoutSeconds": seconds}
        )

    async def _rate_limit(self, client: str, headers: HeaderMap) -> Decision:
        key = self.client_address.resolve(client, headers.get("x-forwarded-for"))
        limiter = self.rate_limiter
        if isinstance(limiter, LocalRateLimiter):
            return limiter.hit(key)
        return await limiter.hit(key)  # type: ignore[union-attr]

    def _log_slow(
        self, method: str, path: str, status: int, elapsed_ns: int, headers: HeaderMap, rid: str
    ) -> None:
        duration_ms = round(elapsed_ns / 1e6, 3)
        log.warning(
            "Slow request detected: %s %s %d in %.1f ms",
            method,
            path,
            status,
            duration_ms,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "user_agent": headers.get("user-agent"),
                "request_id": rid,
            },
        )

    async def _share_rate_limit(self) -> None:
        """With Redis configured, all workers count in Redis (falling back to local counts)."""
        import redis.asyncio as aioredis

        assert self.settings.rate_limit is not None and self.settings.redis_url is not None
        limit, window = parse_rate(self.settings.rate_limit)
        url = self.settings.redis_url
        client = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.rate_limiter = RedisRateLimiter(limit, window, client)
        self.shutdown_hooks.append(client.aclose)

    def _options(self, allow: str, headers: HeaderMap) -> Response:
        """CORS preflight (always 204, as the SDK), or a plain OPTIONS listing the methods."""
        if headers.get("access-control-request-method") is not None:
            return Response(204, self.cors.preflight(allow))
        return Response(204, [("allow", allow)])

    def _resolve_bodies(self, registry: Registry) -> dict[str, tuple[Route, CachedBody]]:
        """Path -> (route, its body in `registry`), for the registry-body lanes."""
        return {path: (route, route.body_of(registry)) for path, route in self._body_routes.items()}  # type: ignore[misc]

    def swap_registry(self, registry: Registry) -> None:
        """Replace the registry in one assignment: a request sees the old or the new one, never a mix
        (the lanes' bodies are resolved first, each consistent with the version it came from)."""
        self._bodies = self._resolve_bodies(registry)
        self.registry = registry
        for listener in self.registry_listeners:
            listener(registry)

    # -- lifecycle --------------------------------------------------------------------------------

    async def startup(self) -> None:
        if self._started:
            return
        self._started = True
        for hook in self.startup_hooks:
            await hook()
        if self._watcher is not None:
            self._watcher.start()

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._watcher is not None:
            await self._watcher.stop()
        await self.watchdog.stop()
        for hook in reversed(self.shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)

    # -- RSGI (Granian's native interface) ---------------------------------------------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.startup())

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.shutdown())

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        # `scope.proto` builds a new str on every access; the scope's type tells HTTP from
        # websocket as well, once the first HTTP request has shown which type that is.
        if type(scope) is not self._rsgi_http_scope:
            if scope.proto != "http":
                proto.close(403)  # no websocket endpoints: refuse the upgrade (an HTTP status)
                return
            self._rsgi_http_scope = type(scope)
        method, headers = scope.method, scope.headers
        response = self.answer_body(scope.path, headers) if method == "GET" else None
        if response is None:
            response = await self.handle(method, scope.path, headers, scope, proto, RSGI)
        proto.response_bytes(response.status, response.headers, response.body)

    # -- ASGI ---------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._asgi_http(scope, receive, send)
        elif kind == "lifespan":
            await self._asgi_lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _asgi_http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = lower_header_dict(scope["headers"])
        response = await self.respond(scope["method"], scope["path"], headers, scope, receive, ASGI)
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        raw_headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _asgi_lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings | None = None) -> IXPApp:
    """Build an app (raises `ConfigError` on invalid settings or registry files)."""
    return IXPApp(settings if settings is not None else Settings.from_env())


app: IXPApp  # built on first access by __getattr__ below


def __getattr__(name: str) -> Any:
    # `ixp.app:app` is built on first access, from the environment, so that importing this module
    # (tests, embedding) does not load a registry; Granian's `granian ixp.app` accesses it.
    if name == "app":
        global app
        try:
            settings = Settings.from_env()
            configure_logging(settings.log_level, settings.log_format)
            app = create_app(settings)
        except ConfigError as exc:
            sys.stderr.write(
                "ixp: invalid configuration, not starting:\n" + "".join(f"  - {p}\n" for p in exc.problems)
            )
            sys.stderr.flush()
            raise SystemExit(2) from None
        return app
    raise AttributeError(f"module 'ixp.app' has no attribute {name!r}")
