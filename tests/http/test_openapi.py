"""The OpenAPI builder on a small router: operations from route metadata, generic entries for
routes without, error responses grouped by status, body errors, optional bearer auth."""

from __future__ import annotations

from openapi_spec_validator import validate

from ixp.base.settings import Settings
from ixp.http.openapi import Operation, Reply, build_spec, error_statuses
from ixp.http.routing import Router, RouteSpec
from ixp.http.types import Request, Response, json_response
from ixp.registry.loader import load_registry


def ok(request: Request) -> Response:
    return json_response(200, b"{}")


def test_build_spec_from_a_router() -> None:
    router = Router(
        [
            RouteSpec("GET", "/things", ok),
            RouteSpec(
                "POST",
                "/things/{id}",
                ok,
                doc=Operation(
                    "Change a thing",
                    ("things",),
                    request={"type": "object"},
                    responses={201: Reply("Changed", {"type": "object"})},
                    errors=("CONFLICT", "USER_NOT_FOUND"),
                    auth=True,
                    example={"a": 1},
                ),
            ),
            RouteSpec("GET", "/page", ok, documented=False),
        ]
    )
    spec = build_spec(router.documented(), load_registry(Settings()), title="t", version="1")
    validate(spec)
    assert set(spec["paths"]) == {"/things", "/things/{id}"}
    plain = spec["paths"]["/things"]["get"]
    assert set(plain["responses"]) == {"200", "default"}
    change = spec["paths"]["/things/{id}"]["post"]
    assert change["parameters"][0]["name"] == "id" and change["parameters"][0]["in"] == "path"
    assert change["requestBody"]["content"]["application/json"]["example"] == {"a": 1}
    assert change["security"] == [{}, {"bearerAuth": []}]
    statuses = set(change["responses"])
    assert statuses == {"201", "400", "401", "403", "404", "409", "413", "415"}
    assert change["responses"]["404"]["description"] == "Not Found: USER_NOT_FOUND, NOT_FOUND"


def test_every_error_code_has_a_status() -> None:
    statuses = error_statuses()
    assert statuses["UNAUTHORIZED"] == 401 and statuses["FORBIDDEN"] == 403
    assert statuses["INVALID_REQUEST"] == 400 and statuses["TIMEOUT_ERROR"] == 504
