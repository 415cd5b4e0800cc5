"""Redis shared by every instance (rate limits, daily token budgets), and what happens when it is down.

Decision: fail open to this instance's memory. A Redis outage must not
become an outage of the function, and the in-memory state still bounds every
caller (per instance) instead of dropping the limit altogether. The first
failure is logged as a warning (then at most once a minute while it lasts),
Redis is left alone for 5 s after each failure so a dead server does not add
a connect timeout to every request, and the recovery is logged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ..logs import log

__all__ = ["RedisHealth", "redis_client"]

_REDIS_TIMEOUT = 0.5  # seconds, connect and each command: a slow Redis falls back instead of stalling requests
_PAUSE_AFTER_FAILURE = 5.0
_WARN_EVERY = 60.0


def redis_client(url: str) -> Any:
    """An asyncio Redis client with short timeouts; imported only by deployments with REDIS_URL."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=_REDIS_TIMEOUT,
        socket_connect_timeout=_REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1),  # once, at once: a pooled connection may have been closed by a restart
    )


class RedisHealth:
    """Whether to use Redis now; logs the outage and the recovery, for one purpose ("rate limits")."""

    def __init__(self, purpose: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._purpose = purpose
        self._clock = clock
        self._paused_until = 0.0
        self._down_since: float | None = None
        self._warned_at = -math.inf

    def usable(self) -> bool:
        return self._clock() >= self._paused_until

    def failed(self, exc: BaseException) -> None:
        now = self._clock()
        self._paused_until = now + _PAUSE_AFTER_FAILURE
        if self._down_since is None:
            self._down_since = now
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning(
                f"{self._purpose}: Redis is unreachable; counting per instance in memory until it is back",
                extra={"fields": {"error": type(exc).__name__}},
            )

    def succeeded(self) -> None:
        if self._down_since is not None:
            log.info(
                f"{self._purpose}: Redis is reachable again; shared again",
                extra={"fields": {"down_seconds": round(self._clock() - self._down_since, 1)}},
            )
            self._down_since = None
