"""Background-task plumbing shared by the app, the reloader and the storage layer."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has finished unwinding."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Watchdog:
    """Cancels requests that run past the timeout. One task sweeps the in-flight requests a few
    times per timeout, so a request costs a dict insert and delete, not a timer of its own."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(0.25, timeout / 4)
        self.inflight: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self._task: asyncio.Task[None] | None = None

    def enter(self) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is None:
            return None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sweep())
        self.inflight[task] = time.monotonic() + self.timeout
        return task

    def leave(self, task: asyncio.Task[Any]) -> bool:
        """Forget the task; True if it was cancelled for running too long."""
        self.inflight.pop(task, None)
        if task in self.expired:
            self.expired.discard(task)
            return True
        return False

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            for task, deadline in list(self.inflight.items()):
                if deadline <= now and task not in self.expired:
                    self.expired.add(task)
                    task.cancel()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)


async def call_with_timeout(function: Callable[..., Any], timeout: float, *args: Any) -> Any:
    """`function(*args)`, awaited if it is async, within `timeout` seconds. A synchronous function
    runs in a worker thread, so a slow one cannot stall the event loop past the timeout."""
    if inspect.iscoroutinefunction(function):
        return await asyncio.wait_for(function(*args), timeout)
    result = await asyncio.wait_for(asyncio.to_thread(function, *args), timeout)
    if inspect.isawaitable(result):  # a plain function that returned a coroutine
        return await asyncio.wait_for(result, timeout)
    return result
