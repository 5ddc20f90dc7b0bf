"""Timestamps in the protocol's format, from the Rust clock (`ixp._core.utc_timestamp`): the same
text Python's `time.strftime` gives for the same instant."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from ixp._core import utc_timestamp
from ixp.base.clock import iso_ms, parse_iso, utc_now_iso


def python_iso(ns: int) -> bytes:
    seconds, ms = divmod(ns // 1_000_000, 1000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z").encode()


def test_utc_timestamp_is_the_wall_clock_in_the_protocol_format() -> None:
    for _ in range(2000):
        before = python_iso(time.time_ns())
        stamp = utc_timestamp()
        after = python_iso(time.time_ns())
        assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
        assert before <= stamp <= after  # fixed width: text order is time order


def test_utc_now_iso_reads_back_as_now() -> None:
    stamp = utc_now_iso()
    moment = parse_iso(stamp)
    assert moment is not None and iso_ms(moment) == stamp
    assert abs((datetime.now(timezone.utc) - moment).total_seconds()) < 60
