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
import time
from collections.abc import Awaitable, Callable
from time import perf_counter_ns
from typing import Any

from ixp import persistence, processing, protocol, users
from ixp._http import (
    BODY_METHODS,
    JSON_CONTENT_TYPE,
    HeaderMap,
    Request,
    Response,
    declared_length,
    lower_header_dict,
    too_large,
)
from ixp._tasks import cancel_and_wait
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
from ixp.metrics import UNMATCHED, Metrics
from ixp.ratelimit import ClientAddress, Decision, LocalRateLimiter, RedisRateLimiter, parse_rate
from ixp.registry import Registry, load_registry
from ixp.reload import RegistryWatcher
from ixp.routing import Router
from ixp.settings import Settings

log = logging.getLogger("ixp")

BodyReader = Callable[[int], Awaitable[bytes]]
HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
_NO_BODY = frozenset({204, 304})
_UNLIMITED = frozenset({"/ixp/health"})  # load balancers' health checks are never rate limited
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class Watchdog:
    """Cancels requests that run past the timeout. One task sweeps the in-flight requests a few
    times per timeout, so a request costs a dict insert and delete, not a timer of its own."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(0.25, timeout / 4)
        self.inflight: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self._task: asyncio.Task[None] | None = None

    def enter(self) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is None:
            return None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sweep())
        self.inflight[task] = time.monotonic() + self.timeout
        return task

    def leave(self, task: asyncio.Task[Any]) -> bool:
        """Forget the task; True if it was cancelled for running too long."""
        self.inflight.pop(task, None)
        if task in self.expired:
            self.expired.discard(task)
            return True
        return False

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            for task, deadline in list(self.inflight.items()):
                if deadline <= now and task not in self.expired:
                    self.expired.add(task)
                    task.cancel()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)


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
        self.metrics = Metrics(self.router.names())
        self.persistence = persistence.register(self)
        users.register(self)
        self.processor = processing.register(self)
        self._watcher = RegistryWatcher(self) if settings.reload else None
        self._started = False
        self.compressor = Compressor(settings)
        self.watchdog = Watchdog(settings.request_timeout)
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

    # -- the core ---------------------------------------------------------------------------------

    async def handle(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: HeaderMap,
        read_body: BodyReader,
        client: str = "",
    ) -> Response:
        start = perf_counter_ns()
        route_key = UNMATCHED
        error_code = None
        rid = headers.get("x-request-id")
        if rid is None or not _VALID_REQUEST_ID.fullmatch(rid):
            rid = f"{self._id_prefix}{next(self._id_counter):x}"
        token = request_id.set(rid)
        limit_headers = None
        guarded = None
        try:
            found = self.router.match(path)
            if found is not None:
                route_key = found[0].name
            if self.rate_limiter is not None and route_key not in _UNLIMITED:
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
                request = Request(method, path, query_string, headers, b"", client)
                request.request_id = rid
                if params:
                    request.state["path_params"] = params
                is_async = method in route.async_methods
                if is_async or method in BODY_METHODS:
                    # Anything that awaits (a body, storage) runs under the request timeout.
                    guarded = self.watchdog.enter()
                if method in BODY_METHODS:
                    request.body = await read_body(self.settings.max_body_bytes)
                result = handler(request)
                response = await result if is_async else result  # type: ignore[misc,assignment]
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
            log.exception("unhandled error on %s %s", method, path)
            error_code = INTERNAL_ERROR
            response = self._error(IXPError(500, INTERNAL_ERROR, "Internal server error"), rid)
        finally:
            if guarded is not None:
                self.watchdog.leave(guarded)
            request_id.reset(token)
        if response.public:
            response.headers.extend(self._public_headers)
        else:
            response.headers.extend(self.cors.headers(headers.get("origin")))
        response.headers.append(("x-request-id", rid))
        if limit_headers is not None:
            response.headers.extend(limit_headers)
        if method == "HEAD" or response.status in _NO_BODY:
            response.body = b""
        elif self.compressor.enabled:
            self.compressor.apply(response, headers)
        elapsed = perf_counter_ns() - start
        self.metrics.record(route_key, response.status, elapsed, error_code)
        if elapsed > self._slow_ns:
            self._log_slow(method, path, response.status, elapsed, headers, rid)
        return response

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

    def swap_registry(self, registry: Registry) -> None:
        """Replace the registry in one assignment: a request sees the old or the new one, never a mix."""
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
        if scope.proto != "http":
            proto.close(1008)  # no websocket endpoints
            return
        headers = scope.headers

        async def read_body(limit: int) -> bytes:
            if declared_length(headers, limit) is not None:
                body: bytes = await proto()
                if len(body) > limit:
                    raise too_large(limit)
                return body
            chunks, size = [], 0
            async for chunk in proto:
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
            return b"".join(chunks)

        response = await self.handle(
            scope.method, scope.path, scope.query_string, headers, read_body, scope.client
        )
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

        async def read_body(limit: int) -> bytes:
            declared_length(headers, limit)
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
                more = message.get("more_body", False)
            return b"".join(chunks)

        client = scope.get("client")
        response = await self.handle(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            read_body,
            client[0] if client else "",
        )
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
