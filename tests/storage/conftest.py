"""Storage fixtures: a fresh store per test on both backends, and control of the test services.

PostgreSQL and Redis come from `bash .ci/services.sh start` (then `source /tmp/ixp-services/env`).
Without them, the tests that need them FAIL with instructions: they never skip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ixp.storage import PostgresStore, SqliteStore, Store

HOW_TO_START = (
    "start the test services first: `bash .ci/services.sh start && "
    "source ${IXP_SERVICES_DIR:-/tmp/ixp-services}/env` (storage tests never skip)"
)


def service_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: {HOW_TO_START}", pytrace=False)
    return value


class Services:
    """Stops and restarts the real test servers through the commands .ci/services.sh exports."""

    def run(self, variable: str) -> None:
        command = service_env(variable)
        result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{variable} ({command}) failed: {result.stderr.strip()}")

    @contextlib.contextmanager
    def stopped(self, service: str) -> Iterator[None]:
        """`service` is "PG" or "REDIS"; it is restarted on exit, whatever happens."""
        self.run(f"IXP_TEST_{service}_STOP")
        try:
            yield
        finally:
            self.run(f"IXP_TEST_{service}_START")

    def start(self, service: str) -> None:
        self.run(f"IXP_TEST_{service}_START")


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
