"""The boundary where domain errors become HTTP responses: the protocol's JSON error envelope
`{"error": {"code", "message", "timestamp", "details"?, "requestId"?}}` (docs/protocol.md §2.1).

The request id is ixp's addition, so that a client's report can be found in the logs.
"""

from __future__ import annotations

import msgspec

from ixp._core import utc_timestamp
from ixp.base.errors import IXPError
from ixp.http.types import JSON_CONTENT_TYPE, Response

_encode = msgspec.json.Encoder().encode
# A lane's error: (status, code, the envelope up to its timestamp, the envelope after it up to the
# request id) — what the Rust render writes (`RenderTable.render_wire`), or an error free-text
# processing remembered (`lane_error`). The pipeline adds the timestamp and the request id, and
# counts the code; no Python exception or dict is built.
LaneError = tuple[int, str, bytes, bytes]


def envelope_parts(code: str, message: str, details: bytes | None) -> tuple[bytes, bytes]:
    """The envelope around its timestamp, keys in the protocol's order (code, message, timestamp,
    details, requestId): `{"error":{"code":…,"message":…,"timestamp":"` and `"` + `,"details":…`."""
    head = b'{"error":{"code":"' + code.encode() + b'","message":' + _encode(message) + b',"timestamp":"'
    return head, b'"' if details is None else b'","details":' + details


def envelope_bytes(
    code: str, message: str, timestamp: bytes, details: bytes | None, request_id: str | None
) -> bytes:
    head, tail = envelope_parts(code, message, details)
    if request_id:
        return b"".join((head, timestamp, tail, b',"requestId":', _encode(request_id), b"}}"))
    return b"".join((head, timestamp, tail, b"}}"))


def envelope(error: IXPError, request_id: str | None = None, timestamp: bytes | None = None) -> bytes:
    details = None if error.details is None else _encode(error.details)
    return envelope_bytes(error.code.value, error.message, timestamp or utc_timestamp(), details, request_id)


def error_response(
    error: IXPError, request_id: str | None = None, timestamp: bytes | None = None
) -> Response:
    """The error's status, its envelope and the headers it carries (e.g. `Allow`)."""
    headers = [("content-type", JSON_CONTENT_TYPE)]
    if error.headers:
        headers.extend(error.headers)
    return Response(error.status, headers, envelope(error, request_id, timestamp))


def lane_error(error: IXPError) -> LaneError:
    """`error` as a lane answers it (an error that carries no headers): what `error_response`
    writes, up to the timestamp and the request id of each request it answers."""
    if error.headers:
        raise ValueError(f"{error.code.value}: an error with headers is not a lane's answer")
    details = None if error.details is None else _encode(error.details)
    return (error.status, error.code.value, *envelope_parts(error.code.value, error.message, details))


def lane_error_response(error: LaneError, request_id: str, timestamp: bytes) -> Response:
    """A lane's error as `error_response` writes it, with this request's timestamp and id."""
    status, _, head, tail = error
    body = b"".join((head, timestamp, tail, b',"requestId":', _encode(request_id), b"}}"))
    return Response(status, [("content-type", JSON_CONTENT_TYPE)], body)
