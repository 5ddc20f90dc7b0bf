"""The router: static and `{param}` paths, one trailing slash, Allow lists, typed resolutions."""

from __future__ import annotations

import pytest

from ixp.http.routing import Found, MethodNotAllowed, NotFound, Options, Router, RouteSpec
from ixp.http.types import Request, Response


def handler(request: Request) -> Response:
    return Response(200, [])


async def async_handler(request: Request) -> Response:
    return Response(200, [])


def lane(headers: object, body: bytes, origin: str | None) -> Response | None:
    return None


def test_static_dynamic_and_trailing_slash() -> None:
    router = Router(
        [
            RouteSpec("GET", "/a", handler),
            RouteSpec("GET", "/users/{id}", handler),
            RouteSpec("POST", "/users/{id}", handler),
            RouteSpec("GET", "/users/{id}/session", handler),
        ]
    )
    assert router.match("/a") is not None
    assert router.match("/a/") is not None
    route, params = router.match("/users/42")  # type: ignore[misc]
    assert params == {"id": "42"}
    assert route.allow == "GET, HEAD, OPTIONS, POST"
    assert router.match("/users/42/session")[1] == {"id": "42"}  # type: ignore[index]
    assert router.match("/users//session") is None
    assert router.match("/users") is None
    assert router.match("/b") is None


def test_resolve_answers_found_not_found_405_and_options() -> None:
    router = Router([RouteSpec("GET", "/a", handler), RouteSpec("POST", "/users/{id}", async_handler)])
    found = router.resolve("GET", "/a", {})
    assert isinstance(found, Found) and found.handler is handler and found.params == {}
    head = router.resolve("HEAD", "/a", {})
    assert isinstance(head, Found) and head.handler is handler  # HEAD is served by GET's handler
    dynamic = router.resolve("POST", "/users/7", {})
    assert isinstance(dynamic, Found) and dynamic.params == {"id": "7"}
    assert router.resolve("GET", "/nowhere", {}) == NotFound(None)
    wrong = router.resolve("DELETE", "/a", {})
    assert isinstance(wrong, MethodNotAllowed) and wrong.route.allow == "GET, HEAD, OPTIONS"
    assert router.resolve("OPTIONS", "/a", {}) == Options(found.route, preflight=False)
    preflight = router.resolve("OPTIONS", "/a", {"access-control-request-method": "GET"})
    assert preflight == Options(found.route, preflight=True)


def test_async_handlers_are_detected_at_registration() -> None:
    router = Router([RouteSpec("GET", "/a", handler), RouteSpec("POST", "/a", async_handler)])
    route = router.static["/a"]
    assert route.async_methods == {"POST"}


def test_the_same_method_and_path_cannot_be_registered_twice() -> None:
    router = Router([RouteSpec("GET", "/a", handler), RouteSpec("GET", "/users/{id}", handler)])
    with pytest.raises(ValueError, match="GET /a is already registered"):
        router.add(RouteSpec("GET", "/a", async_handler))
    with pytest.raises(ValueError, match=r"GET /users/\{id\} is already registered"):
        router.add(RouteSpec("GET", "/users/{id}", handler))
    router.add(RouteSpec("POST", "/a", handler))  # another method on the same path is fine


def test_lanes_only_on_static_paths() -> None:
    router = Router([RouteSpec("GET", "/a", handler), RouteSpec("POST", "/b", handler, lane=lane)])
    assert set(router.lanes()) == {"/b"}
    assert router.lanes()["/b"].lane_method == "POST"
    with pytest.raises(ValueError, match="fast lanes are for static paths only"):
        router.add(RouteSpec("GET", "/users/{id}", handler, lane=lane))


def test_rate_limit_exemption_is_per_route() -> None:
    router = Router(
        [RouteSpec("GET", "/probe", handler, rate_limited=False), RouteSpec("GET", "/a", handler)]
    )
    assert router.static["/probe"].rate_limited is False
    assert router.static["/a"].rate_limited is True
