"""What the core needs from a server interface beyond method, path and headers, for RSGI and ASGI.

`Pipeline.handle` takes the interface's `scope` and `source` (the RSGI protocol object, the ASGI
`receive`) and reads through an `Interface` only what a request needs: the fast lane never touches
the query string or the client address (on RSGI each is built on access), and reads a small
declared body with one await.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ixp.http.body import too_large


@dataclass(frozen=True, slots=True)
class Interface:
    # (source, declared Content-Length or None, limit) -> the body, never more than `limit` bytes.
    read_body: Callable[[Any, int | None, int], Awaitable[bytes]]
    # source -> the body of a request that declared a Content-Length within the limit.
    read_declared: Callable[[Any], Awaitable[bytes]]
    # scope -> (query string, client address), read only when the ordinary path needs them.
    details: Callable[[Any], tuple[str, str]]


async def read_rsgi_body(proto: Any, declared: int | None, limit: int) -> bytes:
    """The body from Granian's RSGI protocol."""
    if declared is not None:  # checked against the limit by the core; Granian holds us to it
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


def _read_rsgi_declared(proto: Any) -> Awaitable[bytes]:
    return proto()  # type: ignore[no-any-return]  # Granian's future of the whole body


def _rsgi_details(scope: Any) -> tuple[str, str]:
    return scope.query_string, scope.client


async def read_asgi_body(receive: Any, declared: int | None, limit: int) -> bytes:
    """The body from ASGI `http.request` messages."""
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


def _read_asgi_declared(receive: Any) -> Awaitable[bytes]:
    # ASGI servers hold the body to its declared length, which the core checked against the limit.
    return read_asgi_body(receive, None, 1 << 62)


def _asgi_details(scope: dict[str, Any]) -> tuple[str, str]:
    client = scope.get("client")
    return scope.get("query_string", b"").decode("latin-1"), client[0] if client else ""


RSGI = Interface(read_rsgi_body, _read_rsgi_declared, _rsgi_details)
ASGI = Interface(read_asgi_body, _read_asgi_declared, _asgi_details)


def lower_header_dict(raw: list[tuple[bytes, bytes]] | Any) -> dict[str, str]:
    """ASGI headers (a list of byte pairs) as a dict of lower-case names; repeats are joined by ', '."""
    headers: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return headers
