"""`TwoLevelCache`: a per-process L1 (`ixp.LruCache`, Rust) over a shared L2 in Redis.

- `get`: L1, then L2; an L2 hit fills L1 (for at most the entry's remaining L2 TTL and `l1_max_ttl`).
- `set`: both levels; L1 keeps the entry for `min(ttl, l1_max_ttl)` seconds.
- `invalidate`: deletes from L1 and L2 and publishes the key on `channel`; every instance subscribes
  and drops the key from its own L1 (ignoring its own messages, by a per-instance id).
- `written` + `publish`: after a committed write, the new values go into L1 (write-through), L2 is
  deleted and the other instances told, in one round trip for a whole batch of keys.
- Redis unreachable: operations quietly use L1 only, `status()` is "degraded", one warning per
  `warn_interval`. The subscriber task reconnects with backoff; once back, status is "ok", the L1
  is cleared (invalidations may have been missed) and invalidations made meanwhile are replayed.

Values must be encodable by msgspec JSON. Values read back from L2 are plain JSON types unless a
`type` is passed to `get` (e.g. `type=User`). None is not a cacheable value (it means "miss").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ixp import LruCache
from ixp.base.tasks import cancel_and_wait
from ixp.storage import invalidations
from ixp.storage.invalidations import InvalidationLog

logger = logging.getLogger("ixp.storage.cache")

T = TypeVar("T")
Status = Literal["ok", "degraded", "disabled"]

_MISS = object()
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
_MAX_PENDING_INVALIDATIONS = 10_000
_encode = msgspec.json.Encoder().encode


class _Flight:
    """One load in progress for a key, shared by every caller that missed it meanwhile."""

    __slots__ = ("stale", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.stale = False


class TwoLevelCache:
    def __init__(
        self,
        redis_url: str | None = None,
        *,
        capacity: int = 10_000,
        l1_max_ttl: float = 300.0,
        prefix: str = "ixp:cache:",
        channel: str = "ixp:invalidate",
        redis_timeout: float = 1.0,
        reconnect_max_delay: float = 2.0,
        warn_interval: float = 30.0,
        on_remote_invalidation: Callable[[str | None], None] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.l1_max_ttl = l1_max_ttl
        self.prefix = prefix
        self.channel = channel
        self.redis_timeout = redis_timeout
        self.reconnect_max_delay = reconnect_max_delay
        self.warn_interval = warn_interval
        self.l1 = LruCache(capacity, ttl=l1_max_ttl)
        self.instance_id = uuid.uuid4().hex
        self._redis: aioredis.Redis | None = None
        self._sub_redis: aioredis.Redis | None = None
        self._status: Status = "disabled" if redis_url is None else "degraded"
        self._inflight: dict[str, _Flight] = {}
        self.single_flight = {"loads": 0, "joined": 0}
        self._subscriber: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._last_warning = float("-inf")
        self._had_failure = False
        self._pending: set[str] = set()  # invalidations Redis has not seen yet
        self._pending_clear_all = False
        self._decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
        self._invalidations = InvalidationLog()  # for `written`
        # Told of every key another instance invalidated (None: all of them), e.g. so that the
        # store forgets what it remembers of a session another worker wrote.
        self.on_remote_invalidation = on_remote_invalidation
        self.l2_hits = self.l2_misses = self.l2_errors = 0

    # -- lifecycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect to Redis (if configured) and subscribe; never fails because Redis is down."""
        if self.redis_url is None or self._redis is not None:
            return
        options: dict[str, Any] = {
            "socket_timeout": self.redis_timeout,
            "socket_connect_timeout": self.redis_timeout,
        }
        # Operations: one immediate retry, which replaces a pooled connection that went stale.
        self._redis = aioredis.Redis.from_url(self.redis_url, retry=Retry(NoBackoff(), 1), **options)
        # The subscription: no silent reconnect, so that every loss is seen (and L1 cleared).
        self._sub_redis = aioredis.Redis.from_url(self.redis_url, retry=Retry(NoBackoff(), 0), **options)
        self._subscriber = asyncio.get_running_loop().create_task(
            self._subscribe_forever(), name="ixp-cache-invalidation"
        )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), timeout=self.redis_timeout * 3)

    async def close(self) -> None:
        task, self._subscriber = self._subscriber, None
        await cancel_and_wait(task)
        for client in (self._redis, self._sub_redis):
            if client is not None:
                with contextlib.suppress(*_REDIS_ERRORS):
                    await client.aclose()
        self._redis = self._sub_redis = None
        if self.redis_url is not None:
            self._status = "degraded"

    async def __aenter__(self) -> TwoLevelCache:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def status(self) -> Status:
        return self._status

    def stats(self) -> dict[str, Any]:
        return {
            "l1": self.l1.stats(),
            "l2": {"hits": self.l2_hits, "misses": self.l2_misses, "errors": self.l2_errors},
            "redis": self._status,
            "singleFlight": dict(self.single_flight),
        }

    # -- operations -------------------------------------------------------------------------------

    @overload
    async def get(self, key: str) -> Any: ...
    @overload
    async def get(self, key: str, as_type: type[T]) -> T | None: ...

    async def get(self, key: str, as_type: Any = None) -> Any:
        """The cached value or None. With `as_type`, L2 values are decoded (and validated) as that
        type (e.g. `User`); without it they come back as plain JSON values."""
        value = self.l1.get(key, _MISS)
        if value is not _MISS:
            return value
        client = self._redis
        if client is None or self._status != "ok":
            return None
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(self.prefix + key)
                pipe.pttl(self.prefix + key)
                data, ttl_ms = await pipe.execute()
        except _REDIS_ERRORS as exc:
            self._op_failed(exc)
            return None
        if data is None:
            self.l2_misses += 1
            return None
        try:
            value = self._decoder(as_type).decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.l2_errors += 1
            self._warn(f"undecodable L2 entry for {key!r} ignored: {exc}")
            return None
        self.l2_hits += 1
        l1_ttl = self.l1_max_ttl if ttl_ms is None or ttl_ms < 0 else min(ttl_ms / 1000, self.l1_max_ttl)
        if l1_ttl > 0:
            self.l1.set(key, value, ttl=l1_ttl)
        return value

    async def set(self, key: str, value: Any, ttl: float) -> None:
        """Cache `value` for `ttl` seconds (L1: at most `l1_max_ttl`)."""
        await self.set_many({key: value}, ttl)

    async def set_many(self, items: Mapping[str, Any], ttl: float) -> None:
        """Cache several values (one Redis round trip), e.g. to warm the cache at start-up."""
        if ttl <= 0:
            raise ValueError(f"ttl must be > 0, got {ttl}")
        encoded = {key: _encode(value) for key, value in items.items()}  # fail before writing anything
        for key, value in items.items():
            self.l1.set(key, value, ttl=min(ttl, self.l1_max_ttl))
        client = self._redis
        if client is None or not encoded:
            return
        if self._status != "ok":
            for key in encoded:  # L2 may hold an older value: drop it once Redis is back
                self._remember_invalidation(key)
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for key, data in encoded.items():
                    pipe.set(self.prefix + key, data, px=max(1, int(ttl * 1000)))
                await pipe.execute()
        except _REDIS_ERRORS as exc:
            for key in encoded:
                self._remember_invalidation(key)
            self._op_failed(exc)

    async def get_or_load(
        self, key: str, load: Callable[[], Awaitable[T | None]], ttl: float, as_type: type[T] | None = None
    ) -> T | None:
        """The cached value, or `await load()` cached for `ttl` (unless it returns None).

        Single flight: concurrent misses for one key share one `load()` (one database query), run
        as its own task so that a caller that gives up (a timeout) does not fail the others. A load
        that an invalidation overtook is returned to the callers that were waiting for it but not
        cached, so no later read sees a value older than an acknowledged write.
        """
        value: T | None = await (self.get(key) if as_type is None else self.get(key, as_type))
        if value is not None:
            return value
        flight = self._inflight.get(key)
        if flight is None:
            # The flight is handed to its task: an invalidation may take it out of `_inflight`
            # before the task first runs.
            flight = self._inflight[key] = _Flight()
            flight.task = asyncio.get_running_loop().create_task(self._load(key, load, ttl, flight))
            self.single_flight["loads"] += 1
        else:
            self.single_flight["joined"] += 1
        assert flight.task is not None
        result: T | None = await asyncio.shield(flight.task)
        return result

    async def _load(
        self, key: str, load: Callable[[], Awaitable[T | None]], ttl: float, flight: _Flight
    ) -> T | None:
        try:
            value = await load()
            if value is not None and not flight.stale:
                await self.set(key, value, ttl)
            return value
        finally:
            # An invalidation may have taken this flight out already, and a newer one may hold the
            # key now: only our own entry is ours to delete.
            if self._inflight.get(key) is flight:
                del self._inflight[key]

    async def invalidate(self, key: str) -> None:
        """Drop `key` from L1 and L2 here, and from every other instance's L1."""
        self.l1.delete(key)
        self._invalidations.note(key)
        self._drop_flight(key)
        await self.publish([key])

    def mark(self) -> int:
        """A mark for `written`, taken before the write's transaction starts."""
        return self._invalidations.seq

    def written(self, values: Mapping[str, Any], ttl: float, mark: int) -> None:
        """After a committed write, before it is acknowledged: each key's new value (None: unknown)
        replaces its L1 entry, unless the key was invalidated since `mark` (another worker's write
        may be newer: dropped then), and no load in flight caches an older one. Then `publish`."""
        l1_ttl = min(ttl, self.l1_max_ttl)
        for key, value in values.items():
            self._drop_flight(key)
            if value is None or self._invalidations.since(key, mark):
                self.l1.delete(key)
            else:
                self.l1.set(key, value, ttl=l1_ttl)

    async def publish(self, keys: Sequence[str]) -> None:
        """Delete `keys` from L2 and from every other instance's L1 (one Redis round trip); while
        Redis is unreachable, remembered and replayed when it is back."""
        client = self._redis
        if client is None or not keys:
            return
        if self._status != "ok":
            for key in keys:
                self._remember_invalidation(key)
            return
        try:
            await self._publish_invalidations(client, list(keys))
        except _REDIS_ERRORS as exc:
            for key in keys:
                self._remember_invalidation(key)
            self._op_failed(exc)

    def _drop_flight(self, key: str) -> None:
        flight = self._inflight.pop(key, None)
        if flight is not None:
            flight.stale = True  # its value may predate the write: callers after this load afresh

    # -- Redis state ------------------------------------------------------------------------------

    def _decoder(self, as_type: Any) -> msgspec.json.Decoder[Any]:
        decoder = self._decoders.get(as_type)
        if decoder is None:
            decoder = self._decoders[as_type] = msgspec.json.Decoder(Any if as_type is None else as_type)
        return decoder

    async def _publish_invalidations(self, client: aioredis.Redis, keys: list[str]) -> None:
        async with client.pipeline(transaction=False) as pipe:
            if keys:
                pipe.delete(*[self.prefix + key for key in keys])
            for message in invalidations.messages(self.instance_id, keys):
                pipe.publish(self.channel, message)  # a batch's keys: one message
            await pipe.execute()

    def _remember_invalidation(self, key: str) -> None:
        if len(self._pending) < _MAX_PENDING_INVALIDATIONS:
            self._pending.add(key)
        else:
            self._pending_clear_all = True

    def _op_failed(self, exc: BaseException) -> None:
        self.l2_errors += 1
        self._redis_failed(exc)

    def _redis_failed(self, exc: BaseException) -> None:
        self._status = "degraded"
        self._had_failure = True
        self._warn(f"Redis at {self.redis_url} unavailable, using L1 only: {type(exc).__name__}: {exc}")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= self.warn_interval:
            self._last_warning = now
            logger.warning("cache %s: %s", self.instance_id[:8], message)

    async def _recovered(self, client: aioredis.Redis, resubscribed: bool) -> None:
        """Redis answers again: replay the invalidations it missed, then use it."""
        if resubscribed:
            self.l1.clear()  # invalidations published while we were away never reached us
            self._invalidations.note(None)
            if self.on_remote_invalidation is not None:
                self.on_remote_invalidation(None)
        while self._pending or self._pending_clear_all:  # more may arrive while we publish
            keys, self._pending = sorted(self._pending), set()
            clear_all, self._pending_clear_all = self._pending_clear_all, False
            try:
                if clear_all:
                    await client.publish(self.channel, invalidations.clear_all(self.instance_id))
                if keys:
                    await self._publish_invalidations(client, keys)
            except BaseException:
                self._pending.update(keys)
                self._pending_clear_all |= clear_all
                raise
        if self._status != "ok":
            self._status = "ok"
            if self._had_failure:
                logger.info("cache %s: Redis at %s reachable again", self.instance_id[:8], self.redis_url)

    def _on_message(self, data: bytes) -> None:
        message = invalidations.parse(data)
        if message is None or message[0] == self.instance_id:  # not ours, or our own
            return
        keys = message[1]
        hook = self.on_remote_invalidation
        if keys is None:
            self.l1.clear()
            self._invalidations.note(None)
            if hook is not None:
                hook(None)
        for key in keys or ():
            self.l1.delete(key)
            self._invalidations.note(key)
            if hook is not None:
                hook(key)

    async def _subscribe_forever(self) -> None:
        """Keep one subscription to `channel` alive; drive the ok/degraded status."""
        client, sub_client = self._redis, self._sub_redis
        assert client is not None and sub_client is not None
        delay = 0.05
        connected_before = False
        while True:
            pubsub = sub_client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await client.ping()
                await self._recovered(client, resubscribed=connected_before)
                connected_before = True
                delay = 0.05
                self._first_attempt.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._on_message(message["data"])
                    if self._status != "ok":  # an operation failed while the subscription held
                        await client.ping()
                        await self._recovered(client, resubscribed=False)
            except _REDIS_ERRORS as exc:
                self._redis_failed(exc)
                self._first_attempt.set()
            finally:
                with contextlib.suppress(*_REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_delay)
