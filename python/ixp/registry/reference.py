"""The registry version being served, and the swap that replaces it as one step.

Services that derive per-version state (the render plan, cached bodies) subscribe with a listener:
`listener(new_registry)` prepares that state and returns a `commit` callable that installs it. A
swap prepares everything first — a listener that raises `ConfigError` rejects the new version and
nothing changes — then assigns the registry and commits every listener without yielding to the
event loop, so no request ever sees a mix of two versions.
"""

from __future__ import annotations

from collections.abc import Callable

from ixp.registry.version import Registry

Commit = Callable[[], None]
SwapListener = Callable[[Registry], Commit]


class RegistryRef:
    """Holds the current `Registry`; features read `ref.current` per request."""

    __slots__ = ("_listeners", "current")

    def __init__(self, registry: Registry) -> None:
        self.current = registry
        self._listeners: list[SwapListener] = []

    def subscribe(self, listener: SwapListener) -> None:
        """Call `listener` on every later swap. (The caller derives its state for `current` itself.)"""
        self._listeners.append(listener)

    def swap(self, registry: Registry) -> None:
        """Replace the registry and every listener's derived state, all or nothing."""
        commits = [listener(registry) for listener in self._listeners]
        self.current = registry
        for commit in commits:
            commit()

    def next_version(self) -> int:
        return self.current.version + 1
