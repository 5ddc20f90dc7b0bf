"""The memory monitor (the performance guide's "Memory Monitoring"): every `IXP_MEMORY_CHECK_SECONDS`
compare this worker's resident memory to its limit — `IXP_MEMORY_LIMIT_MB`, else the cgroup's
memory limit when there is one, else the machine's memory — and above `IXP_MEMORY_HIGH_RATIO` log a
warning with the guide's fields, run a full garbage collection, and count it."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from pathlib import Path
from typing import Any

from ixp.base.tasks import cancel_and_wait

log = logging.getLogger("ixp.memory")

_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)
_MB = 1024 * 1024


def machine_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def cgroup_limit(paths: tuple[Path, ...] = _CGROUP_LIMITS) -> int | None:
    """The cgroup's memory limit in bytes, or None when there is none (`max`, or a v1 "unlimited"
    value larger than the machine)."""
    for path in paths:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max" or not text.isdigit():
            return None
        value = int(text)
        return value if value < machine_memory() else None
    return None


def resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MemoryMonitor:
    def __init__(self, check_seconds: float, high_ratio: float, limit_mb: int | None = None) -> None:
        self.check_seconds = check_seconds
        self.high_ratio = high_ratio
        if limit_mb:
            self.limit, self.limit_source = limit_mb * _MB, "IXP_MEMORY_LIMIT_MB"
        else:
            cgroup = cgroup_limit()
            self.limit, self.limit_source = (
                (cgroup, "cgroup") if cgroup is not None else (machine_memory(), "machine")
            )
        self.rss = 0
        self.high_events = 0
        self.collected = 0  # objects freed by the collections the monitor ran
        self._task: asyncio.Task[None] | None = None

    def check(self) -> bool:
        """One check; True when memory was high (then it was logged and collected)."""
        self.rss = resident_bytes()
        ratio = self.rss / self.limit
        if ratio <= self.high_ratio:
            return False
        self.high_events += 1
        freed = gc.collect()
        self.collected += freed
        log.warning(
            "High memory usage detected",
            extra={
                "rssMB": round(self.rss / _MB),
                "limitMB": round(self.limit / _MB),
                "limitSource": self.limit_source,
                "usagePercent": round(ratio * 100),
                "gcFreedObjects": freed,
            },
        )
        return True

    async def start(self) -> None:
        self.rss = resident_bytes()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                self.check()
            except Exception:  # the monitor must never die silently
                log.exception("memory check failed")

    def stats(self) -> dict[str, Any]:
        return {
            "rssBytes": self.rss,
            "limitBytes": self.limit,
            "limitSource": self.limit_source,
            "highRatio": self.high_ratio,
            "highEvents": self.high_events,
            "gcFreedObjects": self.collected,
        }

    def prometheus(self) -> list[tuple[str, str, str, float]]:
        return [
            (
                "ixp_memory_limit_bytes",
                "The memory limit the monitor compares RSS with.",
                "gauge",
                self.limit,
            ),
            (
                "ixp_memory_high_total",
                "Checks that found RSS above the high ratio.",
                "counter",
                self.high_events,
            ),
            (
                "ixp_memory_gc_freed_objects_total",
                "Objects freed by the monitor's collections.",
                "counter",
                self.collected,
            ),
        ]
