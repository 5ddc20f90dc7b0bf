"""Hot reload of the registry files (`IXP_RELOAD`): poll, rebuild whole, swap atomically.

A new registry is built and validated completely before it replaces the old one, so a bad edit is
logged and ignored — the server keeps serving the last good version (docs/protocol-deviations.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.base.tasks import cancel_and_wait
from ixp.registry.loader import load_registry
from ixp.registry.reference import RegistryRef

log = logging.getLogger("ixp.reload")


Stamp = tuple[tuple[int, int] | None, ...]


def _stamp(paths: list[Path]) -> Stamp:
    stamps: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


class RegistryWatcher:
    """Polls the configured files every `reload_interval` seconds (no extra dependency, works on any
    filesystem, including network mounts where inotify does not)."""

    def __init__(
        self,
        settings: Settings,
        registry: RegistryRef,
        also: Sequence[tuple[Path, Callable[[], None]]] = (),
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.paths = [p for p in registry.current.sources if p is not None]
        # Other files reloaded on the same schedule (the API keys file): path -> reload callback.
        self.also = list(also)
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0
        self.failures = 0

    async def start(self) -> None:
        if (self.paths or self.also) and self._task is None:
            # The baseline is taken now, not when the task first runs, so an edit made in between counts.
            others = [_stamp([path]) for path, _ in self.also]
            self._task = asyncio.get_running_loop().create_task(self._run(_stamp(self.paths), others))

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def check(self, last: tuple[tuple[int, int] | None, ...]) -> tuple[tuple[int, int] | None, ...]:
        """Reload if any file changed since `last`; returns the new stamp."""
        current = _stamp(self.paths)
        if current == last:
            return current
        try:
            registry = load_registry(self.settings, self.registry.next_version())
            self.registry.swap(registry)  # listeners may reject it too: then nothing changed
        except ConfigError as exc:
            self.failures += 1
            log.error(
                "registry reload rejected, still serving version %d:\n%s", self.registry.current.version, exc
            )
            return current
        self.reloads += 1
        log.info(
            "registry reloaded: version %d, %d intents, %d components",
            registry.version,
            len(registry.intents),
            len(registry.components),
        )
        return current

    async def _run(self, last: Stamp, others: list[Stamp]) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            try:
                if self.paths:
                    last = self.check(last)
                for index, (path, reload) in enumerate(self.also):
                    stamp = _stamp([path])
                    if stamp != others[index]:
                        others[index] = stamp
                        reload()
            except Exception:  # never let the watcher die silently
                log.exception("registry reload failed")
