"""`PostgresStore`: the shared backend for several machines, on an asyncpg connection pool.

Every statement is a module constant with `$n` parameters: asyncpg prepares each one once per
connection and reuses it from its statement cache. json and jsonb go through msgspec in binary format.
Losing the server, a refused connection, a timeout: all become `StorageUnavailable`; the pool
replaces dead connections by itself, so the same store works again once the server is back.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec

from ixp.storage import base, migrations
from ixp.storage.base import (
    DuplicateEmail,
    IntentLog,
    Session,
    SessionWrite,
    StorageUnavailable,
    UnknownUser,
    User,
)
from ixp.storage.postgres_sessions import SessionWriter, session_of
from ixp.storage.sessions import SessionMemo, record_one

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

# Errors that mean "the database is not reachable right now" (not "the query is wrong").
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError is an OSError on 3.11+
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08, including ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # class 57: admin/crash shutdown, cannot connect now
    asyncpg.exceptions.TooManyConnectionsError,
)

_USER_COLS = "id, email, name, created_at"
_SQL_INSERT_USER = "INSERT INTO users (email, name, created_at) VALUES ($1, $2, $3) RETURNING id"
_SQL_USER = f"SELECT {_USER_COLS} FROM users WHERE id = $1"
_SQL_USER_BY_EMAIL = f"SELECT {_USER_COLS} FROM users WHERE email = $1"
_SQL_USERS_BY_IDS = f"SELECT {_USER_COLS} FROM users WHERE id = ANY($1::bigint[])"
_SQL_LIST_USERS = f"SELECT {_USER_COLS} FROM users ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
_SQL_COUNT_USERS = "SELECT count(*) FROM users"
_SQL_RECENT_USERS = """
SELECT u.id, u.email, u.name, u.created_at
FROM (SELECT user_id, max(last_seen_at) AS seen FROM sessions GROUP BY user_id) s
JOIN users u ON u.id = s.user_id
ORDER BY s.seen DESC, u.id DESC LIMIT $1"""
_SESSION_COLS = "id, user_id, created_at, last_seen_at, context"
# No "id DESC" tie-break (unlike SQLite, whose indexes end with the rowid): it would cost a sort
# after the index scan. A user's sessions never share a created_at (session writes lock the user);
# log rows that do come back in reverse insertion order (index ties are in heap order).
_SQL_CURRENT_SESSION = (
    f"SELECT {_SESSION_COLS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1"
)
_SQL_LOCK_USER_FOR_DELETE = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE"
_LOG_COLUMNS = ("user_id", "intent", "message", "parameters", "latency_us", "created_at")
_SQL_RECENT_LOGS = (
    "SELECT user_id, intent, message, parameters, latency_us, created_at FROM intent_logs"
    " WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"
)
_SQL_COUNT_LOGS = "SELECT count(*) FROM intent_logs"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _user(row: Any) -> User:
    return User(id=row[0], email=row[1], name=row[2], created_at=row[3])


async def _init_connection(conn: Any) -> None:
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=lambda value: b"\x01" + _encode(value),  # jsonb binary format: version byte 1
        decoder=lambda data: _decode(memoryview(data)[1:]),
    )
    # `json` (sessions' contexts): its binary format is its text.
    await conn.set_type_codec("json", schema="pg_catalog", format="binary", encoder=_encode, decoder=_decode)


async def _keep_session(conn: Any) -> None:
    """The pool's reset on release, without asyncpg's default reset query (`pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`): one more round trip per query or transaction otherwise.
    ixp leaves none of that on a connection (no session advisory locks, cursors, LISTEN or SET);
    an open transaction is still rolled back by the pool before this is called."""


class PostgresStore:
    """The `Store` on PostgreSQL (`dsn`: `postgresql://user@host:port/db`).

    `schema` puts the tables in that schema (it must exist) via `search_path`, e.g. for tests.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 5,
        max_size: int = 20,
        acquire_timeout: float = 60.0,
        idle_lifetime: float = 10.0,
        connect_timeout: float = 5.0,
        command_timeout: float | None = 30.0,
        schema: str | None = None,
    ) -> None:
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must be a lower-case SQL identifier, got {schema!r}")
        if not 0 <= min_size <= max_size:
            raise ValueError(f"pool sizes must satisfy 0 <= min_size <= max_size, got {min_size}, {max_size}")
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.acquire_timeout = acquire_timeout
        self.idle_lifetime = idle_lifetime
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.schema = schema
        self._pool: Any = None
        self._where = _redact(dsn)
        self._sessions = SessionWriter(self._conn)

    @property
    def memo(self) -> SessionMemo:
        return self._sessions.memo

    # -- plumbing ---------------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> StorageUnavailable:
        detail = str(exc) or type(exc).__name__
        return StorageUnavailable(f"PostgreSQL at {self._where} unavailable: {detail}")

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        pool = self._pool
        if pool is None:
            raise StorageUnavailable(f"PostgreSQL store for {self._where} is not open")
        try:
            async with pool.acquire(timeout=self.acquire_timeout) as conn:
                try:
                    yield conn
                except asyncpg.InterfaceError as exc:
                    if _lost(conn):  # the server went away in the middle of our work
                        raise ConnectionResetError(f"connection lost: {exc}") from exc
                    raise
        except _UNAVAILABLE as exc:
            # Connections opened before an outage are dead: have the pool replace all of them.
            await pool.expire_connections()
            raise self._unavailable(exc) from exc

    # -- lifecycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"application_name": "ixp"}
        if self.schema is not None:
            settings["search_path"] = self.schema
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.min_size,
                max_size=self.max_size,
                max_inactive_connection_lifetime=self.idle_lifetime,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
                server_settings=settings,
                init=_init_connection,
                reset=_keep_session,
            )
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        try:
            async with pool.acquire(timeout=self.acquire_timeout) as conn:
                await migrations.apply_postgres(conn)
        except BaseException as exc:
            pool.terminate()
            if isinstance(exc, _UNAVAILABLE):
                raise self._unavailable(exc) from exc
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except _UNAVAILABLE:
                pool.terminate()

    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")

    def memo_stats(self) -> dict[str, int]:
        return self.memo.stats()

    def written_elsewhere(self, user_id: int | None) -> None:
        """The memo's entry is stale (the row's version will say so): forget it, so that the next
        batch with the user goes straight to the full path instead of a swap bound to fail."""
        if user_id is None:
            self.memo.clear()
        else:
            self.memo.forget(user_id)

    def pool_stats(self) -> dict[str, int]:
        pool = self._pool
        if pool is None:
            return {"size": 0, "in_use": 0, "min": self.min_size, "max": self.max_size}
        size = int(pool.get_size())
        return {
            "size": size,
            "in_use": size - int(pool.get_idle_size()),
            "min": int(pool.get_min_size()),
            "max": int(pool.get_max_size()),
        }

    # -- users ------------------------------------------------------------------------------------

    async def create_user(self, email: str, name: str) -> User:
        email = base.normalize_email(email)
        created = base.utc_now()
        async with self._conn() as conn:
            try:
                user_id = await conn.fetchval(_SQL_INSERT_USER, email, name, created)
            except asyncpg.UniqueViolationError as exc:
                raise DuplicateEmail(email) from exc
        return User(id=int(user_id), email=email, name=name, created_at=created)

    async def get_user(self, user_id: int) -> User | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(_SQL_USER, user_id)
        return None if row is None else _user(row)

    async def get_user_by_email(self, email: str) -> User | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(_SQL_USER_BY_EMAIL, email.strip().lower())
        return None if row is None else _user(row)

    async def get_users(self, ids: Sequence[int]) -> list[User]:
        if not ids:
            return []
        async with self._conn() as conn:
            rows = await conn.fetch(_SQL_USERS_BY_IDS, list(ids))
        by_id = {row[0]: _user(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def list_users(self, page: int, limit: int) -> tuple[list[User], int]:
        offset = base.check_page(page, limit)
        async with self._conn() as conn:
            rows = await conn.fetch(_SQL_LIST_USERS, limit, offset)
            total = await conn.fetchval(_SQL_COUNT_USERS)
        return [_user(row) for row in rows], int(total)

    async def recently_active_users(self, limit: int) -> list[User]:
        async with self._conn() as conn:
            rows = await conn.fetch(_SQL_RECENT_USERS, limit)
        return [_user(row) for row in rows]

    # -- sessions ---------------------------------------------------------------------------------

    async def current_session(self, user_id: int) -> Session | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(_SQL_CURRENT_SESSION, user_id)
        return None if row is None else session_of(row)

    async def record_intent(
        self, user_id: int, intent: str, parameters: dict[str, Any], session_idle_seconds: int = 1800
    ) -> Session:
        return await record_one(self.record_intents, user_id, intent, parameters, session_idle_seconds)

    async def record_intents(
        self, writes: Sequence[SessionWrite], session_idle_seconds: int = 1800
    ) -> list[Session | UnknownUser]:
        return await self._sessions.record(writes, timedelta(seconds=session_idle_seconds))

    # -- intent logs ------------------------------------------------------------------------------

    async def write_intent_logs(self, rows: Sequence[IntentLog]) -> None:
        if not rows:
            return
        records = [
            (r.user_id, r.intent, r.message, r.parameters, r.latency_us, base.as_utc(r.created_at))
            for r in rows
        ]
        async with self._conn() as conn:
            await conn.copy_records_to_table("intent_logs", records=records, columns=_LOG_COLUMNS)

    async def recent_intent_logs(self, user_id: int, limit: int) -> list[IntentLog]:
        async with self._conn() as conn:
            rows = await conn.fetch(_SQL_RECENT_LOGS, user_id, limit)
        return [
            IntentLog(
                user_id=r[0], intent=r[1], message=r[2], parameters=r[3], latency_us=r[4], created_at=r[5]
            )
            for r in rows
        ]

    async def count_intent_logs(self) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval(_SQL_COUNT_LOGS))

    async def delete_user(self, user_id: int) -> bool:
        async with self._conn() as conn, conn.transaction():
            # The user's lock first, like session writes: deleting the sessions first could
            # deadlock with a session write that holds the user and waits for a session row.
            await conn.execute(_SQL_LOCK_USER_FOR_DELETE, user_id)
            await conn.execute("DELETE FROM intent_logs WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
            return bool(await conn.fetchval("DELETE FROM users WHERE id = $1 RETURNING true", user_id))

    async def delete_intent_logs_before(self, cutoff: datetime, limit: int) -> int:
        sql = (
            "DELETE FROM intent_logs WHERE id IN "
            "(SELECT id FROM intent_logs WHERE created_at < $1 ORDER BY id LIMIT $2)"
        )
        async with self._conn() as conn:
            status = await conn.execute(sql, base.as_utc(cutoff), limit)
        return int(status.split()[-1])


def _lost(proxy: Any) -> bool:
    """Whether a pooled connection died: the pool detaches a closed connection from its proxy at
    once (asyncpg has no public accessor for that), so every later call is an InterfaceError."""
    con = getattr(proxy, "_con", None)
    return con is None or bool(con.is_closed())


def _redact(dsn: str) -> str:
    """The DSN without its password, for error messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)
