"""The stores' memo of current sessions (`SessionMemo`): a batch of session writes reads no stored
context for the users whose row has not changed since this store wrote it, and never builds on a
memo that another store (another worker) has made stale."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from ixp.storage import PostgresStore, SqliteStore
from ixp.storage.base import Session, SessionWrite, UnknownUser, utc_now
from ixp.storage.sessions import SessionMemo
from tests._support import service_env
from tests.storage.conftest import _admin

Store = SqliteStore | PostgresStore
OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
async def open_store(backend: str, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one database (one SQLite file, or one PostgreSQL schema): two workers."""
    opened: list[Store] = []
    schema = "t_" + uuid.uuid4().hex[:16]
    pg_url = service_env("IXP_TEST_DATABASE_URL") if backend == "postgres" else ""
    if pg_url:
        await _admin(pg_url, f"CREATE SCHEMA {schema}")

    async def open_one() -> Store:
        store: Store
        if pg_url:
            store = PostgresStore(pg_url, min_size=1, max_size=2, schema=schema)
        else:
            store = SqliteStore(str(tmp_path / "ixp.db"))
        await store.open()
        opened.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in opened:
            await store.close()
        if pg_url:
            await _admin(pg_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _intents(session: Session | None) -> list[str]:
    assert session is not None
    return [entry["intent"] for entry in session.context]


async def test_a_write_builds_on_the_memo_without_reading_the_context(open_store: OpenStore) -> None:
    store = await open_store()
    user = await store.create_user("ada@example.com", "Ada")
    await store.record_intent(user.id, "greet", {})
    misses, hits = store.memo.misses, store.memo.hits
    session = await store.record_intent(user.id, "weather", {"city": "Oslo"})
    assert _intents(session) == ["greet", "weather"]
    assert (store.memo.misses, store.memo.hits) == (misses, hits + 1)  # no stored context decoded
    assert _intents(await store.current_session(user.id)) == ["greet", "weather"]


async def test_another_stores_write_is_never_overwritten(open_store: OpenStore) -> None:
    """Two workers on one database: each builds on the other's committed write, not on its memo."""
    first, second = await open_store(), await open_store()
    user = await first.create_user("ada@example.com", "Ada")
    await first.record_intent(user.id, "one", {})
    await second.record_intent(user.id, "two", {})
    misses = first.memo.misses
    session = await first.record_intent(user.id, "three", {})
    assert first.memo.misses == misses + 1  # its memo was stale: read again
    assert _intents(session) == ["one", "two", "three"]
    assert _intents(await second.current_session(user.id)) == ["one", "two", "three"]
    # And back again: the second store's memo is stale now.
    session = await second.record_intent(user.id, "four", {})
    assert _intents(session) == ["one", "two", "three", "four"]


async def test_a_user_erased_by_another_store_is_unknown(open_store: OpenStore) -> None:
    """Without the check, the UPDATE of the erased session would touch no row and be acknowledged."""
    first, second = await open_store(), await open_store()
    user = await first.create_user("ada@example.com", "Ada")
    await first.record_intent(user.id, "one", {})
    assert await second.delete_user(user.id)
    (result,) = await first.record_intents([SessionWrite(user.id, [("two", {})], utc_now())])
    assert isinstance(result, UnknownUser)
    assert await first.current_session(user.id) is None


async def test_a_user_erased_here_is_unknown(open_store: OpenStore) -> None:
    store = await open_store()
    user = await store.create_user("ada@example.com", "Ada")
    await store.record_intent(user.id, "one", {})
    assert await store.delete_user(user.id)
    (result,) = await store.record_intents([SessionWrite(user.id, [("two", {})], utc_now())])
    assert isinstance(result, UnknownUser)


async def test_a_rolled_back_batch_leaves_no_trace_in_the_memo(open_store: OpenStore) -> None:
    store = await open_store()
    user = await store.create_user("ada@example.com", "Ada")
    await store.record_intent(user.id, "one", {})
    unencodable: dict[str, Any] = {"when": object()}  # fails inside the transaction, after the plan
    with pytest.raises(TypeError):
        await store.record_intents(
            [
                SessionWrite(user.id, [("two", {})], utc_now()),
                SessionWrite(user.id, [("x", unencodable)], utc_now()),
            ]
        )
    session = await store.record_intent(user.id, "three", {})
    assert _intents(session) == ["one", "three"]
    assert _intents(await store.current_session(user.id)) == ["one", "three"]


def _session(user_id: int) -> Session:
    now = utc_now()
    return Session(id=user_id * 10, user_id=user_id, created_at=now, last_seen_at=now, context=[])


def test_the_memo_keeps_the_most_recently_written_users() -> None:
    memo = SessionMemo(capacity=2)
    for user_id in (1, 2, 1, 3):  # 1 written again: 2 is now the oldest
        memo.remember(_session(user_id), version=user_id)
    assert memo.get(2) is None
    assert [memo.get(u)[1] for u in (1, 3)] == [1, 3]  # type: ignore[index]
    memo.forget(1)
    assert memo.get(1) is None and len(memo) == 1


# -- PostgreSQL: the one-statement swap -------------------------------------------------------------


@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_batch_the_memo_holds_is_one_swap(open_store: OpenStore) -> None:
    store = await open_store()
    assert isinstance(store, PostgresStore)
    users = [await store.create_user(f"u{i}@example.com", "U") for i in range(3)]
    await store.record_intents([SessionWrite(u.id, [("one", {})], utc_now()) for u in users])
    assert store.memo.swaps == 0  # new sessions: the full path
    results = await store.record_intents([SessionWrite(u.id, [("two", {})], utc_now()) for u in users])
    assert store.memo.swaps == 1
    for user, result in zip(users, results, strict=True):
        assert _intents(result) == ["one", "two"]  # type: ignore[arg-type]
        assert _intents(await store.current_session(user.id)) == ["one", "two"]


@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_swap_waits_for_a_transaction_that_read_the_session(open_store: OpenStore) -> None:
    """Another worker's full path has locked the user and read the session: the swap may not slip in
    before its write (that write, made from what it read, would erase the swap's)."""
    store = await open_store()
    assert isinstance(store, PostgresStore)
    user = await store.create_user("ada@example.com", "Ada")
    await store.record_intent(user.id, "one", {})
    other = await asyncpg.connect(
        service_env("IXP_TEST_DATABASE_URL"), server_settings={"search_path": store.schema or ""}
    )
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE", user.id)
        context = await other.fetchval("SELECT context::text FROM sessions WHERE user_id = $1", user.id)
        swap = asyncio.ensure_future(store.record_intent(user.id, "two", {}))
        await asyncio.sleep(0.3)
        assert not swap.done()  # it waits for the user's lock
        written = context[:-1] + ',{"intent":"other","parameters":{},"at":"2026-01-01T00:00:00.000Z"}]'
        await other.execute(
            "UPDATE sessions SET context = $1::text::jsonb WHERE user_id = $2", written, user.id
        )
        await transaction.commit()
        session = await asyncio.wait_for(swap, 10)
    finally:
        await other.close()
    assert _intents(session) == ["one", "other", "two"]
    assert _intents(await store.current_session(user.id)) == ["one", "other", "two"]
    assert store.memo.swaps == 0  # the swap found the row changed; the full path wrote


@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_swap_never_extends_a_replaced_session(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    assert isinstance(first, PostgresStore)
    user = await first.create_user("ada@example.com", "Ada")
    await first.record_intent(user.id, "one", {})
    later = utc_now() + timedelta(hours=1)  # past the idle limit: the other store starts a new session
    (replacing,) = await second.record_intents([SessionWrite(user.id, [("new", {})], later)])
    assert isinstance(replacing, Session)
    session = await first.record_intent(user.id, "two", {})
    assert session.id == replacing.id
    assert _intents(await first.current_session(user.id)) == ["new", "two"]
    assert first.memo.swaps == 0


async def test_the_file_holds_the_newest_entries_the_memo_holds(open_store: OpenStore) -> None:
    """Past the context limit, what the writes built from the memo put in the database is what
    the memo holds: a store that reads it afresh gets the same context."""
    store = await open_store()
    user = await store.create_user("ada@example.com", "Ada")
    for i in range(60):
        await store.record_intent(user.id, f"i{i}", {"n": i, "city": "Zürich"})
    held = await store.current_session(user.id)
    assert held is not None and len(held.context) == 50
    fresh = await (await open_store()).current_session(user.id)
    assert fresh is not None and fresh.context == held.context
    assert _intents(fresh) == [f"i{i}" for i in range(10, 60)]
