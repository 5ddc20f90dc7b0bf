"""Settings from `IXP_*` environment variables (the `ixp serve` flags set the same variables).

Every value is checked at start-up; a bad one stops it with the variable's name, what was given
and what was expected.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from ixp.base.errors import ConfigError

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_MOUNT = re.compile(r"(/[A-Za-z0-9._~-]+)+")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything configurable, with production defaults. See README.md, "Settings"."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    intents: str | None = None  # path to an SDK-format intents file; None = the bundled examples
    components: str | None = None
    theme: str | None = None  # path to a theme JSON object; None = the SDK's default theme
    reload: bool = False
    reload_interval: float = 1.0
    cors_origins: tuple[str, ...] = ("http://localhost:3000",)
    cors_credentials: bool = True
    cors_methods: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
    cors_headers: tuple[str, ...] = ("Content-Type", "Authorization")
    security_headers: bool = True
    # Overrides of single security headers ("" leaves the header out); None keeps the default.
    content_security_policy: str | None = None
    strict_transport_security: str | None = None
    frame_options: str | None = None
    # Requests carrying an Origin outside this list are refused (403); empty = no such check.
    allowed_origins: tuple[str, ...] = ()
    mount_path: str = "/ixp"  # where the protocol routes are served
    # The demo page at / (IXP_DEMO): None = on exactly when the bundled example registry is served.
    demo: bool | None = None
    max_body_bytes: int = 1_048_576
    metrics_enabled: bool = True
    log_level: str = "info"
    log_format: str = "json"  # or "text"
    # HTTP layer.
    compression: bool = True
    compression_level: int = 6
    compression_min_bytes: int = 1024
    request_timeout: float = 30.0
    slow_request_ms: float = 1000.0
    rate_limit: str | None = None  # e.g. "100/60s"
    trusted_proxies: tuple[str, ...] = ()
    keep_alive: bool = True
    header_read_timeout: float = 30.0
    max_header_bytes: int = 65536
    tls_cert: str | None = None
    tls_key: str | None = None
    http: str = "auto"  # "auto" (HTTP/1.1 + HTTP/2), "1" or "2"
    # Free-text processing.
    match_cache_size: int = 10_000
    match_cache_ttl: float = 300.0
    max_message_chars: int = 4096
    max_batch_messages: int = 1000
    fallback_intent: str | None = None
    # Parameter schemas: a `pattern` outside Rust's linear-time regex subset stops the load
    # ("reject") or is matched by Python's `re` on strings of at most 1,000 characters ("python").
    schema_patterns: str = "reject"
    # Access control (README, "Security").
    api_keys_file: str | None = None  # lines: name sha256-digest scope,scope
    api_keys: str | None = None  # the same lines, in the variable itself
    users_api: str = "keys"  # or "loopback": without keys, open to loopback clients (development)
    metrics_public: bool = False  # metrics for everyone, not only loopback and metrics:read keys
    rate_limit_per_key: str | None = None  # e.g. "1000/60s", on top of IXP_RATE_LIMIT
    log_retention_days: int = 30  # intent logs older than this are deleted; 0 keeps them
    log_messages: bool = True  # off: intent logs are stored without the raw message
    # The memory monitor (README, "Configuration").
    memory_check_seconds: float = 30.0
    memory_high_ratio: float = 0.8
    memory_limit_mb: int | None = None  # default: the cgroup limit, else the machine's memory
    # Running several workers and hosts (README, "Running a cluster").
    metrics_flush_seconds: float = 1.0  # how often a worker publishes its counters (scrape lag)
    node_name: str | None = None  # this host's name in cluster metrics; default: the hostname
    shared_dir: str | None = None  # per-host state of one server's workers; default: under /dev/shm
    drain_seconds: float = 5.0  # after SIGTERM: not ready, still serving, for this long
    # Plugins (README, "Extending ixp").
    plugins: tuple[str, ...] = ()  # module:attribute import paths
    provider_timeout: float = 2.0  # seconds a data provider or crawler source may take
    provider_errors: str = "omit"  # or "fail": 502 DATA_PROVIDER_ERROR
    # Storage and caches.
    sqlite_path: str = "./ixp.db"
    database_url: str | None = None
    redis_url: str | None = None
    db_pool_min: int = 5
    db_pool_max: int = 20
    db_acquire_timeout: float = 60.0
    db_idle_lifetime: float = 10.0
    cache_size: int = 10_000  # L1 entries (users, sessions)
    cache_ttl: float = 3600.0  # L2 (Redis) TTL of a cached user; L1 keeps at most 300 s
    warm_users: int = 1000  # recently active users loaded into the cache at start-up
    session_idle_seconds: int = 1800  # a gap longer than this starts a new session
    log_flush_interval: float = 1.0  # intent logs: write-behind flush period (s)
    log_batch_size: int = 500  # intent logs: flush as soon as this many rows wait
    storage_batch_max: int = 256  # session writes of concurrent requests committed per transaction

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        problems: list[str] = []
        values: dict[str, Any] = {}

        def take(field: str, parse: Callable[[str, str], Any]) -> None:
            name = "IXP_" + field.upper()
            raw = env.get(name)
            if raw is None:
                return
            try:
                values[field] = parse(name, raw)
            except ValueError as exc:
                problems.append(str(exc))

        for field in (
            "host",
            "log_level",
            "log_format",
            "http",
            "provider_errors",
            "schema_patterns",
            "mount_path",
            "users_api",
        ):
            take(field, _string)
        for field in ("content_security_policy", "strict_transport_security", "frame_options"):
            take(field, _verbatim)
        for field in (
            "intents", "components", "theme", "fallback_intent", "database_url", "redis_url",
            "rate_limit", "tls_cert", "tls_key", "api_keys_file", "api_keys", "rate_limit_per_key",
            "node_name", "shared_dir",
        ):  # fmt: skip
            take(field, _optional_string)
        take("compression_level", _int_between(1, 9))
        take("compression_min_bytes", _int_between(0, 1 << 30))
        take("max_header_bytes", _int_between(8192, 1 << 24))
        take("sqlite_path", _string)
        take("port", _int_between(0, 65535))
        take("workers", _int_between(1, 1024))
        take("max_body_bytes", _int_between(1, 1 << 30))
        take("match_cache_size", _int_between(1, 10_000_000))
        take("max_message_chars", _int_between(1, 1_000_000))
        take("max_batch_messages", _int_between(1, 100_000))
        take("db_pool_min", _int_between(0, 1000))
        take("db_pool_max", _int_between(1, 1000))
        take("cache_size", _int_between(1, 10_000_000))
        take("warm_users", _int_between(0, 1_000_000))
        take("session_idle_seconds", _int_between(1, 10_000_000))
        take("log_batch_size", _int_between(1, 1_000_000))
        take("storage_batch_max", _int_between(1, 100_000))
        take("log_retention_days", _int_between(0, 100_000))
        take("memory_limit_mb", _int_between(1, 1 << 30))
        take("memory_high_ratio", _ratio)
        take("metrics_flush_seconds", _float_in(0.0, 60.0, "a number of seconds above 0 and at most 60"))
        take("drain_seconds", _float_in(0.0, 3600.0, "a number of seconds from 0 to 3600", with_low=True))
        for field in (
            "reload_interval", "match_cache_ttl", "db_acquire_timeout", "db_idle_lifetime",
            "request_timeout", "slow_request_ms", "header_read_timeout", "cache_ttl", "log_flush_interval",
            "provider_timeout", "memory_check_seconds",
        ):  # fmt: skip
            take(field, _positive_float)
        for field in (
            "reload",
            "demo",
            "cors_credentials",
            "security_headers",
            "metrics_enabled",
            "compression",
            "keep_alive",
            "metrics_public",
            "log_messages",
        ):
            take(field, _bool)
        for field in (
            "cors_origins",
            "cors_methods",
            "cors_headers",
            "trusted_proxies",
            "plugins",
            "allowed_origins",
        ):
            take(field, _csv)
        if values.get("users_api", "keys") not in ("keys", "loopback"):
            problems.append(f"IXP_USERS_API: expected keys or loopback, got '{values['users_api']}'")
        if values.get("provider_errors", "omit") not in ("omit", "fail"):
            problems.append(f"IXP_PROVIDER_ERRORS: expected omit or fail, got '{values['provider_errors']}'")
        if values.get("schema_patterns", "reject") not in ("reject", "python"):
            problems.append(
                f"IXP_SCHEMA_PATTERNS: expected reject or python, got '{values['schema_patterns']}'"
            )
        mount = values.get("mount_path", "/ixp")
        if not _MOUNT.fullmatch(mount) or mount == "/api" or mount.startswith("/api/"):
            problems.append(
                f"IXP_MOUNT_PATH: expected a path like /ixp or /v1/ixp (not under /api), got '{mount}'"
            )
        if values.get("log_format", "json") not in ("json", "text"):
            problems.append(f"IXP_LOG_FORMAT: expected json or text, got '{values['log_format']}'")
        if values.get("http", "auto") not in ("auto", "1", "2"):
            problems.append(f"IXP_HTTP: expected auto, 1 or 2, got '{values['http']}'")
        if ("tls_cert" in values) != ("tls_key" in values):
            problems.append("IXP_TLS_CERT and IXP_TLS_KEY must be given together")
        if values.get("header_read_timeout", 30.0) > 60:
            problems.append("IXP_HEADER_READ_TIMEOUT: at most 60 seconds (Granian's limit)")
        if "log_level" in values and values["log_level"].lower() not in ("debug", "info", "warning", "error"):
            problems.append(
                f"IXP_LOG_LEVEL: expected one of debug, info, warning, error; got '{values['log_level']}'"
            )
        if values.get("db_pool_min", 5) > values.get("db_pool_max", 20):
            problems.append("IXP_DB_POOL_MIN: must not exceed IXP_DB_POOL_MAX")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", values.get("node_name") or "x"):
            problems.append(
                f"IXP_NODE_NAME: expected 1-64 letters, digits, '.', '_' or '-', got '{values['node_name']}'"
            )
        if problems:
            raise ConfigError(problems)
        return cls(**values)


def _string(name: str, raw: str) -> str:
    if not raw.strip():
        raise ValueError(f"{name}: expected a non-empty value")
    return raw.strip()


def _verbatim(name: str, raw: str) -> str:
    return raw.strip()


def _optional_string(name: str, raw: str) -> str | None:
    return raw.strip() or None


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}: expected true/false (1/0, yes/no, on/off), got '{raw}'")


def _int_between(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"{name}: expected an integer from {low} to {high}, got '{raw}'") from None
        if not low <= value <= high:
            raise ValueError(f"{name}: expected an integer from {low} to {high}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float, what: str, with_low: bool = False) -> Callable[[str, str], float]:
    """A parser of a finite number with low < value <= high (low <= value with `with_low`)."""

    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        if not (low <= value if with_low else low < value) or not value <= high or math.isinf(value):
            raise ValueError(f"{name}: expected {what}, got '{raw}'")
        return value

    return parse


_positive_float = _float_in(0.0, math.inf, "a positive number of seconds")
_ratio = _float_in(0.0, 1.0, "a number between 0 and 1")


def _csv(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())
