"""The request and response the core sees, whatever the server interface (RSGI or ASGI).

An adapter hands the pipeline method, path and headers; handlers get a `Request` and return a
`Response`, which the adapter writes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import parse_qs

import msgspec

from ixp.base.errors import ErrorCode, IXPError

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


EMPTY_PARAMS: Mapping[str, str] = MappingProxyType({})


class HeaderMap(Protocol):
    """What both interfaces offer for request headers: a case-insensitive `.get` on lower-case names."""

    def get(self, key: str, default: Any = None) -> Any: ...


class Request:
    """One HTTP request as the core sees it. `headers.get` takes lower-case names."""

    __slots__ = (
        "_query",
        "body",
        "client",
        "headers",
        "method",
        "path",
        "path_params",
        "query_string",
        "request_id",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: HeaderMap,
        body: bytes = b"",
        client: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.client = client
        self._query: dict[str, list[str]] | None = None
        self.path_params: Mapping[str, str] = EMPTY_PARAMS
        self.request_id = ""

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.query_string, keep_blank_values=True) if self.query_string else {}
        return self._query

    def query_param(self, name: str) -> str | None:
        """One query parameter; repeating it is a client error rather than a silent pick
        (docs/protocol.md §1.5)."""
        values = self.query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise IXPError(ErrorCode.INVALID_REQUEST, f"Query parameter '{name}' must be given at most once")
        return values[0]


class Response(msgspec.Struct, gc=False):
    """Status, headers and body bytes. Headers are `(name, value)` string pairs, names lower-case.

    A msgspec Struct: built in C, about half the cost of a Python `__init__` on every request (and
    never part of a reference cycle, so not tracked by the garbage collector).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    # Headers that replace the pipeline's CORS + security set for this response (`Pipeline.finish`):
    # a page with its own CSP, a script loadable cross-origin, a public body readable from any origin.
    # Built once per route (`ixp.http.cors.HeaderPolicy`), never per request; None takes the defaults.
    own_headers: tuple[tuple[str, str], ...] | None = None
    # False once the body is in its final encoding: gzipped, or a cached body whose variant was
    # chosen for this request. The pipeline compresses only compressible responses.
    compressible: bool = True


def json_response(status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [("content-type", JSON_CONTENT_TYPE)]
    if extra:
        headers.extend(extra)
    return Response(status, headers, body)
