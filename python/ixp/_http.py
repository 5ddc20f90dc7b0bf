"""Protocol plumbing shared by the ASGI and RSGI adapters: the request and response the core sees.

Nothing here knows which interface it runs under: an adapter builds a `Request`, the core returns a
`Response`, and the adapter writes it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import parse_qs

import msgspec

from ixp.errors import INVALID_REQUEST, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, IXPError

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
        """One query parameter; repeating it is a client error rather than a silent pick (§12.21)."""
        values = self.query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise IXPError(400, INVALID_REQUEST, f"Query parameter '{name}' must be given at most once")
        return values[0]


class Response(msgspec.Struct, gc=False):
    """Status, headers and body bytes. Headers are `(name, value)` string pairs, names lower-case.

    A msgspec Struct: built in C, about half the cost of a Python `__init__` on every request (and
    never part of a reference cycle, so not tracked by the garbage collector).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    # A public response (e.g. /ixp/sdk/config) is readable from any origin, without credentials.
    public: bool = False
    encoded: bool = False  # already content-encoded (a pre-compressed cached body)


def json_response(status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [("content-type", JSON_CONTENT_TYPE)]
    if extra:
        headers.extend(extra)
    return Response(status, headers, body)


# Raw Content-Type values already found acceptable (bounded): a set lookup instead of parsing.
ACCEPTED_CONTENT_TYPES: set[str] = set()


def check_json_content_type(content_type: str | None) -> None:
    """Accept `application/json` and `application/*+json`, in UTF-8 only; anything else is 415."""
    if content_type in ACCEPTED_CONTENT_TYPES:
        return
    if content_type is None:
        raise IXPError(
            415, UNSUPPORTED_MEDIA_TYPE, "Content-Type header is required. Allowed: application/json"
        )
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise IXPError(
            415,
            UNSUPPORTED_MEDIA_TYPE,
            f"Unsupported Content-Type '{media}'. Allowed: application/json",
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise IXPError(
                415,
                UNSUPPORTED_MEDIA_TYPE,
                f"Unsupported charset '{value.strip()}'. Allowed: utf-8",
            )
    if len(ACCEPTED_CONTENT_TYPES) < 256:  # clients send a handful of spellings; never grow without bound
        ACCEPTED_CONTENT_TYPES.add(content_type)


def too_large(limit: int) -> IXPError:
    return IXPError(413, PAYLOAD_TOO_LARGE, f"Request body exceeds the limit of {limit} bytes")


def declared_length(headers: HeaderMap, limit: int) -> int | None:
    """The Content-Length, checked against the limit before reading a byte of the body."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise IXPError(400, INVALID_REQUEST, f"Invalid Content-Length header '{raw}'") from None
    if length < 0:
        raise IXPError(400, INVALID_REQUEST, f"Invalid Content-Length header '{raw}'")
    if length > limit:
        raise too_large(limit)
    return length


def decode_json_body(request: Request, decoder: msgspec.json.Decoder[Any]) -> Any:
    """Decode a JSON body straight into the endpoint's type; every failure is a 4xx, never a 500."""
    check_json_content_type(request.headers.get("content-type"))
    if not request.body.strip():
        raise IXPError(400, INVALID_REQUEST, "Request body is empty; expected a JSON object")
    try:
        return decoder.decode(request.body)
    except msgspec.ValidationError as exc:
        raise IXPError(400, INVALID_REQUEST, f"Invalid request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise IXPError(400, INVALID_REQUEST, f"Malformed JSON body: {exc}") from None
    except UnicodeDecodeError:  # invalid UTF-8 inside a JSON string
        raise IXPError(400, INVALID_REQUEST, "Malformed JSON body: invalid UTF-8 in a string") from None
    except RecursionError:
        raise IXPError(400, INVALID_REQUEST, "Malformed JSON body: nesting too deep") from None
