"""ixp._core.LatencyHistogram: recording, clamping, percentiles, merge, bytes, threads."""

from __future__ import annotations

import contextlib
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ixp import LatencyHistogram

HIGHEST = 60_000_000_000


def exact_percentile(sorted_values: list[int], q: float) -> int:
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def test_defaults_and_properties() -> None:
    h = LatencyHistogram()
    assert (h.lowest, h.highest, h.significant_figures) == (1_000, HIGHEST, 3)
    assert (h.count, h.min, h.max, h.mean) == (0, 0, 0, 0.0)
    assert h.percentile(50) == 0
    assert h.percentiles([50, 99]) == [0, 0]
    assert h.count_at_or_below(10**9) == 0
    with pytest.raises(AttributeError):
        h.count = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((0, 100, 3), "lowest must be >= 1"),
        ((-5, 100, 3), "lowest"),
        ((100, 150, 3), r"2 \* lowest"),
        ((1, 100, 6), "between 0 and 5"),
        ((1, 100, -1), "between 0 and 5"),
        ((1, 2**64, 3), "highest"),
    ],
)
def test_invalid_configurations(args: tuple[int, int, int], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        LatencyHistogram(*args)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), float("-inf"), -(2**70)])
def test_invalid_values(bad: float) -> None:
    h = LatencyHistogram()
    with pytest.raises(ValueError):
        h.record(bad)
    with pytest.raises(ValueError):
        h.record_n(bad, 2)  # type: ignore[arg-type]
    assert h.count == 0


def test_record_n_rejects_negative_count_and_non_numbers() -> None:
    h = LatencyHistogram()
    with pytest.raises(ValueError, match="count"):
        h.record_n(5_000, -1)
    with pytest.raises(TypeError):
        h.record("5")  # type: ignore[arg-type]
    h.record_n(5_000, 0)
    assert h.count == 0


def test_record_values_and_stats_within_precision() -> None:
    h = LatencyHistogram(1, 10**9, 3)
    for v in (100, 200, 300, 400, 1_000_000):
        h.record(v)
    h.record(250.4)  # floats are rounded nanoseconds
    assert h.count == 6
    assert h.min == 100
    assert h.max == pytest.approx(1_000_000, rel=1e-3)
    assert h.mean == pytest.approx((100 + 200 + 250 + 300 + 400 + 1_000_000) / 6, rel=1e-3)
    assert h.percentile(50) == 250
    assert h.percentile(0) == 100
    assert h.percentile(100) == h.max
    assert h.count_at_or_below(300) == 4
    assert h.count_at_or_below(99) == 0
    assert h.count_at_or_below(-5) == 0
    assert h.count_at_or_below(10**30) == 6


def test_above_highest_is_clamped_and_below_lowest_is_recorded() -> None:
    h = LatencyHistogram()
    h.record(10**15)
    h.record(2**80)  # beyond 64 bits: still clamped, never an error
    h.record(3)  # below lowest
    h.record_n(10**13, 4)
    assert h.count == 7
    assert h.max == HIGHEST
    assert h.percentile(100) == HIGHEST
    assert h.count_at_or_below(1_000) == 1


@pytest.mark.parametrize("q", [-0.001, 100.0001, float("nan"), 1e9])
def test_bad_percentile(q: float) -> None:
    h = LatencyHistogram()
    h.record(5_000)
    with pytest.raises(ValueError, match="percentile"):
        h.percentile(q)
    with pytest.raises(ValueError, match="percentile"):
        h.percentiles([50, q])


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(1_000, 10**10), min_size=1, max_size=400),
    sigfig=st.integers(1, 4),
    qs=st.lists(st.floats(0, 100), min_size=1, max_size=8),
)
def test_percentiles_within_precision_of_sorted_list(values: list[int], sigfig: int, qs: list[float]) -> None:
    h = LatencyHistogram(1_000, HIGHEST, sigfig)
    for v in values:
        h.record(v)
    ordered = sorted(values)
    unit = 512  # largest power of two <= lowest: the absolute resolution at the bottom
    got = h.percentiles(qs)
    for q, value in zip(qs, got, strict=True):
        exact = exact_percentile(ordered, q)
        # HDR reports a value equivalent to the exact one: same bucket (q=0 gives its low end).
        assert abs(value - exact) <= max(exact * 10**-sigfig, unit), (q, exact, value)
    assert h.count == len(values)


