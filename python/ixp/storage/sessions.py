"""How a batch of session writes changes the sessions: the logic both backends share.

A backend reads, inside its write transaction, which users exist and their current sessions; a
`SessionPlan` applies the writes to them in memory, in arrival order, exactly as one
`record_intent` after another would; the backend then writes the plan's `updates` and `inserts`
(one statement each, whatever the batch size) and turns the new sessions' ids into the per-write
results with `results`.

`SessionMemo` keeps the current sessions a store last wrote, decoded, with the version of the row
each came from: a batch then reads no stored context (5 KB of JSON at 50 entries) for the users whose
row has not changed since, and writes only. Each backend says what proves that a row has not changed
(SQLite: no other connection committed; PostgreSQL: the row version's `xmin`). With each session it
keeps its entries' JSON, so that a write encodes only the entries it appends: re-encoding the whole
context on every write was the largest holder of the GIL under load.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import msgspec

from ixp.storage.base import CONTEXT_LIMIT, Session, SessionWrite, UnknownUser, append_context, utc_now

# Sessions a memo keeps: a bound on the memory (about 30 KB each at 50 entries), not on correctness.
MEMO_SESSIONS = 1024

_encode = msgspec.json.Encoder().encode

RecordIntents = Callable[[Sequence[SessionWrite], int], Awaitable[list[Session | UnknownUser]]]


async def record_one(
    record_intents: RecordIntents, user_id: int, intent: str, parameters: dict[str, Any], idle_seconds: int
) -> Session:
    """`Store.record_intent` as a batch of one write: the session after it, or `UnknownUser`."""
    (result,) = await record_intents([SessionWrite(user_id, [(intent, parameters)], utc_now())], idle_seconds)
    if isinstance(result, UnknownUser):
        raise result
    return result


class Held(NamedTuple):
    """A session the memo holds, the version of its row, and its context entries' JSON (None:
    not known yet)."""

    session: Session
    version: Any
    json: list[bytes] | None


class SessionMemo:
    """user id -> `Held`: their current session as the store last read or wrote it, least recently
    written first; at most `capacity` users."""

    def __init__(self, capacity: int = MEMO_SESSIONS) -> None:
        self.capacity = capacity
        self._entries: dict[int, Held] = {}
        self.hits = 0  # sessions a batch or a read took from the memo
        self.misses = 0  # sessions it had to read (and decode)
        self.swaps = 0  # batches committed by one compare-and-swap statement (PostgreSQL)
        self.failed_swaps = 0  # swaps that found a row changed (then the full path wrote)

    def get(self, user_id: int) -> Held | None:
        return self._entries.get(user_id)

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, session: Session, version: Any = None, json: list[bytes] | None = None) -> None:
        entries = self._entries
        entries.pop(session.user_id, None)  # re-inserted last: the oldest entries go first
        entries[session.user_id] = Held(session, version, json)
        while len(entries) > self.capacity:
            del entries[next(iter(entries))]

    def forget(self, user_id: int) -> None:
        self._entries.pop(user_id, None)

    def clear(self) -> None:
        self._entries.clear()

    def stats(self) -> dict[str, int]:
        return {
            "size": len(self._entries),
            "hits": self.hits,
            "misses": self.misses,
            "swaps": self.swaps,
            "failedSwaps": self.failed_swaps,
        }


class Draft:
    """A session as the batch leaves it: an existing one (`id` set) or a new one (`id` None until
    it is inserted)."""

    __slots__ = ("context", "created_at", "dirty", "id", "json", "last_seen_at", "user_id")

    def __init__(
        self,
        id: int | None,
        user_id: int,
        created_at: datetime,
        last_seen_at: datetime,
        context: list[dict[str, Any]],
        json: list[bytes] | None = None,
    ) -> None:
        self.id = id
        self.user_id = user_id
        self.created_at = created_at
        self.last_seen_at = last_seen_at
        self.context = context
        self.json = json if json is not None else [_encode(entry) for entry in context]
        self.dirty = False

    def context_json(self) -> str:
        """The context as the JSON text `msgspec` would encode it, from the entries' JSON."""
        return (b"[" + b",".join(self.json) + b"]").decode()


class SessionPlan:
    """`writes` applied to `current` (the existing users' current sessions; `known` the ids of the
    users that exist), a session idle for more than `idle` being replaced by a new one. `json`: the
    context entries' JSON of (some of) the current sessions, when known (else encoded here)."""

    def __init__(
        self,
        writes: Sequence[SessionWrite],
        known: Collection[int],
        current: Mapping[int, Session],
        idle: timedelta,
        json: Mapping[int, list[bytes] | None] | None = None,
    ) -> None:
        drafts: dict[int, Draft] = {}
        self.last = drafts  # user id -> the draft the batch leaves their session in
        self.updates: list[Draft] = []  # existing sessions the batch changed (final state)
        self.inserts: list[Draft] = []  # new sessions, in creation order
        # Per write: the draft it ended in and that draft's state right after it (context lists
        # are never mutated: append_context returns a new one), or the write's error.
        self._after: list[tuple[Draft, datetime, list[dict[str, Any]]] | UnknownUser] = []
        for write in writes:
            user_id = write.user_id
            if not write.intents:
                raise ValueError(f"a session write for user {user_id} has no intents")
            if user_id not in known:
                self._after.append(UnknownUser(user_id))
                continue
            draft = drafts.get(user_id)
            if draft is None:
                session = current.get(user_id)
                if session is not None:
                    draft = Draft(
                        session.id,
                        user_id,
                        session.created_at,
                        session.last_seen_at,
                        session.context,
                        None if json is None else json.get(user_id),
                    )
            at = write.at
            for intent, parameters in write.intents:
                if draft is None or at - draft.last_seen_at > idle:
                    draft = Draft(None, user_id, at, at, [])
                    self.inserts.append(draft)
                elif not draft.dirty and draft.id is not None:
                    self.updates.append(draft)
                draft.context = context = append_context(draft.context, intent, parameters, at)
                draft.json = [*draft.json[-(CONTEXT_LIMIT - 1) :], _encode(context[-1])]
                draft.last_seen_at = at
                draft.dirty = True
            assert draft is not None  # the write has intents
            drafts[user_id] = draft
            self._after.append((draft, draft.last_seen_at, draft.context))

    def results(self, inserted_ids: Sequence[int]) -> list[Session | UnknownUser]:
        """Per write, the session right after it; `inserted_ids` are the ids the database gave to
        `inserts`, in the same order."""
        if len(inserted_ids) != len(self.inserts):
            raise ValueError(f"expected {len(self.inserts)} new session ids, got {len(inserted_ids)}")
        for draft, session_id in zip(self.inserts, inserted_ids, strict=True):
            draft.id = session_id
        out: list[Session | UnknownUser] = []
        for after in self._after:
            if isinstance(after, UnknownUser):
                out.append(after)
                continue
            draft, seen, context = after
            assert draft.id is not None
            out.append(Session(draft.id, draft.user_id, draft.created_at, seen, context))
        return out
