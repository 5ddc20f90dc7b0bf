"""What a feature adds to the app, declared rather than written into the app object.

The composition root (`ixp.app`) builds each feature from the services it needs (registry
reference, renderer, storage, compressor, settings) and collects their `Contribution`s: routes,
start-up and shutdown hooks, health checks, metrics sections and registry-swap listeners. A
third-party plugin contributes the same things through the same type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ixp.base.lifecycle import Hook
from ixp.http.routing import RouteSpec
from ixp.observability.metrics import Section
from ixp.registry.reference import SwapListener

# A named health check: {"status": "pass" | "warn" | "fail", "message": ...}; any "fail" makes the
# service unhealthy (503), any "warn" degraded (docs/protocol.md §8.1).
HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Contribution:
    name: str
    routes: list[RouteSpec] = field(default_factory=list)
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    metrics_sections: dict[str, Section] = field(default_factory=dict)
    # Called on every registry swap: prepare state for the new version, return its commit
    # (`ixp.registry.reference`). Raising `ConfigError` rejects the version.
    registry_listeners: list[SwapListener] = field(default_factory=list)
