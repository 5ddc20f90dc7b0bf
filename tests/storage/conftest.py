"""Storage fixtures: a fresh store per test on both backends, and control of the test services.

PostgreSQL and Redis come from `bash .ci/services.sh start` (then `source /tmp/ixp-services/env`).
Without them, the tests that need them FAIL with instructions: they never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from ixp.app import IXPApp
from ixp.storage import PostgresStore, SqliteStore, Store
from tests._support import Services, service_env, service_settings, started


@pytest.fixture
def services() -> Iterator[Services]:
    control = Services()
    yield control


@pytest.fixture
def pg_url() -> str:
    return service_env("IXP_TEST_DATABASE_URL")


@pytest.fixture
def redis_url() -> str:
    return service_env("IXP_TEST_REDIS_URL")


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def pg_schema(pg_url: str) -> AsyncIterator[str]:
    """A new, empty schema; dropped after the test."""
    schema = "t_" + uuid.uuid4().hex[:16]
    await _admin(pg_url, f"CREATE SCHEMA {schema}")
    yield schema
    await _admin(pg_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


PgStoreFactory = Callable[..., Awaitable[PostgresStore]]


@pytest.fixture
async def make_pg_store(pg_url: str, pg_schema: str) -> AsyncIterator[PgStoreFactory]:
    """Opens PostgresStores on the test's schema, with small pools and short timeouts; closes them."""
    opened: list[PostgresStore] = []

    async def make(open_now: bool = True, **options: Any) -> PostgresStore:
        settings: dict[str, Any] = {
            "min_size": 1,
            "max_size": 4,
            "acquire_timeout": 5.0,
            "connect_timeout": 2.0,
            "command_timeout": 10.0,
            "schema": pg_schema,
        }
        settings.update(options)
        store = PostgresStore(pg_url, **settings)
        opened.append(store)
        if open_now:
            await store.open()
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, open store: SQLite on a tmp file, or PostgreSQL in a new schema."""
    if backend == "sqlite":
        sqlite_store = SqliteStore(str(tmp_path / "ixp.db"))
        await sqlite_store.open()
        yield sqlite_store
        await sqlite_store.close()
        return
    pg_url = service_env("IXP_TEST_DATABASE_URL")
    schema = "t_" + uuid.uuid4().hex[:16]
    await _admin(pg_url, f"CREATE SCHEMA {schema}")
    pg_store = PostgresStore(
        pg_url,
        min_size=1,
        max_size=4,
        acquire_timeout=5,
        connect_timeout=2,
        command_timeout=10,
        schema=schema,
    )
    try:
        await pg_store.open()
        yield pg_store
    finally:
        await pg_store.close()
        await _admin(pg_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def served(
    request: pytest.FixtureRequest, make_app: Callable[..., IXPApp]
) -> AsyncIterator[tuple[IXPApp, httpx.AsyncClient]]:
    """A started app and its in-process client: on SQLite, or on PostgreSQL + Redis."""
    app = make_app(**(service_settings() if request.param == "postgres" else {}))
    async with started(app) as served:
        yield served
