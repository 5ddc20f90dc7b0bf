"""Per-client rate limiting (`IXP_RATE_LIMIT`, e.g. `100/60s`; off by default; docs/protocol.md §11.5).

A fixed window per client address, exact across every process that counts in the same store:
- with `IXP_REDIS_URL`, every worker of every host counts in Redis (one atomic script call per
  request);
- without it, the workers of one server on one host count in a table in their shared directory
  (`ixp.base.shared`: a memory-mapped file under /dev/shm, one `lockf` per request);
- an app that is not a server's worker (embedded, tests) counts in its own memory.
If Redis fails, the host's table takes over (each host then allows the limit by itself) — requests
are never refused because the limiter's store is down.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import logging
import math
import mmap
import os
import re
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ixp.base.errors import ConfigError, ErrorCode, IXPError
from ixp.base.settings import Settings
from ixp.http.types import HeaderMap

log = logging.getLogger("ixp.ratelimit")
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT: Mapping[str | None, float] = MappingProxyType(
    {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
)
# INCR, set the expiry on the first hit, return the count and the time left (ms).
_REDIS_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
return {count, ttl}
"""


def parse_rate(spec: str, setting: str = "IXP_RATE_LIMIT") -> tuple[int, float]:
    """`100/60s` → (100, 60.0). Units ms, s, m, h; seconds when omitted."""
    match = _SPEC.match(spec)
    if match is None or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
        raise ConfigError(f"{setting}: expected '<requests>/<window>' like '100/60s', got '{spec}'")
    return int(match.group(1)), float(match.group(2)) * _UNIT[match.group(3)]


class Decision:
    __slots__ = ("allowed", "limit", "remaining", "reset_after")

    def __init__(self, allowed: bool, limit: int, remaining: int, reset_after: float) -> None:
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset_after = reset_after

    def headers(self) -> list[tuple[str, str]]:
        reset = str(max(1, math.ceil(self.reset_after)))
        headers = [
            ("x-ratelimit-limit", str(self.limit)),
            ("x-ratelimit-remaining", str(self.remaining)),
            ("x-ratelimit-reset", reset),  # seconds until the window resets (the SDK sent an ISO date)
        ]
        if not self.allowed:
            headers.append(("retry-after", reset))
        return headers


