"""Group commit of session writes (`GroupCommit` in `StorageService`), on SQLite and on PostgreSQL +
Redis: concurrent writes share transactions, each answered after its own batch, in order per user,
with per-write errors, the cache kept right, and nothing left unanswered at shutdown."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp
from ixp.base.errors import ErrorCode
from ixp.base.settings import Settings
from ixp.storage import StorageUnavailable, UnknownUser
from ixp.storage.service import StorageService
from tests._support import service_env

ServiceFactory = Callable[..., StorageService]


async def services_on(backend: str, tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Storage services on one database: a SQLite file, or the test PostgreSQL and Redis (several
    services on them are several workers)."""
    made: list[StorageService] = []
    base: dict[str, Any] = {"sqlite_path": str(tmp_path / "ixp.db"), "warm_users": 0}
    if backend == "postgres":
        base |= {
            "database_url": service_env("IXP_TEST_DATABASE_URL"),
            "redis_url": service_env("IXP_TEST_REDIS_URL"),
            "db_pool_min": 1,
            "db_pool_max": 4,
        }

    def make(**settings: Any) -> StorageService:
        service = StorageService(Settings(**(base | settings)))
        made.append(service)
        return service

    yield make
    for service in made:
        await service.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def make_service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    async for factory in services_on(str(request.param), tmp_path):
        yield factory


@pytest.fixture
async def make_pg_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    async for factory in services_on("postgres", tmp_path):
        yield factory


async def new_users(service: StorageService, count: int) -> list[int]:
    await service.ready()
    tag = uuid.uuid4().hex[:10]
    return [(await service.store.create_user(f"gc-{tag}-{i}@example.com", f"U{i}")).id for i in range(count)]


def processed(*intents: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(intent, f"message for {intent}", {"of": intent}) for intent in intents]


async def context_of(service: StorageService, user_id: int) -> list[str]:
    session = await service.store.current_session(user_id)
    assert session is not None
    return [entry["intent"] for entry in session.context]


async def test_concurrent_writes_share_a_transaction_in_arrival_order(make_service: ServiceFactory) -> None:
    service = make_service()
    a, b, c = await new_users(service, 3)
    await service.record(a, processed("a0"), 10)  # alone: committed at once, no waiting for others
    assert (service.sessions.batches, service.sessions.writes) == (1, 1)
    order = [(a, "a1"), (b, "b1"), (a, "a2"), (c, "c1"), (a, "a3"), (b, "b2")]
    await asyncio.gather(*(service.record(user, processed(intent), 10) for user, intent in order))
    stats = service.stats()["groupCommit"]
    assert (stats["batches"], stats["writes"], stats["largest"]) == (2, 7, 6)  # six writes, one transaction
    assert stats["errors"] == stats["failedBatches"] == stats["pending"] == 0
    assert await context_of(service, a) == ["a0", "a1", "a2", "a3"]  # per user: arrival order
    assert await context_of(service, b) == ["b1", "b2"]
    assert await context_of(service, c) == ["c1"]
    await service.writer.flush()  # the log rows of committed writes were queued
    assert sorted(row.intent for row in await service.store.recent_intent_logs(a, 10)) == [
        "a0",
        "a1",
        "a2",
        "a3",
    ]


async def test_an_unknown_user_fails_only_its_own_write(make_service: ServiceFactory) -> None:
    service = make_service()
    a, b = await new_users(service, 2)
    results = await asyncio.gather(
        service.record(a, processed("a1"), 1),
        service.record(987654321, processed("lost"), 1),
        service.record(b, processed("b1"), 1),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], UnknownUser)
    assert results[1].code is ErrorCode.USER_NOT_FOUND and results[1].status == 404
    assert (service.sessions.batches, service.sessions.writes, service.sessions.errors) == (1, 3, 1)
    assert await context_of(service, a) == ["a1"] and await context_of(service, b) == ["b1"]
    await service.writer.flush()
    assert await service.store.recent_intent_logs(987654321, 10) == []  # no log row for it


async def test_batches_are_bounded(make_service: ServiceFactory) -> None:
    service = make_service(storage_batch_max=4)
    (user,) = await new_users(service, 1)
    await asyncio.gather(*(service.record(user, processed(f"i{i}"), 1) for i in range(10)))
    stats = service.stats()["groupCommit"]
    assert (stats["batches"], stats["writes"], stats["largest"], stats["maxBatch"]) == (3, 10, 4, 4)
    assert await context_of(service, user) == [f"i{i}" for i in range(10)]


async def test_reads_after_an_acknowledged_write_see_it_from_l1(make_service: ServiceFactory) -> None:
    service = make_service()
    (user,) = await new_users(service, 1)
    await service.record(user, processed("first"), 1)
    before = await service.session(user)  # cached
    assert before is not None and [e["intent"] for e in before.context] == ["first"]
    loads = service.cache.single_flight["loads"]
    await service.record(user, processed("second"), 1)
    after = await service.session(user)
    assert after is not None and [e["intent"] for e in after.context] == ["first", "second"]
    assert service.cache.single_flight["loads"] == loads  # written through: no database read
    assert after == await service.store.current_session(user)


