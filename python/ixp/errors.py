"""The protocol's error model: one exception type, one JSON envelope (ixp-protocol.md §2)."""

from __future__ import annotations

from typing import Any

import msgspec

from ixp._clock import utc_now_iso

# Codes the server emits. The SDK's names are kept for wire compatibility.
INVALID_REQUEST = "INVALID_REQUEST"
ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
INTENT_NOT_SUPPORTED = "INTENT_NOT_SUPPORTED"
COMPONENT_NOT_FOUND = "COMPONENT_NOT_FOUND"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
NO_INTENT_MATCHED = "NO_INTENT_MATCHED"
STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
CONFLICT = "CONFLICT"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
TIMEOUT_ERROR = "TIMEOUT_ERROR"
INTERNAL_ERROR = "INTERNAL_ERROR"

_encoder = msgspec.json.Encoder()


class IXPError(Exception):
    """An error that becomes an HTTP response in the protocol's envelope."""

    __slots__ = ("code", "details", "headers", "message", "status")

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def body(self, request_id: str | None = None) -> bytes:
        """The envelope: `{"error": {code, message, timestamp, details?, requestId?}}` (§2.1; the
        request id is ours, so that a client's report can be found in the logs)."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "timestamp": utc_now_iso()}
        if self.details is not None:
            error["details"] = self.details
        if request_id:
            error["requestId"] = request_id
        return _encoder.encode({"error": error})


class ConfigError(Exception):
    """Invalid configuration: start-up stops with this message (file, entry, field, problem)."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def bad_request(message: str, details: dict[str, Any] | None = None) -> IXPError:
    return IXPError(400, INVALID_REQUEST, message, details)
