"""Request bodies: the declared length, the JSON content type, decoding into an endpoint's type.

Every failure is a 4xx `IXPError` (docs/protocol.md §1.2), never a 500: a missing or foreign
content type is 415, a body over the limit 413, anything that is not the expected JSON 400.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ixp.base.errors import ErrorCode, IXPError
from ixp.http.types import HeaderMap, Request

# The spellings clients send almost always, accepted by one set lookup (the render lane uses the
# same set to decide whether it may answer); any other spelling is parsed by the rules below.
COMMON_JSON_CONTENT_TYPES = frozenset(
    {
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json;charset=UTF-8",
        "application/json; charset=utf8",
    }
)


def check_json_content_type(content_type: str | None) -> None:
    """Accept `application/json` and `application/*+json`, in UTF-8 only; anything else is 415."""
    if content_type in COMMON_JSON_CONTENT_TYPES:
        return
    if content_type is None:
        raise IXPError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type header is required. Allowed: application/json"
        )
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise IXPError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Unsupported Content-Type '{media}'. Allowed: application/json"
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise IXPError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Unsupported charset '{value.strip()}'. Allowed: utf-8"
            )


def too_large(limit: int) -> IXPError:
    return IXPError(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body exceeds the limit of {limit} bytes")


def declared_length(headers: HeaderMap, limit: int) -> int | None:
    """The Content-Length, checked against the limit before reading a byte of the body."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise IXPError(ErrorCode.INVALID_REQUEST, f"Invalid Content-Length header '{raw}'") from None
    if length < 0:
        raise IXPError(ErrorCode.INVALID_REQUEST, f"Invalid Content-Length header '{raw}'")
    if length > limit:
        raise too_large(limit)
    return length


def decode_json_body(request: Request, decoder: msgspec.json.Decoder[Any]) -> Any:
    """Decode a JSON body straight into the endpoint's type; every failure is a 4xx, never a 500."""
    check_json_content_type(request.headers.get("content-type"))
    if not request.body.strip():
        raise IXPError(ErrorCode.INVALID_REQUEST, "Request body is empty; expected a JSON object")
    try:
        return decoder.decode(request.body)
    except msgspec.ValidationError as exc:
        raise IXPError(ErrorCode.INVALID_REQUEST, f"Invalid request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise IXPError(ErrorCode.INVALID_REQUEST, f"Malformed JSON body: {exc}") from None
    except UnicodeDecodeError:  # invalid UTF-8 inside a JSON string
        raise IXPError(ErrorCode.INVALID_REQUEST, "Malformed JSON body: invalid UTF-8 in a string") from None
    except RecursionError:
        raise IXPError(ErrorCode.INVALID_REQUEST, "Malformed JSON body: nesting too deep") from None
