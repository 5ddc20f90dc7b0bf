"""`ixp._core.Pattern`: JSON-Schema patterns in the subset Python's `re` and Rust's `regex` share."""

from __future__ import annotations

import re

import pytest

from ixp._core import Pattern


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(?=a)b", "look"),
        (r"(a)\1", "backreference"),
        ("(?i)abc", "flags"),
        ("(", "group"),
    ],
)
def test_patterns_outside_the_subset_are_refused_with_a_reason(pattern: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("^[a-z0-9 ]+$", "wireless headphones"),
        ("^[a-z0-9 ]+$", "Wireless"),
        (r"\d{3}-\d{4}", "call 555-1234 now"),
        ("colou?r", "COLOR"),
        ("^$", ""),
        (r"^\w+@\w+\.com$", "me@example.com"),
    ],
)
def test_decided_answers_are_re_search(pattern: str, text: str) -> None:
    compiled = Pattern(pattern)
    expected = re.search(pattern, text) is not None
    assert compiled.search(text) is expected
    assert compiled.is_match(text) is expected
    assert compiled.pattern == pattern


def test_strings_the_engines_read_differently_are_left_undecided() -> None:
    assert Pattern("^abc$").search("abc\n") is None  # Python's $ also matches before a final \n
    assert Pattern("^abc$").is_match("abc\n") is False
    assert Pattern(r"^\d+$").search("١٢٣") is None  # Unicode digit tables differ between versions
    assert Pattern(r"^\s$").search("\x1c") is None  # Python's \s includes \x1c-\x1f


def test_matching_is_linear_time() -> None:
    # Exponential for a backtracking engine; instant here (no timing assertion: it just returns).
    assert Pattern("^(a+)+$").is_match("a" * 10_000 + "!") is False
