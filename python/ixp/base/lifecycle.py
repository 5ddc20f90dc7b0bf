"""Start-up and shutdown hooks, run once each: start-up in order, shutdown in reverse order, where a
failing shutdown hook is logged and the others still run (nothing queued is left unflushed)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("ixp")

Hook = Callable[[], Awaitable[None]]


class Lifecycle:
    def __init__(self, startup: Sequence[Hook], shutdown: Sequence[Hook]) -> None:
        self.startup_hooks = list(startup)
        self.shutdown_hooks = list(shutdown)
        self.started = False

    async def start(self) -> None:
        if self.started:
            return
        self.started = True
        for hook in self.startup_hooks:
            await hook()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        for hook in reversed(self.shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)
