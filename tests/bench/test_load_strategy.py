"""bench/load_strategy.py's pure parts: the two mixes, their oha jobs, the knee over oha results,
the storage / storage-free ratio and the report. No server, no oha, no timing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from bench.load_model import AGGREGATED, PROCESS_ROUTE, SESSION_ROUTE, Knee, Measurement, Step, find_knee

from bench import load_strategy as strategy
from bench import oha

ROWS = [(1, "deals"), (2, 'say "hi", please'), (3, "top 12 electronics"), (1, "zzz"), (4, "a"), (5, "b")]


# -- the mixes -------------------------------------------------------------------------------------


def test_storage_mix_writes_every_users_session() -> None:
    mix = strategy.storage_mix(ROWS)
    assert [json.loads(body) for body in mix.bodies] == [{"message": m, "userId": u} for u, m in ROWS]
    assert mix.session_users == (1, 2, 3, 1, 4, 5) and mix.prime_users == ()


def test_storage_free_mix_has_no_user_and_reads_a_few_primed_sessions() -> None:
    mix = strategy.storage_free_mix(ROWS, hot=3)
    assert [json.loads(body) for body in mix.bodies] == [{"message": m} for _, m in ROWS]
    assert mix.session_users == mix.prime_users == (1, 2, 3)


def test_mix_jobs_split_the_rate_70_30_with_the_api_key(tmp_path: Path) -> None:
    mix = strategy.storage_mix(ROWS)
    process, session = strategy.mix_jobs(mix, "http://127.0.0.1:9", tmp_path, 1000.0, 12.0, "key")
    assert (process.route, process.method, process.rate) == (PROCESS_ROUTE, "POST", 700.0)
    assert (session.route, session.method, session.rate) == (SESSION_ROUTE, "GET", 300.0)
    assert process.target == "http://127.0.0.1:9/api/intents/process"
    assert process.headers == session.headers == ("Authorization: Bearer key",)
    assert process.body_lines is not None and process.body_lines.read_text().splitlines() == list(mix.bodies)
    assert session.urls_file and Path(session.target).read_text().splitlines()[:2] == [
        "http://127.0.0.1:9/api/users/1/session",
        "http://127.0.0.1:9/api/users/2/session",
    ]
    assert process.seconds == session.seconds == 12.0
    assert (process.connections, session.connections) == (oha.connections_for(700), oha.connections_for(300))


def test_server_snapshot_deltas() -> None:
    before = {
        "errors": {"byType": {"NO_INTENT_MATCHED": 3}},
        "storage": {"cache": {"l1": {"hits": 10, "misses": 5}}},
    }
    after = {
        "errors": {"byType": {"NO_INTENT_MATCHED": 10, "USER_NOT_FOUND": 1}},
        "storage": {"cache": {"l1": {"hits": 100, "misses": 15}}},
    }
    assert strategy.codes_delta(before, after) == {"NO_INTENT_MATCHED": 7, "USER_NOT_FOUND": 1}
    assert strategy.l1_hit_ratio(before, after) == pytest.approx(0.9)
    assert strategy.l1_hit_ratio(after, after) is None


def test_plans() -> None:
    args = argparse.Namespace(scenario_seconds=12.0, step_seconds=10.0, stress_rates="3000, 2000")
    assert strategy.strategy_plan(args, strategy.STORAGE) == [
        ("low", 100.0, 12.0), ("medium", 500.0, 12.0), ("high", 1000.0, 12.0),
        ("stress", 2000.0, 10.0), ("stress", 3000.0, 10.0),
    ]  # fmt: skip
    assert [name for name, _, _ in strategy.strategy_plan(args, strategy.STORAGE_FREE)] == [
        "high",
        "stress",
        "stress",
    ]


# -- the knee over oha results ------------------------------------------------------------------------


def _oha_step(rate: float, seconds: float, answered_share: float, latency_ms: float) -> Step:
    """A step as `run_step` makes it: two oha processes' results, merged."""
    results = []
    for route, share in ((PROCESS_ROUTE, 0.7), (SESSION_ROUTE, 0.3)):
        count = round(oha.scheduled(rate * share, seconds) * answered_share)
        answers = tuple(oha.Answer(200, 0.0, seconds / 2, latency_ms) for _ in range(count))
        results.append(oha.Result(route, rate * share, seconds, answers, {200: count}))
    total = oha.merge(results)[AGGREGATED]
    return Step("stress", rate, total.rps, total.error_rate, total.p50, total.p95, total.p99)