@pytest.mark.services
async def test_another_worker_sees_the_write_once_invalidated(make_pg_service: ServiceFactory) -> None:
    here, there = make_pg_service(), make_pg_service()  # two workers on PostgreSQL + Redis
    (user,) = await new_users(here, 1)
    await there.ready()
    await here.record(user, processed("one"), 1)
    assert [e["intent"] for e in (await there.session(user)).context] == ["one"]  # type: ignore[union-attr]
    assert f"session:{user}" in there.cache.l1
    await here.record(user, processed("two"), 1)
    deadline = asyncio.get_running_loop().time() + 5
    while f"session:{user}" in there.cache.l1:  # the invalidation crosses over Redis pub/sub
        assert asyncio.get_running_loop().time() < deadline, "the invalidation never arrived"
        await asyncio.sleep(0.02)
    assert [e["intent"] for e in (await there.session(user)).context] == ["one", "two"]  # type: ignore[union-attr]


@pytest.mark.services
async def test_a_write_by_another_worker_sends_the_next_batch_past_the_swap(
    make_pg_service: ServiceFactory,
) -> None:
    """The other worker's invalidation tells this one its memo of the session is stale: its next
    write goes straight to the full transaction, with no swap sent only to fail."""
    here, there = make_pg_service(), make_pg_service()
    (user,) = await new_users(here, 1)
    await there.ready()
    await here.record(user, processed("one"), 1)
    await here.record(user, processed("two"), 1)
    assert here.store.memo_stats()["swaps"] == 1  # the memo held the session: one statement
    await there.record(user, processed("three"), 1)
    deadline = asyncio.get_running_loop().time() + 5
    while here.store.memo_stats()["size"]:  # the invalidation crosses over Redis pub/sub
        assert asyncio.get_running_loop().time() < deadline, "the invalidation never arrived"
        await asyncio.sleep(0.02)
    await here.record(user, processed("four"), 1)
    stats = here.store.memo_stats()
    assert (stats["swaps"], stats["failedSwaps"]) == (1, 0)
    assert await context_of(here, user) == ["one", "two", "three", "four"]


async def test_shutdown_commits_and_answers_every_waiting_write(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = make_service(storage_batch_max=3)
    users = await new_users(service, 2)
    tasks = [asyncio.create_task(service.record(users[i % 2], processed(f"i{i}"), 1)) for i in range(8)]
    await asyncio.sleep(0)  # all queued, none committed yet
    assert service.sessions.pending() == 8
    await service.stop()
    assert all(task.done() for task in tasks)
    assert [task.result() for task in tasks] == [None] * 8  # committed, not dropped
    assert service.sessions.batches == 3  # 3 + 3 + 2
    reopened = make_service()
    await reopened.ready()
    assert await context_of(reopened, users[0]) == ["i0", "i2", "i4", "i6"]
    assert await context_of(reopened, users[1]) == ["i1", "i3", "i5", "i7"]
    logs = await reopened.store.recent_intent_logs(users[0], 10)  # flushed after the last batch
    assert sorted(row.intent for row in logs) == ["i0", "i2", "i4", "i6"]


async def test_a_caller_cancelled_before_its_batch_is_left_out(make_service: ServiceFactory) -> None:
    service = make_service()
    (user,) = await new_users(service, 1)
    tasks = [asyncio.create_task(service.record(user, processed(name), 1)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)  # queued; the writer has not taken them yet
    tasks[1].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], asyncio.CancelledError)
    assert await context_of(service, user) == ["a", "c"]
    assert service.sessions.writes == 2


async def test_closed_storage_answers_503(make_service: ServiceFactory) -> None:
    service = make_service()
    (user,) = await new_users(service, 1)
    await service.store.close()  # the database is gone under the service
    with pytest.raises(StorageUnavailable) as error:
        await service.record(user, processed("x"), 1)
    assert error.value.status == 503
    assert service.sessions.failed_batches == 1


async def test_over_http_one_unknown_user_is_404_and_the_others_are_committed_together(
    served: tuple[IXPApp, httpx.AsyncClient],
) -> None:
    _, client = served
    ids = []
    for _ in range(4):
        created = await client.post(
            "/api/users", json={"email": f"http-{uuid.uuid4().hex}@x.org", "name": "H"}
        )
        ids.append(created.json()["id"])
    before = (await client.get("/ixp/metrics")).json()["storage"]["groupCommit"]
    targets = [*ids, 987654321, *ids]
    responses = await asyncio.gather(
        *(client.post("/api/intents/process", json={"message": "deals", "userId": u}) for u in targets)
    )
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 4 + [404] + [200] * 4
    assert responses[4].json()["error"]["code"] == "USER_NOT_FOUND"
    after = (await client.get("/ixp/metrics")).json()["storage"]["groupCommit"]
    writes, batches = after["writes"] - before["writes"], after["batches"] - before["batches"]
    assert writes == len(targets)
    assert batches < writes  # concurrent requests shared transactions
    for user_id in ids:
        session = (await client.get(f"/api/users/{user_id}/session")).json()["session"]
        assert session["intentCount"] == 2
    # A later write builds on the session the batch left in the memo (nothing read back).
    memo = (await client.get("/ixp/metrics")).json()["storage"]["sessionMemo"]
    assert memo["size"] >= len(ids)
    assert (
        await client.post("/api/intents/process", json={"message": "deals", "userId": ids[0]})
    ).status_code == 200
    after_memo = (await client.get("/ixp/metrics")).json()["storage"]["sessionMemo"]
    assert (after_memo["hits"] - memo["hits"], after_memo["misses"] - memo["misses"]) == (1, 0)
