"""`SessionPlan` and `Draft`: the JSON a batch writes is what msgspec would encode for the context,
though only the appended entries are encoded (the others' JSON comes from the memo)."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from ixp.storage.base import CONTEXT_LIMIT, Session, SessionWrite, utc_now
from ixp.storage.sessions import SessionPlan


def _session(user_id: int, entries: int) -> Session:
    now = utc_now()
    context = [
        {
            "intent": f"old{i}",
            "parameters": {"n": i, "city": "Zürich", "tags": ["a", "b"]},
            "at": "2026-12-04T10:00:00.000Z",
        }
        for i in range(entries)
    ]
    return Session(id=user_id * 100, user_id=user_id, created_at=now, last_seen_at=now, context=context)


def test_the_written_json_is_the_contexts_encoding() -> None:
    current = {1: _session(1, CONTEXT_LIMIT), 2: _session(2, 3)}
    given = {1: [msgspec.json.encode(e) for e in current[1].context]}  # user 2: encoded by the plan
    at = utc_now()
    writes = [
        SessionWrite(
            user, [(f"new{i}", {"i": i, "x": 1.5, "s": "é\n\u2028"})], at + timedelta(milliseconds=i)
        )
        for i in range(7)
        for user in (1, 2, 3)
    ]
    plan = SessionPlan(writes, {1, 2, 3}, current, timedelta(minutes=30), given)
    drafts = [*plan.updates, *plan.inserts]
    assert len(drafts) == 3
    for draft in drafts:
        assert draft.context_json() == msgspec.json.encode(draft.context).decode()
        assert len(draft.json) == len(draft.context) <= CONTEXT_LIMIT
    assert plan.last[1].context[-1]["intent"] == "new6"
    assert [e["intent"] for e in plan.last[2].context] == [
        "old0",
        "old1",
        "old2",
        *(f"new{i}" for i in range(7)),
    ]


def test_an_idle_gap_starts_a_new_session_with_only_its_entries() -> None:
    current = {1: _session(1, 5)}
    later = current[1].last_seen_at + timedelta(hours=2)
    plan = SessionPlan([SessionWrite(1, [("fresh", {})], later)], {1}, current, timedelta(minutes=30))
    (draft,) = plan.inserts
    assert draft.context_json() == msgspec.json.encode(draft.context).decode()
    assert [e["intent"] for e in draft.context] == ["fresh"]
