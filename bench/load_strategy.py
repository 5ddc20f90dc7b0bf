"""The guide's test strategy, open loop with oha: `python -m bench.load --strategy` (bench/LOAD.md).

Two mixes, each 70 % POST /api/intents/process and 30 % GET /api/users/{id}/session at a fixed
offered rate, each step on a fresh ixp:

- storage: the guide's — every process carries the payload's `userId` (the intent is written to the
  user's session, which drops the cached session), sessions read over all the payload's users;
- storage-free: the same messages without `userId` (no write), sessions of HOT_USERS users read
  over and over (after the first read, L1 cache hits: nothing invalidates them).

The knee of each and their ratio (storage / storage-free) is a figure that holds across machines:
what storage costs this server, whatever the machine's absolute speed.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import oha, payload
from bench.load_model import (
    AGGREGATED,
    PROCESS_ROUTE,
    PROCESS_WEIGHT,
    SESSION_ROUTE,
    SESSION_WEIGHT,
    STRATEGY_SCENARIOS,
    SUSTAINED_SHARE,
    TARGET,
    Knee,
    Measurement,
    Step,
    all_pass,
    breach,
    evaluate,
    find_knee,
    fmt_ms,
    knee_lines,
    knee_rps,
    verdict_lines,
)
from bench.load_run import (
    backend,
    emit,
    get_json,
    ixp_server,
    results_dir,
    seed_payload,
    server_figures,
    warm_up,
    write_summary,
)

HOT_USERS = 4  # storage-free: sessions read over and over, so they stay in L1
STORAGE, STORAGE_FREE = "storage", "storage-free"
PROCESS_SHARE = PROCESS_WEIGHT / (PROCESS_WEIGHT + SESSION_WEIGHT)
SESSION_SHARE = SESSION_WEIGHT / (PROCESS_WEIGHT + SESSION_WEIGHT)  # not 1 - 0.7: 0.30000000000000004


# -- the two mixes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    key: str
    bodies: tuple[str, ...]  # POST /api/intents/process bodies, one JSON document each
    session_users: tuple[int, ...]  # GET /api/users/{id}/session over these (picked at random)
    prime_users: tuple[int, ...] = ()  # given a session before the load


def storage_mix(rows: Sequence[tuple[int, str]]) -> Mix:
    bodies = tuple(json.dumps({"message": m, "userId": u}, ensure_ascii=False) for u, m in rows)
    return Mix(STORAGE, bodies, tuple(u for u, _ in rows))


def storage_free_mix(rows: Sequence[tuple[int, str]], hot: int = HOT_USERS) -> Mix:
    bodies = tuple(json.dumps({"message": m}, ensure_ascii=False) for _, m in rows)
    users = tuple(dict.fromkeys(u for u, _ in rows))[:hot]
    return Mix(STORAGE_FREE, bodies, users, prime_users=users)


def mix_jobs(mix: Mix, url: str, workdir: Path, rate: float, seconds: float, api_key: str) -> list[oha.Job]:
    """The two oha processes of `mix` at `rate` in all (70 % / 30 %), their input files written."""
    bodies = workdir / f"bodies-{mix.key}.jsonl"
    bodies.write_text("".join(body + "\n" for body in mix.bodies), encoding="utf-8")
    urls = workdir / f"urls-{mix.key}.txt"
    urls.write_text("".join(f"{url}/api/users/{user}/session\n" for user in mix.session_users))
    auth = (f"Authorization: Bearer {api_key}",)
    process_rate, session_rate = rate * PROCESS_SHARE, rate * SESSION_SHARE
    return [
        oha.Job(PROCESS_ROUTE, "POST", url + PROCESS_ROUTE, process_rate, seconds,
                oha.connections_for(process_rate), auth, body_lines=bodies),
        oha.Job(SESSION_ROUTE, "GET", str(urls), session_rate, seconds,
                oha.connections_for(session_rate), auth, urls_file=True),
    ]  # fmt: skip


def prime_sessions(url: str, users: Sequence[int], message: str) -> None:
    """Give each user a session (through the batch route, so the measured routes stay clean)."""
    post = payload.http_post_json(url)
    for user in users:
        status, body = post("/api/intents/process/batch", {"messages": [message], "userId": user})
        if status != 200:
            raise RuntimeError(f"priming the session of user {user}: {status} {body}")


# -- one step --------------------------------------------------------------------------------------


@dataclass
class StepResult:
    mix: str
    step: Step
    figures: dict[str, Measurement]
    server: dict[str, Measurement]
    connections: int
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)  # ixp's error codes during the load
    l1_hit_ratio: float | None = None
    generator_cpu_s: float = 0.0
    unsent: int = 0  # scheduled, still queued in oha at the step's end


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_jobs(
    binary: Path, jobs: Sequence[oha.Job], workdir: Path, out_prefix: Path
) -> tuple[list[oha.Result], float]:
    """Run the jobs side by side; their results and the CPU seconds oha took."""
    cpu_before = _children_cpu()
    running = []
    for index, job in enumerate(jobs):
        json_out = out_prefix.with_name(f"{out_prefix.name}-{index}.json")
        db_out = workdir / f"oha-{index}.db"
        db_out.unlink(missing_ok=True)  # oha appends to an existing table
        cmd = oha.command(binary, job, json_out, db_out)
        running.append(
            (job, json_out, db_out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        )
    results = []
    for job, json_out, db_out, process in running:
        _, stderr = process.communicate(timeout=job.seconds + 60)
        if process.returncode != 0 or not json_out.exists():
            raise RuntimeError(f"oha ({job.route}) failed ({process.returncode}): {stderr.decode().strip()}")
        results.append(oha.read_result(job, json.loads(json_out.read_text()), db_out))
    return results, _children_cpu() - cpu_before


def codes_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """ixp's error codes (`/ixp/metrics` errors.byType) counted between two snapshots."""
    old = before.get("errors", {}).get("byType", {})
    new = after.get("errors", {}).get("byType", {})
    return {code: n - old.get(code, 0) for code, n in new.items() if n - old.get(code, 0)}


