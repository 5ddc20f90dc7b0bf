"""The app under a real Granian process, over RSGI (the default) and ASGI, on a loopback port."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._servers import free_port, granian_command, running
from tests._support import api_key, render_body

pytestmark = pytest.mark.granian


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    with running(granian_command(port, request.param), port):
        yield f"http://127.0.0.1:{port}"


def test_bundled_registry_is_served_with_no_configuration(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        intents = client.get("/ixp/intents")
        assert intents.status_code == 200
        assert len(intents.json()["intents"]) == 8
        assert intents.headers["x-content-type-options"] == "nosniff"
        assert (
            client.get("/ixp/intents", headers={"if-none-match": intents.headers["etag"]}).status_code == 304
        )
        assert client.get("/ixp/health").json()["status"] == "healthy"
        rendered = client.post("/ixp/render", json=render_body("weather_forecast", {"city": "Lisbon"}))
        assert rendered.status_code == 200
        assert rendered.json()["record"]["props"] == {"city": "Lisbon", "days": 3, "units": "metric"}
        head = client.head("/ixp/components")
        assert head.status_code == 200 and head.content == b""


def test_errors_are_json_envelopes(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        cases = [
            (client.post("/ixp/render", content=b"{", headers={"content-type": "application/json"}), 400),
            (client.post("/ixp/render", content=b"", headers={"content-type": "application/json"}), 400),
            (
                client.post("/ixp/render", content=b"\xff\xfe", headers={"content-type": "application/json"}),
                400,
            ),
            (client.post("/ixp/render", content=b"x", headers={"content-type": "text/plain"}), 415),
            (client.get("/nowhere"), 404),
            (client.delete("/ixp/intents"), 405),
            (client.get("/ixp/crawler_content?limit=0"), 400),
        ]
        for response, status in cases:
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == "application/json; charset=utf-8"
            assert "error" in response.json()


def test_oversized_body_is_413_without_reading_it(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        big = b'{"intent": {"name": "show_faq", "parameters": {"query": "' + b"x" * 2_000_000 + b'"}}}'
        response = client.post("/ixp/render", content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_chunked_oversized_body_is_413(base_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    with httpx.Client(base_url=base_url, timeout=10) as client:
        response = client.post("/ixp/render", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413


def test_raw_garbage_on_the_socket_does_not_kill_the_server(base_url: str) -> None:
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"\x00\x01\x02 NOT HTTP\r\n\r\n")
        sock.settimeout(5)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            sock.recv(1024)
    assert httpx.get(f"{base_url}/ixp/health", timeout=10).status_code == 200


def test_metrics_count_real_requests(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        before = client.get("/ixp/metrics").json()["requests"]["total"]
        for _ in range(5):
            client.get("/ixp/theme")
        after = client.get("/ixp/metrics").json()
        assert after["requests"]["total"] == before + 6  # 5 theme + the previous metrics call
        assert "ixp_request_duration_seconds_bucket" in client.get("/ixp/metrics?format=prometheus").text


def test_invalid_configuration_stops_granian_with_a_nonzero_exit(tmp_path: Path) -> None:
    bad = tmp_path / "intents.json"
    bad.write_text('{"intents": [{"name": "x"}]}')
    port = free_port()
    result = subprocess.run(
        granian_command(port),
        env={**__import__("os").environ, "IXP_INTENTS": str(bad)},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    output = (result.stdout + result.stderr).decode()
    assert "field 'description' must be a non-empty string" in output
    assert str(bad) in output


def test_ixp_serve_validates_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "components.json"
    bad.write_text('{"components": {"X": {"framework": "svelte"}}}')
    result = subprocess.run(
        [sys.executable, "-m", "ixp.cli", "serve", "--components", str(bad), "--port", str(free_port())],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "components['X']: field 'framework' must be one of react, vue, vanilla" in result.stderr.decode()


def test_ixp_serve_starts_granian_with_flags(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "ixp.cli", "serve", "--port", str(port), "--interface", "asgi"]
    with running(command, port):
        assert httpx.get(f"http://127.0.0.1:{port}/ixp/intents", timeout=10).status_code == 200


def test_plaintext_http2_with_prior_knowledge(base_url: str) -> None:
    with httpx.Client(base_url=base_url, http1=False, http2=True, timeout=10) as client:
        response = client.post("/ixp/render", json=render_body("show_faq", {}))
        assert response.status_code == 200
        assert response.http_version == "HTTP/2"


def test_ixp_serve_with_tls_speaks_http2_and_http11(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    port = free_port()
    command = [sys.executable, "-m", "ixp.cli", "serve", "--port", str(port)]
    command += ["--tls-cert", str(cert), "--tls-key", str(key)]
    trust = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{port}"
    with running(command, port, ready_path="/", scheme="https"):
        with httpx.Client(base_url=url, http2=True, verify=trust, timeout=10) as client:
            response = client.get("/ixp/intents", headers={"accept-encoding": "gzip"})
            assert response.status_code == 200
            assert response.http_version == "HTTP/2"
            assert response.headers["content-encoding"] == "gzip"
            assert len(response.json()["intents"]) == 8
        with httpx.Client(base_url=url, http2=False, verify=trust, timeout=10) as client:
            assert client.get("/ixp/health").http_version == "HTTP/1.1"


@pytest.mark.parametrize("interface", ["rsgi", "asgi"])
def test_graceful_stop_writes_every_queued_intent_log(tmp_path: Path, interface: str) -> None:
    import sqlite3

    database = tmp_path / "ixp.db"
    port = free_port()
    sent = 40
    key, line = api_key()
    env = {
        "IXP_SQLITE_PATH": str(database),
        "IXP_LOG_FLUSH_INTERVAL": "3600",
        "IXP_LOG_BATCH_SIZE": "1000",
        "IXP_API_KEYS": line,
    }
    with running(granian_command(port, interface), port, env=env) as process:
        auth = {"authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=auth) as client:
            user = client.post("/api/users", json={"email": "stop@example.com", "name": "Stop"}).json()
            for i in range(sent):
                message = {"message": f"top {i % 9 + 1} books", "userId": user["id"]}
                assert client.post("/api/intents/process", json=message).status_code == 200
            pending = client.get("/ixp/metrics").json()["storage"]["intentLogs"]["pending"]
        process.terminate()  # SIGTERM: Granian's graceful stop
        process.wait(timeout=30)
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM intent_logs").fetchone()
    assert pending == sent  # still queued when the stop began: only the shutdown flush wrote them
    assert count == sent


@pytest.mark.parametrize("interface", ["rsgi", "asgi"])
def test_websocket_upgrade_is_refused_with_403_and_the_server_lives_on(interface: str) -> None:
    """No websocket endpoints: the upgrade gets a 403 (before and after HTTP requests). A close
    code (1008) given to RSGI's close() before accept made Granian panic and stop the server."""
    port = free_port()
    command = [arg for arg in granian_command(port, interface) if arg != "--no-ws"]
    upgrade = (
        b"GET /ixp/intents HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with running(command, port):
        for _ in range(2):  # the first and a later upgrade, after an HTTP request
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(upgrade)
                assert sock.recv(4096).startswith(b"HTTP/1.1 403 ")
            assert httpx.get(f"http://127.0.0.1:{port}/ixp/intents", timeout=10).status_code == 200
