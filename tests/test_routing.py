"""The router: static and `{param}` paths, one trailing slash, Allow lists."""

from __future__ import annotations

import pytest

from ixp._http import Request, Response
from ixp.routing import Router


def handler(request: Request) -> Response:
    return Response(200, [])


def test_static_dynamic_and_trailing_slash() -> None:
    router = Router()
    router.add("GET", "/a", handler)
    router.add("GET", "/users/{id}", handler)
    router.add("POST", "/users/{id}", handler)
    router.add("GET", "/users/{id}/session", handler)
    assert router.match("/a") is not None
    assert router.match("/a/") is not None
    route, params = router.match("/users/42")  # type: ignore[misc]
    assert params == {"id": "42"}
    assert route.allow == "GET, HEAD, OPTIONS, POST"
    assert router.match("/users/42/session")[1] == {"id": "42"}  # type: ignore[index]
    assert router.match("/users//session") is None
    assert router.match("/users") is None
    assert router.match("/b") is None


def test_lanes_only_on_existing_static_handlers() -> None:
    router = Router()
    router.add("GET", "/a", handler)
    router.add("POST", "/b", handler)
    router.add("GET", "/users/{id}", handler)

    def lane(headers: object, body: bytes, origin: str | None) -> Response | None:
        return None

    router.add_lane("POST", "/b", lane)
    assert set(router.lanes()) == {"/b"}
    assert router.lanes()["/b"].lane_method == "POST"
    with pytest.raises(ValueError, match="no GET handler on '/b'"):
        router.add_lane("GET", "/b", lane)
    with pytest.raises(KeyError):
        router.add_lane("GET", "/users/{id}", lane)  # lanes are for static paths only
