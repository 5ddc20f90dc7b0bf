"""Storage: users, sessions and intent logs (SQLite or PostgreSQL), and the two-level cache."""

from ixp.storage.base import (
    DuplicateEmail,
    IntentLog,
    Session,
    StorageError,
    StorageUnavailable,
    Store,
    UnknownUser,
    User,
)
from ixp.storage.cache import TwoLevelCache
from ixp.storage.factory import open_store
from ixp.storage.logs import IntentLogWriter
from ixp.storage.postgres import PostgresStore
from ixp.storage.sqlite import SqliteStore

__all__ = [
    "DuplicateEmail",
    "IntentLog",
    "IntentLogWriter",
    "PostgresStore",
    "Session",
    "SqliteStore",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "TwoLevelCache",
    "UnknownUser",
    "User",
    "open_store",
]
