"""Pick the storage backend from the settings."""

from __future__ import annotations

from ixp.storage.base import Store
from ixp.storage.postgres import PostgresStore
from ixp.storage.sqlite import SqliteStore

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    database_url: str | None,
    sqlite_path: str,
    *,
    pool_min: int = 5,
    pool_max: int = 20,
    acquire_timeout: float = 60.0,
    idle_lifetime: float = 10.0,
) -> Store:
    """`PostgresStore` for a `postgresql://` / `postgres://` URL, else `SqliteStore(sqlite_path)`.

    The store is not connected yet: `await store.open()` connects and applies migrations.
    """
    if database_url:
        if not database_url.startswith(_POSTGRES_SCHEMES):
            scheme = database_url.split("://", 1)[0] if "://" in database_url else database_url[:20]
            raise ValueError(
                f"IXP_DATABASE_URL: expected a postgresql:// or postgres:// URL, got '{scheme}://...'"
            )
        return PostgresStore(
            database_url,
            min_size=pool_min,
            max_size=pool_max,
            acquire_timeout=acquire_timeout,
            idle_lifetime=idle_lifetime,
        )
    return SqliteStore(sqlite_path)
