"""A bounded real run of the pinned oha against a fresh ixp (127.0.0.1 only): the check that the
strategy's generator works here, and the recorder of the unit tests' fixture.

    python -m bench.oha_check                         ~10 s: 2 s of the storage mix at 50 RPS
    python -m bench.oha_check --record tests/bench/fixtures/oha

It builds oha first when it is missing (bench/oha.py: `cargo install`, a few minutes). Exit 0 when
oha's answers, merged, match what ixp itself counted (`/ixp/metrics`) and nothing failed.
`--record DIR` also writes each process's JSON summary (`<route>.json`) and its per-request SQLite
table as SQL (`<route>.sql`), from which tests/bench/test_oha.py rebuilds the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import oha, payload
from bench.load_model import AGGREGATED, PROCESS_ROUTE, SESSION_ROUTE
from bench.load_run import get_json, ixp_server, seed_payload, server_figures, warm_up
from bench.load_strategy import codes_delta, mix_jobs, run_jobs, storage_mix

FIXTURE_NAMES = {PROCESS_ROUTE: "process", SESSION_ROUTE: "session"}


def dump_table(db: Path) -> str:
    """oha's table as SQL statements (`sqlite3 .dump`), to rebuild it without a binary fixture."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return "\n".join(conn.iterdump()) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.oha_check", description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--record", type=Path, default=None, help="write the fixture here")
    args = parser.parse_args(argv)
    binary = oha.ensure_oha()
    workdir = Path(tempfile.mkdtemp(prefix="ixp-oha-check-"))
    try:
        with ixp_server(workdir) as url:
            rows = payload.read_csv(seed_payload(url, workdir, users=5, rows=60))
            warm_up(url, rows)
            before = get_json(url + "/ixp/metrics")
            key = os.environ["IXP_LOAD_API_KEY"]
            jobs = mix_jobs(storage_mix(rows), url, workdir, args.rate, args.seconds, key)
            results, cpu = run_jobs(binary, jobs, workdir, workdir / "oha-check")
            after = get_json(url + "/ixp/metrics")
        figures = oha.merge(results, codes_delta(before, after))
        server = server_figures(after)
        if args.record is not None:
            args.record.mkdir(parents=True, exist_ok=True)
            for index, job in enumerate(jobs):
                name = FIXTURE_NAMES[job.route]
                shutil.copy(workdir / f"oha-check-{index}.json", args.record / f"{name}.json")
                (args.record / f"{name}.sql").write_text(dump_table(workdir / f"oha-{index}.db"))
            print(f"fixture written to {args.record}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    problems = []
    for route in (PROCESS_ROUTE, SESSION_ROUTE):
        answered = sum(len(r.answers) for r in results if r.route == route)
        counted = server[route].requests if route in server else 0
        if answered != counted:
            problems.append(f"{route}: oha has {answered} answers, ixp counted {counted}")
    total = figures[AGGREGATED]
    if total.failures:
        statuses = oha.statuses_by_route(results)
        problems.append(f"{total.failures} of {total.requests} requests failed: {statuses}")
    print(
        f"oha {oha.OHA_VERSION}: {total.requests} requests at {args.rate:g} RPS for {args.seconds:g} s, "
        f"{total.failures} failed, p50/p99 {total.p50:.2f}/{total.p99:.2f} ms, oha CPU {cpu:.2f} s"
    )
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print(json.dumps({"ok": not problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
