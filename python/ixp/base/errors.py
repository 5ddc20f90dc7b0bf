"""The error model: every protocol error code with its HTTP status, one domain error type, and the
configuration error that stops start-up.

Domain code raises `IXPError` (or a subclass, such as the storage errors) naming an `ErrorCode`;
the HTTP layer turns it into the protocol's envelope at one boundary (`ixp.http.errors`). Codes
and statuses are listed in docs/protocol.md §2.2 and in the README.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """A protocol error code and the HTTP status it is always answered with.

    The SDK's names are kept for wire compatibility; the codes the SDK never sent are listed in
    docs/protocol.md §2.2.
    """

    status: int

    def __new__(cls, code: str, status: int) -> ErrorCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.status = status
        return member

    INVALID_REQUEST = ("INVALID_REQUEST", 400)
    UNAUTHORIZED = ("UNAUTHORIZED", 401)
    FORBIDDEN = ("FORBIDDEN", 403)
    ORIGIN_NOT_ALLOWED = ("ORIGIN_NOT_ALLOWED", 403)
    NOT_FOUND = ("NOT_FOUND", 404)
    INTENT_NOT_SUPPORTED = ("INTENT_NOT_SUPPORTED", 404)
    COMPONENT_NOT_FOUND = ("COMPONENT_NOT_FOUND", 404)
    NO_INTENT_MATCHED = ("NO_INTENT_MATCHED", 404)
    USER_NOT_FOUND = ("USER_NOT_FOUND", 404)
    METHOD_NOT_ALLOWED = ("METHOD_NOT_ALLOWED", 405)
    CONFLICT = ("CONFLICT", 409)
    PAYLOAD_TOO_LARGE = ("PAYLOAD_TOO_LARGE", 413)
    UNSUPPORTED_MEDIA_TYPE = ("UNSUPPORTED_MEDIA_TYPE", 415)
    RATE_LIMIT_EXCEEDED = ("RATE_LIMIT_EXCEEDED", 429)
    INTERNAL_ERROR = ("INTERNAL_ERROR", 500)
    DATA_PROVIDER_ERROR = ("DATA_PROVIDER_ERROR", 502)
    STORAGE_UNAVAILABLE = ("STORAGE_UNAVAILABLE", 503)
    TIMEOUT_ERROR = ("TIMEOUT_ERROR", 504)


class IXPError(Exception):
    """A domain error that the HTTP boundary answers as `code.status` in the protocol's envelope.

    `details` becomes the envelope's `details` object; `headers` are added to the response (e.g.
    `Allow` on 405).
    """

    __slots__ = ("code", "details", "headers", "message")

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    @property
    def status(self) -> int:
        return self.code.status


class ConfigError(Exception):
    """Invalid configuration: start-up stops with this message (file, entry, field, problem)."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
