"""Invalidation numbering and messages: bounded memory that errs on the safe side; one message per
batch of keys, read back by every worker."""

from __future__ import annotations

from ixp.storage.invalidations import KEYS_PER_MESSAGE, InvalidationLog, clear_all, messages, parse


def test_a_key_invalidated_after_the_mark_is_reported() -> None:
    log = InvalidationLog()
    log.note("a")
    mark = log.seq
    assert not log.since("a", mark) and not log.since("b", mark)
    log.note("b")
    assert log.since("b", mark) and not log.since("a", mark)
    log.note(None)  # everything invalidated: every key counts as invalidated after the mark
    assert log.since("a", mark) and log.since("never-seen", mark)


def test_past_its_capacity_the_log_forgets_and_answers_yes() -> None:
    log = InvalidationLog(capacity=3)
    mark = log.seq
    for key in ("a", "b", "c", "d"):  # the fourth key overflows: the first three are forgotten
        log.note(key)
    assert log.since("a", mark) and log.since("d", mark)
    later = log.seq
    assert not log.since("a", later)


def test_messages_carry_one_key_a_batch_or_all() -> None:
    assert [parse(m) for m in messages("w1", ["session:1"])] == [("w1", ["session:1"])]
    keys = [f"session:{i}" for i in range(KEYS_PER_MESSAGE + 5)]
    batch = [parse(m) for m in messages("w1", keys)]
    assert batch == [("w1", keys[:KEYS_PER_MESSAGE]), ("w1", keys[KEYS_PER_MESSAGE:])]
    assert parse(clear_all("w2")) == ("w2", None)
    assert parse(b"not json") is None and parse(b'["w", 3]') is None