class LocalRateLimiter:
    """Fixed windows in a dict; expired entries are pruned as the dict grows, so it stays bounded."""

    def __init__(self, limit: int, window: float, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self.windows: dict[str, list[float]] = {}

    def hit(self, key: str, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        entry = self.windows.get(key)
        if entry is None or now - entry[0] >= self.window:
            if entry is None and len(self.windows) >= self.max_clients:
                self.prune(now)
            entry = self.windows[key] = [now, 0.0]
        entry[1] += 1
        count = int(entry[1])
        return Decision(
            count <= self.limit, self.limit, max(0, self.limit - count), entry[0] + self.window - now
        )

    def prune(self, now: float) -> None:
        expired = [k for k, (start, _) in self.windows.items() if now - start >= self.window]
        for key in expired:
            del self.windows[key]
        if len(self.windows) >= self.max_clients:  # all live: drop the oldest half rather than grow
            for key in sorted(self.windows, key=lambda k: self.windows[k][0])[: len(self.windows) // 2]:
                del self.windows[key]


_SLOT = struct.Struct("<QdQ")  # key hash (0 = never used), window start (CLOCK_MONOTONIC), count
_PROBES = 16


class HostRateLimiter:
    """The fixed window in a table that every worker of the host maps (open addressing on a 64-bit
    hash of the key; a slot whose window has ended is reused). `CLOCK_MONOTONIC` is one clock for
    every process of a host, so the workers agree on windows. When the `_PROBES` slots of a key are
    all live (more clients than the table holds), that key is counted by the worker alone."""

    def __init__(self, limit: int, window: float, path: Path, slots: int = 131_072) -> None:
        self.limit = limit
        self.window = window
        self.slots = slots
        self.local = LocalRateLimiter(limit, window)
        self.overflows = 0
        size = slots * _SLOT.size
        self._file = open(path, "a+b")  # noqa: SIM115 - lives as long as the limiter
        fcntl.lockf(self._file, fcntl.LOCK_EX)
        try:
            if os.fstat(self._file.fileno()).st_size < size:
                os.ftruncate(self._file.fileno(), size)  # zero-filled: every slot unused
        finally:
            fcntl.lockf(self._file, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._file.fileno(), size)

    def hit(self, key: str, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") | 1
        table, slot_size, window = self._map, _SLOT.size, self.window
        fcntl.lockf(self._file, fcntl.LOCK_EX)
        try:
            free = -1
            for probe in range(_PROBES):
                offset = ((digest + probe) % self.slots) * slot_size
                owner, start, count = _SLOT.unpack_from(table, offset)
                if owner == digest:
                    if now - start >= window:
                        start, count = now, 0
                    break
                if free < 0 and (owner == 0 or now - start >= window):
                    free = offset
                if owner == 0:  # never used: the key is not further on
                    break
            if owner != digest:
                if free < 0:
                    self.overflows += 1
                    return self.local.hit(key, now)
                offset, start, count = free, now, 0
            count += 1
            _SLOT.pack_into(table, offset, digest, start, count)
        finally:
            fcntl.lockf(self._file, fcntl.LOCK_UN)
        return Decision(count <= self.limit, self.limit, max(0, self.limit - count), start + window - now)

    def close(self) -> None:
        self._map.close()
        self._file.close()


def worker_limiter(
    limit: int, window: float, shared: Path | None, name: str
) -> LocalRateLimiter | HostRateLimiter:
    """The host's table when this worker has a shared directory, else its own memory."""
    if shared is None:
        return LocalRateLimiter(limit, window)
    shared.mkdir(parents=True, exist_ok=True, mode=0o700)
    return HostRateLimiter(limit, window, shared / f"ratelimit-{name}.bin")


class RedisRateLimiter:
    """The same fixed window, counted in Redis so that all workers and machines share it."""

    def __init__(
        self,
        limit: int,
        window: float,
        redis: Any,
        prefix: str = "ixp:rl:",
        fallback: LocalRateLimiter | HostRateLimiter | None = None,
    ) -> None:
        self.limit = limit
        self.window_ms = max(1, int(window * 1000))
        self.redis = redis
        self.prefix = prefix
        self.local = fallback if fallback is not None else LocalRateLimiter(limit, window)
        self._script = redis.register_script(_REDIS_SCRIPT)
        self._last_warning = 0.0

    async def hit(self, key: str) -> Decision:
        try:
            count, ttl_ms = await self._script(keys=[self.prefix + key], args=[self.window_ms])
        except Exception as exc:  # Redis down: count locally, never refuse because of the store
            now = time.monotonic()
            if now - self._last_warning > 30:
                self._last_warning = now
                log.warning("rate limiter: Redis unavailable (%s); counting per host until it returns", exc)
            return self.local.hit(key)
        count = int(count)
        reset = max(int(ttl_ms), 0) / 1000
        return Decision(count <= self.limit, self.limit, max(0, self.limit - count), reset)


class ClientAddress:
    """The client's address: the socket peer, or `X-Forwarded-For` when the peer is a trusted proxy."""

    def __init__(self, trusted: Sequence[str]) -> None:
        self.networks = []
        for entry in trusted:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigError(f"IXP_TRUSTED_PROXIES: '{entry}' is not an IP address or network") from None

    def trusts(self, address: str) -> bool:
        """True if `address` is one of the trusted proxies."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def resolve(self, peer: str, forwarded_for: str | None) -> str:
        peer = peer.rsplit(":", 1)[0] if peer.count(":") == 1 else peer  # "ip:port" from RSGI
        if not self.networks or forwarded_for is None or not self.trusts(peer):
            return peer
        # Walk from the right: the first address that is not one of our proxies is the client.
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer


class RateLimit:
    """The per-client limit of one app: counts each request of a rate-limited route and raises 429
    `RATE_LIMIT_EXCEEDED` over the limit. With `IXP_REDIS_URL`, `start` moves the count to Redis."""

    def __init__(self, settings: Settings, client_address: ClientAddress, shared: Path | None = None) -> None:
        assert settings.rate_limit is not None
        self.limit, self.window = parse_rate(settings.rate_limit)
        self.redis_url = settings.redis_url
        self.client_address = client_address
        self.shared = shared
        self.limiter: LocalRateLimiter | HostRateLimiter | RedisRateLimiter = LocalRateLimiter(
            self.limit, self.window
        )
        self._close: Any = None

    async def start(self) -> None:
        host = worker_limiter(self.limit, self.window, self.shared, "client")
        self.limiter = host
        if not self.redis_url:
            return
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.limiter = RedisRateLimiter(self.limit, self.window, client, fallback=host)
        self._close = client.aclose

    async def stop(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            await close()

    async def check(self, client: str, headers: HeaderMap) -> list[tuple[str, str]]:
        """The rate-limit headers for this request; raises 429 when it is over the limit."""
        key = self.client_address.resolve(client, headers.get("x-forwarded-for"))
        limiter = self.limiter
        decision = await limiter.hit(key) if isinstance(limiter, RedisRateLimiter) else limiter.hit(key)
        limit_headers = decision.headers()
        if not decision.allowed:
            raise IXPError(
                ErrorCode.RATE_LIMIT_EXCEEDED,
                f"Rate limit exceeded: {decision.limit} requests per {self.window:g}s",
                {"limit": decision.limit, "windowSeconds": self.window},
                headers=limit_headers,
            )
        return limit_headers
