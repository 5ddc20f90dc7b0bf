"""Session writes on PostgreSQL: a batch of `SessionWrite`s committed, with the memo of current
sessions (`SessionMemo`) that spares reading, and even detoasting, the contexts it holds.

The full path is five round trips whatever the batch size: `BEGIN`, lock the users, read their
current sessions, one `UPDATE` and (when a session starts) one `INSERT` over arrays, `COMMIT`. A
batch whose users' sessions the memo holds, and which only extends them, is one statement instead
(`_SQL_SWAP_SESSIONS`), which writes all of it or nothing; nothing, and the batch takes the full
path, when another transaction has changed one of the rows since.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from ixp.storage.base import Session, SessionWrite, UnknownUser
from ixp.storage.sessions import Held, SessionMemo, SessionPlan

# Serializes session writes per user (and tells which users exist). In id order, so that two
# batches (of two workers) locking the same users never deadlock. A separate statement from the
# session read, so that the read (a new snapshot under READ COMMITTED) sees what another transaction
# wrote while we waited for the lock.
_SQL_LOCK_USERS = "SELECT id FROM users WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"
# The users' current sessions; the context only for those the memo does not hold as they are (same
# session id and row version `xmin`, which every UPDATE changes): not even detoasted for the others.
_SQL_CURRENT_SESSIONS = """
SELECT s.id, s.user_id, s.created_at, s.last_seen_at,
    CASE WHEN s.id = u.memo_id AND s.xmin::text = u.memo_version THEN NULL ELSE s.context END,
    s.xmin::text
FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(id, memo_id, memo_version)
CROSS JOIN LATERAL (
    SELECT id, user_id, created_at, last_seen_at, context, xmin
    FROM sessions WHERE user_id = u.id ORDER BY created_at DESC LIMIT 1
) s"""
# Contexts travel as JSON text: asyncpg would take a list inside an array for another dimension
# (the server reads json from text in either format).
_SQL_TOUCH_SESSIONS = """
UPDATE sessions s SET context = v.context::json, last_seen_at = v.seen
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS v(id, context, seen)
WHERE s.id = v.id
RETURNING s.id, s.xmin::text"""
_SQL_INSERT_SESSIONS = """
INSERT INTO sessions (user_id, created_at, last_seen_at, context)
SELECT v.user_id, v.created_at, v.seen, v.context::json
FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::text[])
    AS v(user_id, created_at, seen, context)
