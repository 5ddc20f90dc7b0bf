"""`SqliteStore`: the zero-configuration backend, one SQLite file shared by all local workers.

One connection per process, used only by one dedicated thread: every call is a job on a
single-thread executor, so calls are serialized without a lock and the event loop never blocks.
WAL lets readers in other processes proceed while one writes; `busy_timeout` makes a writer wait for
another process's write lock instead of failing; every write transaction starts with
`BEGIN IMMEDIATE`, so it takes the write lock up front and never fails half-way on a lock upgrade.

The current sessions this process last wrote or read are kept decoded (`SessionMemo`), so a batch
of session writes reads and decodes no context: only its UPDATE and COMMIT reach the file. The memo
is only trusted while no other connection has committed since it was filled: `PRAGMA data_version`
(read inside the write transaction, so nothing can commit between the check and the write) changes
exactly when another connection commits; then the memo is dropped and refilled from the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

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
from ixp.storage.sessions import SessionMemo, SessionPlan, record_one

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode
_decode_context = msgspec.json.Decoder(list[dict[str, Any]]).decode
_decode_params = msgspec.json.Decoder(dict[str, Any]).decode

_USER_COLS = "id, email, name, created_at"
_SQL_INSERT_USER = "INSERT INTO users (email, name, created_at) VALUES (?, ?, ?)"
_SQL_USER = f"SELECT {_USER_COLS} FROM users WHERE id = ?"
_SQL_USER_BY_EMAIL = f"SELECT {_USER_COLS} FROM users WHERE email = ?"
# SQLite caps bound parameters (32766 since 3.32); json_each takes any number in one parameter.
_SQL_USERS_BY_IDS = f"SELECT {_USER_COLS} FROM users WHERE id IN (SELECT value FROM json_each(?))"
_SQL_LIST_USERS = f"SELECT {_USER_COLS} FROM users ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
_SQL_COUNT_USERS = "SELECT count(*) FROM users"
_SQL_RECENT_USERS = """
SELECT u.id, u.email, u.name, u.created_at
FROM (SELECT user_id, max(last_seen_at) AS seen FROM sessions GROUP BY user_id) s
JOIN users u ON u.id = s.user_id
ORDER BY s.seen DESC, u.id DESC LIMIT ?"""
_SESSION_COLS = "id, user_id, created_at, last_seen_at, context"
_SQL_CURRENT_SESSION = (
    f"SELECT {_SESSION_COLS} FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 1"
)
_SQL_KNOWN_USERS = "SELECT id FROM users WHERE id IN (SELECT value FROM json_each(?))"
_SQL_TOUCH_SESSION = "UPDATE sessions SET context = ?, last_seen_at = ? WHERE id = ?"
_SQL_INSERT_SESSION = "INSERT INTO sessions (user_id, created_at, last_seen_at, context) VALUES (?, ?, ?, ?)"
_SQL_INSERT_LOG = (
    "INSERT INTO intent_logs (user_id, intent, message, parameters, latency_us, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_SQL_RECENT_LOGS = (
    "SELECT user_id, intent, message, parameters, latency_us, created_at FROM intent_logs"
    " WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
)
_SQL_COUNT_LOGS = "SELECT count(*) FROM intent_logs"


def _ts(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, so that text order is time order."""
    return base.as_utc(moment).isoformat(timespec="microseconds")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _user(row: tuple[Any, ...]) -> User:
    return User(id=row[0], email=row[1], name=row[2], created_at=_dt(row[3]))


def _session(row: tuple[Any, ...]) -> Session:
    return Session(
        id=row[0],
        user_id=row[1],
        created_at=_dt(row[2]),
        last_seen_at=_dt(row[3]),
        context=_decode_context(row[4]),
    )


