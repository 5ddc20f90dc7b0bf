"""`ixp serve`: flags and settings reach Granian — keep-alive, header timeout, header size."""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ixp.base.settings import Settings
from ixp.cli import build_parser, granian_options
from tests._servers import free_port, running

pytestmark = pytest.mark.granian

REQUEST = b"GET /ixp/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_settings_become_granian_options() -> None:
    options = granian_options(
        Settings(keep_alive=False, header_read_timeout=2.5, max_header_bytes=16384, http="2", workers=3)
    )
    assert options["workers"] == 3
    assert options["http1_settings"].keep_alive is False
    assert options["http1_settings"].header_read_timeout == 2500
    assert options["http1_settings"].max_buffer_size == 16384
    assert options["http2_settings"].max_headers_size == 16384
    assert str(options["http"].value) == "2"
    assert "ssl_cert" not in options


def test_flags_parse() -> None:
    args = build_parser().parse_args(
        ["serve", "--port", "9", "--workers", "2", "--reload", "--interface", "asgi"]
    )
    assert (args.port, args.workers, args.reload, args.interface) == (9, 2, True, "asgi")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    database = str(tmp_path_factory.mktemp("serve") / "ixp.db")
    env = {"IXP_HEADER_READ_TIMEOUT": "1", "IXP_MAX_HEADER_BYTES": "8192", "IXP_SQLITE_PATH": database}
    with running([sys.executable, "-m", "ixp.cli", "serve", "--port", str(port)], port, env=env):
        yield port


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head


def test_keep_alive_serves_several_requests_on_one_connection(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(REQUEST)
            assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_slow_headers_are_cut_off(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(b"GET /ixp/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes the headers
        started = time.monotonic()
        data = sock.recv(4096)  # the server closes (or answers 408) after the header timeout
        assert time.monotonic() - started < 8
        assert data == b"" or data.startswith(b"HTTP/1.1 408")


def test_oversized_headers_are_refused(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(b"GET /ixp/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        data = b""
        with contextlib.suppress(ConnectionResetError):
            data = sock.recv(4096)
        assert not data.startswith(b"HTTP/1.1 200")


def test_keep_alive_can_be_turned_off(tmp_path: Path) -> None:
    port = free_port()
    env = {"IXP_KEEP_ALIVE": "false", "IXP_SQLITE_PATH": str(tmp_path / "ixp.db")}
    command = [sys.executable, "-m", "ixp.cli", "serve", "--port", str(port)]
    with running(command, port, env=env), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(REQUEST)
        head = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"connection: close" in head.lower()
        assert sock.recv(1) == b""  # closed after one response
