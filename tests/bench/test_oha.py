"""bench/oha.py: oha's command line, reading its results, merging two processes' results exactly.

The fixture (tests/bench/fixtures/oha/) is a real run: `python -m bench.oha_check --record
tests/bench/fixtures/oha` (the storage mix, 50 RPS for 2 s, against a fresh ixp): each process's
JSON summary and its `--db-url` table as SQL. No oha runs here.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from bench.load_model import AGGREGATED, PROCESS_ROUTE, SESSION_ROUTE, percentile

from bench import oha

FIXTURE = Path(__file__).parent / "fixtures" / "oha"


def _job(route: str = PROCESS_ROUTE, rate: float = 35.0, seconds: float = 2.0) -> oha.Job:
    return oha.Job(route, "POST", "http://127.0.0.1:1/x", rate, seconds, 2)


def _result(
    route: str,
    latencies: list[float],
    rate: float | None = None,
    seconds: float = 1.0,
    statuses: list[int] | None = None,
    ends: list[float] | None = None,
    errors: dict[str, int] | None = None,
) -> oha.Result:
    codes = statuses or [200] * len(latencies)
    ends = ends or [0.5] * len(latencies)
    answers = tuple(
        oha.Answer(code, 0.0, end, ms) for code, end, ms in zip(codes, ends, latencies, strict=True)
    )
    counts: dict[int, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    rate = len(latencies) / seconds if rate is None else rate
    return oha.Result(route, rate, seconds, answers, counts, errors or {})


# -- the command line --------------------------------------------------------------------------------


def test_command_of_a_post_with_bodies_from_a_file(tmp_path: Path) -> None:
    job = oha.Job(
        PROCESS_ROUTE, "POST", "http://127.0.0.1:8000/api/intents/process", 700.0, 12.0, 5,
        ("Authorization: Bearer k",), body_lines=tmp_path / "bodies.jsonl",
    )  # fmt: skip
    cmd = oha.command("/bin/oha", job, tmp_path / "p.json", tmp_path / "p.db")
    assert cmd[0] == "/bin/oha" and cmd[-1] == "http://127.0.0.1:8000/api/intents/process"
    pairs = dict(itertools.pairwise(cmd))  # option → the word after it
    assert pairs["-q"] == "700" and pairs["-z"] == "12000ms" and pairs["-c"] == "5"
    assert pairs["-m"] == "POST" and pairs["-H"] == "Authorization: Bearer k"
    assert pairs["-Z"] == str(tmp_path / "bodies.jsonl") and pairs["-T"] == "application/json"
    assert pairs["--output-format"] == "json" and pairs["-o"] == str(tmp_path / "p.json")
    assert pairs["--db-url"] == str(tmp_path / "p.db")
    assert {"--latency-correction", "-w", "--no-tui"} <= set(cmd)  # open loop, corrected, no TUI
    assert "--urls-from-file" not in cmd


def test_command_of_a_get_over_a_url_file(tmp_path: Path) -> None:
    job = oha.Job(SESSION_ROUTE, "GET", str(tmp_path / "urls.txt"), 0.3 * 1000, 0.5, 2, urls_file=True)
    cmd = oha.command("oha", job, tmp_path / "s.json", tmp_path / "s.db")
    assert cmd[-2:] == ["--urls-from-file", str(tmp_path / "urls.txt")]
    assert cmd[cmd.index("-q") + 1] == "300" and cmd[cmd.index("-z") + 1] == "500ms"
    assert "-Z" not in cmd and "-T" not in cmd


def test_schedule_and_connections() -> None:
    assert oha.scheduled(700, 10) == 7000
    assert oha.scheduled(1000 * 0.7, 12) == 8400  # 8399.999999999998 in floats: no slot lost
    assert oha.scheduled(0.5, 3) == 2  # ticks at 0 s and 2 s
    assert oha.connections_for(100) == 2
    assert oha.connections_for(3000) == 20
    assert oha.connections_for(1_000_000) == 64


def test_version_of_reads_the_version_line(tmp_path: Path) -> None:
    fake = tmp_path / "oha"
    fake.write_text("#!/bin/sh\necho 'oha 1.16.0'\n")
    fake.chmod(0o755)
    assert oha.version_of(fake) == "1.16.0"
    assert oha.version_of(tmp_path / "missing") is None


# -- merging -------------------------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 50) == 0.0


def test_merged_percentiles_are_those_of_every_request_not_an_average() -> None:
    process = _result(PROCESS_ROUTE, [float(ms) for ms in range(1, 71)])  # 1..70 ms
    session = _result(SESSION_ROUTE, [float(ms) for ms in range(100, 130)])  # 100..129 ms
    figures = oha.merge([process, session])
    union = sorted([*process.answers, *session.answers], key=lambda a: a.latency_ms)
    latencies = [a.latency_ms for a in union]
    total = figures[AGGREGATED]
    assert (total.p50, total.p95, total.p99) == (50.0, percentile(latencies, 95), percentile(latencies, 99))
    assert total.p50 != (figures[PROCESS_ROUTE].p50 + figures[SESSION_ROUTE].p50) / 2  # 35 and 114
    assert (total.requests, total.failures, total.rps) == (100, 0, 100.0)


def test_requests_without_answer_fail_and_unsent_ones_only_lower_the_achieved_rate() -> None:
    # 10 offered in 1 s: 7 answered, 1 connection error, 2 still queued at the deadline (unsent).
    late = _result(PROCESS_ROUTE, [1.0] * 7, rate=10.0, errors={"connection refused": 1})
    assert (late.no_answer, late.unsent) == (1, 2)
    total = oha.merge([late])[AGGREGATED]
    assert (total.requests, total.failures, total.rps) == (8, 1, 7.0)
    assert total.error_rate == pytest.approx(12.5)
    assert oha.unsent([late, late]) == 4


def test_achieved_rate_counts_successes_answered_within_the_step() -> None:
    answered = _result(SESSION_ROUTE, [1.0, 1.0, 1.0, 900.0], seconds=2.0, ends=[0.1, 1.9, 2.0, 2.4])
    assert oha.merge([answered])[AGGREGATED].rps == 1.5  # 3 in time over 2 s; the 4th after the deadline


def test_process_404s_are_misses_only_as_far_as_ixp_counted_no_intent_matched() -> None:
    process = _result(PROCESS_ROUTE, [1.0] * 4, statuses=[200, 404, 404, 503])
    session = _result(SESSION_ROUTE, [1.0] * 2, statuses=[200, 404])  # a session 404 is never a miss
    figures = oha.merge([process, session], {"NO_INTENT_MATCHED": 1, "USER_NOT_FOUND": 2})
    assert figures[PROCESS_ROUTE].failures == 2  # the 503 and the 404 ixp did not call a miss
    assert figures[SESSION_ROUTE].failures == 1
    assert figures[AGGREGATED].failures == 3
    assert oha.merge([process], {"NO_INTENT_MATCHED": 2})[AGGREGATED].failures == 1
    assert oha.unexplained_404s([process], {}) == 2


def test_statuses_by_route_add_up_with_no_answer_as_zero() -> None:
    a = _result(PROCESS_ROUTE, [1.0, 1.0], statuses=[200, 404], errors={"timeout": 1})
    b = _result(PROCESS_ROUTE, [1.0], rate=3.0, statuses=[200], errors={"timeout": 1})
    assert oha.statuses_by_route([a, b]) == {PROCESS_ROUTE: {0: 2, 200: 2, 404: 1}}


# -- the recorded real run -----------------------------------------------------------------------------


def _load(name: str, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    db = tmp_path / f"{name}.db"
    with sqlite3.connect(db) as conn:
        conn.executescript((FIXTURE / f"{name}.sql").read_text())
    conn.close()
    return json.loads((FIXTURE / f"{name}.json").read_text()), db


def test_recorded_run_reads_and_merges(tmp_path: Path) -> None:
    process_json, process_db = _load("process", tmp_path)
    session_json, session_db = _load("session", tmp_path)
    process = oha.read_result(_job(PROCESS_ROUTE, 35.0), process_json, process_db)
    session = oha.read_result(_job(SESSION_ROUTE, 15.0), session_json, session_db)
    # JSON and table agree request for request; every offered request was answered
    assert len(process.answers) == sum(process.statuses.values()) == oha.scheduled(35.0, 2.0)
    assert len(session.answers) == oha.scheduled(15.0, 2.0) and set(session.statuses) == {200}
    assert set(process.statuses) <= {200, 404}
    # latencies are oha's corrected durations: its own min/max bound them
    fastest, slowest = process_json["summary"]["fastest"] * 1000, process_json["summary"]["slowest"] * 1000
    assert min(a.latency_ms for a in process.answers) == pytest.approx(fastest)
    assert max(a.latency_ms for a in process.answers) == pytest.approx(slowest)
    assert all(a.intended_s <= a.end_s for a in process.answers)
    figures = oha.merge([process, session], {"NO_INTENT_MATCHED": process.statuses.get(404, 0)})
    total = figures[AGGREGATED]
    assert (total.requests, total.failures) == (100, 0)
    # 70 requests: the nearest-rank p99 is the slowest one, as in oha's own percentiles
    assert figures[PROCESS_ROUTE].p99 == pytest.approx(process_json["latencyPercentiles"]["p99"] * 1000)
    assert figures[PROCESS_ROUTE].p50 <= total.p99 and figures[SESSION_ROUTE].p50 <= total.p99


def test_a_table_that_disagrees_with_the_json_is_refused(tmp_path: Path) -> None:
    summary, db = _load("process", tmp_path)
    summary["statusCodeDistribution"]["200"] += 1
    with pytest.raises(RuntimeError, match="answers in its JSON"):
        oha.read_result(_job(), summary, db)
