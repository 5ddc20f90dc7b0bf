"""Timestamps in the protocol's format: ISO-8601 UTC with milliseconds and a `Z` suffix."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def utc_now_iso() -> str:
    # Every error envelope carries one: formatted from the clock directly, without a datetime.
    seconds, ms = divmod(time.time_ns() // 1_000_000, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


class IsoClock:
    """`utc_now_iso` for the request path: the date and time up to the second are formatted once
    per second (formatting them costs more than the rest of an error envelope). An instance is
    owned by whoever uses it (the pipeline), never shared through a module."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def now(self) -> bytes:
        """The current time, `2025-01-01T12:00:00.000Z`, as bytes."""
        seconds, ms = divmod(time.time_ns() // 1_000_000, 1000)
        if seconds != self._second:
            self._second = seconds
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds)).encode()
        return self._prefix + b"%03dZ" % ms


def iso_ms(moment: datetime) -> str:
    """`2025-01-01T12:00:00.000Z`, the way JavaScript's `Date.toISOString()` prints it."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime | None:
    """Parse an ISO-8601 date or timestamp (a trailing `Z` allowed); naive values are taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment
