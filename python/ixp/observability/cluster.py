"""Metrics of the whole deployment: every worker publishes its counters, any worker reports them.

A worker's series are flat integer counters (`Counters`): one per non-empty latency bucket of each
route (`h|<route>|<ns>`: the bucket's highest equivalent value, so `record_n` rebuilds the HDR
histogram exactly), one per status class of each route (`s|<route>|<class>`) and one per error
code (`e|<code>`). Counters only grow, so adding them up merges histograms exactly.

Every `IXP_METRICS_FLUSH_SECONDS` (1 s) a background task publishes, off the request path:
- always to this host's shared directory (`HostShare`): each worker replaces its own snapshot file
  atomically; the host's series are the sum of the files. A dead worker's file is folded into
  `retired.snap`, so a restart never makes the host's counters go backwards.
- with `IXP_REDIS_URL`, also to Redis (`RedisShare`): the increments since the last publication are
  added (HINCRBY) to the cluster's hash and to this host's, by a script that applies each
  publication exactly once (a sequence number per worker), so a retry after a lost reply does not
  count twice and the cluster's counters never go backwards. Workers register in a sorted set by
  last publication; those silent for `5 ×` the period (10 s at least) age out of the live count.

A report therefore lags by at most one period for the other workers; the answering worker adds its
own unpublished increments, so its share is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from ixp.base.shared import alive, sweep_dead_servers
from ixp.observability.metrics import Metrics, MetricsView, RouteView, new_histogram

log = logging.getLogger("ixp.metrics")
Counters = dict[str, int]
STARTED = "t|started"  # wall-clock second a scope's counters began (for its throughput)


class Snapshot(msgspec.Struct, frozen=True):
    """A worker's file in the host's directory."""

    pid: int
    started: float
    counters: Counters


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Snapshot).decode


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


class HostShare:
    """Snapshot files of this host's workers in one directory (atomic replace, no lock to read)."""

    def __init__(self, directory: Path, stale_after: float) -> None:
        self.directory = directory / "metrics"
        self.started = time.time()
        self.pid = os.getpid()
        # pid + start time: a pid reused by a later worker must not replace a dead worker's file.
        self.path = self.directory / f"{self.pid}-{time.time_ns()}.snap"
        self.stale_after = stale_after

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def publish(self, counters: Counters) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(_encode(Snapshot(self.pid, self.started, counters)))
        os.replace(temporary, self.path)

    def read(self) -> tuple[Counters, float, int]:
        """The host's counters, when they began, and the number of live workers."""
        total: Counters = {}
        started = self.started
        workers = 0
        with self._locked(fcntl.LOCK_SH):  # no file is retired while it is being added up
            for path in self.directory.glob("*-*.snap"):
                snapshot = self._load(path)
                if snapshot is not None:
                    workers += 1
                    started = min(started, snapshot.started)
                    add_into(total, snapshot.counters)
            retired = self._load(self.directory / "retired.snap")
        if retired is not None:
            started = min(started, retired.started)
            add_into(total, retired.counters)
        return total, started, workers

    def retire_dead(self) -> int:
        """Fold the files of workers that died into `retired.snap`; returns how many."""
        now = time.time()
        dead: list[tuple[Path, Snapshot]] = []
        for path in self.directory.glob("*-*.snap"):
            snapshot = self._load(path)
            if snapshot is None or path == self.path or alive(snapshot.pid):
                continue
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > self.stale_after:
                    dead.append((path, snapshot))
        if not dead:
            return 0
        with self._locked(fcntl.LOCK_EX):
            retired_path = self.directory / "retired.snap"
            retired = self._load(retired_path) or Snapshot(0, self.started, {})
            counters = dict(retired.counters)
            started = retired.started
            folded = []
            for path, snapshot in dead:
                if path.exists():  # another worker may have folded it first
                    add_into(counters, snapshot.counters)
                    started = min(started, snapshot.started)
                    folded.append(path)
            temporary = retired_path.with_suffix(".tmp")
            temporary.write_bytes(_encode(Snapshot(0, started, counters)))
            os.replace(temporary, retired_path)
            for path in folded:
                path.unlink(missing_ok=True)
        return len(folded)

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        with open(self.directory / "retire.lock", "a+b") as lock:
            fcntl.flock(lock, mode)
            yield

    @staticmethod
    def _load(path: Path) -> Snapshot | None:
        try:
            return _decode(path.read_bytes())
        except (OSError, msgspec.DecodeError):  # gone (retired meanwhile)
            return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.with_suffix(".tmp").unlink(missing_ok=True)


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
        self.published_host: Counters = {}
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
            counters = worker_counters(self.metrics, self._parts)
            if counters != self.published_host and self.host is not None:
                self.host.publish(counters)
                self.published_host = counters
            if self.redis is not None:
                await self._publish_redis(self.redis, counters)
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
            mine = worker_counters(self.metrics, self._parts)
            if self.redis is not None:
                try:
                    counters, started, workers = await self.redis.read(scope)
                    add_into(counters, increments(mine, self.published_redis))
                    labels = (("host", self.node),) if scope == "host" else ()
                    return view_of(counters, max(time.time() - started, 0.0), scope, labels, workers)
                except Exception as exc:
                    self._warn("Redis", exc)
            if self.host is None:
                view = self.metrics.view()
                view.scope, view.workers = "host", 1
            else:
                counters, started, workers = await asyncio.to_thread(self.host.read)
                add_into(counters, increments(mine, self.published_host))
                view = view_of(counters, max(time.time() - started, 0.0), "host", (), workers)
        if scope == "host":
            view.labels = (("host", self.node),)
        return view

    def stats(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "flushSeconds": self.period,
            "redis": self.redis is not None,
            "publications": self.publications,
            "failures": self.failures,
        }
