"""Settings from IXP_* variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import pytest

from ixp.base.errors import ConfigError
from ixp.base.settings import Settings


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.cors_origins == ("http://localhost:3000",)
    assert settings.max_body_bytes == 1_048_576


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "IXP_PORT": "9000",
            "IXP_RELOAD": "yes",
            "IXP_CORS_ORIGINS": "https://a.example, https://b.example",
            "IXP_SECURITY_HEADERS": "off",
            "IXP_MATCH_CACHE_TTL": "2.5",
            "IXP_INTENTS": "/etc/ixp/intents.json",
            "IXP_REDIS_URL": "",
        }
    )
    assert settings.port == 9000
    assert settings.reload is True
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.security_headers is False
    assert settings.match_cache_ttl == 2.5
    assert settings.intents == "/etc/ixp/intents.json"
    assert settings.redis_url is None


def test_every_bad_value_is_reported_with_its_variable() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "IXP_PORT": "eighty",
                "IXP_WORKERS": "0",
                "IXP_RELOAD": "maybe",
                "IXP_MATCH_CACHE_TTL": "-1",
                "IXP_LOG_LEVEL": "loud",
                "IXP_DB_POOL_MIN": "50",
            }
        )
    text = str(info.value)
    assert "IXP_PORT: expected an integer from 0 to 65535, got 'eighty'" in text
    assert "IXP_WORKERS: expected an integer from 1 to 1024, got 0" in text
    assert "IXP_RELOAD: expected true/false" in text
    assert "IXP_MATCH_CACHE_TTL: expected a positive number" in text
    assert "IXP_LOG_LEVEL" in text
    assert "IXP_DB_POOL_MIN: must not exceed IXP_DB_POOL_MAX" in text
    assert len(info.value.problems) == 6


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IXP_USERS_API", "everyone", "IXP_USERS_API: expected keys or loopback"),
        ("IXP_PROVIDER_ERRORS", "ignore", "IXP_PROVIDER_ERRORS: expected omit or fail"),
        ("IXP_SCHEMA_PATTERNS", "maybe", "IXP_SCHEMA_PATTERNS: expected reject or python"),
        ("IXP_PROVIDER_TIMEOUT", "-1", "IXP_PROVIDER_TIMEOUT: expected a positive number of seconds"),
        ("IXP_MEMORY_HIGH_RATIO", "1.5", "IXP_MEMORY_HIGH_RATIO: expected a number between 0 and 1"),
        ("IXP_MEMORY_HIGH_RATIO", "nan", "IXP_MEMORY_HIGH_RATIO: expected a number between 0 and 1"),
        ("IXP_MEMORY_LIMIT_MB", "0", "IXP_MEMORY_LIMIT_MB: expected an integer from 1"),
        ("IXP_LOG_RETENTION_DAYS", "-3", "IXP_LOG_RETENTION_DAYS: expected an integer from 0"),
        ("IXP_METRICS_PUBLIC", "perhaps", "IXP_METRICS_PUBLIC: expected true/false"),
        ("IXP_STORAGE_BATCH_MAX", "0", "IXP_STORAGE_BATCH_MAX: expected an integer from 1 to 100000"),
        ("IXP_STORAGE_BATCH_MAX", "many", "IXP_STORAGE_BATCH_MAX: expected an integer from 1 to 100000"),
        ("IXP_RATE_LIMIT_PER_KEY", "lots", None),  # checked when the app is built (below)
        ("IXP_DRAIN_SECONDS", "-1", "IXP_DRAIN_SECONDS: expected a number of seconds from 0 to 3600"),
        ("IXP_DRAIN_SECONDS", "inf", "IXP_DRAIN_SECONDS: expected a number of seconds from 0 to 3600"),
        ("IXP_METRICS_FLUSH_SECONDS", "0", "IXP_METRICS_FLUSH_SECONDS: expected a number of seconds above 0"),
        (
            "IXP_METRICS_FLUSH_SECONDS",
            "61",
            "IXP_METRICS_FLUSH_SECONDS: expected a number of seconds above 0",
        ),
        ("IXP_NODE_NAME", "web 1", "IXP_NODE_NAME: expected 1-64 letters, digits"),
        ("IXP_NODE_NAME", 'a"b', "IXP_NODE_NAME: expected 1-64 letters, digits"),
    ],
)
def test_new_settings_name_the_variable_and_what_was_expected(
    variable: str, value: str, expected: str | None
) -> None:
    if expected is None:
        from ixp.app import create_app

        with pytest.raises(ConfigError, match="IXP_RATE_LIMIT_PER_KEY: expected '<requests>/<window>'"):
            create_app(Settings.from_env({variable: value}))
        return
    with pytest.raises(ConfigError) as error:
        Settings.from_env({variable: value})
    assert any(problem.startswith(expected) for problem in error.value.problems), error.value.problems


def test_cluster_settings_and_their_defaults() -> None:
    default = Settings.from_env({})
    assert (default.drain_seconds, default.metrics_flush_seconds, default.node_name) == (5.0, 1.0, None)
    tuned = Settings.from_env(
        {"IXP_DRAIN_SECONDS": "0", "IXP_METRICS_FLUSH_SECONDS": "0.25", "IXP_NODE_NAME": "web-1.eu"}
    )
    assert (tuned.drain_seconds, tuned.metrics_flush_seconds, tuned.node_name) == (0.0, 0.25, "web-1.eu")
