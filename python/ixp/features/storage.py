"""Storage's part in the app's life: opened and warmed at start-up, flushed and closed at shutdown,
checked by `/ixp/health`, reported in `/ixp/metrics`."""

from __future__ import annotations

from ixp.features.contribution import Contribution, HealthCheck
from ixp.storage.service import StorageService


def storage(service: StorageService) -> Contribution:
    checks: dict[str, HealthCheck] = {"storage": service.storage_check}
    if service.settings.redis_url:
        checks["redis"] = service.redis_check
    return Contribution(
        "storage",
        on_startup=[service.start],
        on_shutdown=[service.stop],
        health_checks=checks,
        metrics_sections={"storage": service.stats},
    )
