"""Response headers that do not depend on the handler: CORS and the security header set
(docs/protocol.md §11.1, §11.2).

Both are computed once from the settings; per request only the echoed origin is added.
"""

from __future__ import annotations

from types import MappingProxyType

from ixp.base.settings import Settings

# helmet 7.2.0's default set, which the SDK's clients see today.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'self';script-src 'self' 'unsafe-inline';connect-src 'self';img-src 'self' data: https:;"
        "style-src 'self' 'unsafe-inline';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
        "frame-ancestors 'self';object-src 'none';script-src-attr 'none';upgrade-insecure-requests",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("referrer-policy", "no-referrer"),
    ("strict-transport-security", "max-age=15552000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
)

PREFLIGHT_MAX_AGE = "600"
_OVERRIDABLE = MappingProxyType(
    {
        "content-security-policy": "content_security_policy",
        "strict-transport-security": "strict_transport_security",
        "x-frame-options": "frame_options",
    }
)


def security_headers(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The security header set: none with `IXP_SECURITY_HEADERS=off`; else the default set with
    `IXP_CONTENT_SECURITY_POLICY`, `IXP_STRICT_TRANSPORT_SECURITY` and `IXP_FRAME_OPTIONS` applied
    (an empty value leaves that header out)."""
    if not settings.security_headers:
        return ()
    headers = []
    for name, value in SECURITY_HEADERS:
        override = getattr(settings, _OVERRIDABLE[name]) if name in _OVERRIDABLE else None
        if override is None:
            headers.append((name, value))
        elif override:
            headers.append((name, override))
    return tuple(headers)


class CorsPolicy:
    """CORS from settings. `*` in the origin list allows every origin (the SDK matched it literally);
    with credentials on, the request's origin is echoed rather than `*`, as browsers require."""

    __slots__ = ("allow_headers", "allow_methods", "any_origin", "base", "credentials", "origins")

    def __init__(self, settings: Settings) -> None:
        self.origins = frozenset(settings.cors_origins)
        self.any_origin = "*" in self.origins
        self.credentials = settings.cors_credentials
        self.allow_methods = ",".join(settings.cors_methods)
        self.allow_headers = ",".join(settings.cors_headers)
        base = [("vary", "Origin, Accept-Encoding" if settings.compression else "Origin")]
        if self.credentials:
            base.append(("access-control-allow-credentials", "true"))
        base.extend(security_headers(settings))
        self.base: tuple[tuple[str, str], ...] = tuple(base)

    def allow_origin(self, origin: str | None) -> str | None:
        """The `Access-Control-Allow-Origin` value for this request's origin, or None."""
        if origin is None:
            return None
        if origin in self.origins:
            return origin
        if self.any_origin:
            return origin if self.credentials else "*"
        return None

    def headers(self, origin: str | None) -> list[tuple[str, str]]:
        """CORS + security headers for an ordinary response."""
        allowed = self.allow_origin(origin)
        if allowed is None:
            return [*self.base]
        return [("access-control-allow-origin", allowed), *self.base]

    def preflight(self, allow: str) -> list[tuple[str, str]]:
        """What a preflight adds to the ordinary CORS headers."""
        return [
            ("access-control-allow-methods", self.allow_methods),
            ("access-control-allow-headers", self.allow_headers),
            ("access-control-max-age", PREFLIGHT_MAX_AGE),
            ("allow", allow),
        ]


def own_headers(
    settings: Settings,
    *,
    any_origin: bool = False,
    content_security_policy: str | None = None,
    resource_policy: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """A response's own header set (`Response.own_headers`), computed once per route: the security
    headers with this response's CSP and `Cross-Origin-Resource-Policy` in place of the defaults,
    and `Access-Control-Allow-Origin: *` when any origin may read it (without credentials).

    An operator's `IXP_CONTENT_SECURITY_POLICY` still wins over a page's own CSP, and with
    `IXP_SECURITY_HEADERS=off` only the CORS header is sent.
    """
    replace: dict[str, str] = {}
    if content_security_policy is not None and settings.content_security_policy is None:
        replace["content-security-policy"] = content_security_policy
    if resource_policy is not None:
        replace["cross-origin-resource-policy"] = resource_policy
    headers = [("access-control-allow-origin", "*")] if any_origin else []
    if settings.compression:  # the same for every origin: only the encoding varies
        headers.append(("vary", "Accept-Encoding"))
    headers.extend((name, replace.get(name, value)) for name, value in security_headers(settings))
    return tuple(headers)
