"""ixp._core.normalize_message: trim + collapse Unicode whitespace, no case change."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ixp import normalize_message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("hello", "hello"),
        ("  Hello   World \t", "Hello World"),
        ("a\r\nb", "a b"),
        ("a\u00a0\u2003b", "a b"),
        ("\u3000x\u2028y\u0085", "x y"),
        ("MiXeD  CaSe", "MiXeD CaSe"),
        ("café  au\tlait", "café au lait"),
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert normalize_message(text) == expected


def test_type_error_on_non_str() -> None:
    with pytest.raises(TypeError):
        normalize_message(b"bytes")  # type: ignore[arg-type]


# Characters Rust and Python agree are whitespace (Python's str.split() also splits on
# \x1c-\x1f, which are not Unicode White_Space, so they are kept out of the alphabet).
_ALPHABET = st.sampled_from(list(" \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u200a\u2028\u2029\u3000abcXYZé€"))


@given(st.text(_ALPHABET, max_size=40))
def test_matches_split_join(text: str) -> None:
    assert normalize_message(text) == " ".join(text.split())


@given(st.text(max_size=60))
def test_idempotent(text: str) -> None:
    once = normalize_message(text)
    assert normalize_message(once) == once
    assert not once.startswith(" ") and not once.endswith(" ")
    assert "  " not in once
