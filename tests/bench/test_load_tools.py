"""The load tests' pure parts (bench/load_model.py, bench/payload.py): no server, no load, no timing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import load_model, payload

ROOT = Path(__file__).resolve().parents[2]

# -- the guide's phases and their scaling ---------------------------------------------------------


def test_guide_phases_unscaled_are_the_guides() -> None:
    phases = load_model.guide_phases()
    assert [(p.name, p.duration_s, p.users) for p in phases] == [
        ("Warm up", 60.0, 10),
        ("Ramp up load", 120.0, 50),
        ("Sustained load", 300.0, 100),
    ]
    assert load_model.total_duration(phases) == 480.0


def test_scale_shortens_phases_and_scales_users() -> None:
    phases = load_model.guide_phases(0.1)
    assert [p.duration_s for p in phases] == pytest.approx([6.0, 12.0, 30.0])
    assert [p.users for p in phases] == [1, 5, 10]
    assert all(p.spawn_rate == p.users for p in phases)


def test_users_scale_is_independent_and_never_below_one_user() -> None:
    phases = load_model.guide_phases(0.05, users_scale=0.2)
    assert [p.duration_s for p in phases] == pytest.approx([3.0, 6.0, 15.0])
    assert [p.users for p in phases] == [2, 10, 20]
    assert [p.users for p in load_model.guide_phases(0.001)] == [1, 1, 1]


@pytest.mark.parametrize("scale, users_scale", [(0.0, None), (-1.0, None), (1.0, 0.0)])
def test_scales_must_be_positive(scale: float, users_scale: float | None) -> None:
    with pytest.raises(ValueError):
        load_model.guide_phases(scale, users_scale)


def test_shape_tick_walks_the_phases_then_stops() -> None:
    phases = load_model.guide_phases(0.1)
    assert load_model.shape_tick(phases, 0.0) == (1, 1.0)
    assert load_model.shape_tick(phases, 5.99) == (1, 1.0)
    assert load_model.shape_tick(phases, 6.0) == (5, 5.0)
    assert load_model.shape_tick(phases, 17.9) == (5, 5.0)
    assert load_model.shape_tick(phases, 18.0) == (10, 10.0)
    assert load_model.shape_tick(phases, 47.9) == (10, 10.0)
    assert load_model.shape_tick(phases, 48.0) is None
    assert load_model.phase_at(phases, 20.0) == phases[2]


def test_closed_loop_rate_follows_weights_and_think_times() -> None:
    # 70 % of users think 1 s, 30 % think 2 s: 0.85 requests/s per user at most.
    assert load_model.closed_loop_rps(100) == pytest.approx(85.0)


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
        assert response.json()["error"]["code"] == load_model.NO_INTENT_MATCHED


# -- response checks --------------------------------------------------------------------------------


def _error(code: str) -> str:
    return json.dumps({"error": {"code": code, "message": "x"}})


def test_process_outcomes() -> None:
    assert load_model.process_failure(200, '{"intent":"show_promo","parameters":{}}') is None
    assert load_model.process_failure(404, _error("NO_INTENT_MATCHED")) is None
    assert load_model.process_failure(404, _error("USER_NOT_FOUND")) == "404 USER_NOT_FOUND"
    assert load_model.process_failure(404, "not json") == "404 no error code"
    assert load_model.process_failure(503, _error("STORAGE_UNAVAILABLE")) == "503 STORAGE_UNAVAILABLE"
    assert load_model.process_failure(200, "{}") is not None


def test_session_outcomes() -> None:
    assert load_model.session_failure(200, '{"user":{},"session":{}}') is None
    assert load_model.session_failure(404, _error("USER_NOT_FOUND")) == "404 USER_NOT_FOUND"
    assert load_model.session_failure(404, _error("NO_INTENT_MATCHED")) is not None


# -- targets ----------------------------------------------------------------------------------------


def _statuses(verdicts: list[load_model.Verdict]) -> dict[str, str]:
    return {v.target.key: v.status for v in verdicts}


def test_all_targets_pass_within_limits() -> None:
    measured = load_model.Measurement(requests=10_000, failures=9, rps=0, p50=99.9, p95=499, p99=999)
    verdicts = load_model.evaluate(measured, rps=5000)
    assert set(_statuses(verdicts).values()) == {load_model.PASS}
    assert load_model.all_pass(verdicts)


def test_each_target_fails_at_its_limit() -> None:
    measured = load_model.Measurement(requests=1000, failures=1, rps=0, p50=100, p95=500, p99=1000)
    statuses = _statuses(load_model.evaluate(measured, rps=999.9))
    assert statuses == {key: load_model.FAIL for key in statuses}


def test_minimum_throughput_can_pass_while_the_target_fails() -> None:
    measured = load_model.Measurement(requests=1, failures=0, rps=0, p50=1, p95=1, p99=1)
    statuses = _statuses(load_model.evaluate(measured, rps=1000))
    assert (statuses["rps_min"], statuses["rps_target"]) == (load_model.PASS, load_model.FAIL)


def test_throughput_not_measured_is_not_applicable_and_does_not_fail() -> None:
    measured = load_model.Measurement(requests=100, failures=0, rps=80, p50=1, p95=2, p99=3)
    verdicts = load_model.evaluate(measured, rps=None, rps_note="closed loop")
    assert _statuses(verdicts)["rps_min"] == load_model.NA
    assert [v.note for v in verdicts if v.status == load_model.NA] == ["closed loop", "closed loop"]
    assert load_model.all_pass(verdicts)


def test_nothing_measured_is_a_full_error_rate() -> None:
    assert load_model.EMPTY.error_rate == 100.0
    assert load_model.Measurement(2000, 1, 0, 0, 0, 0).error_rate == pytest.approx(0.05)


# -- knee detection ---------------------------------------------------------------------------------


def _step(offered: float, p99: float, errors: float = 0.0) -> load_model.Step:
    return load_model.Step("stress", offered, offered, errors, 1.0, 2.0, p99)


def test_knee_is_the_last_step_before_p99_crosses() -> None:
    knee = load_model.find_knee([_step(1000, 5), _step(2000, 40), _step(3000, 999), _step(4000, 1000)])
    assert knee.last_good == _step(3000, 999)
    assert knee.first_bad == _step(4000, 1000)
    assert knee.reason is not None and knee.reason.startswith("p99")


def test_knee_on_error_rate_even_with_low_latency_and_unsorted_input() -> None:
    steps = [_step(3000, 5, errors=0.1), _step(1000, 5), _step(2000, 5, errors=0.099)]
    knee = load_model.find_knee(steps)
    assert knee.last_good is not None and knee.last_good.offered_rps == 2000
    assert knee.first_bad is not None and knee.first_bad.offered_rps == 3000
    assert knee.reason is not None and knee.reason.startswith("error rate")


def test_knee_ignores_recoveries_after_the_first_breach() -> None:
    knee = load_model.find_knee([_step(1000, 5), _step(2000, 2000), _step(3000, 5)])
    assert knee.last_good is not None and knee.last_good.offered_rps == 1000


def test_knee_on_saturation_when_the_offered_rate_is_not_answered_in_time() -> None:
    ok = load_model.Step("stress", 2000, 1950, 0.0, 1.0, 2.0, 50.0)  # 97.5 % answered in time
    saturated = load_model.Step("stress", 3000, 2500, 0.0, 1.0, 2.0, 400.0)
    knee = load_model.find_knee([ok, saturated])
    assert knee.last_good == ok and knee.first_bad == saturated
    assert knee.reason is not None and knee.reason.startswith("saturated")


def test_knee_not_reached_and_breach_from_the_start() -> None:
    never = load_model.find_knee([_step(1000, 5), _step(2000, 6)])
    assert never.last_good is not None and never.last_good.offered_rps == 2000
    assert never.first_bad is None and never.reason is None
    at_once = load_model.find_knee([_step(1000, 5000)])
    assert at_once.last_good is None and at_once.first_bad is not None
    assert load_model.find_knee([]) == load_model.Knee(None, None, None)


def test_the_knee_report_counts_the_sustained_scenarios_too() -> None:
    """The report that said 'throughput ≥ 1000 RPS: 0 RPS FAIL' although 1,000 RPS had just
    passed: the first stress step breached, and the knee looked at the stress steps only."""
    high = load_model.Step("high", 1000, 998, 0.0, 1.0, 2.0, 18.0)  # 1,000 offered, answered in time
    stress = load_model.Step("stress", 2000, 1863, 0.0, 1.0, 2.0, 788.0)
    knee = load_model.find_knee([load_model.Step("low", 100, 100, 0.0, 1.0, 2.0, 5.0), high, stress])
    assert knee.last_good == high and knee.first_bad == stress
    assert load_model.knee_rps(knee) == 1000  # the rps_min target (1000) passes
    lines = load_model.knee_lines(knee, [high, stress])
    assert lines[0].startswith("knee: highest rate that passed 1000 RPS offered (high): 998 achieved")
    assert "first breach at 2000 RPS offered (stress): 1863 RPS achieved there" in lines[1]
    assert load_model.knee_lines(load_model.find_knee([]), []) == ["knee: no step ran"]
