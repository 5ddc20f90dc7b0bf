"""`GET /ixp/metrics`: JSON by default, Prometheus text with `Accept: text/plain` or
`?format=prometheus` (docs/protocol.md §8.2, §8.3); the whole deployment by default, or
`?scope=host` / `?scope=worker` (`ixp.observability.cluster`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ixp.base.errors import ErrorCode, IXPError
from ixp.features.contribution import Contribution
from ixp.http.access import AccessControl, Scope
from ixp.http.openapi import Operation, Reply
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.observability.cluster import ClusterMetrics
from ixp.observability.metrics import Metrics
from ixp.registry.reference import RegistryRef

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCOPES = ("cluster", "host", "worker")


def metrics_endpoint(
    registry: RegistryRef,
    metrics: Metrics,
    cluster: ClusterMetrics,
    access: AccessControl,
    before_report: Callable[[], Awaitable[object]] | None = None,
    mount: str = "/ixp",
) -> Contribution:
    async def report(request: Request) -> Response:
        # Loopback clients, keys with metrics:read, or everyone with IXP_METRICS_PUBLIC=on.
        await access.require(request, Scope.METRICS_READ)
        current = registry.current
        counts = (len(current.intents), len(current.components))
        output = request.query_param("format")
        if output not in (None, "json", "prometheus"):
            raise IXPError(
                ErrorCode.INVALID_REQUEST,
                f"Query parameter 'format' must be 'json' or 'prometheus', got '{output}'",
            )
        scope = request.query_param("scope") or "cluster"
        if scope not in SCOPES:
            raise IXPError(
                ErrorCode.INVALID_REQUEST,
                f"Query parameter 'scope' must be 'cluster', 'host' or 'worker', got '{scope}'",
            )
        if before_report is not None:
            await before_report()  # fresh health-check gauges
        view = await cluster.view(scope)
        accept = request.headers.get("accept") or ""
        if output == "prometheus" or (output is None and "text/plain" in accept):
            body = metrics.to_prometheus(counts, view)
            return Response(200, [("content-type", PROMETHEUS_CONTENT_TYPE)], body)
        return json_response(200, metrics.to_json(counts, view))

    doc = Operation(
        "Metrics: JSON, or Prometheus text with `Accept: text/plain` or `?format=prometheus`",
        ("operations",),
        parameters=(
            {"name": "format", "in": "query", "required": False, "schema": {"enum": ["json", "prometheus"]}},
            {"name": "scope", "in": "query", "required": False, "schema": {"enum": list(SCOPES)}},
        ),
        responses={
            200: Reply(
                "The metrics",
                {"type": "object", "required": ["requests"]},
                more=((PROMETHEUS_CONTENT_TYPE.split(";")[0], {"type": "string"}),),
            )
        },
        errors=("INVALID_REQUEST",),
        auth=True,
    )
    return Contribution("metrics", routes=[RouteSpec("GET", f"{mount}/metrics", report, doc=doc)])
