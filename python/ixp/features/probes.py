"""Liveness and readiness probes, and the drain on SIGTERM (README, "Running a cluster").

- `GET <mount>/health/live`: 200 whenever the worker can answer at all (even with the database
  down): a failing liveness probe makes an orchestrator restart the process, which would not help.
- `GET <mount>/health/ready`: 200 when the worker should receive traffic; 503 while it is starting,
  while it drains, and while a health check fails (storage unreachable). Load balancers and
  Kubernetes route on this one.

Drain: Granian's worker stops accepting connections as soon as it gets SIGTERM. A worker started by
Granian instead reports not-ready for `IXP_DRAIN_SECONDS` (5) while it keeps serving whatever still
arrives, so load balancers see it leave before it stops; then it asks Granian to stop gracefully
(SIGINT to itself: Granian's own handler). Further SIGTERMs are ignored; SIGINT stops it at once.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from ixp.base.clock import utc_now_iso
from ixp.features.contribution import Contribution, HealthCheck
from ixp.http.openapi import Operation, Reply
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response

log = logging.getLogger("ixp.probes")
_encode = msgspec.json.Encoder().encode
_STATUS_VALUE = MappingProxyType({"pass": 0, "warn": 1, "fail": 2})


class Readiness:
    """Whether this worker should receive traffic, and the last result of every health check."""

    def __init__(self, checks: Mapping[str, HealthCheck], max_age: float = 0.5) -> None:
        self.checks = dict(checks)
        self.max_age = max_age  # probes from several balancers share one evaluation per period
        self.started = False
        self.draining = False
        self.results: dict[str, dict[str, Any]] = {}
        self._checked_at = -1.0
        self._running: asyncio.Future[dict[str, dict[str, Any]]] | None = None

    async def mark_started(self) -> None:
        self.started = True

    async def check(self) -> dict[str, dict[str, Any]]:
        """The health checks' results, at most `max_age` seconds old; concurrent callers share one run."""
        if time.monotonic() - self._checked_at <= self.max_age:
            return self.results
        if self._running is not None:
            return await asyncio.shield(self._running)
        self._running = asyncio.get_running_loop().create_future()
        try:
            results = {name: await check() for name, check in self.checks.items()}
            self.results, self._checked_at = results, time.monotonic()
            self._running.set_result(results)
            return results
        except BaseException as exc:
            self._running.set_exception(exc)
            self._running.exception()  # retrieved here: waiters get it, nobody else must
            raise
        finally:
            self._running = None

    async def state(self) -> tuple[bool, str]:
        if not self.started:
            return False, "starting"
        if self.draining:
            return False, "draining"
        failing = sorted(name for name, result in (await self.check()).items() if result["status"] == "fail")
        if failing:
            return False, "failing: " + ", ".join(failing)
        return True, "ready"

    def series(self) -> list[tuple[str, str, str, float]]:
        """`ixp_ready`, `ixp_draining` and `ixp_check_status{check=...}` (0 pass, 1 warn, 2 fail)."""
        failing = any(result["status"] == "fail" for result in self.results.values())
        ready = self.started and not self.draining and not failing
        gauges = [
            ("ixp_ready", "1 when this worker accepts traffic (its readiness probe).", "gauge", float(ready)),
            ("ixp_draining", "1 while this worker drains after SIGTERM.", "gauge", float(self.draining)),
        ]
        for name, result in sorted(self.results.items()):
            gauges.append(
                (
                    f'ixp_check_status{{check="{name}"}}',
                    "Last result of each health check: 0 pass, 1 warn, 2 fail.",
                    "gauge",
                    float(_STATUS_VALUE.get(result["status"], 2)),
                )
            )
        return gauges


class Drain:
    """Turns SIGTERM into: not ready, keep serving for `seconds`, then a graceful stop."""

    def __init__(self, readiness: Readiness, seconds: float, stop: Callable[[], None] | None = None) -> None:
        self.readiness = readiness
        self.seconds = seconds
        self.stop = stop or (lambda: os.kill(os.getpid(), signal.SIGINT))  # Granian's graceful stop
        self.installed = False

    async def install(self) -> None:
        """Takes over SIGTERM in a worker that Granian started (not in an app embedded in another
        program, whose signals are its own)."""
        if self.seconds <= 0 or multiprocessing.parent_process() is None:
            return
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.begin)
        except (NotImplementedError, RuntimeError, ValueError) as exc:
            log.warning("drain on SIGTERM unavailable (%s): the worker will stop at once", exc)
            return
        self.installed = True

    def begin(self) -> None:
        if self.readiness.draining:
            # Granian's main process forwards the SIGTERM it got, and service managers often signal
            # the whole process group too: a worker may get several. SIGINT stops it at once.
            return
        self.readiness.draining = True
        log.info("SIGTERM: draining for %.1f s (not ready, still serving), then stopping", self.seconds)
        asyncio.get_running_loop().call_later(self.seconds, self.stop)


def probes(readiness: Readiness, drain: Drain, mount: str = "/ixp") -> Contribution:
    async def live(request: Request) -> Response:
        return json_response(
            200, _encode({"status": "alive", "pid": os.getpid(), "timestamp": utc_now_iso()})
        )

    async def ready(request: Request) -> Response:
        ok, reason = await readiness.state()
        body = {"status": "ready" if ok else "not ready", "reason": reason, "timestamp": utc_now_iso()}
        return json_response(200 if ok else 503, _encode(body))

    body_schema = {
        "type": "object",
        "required": ["status", "timestamp"],
        "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
    }
    live_doc = Operation(
        "Liveness: 200 whenever the worker can answer (restart it only when this fails)",
        ("operations",),
        responses={200: Reply("Alive", body_schema)},
    )
    ready_doc = Operation(
        "Readiness: 200 when this worker should get traffic; 503 while starting, draining, or a check fails",
        ("operations",),
        responses={200: Reply("Ready", body_schema), 503: Reply("Not ready", body_schema)},
    )
    return Contribution(
        "probes",
        # Probes are never rate limited; `mark_started` is added last by the app (after every hook).
        routes=[
            RouteSpec("GET", f"{mount}/health/live", live, rate_limited=False, doc=live_doc),
            RouteSpec("GET", f"{mount}/health/ready", ready, rate_limited=False, doc=ready_doc),
        ],
        on_startup=[drain.install],
    )