def test_merge_is_exact_for_same_configuration() -> None:
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i in range(1, 500):
        a.record(i * 1_000)
        both.record(i * 1_000)
        b.record_n(i * 77_777, 2)
        both.record_n(i * 77_777, 2)
    a.merge(b)
    assert a.count == both.count
    assert a.percentiles([0, 25, 50, 90, 99, 99.9, 100]) == both.percentiles([0, 25, 50, 90, 99, 99.9, 100])
    assert a.to_bytes() == both.to_bytes()
    assert b.count == 998  # the source is unchanged


def test_merge_with_self_and_wider_histogram() -> None:
    h = LatencyHistogram(1_000, 10**9, 3)
    h.record(5_000)
    h.merge(h)
    assert h.count == 2
    wide = LatencyHistogram(1, 2**62, 2)
    wide.record_n(2**61, 3)
    wide.record(1)
    h.merge(wide)
    assert h.count == 6
    assert h.max == 10**9


def test_reset() -> None:
    h = LatencyHistogram()
    h.record(1_234)
    h.reset()
    assert (h.count, h.max) == (0, 0)


def test_bytes_round_trip() -> None:
    h = LatencyHistogram(1_000, HIGHEST, 2)
    for v in (1_000, 1_500_000, 99, HIGHEST, 42_000, 10**14):
        h.record_n(v, 3)
    data = h.to_bytes()
    assert isinstance(data, bytes)
    assert data[:5] == b"IXPH\x01"
    back = LatencyHistogram.from_bytes(data)
    assert (back.lowest, back.highest, back.significant_figures) == (1_000, HIGHEST, 2)
    assert back.count == h.count
    assert back.percentiles([0, 50, 90, 100]) == h.percentiles([0, 50, 90, 100])
    assert back.to_bytes() == data
    empty = LatencyHistogram.from_bytes(LatencyHistogram().to_bytes())
    assert empty.count == 0
    assert len(LatencyHistogram().to_bytes()) < 64


def test_from_bytes_rejects_corrupt_data() -> None:
    h = LatencyHistogram()
    h.record_n(123_456, 9)
    data = h.to_bytes()
    with pytest.raises(ValueError, match="magic"):
        LatencyHistogram.from_bytes(b"")
    with pytest.raises(ValueError, match="magic"):
        LatencyHistogram.from_bytes(b"NOPE" + data[4:])
    with pytest.raises(ValueError, match="version"):
        LatencyHistogram.from_bytes(data[:4] + b"\x02" + data[5:])
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            LatencyHistogram.from_bytes(data[:cut])
    with pytest.raises(ValueError):
        LatencyHistogram.from_bytes(data + b"\x00")
    with pytest.raises(ValueError):
        LatencyHistogram.from_bytes(data[:5] + b"\xff" * (len(data) - 5))


@given(st.binary(max_size=120))
def test_from_bytes_never_panics(junk: bytes) -> None:
    with contextlib.suppress(ValueError):  # a Rust panic would be a PanicException instead
        LatencyHistogram.from_bytes(b"IXPH\x01" + junk)


def test_threads_recording_into_one_histogram() -> None:
    h = LatencyHistogram()
    threads_n, per_thread = 8, 5_000
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(per_thread):
                h.record(1_000 + seed * 1_000 + i)
                if i % 500 == 0:
                    h.percentile(99)
                    other = LatencyHistogram.from_bytes(h.to_bytes())
                    assert other.count <= h.count
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert h.count == threads_n * per_thread