def test_knee_over_merged_oha_results() -> None:
    healthy = _oha_step(1000, 2.0, 1.0, 3.0)
    slow = _oha_step(2000, 2.0, 1.0, 1500.0)  # p99 past 1 s
    assert (healthy.achieved_rps, healthy.error_rate) == (1000.0, 0.0)
    knee = find_knee([slow, healthy])
    assert knee.last_good == healthy and knee.first_bad == slow
    assert knee.reason is not None and knee.reason.startswith("p99")
    # requests still queued in oha at the deadline are no errors, but not answered in time either:
    # 3 % of them is a hiccup, 10 % is saturation
    hiccup, saturated = _oha_step(3000, 2.0, 0.97, 3.0), _oha_step(4000, 2.0, 0.9, 3.0)
    assert (hiccup.error_rate, saturated.error_rate) == (0.0, 0.0)
    knee = find_knee([healthy, hiccup, saturated])
    assert knee.last_good == hiccup and knee.first_bad == saturated
    assert knee.reason is not None and knee.reason.startswith("saturated: 3600 of 4000")


# -- the ratio and the report ----------------------------------------------------------------------------


def _step(rate: float, achieved: float | None = None, p99: float = 5.0) -> Step:
    return Step("stress", rate, rate if achieved is None else achieved, 0.0, 1.0, 2.0, p99)


def test_ratio_of_the_knees_and_of_the_saturation_throughput() -> None:
    storage = Knee(_step(4000), _step(4500, 4100), "saturated")
    free = Knee(_step(8000), _step(10000, 8200), "saturated")
    assert strategy.knee_ratio(storage, free) == 0.5
    lines = strategy.ratio_lines(storage, free)
    assert lines[0] == "ratio storage / storage-free (knees): 4000 / 8000 RPS = 0.50"
    assert lines[1] == "  achieved at the first breach (saturation): 4100 / 8200 RPS = 0.50"


def test_ratio_is_a_bound_when_storage_free_never_breached_and_absent_without_knees() -> None:
    storage = Knee(_step(4000), _step(4500, 4100), "saturated")
    open_ended = Knee(_step(15000), None, None)
    assert strategy.ratio_lines(storage, open_ended)[0].startswith(
        "ratio storage / storage-free (knees): 4000 / 15000 RPS = ≤ 0.27"
    )
    assert strategy.knee_ratio(Knee(None, _step(100), "p99"), open_ended) is None
    assert "not measured" in strategy.ratio_lines(Knee(None, None, None), open_ended)[0]


def _step_result(mix: str, step: Step) -> strategy.StepResult:
    total = Measurement(round(step.offered_rps * 10), 0, step.achieved_rps, step.p50, step.p95, step.p99)
    return strategy.StepResult(mix, step, {AGGREGATED: total}, {}, 4, {PROCESS_ROUTE: {200: 1}}, {}, 1.0, 0.5)


def test_report_gives_both_knees_the_ratio_and_the_verdicts(tmp_path: Path) -> None:
    results = [
        _step_result(strategy.STORAGE, Step("high", 1000, 1000, 0.0, 1.0, 2.0, 3.0)),
        _step_result(strategy.STORAGE, _step(2000)),
        _step_result(strategy.STORAGE, _step(3000, 2500)),
        _step_result(strategy.STORAGE_FREE, _step(2000)),
        _step_result(strategy.STORAGE_FREE, _step(3000)),
        _step_result(strategy.STORAGE_FREE, _step(4000, 3000)),
    ]
    code = strategy.strategy_report(results, tmp_path, tmp_path / "report.txt", [])
    report = (tmp_path / "report.txt").read_text()
    assert "storage: knee: highest rate that passed 2000 RPS offered" in report
    assert "storage-free: knee: highest rate that passed 3000 RPS offered" in report
    assert "ratio storage / storage-free (knees): 2000 / 3000 RPS = 0.67" in report
    assert "targets (high load, 1000 RPS offered, oha):" in report
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ratio"] == pytest.approx(2 / 3)
    assert summary["knees"]["storage-free"]["last_good"]["offered_rps"] == 3000
    rows = (tmp_path / "strategy.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[1].startswith("storage,high,1000")
    assert code == 1  # 2000 RPS at the knee: the 5000 RPS target fails
    assert "oha µs/req" in strategy.STEP_HEADER and strategy.step_line(results[0]).split()[:3] == [
        "storage",
        "high",
        "1000",
    ]
