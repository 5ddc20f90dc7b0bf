"""TwoLevelCache against a real Redis: L2 fills L1, invalidation crosses workers, Redis loss and return."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from ixp.storage import TwoLevelCache, User

CacheFactory = Callable[..., Awaitable[TwoLevelCache]]


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def make_cache(redis_url: str) -> AsyncIterator[CacheFactory]:
    """Opened caches sharing one fresh key prefix and invalidation channel (one per test)."""
    test_id = uuid.uuid4().hex[:12]
    caches: list[TwoLevelCache] = []

    async def make(**options: Any) -> TwoLevelCache:
        settings: dict[str, Any] = {
            "prefix": f"test:{test_id}:",
            "channel": f"test:{test_id}:invalidate",
            "redis_timeout": 0.5,
            "reconnect_max_delay": 0.2,
        }
        settings.update(options)
        cache = TwoLevelCache(redis_url, **settings)
        caches.append(cache)
        await cache.open()
        return cache

    yield make
    for cache in caches:
        await asyncio.wait_for(cache.close(), timeout=10)


@pytest.mark.services
async def test_l2_hit_fills_l1(make_cache: CacheFactory) -> None:
    writer, reader = await make_cache(), await make_cache()
    assert writer.status() == reader.status() == "ok"
    await writer.set("k", {"a": [1, 2]}, ttl=60)
    assert await reader.get("k") == {"a": [1, 2]}
    assert reader.stats()["l2"] == {"hits": 1, "misses": 0, "errors": 0}
    assert "k" in reader.l1
    assert await reader.get("k") == {"a": [1, 2]}
    stats = reader.stats()
    assert stats["l2"]["hits"] == 1 and stats["l1"]["hits"] == 1 and stats["redis"] == "ok"
    assert await reader.get("absent") is None
    assert reader.stats()["l2"]["misses"] == 1


@pytest.mark.services
async def test_typed_values_come_back_typed(make_cache: CacheFactory) -> None:
    writer, reader = await make_cache(), await make_cache()
    user = User(id=1, email="a@example.com", name="A", created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    await writer.set("user:1", user, ttl=60)
    assert await reader.get("user:1", User) == user

    async def load() -> User:
        raise AssertionError("must come from the cache")

    assert await reader.get_or_load("user:1", load, ttl=60, as_type=User) == user


@pytest.mark.services
async def test_l1_keeps_entries_for_at_most_l1_max_ttl(make_cache: CacheFactory) -> None:
    cache = await make_cache(l1_max_ttl=0.1)
    await cache.set("short", "v", ttl=60)
    assert "short" in cache.l1
    await asyncio.sleep(0.25)
    assert await cache.get("short") == "v"  # expired from L1, still in L2
    assert cache.stats()["l2"]["hits"] == 1


@pytest.mark.services
async def test_get_or_load_caches_loaded_values(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    calls = 0

    async def load() -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"n": 42}

    assert await cache.get_or_load("x", load, ttl=60) == {"n": 42}
    assert await cache.get_or_load("x", load, ttl=60) == {"n": 42}
    assert calls == 1


@pytest.mark.services
async def test_invalidate_reaches_other_workers(make_cache: CacheFactory) -> None:
    one, two = await make_cache(), await make_cache()
    await one.set("shared", 1, ttl=60)
    assert await two.get("shared") == 1
    assert "shared" in one.l1 and "shared" in two.l1
    await one.invalidate("shared")
    assert "shared" not in one.l1
    await eventually(lambda: "shared" not in two.l1)
    assert await two.get("shared") is None  # gone from L2 too


@pytest.mark.services
async def test_own_invalidation_messages_are_ignored(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    await cache.invalidate("k")
    await cache.set("k", "new", ttl=60)
    await asyncio.sleep(0.2)  # the message about the earlier invalidation has been delivered by now
    assert "k" in cache.l1


async def test_without_redis_it_is_an_l1_cache() -> None:
    cache = TwoLevelCache(None)
    await cache.open()
    await cache.set("k", "v", ttl=10)
    assert await cache.get("k") == "v"
    await cache.invalidate("k")
    assert await cache.get("k") is None
    assert cache.status() == "disabled" and cache.stats()["redis"] == "disabled"
    await cache.close()


@pytest.mark.services
async def test_redis_down_degrades_then_recovers(
    make_cache: CacheFactory, services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cache, other = await make_cache(), await make_cache()
    await cache.set("before", "b", ttl=60)
    with caplog.at_level(logging.WARNING, logger="ixp.storage.cache"), services.stopped("REDIS"):
        await cache.set("during", "d", ttl=60)
        assert await asyncio.wait_for(cache.get("during"), timeout=5) == "d"
        assert await asyncio.wait_for(cache.get("before"), timeout=5) == "b"
        assert await asyncio.wait_for(cache.get("missing"), timeout=5) is None
        await asyncio.wait_for(cache.invalidate("before"), timeout=5)
        await eventually(lambda: cache.status() == "degraded")
        for _ in range(20):
            await cache.set("again", 1, ttl=60)
            await cache.get("nothing")
        await asyncio.sleep(0.5)  # let the subscriber fail to reconnect a few times
        assert cache.stats()["redis"] == "degraded"
        mine = [r for r in caplog.records if cache.instance_id[:8] in r.getMessage()]
        assert len([r for r in mine if r.levelno == logging.WARNING]) == 1
    await eventually(lambda: cache.status() == "ok" and other.status() == "ok")
    # Invalidations sent while it was unsubscribed never arrived: the L1 was cleared to be safe.
    assert "during" not in cache.l1
    hits = other.stats()["l2"]["hits"]
    await cache.set("after", "a", ttl=60)  # same objects: L2 is used again
    assert await other.get("after") == "a"
    assert other.stats()["l2"]["hits"] == hits + 1
    await cache.invalidate("after")  # and invalidation crosses workers again
    await eventually(lambda: "after" not in other.l1)


@pytest.mark.services
async def test_starting_while_redis_is_down(make_cache: CacheFactory, services: Any) -> None:
    with services.stopped("REDIS"):
        cache = await asyncio.wait_for(make_cache(), timeout=10)
        assert cache.status() == "degraded"
        await cache.set("k", "v", ttl=60)
        assert await cache.get("k") == "v"
    await eventually(lambda: cache.status() == "ok")
    await cache.set("k2", "v2", ttl=60)
    reader = await make_cache()
    assert await reader.get("k2") == "v2"


async def test_concurrent_misses_share_one_load() -> None:
    """The guide's in-flight dedupe: 50 concurrent misses for one key, one database query."""
    cache = TwoLevelCache(None)
    await cache.open()
    calls = 0
    release = asyncio.Event()

    async def load() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "value"

    waiting = [asyncio.create_task(cache.get_or_load("user:1", load, ttl=10)) for _ in range(50)]
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*waiting) == ["value"] * 50
    assert calls == 1
    assert cache.stats()["singleFlight"] == {"loads": 1, "joined": 49}
    assert await cache.get_or_load("user:1", load, ttl=10) == "value" and calls == 1  # now cached
    await cache.close()


