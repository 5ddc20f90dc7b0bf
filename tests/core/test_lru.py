"""ixp._core.LruCache: LRU order, counters, TTL, errors, __del__ re-entrancy, threads."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ixp import LruCache


def test_capacity_and_ttl_validation() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="capacity"):
            LruCache(bad)
    for ttl in (0, 0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="ttl"):
            LruCache(3, ttl=ttl)
    cache = LruCache(3, ttl=1.5)
    assert cache.capacity == 3
    with pytest.raises(ValueError, match="ttl"):
        cache.set("k", 1, ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        cache.set("k", 1, ttl=-2.5)


def test_exact_eviction_order() -> None:
    cache = LruCache(3)
    for key in "abc":
        cache.set(key, key.upper())
    assert cache.get("a") == "A"  # order (LRU first): b c a
    cache.set("d", "D")  # evicts b
    assert "b" not in cache
    cache.set("c", "C2")  # replace refreshes: a d c
    cache.set("e", "E")  # evicts a
    cache.set("f", "F")  # evicts d
    assert ["a" in cache, "c" in cache, "d" in cache, "e" in cache, "f" in cache] == [
        False,
        True,
        False,
        True,
        True,
    ]
    assert cache.get("c") == "C2"
    assert cache.evictions == 3
    assert len(cache) == 3


def test_counters_and_stats() -> None:
    cache = LruCache(2)
    sentinel = object()
    assert cache.get("missing") is None
    assert cache.get("missing", sentinel) is sentinel
    cache.set("x", 0)
    assert cache.get("x", sentinel) == 0  # falsy values are hits too
    cache.set("y", None)
    assert cache.get("y", sentinel) is None
    assert "x" in cache and "nope" not in cache and 42 not in cache  # no counting
    cache.set("z", 3)  # evicts x
    assert cache.stats() == {
        "hits": 2,
        "misses": 2,
        "evictions": 1,
        "expirations": 0,
        "size": 2,
        "capacity": 2,
    }
    assert (cache.hits, cache.misses, cache.evictions, cache.expirations) == (2, 2, 1, 0)


def test_contains_does_not_refresh_recency() -> None:
    cache = LruCache(2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert "a" in cache
    cache.set("c", 3)
    assert "a" not in cache
    assert cache.hits == 0 and cache.misses == 0


def test_delete_and_clear() -> None:
    cache = LruCache(4)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0
    assert cache.get("b") is None
    cache.set("c", 3)
    assert cache.get("c") == 3


def test_properties_are_read_only() -> None:
    cache = LruCache(2)
    with pytest.raises(AttributeError):
        cache.capacity = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cache.hits = 5  # type: ignore[misc]


def test_keys_must_be_str() -> None:
    cache = LruCache(2)
    with pytest.raises(TypeError):
        cache.set(1, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.get(b"k")  # type: ignore[arg-type]


def test_default_ttl_expiry() -> None:
    cache = LruCache(4, ttl=0.05)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    time.sleep(0.1)
    assert "k" not in cache
    assert cache.get("k", "gone") == "gone"
    assert cache.expirations == 1
    assert cache.misses == 1
    assert len(cache) == 0


def test_per_entry_ttl_overrides_default() -> None:
    cache = LruCache(4, ttl=0.05)
    cache.set("short", 1)
    cache.set("long", 2, ttl=60)
    no_default = LruCache(4)
    no_default.set("never", 3)
    no_default.set("soon", 4, ttl=0.05)
    time.sleep(0.1)
    assert cache.get("short") is None
    assert cache.get("long") == 2
    assert no_default.get("never") == 3
    assert "soon" not in no_default
    assert no_default.delete("soon") is False  # expired: not reported as deleted
    assert no_default.expirations == 1


def test_remembered_answers() -> None:
    cache = LruCache(2, ttl=0.05)
    value = ("intent", {})
    cache.set("k", value)
    assert cache.remember("k", ("intent", {}), b"answer") is False  # an equal value, not the same
    assert cache.remember("absent", value, b"answer") is False
    assert cache.recall("k") is None  # nothing remembered: nothing counted
    assert (cache.hits, cache.misses) == (0, 0)
    assert cache.remember("k", value, b"answer", frozenset({"https://a.example"})) is True
    assert (cache.hits, cache.misses) == (0, 0)  # remembering touches nothing
    assert cache.recall("k") == b"answer"  # no Origin
    assert cache.recall("k", "https://a.example") == b"answer"
    assert cache.recall("k", "https://b.example") is None  # not this origin's answer: not counted
    assert (cache.hits, cache.misses) == (2, 0)
    assert cache.get("k") is value  # `get` still gives the value
    cache.set("other", 1)
    assert cache.recall("k") == b"answer"  # a hit: "k" is most recent again, "other" goes first
    cache.set("third", 3)
    assert "other" not in cache and "k" in cache
    cache.set("k", value)  # set again: the answer goes
    assert cache.recall("k") is None
    assert cache.remember("k", value, b"again") is True
    time.sleep(0.1)
    assert cache.recall("k") is None  # expired: left for `get` to count
    assert (cache.expirations, cache.misses) == (0, 0)
    assert cache.get("k") is None
    assert (cache.expirations, cache.misses) == (1, 1)


def test_evicted_values_are_released_outside_the_lock() -> None:
    """A value whose __del__ uses the same cache must not deadlock."""
    cache = LruCache(1)
    seen: list[object] = []

    class Reentrant:
        def __del__(self) -> None:
            seen.append(cache.get("probe"))
            cache.set("from_del", 1)
            seen.append(len(cache))

    cache.set("a", Reentrant())
    cache.set("b", "plain")  # evicts the Reentrant instance
    cache.set("c", Reentrant())
    cache.delete("c")
    cache.set("d", Reentrant())
    cache.set("d", "replaced")
    cache.set("e", Reentrant())
    cache.clear()
    assert len(seen) == 8


def test_values_are_kept_alive_by_the_cache() -> None:
    cache = LruCache(2)
    cache.set("list", [1, 2, 3])
    value = cache.get("list")
    assert value == [1, 2, 3]
    assert cache.get("list") is value


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 5),
    ops=st.lists(
        st.tuples(st.sampled_from(["get", "set", "delete", "contains"]), st.integers(0, 8)), max_size=80
    ),
)
def test_against_ordereddict_model(capacity: int, ops: list[tuple[str, int]]) -> None:
    cache = LruCache(capacity)
    model: OrderedDict[str, int] = OrderedDict()
    hits = misses = evictions = 0
    for n, (op, k) in enumerate(ops):
        key = f"k{k}"
        if op == "get":
            expected = model.get(key)
            if key in model:
                model.move_to_end(key)
                hits += 1
            else:
                misses += 1
            assert cache.get(key) == expected
        elif op == "set":
            if key in model:
                model.move_to_end(key)
            elif len(model) == capacity:
                model.popitem(last=False)
                evictions += 1
            model[key] = n
            cache.set(key, n)
        elif op == "delete":
            assert cache.delete(key) == (model.pop(key, None) is not None)
        else:
            assert (key in cache) == (key in model)
        assert len(cache) == len(model)
    assert (cache.hits, cache.misses, cache.evictions) == (hits, misses, evictions)


def test_threads_hammering_one_cache() -> None:
    cache = LruCache(64)
    threads_n, ops_n = 8, 2_000
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(ops_n):
                key = f"k{(seed * 7 + i) % 100}"
                cache.set(key, (seed, i))
                cache.get(key)
                if i % 10 == 0:
                    cache.delete(f"k{i % 100}")
                _ = key in cache
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == threads_n * ops_n
    assert stats["size"] <= 64 == stats["capacity"]
    assert len(cache) == stats["size"]
