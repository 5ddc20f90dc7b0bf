"""Group commit under failure: a batch is all or nothing (a real database error mid-batch leaves no
partial write, and only the write at fault fails in the end); PostgreSQL stopped in the middle of
a batch answers its requests 503 STORAGE_UNAVAILABLE, and the next requests succeed once it is back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timezone

import asyncpg
import httpx
import pytest

from ixp.app import IXPApp
from ixp.storage import PostgresStore, Session, SqliteStore, Store, UnknownUser
from ixp.storage.base import SessionWrite
from ixp.storage.batching import GroupCommit
from tests._support import Services, service_env

REFUSED = "refused"  # the intent the test trigger refuses


async def refuse_intent(store: Store) -> None:
    """A trigger that makes the database itself refuse any session row whose context holds the
    intent REFUSED: a real error from inside the transaction, not a Python stand-in."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        try:
            for event in ("INSERT", "UPDATE"):
                conn.execute(
                    f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON sessions "
                    f"""WHEN NEW.context LIKE '%"intent":"{REFUSED}"%' """
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
                )
            conn.commit()
        finally:
            conn.close()
        return
    assert isinstance(store, PostgresStore)
    conn = await asyncpg.connect(store.dsn, timeout=10)
    try:
        await conn.execute(f"""
            CREATE FUNCTION {store.schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.context::jsonb @> '[{{"intent": "{REFUSED}"}}]' THEN
                    RAISE EXCEPTION 'refused by the test trigger';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {store.schema}.sessions
                FOR EACH ROW EXECUTE FUNCTION {store.schema}.refuse();
        """)
    finally:
        await conn.close()


def write(user_id: int, intent: str) -> SessionWrite:
    return SessionWrite(user_id, [(intent, {})], datetime.now(timezone.utc))


async def test_a_failed_batch_leaves_nothing_and_fails_only_the_write_at_fault(store: Store) -> None:
    a = await store.create_user("crash-a@example.com", "A")
    b = await store.create_user("crash-b@example.com", "B")
    c = await store.create_user("crash-c@example.com", "C")
    for user in (a, b):
        await store.record_intent(user.id, "before", {})
    await refuse_intent(store)
    commits = GroupCommit[SessionWrite, Session](store.record_intents)
    # One batch: a's and b's sessions are updated first, then c's new session is refused by the
    # database, mid-transaction.
    results = await asyncio.gather(
        commits.submit(write(a.id, "a1")),
        commits.submit(write(c.id, REFUSED)),
        commits.submit(write(b.id, "b1")),
        return_exceptions=True,
    )
    assert isinstance(results[0], Session) and isinstance(results[2], Session)
    assert isinstance(results[1], Exception) and "refused by the test trigger" in str(results[1])
    assert not isinstance(results[1], UnknownUser)
    # The batch rolled back as a whole, then each write was committed alone: had the batch left
    # a1 or b1 behind, they would now be there twice.
    for user, expected in ((a, ["before", "a1"]), (b, ["before", "b1"])):
        session = await store.current_session(user.id)
        assert session is not None and [e["intent"] for e in session.context] == expected
    assert await store.current_session(c.id) is None
    stats = commits.stats()
    assert stats["isolated"] == 3 and stats["errors"] == 1
    assert stats["failedBatches"] == 2  # the batch, then c's write alone
    assert stats["batches"] == 2 and stats["writes"] == 2  # a's and b's, alone


# -- PostgreSQL stopped in the middle of a batch (over HTTP) -----------------------------------------


async def process(client: httpx.AsyncClient, user_id: int) -> httpx.Response:
    return await client.post("/api/intents/process", json={"message": "deals", "userId": user_id})


async def intent_count(client: httpx.AsyncClient, user_id: int) -> int:
    response = await client.get(f"/api/users/{user_id}/session")
    assert response.status_code == 200, response.text
    return int(response.json()["session"]["intentCount"])


@pytest.mark.services
@pytest.mark.parametrize("served", ["postgres"], indirect=True)
async def test_postgres_stopped_mid_batch_is_503_for_its_requests_then_recovers(
    served: tuple[IXPApp, httpx.AsyncClient],
) -> None:
    app, client = served
    users = []
    for i in range(3):
        email = f"midbatch-{i}-{time.time_ns()}@example.com"
        created = await client.post("/api/users", json={"email": email, "name": f"M{i}"})
        assert created.status_code == 201, created.text
        users.append(int(created.json()["id"]))
        assert (await process(client, users[-1])).status_code == 200
    # Hold the three users' rows: whichever batch forms first waits inside its transaction, and
    # every write that arrives meanwhile waits in the queue behind it — none can commit.
    holder = await asyncpg.connect(service_env("IXP_TEST_DATABASE_URL"), timeout=10)
    services = Services()
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM users WHERE id = ANY($1::bigint[]) FOR UPDATE", users)
        requests = [asyncio.create_task(process(client, user)) for user in users]
        deadline = time.monotonic() + 10
        commits = app.storage.sessions
        while commits.pending() + commits.in_flight < len(users) or not await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ):
            assert time.monotonic() < deadline, "the writes never reached the database's lock"
            await asyncio.sleep(0.02)
        await asyncio.to_thread(services.run, "IXP_TEST_PG_STOP")
        responses = await asyncio.wait_for(asyncio.gather(*requests), timeout=30)
    finally:
        await asyncio.to_thread(services.start, "PG")
        holder.terminate()
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "STORAGE_UNAVAILABLE"
    assert app.storage.stats()["groupCommit"]["failedBatches"] >= 1

    deadline = time.monotonic() + 30
    while (recovered := await process(client, users[0])).status_code != 200:
        assert recovered.status_code == 503, recovered.text
        assert time.monotonic() < deadline, "no recovery after PostgreSQL came back"
        await asyncio.sleep(0.2)
    # Nothing of the failed batch was written: the first session has the write before the outage
    # and the one after it, the others only the one before.
    assert [await intent_count(client, user) for user in users] == [2, 1, 1]
