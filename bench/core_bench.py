"""Benchmark of the Rust core (ixp._core) against the pure-Python approaches it replaces.

    python bench/core_bench.py

(a) IntentMatcher.match over 1,000 generated intent patterns and 10,000 messages (early-,
    late- and non-matching) vs the performance guide's matcher: a loop over precompiled `re`
    patterns (re.IGNORECASE) with a dict cache keyed by text.lower().strip(). "cold" means a
    cache miss (the loop runs); the cached row is the guide's best case, a repeated message.
(b) LruCache get/set vs an OrderedDict LRU.
(c) LatencyHistogram.record / percentiles vs list.append + sorted-list percentiles.

Deterministic (fixed seed); no assertions: it prints a table. Takes well under two minutes.
"""

from __future__ import annotations

import math
import random
import re
import statistics
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from ixp import IntentMatcher, LatencyHistogram, LruCache

SEED = 20240611
N_PATTERNS = 1_000
N_MESSAGES = 10_000
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vo",
    "si",
    "pe",
    "da",
    "gu",
    "fi",
    "zo",
    "be",
    "chi",
    "mar",
    "ten",
    "sol",
    "qua",
    "rin",
    "dex",
    "lan",
    "por",
    "vel",
]
FILLER = "could you please tell me what is going on with the thing I asked yesterday "

Match = tuple[str, dict[str, str]] | None


# --------------------------------------------------------------------------- data


def make_patterns(rng: random.Random) -> tuple[list[tuple[str, str, int]], list[list[str]]]:
    """1,000 realistic patterns: literal words, alternations, optional parts, named groups."""
    entries: list[tuple[str, str, int]] = []
    words_of: list[list[str]] = []
    for i in range(N_PATTERNS):
        w = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(4)]
        kind = i % 5
        if kind == 0:
            pattern = rf"\b(?:{w[0]}|{w[1]}|{w[2]})\b"
        elif kind == 1:
            pattern = rf"{w[0]} (?:in|at|for) (?P<city>\w+)"
        elif kind == 2:
            pattern = rf"^(?:please )?{w[0]} {w[1]}(?: (?P<item>\w+))?"
        elif kind == 3:
            pattern = rf"(?:show|list|find) (?:me )?(?:the )?{w[0]} (?P<count>\d+)"
        else:
            pattern = rf"{w[0]}.*\b{w[1]}s?\b"
        entries.append((f"intent_{i}", pattern, i % 3))
        words_of.append(w)
    return entries, words_of


def matching_message(i: int, w: list[str], prefix: str, rng: random.Random) -> str:
    kind = i % 5
    city = rng.choice(["Paris", "Köln", "Tokyo", "Lima", "São Paulo"])
    if kind == 0:
        core = f"{w[1]} please"
    elif kind == 1:
        core = f"{w[0]} in {city}"
    elif kind == 2:
        return f"{w[0]} {w[1]} now"  # anchored at the start: no prefix
    elif kind == 3:
        core = f"show me the {w[0]} {rng.randint(1, 999)}"
    else:
        core = f"{w[0]} and some {w[1]}s"
    return prefix + core


def make_messages(rng: random.Random, words_of: list[list[str]]) -> dict[str, list[str]]:
    """early: matched by one of the first 5% of patterns; late: one of the last 5%, after a
    sentence of filler; none: matched by nothing."""
    n = len(words_of)
    per_class = N_MESSAGES // 3
    early, late, none = [], [], []
    for _ in range(per_class):
        i = rng.randrange(0, n // 20)
        early.append(matching_message(i, words_of[i], "", rng))
        j = rng.randrange(n - n // 20, n)
        late.append(matching_message(j, words_of[j], FILLER, rng))
        none.append(f"{FILLER}about order {rng.randint(1, 10**6)} and the weather xyzzy plugh")
    rest = N_MESSAGES - 3 * per_class
    none.extend(none[:rest])
    return {"early": early, "late": late, "none": none}


# --------------------------------------------------------------------------- baselines


class GuideMatcher:
    """The performance guide's OptimizedIntentMatcher, in Python."""

    def __init__(self, entries: Sequence[tuple[str, str, int]]) -> None:
        self.compiled = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern, _ in entries]
        self.cache: dict[str, Match] = {}

    def match(self, text: str) -> Match:
        key = text.lower().strip()
        if key in self.cache:
            return self.cache[key]
        result: Match = None
        for name, pattern in self.compiled:
            m = pattern.search(text)
            if m is not None:
                result = (name, {k: v for k, v in m.groupdict().items() if v is not None})
                break
        self.cache[key] = result
        return result


class OrderedDictLru:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data: OrderedDict[str, object] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: str, default: object = None) -> object:
        try:
            value = self.data[key]
        except KeyError:
            self.misses += 1
            return default
        self.data.move_to_end(key)
        self.hits += 1
        return value

    def set(self, key: str, value: object) -> None:
        if key in self.data:
            self.data.move_to_end(key)
        elif len(self.data) >= self.capacity:
            self.data.popitem(last=False)
        self.data[key] = value


