"""PostgreSQL going away: prompt StorageUnavailable, then the same store recovers by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import asyncpg
import pytest

from ixp.storage import IntentLog, PostgresStore, StorageUnavailable

pytestmark = pytest.mark.services

# Generous upper bound: only there so that a hang fails the test instead of blocking the suite.
PROMPT = 10.0


async def fails_promptly(call: Awaitable[Any]) -> StorageUnavailable:
    with pytest.raises(StorageUnavailable) as info:
        await asyncio.wait_for(call, timeout=PROMPT)
    return info.value


async def eventually_ok(call: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await asyncio.wait_for(call(), timeout=PROMPT)
            return
        except StorageUnavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_postgres_down_then_back(make_pg_store: Any, services: Any) -> None:
    store: PostgresStore = await make_pg_store(min_size=2, max_size=4)
    user = await store.create_user("fault@example.com", "F")
    log = IntentLog(1, "x", "m", {}, 1, datetime.now(timezone.utc))
    with services.stopped("PG"):
        error = await fails_promptly(store.ping())
        assert "127.0.0.1" in str(error)  # the message says which server
        await fails_promptly(store.get_user(user.id))
        await fails_promptly(store.create_user("other@example.com", "O"))
        await fails_promptly(store.record_intent(user.id, "x", {}))
        await fails_promptly(store.write_intent_logs([log]))
        await fails_promptly(store.count_intent_logs())
        stats = store.pool_stats()
        assert stats["in_use"] == 0 and stats["max"] == 4  # failed calls gave their connections back
    await eventually_ok(store.ping)
    assert await store.get_user(user.id) == user
    session = await store.record_intent(user.id, "after", {})
    assert [e["intent"] for e in session.context] == ["after"]
    await store.write_intent_logs([log])
    assert await store.count_intent_logs() == 1


async def test_open_while_postgres_is_down(make_pg_store: Any, services: Any) -> None:
    store: PostgresStore = await make_pg_store(open_now=False)
    with services.stopped("PG"):
        error = await fails_promptly(store.open())
        assert "unavailable" in str(error)
        await fails_promptly(store.ping())  # not open: still a clear StorageUnavailable
    await eventually_ok(store.open)
    await store.ping()
    assert await store.count_intent_logs() == 0


async def test_pool_stats_follow_the_pool(make_pg_store: Any) -> None:
    store: PostgresStore = await make_pg_store(min_size=2, max_size=3)
    assert store.pool_stats() == {"size": 2, "in_use": 0, "min": 2, "max": 3}
    started = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with store._conn():
            started.set()
            await release.wait()

    task = asyncio.create_task(hold())
    await asyncio.wait_for(started.wait(), timeout=PROMPT)
    assert store.pool_stats()["in_use"] == 1
    release.set()
    await task
    assert store.pool_stats()["in_use"] == 0


async def test_connection_killed_mid_transaction(make_pg_store: Any, pg_url: str) -> None:
    store: PostgresStore = await make_pg_store(min_size=1, max_size=2)
    admin = await asyncpg.connect(pg_url, timeout=10)
    try:
        with pytest.raises(StorageUnavailable, match="connection"):
            async with store._conn() as conn, conn.transaction():
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                await asyncio.sleep(0.2)
                await conn.fetchval("SELECT 1")
    finally:
        await admin.close()
    await store.ping()  # the pool replaced the dead connection
