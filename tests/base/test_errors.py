"""The error model: each code carries its status; every code is listed in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ixp.base.errors import ErrorCode, IXPError
from ixp.storage.base import DuplicateEmail, StorageUnavailable, UnknownUser

README = Path(__file__).resolve().parents[2] / "README.md"


def test_codes_are_their_own_wire_names_with_a_client_or_server_status() -> None:
    for code in ErrorCode:
        assert code.value == code.name
        assert 400 <= code.status <= 599
    assert ErrorCode.INVALID_REQUEST.status == 400
    assert ErrorCode("USER_NOT_FOUND") is ErrorCode.USER_NOT_FOUND
    assert ErrorCode.STORAGE_UNAVAILABLE.status == 503


def test_an_error_takes_its_status_from_its_code() -> None:
    error = IXPError(ErrorCode.PAYLOAD_TOO_LARGE, "too big", {"limit": 1}, [("x-a", "b")])
    assert (error.status, error.message, error.details, error.headers) == (
        413,
        "too big",
        {"limit": 1},
        [("x-a", "b")],
    )


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (UnknownUser(7), ErrorCode.USER_NOT_FOUND, "User 7 not found"),
        (DuplicateEmail("a@b.co"), ErrorCode.CONFLICT, "A user with email 'a@b.co' already exists"),
        (StorageUnavailable("db down"), ErrorCode.STORAGE_UNAVAILABLE, "Storage unavailable: db down"),
    ],
)
def test_storage_errors_are_domain_errors_with_their_codes(
    error: IXPError, code: ErrorCode, message: str
) -> None:
    assert (error.code, error.message) == (code, message)


def test_the_readme_lists_every_code_with_its_status() -> None:
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", README.read_text(), flags=re.M))
    assert rows == {code.value: str(code.status) for code in ErrorCode}
