"""Faults with the real servers: Redis down degrades without a 5xx; PostgreSQL down is a 503
`STORAGE_UNAVAILABLE` and unhealthy; both recover by themselves, without a restart."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp
from tests._support import Services, service_settings, started

pytestmark = pytest.mark.services


@pytest.fixture
async def served(make_app: Callable[..., IXPApp]) -> AsyncIterator[tuple[IXPApp, httpx.AsyncClient]]:
    app = make_app(**service_settings(), rate_limit="1000/60s")
    async with started(app) as served:
        yield served


async def until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        assert time.monotonic() < deadline, "did not recover in time"
        await asyncio.sleep(0.25)


async def new_user(client: httpx.AsyncClient, name: str) -> int:
    response = await client.post(
        "/api/users", json={"email": f"{name}-{time.time_ns()}@example.com", "name": name}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_redis_down_degrades_and_recovers(
    served: tuple[IXPApp, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    app, client = served
    cached = await new_user(client, "cached")
    uncached = await new_user(client, "uncached")
    await client.get(f"/api/users/{cached}")
    app.storage.cache.l1.delete(f"user:{uncached}")
    with Services().stopped("REDIS"), caplog.at_level(logging.WARNING):
        responses = [
            await client.get(f"/api/users/{cached}"),  # L1
            await client.get(f"/api/users/{uncached}"),  # database
            await client.post("/api/intents/process", json={"message": "deals", "userId": cached}),
            await client.get(f"/api/users/{cached}/session"),
            await client.post("/api/users", json={"email": f"x-{time.time_ns()}@example.com", "name": "X"}),
            await client.get("/ixp/intents"),  # rate limiter falls back to local counts
        ]
        assert [r.status_code for r in responses] == [200, 200, 200, 200, 201, 200]
        health = await client.get("/ixp/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["checks"]["redis"]["status"] == "warn"
        assert (await client.get("/ixp/metrics")).json()["storage"]["cache"]["redis"] == "degraded"
        warnings = [
            r for r in caplog.records if r.levelno == logging.WARNING and "redis" in r.getMessage().lower()
        ]
        assert 1 <= len(warnings) <= 3  # rate-limited, not one per request

    async def healthy() -> bool:
        return (await client.get("/ixp/health")).json()["status"] == "healthy"

    await until(healthy)
    assert app.storage.cache.status() == "ok"


async def test_database_down_is_503_and_recovers(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    app, client = served
    user = await new_user(client, "db")
    app.storage.cache.l1.clear()
    import redis.asyncio as aioredis

    await aioredis.from_url(os.environ["IXP_TEST_REDIS_URL"]).flushdb()
    with Services().stopped("PG"):
        started = time.monotonic()
        for call in (
            client.get(f"/api/users/{user}"),
            client.post("/api/users", json={"email": f"y-{time.time_ns()}@example.com", "name": "Y"}),
            client.get("/api/users?page=1"),
            client.post("/api/intents/process", json={"message": "deals", "userId": user}),
        ):
            response = await call
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "STORAGE_UNAVAILABLE"
        assert time.monotonic() - started < 30  # bounded, no hang
        health = await client.get("/ixp/health")
        assert health.status_code == 503
        assert health.json()["checks"]["storage"]["status"] == "fail"
        # Everything that does not need the database keeps working.
        assert (await client.post("/api/intents/process", json={"message": "deals"})).status_code == 200
        assert (await client.get("/ixp/intents")).status_code == 200

    async def recovered() -> bool:
        return (await client.get(f"/api/users/{user}")).status_code == 200

    await until(recovered)
    assert (await client.get("/ixp/health")).status_code == 200
