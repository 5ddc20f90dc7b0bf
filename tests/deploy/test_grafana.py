"""deploy/grafana and deploy/prometheus against the real exporter: every series that a dashboard
query or an alert rule reads is one that ixp exports (a renamed series would otherwise leave an
empty panel and an alert that can never fire, silently)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import promql_parser
import yaml

from tests._support import ROOT, render_body

DASHBOARD = ROOT / "deploy" / "grafana" / "ixp-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Series that Prometheus itself attaches to every target, not ixp's.
PROMETHEUS_BUILTINS = frozenset({"up"})
# Grafana's interval variables, replaced by a duration so that the query parses as PromQL.
_GRAFANA_VARIABLES = re.compile(
    r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}"
)
_SAMPLE_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def exported_series(exposition: str) -> set[str]:
    """The series names of a Prometheus text exposition, each checked against its `# TYPE`: a
    histogram's samples are NAME_bucket, NAME_sum and NAME_count (the bare NAME is no series)."""
    kinds: dict[str, str] = {}
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            kinds[family] = kind
        elif line and not line.startswith("#"):
            match = _SAMPLE_NAME.match(line)
            assert match, f"not a sample line: {line!r}"
            names.add(match.group())
    for name in names:
        families = [name] + [
            name.removesuffix(suffix)
            for kind, suffixes in _SUFFIXES.items()
            for suffix in suffixes
            if name.endswith(suffix) and kinds.get(name.removesuffix(suffix)) == kind
        ]
        assert any(family in kinds for family in families), f"sample {name} has no # TYPE line"
        assert kinds.get(name) not in _SUFFIXES, f"{name} is a {kinds[name]}: only its suffixed samples exist"
    return names


def referenced_series(expression: str) -> set[str]:
    """The series names a PromQL expression (Grafana variables allowed) selects."""
    promql = _GRAFANA_VARIABLES.sub("5m", expression)
    assert "$" not in promql, f"unknown Grafana variable in {expression!r}"
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next((m.value for m in node.matchers.matchers if m.name == "__name__"), None)
            assert name, f"a selector without a series name in {expression!r}"
            names.add(name)

    promql_parser.walk(promql_parser.parse(promql), visit)
    return names


def missing_series(expressions: dict[str, str], exported: set[str]) -> dict[str, set[str]]:
    """For each expression (keyed by where it is), the series it reads that are not exported."""
    found = {
        where: referenced_series(expr) - exported - PROMETHEUS_BUILTINS for where, expr in expressions.items()
    }
    return {where: names for where, names in found.items() if names}


def dashboard_expressions(dashboard: dict[str, Any]) -> dict[str, str]:
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))  # rows nest their panels

    return {
        f"dashboard panel {panel['title']!r} {target['refId']}": target["expr"]
        for panel in panels(dashboard["panels"])
        for target in panel.get("targets", [])
    }


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {f"alert {rule['alert']}": rule["expr"] for group in rules["groups"] for rule in group["rules"]}


async def scrape(client: httpx.AsyncClient) -> str:
    """Traffic that makes every series appear (2xx, 400, 404, cache lookups), then a scrape as
    Prometheus does it (deploy/prometheus/prometheus.yml), from loopback."""
    await client.get("/ixp/intents")
    assert (await client.post("/ixp/render", json=render_body("show_faq", {}))).status_code == 200
    bad = await client.post("/ixp/render", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert (await client.get("/not/a/route")).status_code == 404
    for _ in range(2):
        await client.post("/api/intents/process", json={"message": "show me books"})
    response = await client.get("/ixp/metrics", params={"format": "prometheus", "scope": "host"})
    assert response.status_code == 200, response.text
    return response.text


async def test_every_series_the_dashboard_and_the_alerts_read_is_exported(client: httpx.AsyncClient) -> None:
    exported = exported_series(await scrape(client))
    assert {"ixp_errors_total", "ixp_request_duration_seconds_bucket"} <= exported
    expressions = {**dashboard_expressions(json.loads(DASHBOARD.read_text())), **alert_expressions()}
    assert len(expressions) > 10
    assert missing_series(expressions, exported) == {}


async def test_a_made_up_series_is_caught(client: httpx.AsyncClient) -> None:
    exported = exported_series(await scrape(client))
    dashboard = json.loads(DASHBOARD.read_text())
    panel = dashboard["panels"][0]
    panel["targets"][0]["expr"] = (
        "sum(rate(ixp_requests_totl[$__rate_interval])) / sum(rate(ixp_requests_total[5m]))"
    )
    missing = missing_series(dashboard_expressions(dashboard), exported)
    assert missing[f"dashboard panel {panel['title']!r} A"] == {"ixp_requests_totl"}
    # A histogram's bare family name is no series; its buckets are; Prometheus's `up` is allowed.
    assert missing_series({"q": "rate(ixp_request_duration_seconds[5m]) + up"}, exported) == {
        "q": {"ixp_request_duration_seconds"}
    }
    assert missing_series({"q": 'rate({__name__="ixp_request_duration_seconds_bucket"}[5m])'}, exported) == {}


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"], variable["name"]) == (
        "datasource",
        "prometheus",
        "datasource",
    )
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert (
            set(panel["gridPos"]) == {"x", "y", "w", "h"}
            and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        )
        assert panel["targets"] and all(target["expr"] for target in panel["targets"]), panel["title"]
