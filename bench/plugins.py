"""Plugins for benchmarks: a data provider that serves one filler intent of the generated registry,
so the benchmarked render (`bench_render`) must keep its fast lane unchanged
(`python bench/instructions_bench.py --plugins bench.plugins:OtherIntentData`)."""

from __future__ import annotations

from typing import Any

try:
    from bench.registry_gen import filler_intent
except ImportError:  # run as a script from bench/
    from registry_gen import filler_intent  # type: ignore[no-redef]


class OtherIntentData:
    name = "other-intent-data"
    intents = frozenset({filler_intent(0)["name"]})

    async def resolve_intent_data(
        self, intent: str, parameters: dict[str, Any], context: Any
    ) -> dict[str, Any]:
        return {"live": True}
