"""The load tests' pure parts (bench/load.py, bench/payload.py): no server, no load, no timing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import load, payload

ROOT = Path(__file__).resolve().parents[2]

# -- the guide's phases and their scaling ---------------------------------------------------------


def test_guide_phases_unscaled_are_the_guides() -> None:
    phases = load.guide_phases()
    assert [(p.name, p.duration_s, p.users) for p in phases] == [
        ("Warm up", 60.0, 10),
        ("Ramp up load", 120.0, 50),
        ("Sustained load", 300.0, 100),
    ]
    assert load.total_duration(phases) == 480.0


def test_scale_shortens_phases_and_scales_users() -> None:
    phases = load.guide_phases(0.1)
    assert [p.duration_s for p in phases] == pytest.approx([6.0, 12.0, 30.0])
    assert [p.users for p in phases] == [1, 5, 10]
    assert all(p.spawn_rate == p.users for p in phases)


def test_users_scale_is_independent_and_never_below_one_user() -> None:
    phases = load.guide_phases(0.05, users_scale=0.2)
    assert [p.duration_s for p in phases] == pytest.approx([3.0, 6.0, 15.0])
    assert [p.users for p in phases] == [2, 10, 20]
    assert [p.users for p in load.guide_phases(0.001)] == [1, 1, 1]


@pytest.mark.parametrize("scale, users_scale", [(0.0, None), (-1.0, None), (1.0, 0.0)])
def test_scales_must_be_positive(scale: float, users_scale: float | None) -> None:
    with pytest.raises(ValueError):
        load.guide_phases(scale, users_scale)


def test_shape_tick_walks_the_phases_then_stops() -> None:
    phases = load.guide_phases(0.1)
    assert load.shape_tick(phases, 0.0) == (1, 1.0)
    assert load.shape_tick(phases, 5.99) == (1, 1.0)
    assert load.shape_tick(phases, 6.0) == (5, 5.0)
    assert load.shape_tick(phases, 17.9) == (5, 5.0)
    assert load.shape_tick(phases, 18.0) == (10, 10.0)
    assert load.shape_tick(phases, 47.9) == (10, 10.0)
    assert load.shape_tick(phases, 48.0) is None
    assert load.phase_at(phases, 20.0) == phases[2]


def test_closed_loop_rate_follows_weights_and_think_times() -> None:
    # 70 % of users think 1 s, 30 % think 2 s: 0.85 requests/s per user at most.
    assert load.closed_loop_rps(100) == pytest.approx(85.0)


# -- payload ----------------------------------------------------------------------------------------


def test_rows_have_the_exact_miss_share_and_only_known_users() -> None:
    rows = payload.build_rows([3, 7, 11], 1000, miss_ratio=0.1, seed=1)
    assert len(rows) == 1000
    assert sum(not r.expect_match for r in rows) == 100
    assert {r.user_id for r in rows} == {3, 7, 11}
    assert len({r.message for r in rows if r.expect_match}) > 100  # varied, not one cached message


def test_rows_are_reproducible_per_seed() -> None:
    assert payload.build_rows([1], 50, seed=4) == payload.build_rows([1], 50, seed=4)
    assert payload.build_rows([1], 50, seed=4) != payload.build_rows([1], 50, seed=5)


@pytest.mark.parametrize("ids, count, ratio", [([], 10, 0.1), ([1], 0, 0.1), ([1], 10, 1.5)])
def test_build_rows_rejects_bad_arguments(ids: list[int], count: int, ratio: float) -> None:
    with pytest.raises(ValueError):
        payload.build_rows(ids, count, ratio)


def test_generate_creates_users_through_the_api_and_writes_their_ids(tmp_path: Path) -> None:
    created: list[dict[str, Any]] = []

    def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert path == "/api/users"
        created.append(body)
        return 201, {"id": 100 + len(created), **body}

    out = tmp_path / "payload.csv"
    rows = payload.generate(post, out, users=5, rows=200)
    assert len({user["email"] for user in created}) == 5
    pairs = payload.read_csv(out)
    assert [(r.user_id, r.message) for r in rows] == pairs
    assert {user_id for user_id, _ in pairs} == set(range(101, 106))
    assert out.read_text().splitlines()[0] == "userId,message"


def test_create_users_fails_on_an_unexpected_answer() -> None:
    with pytest.raises(RuntimeError, match="409"):
        payload.create_users(lambda path, body: (409, {"error": {"code": "CONFLICT"}}), 1)


async def test_hits_match_a_bundled_intent_and_misses_match_none(client: httpx.AsyncClient) -> None:
    """Against the real app in process: every hit renders (200), every miss is NO_INTENT_MATCHED."""
    rows = payload.build_rows([1], 400, seed=2)
    for message in {r.message for r in rows if r.expect_match}:
        response = await client.post("/api/intents/process", json={"message": message})
        assert response.status_code == 200, (message, response.text)
    for message in {r.message for r in rows if not r.expect_match}:
        response = await client.post("/api/intents/process", json={"message": message})
        assert response.status_code == 404, message
        assert response.json()["error"]["code"] == load.NO_INTENT_MATCHED


# -- response checks --------------------------------------------------------------------------------


def _error(code: str) -> str:
    return json.dumps({"error": {"code": code, "message": "x"}})


def test_process_outcomes() -> None:
    assert load.process_failure(200, '{"intent":"show_promo","parameters":{}}') is None
    assert load.process_failure(404, _error("NO_INTENT_MATCHED")) is None
    assert load.process_failure(404, _error("USER_NOT_FOUND")) == "404 USER_NOT_FOUND"
    assert load.process_failure(404, "not json") == "404 no error code"
    assert load.process_failure(503, _error("STORAGE_UNAVAILABLE")) == "503 STORAGE_UNAVAILABLE"
    assert load.process_failure(200, "{}") is not None


def test_session_outcomes() -> None:
    assert load.session_failure(200, '{"user":{},"session":{}}') is None
    assert load.session_failure(404, _error("USER_NOT_FOUND")) == "404 USER_NOT_FOUND"
    assert load.session_failure(404, _error("NO_INTENT_MATCHED")) is not None


# -- targets ----------------------------------------------------------------------------------------


def _statuses(verdicts: list[load.Verdict]) -> dict[str, str]:
    return {v.target.key: v.status for v in verdicts}


def test_all_targets_pass_within_limits() -> None:
    measured = load.Measurement(requests=10_000, failures=9, rps=0, p50=99.9, p95=499, p99=999)
    verdicts = load.evaluate(measured, rps=5000)
    assert set(_statuses(verdicts).values()) == {load.PASS}
    assert load.all_pass(verdicts)


def test_each_target_fails_at_its_limit() -> None:
    measured = load.Measurement(requests=1000, failures=1, rps=0, p50=100, p95=500, p99=1000)
    statuses = _statuses(load.evaluate(measured, rps=999.9))
    assert statuses == {key: load.FAIL for key in statuses}


def test_minimum_throughput_can_pass_while_the_target_fails() -> None:
    measured = load.Measurement(requests=1, failures=0, rps=0, p50=1, p95=1, p99=1)
    statuses = _statuses(load.evaluate(measured, rps=1000))
    assert (statuses["rps_min"], statuses["rps_target"]) == (load.PASS, load.FAIL)


def test_throughput_not_measured_is_not_applicable_and_does_not_fail() -> None:
    measured = load.Measurement(requests=100, failures=0, rps=80, p50=1, p95=2, p99=3)
    verdicts = load.evaluate(measured, rps=None, rps_note="closed loop")
    assert _statuses(verdicts)["rps_min"] == load.NA
    assert [v.note for v in verdicts if v.status == load.NA] == ["closed loop", "closed loop"]
    assert load.all_pass(verdicts)


def test_nothing_measured_is_a_full_error_rate() -> None:
    assert load.EMPTY.error_rate == 100.0
    assert load.Measurement(2000, 1, 0, 0, 0, 0).error_rate == pytest.approx(0.05)


# -- knee detection ---------------------------------------------------------------------------------


def _step(offered: float, p99: float, errors: float = 0.0) -> load.Step:
    return load.Step("stress", offered, offered, errors, 1.0, 2.0, p99)


def test_knee_is_the_last_step_before_p99_crosses() -> None:
    knee = load.find_knee([_step(1000, 5), _step(2000, 40), _step(3000, 999), _step(4000, 1000)])
    assert knee.last_good == _step(3000, 999)
    assert knee.first_bad == _step(4000, 1000)
    assert knee.reason is not None and knee.reason.startswith("p99")


def test_knee_on_error_rate_even_with_low_latency_and_unsorted_input() -> None:
    steps = [_step(3000, 5, errors=0.1), _step(1000, 5), _step(2000, 5, errors=0.099)]
    knee = load.find_knee(steps)
    assert knee.last_good is not None and knee.last_good.offered_rps == 2000
    assert knee.first_bad is not None and knee.first_bad.offered_rps == 3000
    assert knee.reason is not None and knee.reason.startswith("error rate")


def test_knee_ignores_recoveries_after_the_first_breach() -> None:
    knee = load.find_knee([_step(1000, 5), _step(2000, 2000), _step(3000, 5)])
    assert knee.last_good is not None and knee.last_good.offered_rps == 1000


def test_knee_on_saturation_when_the_offered_rate_is_not_answered_in_time() -> None:
    ok = load.Step("stress", 2000, 1950, 0.0, 1.0, 2.0, 50.0)  # 97.5 % answered in time
    saturated = load.Step("stress", 3000, 2500, 0.0, 1.0, 2.0, 400.0)
    knee = load.find_knee([ok, saturated])
    assert knee.last_good == ok and knee.first_bad == saturated
    assert knee.reason is not None and knee.reason.startswith("saturated")


def test_knee_not_reached_and_breach_from_the_start() -> None:
    never = load.find_knee([_step(1000, 5), _step(2000, 6)])
    assert never.last_good is not None and never.last_good.offered_rps == 2000
    assert never.first_bad is None and never.reason is None
    at_once = load.find_knee([_step(1000, 5000)])
    assert at_once.last_good is None and at_once.first_bad is not None
    assert load.find_knee([]) == load.Knee(None, None, None)


def test_the_knee_report_counts_the_sustained_scenarios_too() -> None:
    """The report that said 'throughput ≥ 1000 RPS: 0 RPS FAIL' although 1,000 RPS had just
    passed: the first stress step breached, and the knee looked at the stress steps only."""
    high = load.Step("high", 1000, 998, 0.0, 1.0, 2.0, 18.0)  # 1,000 offered, answered in time
    stress = load.Step("stress", 2000, 1863, 0.0, 1.0, 2.0, 788.0)
    knee = load.find_knee([load.Step("low", 100, 100, 0.0, 1.0, 2.0, 5.0), high, stress])
    assert knee.last_good == high and knee.first_bad == stress
    assert load.knee_rps(knee) == 1000  # the rps_min target (1000) passes
    lines = load.knee_lines(knee, [high, stress])
    assert lines[0].startswith("knee: highest rate that passed 1000 RPS offered (high): 998 achieved")
    assert "first breach at 2000 RPS offered (stress): 1863 RPS achieved there" in lines[1]
    assert load.knee_lines(load.find_knee([]), []) == ["knee: no step ran"]


# -- the open-loop records --------------------------------------------------------------------------


def test_schedule_counts_every_slot_of_every_connection() -> None:
    assert load.scheduled_requests(1000, 10, 7) == 10_000
    assert load.scheduled_requests(100, 3, 2) == 300
    assert load.scheduled_requests(5000, 10, 34) == 50_000  # no extra slot from float rounding
    assert load.connections_for(100) == 2
    assert load.connections_for(1_000_000) == 100


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert load.percentile(values, 50) == 50.0
    assert load.percentile(values, 99) == 99.0
    assert load.percentile(values, 100) == 100.0
    assert load.percentile([], 50) == 0.0


def _record(
    route: str, status: int, latency: float, slot: float = 0.0, no_match: bool = False
) -> load.Record:
    return load.Record(route, status, no_match, slot, latency)


def test_records_summary_counts_misses_as_success_and_unanswered_as_failures() -> None:
    records = [
        _record(load.PROCESS_ROUTE, 200, 1.0),
        _record(load.PROCESS_ROUTE, 404, 2.0, no_match=True),
        _record(load.PROCESS_ROUTE, 404, 3.0),  # USER_NOT_FOUND
        _record(load.SESSION_ROUTE, 404, 4.0, no_match=True),  # a session 404 is never a miss
        _record(load.SESSION_ROUTE, 200, 5.0, slot=1500.0),  # answered after the 1 s step
    ]
    summary = load.summarize_records(records, scheduled=7, duration_s=1.0)
    assert (summary[load.PROCESS_ROUTE].requests, summary[load.PROCESS_ROUTE].failures) == (3, 1)
    assert (summary[load.SESSION_ROUTE].requests, summary[load.SESSION_ROUTE].failures) == (2, 1)
    total = summary[load.AGGREGATED]
    assert (total.requests, total.failures) == (7, 4)  # 2 scheduled requests never answered
    assert total.rps == 2.0  # successes within the step only
    assert total.p50 == 3.0


def test_wrk_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "wrk.csv"
    path.write_text(
        "# claimed=3 connect=0 read=1 write=0 timeout=0\n"
        "kind,status,nomatch,slot_ms,latency_us\n"
        "1,200,0,0.000,850\n1,404,1,5.000,1200\n2,200,0,10.000,400\n"
    )
    counters, records = load.read_wrk_records(path)
    assert counters == {"claimed": 3, "connect": 0, "read": 1, "write": 0, "timeout": 0}
    assert records[1] == load.Record(load.PROCESS_ROUTE, 404, True, 5.0, 1.2)
    assert records[2].route == load.SESSION_ROUTE and records[2].ok


def test_mix_has_the_guides_weights_and_valid_requests() -> None:
    rows = [(1, "deals"), (2, 'say "hi", please')]
    mixed = load.mix_requests(rows, 1000)
    kinds = [kind for kind, _ in mixed]
    assert kinds.count("P") == 700 and kinds.count("S") == 300
    bodies = [json.loads(text) for kind, text in mixed if kind == "P"]
    assert {(b["userId"], b["message"]) for b in bodies} <= set(rows)
    assert {text for kind, text in mixed if kind == "S"} <= {"/api/users/1/session", "/api/users/2/session"}
    assert all("\n" not in text and "\t" not in text for _, text in mixed)  # one request a line
