"""Per-route latency histograms and counters, as JSON and Prometheus text (docs/protocol.md §8.2, §8.3)."""

from __future__ import annotations

import re

import httpx

from ixp.observability.metrics import Metrics, _summary
from tests._support import render_body


async def test_json_metrics_count_routes_statuses_and_errors(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/ixp/intents")
    await client.post("/ixp/render", json=render_body("show_faq", {}))
    await client.post("/ixp/render", json=render_body("unknown", {}))
    await client.get("/not/a/route")
    body = (await client.get("/ixp/metrics")).json()
    assert body["requests"]["total"] == 6  # the metrics request itself is recorded after it answers
    assert body["requests"]["byIntent"] == {"/ixp/intents": 3, "/ixp/render": 2, "<unmatched>": 1}
    assert body["requests"]["byStatus"] == {"2xx": 4, "4xx": 2}
    assert body["errors"] == {"total": 2, "byType": {"INTENT_NOT_SUPPORTED": 1, "NOT_FOUND": 1}}
    render = body["routes"]["/ixp/render"]
    assert render["count"] == 2
    assert render["errors"] == 1
    assert render["errorRate"] == 50.0
    assert 0 < render["min"] <= render["p50"] <= render["p99"] <= render["max"]
    assert body["overall"]["count"] == 6
    assert body["performance"]["p95ResponseTime"] == body["overall"]["p95"]
    assert body["unit"] == "ms"
    assert body["process"]["rssBytes"] > 0
    assert body["registry"] == {"intents": 8, "components": 8}


async def test_unknown_paths_share_one_series(client: httpx.AsyncClient) -> None:
    for i in range(20):
        await client.get(f"/scan/{i}")
    body = (await client.get("/ixp/metrics")).json()
    assert body["requests"]["byIntent"] == {"<unmatched>": 20}


async def test_prometheus_by_accept_header_and_query(client: httpx.AsyncClient) -> None:
    await client.get("/ixp/intents")
    await client.get("/ixp/intents")
    for response in (
        await client.get("/ixp/metrics", headers={"accept": "text/plain"}),
        await client.get("/ixp/metrics?format=prometheus"),
    ):
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.text
        assert "# TYPE ixp_request_duration_seconds histogram" in text
        assert 'ixp_request_duration_seconds_count{route="/ixp/intents"} 2' in text
        assert 'ixp_request_duration_seconds_bucket{route="/ixp/intents",le="+Inf"} 2' in text
        buckets = [
            int(v)
            for v in re.findall(
                r'ixp_request_duration_seconds_bucket\{route="/ixp/intents",le="[^"]+"\} (\d+)', text
            )
        ]
        assert buckets == sorted(buckets)  # cumulative
        assert re.search(r"^process_resident_memory_bytes \d+$", text, re.M)
        assert re.search(r"^process_cpu_seconds_total [\d.]+$", text, re.M)
        assert "ixp_intents_total 8" in text


async def test_bad_metrics_format_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/ixp/metrics?format=xml")
    assert response.status_code == 400


def test_record_and_percentiles_follow_the_samples() -> None:
    metrics = Metrics(["/a"])
    for ms in range(1, 101):
        metrics.record("/a", 200, ms * 1_000_000, None)
    metrics.record("/a", 503, 1_000_000, "STORAGE_UNAVAILABLE")
    body = _summary(metrics.routes["/a"].histogram, metrics.routes["/a"].errors, 10.0)
    assert body["count"] == 101
    assert abs(body["p50"] - 50) <= 1
    assert abs(body["p99"] - 99) <= 1.5
    assert body["max"] >= 99
    assert metrics.errors_by_code == {"STORAGE_UNAVAILABLE": 1}


def test_label_values_are_escaped() -> None:
    metrics = Metrics([])
    metrics.record('we"ird\\route', 200, 1000, None)
    assert 'route="we\\"ird\\\\route"' in metrics.to_prometheus((0, 0)).decode()


async def test_an_unknown_scope_is_a_400_naming_the_parameter(client: httpx.AsyncClient) -> None:
    for scope in ("planet", "", "HOST", "worker,host"):
        response = await client.get("/ixp/metrics", params={"scope": scope})
        if scope == "":  # an empty value is the default scope
            assert response.status_code == 200 and response.json()["scope"] in ("cluster", "host")
            continue
        assert response.status_code == 400, scope
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert (
            error["message"]
            == f"Query parameter 'scope' must be 'cluster', 'host' or 'worker', got '{scope}'"
        )
    assert (await client.get("/ixp/metrics", params={"scope": "worker"})).json()["scope"] == "worker"