RETURNING id, user_id, created_at, xmin::text"""
# A batch whose users' sessions the memo holds, which it only extends: one statement, in its own
# (implicit) transaction, one round trip instead of five. It writes every row or none. It locks the
# users as the full path does (so a batch of another worker that read a session, and will write it,
# cannot be overtaken), then each session row, and counts the rows whose version is still the
# memo's: a row another transaction changed has another xmin (an erased one is gone; a session
# replaced by a new one is touched by the transaction that replaced it), so the count falls short,
# nothing is updated or returned, and the batch takes the full path.
_SQL_SWAP_SESSIONS = """
WITH v AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[])
        AS v(id, user_id, version, context, seen)
), locked AS (
    SELECT u.id FROM users u WHERE u.id IN (SELECT user_id FROM v) ORDER BY u.id FOR NO KEY UPDATE
), held AS (
    SELECT s.id FROM sessions s
    JOIN v ON s.id = v.id AND s.xmin::text = v.version
    JOIN locked l ON l.id = s.user_id
    ORDER BY s.id FOR UPDATE OF s
)
UPDATE sessions s SET context = v.context::json, last_seen_at = v.seen
FROM v
WHERE s.id = v.id AND (SELECT count(*) FROM held) = $6
RETURNING s.id, s.xmin::text"""
# A session replaced by a new one gets a new row version, so that a swap holding it fails.
_SQL_RETIRE_SESSIONS = "UPDATE sessions SET last_seen_at = last_seen_at WHERE id = ANY($1::bigint[])"


def session_of(row: Any) -> Session:
    return Session(id=row[0], user_id=row[1], created_at=row[2], last_seen_at=row[3], context=row[4])


class SessionWriter:
    """Commits batches of session writes on connections from `connect` (the store's pool)."""

    def __init__(self, connect: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self._connect = connect
        self.memo = SessionMemo()  # versions: (session id, xmin of its row)

    async def record(self, writes: Sequence[SessionWrite], idle: timedelta) -> list[Session | UnknownUser]:
        """Commit `writes` (a session idle for longer than `idle` is replaced): the per-write
        results, an `UnknownUser` for the writes of users that do not exist."""
        if not writes:
            return []
        users = sorted({w.user_id for w in writes})
        memo = self.memo
        swapped = await self._swap_sessions(writes, users, idle)
        if swapped is not None:
            return swapped
        versions: dict[int, str] = {}  # session id -> xmin of the row this batch wrote
        async with self._connect() as conn, conn.transaction():
            known = [row[0] for row in await conn.fetch(_SQL_LOCK_USERS, users)]
            current: dict[int, Session] = {}
            json: dict[int, list[bytes] | None] = {}
            if known:
                # Taken before the query: another batch may change the memo while this one waits.
                held = {user_id: memo.get(user_id) for user_id in known}
                rows = await conn.fetch(
                    _SQL_CURRENT_SESSIONS,
                    known,
                    [None if h is None else h.version[0] for h in held.values()],
                    [None if h is None else h.version[1] for h in held.values()],
                )
                for row in rows:
                    entry = held[row[1]]
                    if row[4] is None and entry is not None:  # the memo's row version: its context
                        memo.hits += 1
                        current[row[1]], json[row[1]] = entry.session, entry.json
                    else:
                        memo.misses += 1
                        current[row[1]] = session_of(row)
            plan = SessionPlan(writes, set(known), current, idle, json)
            if plan.updates:
                touched = await conn.fetch(
                    _SQL_TOUCH_SESSIONS,
                    [d.id for d in plan.updates],
                    [d.context_json() for d in plan.updates],
                    [d.last_seen_at for d in plan.updates],
                )
                versions.update((row[0], row[1]) for row in touched)
            ids: list[int] = []
            if plan.inserts:
                replaced = [current[d.user_id].id for d in plan.inserts if d.user_id in current]
                if replaced:
                    await conn.execute(_SQL_RETIRE_SESSIONS, replaced)
                rows = await conn.fetch(
                    _SQL_INSERT_SESSIONS,
                    [d.user_id for d in plan.inserts],
                    [d.created_at for d in plan.inserts],
                    [d.last_seen_at for d in plan.inserts],
                    [d.context_json() for d in plan.inserts],
                )
                # RETURNING has no promised order: a user's new sessions differ by created_at.
                by_key = {(row[1], row[2]): int(row[0]) for row in rows}
                ids = [by_key[(d.user_id, d.created_at)] for d in plan.inserts]
                versions.update((row[0], row[3]) for row in rows)
        return self._committed(plan, plan.results(ids), versions)

    def _committed(
        self, plan: SessionPlan, results: list[Session | UnknownUser], versions: dict[int, str]
    ) -> list[Session | UnknownUser]:
        """After the commit: each user's last session is the row version the batch wrote."""
        for session in {s.user_id: s for s in results if isinstance(s, Session)}.values():
            version = versions.get(session.id)
            if version is None:  # no row version came back: nothing to vouch for the memo's copy
                self.memo.forget(session.user_id)
            else:
                self.memo.remember(session, (session.id, version), plan.last[session.user_id].json)
        return results

    async def _swap_sessions(
        self, writes: Sequence[SessionWrite], users: list[int], idle: timedelta
    ) -> list[Session | UnknownUser] | None:
        """The batch in one statement (`_SQL_SWAP_SESSIONS`) when the memo holds every user's
        session and the batch only extends them; None when it may not, or the rows have changed."""
        held: dict[int, Held] = {}
        for user_id in users:
            entry = self.memo.get(user_id)
            if entry is None:
                return None
            held[user_id] = entry
        plan = SessionPlan(
            writes,
            held.keys(),
            {u: h.session for u, h in held.items()},
            idle,
            {u: h.json for u, h in held.items()},
        )
        if plan.inserts or len(plan.updates) != len(users):  # a session starts: the full path
            return None
        async with self._connect() as conn:
            rows = await conn.fetch(
                _SQL_SWAP_SESSIONS,
                [d.id for d in plan.updates],
                [d.user_id for d in plan.updates],
                [held[d.user_id].version[1] for d in plan.updates],
                [d.context_json() for d in plan.updates],
                [d.last_seen_at for d in plan.updates],
                len(plan.updates),
            )
        if len(rows) != len(plan.updates):
            self.memo.failed_swaps += 1
            return None  # nothing was written: another transaction changed a row
        self.memo.hits += len(users)
        self.memo.swaps += 1
        return self._committed(plan, plan.results([]), {row[0]: row[1] for row in rows})
