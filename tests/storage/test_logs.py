"""IntentLogWriter: batching by size and by time, nothing lost on close, retry after a failure."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ixp.storage import IntentLog, IntentLogWriter, SqliteStore, Store


def row(i: int, user_id: int | None = 1) -> IntentLog:
    return IntentLog(
        user_id=user_id,
        intent="weather",
        message=f"weather {i}",
        parameters={"i": i},
        latency_us=i,
        created_at=datetime.now(timezone.utc),
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def test_everything_is_written_on_close(store: Store) -> None:
    writer = IntentLogWriter(store, batch_size=500, flush_interval=60)
    writer.start()
    n = 1234
    for i in range(n):
        writer.log(row(i, user_id=i % 3 or None))
    await writer.close()
    assert await store.count_intent_logs() == n
    stats = writer.stats()
    assert stats["queued"] == stats["written"] == n
    assert stats["dropped"] == 0 and stats["pending"] == 0
    assert stats["flushes"] >= 3  # 1234 rows in batches of at most 500
    await writer.close()  # idempotent


async def test_timer_flush(store: Store) -> None:
    async with IntentLogWriter(store, batch_size=500, flush_interval=0.05) as writer:
        for i in range(3):
            writer.log(row(i))

        async def all_written() -> bool:
            return await store.count_intent_logs() == 3

        await eventually(all_written)
        assert writer.stats()["written"] == 3


async def test_size_flush(store: Store) -> None:
    async with IntentLogWriter(store, batch_size=10, flush_interval=3600) as writer:
        for i in range(9):
            writer.log(row(i))
        await asyncio.sleep(0.1)
        assert await store.count_intent_logs() == 0  # below the batch size, and the timer is an hour
        writer.log(row(9))

        async def batch_written() -> bool:
            return await store.count_intent_logs() == 10

        await eventually(batch_written)
        assert writer.stats()["flushes"] == 1


async def test_sqlite_failed_flush_keeps_rows_and_retries(tmp_path: Path) -> None:
    path = str(tmp_path / "locked.db")
    store = SqliteStore(path, busy_timeout=0.05)
    await store.open()
    writer = IntentLogWriter(store, batch_size=4, flush_interval=3600)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        for i in range(10):
            writer.log(row(i))
        assert await writer.flush() == 0
        assert writer.stats()["pending"] == 10 and writer.stats()["failed_flushes"] == 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await writer.flush() == 10
    await writer.close()
    assert await store.count_intent_logs() == 10
    assert [r.latency_us for r in await store.recent_intent_logs(1, 20)] == list(reversed(range(10)))
    await store.close()


@pytest.mark.services
async def test_postgres_failed_flush_keeps_rows_and_retries(make_pg_store: Any, services: Any) -> None:
    store = await make_pg_store()
    writer = IntentLogWriter(store, batch_size=100, flush_interval=3600)
    with services.stopped("PG"):
        for i in range(250):
            writer.log(row(i))
        assert await asyncio.wait_for(writer.flush(), timeout=20) == 0
        assert writer.stats()["pending"] == 250
    written = 0
    for _ in range(100):  # the server may need a moment to accept connections again
        written += await asyncio.wait_for(writer.flush(), timeout=20)
        if written == 250:
            break
        await asyncio.sleep(0.1)
    await writer.close()
    assert await store.count_intent_logs() == 250
    assert writer.stats()["dropped"] == 0


async def test_queue_bound_drops_oldest_with_one_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    writer = IntentLogWriter(store, batch_size=5, flush_interval=3600, max_queue=10)
    with caplog.at_level(logging.WARNING, logger="ixp.storage.logs"):
        for i in range(25):  # not started: nothing flushes
            writer.log(row(i))
    assert writer.stats()["dropped"] == 15 and writer.pending() == 10
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    await writer.close()
    # the newest 10 survive (rows share a timestamp, so their order is not asserted)
    assert sorted(r.latency_us for r in await store.recent_intent_logs(1, 100)) == list(range(15, 25))


async def test_close_gives_up_after_close_timeout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "down.db")
    store = SqliteStore(path, busy_timeout=0.01)
    await store.open()
    writer = IntentLogWriter(store, flush_interval=3600, close_timeout=0.3)
    writer.log(row(1))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.ERROR, logger="ixp.storage.logs"):
            await asyncio.wait_for(writer.close(), timeout=10)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert writer.stats()["dropped"] == 1
    assert any("1 rows unwritten" in r.getMessage() for r in caplog.records)
    await store.close()


async def test_rows_the_database_rejects_are_dropped_not_retried(store: Store) -> None:
    writer = IntentLogWriter(store, batch_size=10, flush_interval=3600)
    for i in range(10):
        writer.log(row(i) if i != 4 else msgspec.structs.replace(row(i), latency_us=2**70))
    assert await writer.flush() == 9
    stats = writer.stats()
    assert stats["rejected"] == stats["dropped"] == 1 and stats["pending"] == 0
    await writer.close()
    assert sorted(r.latency_us for r in await store.recent_intent_logs(1, 20)) == [0, 1, 2, 3, 5, 6, 7, 8, 9]


async def test_rows_logged_after_close_are_counted_as_dropped(store: Store) -> None:
    writer = IntentLogWriter(store)
    await writer.close()
    writer.log(row(1))
    assert writer.stats()["dropped"] == 1 and writer.pending() == 0


async def test_erase_drops_rows_queued_while_the_user_is_deleted(store: Store) -> None:
    """A session write that committed just before the erasure queues its log row while the
    deletion runs: that row must not be written after the user is gone."""
    user = await store.create_user("erased@example.com", "E")
    other = await store.create_user("kept@example.com", "K")
    writer = IntentLogWriter(store, batch_size=500, flush_interval=60)
    writer.log(row(1, user_id=user.id))

    async def delete() -> bool:
        writer.log(row(2, user_id=user.id))  # settled during the deletion
        writer.log(row(3, user_id=other.id))
        return await store.delete_user(user.id)

    assert await writer.erase(user.id, delete) is True
    await writer.close()
    assert await store.recent_intent_logs(user.id, 10) == []
    assert [r.intent for r in await store.recent_intent_logs(other.id, 10)] == ["weather"]
