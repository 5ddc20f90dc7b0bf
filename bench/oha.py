"""oha, the open-loop generator of `python -m bench.load --strategy`: install, command, results.

oha (a Rust HTTP load generator, crates.io) sends requests at a fixed rate (`-q`) whatever the
earlier answers did — a ticker task stamps each request's intended start and hands it to `-c`
connections — and with `--latency-correction` times each request from that stamp, not from when a
connection was free to send it (no coordinated omission). One oha process drives one method and
URL (or one URL file), so the guide's mix runs as two processes side by side: 70 % of the rate
`POST /api/intents/process` (bodies picked at random from a file, `-Z`), 30 %
`GET /api/users/{id}/session` (URLs picked at random from a file, `--urls-from-file`).

Merging two runs is exact: oha's JSON (`--output-format json`) gives the status codes and the
errors without an answer (connection errors, timeouts) but only an 11-bin histogram, so each run
also writes every answered request to SQLite (`--db-url`: intended start, end, corrected duration,
status); the merged percentiles are nearest-rank percentiles over the union of those durations.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load_model import AGGREGATED, PROCESS_ROUTE, SESSION_ROUTE, Measurement, percentile

OHA_VERSION = "1.16.0"
TOOLS_ROOT = Path(__file__).resolve().parents[1] / ".tools"  # git-ignored
# TLS through the system's OpenSSL (libssl-dev) instead of the default rustls: oha needs one TLS
# backend to compile, and rustls' aws-lc build (C, cmake) would double the compile time; the load
# itself is plain HTTP on loopback.
INSTALL_COMMAND = (
    "cargo", "install", "oha", "--version", OHA_VERSION, "--locked", "--no-default-features",
    "--features", "native-tls", "--root", str(TOOLS_ROOT),
)  # fmt: skip
REQUEST_TIMEOUT = "10s"


# -- the binary ------------------------------------------------------------------------------------


def version_of(binary: str | Path) -> str | None:
    """`oha --version` ("oha 1.16.0") → "1.16.0"; None when it does not run."""
    try:
        result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    found = re.search(r"(\d+\.\d+\.\d+)", result.stdout)
    return found.group(1) if result.returncode == 0 and found else None


def find_oha() -> Path | None:
    """The pinned oha: in TOOLS_ROOT/bin, else on PATH; None when neither has OHA_VERSION."""
    on_path = shutil.which("oha")
    for candidate in (TOOLS_ROOT / "bin" / "oha", Path(on_path) if on_path else None):
        if candidate is not None and candidate.exists() and version_of(candidate) == OHA_VERSION:
            return candidate
    return None


def ensure_oha() -> Path:
    """The pinned oha, built with cargo into TOOLS_ROOT when missing (a few minutes on 2 cores)."""
    found = find_oha()
    if found is not None:
        return found
    if shutil.which("cargo") is None:
        raise RuntimeError(
            f"oha {OHA_VERSION} is not installed and cargo is missing: {' '.join(INSTALL_COMMAND)}"
        )
    print(f"installing oha {OHA_VERSION} (once; a few minutes): {' '.join(INSTALL_COMMAND)}", flush=True)
    subprocess.run(INSTALL_COMMAND, check=True)
    found = find_oha()
    if found is None:
        raise RuntimeError(
            f"`{' '.join(INSTALL_COMMAND)}` ran but {TOOLS_ROOT}/bin/oha is not oha {OHA_VERSION}"
        )
    return found


# -- one oha process -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One oha process: `rate` requests/s of one route for `seconds`."""

    route: str  # the route's name in the figures (PROCESS_ROUTE, SESSION_ROUTE)
    method: str
    target: str  # a URL, or a file of URLs when `urls_file`
    rate: float
    seconds: float
    connections: int
    headers: tuple[str, ...] = ()
    body_lines: Path | None = None  # one JSON body a line, picked at random per request
    urls_file: bool = False


def connections_for(rate: float) -> int:
    """Connections for an offered rate: one per ~150 RPS (2 to 64). The cap bounds the requests in
    flight; beyond it late requests wait in oha's queue, timed from their intended start."""
    return max(2, min(64, math.ceil(rate / 150)))


def command(binary: str | Path, job: Job, json_out: Path, db_out: Path) -> list[str]:
    """The oha command line of `job`, writing its JSON summary and its per-request SQLite table."""
    cmd = [
        str(binary), "--no-tui", "-z", f"{round(job.seconds * 1000)}ms", "-q", f"{job.rate:g}",
        "--latency-correction", "-w", "-c", str(job.connections), "-t", REQUEST_TIMEOUT,
        "-m", job.method, "--output-format", "json", "-o", str(json_out), "--db-url", str(db_out),
    ]  # fmt: skip
    for header in job.headers:
        cmd += ["-H", header]
    if job.body_lines is not None:
        cmd += ["-T", "application/json", "-Z", str(job.body_lines)]
    if job.urls_file:
        cmd.append("--urls-from-file")
    cmd.append(job.target)
    return cmd


def scheduled(rate: float, seconds: float) -> int:
    """Requests oha's ticker offers in `seconds`: one at start + i/rate for every i/rate < seconds."""
    return max(0, math.ceil(rate * seconds - 1e-9))


