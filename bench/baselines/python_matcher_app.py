"""ixp with its Rust `IntentMatcher` replaced by the performance guide's `OptimizedIntentMatcher`
written in pure Python: the baseline of bench/nl_bench.py.

Everything else is ixp's own request path (routing, the match `LruCache` in front of the matcher,
capture conversion, validation, rendering, metrics), so the difference between this app and
`ixp.app:app` is the matcher alone. The swap is redone on every registry version (a registry
listener), so it survives hot reload.

Serve it with `granian --interface rsgi --workers 1 bench.baselines.python_matcher_app:app`
(repository root on `sys.path`; same `IXP_*` settings as ixp).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ixp.app import IXPApp, create_app
from ixp.base.settings import Settings
from ixp.observability.log import configure_logging
from ixp.registry import Registry
from ixp.registry.reference import Commit

Match = tuple[str, dict[str, str]] | None


class OptimizedIntentMatcher:
    """The guide's matcher: patterns precompiled with `re.IGNORECASE`, tried one by one in priority
    order (highest first, ties in registration order, as ixp), the first match wins; a dict cache
    keyed by `text.lower().strip()` that, as in the guide, remembers matches only.

    The guide's cache is unbounded; here it holds at most `cache_size` entries (the oldest insertion
    is dropped first), the capacity of ixp's match cache, so that neither side keeps more than the
    other. Same interface and return shape as `ixp.IntentMatcher`: `match(text)` →
    `(intent, {group: value})` with non-participating groups omitted, or None; `match_many(texts)`.
    """

    def __init__(self, entries: Sequence[tuple[str, str, int]], cache_size: int = 10_000) -> None:
        ranked = sorted(range(len(entries)), key=lambda i: -entries[i][2])  # stable: ties keep order
        self.patterns = [(entries[i][0], _compile(*entries[i][:2])) for i in ranked]
        self.cache: dict[str, tuple[str, dict[str, str]]] = {}
        self.cache_size = max(1, cache_size)

    def match(self, text: str) -> Match:
        key = text.lower().strip()
        cached = self.cache.get(key)
        if cached is not None:
            return cached[0], dict(cached[1])
        for name, pattern in self.patterns:
            found = pattern.search(text)
            if found is not None:
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
                self._remember(key, (name, groups))
                return name, dict(groups)
        return None

    def match_many(self, texts: Sequence[str]) -> list[Match]:
        return [self.match(text) for text in texts]

    def _remember(self, key: str, result: tuple[str, dict[str, str]]) -> None:
        if len(self.cache) >= self.cache_size:
            del self.cache[next(iter(self.cache))]
        self.cache[key] = result

    def __len__(self) -> int:
        return len(self.patterns)


def _compile(intent: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:  # Rust-only syntax (e.g. \p{L}): this baseline needs patterns `re` reads
        problem = f"{pattern!r} is not a valid Python `re` pattern: {exc}"
        raise ValueError(f"intent {intent!r}: {problem}") from None


def entries_of(registry: Registry) -> list[tuple[str, str, int]]:
    """(intent, pattern, priority) in registration order, as ixp builds its matcher."""
    return [(i.name, p, i.priority) for i in registry.intents.values() for p in i.patterns]


def install(app: IXPApp) -> IXPApp:
    """Replace the matcher of the current registry and of every later one."""
    size = app.settings.match_cache_size

    def swap(registry: Registry) -> None:
        registry.matcher = OptimizedIntentMatcher(entries_of(registry), size)  # type: ignore[assignment]

    def prepare(registry: Registry) -> Commit:
        swap(registry)  # on the new version, before it is served
        return lambda: None

    swap(app.registry.current)
    app.registry.subscribe(prepare)
    return app


def build() -> IXPApp:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    return install(create_app(settings))


app: IXPApp  # built on first access (Granian's), so that importing the matcher builds no app


def __getattr__(name: str) -> Any:
    if name == "app":
        global app
        app = build()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
