"""Ids seen recently (webhook deliveries): a second sighting within the window is a replay.

In this instance's memory, or in Redis when REDIS_URL is set (`SET NX EX`:
every instance sees the same ids). Redis slow or down: memory, as the rate
limits do (`redis_state`: the same health state, and the request's one Redis
allowance): a replay across instances may then pass for the length of the
outage, a replay on one instance still may not.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from .redis_state import FailOpen, RedisState, redis_state

__all__ = ["MemorySeen", "RedisSeen", "Seen", "make_seen"]

_MAX_IDS = 100_000
_KEY_PREFIX = "gemini-gateway:seen:"


class Seen(Protocol):
    async def first_time(self, key: str, window: float) -> bool:
        """Record `key` for `window` seconds; False when it was already recorded within its window."""
        ...


class MemorySeen:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_ids: int = _MAX_IDS) -> None:
        self._clock = clock
        self._max = max_ids
        self._until: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, key: str, window: float) -> bool:
        return self.first_time_now(key, window)

    def first_time_now(self, key: str, window: float) -> bool:
        now = self._clock()
        while self._until and next(iter(self._until.values())) <= now:  # expired ids leave in arrival order
            self._until.popitem(last=False)
        if self._until.get(key, 0.0) > now:
            return False
        self._until[key] = now + window
        if len(self._until) > self._max:
            self._until.popitem(last=False)
        return True


class RedisSeen:
    def __init__(self, redis: RedisState, fallback: MemorySeen) -> None:
        self._redis = redis
        self._fallback = fallback

    async def first_time(self, key: str, window: float) -> bool:
        client = self._redis.client
        try:
            stored = await self._redis.call(
                lambda: client.set(_KEY_PREFIX + key, b"1", nx=True, px=max(1, int(window * 1000)))
            )
        except FailOpen:
            return self._fallback.first_time_now(key, window)
        if stored:  # memory keeps it too: a replay on this instance during a later outage is still caught
            self._fallback.first_time_now(key, window)
        return bool(stored)


def make_seen(redis_url: str | None, redis: RedisState | None = None) -> Seen:
    """Seen ids in memory, or in Redis (`redis`, the process's shared state, else one made from `redis_url`)."""
    memory = MemorySeen()
    if redis is None and redis_url:
        redis = redis_state(redis_url)
    return memory if redis is None else RedisSeen(redis, memory)
