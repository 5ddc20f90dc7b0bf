"""The boundary where domain errors become HTTP responses: the protocol's JSON error envelope
`{"error": {"code", "message", "timestamp", "details"?, "requestId"?}}` (docs/protocol.md §2.1).

The request id is ixp's addition, so that a client's report can be found in the logs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ixp.base.clock import utc_now_iso
from ixp.base.errors import IXPError
from ixp.http.types import JSON_CONTENT_TYPE, Response

_encode = msgspec.json.Encoder().encode


def envelope(error: IXPError, request_id: str | None = None) -> bytes:
    body: dict[str, Any] = {"code": error.code.value, "message": error.message, "timestamp": utc_now_iso()}
    if error.details is not None:
        body["details"] = error.details
    if request_id:
        body["requestId"] = request_id
    return _encode({"error": body})


def error_response(error: IXPError, request_id: str | None = None) -> Response:
    """The error's status, its envelope and the headers it carries (e.g. `Allow`)."""
    headers = [("content-type", JSON_CONTENT_TYPE)]
    if error.headers:
        headers.extend(error.headers)
    return Response(error.status, headers, envelope(error, request_id))
