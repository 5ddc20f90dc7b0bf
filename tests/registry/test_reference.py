"""Swapping registry versions: listeners prepare first, then everything changes at once."""

from __future__ import annotations

import pytest

from ixp.base.errors import ConfigError
from ixp.base.settings import Settings
from ixp.registry import Registry, RegistryRef, load_registry
from ixp.registry.reference import Commit


def test_swap_prepares_every_listener_then_commits_them_all() -> None:
    first = load_registry(Settings())
    ref = RegistryRef(first)
    seen: list[tuple[str, int, int]] = []

    def listener(name: str):  # type: ignore[no-untyped-def]
        def prepare(registry: Registry) -> Commit:
            seen.append((f"prepare {name}", registry.version, ref.current.version))

            def commit() -> None:
                seen.append((f"commit {name}", registry.version, ref.current.version))

            return commit

        return prepare

    ref.subscribe(listener("a"))
    ref.subscribe(listener("b"))
    second = load_registry(Settings(), version=ref.next_version())
    ref.swap(second)
    assert ref.current is second
    # Prepared while the old version is current; committed once the new one is.
    assert seen == [("prepare a", 2, 1), ("prepare b", 2, 1), ("commit a", 2, 2), ("commit b", 2, 2)]


def test_a_listener_that_rejects_the_version_changes_nothing() -> None:
    first = load_registry(Settings())
    ref = RegistryRef(first)
    committed: list[int] = []

    def accept(registry: Registry) -> Commit:
        return lambda: committed.append(registry.version)

    def reject(registry: Registry) -> Commit:
        raise ConfigError("render table: rejected")

    ref.subscribe(accept)
    ref.subscribe(reject)
    with pytest.raises(ConfigError, match="rejected"):
        ref.swap(load_registry(Settings(), version=2))
    assert ref.current is first
    assert committed == []
