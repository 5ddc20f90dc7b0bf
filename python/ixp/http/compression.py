"""gzip for responses, by the performance guide's rules: level 6, bodies over 1 KB of compressible
types, only when `Accept-Encoding` allows it and the request has no `x-no-compression` header
(docs/protocol.md §11.4). Everything about gzip is here.

Registry bodies are compressed once per registry version (kept on the `CachedBody`), not per
request, and answered with ETags and 304s by `cached_response` (docs/protocol.md §5.4).
brotli and zstd are not offered: gzip level 6 on these small JSON bodies costs tens of µs, and a
second codec would double the cached variants for a few percent of bytes.
"""

from __future__ import annotations

import gzip

from ixp.base.settings import Settings
from ixp.http.types import JSON_CONTENT_TYPE, HeaderMap, Response
from ixp.registry.bodies import CachedBody

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
    __slots__ = ("enabled", "level", "min_bytes", "threshold")

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.compression
        self.level = settings.compression_level
        self.min_bytes = settings.compression_min_bytes
        # Bodies below this are never compressed: one comparison per response decides.
        self.threshold = settings.compression_min_bytes if settings.compression else 1 << 62

    def wanted(self, headers: HeaderMap, size: int) -> bool:
        if not self.enabled or size < self.min_bytes:
            return False
        accept = headers.get("accept-encoding")
        return accept is not None and headers.get("x-no-compression") is None and accepts_gzip(accept)

    def compress(self, data: bytes) -> bytes:
        return gzip.compress(data, self.level, mtime=0)

    def apply(self, response: Response, headers: HeaderMap) -> None:
        """Compress a finished response in place when the rules allow it."""
        if (
            response.status != 200
            or not response.compressible
            or not self.wanted(headers, len(response.body))
        ):
            return
        content_type = next((v for k, v in response.headers if k == "content-type"), "")
        if not content_type.startswith(COMPRESSIBLE):
            return
        response.body = self.compress(response.body)
        response.headers.append(("content-encoding", "gzip"))
        response.compressible = False

    def gzip_variant(self, body: CachedBody) -> bytes:
        """The cached body's gzip variant, compressed once and kept for the registry version."""
        if body.gzipped is None:
            body.gzipped = self.compress(body.body)
        return body.gzipped

    def warm(self, bodies: tuple[CachedBody, ...]) -> int:
        """Compress ahead of traffic the bodies that qualify; returns how many."""
        warmed = 0
        for body in bodies:
            if self.enabled and len(body.body) >= self.min_bytes:
                self.gzip_variant(body)
                warmed += 1
        return warmed

    def cached_response(self, headers: HeaderMap, body: CachedBody) -> Response:
        """A body encoded once per registry version: its ETag, 304 on `If-None-Match`, and the gzip
        variant (with its own ETag) when the request accepts it."""
        gzipped = headers.get("accept-encoding") is not None and self.wanted(headers, len(body.body))
        etag = body.gzip_etag if gzipped else body.etag
        match = headers.get("if-none-match")
        if match is not None:
            tags = _etags(match)
            if "*" in tags or body.etag in tags or body.gzip_etag in tags:
                return Response(304, [("etag", etag)], b"")
        if not gzipped:
            # Positional (status, headers, body, own_headers, compressible): keywords cost more per call.
            return Response(
                200, [("content-type", JSON_CONTENT_TYPE), ("etag", etag)], body.body, None, False
            )
        return Response(
            200,
            [("content-type", JSON_CONTENT_TYPE), ("etag", etag), ("content-encoding", "gzip")],
            self.gzip_variant(body),
            None,
            False,
        )


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",")]
