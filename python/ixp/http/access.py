"""Access control: API keys with scopes, and who may reach what without one (README, "Security").

Keys are configured by the SHA-256 digest of the key, never the key: one `name digest scope,scope`
line each, in `IXP_API_KEYS_FILE` or `IXP_API_KEYS`. A request sends `Authorization: Bearer <key>`.
A missing or unknown key is 401 `UNAUTHORIZED` (with `WWW-Authenticate: Bearer`), a key without
the scope 403 `FORBIDDEN`. Comparison is constant-time, and only the key's name is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

from ixp.base.errors import ConfigError, ErrorCode, IXPError
from ixp.base.settings import Settings
from ixp.http.ratelimit import (
    ClientAddress,
    HostRateLimiter,
    LocalRateLimiter,
    RedisRateLimiter,
    parse_rate,
    worker_limiter,
)
from ixp.http.types import HeaderMap, Request
from ixp.observability.log import key_name

log = logging.getLogger("ixp.access")


_DIGEST = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class Scope(str, Enum):
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    SESSIONS_WRITE = "sessions:write"
    METRICS_READ = "metrics:read"


class ApiKey(NamedTuple):
    name: str
    digest: bytes
    scopes: frozenset[Scope]


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def parse_keys(text: str, where: str) -> list[ApiKey]:
    """`name digest scope,scope` lines (blank lines and `#` comments ignored); every problem named
    with its line."""
    keys: list[ApiKey] = []
    problems: list[str] = []
    names: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        at = f"{where} line {number}"
        if len(parts) != 3:
            problems.append(f"{at}: expected 'name sha256-hex-digest scope,scope', got {len(parts)} fields")
            continue
        name, digest, scope_list = parts
        if not _NAME.fullmatch(name):
            problems.append(f"{at}: key name must be 1-64 of A-Z a-z 0-9 . _ -, got '{name}'")
        if name in names:
            problems.append(f"{at}: key name '{name}' is used twice")
        names.add(name)
        if not _DIGEST.fullmatch(digest):
            problems.append(f"{at}: '{name}': expected the key's SHA-256 as 64 lower-case hex digits")
        scopes: set[Scope] = set()
        for scope in scope_list.split(","):
            try:
                scopes.add(Scope(scope))
            except ValueError:
                allowed = ", ".join(s.value for s in Scope)
                problems.append(f"{at}: '{name}': unknown scope '{scope}' (allowed: {allowed})")
        keys.append(
            ApiKey(name, bytes.fromhex(digest) if _DIGEST.fullmatch(digest) else b"", frozenset(scopes))
        )
    if problems:
        raise ConfigError(problems)
    return keys


def load_keys(settings: Settings) -> list[ApiKey]:
    # In the variable, lines may also be separated by ';' (a newline is awkward in some deployers).
    keys = parse_keys(settings.api_keys.replace(";", "\n"), "IXP_API_KEYS") if settings.api_keys else []
    if settings.api_keys_file:
        path = Path(settings.api_keys_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"IXP_API_KEYS_FILE: cannot read {path}: {exc.strerror}") from None
        keys += parse_keys(text, str(path))
    return keys


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class AccessControl:
    """Decides, per request, whether it may use a scope."""

    def __init__(self, settings: Settings, client_address: ClientAddress, shared: Path | None = None) -> None:
        self.keys = load_keys(settings)
        self.shared = shared
        self.client_address = client_address
        self.users_loopback = settings.users_api == "loopback"
        self.metrics_public = settings.metrics_public
        self.per_key: LocalRateLimiter | HostRateLimiter | RedisRateLimiter | None = None
        self.per_key_window = 0.0
        if settings.rate_limit_per_key:
            limit, self.per_key_window = parse_rate(settings.rate_limit_per_key, "IXP_RATE_LIMIT_PER_KEY")
            self.per_key = LocalRateLimiter(limit, self.per_key_window)
        self.redis_url = settings.redis_url
        self._close: Any = None
        self.denied = {"unauthorized": 0, "forbidden": 0}

    def replace_keys(self, keys: Iterable[ApiKey]) -> None:
        self.keys = list(keys)

    def local(self, request: Request) -> bool:
        """A loopback client that did not come through a proxy header (unless the proxy is trusted
        and named a loopback client)."""
        headers = request.headers
        peer = request.client.rsplit(":", 1)[0] if request.client.count(":") == 1 else request.client
        forwarded = any(headers.get(name) is not None for name in _PROXY_HEADERS)
        if not forwarded:
            return is_loopback(peer)
        return self.client_address.trusts(peer) and is_loopback(
            self.client_address.resolve(peer, headers.get("x-forwarded-for"))
        )

    def key_of(self, headers: HeaderMap) -> ApiKey | None:
        """The configured key the request presents; compares every digest in constant time."""
        raw = headers.get("authorization")
        if raw is None:
            return None
        scheme, _, token = raw.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = hashlib.sha256(token.strip().encode()).digest()
        found = None
        for key in self.keys:  # no early exit: the time does not depend on which key matched
            if hmac.compare_digest(presented, key.digest):
                found = key
        return found

    async def require(self, request: Request, scope: Scope) -> None:
        """Raise 401/403 (or 429 over the per-key limit) unless the request may use `scope`."""
        if scope is Scope.METRICS_READ and (self.metrics_public or self.local(request)):
            return
        if not self.keys:
            if self.users_loopback and scope is not Scope.METRICS_READ and self.local(request):
                return
            self.denied["forbidden"] += 1
            raise IXPError(
                ErrorCode.FORBIDDEN,
                f"This endpoint needs an API key with scope '{scope.value}' and no key is configured: "
                f"create one with `ixp keys new NAME --scopes {scope.value}` and add its line to "
                "IXP_API_KEYS_FILE (for local development only: IXP_USERS_API=loopback)",
                {"scope": scope.value},
            )
        key = self.key_of(request.headers)
        if key is None:
            self.denied["unauthorized"] += 1
            raise IXPError(
                ErrorCode.UNAUTHORIZED,
                "A valid API key is required: send 'Authorization: Bearer <key>'",
                {"scope": scope.value},
                headers=[("www-authenticate", 'Bearer realm="ixp"')],
            )
        key_name.set(key.name)
        if scope not in key.scopes:
            self.denied["forbidden"] += 1
            log.info("API key %r lacks scope %s", key.name, scope.value, extra={"key": key.name})
            raise IXPError(
                ErrorCode.FORBIDDEN,
                f"API key '{key.name}' lacks scope '{scope.value}'",
                {"scope": scope.value},
            )
        if self.per_key is not None:
            limiter = self.per_key
            decision = (
                await limiter.hit(key.name)
                if isinstance(limiter, RedisRateLimiter)
                else limiter.hit(key.name)
            )
            if not decision.allowed:
                raise IXPError(
                    ErrorCode.RATE_LIMIT_EXCEEDED,
                    f"Rate limit exceeded for API key '{key.name}': {decision.limit} requests per "
                    f"{self.per_key_window:g}s",
                    {"limit": decision.limit, "windowSeconds": self.per_key_window},
                    headers=decision.headers(),
                )

    async def start(self) -> None:
        """The per-key limit is counted across the host's workers, and with Redis across hosts."""
        if self.per_key is None:
            return
        host = worker_limiter(self.per_key.limit, self.per_key_window, self.shared, "key")
        self.per_key = host
        if not self.redis_url:
            return
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.per_key = RedisRateLimiter(
            host.limit, self.per_key_window, client, prefix="ixp:rlk:", fallback=host
        )
        self._close = client.aclose

    async def stop(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            await close()

    def stats(self) -> dict[str, int]:
        return {"keys": len(self.keys), **self.denied}
