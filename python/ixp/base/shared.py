"""The directory the workers of one server on one host share (cluster metrics, rate limits).

Granian starts every worker from one main process, which outlives worker restarts: its pid and
start time name the directory, under /dev/shm (memory) when there is one. An app that is not a
server's worker (embedded in tests or another program) has nobody to share with: None.
`IXP_SHARED_DIR` names one explicitly (then it must belong to one server).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from ixp.base.errors import ConfigError

SHARED_BASE = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())


def default_shared_dir() -> Path | None:
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    return SHARED_BASE / f"ixp-{parent.pid}-{birth(parent.pid)}"


def shared_dir(explicit: str | None) -> Path | None:
    """`IXP_SHARED_DIR` (created if missing; a path that cannot be a writable directory stops
    start-up naming the setting) or the default."""
    if not explicit:
        return default_shared_dir()
    path = Path(explicit)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"IXP_SHARED_DIR: cannot create the directory '{explicit}': {exc.strerror}"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"IXP_SHARED_DIR: the directory '{explicit}' is not writable by this process")
    return path


def birth(pid: int) -> str:
    """A process's start time (clock ticks since boot): with the pid, names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_dead_servers(base: Path = SHARED_BASE) -> int:
    """Removes the default directories of servers whose main process is gone; returns how many."""
    removed = 0
    for directory in base.glob("ixp-*-*"):
        _, pid, started = directory.name.split("-", 2)
        if pid.isdigit() and (not alive(int(pid)) or birth(int(pid)) != started):
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    return removed