def l1_hit_ratio(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """L1 cache hits / lookups between two `/ixp/metrics` snapshots (users and sessions)."""

    def l1(snapshot: dict[str, Any]) -> tuple[int, int]:
        stats = snapshot.get("storage", {}).get("cache", {}).get("l1", {})
        return int(stats.get("hits", 0)), int(stats.get("misses", 0))

    (h0, m0), (h1, m1) = l1(before), l1(after)
    lookups = (h1 - h0) + (m1 - m0)
    return (h1 - h0) / lookups if lookups > 0 else None


def run_step(binary: Path, workdir: Path, out: Path, mix: Mix, rows: Sequence[tuple[int, str]],
             name: str, rate: float, seconds: float) -> StepResult:  # fmt: skip
    """A fresh server (clean /ixp/metrics), warmed through the batch route, then one oha step."""
    with ixp_server(workdir) as url:
        warm_up(url, rows)
        prime_sessions(url, mix.prime_users, rows[0][1])
        before = get_json(url + "/ixp/metrics")
        jobs = mix_jobs(mix, url, workdir, rate, seconds, os.environ["IXP_LOAD_API_KEY"])
        results, cpu = run_jobs(binary, jobs, workdir, out / f"oha-{mix.key}-{name}-{rate:.0f}")
        after = get_json(url + "/ixp/metrics")
    delta = codes_delta(before, after)
    figures = oha.merge(results, delta)
    total = figures[AGGREGATED]
    step = Step(name, rate, total.rps, total.error_rate, total.p50, total.p95, total.p99)
    connections = sum(job.connections for job in jobs)
    return StepResult(mix.key, step, figures, server_figures(after), connections,
                      oha.statuses_by_route(results), delta, l1_hit_ratio(before, after), cpu,
                      oha.unsent(results))  # fmt: skip


# -- the report ------------------------------------------------------------------------------------


STEP_LEGEND = (
    "latencies in ms; oha: the client, from the intended send time (both processes' requests merged);"
    " ixp: the server's /ixp/metrics for POST /api/intents/process; achieved: successful answers/s"
    " within the step; requests: sent (unsent: still queued in oha at the step's end); L1: cache"
    " hits/lookups; oha µs/req: the generator's CPU per request"
)
STEP_HEADER = (
    f"{'mix':<13}{'step':<8}{'offered':>8}{'achieved':>10}{'requests':>9}{'unsent':>7}{'errors%':>9}"
    f"{'p50':>8}{'p95':>8}{'p99':>8}   {'ixp p50':>6}{'p95':>7}{'p99':>7}{'L1':>6}{'oha µs/req':>11}"
)


def step_line(result: StepResult) -> str:
    s, total = result.step, result.figures[AGGREGATED]
    server = result.server.get(PROCESS_ROUTE)
    line = (
        f"{result.mix:<13}{s.name:<8}{s.offered_rps:>8.0f}{s.achieved_rps:>10.0f}{total.requests:>9}{result.unsent:>7}"
        f"{s.error_rate:>9.3f}{fmt_ms(s.p50):>8}{fmt_ms(s.p95):>8}{fmt_ms(s.p99):>8}   "
    )
    line += f"{fmt_ms(server.p50):>6}{fmt_ms(server.p95):>7}{fmt_ms(server.p99):>7}" if server else " " * 20
    l1 = "-" if result.l1_hit_ratio is None else f"{result.l1_hit_ratio:.0%}"
    return line + f"{l1:>6}{result.generator_cpu_s * 1e6 / (total.requests or 1):>11.0f}"


def knee_ratio(storage: Knee, free: Knee) -> float | None:
    """Storage knee / storage-free knee (highest offered rates that passed); None without both."""
    a, b = knee_rps(storage), knee_rps(free)
    return a / b if a and b else None


def ratio_lines(storage: Knee, free: Knee) -> list[str]:
    """The ratio in words; an open-ended storage-free knee (no breach in the ramp) makes it a bound."""
    ratio = knee_ratio(storage, free)
    if ratio is None:
        return ["ratio storage / storage-free: not measured (a knee below the lowest step, or a mix not run)"]
    bound = "≤ " if free.first_bad is None else ""
    lines = [
        f"ratio storage / storage-free (knees): {knee_rps(storage):.0f} / {knee_rps(free):.0f} RPS = "
        f"{bound}{ratio:.2f}" + ("  (storage-free did not breach: its knee is higher)" if bound else "")
    ]
    if storage.first_bad is not None and free.first_bad is not None and free.first_bad.achieved_rps:
        a, b = storage.first_bad.achieved_rps, free.first_bad.achieved_rps
        lines.append(f"  achieved at the first breach (saturation): {a:.0f} / {b:.0f} RPS = {a / b:.2f}")
    return lines


def write_strategy_csv(results: Sequence[StepResult], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["mix", "step", "offered_rps", "achieved_rps", "requests", "unsent", "error_rate_pct", "p50_ms",
             "p95_ms", "p99_ms", "ixp_process_p50_ms", "ixp_process_p99_ms", "ixp_session_p50_ms",
             "ixp_session_p99_ms", "l1_hit_ratio", "connections", "oha_cpu_s", "statuses"]
        )  # fmt: skip
        for r in results:
            s, total = r.step, r.figures[AGGREGATED]
            proc, sess = r.server.get(PROCESS_ROUTE), r.server.get(SESSION_ROUTE)
            writer.writerow(
                [r.mix, s.name, s.offered_rps, round(s.achieved_rps, 1), total.requests, r.unsent,
                 round(s.error_rate, 4), s.p50, s.p95, s.p99, proc and proc.p50, proc and proc.p99,
                 sess and sess.p50, sess and sess.p99, r.l1_hit_ratio, r.connections,
                 round(r.generator_cpu_s, 2), json.dumps(r.statuses)]
            )  # fmt: skip


def plot_strategy(results: Sequence[StepResult], knees: dict[str, Knee], png: Path) -> None:
    """Achieved vs offered rate and p99 vs offered rate, one curve per mix, knees marked."""
    if importlib.util.find_spec("matplotlib") is None:
        print(f"{png.name} not drawn: matplotlib is not installed (pip install 'matplotlib>=3.7,<4')")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for mix, color in ((STORAGE, "tab:blue"), (STORAGE_FREE, "tab:orange")):
        steps = sorted((r.step for r in results if r.mix == mix), key=lambda s: s.offered_rps)
        if not steps:
            continue
        offered = [s.offered_rps for s in steps]
        top.plot(offered, [s.achieved_rps for s in steps], marker="o", color=color, label=f"{mix}: achieved")
        for pct, style in (("p50", ":"), ("p99", "-")):
            values = [max(getattr(s, pct), 0.01) for s in steps]
            bottom.plot(offered, values, marker="o", ls=style, color=color, label=f"{mix} {pct}")
        knee = knees.get(mix)
        if knee is not None and knee.last_good is not None:
            for ax in (top, bottom):
                ax.axvline(knee.last_good.offered_rps, color=color, ls="--", lw=0.8)
    top.set_ylabel("successful requests/s")
    top.set_title("ixp, open loop (oha): achieved rate and latency vs offered rate; knees dashed")
    bottom.axhline(TARGET["p99"].limit, color="tab:red", ls="--", lw=0.8, label="p99 target")
    bottom.set_yscale("log")
    bottom.set_ylabel("latency ms (from intended send)")
    bottom.set_xlabel("offered requests/s")
    top.legend(loc="upper left")
    bottom.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


# -- the run ---------------------------------------------------------------------------------------


def strategy_plan(args: argparse.Namespace, mix: str) -> list[tuple[str, float, float]]:
    """(name, offered RPS, seconds) of every step: the guide's three scenarios (storage-free: only
    `high`, its floor), then the stress ramp."""
    scenarios = STRATEGY_SCENARIOS if mix == STORAGE else STRATEGY_SCENARIOS[-1:]
    plan = [(name, float(rate), args.scenario_seconds) for name, rate in scenarios]
    rates = sorted(float(rate) for rate in args.stress_rates.split(",") if rate.strip())
    return plan + [("stress", rate, args.step_seconds) for rate in rates]


def strategy_intro(args: argparse.Namespace, out: Path, binary: Path) -> list[str]:
    scenarios = ", ".join(f"{name} {rate} RPS" for name, rate in STRATEGY_SCENARIOS)
    return [
        f"ixp load test: the guide's test strategy (open loop), storage {backend()}",
        f"  generator: oha {oha.OHA_VERSION} ({binary}), fixed request rate (-q), latency from the intended",
        "  send time (--latency-correction); two processes side by side: 70 % and 30 % of the rate",
        "  mix storage: POST /api/intents/process with the payload's userId (writes the session),",
        "    GET /api/users/{id}/session over the payload's users",
        f"  mix storage-free: the same messages without userId, GET session of {HOT_USERS} users (L1 hits)",
        f"  scenarios (storage): {scenarios}, {args.scenario_seconds:g} s each; storage-free from 1000 RPS;",
        "  the two mixes alternate at each rate (the same background load for both)",
        f"  stress: {args.stress_rates} RPS, {args.step_seconds:g} s each, until the error rate or p99",
        f"  crosses its target or < {SUSTAINED_SHARE:.0%} of the offered rate is answered in time",
        "  each step on a fresh ixp (clean /ixp/metrics), warmed through /api/intents/process/batch",
        f"  results: {out}",
    ]


def interleaved_plan(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    """(mix, step name, offered RPS, seconds) of both mixes, by rate, the two mixes alternating at
    each rate: both see about the same background load, which on a shared machine drifts over
    minutes (the ratio is only as good as that sameness)."""
    steps = [(mix, *step) for mix in (STORAGE, STORAGE_FREE) for step in strategy_plan(args, mix)]
    return sorted(steps, key=lambda step: (step[2], step[0] != STORAGE))


def run_mixes(
    binary: Path,
    workdir: Path,
    out: Path,
    report: Path,
    rows: Sequence[tuple[int, str]],
    args: argparse.Namespace,
) -> tuple[list[StepResult], str]:
    """Both mixes' plans within --max-seconds, each stopping after its first stress step past
    its knee; the results and why the run stopped early ("" when it did not)."""
    deadline = time.monotonic() + args.max_seconds
    mixes = {STORAGE: storage_mix(rows), STORAGE_FREE: storage_free_mix(rows)}
    emit(["", STEP_HEADER], report)
    results: list[StepResult] = []
    done: set[str] = set()
    for mix, name, rate, seconds in interleaved_plan(args):
        if mix in done:
            continue
        if time.monotonic() + seconds + 8 > deadline:
            return (
                results,
                f"time budget of {args.max_seconds:g} s reached before {mix} {name} {rate:.0f} RPS",
            )
        result = run_step(binary, workdir, out, mixes[mix], rows, name, rate, seconds)
        results.append(result)
        emit([step_line(result)], report)
        if name == "stress" and breach(result.step) is not None:
            done.add(mix)
    return results, ""


def run_strategy(args: argparse.Namespace) -> int:
    try:
        binary = oha.ensure_oha()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"--strategy needs oha {oha.OHA_VERSION}: {exc}", file=sys.stderr)
        return 2
    out = results_dir(args.out)
    report = out / "report.txt"
    emit([*strategy_intro(args, out, binary), "", STEP_LEGEND], report)
    workdir = Path(tempfile.mkdtemp(prefix="ixp-strategy-"))
    results: list[StepResult] = []
    note = ""
    try:
        with ixp_server(workdir) as url:
            payload_csv = seed_payload(url, workdir, args.payload_users, args.payload_rows)
        shutil.copy(payload_csv, out / "payload.csv")
        results, note = run_mixes(binary, workdir, out, report, payload.read_csv(payload_csv), args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return strategy_report(results, out, report, [note] if note else [])


def strategy_report(results: Sequence[StepResult], out: Path, report: Path, notes: Sequence[str]) -> int:
    # The knee is found over each mix's whole ramp (scenarios and stress steps), so a server that
    # passes 1,000 RPS and breaks at the first stress step has its knee at 1,000 RPS, not "none".
    ramps = {mix: [r.step for r in results if r.mix == mix] for mix in (STORAGE, STORAGE_FREE)}
    knees = {mix: find_knee(steps) for mix, steps in ramps.items()}
    lines = [""] + [f"stopped early: {note}" for note in notes]
    for mix, steps in ramps.items():
        lines += [
            f"{mix}: {line}" if i == 0 else line for i, line in enumerate(knee_lines(knees[mix], steps))
        ]
    lines += ratio_lines(knees[STORAGE], knees[STORAGE_FREE])
    passed = True
    for result in results:
        if result.mix != STORAGE or result.step.name == "stress":
            continue
        verdicts = [v for v in evaluate(result.figures[AGGREGATED], None) if not v.target.at_least]
        passed &= all_pass(verdicts)
        source = f"{result.step.name} load, {result.step.offered_rps:.0f} RPS offered, oha"
        lines += ["", *verdict_lines(verdicts, source)]
    rps_verdicts = [
        v for v in evaluate(Measurement(1, 0, 0, 0, 0, 0), knee_rps(knees[STORAGE])) if v.target.at_least
    ]
    lines += [
        "",
        *verdict_lines(rps_verdicts, "throughput: the highest offered rate that passed, storage mix"),
    ]
    lines.append(
        f"files: {out}/strategy.csv, strategy.png, oha-*.json (oha's own summaries), report.txt, summary.json"
    )
    emit(lines, report)
    if results:
        write_strategy_csv(results, out / "strategy.csv")
        plot_strategy(results, knees, out / "strategy.png")
    write_summary(
        out / "summary.json", "strategy", generator=f"oha {oha.OHA_VERSION}", steps=ramps, knees=knees,
        ratio=knee_ratio(knees[STORAGE], knees[STORAGE_FREE]), verdicts=rps_verdicts,
    )  # fmt: skip
    return 0 if passed and all_pass(rps_verdicts) else 1
