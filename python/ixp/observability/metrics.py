"""Request metrics: one Rust `RouteStats` per route, exposed as JSON and Prometheus text.

Recording is one Rust call per request (`RouteStats.record`: the latency histogram and the status
counts). Percentiles come from the HDR histogram (not the SDK's last-1000-samples sort), so they
cover every request since start (docs/protocol.md §8.2).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from ixp._core import LatencyHistogram, RouteStats
from ixp.base.clock import utc_now_iso

Section = Callable[[], dict[str, Any]]
Series = Callable[[], list[tuple[str, str, str, float]]]
UNMATCHED = "<unmatched>"  # every unknown path shares one series, so scanners cannot grow memory
_NS_PER_MS = 1_000_000
_encoder = msgspec.json.Encoder()

# Prometheus bucket bounds, in seconds.
BUCKETS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


# 1 µs to 60 s at 2 significant figures (1 % precision): ample for latency, ~30 KB per route.
HISTOGRAM_RANGE = (1_000, 60_000_000_000, 2)


def new_histogram() -> LatencyHistogram:
    return LatencyHistogram(*HISTOGRAM_RANGE)


def new_route_stats() -> RouteStats:
    """One route's series; the app records each response with `stats.record(status, elapsed_ns)`."""
    return RouteStats(*HISTOGRAM_RANGE)


class Metrics:
    """Per-route latency and status counters for one worker process."""

    def __init__(
        self,
        routes: Iterable[str],
        sections: Mapping[str, Section] | None = None,
        series: Iterable[Series] = (),
    ) -> None:
        self.started = time.monotonic()
        self.routes: dict[str, RouteStats] = {name: new_route_stats() for name in routes}
        self.unmatched = self.stats_for(UNMATCHED)
        self.errors_by_code: dict[str, int] = {}
        # Named sections the features contribute to the JSON document (match cache, storage, …).
        self.sections: dict[str, Section] = dict(sections or {})
        # Extra Prometheus samples: each callable returns (name, help, type, value) tuples.
        self.series = list(series)

    def stats_for(self, route: str) -> RouteStats:
        stats = self.routes.get(route)
        if stats is None:
            stats = self.routes[route] = new_route_stats()
        return stats

    def record(self, route: str, status: int, elapsed_ns: int, error_code: str | None) -> None:
        self.stats_for(route).record(status, elapsed_ns)
        if error_code is not None:
            self.count_error(error_code)

    def count_error(self, code: str) -> None:
        self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def view(self) -> MetricsView:
        """This worker's series, live."""
        routes = {name: RouteView(s.histogram, s.by_class) for name, s in self.routes.items() if s.count}
        return MetricsView(routes, dict(self.errors_by_code), self.uptime())

    def to_json(self, registry_counts: tuple[int, int], view: MetricsView | None = None) -> bytes:
        view = view if view is not None else self.view()
        merged, errors, by_class = view.overall()
        overall = _summary(merged, errors, view.uptime)
        body: dict[str, Any] = {
            # The SDK's fields; `byIntent` is keyed by route, as the SDK's was by path.
            "requests": {
                "total": merged.count,
                "byIntent": {name: r.histogram.count for name, r in view.routes.items()},
                "byStatus": {f"{c}xx": n for c, n in enumerate(by_class) if n},
            },
            "performance": {
                "averageResponseTime": overall["mean"],
                "p95ResponseTime": overall["p95"],
                "p99ResponseTime": overall["p99"],
            },
            "errors": {"total": errors, "byType": dict(view.errors_by_code)},
            "uptime": int(view.uptime),
            "timestamp": utc_now_iso(),
            "unit": "ms",
            "scope": view.scope,
            "overall": overall,
            "routes": {name: _summary(r.histogram, r.errors, view.uptime) for name, r in view.routes.items()},
            "registry": {"intents": registry_counts[0], "components": registry_counts[1]},
            "process": process_stats(),
        }
        if view.workers is not None:
            body["workers"] = view.workers
        for name, section in self.sections.items():
            body[name] = section()
        return _encoder.encode(body)

    def to_prometheus(self, registry_counts: tuple[int, int], view: MetricsView | None = None) -> bytes:
        view = view if view is not None else self.view()
        # scope=host and scope=worker label every request series with where it was counted.
        where = "".join(f'{key}="{_label(value)}",' for key, value in view.labels)
        lines = [
            "# HELP ixp_request_duration_seconds Request latency by route.",
            "# TYPE ixp_request_duration_seconds histogram",
        ]
        for name, route in view.routes.items():
            histogram = route.histogram
            count = histogram.count
            label = f'{where}route="{_label(name)}"'
            for bound in BUCKETS_S:
                below = histogram.count_at_or_below(int(bound * 1e9))
                lines.append(f'ixp_request_duration_seconds_bucket{{{label},le="{bound}"}} {below}')
            lines.append(f'ixp_request_duration_seconds_bucket{{{label},le="+Inf"}} {count}')
            lines.append(f"ixp_request_duration_seconds_sum{{{label}}} {histogram.mean * count / 1e9:.9f}")
            lines.append(f"ixp_request_duration_seconds_count{{{label}}} {count}")
        lines += [
            "# HELP ixp_requests_total Responses by route and status class.",
            "# TYPE ixp_requests_total counter",
        ]
        for name, route in view.routes.items():
            for status_class, n in enumerate(route.by_class):
                if n:
                    lines.append(
                        f'ixp_requests_total{{{where}route="{_label(name)}",status="{status_class}xx"}} {n}'
                    )
        lines += [
            "# HELP ixp_errors_total Error responses by protocol error code.",
            "# TYPE ixp_errors_total counter",
        ]
        for code, n in sorted(view.errors_by_code.items()):
            lines.append(f'ixp_errors_total{{{where}code="{_label(code)}"}} {n}')
        process = process_stats()
        gauges = [
            ("ixp_intents_total", "Registered intents.", "gauge", registry_counts[0]),
            ("ixp_components_total", "Registered components.", "gauge", registry_counts[1]),
            ("ixp_uptime_seconds", "Seconds since this worker started.", "gauge", round(self.uptime(), 3)),
            ("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", process["rssBytes"]),
            (
                "process_cpu_seconds_total",
                "User and system CPU time in seconds.",
                "counter",
                process["cpuSeconds"],
            ),
        ]
        if view.workers is not None:
            gauges.append(("ixp_workers", "Live workers in this scope.", "gauge", view.workers))
        for extra in self.series:
            gauges.extend(extra())
        families: set[str] = set()
        for metric, help_text, kind, value in gauges:
            family = metric.partition("{")[0]  # a labelled series: HELP and TYPE once per family
            if family not in families:
                families.add(family)
                lines += [f"# HELP {family} {help_text}", f"# TYPE {family} {kind}"]
            if where:  # the scope's labels on the answering worker's gauges too
                name, brace, labels = metric.partition("{")
                metric = f"{name}{{{where}{labels}" if brace else f"{name}{{{where[:-1]}}}"
            lines.append(f"{metric} {value}")
        return ("\n".join(lines) + "\n").encode()


