"""Cache invalidations: their numbering (was a key invalidated after a mark?) and their messages on
the Redis channel, which carry one key, a batch of keys, or "all"."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec

# [sender, key], [sender, [key, ...]] (one message for a batch of writes), [sender, null] (all keys).
_decode = msgspec.json.Decoder(tuple[str, str | list[str] | None]).decode
_encode = msgspec.json.Encoder().encode
KEYS_PER_MESSAGE = 1000


def messages(sender: str, keys: Sequence[str]) -> Iterator[bytes]:
    """The messages announcing that `keys` were invalidated (one for a single key, so that it
    reads as before batches existed; else one per KEYS_PER_MESSAGE keys)."""
    if len(keys) == 1:
        yield _encode((sender, keys[0]))
        return
    for start in range(0, len(keys), KEYS_PER_MESSAGE):
        yield _encode((sender, list(keys[start : start + KEYS_PER_MESSAGE])))


def clear_all(sender: str) -> bytes:
    return _encode((sender, None))


def parse(data: bytes) -> tuple[str, list[str] | None] | None:
    """(sender, keys, or None for all keys); None for a message that is not one of ours."""
    try:
        sender, keys = _decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return sender, [keys] if isinstance(keys, str) else keys


class InvalidationLog:
    """Numbers invalidations, to tell whether a key was invalidated after a `mark`. Bounded: past
    `capacity` keys it forgets them all and answers "yes" for any mark taken before."""

    __slots__ = ("_at", "_floor", "capacity", "seq")

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.seq = 0  # the number of the latest invalidation: a mark
        self._at: dict[str, int] = {}  # key -> number of its latest invalidation
        self._floor = 0  # keys not in _at were last invalidated at this number at the latest

    def note(self, key: str | None) -> None:
        """An invalidation of `key` (None: of every key)."""
        self.seq += 1
        if key is None or len(self._at) >= self.capacity:
            self._at.clear()
            self._floor = self.seq
        if key is not None:
            self._at[key] = self.seq

    def since(self, key: str, mark: int) -> bool:
        return self._at.get(key, self._floor) > mark
