"""Ids seen recently (webhook deliveries): a second sighting within the window is a replay.

In this instance's memory, or in Redis when REDIS_URL is set (`SET NX EX`:
every instance sees the same ids). Redis down: memory, as the rate limits do
(`redis_state`): a replay across instances may then pass for the length of
the outage, a replay on one instance still may not.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from .redis_state import RedisHealth, redis_client

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
    def __init__(self, client: Any, fallback: MemorySeen) -> None:
        self._client = client
        self._fallback = fallback
        self._health = RedisHealth("replayed webhook ids")

    async def first_time(self, key: str, window: float) -> bool:
        from redis.exceptions import RedisError

        if not self._health.usable():
            return self._fallback.first_time_now(key, window)
        try:
            stored = await self._client.set(_KEY_PREFIX + key, b"1", nx=True, px=max(1, int(window * 1000)))
        except (RedisError, OSError, TimeoutError) as exc:
            self._health.failed(exc)
            return self._fallback.first_time_now(key, window)
        self._health.succeeded()
        return bool(stored)


def make_seen(redis_url: str | None) -> Seen:
    memory = MemorySeen()
    return RedisSeen(redis_client(redis_url), memory) if redis_url else memory
