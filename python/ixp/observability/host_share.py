"""The metrics of one host's workers: each worker's snapshot file in the server's shared directory.

Every publication period a worker replaces its own file (`<pid>-<ns>.snap`: a pid reused by a later
worker never replaces a dead worker's file) atomically, with each route's HDR histogram in its
compact serialized form (`LatencyHistogram.to_bytes`, rebuilt only for routes that had requests
since) and its responses by status class. The host's series are the merge of every file: exact,
and never going backwards — a dead worker's file keeps counting until a live worker folds it into
`retired.snap` (under an exclusive lock; readers take a shared one, so no file is counted twice or
missed while it is folded).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from ixp._core import LatencyHistogram
from ixp.base.shared import alive
from ixp.observability.metrics import Metrics, RouteView, new_histogram


class RouteSnapshot(msgspec.Struct, array_like=True, frozen=True):
    histogram: bytes  # LatencyHistogram.to_bytes
    by_class: list[int]


class Snapshot(msgspec.Struct, frozen=True):
    pid: int
    started: float  # wall clock: when this worker's counts began
    routes: dict[str, RouteSnapshot]
    errors: dict[str, int]


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Snapshot).decode
RouteCache = dict[str, tuple[int, RouteSnapshot]]


def snapshot_of(metrics: Metrics, started: float, cache: RouteCache) -> Snapshot:
    """This worker's series; a route's entry is serialized again only when its count changed."""
    routes: dict[str, RouteSnapshot] = {}
    for name, stats in metrics.routes.items():
        count = stats.count
        if not count:
            continue
        cached = cache.get(name)
        if cached is None or cached[0] != count:
            cached = cache[name] = (count, RouteSnapshot(stats.histogram.to_bytes(), stats.by_class))
        routes[name] = cached[1]
    return Snapshot(os.getpid(), started, routes, dict(metrics.errors_by_code))


def merge_into(routes: dict[str, RouteView], errors: dict[str, int], snapshot: Snapshot) -> None:
    for name, route in snapshot.routes.items():
        view = routes.get(name)
        if view is None:
            view = routes[name] = RouteView(new_histogram(), [0] * 6)
        view.histogram.merge(LatencyHistogram.from_bytes(route.histogram))
        view.by_class = [a + b for a, b in zip(view.by_class, route.by_class, strict=True)]
    for code, n in snapshot.errors.items():
        errors[code] = errors.get(code, 0) + n


def merged(snapshots: Iterable[Snapshot], started: float) -> Snapshot:
    routes: dict[str, RouteView] = {}
    errors: dict[str, int] = {}
    for snapshot in snapshots:
        merge_into(routes, errors, snapshot)
        started = min(started, snapshot.started)
    parts = {name: RouteSnapshot(v.histogram.to_bytes(), v.by_class) for name, v in routes.items()}
    return Snapshot(0, started, parts, errors)


class HostShare:
    """Snapshot files of this host's workers in one directory."""

    def __init__(self, directory: Path, stale_after: float) -> None:
        self.directory = directory / "metrics"
        self.started = time.time()
        self.path = self.directory / f"{os.getpid()}-{time.time_ns()}.snap"
        self.stale_after = stale_after
        self.retired = self.directory / "retired.snap"

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def publish(self, snapshot: Snapshot) -> None:
        _write(self.path, snapshot)

    def read(self, exclude_own: bool = True) -> tuple[list[Snapshot], int]:
        """Every worker's snapshot (this one's file left out with `exclude_own`: the caller has
        its live series) and the retired one; and how many worker files there are."""
        snapshots: list[Snapshot] = []
        workers = 0
        with self._locked(fcntl.LOCK_SH):  # no file is folded while it is being read
            for path in self.directory.glob("*-*.snap"):
                snapshot = _load(path)
                if snapshot is None:
                    continue
                workers += 1
                if not (exclude_own and path == self.path):
                    snapshots.append(snapshot)
            retired = _load(self.retired)
        if retired is not None:
            snapshots.append(retired)
        return snapshots, workers

    def retire_dead(self) -> int:
        """Fold the files of workers that died into `retired.snap`; returns how many."""
        now = time.time()
        dead: list[Path] = []
        for path in self.directory.glob("*-*.snap"):
            snapshot = _load(path)
            if snapshot is None or path == self.path or alive(snapshot.pid):
                continue
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > self.stale_after:
                    dead.append(path)
        if not dead:
            return 0
        with self._locked(fcntl.LOCK_EX):
            found = [(path, _load(path)) for path in dead]  # another worker may have folded some
            folded = [(path, snapshot) for path, snapshot in found if snapshot is not None]
            if folded:
                previous = _load(self.retired)
                everything = [s for _, s in folded] + ([previous] if previous is not None else [])
                _write(self.retired, merged(everything, self.started))
                for path, _ in folded:
                    path.unlink(missing_ok=True)
        return len(folded)

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        with open(self.directory / "retire.lock", "a+b") as lock:
            fcntl.flock(lock, mode)
            yield

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.with_suffix(".tmp").unlink(missing_ok=True)


def _write(path: Path, snapshot: Snapshot) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(_encode(snapshot))
    os.replace(temporary, path)


def _load(path: Path) -> Snapshot | None:
    try:
        return _decode(path.read_bytes())
    except (OSError, msgspec.DecodeError, ValueError):  # gone (folded meanwhile)
        return None
