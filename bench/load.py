"""Load tests of ixp against the performance guide's targets (see bench/LOAD.md).

    python -m bench.load [--scale F]   the guide's scenario (locust, closed loop: users with think time)
    python -m bench.load --smoke       the same, ≤ 60 s; exit 1 if the error rate is ≥ 0.1 %
    python -m bench.load --strategy    open loop (oha, fixed request rate): low, medium and high load
                                       at 100/500/1000 RPS offered, then a stress ramp until the error
                                       rate or p99 crosses its target (the knee) — for the guide's mix
                                       and for the same mix without storage work; their knees' ratio

Each run starts its own ixp (Granian, RSGI, one worker) on a free loopback port with a throwaway
SQLite file — or on PostgreSQL + Redis when IXP_DATABASE_URL / IXP_REDIS_URL are set — creates the
payload's users through the API, drives the load, stops the server (also on Ctrl-C or failure) and
writes CSV, HTML (locust), a PNG plot and report.txt to bench/results/load-<timestamp>/.

The pure parts live in bench/load_model.py and bench/oha.py; tests/bench/test_load_tools.py covers them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import load_strategy, payload
from bench.load_model import (
    AGGREGATED,
    EMPTY,
    FAIL,
    PASS,
    STRESS_RATES,
    TARGET,
    Measurement,
    Phase,
    Verdict,
    all_pass,
    closed_loop_rps,
    evaluate,
    guide_phases,
    measurement_table,
    phase_at,
    total_duration,
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
    write_summary,
)

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SMOKE_SCALE, SMOKE_USERS_SCALE = 0.05, 0.2  # 3 s + 6 s + 15 s at 2 / 10 / 20 users
SMOKE_PAYLOAD_USERS, SMOKE_PAYLOAD_ROWS = 20, 300
PROGRESS_EVERY_S = 5.0


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


# -- command line ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="≤ 60 s guide scenario; exit 1 if errors ≥ 0.1 %%")
    mode.add_argument(
        "--strategy", action="store_true", help="open-loop ramp (oha), with and without storage"
    )
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
    parser.add_argument("--max-seconds", type=float, default=600.0, help="strategy: time budget")
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    return parser.parse_args(argv)  # fmt: skip


def _terminate(signum: int, frame: Any) -> None:
    print(f"signal {signum}: stopping locust/oha and the server", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)  # unwinds through the `finally`s that stop the server


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return load_strategy.run_strategy(args) if args.strategy else run_guide(args)
    except KeyboardInterrupt:
        print("interrupted: server stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
