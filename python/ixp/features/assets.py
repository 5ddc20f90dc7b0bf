"""Static files ixp serves itself (the browser runtime, the demo, the docs page and its Swagger UI
build): read once at start-up, each with a strong ETag, a gzip variant made on first demand, its
Cache-Control and its own CORS/CSP/CORP headers (`Response.own_headers`).

Files named by content (`name.<hash>.js`) are immutable and can sit behind a CDN for a year; an
HTML page or `ixp.js` keeps a stable URL and is revalidated by ETag. `{{name}}` placeholders in a
text asset are replaced by the URLs of other assets (or by values) before it is hashed, so a page's
hash covers the names of what it loads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ixp.http.compression import Compressor
from ixp.http.types import HeaderMap, Response

STATIC = Path(__file__).resolve().parents[1] / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

CONTENT_TYPES = MappingProxyType(
    {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".html": "text/html; charset=utf-8",
        ".json": "application/json; charset=utf-8",
    }
)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def hashed_name(name: str, data: bytes) -> str:
    """`faq.js` → `faq.<12 hex digits of its SHA-256>.js`."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{content_hash(data)}.{ext}" if dot else f"{name}.{content_hash(data)}"


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace each `{{key}}`; a placeholder left over is a packaging error, caught at start-up."""
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    if "{{" in template:
        start = template.index("{{")
        raise ValueError(f"unfilled placeholder {template[start : start + 40]!r}")
    return template


def json_in_html(value: Any) -> str:
    """JSON to embed in `<script type="application/json">`: `<` escaped, so no `</script>` ends it."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


class Asset:
    """One file at one URL: body, strong ETag, gzip variant (on first demand), headers."""

    __slots__ = ("body", "cache_control", "content_type", "etag", "gzip_etag", "gzipped", "own", "path")

    def __init__(
        self,
        path: str,
        body: bytes,
        content_type: str,
        cache_control: str,
        own: tuple[tuple[str, str], ...] | None,
    ) -> None:
        self.path = path
        self.body = body
        self.content_type = content_type
        self.cache_control = cache_control
        self.own = own
        digest = hashlib.sha256(body).hexdigest()[:32]
        self.etag = f'"{digest}"'
        self.gzip_etag = f'"{digest}-gz"'
        self.gzipped: bytes | None = None

    def respond(self, headers: HeaderMap, compressor: Compressor) -> Response:
        gzipped = headers.get("accept-encoding") is not None and compressor.wanted(headers, len(self.body))
        etag = self.gzip_etag if gzipped else self.etag
        out = [("etag", etag), ("cache-control", self.cache_control)]
        match = headers.get("if-none-match")
        if match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in match.split(",")}
            if "*" in tags or self.etag in tags or self.gzip_etag in tags:
                return Response(304, out, b"", self.own, False)
        out.insert(0, ("content-type", self.content_type))
        if not gzipped:
            return Response(200, out, self.body, self.own, False)
        if self.gzipped is None:
            self.gzipped = compressor.compress(self.body)
        out.append(("content-encoding", "gzip"))
        return Response(200, out, self.gzipped, self.own, False)


def read(name: str, base: Path = STATIC) -> bytes:
    return (base / name).read_bytes()


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")


def bundled_components(
    prefix: str, own: tuple[tuple[str, str], ...] | None
) -> tuple[list[Asset], dict[str, str]]:
    """The example components' modules under `prefix`, content-hashed (helpers `_*.js` first, and
    the importers' references to them rewritten), and the export name → URL map."""
    folder = STATIC / "components"
    helpers: dict[str, str] = {}
    assets: list[Asset] = []
    for file in sorted(folder.glob("_*.js")):
        data = file.read_bytes()
        helpers[file.name] = hashed_name(file.name, data)
        assets.append(Asset(f"{prefix}/{helpers[file.name]}", data, content_type(file.name), IMMUTABLE, own))
    modules: dict[str, str] = {}
    for file in sorted(folder.glob("[!_]*.js")):
        text = file.read_text()
        for name, hashed in helpers.items():
            text = text.replace(f'"./{name}"', f'"./{hashed}"')
        data = text.encode()
        url = f"{prefix}/{hashed_name(file.name, data)}"
        assets.append(Asset(url, data, content_type(file.name), IMMUTABLE, own))
        for line in text.splitlines():
            if line.startswith("export function "):
                modules[line.split()[2].split("(")[0]] = url
    return assets, modules