class RouteView:
    """One route's latency histogram and responses by status class (index = status // 100)."""

    __slots__ = ("by_class", "histogram")

    def __init__(self, histogram: LatencyHistogram, by_class: list[int]) -> None:
        self.histogram = histogram
        self.by_class = by_class

    @property
    def errors(self) -> int:
        return self.by_class[4] + self.by_class[5]


class MetricsView:
    """What a report shows: one worker's series, or the merge of a host's or the cluster's."""

    def __init__(
        self,
        routes: dict[str, RouteView],
        errors_by_code: dict[str, int],
        uptime: float,
        scope: str = "worker",
        labels: tuple[tuple[str, str], ...] = (),
        workers: int | None = None,
    ) -> None:
        self.routes = routes
        self.errors_by_code = errors_by_code
        self.uptime = uptime
        self.scope = scope
        self.labels = labels
        self.workers = workers

    def overall(self) -> tuple[LatencyHistogram, int, list[int]]:
        merged = new_histogram()
        by_class = [0] * 6
        for route in self.routes.values():
            merged.merge(route.histogram)
            by_class = [a + b for a, b in zip(by_class, route.by_class, strict=True)]
        return merged, by_class[4] + by_class[5], by_class


def _summary(histogram: LatencyHistogram, errors: int, uptime: float) -> dict[str, Any]:
    count = histogram.count
    p50, p95, p99 = histogram.percentiles([50.0, 95.0, 99.0])
    return {
        "count": count,
        "errors": errors,
        "errorRate": round(errors / count * 100, 3) if count else 0.0,
        "throughput": round(count / uptime, 3) if uptime > 0 else 0.0,
        "min": _ms(histogram.min),
        "mean": _ms(histogram.mean),
        "max": _ms(histogram.max),
        "p50": _ms(p50),
        "p95": _ms(p95),
        "p99": _ms(p99),
    }


def _ms(value_ns: float) -> float:
    return round(value_ns / _NS_PER_MS, 3)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_stats() -> dict[str, Any]:
    """Current RSS (from /proc when there is one, else the peak) and CPU seconds of this process."""
    rss = 0
    try:
        with open("/proc/self/statm", "rb") as statm:
            rss = int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"rssBytes": rss, "cpuSeconds": round(time.process_time(), 3), "pid": os.getpid()}
