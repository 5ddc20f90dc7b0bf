"""`GET /ixp/metrics`: JSON by default, Prometheus text with `Accept: text/plain` or
`?format=prometheus` (docs/protocol.md §8.2, §8.3)."""

from __future__ import annotations

from ixp.base.errors import ErrorCode, IXPError
from ixp.features.contribution import Contribution
from ixp.http.access import AccessControl, Scope
from ixp.http.openapi import Operation, Reply
from ixp.http.routing import RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.observability.metrics import Metrics
from ixp.registry.reference import RegistryRef

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_endpoint(
    registry: RegistryRef, metrics: Metrics, access: AccessControl, mount: str = "/ixp"
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
        accept = request.headers.get("accept") or ""
        if output == "prometheus" or (output is None and "text/plain" in accept):
            return Response(200, [("content-type", PROMETHEUS_CONTENT_TYPE)], metrics.to_prometheus(counts))
        return json_response(200, metrics.to_json(counts))

    doc = Operation(
        "Metrics: JSON, or Prometheus text with `Accept: text/plain` or `?format=prometheus`",
        ("operations",),
        parameters=(
            {"name": "format", "in": "query", "required": False, "schema": {"enum": ["json", "prometheus"]}},
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
