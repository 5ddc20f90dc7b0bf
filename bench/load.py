"""Load tests of ixp against the performance guide's targets (see bench/LOAD.md).

    python -m bench.load [--scale F]   the guide's scenario (locust, closed loop: users with think time)
    python -m bench.load --smoke       the same, ≤ 60 s; exit 1 if the error rate is ≥ 0.1 %
    python -m bench.load --strategy    open loop (wrk + a fixed-arrival-rate Lua script): low, medium
                                       and high load at 100/500/1000 RPS offered, then a stress ramp
                                       until the error rate or p99 crosses its target (the knee)

Each run starts its own ixp (Granian, RSGI, one worker) on a free loopback port with a throwaway
SQLite file — or on PostgreSQL + Redis when IXP_DATABASE_URL / IXP_REDIS_URL are set — creates the
payload's users through the API, drives the load, stops the server (also on Ctrl-C or failure) and
writes CSV, HTML (locust), a PNG plot and report.txt to bench/results/load-<timestamp>/.

The pure parts (phases, response checks, target evaluation, knee detection, wrk record summaries)
import nothing beyond the standard library; tests/test_load_tools.py covers them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import importlib.util
import json
import math
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import payload

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOCUSTFILE = ROOT / "bench" / "locustfile.py"

PROCESS_ROUTE = "/api/intents/process"
SESSION_ROUTE = "/api/users/{id}/session"
ROUTES = (PROCESS_ROUTE, SESSION_ROUTE)
AGGREGATED = "Aggregated"
NO_INTENT_MATCHED = "NO_INTENT_MATCHED"

# The guide's scenario weights and think times (Artillery "scenarios").
PROCESS_WEIGHT, SESSION_WEIGHT = 70, 30
PROCESS_THINK_S, SESSION_THINK_S = 1.0, 2.0

SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 10.0
SMOKE_SCALE, SMOKE_USERS_SCALE = 0.05, 0.2  # 3 s + 6 s + 15 s at 2 / 10 / 20 users
SMOKE_PAYLOAD_USERS, SMOKE_PAYLOAD_ROWS = 20, 300
PROGRESS_EVERY_S = 5.0


# -- the guide's phases as a locust shape ---------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    name: str
    duration_s: float
    users: int
    spawn_rate: float


# Artillery's phases (duration s, arrivalRate/s), modelled in locust as that many concurrent users.
GUIDE_PHASES = (("Warm up", 60.0, 10), ("Ramp up load", 120.0, 50), ("Sustained load", 300.0, 100))


def guide_phases(scale: float = 1.0, users_scale: float | None = None) -> list[Phase]:
    """The guide's phases with durations × `scale` and users × `users_scale` (default: `scale`)."""
    users_scale = scale if users_scale is None else users_scale
    if scale <= 0 or users_scale <= 0:
        raise ValueError(f"scales must be positive, got scale={scale}, users_scale={users_scale}")
    phases = []
    for name, duration, users in GUIDE_PHASES:
        count = max(1, round(users * users_scale))
        phases.append(Phase(name, duration * scale, count, float(count)))  # each level within ~1 s
    return phases


def phase_at(phases: Sequence[Phase], run_time: float) -> Phase | None:
    """The phase running `run_time` seconds into the test; None once all are over."""
    end = 0.0
    for phase in phases:
        end += phase.duration_s
        if run_time < end:
            return phase
    return None


def shape_tick(phases: Sequence[Phase], run_time: float) -> tuple[int, float] | None:
    """`LoadTestShape.tick`: (users, spawn rate) for `run_time`, None to stop the test."""
    phase = phase_at(phases, run_time)
    return None if phase is None else (phase.users, phase.spawn_rate)


def total_duration(phases: Sequence[Phase]) -> float:
    return sum(phase.duration_s for phase in phases)


def closed_loop_rps(users: int) -> float:
    """Requests/s that `users` closed-loop users offer at most (think time dominates latency)."""
    share = PROCESS_WEIGHT / (PROCESS_WEIGHT + SESSION_WEIGHT)
    return users * (share / PROCESS_THINK_S + (1 - share) / SESSION_THINK_S)


# -- response checks (locust and wrk agree on what a failure is) ---------------------------------


def _error_code(body: str) -> str | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def process_failure(status: int, body: str) -> str | None:
    """Why a /api/intents/process answer is a failure; None when it is a success.

    200 with an intent is a success; so is 404 NO_INTENT_MATCHED (the payload's deliberate misses).
    Every other answer — 404 USER_NOT_FOUND included — is a failure.
    """
    if status == 200:
        return None if '"intent"' in body else "200 without an intent"
    code = _error_code(body)
    if status == 404 and code == NO_INTENT_MATCHED:
        return None
    return f"{status} {code or 'no error code'}"


def session_failure(status: int, body: str) -> str | None:
    """Why a /api/users/{id}/session answer is a failure; None when it is a 200 with a session."""
    if status == 200:
        return None if '"session"' in body else "200 without a session"
    return f"{status} {_error_code(body) or 'no error code'}"


