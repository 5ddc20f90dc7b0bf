"""Data providers: plugin functions whose mapping is merged into a render's props after validation
and before `options` (the SDK's order), each call under a timeout (docs/protocol.md §4.3)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ixp.base.errors import ErrorCode, IXPError
from ixp.base.tasks import call_with_timeout

log = logging.getLogger("ixp.render")


class ProviderContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a data provider knows about the request it serves."""

    request_id: str
    origin: str | None
    user_id: int | None
    intent: Mapping[str, Any]  # the intent's definition
    component: Mapping[str, Any]  # the component's definition


Resolve = Callable[[str, dict[str, Any], ProviderContext], "Mapping[str, Any] | Awaitable[Mapping[str, Any]]"]


@dataclass
class DataProvider:
    """A named provider; `intents` None serves every intent."""

    name: str
    resolve: Resolve
    intents: Collection[str] | None = None
    calls: int = 0
    failures: dict[str, int] = field(default_factory=lambda: {"error": 0, "timeout": 0})

    def serves(self, intent: str) -> bool:
        return self.intents is None or intent in self.intents


class DataProviders:
    """Runs the providers of an intent: `omit` (the default, as the SDK) renders without the data
    of a provider that failed or timed out, with a warning; `fail` answers 502."""

    def __init__(self, providers: Sequence[DataProvider], timeout: float, errors: str) -> None:
        self.providers = list(providers)
        self.timeout = timeout
        self.fail = errors == "fail"

    def serving(self, intent: str) -> list[DataProvider]:
        return [p for p in self.providers if p.serves(intent)]

    def served_intents(self, names: Collection[str]) -> frozenset[str]:
        """Of `names`, the intents some provider serves (these leave the Rust fast path)."""
        return frozenset(n for n in names if any(p.serves(n) for p in self.providers))

    async def data(self, intent: str, parameters: dict[str, Any], context: ProviderContext) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for provider in self.serving(intent):
            provider.calls += 1
            try:
                result = await call_with_timeout(
                    provider.resolve, self.timeout, intent, dict(parameters), context
                )
                if not isinstance(result, Mapping):
                    raise TypeError(f"returned {type(result).__name__}, expected a mapping")
                merged.update(result)
            except asyncio.TimeoutError:
                provider.failures["timeout"] += 1
                self._failed(provider, intent, context, f"no answer within {self.timeout:g} s")
            except Exception as exc:
                provider.failures["error"] += 1
                self._failed(provider, intent, context, f"{type(exc).__name__}: {exc}")
        return merged

    def _failed(self, provider: DataProvider, intent: str, context: ProviderContext, problem: str) -> None:
        log.warning(
            "data provider %r failed for intent %r: %s",
            provider.name,
            intent,
            problem,
            extra={"request_id": context.request_id, "provider": provider.name, "intent": intent},
        )
        if self.fail:
            raise IXPError(
                ErrorCode.DATA_PROVIDER_ERROR,
                f"Data provider '{provider.name}' failed for intent '{intent}': {problem}",
                {"provider": provider.name, "intent": intent},
            )

    def stats(self) -> dict[str, Any]:
        return {p.name: {"calls": p.calls, **p.failures} for p in self.providers}
