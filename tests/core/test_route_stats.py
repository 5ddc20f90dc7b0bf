"""`ixp._core.RouteStats`: one call per response records its latency and its status class."""

from __future__ import annotations

import threading
import time

import pytest

from ixp._core import LatencyHistogram, RouteStats, monotonic_ns


def test_counts_by_status_class_errors_and_latency() -> None:
    stats = RouteStats(1_000, 60_000_000_000, 2)
    for status, elapsed in ((200, 5_000), (201, 6_000), (304, 2_000), (404, 1_000_000), (503, 7_000)):
        stats.record(status, elapsed)
    assert stats.by_class == [0, 0, 2, 1, 1, 1]
    assert stats.errors == 2
    assert stats.count == 5
    histogram = stats.histogram
    assert isinstance(histogram, LatencyHistogram)
    assert histogram.count == 5 and 1_000 <= histogram.min <= 2_000  # resolution of the lowest bucket
    assert histogram.max == pytest.approx(1_000_000, rel=0.01)


def test_histogram_is_a_copy() -> None:
    stats = RouteStats()
    stats.record(200, 10_000)
    copy = stats.histogram
    copy.record(20_000)
    assert copy.count == 2 and stats.count == 1 and stats.histogram.count == 1


def test_status_outside_the_classes_counts_as_a_server_error() -> None:
    stats = RouteStats()
    for status in (0, 99, 600, 65535):
        stats.record(status, 1_000)
    assert stats.by_class == [0, 0, 0, 0, 0, 4]
    assert stats.errors == 4


@pytest.mark.parametrize(("status", "elapsed"), [(-1, 1_000), (70_000, 1_000), (200, -5)])
def test_out_of_type_arguments_are_refused(status: int, elapsed: int) -> None:
    stats = RouteStats()
    with pytest.raises(OverflowError):
        stats.record(status, elapsed)
    assert stats.count == 0


def test_invalid_histogram_configuration() -> None:
    with pytest.raises(ValueError, match="lowest"):
        RouteStats(-1)


def test_threads_recording_into_one_series() -> None:
    stats = RouteStats()

    def work() -> None:
        for i in range(5_000):
            stats.record(200 if i % 10 else 500, 1_000 + i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stats.count == 20_000
    assert stats.by_class[2] == 18_000 and stats.by_class[5] == 2_000 == stats.errors


def test_record_since_reads_the_same_monotonic_clock() -> None:
    stats = RouteStats()
    start = monotonic_ns()
    time.sleep(0.002)
    elapsed = stats.record_since(200, start)
    assert 2_000_000 <= elapsed <= monotonic_ns() - start
    assert stats.count == 1 and stats.by_class[2] == 1
    assert stats.record_since(503, monotonic_ns() + 10**12) == 0  # a start in the future counts as 0
    assert stats.errors == 1
