"""`GroupCommit`: the writes of concurrent requests committed together, one transaction per batch.

`submit(item)` queues the item and waits for ITS batch to commit. One writer task commits what is
queued, at most `max_batch` items at a time, then whatever arrived meanwhile, until the queue is
empty; then it ends, and the next `submit` starts a new one. So a lone request is committed at once
(no timer, no waiting for company), and under load each transaction carries every request that
arrived during the previous one.

Outcomes, per item:
- `commit(items)` returns one result per item: a value, or an exception for that item alone (e.g.
  an unknown user); the others of the batch are committed.
- `commit` raises `StorageUnavailable`: the batch's transaction did not commit; every item of that
  batch gets the error (a 503), nothing else is affected, and the next batch tries again.
- `commit` raises anything else (the database refused a value, a constraint, a deadlock): the
  transaction rolled back, so nothing of the batch is written; each item is then committed alone, in
  order, so that only the item at fault gets the error.
- `settle(items, outcomes)`, if given, runs after the commit and before anyone is answered (e.g. to
  update the cache, so that no read after an acknowledged write sees the old value). It may return
  an awaitable (e.g. a Redis round trip): the batch's callers are answered once it is done, while
  the writer already commits the next batch.

A caller that is cancelled before its item is taken into a batch is dropped from the queue; once
taken, the item is committed like the others (as a cancelled request's transaction was before).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from ixp.storage.base import StorageUnavailable

logger = logging.getLogger("ixp.storage.batching")

I = TypeVar("I")  # noqa: E741 - the conventional name of the item type
R = TypeVar("R")

Outcome = Any  # R | Exception, per item (typing cannot say "R or an exception" generically)


class GroupCommit(Generic[I, R]):
    def __init__(
        self,
        commit: Callable[[Sequence[I]], Awaitable[Sequence[R | Exception]]],
        *,
        max_batch: int = 256,
        settle: Callable[[Sequence[I], Sequence[R | Exception]], Awaitable[None] | None] | None = None,
        name: str = "writes",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._commit = commit
        self._settle = settle
        self.max_batch = max_batch
        self.name = name
        self._queue: deque[tuple[I, asyncio.Future[R]]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()
        self.batches = 0  # transactions committed
        self.writes = 0  # items committed (by those transactions)
        self.failed_batches = 0  # transactions that did not commit
        self.isolated = 0  # items committed or failed alone after their batch failed
        self.errors = 0  # items answered with an error
        self.largest = 0  # the largest batch committed
        self.in_flight = 0  # items taken into a batch, not answered yet

    async def submit(self, item: I) -> R:
        """Queue `item`; return its result once its batch has committed (or raise its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._writer is None:
            self._writer = loop.create_task(self._write(), name=f"ixp-group-commit-{self.name}")
        return await future

    def pending(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "writes": self.writes,
            "meanBatch": round(self.writes / self.batches, 2) if self.batches else 0.0,
            "largest": self.largest,
            "maxBatch": self.max_batch,
            "failedBatches": self.failed_batches,
            "isolated": self.isolated,
            "errors": self.errors,
            "pending": len(self._queue),
            "inFlight": self.in_flight,
        }

    async def close(self) -> None:
        """Wait until everything queued (also what arrives meanwhile) is committed and every
        caller answered. Nothing is left behind: a later `submit` starts a new writer."""
        while self._writer is not None or self._releases:
            waiting = [*self._releases, *([self._writer] if self._writer is not None else [])]
            await asyncio.gather(*waiting, return_exceptions=True)

    # -- the writer -------------------------------------------------------------------------------

    async def _write(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                if batch:
                    await self._write_batch(batch)
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        try:
            outcomes = await self._commit_batch(items)
        except BaseException as exc:  # a bug, or the writer cancelled: nobody may hang
            error = exc if isinstance(exc, Exception) else StorageUnavailable(f"{self.name} writer stopped")
            self._answer(batch, [error] * len(batch))
            if not isinstance(exc, Exception):
                self._fail_queue()
                raise
            logger.exception("group commit of %s crashed; its callers got the error", self.name)
            return
        settled: Awaitable[None] | None = None
        try:
            if self._settle is not None:
                settled = self._settle(items, outcomes)
        except Exception:  # the commit stands: the callers get their outcomes all the same
            logger.exception("settling a group commit of %s failed", self.name)
        if settled is None:
            self._answer(batch, outcomes)
            return
        release = asyncio.get_running_loop().create_task(self._release(settled, batch, outcomes))
        self._releases.add(release)
        release.add_done_callback(self._releases.discard)

    def _take(self) -> list[tuple[I, asyncio.Future[R]]]:
        batch: list[tuple[I, asyncio.Future[R]]] = []
        queue = self._queue
        while queue and len(batch) < self.max_batch:
            entry = queue.popleft()
            if not entry[1].done():  # done: its caller was cancelled while it waited
                batch.append(entry)
        self.in_flight += len(batch)
        return batch

    async def _commit_batch(self, items: list[I]) -> list[Outcome]:
        try:
            outcomes = list(await self._commit(items))
        except StorageUnavailable as exc:
            self.failed_batches += 1
            return [exc] * len(items)
        except Exception as exc:
            self.failed_batches += 1
            if len(items) == 1:
                return [exc]
            # The transaction rolled back as a whole: find the item(s) at fault by committing each
            # alone, in arrival order (per-user order is kept).
            logger.warning(
                "group commit of %d %s failed (%s: %s); committing them one by one",
                len(items),
                self.name,
                type(exc).__name__,
                exc,
            )
            self.isolated += len(items)
            alone: list[Outcome] = []
            for item in items:
                alone += await self._commit_batch([item])
            return alone
        if len(outcomes) != len(items):
            raise RuntimeError(f"commit of {len(items)} {self.name} returned {len(outcomes)} outcomes")
        self.batches += 1
        self.writes += len(items)
        self.largest = max(self.largest, len(items))
        return outcomes

    async def _release(
        self, settled: Awaitable[None], batch: list[tuple[I, asyncio.Future[R]]], outcomes: Sequence[Outcome]
    ) -> None:
        try:
            await settled
        except Exception:  # the commit stands: the callers get their outcomes all the same
            logger.exception("settling a group commit of %s failed", self.name)
        finally:
            self._answer(batch, outcomes)

    def _answer(self, batch: list[tuple[I, asyncio.Future[R]]], outcomes: Sequence[Outcome]) -> None:
        self.in_flight -= len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self.errors += 1
                if not future.done():
                    future.set_exception(outcome)
            elif not future.done():
                future.set_result(outcome)

    def _fail_queue(self) -> None:
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(StorageUnavailable(f"{self.name} writer stopped"))
