"""The server interfaces: one app object that is both an RSGI app (Granian's native interface,
`granian ixp.app`) and an ASGI app (`granian --interface asgi ixp.app`). Both only translate to
and from the pipeline; lifecycle events run the app's `startup`/`shutdown`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ixp.http.interfaces import ASGI, RSGI, lower_header_dict
from ixp.http.pipeline import Pipeline


class ServerAdapters:
    """Mixin: `__rsgi__`/`__rsgi_init__`/`__rsgi_del__` and ASGI `__call__` over `self.pipeline`."""

    pipeline: Pipeline
    startup: Callable[[], Awaitable[None]]
    shutdown: Callable[[], Awaitable[None]]
    _rsgi_http_scope: type | None = None

    # -- RSGI ---------------------------------------------------------------------------------------

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
        pipeline = self.pipeline
        response = pipeline.answer_body(scope.path, headers) if method == "GET" else None
        if response is None:
            response = await pipeline.handle(method, scope.path, headers, scope, proto, RSGI)
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
        response = await self.pipeline.respond(scope["method"], scope["path"], headers, scope, receive, ASGI)
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
