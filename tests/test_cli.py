"""`ixp serve`: flags and settings reach Granian — keep-alive, header timeout, header size — and the
bundled-examples warning; `ixp validate`: every problem with its file, entry and field."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.base.settings import Settings
from ixp.cli import apply_flags, build_parser, granian_options, main
from tests._servers import free_port, running
from tests._support import EXAMPLES, example_components, example_intents

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


def test_plugin_flags_are_added_to_ixp_plugins() -> None:
    args = build_parser().parse_args(["serve", "--plugin", "plugin:Weather", "--plugin", "other:thing"])
    environ = {"IXP_PLUGINS": "first:one"}
    apply_flags(args, environ)
    assert environ["IXP_PLUGINS"] == "first:one,plugin:Weather,other:thing"
    environ = {}
    apply_flags(args, environ)
    assert environ["IXP_PLUGINS"] == "plugin:Weather,other:thing"
    apply_flags(build_parser().parse_args(["serve"]), environ)
    assert environ["IXP_PLUGINS"] == "plugin:Weather,other:thing"  # no --plugin: left alone


# `ixp validate`


def intent(name: str, component: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"intent {name}",
        "component": component,
        "version": "1.0.0",
        "parameters": {"type": "object", "properties": {}},
        **fields,
    }


def component(**fields: Any) -> dict[str, Any]:
    return {
        "framework": "react",
        "remoteUrl": "/ui/card.js",
        "exportName": "Card",
        "version": "1.0.0",
        "propsSchema": {"type": "object", "properties": {}},
        "allowedOrigins": ["*"],
        **fields,
    }


def write_files(tmp_path: Path, intents: Any, components: Any) -> tuple[str, str]:
    intents_path, components_path = tmp_path / "intents.json", tmp_path / "components.json"
    intents_path.write_text(json.dumps(intents))
    components_path.write_text(json.dumps(components))
    return str(intents_path), str(components_path)


def validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def listed(err: str) -> list[str]:
    return [line[4:] for line in err.splitlines() if line.startswith("  - ")]


def test_validate_accepts_good_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(
        capsys, "--intents", str(EXAMPLES / "intents.json"), "--components", str(EXAMPLES / "components.json")
    )
    intents, components = len(example_intents()["intents"]), len(example_components()["components"])
    assert (code, err) == (0, "")
    assert out.startswith(f"ok: {intents} intents, {components} components")
    assert out.count("\n") == 1


def test_validate_lists_every_problem_with_file_entry_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    intents, components = write_files(
        tmp_path,
        {"intents": [intent("first", "Card", description=""), intent("second", "Card", priority="high")]},
        {"components": {"Card": component(framework="svelte"), "Other": component(allowedOrigins="*")}},
    )
    theme = tmp_path / "theme.json"
    theme.write_text("[1, 2]")
    code, out, err = validate(capsys, "--intents", intents, "--components", components, "--theme", str(theme))
    assert (code, out) == (2, "")
    problems = listed(err)
    assert len(problems) == 5, err
    expected = [
        (intents, "intents[0] ('first')", "field 'description'"),
        (intents, "intents[1] ('second')", "field 'priority'"),
        (components, "components['Card']", "field 'framework'"),
        (components, "components['Other']", "field 'allowedOrigins'"),
        (str(theme), "", "expected a JSON object"),
    ]
    for path, entry, field in expected:
        found = any(p.startswith(path) and entry in p and field in p for p in problems)
        assert found, (path, entry, field, err)


def test_validate_reports_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "intents.json"
    broken.write_text("{not json")
    code, _, err = validate(capsys, "--intents", str(broken), "--components", str(tmp_path / "missing.json"))
    assert code == 2
    assert any(str(broken) in p and "invalid JSON" in p for p in listed(err)), err

    _, components = write_files(tmp_path, {"intents": []}, {"components": {}})
    code, _, err = validate(capsys, "--intents", str(tmp_path / "nope.json"), "--components", components)
    assert code == 2
    assert listed(err) == [f"{tmp_path / 'nope.json'}: intents file not found"]


def test_validate_strict_fails_on_an_unregistered_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    intents, components = write_files(
        tmp_path,
        {"intents": [intent("fine", "Card"), intent("orphan", "Missing")]},
        {"components": {"Card": component()}},
    )
    code, out, err = validate(capsys, "--intents", intents, "--components", components)
    assert code == 0
    assert out.startswith("ok: 2 intents, 1 component, 1 warning")
    [warning] = listed(err)
    assert warning.startswith(f"{intents}: intents[1] ('orphan'): field 'component' names 'Missing'")

    code, out, err = validate(capsys, "--intents", intents, "--components", components, "--strict")
    assert (code, out) == (2, "")
    assert listed(err) == [warning]  # reported once, not again as the registry's log warning


def test_validate_strict_fails_on_schema_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parameters = {"type": "object", "properties": {"when": {"type": "date"}}}
    intents, components = write_files(
        tmp_path,
        {"intents": [intent("dated", "Card", parameters=parameters)]},
        {"components": {"Card": component()}},
    )
    code, _, err = validate(capsys, "--intents", intents, "--components", components)
    assert code == 0
    code, out, err = validate(capsys, "--intents", intents, "--components", components, "--strict")
    assert (code, out) == (2, "")
    [problem] = listed(err)
    assert problem.startswith(f"{intents}: intents[0] ('dated'): parameters.properties.when: type 'date'")


@pytest.mark.parametrize(
    "argv", [["validate"], ["validate", "--intents", "i.json"], ["validate", "--components", "c.json"]]
)
def test_validate_requires_both_files(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "required" in capsys.readouterr().err


# `ixp serve` without registry files


def serve_stderr(tmp_path: Path, *flags: str) -> str:
    """Start `ixp serve` on a free port, wait until it answers, stop it; its stderr."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("IXP_INTENTS", "IXP_COMPONENTS")}
    env["IXP_SQLITE_PATH"] = str(tmp_path / "ixp.db")
    command = [sys.executable, "-m", "ixp.cli", "serve", "--port", str(port), *flags]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    answered = False
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ixp/health", timeout=0.5).status_code == 200:
                    answered = True
                    break
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate(timeout=5)
    stderr = err.decode(errors="replace")
    assert answered, f"ixp serve did not answer within 30 s (exit code {process.returncode}):\n{stderr}"
    return stderr


def test_serve_warns_when_it_serves_the_bundled_examples(tmp_path: Path) -> None:
    err = serve_stderr(tmp_path)
    assert "serving the bundled EXAMPLE intents and components" in err
    assert "--intents FILE --components FILE" in err
    assert "ixp init DIR" in err


def test_serve_does_not_warn_with_registry_files(tmp_path: Path) -> None:
    files = ["--intents", str(EXAMPLES / "intents.json"), "--components", str(EXAMPLES / "components.json")]
    err = serve_stderr(tmp_path, *files)
    assert "EXAMPLE" not in err
