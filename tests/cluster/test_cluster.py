"""The shape users deploy: 3 nodes of `granian --workers 2`, one PostgreSQL, one Redis, HAProxy in
front health-checking each node's readiness probe (bench/cluster.py). Every load is bounded and
sent to 127.0.0.1; the figures of the fault tests go to .ci/tmp/artefacts/cluster/ as JSON."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import redis
from bench.cluster import CHECK_INTERVAL_MS, Cluster

from bench import harness
from ixp.observability.cluster import view_of
from ixp.observability.metrics import new_histogram
from tests._support import artefacts, render_body, service_settings

pytestmark = [pytest.mark.services, pytest.mark.granian, pytest.mark.cluster]
AUTH = harness.AUTH
METRICS_DB = 9  # a Redis database of its own: the cluster's counters start from zero


def redis_url() -> str:
    return str(service_settings()["redis_url"]).rsplit("/", 1)[0] + f"/{METRICS_DB}"


def report(name: str, figures: dict[str, Any]) -> None:
    (artefacts("cluster") / f"{name}.json").write_text(json.dumps(figures, indent=2))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    redis.Redis.from_url(redis_url()).flushdb()
    with Cluster(
        nodes=3, workers=2, database_url=service_settings()["database_url"], redis_url=redis_url()
    ) as c:
        yield c


@dataclass
class Load:
    """Closed-loop clients through HAProxy until stopped; counts every outcome."""

    url: str
    request: Callable[[httpx.Client], httpx.Response]
    clients: int = 4
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    response = self.request(client)
                    outcome = str(response.status_code)
                    if response.status_code >= 400:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.TransportError as exc:
                    outcome = type(exc).__name__
                    self.failures.append(outcome)
                with self._lock:
                    self.outcomes[outcome] += 1

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def ok(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith("2"))


def settle() -> None:
    time.sleep(0.6)  # > 2 publication periods (IXP_METRICS_FLUSH_SECONDS=0.2 in the harness)


def test_every_request_is_counted_once_and_percentiles_merge_exactly(cluster: Cluster) -> None:
    sent = 300
    with httpx.Client(base_url=cluster.url) as client:
        for _ in range(sent):
            assert client.get("/ixp/components").status_code == 200
    settle()
    with httpx.Client(base_url=cluster.url) as client:
        reports = [client.get("/ixp/metrics").json() for _ in range(6)]  # whichever worker answers
    assert [r["routes"]["/ixp/components"]["count"] for r in reports] == [sent] * 6
    assert {r["scope"] for r in reports} == {"cluster"} and {r["workers"] for r in reports} == {6}
    # Each node's share, asked of the node itself, adds up to the cluster's, bucket by bucket.
    per_node = [
        httpx.get(f"{cluster.node_url(i)}/ixp/metrics?scope=host").json()["routes"]["/ixp/components"][
            "count"
        ]
        for i in range(3)
    ]
    assert sum(per_node) == sent and all(per_node)
    cluster_buckets = buckets(httpx.get(f"{cluster.url}/ixp/metrics?format=prometheus").text)
    node_buckets = Counter[str]()
    for i in range(3):
        node_buckets.update(
            buckets(httpx.get(f"{cluster.node_url(i)}/ixp/metrics?scope=host&format=prometheus").text)
        )
    assert cluster_buckets == node_buckets and cluster_buckets['le="+Inf"'] == sent
    # The cluster's p99 is the p99 of the merge of the three nodes' histograms (from Redis).
    store = redis.Redis.from_url(redis_url())
    merged = new_histogram()
    for i in range(3):
        raw = {
            k.decode(): int(v)
            for k, v in store.hgetall(f"ixp:metrics:host:node{i + 1}").items()
            if k != b"t|started"
        }
        merged.merge(view_of(raw, 1.0, "host", (), None).routes["/ixp/components"].histogram)
    p99 = round(merged.percentile(99.0) / 1e6, 3)
    assert httpx.get(f"{cluster.url}/ixp/metrics").json()["routes"]["/ixp/components"]["p99"] == p99


def buckets(prometheus: str) -> Counter[str]:
    found = Counter[str]()
    for line in prometheus.splitlines():
        if line.startswith("ixp_request_duration_seconds_bucket{") and 'route="/ixp/components"' in line:
            labels, value = line.rsplit(" ", 1)
            found[labels[labels.index("le=") : -1]] += int(value)
    return found


def test_a_session_written_through_one_node_is_fresh_on_the_others(cluster: Cluster) -> None:
    nodes = [httpx.Client(base_url=cluster.node_url(i), headers=AUTH) for i in range(3)]
    email = f"cluster-{time.time_ns()}@example.com"
    user = nodes[0].post("/api/users", json={"email": email, "name": "Cluster"}).json()["id"]
    lags = []
    for round_ in range(1, 6):
        for node in nodes[1:]:  # cached by the other nodes first
            node.get(f"/api/users/{user}/session")
        writer = nodes[round_ % 3]
        response = writer.post("/api/intents/process", json={"message": "show me books", "userId": user})
        assert response.status_code == 200, response.text
        acknowledged = time.monotonic()
        for node in nodes:
            while True:
                session = node.get(f"/api/users/{user}/session").json()["session"]
                if session is not None and session["intentCount"] == round_:
                    break
                assert session is None or session["intentCount"] < round_
                assert time.monotonic() - acknowledged < 1.0, "a node served a stale session for over 1 s"
                time.sleep(0.005)
            lags.append(time.monotonic() - acknowledged)
    report("staleness", {"rounds": 5, "maxSecondsToFresh": round(max(lags), 4)})
    for node in nodes:
        node.close()


def test_rate_limit_holds_across_nodes() -> None:
    redis.Redis.from_url(redis_url().rsplit("/", 1)[0] + "/10").flushdb()
    options = {
        "database_url": service_settings()["database_url"],
        "redis_url": redis_url().rsplit("/", 1)[0] + "/10",
        "env": {"IXP_RATE_LIMIT": "45/60s"},
    }
    with Cluster(nodes=3, workers=1, **options) as small:  # type: ignore[arg-type]
        with httpx.Client(base_url=small.url) as client:
            answers = [client.get("/ixp/intents", headers={"connection": "close"}) for _ in range(60)]
        statuses = [r.status_code for r in answers]
    assert statuses == [200] * 45 + [429] * 15  # 20 per node sent, 45 allowed in all
    assert answers[-1].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"


def render(client: httpx.Client) -> httpx.Response:
    return client.post("/ixp/render", json=render_body("show_products", {"category": "books", "limit": 5}))


def test_kill_9_of_a_node_under_load(cluster: Cluster) -> None:
    with Load(cluster.url, render) as load:
        time.sleep(1.0)
        before = load.sent
        cluster.kill(0)
        killed = time.monotonic()
        routed_away = cluster.wait_routing({1, 2})
        time.sleep(1.0)
        errors_window = load.sent
    errors = load.sent - load.ok
    figures = {
        "requests": load.sent,
        "beforeKill": before,
        "errors": errors,
        "outcomes": dict(load.outcomes),
        "secondsUntilHaproxyRoutedAway": round(routed_away, 3),
        "checkIntervalMs": CHECK_INTERVAL_MS,
        "requestsDuringWindow": errors_window - before,
    }
    report("kill9", figures)
    cluster.start_node(0)  # back for the next test
    cluster.wait_routing({0, 1, 2})
    assert time.monotonic() - killed > routed_away
    # HAProxy notices within its fall count of checks (2 x 300 ms) plus one check's time.
    assert routed_away < 2 * CHECK_INTERVAL_MS / 1000 + 1.0
    # Errors are only the requests in flight on the killed node that HAProxy could not retry.
    assert errors <= 2 * load.clients, figures


def test_rolling_restart_loses_no_request_and_no_intent_log(cluster: Cluster) -> None:
    node = httpx.Client(base_url=cluster.url, headers=AUTH)
    user = node.post(
        "/api/users", json={"email": f"rolling-{time.time_ns()}@example.com", "name": "R"}
    ).json()["id"]
    node.close()

    def process(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/api/intents/process", json={"message": "show me books", "userId": user}, headers=AUTH
        )

    with Load(cluster.url, process, clients=3) as load, Load(cluster.url, render, clients=2) as renders:
        time.sleep(0.5)
        for index in range(3):
            cluster.terminate(index)  # drains (not ready, still serving), then stops
            cluster.start_node(index)
            cluster.wait_routing({0, 1, 2})
        time.sleep(0.5)
    # Intent logs are written behind (IXP_LOG_FLUSH_INTERVAL, 1 s): the running nodes' last ones follow.
    deadline = time.monotonic() + 10
    while (logged := asyncio.run(count_logs(user))) < load.ok and time.monotonic() < deadline:
        time.sleep(0.25)
    figures = {
        "processed": load.sent,
        "processedOk": load.ok,
        "renders": renders.sent,
        "rendersOk": renders.ok,
        "intentLogs": logged,
        "failures": (load.failures + renders.failures)[:20],
    }
    report("rolling_restart", figures)
    assert load.sent > 0 and load.ok == load.sent and renders.ok == renders.sent, figures
    assert logged == load.ok, figures


async def count_logs(user: int) -> int:
    connection = await asyncpg.connect(service_settings()["database_url"])
    try:
        return int(await connection.fetchval("SELECT COUNT(*) FROM intent_logs WHERE user_id = $1", user))
    finally:
        await connection.close()
