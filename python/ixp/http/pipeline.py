"""The request pipeline: one path from (method, path, headers) to a finished response, whatever the
interface, with two fast lanes for the requests front ends send most.

- `answer_body`: a registry body (`GET /ixp/intents`, …) answered whole — ETag/304, gzip variant —
  before any coroutine exists; the bodies are resolved once per registry version.
- the route lanes in `handle`: `POST /ixp/render` and `POST /api/intents/process` with a small
  declared body, answered by one Rust call (a render, or an answer the match cache remembered),
  with no `Request`, no request-id context and no timeout watchdog.

A lane answers only what it can answer exactly; anything else takes the ordinary path (`_dispatch`:
rate limit, routing, body, handler, errors), which gives the same response. Both end in `finish`:
CORS and security headers, request id, compression, metrics and the slow-request log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ixp._core import RouteStats, monotonic_ns, utc_timestamp
from ixp.base.errors import ErrorCode, IXPError
from ixp.base.settings import Settings
from ixp.base.tasks import Watchdog
from ixp.http.body import declared_length
from ixp.http.compression import Compressor
from ixp.http.cors import CorsPolicy
from ixp.http.errors import error_response, lane_error_response
from ixp.http.interfaces import Interface
from ixp.http.ratelimit import RateLimit
from ixp.http.request_id import RequestIds
from ixp.http.routing import Found, MethodNotAllowed, NotFound, Options, Route, Router
from ixp.http.types import BODY_METHODS, HeaderMap, Request, Response
from ixp.observability.log import request_id
from ixp.observability.metrics import Metrics
from ixp.registry.bodies import CachedBody
from ixp.registry.reference import Commit, RegistryRef
from ixp.registry.version import Registry

log = logging.getLogger("ixp")

_NO_BODY = frozenset({204, 304})
_SMALL_BODY = 65536  # declared bodies up to this size are read without the timeout watchdog

ErrorTail = tuple["Route | None", Response, "str | None", "list[tuple[str, str]] | None"]


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        router: Router,
        registry: RegistryRef,
        metrics: Metrics,
        compressor: Compressor,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.router = router
        self.metrics = metrics
        self.compressor = compressor
        self.rate_limit = rate_limit
        self.cors = CorsPolicy(settings)
        self.request_ids = RequestIds()
        self._request_id = self.request_ids.of  # bound once: the lanes call it on every request
        self.watchdog = Watchdog(settings.request_timeout)
        self.timeout = settings.request_timeout
        self._max_body = settings.max_body_bytes
        self._lane_body_max = min(self._max_body, _SMALL_BODY)
        self._compress_min = compressor.threshold
        self._slow_ns = int(settings.slow_request_ms * 1_000_000)
        # IXP_ALLOWED_ORIGINS: a request carrying any other Origin is refused (None: no check; `*`
        # in the list allows every origin, as the SDK's origin validation did).
        allowed = frozenset(settings.allowed_origins)
        self._allowed_origins = allowed if allowed and "*" not in allowed else None
        # Rate limiting counts every request, so it turns the fast lanes off.
        lanes_on = rate_limit is None
        self._lanes = router.lanes() if lanes_on else {}
        self._body_routes = router.body_routes() if lanes_on else {}
        self._bodies = self._resolve_bodies(registry.current)
        registry.subscribe(self._prepare_bodies)

    # -- the two entry points ---------------------------------------------------------------------

    def answer_body(self, path: str, headers: HeaderMap) -> Response | None:
        """`GET path` when it is a registry body: the finished response, else None (then `handle`
        it). The adapters call this first for GET: the commonest request costs no coroutine."""
        found = self._bodies.get(path)
        if found is None:
            return None
        start = monotonic_ns()
        origin = headers.get("origin")
        if origin is not None and self._allowed_origins is not None and origin not in self._allowed_origins:
            return None  # `handle` refuses it
        response = self.compressor.cached_response(headers, found[1])
        return self.finish(response, "GET", path, headers, origin, self._request_id(headers), found[0], start)

    async def handle(
        self, method: str, path: str, headers: HeaderMap, scope: Any, source: Any, interface: Interface
    ) -> Response:
        """(method, path, headers, the rest through `interface`) → response, whatever the interface.

        `interface` reads the query string and client address from `scope` and the body from
        `source` (the RSGI protocol, the ASGI `receive`), each only when the request needs it.
        """
        start = monotonic_ns()
        rid = self._request_id(headers)
        origin = headers.get("origin")
        route = body = None
        if method != "GET" and (
            origin is None or self._allowed_origins is None or origin in self._allowed_origins
        ):
            route = self._lanes.get(path)
            if route is not None and method == route.lane_method:
                raw = headers.get("content-length")
                # Only a small declared body: it is already in Granian's buffer (no timeout needed).
                if raw is not None and len(raw) < 6 and raw.isdecimal() and int(raw) <= self._lane_body_max:
                    body = await interface.read_declared(source)
                    answer = route.lane(headers, body, origin)  # type: ignore[misc]
                    if type(answer) is Response:
                        return self.finish(answer, method, path, headers, origin, rid, route, start)
                    if isinstance(answer, tuple):  # an error the lane answered: its envelope, counted
                        response = lane_error_response(answer, rid, utc_timestamp())
                        return self.finish(
                            response, method, path, headers, origin, rid, route, start, answer[1]
                        )
        route, response, error_code, limit_headers = await self._dispatch(
            method, path, headers, scope, source, interface, rid, body
        )
        return self.finish(
            response, method, path, headers, origin, rid, route, start, error_code, limit_headers
        )

    async def respond(
        self, method: str, path: str, headers: HeaderMap, scope: Any, source: Any, interface: Interface
    ) -> Response:
        """`answer_body` for GET, else `handle`: what both adapters do (and embedding, tests)."""
        if method == "GET":
            response = self.answer_body(path, headers)
            if response is not None:
                return response
        return await self.handle(method, path, headers, scope, source, interface)

    # -- every response ends here -------------------------------------------------------------------

    def finish(
        self,
        response: Response,
        method: str,
        path: str,
        headers: HeaderMap,
        origin: str | None,
        rid: str,
        route: Route | None,
        start: int,
        error_code: str | None = None,
        limit_headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        """CORS and security headers, the request id, rate-limit headers, HEAD and bodiless statuses,
        compression, metrics and the slow-request log: the same tail for every path."""
        out = response.headers
        own = response.own_headers
        if own is None:
            out.extend(self.cors.base if origin is None else self.cors.headers(origin))
        else:
            out.extend(own)
        out.append(("x-request-id", rid))
        if limit_headers is not None:
            out.extend(limit_headers)
        if method == "HEAD" or response.status in _NO_BODY:
            response.body = b""
        elif response.compressible and len(response.body) >= self._compress_min:
            self.compressor.apply(response, headers)
        if error_code is not None:
            self.metrics.count_error(error_code)
        stats = self.metrics.unmatched if route is None else route.stats or self._bind_stats(route)
        elapsed = stats.record_since(response.status, start)
        if elapsed > self._slow_ns:
            self._log_slow(method, path, response.status, elapsed, headers, rid)
        return response

    # -- the ordinary path ----------------------------------------------------------------------------

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
    ) -> ErrorTail:
        """Rate limit, route, body, handler, errors. Returns the route (None when no path matched),
        the response, the error code of an error response and the rate-limit headers. `body` is the
        body when a lane already read it."""
        query_string, client = interface.details(scope)
        resolution = self.router.resolve(method, path, headers)
        route = resolution.route
        token = guarded = error_code = limit_headers = None
        try:
            if self.rate_limit is not None and (route is None or route.rate_limited):
                limit_headers = await self.rate_limit.check(client, headers)
            origin = headers.get("origin")
            if (
                origin is not None
                and self._allowed_origins is not None
                and origin not in self._allowed_origins
                and not isinstance(resolution, Options)  # a preflight passes, as in the SDK
            ):
                raise IXPError(
                    ErrorCode.ORIGIN_NOT_ALLOWED, f"Origin '{origin}' not allowed", {"origin": origin}
                )
            if isinstance(resolution, Found):
                token = request_id.set(rid)  # every log line of the handler carries the id
                request = Request(method, path, query_string, headers, b"", client)
                request.request_id = rid
                if resolution.params:
                    request.path_params = resolution.params
                if body is not None:
                    request.body = body
                elif method in BODY_METHODS:
                    # A body that may take long to arrive (chunked or large) runs under the timeout;
                    # a small declared one is already in Granian's buffer.
                    length = declared_length(headers, self._max_body)
                    if length is None or length > _SMALL_BODY:
                        guarded = self.watchdog.enter()
                    request.body = await interface.read_body(source, length, self._max_body)
                if method in resolution.route.async_methods:
                    if guarded is None:
                        guarded = self.watchdog.enter()
                    response = await resolution.handler(request)  # type: ignore[misc]
                else:
                    response = resolution.handler(request)
            elif isinstance(resolution, NotFound):
                raise IXPError(ErrorCode.NOT_FOUND, f"No endpoint at '{path}'")
            elif isinstance(resolution, MethodNotAllowed):
                allow = resolution.route.allow
                raise IXPError(
                    ErrorCode.METHOD_NOT_ALLOWED,
                    f"Method {method} not allowed on '{path}'. Allowed: {allow}",
                    headers=[("allow", allow)],
                )
            elif resolution.preflight:  # OPTIONS: a CORS preflight (always 204, as the SDK)
                response = Response(204, self.cors.preflight(resolution.route.allow))
            else:  # a plain OPTIONS lists the methods
                response = Response(204, [("allow", resolution.route.allow)])
        except IXPError as exc:
            error_code = exc.code.value
            response = error_response(exc, rid, utc_timestamp())
        except asyncio.CancelledError:
            if guarded is None or not self.watchdog.leave(guarded):
                raise
            if hasattr(guarded, "uncancel"):  # Python >= 3.11: this cancellation is handled here
                guarded.uncancel()
            guarded = None
            error_code = ErrorCode.TIMEOUT_ERROR.value
            response = error_response(
                IXPError(
                    ErrorCode.TIMEOUT_ERROR,
                    f"Request timed out after {self.timeout:g} s",
                    {"timeoutSeconds": self.timeout},
                ),
                rid,
            )
        except Exception:
            log.exception("unhandled error on %s %s", method, path, extra={"request_id": rid})
            error_code = ErrorCode.INTERNAL_ERROR.value
            response = error_response(IXPError(ErrorCode.INTERNAL_ERROR, "Internal server error"), rid)
        finally:
            if guarded is not None:
                self.watchdog.leave(guarded)
            if token is not None:
                request_id.reset(token)
        return route, response, error_code, limit_headers

    # -- helpers ------------------------------------------------------------------------------------

    def _bind_stats(self, route: Route) -> RouteStats:
        """A route's metrics series, bound on its first request."""
        route.stats = self.metrics.stats_for(route.name)
        return route.stats

    def _resolve_bodies(self, registry: Registry) -> dict[str, tuple[Route, CachedBody]]:
        """Path -> (route, its body in `registry`), for the registry-body lane."""
        return {path: (route, route.body_of(registry)) for path, route in self._body_routes.items()}  # type: ignore[misc]

    def _prepare_bodies(self, registry: Registry) -> Commit:
        bodies = self._resolve_bodies(registry)

        def commit() -> None:
            self._bodies = bodies

        return commit

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

    async def stop(self) -> None:
        await self.watchdog.stop()
