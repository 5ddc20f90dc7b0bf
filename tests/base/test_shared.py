"""The directory one server's workers share: named after Granian's main process, swept once it is gone."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ixp.base.errors import ConfigError
from ixp.base.shared import birth, default_shared_dir, shared_dir, sweep_dead_servers


def _report(queue: multiprocessing.Queue[str | None]) -> None:
    found = default_shared_dir()
    queue.put(str(found) if found is not None else None)


def test_workers_of_one_parent_meet_in_one_directory() -> None:
    assert default_shared_dir() is None  # the test process is nobody's worker
    context = multiprocessing.get_context("spawn")  # as Granian may start workers
    queue: multiprocessing.Queue[str | None] = context.Queue()
    children = [context.Process(target=_report, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    found = {queue.get(timeout=30) for _ in children}
    for child in children:
        child.join(timeout=10)
    assert found == {str(Path("/dev/shm") / f"ixp-{os.getpid()}-{birth(os.getpid())}")}


def test_an_explicit_directory_is_created_or_refused_by_name(tmp_path: Path) -> None:
    assert shared_dir(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"IXP_SHARED_DIR: cannot create the directory '.*file/under'"):
        shared_dir(str(tmp_path / "file" / "under"))


def test_sweep_removes_only_directories_of_gone_servers(tmp_path: Path) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    alive = tmp_path / f"ixp-{os.getpid()}-{birth(os.getpid())}"
    gone = tmp_path / f"ixp-{exited.pid}-12345"
    reused = tmp_path / f"ixp-{os.getpid()}-1"  # this pid, but another process's start time
    unrelated = tmp_path / "ixp-cache"
    for directory in (alive, gone, reused, unrelated):
        (directory / "metrics").mkdir(parents=True)
    assert sweep_dead_servers(tmp_path) == 2
    assert alive.exists() and unrelated.exists() and not gone.exists() and not reused.exists()
