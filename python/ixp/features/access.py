"""Access control's part in the app's life: the start-up line that says what is protected, the
per-key limiter's Redis connection, the keys file reloaded with the registry, its metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.features.contribution import Contribution
from ixp.http.access import AccessControl, load_keys

log = logging.getLogger("ixp.access")


def access_control(settings: Settings, access: AccessControl) -> Contribution:
    async def announce() -> None:
        if access.keys:
            log.info("access control: %d API keys configured", len(access.keys))
        elif settings.users_api == "loopback":
            log.warning(
                "access control: no API keys; the users API and sessions are open to loopback clients "
                "only (IXP_USERS_API=loopback, for local development)"
            )
        else:
            log.warning(
                "access control: no API keys configured, so the users API and processing with a userId "
                "are off (403); create a key with `ixp keys new NAME --scopes users:read,users:write,"
                "sessions:write` and set IXP_API_KEYS_FILE"
            )

    return Contribution(
        "access control",
        on_startup=[announce, access.start],
        on_shutdown=[access.stop],
        metrics_sections={"access": access.stats},
    )


def keys_reloader(settings: Settings, access: AccessControl) -> list[tuple[Path, Callable[[], None]]]:
    """The keys file, for the hot-reload watcher: a bad edit is logged and the old keys kept."""
    if not settings.api_keys_file:
        return []

    def reload() -> None:
        try:
            keys = load_keys(settings)
        except ConfigError as exc:
            log.error("API keys reload rejected, keeping %d keys:\n%s", len(access.keys), exc)
            return
        access.replace_keys(keys)
        log.info("API keys reloaded: %d keys", len(keys))

    return [(Path(settings.api_keys_file), reload)]
