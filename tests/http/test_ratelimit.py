"""Rate limiting per client: 429 with Retry-After in the envelope; in process or shared via Redis."""

from __future__ import annotations

import os

import httpx
import pytest

from ixp.base.errors import ConfigError
from ixp.http.ratelimit import ClientAddress, LocalRateLimiter, parse_rate
from tests._support import asgi_client


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100/60s", (100, 60.0)),
        ("5/1m", (5, 60.0)),
        ("10/500ms", (10, 0.5)),
        ("3/2", (3, 2.0)),
        ("1/1h", (1, 3600.0)),
    ],
)
def test_parse_rate(spec: str, expected: tuple[int, float]) -> None:
    assert parse_rate(spec) == expected


@pytest.mark.parametrize("spec", ["", "abc", "0/60s", "10/0s", "10/60d", "-1/5s"])
def test_bad_rate_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="IXP_RATE_LIMIT"):
        parse_rate(spec)


def test_local_window_resets_and_stays_bounded() -> None:
    limiter = LocalRateLimiter(2, 10.0, max_clients=4)
    assert [limiter.hit("a", now=0).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("a", now=10.5).allowed is True
    for i in range(10):
        limiter.hit(f"client-{i}", now=20 + i)
    assert len(limiter.windows) <= 4


def test_forwarded_for_only_behind_trusted_proxies() -> None:
    untrusted = ClientAddress([])
    assert untrusted.resolve("10.0.0.5", "1.2.3.4") == "10.0.0.5"
    behind = ClientAddress(["10.0.0.0/8"])
    assert behind.resolve("10.0.0.5", "1.2.3.4, 10.0.0.7") == "1.2.3.4"
    assert behind.resolve("192.0.2.9", "1.2.3.4") == "192.0.2.9"  # the peer is no proxy of ours
    assert behind.resolve("10.0.0.5:4431", "spoofed, 5.6.7.8") == "5.6.7.8"
    with pytest.raises(ConfigError, match="IXP_TRUSTED_PROXIES"):
        ClientAddress(["not-an-ip"])


async def test_429_with_retry_after_and_envelope(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit="3/60s")
    async with asgi_client(app) as client:
        statuses = [(await client.get("/ixp/intents")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = await client.get("/ixp/intents")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["x-ratelimit-remaining"] == "0"
        error = limited.json()["error"]
        assert error["code"] == "RATE_LIMIT_EXCEEDED"
        assert error["details"] == {"limit": 3, "windowSeconds": 60.0}
        assert (await client.get("/ixp/health")).status_code == 200  # health checks are exempt


async def test_off_by_default(client: httpx.AsyncClient) -> None:
    for _ in range(150):
        response = await client.get("/ixp/theme")
    assert response.status_code == 200
    assert "x-ratelimit-limit" not in response.headers


@pytest.mark.services
async def test_redis_shares_the_count_between_workers(make_app) -> None:  # type: ignore[no-untyped-def]
    url = os.environ.get("IXP_TEST_REDIS_URL")
    assert url, "IXP_TEST_REDIS_URL is not set: run the tests through scripts/test.sh"
    import redis.asyncio as aioredis

    await aioredis.from_url(url).flushdb()
    workers = [make_app(rate_limit="4/60s", redis_url=url) for _ in range(2)]
    for app in workers:
        await app.startup()
    try:
        statuses = []
        for i in range(6):
            async with asgi_client(workers[i % 2]) as client:
                statuses.append((await client.get("/ixp/theme")).status_code)
        assert statuses == [200, 200, 200, 200, 429, 429]
    finally:
        for app in workers:
            await app.shutdown()
