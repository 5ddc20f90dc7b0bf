"""`GET /ixp/health`: the registry and every contributed check, one status (docs/protocol.md §8.1).

`healthy` when every check passes, `degraded` (still 200) when one warns, `unhealthy` (503) when
one fails, so a load balancer takes the node out only when it cannot serve.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import msgspec

from ixp.base.clock import utc_now_iso
from ixp.features.contribution import Contribution, HealthCheck
from ixp.http.openapi import Operation, Reply
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.observability.memory import MemoryMonitor
from ixp.registry.reference import RegistryRef
from ixp.registry.version import PROTOCOL_VERSION

_encode = msgspec.json.Encoder().encode


def overall_status(checks: Mapping[str, Mapping[str, Any]]) -> str:
    statuses = {check["status"] for check in checks.values()}
    return "unhealthy" if "fail" in statuses else "degraded" if "warn" in statuses else "healthy"


def health(registry: RegistryRef, checks: Mapping[str, HealthCheck], mount: str = "/ixp") -> Contribution:
    started = time.monotonic()

    async def report(request: Request) -> Response:
        current = registry.current
        results: dict[str, dict[str, Any]] = {}
        for name, count in (("intents", len(current.intents)), ("components", len(current.components))):
            results[name] = {"status": "pass" if count else "warn", "message": f"{count} {name} loaded"}
        for name, check in checks.items():
            results[name] = await check()
        status = overall_status(results)
        body = {
            "status": status,
            "service": "IXP Server",
            "version": PROTOCOL_VERSION,
            "timestamp": utc_now_iso(),
            "uptime": round(time.monotonic() - started, 3),
            "checks": results,
        }
        return json_response(503 if status == "unhealthy" else 200, _encode(body))

    # Load balancers' health checks are never rate limited.
    body = {
        "type": "object",
        "required": ["status", "service", "version", "timestamp", "uptime", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
            "checks": {"type": "object", "additionalProperties": {"type": "object", "required": ["status"]}},
        },
    }
    doc = Operation(
        "Health: healthy or degraded (200), unhealthy (503), with each check",
        ("operations",),
        responses={200: Reply("Healthy or degraded", body), 503: Reply("Unhealthy", body)},
    )
    route = RouteSpec("GET", f"{mount}/health", report, rate_limited=False, doc=doc)
    return Contribution("health", routes=[route])


def memory_monitor(monitor: MemoryMonitor) -> Contribution:
    """The memory monitor's periodic check, and its section of `/ixp/metrics`."""
    return Contribution(
        "memory monitor",
        on_startup=[monitor.start],
        on_shutdown=[monitor.stop],
        metrics_sections={"memory": monitor.stats},
    )
