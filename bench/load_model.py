"""The load tests' model, pure and standard-library only: the guide's phases, what a failed answer
is, the targets and their verdicts, the open-loop steps and the knee, and their report lines.

bench/load.py (the guide's scenario, locust), bench/locustfile.py and bench/load_strategy.py (the
test strategy, oha) share it; tests/bench/test_load_tools.py covers it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

PROCESS_ROUTE = "/api/intents/process"
SESSION_ROUTE = "/api/users/{id}/session"
ROUTES = (PROCESS_ROUTE, SESSION_ROUTE)
AGGREGATED = "Aggregated"
NO_INTENT_MATCHED = "NO_INTENT_MATCHED"

# The guide's scenario weights and think times (Artillery "scenarios").
PROCESS_WEIGHT, SESSION_WEIGHT = 70, 30
PROCESS_THINK_S, SESSION_THINK_S = 1.0, 2.0

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


# -- response checks (what locust counts as a failure; oha sees only statuses: bench/oha.py) ---


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
STRESS_RATES = (1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5500, 6000, 7000, 8000, 10000, 12000, 15000)


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


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


# -- report lines --------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
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
        line += f"{fmt_ms(m.p50):>6} /{fmt_ms(m.p95):>6} /{fmt_ms(m.p99):>6}"
        s = server.get(name)
        if s is not None:
            line += f"      {s.requests:>7}, {fmt_ms(s.p50):>6} /{fmt_ms(s.p95):>6} /{fmt_ms(s.p99):>6}"
        lines.append(line)
    return lines


def format_value(target: Target, value: float) -> str:
    if target.key == "error_rate":
        return f"{value:.3f} %"
    if target.at_least:
        return f"{value:.0f} RPS"
    return f"{fmt_ms(value)} ms"


def verdict_lines(verdicts: Sequence[Verdict], source: str) -> list[str]:
    lines = [f"targets ({source}):"]
    previous_note = ""
    for verdict in verdicts:
        value = "-" if verdict.value is None else format_value(verdict.target, verdict.value)
        note = f"  {verdict.note}" if verdict.note and verdict.note != previous_note else ""
        previous_note = verdict.note
        lines.append(f"  {verdict.target.label:<34}{value:>14}  {verdict.status}{note}")
    return lines
