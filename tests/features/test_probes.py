"""Liveness and readiness probes, and the drain on SIGTERM (in process, and through real Granian)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ixp.app import IXPApp
from ixp.features.probes import Drain, Readiness
from tests._servers import free_port, granian_command, running
from tests._support import Services, asgi_client, service_settings


async def test_ready_only_between_startup_and_drain(make_app: Callable[..., IXPApp]) -> None:
    app = make_app()
    async with asgi_client(app) as client:
        starting = await client.get("/ixp/health/ready")
        assert starting.status_code == 503 and starting.json()["reason"] == "starting"
        assert (await client.get("/ixp/health/live")).status_code == 200
        await app.startup()
        try:
            ready = await client.get("/ixp/health/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            prometheus = (await client.get("/ixp/metrics?format=prometheus")).text
            assert "ixp_ready 1.0" in prometheus and 'ixp_check_status{check="storage"} 0.0' in prometheus
        finally:
            await app.shutdown()


@pytest.mark.services
async def test_database_down_is_not_ready_but_alive(make_app: Callable[..., IXPApp]) -> None:
    app = make_app(**service_settings())
    await app.startup()
    try:
        async with asgi_client(app) as client:
            assert (await client.get("/ixp/health/ready")).status_code == 200
            with Services().stopped("PG"):
                await asyncio.sleep(0.6)  # the last check result is at most 0.5 s old
                ready = await client.get("/ixp/health/ready")
                assert ready.status_code == 503 and ready.json()["reason"] == "failing: storage"
                assert (await client.get("/ixp/health/live")).status_code == 200
                assert "ixp_ready 0.0" in (await client.get("/ixp/metrics?format=prometheus")).text
            deadline = time.monotonic() + 30
            while (await client.get("/ixp/health/ready")).status_code != 200:
                assert time.monotonic() < deadline, "not ready again after PostgreSQL came back"
                await asyncio.sleep(0.25)
    finally:
        await app.shutdown()


async def test_drain_reports_not_ready_then_stops_once() -> None:
    readiness = Readiness({})
    await readiness.mark_started()
    stops: list[float] = []
    drain = Drain(readiness, 0.05, stop=lambda: stops.append(time.monotonic()))
    await drain.install()
    assert not drain.installed  # not a Granian worker: its signals are the host program's
    assert await readiness.state() == (True, "ready")
    drain.begin()
    drain.begin()  # forwarded SIGTERMs change nothing
    assert await readiness.state() == (False, "draining")
    assert stops == []  # still serving
    await asyncio.sleep(0.2)
    assert len(stops) == 1


async def test_concurrent_probes_share_one_check() -> None:
    calls = 0

    async def slow_check() -> dict[str, str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"status": "pass"}

    readiness = Readiness({"storage": slow_check})
    await readiness.mark_started()
    states = await asyncio.gather(*(readiness.state() for _ in range(20)))
    assert states == [(True, "ready")] * 20 and calls == 1


def test_sigterm_drains_a_granian_server_and_loses_no_intent_log(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "ixp.db"
    env = {
        "IXP_DRAIN_SECONDS": "2",
        "IXP_SQLITE_PATH": str(database),
        "IXP_USERS_API": "loopback",
        "IXP_LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running(granian_command(port, workers=2), port, env=env) as server,
        httpx.Client(base_url=base) as client,
    ):
        user = client.post("/api/users", json={"email": "drain@example.com", "name": "Drain"}).json()["id"]
        sent = 0
        for _ in range(20):
            client.post("/api/intents/process", json={"message": "show me books", "userId": user})
            sent += 1
        server.send_signal(signal.SIGTERM)  # to Granian's main process, as an orchestrator does
        statuses: set[int] = set()
        answered = 0
        while server.poll() is None:
            try:
                with httpx.Client(base_url=base, timeout=2) as fresh:
                    statuses.add(fresh.get("/ixp/health/ready").status_code)
                    response = fresh.post(
                        "/api/intents/process", json={"message": "show me books", "userId": user}
                    )
            except httpx.TransportError:
                break  # stopped accepting: the drain is over
            assert response.status_code == 200, response.text
            sent += 1
            answered += 1
            time.sleep(0.05)
        server.wait(timeout=30)
    assert statuses == {503}  # never ready again once SIGTERM arrived
    assert answered >= 3  # kept serving after SIGTERM, for the drain period (2 s)
    with sqlite3.connect(database) as db:
        (logged,) = db.execute("SELECT COUNT(*) FROM intent_logs WHERE user_id = ?", (user,)).fetchone()
    assert logged == sent
