"""gzip for responses, by the performance guide's rules: level 6, bodies over 1 KB of compressible
types, only when `Accept-Encoding` allows it and the request has no `x-no-compression` header.

Registry bodies are compressed once per registry version (`CachedBody.gzipped`), not per request.
brotli and zstd are not offered: gzip level 6 on these small JSON bodies costs tens of µs, and a
second codec would double the cached variants for a few percent of bytes.
"""

from __future__ import annotations

import gzip

from ixp._http import HeaderMap, Response
from ixp.settings import Settings

COMPRESSIBLE = ("application/json", "text/", "application/javascript")


def accepts_gzip(accept_encoding: str) -> bool:
    """True unless gzip is absent or refused with q=0 (`*` counts for gzip)."""
    allowed = False
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding == "gzip":
            return quality > 0
        allowed = quality > 0
    return allowed


class Compressor:
    __slots__ = ("enabled", "level", "min_bytes")

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.compression
        self.level = settings.compression_level
        self.min_bytes = settings.compression_min_bytes

    def wanted(self, headers: HeaderMap, size: int) -> bool:
        if not self.enabled or size < self.min_bytes:
            return False
        accept = headers.get("accept-encoding")
        return accept is not None and headers.get("x-no-compression") is None and accepts_gzip(accept)

    def compress(self, data: bytes) -> bytes:
        return gzip.compress(data, self.level, mtime=0)

    def apply(self, response: Response, headers: HeaderMap) -> None:
        """Compress a finished response in place when the rules allow it."""
        if response.status != 200 or response.encoded or not self.wanted(headers, len(response.body)):
            return
        content_type = next((v for k, v in response.headers if k == "content-type"), "")
        if not content_type.startswith(COMPRESSIBLE):
            return
        response.body = self.compress(response.body)
        response.headers.append(("content-encoding", "gzip"))
        response.encoded = True
