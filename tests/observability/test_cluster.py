"""Cluster metrics: exact merges of workers' series, the host's directory, Redis publication exactly
once, and a real `granian --workers 2` whose every scrape reports all the traffic."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest
import redis

from ixp._core import LatencyHistogram
from ixp.observability.cluster import (
    ClusterMetrics,
    RedisShare,
    add_into,
    increments,
    view_of,
    worker_counters,
)
from ixp.observability.host_share import HostShare, RouteCache, merge_into, snapshot_of
from ixp.observability.metrics import Metrics, RouteView, new_histogram
from tests._servers import free_port, granian_command, running
from tests._support import service_settings

ROUTES = ("/a", "/b", "<unmatched>")


def busy_worker(seed: int, requests: int = 2_000) -> Metrics:
    rng = random.Random(seed)
    metrics = Metrics(())
    for _ in range(requests):
        status = rng.choice((200, 200, 200, 304, 400, 404, 503))
        code = {400: "INVALID_REQUEST", 404: "NOT_FOUND", 503: "STORAGE_UNAVAILABLE"}.get(status)
        metrics.record(rng.choice(ROUTES), status, int(rng.lognormvariate(14, 1.5)), code)
    return metrics


def test_added_counters_rebuild_the_merged_histograms_exactly() -> None:
    workers = [busy_worker(seed) for seed in range(3)]
    total: dict[str, int] = {}
    for worker in workers:
        add_into(total, worker_counters(worker))
    view = view_of(total, 10.0, "host", (), 3)
    for route in ROUTES:
        merged = new_histogram()
        for worker in workers:
            merged.merge(worker.routes[route].histogram)
        rebuilt = view.routes[route].histogram
        assert rebuilt.to_bytes() == merged.to_bytes()
        assert rebuilt.percentiles([50.0, 99.0, 99.9]) == merged.percentiles([50.0, 99.0, 99.9])
        assert view.routes[route].by_class == [
            sum(w.routes[route].by_class[c] for w in workers) for c in range(6)
        ]
    codes = {code for w in workers for code in w.errors_by_code}
    assert view.errors_by_code == {
        code: sum(w.errors_by_code.get(code, 0) for w in workers) for code in codes
    }


def test_cached_route_parts_follow_new_requests() -> None:
    metrics = busy_worker(1, 100)
    cache: dict[str, tuple[int, dict[str, int]]] = {}
    first = worker_counters(metrics, cache)
    assert worker_counters(metrics, cache) == first
    metrics.record("/a", 200, 5_000_000, None)
    after = worker_counters(metrics, cache)
    assert after == worker_counters(metrics)  # same as without the cache
    assert sum(increments(after, first).values()) == 2  # one bucket count and one status count


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def host_view(share: HostShare) -> tuple[dict[str, RouteView], dict[str, int], int]:
    snapshots, workers = share.read(exclude_own=False)
    routes: dict[str, RouteView] = {}
    errors: dict[str, int] = {}
    for snapshot in snapshots:
        merge_into(routes, errors, snapshot)
    return routes, errors, workers


def test_host_share_merges_workers_and_retires_the_dead_without_going_back(tmp_path: Path) -> None:
    first, second = busy_worker(1), busy_worker(2)
    mine = HostShare(tmp_path, stale_after=10.0)
    mine.open()
    mine.publish(snapshot_of(first, time.time(), {}))
    # A worker that died: its file keeps counting, then is folded into retired.snap.
    dead = msgspec.structs.replace(snapshot_of(second, time.time() - 60, {}), pid=dead_pid())
    dead_path = mine.directory / f"{dead.pid}-1.snap"
    dead_path.write_bytes(msgspec.msgpack.encode(dead))
    os.utime(dead_path, (time.time() - 60, time.time() - 60))
    routes, errors, workers = host_view(mine)
    assert workers == 2
    for route in ROUTES:
        both = new_histogram()
        both.merge(first.routes[route].histogram)
        both.merge(second.routes[route].histogram)
        assert routes[route].histogram.to_bytes() == both.to_bytes()
    assert mine.retire_dead() == 1 and not dead_path.exists()
    after, errors_after, workers = host_view(mine)
    assert workers == 1 and errors_after == errors
    assert {r: v.histogram.to_bytes() for r, v in after.items()} == {
        r: v.histogram.to_bytes() for r, v in routes.items()
    }
    # A restarted worker (a new file) adds to what the retired one left.
    again = HostShare(tmp_path, stale_after=10.0)
    again.publish(snapshot_of(busy_worker(3, 10), time.time(), {}))
    total, _, workers = host_view(mine)
    assert workers == 2 and sum(v.histogram.count for v in total.values()) == 2 * 2_000 + 10


def test_snapshot_cache_serializes_only_routes_with_new_requests() -> None:
    metrics = busy_worker(1, 100)
    cache: RouteCache = {}
    first = snapshot_of(metrics, 0.0, cache)
    metrics.record("/a", 200, 5_000_000, None)
    second = snapshot_of(metrics, 0.0, cache)
    assert second.routes["/b"] is first.routes["/b"] and second.routes["/a"] is not first.routes["/a"]
    assert LatencyHistogram.from_bytes(second.routes["/a"].histogram).count == metrics.routes["/a"].count


@pytest.fixture
def redis_db() -> redis.Redis:
    url = service_settings()["redis_url"]
    client = redis.Redis.from_url(url.rsplit("/", 1)[0] + "/7")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_redis_applies_each_publication_once(redis_db: redis.Redis) -> None:
    import redis.asyncio as aioredis

    url = redis_db.connection_pool.connection_kwargs

    async def scenario() -> None:
        client = aioredis.Redis(host=url["host"], port=url["port"], db=7)
        a = RedisShare(client, "hostA", "1", live_after=10.0)
        b = RedisShare(client, "hostB", "2", live_after=10.0)
        await a.publish(1, {"s|/a|2": 3})
        await a.publish(1, {"s|/a|2": 3})  # retried after a lost reply: not counted twice
        await a.publish(2, {"s|/a|2": 1, "e|NOT_FOUND": 1})
        await b.publish(1, {"s|/a|2": 10})
        cluster, _, workers = await a.read("cluster")
        assert cluster == {"s|/a|2": 14, "e|NOT_FOUND": 1} and workers == 2
        host, _, workers = await b.read("host")
        assert host == {"s|/a|2": 10} and workers == 1
        await client.aclose()

    asyncio.run(scenario())


def test_a_timed_out_publication_is_sent_again_and_counted_once(redis_db: redis.Redis) -> None:
    """Redis paused (CLIENT PAUSE): the publication times out and is kept; the next round sends it
    again under the same sequence number. Whether Redis ran the held command or dropped it with the
    closed connection, it counts once (the script skips a sequence number it has applied, as
    `test_redis_applies_each_publication_once` shows)."""
    url = service_settings()["redis_url"].rsplit("/", 1)[0] + "/7"

    async def scenario() -> None:
        metrics = Metrics(())
        cluster = ClusterMetrics(metrics, None, "solo", 60.0, url)
        await cluster.start()
        for _ in range(5):
            metrics.record("/a", 200, 1_000_000, None)
        await cluster.publish()
        redis_db.execute_command("CLIENT", "PAUSE", 2500, "ALL")
        for _ in range(7):
            metrics.record("/a", 200, 2_000_000, None)
        await cluster.publish()  # times out (1 s) while Redis holds the command
        assert cluster.failures == 1 and cluster.unconfirmed is not None
        view = await cluster.view("cluster")  # meanwhile: what this host knows
        assert view.scope == "host" and view.routes["/a"].histogram.count == 12
        redis_db.ping()  # answered once the pause is over
        await cluster.publish()  # the same increments, same sequence number: applied once
        assert cluster.unconfirmed is None and cluster.failures == 1
        assert int(redis_db.hget("ixp:metrics:cluster", "s|/a|2") or 0) == 12
        metrics.record("/a", 500, 1_000_000, "INTERNAL_ERROR")
        await cluster.stop()  # the last increments are published on the way out

    asyncio.run(scenario())
    assert int(redis_db.hget("ixp:metrics:cluster", "s|/a|2") or 0) == 12
    assert int(redis_db.hget("ixp:metrics:cluster", "s|/a|5") or 0) == 1


def test_granian_workers_each_report_the_whole_host() -> None:
    """The issue's reproduction: 2 workers, 200 requests, six scrapes: every one says 200."""
    port = free_port()
    env = {"IXP_METRICS_FLUSH_SECONDS": "0.1", "IXP_LOG_LEVEL": "warning"}
    with running(granian_command(port, workers=2), port, env=env):
        for _ in range(200):  # a new connection each: both workers get some
            httpx.get(f"http://127.0.0.1:{port}/ixp/intents", headers={"connection": "close"})
        time.sleep(0.5)  # > the publication period: the other worker's share is in
        seen = []
        for _ in range(6):
            body = httpx.get(f"http://127.0.0.1:{port}/ixp/metrics", headers={"connection": "close"}).json()
            seen.append(body["routes"]["/ixp/intents"]["count"])
            assert body["workers"] == 2
        # Each worker alone, by pid: until both have answered (new connections go to either).
        alone: dict[int, int] = {}
        for _ in range(100):
            body = httpx.get(
                f"http://127.0.0.1:{port}/ixp/metrics?scope=worker", headers={"connection": "close"}
            ).json()
            alone[body["process"]["pid"]] = body["routes"].get("/ixp/intents", {"count": 0})["count"]
            if len(alone) == 2:
                break
        prometheus = httpx.get(f"http://127.0.0.1:{port}/ixp/metrics?scope=host&format=prometheus").text
    assert seen == [200] * 6
    assert len(alone) == 2 and sum(alone.values()) == 200  # two shares, merged exactly
    assert (
        'ixp_requests_total{host="' in prometheus and 'route="/ixp/intents",status="2xx"} 200' in prometheus
    )
