"""What every load run needs around the load: its own ixp on a free loopback port, the API key
its clients send, the payload's users, a warm match cache, the server's own figures, and the
report and results files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import payload
from bench.load_model import AGGREGATED, ROUTES, Measurement, Verdict

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 10.0

# -- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backend() -> str:
    database = "postgresql" if os.environ.get("IXP_DATABASE_URL") else "sqlite"
    return database + (" + redis" if os.environ.get("IXP_REDIS_URL") else "")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # it answered (e.g. 503 degraded while the store connects)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it does not exit in time."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def ensure_api_key() -> str:
    """The API key the load's clients send (`IXP_LOAD_API_KEY`, made here when unset, and passed on
    to locust, oha and the payload builder through the environment) and its `IXP_API_KEYS` line."""
    key = os.environ.get("IXP_LOAD_API_KEY")
    if not key:
        key = os.environ["IXP_LOAD_API_KEY"] = secrets.token_urlsafe(32)
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"load {digest} users:read,users:write,sessions:write,metrics:read"


@contextlib.contextmanager
def ixp_server(workdir: Path) -> Iterator[str]:
    """ixp on Granian (RSGI, 1 worker) on a free loopback port; yields its base URL, stops it after."""
    port = free_port()
    command = [
        sys.executable, "-m", "granian", "--interface", "rsgi", "--workers", "1", "--host", "127.0.0.1",
        "--port", str(port), "--no-ws", "ixp.app",
    ]  # fmt: skip
    env = {
        **os.environ,
        "IXP_SQLITE_PATH": str(workdir / "ixp.db"),
        "IXP_LOG_LEVEL": "warning",
        "IXP_DRAIN_SECONDS": "0",  # stopped by SIGTERM between runs: no drain period
        "IXP_API_KEYS": ensure_api_key(),
    }
    url = f"http://127.0.0.1:{port}"
    with (workdir / "server.log").open("ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not _answers(url + "/ixp/health"):
                if process.poll() is not None:
                    raise RuntimeError(f"ixp exited with {process.returncode}; see {workdir / 'server.log'}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ixp did not answer on port {port} in {SERVER_START_TIMEOUT_S:.0f} s")
                time.sleep(0.1)
            yield url
        finally:
            _stop(process)


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        decoded = json.loads(response.read())
    return decoded if isinstance(decoded, dict) else {}


def server_figures(metrics: dict[str, Any]) -> dict[str, Measurement]:
    """ixp's own /ixp/metrics figures (its histograms) for the load's routes and all routes."""
    sources = {route: metrics.get("routes", {}).get(route) for route in ROUTES}
    sources[AGGREGATED] = metrics.get("overall")
    figures = {}
    for name, stats in sources.items():
        if stats:
            figures[name] = Measurement(
                int(stats["count"]), int(stats["errors"]), float(stats["throughput"]),
                float(stats["p50"]), float(stats["p95"]), float(stats["p99"]),
            )  # fmt: skip
    return figures


def warm_up(url: str, rows: Sequence[tuple[int, str]]) -> None:
    """Fill the match cache through the batch route, so the measured routes' histograms stay clean."""
    post = payload.http_post_json(url)
    messages = list(dict.fromkeys(message for _, message in rows))
    for start in range(0, len(messages), 500):
        post("/api/intents/process/batch", {"messages": messages[start : start + 500]})


def seed_payload(url: str, workdir: Path, users: int, rows: int) -> Path:
    """Create the payload's users through the API and write the CSV; returns its path."""
    path = workdir / "payload.csv"
    built = payload.generate(payload.http_post_json(url), path, users, rows)
    misses = sum(not row.expect_match for row in built)
    print(f"payload: {len(built)} rows for {users} users created through POST /api/users, {misses} misses")
    return path


def emit(lines: Sequence[str], report: Path) -> None:
    text = "\n".join(lines) + "\n"
    print(text, end="")
    with report.open("a", encoding="utf-8") as handle:
        handle.write(text)


def results_dir(base: Path | None) -> Path:
    out = base or RESULTS / f"load-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_summary(path: Path, mode: str, **sections: Any) -> None:
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, Verdict):
            return {"target": value.target.key, "value": value.value, "status": value.status}
        return asdict(value) if hasattr(value, "__dataclass_fields__") else value

    path.write_text(json.dumps({"mode": mode, "backend": backend(), **plain(sections)}, indent=2))
