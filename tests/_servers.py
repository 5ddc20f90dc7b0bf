"""Real server processes on free loopback ports, for tests (and benchmarks) that need one."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(
    command: Sequence[str],
    port: int,
    env: dict[str, str] | None = None,
    ready_path: str = "/ixp/health",
    scheme: str = "http",
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command`, wait (bounded) until it answers on 127.0.0.1:port, stop it afterwards."""
    process = subprocess.Popen(
        list(command),
        # Stopped by SIGTERM below: no drain period unless a test asks for one.
        env={"IXP_DRAIN_SECONDS": "0", **os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise RuntimeError(f"server exited with {process.returncode} before answering:\n{output}")
            try:
                httpx.get(f"{scheme}://127.0.0.1:{port}{ready_path}", timeout=0.5, verify=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not answer on port {port} within 30 s") from None
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def granian_command(
    port: int, interface: str = "rsgi", target: str = "ixp.app", workers: int = 1
) -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", interface, "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-ws", target,
    ]  # fmt: skip