# -- targets ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    limit: float
    at_least: bool  # True: value ≥ limit passes; False: value < limit passes

    def passes(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value < self.limit


TARGETS = (
    Target("p50", "p50 < 100 ms", 100.0, False),
    Target("p95", "p95 < 500 ms", 500.0, False),
    Target("p99", "p99 < 1000 ms", 1000.0, False),
    Target("error_rate", "error rate < 0.1 %", 0.1, False),
    Target("rps_min", "throughput ≥ 1000 RPS (minimum)", 1000.0, True),
    Target("rps_target", "throughput ≥ 5000 RPS (target)", 5000.0, True),
)
TARGET = {target.key: target for target in TARGETS}
PASS, FAIL, NA = "PASS", "FAIL", "N/A"


@dataclass(frozen=True)
class Measurement:
    """One route's (or all routes') figures from one tool; latencies in ms."""

    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float

    @property
    def error_rate(self) -> float:
        """Failures in % of requests (100 % when nothing was measured: no answer is no success)."""
        return self.failures / self.requests * 100 if self.requests else 100.0


EMPTY = Measurement(0, 0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float | None
    status: str
    note: str = ""


def evaluate(measured: Measurement, rps: float | None, rps_note: str = "") -> list[Verdict]:
    """PASS/FAIL per target; the throughput targets are N/A (with `rps_note`) when `rps` is None."""
    values = {"p50": measured.p50, "p95": measured.p95, "p99": measured.p99}
    values["error_rate"] = measured.error_rate
    verdicts = []
    for target in TARGETS:
        value = rps if target.key.startswith("rps") else values[target.key]
        if value is None:
            verdicts.append(Verdict(target, None, NA, rps_note))
        else:
            verdicts.append(Verdict(target, value, PASS if target.passes(value) else FAIL))
    return verdicts


def all_pass(verdicts: Sequence[Verdict]) -> bool:
    return all(verdict.status != FAIL for verdict in verdicts)


# -- the open-loop strategy: steps and the knee ---------------------------------------------------


STRATEGY_SCENARIOS = (("low", 100), ("medium", 500), ("high", 1000))
SUSTAINED_SHARE = 0.95  # below this share of the offered rate answered in time, the server is saturated
STRESS_RATES = (2000, 3000, 4000, 4500, 5000, 5500, 6000, 7000, 8000, 10000, 12000, 15000)


@dataclass(frozen=True)
class Step:
    name: str
    offered_rps: float
    achieved_rps: float
    error_rate: float  # %
    p50: float
    p95: float
    p99: float


def breach(step: Step) -> str | None:
    """Why the step is past the knee (error rate, p99, then saturation); None when it is not.

    Saturation: the server answered fewer than SUSTAINED_SHARE of the offered requests within the
    step. In an open loop that backlog soon shows as p99 and errors too; a 10 s step may end first.
    """
    if not TARGET["error_rate"].passes(step.error_rate):
        return f"error rate {step.error_rate:.3f} % ≥ {TARGET['error_rate'].limit:g} %"
    if not TARGET["p99"].passes(step.p99):
        return f"p99 {step.p99:.0f} ms ≥ {TARGET['p99'].limit:g} ms"
    if step.achieved_rps < SUSTAINED_SHARE * step.offered_rps:
        return f"saturated: {step.achieved_rps:.0f} of {step.offered_rps:.0f} RPS offered answered in time"
    return None


@dataclass(frozen=True)
class Knee:
    last_good: Step | None  # the highest offered rate before the first breach
    first_bad: Step | None  # the first step that crossed a target (None: never within the ramp)
    reason: str | None


def find_knee(steps: Sequence[Step]) -> Knee:
    """The knee of a stress ramp: the last step meeting the targets before the first that does not."""
    last_good = None
    for step in sorted(steps, key=lambda s: s.offered_rps):
        reason = breach(step)
        if reason is not None:
            return Knee(last_good, step, reason)
        last_good = step
    return Knee(last_good, None, None)


def connections_for(rate: float) -> int:
    """wrk connections (= threads, one connection each) for an offered rate: ~150 RPS each."""
    return max(2, min(100, math.ceil(rate / 150)))


def scheduled_requests(rate: float, duration_s: float, connections: int) -> int:
    """Requests the open-loop schedule offers in `duration_s` (thread i is offset by i/n intervals)."""
    interval = connections / rate
    return sum(
        max(0, math.ceil((duration_s - interval * i / connections) / interval - 1e-9))
        for i in range(connections)
    )


@dataclass(frozen=True)
class Record:
    """One answered request of the wrk driver (latency from the intended send time when late)."""

    route: str
    status: int
    no_match: bool  # a 404 whose body is NO_INTENT_MATCHED
    slot_ms: float  # intended send time since the start of the run
    latency_ms: float

    @property
    def ok(self) -> bool:
        if self.status == 200:
            return True
        return self.route == PROCESS_ROUTE and self.status == 404 and self.no_match


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def measure(records: Sequence[Record], duration_s: float, unanswered: int = 0) -> Measurement:
    """Figures of `records`; `unanswered` scheduled requests count as failures (open loop).

    The rate counts the successful answers that came back within the step (not in the grace after
    it), per second: what the server sustained, whatever the generator offered.
    """
    latencies = sorted(record.latency_ms for record in records)
    ok = sum(record.ok for record in records)
    in_time = sum(r.ok and r.slot_ms + r.latency_ms <= duration_s * 1000 for r in records)
    return Measurement(
        requests=len(records) + unanswered,
        failures=len(records) - ok + unanswered,
        rps=in_time / duration_s if duration_s > 0 else 0.0,
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        p99=percentile(latencies, 99),
    )


def summarize_records(records: Sequence[Record], scheduled: int, duration_s: float) -> dict[str, Measurement]:
    """Per route and AGGREGATED; scheduled requests never answered are failures of AGGREGATED."""
    summary = {route: measure([r for r in records if r.route == route], duration_s) for route in ROUTES}
    summary[AGGREGATED] = measure(records, duration_s, max(0, scheduled - len(records)))
    return summary


def read_wrk_records(path: Path) -> tuple[dict[str, int], list[Record]]:
    """The driver's output: a `# key=value ...` line (wrk's socket errors), a header, records."""
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().lstrip("#").split()
        counters = {key: int(value) for key, value in (item.split("=", 1) for item in first)}
        records = [
            Record(
                PROCESS_ROUTE if row["kind"] == "1" else SESSION_ROUTE,
                int(row["status"]),
                row["nomatch"] == "1",
                float(row["slot_ms"]),
                float(row["latency_us"]) / 1000,
            )
            for row in csv.DictReader(handle)
        ]
    return counters, records


def mix_requests(rows: Sequence[tuple[int, str]], count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` requests in the guide's 70/30 mix: ("P", process JSON body) / ("S", session path)."""
    rng = random.Random(seed)
    processes = round(count * PROCESS_WEIGHT / (PROCESS_WEIGHT + SESSION_WEIGHT))
    kinds = ["P"] * processes + ["S"] * (count - processes)
    rng.shuffle(kinds)
    mixed = []
    for index, kind in enumerate(kinds):
        user_id, message = rows[index % len(rows)]
        if kind == "P":
            mixed.append(("P", json.dumps({"message": message, "userId": user_id}, ensure_ascii=False)))
        else:
            mixed.append(("S", f"/api/users/{user_id}/session"))
    return mixed


# The wrk driver. One connection per thread (so a response is known to answer the thread's last
# request); thread i of n sends its k-th request at start + (k + i/n) × interval whatever earlier
# answers did (a fixed arrival rate), and times a request from that intended send time when it went
# out more than 1 ms late (wrk's delay() has millisecond resolution) — wrk2's correction for
# coordinated omission. done() writes every answer as CSV for bench/load.py.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } ixp_timespec_t;
int clock_gettime(int clock_id, ixp_timespec_t *tp);
]]
local CLOCK_MONOTONIC = 1
local LATE_US = 1000
local ts = ffi.new("ixp_timespec_t")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local threads = {}
function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local requests, kinds = {}, {}
local run_start, run_end, first_slot, interval
local next_k, slot, sent, current = 0, nil, nil, 0
local n = 0
claimed = 0
rec_kind, rec_status, rec_nomatch, rec_slot, rec_latency = {}, {}, {}, {}, {}

function init(args)
  local count = tonumber(os.getenv("IXP_WRK_THREADS"))
  interval = 1e6 * count / tonumber(os.getenv("IXP_WRK_RATE"))
  run_start = tonumber(os.getenv("IXP_WRK_START"))
  run_end = run_start + tonumber(os.getenv("IXP_WRK_DURATION")) * 1e6
  first_slot = run_start + interval * thread_index / count
  local headers = { ["Content-Type"] = "application/json" }
  headers["Authorization"] = "Bearer " .. (os.getenv("IXP_LOAD_API_KEY") or "")
  for line in io.lines(os.getenv("IXP_WRK_REQUESTS")) do
    local kind, rest = line:match("^(%a)\t(.*)$")
    if kind == "P" then
      requests[#requests + 1] = wrk.format("POST", "/api/intents/process", headers, rest)
    else
      requests[#requests + 1] = wrk.format("GET", rest, { ["Authorization"] = headers["Authorization"] })
    end
    kinds[#kinds + 1] = (kind == "P") and 1 or 2
  end
  current = (thread_index * 7919) % #requests
end

function delay()
  local next_slot = first_slot + next_k * interval
  if next_slot >= run_end then
    return 3600000
  end
  next_k = next_k + 1
  claimed = next_k
  slot = next_slot
  local wait = next_slot - now_us()
  if wait <= 0 then
    return 0
  end
  return math.ceil(wait / 1000)
end

function request()
  current = current % #requests + 1
  sent = now_us()
  if slot == nil then
    slot = sent
  end
  return requests[current]
end

function response(status, headers, body)
  local finished = now_us()
  local started = sent
  if sent - slot > LATE_US then
    started = slot
  end
  n = n + 1
  rec_kind[n] = kinds[current]
  rec_status[n] = status
  rec_nomatch[n] = (status == 404 and body ~= nil and body:find("NO_INTENT_MATCHED", 1, true)) and 1 or 0
  rec_slot[n] = (slot - run_start) / 1000
  rec_latency[n] = math.floor(finished - started + 0.5)
end

function done(summary, latency, reqs)
  local out = assert(io.open(os.getenv("IXP_WRK_OUT"), "w"))
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("claimed")
  end
  local e = summary.errors
  out:write(string.format("# claimed=%d connect=%d read=%d write=%d timeout=%d\n",
    total, e.connect, e.read, e.write, e.timeout))
  out:write("kind,status,nomatch,slot_ms,latency_us\n")
  for _, thread in ipairs(threads) do
    local kind, status = thread:get("rec_kind"), thread:get("rec_status")
    local nomatch, slots, lat = thread:get("rec_nomatch"), thread:get("rec_slot"), thread:get("rec_latency")
    for i = 1, #kind do
      out:write(kind[i], ",", status[i], ",", nomatch[i], ",", string.format("%.3f", slots[i]), ",")
      out:write(lat[i], "\n")
    end
  end
  out:close()
end
"""


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
    to locust, wrk and the payload builder through the environment) and its `IXP_API_KEYS` line."""
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


# -- reporting ------------------------------------------------------------------------------------


def _fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def measurement_table(
    tool: str, figures: dict[str, Measurement], server: dict[str, Measurement]
) -> list[str]:
    head = f"{'route':<26}{'requests':>9}{'errors':>8}{'rps':>8}  {tool} p50/p95/p99 ms"
    lines = [head + "      ixp /ixp/metrics: count, p50/p95/p99 ms"]
    for name in (*ROUTES, AGGREGATED):
        m = figures.get(name)
        if m is None:
            continue
        line = f"{name:<26}{m.requests:>9}{m.failures:>8}{m.rps:>8.1f}  "
        line += f"{_fmt_ms(m.p50):>6} /{_fmt_ms(m.p95):>6} /{_fmt_ms(m.p99):>6}"
        s = server.get(name)
        if s is not None:
            line += f"      {s.requests:>7}, {_fmt_ms(s.p50):>6} /{_fmt_ms(s.p95):>6} /{_fmt_ms(s.p99):>6}"
        lines.append(line)
    return lines


def format_value(target: Target, value: float) -> str:
    if target.key == "error_rate":
        return f"{value:.3f} %"
    if target.at_least:
        return f"{value:.0f} RPS"
    return f"{_fmt_ms(value)} ms"


def verdict_lines(verdicts: Sequence[Verdict], source: str) -> list[str]:
    lines = [f"targets ({source}):"]
    previous_note = ""
    for verdict in verdicts:
        value = "-" if verdict.value is None else format_value(verdict.target, verdict.value)
        note = f"  {verdict.note}" if verdict.note and verdict.note != previous_note else ""
        previous_note = verdict.note
        lines.append(f"  {verdict.target.label:<34}{value:>14}  {verdict.status}{note}")
    return lines


def emit(lines: Sequence[str], report: Path) -> None:
    text = "\n".join(lines) + "\n"
    print(text, end="")
    with report.open("a", encoding="utf-8") as handle:
        handle.write(text)


def results_dir(base: Path | None) -> Path:
    out = base or RESULTS / f"load-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    return out


# -- the guide's scenario with locust -------------------------------------------------------------


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def read_locust_stats(path: Path) -> dict[str, Measurement]:
    """locust's `<prefix>_stats.csv`: one Measurement per request name (and AGGREGATED)."""
    figures = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            figures[row["Name"]] = Measurement(
                int(row["Request Count"]), int(row["Failure Count"]), _float(row["Requests/s"]),
                _float(row["50%"]), _float(row["95%"]), _float(row["99%"]),
            )  # fmt: skip
    return figures


def read_history(path: Path) -> list[dict[str, str]]:
    """The AGGREGATED rows of locust's `<prefix>_stats_history.csv`."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row.get("Name") == AGGREGATED]


def _progress(history: Path, phases: Sequence[Phase]) -> None:
    rows = read_history(history)
    if not rows:
        print("[    0 s] locust starting", flush=True)
        return
    last = rows[-1]
    elapsed = _float(last["Timestamp"]) - _float(rows[0]["Timestamp"])
    phase = phase_at(phases, elapsed)
    print(
        f"[{elapsed:5.0f} s] {phase.name if phase else 'stopping':<15} users {last['User Count']:>4}  "
        f"rps {_float(last['Requests/s']):7.1f}  p50 {last['50%']:>5} ms  p95 {last['95%']:>5} ms  "
        f"requests {last['Total Request Count']:>7}  failures {last['Total Failure Count']}",
        flush=True,
    )


def run_locust(url: str, payload_csv: Path, out: Path, scale: float, users_scale: float) -> int:
    """locust headless with the guide's shape; progress every few seconds; returns its exit code."""
    phases = guide_phases(scale, users_scale)
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", url,
        "--csv", str(out / "locust"), "--html", str(out / "locust.html"), "--only-summary",
        "--loglevel", "WARNING", "--exit-code-on-error", "0", "--stop-timeout", "3",
    ]  # fmt: skip
    env = {
        **os.environ,
        "IXP_LOAD_PAYLOAD": str(payload_csv),
        "IXP_LOAD_SCALE": repr(scale),
        "IXP_LOAD_USERS_SCALE": repr(users_scale),
    }
    limit = total_duration(phases) + 30.0
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        next_progress = started + PROGRESS_EVERY_S
        while process.poll() is None:
            if time.monotonic() > started + limit:
                print(f"locust still running after {limit:.0f} s: stopping it", flush=True)
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
                break
            if time.monotonic() >= next_progress:
                _progress(out / "locust_stats_history.csv", phases)
                next_progress += PROGRESS_EVERY_S
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return process.returncode


def plot_locust(history: Sequence[dict[str, str]], png: Path, title: str) -> None:
    """Throughput and latency over time from locust's history (Aggregated rows)."""
    if importlib.util.find_spec("matplotlib") is None:
        print(f"{png.name} not drawn: matplotlib is not installed (pip install 'matplotlib>=3.7,<4')")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    t0 = _float(history[0]["Timestamp"])
    seconds = [_float(row["Timestamp"]) - t0 for row in history]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    top.plot(seconds, [_float(r["Requests/s"]) for r in history], label="requests/s")
    top.plot(seconds, [_float(r["Failures/s"]) for r in history], label="failures/s", color="tab:red")
    users = top.twinx()
    users.plot(seconds, [_float(r["User Count"]) for r in history], color="tab:gray", ls="--", label="users")
    users.set_ylabel("users")
    top.set_ylabel("requests/s")
    top.legend(loc="upper left")
    top.set_title(title)
    for pct, color in (("50%", "tab:green"), ("95%", "tab:orange"), ("99%", "tab:red")):
        bottom.plot(seconds, [_float(r[pct]) for r in history], label=f"p{pct[:-1]}", color=color)
    bottom.set_ylabel("latency (ms, current window)")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def guide_intro(phases: Sequence[Phase], smoke: bool, out: Path) -> list[str]:
    return [
        f"ixp load test: the guide's scenario{' (smoke)' if smoke else ''}, storage {backend()}",
        "  locust FastHttpUser, closed loop: 70 % POST /api/intents/process (think 1 s),",
        "  30 % GET /api/users/{id}/session (think 2 s)",
        "  phases: " + "; ".join(f"{p.name} {p.duration_s:g} s at {p.users} users" for p in phases),
        f"  results: {out}",
    ]


def drive_guide(
    out: Path, users: int, rows: int, scale: float, users_scale: float
) -> tuple[dict[str, Measurement], dict[str, int]]:
    """Server, payload, locust; returns ixp's own figures and error codes (from /ixp/metrics)."""
    workdir = Path(tempfile.mkdtemp(prefix="ixp-load-"))
    try:
        with ixp_server(workdir) as url:
            payload_csv = seed_payload(url, workdir, users, rows)
            shutil.copy(payload_csv, out / "payload.csv")
            run_locust(url, payload_csv, out, scale, users_scale)
            metrics = get_json(url + "/ixp/metrics")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return server_figures(metrics), dict(metrics.get("errors", {}).get("byType", {}))


def guide_report(
    phases: Sequence[Phase],
    figures: dict[str, Measurement],
    server: dict[str, Measurement],
    error_types: dict[str, int],
) -> tuple[list[str], list[Verdict]]:
    peak = max(p.users for p in phases)
    rps_note = (
        f"not measurable here: the guide's phases offer ≤ {closed_loop_rps(peak):.0f} RPS by design "
        f"({peak} users, 1–2 s think time); measured by --strategy"
    )
    verdicts = evaluate(figures.get(AGGREGATED, EMPTY), None, rps_note)
    lines = ["", *measurement_table("locust", figures, server)]
    lines.append("  ixp's Aggregated row counts every route (seeding and /ixp/metrics too);")
    lines.append(f"  ixp counts every 4xx as an error; its error codes: {error_types or 'none'}")
    lines += ["", *verdict_lines(verdicts, "locust, all requests")]
    return lines, verdicts


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


def run_guide(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("locust") is None:
        print(
            "the guide's scenario needs locust: pip install 'locust>=2.20,<3' (the bench extra)",
            file=sys.stderr,
        )
        return 2
    smoke = bool(args.smoke)
    scale = SMOKE_SCALE if smoke else args.scale
    users_scale = SMOKE_USERS_SCALE if smoke else (args.users_scale or scale)
    phases = guide_phases(scale, users_scale)
    out = results_dir(args.out)
    report = out / "report.txt"
    emit(guide_intro(phases, smoke, out), report)
    users = SMOKE_PAYLOAD_USERS if smoke else args.payload_users
    rows = SMOKE_PAYLOAD_ROWS if smoke else args.payload_rows
    server, error_types = drive_guide(out, users, rows, scale, users_scale)
    stats_csv = out / "locust_stats.csv"
    figures = read_locust_stats(stats_csv) if stats_csv.exists() else {}
    total = figures.get(AGGREGATED, EMPTY)
    lines, verdicts = guide_report(phases, figures, server, error_types)
    plot_locust(read_history(out / "locust_stats_history.csv"), out / "load.png", "ixp: the guide's scenario")
    lines.append(f"files: {out}/locust_stats*.csv, locust.html, load.png, report.txt, summary.json")
    emit(lines, report)
    mode = "smoke" if smoke else "guide"
    write_summary(out / "summary.json", mode, phases=phases, locust=figures, server=server, verdicts=verdicts)
    passed = total.requests > 0 and TARGET["error_rate"].passes(total.error_rate)
    if smoke:
        verdict = PASS if passed else FAIL
        emit([f"smoke: {total.requests} requests, error rate {total.error_rate:.3f} %, {verdict}"], report)
        return 0 if passed else 1
    return 0 if passed and all_pass(verdicts) else 1


# -- the strategy with wrk ------------------------------------------------------------------------


@dataclass
class StepResult:
    step: Step
    figures: dict[str, Measurement]
    server: dict[str, Measurement]
    connections: int
    socket_errors: dict[str, int] = field(default_factory=dict)
    generator_cpu_s: float = 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk_step(
    url: str, requests_file: Path, out: Path, name: str, rate: float, seconds: float, grace_s: float
) -> tuple[dict[str, int], list[Record], int, float]:
    """One open-loop step; returns wrk's counters, the records, connections and wrk's CPU seconds."""
    connections = connections_for(rate)
    (out / "open_loop.lua").write_text(WRK_SCRIPT)
    records_path = out / f"wrk-{name}-{rate:.0f}.csv"
    lead_s = 1.0  # threads start and read the requests before the first slot
    env = {
        **os.environ,
        "IXP_WRK_THREADS": str(connections),
        "IXP_WRK_RATE": repr(float(rate)),
        "IXP_WRK_DURATION": repr(float(seconds)),
        "IXP_WRK_START": str(int((time.monotonic() + lead_s) * 1e6)),
        "IXP_WRK_REQUESTS": str(requests_file),
        "IXP_WRK_OUT": str(records_path),
    }
    run_s = math.ceil(lead_s + seconds + grace_s)
    command = [
        "wrk", "-t", str(connections), "-c", str(connections), "-d", f"{run_s}s", "--timeout", "10s",
        "-s", str(out / "open_loop.lua"), url,
    ]  # fmt: skip
    cpu_before = _children_cpu()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    cpu = _children_cpu() - cpu_before
    if result.returncode != 0 or not records_path.exists():
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
    counters, records = read_wrk_records(records_path)
    return counters, records, connections, cpu


def run_strategy_step(
    workdir: Path, out: Path, rows: Sequence[tuple[int, str]], name: str, rate: float, seconds: float
) -> StepResult:
    """A fresh server (clean /ixp/metrics), warmed through the batch route, then one wrk step."""
    with ixp_server(workdir) as url:
        warm_up(url, rows)
        counters, records, connections, cpu = run_wrk_step(
            url, workdir / "requests.tsv", out, name, rate, seconds, grace_s=2.0
        )
        server = server_figures(get_json(url + "/ixp/metrics"))
    scheduled = scheduled_requests(rate, seconds, connections)
    figures = summarize_records(records, scheduled, seconds)
    total = figures[AGGREGATED]
    step = Step(name, rate, total.rps, total.error_rate, total.p50, total.p95, total.p99)
    return StepResult(step, figures, server, connections, counters, cpu)


def step_line(result: StepResult) -> str:
    s, total = result.step, result.figures[AGGREGATED]
    server = result.server.get(PROCESS_ROUTE)
    line = (
        f"{s.name:<8}{s.offered_rps:>8.0f}{s.achieved_rps:>10.0f}{total.requests:>9}{s.error_rate:>9.3f}"
        f"{_fmt_ms(s.p50):>8}{_fmt_ms(s.p95):>8}{_fmt_ms(s.p99):>8}"
    )
    if server is not None:
        line += f"   {_fmt_ms(server.p50):>6}{_fmt_ms(server.p95):>7}{_fmt_ms(server.p99):>7}"
    return line + f"{result.generator_cpu_s * 1e6 / (total.requests or 1):>11.0f}"


STEP_LEGEND = (
    "latencies in ms; wrk: the client, from the intended send time; ixp: the server's /ixp/metrics for "
    "POST /api/intents/process; achieved: successful answers/s within the step; wrk µs/req: "
    "the generator's CPU per request"
)
STEP_HEADER = (
    f"{'step':<8}{'offered':>8}{'achieved':>10}{'requests':>9}{'errors%':>9}"
    f"{'p50':>8}{'p95':>8}{'p99':>8}   {'ixp p50':>6}{'p95':>7}{'p99':>7}{'wrk µs/req':>11}"
)


def plot_strategy(results: Sequence[StepResult], knee: Knee, png: Path) -> None:
    """Achieved vs offered rate and latency vs offered rate, per step (stress steps as a curve)."""
    if importlib.util.find_spec("matplotlib") is None:
        print(f"{png.name} not drawn: matplotlib is not installed (pip install 'matplotlib>=3.7,<4')")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stress = sorted((r.step for r in results), key=lambda s: s.offered_rps)
    offered = [s.offered_rps for s in stress]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    top.plot(offered, offered, ls=":", color="tab:gray", label="offered")
    top.plot(offered, [s.achieved_rps for s in stress], marker="o", label="achieved (successful/s)")
    top.set_ylabel("requests/s")
    top.set_title("ixp, open loop: low/medium/high and the stress ramp (wrk, fixed arrival rate)")
    for pct in ("p50", "p95", "p99"):
        bottom.plot(offered, [max(getattr(s, pct), 0.01) for s in stress], marker="o", label=pct)
    bottom.axhline(TARGET["p99"].limit, color="tab:red", ls="--", lw=0.8, label="p99 target")
    bottom.set_yscale("log")
    bottom.set_ylabel("latency ms (from intended send)")
    bottom.set_xlabel("offered requests/s")
    if knee.last_good is not None:
        for ax in (top, bottom):
            ax.axvline(knee.last_good.offered_rps, color="tab:green", ls="--", lw=0.8, label="knee")
    top.legend(loc="upper left")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def write_strategy_csv(results: Sequence[StepResult], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["step", "offered_rps", "achieved_rps", "requests", "error_rate_pct", "p50_ms", "p95_ms",
             "p99_ms", "ixp_process_p50_ms", "ixp_process_p99_ms", "ixp_session_p50_ms",
             "ixp_session_p99_ms", "connections", "wrk_cpu_s"]
        )  # fmt: skip
        for r in results:
            s, total = r.step, r.figures[AGGREGATED]
            proc = r.server.get(PROCESS_ROUTE)
            sess = r.server.get(SESSION_ROUTE)
            writer.writerow(
                [s.name, s.offered_rps, round(s.achieved_rps, 1), total.requests, round(s.error_rate, 4),
                 s.p50, s.p95, s.p99, proc and proc.p50, proc and proc.p99, sess and sess.p50,
                 sess and sess.p99, r.connections, round(r.generator_cpu_s, 2)]
            )  # fmt: skip


def strategy_intro(args: argparse.Namespace, out: Path) -> list[str]:
    scenarios = ", ".join(f"{name} {rate} RPS" for name, rate in STRATEGY_SCENARIOS)
    return [
        f"ixp load test: the guide's test strategy (open loop), storage {backend()}",
        "  generator: wrk 4 (Debian) driven by an open-loop Lua script: a fixed arrival rate, one",
        "  connection per thread, latency timed from the intended send time (wrk2-style)",
        "  mix: 70 % POST /api/intents/process, 30 % GET /api/users/{id}/session, from the payload",
        f"  scenarios: {scenarios}, {args.scenario_seconds:g} s each",
        f"  stress: {args.stress_rates} RPS, {args.step_seconds:g} s each, until the error rate or p99",
        f"  crosses its target or < {SUSTAINED_SHARE:.0%} of the offered rate is answered in time",
        "  each step on a fresh ixp (clean /ixp/metrics), warmed through /api/intents/process/batch",
        "  (a route the figures leave out)",
        f"  results: {out}",
    ]


def strategy_plan(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """(name, offered RPS, seconds) of every step: the three scenarios, then the stress ramp."""
    plan = [(name, float(rate), args.scenario_seconds) for name, rate in STRATEGY_SCENARIOS]
    rates = sorted(float(rate) for rate in args.stress_rates.split(",") if rate.strip())
    return plan + [("stress", rate, args.step_seconds) for rate in rates]


def run_strategy(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("--strategy needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    out = results_dir(args.out)
    report = out / "report.txt"
    deadline = time.monotonic() + args.max_seconds
    emit(strategy_intro(args, out), report)
    workdir = Path(tempfile.mkdtemp(prefix="ixp-strategy-"))
    results: list[StepResult] = []
    stopped_early = ""
    try:
        with ixp_server(workdir) as url:
            payload_csv = seed_payload(url, workdir, args.payload_users, args.payload_rows)
        shutil.copy(payload_csv, out / "payload.csv")
        rows = payload.read_csv(payload_csv)
        mixed = mix_requests(rows, 2000)
        (workdir / "requests.tsv").write_text("".join(f"{kind}\t{text}\n" for kind, text in mixed))
        emit(["", STEP_LEGEND, STEP_HEADER], report)
        for name, rate, seconds in strategy_plan(args):
            if time.monotonic() + seconds + 8 > deadline:
                stopped_early = f"time budget of {args.max_seconds:g} s reached before {name} {rate:.0f} RPS"
                break
            result = run_strategy_step(workdir, out, rows, name, rate, seconds)
            results.append(result)
            emit([step_line(result)], report)
            if name == "stress" and breach(result.step) is not None:
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return strategy_report(results, out, report, stopped_early)


def strategy_report(results: Sequence[StepResult], out: Path, report: Path, stopped_early: str) -> int:
    # The knee is found over the whole ramp — the sustained scenarios (100/500/1000 RPS) and the
    # stress steps — so a server that passes 1,000 RPS and breaks at the first stress step has its
    # knee at 1,000 RPS, not "none".
    ramp = [r.step for r in results]
    knee = find_knee(ramp)
    lines = [""]
    if stopped_early:
        lines.append(f"stopped early: {stopped_early}")
    lines += knee_lines(knee, ramp)
    passed = True
    for result in results:
        if result.step.name == "stress":
            continue
        verdicts = [v for v in evaluate(result.figures[AGGREGATED], None) if not v.target.at_least]
        passed &= all_pass(verdicts)
        source = f"{result.step.name} load, {result.step.offered_rps:.0f} RPS offered, wrk"
        lines += ["", *verdict_lines(verdicts, source)]
    sustained = knee_rps(knee)
    rps_verdicts = [v for v in evaluate(Measurement(1, 0, 0, 0, 0, 0), sustained) if v.target.at_least]
    lines += ["", *verdict_lines(rps_verdicts, "throughput: the highest offered rate that passed, wrk")]
    lines.append(
        f"files: {out}/strategy.csv, strategy.png, wrk-*.csv (every request), report.txt, summary.json"
    )
    emit(lines, report)
    if results:
        write_strategy_csv(results, out / "strategy.csv")
        plot_strategy(results, knee, out / "strategy.png")
    write_summary(out / "summary.json", "strategy", steps=ramp, knee=knee, verdicts=rps_verdicts)
    return 0 if passed and all_pass(rps_verdicts) else 1


def knee_rps(knee: Knee) -> float:
    """The throughput the server sustained: the highest offered rate that passed every target (it
    answered ≥ 95 % of it in time, within the error and p99 targets); 0 when none did."""
    return knee.last_good.offered_rps if knee.last_good is not None else 0.0


def knee_lines(knee: Knee, ramp: Sequence[Step]) -> list[str]:
    """The knee in words: the highest rate that passed, then the first breach and what the server
    achieved there (its saturation throughput)."""
    if not ramp:
        return ["knee: no step ran"]
    if knee.last_good is None:
        lines = ["knee: below the lowest step: every step crossed a target"]
    else:
        good = knee.last_good
        lines = [
            f"knee: highest rate that passed {good.offered_rps:.0f} RPS offered ({good.name}): "
            f"{good.achieved_rps:.0f} achieved, p99 {good.p99:.1f} ms, errors {good.error_rate:.3f} %"
        ]
    if knee.first_bad is not None:
        bad = knee.first_bad
        lines.append(
            f"  first breach at {bad.offered_rps:.0f} RPS offered ({bad.name}): {bad.achieved_rps:.0f} RPS "
            f"achieved there, p99 {bad.p99:.1f} ms — {knee.reason}"
        )
    else:
        lines.append(
            f"  no breach up to {max(s.offered_rps for s in ramp):.0f} RPS offered: the knee is higher"
        )
    return lines


# -- command line ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="≤ 60 s guide scenario; exit 1 if errors ≥ 0.1 %%")
    mode.add_argument("--strategy", action="store_true", help="open-loop low/medium/high + stress ramp (wrk)")
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("IXP_LOAD_SCALE", "1.0")),
        help="guide scenario: phase durations and users × F (default $IXP_LOAD_SCALE or 1)",
    )
    parser.add_argument("--users-scale", type=float, default=None, help="users × F (default: --scale)")
    parser.add_argument("--payload-users", type=int, default=payload.DEFAULT_USERS)
    parser.add_argument("--payload-rows", type=int, default=payload.DEFAULT_ROWS)
    parser.add_argument("--scenario-seconds", type=float, default=12.0, help="strategy: low/medium/high")
    parser.add_argument("--step-seconds", type=float, default=10.0, help="strategy: each stress step")
    parser.add_argument("--stress-rates", default=",".join(str(r) for r in STRESS_RATES))
    parser.add_argument("--max-seconds", type=float, default=280.0, help="strategy: time budget")
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    return parser.parse_args(argv)  # fmt: skip


def _terminate(signum: int, frame: Any) -> None:
    print(f"signal {signum}: stopping locust/wrk and the server", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)  # unwinds through the `finally`s that stop the server


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run_strategy(args) if args.strategy else run_guide(args)
    except KeyboardInterrupt:
        print("interrupted: server stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