class SqliteStore:
    """The `Store` on a SQLite file (`path`), safe with several processes on the same file."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight = 0
        # The current sessions as of this connection's last look (see the module doc); only
        # touched by the executor's one thread.
        self.memo = SessionMemo()
        self._data_version: int | None = None

    # -- plumbing ---------------------------------------------------------------------------------

    async def _run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        conn, executor = self._conn, self._executor
        if conn is None or executor is None:
            raise StorageUnavailable(f"SQLite store {self.path} is not open")
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, job, conn)
        except sqlite3.DatabaseError as exc:
            # Locked past busy_timeout, I/O errors, a file that is not a database: the storage is
            # unusable right now. Integrity and programming errors propagate as they are.
            if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
                raise StorageUnavailable(f"SQLite {self.path}: {exc}") from exc
            raise
        finally:
            self._in_flight -= 1

    @staticmethod
    def _write(conn: sqlite3.Connection, job: Callable[[], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = job()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(
                "PRAGMA synchronous = NORMAL"
            )  # with WAL: never corrupt; a power cut may lose the last commits
            conn.execute("PRAGMA foreign_keys = ON")
            migrations.apply_sqlite(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    # -- lifecycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ixp-sqlite")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        delay = 0.01
        while True:
            try:
                conn = await loop.run_in_executor(executor, self._connect)
                break
            except sqlite3.OperationalError as exc:
                # Several workers opening one fresh file at once: switching it to WAL (and the
                # first migration) can answer "database is locked" at once, without waiting for
                # busy_timeout. Retry until busy_timeout has passed.
                if _is_busy(exc) and loop.time() + delay < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.2)
                    continue
                executor.shutdown(wait=False)
                raise StorageUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
            except (sqlite3.Error, OSError) as exc:
                executor.shutdown(wait=False)
                raise StorageUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._conn, self._executor = conn, executor

    async def close(self) -> None:
        conn, executor = self._conn, self._executor
        if conn is None or executor is None:
            return
        self._conn = self._executor = None
        await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    def memo_stats(self) -> dict[str, int]:
        return self.memo.stats()

    def written_elsewhere(self, user_id: int | None) -> None:
        """Nothing to do: `PRAGMA data_version` tells every other connection's commit (and the
        memo belongs to the executor's thread)."""

    def pool_stats(self) -> dict[str, int]:
        size = 1 if self._conn is not None else 0
        return {"size": size, "in_use": min(self._in_flight, 1), "min": 1, "max": 1}

    # -- users ------------------------------------------------------------------------------------

    async def create_user(self, email: str, name: str) -> User:
        email = base.normalize_email(email)
        created = base.utc_now()

        def job(conn: sqlite3.Connection) -> int:
            return int(conn.execute(_SQL_INSERT_USER, (email, name, _ts(created))).lastrowid or 0)

        try:
            user_id = await self._run(job)
        except sqlite3.IntegrityError as exc:
            raise DuplicateEmail(email) from exc
        return User(id=user_id, email=email, name=name, created_at=created)

    async def get_user(self, user_id: int) -> User | None:
        row = await self._run(lambda conn: conn.execute(_SQL_USER, (user_id,)).fetchone())
        return None if row is None else _user(row)

    async def get_user_by_email(self, email: str) -> User | None:
        key = email.strip().lower()
        row = await self._run(lambda conn: conn.execute(_SQL_USER_BY_EMAIL, (key,)).fetchone())
        return None if row is None else _user(row)

    async def get_users(self, ids: Sequence[int]) -> list[User]:
        if not ids:
            return []
        wanted = _encode([int(i) for i in ids]).decode()
        rows = await self._run(lambda conn: conn.execute(_SQL_USERS_BY_IDS, (wanted,)).fetchall())
        by_id = {row[0]: _user(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def list_users(self, page: int, limit: int) -> tuple[list[User], int]:
        offset = base.check_page(page, limit)

        def job(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], int]:
            conn.execute("BEGIN")  # one snapshot for the page and the count
            try:
                rows = conn.execute(_SQL_LIST_USERS, (limit, offset)).fetchall()
                total = conn.execute(_SQL_COUNT_USERS).fetchone()[0]
            finally:
                conn.execute("COMMIT")
            return rows, int(total)

        rows, total = await self._run(job)
        return [_user(row) for row in rows], total

    async def recently_active_users(self, limit: int) -> list[User]:
        rows = await self._run(lambda conn: conn.execute(_SQL_RECENT_USERS, (limit,)).fetchall())
        return [_user(row) for row in rows]

    # -- sessions ---------------------------------------------------------------------------------

    async def current_session(self, user_id: int) -> Session | None:
        def job(conn: sqlite3.Connection) -> Session | None:
            memo = self._valid_memo(conn)
            held = memo.get(user_id)
            if held is not None:
                memo.hits += 1
                return held.session
            memo.misses += 1
            row = conn.execute(_SQL_CURRENT_SESSION, (user_id,)).fetchone()
            if row is None:
                return None
            session = _session(row)
            memo.remember(session)  # should another connection commit meanwhile, the next look drops it
            return session

        return await self._run(job)

    def _valid_memo(self, conn: sqlite3.Connection) -> SessionMemo:
        """The memo, emptied first if another connection committed since the last look."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self.memo.clear()
            self._data_version = version
        return self.memo

    async def record_intent(
        self, user_id: int, intent: str, parameters: dict[str, Any], session_idle_seconds: int = 1800
    ) -> Session:
        return await record_one(self.record_intents, user_id, intent, parameters, session_idle_seconds)

    async def record_intents(
        self, writes: Sequence[SessionWrite], session_idle_seconds: int = 1800
    ) -> list[Session | UnknownUser]:
        if not writes:
            return []
        idle = timedelta(seconds=session_idle_seconds)
        users = {w.user_id for w in writes}

        def apply(conn: sqlite3.Connection) -> tuple[list[Session | UnknownUser], SessionPlan]:
            memo = self._valid_memo(conn)  # inside the write transaction: nobody else commits now
            current: dict[int, Session] = {}
            json: dict[int, list[bytes] | None] = {}
            for user_id in users:
                held = memo.get(user_id)
                if held is not None:
                    current[user_id], json[user_id] = held.session, held.json
            memo.hits += len(current)
            known: set[int] = set(current)  # a user with a session exists (ON DELETE CASCADE)
            others = sorted(users - known)
            if others:
                memo.misses += len(others)
                wanted = _encode(others).decode()
                for (user_id,) in conn.execute(_SQL_KNOWN_USERS, (wanted,)).fetchall():
                    known.add(user_id)
                    row = conn.execute(_SQL_CURRENT_SESSION, (user_id,)).fetchone()
                    if row is not None:
                        current[user_id] = _session(row)
            plan = SessionPlan(writes, known, current, idle, json)
            conn.executemany(
                _SQL_TOUCH_SESSION, [(d.context_json(), _ts(d.last_seen_at), d.id) for d in plan.updates]
            )
            ids = [
                int(
                    conn.execute(
                        _SQL_INSERT_SESSION,
                        (d.user_id, _ts(d.created_at), _ts(d.last_seen_at), d.context_json()),
                    ).lastrowid
                    or 0
                )
                for d in plan.inserts
            ]
            return plan.results(ids), plan

        def job(conn: sqlite3.Connection) -> list[Session | UnknownUser]:
            try:
                results, plan = self._write(conn, lambda: apply(conn))
            except BaseException:
                self.memo.clear()  # whatever the file holds now, the memo may not match it
                raise
            # Committed: the memo follows the file (each user's last session, its entries' JSON).
            for session in {s.user_id: s for s in results if isinstance(s, Session)}.values():
                self.memo.remember(session, None, plan.last[session.user_id].json)
            return results

        # One executor hop and one transaction for the whole batch.
        return await self._run(job)

    # -- intent logs ------------------------------------------------------------------------------

    async def write_intent_logs(self, rows: Sequence[IntentLog]) -> None:
        if not rows:
            return
        params = [
            (r.user_id, r.intent, r.message, _encode(r.parameters).decode(), r.latency_us, _ts(r.created_at))
            for r in rows
        ]
        await self._run(lambda conn: self._write(conn, lambda: conn.executemany(_SQL_INSERT_LOG, params)))

    async def recent_intent_logs(self, user_id: int, limit: int) -> list[IntentLog]:
        rows = await self._run(lambda conn: conn.execute(_SQL_RECENT_LOGS, (user_id, limit)).fetchall())
        return [
            IntentLog(
                user_id=r[0],
                intent=r[1],
                message=r[2],
                parameters=_decode_params(r[3]),
                latency_us=r[4],
                created_at=_dt(r[5]),
            )
            for r in rows
        ]

    async def count_intent_logs(self) -> int:
        row = await self._run(lambda conn: conn.execute(_SQL_COUNT_LOGS).fetchone())
        return int(row[0])

    async def delete_user(self, user_id: int) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            def erase() -> bool:
                conn.execute("DELETE FROM intent_logs WHERE user_id = ?", (user_id,))
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
                self.memo.forget(user_id)  # before the commit: no write may use it meanwhile
                return conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0

            return self._write(conn, erase)

        return await self._run(job)

    async def delete_intent_logs_before(self, cutoff: datetime, limit: int) -> int:
        sql = "DELETE FROM intent_logs WHERE id IN (SELECT id FROM intent_logs WHERE created_at < ? LIMIT ?)"
        return await self._run(
            lambda conn: self._write(conn, lambda: conn.execute(sql, (_ts(cutoff), limit)).rowcount)
        )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message