# -- its results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One answered request (a row of oha's `--db-url` table); times in s since oha's start."""

    status: int
    intended_s: float  # the ticker's stamp (`start_latency_correction`), else the send time
    end_s: float
    latency_ms: float  # from the intended start (`duration` with --latency-correction)


@dataclass(frozen=True)
class Result:
    route: str
    rate: float
    seconds: float
    answers: tuple[Answer, ...]
    statuses: dict[int, int]  # JSON statusCodeDistribution
    errors: dict[str, int] = field(default_factory=dict)  # JSON errorDistribution: no answer at all
    summary: dict[str, Any] = field(default_factory=dict)  # JSON summary, as oha wrote it

    @property
    def no_answer(self) -> int:
        """Requests sent that got no answer (connection errors, timeouts): failures."""
        return sum(self.errors.values())

    @property
    def unsent(self) -> int:
        """Requests scheduled in the step but still waiting for a free connection at its end (oha
        drops them): not failures of the server, but not answered in time either — the saturation
        test (achieved < 95 % of offered) counts them."""
        return max(0, scheduled(self.rate, self.seconds) - len(self.answers) - self.no_answer)


def read_answers(db: Path) -> list[Answer]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT status, COALESCE(start_latency_correction, start), end, duration FROM oha ORDER BY start"
        ).fetchall()
    return [Answer(int(status), float(at), float(end), float(dur) * 1000) for status, at, end, dur in rows]


def read_result(job: Job, summary: dict[str, Any], db: Path) -> Result:
    """`job`'s result from oha's JSON (decoded) and its SQLite table; their counts must agree."""
    answers = read_answers(db)
    statuses = {int(code): int(n) for code, n in summary.get("statusCodeDistribution", {}).items()}
    if sum(statuses.values()) != len(answers):
        raise RuntimeError(
            f"oha {job.route}: {sum(statuses.values())} answers in its JSON, {len(answers)} in {db}"
        )
    errors = {str(k): int(v) for k, v in summary.get("errorDistribution", {}).items()}
    return Result(
        job.route, job.rate, job.seconds, tuple(answers), statuses, errors, summary.get("summary", {})
    )


# -- merging ---------------------------------------------------------------------------------------


def ok_status(route: str, status: int) -> bool:
    """What oha can tell of an answer: its status. A 404 of /api/intents/process is the payload's
    miss (NO_INTENT_MATCHED) unless ixp's own error codes say otherwise (see `unexplained_404s`)."""
    return status == 200 or (route == PROCESS_ROUTE and status == 404)


def unexplained_404s(results: Sequence[Result], codes_delta: dict[str, int]) -> int:
    """/api/intents/process 404s that ixp did not count as NO_INTENT_MATCHED during the load
    (e.g. USER_NOT_FOUND): failures, though oha saw only a status."""
    process_404 = sum(r.statuses.get(404, 0) for r in results if r.route == PROCESS_ROUTE)
    return max(0, process_404 - codes_delta.get("NO_INTENT_MATCHED", 0))


def _measure(results: Sequence[Result], ok: Callable[[str, int], bool], extra_failures: int) -> Measurement:
    answers = [(r.route, a) for r in results for a in r.answers]
    seconds = max((r.seconds for r in results), default=0.0)
    in_time = sum(ok(route, a.status) and a.end_s <= seconds for route, a in answers)
    sent = len(answers) + sum(r.no_answer for r in results)
    failed = sent - sum(ok(route, a.status) for route, a in answers) + extra_failures
    latencies = sorted(a.latency_ms for _, a in answers)
    return Measurement(
        requests=sent,
        failures=min(failed, sent),
        rps=in_time / seconds if seconds > 0 else 0.0,
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        p99=percentile(latencies, 99),
    )


def merge(
    results: Sequence[Result],
    codes_delta: dict[str, int] | None = None,
    ok: Callable[[str, int], bool] = ok_status,
) -> dict[str, Measurement]:
    """Per route and AGGREGATED: requests sent, failures (statuses, no answer, 404s that were no
    miss), percentiles over every answered request's latency (exact: the union of both processes'
    requests), achieved rate = successful answers within the step per second."""
    extra = unexplained_404s(results, codes_delta or {})
    figures = {}
    for route in (PROCESS_ROUTE, SESSION_ROUTE):
        mine = [r for r in results if r.route == route]
        if mine:
            figures[route] = _measure(mine, ok, extra if route == PROCESS_ROUTE else 0)
    figures[AGGREGATED] = _measure(results, ok, extra)
    return figures


def statuses_by_route(results: Sequence[Result]) -> dict[str, dict[int, int]]:
    """Answers by status per route, plus the requests without an answer under status 0."""
    merged: dict[str, Counter[int]] = {}
    for r in results:
        counter = merged.setdefault(r.route, Counter())
        counter.update(r.statuses)
        if r.no_answer:
            counter[0] += r.no_answer
    return {route: dict(sorted(counter.items())) for route, counter in merged.items()}


def unsent(results: Sequence[Result]) -> int:
    return sum(r.unsent for r in results)
