"""What a front-end developer looks at: the OpenAPI description, the docs page, the
browser runtime and the demo.

- `GET <mount>/api-docs.json`: OpenAPI 3.1 built from the app's real routes (`ixp.http.openapi`)
  and the registry version's intents; rebuilt per version by a swap listener, served as a registry
  body (ETag, 304, gzip).
- `GET <mount>/api-docs`: Swagger UI (the `swagger-ui-py` package's build, served from here, no CDN)
  under a CSP that lets it run: scripts from this origin only, inline styles.
- `GET <mount>/sdk/ixp.js`: the ES-module runtime, loadable from any origin (CORS `*`, CORP
  `cross-origin`), strong ETag; `<mount>/static/components/*.<hash>.js`: the bundled examples'
  components, immutable.
- `GET /` with `IXP_DEMO` (default: on with the bundled examples): a chat box over
  `/api/intents/process` that mounts the matched component.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from ixp import __version__
from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.features.assets import (
    IMMUTABLE,
    REVALIDATE,
    Asset,
    bundled_components,
    content_type,
    fill,
    hashed_name,
    json_in_html,
    read,
)
from ixp.features.contribution import Contribution
from ixp.http.compression import Compressor
from ixp.http.cors import own_headers
from ixp.http.openapi import RouteDoc, build_spec, encode_spec
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response
from ixp.registry.bodies import CachedBody
from ixp.registry.reference import Commit, RegistryRef
from ixp.registry.version import Registry

# Pages: scripts and styles from this origin only (Swagger UI sets inline styles), no inline script.
PAGE_CSP = (
    "default-src 'self';script-src 'self';style-src 'self' 'unsafe-inline';img-src 'self' data:;"
    "font-src 'self' data:;connect-src 'self';base-uri 'self';form-action 'self';frame-ancestors 'self';"
    "object-src 'none';script-src-attr 'none'"
)
SDK_CACHE = "public, max-age=300, must-revalidate"
DESCRIPTION = (
    "The Intent Exchange Protocol as ixp serves it: the registry, render, free-text processing, users "
    "and sessions, health and metrics. Every error is the envelope `{error: {code, message, timestamp, "
    "requestId?, details?}}`; docs/protocol.md describes the protocol in full."
)


def demo_enabled(settings: Settings) -> bool:
    if settings.demo is not None:
        return settings.demo
    return settings.intents is None and settings.components is None


def swagger_ui_dir() -> Path:
    """The static Swagger UI build of the `swagger-ui-py` package (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(["the docs page needs the swagger-ui-py package: pip install swagger-ui-py"])
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def spec_body(
    registry: Registry, routes: Callable[[], list[RouteDoc]], common: tuple[str, ...]
) -> CachedBody:
    body: CachedBody | None = registry.derived.get("openapi")
    if body is None:
        spec = build_spec(
            routes(),
            registry,
            title="ixp",
            version=__version__,
            description=DESCRIPTION,
            common_errors=common,
        )
        body = registry.derived["openapi"] = CachedBody(encode_spec(spec))
    return body


def web(
    settings: Settings,
    registry: RegistryRef,
    compressor: Compressor,
    routes: Callable[[], list[RouteDoc]],
) -> Contribution:
    """`routes`: the app's documented routes, read when a version's spec is built (after start-up)."""
    mount = settings.mount_path
    page = own_headers(settings, content_security_policy=PAGE_CSP)
    anywhere = own_headers(settings, any_origin=True, resource_policy="cross-origin")
    common: list[str] = []
    if settings.rate_limit:
        common.append("RATE_LIMIT_EXCEEDED")
    if settings.allowed_origins and "*" not in settings.allowed_origins:
        common.append("ORIGIN_NOT_ALLOWED")

    def openapi_of(version: Registry) -> CachedBody:
        return spec_body(version, routes, tuple(common))

    def rebuild(version: Registry) -> Commit:
        openapi_of(version)  # built before the swap, so the new version serves its own spec at once
        return lambda: None

    def spec_handler(request: Request) -> Response:
        return compressor.cached_response(request.headers, openapi_of(registry.current))

    assets: list[Asset] = []
    urls: dict[str, str] = {}

    def add(
        name: str,
        data: bytes,
        prefix: str,
        cache: str = IMMUTABLE,
        own: tuple[tuple[str, str], ...] | None = None,
        path: str | None = None,
    ) -> str:
        url = path or f"{prefix}/{hashed_name(name, data)}"
        assets.append(Asset(url, data, content_type(name), cache, own))
        urls[name] = url
        return url

    # The browser runtime and the bundled components, loadable from any origin.
    sdk_url = add("ixp.js", read("ixp.js"), "", SDK_CACHE, anywhere, f"{mount}/sdk/ixp.js")
    components, modules = bundled_components(f"{mount}/static/components", anywhere)
    assets.extend(components)
    manifest = json_in_html({"modules": modules}).encode()
    add("components.json", manifest, "", REVALIDATE, anywhere, f"{mount}/static/components.json")

    # The docs page: Swagger UI's build and a starter script, content-hashed; the page revalidates.
    swagger = swagger_ui_dir()
    for name in ("swagger-ui.css", "swagger-ui-bundle.js"):
        add(name, read(name, swagger), f"{mount}/api-docs")
    add("api-docs.js", read("api-docs.js"), f"{mount}/api-docs")
    docs_config = json_in_html({"specUrl": f"{mount}/api-docs.json"})
    docs_html = fill(read("api-docs.html").decode(), {**urls, "config": docs_config})
    add("api-docs.html", docs_html.encode(), "", REVALIDATE, page, f"{mount}/api-docs")

    if demo_enabled(settings):
        add("demo.css", read("demo.css"), f"{mount}/static")
        demo_js = fill(read("demo.js").decode(), {"ixp.js": sdk_url})
        add("demo.js", demo_js.encode(), f"{mount}/static")
        config = json_in_html({"mount": mount, "modules": modules})
        demo_html = fill(read("demo.html").decode(), {**urls, "config": config, "mount": mount})
        add("demo.html", demo_html.encode(), "", REVALIDATE, page, "/")

    def serve(asset: Asset) -> RouteSpec:
        def handler(request: Request) -> Response:
            return asset.respond(request.headers, compressor)

        name = asset.path if asset.cache_control != IMMUTABLE else f"{mount}/static/*"
        return RouteSpec("GET", asset.path, handler, name=name, documented=False)

    spec_route = RouteSpec(
        "GET",
        f"{mount}/api-docs.json",
        spec_handler,
        body_of=openapi_of,
        documented=False,
    )
    return Contribution(
        "web",
        routes=[spec_route, *(serve(asset) for asset in assets)],
        registry_listeners=[rebuild],
    )