async def test_a_failed_or_abandoned_load_fails_no_one_else() -> None:
    cache = TwoLevelCache(None)
    await cache.open()
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "value"

    leader = asyncio.create_task(cache.get_or_load("k", slow, ttl=10))
    follower = asyncio.create_task(cache.get_or_load("k", slow, ttl=10))
    await asyncio.sleep(0.01)
    leader.cancel()  # the first caller times out
    release.set()
    assert await follower == "value"

    async def broken() -> str:
        raise RuntimeError("db down")

    results = await asyncio.gather(
        *(cache.get_or_load("b", broken, ttl=10) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache._inflight == {}  # nothing left behind: the next miss loads again
    await cache.close()


async def test_an_invalidation_during_a_load_keeps_its_value_out_of_the_cache() -> None:
    cache = TwoLevelCache(None)
    await cache.open()
    release = asyncio.Event()
    versions = iter(["before the write", "after the write"])

    async def load() -> str:
        value = next(versions)
        await release.wait()
        return value

    early = asyncio.create_task(cache.get_or_load("session:1", load, ttl=10))
    await asyncio.sleep(0.01)
    await cache.invalidate("session:1")  # an acknowledged write lands while the read is in flight
    late = asyncio.create_task(cache.get_or_load("session:1", load, ttl=10))
    await asyncio.sleep(0.01)
    release.set()
    assert await early == "before the write"  # overlapped the write
    assert await late == "after the write"  # started after it: a fresh load
    assert await cache.get("session:1") == "after the write"
    await cache.close()


async def test_an_invalidation_before_the_load_task_runs_fails_no_reader() -> None:
    """Found by the open-loop load (GET /api/users/{id}/session answered 500 a few times a second
    while POST /api/intents/process wrote the same users' sessions): the write's invalidation
    landed after get_or_load had created the load task but before that task's first step, so the
    task found no flight of its own and then deleted a key that was not there (KeyError)."""
    cache = TwoLevelCache(None)
    await cache.open()

    async def load() -> str:
        return "value"

    reader = asyncio.create_task(cache.get_or_load("session:1", load, ttl=10))
    await asyncio.sleep(0)  # the reader creates the load task and waits on it; the task has not run
    assert "session:1" in cache._inflight
    await cache.invalidate("session:1")
    assert await reader == "value"  # the read overlapped the write: its value, not an error
    assert cache._inflight == {} and await cache.get("session:1") is None  # and not cached
    await cache.close()


@pytest.mark.services
async def test_written_values_go_to_l1_and_leave_l2_and_other_workers(make_cache: CacheFactory) -> None:
    """A committed write: its value served from this worker's L1 at once, no older value left in
    Redis or in another worker's L1, in one publication for the batch's keys."""
    here, there = await make_cache(), await make_cache()
    await here.set_many({"session:1": "old 1", "session:2": "old 2"}, ttl=60)
    assert await there.get("session:1") == "old 1" and await there.get("session:2") == "old 2"
    mark = here.mark()
    here.written({"session:1": "new 1", "session:2": None}, ttl=60, mark=mark)
    assert here.l1.get("session:1") == "new 1"  # write-through: no database read needed here
    assert "session:2" not in here.l1  # None: the outcome is not known, dropped
    await here.publish(["session:1", "session:2"])
    await eventually(lambda: "session:1" not in there.l1 and "session:2" not in there.l1)
    assert await there.get("session:1") is None  # and gone from L2: the next read loads it


@pytest.mark.services
async def test_a_value_invalidated_elsewhere_during_the_write_is_not_cached(make_cache: CacheFactory) -> None:
    """Another worker's write of the same key, seen after our transaction started, may be newer
    than ours: ours must not go into L1 (it would hide theirs)."""
    here, there = await make_cache(), await make_cache()
    await here.set("session:7", "before", ttl=60)
    mark = here.mark()  # our transaction starts
    await there.invalidate("session:7")  # their write commits and is published meanwhile
    await eventually(lambda: "session:7" not in here.l1)
    here.written({"session:7": "ours", "session:8": "ours too"}, ttl=60, mark=mark)
    assert "session:7" not in here.l1  # the next read loads whichever is newer from the database
    assert here.l1.get("session:8") == "ours too"  # keys nobody else touched are written through


async def test_a_written_value_overtakes_a_load_in_flight() -> None:
    cache = TwoLevelCache(None)
    await cache.open()
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "read before the write"

    reader = asyncio.create_task(cache.get_or_load("session:3", load, ttl=10))
    await asyncio.sleep(0.01)
    cache.written({"session:3": "committed"}, ttl=10, mark=cache.mark())
    release.set()
    assert await reader == "read before the write"  # it overlapped the write
    assert cache.l1.get("session:3") == "committed"  # but did not replace the committed value
    await cache.close()


async def test_a_write_before_a_load_first_runs_fails_no_reader() -> None:
    """The load task is created, then a write lands before it first runs (it was a KeyError)."""
    cache = TwoLevelCache(None)
    await cache.open()

    async def load() -> str:
        return "read before the write"

    reader = asyncio.create_task(cache.get_or_load("session:4", load, ttl=10))
    await asyncio.sleep(0)  # the reader has created the load task, which has not run yet
    cache.written({"session:4": "committed"}, ttl=10, mark=cache.mark())
    assert await reader == "read before the write"
    assert cache.l1.get("session:4") == "committed"
    assert cache._inflight == {}
    await cache.close()
