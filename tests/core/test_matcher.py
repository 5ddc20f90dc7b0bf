"""ixp._core.IntentMatcher: priorities, ties, captures, errors, normalization, threads."""

from __future__ import annotations

import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ixp import IntentMatcher, normalize_message

WEATHER = [
    ("weather", r"\bweather\b(?: in (?P<city>\w+))?(?: on (?P<day>\w+))?", 5),
    ("greet", r"^(?:hi|hello|hey)\b", 1),
    ("order", r"order (?:number )?(?P<number>\d+)", 3),
]


def test_basic_match_and_captures() -> None:
    m = IntentMatcher(WEATHER)
    assert m.match("What is the weather in Paris?") == ("weather", {"city": "Paris"})
    assert m.match("weather in Paris on Monday") == ("weather", {"city": "Paris", "day": "Monday"})
    assert m.match("hello there") == ("greet", {})
    assert m.match("where is order 123") == ("order", {"number": "123"})
    assert m.match("nothing to see") is None


def test_non_participating_groups_are_omitted() -> None:
    m = IntentMatcher(WEATHER)
    result = m.match("the weather please")
    assert result == ("weather", {})


def test_highest_priority_wins_ties_go_to_earlier_entry() -> None:
    m = IntentMatcher(
        [
            ("low", "pizza", 1),
            ("first_high", "pizza", 7),
            ("second_high", "pizza", 7),
            ("negative", "pizza", -4),
        ]
    )
    assert m.match("I want pizza") == ("first_high", {})
    reordered = IntentMatcher([("second_high", "pizza", 7), ("first_high", "pizza", 7)])
    assert reordered.match("pizza") == ("second_high", {})


def test_higher_priority_beats_earlier_match_position() -> None:
    m = IntentMatcher([("early", "^book", 1), ("late", r"flight$", 2)])
    assert m.match("book a flight") == ("late", {})


def test_len_and_intents_keep_first_seen_order() -> None:
    m = IntentMatcher([("b", "x", 0), ("a", "y", 0), ("b", "z", 9), ("c", "w", 0)])
    assert len(m) == 4
    assert m.intents == ["b", "a", "c"]


def test_empty_matcher_matches_nothing() -> None:
    m = IntentMatcher([])
    assert len(m) == 0
    assert m.intents == []
    assert m.match("anything") is None
    assert m.match_many(["a", ""]) == [None, None]


def test_normalizes_before_matching() -> None:
    m = IntentMatcher([("exact", r"^hello world$", 0), ("city", r"in (?P<city>\w+ \w+)$", 0)])
    assert m.match("  \thello \u00a0\n world  ") == ("exact", {})
    assert m.match("fly me   in\u2003New    York\n") == ("city", {"city": "New York"})


def test_case_insensitive_by_default_and_unicode() -> None:
    m = IntentMatcher([("weather", r"weather in (?P<city>\w+)", 0), ("ete", "été", 0)])
    assert m.match("WEATHER IN KÖLN") == ("weather", {"city": "KÖLN"})
    assert m.match("un ÉTÉ chaud") == ("ete", {})
    assert m.match("weather in Zürich") == ("weather", {"city": "Zürich"})


def test_case_sensitive_option() -> None:
    m = IntentMatcher([("x", "Hello", 0)], case_insensitive=False)
    assert m.match("hello") is None
    assert m.match("Hello") == ("x", {})


def test_unicode_word_boundary_and_digits() -> None:
    m = IntentMatcher([("cat", r"\bcat\b", 2), ("num", r"^(?P<n>\d+)$", 1)])
    assert m.match("concatenate") is None
    assert m.match("écat") is None  # é is a word character: no boundary
    assert m.match("é cat") == ("cat", {})
    assert m.match("١٢٣") == ("num", {"n": "١٢٣"})


def test_bad_pattern_error_names_intent_pattern_and_error() -> None:
    with pytest.raises(ValueError) as info:
        IntentMatcher([("ok", "fine", 0), ("broken_intent", "weather in (?P<city>\\w+", 0)])
    message = str(info.value)
    assert "broken_intent" in message
    assert "weather in (?P<city>" in message
    assert "unclosed group" in message


def test_backreference_is_rejected() -> None:
    with pytest.raises(ValueError, match="backreferences are not supported"):
        IntentMatcher([("dup", r"(a)\1", 0)])


def test_single_pattern_over_size_limit_names_intent() -> None:
    with pytest.raises(ValueError) as info:
        IntentMatcher([("huge", r"\w{200}", 0)], size_limit=10_000)
    message = str(info.value)
    assert "huge" in message
    assert "size limit" in message


def test_whole_set_over_size_limit() -> None:
    entries = [(f"i{i}", f"word{i}[a-z]", 0) for i in range(300)]
    with pytest.raises(ValueError, match="300 patterns together"):
        IntentMatcher(entries, size_limit=5_000)
    assert len(IntentMatcher(entries)) == 300


def test_entries_type_errors() -> None:
    with pytest.raises((TypeError, ValueError), match="length 3"):
        IntentMatcher([("a", "b")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        IntentMatcher([("a", "b", "high")])  # type: ignore[list-item]


def test_thousand_patterns_with_unicode_classes_fit_default_limit() -> None:
    entries = [(f"intent_{i}", rf"\bword{i} (?:in|at) (?P<city>\w+)\b", i % 3) for i in range(1000)]
    m = IntentMatcher(entries)
    assert m.match("please WORD999 at Köln now") == ("intent_999", {"city": "Köln"})
    assert m.match("word1000 in Paris") is None


def test_match_many_equals_match() -> None:
    m = IntentMatcher(WEATHER)
    texts = ["weather in Rome", "hey", "order 7", "", "nope", "  Weather   on Friday "]
    assert m.match_many(texts) == [m.match(t) for t in texts]
    assert m.match_many(tuple(texts)) == [m.match(t) for t in texts]
    assert m.match_many([]) == []
    with pytest.raises(TypeError):
        m.match_many("not a list of str")


_WORDS = ["a", "b", "ab", r"\bb", r"c\w", "^a", "b$", r"(?P<x>\w)c"]


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.tuples(st.sampled_from(_WORDS), st.integers(-2, 2)), min_size=1, max_size=10),
    text=st.text(st.sampled_from(list("abcé \t")), max_size=12),
)
def test_winner_against_python_model(entries: list[tuple[str, int]], text: str) -> None:
    named = [(f"i{n}", pattern, priority) for n, (pattern, priority) in enumerate(entries)]
    m = IntentMatcher(named)
    norm = normalize_message(text)
    best: tuple[int, int] | None = None
    for n, (_, pattern, priority) in enumerate(named):
        if re.search(pattern, norm, re.IGNORECASE) and (best is None or priority > best[1]):
            best = (n, priority)
    result = m.match(text)
    if best is None:
        assert result is None
    else:
        assert result is not None
        assert result[0] == named[best[0]][0]


def test_threads_share_one_matcher() -> None:
    m = IntentMatcher([(f"i{i}", rf"\bkey{i}\b (?P<v>\w+)", 0) for i in range(200)])
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(300):
                k = (seed * 31 + i) % 200
                assert m.match(f"x key{k} val{i}") == (f"i{k}", {"v": f"val{i}"})
                batch = [f"key{(k + j) % 200} z" for j in range(5)]
                assert m.match_many(batch) == [m.match(t) for t in batch]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
