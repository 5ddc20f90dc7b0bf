"""The Store contract: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

from ixp.storage import (
    DuplicateEmail,
    IntentLog,
    Session,
    SqliteStore,
    StorageUnavailable,
    Store,
    UnknownUser,
    User,
)
from ixp.storage.base import CONTEXT_LIMIT, SessionWrite


async def test_create_and_get_user(store: Store) -> None:
    user = await store.create_user("  Ada@Example.COM ", "Ada")
    assert user.email == "ada@example.com"
    assert user.name == "Ada"
    assert user.created_at.tzinfo is not None and user.created_at.utcoffset() == timedelta(0)
    assert await store.get_user(user.id) == user
    assert await store.get_user_by_email("ADA@example.com ") == user
    assert await store.get_user(user.id + 1000) is None
    assert await store.get_user_by_email("nobody@example.com") is None


async def test_users_encode_to_json(store: Store) -> None:
    user = await store.create_user("a@example.com", "A")
    decoded = msgspec.json.decode(msgspec.json.encode(user))
    assert decoded["email"] == "a@example.com"
    assert datetime.fromisoformat(decoded["created_at"].replace("Z", "+00:00")) == user.created_at
    assert msgspec.json.decode(msgspec.json.encode(user), type=User) == user


async def test_duplicate_email_is_rejected_case_insensitively(store: Store) -> None:
    await store.create_user("dup@example.com", "First")
    with pytest.raises(DuplicateEmail, match=r"dup@example\.com"):
        await store.create_user(" DUP@example.com", "Second")
    users, total = await store.list_users(1, 10)
    assert total == 1 and users[0].name == "First"


async def test_empty_email_is_a_value_error(store: Store) -> None:
    with pytest.raises(ValueError, match="email"):
        await store.create_user("   ", "Nobody")


async def test_get_users_keeps_order_and_skips_missing(store: Store) -> None:
    ids = [(await store.create_user(f"u{i}@example.com", f"U{i}")).id for i in range(4)]
    wanted = [ids[2], 999_999, ids[0], ids[3]]
    assert [u.id for u in await store.get_users(wanted)] == [ids[2], ids[0], ids[3]]
    assert await store.get_users([]) == []


async def test_list_users_pages_newest_first(store: Store) -> None:
    created = [await store.create_user(f"p{i}@example.com", f"P{i}") for i in range(7)]
    newest_first = sorted(created, key=lambda u: (u.created_at, u.id), reverse=True)
    page1, total = await store.list_users(1, 3)
    page3, total3 = await store.list_users(3, 3)
    beyond, total_beyond = await store.list_users(9, 3)
    assert total == total3 == total_beyond == 7
    assert page1 == newest_first[:3]
    assert page3 == newest_first[6:]
    assert beyond == []
    with pytest.raises(ValueError, match="page"):
        await store.list_users(0, 3)
    with pytest.raises(ValueError, match="limit"):
        await store.list_users(1, 0)


async def test_record_intent_opens_then_extends_a_session(store: Store) -> None:
    user = await store.create_user("s@example.com", "S")
    assert await store.current_session(user.id) is None
    first = await store.record_intent(user.id, "weather", {"city": "Oslo"})
    second = await store.record_intent(user.id, "news", {})
    assert second.id == first.id
    assert second.created_at == first.created_at
    assert second.last_seen_at >= first.last_seen_at
    assert [(e["intent"], e["parameters"]) for e in second.context] == [
        ("weather", {"city": "Oslo"}),
        ("news", {}),
    ]
    assert all(isinstance(e["at"], str) for e in second.context)
    current = await store.current_session(user.id)
    assert current == second
    assert msgspec.json.decode(msgspec.json.encode(current), type=Session) == current


async def test_idle_session_is_replaced(store: Store) -> None:
    user = await store.create_user("idle@example.com", "I")
    old = await store.record_intent(user.id, "a", {})
    new = await store.record_intent(user.id, "b", {}, session_idle_seconds=0)
    assert new.id != old.id
    assert [e["intent"] for e in new.context] == ["b"]
    assert (await store.current_session(user.id)) == new


async def test_context_keeps_the_newest_entries(store: Store) -> None:
    user = await store.create_user("ctx@example.com", "C")
    for i in range(CONTEXT_LIMIT + 5):
        session = await store.record_intent(user.id, f"i{i}", {"n": i})
    assert len(session.context) == CONTEXT_LIMIT
    assert session.context[0]["intent"] == "i5" and session.context[-1]["intent"] == f"i{CONTEXT_LIMIT + 4}"
    assert (await store.current_session(user.id)) == session


async def test_concurrent_intents_share_one_session(store: Store) -> None:
    user = await store.create_user("race@example.com", "R")
    sessions = await asyncio.gather(*(store.record_intent(user.id, f"i{i}", {}) for i in range(10)))
    assert len({s.id for s in sessions}) == 1
    current = await store.current_session(user.id)
    assert current is not None
    assert sorted(e["intent"] for e in current.context) == sorted(f"i{i}" for i in range(10))


async def test_record_intent_for_unknown_user(store: Store) -> None:
    with pytest.raises(UnknownUser):
        await store.record_intent(424242, "x", {})


def intents(session: Session | UnknownUser) -> list[str]:
    assert isinstance(session, Session), session
    return [entry["intent"] for entry in session.context]


async def test_record_intents_applies_a_batch_in_arrival_order(store: Store) -> None:
    a = await store.create_user("batch-a@example.com", "A")
    b = await store.create_user("batch-b@example.com", "B")
    await store.record_intent(a.id, "a0", {})
    at = datetime.now(timezone.utc)
    results = await store.record_intents(
        [
            SessionWrite(a.id, [("a1", {"n": 1})], at),
            SessionWrite(b.id, [("b1", {})], at),
            SessionWrite(424242, [("lost", {})], at),  # no such user: this write alone fails
            SessionWrite(a.id, [("a2", {}), ("a3", {"n": 3})], at + timedelta(milliseconds=1)),
        ]
    )
    assert isinstance(results[2], UnknownUser) and results[2].status == 404
    # Each write's result is the session right after it: later writes of the user come after it.
    assert intents(results[0]) == ["a0", "a1"]
    assert intents(results[3]) == ["a0", "a1", "a2", "a3"]
    assert results[3].context[-1]["parameters"] == {"n": 3}  # type: ignore[union-attr]
    assert results[0].id == results[3].id  # type: ignore[union-attr]
    assert await store.current_session(a.id) == results[3]
    assert await store.current_session(b.id) == results[1]
    assert await store.record_intents([]) == []


async def test_a_batch_replaces_idle_sessions_and_starts_new_ones(store: Store) -> None:
    user = await store.create_user("batch-idle@example.com", "I")
    newcomer = await store.create_user("batch-new@example.com", "N")
    old = await store.record_intent(user.id, "old", {})
    t = old.last_seen_at
    results = await store.record_intents(
        [
            SessionWrite(user.id, [("x", {})], t + timedelta(seconds=1)),  # not idle: appended
            SessionWrite(newcomer.id, [("n1", {})], t + timedelta(seconds=1)),  # first session
            SessionWrite(user.id, [("y", {})], t + timedelta(seconds=5)),  # idle > 2 s: new session
            SessionWrite(user.id, [("z", {})], t + timedelta(seconds=6)),
            SessionWrite(newcomer.id, [("n2", {})], t + timedelta(seconds=9)),  # idle again
        ],
        session_idle_seconds=2,
    )
    assert [r.id for r in results[:1]] == [old.id]  # type: ignore[union-attr]
    assert intents(results[0]) == ["old", "x"]
    assert intents(results[2]) == ["y"] and intents(results[3]) == ["y", "z"]
    assert results[2].id == results[3].id != old.id  # type: ignore[union-attr]
    assert intents(results[1]) == ["n1"] and intents(results[4]) == ["n2"]
    assert results[1].id != results[4].id  # type: ignore[union-attr]
    assert await store.current_session(user.id) == results[3]
    assert await store.current_session(newcomer.id) == results[4]


async def test_recently_active_users(store: Store) -> None:
    a = await store.create_user("a@example.com", "A")
    b = await store.create_user("b@example.com", "B")
    c = await store.create_user("c@example.com", "C")
    await store.record_intent(a.id, "x", {})
    await store.record_intent(b.id, "x", {})
    await store.record_intent(a.id, "y", {})  # a is now the most recent
    assert [u.id for u in await store.recently_active_users(10)] == [a.id, b.id]
    assert [u.id for u in await store.recently_active_users(1)] == [a.id]
    assert c.id not in [u.id for u in await store.recently_active_users(10)]


async def test_intent_logs_roundtrip(store: Store) -> None:
    t0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    rows = [
        IntentLog(
            user_id=7 if i % 2 else None,
            intent=f"intent{i}",
            message=f"message {i}",
            parameters={"i": i, "nested": {"ok": True}},
            latency_us=100 + i,
            created_at=t0 + timedelta(seconds=i),
        )
        for i in range(10)
    ]
    await store.write_intent_logs(rows)
    await store.write_intent_logs([])
    assert await store.count_intent_logs() == 10
    recent = await store.recent_intent_logs(7, 3)
    assert recent == [rows[9], rows[7], rows[5]]
    assert await store.recent_intent_logs(8, 3) == []


async def test_naive_log_timestamps_are_taken_as_utc(store: Store) -> None:
    naive = datetime(2025, 5, 5, 5, 5, 5, 123456)
    row = IntentLog(user_id=1, intent="x", message="", parameters={}, latency_us=1, created_at=naive)
    await store.write_intent_logs([row])
    (back,) = await store.recent_intent_logs(1, 1)
    assert back.created_at == naive.replace(tzinfo=timezone.utc)


async def test_ping_pool_stats_and_reopen(store: Store) -> None:
    await store.ping()
    stats = store.pool_stats()
    assert set(stats) == {"size", "in_use", "min", "max"}
    assert 1 <= stats["size"] <= stats["max"] and stats["in_use"] == 0
    await store.open()  # a second open is a no-op
    user = await store.create_user("keep@example.com", "K")
    await store.close()
    await store.open()
    assert await store.get_user(user.id) == user


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from ixp.storage import SqliteStore

    async def main(path, n):
        store = SqliteStore(path)
        await store.open()
        user = await store.create_user(f"w{n}@example.com", "worker")
        for i in range(40):
            await store.record_intent(user.id, f"i{i}", {})
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


def test_sqlite_several_processes_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, path, str(n)], stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    async def check() -> None:
        store = SqliteStore(path)
        await store.open()
        users, total = await store.list_users(1, 10)
        assert total == 4
        for user in users:
            session = await store.current_session(user.id)
            assert session is not None and len(session.context) == 40
        await store.close()

    asyncio.run(check())


async def test_sqlite_unusable_file_is_unavailable(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageUnavailable, match=r"garbage\.db"):
        await SqliteStore(str(garbage)).open()
    closed = SqliteStore(str(tmp_path / "never-opened.db"))
    with pytest.raises(StorageUnavailable, match="not open"):
        await closed.ping()
