"""Request ids (docs/protocol.md §1.4): the client's `X-Request-Id` when it is a sane token, else one
made here — a per-process random prefix and a counter, unique without a syscall per request."""

from __future__ import annotations

import itertools
import os
import re

from ixp.http.types import HeaderMap

_VALID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class RequestIds:
    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex() + "-"
        self._counter = itertools.count(1)

    def of(self, headers: HeaderMap) -> str:
        """This request's id: the header's value if valid, else a new one."""
        rid = headers.get("x-request-id")
        if rid is None or not _VALID.fullmatch(rid):
            rid = self._prefix + hex(next(self._counter))
        return rid  # type: ignore[no-any-return]
