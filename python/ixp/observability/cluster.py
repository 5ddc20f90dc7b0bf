"""Metrics of the whole deployment: every worker publishes its series, any worker reports them.

Every `IXP_METRICS_FLUSH_SECONDS` (1 s) a background task publishes, off the request path:
- always to this host's shared directory (`ixp.observability.host_share`): the host's series are
  the merge of its workers' snapshot files;
- with `IXP_REDIS_URL`, also to Redis (`RedisShare`) as flat integer counters (`Counters`): one per
  non-empty latency bucket of each route (`h|<route>|<ns>`, the bucket's highest equivalent value,
  so `record_n` rebuilds the HDR histogram exactly), one per status class of each route
  (`s|<route>|<class>`) and one per error code (`e|<code>`). The increments since the last
  publication are added (HINCRBY) to the cluster's hash and to this host's by a script that applies
  each publication once (a sequence number per worker): a retry after a lost reply does not count
  twice, and the counters never go backwards. Workers register in a sorted set at each publication;
  those silent for 5 periods (10 s at least) age out of the live count.

A report lags by at most one period for the other workers; the answering worker's own share is
live, so it is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from ixp.base.shared import sweep_dead_servers
from ixp.observability.host_share import HostShare, RouteCache, Snapshot, merge_into, snapshot_of
from ixp.observability.metrics import Metrics, MetricsView, RouteView, new_histogram

log = logging.getLogger("ixp.metrics")
Counters = dict[str, int]
STARTED = "t|started"  # wall-clock second a scope's counters began (for its throughput)


def worker_counters(metrics: Metrics, cache: dict[str, tuple[int, Counters]] | None = None) -> Counters:
    """This worker's series as flat counters. With `cache`, a route's counters are rebuilt only
    when its count changed (a publication then costs little when few routes are busy)."""
    counters: Counters = {}
    for route, stats in metrics.routes.items():
        count = stats.count
        if not count:
            continue
        cached = cache.get(route) if cache is not None else None
        if cached is not None and cached[0] == count:
            counters.update(cached[1])
            continue
        part = {f"h|{route}|{value}": n for value, n in stats.histogram.buckets()}
        for status_class, n in enumerate(stats.by_class):
            if n:
                part[f"s|{route}|{status_class}"] = n
        if cache is not None:
            cache[route] = (count, part)
        counters.update(part)
    for code, n in metrics.errors_by_code.items():
        counters[f"e|{code}"] = n
    return counters


def increments(current: Counters, published: Counters) -> Counters:
    """What `current` has that `published` had not (counters only grow)."""
    return {key: n - published.get(key, 0) for key, n in current.items() if n != published.get(key, 0)}


def add_into(total: Counters, more: Counters) -> Counters:
    for key, n in more.items():
        total[key] = total.get(key, 0) + n
    return total


def view_of(counters: Counters, uptime: float, scope: str, labels: tuple[tuple[str, str], ...],
            workers: int | None) -> MetricsView:  # fmt: skip
    """Rebuild the histograms and counts of `counters` for a report."""
    routes: dict[str, RouteView] = {}
    errors: dict[str, int] = {}

    def route_view(name: str) -> RouteView:
        found = routes.get(name)
        if found is None:
            found = routes[name] = RouteView(new_histogram(), [0] * 6)
        return found

    for key, n in counters.items():
        kind, _, rest = key.partition("|")
        if kind == "h":
            name, _, value = rest.rpartition("|")
            route_view(name).histogram.record_n(int(value), n)
        elif kind == "s":
            name, _, status_class = rest.rpartition("|")
            route_view(name).by_class[int(status_class)] += n
        elif kind == "e":
            errors[rest] = errors.get(rest, 0) + n
    return MetricsView(routes, errors, uptime, scope, labels, workers)


def node_name() -> str:
    """This host's name for the metrics: the hostname, limited to the characters labels keep."""
    import socket

    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())
    return name[:64] or "localhost"


_PUBLISH = """
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
local seq = tonumber(ARGV[1])
if seq <= tonumber(redis.call('GET', KEYS[3]) or '0') then return 0 end
for i = 5, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('HSETNX', KEYS[1], 't|started', ARGV[3])
redis.call('HSETNX', KEYS[2], 't|started', ARGV[3])
redis.call('SET', KEYS[3], seq, 'EX', 86400)
return 1
"""


class RedisShare:
    """The cluster's and each host's counters in Redis hashes (see the module documentation)."""

    def __init__(
        self, redis: Any, node: str, worker: str, live_after: float, prefix: str = "ixp:metrics:"
    ) -> None:
        self.redis = redis
        self.node = node
        self.member = f"{node}/{worker}"
        self.live_after = live_after
        self.cluster_key = prefix + "cluster"
        self.host_key = f"{prefix}host:{node}"
        self.sequence_key = f"{prefix}seq:{self.member}"
        self.workers_key = prefix + "workers"
        self._publish = redis.register_script(_PUBLISH)

    async def publish(self, sequence: int, delta: Counters) -> None:
        """Adds `delta` unless publication `sequence` of this worker was applied already."""
        args: list[Any] = [sequence, 0, time.time(), self.member]
        for key, n in delta.items():
            args += [key, n]
        keys = [self.cluster_key, self.host_key, self.sequence_key, self.workers_key]
        await self._publish(keys=keys, args=args)

    async def read(self, scope: str) -> tuple[Counters, float, int]:
        key = self.cluster_key if scope == "cluster" else self.host_key
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.zremrangebyscore(self.workers_key, "-inf", now - max(10.0, self.live_after))
            pipe.zrangebyscore(self.workers_key, now - max(10.0, self.live_after), "+inf")
            raw, _, members = await pipe.execute()
        counters: Counters = {}
        started = now
        for field, value in raw.items():
            name = field.decode()
            if name == STARTED:
                started = float(value)
            else:
                counters[name] = int(value)
        if scope == "host":
            prefix = (self.node + "/").encode()
            members = [m for m in members if m.startswith(prefix)]
        return counters, started, len(members)


