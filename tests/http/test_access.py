"""Access control: API keys and scopes, the defaults without keys, loopback, metrics, per-key limits —
in process (every endpoint × every kind of caller) and through real Granian (RSGI and ASGI)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp
from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.http.access import digest_of, new_key, parse_keys
from tests._servers import free_port, granian_command, running

READER, WRITER, OPS = new_key(), new_key(), new_key()
KEYS = "\n".join(
    [
        f"reader {digest_of(READER)} users:read",
        f"writer {digest_of(WRITER)} users:write,sessions:write,users:read",
        f"ops {digest_of(OPS)} metrics:read",
    ]
)
REMOTE = ("203.0.113.9", 4321)
LOOPBACK = ("127.0.0.1", 4321)


def client_for(app: IXPApp, address: tuple[str, int]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


# (name, method, path, body, scope); {id} is a user created first.
ENDPOINTS = [
    ("list users", "GET", "/api/users", None, "users:read"),
    ("get user", "GET", "/api/users/{id}", None, "users:read"),
    ("session", "GET", "/api/users/{id}/session", None, "users:read"),
    ("create user", "POST", "/api/users", {"email": "new{n}@example.com", "name": "New"}, "users:write"),
    (
        "process with userId",
        "POST",
        "/api/intents/process",
        {"message": "deals", "userId": "{id}"},
        "sessions:write",
    ),
    (
        "batch with userId",
        "POST",
        "/api/intents/process/batch",
        {"messages": ["deals"], "userId": "{id}"},
        "sessions:write",
    ),
    ("metrics", "GET", "/ixp/metrics", None, "metrics:read"),
    ("process without userId", "POST", "/api/intents/process", {"message": "deals"}, None),
    ("intents", "GET", "/ixp/intents", None, None),
    ("erase user", "DELETE", "/api/users/{id}", None, "users:write"),  # last: the user is gone after it
]
OK = {"create user": 201, "erase user": 204}


def key_for(scope: str | None) -> str:
    return {"users:read": READER, "users:write": WRITER, "sessions:write": WRITER, "metrics:read": OPS}.get(
        scope or "", READER
    )


def wrong_scope_key(scope: str | None) -> str:
    return OPS if scope != "metrics:read" else READER


async def call(
    client: httpx.AsyncClient, endpoint: tuple[Any, ...], user_id: int, n: int, headers: dict[str, str]
) -> int:
    _, method, path, body, _ = endpoint
    path = path.replace("{id}", str(user_id))
    if body is not None:
        body = {
            k: (user_id if v == "{id}" else v.replace("{n}", str(n)) if isinstance(v, str) else v)
            for k, v in body.items()
        }
    response = await client.request(method, path, json=body, headers=headers)
    if response.status_code in (401, 403):
        error = response.json()["error"]
        assert error["code"] == ("UNAUTHORIZED" if response.status_code == 401 else "FORBIDDEN")
        if response.status_code == 401:
            assert response.headers["www-authenticate"] == 'Bearer realm="ixp"'
    return response.status_code


@pytest.fixture
async def keyed(make_app: Callable[..., IXPApp]) -> AsyncIterator[tuple[IXPApp, int]]:
    app = make_app(api_keys=KEYS, users_api="keys")
    async with client_for(app, LOOPBACK) as client:
        user = (
            await client.post(
                "/api/users", json={"email": "owner@example.com", "name": "O"}, headers=bearer(WRITER)
            )
        ).json()
    yield app, user["id"]


async def test_every_endpoint_for_every_kind_of_caller(keyed: tuple[IXPApp, int]) -> None:
    app, user_id = keyed
    matrix: dict[str, dict[str, int]] = {}
    async with client_for(app, REMOTE) as remote:
        for n, endpoint in enumerate(ENDPOINTS):
            name, _, _, _, scope = endpoint
            ok = OK.get(name, 200)
            row = {
                "no key": await call(remote, endpoint, user_id, n * 10, {}),
                "wrong key": await call(remote, endpoint, user_id, n * 10 + 1, bearer(new_key())),
                "key without scope": await call(
                    remote, endpoint, user_id, n * 10 + 2, bearer(wrong_scope_key(scope))
                ),
                "right key": await call(remote, endpoint, user_id, n * 10 + 3, bearer(key_for(scope))),
            }
            matrix[name] = row
            if scope is None:
                assert set(row.values()) == {ok}, (name, row)
            else:
                assert row == {"no key": 401, "wrong key": 401, "key without scope": 403, "right key": ok}, (
                    name,
                    row,
                )


async def test_without_keys_the_users_api_is_off_and_says_how_to_create_a_key(
    make_app: Callable[..., IXPApp],
) -> None:
    app = make_app(users_api="keys")
    async with client_for(app, LOOPBACK) as local:
        response = await local.get("/api/users")
        assert response.status_code == 403
        assert "ixp keys new" in response.json()["error"]["message"]
        processed = await local.post("/api/intents/process", json={"message": "deals", "userId": 1})
        assert processed.status_code == 403
        assert (await local.post("/api/intents/process", json={"message": "deals"})).status_code == 200
        assert (await local.get("/ixp/metrics")).status_code == 200  # loopback reads metrics
    async with client_for(app, REMOTE) as remote:
        assert (await remote.get("/ixp/metrics")).status_code == 403


async def test_loopback_mode_opens_the_users_api_to_loopback_only(make_app: Callable[..., IXPApp]) -> None:
    app = make_app(users_api="loopback")
    async with client_for(app, LOOPBACK) as local:
        assert (await local.get("/api/users")).status_code == 200
        # A loopback peer that forwards for someone else (a local reverse proxy) is not local.
        forwarded = await local.get("/api/users", headers={"x-forwarded-for": "198.51.100.7"})
        assert forwarded.status_code == 403
        assert (
            await local.get("/ixp/metrics", headers={"x-forwarded-for": "198.51.100.7"})
        ).status_code == 403
    async with client_for(app, REMOTE) as remote:
        assert (await remote.get("/api/users")).status_code == 403


async def test_a_trusted_proxy_forwarding_a_loopback_client_counts_as_local(
    make_app: Callable[..., IXPApp],
) -> None:
    app = make_app(users_api="loopback", trusted_proxies=("10.0.0.0/8",))
    async with client_for(app, ("10.1.2.3", 80)) as proxied:
        assert (await proxied.get("/api/users", headers={"x-forwarded-for": "127.0.0.1"})).status_code == 200
        assert (
            await proxied.get("/api/users", headers={"x-forwarded-for": "198.51.100.7"})
        ).status_code == 403


async def test_public_metrics(make_app: Callable[..., IXPApp]) -> None:
    async with client_for(make_app(metrics_public=True), REMOTE) as remote:
        assert (await remote.get("/ixp/metrics")).status_code == 200


async def test_per_key_rate_limit(make_app: Callable[..., IXPApp]) -> None:
    app = make_app(api_keys=KEYS, rate_limit_per_key="2/60s")
    async with client_for(app, REMOTE) as remote:
        statuses = [(await remote.get("/api/users", headers=bearer(READER))).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = await remote.get("/api/users", headers=bearer(READER))
        assert (
            limited.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
            and "reader" in limited.json()["error"]["message"]
        )
        assert "retry-after" in limited.headers
        assert (await remote.get("/api/users", headers=bearer(WRITER))).status_code == 200  # another key


async def test_erasure_removes_user_sessions_and_logs(keyed: tuple[IXPApp, int]) -> None:
    app, user_id = keyed
    async with client_for(app, REMOTE) as remote:
        auth = bearer(WRITER)
        assert (
            await remote.post(
                "/api/intents/process", json={"message": "deals", "userId": user_id}, headers=auth
            )
        ).status_code == 200
        assert (await remote.get(f"/api/users/{user_id}/session", headers=auth)).json()["session"] is not None
        assert app.storage.writer.pending() >= 1  # a queued log row: erased with the rest
        assert (await remote.delete(f"/api/users/{user_id}", headers=auth)).status_code == 204
        assert (await remote.delete(f"/api/users/{user_id}", headers=auth)).status_code == 404
        assert (await remote.get(f"/api/users/{user_id}", headers=auth)).status_code == 404
        await app.storage.writer.flush()
        assert await app.storage.store.recent_intent_logs(user_id, 10) == []
        assert await app.storage.store.current_session(user_id) is None


def test_key_lines_are_checked_with_their_line_numbers() -> None:
    with pytest.raises(ConfigError) as error:
        parse_keys(
            "ok " + "a" * 64 + " users:read\nbad digest users:read\nx " + "b" * 64 + " users:fly\n",
            "keys.txt",
        )
    assert error.value.problems == [
        "keys.txt line 2: 'bad': expected the key's SHA-256 as 64 lower-case hex digits",
        "keys.txt line 3: 'x': unknown scope 'users:fly' "
        "(allowed: users:read, users:write, sessions:write, metrics:read)",
    ]


def test_keys_file_is_read_and_reloaded(tmp_path: Path, make_app: Callable[..., IXPApp]) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(f"reader {digest_of(READER)} users:read\n")
    app = make_app(api_keys_file=str(path))
    assert [k.name for k in app.access.keys] == ["reader"]
    with pytest.raises(ConfigError, match="IXP_API_KEYS_FILE: cannot read"):
        make_app(api_keys_file=str(tmp_path / "missing.txt"))
    assert Settings.from_env({"IXP_API_KEYS": "a;b"}).api_keys == "a;b"


# -- through real Granian ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        "IXP_SQLITE_PATH": str(tmp_path_factory.mktemp("db") / "ixp.db"),
        "IXP_API_KEYS": KEYS.replace("\n", ";"),
    }
    with running(granian_command(port, request.param), port, env=env):
        yield f"http://127.0.0.1:{port}"


def test_access_rules_through_granian(server: str) -> None:
    remote = {"x-forwarded-for": "203.0.113.9"}  # through a proxy: never local
    with httpx.Client(base_url=server, timeout=5) as client:
        assert client.get("/api/users", headers=remote).status_code == 401
        assert client.get("/api/users", headers={**remote, **bearer(new_key())}).status_code == 401
        assert client.get("/api/users", headers={**remote, **bearer(OPS)}).status_code == 403
        assert client.get("/api/users", headers={**remote, **bearer(READER)}).status_code == 200
        created = client.post(
            "/api/users", json={"email": "g@example.com", "name": "G"}, headers=bearer(WRITER)
        )
        assert created.status_code == 201
        user_id = created.json()["id"]
        process = {"message": "deals", "userId": user_id}
        assert client.post("/api/intents/process", json=process, headers=remote).status_code == 401
        assert client.post("/api/intents/process", json=process, headers=bearer(WRITER)).status_code == 200
        assert client.get("/ixp/metrics", headers=remote).status_code == 401
        assert client.get("/ixp/metrics", headers={**remote, **bearer(OPS)}).status_code == 200
        assert client.get("/ixp/metrics").status_code == 200  # loopback, no proxy header
        assert client.delete(f"/api/users/{user_id}", headers=bearer(WRITER)).status_code == 204
        assert client.get(f"/api/users/{user_id}", headers=bearer(READER)).status_code == 404
        assert client.get("/ixp/intents", headers=remote).status_code == 200  # the protocol stays open


async def test_keys_file_hot_reload_keeps_the_last_good_keys(
    tmp_path: Path, make_app: Callable[..., IXPApp]
) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(f"reader {digest_of(READER)} users:read\n")
    app = make_app(api_keys_file=str(path), reload=True, reload_interval=0.05)
    await app.startup()
    try:
        async with client_for(app, REMOTE) as remote:
            assert (await remote.get("/api/users", headers=bearer(WRITER))).status_code == 401
            path.write_text(f"reader {digest_of(READER)} users:read\nwriter {digest_of(WRITER)} users:read\n")
            for _ in range(100):
                if len(app.access.keys) == 2:
                    break
                await asyncio.sleep(0.02)
            assert (await remote.get("/api/users", headers=bearer(WRITER))).status_code == 200
            path.write_text("broken line\n")  # rejected: the two keys stay
            await asyncio.sleep(0.3)
            assert [k.name for k in app.access.keys] == ["reader", "writer"]
    finally:
        await app.shutdown()


async def test_logs_name_the_key_never_the_key(
    keyed: tuple[IXPApp, int], caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = keyed
    caplog.set_level(logging.INFO, logger="ixp.access")
    async with client_for(app, REMOTE) as remote:
        assert (
            await remote.post(
                "/api/users", json={"email": "x@example.com", "name": "X"}, headers=bearer(READER)
            )
        ).status_code == 403
    records = [r for r in caplog.records if r.name == "ixp.access"]
    assert records and records[-1].key == "reader"  # type: ignore[attr-defined]
    assert all(READER not in r.getMessage() and READER not in str(r.__dict__) for r in caplog.records)


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        f"Token {READER}",
        "Bearer " + "x" * 5000,
        "Bearer \u00e9t\u00e9",
    ],
)
async def test_malformed_authorization_is_a_401_envelope(
    keyed: tuple[IXPApp, int], authorization: str
) -> None:
    app, _ = keyed
    async with client_for(app, REMOTE) as remote:
        response = await remote.get("/api/users", headers={"authorization": authorization.encode("latin-1")})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_erasing_a_malformed_id_is_a_400(keyed: tuple[IXPApp, int]) -> None:
    app, _ = keyed
    async with client_for(app, REMOTE) as remote:
        for bad in ("abc", "0", "-1", "²", "9" * 30):
            response = await remote.delete(f"/api/users/{bad}", headers=bearer(WRITER))
            assert response.status_code == 400, bad
            assert response.json()["error"]["code"] == "INVALID_REQUEST"
