"""The storage contract shared by the SQLite and PostgreSQL backends: records, errors, `Store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

import msgspec

from ixp.base.clock import iso_ms
from ixp.base.errors import ErrorCode, IXPError

#: How many entries a session's context keeps (the newest last).
CONTEXT_LIMIT = 50


class User(msgspec.Struct):
    id: int
    email: str
    name: str
    created_at: datetime


class Session(msgspec.Struct):
    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    context: list[dict[str, Any]]


class SessionWrite(msgspec.Struct, frozen=True):
    """One request's intents for a user's current session, all at time `at` (when it arrived).
    `Store.record_intents` applies a sequence of them, in order, in one transaction."""

    user_id: int
    intents: list[tuple[str, dict[str, Any]]]  # (intent, parameters), oldest first
    at: datetime


class IntentLog(msgspec.Struct):
    user_id: int | None
    intent: str
    message: str
    parameters: dict[str, Any]
    latency_us: int
    created_at: datetime


class StorageError(IXPError):
    """Base class of the errors a `Store` raises on purpose; each names its protocol error code, so
    the HTTP boundary answers it without a translation step in the endpoints."""


class DuplicateEmail(StorageError):
    def __init__(self, email: str) -> None:
        super().__init__(ErrorCode.CONFLICT, f"A user with email '{email}' already exists")
        self.email = email


class UnknownUser(StorageError, LookupError):
    def __init__(self, user_id: int) -> None:
        super().__init__(ErrorCode.USER_NOT_FOUND, f"User {user_id} not found")
        self.user_id = user_id


class StorageUnavailable(StorageError):
    """The database cannot be reached or did not answer in time; retrying later may succeed.
    `reason` says what failed (which database, which error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.STORAGE_UNAVAILABLE, f"Storage unavailable: {reason}")
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@runtime_checkable
class Store(Protocol):
    """Users, sessions and intent logs. Both backends implement exactly this, with the same results."""

    async def open(self) -> None:
        """Connect and apply migrations; a second call does nothing."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise `StorageUnavailable` unless the database answers a trivial query."""

    async def create_user(self, email: str, name: str) -> User:
        """Insert a user (email lower-cased and stripped); `DuplicateEmail` if the email is taken."""

    async def get_user(self, user_id: int) -> User | None: ...

    async def get_user_by_email(self, email: str) -> User | None: ...

    async def get_users(self, ids: Sequence[int]) -> list[User]:
        """One query; users in the order of `ids`, missing ones skipped."""

    async def list_users(self, page: int, limit: int) -> tuple[list[User], int]:
        """Page `page` (from 1) of `limit` users, newest first, and the total number of users."""

    async def recently_active_users(self, limit: int) -> list[User]:
        """Users by their latest `sessions.last_seen_at`, most recent first (for cache warming)."""

    async def current_session(self, user_id: int) -> Session | None:
        """The user's latest session (by creation), or None."""

    async def record_intent(
        self, user_id: int, intent: str, parameters: dict[str, Any], session_idle_seconds: int = 1800
    ) -> Session:
        """Append the intent to the current session's context (a new session when there is none or
        it has been idle longer than `session_idle_seconds`), in one transaction. `UnknownUser` if
        the user does not exist."""

    async def record_intents(
        self, writes: Sequence[SessionWrite], session_idle_seconds: int = 1800
    ) -> list[Session | UnknownUser]:
        """Apply `writes` in order (as `record_intent` would, one after the other) in ONE
        transaction: all of them or none. Per write, the user's session right after it, or
        `UnknownUser` (that write is skipped, the others are applied). Any other failure raises and
        leaves nothing written."""

    async def write_intent_logs(self, rows: Sequence[IntentLog]) -> None:
        """Insert a batch of log rows."""

    async def recent_intent_logs(self, user_id: int, limit: int) -> list[IntentLog]:
        """The user's newest log rows, newest first."""

    async def count_intent_logs(self) -> int: ...

    async def delete_user(self, user_id: int) -> bool:
        """Erase the user, their sessions and their intent logs in one transaction; False if there
        was no such user."""

    async def delete_intent_logs_before(self, cutoff: datetime, limit: int) -> int:
        """Delete at most `limit` intent logs created before `cutoff`; return how many."""

    def pool_stats(self) -> dict[str, int]:
        """`{"size", "in_use", "min", "max"}` connections."""

    def memo_stats(self) -> dict[str, int]:
        """`{"size", "hits", "misses", ...}` of the store's memo of current sessions."""

    def written_elsewhere(self, user_id: int | None) -> None:
        """Another worker wrote this user's session (None: any session may have changed)."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if not normalized:
        raise ValueError("email must not be empty")
    return normalized


def check_page(page: int, limit: int) -> int:
    """Validate pagination arguments; return the row offset."""
    if page < 1:
        raise ValueError(f"page must be >= 1, got {page}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return (page - 1) * limit


def append_context(
    context: list[dict[str, Any]], intent: str, parameters: dict[str, Any], at: datetime
) -> list[dict[str, Any]]:
    """The context with one entry appended, trimmed to the newest `CONTEXT_LIMIT` entries."""
    entry = {"intent": intent, "parameters": parameters, "at": iso_ms(at)}
    return [*context[-(CONTEXT_LIMIT - 1) :], entry]
