"""Storage as the app uses it: the store, the two-level cache in front of it, the write-behind
intent log, their lifecycle, cache warming, health checks and metrics.

The store opens at start-up (or on first use, for apps driven without a lifespan). A database that
is down at start-up does not stop the server: requests that need it answer 503
`STORAGE_UNAVAILABLE` (the `StorageUnavailable` error carries that code), `/ixp/health` reports
unhealthy, and both recover when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.base.tasks import cancel_and_wait
from ixp.storage.base import (
    IntentLog,
    Session,
    SessionWrite,
    StorageUnavailable,
    UnknownUser,
    User,
    utc_now,
)
from ixp.storage.batching import GroupCommit
from ixp.storage.cache import TwoLevelCache
from ixp.storage.factory import open_store
from ixp.storage.logs import IntentLogWriter

log = logging.getLogger("ixp.storage")
PING_TIMEOUT = 2.0
RETENTION_INTERVAL = 3600.0  # seconds between retention runs
RETENTION_BATCH = 1000  # rows deleted per transaction
SESSION_TTL = 60.0


class _Recorded(NamedTuple):
    """One request's session write, and the intent-log rows queued once it is committed."""

    write: SessionWrite
    logs: list[IntentLog]


class StorageService:
    """The store, its caches and the intent-log writer, opened once and shared by the features."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        try:
            self.store = open_store(
                settings.database_url,
                settings.sqlite_path,
                pool_min=settings.db_pool_min,
                pool_max=settings.db_pool_max,
                acquire_timeout=settings.db_acquire_timeout,
                idle_lifetime=settings.db_idle_lifetime,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.cache = TwoLevelCache(
            settings.redis_url,
            capacity=settings.cache_size,
            l1_max_ttl=300.0,
            on_remote_invalidation=self._invalidated_elsewhere,
        )
        self.writer = IntentLogWriter(
            self.store, batch_size=settings.log_batch_size, flush_interval=settings.log_flush_interval
        )
        # Session writes are group-committed: one transaction per batch of concurrent requests.
        self.sessions: GroupCommit[_Recorded, Session] = GroupCommit(
            self._commit_sessions,
            max_batch=settings.storage_batch_max,
            settle=self._settle_sessions,
            name="session writes",
        )
        self._batch_mark: int | None = None
        self._opened = False
        self._lock: asyncio.Lock | None = None
        self._retention: asyncio.Task[None] | None = None
        self.retention = {"deleted": 0, "runs": 0}
        self.warmed = {"users": 0, "sessions": 0}

    # -- lifecycle --------------------------------------------------------------------------------

    async def ready(self) -> None:
        """Open store, cache and log writer once; raises `StorageUnavailable` while the DB is down."""
        if self._opened:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._opened:
                return
            await self.store.open()
            await self.cache.open()
            self.writer.start()
            self._opened = True

    async def start(self) -> None:
        if self.settings.log_retention_days > 0:
            self._retention = asyncio.get_running_loop().create_task(self._retain())
        try:
            await self.ready()
        except StorageUnavailable as exc:
            log.error("storage unavailable at start-up (%s); serving without it until it returns", exc)
            return
        await self.warm()

    async def stop(self) -> None:
        task, self._retention = self._retention, None
        await cancel_and_wait(task)
        if not self._opened:
            return
        await self.sessions.close()  # commits and answers every waiting session write
        await self.writer.close()  # flushes every queued log row
        await self.cache.close()
        await self.store.close()
        self._opened = False

    async def warm(self) -> None:
        """Pre-fill the caches with recently active users and their sessions. Logged with counts."""
        started = time.perf_counter()
        try:
            users = await self.store.recently_active_users(self.settings.warm_users)
            await self.cache.set_many({f"user:{u.id}": u for u in users}, self.settings.cache_ttl)
            sessions = {}
            for user in users:
                session = await self.store.current_session(user.id)
                if session is not None:
                    sessions[f"session:{user.id}"] = session
            await self.cache.set_many(sessions, SESSION_TTL)
        except StorageUnavailable as exc:
            log.warning("cache warming skipped: storage unavailable (%s)", exc)
            return
        self.warmed["users"], self.warmed["sessions"] = len(users), len(sessions)
        log.info(
            "cache warmed in %.1f ms: %d users, %d sessions",
            (time.perf_counter() - started) * 1000,
            len(users),
            len(sessions),
            extra={"warmed": dict(self.warmed)},
        )

    # -- reads and writes used by the endpoints ---------------------------------------------------

    async def user(self, user_id: int) -> User | None:
        await self.ready()
        return await self.cache.get_or_load(
            f"user:{user_id}", lambda: self.store.get_user(user_id), self.settings.cache_ttl, User
        )

    async def session(self, user_id: int) -> Session | None:
        await self.ready()
        return await self.cache.get_or_load(
            f"session:{user_id}", lambda: self.store.current_session(user_id), SESSION_TTL, Session
        )

    async def record(
        self, user_id: int, processed: list[tuple[str, str, dict[str, Any]]], latency_us: int
    ) -> None:
        """Append processed intents to the user's session and queue their log rows, once the
        session write is committed (with those of concurrent requests: `GroupCommit`)."""
        await self.ready()
        if not processed:
            return
        now = utc_now()
        keep_message = self.settings.log_messages  # IXP_LOG_MESSAGES=off: no raw message kept
        write = SessionWrite(user_id, [(intent, parameters) for intent, _, parameters in processed], now)
        logs = [
            IntentLog(user_id, intent, message if keep_message else "", parameters, latency_us, now)
            for intent, message, parameters in processed
        ]
        await self.sessions.submit(_Recorded(write, logs))

    async def _commit_sessions(self, batch: Sequence[_Recorded]) -> list[Session | Exception]:
        mark = self.cache.mark()  # before the transaction: see _settle_sessions
        self._batch_mark = mark if self._batch_mark is None else min(self._batch_mark, mark)
        return list(
            await self.store.record_intents([r.write for r in batch], self.settings.session_idle_seconds)
        )

    def _settle_sessions(
        self, batch: Sequence[_Recorded], outcomes: Sequence[Session | Exception]
    ) -> Awaitable[None] | None:
        """After the commit, before anyone is answered: the committed sessions go into L1 (so no
        read here after an acknowledged write sees an older one); a user whose write failed is
        dropped (a commit whose answer was lost may have happened; an unknown user has nothing
        cached); the log rows of the committed writes are queued. The returned publication
        (Redis: L2 and the other workers) is awaited before the batch's requests are answered."""
        mark, self._batch_mark = self._batch_mark or 0, None
        values: dict[str, Session | None] = {}
        for recorded, outcome in zip(batch, outcomes, strict=True):
            key = f"session:{recorded.write.user_id}"
            if isinstance(outcome, Session):
                values[key] = outcome
                for row in recorded.logs:
                    self.writer.log(row)
            elif key in values or not isinstance(outcome, UnknownUser):  # no user: nothing cached
                values[key] = None
        self.cache.written(values, SESSION_TTL, mark)
        if self.settings.redis_url is None:
            return None
        return self.cache.publish(list(values))

    def _invalidated_elsewhere(self, key: str | None) -> None:
        """A key another worker invalidated: a session key means it wrote that user's session."""
        if key is None:
            self.store.written_elsewhere(None)
        elif key.startswith("session:") and key[8:].isdecimal():
            self.store.written_elsewhere(int(key[8:]))

    async def erase_user(self, user_id: int) -> bool:
        """Erase the user, their sessions and intent logs (queued ones included) in one transaction,
        then drop them from every cache level on every worker. False if there was no such user."""
        await self.ready()
        erased = await self.writer.erase(user_id, lambda: self.store.delete_user(user_id))
        await self.cache.invalidate(f"user:{user_id}")
        await self.cache.invalidate(f"session:{user_id}")
        return erased

    async def delete_expired_logs(self, batch: int = RETENTION_BATCH) -> int:
        """Delete the intent logs older than `IXP_LOG_RETENTION_DAYS`, `batch` rows per transaction
        (short transactions: requests never wait long behind it); return how many."""
        cutoff = utc_now() - timedelta(days=self.settings.log_retention_days)
        deleted = 0
        while True:
            count = await self.store.delete_intent_logs_before(cutoff, batch)
            deleted += count
            if count < batch:
                break
            await asyncio.sleep(0)  # let requests run between batches
        self.retention["runs"] += 1
        self.retention["deleted"] += deleted
        return deleted

    async def _retain(self) -> None:
        while True:
            try:
                await self.ready()
                deleted = await self.delete_expired_logs()
                if deleted:
                    log.info(
                        "intent log retention: deleted %d logs older than %d days",
                        deleted,
                        self.settings.log_retention_days,
                    )
            except StorageUnavailable as exc:
                log.warning("intent log retention skipped: storage unavailable (%s)", exc)
            await asyncio.sleep(RETENTION_INTERVAL)

    # -- health and metrics -----------------------------------------------------------------------

    async def storage_check(self) -> dict[str, Any]:
        try:
            await self.ready()
            await asyncio.wait_for(self.store.ping(), PING_TIMEOUT)
        except (StorageUnavailable, asyncio.TimeoutError) as exc:
            return {"status": "fail", "message": f"database unavailable: {exc or 'no answer'}"}
        backend = "postgresql" if self.settings.database_url else "sqlite"
        return {"status": "pass", "message": f"{backend} reachable"}

    async def redis_check(self) -> dict[str, Any]:
        status = self.cache.status()
        if status == "ok":
            return {"status": "pass", "message": "redis reachable"}
        return {"status": "warn", "message": "redis unreachable: serving from L1 and the database"}

    def stats(self) -> dict[str, Any]:
        cache = self.cache.stats()
        l1, l2 = cache["l1"], cache["l2"]
        l1_lookups = l1["hits"] + l1["misses"]
        l2_lookups = l2["hits"] + l2["misses"]
        return {
            "backend": "postgresql" if self.settings.database_url else "sqlite",
            "pool": self.store.pool_stats(),
            "cache": {
                "l1": {**l1, "hitRatio": round(l1["hits"] / l1_lookups, 4) if l1_lookups else 0.0},
                "l2": {**l2, "hitRatio": round(l2["hits"] / l2_lookups, 4) if l2_lookups else 0.0},
                "redis": cache["redis"],
                "singleFlight": cache["singleFlight"],
            },
            "groupCommit": self.sessions.stats(),
            "sessionMemo": self.store.memo_stats(),
            "intentLogs": self.writer.stats(),
            "warmed": dict(self.warmed),
            "retention": {"days": self.settings.log_retention_days, **self.retention},
        }

    def cache_series(self) -> list[tuple[str, str, str, float]]:
        """Prometheus counters of the user/session cache, per level (L1 in process, L2 Redis)."""
        cache = self.cache.stats()
        return [
            (
                f"ixp_storage_cache_{level}_{kind}_total",
                f"Cache {level} {kind}.",
                "counter",
                cache[level][kind],
            )
            for level in ("l1", "l2")
            for kind in ("hits", "misses")
        ]
