"""The boundary where domain errors become HTTP responses: the protocol's JSON error envelope
`{"error": {"code", "message", "timestamp", "details"?, "requestId"?}}` (docs/protocol.md §2.1).

The request id is ixp's addition, so that a client's report can be found in the logs.
"""

from __future__ import annotations

import msgspec

from ixp.base.clock import utc_now_iso
from ixp.base.errors import IXPError
from ixp.http.types import JSON_CONTENT_TYPE, Response

_encode = msgspec.json.Encoder().encode
# A lane's error: (status, code, message, the details object as JSON or None) — what a Rust answer
# carries, written out without building a Python exception or dict.
LaneError = tuple[int, str, str, "bytes | None"]


def envelope_bytes(
    code: str, message: str, timestamp: bytes, details: bytes | None, request_id: str | None
) -> bytes:
    """The envelope, keys in the protocol's order (code, message, timestamp, details, requestId)."""
    body = b'{"error":{"code":"' + code.encode() + b'","message":' + _encode(message)
    body += b',"timestamp":"' + timestamp + b'"'
    if details is not None:
        body += b',"details":' + details
    if request_id:
        body += b',"requestId":' + _encode(request_id)
    return body + b"}}"


def envelope(error: IXPError, request_id: str | None = None, timestamp: bytes | None = None) -> bytes:
    details = None if error.details is None else _encode(error.details)
    return envelope_bytes(
        error.code.value, error.message, timestamp or utc_now_iso().encode(), details, request_id
    )


def error_response(
    error: IXPError, request_id: str | None = None, timestamp: bytes | None = None
) -> Response:
    """The error's status, its envelope and the headers it carries (e.g. `Allow`)."""
    headers = [("content-type", JSON_CONTENT_TYPE)]
    if error.headers:
        headers.extend(error.headers)
    return Response(error.status, headers, envelope(error, request_id, timestamp))


def lane_error_response(error: LaneError, request_id: str, timestamp: bytes) -> Response:
    status, code, message, details = error
    return Response(
        status,
        [("content-type", JSON_CONTENT_TYPE)],
        envelope_bytes(code, message, timestamp, details, request_id),
    )
