"""Rate limiting per client: 429 with Retry-After in the envelope; in process or shared via Redis."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.base.errors import ConfigError
from ixp.http.access import digest_of, new_key
from ixp.http.ratelimit import ClientAddress, HostRateLimiter, LocalRateLimiter, parse_rate
from tests._servers import free_port, granian_command, running
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


def test_host_table_counts_every_worker_exactly(tmp_path: Path) -> None:
    table = tmp_path / "ratelimit-client.bin"
    first, second = HostRateLimiter(5, 60.0, table), HostRateLimiter(5, 60.0, table)
    decisions = [(first if i % 2 else second).hit("10.0.0.1", now=100.0) for i in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert decisions[4].remaining == 0 and decisions[0].remaining == 4
    assert second.hit("10.0.0.2", now=100.0).allowed  # another client, its own window
    assert first.hit("10.0.0.1", now=160.0).allowed  # the window ended: counted from 1 again
    assert first.hit("10.0.0.1", now=160.0).remaining == 3


def test_host_table_falls_back_to_the_worker_when_full(tmp_path: Path) -> None:
    limiter = HostRateLimiter(1, 60.0, tmp_path / "small.bin", slots=4)
    for client in ("a", "b", "c", "d"):
        assert limiter.hit(client, now=1.0).allowed
    assert limiter.hit("e", now=1.0).allowed and limiter.overflows == 1  # counted by this worker
    assert not limiter.hit("e", now=1.0).allowed and limiter.overflows == 2
    assert limiter.hit("e", now=70.0).allowed  # slots whose window ended are taken again
    assert limiter.overflows == 2


def _hammer(path: str, hits: int, results: Any) -> None:
    limiter = HostRateLimiter(100, 60.0, Path(path))
    results.put(sum(limiter.hit("one client").allowed for _ in range(hits)))


def test_host_table_is_exact_across_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_hammer, args=(str(tmp_path / "t.bin"), 60, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    allowed = sum(results.get(timeout=30) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    assert allowed == 100  # 240 hits from 4 processes, exactly the limit allowed


def test_granian_workers_share_the_client_and_key_limits() -> None:
    key = new_key()
    env = {
        "IXP_RATE_LIMIT": "30/60s",
        "IXP_RATE_LIMIT_PER_KEY": "10/60s",
        "IXP_API_KEYS": f"ops {digest_of(key)} users:read",
        "IXP_LOG_LEVEL": "warning",
    }
    port = free_port()
    close = {"connection": "close"}  # a new connection each time: both workers answer some
    with running(granian_command(port, workers=2), port, env=env, ready_path="/ixp/health/live"):
        url = f"http://127.0.0.1:{port}"
        auth = {**close, "authorization": f"Bearer {key}"}
        keyed = [httpx.get(f"{url}/api/users", headers=auth) for _ in range(14)]
        plain = [httpx.get(f"{url}/ixp/intents", headers=close) for _ in range(20)]
        pids: set[int] = set()
        for _ in range(100):  # new connections go to either worker: until both have answered
            pids.add(httpx.get(f"{url}/ixp/health/live", headers=close).json()["pid"])
            if len(pids) == 2:
                break
    assert len(pids) == 2  # both workers answer, yet each limit holds for the pair
    assert [r.status_code for r in keyed] == [200] * 10 + [429] * 4
    # The client limit counts the keyed requests too: 30 - 14 = 16 left for the rest.
    assert [r.status_code for r in plain] == [200] * 16 + [429] * 4
    assert plain[-1].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
