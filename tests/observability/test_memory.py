"""The memory monitor: limit detection, the high-memory warning, GC, metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from ixp.app import IXPApp
from ixp.observability.memory import MemoryMonitor, cgroup_limit, machine_memory, resident_bytes
from tests._support import asgi_client


def test_the_limit_comes_from_the_setting_then_the_cgroup_then_the_machine(tmp_path: Path) -> None:
    v2 = tmp_path / "memory.max"
    v2.write_text("536870912\n")
    assert cgroup_limit((v2,)) == 512 * 1024 * 1024
    v2.write_text("max\n")
    assert cgroup_limit((v2,)) is None
    v1 = tmp_path / "memory.limit_in_bytes"
    v1.write_text(str(machine_memory() * 4))  # cgroup v1's "unlimited" is a huge number
    assert cgroup_limit((tmp_path / "absent", v1)) is None
    assert MemoryMonitor(30, 0.8, limit_mb=256).limit == 256 * 1024 * 1024
    assert MemoryMonitor(30, 0.8).limit_source in ("cgroup", "machine")


def test_high_memory_is_logged_collected_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ixp.memory")
    monitor = MemoryMonitor(30, 0.8, limit_mb=1)  # any Python process is over 80 % of 1 MB
    assert monitor.check() is True
    record = caplog.records[-1]
    assert record.getMessage() == "High memory usage detected"
    assert record.limitMB == 1 and record.usagePercent > 80  # type: ignore[attr-defined]
    assert monitor.stats()["highEvents"] == 1
    relaxed = MemoryMonitor(30, 0.8, limit_mb=1 << 30)
    assert relaxed.check() is False and relaxed.stats()["highEvents"] == 0
    assert relaxed.stats()["rssBytes"] == pytest.approx(resident_bytes(), rel=0.5)


async def test_memory_is_in_both_metrics_formats(make_app: Callable[..., IXPApp]) -> None:
    app = make_app(memory_limit_mb=1)
    app.memory.check()
    async with asgi_client(app) as client:
        memory = (await client.get("/ixp/metrics")).json()["memory"]
        assert memory["limitSource"] == "IXP_MEMORY_LIMIT_MB" and memory["highEvents"] == 1
        text = (await client.get("/ixp/metrics?format=prometheus")).text
        assert "ixp_memory_limit_bytes 1048576" in text
        assert "ixp_memory_high_total 1" in text
