"""`IntentLogWriter`: write-behind batching of intent log rows.

`log()` only appends to an in-memory queue. A background task writes the queue in batches of
`batch_size` through `Store.write_intent_logs` (COPY on PostgreSQL, one executemany transaction on
SQLite): every `flush_interval` seconds, as soon as `batch_size` rows are waiting, and on `close()`.
A batch that fails to write goes back to the front of the queue and is retried with a growing delay.
Rows are dropped only when the queue holds `max_queue` rows (oldest first, counted, with a warning).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ixp.base.tasks import cancel_and_wait
from ixp.storage.base import IntentLog, StorageError, Store

T = TypeVar("T")

logger = logging.getLogger("ixp.storage.logs")

_MAX_RETRY_DELAY = 30.0
_WARN_INTERVAL = 30.0


class IntentLogWriter:
    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        close_timeout: float = 10.0,
    ) -> None:
        if batch_size < 1 or max_queue < batch_size:
            raise ValueError(f"need 1 <= batch_size <= max_queue, got {batch_size}, {max_queue}")
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0, got {flush_interval}")
        self.store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.close_timeout = close_timeout
        self._queue: deque[IntentLog] = deque()
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failures = 0
        self._last_warning = float("-inf")
        self.queued = 0  # rows accepted by log()
        self.written = 0  # rows the store confirmed
        self.dropped = 0  # rows lost: queue bound hit, or unwritable at close
        self.flushes = 0  # successful batch writes
        self.failed_flushes = 0
        self.rejected = 0  # rows the database refused (also counted in dropped)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background flusher (needs a running event loop)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ixp-intent-log-writer")

    async def close(self) -> None:
        """Stop the timer and write everything queued. Rows still unwritable after `close_timeout`
        seconds of retrying are counted as dropped and reported in an error log."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            # Let a flush in progress finish (cancelling it could lose or duplicate its batch).
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=self.close_timeout)
            except asyncio.TimeoutError:
                await cancel_and_wait(task)
        deadline = time.monotonic() + self.close_timeout
        delay = 0.05
        while self._queue:
            await self.flush()
            if not self._queue:
                break
            if time.monotonic() + delay > deadline:
                lost = len(self._queue)
                self._queue.clear()
                self.dropped += lost
                logger.error("intent log writer closed with %d rows unwritten (storage unavailable)", lost)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def __aenter__(self) -> IntentLogWriter:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- producing --------------------------------------------------------------------------------

    def log(self, row: IntentLog) -> None:
        """Queue one row; never blocks, never fails."""
        if self._closed:
            self.dropped += 1
            self._warn("intent log writer is closed: row dropped")
            return
        if len(self._queue) >= self.max_queue:
            self._drop_oldest(len(self._queue) - self.max_queue + 1)
        self._queue.append(row)
        self.queued += 1
        if len(self._queue) >= self.batch_size and self._failures == 0:
            self._wake.set()

    def pending(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "written": self.written,
            "dropped": self.dropped,
            "flushes": self.flushes,
            "failed_flushes": self.failed_flushes,
            "rejected": self.rejected,
            "pending": len(self._queue),
        }

    async def erase(self, user_id: int, delete: Callable[[], Awaitable[T]]) -> T:
        """Run `delete` while no batch is being written, then drop the user's queued rows, so no
        row of the user can land after it: also not the rows of a session write that committed
        just before the deletion and was queued while it ran."""
        async with self._flush_lock:
            result = await delete()
            kept = [row for row in self._queue if row.user_id != user_id]
            self._queue.clear()
            self._queue.extend(kept)
            return result

    # -- flushing ---------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write queued rows in batches until the queue is empty or the storage fails; return the
        number of rows written. Rows that could not be written stay queued, in order, at the front."""
        before = self.written
        async with self._flush_lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                try:
                    retry = await self._write(batch)
                except BaseException:
                    self._queue.extendleft(reversed(batch))
                    raise
                if retry:
                    self._queue.extendleft(reversed(retry))
                    if len(self._queue) > self.max_queue:
                        self._drop_oldest(len(self._queue) - self.max_queue)
                    break
        return self.written - before

    async def _write(self, batch: list[IntentLog]) -> list[IntentLog]:
        """Write `batch`; return the rows to retry later because the storage is unavailable."""
        try:
            await self.store.write_intent_logs(batch)
        except (StorageError, OSError) as exc:
            self._failures += 1
            self.failed_flushes += 1
            self._warn("intent log flush of %d rows failed, will retry: %s", len(batch), exc)
            return batch
        except Exception as exc:
            # The database rejects some row (a value out of range, a NUL in a text...): retrying
            # would fail forever, so find the bad rows by writing one at a time and drop them.
            if len(batch) > 1:
                for i, row in enumerate(batch):
                    if await self._write([row]):
                        return batch[i:]
                return []
            self.dropped += 1
            self.rejected += 1
            self._warn("intent log row rejected by the database, dropped: %r (%s)", batch[0], exc)
            return []
        self._failures = 0
        self.flushes += 1
        self.written += len(batch)
        return []

    async def _run(self) -> None:
        while not self._closed:
            delay = self.flush_interval
            if self._failures:
                delay = min(self.flush_interval * 2 ** min(self._failures, 10), _MAX_RETRY_DELAY)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            if self._closed:
                return  # close() writes the rest
            try:
                await self.flush()
            except Exception:  # a bug in a store must not kill the flusher
                logger.exception("intent log flush crashed; rows kept for the next attempt")

    def _drop_oldest(self, count: int) -> None:
        for _ in range(count):
            self._queue.popleft()
        self.dropped += count
        self._warn("intent log queue full (%d rows): dropped %d oldest rows", self.max_queue, self.dropped)

    def _warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_INTERVAL:
            self._last_warning = now
            logger.warning(message, *args)
