"""Response bodies encoded once per registry version (docs/protocol.md §5.4)."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode


class CachedBody:
    """A JSON body encoded once per registry version, with its strong ETag. Its gzip variant (with an
    ETag of its own) is made by the HTTP layer's `Compressor` on first demand and kept here, so it
    lives exactly as long as the registry version."""

    __slots__ = ("body", "etag", "gzip_etag", "gzipped")

    def __init__(self, body: bytes) -> None:
        self.body = body
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        self.etag = f'"{digest}"'
        self.gzip_etag = f'"{digest}-gz"'
        self.gzipped: bytes | None = None

    @classmethod
    def of(cls, value: Any) -> CachedBody:
        return cls(_encode(value))
