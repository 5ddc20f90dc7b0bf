"""The router: static and `{param}` paths, one trailing slash, Allow lists."""

from __future__ import annotations

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
