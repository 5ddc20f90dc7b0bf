"""Migrations are idempotent and safe when several workers start at once; the queries use indexes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ixp.storage import SqliteStore, postgres, sqlite
from ixp.storage.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    applied_versions_postgres,
    applied_versions_sqlite,
    apply_postgres,
    apply_sqlite,
)

ALL_VERSIONS = [m.version for m in MIGRATIONS]

# The store's own statements, plus the range scan a retention job or report runs on intent_logs.
LOGS_SINCE = "SELECT count(*) FROM intent_logs WHERE created_at >= {}"
SINCE = datetime(2025, 1, 1, tzinfo=timezone.utc)
# (what, SQLite statement, its arguments, PostgreSQL statement, its arguments, index expected)
INDEX_CHECKS = [
    (
        "user by email",
        sqlite._SQL_USER_BY_EMAIL,
        ("x",),
        postgres._SQL_USER_BY_EMAIL,
        ("x",),
        "idx_users_email",
    ),
    (
        "sessions by user_id, latest created_at",
        sqlite._SQL_CURRENT_SESSION,
        (1,),
        postgres._SQL_CURRENT_SESSION,
        (1,),
        "idx_sessions_user_created",
    ),
    (
        "intent_logs by created_at",
        LOGS_SINCE.format("?"),
        (SINCE.isoformat(),),
        LOGS_SINCE.format("$1"),
        (SINCE,),
        "idx_intent_logs_created",
    ),
    (
        "logs by user_id",
        sqlite._SQL_RECENT_LOGS,
        (1, 10),
        postgres._SQL_RECENT_LOGS,
        (1, 10),
        "idx_intent_logs_user_created",
    ),
    (
        "users newest first",
        sqlite._SQL_LIST_USERS,
        (10, 0),
        postgres._SQL_LIST_USERS,
        (10, 0),
        "idx_users_created",
    ),
]
CHECK_IDS = [check[0] for check in INDEX_CHECKS]


def test_sqlite_migrations_are_idempotent(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert apply_sqlite(conn) == ALL_VERSIONS
    assert apply_sqlite(conn) == []
    assert applied_versions_sqlite(conn) == ALL_VERSIONS
    assert ALL_VERSIONS[-1] == LATEST_VERSION
    conn.close()


async def test_sqlite_store_reopen_keeps_one_record_per_version(tmp_path: Path) -> None:
    path = str(tmp_path / "m.db")
    for _ in range(3):
        store = SqliteStore(path)
        await store.open()
        await store.close()
    conn = sqlite3.connect(path)
    assert applied_versions_sqlite(conn) == ALL_VERSIONS
    conn.close()


OPEN_ONE = "import asyncio, sys; from ixp.storage import SqliteStore as S; s = S(sys.argv[1]); " + (
    "asyncio.run(s.open()); asyncio.run(s.close())"
)


def test_sqlite_workers_starting_together_migrate_once(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN_ONE, path], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    conn = sqlite3.connect(path)
    assert applied_versions_sqlite(conn) == ALL_VERSIONS
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize(("what", "sql", "args", "_pg_sql", "_pg_args", "index"), INDEX_CHECKS, ids=CHECK_IDS)
def test_sqlite_queries_use_indexes(
    tmp_path: Path, what: str, sql: str, args: tuple[Any, ...], _pg_sql: str, _pg_args: Any, index: str
) -> None:
    conn = sqlite3.connect(tmp_path / "plan.db", isolation_level=None)
    apply_sqlite(conn)
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
    conn.close()
    assert index in plan, f"{what}: {plan}"
    assert "TEMP B-TREE" not in plan, f"{what} sorts instead of reading the index in order: {plan}"


@pytest.mark.services
async def test_postgres_migrations_are_idempotent(pg_url: str, pg_schema: str) -> None:
    conn = await asyncpg.connect(pg_url, timeout=10, server_settings={"search_path": pg_schema})
    try:
        assert await apply_postgres(conn) == ALL_VERSIONS
        assert await apply_postgres(conn) == []
        assert await applied_versions_postgres(conn) == ALL_VERSIONS
    finally:
        await conn.close()


@pytest.mark.services
async def test_postgres_stores_opening_together_migrate_once(
    make_pg_store: Any, pg_url: str, pg_schema: str
) -> None:
    stores = [await make_pg_store(open_now=False) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    conn = await asyncpg.connect(pg_url, timeout=10, server_settings={"search_path": pg_schema})
    try:
        assert await applied_versions_postgres(conn) == ALL_VERSIONS
    finally:
        await conn.close()


@pytest.mark.services
@pytest.mark.parametrize(("what", "_sql", "_args", "sql", "args", "index"), INDEX_CHECKS, ids=CHECK_IDS)
async def test_postgres_queries_use_indexes(
    pg_url: str, pg_schema: str, what: str, _sql: str, _args: Any, sql: str, args: tuple[Any, ...], index: str
) -> None:
    conn = await asyncpg.connect(pg_url, timeout=10, server_settings={"search_path": pg_schema})
    try:
        await apply_postgres(conn)
        # Empty tables make a sequential scan look cheapest; the question is whether an index can serve.
        await conn.execute("SET enable_seqscan = off")
        plan = " | ".join(row[0] for row in await conn.fetch("EXPLAIN " + sql, *args))
    finally:
        await conn.close()
    assert index in plan, f"{what}: {plan}"


@pytest.mark.services
async def test_postgres_sessions_written_before_migration_4_are_kept_as_json(
    make_pg_store: Any, pg_url: str, pg_schema: str
) -> None:
    """A database of the previous schema (contexts in jsonb) migrates in place: the contexts are
    kept, the column is `json`, lz4-compressed (this server has lz4), and the store reads it."""
    conn = await asyncpg.connect(pg_url, timeout=10, server_settings={"search_path": pg_schema})
    try:
        async with conn.transaction():  # the schema as version 3 left it
            await conn.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            for migration in MIGRATIONS[:3]:
                for statement in migration.postgres:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2)", migration.version, migration.name
                )
        user_id = await conn.fetchval(
            "INSERT INTO users (email, name, created_at) VALUES ('a@x.org', 'A', now()) RETURNING id"
        )
        context = [
            {"intent": "greet", "parameters": {"name": "Ada", "n": 1.5}, "at": "2026-12-01T10:00:00.000Z"}
        ]
        await conn.execute(
            "INSERT INTO sessions (user_id, created_at, last_seen_at, context)"
            " VALUES ($1, now(), now(), $2::jsonb)",
            user_id,
            json.dumps(context),
        )
        assert await apply_postgres(conn) == [4]
        column = await conn.fetchrow(
            "SELECT atttypid::regtype::text AS type, attcompression FROM pg_attribute"
            " WHERE attrelid = 'sessions'::regclass AND attname = 'context'"
        )
        assert (column["type"], column["attcompression"]) == ("json", b"l")
    finally:
        await conn.close()
    store = await make_pg_store()
    session = await store.current_session(user_id)
    assert session is not None and session.context == context
    extended = await store.record_intent(user_id, "weather", {"city": "Oslo"})
    assert [e["intent"] for e in extended.context] == ["greet", "weather"]
