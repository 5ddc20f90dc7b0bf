"""bench/instructions_bench.py's pure parts and its HTTP client, against a real Granian (no valgrind)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.http_bench import Endpoint
from bench.instructions_bench import Client, measured_instructions, raw_request

from tests._servers import free_port, granian_command, running
from tests._support import render_body

ROOT = Path(__file__).resolve().parents[2]

RENDER = Endpoint(
    "render", "POST", "/ixp/render", json.dumps(render_body("show_products", {"category": "books"})).encode()
)
LISTING = Endpoint("intents", "GET", "/ixp/intents")


def test_raw_requests_declare_their_body() -> None:
    head, _, body = raw_request(RENDER).partition(b"\r\n\r\n")
    assert head.startswith(b"POST /ixp/render HTTP/1.1\r\n")
    assert f"Content-Length: {len(RENDER.body)}".encode() in head
    assert body == RENDER.body
    assert raw_request(LISTING) == b"GET /ixp/intents HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_only_the_measured_dumps_are_summed(tmp_path: Path) -> None:
    (tmp_path / "cg.100").write_text("# callgrind format\ncmd: python\nevents: Ir\nsummary: 999\n")
    (tmp_path / "cg.101.1").write_text(
        "# callgrind format\ntrigger: dump measured\nevents: Ir\nsummary: 70\n"
    )
    (tmp_path / "cg.102.1").write_text(
        "# callgrind format\ntrigger: dump measured\nevents: Ir\nsummary: 30\n"
    )
    assert measured_instructions(tmp_path) == 100


def test_client_keeps_one_connection_for_many_exchanges() -> None:
    port = free_port()
    with running(granian_command(port), port):
        client = Client(port)
        try:
            statuses = [client.exchange(raw_request(e)) for e in (LISTING, RENDER, RENDER, LISTING)]
            assert statuses == [200, 200, 200, 200]
            bad = Endpoint("bad", "POST", "/ixp/render", b"{not json")
            assert client.exchange(raw_request(bad)) == 400
            assert client.pending == b""  # every response read exactly to its end
        finally:
            client.close()