class ClusterMetrics:
    """Publishes this worker's counters periodically and answers `?scope=` reports."""

    def __init__(
        self,
        metrics: Metrics,
        shared_dir: Path | None,
        node: str,
        period: float,
        redis_url: str | None = None,
    ) -> None:
        self.metrics = metrics
        self.node = node
        self.period = period
        self.redis_url = redis_url
        # No directory: a process of its own (embedded, tests); its host is itself.
        self.host = HostShare(shared_dir, max(10.0, 5 * period)) if shared_dir is not None else None
        self.redis: RedisShare | None = None
        self.started = time.time()
        self.published_host: Snapshot | None = None
        self._routes: RouteCache = {}
        self.published_redis: Counters = {}
        self.sequence = 0
        # A publication whose outcome is unknown (error or lost reply): sent again, unchanged and
        # under the same sequence number, before anything newer.
        self.unconfirmed: tuple[int, Counters, Counters] | None = None
        self._parts: dict[str, tuple[int, Counters]] = {}
        self._lock = asyncio.Lock()  # a report and a publication never interleave
        self._task: asyncio.Task[None] | None = None
        self._close: Any = None
        self._last_warning = 0.0
        self.publications = 0
        self.failures = 0

    async def start(self) -> None:
        if self.host is not None:
            await asyncio.to_thread(sweep_dead_servers)
            self.host.open()
        if self.redis_url:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(self.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
            self.redis = RedisShare(client, self.node, f"{os.getpid()}-{time.time_ns()}", 5 * self.period)
            self._close = client.aclose
        self._task = asyncio.create_task(self._run(), name="ixp-metrics-publisher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.publish()  # the last requests of a stopping worker are not lost
        if self.host is not None:
            self.host.close()
        close, self._close = self._close, None
        if close is not None:
            await close()

    async def _run(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.publish()
                rounds += 1
                if rounds % 10 == 0 and self.host is not None:
                    await asyncio.to_thread(self.host.retire_dead)
            except OSError as exc:  # the shared directory: reported, retried next round
                self.failures += 1
                self._warn("shared directory", exc)

    async def publish(self) -> None:
        async with self._lock:
            if self.host is not None:
                snapshot = snapshot_of(self.metrics, self.started, self._routes)
                if snapshot != self.published_host:
                    self.host.publish(snapshot)
                    self.published_host = snapshot
            if self.redis is not None:
                await self._publish_redis(self.redis, worker_counters(self.metrics, self._parts))
            self.publications += 1

    async def _publish_redis(self, redis: RedisShare, counters: Counters) -> None:
        try:
            if self.unconfirmed is not None:
                sequence, delta, upto = self.unconfirmed
                await redis.publish(sequence, delta)
                self.published_redis, self.unconfirmed = upto, None
            delta = increments(counters, self.published_redis)
            if not delta:  # still alive: counted among the live workers
                await redis.publish(self.sequence, {})
                return
            self.sequence += 1
            self.unconfirmed = (self.sequence, delta, counters)
            await redis.publish(self.sequence, delta)
            self.published_redis, self.unconfirmed = counters, None
        except Exception as exc:  # Redis down: the same increments go out when it returns
            self.failures += 1
            self._warn("Redis", exc)

    def _warn(self, where: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 30:
            self._last_warning = now
            log.warning("cluster metrics: %s unavailable (%s); publishing again next round", where, exc)

    async def view(self, scope: str) -> MetricsView:
        """This worker's series (`worker`), this host's (`host`) or the cluster's (`cluster`; the
        host's without Redis, or while Redis is unreachable: the report then says `host`)."""
        if scope == "worker":
            view = self.metrics.view()
            view.labels = (("host", self.node), ("worker", str(os.getpid())))
            return view
        async with self._lock:
            if self.redis is not None:
                try:
                    counters, started, workers = await self.redis.read(scope)
                    add_into(
                        counters, increments(worker_counters(self.metrics, self._parts), self.published_redis)
                    )
                    labels = (("host", self.node),) if scope == "host" else ()
                    return view_of(counters, max(time.time() - started, 0.0), scope, labels, workers)
                except Exception as exc:
                    self._warn("Redis", exc)
            if self.host is None:
                view = self.metrics.view()
                view.scope, view.workers = "host", 1
            else:
                view = await self._host_view()
        if scope == "host":
            view.labels = (("host", self.node),)
        return view

    async def _host_view(self) -> MetricsView:
        assert self.host is not None
        snapshots, workers = await asyncio.to_thread(self.host.read)
        snapshots.append(snapshot_of(self.metrics, self.started, self._routes))  # live, exact
        routes: dict[str, RouteView] = {}
        errors: dict[str, int] = {}
        for snapshot in snapshots:
            merge_into(routes, errors, snapshot)
        started = min(snapshot.started for snapshot in snapshots)
        return MetricsView(routes, errors, max(time.time() - started, 0.0), "host", (), max(workers, 1))

    def stats(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "flushSeconds": self.period,
            "redis": self.redis is not None,
            "publications": self.publications,
            "failures": self.failures,
        }
