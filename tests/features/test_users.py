"""Users, sessions and intent logs over HTTP, on SQLite and on PostgreSQL + Redis (docs/protocol.md §10)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from ixp.app import IXPApp
from ixp.storage.base import IntentLog
from tests._support import asgi_client, service_settings, started


@pytest.fixture(params=["sqlite", "postgres"])
async def served(
    request: pytest.FixtureRequest, make_app: Callable[..., IXPApp]
) -> AsyncIterator[tuple[IXPApp, httpx.AsyncClient]]:
    settings: dict[str, Any] = {}
    if request.param == "postgres":
        settings = service_settings()
    app = make_app(**settings)
    async with started(app) as served:
        yield served


def email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


async def create(client: httpx.AsyncClient, address: str | None = None, name: str = "Ada") -> dict[str, Any]:
    response = await client.post("/api/users", json={"email": address or email(), "name": name})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_create_get_and_duplicate(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    _, client = served
    address = email()
    user = await create(client, address.upper())
    assert user["email"] == address  # stored lower-cased
    assert (await client.get(f"/api/users/{user['id']}")).json() == user
    duplicate = await client.post("/api/users", json={"email": address, "name": "Other"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "CONFLICT"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "name": "A"},
        {"email": "a@b", "name": "A"},
        {"email": "a@b.co", "name": " "},
        {"name": "A"},
        {"email": 5, "name": "A"},
    ],
)
async def test_bad_user_bodies_are_400(
    served: tuple[IXPApp, httpx.AsyncClient], body: dict[str, Any]
) -> None:
    _, client = served
    response = await client.post("/api/users", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


async def test_unknown_and_malformed_ids(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    _, client = served
    missing = await client.get("/api/users/999999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "USER_NOT_FOUND"
    assert (await client.get("/api/users/999999999/session")).status_code == 404
    # "²" and "٣" are digits to str.isdigit; "²" used to reach int() and answer 500 (schemathesis).
    for bad in ("abc", "0", "-1", "99999999999999999999999", "%C2%B2", "%D9%A3"):
        assert (await client.get(f"/api/users/{bad}")).status_code == 400, bad
    for query in ("page=%C2%B2", "limit=%C2%B2", "ids=%C2%B2"):
        assert (await client.get(f"/api/users?{query}")).status_code == 400, query


async def test_ids_query_and_pagination(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    _, client = served
    created = [await create(client, name=f"U{i}") for i in range(5)]
    ids = [u["id"] for u in created]
    picked = (await client.get(f"/api/users?ids={ids[3]},{ids[0]},999999999")).json()
    assert [u["id"] for u in picked["users"]] == [ids[3], ids[0]]
    page = (await client.get("/api/users?page=1&limit=2")).json()
    assert page["total"] >= 5 and page["limit"] == 2
    assert [u["id"] for u in page["users"]] == sorted(ids, reverse=True)[:2]  # newest first
    too_many = ",".join(str(i) for i in range(1, 102))
    for query in (f"ids={too_many}", "ids=", "ids=1,x", "limit=101", "limit=0", "page=0", "page=x"):
        response = await client.get(f"/api/users?{query}")
        assert response.status_code == 400, query


async def test_processing_with_a_user_builds_the_session_and_logs(
    served: tuple[IXPApp, httpx.AsyncClient],
) -> None:
    app, client = served
    user = await create(client)
    empty = (await client.get(f"/api/users/{user['id']}/session")).json()
    assert empty["session"] is None and empty["user"]["id"] == user["id"]
    for message in ("show me books", "weather in Oslo"):
        response = await client.post("/api/intents/process", json={"message": message, "userId": user["id"]})
        assert response.status_code == 200
    batch = await client.post(
        "/api/intents/process/batch", json={"messages": ["deals", "zzz"], "userId": str(user["id"])}
    )
    assert batch.status_code == 200
    session = (await client.get(f"/api/users/{user['id']}/session")).json()["session"]
    assert [i["intent"] for i in session["recentIntents"]] == [
        "show_promo",
        "weather_forecast",
        "show_products",
    ]
    assert session["recentIntents"][1]["parameters"]["city"] == "Oslo"
    assert session["intentCount"] == 3
    await app.storage.writer.flush()
    logs = await app.storage.store.recent_intent_logs(user["id"], 10)
    assert sorted(log.intent for log in logs) == ["show_products", "show_promo", "weather_forecast"]
    assert all(log.latency_us >= 0 for log in logs)


async def test_processing_for_an_unknown_or_malformed_user(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    _, client = served
    unknown = await client.post("/api/intents/process", json={"message": "deals", "userId": 999999999})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "USER_NOT_FOUND"
    for bad in ("abc", -3, 1.5, True, "²"):
        response = await client.post("/api/intents/process", json={"message": "deals", "userId": bad})
        assert response.status_code == 400, bad


async def test_metrics_and_health_report_storage(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    app, client = served
    user = await create(client)
    for _ in range(3):
        await client.get(f"/api/users/{user['id']}")
    storage = (await client.get("/ixp/metrics")).json()["storage"]
    assert storage["cache"]["l1"]["hits"] >= 2
    assert 0 < storage["cache"]["l1"]["hitRatio"] <= 1
    text = (await client.get("/ixp/metrics?format=prometheus")).text
    for level in ("l1", "l2"):
        for kind in ("hits", "misses"):
            count = storage["cache"][level][kind]
            assert f"ixp_storage_cache_{level}_{kind}_total {count}\n" in text
    assert {"size", "in_use", "min", "max"} <= set(storage["pool"])
    assert "written" in storage["intentLogs"]
    health = (await client.get("/ixp/health")).json()
    assert health["checks"]["storage"]["status"] == "pass"
    if app.settings.redis_url:
        assert health["checks"]["redis"]["status"] == "pass"
        assert storage["cache"]["redis"] == "ok"


async def test_logs_are_flushed_on_graceful_shutdown(make_app: Callable[..., IXPApp]) -> None:
    app = make_app()
    await app.startup()
    async with asgi_client(app) as client:
        user = await create(client)
        for i in range(25):
            await client.post(
                "/api/intents/process", json={"message": f"top {i % 9 + 1} books", "userId": user["id"]}
            )
    store = app.storage.store
    assert app.storage.writer.pending() > 0  # still queued: write-behind
    await app.shutdown()
    await store.open()
    try:
        assert await store.count_intent_logs() == 25
    finally:
        await store.close()


async def test_warming_loads_recent_users_into_l1(make_app: Callable[..., IXPApp]) -> None:
    first = make_app()
    await first.startup()
    async with asgi_client(first) as client:
        user = await create(client)
        await client.post("/api/intents/process", json={"message": "deals", "userId": user["id"]})
    await first.shutdown()
    second = make_app()
    await second.startup()
    try:
        assert second.storage.warmed["users"] >= 1 and second.storage.warmed["sessions"] >= 1
        assert f"user:{user['id']}" in second.storage.cache.l1
        async with asgi_client(second) as client:
            await client.get(f"/api/users/{user['id']}")
        assert second.storage.cache.l1.hits >= 1
    finally:
        await second.shutdown()


async def test_concurrent_processing_keeps_every_intent(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    _, client = served
    user = await create(client)
    await asyncio.gather(
        *(
            client.post("/api/intents/process", json={"message": "deals", "userId": user["id"]})
            for _ in range(10)
        )
    )
    session = (await client.get(f"/api/users/{user['id']}/session")).json()["session"]
    assert session["intentCount"] == 10


async def test_erasure_reaches_every_cache_level_of_every_worker(
    served: tuple[IXPApp, httpx.AsyncClient], make_app: Callable[..., IXPApp]
) -> None:
    """Two workers on one database (and, on PostgreSQL, one Redis): the one that did not erase
    must not serve the erased user from its L1."""
    app, client = served
    other = make_app(**{k: getattr(app.settings, k) for k in ("database_url", "redis_url", "sqlite_path")})
    await other.startup()
    try:
        user = await create(client)
        await client.post("/api/intents/process", json={"message": "deals", "userId": user["id"]})
        async with asgi_client(other) as second:
            assert (await second.get(f"/api/users/{user['id']}")).status_code == 200  # cached in its L1
            assert f"user:{user['id']}" in other.storage.cache.l1
            assert (await client.delete(f"/api/users/{user['id']}")).status_code == 204
            deadline = asyncio.get_running_loop().time() + 3
            while f"user:{user['id']}" in other.storage.cache.l1 and app.settings.redis_url:
                assert asyncio.get_running_loop().time() < deadline, "the invalidation never arrived"
                await asyncio.sleep(0.02)
            if not app.settings.redis_url:  # one SQLite worker pair without Redis: L1 is per worker
                other.storage.cache.l1.delete(f"user:{user['id']}")
            assert (await second.get(f"/api/users/{user['id']}")).status_code == 404
            assert (await second.get(f"/api/users/{user['id']}/session")).status_code == 404
        await app.storage.writer.flush()
        assert await app.storage.store.recent_intent_logs(user["id"], 10) == []
    finally:
        await other.shutdown()


async def test_retention_deletes_old_logs_in_batches(served: tuple[IXPApp, httpx.AsyncClient]) -> None:
    app, _ = served
    store = app.storage.store
    now = datetime.now(timezone.utc)
    marker = f"retention-{uuid.uuid4().hex[:8]}"
    old = [IntentLog(None, marker, "old", {}, 1, now - timedelta(days=40, minutes=i)) for i in range(5)]
    new = [IntentLog(None, marker, "new", {}, 1, now - timedelta(days=1))]
    await store.write_intent_logs(old + new)
    before = await store.count_intent_logs()
    deleted = await app.storage.delete_expired_logs(batch=2)  # 3 transactions of at most 2 rows
    assert deleted >= 5
    assert await store.count_intent_logs() == before - deleted
    assert app.storage.stats()["retention"]["deleted"] >= 5
    assert await store.delete_intent_logs_before(now - timedelta(days=30), 10) == 0  # nothing old left


async def test_log_messages_off_keeps_no_raw_message(make_app: Callable[..., IXPApp]) -> None:
    app = make_app(log_messages=False)
    await app.startup()
    try:
        async with asgi_client(app) as client:
            user = await create(client)
            await client.post("/api/intents/process", json={"message": "secret deals", "userId": user["id"]})
        await app.storage.writer.flush()
        logs = await app.storage.store.recent_intent_logs(user["id"], 10)
        assert [(log.intent, log.message) for log in logs] == [("show_promo", "")]
    finally:
        await app.shutdown()