def sorted_percentiles(values: list[int], qs: Sequence[float]) -> list[int]:
    ordered = sorted(values)
    return [ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] for q in qs]


# --------------------------------------------------------------------------- timing


def ns_per_op(run: Callable[[], Any], ops: int, repeat: int = 5) -> float:
    """Best-of-`repeat` wall time of `run()` divided by `ops`, in ns."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter_ns()
        run()
        best = min(best, time.perf_counter_ns() - start)
    return best / ops


def median_call_ns(fn: Callable[[str], Any], items: Sequence[str], rounds: int = 3) -> float:
    """Median over items of the per-call time (each item timed alone, best of `rounds`)."""
    clock = time.perf_counter_ns
    overhead = min(-(clock() - clock()) for _ in range(1000))
    per_item = []
    for item in items:
        best = math.inf
        for _ in range(rounds):
            start = clock()
            fn(item)
            best = min(best, clock() - start)
        per_item.append(max(best - overhead, 0))
    return statistics.median(per_item)


Row = tuple[str, float, float | None]


def bench_matcher(rows: list[Row], notes: list[str]) -> None:
    rng = random.Random(SEED)
    entries, words_of = make_patterns(rng)
    messages = make_messages(rng, words_of)
    start = time.perf_counter()
    matcher = IntentMatcher(entries)
    build_s = time.perf_counter() - start
    guide = GuideMatcher(entries)
    notes.append(f"IntentMatcher build with {len(entries)} patterns: {build_s * 1e3:.0f} ms")

    all_messages = [m for cls in ("early", "late", "none") for m in messages[cls]]
    rng.shuffle(all_messages)
    counts = {cls: sum(matcher.match(t) is not None for t in msgs) for cls, msgs in messages.items()}
    notes.append(
        "messages: "
        + ", ".join(f"{cls} {len(msgs)} ({counts[cls]} matched)" for cls, msgs in messages.items())
    )

    # Warm the per-thread lazy DFA of the matcher the way a running server would be.
    matcher.match_many(all_messages)
    match = matcher.match
    guide_search = guide.match

    def ixp_loop(texts: list[str]) -> Callable[[], None]:
        def run() -> None:
            for t in texts:
                match(t)

        return run

    def guide_cold_loop(texts: list[str]) -> Callable[[], None]:
        def run() -> None:
            for t in texts:
                guide.cache.clear()
                guide_search(t)

        return run

    medians: dict[str, float] = {}
    cold_sample = {cls: msgs[:300] for cls, msgs in messages.items()}
    for cls in ("early", "late", "none"):
        texts = messages[cls]
        ixp_ns = ns_per_op(ixp_loop(texts), len(texts))
        py_ns = ns_per_op(guide_cold_loop(cold_sample[cls]), len(cold_sample[cls]), repeat=2)
        rows.append((f"match, {cls} (python: cold)", ixp_ns, py_ns))
        medians[cls] = median_call_ns(match, texts[:2000])

    mixed_ixp = ns_per_op(ixp_loop(all_messages), len(all_messages))
    sample = all_messages[:600]
    mixed_py = ns_per_op(guide_cold_loop(sample), len(sample), repeat=2)
    rows.append(("match, 10k mixed (python: cold)", mixed_ixp, mixed_py))

    # The guide's best case: every message already in its cache.
    for t in all_messages:
        guide_search(t)

    def guide_warm() -> None:
        for t in all_messages:
            guide_search(t)

    rows.append(("match, 10k mixed (python: cache hit)", mixed_ixp, ns_per_op(guide_warm, len(all_messages))))
    many_ns = ns_per_op(lambda: matcher.match_many(all_messages), len(all_messages))
    rows.append(("match_many, 10k mixed, per message", many_ns, mixed_py))
    notes.append(
        "IntentMatcher.match median per message (ns): "
        + ", ".join(f"{cls} {ns:,.0f}" for cls, ns in medians.items())
    )


def bench_lru(rows: list[Row]) -> None:
    capacity = 10_000
    keys = [f"user:{i}:intent:weather" for i in range(2 * capacity)]
    rng = random.Random(SEED)
    hit_keys = [keys[rng.randrange(capacity)] for _ in range(100_000)]
    miss_keys = [keys[capacity + rng.randrange(capacity)] for _ in range(100_000)]
    set_keys = [keys[rng.randrange(2 * capacity)] for _ in range(100_000)]

    def fill(cache: LruCache | OrderedDictLru) -> None:
        for i, k in enumerate(keys[:capacity]):
            cache.set(k, i)

    ixp, py = LruCache(capacity), OrderedDictLru(capacity)
    fill(ixp)
    fill(py)
    for label, ks in (("get (hit)", hit_keys), ("get (miss)", miss_keys)):
        ixp_get, py_get = ixp.get, py.get

        def run_ixp(ks: list[str] = ks, get: Callable[[str], object] = ixp_get) -> None:
            for k in ks:
                get(k)

        def run_py(ks: list[str] = ks, get: Callable[[str], object] = py_get) -> None:
            for k in ks:
                get(k)

        rows.append((f"LruCache.{label}", ns_per_op(run_ixp, len(ks)), ns_per_op(run_py, len(ks))))

    ixp_set, py_set = ixp.set, py.set

    def set_ixp() -> None:
        for i, k in enumerate(set_keys):
            ixp_set(k, i)

    def set_py() -> None:
        for i, k in enumerate(set_keys):
            py_set(k, i)

    rows.append(
        ("LruCache.set (half evicting)", ns_per_op(set_ixp, len(set_keys)), ns_per_op(set_py, len(set_keys)))
    )


def bench_histogram(rows: list[Row], notes: list[str]) -> None:
    rng = random.Random(SEED)
    values = [int(rng.lognormvariate(13, 1.2)) for _ in range(200_000)]
    h = LatencyHistogram()
    record = h.record
    samples: list[int] = []

    def rec_ixp() -> None:
        for v in values:
            record(v)

    def rec_py() -> None:
        samples.clear()
        append = samples.append
        for v in values:
            append(v)

    rows.append(("LatencyHistogram.record", ns_per_op(rec_ixp, len(values)), ns_per_op(rec_py, len(values))))
    h.reset()
    rec_ixp()
    rec_py()
    qs = [50.0, 95.0, 99.0]
    rows.append(
        (
            "percentiles p50/p95/p99 of 200k",
            ns_per_op(lambda: h.percentiles(qs), 1, repeat=20),
            ns_per_op(lambda: sorted_percentiles(samples, qs), 1, repeat=3),
        )
    )
    got, exact = h.percentiles(qs), sorted_percentiles(samples, qs)
    worst = max(abs(g - e) / e for g, e in zip(got, exact, strict=True))
    notes.append(f"histogram p50/p95/p99 {got} vs exact {exact}: worst relative error {worst:.2e}")
    data = h.to_bytes()
    notes.append(f"histogram to_bytes: {len(data)} bytes for {h.count:,} values")
    rows.append(("LatencyHistogram.to_bytes", ns_per_op(h.to_bytes, 1, repeat=20), None))


def main() -> int:
    started = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    bench_matcher(rows, notes)
    bench_lru(rows)
    bench_histogram(rows, notes)

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'ixp ns/op':>12}  {'python ns/op':>13}  {'ratio':>8}")
    print("-" * (width + 41))
    for name, ixp_ns, py_ns in rows:
        py_col = f"{py_ns:13,.0f}" if py_ns is not None else f"{'-':>13}"
        ratio = f"{py_ns / ixp_ns:7.1f}x" if py_ns is not None else f"{'-':>8}"
        print(f"{name:<{width}}  {ixp_ns:12,.0f}  {py_col}  {ratio}")
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- python {sys.version.split()[0]}, total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
